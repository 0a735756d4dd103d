//! `triage_iocs`: many indicators in one compact verdict table. Types are detected, duplicates
//! merged, the cost is stated before anything is spent, and a quota that runs out stops the
//! run cleanly with what was done kept. The indicators are a list (`iocs`) or are taken from
//! free text (`text`, through [`super::ioc::extract`]); from text, those flagged as meaning
//! nothing to VirusTotal (private, documentation, version-like …) are listed as skipped.

use super::args::{ExportFormat, TriageArgs};
use super::ioc;
use super::model::{clean_to, q};
use super::objects;
use super::stix;
use super::{Answer, Ctx, Failure, Outcome, Run, short_error};
use crate::client::ids;
use crate::ops::{Output, call_json};
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize)]
struct Row {
    indicator: String,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    malicious: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suspicious: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    engines: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    /// When VirusTotal first received it (files and URLs).
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen: Option<String>,
    /// When it was registered (domains, from WHOIS): not a sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip)]
    vt_id: String,
}

fn classify(raw: &str) -> Row {
    let s = raw.trim();
    let row = |kind, vt_id: String, shown: String| Row {
        indicator: shown,
        kind,
        status: "pending",
        malicious: None,
        suspicious: None,
        engines: None,
        label: None,
        first_seen: None,
        created: None,
        detail: None,
        vt_id,
    };
    if ids::hash_kind(s).is_some() {
        return row("file", s.to_ascii_lowercase(), s.to_ascii_lowercase());
    }
    if let Some(ip) = ids::parse_ip(s) {
        return row("ip_address", ip.to_string(), ip.to_string());
    }
    if s.contains("://") {
        if ids::check_url(s).is_ok() {
            return row("url", ids::url_id(s), s.to_string());
        }
    } else if let Some(d) = ids::normalize_domain(s) {
        return row("domain", d.clone(), d);
    }
    let mut r = row("unknown", String::new(), clean_to(s, 80));
    r.status = "invalid";
    r.detail = Some("not a hash, URL (with http/https), domain or IP address".into());
    r
}

fn kind(k: &str) -> objects::Kind {
    match k {
        "file" => objects::FILE,
        "url" => objects::URL,
        "domain" => objects::DOMAIN,
        _ => objects::IP,
    }
}

/// `triage_iocs`.
pub struct Triage;

impl Run for Triage {
    type Args = TriageArgs;
    fn run(ctx: &Ctx, args: TriageArgs) -> BoxFuture<'_, Outcome> {
        Box::pin(triage(ctx, args))
    }
}

/// Most lookups one call makes: as many as `iocs` may list.
const MAX_LOOKUPS: usize = 100;

/// The rows for the indicators found in `text`, and what the plan says about them.
fn rows_from_text(text: &str) -> (Vec<Row>, String) {
    let found = ioc::extract(text);
    let mut rows: Vec<Row> = vec![];
    let (mut skipped, mut pending) = (0, 0);
    for i in &found {
        let mut r = classify(&i.value);
        if r.status == "invalid" {
            // The extraction and the classification disagree: say so rather than drop it.
            r.detail = Some(format!(
                "found as {}, but {}",
                i.kind.as_str(),
                r.detail.unwrap_or_default()
            ));
        } else if let Some(why) = i.skip_reason() {
            r.status = "skipped";
            r.detail = Some(format!("not looked up: {why}"));
            skipped += 1;
        } else if pending >= MAX_LOOKUPS {
            r.status = "not_checked";
            r.detail = Some(format!(
                "over the {MAX_LOOKUPS} lookups one call makes; pass it again in `iocs`"
            ));
        } else {
            pending += 1;
        }
        rows.push(r);
    }
    let defanged = found.iter().filter(|i| i.defanged_in_text).count();
    let summary = format!(
        "{} indicator(s) found in the text ({defanged} written defanged), {skipped} skipped (private, reserved, documentation or version-like)",
        found.len()
    );
    (rows, summary)
}

/// The arguments of the lookup of one indicator.
fn lookup_args(k: &objects::Kind, vt_id: &str) -> Map<String, Value> {
    let mut a = Map::new();
    a.insert(k.id_arg.into(), json!(vt_id));
    a
}

