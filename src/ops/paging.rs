//! Paging by operation name: [`paginate_json`] runs the client's [`Paginator`] over the JSON
//! dispatcher ([`super::call_json`]), for callers that hold an operation id and JSON arguments
//! rather than a typed method (the MCP server, scripts); and [`PageResume`], the cursor handed
//! out for a page that was cut short, which resumes at its first item not shown.

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

/// Where a page that was cut short (to fit an output budget) resumes: the page fetched at
/// `cursor` (none: the first page) with `limit` (none: VirusTotal's default), from its item
/// `skip` on.
///
/// VirusTotal's cursors are opaque and point past a whole page, so the next cursor of a page
/// whose tail was not shown would skip that tail. This cursor repeats the same request instead
/// (answered from the cache while it is fresh: no quota) and drops the items already shown.
/// It is written `vtmcp:resume:` and base64url JSON, and is passed back as `cursor`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PageResume {
    /// The upstream cursor the page was fetched at.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The items of that page already shown.
    #[serde(rename = "s")]
    pub skip: usize,
    /// The `limit` the page was fetched with.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Value>,
}

impl PageResume {
    const PREFIX: &'static str = "vtmcp:resume:";

    /// The cursor text.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "{}{}",
            Self::PREFIX,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        )
    }

    /// Reads a cursor: `None` when it is not one of vtmcp's (an upstream cursor), otherwise the
    /// resume point or why the cursor is damaged.
    pub fn decode(cursor: &str) -> Option<Result<PageResume, String>> {
        use base64::Engine;
        let body = cursor.strip_prefix(Self::PREFIX)?;
        let damaged = || {
            "this vtmcp resume cursor is damaged: pass it exactly as the previous result gave it"
                .to_string()
        };
        Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .ok()
                .and_then(|json| serde_json::from_slice::<PageResume>(&json).ok())
                .ok_or_else(damaged),
        )
    }

    /// Replaces a resume cursor among a call's arguments by what the upstream request needs
    /// (the page's own cursor and limit) and returns it; `Ok(None)` when `cursor` is absent or
    /// VirusTotal's own.
    pub fn take(args: &mut Map<String, Value>) -> Result<Option<PageResume>, String> {
        let Some(resume) = args
            .get("cursor")
            .and_then(Value::as_str)
            .and_then(PageResume::decode)
        else {
            return Ok(None);
        };
        let resume = resume?;
        match &resume.cursor {
            Some(c) => args.insert("cursor".into(), Value::String(c.clone())),
            None => args.remove("cursor"),
        };
        // The page is fetched as it was the first time, whatever `limit` says now.
        match &resume.limit {
            Some(l) => args.insert("limit".into(), l.clone()),
            None => args.remove("limit"),
        };
        Ok(Some(resume))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_resume_cursor_round_trips_and_restores_the_page_request() {
        let r = PageResume {
            cursor: Some("Y3Vyc29y/+=".into()),
            skip: 7,
            limit: Some(json!(20)),
        };
        let text = r.encode();
        assert!(text.starts_with("vtmcp:resume:"), "{text}");
        assert_eq!(PageResume::decode(&text), Some(Ok(r.clone())));
        let mut args = json!({"id": "x", "cursor": text, "limit": 3})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(PageResume::take(&mut args), Ok(Some(r)));
        assert_eq!(
            Value::Object(args),
            json!({"id": "x", "cursor": "Y3Vyc29y/+=", "limit": 20})
        );
        // The first page, fetched with VirusTotal's default limit.
        let first = PageResume {
            cursor: None,
            skip: 2,
            limit: None,
        };
        let mut args = json!({"cursor": first.encode(), "limit": 40})
            .as_object()
            .unwrap()
            .clone();
        PageResume::take(&mut args).unwrap();
        assert!(args.is_empty(), "{args:?}");
    }

    #[test]
    fn upstream_cursors_pass_and_damaged_ones_are_refused() {
        let mut args = json!({"cursor": "abc"}).as_object().unwrap().clone();
        assert_eq!(PageResume::take(&mut args), Ok(None));
        assert_eq!(args["cursor"], "abc");
        for bad in ["vtmcp:resume:", "vtmcp:resume:!!", "vtmcp:resume:e30"] {
            let mut args = json!({"cursor": bad}).as_object().unwrap().clone();
            assert!(
                PageResume::take(&mut args).unwrap_err().contains("damaged"),
                "{bad}"
            );
        }
    }
}
