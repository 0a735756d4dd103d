//! Streamed downloads: the bytes of an operation that answers with bytes (file downloads, PCAP,
//! EVTX, memory dumps, ZIPs, feed batches) or of a signed URL, written to a file chunk by chunk
//! and hashed on the way, never held in memory whole.
//!
//! VirusTotal's `/download` endpoints answer with a redirect to signed storage. The client
//! follows it without the `x-apikey` header: the key only goes to the base URL's origin.
//!
//! With the typed methods, send the operation and save its stream with [`save_stream`]; a
//! signed URL (from a `*_download_url` operation) goes to [`Client::download_url_to`]. To
//! download by operation name with JSON arguments, see `vtmcp::ops::download_to`.

use crate::client::ByteStream;
use crate::client::upload::json_response;
use crate::{Client, Error};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::Digest;
use std::{
    path::{Path, PathBuf},
    pin::Pin,
};
use tokio::io::AsyncWriteExt;

/// A stream of body chunks.
pub(crate) type Chunks = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Where it was written.
    pub path: PathBuf,
    /// How many bytes.
    pub bytes: u64,
    /// SHA-256 of the bytes (lower-case hex).
    pub sha256: String,
}

/// Saves the byte stream of a typed call into the file `path`, hashing it on the way: the body
/// goes to an exclusively created temporary file with an unpredictable name in `path`'s
/// directory and is renamed onto `path` when complete (mode `0600`; a link at `path` is
/// replaced, never written through; a failed download leaves nothing behind). `operation` names
/// the call in errors.
///
/// ```no_run
/// # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
/// use vtmcp::client::download::save_stream;
///
/// let sha256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
/// let body = client
///     .download_file()
///     .id(sha256)
///     .send()
///     .await?;
/// let done = save_stream("download_file", body.into_inner(), std::path::Path::new("sample.bin")).await?;
/// assert_eq!(done.sha256, sha256);
/// # Ok(()) }
/// ```
pub async fn save_stream(
    operation: &str,
    stream: ByteStream,
    path: &Path,
) -> Result<Downloaded, Error> {
    write_stream(operation, Box::pin(stream.into_inner()), path, None).await
}

impl Client {
    /// Downloads `url` (a signed download URL from a `*_download_url` operation, or any URL
    /// under the base URL) into the file `path`, streaming, as [`save_stream`] does. The key is
    /// only sent to the base URL's origin; redirects are followed.
    pub async fn download_url_to(&self, url: &str, path: &Path) -> Result<Downloaded, Error> {
        let chunks = self.open_url(url).await?;
        write_stream(DOWNLOAD_URL, chunks, path, None).await
    }

    /// Starts downloading `url` and returns the body as a stream of chunks.
    pub(crate) async fn open_url(&self, url: &str) -> Result<Chunks, Error> {
        let op = DOWNLOAD_URL;
        let parsed = url::Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| Error::InvalidInput {
                argument: "url".into(),
                problem: "expected an absolute http(s) URL, e.g. the `data` of \
                          get_file_download_url"
                    .into(),
            })?;
        let mut request = reqwest::Request::new(reqwest::Method::GET, parsed);
        *request.timeout_mut() = self.inner.shared.download_timeout;
        let resp = self
            .execute(op, request, true)
            .await
            .map_err(|e| Error::from_reqwest(op, e))?;
        if !resp.status().is_success() {
            return Err(
                json_response(op, resp, self.inner.shared.answer_budget.as_ref())
                    .await
                    .err()
                    .unwrap_or_else(|| Error::Decode {
                        operation: op.into(),
                        detail: "unexpected answer".into(),
                    }),
            );
        }
        Ok(Box::pin(resp.bytes_stream()))
    }
}

/// What a download by URL is called in errors and rate-limit events.
pub(crate) const DOWNLOAD_URL: &str = "download_url";

/// Writes `chunks` to `path`, hashing on the way. A body over `max_bytes`, a broken stream or a
/// failed write leaves nothing behind.
///
/// The body first goes to a temporary file in `path`'s directory, created exclusively
/// (`O_EXCL`, mode `0600`) under an unpredictable name (`.vtmcp-XXXXXX.part`), so a symbolic
/// link planted in the directory by another local user can never redirect the write. The
/// finished file is then renamed onto `path`: the rename replaces whatever is at `path` (a
/// symbolic link included, which is replaced rather than followed), and the result is a
/// regular file with mode `0600` (samples are malware: nobody else needs to read them).
pub(crate) async fn write_stream(
    op: &str,
    mut chunks: Chunks,
    path: &Path,
    max_bytes: Option<u64>,
) -> Result<Downloaded, Error> {
    let io = |context: String| move |e: std::io::Error| Error::Io { context, source: e };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (std_file, part) = {
        let in_dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            tempfile::Builder::new()
                .prefix(".vtmcp-")
                .suffix(".part")
                .tempfile_in(in_dir)
                .map(tempfile::NamedTempFile::into_parts)
        })
        .await
        .map_err(|e| Error::Io {
            context: format!("creating a temporary file in {}", dir.display()),
            source: std::io::Error::other(e),
        })?
        .map_err(io(format!(
            "creating a temporary file in {}",
            dir.display()
        )))?
    };
    // `part` removes the temporary file when dropped, unless it was persisted.
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = sha2::Sha256::new();
    let mut bytes = 0u64;
    let result: Result<(), Error> = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| Error::from_reqwest(op, e))?;
            bytes += chunk.len() as u64;
            if let Some(max) = max_bytes.filter(|max| bytes > *max) {
                return Err(Error::Io {
                    context: format!("{op}: writing {}", path.display()),
                    source: std::io::Error::other(format!(
                        "the body exceeds the {max} byte limit; nothing was kept"
                    )),
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(io(format!("writing {}", part.display())))?;
        }
        file.flush()
            .await
            .map_err(io(format!("writing {}", part.display())))?;
        Ok(())
    }
    .await;
    drop(file);
    if let Err(e) = result {
        drop(part);
        return Err(e);
    }
    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let from = part.to_path_buf();
        part.persist(&target)
            .map_err(|e| (from, e.error))
            .map(|()| target)
    })
    .await
    .map_err(|e| Error::Io {
        context: format!("renaming the download to {}", path.display()),
        source: std::io::Error::other(e),
    })?
    .map_err(|(from, e)| Error::Io {
        context: format!("renaming {} to {}", from.display(), path.display()),
        source: e,
    })?;
    Ok(Downloaded {
        path: path.to_path_buf(),
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}
