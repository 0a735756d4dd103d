//! Reading a small local file an operator names (an API key file, a CA bundle) without being
//! fooled by what the path turns out to be: the file is opened non-blocking (a FIFO cannot hang
//! start-up), the type of what was *opened* is checked (a device such as `/dev/zero`, a FIFO or a
//! directory is refused before any read), and at most `max` bytes are read.

use std::io::Read;
use std::path::Path;

/// Why a small file could not be read.
#[derive(Debug)]
pub enum SmallFileError {
    /// It could not be opened.
    Open(std::io::Error),
    /// It is a directory.
    Directory,
    /// It is a FIFO, socket or device.
    NotRegular,
    /// It holds more than the limit.
    TooLarge,
    /// Reading it failed.
    Read(std::io::Error),
}

/// Reads the regular file at `path`, at most `max` bytes, with its metadata.
pub fn read_small_regular_file(
    path: &Path,
    max: u64,
) -> Result<(Vec<u8>, std::fs::Metadata), SmallFileError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        // Opening a FIFO for reading would wait for a writer; with O_NONBLOCK it does not (a
        // regular file ignores the flag).
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = options.open(path).map_err(SmallFileError::Open)?;
    let meta = file.metadata().map_err(SmallFileError::Read)?;
    if meta.is_dir() {
        return Err(SmallFileError::Directory);
    }
    if !meta.is_file() {
        return Err(SmallFileError::NotRegular);
    }
    if meta.len() > max {
        return Err(SmallFileError::TooLarge);
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(SmallFileError::Read)?;
    if bytes.len() as u64 > max {
        return Err(SmallFileError::TooLarge);
    }
    Ok((bytes, meta))
}
