//! Invariants of spec/virustotal-v3.yaml that every operation must keep.

use crate::support::spec::model::{Location as SpecLocation, Shape};
use crate::support::{resolve, spec};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use vtmcp::mcp::catalog::TIERS;
use vtmcp::ops::{BodyShape, Location};

const PERMISSIONS: &[&str] = &["read", "submit", "write"];

/// Every operation as (path, lower-case method, operation object), read by the build's model.
fn operations() -> Vec<(String, String, &'static Value)> {
    crate::support::operations()
        .iter()
        .map(|o| (o.path.clone(), o.method.to_lowercase(), o.value))
        .collect()
}

#[test]
fn document_header() {
    let s = spec();
    assert_eq!(s["openapi"], "3.0.3");
    assert_eq!(s["servers"][0]["url"], "https://www.virustotal.com/api/v3");
    let scheme = &s["components"]["securitySchemes"]["apiKey"];
    assert_eq!(
        (
            scheme["type"].as_str(),
            scheme["in"].as_str(),
            scheme["name"].as_str()
        ),
        (Some("apiKey"), Some("header"), Some("x-apikey"))
    );
    assert!(s["security"][0].get("apiKey").is_some());
}

#[test]
fn every_operation_keeps_the_invariants() {
    let tags: BTreeSet<String> = spec()["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let mut ids = BTreeSet::new();
    let mut problems = vec![];
    for (path, method, op) in operations() {
        let id = op["operationId"].as_str().unwrap_or_default();
        let at = format!("{method} {path} ({id})");
        if !ids.insert(id.to_string()) {
            problems.push(format!("{at}: duplicate operationId"));
        }
        let snake = !id.is_empty()
            && id.len() <= 48
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !snake {
            problems.push(format!(
                "{at}: operationId must be snake_case and at most 48 characters"
            ));
        }
        match op["tags"].as_array().map(|t| t.as_slice()) {
            Some([t]) if tags.contains(t.as_str().unwrap_or("")) => {}
            _ => problems.push(format!("{at}: needs exactly one known tag")),
        }
        if !op["x-vt-tier"].as_str().is_some_and(|t| TIERS.contains(&t)) {
            problems.push(format!("{at}: x-vt-tier missing or unknown"));
        }
        if !op["x-vt-permission"]
            .as_str()
            .is_some_and(|t| PERMISSIONS.contains(&t))
        {
            problems.push(format!("{at}: x-vt-permission missing or unknown"));
        }
        if method != "get" && op["x-vt-permission"] == "read" && !id.starts_with("check_") {
            problems.push(format!("{at}: a {method} cannot be read-only"));
        }
        for k in ["summary", "description"] {
            if op[k]
                .as_str()
                .is_none_or(|s| s.trim().is_empty() || s.contains('\n'))
            {
                problems.push(format!("{at}: {k} must be one non-empty line"));
            }
        }
        let responses = op["responses"].as_object().unwrap();
        if responses.contains_key("default") && responses.keys().any(|k| k.starts_with('2')) {
            problems.push(format!("{at}: `default` beside a 2xx response"));
        }
        for code in ["4XX", "5XX"] {
            if resolve(&responses[code])["content"]["application/json"]["schema"]["$ref"]
                != "#/components/schemas/ErrorResponse"
            {
                problems.push(format!("{at}: {code} must use the shared ErrorResponse"));
            }
        }
        for p in op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(resolve)
        {
            if p["name"] == "relationship" {
                let s = resolve(&p["schema"]);
                if s["enum"].as_array().is_none_or(|e| e.is_empty()) {
                    problems.push(format!("{at}: relationship parameter must be an enum"));
                }
            }
            if p["name"] == "limit" {
                let s = resolve(&p["schema"]);
                if s["minimum"] != 1 || s["maximum"].as_u64().is_none() {
                    problems.push(format!("{at}: limit needs bounds"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn objects_with_properties_keep_unknown_fields() {
    fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                let is_body_input = at.contains("/requestBody/content/multipart");
                if m.contains_key("properties")
                    && m.get("additionalProperties") != Some(&serde_json::json!({}))
                    && !is_body_input
                {
                    out.push(at.to_string());
                }
                for (k, x) in m {
                    walk(x, &format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, &format!("{at}/{i}"), out)),
            _ => {}
        }
    }
    let mut out = vec![];
    walk(spec(), "", &mut out);
    assert!(
        out.is_empty(),
        "objects that would drop unknown fields:\n{}",
        out.join("\n")
    );
}

#[test]
fn covers_the_whole_api() {
    let ops = operations();
    assert!(ops.len() >= 240, "only {} operations", ops.len());
    let have: BTreeSet<String> = ops
        .iter()
        .map(|(p, m, _)| format!("{} {p}", m.to_uppercase()))
        .collect();
    // Every endpoint the original coverage report named (with its typos fixed).
    let required = [
        "POST /files",
        "GET /files/upload_url",
        "GET /files/{id}",
        "POST /files/{id}/analyse",
        "GET /files/{id}/comments",
        "POST /files/{id}/comments",
        "GET /files/{id}/votes",
        "POST /files/{id}/votes",
        "GET /files/{id}/{relationship}",
        "GET /files/{id}/relationships/{relationship}",
        "GET /files/{id}/download_url",
        "GET /files/{id}/download",
        "GET /files/{id}/behaviour_summary",
        "GET /files/{id}/behaviour_mitre_trees",
        "GET /files/{id}/behaviours",
        "GET /file_behaviours/{sandbox_id}",
        "GET /file_behaviours/{sandbox_id}/pcap",
        "GET /file_behaviours/{sandbox_id}/html",
        "POST /urls",
        "GET /urls/{id}",
        "POST /urls/{id}/analyse",
        "GET /urls/{id}/comments",
        "POST /urls/{id}/comments",
        "GET /urls/{id}/votes",
        "POST /urls/{id}/votes",
        "GET /urls/{id}/network_location",
        "GET /urls/{id}/{relationship}",
        "GET /domains/{domain}",
        "GET /domains/{domain}/comments",
        "POST /domains/{domain}/comments",
        "GET /domains/{domain}/votes",
        "POST /domains/{domain}/votes",
        "GET /domains/{domain}/{relationship}",
        "GET /resolutions/{id}",
        "GET /ip_addresses/{ip}",
        "GET /ip_addresses/{ip}/comments",
        "POST /ip_addresses/{ip}/comments",
        "GET /ip_addresses/{ip}/votes",
        "POST /ip_addresses/{ip}/votes",
        "GET /ip_addresses/{ip}/{relationship}",
        "GET /comments",
        "GET /comments/{id}",
        "DELETE /comments/{id}",
        "POST /comments/{id}/vote",
        "GET /analyses/{id}",
        "GET /submissions/{id}",
        "GET /operations/{id}",
        "GET /search",
        "GET /intelligence/search",
        "GET /metadata",
        "GET /popular_threat_categories",
        "GET /intelligence/hunting_rulesets",
        "POST /intelligence/hunting_rulesets",
        "GET /intelligence/hunting_rulesets/{id}",
        "PATCH /intelligence/hunting_rulesets/{id}",
        "DELETE /intelligence/hunting_rulesets/{id}",
        "GET /intelligence/hunting_notifications",
        "GET /intelligence/hunting_notification_files",
        "GET /intelligence/retrohunt_jobs",
        "POST /intelligence/retrohunt_jobs",
        "GET /intelligence/retrohunt_jobs/{id}",
        "POST /intelligence/retrohunt_jobs/{id}/abort",
        "GET /intelligence/retrohunt_jobs/{id}/matching_files",
        "GET /collections",
        "POST /collections",
        "GET /collections/{id}",
        "PATCH /collections/{id}",
        "DELETE /collections/{id}",
        "GET /graphs",
        "POST /graphs",
        "GET /graphs/{id}",
        "PATCH /graphs/{id}",
        "DELETE /graphs/{id}",
        "GET /feeds/files/{time}",
        "GET /feeds/urls/{time}",
        "POST /intelligence/zip_files",
        "GET /intelligence/zip_files/{id}",
        "GET /intelligence/zip_files/{id}/download_url",
        "GET /intelligence/zip_files/{id}/download",
        "GET /users/{id}",
        "GET /users/{id}/{relationship}",
        "GET /groups/{id}",
        "GET /groups/{id}/{relationship}",
        "GET /threat_actors",
        "GET /threat_actors/{id}",
        "GET /attack_tactics/{id}",
        "GET /attack_techniques/{id}",
        "POST /private/files",
        "GET /private/analyses/{id}",
        "GET /monitor/items",
        "POST /monitor/items",
        "GET /monitor_partner/hashes",
        "GET /threat_profiles",
    ];
    let missing: Vec<_> = required.iter().filter(|r| !have.contains(**r)).collect();
    assert!(missing.is_empty(), "missing endpoints: {missing:?}");
    for (path, _, op) in &ops {
        if path.starts_with("/threat_actors") || path.starts_with("/references") {
            assert_eq!(op["deprecated"], true, "{path} must be marked deprecated");
        }
    }
}

#[test]
fn generated_table_matches_the_spec() {
    let ops = crate::support::operations();
    assert_eq!(vtmcp::ops::OPERATIONS.len(), ops.len());
    let mut per_tag: BTreeMap<&str, usize> = BTreeMap::new();
    // In spec order, field by field: a stale build script (README, "What progenitor needs from
    // the spec") or a table that drifted from the model shows up here.
    for (meta, op) in vtmcp::ops::OPERATIONS.iter().zip(ops) {
        let id = meta.id;
        assert_eq!(meta.id, op.id);
        assert_eq!(meta.path, op.path, "{id}");
        assert_eq!(meta.method, op.method, "{id}");
        assert_eq!(meta.toolset, op.tag, "{id}");
        assert_eq!(meta.tier.as_str(), op.tier, "{id}");
        assert_eq!(meta.permission.as_str(), op.permission, "{id}");
        assert_eq!(meta.summary, op.summary, "{id}");
        assert_eq!(meta.description, op.description, "{id}");
        assert_eq!(meta.deprecated, op.deprecated, "{id}");
        assert_eq!(meta.excluded, op.excluded.as_deref(), "{id}");
        assert_eq!(
            Some(format!("{:?}", meta.response).as_str()),
            op.response.kind(),
            "{id}: response {}",
            op.response
        );
        let params: Vec<_> = meta
            .params
            .iter()
            .map(|p| (p.name, p.arg, p.location, p.required))
            .collect();
        let expected: Vec<_> = op
            .params
            .iter()
            .map(|p| {
                let location = match p.location {
                    SpecLocation::Path => Location::Path,
                    SpecLocation::Query => Location::Query,
                    SpecLocation::Header => Location::Header,
                };
                (p.name.as_str(), p.arg.as_str(), location, p.required)
            })
            .collect();
        assert_eq!(params, expected, "{id}: parameters");
        let body = match (&op.body, meta.body) {
            (None, BodyShape::None) | (Some(_), BodyShape::Data) => true,
            (
                Some(b),
                BodyShape::Attributes {
                    vt_type,
                    fields,
                    extras,
                },
            ) => {
                b.shape
                    == Shape::Attributes {
                        vt_type: vt_type.into(),
                        fields: fields.iter().map(|f| f.to_string()).collect(),
                        extras: extras.iter().map(|f| f.to_string()).collect(),
                    }
            }
            (Some(b), BodyShape::DataFields { fields }) => {
                b.shape
                    == Shape::DataFields {
                        fields: fields.iter().map(|f| f.to_string()).collect(),
                    }
            }
            (Some(b), BodyShape::Form { fields } | BodyShape::Multipart { fields }) => {
                b.multipart() == matches!(meta.body, BodyShape::Multipart { .. })
                    && b.shape
                        == Shape::Fields {
                            fields: fields.iter().map(|f| f.to_string()).collect(),
                        }
            }
            _ => false,
        };
        assert!(
            body,
            "{id}: body {:?} in the table, {:?} in the spec",
            meta.body, op.body
        );
        *per_tag.entry(meta.toolset).or_default() += 1;
        let schema: Value = serde_json::from_str(meta.input_schema).unwrap();
        assert_eq!(schema["type"], "object", "{id}");
        for k in ["oneOf", "anyOf", "allOf"] {
            assert!(schema.get(k).is_none(), "{id}: top-level {k}");
        }
    }
    // Only the three multipart uploads are hand-written.
    let hand: Vec<_> = vtmcp::ops::OPERATIONS
        .iter()
        .filter(|o| o.hand_written())
        .map(|o| o.id)
        .collect();
    assert_eq!(
        hand,
        ["upload_file", "upload_private_file", "upload_monitor_item"]
    );
    println!("operations per tag: {per_tag:?}");
}
