//! Turning call outcomes into MCP results: `structuredContent` plus a text block, `fields`
//! projection, the output budget (biggest members cut first, with a note saying what was cut and
//! how to get it), binary bodies written to the download directory, and error results a model
//! can act on.

use crate::Error;
use crate::error::advice::{Failure, Reader, quota_wait_message};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Keeps only the requested attributes of every object in a VT response (`data` object or list).
pub fn project(v: &mut Value, fields: &[String]) {
    if fields.is_empty() {
        return;
    }
    let keep = |obj: &mut Value| {
        if let Some(attrs) = obj.get_mut("attributes").and_then(Value::as_object_mut) {
            attrs.retain(|k, _| fields.iter().any(|f| f == k));
        }
    };
    match v.get_mut("data") {
        Some(Value::Array(items)) => items.iter_mut().for_each(keep),
        Some(obj @ Value::Object(_)) => {
            if obj.get("attributes").is_some() {
                keep(obj)
            } else if let Some(m) = obj.as_object_mut() {
                // Free-form `data` maps (behaviour summaries, quotas): keep the named keys.
                m.retain(|k, _| fields.iter().any(|f| f == k));
            }
        }
        _ => {}
    }
}

/// Removes secrets from a VirusTotal answer before it reaches the model: members named like an
/// API key (`GET /users/{id}` returns your own) and any occurrence of the configured key in a
/// string, in any ASCII case or base64-encoded. The scrubber is the error layer's
/// ([`crate::error::scrub_json`], with the forms of [`crate::error::SecretForms`]).
pub fn scrub_secrets(v: &mut Value, key: Option<&str>) {
    let forms = key.and_then(crate::error::SecretForms::new);
    crate::error::scrub_json(v, forms.as_ref());
}

/// Members dropped first when a result is over budget: large, rarely needed in full.
pub(crate) const HEAVY: &[&str] = &[
    "last_analysis_results",
    "results",
    "pe_info",
    "whois",
    "last_http_response_headers",
    "html_meta",
    "trackers",
    "exiftool",
    "signature_info",
    "crowdsourced_ids_results",
    "sigma_analysis_results",
    "last_https_certificate",
    "processes_tree",
    "trid",
];

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `v` as compact JSON, without building the text.
fn size(v: &(impl serde::Serialize + ?Sized)) -> usize {
    let mut c = Counter(0);
    serde_json::to_writer(&mut c, v).map(|()| c.0).unwrap_or(0)
}

/// One cut the output budget made; paths are JSON pointers into the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// A member removed whole.
    Dropped {
        /// Its JSON pointer.
        path: String,
        /// How long it was (bytes of JSON).
        bytes: usize,
    },
    /// A list cut to its first items.
    Kept {
        /// Its JSON pointer.
        path: String,
        /// The items kept.
        kept: usize,
        /// The items it had.
        of: usize,
    },
    /// A string shortened.
    Shortened {
        /// Its JSON pointer.
        path: String,
        /// Its length before, in characters.
        from: usize,
    },
}

impl Cut {
    fn path(&self) -> &str {
        match self {
            Cut::Dropped { path, .. } | Cut::Kept { path, .. } | Cut::Shortened { path, .. } => {
                path
            }
        }
    }
}

/// What a cut member's note may tell the caller to do to see it whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recovery<'a> {
    /// The tool takes `fields`: an attribute can be requested alone.
    pub fields: bool,
    /// The pointer of the page's item list, when the result's cursor resumes at its first item
    /// cut ([`crate::ops::paging::PageResume`]).
    pub page: Option<&'a str>,
}

/// Makes `v` fit in `budget` characters of JSON. Returns notes on what was cut, with the
/// recovery hints of a generated tool that takes `fields`.
pub fn fit_budget(v: &mut Value, budget: usize) -> Vec<String> {
    describe_cuts(
        fit_budget_cuts(v, budget),
        Recovery {
            fields: true,
            page: None,
        },
    )
}

