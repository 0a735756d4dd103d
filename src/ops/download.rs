//! Downloads by operation name: [`download_to`] runs an operation that answers with bytes
//! through the dispatcher (or fetches a URL) and streams the body into a file with the client's
//! writer ([`crate::client::download`]).

use super::{Output, call_json};
use crate::client::Downloaded;
use crate::client::download::write_stream;
use crate::operations::{OperationMeta, ResponseKind};
use crate::{Client, Error};
use serde_json::Value;
use std::path::Path;

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

/// Downloads `source` into the file `path`, streaming: the body goes to a temporary file
/// created exclusively, with an unpredictable name, in `path`'s directory, and is renamed to
/// `path` once complete (a failed download leaves nothing behind; an existing `path`, even a
/// symbolic link, is replaced, never written through). The file is created with mode `0600`.
/// Redirects to signed storage are followed without the API key. Arguments are checked, and an
/// operation that does not answer with bytes refused, before anything is sent.
///
/// ```no_run
/// # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
/// use vtmcp::ops::{DownloadSource, download_to};
///
/// let sha256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
/// let done = download_to(
///     &client,
///     DownloadSource::operation("download_file", serde_json::json!({"id": sha256})),
///     std::path::Path::new("sample.bin"),
/// )
/// .await?;
/// assert_eq!(done.sha256, sha256);
/// # Ok(()) }
/// ```
pub async fn download_to(
    client: &Client,
    source: DownloadSource,
    path: &Path,
) -> Result<Downloaded, Error> {
    let (id, args) = match source {
        DownloadSource::Url(url) => return client.download_url_to(&url, path).await,
        DownloadSource::Operation { id, args } => (id, args),
    };
    let op = OperationMeta::find(&id).ok_or_else(|| Error::InvalidInput {
        argument: "operation".into(),
        problem: format!("unknown operation `{id}`"),
    })?;
    if op.response != ResponseKind::Bytes {
        return Err(Error::InvalidInput {
            argument: "operation".into(),
            problem: format!(
                "{id} does not answer with bytes; download_to takes an operation such as \
                 download_file or get_file_feed_batch"
            ),
        });
    }
    let args = super::arguments_object(args)?;
    match call_json(client, op.id, args).await? {
        Output::Bytes(stream) => {
            write_stream(op.id, Box::pin(stream.into_inner()), path, None).await
        }
        _ => Err(Error::Decode {
            operation: id,
            detail: "expected a byte stream".into(),
        }),
    }
}
