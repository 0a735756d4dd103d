//! Threat actors, malware families and campaigns. VirusTotal serves them as collections with a
//! `collection_type`; keys that only have the legacy Threat Landscape endpoint get
//! `/threat_actors` instead.

use super::args::{ProfileArgs, ProfileListArgs};
use super::model::clean_to;
use super::{Answer, Ctx, Failure, Outcome, Run};
use crate::Error;
use crate::ops::{Output, call_json};
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::marker::PhantomData;

/// A kind of threat profile: its `collection_type` and the tool that lists them.
pub trait Collection: Send + Sync + 'static {
    /// The `collection_type` value.
    const TYPE: &'static str;
    /// The tool listing them (named in "not found" answers).
    const LIST_TOOL: &'static str;
}

/// Threat actors.
pub struct ThreatActors;
/// Malware families.
pub struct MalwareFamilies;
/// Campaigns.
pub struct Campaigns;

impl Collection for ThreatActors {
    const TYPE: &'static str = "threat-actor";
    const LIST_TOOL: &'static str = "list_threat_actors";
}

impl Collection for MalwareFamilies {
    const TYPE: &'static str = "malware-family";
    const LIST_TOOL: &'static str = "list_malware_families";
}

impl Collection for Campaigns {
    const TYPE: &'static str = "campaign";
    const LIST_TOOL: &'static str = "list_campaigns";
}

/// `get_threat_actor`, `get_malware_family`, `get_campaign`.
pub struct GetProfile<C>(PhantomData<C>);

impl<C: Collection> Run for GetProfile<C> {
    type Args = ProfileArgs;
    fn run(ctx: &Ctx, args: ProfileArgs) -> BoxFuture<'_, Outcome> {
        Box::pin(get_profile(ctx, C::TYPE, C::LIST_TOOL, args))
    }
}

/// `list_threat_actors`, `list_malware_families`, `list_campaigns`.
pub struct ListProfiles<C>(PhantomData<C>);

impl<C: Collection> Run for ListProfiles<C> {
    type Args = ProfileListArgs;
    fn run(ctx: &Ctx, args: ProfileListArgs) -> BoxFuture<'_, Outcome> {
        Box::pin(list_profiles(ctx, C::TYPE, args))
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

async fn list_profiles(ctx: &Ctx, ctype: &str, a: ProfileListArgs) -> Outcome {
    let mut requests = 0;
    let mut filter = format!("collection_type:{ctype}");
    if let Some(n) = &a.name {
        filter.push_str(&format!(" name:{}", n.replace(' ', "_")));
    }
    let mut call = args(&[("filter", json!(filter)), ("limit", json!(a.limit))]);
    if let Some(c) = &a.cursor {
        call.insert("cursor".into(), json!(c));
    }
    requests += 1;
    let v = match json(ctx, "list_collections", call.clone()).await {
        Ok(v) => v,
        Err(e) if ctype == "threat-actor" && legacy_allowed(&e) => {
            requests += 1;
            call.remove("filter");
            if let Some(n) = &a.name {
                call.insert("filter".into(), json!(format!("name:{n}")));
            }
            json(ctx, "list_legacy_threat_actors", call).await?
        }
        Err(e) => return Err(e.into()),
    };
    let items: Vec<Value> = v
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(profile)
        .collect();
    Ok(Answer::json(
        json!({"collection_type": ctype, "items": items, "cursor": v.pointer("/meta/cursor"), "requests": requests,
               "note": "Names and descriptions are untrusted data from VirusTotal."}),
    ))
}

async fn get_profile(ctx: &Ctx, ctype: &str, list_tool: &str, a: ProfileArgs) -> Outcome {
    let id = a.id.trim().to_string();
    let mut requests = 1;
    let found = match json(ctx, "get_collection", args(&[("id", json!(id))])).await {
        Ok(v) => Some(v["data"].clone()),
        Err(e) if e.is_not_found() || e.status() == Some(400) => None,
        Err(e) if ctype == "threat-actor" && legacy_allowed(&e) => None,
        Err(e) => return Err(e.into()),
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
                Err(e) => return Err(e.into()),
            }
        }
    };
    let Some(obj) = found else {
        return Err(Failure::Message(format!(
            "{}: no {ctype} called {id:?} in VirusTotal; try {list_tool} with a name filter",
            ctx.tool
        )));
    };
    let mut out = profile(&obj);
    out["requests"] = json!(requests);
    Ok(Answer::json(out))
}
