//! The parsed spec and sample values derived from its schemas: instances that fill every typed
//! field, tool arguments, and the request a sample call must produce.

use serde_json::{Map, Value, json};
use std::sync::OnceLock;

pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/spec/virustotal-v3.yaml"
        ))
        .unwrap();
        yaml_serde::from_str(&text).unwrap()
    })
}

/// The operation model build.rs generates the operation table from (`build/model.rs`, shared
/// with the xtask), so that the tests read the spec exactly as the build does.
#[allow(dead_code)]
#[path = "../../../build/model.rs"]
pub mod model;

/// Every operation of the spec, in spec order, as build.rs reads them.
pub fn operations() -> &'static [model::Operation<'static>] {
    static OPERATIONS: OnceLock<Vec<model::Operation<'static>>> = OnceLock::new();
    OPERATIONS.get_or_init(|| model::checked_operations(spec()).unwrap_or_else(|e| panic!("{e}")))
}

/// Follows `$ref`s within the spec.
pub fn resolve(v: &Value) -> &Value {
    model::deref(spec(), v).unwrap_or_else(|e| panic!("{e}"))
}

/// The spec's operation with this operationId.
pub fn spec_op(id: &str) -> &'static model::Operation<'static> {
    operations()
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

/// The schema of an operation's JSON `200` answer (of the media type progenitor decodes).
pub fn json_response_schema(id: &str) -> &'static Value {
    let ok = resolve(&spec_op(id).value["responses"]["200"]);
    ok.get("content")
        .and_then(Value::as_object)
        .and_then(model::json_media)
        .map(|(_, media)| &media["schema"])
        .unwrap_or_else(|| panic!("{id}: the 200 response is not JSON"))
}

/// An instance of `schema` with every typed property filled and one unknown field added wherever
/// the schema keeps unknown fields: decoding it and encoding it again must give it back.
pub fn sample_instance(schema: &Value, depth: usize) -> Value {
    let s = resolve(schema);
    if depth > 8 {
        return json!({});
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return e[0].clone();
    }
    if let Some(first) = s.get("oneOf").and_then(|o| o.get(0)) {
        return sample_instance(first, depth + 1);
    }
    match s.get("type").and_then(Value::as_str) {
        Some("string") => Value::String(
            s.get("example")
                .and_then(Value::as_str)
                .unwrap_or("sample text")
                .to_string(),
        ),
        Some("integer") => json!(7),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("array") => json!([sample_instance(&s["items"], depth + 1)]),
        Some("object") | None if s.get("properties").is_some() => {
            let mut m = Map::new();
            for (k, v) in s["properties"].as_object().unwrap() {
                m.insert(k.clone(), sample_instance(v, depth + 1));
            }
            if s.get("additionalProperties") == Some(&json!({})) {
                m.insert(
                    "x_field_vt_added_later".into(),
                    json!({"nested": [1, "two"]}),
                );
            }
            Value::Object(m)
        }
        Some("object") => match s.get("additionalProperties") {
            Some(ap) if ap != &json!({}) && ap.is_object() => {
                json!({"key": sample_instance(ap, depth + 1)})
            }
            _ => json!({"free": ["form", 1]}),
        },
        _ => json!({"anything": [1, 2, 3]}),
    }
}

/// A value for one argument of a tool input schema.
pub fn sample_arg(schema: &Value) -> Value {
    if let Some(e) = schema.get("example") {
        return e.clone();
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return e[0].clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => schema.get("minimum").cloned().unwrap_or(json!(5)),
        Some("boolean") => json!(true),
        Some("number") => json!(2.5),
        Some("array") => json!([sample_arg(&schema["items"])]),
        Some("object") => {
            let mut m = Map::new();
            for (k, v) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                m.insert(k.clone(), sample_arg(v));
            }
            Value::Object(m)
        }
        _ => json!("sample"),
    }
}

/// Removes members that carry no information: `null`, `[]` and `{}`. VirusTotal omits such
/// members as often as it sends them, and the generated types do not write an absent optional
/// (`None`, an empty list or map) back out. Everything else must survive exactly.
pub fn strip_nulls(v: &Value) -> Value {
    let empty = |x: &Value| {
        x.is_null()
            || x.as_array().is_some_and(|a| a.is_empty())
            || x.as_object().is_some_and(|o| o.is_empty())
    };
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), strip_nulls(x)))
                .filter(|(_, x)| !empty(x))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

pub fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn as_query_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sample arguments for every input of `op`, the path they must produce and the query pairs.
pub fn sample_call(
    op: &vtmcp::ops::OperationMeta,
    upload: &std::path::Path,
) -> (Map<String, Value>, String, Vec<(String, String)>) {
    use vtmcp::ops::Location;
    let schema: Value = serde_json::from_str(op.input_schema).unwrap();
    let mut args = Map::new();
    for (name, prop) in schema["properties"].as_object().unwrap() {
        let v = if name == "file" {
            json!(upload.to_str().unwrap())
        } else {
            sample_arg(prop)
        };
        args.insert(name.clone(), v);
    }
    let mut path = op.path.to_string();
    let mut query = vec![];
    for p in op.params {
        let v = &args[p.arg];
        match p.location {
            Location::Path => {
                path = path.replace(
                    &format!("{{{}}}", p.name),
                    &encode_segment(&as_query_value(v)),
                )
            }
            Location::Query => query.push((p.name.to_string(), as_query_value(v))),
            Location::Header => {}
        }
    }
    (args, path, query)
}
