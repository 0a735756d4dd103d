//! `scan_url` and `scan_file` (submit class): submit, optionally wait for the analysis with
//! progress notifications and a timeout, then return the report. A file VirusTotal already
//! knows is not uploaded again.

use super::args::{Format, ScanFileArgs, ScanUrlArgs, UrlArg};
use super::model::clean;
use super::relationships::object_id;
use super::{Answer, Ctx, Depth, Failure, Outcome, Run, objects};
use crate::Error;
use crate::client::AnalysisWait;
use crate::client::scan::sha256_and_rewind;
use crate::client::upload::{UploadBody, UploadTarget, check_upload_len};
use crate::ops::{Output, call_json};
use futures::future::BoxFuture;
use serde_json::{Value, json};
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

/// What was submitted: the object (kind, VT id, shown id) and the analysis to wait for.
struct Submitted<'a> {
    kind: objects::Kind,
    vt_id: &'a str,
    shown: &'a str,
    analysis: &'a str,
    spent: u32,
    /// Whether to wait for the analysis, for how long, and the report's format.
    wait: Option<Duration>,
    format: Format,
}

async fn finish(ctx: &Ctx, sub: Submitted<'_>) -> Outcome {
    let tool = ctx.tool;
    let Submitted {
        kind,
        vt_id,
        shown,
        analysis,
        mut spent,
        wait,
        format,
    } = sub;
    let Some(timeout) = wait else {
        return Ok(Answer::json(
            json!({"analysis_id": analysis, "status": "queued", "requests": spent,
                   "next": format!("call get_analysis with id {analysis:?}, or {} later", if kind.name == "url" { "get_url_report" } else { "get_file_report" })}),
        ));
    };
    let (done, status, polls) = wait_for_analysis(ctx, analysis, timeout).await?;
    spent += polls;
    if !done {
        return Err(Failure::Message(format!(
            "{tool}: the analysis {analysis} was still {status} when the timeout passed ({spent} requests spent). Call get_analysis with that id later, or scan again with a longer timeout_seconds."
        )));
    }
    // The analysis changed the object: what a lookup before the scan cached about it (the old
    // verdict) is stale, so the report below comes from VirusTotal.
    let object = [(kind.id_arg.to_string(), json!(vt_id))]
        .into_iter()
        .collect();
    crate::ops::mark_changed(&ctx.client, kind.get_op, object).await;
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
            Ok(Answer::report(&r, format))
        }
        Err(e) => Err(e.into()),
    }
}

/// `scan_url`.
pub struct ScanUrl;

impl Run for ScanUrl {
    type Args = ScanUrlArgs;
    fn run(ctx: &Ctx, args: ScanUrlArgs) -> BoxFuture<'_, Outcome> {
        Box::pin(scan_url(ctx, args))
    }
}

/// `scan_file`.
pub struct ScanFile;

impl Run for ScanFile {
    type Args = ScanFileArgs;
    fn run(ctx: &Ctx, args: ScanFileArgs) -> BoxFuture<'_, Outcome> {
        Box::pin(scan_file(ctx, args))
    }
}

async fn scan_url(ctx: &Ctx, args: ScanUrlArgs) -> Outcome {
    let (vt_id, shown) = object_id::<UrlArg>(ctx.tool, &args.url)?;
    let v = call_json(
        &ctx.client,
        "submit_url",
        [("url".to_string(), json!(shown))].into_iter().collect(),
    )
    .await?;
    let analysis = match v {
        Output::Json(v) => v
            .pointer("/data/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    let sub = Submitted {
        kind: objects::URL,
        vt_id: &vt_id,
        shown: &shown,
        analysis: &analysis,
        spent: 1,
        wait: args.wait.then(|| Duration::from_secs(args.timeout_seconds)),
        format: args.format,
    };
    finish(ctx, sub).await
}

async fn scan_file(ctx: &Ctx, args: ScanFileArgs) -> Outcome {
    let tool = ctx.tool;
    let path = args.path.as_str();
    let refuse = |problem: String| {
        Failure::Message(format!(
            "{tool}: invalid argument `path`: {problem}. Nothing was sent to VirusTotal."
        ))
    };
    let opened = ctx.uploads.open_file(path).map_err(refuse)?;
    if let Err(Error::InvalidInput { problem, .. }) = check_upload_len(opened.len, path) {
        return Err(refuse(problem));
    }
    let len = opened.len;
    let (file, sha256) = sha256_and_rewind(opened.file).await?;
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
            return Ok(Answer::report(&r, args.format));
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    let mut fields = vec![];
    if let Some(pw) = &args.password {
        fields.push(("password", pw.clone()));
    }
    ctx.progress.report(0.0, None, "uploading".into()).await;
    let analysis = ctx
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
        .await?
        .pointer("/data/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
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
        wait: args.wait.then(|| Duration::from_secs(args.timeout_seconds)),
        format: args.format,
    };
    finish(ctx, sub).await
}