/// [`fit_budget`], returning the cuts themselves.
///
/// The value is serialised once; after that the size is tracked exactly from what each cut
/// removes (checked against a fresh serialisation in debug builds), so trimming a large answer
/// costs a few passes over it rather than one serialisation per cut.
pub fn fit_budget_cuts(v: &mut Value, budget: usize) -> Vec<Cut> {
    let mut cuts = vec![];
    let mut total = size(v);
    if total <= budget {
        return cuts;
    }
    // 1. Known heavy members, wherever they are, biggest first.
    let mut found = vec![];
    collect_heavy(v, String::new(), &mut found);
    found.sort_by_key(|f| std::cmp::Reverse(f.1));
    for (path, bytes) in found {
        if total <= budget {
            break;
        }
        if let Some(removed) = remove_member(v, &path, bytes) {
            total = total.saturating_sub(removed);
            cuts.push(Cut::Dropped { path, bytes });
        }
    }
    // 2. Long lists: keep the head.
    while total > budget {
        let Some((path, len)) = largest(v, |x| matches!(x, Value::Array(a) if a.len() > 1)) else {
            break;
        };
        let keep = len / 2;
        if let Some(Value::Array(a)) = v.pointer_mut(&path) {
            // Each removed item and the comma before it.
            total = total.saturating_sub(a[keep..].iter().map(|x| size(x) + 1).sum::<usize>());
            a.truncate(keep);
        }
        cuts.push(Cut::Kept {
            path,
            kept: keep,
            of: len,
        });
    }
    // 3. Long strings.
    while total > budget {
        let Some((path, _)) = largest(v, |x| matches!(x, Value::String(_))) else {
            break;
        };
        let Some(Value::String(s)) = v.pointer_mut(&path) else {
            break;
        };
        let len = s.chars().count();
        if len <= 200 {
            break;
        }
        let before = size(s);
        let cut: String = s.chars().take(len / 2).collect();
        *s = format!("{cut}… [cut]");
        total = total.saturating_sub(before) + size(s);
        cuts.push(Cut::Shortened { path, from: len });
    }
    debug_assert_eq!(total, size(v), "tracked size drifted from the value's");
    cuts
}

/// Folds the cuts of one result (several passes, or the shrinker's then the budget's) into one
/// cut per member: a list cut twice keeps its original length and its final head; cuts inside
/// items that a list cut then removed are not mentioned.
fn merge_cuts(cuts: Vec<Cut>) -> Vec<Cut> {
    let mut out: Vec<Cut> = Vec::new();
    for cut in cuts {
        let same = out.iter_mut().find(|c| {
            c.path() == cut.path() && std::mem::discriminant(*c) == std::mem::discriminant(&cut)
        });
        match (same, cut) {
            (Some(Cut::Kept { kept, .. }), Cut::Kept { kept: k, .. }) => *kept = (*kept).min(k),
            (Some(Cut::Shortened { .. }), Cut::Shortened { .. }) => {}
            (Some(_), Cut::Dropped { .. }) => {}
            (_, cut) => out.push(cut),
        }
    }
    let gone = |p: &str, cuts: &[Cut]| {
        cuts.iter().any(|c| match c {
            Cut::Kept { path, kept, .. } => p
                .strip_prefix(path.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|rest| rest.split('/').next())
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i >= *kept),
            Cut::Dropped { path, .. } => p.len() > path.len() && p.starts_with(&format!("{path}/")),
            Cut::Shortened { .. } => false,
        })
    };
    let kept: Vec<Cut> = out
        .iter()
        .filter(|c| !gone(c.path(), &out))
        .cloned()
        .collect();
    kept
}

/// The attribute a pointer lies in (`/data/attributes/pe_info/sections` and
/// `/data/3/attributes/pe_info` → `pe_info`).
fn attribute_of(path: &str) -> Option<&str> {
    let mut parts = path.split('/').skip(1);
    if parts.next()? != "data" {
        return None;
    }
    let mut next = parts.next()?;
    if next.parse::<usize>().is_ok() {
        next = parts.next()?;
    }
    (next == "attributes").then(|| parts.next()).flatten()
}

/// The pointer with its list indices as `*` (`/data/3/attributes/x` → `/data/*/attributes/x`).
fn pattern_of(path: &str) -> String {
    path.split('/')
        .map(|p| if p.parse::<usize>().is_ok() { "*" } else { p })
        .collect::<Vec<_>>()
        .join("/")
}

