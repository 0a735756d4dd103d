//! Paging by operation name: [`paginate_json`] runs the client's [`Paginator`] over the JSON
//! dispatcher ([`super::call_json`]), for callers that hold an operation id and JSON arguments
//! rather than a typed method (the MCP server, scripts).

use super::{Args, Output, call_json};
use crate::client::{IntoPage, PageOptions, Paginator, paginate};
use crate::operations::OperationMeta;
use crate::{Client, Error};
use serde_json::{Map, Value};

/// Pages through the list or relationship operation `operation` of the JSON dispatcher
/// ([`call_json`]) with the flat JSON `args` (without `cursor`, or with one to start from).
/// Items are the elements of `data`. Fails before any request when the operation does not page
/// or an argument is wrong.
///
/// ```no_run
/// # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
/// use futures::StreamExt;
/// use vtmcp::client::PageOptions;
/// use vtmcp::ops::paginate_json;
///
/// let mut pages = paginate_json(
///     &client,
///     "list_file_comments",
///     serde_json::json!({"id": "44d88612fea8a8f36de82e1278abb02f", "limit": 40}),
///     PageOptions::new().max_items(60),
/// )?;
/// while let Some(comment) = pages.next().await {
///     println!("{}", comment?["attributes"]["text"]);
/// }
/// if let Some(resume) = pages.resume_point() {
///     println!("more from cursor {:?}, skipping {}", resume.cursor, resume.skip);
/// }
/// # Ok(()) }
/// ```
pub fn paginate_json(
    client: &Client,
    operation: &str,
    args: Value,
    options: PageOptions,
) -> Result<Paginator<Value>, Error> {
    let op = OperationMeta::find(operation).ok_or_else(|| Error::InvalidInput {
        argument: "operation".into(),
        problem: format!("unknown operation `{operation}`"),
    })?;
    if !op.params.iter().any(|p| p.arg == "cursor") {
        return Err(Error::InvalidInput {
            argument: "operation".into(),
            problem: format!("{operation} does not page (it takes no `cursor`)"),
        });
    }
    let mut args: Map<String, Value> = super::arguments_object(args)?;
    let mut options = options;
    if let Some(c) = args.remove("cursor")
        && !options.has_start()
        && let Some(c) = c.as_str().filter(|c| !c.is_empty())
    {
        options = options.cursor(c);
    }
    // Check the arguments once, before anything is sent.
    Args::new(op, args.clone())?;
    let client = client.clone();
    let id = op.id;
    Ok(paginate(options, move |cursor| {
        let client = client.clone();
        let mut args = args.clone();
        if let Some(c) = cursor {
            args.insert("cursor".into(), Value::String(c));
        }
        async move {
            match call_json(&client, id, args).await? {
                Output::Json(v) => Ok(v.into_page()),
                _ => Err(Error::Decode {
                    operation: id.into(),
                    detail: "expected a JSON collection".into(),
                }),
            }
        }
    })
    .named(id))
}
