//! The three multipart operations (`upload_file`, `upload_private_file`, `upload_monitor_item`)
//! as the dispatcher calls them: flat JSON arguments in, [`Output`] out. The uploads themselves
//! are the client's ([`crate::client::upload`]).

use super::{Args, Output};
use crate::client::upload::{UploadBody, UploadTarget, multipart_fields};
use crate::{Client, Error};
use serde_json::Value;
use std::path::Path;

/// The extra form fields of the upload operation `op` that `args` gives, as text.
fn form_fields(args: &Args, op: &str) -> Vec<(&'static str, String)> {
    multipart_fields(op)
        .filter_map(|name| {
            let v = args.get(name)?;
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((name, s))
        })
        .collect()
}

async fn upload_op(client: &Client, args: &Args, target: UploadTarget) -> Result<Output, Error> {
    let path: String = args.required("file")?;
    let body = UploadBody::open(Path::new(&path)).await?;
    let extra = form_fields(args, target.op());
    client
        .upload_body(target, body, &extra)
        .await
        .map(Output::Json)
}

/// Runs the upload operation `op` with a file the caller has already opened and checked (the
/// MCP server opens it inside an upload directory, see [`crate::upload_dirs`]); the `file`
/// argument is not read again.
pub(crate) async fn upload_opened(
    client: &Client,
    args: &Args,
    op: &str,
    file: crate::upload_dirs::UploadFile,
) -> Result<Output, Error> {
    let target = UploadTarget::of_operation(op).ok_or_else(|| Error::InvalidInput {
        argument: "operation".into(),
        problem: format!("`{op}` is not an upload operation"),
    })?;
    let body = UploadBody::File {
        file: file.file,
        name: file.name,
        len: file.len,
    };
    client
        .upload_body(target, body, &form_fields(args, op))
        .await
        .map(Output::Json)
}

pub(crate) async fn upload_file(client: &Client, args: &Args) -> Result<Output, Error> {
    upload_op(client, args, UploadTarget::Public).await
}

pub(crate) async fn upload_private_file(client: &Client, args: &Args) -> Result<Output, Error> {
    upload_op(client, args, UploadTarget::Private).await
}

pub(crate) async fn upload_monitor_item(client: &Client, args: &Args) -> Result<Output, Error> {
    upload_op(client, args, UploadTarget::Monitor).await
}