/// One note per cut member (the same member cut in every item of a list is one note), each with
/// a way to see it whole that works for that member.
pub fn describe_cuts(cuts: Vec<Cut>, how: Recovery) -> Vec<String> {
    let cuts = merge_cuts(cuts);
    let hint = |path: &str| match attribute_of(path) {
        Some(name) if how.fields => format!(
            "request it alone with fields=[\"{}\"]",
            name.replace("~1", "/").replace("~0", "~")
        ),
        _ => "raise --max-output-tokens (VTMCP_MAX_OUTPUT_TOKENS) to see it whole".into(),
    };
    // Cuts grouped by member pattern, in the order first seen.
    let mut groups: Vec<(String, Vec<&Cut>)> = Vec::new();
    for c in &cuts {
        let key = match c {
            Cut::Kept { path, .. } => path.clone(),
            Cut::Dropped { path, .. } => format!("dropped {}", pattern_of(path)),
            Cut::Shortened { path, .. } => format!("shortened {}", pattern_of(path)),
        };
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    groups
        .into_iter()
        .map(|(_, group)| {
            let n = group.len();
            match group[0] {
                Cut::Kept { path, kept, of } if how.page == Some(path.as_str()) => format!(
                    "kept the first {kept} of the {of} items of {path}: the cursor in this result resumes at the next one (a smaller limit, or fields, fits more in one result)"
                ),
                Cut::Kept { path, kept, of } => {
                    format!("kept the first {kept} of {of} items of {path}: {}", hint(path))
                }
                Cut::Dropped { path, bytes } if n == 1 => {
                    format!("dropped {path} ({bytes} bytes): {}", hint(path))
                }
                Cut::Dropped { path, .. } => {
                    let bytes: usize = group
                        .iter()
                        .map(|c| match c {
                            Cut::Dropped { bytes, .. } => *bytes,
                            _ => 0,
                        })
                        .sum();
                    format!(
                        "dropped {} from {n} items ({bytes} bytes): {}",
                        pattern_of(path),
                        hint(path)
                    )
                }
                Cut::Shortened { path, from } if n == 1 => {
                    format!("shortened {path} from {from} characters: {}", hint(path))
                }
                Cut::Shortened { path, .. } => format!(
                    "shortened {} in {n} items: {}",
                    pattern_of(path),
                    hint(path)
                ),
            }
        })
        .collect()
}

fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn collect_heavy(v: &Value, at: String, out: &mut Vec<(String, usize)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", pointer_token(k));
                if HEAVY.contains(&k.as_str()) {
                    out.push((p, size(x)));
                } else {
                    collect_heavy(x, p, out);
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| collect_heavy(x, format!("{at}/{i}"), out)),
        _ => {}
    }
}

/// Removes the object member at `path`, whose value is `bytes` long; returns the characters
/// that removed from the compact JSON (`"key":value` and one comma when other members remain).
fn remove_member(v: &mut Value, path: &str, bytes: usize) -> Option<usize> {
    let (parent, key) = path.rsplit_once('/')?;
    let key = key.replace("~1", "/").replace("~0", "~");
    let Some(Value::Object(m)) = v.pointer_mut(parent) else {
        return None;
    };
    m.remove(&key)?;
    Some(size(&key) + 1 + bytes + usize::from(!m.is_empty()))
}

/// The path and length of the node `pick` accepts with the largest compact-JSON size, in one
/// pass that computes every node's size from its children.
fn largest(v: &Value, pick: impl Fn(&Value) -> bool) -> Option<(String, usize)> {
    use std::fmt::Write;
    fn walk(
        v: &Value,
        at: &mut String,
        pick: &dyn Fn(&Value) -> bool,
        best: &mut Option<(String, usize, usize)>,
    ) -> usize {
        let n = match v {
            Value::Array(a) => {
                let mut n = 2 + a.len().saturating_sub(1);
                for (i, x) in a.iter().enumerate() {
                    let len = at.len();
                    let _ = write!(at, "/{i}");
                    n += walk(x, at, pick, best);
                    at.truncate(len);
                }
                n
            }
            Value::Object(m) => {
                let mut n = 2 + m.len().saturating_sub(1);
                for (k, x) in m {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&pointer_token(k));
                    n += size(k) + 1 + walk(x, at, pick, best);
                    at.truncate(len);
                }
                n
            }
            Value::String(s) => size(s),
            other => size(other),
        };
        if pick(v) && best.as_ref().is_none_or(|b| n > b.2) {
            let count = match v {
                Value::Array(a) => a.len(),
                Value::String(s) => s.chars().count(),
                _ => 0,
            };
            *best = Some((at.clone(), count, n));
        }
        n
    }
    let mut best = None;
    walk(v, &mut String::new(), &pick, &mut best);
    best.map(|(p, count, _)| (p, count))
}

