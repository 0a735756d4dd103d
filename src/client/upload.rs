//! Hand-written multipart operations (progenitor cannot generate `multipart/form-data`):
//! `POST /files` (with the `upload_url` route for files over 32 MB), `POST /private/files` and
//! `POST /monitor/items`. Files are streamed from disk, never read whole into memory, and a file
//! over the size limit is refused before any request.

use crate::operations::OperationMeta;
use crate::{Client, Error};
use serde_json::Value;
use std::path::Path;

/// Files up to this size go straight to the upload endpoint.
pub const DIRECT_UPLOAD_LIMIT: u64 = 32 * 1024 * 1024;
/// The largest file VirusTotal accepts (through an upload URL).
pub const MAX_UPLOAD: u64 = 650 * 1024 * 1024;

/// Which multipart endpoint a file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadTarget {
    /// `POST /files` (public scanning; the file is shared with the community).
    Public,
    /// `POST /private/files` (Private Scanning licence).
    Private,
    /// `POST /monitor/items` (VT Monitor licence).
    Monitor,
}

impl UploadTarget {
    /// The upload operation `op` (`upload_file`, `upload_private_file`, `upload_monitor_item`).
    pub fn of_operation(op: &str) -> Option<UploadTarget> {
        match op {
            "upload_file" => Some(UploadTarget::Public),
            "upload_private_file" => Some(UploadTarget::Private),
            "upload_monitor_item" => Some(UploadTarget::Monitor),
            _ => None,
        }
    }

    /// The id of its operation.
    pub fn op(self) -> &'static str {
        match self {
            UploadTarget::Public => "upload_file",
            UploadTarget::Private => "upload_private_file",
            UploadTarget::Monitor => "upload_monitor_item",
        }
    }
    fn path(self) -> &'static str {
        match self {
            UploadTarget::Public => "/files",
            UploadTarget::Private => "/private/files",
            UploadTarget::Monitor => "/monitor/items",
        }
    }
}

/// What is uploaded: an open file (streamed from where it stands) or bytes in memory.
pub(crate) enum UploadBody {
    /// An open regular file of `len` bytes, with the file name VirusTotal records.
    File {
        file: std::fs::File,
        name: String,
        len: u64,
    },
    /// Bytes, with the file name VirusTotal records.
    Bytes { data: bytes::Bytes, name: String },
}

impl UploadBody {
    fn len(&self) -> u64 {
        match self {
            UploadBody::File { len, .. } => *len,
            UploadBody::Bytes { data, .. } => data.len() as u64,
        }
    }

    /// Opens a checked local file.
    pub(crate) async fn open(path: &Path) -> Result<UploadBody, Error> {
        let len = check_upload_file(path).await?;
        let file = std::fs::File::open(path).map_err(|e| Error::Io {
            context: format!("opening {}", path.display()),
            source: e,
        })?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_string();
        Ok(UploadBody::File { file, name, len })
    }
}

/// Checks that `path` is a regular file VirusTotal accepts (at most [`MAX_UPLOAD`] bytes) and
/// returns its size. Nothing is sent.
pub(crate) async fn check_upload_file(path: &Path) -> Result<u64, Error> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| Error::InvalidInput {
            argument: "file".into(),
            problem: format!("cannot read {}: {e}", path.display()),
        })?;
    if !meta.is_file() {
        return Err(Error::InvalidInput {
            argument: "file".into(),
            problem: format!("{} is not a regular file", path.display()),
        });
    }
    check_upload_len(meta.len(), &path.display().to_string())?;
    Ok(meta.len())
}

pub(crate) fn check_upload_len(len: u64, what: &str) -> Result<(), Error> {
    if len > MAX_UPLOAD {
        return Err(Error::InvalidInput {
            argument: "file".into(),
            problem: format!(
                "{what} is {len} bytes; VirusTotal accepts at most {MAX_UPLOAD} bytes (650 MB). \
                 Upload the inner files of an archive instead"
            ),
        });
    }
    Ok(())
}

