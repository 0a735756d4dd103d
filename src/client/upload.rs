//! Hand-written multipart operations (progenitor cannot generate `multipart/form-data`):
//! `POST /files` (with the `upload_url` route for files over 32 MB), `POST /private/files` and
//! `POST /monitor/items`. Files are streamed from disk, never read whole into memory, and a file
//! over the size limit is refused before any request.

use crate::ops::{Args, Output};
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
    fn op(self) -> &'static str {
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

impl Client {
    /// Uploads a local file as multipart form data, with extra form `fields` (e.g. `password`,
    /// sandbox options, a Monitor `path`). Files over 32 MB first ask for an upload URL.
    /// Returns VirusTotal's JSON answer (an analysis descriptor, or the Monitor item).
    pub async fn upload_path(
        &self,
        target: UploadTarget,
        path: &Path,
        fields: &[(&str, String)],
    ) -> Result<Value, Error> {
        let op = target.op();
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
        let len = meta.len();
        if len > MAX_UPLOAD {
            return Err(Error::InvalidInput {
                argument: "file".into(),
                problem: format!(
                    "{} is {len} bytes; VirusTotal accepts at most {MAX_UPLOAD} bytes (650 MB)",
                    path.display()
                ),
            });
        }
        let url = if len > DIRECT_UPLOAD_LIMIT {
            self.upload_url(target).await?
        } else {
            format!("{}{}", self.baseurl, target.path())
        };
        let file = tokio::fs::File::open(path).await.map_err(|e| Error::Io {
            context: format!("opening {}", path.display()),
            source: e,
        })?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_string();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::stream_with_length(body, len).file_name(name),
        );
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
            .execute(request)
            .await
            .map_err(|e| Error::from_reqwest(op, e))?;
        json_response(op, resp).await
    }

    async fn upload_url(&self, target: UploadTarget) -> Result<String, Error> {
        let (op, data) = match target {
            UploadTarget::Public => {
                let r = self.get_file_upload_url().send().await;
                ("get_file_upload_url", r.map(|r| r.into_inner().data))
            }
            UploadTarget::Private => {
                let r = self.get_private_file_upload_url().send().await;
                (
                    "get_private_file_upload_url",
                    r.map(|r| r.into_inner().data),
                )
            }
            UploadTarget::Monitor => {
                let r = self.get_monitor_item_upload_url().send().await;
                (
                    "get_monitor_item_upload_url",
                    r.map(|r| r.into_inner().data),
                )
            }
        };
        data.map_err(|e| Error::from_progenitor(op, e))
    }
}

/// Decodes a hand-written request's answer: JSON on success, [`Error`] otherwise.
pub(crate) async fn json_response(op: &str, resp: reqwest::Response) -> Result<Value, Error> {
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| Error::from_reqwest(op, e))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            operation: op.into(),
            detail: e.to_string(),
        });
    }
    let v: Option<Value> = serde_json::from_slice(&bytes).ok();
    match v
        .as_ref()
        .and_then(|v| v.pointer("/error/code"))
        .and_then(Value::as_str)
    {
        Some(code) => Err(Error::Api {
            status: status.as_u16(),
            code: crate::ErrorCode::parse(code),
            message: v
                .as_ref()
                .and_then(|v| v.pointer("/error/message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            retry_after: None,
        }),
        None => Err(Error::Http {
            status: status.as_u16(),
            body: crate::error::truncate(String::from_utf8_lossy(&bytes).trim(), 512),
        }),
    }
}

fn form_fields(args: &Args, names: &[&str]) -> Vec<(&'static str, String)> {
    names
        .iter()
        .filter_map(|n| {
            let v = args.get(n)?;
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((leak(n), s))
        })
        .collect()
}

fn leak(n: &str) -> &'static str {
    // Field names come from the static operation table.
    crate::ops::OPERATIONS
        .iter()
        .flat_map(|o| match o.body {
            crate::ops::BodyShape::Multipart { fields } => fields,
            _ => &[],
        })
        .find(|f| **f == n)
        .copied()
        .unwrap_or("field")
}

async fn upload_op(
    client: &Client,
    args: &Args,
    target: UploadTarget,
    fields: &[&str],
) -> Result<Output, Error> {
    let path: String = args.required("file")?;
    let extra = form_fields(args, fields);
    client
        .upload_path(target, Path::new(&path), &extra)
        .await
        .map(Output::Json)
}

pub(crate) async fn upload_file(client: &Client, args: &Args) -> Result<Output, Error> {
    upload_op(client, args, UploadTarget::Public, &["password"]).await
}

pub(crate) async fn upload_private_file(client: &Client, args: &Args) -> Result<Output, Error> {
    let fields = [
        "password",
        "command_line",
        "disable_sandbox",
        "enable_internet",
        "intercept_tls",
        "retention_period_days",
        "storage_region",
        "interaction_sandbox",
        "interaction_timeout",
    ];
    upload_op(client, args, UploadTarget::Private, &fields).await
}

pub(crate) async fn upload_monitor_item(client: &Client, args: &Args) -> Result<Output, Error> {
    upload_op(client, args, UploadTarget::Monitor, &["path", "item"]).await
}