/// A successful JSON result: the value as `structuredContent` and as compact JSON text, after
/// the budget. Cut notes go into `structuredContent._vtmcp.truncated` and the text; they
/// suggest no `fields` (for composite tools, which do not take it).
pub fn json_result(v: Value, budget_chars: usize) -> CallToolResult {
    json_result_cut(v, budget_chars, Vec::new(), false, None)
}

/// [`json_result`] for a composite tool's JSON answer. A page of related objects
/// (`get_*_relationship`: `items` and the upstream's `cursor`) that loses items to the budget
/// does not hand back that cursor, which would skip them: `cursor` becomes null and `resume`
/// says how to get the page from its first item cut (the same call with `limit` set to the
/// items kept: its cursor then continues after the last one shown).
pub fn composite_json_result(mut v: Value, budget_chars: usize) -> CallToolResult {
    // Room for `resume` below, so that the pass in `json_result_cut` cuts nothing more.
    let cuts = fit_budget_cuts(&mut v, budget_chars.saturating_sub(768));
    let kept = cuts
        .iter()
        .filter_map(|c| match c {
            Cut::Kept { path, kept, .. } if path == "/items" => Some(*kept),
            _ => None,
        })
        .min();
    if let (Some(kept), Value::Object(m)) = (kept, &mut v)
        && m.contains_key("cursor")
    {
        m.insert("cursor".into(), Value::Null);
        m.insert(
            "resume".into(),
            Value::String(format!(
                "this page was cut to fit the output budget: call again with the same cursor \
                 as this call (none for the first page) and limit {}; that page's cursor \
                 continues after the last item shown",
                kept.max(1)
            )),
        );
    }
    json_result_cut(v, budget_chars, cuts, false, None)
}

/// The upstream request a page of a list operation was fetched with, and how many of its items
/// were skipped (a [`PageResume`](crate::ops::paging::PageResume) cursor): when the budget
/// cuts the page's `data`, its cursor is replaced by one that resumes at the first item cut.
#[derive(Debug, Clone, Default)]
pub struct PageAt {
    /// The upstream cursor.
    pub cursor: Option<String>,
    /// The `limit` sent.
    pub limit: Option<Value>,
    /// The items of the upstream page not in this result's `data` (shown before).
    pub skip: usize,
}

/// Leaves out the first `skip` items of a page's `data` (shown by an earlier, cut result).
pub fn skip_items(v: &mut Value, skip: usize) {
    if let Some(Value::Array(items)) = v.get_mut("data") {
        items.drain(..skip.min(items.len()));
    }
}

/// [`json_result`] for a generated tool: `cuts` made already (by [`super::shrink`]) come first,
/// `fields` says whether the tool takes `fields` (for the notes), and a `page` that loses items
/// gets a cursor resuming at the first one cut instead of the upstream's next cursor (which
/// would skip them), and no `links.next`.
pub fn json_result_cut(
    mut v: Value,
    budget_chars: usize,
    mut cuts: Vec<Cut>,
    fields: bool,
    page: Option<&PageAt>,
) -> CallToolResult {
    cuts.extend(fit_budget_cuts(&mut v, budget_chars.saturating_sub(512)));
    let kept = cuts
        .iter()
        .filter_map(|c| match c {
            Cut::Kept { path, kept, .. } if path == "/data" => Some(*kept),
            _ => None,
        })
        .min();
    if let (Some(page), Some(kept), Value::Object(m)) = (page, kept, &mut v) {
        let resume = crate::ops::paging::PageResume {
            cursor: page.cursor.clone(),
            skip: page.skip + kept,
            limit: page.limit.clone(),
        };
        let meta = m.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("cursor".into(), Value::String(resume.encode()));
        }
        if let Some(Value::Object(links)) = m.get_mut("links") {
            links.remove("next");
        }
    }
    let notes = describe_cuts(
        cuts,
        Recovery {
            fields,
            page: page.map(|_| "/data"),
        },
    );
    let mut structured = match v {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("result".into(), other);
            m
        }
    };
    if !notes.is_empty() {
        structured.insert("_vtmcp".into(), json!({"truncated": notes}));
    }
    let structured = Value::Object(structured);
    let text = serde_json::to_string(&structured).unwrap_or_default();
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    r
}