impl Client {
    /// Uploads a local file as multipart form data, with extra form `fields` (e.g. `password`,
    /// sandbox options, a Monitor `path`). Files over 32 MB first ask for an upload URL; files
    /// over 650 MB are refused before any request. The file is streamed from disk.
    /// Returns VirusTotal's JSON answer (an analysis descriptor, or the Monitor item).
    pub async fn upload_path(
        &self,
        target: UploadTarget,
        path: &Path,
        fields: &[(&str, String)],
    ) -> Result<Value, Error> {
        let body = UploadBody::open(path).await?;
        self.upload_body(target, body, fields).await
    }

    pub(crate) async fn upload_body(
        &self,
        target: UploadTarget,
        body: UploadBody,
        fields: &[(&str, String)],
    ) -> Result<Value, Error> {
        let op = target.op();
        let len = body.len();
        check_upload_len(len, "the file")?;
        let url = if len > DIRECT_UPLOAD_LIMIT {
            self.upload_url(target).await?
        } else {
            format!("{}{}", self.baseurl, target.path())
        };
        let part = match body {
            UploadBody::File { file, name, .. } => {
                let file = tokio::fs::File::from_std(file);
                let stream = reqwest::Body::wrap_stream(
                    tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024),
                );
                reqwest::multipart::Part::stream_with_length(stream, len).file_name(name)
            }
            UploadBody::Bytes { data, name } => {
                reqwest::multipart::Part::stream_with_length(reqwest::Body::from(data), len)
                    .file_name(name)
            }
        };
        let mut form = reqwest::multipart::Form::new().part("file", part);
        for (k, v) in fields {
            form = form.text(k.to_string(), v.clone());
        }
        let request = self
            .client
            .post(&url)
            .multipart(form)
            .build()
            .map_err(|e| Error::from_reqwest(op, e))?;
        let resp = self
            .execute(op, request, false)
            .await
            .map_err(|e| Error::from_reqwest(op, e))?;
        json_response(op, resp, self.inner.shared.answer_budget.as_ref()).await
    }

    async fn upload_url(&self, target: UploadTarget) -> Result<String, Error> {
        Ok(match target {
            UploadTarget::Public => self.get_file_upload_url().send().await?.into_inner().data,
            UploadTarget::Private => {
                self.get_private_file_upload_url()
                    .send()
                    .await?
                    .into_inner()
                    .data
            }
            UploadTarget::Monitor => {
                self.get_monitor_item_upload_url()
                    .send()
                    .await?
                    .into_inner()
                    .data
            }
        })
    }
}

/// Decodes a hand-written request's answer: JSON on success, [`Error`] otherwise. The answer
/// is read within the same size cap and memory budget as the generated calls' answers.
pub(crate) async fn json_response(
    op: &str,
    resp: reqwest::Response,
    budget: Option<&std::sync::Arc<tokio::sync::Semaphore>>,
) -> Result<Value, Error> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::error::parse_retry_after);
    let raw = crate::client::answers::read(resp, budget, crate::client::MAX_JSON_BODY, op).await?;
    if status.is_success() {
        return raw.parse(op);
    }
    let bytes = raw.bytes();
    let v: Option<Value> = serde_json::from_slice(bytes).ok();
    let error = v.as_ref().and_then(|v| v.get("error"));
    match error.and_then(|e| e.get("code")).and_then(Value::as_str) {
        Some(code) => Err(Error::from_error_body(
            op,
            status.as_u16(),
            retry_after,
            code,
            error
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            error
                .and_then(Value::as_object)
                .unwrap_or(&serde_json::Map::new()),
        )),
        None => Err(Error::Http {
            operation: op.to_string(),
            status: status.as_u16(),
            body: crate::error::truncate(String::from_utf8_lossy(bytes).trim(), 512),
        }
        .scrubbed()),
    }
}

/// The form fields an upload operation takes besides `file`, as the spec lists them.
pub(crate) fn multipart_fields(op: &str) -> impl Iterator<Item = &'static str> {
    OperationMeta::find(op)
        .into_iter()
        .flat_map(OperationMeta::multipart_fields)
}
