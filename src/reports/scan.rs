//! `scan_url` and `scan_file` (submit class): submit, optionally wait for the analysis with
//! progress notifications and a timeout, then return the report. A file VirusTotal already
//! knows is not uploaded again.

use super::model::clean;
use super::relationships::object_id;
use super::{Ctx, Depth, objects, report_result};
use crate::Error;
use crate::client::upload::{MAX_UPLOAD, UploadTarget};
use crate::mcp::output::{describe_error, error_result, json_result};
use crate::ops::{Output, call_json};
use rmcp::model::CallToolResult;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// Polls `GET /analyses/{id}` with backoff until it is completed or `timeout` passes.
/// Returns the last analysis JSON, whether it completed, and the requests spent.
pub async fn wait_for_analysis(
    ctx: &Ctx,
    id: &str,
    timeout: Duration,
) -> Result<(Value, bool, u32), Error> {
    let start = Instant::now();
    let mut delay = ctx.poll_interval;
    let mut requests = 0;
    loop {
        requests += 1;
        let v = match call_json(
            &ctx.client,
            "get_analysis",
            [("id".to_string(), json!(id))].into_iter().collect(),
        )
        .await?
        {
            Output::Json(v) => v,
            _ => Value::Null,
        };
        let status = v
            .pointer("/data/attributes/status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let elapsed = start.elapsed();
        ctx.progress
            .report(
                elapsed.as_secs_f64(),
                Some(timeout.as_secs_f64()),
                format!("analysis {status} after {}s", elapsed.as_secs()),
            )
            .await;
        if status == "completed" {
            return Ok((v, true, requests));
        }
        if elapsed + delay > timeout {
            return Ok((v, false, requests));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(ctx.poll_interval * 8);
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
    let (v, done, polls) = match wait_for_analysis(
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
        let status = v
            .pointer("/data/attributes/status")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
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
    let p = std::path::Path::new(path);
    let meta = match tokio::fs::metadata(p).await {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            return error_result(format!(
                "{tool}: invalid argument `path`: {path:?} is not a regular file. Nothing was sent to VirusTotal."
            ));
        }
        Err(e) => {
            return error_result(format!(
                "{tool}: invalid argument `path`: cannot read {path:?}: {e}. Nothing was sent to VirusTotal."
            ));
        }
    };
    if meta.len() > MAX_UPLOAD {
        return error_result(format!(
            "{tool}: invalid argument `path`: the file is {} bytes; VirusTotal accepts at most 650 MB. Nothing was sent to VirusTotal.",
            meta.len()
        ));
    }
    let sha256 = match sha256_file(p).await {
        Ok(h) => h,
        Err(e) => return error_result(format!("{tool}: cannot read {path:?}: {e}")),
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
        .upload_path(UploadTarget::Public, p, &fields)
        .await
    {
        Ok(v) => v
            .pointer("/data/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Err(e) => return error_result(describe_error(tool, &e)),
    };
    let spent = if meta.len() > crate::client::upload::DIRECT_UPLOAD_LIMIT {
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

async fn sha256_file(p: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(p).await?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
