//! `scan_url` and `scan_file` (submit class): submit, optionally wait for the analysis with
//! progress notifications and a timeout, then return the report. A file VirusTotal already
//! knows is not uploaded again.

use super::model::clean;
use super::relationships::object_id;
use super::{Ctx, Depth, objects, report_result};
use crate::Error;
use crate::client::AnalysisWait;
use crate::client::scan::sha256_and_rewind;
use crate::client::upload::{UploadBody, UploadTarget, check_upload_len};
use crate::mcp::output::{describe_error, error_result, json_result};
use crate::ops::{Output, call_json};
use rmcp::model::CallToolResult;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Waits for an analysis with the client's poller: intervals grow from the configured poll
/// interval to eight times it, and each wait becomes a progress notification of the call
/// (through the wait reporter). Returns whether it completed, its last status and the polls
/// spent.
async fn wait_for_analysis(
    ctx: &Ctx,
    id: &str,
    timeout: Duration,
) -> Result<(bool, String, u32), Error> {
    let polls = Arc::new(AtomicU32::new(0));
    let seen = polls.clone();
    let wait = AnalysisWait::new()
        .timeout(timeout)
        .initial_interval(ctx.poll_interval)
        .max_interval(ctx.poll_interval * 8)
        .on_progress(move |p| seen.store(p.polls, Ordering::Relaxed));
    let outcome = ctx.client.wait_for_analysis(id, &wait).await;
    let polls = polls.load(Ordering::Relaxed);
    match outcome {
        Ok(_) => Ok((true, "completed".into(), polls)),
        Err(Error::AnalysisTimeout { status, .. }) => Ok((false, status, polls)),
        Err(e) => Err(e),
    }
}

fn timeout_of(args: &Map<String, Value>, default: u64) -> Duration {
    Duration::from_secs(
        args.get("timeout_seconds")
            .and_then(Value::as_u64)
            .unwrap_or(default),
    )
}

/// What was submitted: the object (kind, VT id, shown id) and the analysis to wait for.
struct Submitted<'a> {
    kind: objects::Kind,
    vt_id: &'a str,
    shown: &'a str,
    analysis: &'a str,
    spent: u32,
}

async fn finish(
    ctx: &Ctx,
    tool: &str,
    sub: Submitted<'_>,
    args: &Map<String, Value>,
) -> CallToolResult {
    let Submitted {
        kind,
        vt_id,
        shown,
        analysis,
        mut spent,
    } = sub;
    let format = args
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("markdown");
    if args.get("wait").and_then(Value::as_bool) == Some(false) {
        return json_result(
            json!({"analysis_id": analysis, "status": "queued", "requests": spent,
                   "next": format!("call get_analysis with id {analysis:?}, or {} later", if kind.name == "url" { "get_url_report" } else { "get_file_report" })}),
            ctx.budget_chars,
        );
    }
    let (done, status, polls) = match wait_for_analysis(
        ctx,
        analysis,
        timeout_of(args, if kind.name == "url" { 180 } else { 300 }),
    )
    .await
    {
        Ok(x) => x,
        Err(e) => return error_result(describe_error(tool, &e)),
    };
    spent += polls;
    if !done {
        return error_result(format!(
            "{tool}: the analysis {analysis} was still {status} when the timeout passed ({spent} requests spent). Call get_analysis with that id later, or scan again with a longer timeout_seconds."
        ));
    }
    match objects::report(
        ctx,
        &kind,
        vt_id,
        shown,
        kind.default_relationships(ctx.premium),
        Depth::Summary,
    )
    .await
    {
        Ok(mut r) => {
            r.requests += spent;
            r.notes
                .push(format!("Analysis {} completed.", clean(analysis)));
            report_result(&r, format, ctx.budget_chars)
        }
        Err(e) => error_result(describe_error(tool, &e)),
    }
}

/// Runs `scan_url` or `scan_file`.
pub(super) async fn scan(
    ctx: &Ctx,
    tool: &str,
    args: &Map<String, Value>,
    format: &str,
) -> CallToolResult {
    if tool == "scan_url" {
        let (vt_id, shown) = match object_id("get_url_report", args) {
            Ok(x) => x,
            Err(msg) => return error_result(msg.replace("get_url_report", "scan_url")),
        };
        let r = call_json(
            &ctx.client,
            "submit_url",
            [("url".to_string(), json!(shown))].into_iter().collect(),
        )
        .await;
        let analysis = match r {
            Ok(Output::Json(v)) => v
                .pointer("/data/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            Ok(_) => String::new(),
            Err(e) => return error_result(describe_error(tool, &e)),
        };
        let sub = Submitted {
            kind: objects::URL,
            vt_id: &vt_id,
            shown: &shown,
            analysis: &analysis,
            spent: 1,
        };
        return finish(ctx, tool, sub, args).await;
    }
    let path = args.get("path").and_then(Value::as_str).unwrap_or_default();
    let refuse = |problem: String| {
        error_result(format!(
            "{tool}: invalid argument `path`: {problem}. Nothing was sent to VirusTotal."
        ))
    };
    let opened = match ctx.uploads.open_file(path) {
        Ok(f) => f,
        Err(problem) => return refuse(problem),
    };
    if let Err(Error::InvalidInput { problem, .. }) = check_upload_len(opened.len, path) {
        return refuse(problem);
    }
    let len = opened.len;
    let (file, sha256) = match sha256_and_rewind(opened.file).await {
        Ok(x) => x,
        Err(e) => return error_result(describe_error(tool, &e)),
    };
    // Already known: report it without uploading.
    match objects::report(
        ctx,
        &objects::FILE,
        &sha256,
        &sha256,
        objects::FILE.default_relationships(ctx.premium),
        Depth::Summary,
    )
    .await
    {
        Ok(mut r) => {
            r.notes
                .push("VirusTotal already knows this file, so it was not uploaded.".into());
            return report_result(&r, format, ctx.budget_chars);
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return error_result(describe_error(tool, &e)),
    }
    let mut fields = vec![];
    if let Some(pw) = args.get("password").and_then(Value::as_str) {
        fields.push(("password", pw.to_string()));
    }
    ctx.progress.report(0.0, None, "uploading".into()).await;
    let analysis = match ctx
        .client
        .upload_body(
            UploadTarget::Public,
            UploadBody::File {
                file,
                name: opened.name,
                len,
            },
            &fields,
        )
        .await
    {
        Ok(v) => v
            .pointer("/data/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Err(e) => return error_result(describe_error(tool, &e)),
    };
    let spent = if len > crate::client::upload::DIRECT_UPLOAD_LIMIT {
        3
    } else {
        2
    };
    let sub = Submitted {
        kind: objects::FILE,
        vt_id: &sha256,
        shown: &sha256,
        analysis: &analysis,
        spent,
    };
    finish(ctx, tool, sub, args).await
}