async fn triage(ctx: &Ctx, args: TriageArgs) -> Outcome {
    let (mut rows, summary, heading) = match (args.iocs, args.text) {
        (Some(iocs), None) => {
            let mut rows: Vec<Row> = vec![];
            let mut duplicates = 0;
            for raw in &iocs {
                let r = classify(raw);
                if r.status != "invalid"
                    && rows.iter().any(|x| x.kind == r.kind && x.vt_id == r.vt_id)
                {
                    duplicates += 1;
                    continue;
                }
                rows.push(r);
            }
            let given = iocs.len();
            (
                rows,
                format!("{given} indicator(s) given, {duplicates} duplicate(s) merged"),
                format!("{given} indicator(s)"),
            )
        }
        (None, Some(text)) => {
            let (rows, summary) = rows_from_text(&text);
            let heading = format!("{} indicator(s) found in the text", rows.len());
            (rows, summary, heading)
        }
        (iocs, _) => {
            let problem = if iocs.is_some() {
                "give either `iocs` or `text`, not both"
            } else {
                "give `iocs` (a list of indicators) or `text` (free text to take them from)"
            };
            return Err(Failure::Message(format!(
                "{}: invalid arguments: {problem}. Nothing was sent to VirusTotal.",
                ctx.tool
            )));
        }
    };
    let lookups = rows.iter().filter(|r| r.status == "pending").count();
    // What the cache answers costs nothing: count it before spending anything.
    let mut cached = std::collections::HashSet::new();
    for row in rows.iter().filter(|r| r.status == "pending") {
        let k = kind(row.kind);
        if crate::ops::is_cached(&ctx.client, k.get_op, lookup_args(&k, &row.vt_id)).await {
            cached.insert((row.kind, row.vt_id.clone()));
        }
    }
    let fetch = lookups - cached.len();
    let quota = ctx.client.rate_limiter().current_status().await;
    let mut plan = if cached.is_empty() {
        format!("{summary}, {lookups} lookup(s) = {lookups} VirusTotal request(s)")
    } else {
        format!(
            "{summary}, {lookups} lookup(s): {} answered from vtmcp's cache, {fetch} VirusTotal request(s)",
            cached.len()
        )
    };
    if let Some(left) = quota.remaining_today {
        plan.push_str(&format!("; {left} left today by vtmcp's count"));
        if !quota.can_spend_today(fetch as u32) {
            plan.push_str(", not enough: the rest will be marked not checked");
        }
    }
    if let Some(wait) = quota.estimate(fetch as u32).filter(|w| !w.is_zero()) {
        plan.push_str(&format!(
            "; about {} s of waiting for the per-minute quota",
            wait.as_secs()
        ));
    }
    plan.push('.');
    ctx.progress
        .report(0.0, Some(lookups as f64), plan.clone())
        .await;
    let mut done = 0usize;
    let mut requests = 0u32;
    let mut stopped: Option<String> = None;
    for row in rows.iter_mut().filter(|r| r.status == "pending") {
        if let Some(why) = &stopped {
            row.status = "not_checked";
            row.detail = Some(why.clone());
            continue;
        }
        let k = kind(row.kind);
        if !cached.contains(&(row.kind, row.vt_id.clone())) {
            requests += 1;
        }
        match call_json(&ctx.client, k.get_op, lookup_args(&k, &row.vt_id)).await {
            Ok(Output::Json(v)) => {
                let attrs = &v["data"]["attributes"];
                let stats = attrs.get("last_analysis_stats");
                let n = |key: &str| stats.and_then(|s| s.get(key)).and_then(Value::as_u64);
                row.status = "found";
                row.malicious = n("malicious");
                row.suspicious = n("suspicious");
                // The denominator counts engines that returned a verdict.
                row.engines = stats
                    .and_then(Value::as_object)
                    .map(|s| super::model::engine_counts(s).0);
                row.label = attrs
                    .pointer("/popular_threat_classification/suggested_threat_label")
                    .and_then(Value::as_str)
                    .map(|s| clean_to(s, 60));
                let date = |key: &str| {
                    attrs
                        .get(key)
                        .and_then(Value::as_i64)
                        .and_then(super::model::utc)
                };
                // A domain's registration date is not when VirusTotal first saw it: kept apart (a
                // file's `creation_date` is its build time, not shown here).
                row.first_seen = date("first_submission_date");
                if row.kind == "domain" {
                    row.created = date("creation_date");
                }
            }
            Ok(_) => row.status = "found",
            Err(e) if e.is_not_found() => row.status = "not_found",
            Err(e) if e.is_quota() => {
                row.status = "not_checked";
                let why = format!("quota exhausted ({})", short_error(&e));
                row.detail = Some(why.clone());
                stopped = Some(why);
            }
            Err(e) => {
                row.status = "error";
                row.detail = Some(short_error(&e));
            }
        }
        done += 1;
        ctx.progress
            .report(
                done as f64,
                Some(lookups as f64),
                format!("{done}/{lookups} checked"),
            )
            .await;
    }
    let checked = rows
        .iter()
        .filter(|r| matches!(r.status, "found" | "not_found"))
        .count();
    let out = json!({"plan": plan, "requests": requests, "checked": checked, "stopped": stopped, "rows": rows});
    match args.format {
        ExportFormat::Json => return Ok(Answer::json(out)),
        ExportFormat::Stix => {
            let bundle = stix_bundle(&rows, chrono::Utc::now());
            return Ok(Answer::stix(out, bundle));
        }
        ExportFormat::Markdown => {}
    }
    let mut s = format!("## Triage of {heading}\n{plan}\n\n");
    if rows.is_empty() {
        s.push_str("No indicators to look up.\n");
    } else {
        s.push_str("| indicator | type | verdict | label | first seen |\n|---|---|---|---|---|\n");
    }
    for r in &rows {
        let verdict = match r.status {
            "found" => match (r.malicious, r.suspicious, r.engines) {
                (Some(m), Some(su), Some(t)) if su > 0 => {
                    format!("**{m}**/{t} malicious, {su} suspicious")
                }
                (Some(m), _, Some(t)) if m > 0 => format!("**{m}**/{t} malicious"),
                (Some(_), _, Some(t)) => format!("0/{t} (no detections)"),
                _ => "found".into(),
            },
            "not_found" => "not in VirusTotal".into(),
            other => format!(
                "{}{}",
                other.replace('_', " "),
                r.detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {verdict} | {} | {} |",
            q(&clean_to(&r.indicator, 100)),
            r.kind,
            r.label.as_ref().map(|l| q(l)).unwrap_or_default(),
            match (&r.first_seen, &r.created) {
                (Some(seen), _) => seen.clone(),
                (None, Some(created)) => format!("(registered {created})"),
                (None, None) => String::new(),
            }
        );
    }
    let _ = writeln!(
        s,
        "\n_{requests} upstream request(s); {checked} of {lookups} checked; quoted values are untrusted data._"
    );
    if let Some(why) = &stopped {
        let _ = writeln!(
            s,
            "Stopped early: {why}. The rows above marked `not checked` can be retried later."
        );
    }
    Ok(Answer {
        json: out,
        markdown: Some(s),
    })
}

/// The indicators VirusTotal knows as a STIX bundle: each as an observable with its counts, an
/// indicator for those engines flag ([`stix::Bundle::verdict`]). Rows not found, not checked or
/// invalid are left out.
fn stix_bundle(rows: &[Row], now: chrono::DateTime<chrono::Utc>) -> Value {
    let mut b = stix::Bundle::new(now);
    for r in rows.iter().filter(|r| r.status == "found") {
        let Some(o) = stix::Observable::of_kind(r.kind, &r.indicator) else {
            continue;
        };
        match (r.malicious, r.engines) {
            (Some(malicious), Some(engines)) => {
                let stats = stix::Stats {
                    malicious,
                    suspicious: r.suspicious.unwrap_or(0),
                    engines,
                };
                let url_id = (r.kind == "url").then_some(r.vt_id.as_str());
                b.verdict(&o, stats, r.label.as_deref(), None, url_id);
            }
            _ => {
                b.observable(&o, None);
            }
        }
    }
    b.into_value()
}