/// Escapes terminal control characters (C0 other than `\n` and `\t`, DEL, C1) in the text
/// content blocks of a result with [`crate::reports::model::escape_controls`]: VirusTotal data
/// (file names, titles, WHOIS, error messages) may carry escape sequences meant for a
/// terminal. `structuredContent` is left as VirusTotal sent it (JSON escapes them there).
pub fn escape_text_controls(r: &mut CallToolResult) {
    for c in r.content.iter_mut() {
        if let ContentBlock::Text(t) = c
            && let std::borrow::Cow::Owned(clean) = crate::reports::model::escape_controls(&t.text)
        {
            t.text = clean;
        }
    }
}

/// Adds notes to a result: a text block, and for tools without an output schema
/// (`structured_notes`) a `_vtmcp.notes` member of the structured content.
pub fn add_notes(r: &mut CallToolResult, notes: &[String], structured_notes: bool) {
    if notes.is_empty() {
        return;
    }
    r.content
        .push(ContentBlock::text(format!("Note: {}.", notes.join("; "))));
    if structured_notes && let Some(Value::Object(m)) = r.structured_content.as_mut() {
        let meta = m.entry("_vtmcp").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("notes".into(), json!(notes));
        }
    }
}

/// Says where a result's answers came from when any came from vtmcp's cache: a line of text,
/// and `_vtmcp.cache` in the structured content (`{"from_cache", "fetched", "oldest_age_seconds"}`).
/// When the cache could not be used (an unreachable Redis server, a broken file), says that
/// instead (`_vtmcp.cache.unavailable`).
pub fn add_cache_usage(r: &mut CallToolResult, usage: &crate::cache::Usage) {
    if let Some(problem) = &usage.unavailable {
        r.content.push(ContentBlock::text(format!(
            "Cache: not available for this call, so nothing was cached: {problem}."
        )));
        if let Some(Value::Object(m)) = r.structured_content.as_mut() {
            let meta = m.entry("_vtmcp").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("cache".into(), json!({"unavailable": problem}));
            }
        }
    }
    if usage.hits == 0 {
        return;
    }
    let age = usage.oldest.unwrap_or_default();
    let what = if usage.fetched == 0 {
        if usage.hits == 1 {
            "answered from vtmcp's cache".to_string()
        } else {
            format!("all {} answers from vtmcp's cache", usage.hits)
        }
    } else {
        format!(
            "{} answer(s) from vtmcp's cache, {} from VirusTotal",
            usage.hits, usage.fetched
        )
    };
    r.content.push(ContentBlock::text(format!(
        "Cache: {what} (fetched from VirusTotal {} ago; no quota spent on it). Pass cache: \"refresh\" for a fresh answer.",
        crate::client::policy::human(age)
    )));
    if let Some(Value::Object(m)) = r.structured_content.as_mut() {
        let meta = m.entry("_vtmcp").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                "cache".into(),
                json!({"from_cache": usage.hits, "fetched": usage.fetched, "oldest_age_seconds": age.as_secs()}),
            );
        }
    }
}

