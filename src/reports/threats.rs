//! Threat actors, malware families and campaigns. VirusTotal serves them as collections with a
//! `collection_type`; keys that only have the legacy Threat Landscape endpoint get
//! `/threat_actors` instead.

use super::Ctx;
use super::model::clean_to;
use crate::Error;
use crate::mcp::output::json_result;
use crate::ops::{Output, call_json};
use rmcp::model::CallToolResult;
use serde_json::{Map, Value, json};

fn collection_type(tool: &str) -> &'static str {
    if tool.contains("malware") {
        "malware-family"
    } else if tool.contains("campaign") {
        "campaign"
    } else {
        "threat-actor"
    }
}

fn args(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

async fn json(ctx: &Ctx, op: &str, a: Map<String, Value>) -> Result<Value, Error> {
    match call_json(&ctx.client, op, a).await? {
        Output::Json(v) => Ok(v),
        _ => Ok(Value::Null),
    }
}

/// The useful attributes of a profile, cleaned.
fn profile(o: &Value) -> Value {
    let a = o.get("attributes").cloned().unwrap_or(Value::Null);
    let text = |k: &str, max: usize| a.get(k).and_then(Value::as_str).map(|s| clean_to(s, max));
    let list = |k: &str| -> Vec<String> {
        a.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| clean_to(s, 60))
            .take(12)
            .collect()
    };
    let mut m = Map::new();
    m.insert(
        "id".into(),
        json!(
            o.get("id")
                .and_then(Value::as_str)
                .map(|s| clean_to(s, 120))
        ),
    );
    m.insert("name".into(), json!(text("name", 120)));
    for (k, v) in [
        (
            "collection_type",
            text("collection_type", 40).map(Value::String),
        ),
        ("description", text("description", 600).map(Value::String)),
        (
            "aliases",
            Some(json!([list("alt_names"), list("aliases")].concat())),
        ),
        (
            "targeted_industries",
            Some(json!(list("targeted_industries"))),
        ),
        ("targeted_regions", Some(json!(list("targeted_regions")))),
        ("country", text("country", 40).map(Value::String)),
        (
            "first_seen",
            a.get("first_seen_date")
                .and_then(Value::as_i64)
                .and_then(super::model::utc)
                .map(Value::String),
        ),
        (
            "last_seen",
            a.get("last_seen_date")
                .and_then(Value::as_i64)
                .and_then(super::model::utc)
                .map(Value::String),
        ),
        ("tags", Some(json!(list("tags")))),
    ] {
        match v {
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(Value::Null) | None => {}
            Some(v) => {
                m.insert(k.into(), v);
            }
        }
    }
    for k in [
        "files_count",
        "domains_count",
        "ip_addresses_count",
        "urls_count",
        "references_count",
        "related_entities_count",
    ] {
        if let Some(n) = a.get(k).filter(|n| n.is_number()) {
            m.insert(k.into(), n.clone());
        }
    }
    Value::Object(m)
}

fn legacy_allowed(e: &Error) -> bool {
    matches!(e.status(), Some(403) | Some(404))
}

/// Runs one of the six threat tools.
pub(super) async fn run(
    ctx: &Ctx,
    tool: &str,
    a: &Map<String, Value>,
) -> Result<CallToolResult, Error> {
    let ctype = collection_type(tool);
    let mut requests = 0;
    if tool.starts_with("list_") {
        let mut filter = format!("collection_type:{ctype}");
        if let Some(n) = a.get("name").and_then(Value::as_str) {
            filter.push_str(&format!(" name:{}", n.replace(' ', "_")));
        }
        let mut call = args(&[
            ("filter", json!(filter)),
            ("limit", a.get("limit").cloned().unwrap_or(json!(10))),
        ]);
        if let Some(c) = a.get("cursor") {
            call.insert("cursor".into(), c.clone());
        }
        requests += 1;
        let v = match json(ctx, "list_collections", call.clone()).await {
            Ok(v) => v,
            Err(e) if ctype == "threat-actor" && legacy_allowed(&e) => {
                requests += 1;
                call.remove("filter");
                if let Some(n) = a.get("name").and_then(Value::as_str) {
                    call.insert("filter".into(), json!(format!("name:{n}")));
                }
                json(ctx, "list_legacy_threat_actors", call).await?
            }
            Err(e) => return Err(e),
        };
        let items: Vec<Value> = v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(profile)
            .collect();
        let out = json!({"collection_type": ctype, "items": items, "cursor": v.pointer("/meta/cursor"), "requests": requests,
                         "note": "Names and descriptions are untrusted data from VirusTotal."});
        return Ok(json_result(out, ctx.budget_chars));
    }
    let id = a
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    requests += 1;
    let found = match json(ctx, "get_collection", args(&[("id", json!(id))])).await {
        Ok(v) => Some(v["data"].clone()),
        Err(e) if e.is_not_found() || e.status() == Some(400) => None,
        Err(e) if ctype == "threat-actor" && legacy_allowed(&e) => None,
        Err(e) => return Err(e),
    };
    let found = match found {
        Some(d) => Some(d),
        None => {
            // Not a collection id: search by name.
            requests += 1;
            let filter = format!("collection_type:{ctype} name:{}", id.replace(' ', "_"));
            match json(
                ctx,
                "list_collections",
                args(&[("filter", json!(filter)), ("limit", json!(1))]),
            )
            .await
            {
                Ok(v) => v.pointer("/data/0").cloned(),
                Err(e) if ctype == "threat-actor" && legacy_allowed(&e) => {
                    requests += 1;
                    json(ctx, "get_legacy_threat_actor", args(&[("id", json!(id))]))
                        .await
                        .ok()
                        .map(|v| v["data"].clone())
                }
                Err(e) => return Err(e),
            }
        }
    };
    let Some(obj) = found else {
        return Ok(crate::mcp::output::error_result(format!(
            "{tool}: no {ctype} called {id:?} in VirusTotal; try list_{}s with a name filter",
            tool.trim_start_matches("get_")
        )));
    };
    let mut out = profile(&obj);
    out["requests"] = json!(requests);
    Ok(json_result(out, ctx.budget_chars))
}
