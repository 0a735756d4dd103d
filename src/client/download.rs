//! Streamed downloads: any operation that answers with bytes (file downloads, PCAP, EVTX,
//! memory dumps, ZIPs, feed batches) or a signed URL, written to a file chunk by chunk and
//! hashed on the way, never held in memory whole.
//!
//! VirusTotal's `/download` endpoints answer with a redirect to signed storage. The client
//! follows it without the `x-apikey` header: the key only goes to the base URL's origin.

use crate::client::upload::json_response;
use crate::ops::{OperationMeta, Output, ResponseKind};
use crate::{Client, Error};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use sha2::Digest;
use std::{
    path::{Path, PathBuf},
    pin::Pin,
};
use tokio::io::AsyncWriteExt;

/// A stream of body chunks.
pub(crate) type Chunks = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// What to download.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadSource {
    /// An operation of the spec that answers with bytes, with its flat JSON arguments
    /// (e.g. `download_file` with `{"id": "<sha256>"}`).
    Operation {
        /// Operation id.
        id: String,
        /// Its arguments (a JSON object).
        args: Value,
    },
    /// A URL: a signed download URL from a `*_download_url` operation, or any URL under the
    /// base URL. The key is only sent to the base URL's origin.
    Url(String),
}

impl DownloadSource {
    /// The operation `id` with `args` (a JSON object).
    pub fn operation(id: impl Into<String>, args: Value) -> Self {
        DownloadSource::Operation {
            id: id.into(),
            args,
        }
    }

    /// A URL.
    pub fn url(url: impl Into<String>) -> Self {
        DownloadSource::Url(url.into())
    }
}

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

impl Client {
    /// Downloads `source` into the file `path`, streaming: the body goes to a temporary file
    /// created exclusively, with an unpredictable name, in `path`'s directory, and is renamed to
    /// `path` once complete (a failed download leaves nothing behind; an existing `path`, even
    /// a symbolic link, is replaced, never written through). The file is created with mode
    /// `0600`. Redirects to signed storage are followed without the API key.
    ///
    /// ```no_run
    /// # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
    /// use vtmcp::client::DownloadSource;
    ///
    /// let sha256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
    /// let done = client
    ///     .download_to(
    ///         DownloadSource::operation("download_file", serde_json::json!({"id": sha256})),
    ///         std::path::Path::new("sample.bin"),
    ///     )
    ///     .await?;
    /// assert_eq!(done.sha256, sha256);
    /// # Ok(()) }
    /// ```
    pub async fn download_to(
        &self,
        source: DownloadSource,
        path: &Path,
    ) -> Result<Downloaded, Error> {
        let (op, chunks) = self.open_bytes(&source).await?;
        write_stream(&op, chunks, path, None).await
    }

    /// Starts a download and returns the operation id and the body as a stream of chunks.
    pub(crate) async fn open_bytes(
        &self,
        source: &DownloadSource,
    ) -> Result<(String, Chunks), Error> {
        match source {
            DownloadSource::Operation { id, args } => {
                let op = OperationMeta::find(id).ok_or_else(|| Error::InvalidInput {
                    argument: "operation".into(),
                    problem: format!("unknown operation `{id}`"),
                })?;
                if op.response != ResponseKind::Bytes {
                    return Err(Error::InvalidInput {
                        argument: "operation".into(),
                        problem: format!(
                            "{id} does not answer with bytes; download_to takes an operation \
                             such as download_file or get_file_feed_batch"
                        ),
                    });
                }
                let args = match args {
                    Value::Object(m) => m.clone(),
                    Value::Null => Map::new(),
                    other => {
                        return Err(Error::InvalidInput {
                            argument: "arguments".into(),
                            problem: format!("expected a JSON object of arguments, got {other}"),
                        });
                    }
                };
                match crate::ops::call_json(self, id, args).await? {
                    Output::Bytes(stream) => Ok((op.id.to_string(), stream.into_inner())),
                    _ => Err(Error::Decode {
                        operation: id.clone(),
                        detail: "expected a byte stream".into(),
                    }),
                }
            }
            DownloadSource::Url(url) => {
                let op = "download_url";
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
                Ok((op.to_string(), Box::pin(resp.bytes_stream())))
            }
        }
    }
}

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