/// An error result (`isError: true`) with a message a model can act on.
pub fn error_result(message: impl Into<String>) -> CallToolResult {
    // No structuredContent: tools with an outputSchema must not return content that breaks it.
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// The result of a composite tool: its answer (markdown text with the JSON as structured
/// content, or the JSON as text cut to the budget) or its failure (with advice for an upstream
/// error).
pub fn outcome_result(
    tool: &str,
    outcome: crate::reports::Outcome,
    budget_chars: usize,
) -> CallToolResult {
    match outcome {
        Ok(crate::reports::Answer {
            json,
            markdown: Some(text),
        }) => {
            let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
            r.structured_content = Some(json);
            r
        }
        Ok(crate::reports::Answer { json, .. }) => composite_json_result(json, budget_chars),
        Err(crate::reports::Failure::Message(m)) => error_result(m),
        Err(crate::reports::Failure::Upstream(e)) => error_result(describe_error(tool, &e)),
    }
}

/// Sends a call's progress as `notifications/progress` under the client's token.
pub fn progress_sink(
    peer: rmcp::service::Peer<rmcp::RoleServer>,
    token: rmcp::model::ProgressToken,
) -> crate::reports::ProgressSink {
    std::sync::Arc::new(move |value, total, message| {
        let peer = peer.clone();
        let token = token.clone();
        Box::pin(async move {
            let mut p = rmcp::model::ProgressNotificationParam::new(token, value);
            p.total = total;
            p.message = Some(message);
            let _ = peer.notify_progress(p).await;
        })
    })
}

/// What to tell the model about an error, including the next step (from the error layer's
/// table, [`crate::error::Failure`], worded for the server's flags).
pub fn describe_error(tool: &str, e: &Error) -> String {
    let next = |f: Failure| {
        let s = f.sentence();
        if s.is_empty() { s } else { format!(" {s}") }
    };
    match e {
        Error::InvalidInput { argument, problem } => {
            format!(
                "{tool}: invalid argument `{argument}`: {problem}. Nothing was sent to VirusTotal."
            )
        }
        Error::Api {
            status,
            code,
            message,
            ..
        } => format!(
            "{tool} failed: VirusTotal {code} (HTTP {status}): {message}.{}",
            next(Failure::of_answer(*status, Some(code)))
        ),
        Error::Http { status, body, .. } => format!(
            "{tool} failed: HTTP {status} from VirusTotal{}.{}",
            if body.is_empty() {
                String::new()
            } else {
                format!(": {body}")
            },
            next(Failure::of_answer(*status, None))
        ),
        Error::Timeout { .. } => format!(
            "{tool} timed out waiting for VirusTotal.{}",
            next(Failure::Timeout)
        ),
        Error::Transport { message, .. } => format!(
            "{tool} could not reach VirusTotal: {message}.{}",
            next(Failure::Network)
        ),
        Error::QuotaWait {
            operation,
            window,
            limit,
            wait,
            max_wait,
        } => format!(
            "{tool} failed: {}",
            quota_wait_message(operation, *window, *limit, *wait, *max_wait, Reader::Server)
        ),
        other => format!("{tool} failed: {other}"),
    }
}

/// Where binary results are written.
#[derive(Debug, Clone)]
pub struct Downloads {
    /// The configured directory (None: binary tools explain how to set one).
    pub dir: Option<PathBuf>,
    /// The largest body written (bytes).
    pub max_bytes: u64,
}

/// Streams a binary body into the download directory, hashing it on the way.
pub async fn save_bytes(
    downloads: &Downloads,
    tool: &str,
    hint: &str,
    stream: crate::client::ByteStream,
) -> Result<Value, String> {
    let Some(dir) = &downloads.dir else {
        return Err(format!(
            "{tool} returns a file, which is never put into the conversation. Start vtmcp with --download-dir DIR (or VTMCP_DOWNLOAD_DIR) to have it saved there."
        ));
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(file_name(tool, hint));
    let saved = crate::client::download::write_stream(
        tool,
        Box::pin(stream.into_inner()),
        &path,
        Some(downloads.max_bytes),
    )
    .await
    .map_err(|e| describe_error(tool, &e))?;
    Ok(
        json!({"saved_to": saved.path.display().to_string(), "size": saved.bytes, "sha256": saved.sha256}),
    )
}

fn file_name(tool: &str, hint: &str) -> String {
    let clean: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    if clean.is_empty() {
        format!("{tool}-{stamp}.bin")
    } else {
        format!("{tool}-{clean}-{stamp}.bin")
    }
}

/// Whether `p` is inside `dir` (used to refuse writing elsewhere).
pub fn inside(dir: &Path, p: &Path) -> bool {
    p.starts_with(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_requested_attributes() {
        let mut v = json!({"data": {"type": "file", "id": "x", "attributes": {"names": ["a"], "size": 3, "md5": "m"}}});
        project(&mut v, &["size".into(), "md5".into()]);
        assert_eq!(v["data"]["attributes"], json!({"size": 3, "md5": "m"}));
        let mut l =
            json!({"data": [{"type": "url", "id": "1", "attributes": {"url": "u", "title": "t"}}]});
        project(&mut l, &["url".into()]);
        assert_eq!(l["data"][0]["attributes"], json!({"url": "u"}));
    }

    #[test]
    fn budget_cuts_biggest_heavy_members_first_and_says_so() {
        let engines: Map<String, Value> = (0..70)
            .map(|i| {
                (
                    format!("engine{i}"),
                    json!({"category": "undetected", "result": null, "engine_version": "1.2.3"}),
                )
            })
            .collect();
        let mut v = json!({"data": {"attributes": {"names": ["a"], "last_analysis_results": engines, "whois": "w".repeat(300)}}});
        let notes = fit_budget(&mut v, 1000);
        assert!(
            v["data"]["attributes"]
                .get("last_analysis_results")
                .is_none()
        );
        assert_eq!(v["data"]["attributes"]["names"], json!(["a"]));
        assert!(
            notes[0].contains("last_analysis_results") && notes[0].contains("fields"),
            "{notes:?}"
        );
        assert!(size(&v) <= 1000);
    }

    #[test]
    fn budget_tracks_the_size_exactly_through_every_kind_of_cut() {
        // Keys and strings that need escaping, nested lists, heavy members inside list items.
        let item = |i: usize| {
            json!({"id/x~y": i, "name": format!("naïve \"quoted\" \u{1}{}", "é".repeat(i % 50)),
                   "results": {"a": "b".repeat(200)}, "tags": ["t1", "t2", "t\n3"]})
        };
        let base = json!({"data": (0..120).map(item).collect::<Vec<_>>(),
                          "note": "long \\ text ".repeat(400), "single": [{"whois": "w".repeat(100)}]});
        for budget in [30_000, 8_000, 1_500, 300] {
            let mut v = base.clone();
            // Debug builds check the tracked size against a fresh serialisation.
            let notes = fit_budget(&mut v, budget);
            assert!(!notes.is_empty());
            assert!(
                size(&v) <= budget || budget < 1_000,
                "{budget}: {}",
                size(&v)
            );
        }
    }

    #[test]
    fn error_results_take_the_next_step_from_the_error_layers_table() {
        let api = |status, code: &str| Error::Api {
            operation: "get_file".into(),
            status,
            code: crate::ErrorCode::parse(code),
            message: "m".into(),
            retry_after: None,
        };
        let d = |e: &Error| describe_error("get_file", e);
        // Code before status: an inactive account is not a wrong key.
        assert!(
            d(&api(401, "UserNotActiveError")).ends_with("Activate the VirusTotal account."),
            "{}",
            d(&api(401, "UserNotActiveError"))
        );
        let t = d(&api(404, "NotFoundError"));
        assert!(
            t.contains("Check the identifier") && t.contains("scanning it (if enabled)"),
            "{t}"
        );
        let t = d(&api(403, "ForbiddenError"));
        assert!(t.contains("--tier"), "{t}");
        // A body that is not VirusTotal's JSON gets the advice of its status, not "try later".
        let http = |status| Error::Http {
            operation: "get_file".into(),
            status,
            body: "b".into(),
        };
        assert!(
            d(&http(400)).ends_with(": b. Check the arguments."),
            "{}",
            d(&http(400))
        );
        assert!(
            d(&http(503)).contains("try again shortly"),
            "{}",
            d(&http(503))
        );
        assert!(d(&http(302)).ends_with(": b."), "{}", d(&http(302)));
        // The server's reader gets the server's settings, the library's the library's.
        let wait = Error::QuotaWait {
            operation: "get_file".into(),
            window: crate::client::QuotaWindow::Minute,
            limit: 4,
            wait: std::time::Duration::from_secs(45),
            max_wait: std::time::Duration::from_secs(10),
        };
        assert!(
            d(&wait).contains("--requests-per-minute") && !d(&wait).contains("RateLimit"),
            "{}",
            d(&wait)
        );
        assert!(wait.to_string().contains("RateLimit::max_wait"), "{wait}");
        // Every next step is the table's: the same words the error's own message ends with.
        for e in [
            api(401, "WrongCredentialsError"),
            api(429, "QuotaExceededError"),
            http(502),
        ] {
            let f = Failure::of(&e).unwrap();
            let lib = e.to_string();
            assert!(lib.ends_with(&f.next_step(Reader::Library)), "{lib}");
            assert!(d(&e).ends_with(&f.sentence()), "{}", d(&e));
        }
    }

    #[test]
    fn budget_halves_long_lists() {
        let mut v = json!({"data": (0..500).map(|i| json!({"id": i})).collect::<Vec<_>>()});
        let notes = fit_budget(&mut v, 2000);
        assert!(size(&v) <= 2000);
        assert!(notes.iter().any(|n| n.contains("kept the first")));
    }
}
