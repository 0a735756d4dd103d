//! Which local files the server may upload to VirusTotal.
//!
//! A tool call names a file by path, and the caller may be a prompt-injected model, the holder
//! of an HTTP token or another local process: left unchecked, `/etc/shadow`, an SSH key or
//! `/proc/self/environ` (which holds the API key) would be sent to VirusTotal, where standard
//! uploads are shared with its community. So the server uploads only from directories its
//! operator names (`--upload-dir`, repeatable); with none, file uploads are off.
//!
//! Each directory is opened once at start-up as a capability ([`cap_std::fs::Dir`]), and a
//! requested file is opened *through* it: `..` and symbolic links may not lead out of the
//! directory (on Linux the kernel enforces it with `openat2(RESOLVE_BENEATH)`), so there is no
//! window between checking a path and opening it. Only regular files are accepted (opened
//! non-blocking, so a FIFO cannot hang the call), and `/`, `/proc`, `/sys` and `/dev` (or a
//! directory inside them) cannot be named as upload directories. The typed client
//! ([`crate::Client::upload_path`]) has no such limit: a Rust program chooses its own paths.

use std::path::{Component, Path, PathBuf};

/// Directories the kernel fills with live state (process memory and environment, devices):
/// never a source of uploads.
const FORBIDDEN: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The directories uploads may come from.
#[derive(Default)]
pub struct UploadDirs {
    dirs: Vec<Allowed>,
}

struct Allowed {
    /// The canonical path, to match absolute requests and to show in messages.
    path: PathBuf,
    /// The open directory every file is opened through.
    dir: cap_std::fs::Dir,
}

impl std::fmt::Debug for UploadDirs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.dirs.iter().map(|d| &d.path))
            .finish()
    }
}

/// A file opened for upload: a regular file inside an upload directory.
#[derive(Debug)]
pub struct UploadFile {
    /// The open file (read from the start).
    pub file: std::fs::File,
    /// Its size in bytes.
    pub len: u64,
    /// Its file name, as VirusTotal records it.
    pub name: String,
}

impl UploadDirs {
    /// Opens the operator's upload directories. A missing directory, a file, `/`, or a
    /// directory that is or lies inside `/proc`, `/sys` or `/dev` is an error naming it.
    pub fn open(paths: &[PathBuf]) -> Result<UploadDirs, String> {
        let mut dirs = Vec::with_capacity(paths.len());
        for given in paths {
            let path = std::fs::canonicalize(given)
                .map_err(|e| format!("--upload-dir {}: {e}", given.display()))?;
            if !path.is_dir() {
                return Err(format!("--upload-dir {}: not a directory", given.display()));
            }
            if path.parent().is_none()
                || FORBIDDEN
                    .iter()
                    .any(|f| path.starts_with(f) || Path::new(f).starts_with(&path))
            {
                return Err(format!(
                    "--upload-dir {}: uploads may not come from {} (it is, or holds, /proc, /sys or /dev); name a directory that holds only the samples to upload",
                    given.display(),
                    path.display()
                ));
            }
            let dir = cap_std::fs::Dir::open_ambient_dir(&path, cap_std::ambient_authority())
                .map_err(|e| format!("--upload-dir {}: {e}", given.display()))?;
            dirs.push(Allowed { path, dir });
        }
        Ok(UploadDirs { dirs })
    }

    /// Whether no directory is configured (file uploads are off).
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// The canonical upload directories.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|d| d.path.as_path())
    }

    fn listed(&self) -> String {
        self.paths()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Opens `requested` for upload. An absolute path must lie in an upload directory; a
    /// relative one is looked up in each directory in turn. The error says what was wrong and
    /// which flag allows it; nothing is read before the checks pass.
    pub fn open_file(&self, requested: &str) -> Result<UploadFile, String> {
        if self.dirs.is_empty() {
            return Err(
                "file uploads are disabled: start vtmcp with --upload-dir DIR (repeatable, or VTMCP_UPLOAD_DIRS) and put the files to upload in DIR"
                    .into(),
            );
        }
        if requested.trim().is_empty() {
            return Err("the path is empty".into());
        }
        if requested.chars().any(char::is_control) {
            return Err("the path contains control characters".into());
        }
        let path = Path::new(requested);
        if path.is_absolute() {
            // The path as given, or with its directory part resolved (a link *to* an upload
            // directory, such as a symlinked temp dir); the file itself is still opened through
            // the directory, so nothing resolved here can lead outside it.
            let resolved = path
                .parent()
                .zip(path.file_name())
                .and_then(|(parent, name)| Some(std::fs::canonicalize(parent).ok()?.join(name)));
            let (dir, rel) = self
                .dirs
                .iter()
                .find_map(|d| Some((d, path.strip_prefix(&d.path).ok()?)))
                .or_else(|| {
                    let resolved = resolved.as_deref()?;
                    self.dirs
                        .iter()
                        .find_map(|d| Some((d, resolved.strip_prefix(&d.path).ok()?)))
                })
                .ok_or_else(|| {
                    format!(
                        "{requested} is not inside an upload directory ({}); copy the file into one, or start vtmcp with --upload-dir naming its directory",
                        self.listed()
                    )
                })?;
            return open_in(dir, rel, requested);
        }
        let mut last = None;
        for dir in &self.dirs {
            match open_in(dir, path, requested) {
                Ok(f) => return Ok(f),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_default())
    }
}

fn open_in(dir: &Allowed, rel: &Path, requested: &str) -> Result<UploadFile, String> {
    if rel.as_os_str().is_empty() || rel.components().all(|c| c == Component::CurDir) {
        return Err(format!("{requested} is a directory, not a file"));
    }
    let mut options = cap_std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use cap_std::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
        options.custom_flags(flags.bits() as i32);
    }
    let file = dir.dir.open_with(rel, &options).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{requested}: no such file in {}", dir.path.display())
        } else if e.kind() == std::io::ErrorKind::PermissionDenied
            || e.to_string().contains("outside")
        {
            format!(
                "{requested} leads outside the upload directory {} (`..` and symbolic links may not leave it)",
                dir.path.display()
            )
        } else {
            format!("{requested}: cannot open it: {e}")
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{requested}: cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{requested} is not a regular file"));
    }
    let file = file.into_std();
    #[cfg(unix)]
    {
        // Back to blocking reads (O_NONBLOCK only guarded the open against FIFOs).
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
        let flags = fcntl_getfl(&file).map_err(|e| format!("{requested}: {e}"))?;
        fcntl_setfl(&file, flags - OFlags::NONBLOCK).map_err(|e| format!("{requested}: {e}"))?;
    }
    let name = rel
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file")
        .to_string();
    Ok(UploadFile {
        file,
        len: meta.len(),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_directories_are_refused() {
        for d in ["/", "/proc", "/proc/self", "/sys", "/dev"] {
            let e = UploadDirs::open(&[PathBuf::from(d)]).unwrap_err();
            assert!(e.contains("may not come from") || e.contains(d), "{d}: {e}");
        }
        let missing = UploadDirs::open(&[PathBuf::from("/nonexistent/vtmcp-uploads")]);
        assert!(missing.unwrap_err().contains("/nonexistent/vtmcp-uploads"));
    }

    #[test]
    fn no_directory_means_no_uploads() {
        let e = UploadDirs::default()
            .open_file("/etc/hostname")
            .unwrap_err();
        assert!(e.contains("--upload-dir"), "{e}");
    }
}
