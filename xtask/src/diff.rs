//! `cargo xtask spec diff OLD NEW`: what changed between two versions of the spec, as a
//! markdown summary a reviewer can paste into a pull request.
//!
//! Operations are matched by method and path first (a different operationId there is a rename),
//! then by operationId (a different method or path is a move). Component schema changes are
//! listed once, and operations whose request or response schemas reach a changed schema say so.

use crate::spec::{Operation, Response, Spec};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

/// The markdown report of the differences from `old` to `new`.
pub fn diff(old: &Spec, new: &Spec) -> String {
    let old_ops = old.operations();
    let new_ops = new.operations();
    let schemas = SchemaChanges::between(old, new);

    // Pair operations: same method and path, then same id.
    let mut pairs: Vec<(&Operation, &Operation)> = vec![];
    let mut old_left: Vec<&Operation> = old_ops.iter().collect();
    let mut new_left: Vec<&Operation> = vec![];
    for n in &new_ops {
        match old_left
            .iter()
            .position(|o| o.method == n.method && o.path == n.path)
        {
            Some(i) => pairs.push((old_left.remove(i), n)),
            None => new_left.push(n),
        }
    }
    let mut moved = vec![];
    new_left.retain(|n| {
        match old_left
            .iter()
            .position(|o| !o.id.is_empty() && o.id == n.id)
        {
            Some(i) => {
                let o = old_left.remove(i);
                moved.push((o, *n));
                pairs.push((o, *n));
                false
            }
            None => true,
        }
    });

    let mut out = String::from("# Spec diff\n\n");
    let _ = writeln!(
        out,
        "- old: `{}` ({} operations, {} component schemas)",
        old.source,
        old_ops.len(),
        schemas.old_count
    );
    let _ = writeln!(
        out,
        "- new: `{}` ({} operations, {} component schemas)",
        new.source,
        new_ops.len(),
        schemas.new_count
    );
    let mut any = false;

    if !new_left.is_empty() {
        any = true;
        let _ = writeln!(out, "\n## Operations added ({})\n", new_left.len());
        for n in &new_left {
            let _ = writeln!(
                out,
                "- `{}`: `{} {}` (toolset `{}`, tier `{}`, `{}`{})",
                n.id,
                n.method,
                n.path,
                n.tag,
                n.tier,
                n.permission,
                if n.is_tool() { "" } else { ", not a tool" }
            );
        }
    }
    if !old_left.is_empty() {
        any = true;
        let _ = writeln!(out, "\n## Operations removed ({})\n", old_left.len());
        for o in &old_left {
            let _ = writeln!(
                out,
                "- `{}`: `{} {}` (toolset `{}`)",
                o.id, o.method, o.path, o.tag
            );
        }
    }
    let renamed: Vec<_> = pairs.iter().filter(|(o, n)| o.id != n.id).collect();
    if !renamed.is_empty() {
        any = true;
        let _ = writeln!(out, "\n## Operations renamed ({})\n", renamed.len());
        for (o, n) in renamed {
            let _ = writeln!(out, "- `{}` → `{}`: `{} {}`", o.id, n.id, n.method, n.path);
        }
    }
    if !moved.is_empty() {
        any = true;
        let _ = writeln!(out, "\n## Operations moved ({})\n", moved.len());
        for (o, n) in &moved {
            let _ = writeln!(
                out,
                "- `{}`: `{} {}` → `{} {}`",
                n.id, o.method, o.path, n.method, n.path
            );
        }
    }

    let changed: Vec<(String, Vec<String>)> = pairs
        .iter()
        .filter_map(|(o, n)| {
            let c = operation_changes(old, new, o, n, &schemas.changed);
            (!c.is_empty()).then(|| (format!("`{}`: `{} {}`", n.id, n.method, n.path), c))
        })
        .collect();
    if !changed.is_empty() {
        any = true;
        let _ = writeln!(out, "\n## Operations changed ({})", changed.len());
        for (title, changes) in changed {
            let _ = writeln!(out, "\n### {title}\n");
            for c in changes {
                let _ = writeln!(out, "- {c}");
            }
        }
    }

    if !schemas.is_empty() {
        any = true;
        out.push_str("\n## Component schemas\n");
        let list = |out: &mut String, title: &str, names: &[String]| {
            if !names.is_empty() {
                let _ = writeln!(out, "\n### {title} ({})\n", names.len());
                for n in names {
                    let _ = writeln!(out, "- `{n}`");
                }
            }
        };
        list(&mut out, "Added", &schemas.added);
        list(&mut out, "Removed", &schemas.removed);
        if !schemas.details.is_empty() {
            let _ = writeln!(out, "\n### Changed ({})\n", schemas.details.len());
            for (name, what) in &schemas.details {
                let _ = writeln!(out, "- `{name}`: {what}");
            }
        }
    }

    if !any {
        out.push_str("\nNo differences in operations or component schemas.\n");
    }
    out
}

/// What changed in the component schemas.
struct SchemaChanges {
    old_count: usize,
    new_count: usize,
    added: Vec<String>,
    removed: Vec<String>,
    /// Changed schemas, with a description of the change.
    details: Vec<(String, String)>,
    /// Names of the changed schemas.
    changed: HashSet<String>,
}

impl SchemaChanges {
    fn between(old: &Spec, new: &Spec) -> SchemaChanges {
        let empty = serde_json::Map::new();
        let schemas = |s: &Spec| {
            s.doc
                .pointer("/components/schemas")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_else(|| empty.clone())
        };
        let (o, n) = (schemas(old), schemas(new));
        let added = n.keys().filter(|k| !o.contains_key(*k)).cloned().collect();
        let removed = o.keys().filter(|k| !n.contains_key(*k)).cloned().collect();
        let mut details = vec![];
        let mut changed = HashSet::new();
        for (name, nv) in &n {
            if let Some(ov) = o.get(name)
                && ov != nv
            {
                details.push((name.clone(), describe_schema_change(ov, nv)));
                changed.insert(name.clone());
            }
        }
        SchemaChanges {
            old_count: o.len(),
            new_count: n.len(),
            added,
            removed,
            details,
            changed,
        }
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.details.is_empty()
    }
}

fn names_of(v: Option<&Value>) -> BTreeSet<String> {
    match v {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn join(set: impl IntoIterator<Item = String>) -> String {
    set.into_iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A short account of how a schema changed: properties, required fields, enum values, type.
fn describe_schema_change(old: &Value, new: &Value) -> String {
    let mut parts = vec![];
    let mut explained: BTreeSet<&str> = BTreeSet::new();
    for (key, label) in [
        ("properties", "properties"),
        ("enum", "enum values"),
        ("required", "required"),
    ] {
        let (o, n) = (old.get(key), new.get(key));
        if o == n {
            continue;
        }
        explained.insert(key);
        let before = parts.len();
        let (os, ns) = (names_of(o), names_of(n));
        let added: Vec<String> = ns.difference(&os).cloned().collect();
        let removed: Vec<String> = os.difference(&ns).cloned().collect();
        if !added.is_empty() {
            parts.push(format!("{label} added: {}", join(added)));
        }
        if !removed.is_empty() {
            parts.push(format!("{label} removed: {}", join(removed)));
        }
        if key == "properties" {
            let changed: Vec<String> = os
                .intersection(&ns)
                .filter(|p| o.and_then(|m| m.get(p.as_str())) != n.and_then(|m| m.get(p.as_str())))
                .cloned()
                .collect();
            if !changed.is_empty() {
                parts.push(format!("properties changed: {}", join(changed)));
            }
        } else if parts.len() == before {
            parts.push(format!("{label} reordered"));
        }
    }
    let mut other: Vec<String> = vec![];
    if let (Some(om), Some(nm)) = (old.as_object(), new.as_object()) {
        let all: BTreeSet<&String> = om.keys().chain(nm.keys()).collect();
        for k in all {
            if !explained.contains(k.as_str()) && om.get(k) != nm.get(k) {
                other.push(k.clone());
            }
        }
    }
    if !other.is_empty() {
        parts.push(format!("changed: {}", join(other)));
    }
    if parts.is_empty() {
        "changed".into()
    } else {
        parts.join("; ")
    }
}

/// Component schemas reachable from `v` through `$ref`s (transitively, through parameters and
/// responses too).
fn reachable_schemas(spec: &Spec, v: &Value) -> BTreeSet<String> {
    let mut followed = HashSet::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str)
                    && followed.insert(r.to_string())
                    && let Some(target) = spec.resolve_ref(r)
                {
                    stack.push(target);
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    followed
        .iter()
        .filter_map(|r| r.strip_prefix("#/components/schemas/"))
        .map(str::to_string)
        .collect()
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s
    }
}

fn flag(v: &Value, key: &str) -> String {
    match v.get(key) {
        None => "(none)".into(),
        Some(Value::String(s)) => format!("`{s}`"),
        Some(other) => format!("`{other}`"),
    }
}

/// The differences of one operation present in both specs.
fn operation_changes(
    old: &Spec,
    new: &Spec,
    o: &Operation,
    n: &Operation,
    changed_schemas: &HashSet<String>,
) -> Vec<String> {
    let mut out = vec![];
    for (key, label) in [
        ("tags", "tag"),
        ("x-vt-tier", "tier"),
        ("x-vt-permission", "permission"),
        ("x-vt-tool-excluded", "tool exclusion"),
    ] {
        let (a, b) = (o.value.get(key), n.value.get(key));
        if a != b {
            let show = |v: Option<&Value>| match v {
                None => "(none)".to_string(),
                Some(Value::String(s)) => format!("`{s}`"),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|t| {
                        format!(
                            "`{}`",
                            t.as_str().map_or_else(|| t.to_string(), str::to_string)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(other) => format!("`{}`", compact(other)),
            };
            let (a, b) = (show(a), show(b));
            out.push(format!("{label}: {a} → {b}"));
        }
    }
    if o.deprecated != n.deprecated {
        out.push(if n.deprecated {
            "now deprecated".into()
        } else {
            "no longer deprecated".into()
        });
    }

    // Parameters, keyed by (in, name).
    let (op_params, np_params) = (params(o), params(n));
    for (loc, name, p) in &np_params {
        match op_params.iter().find(|(l, nm, _)| l == loc && nm == name) {
            None => out.push(format!(
                "parameter `{name}` ({loc}) added{}",
                if p.get("required") == Some(&Value::Bool(true)) {
                    ", required"
                } else {
                    ""
                }
            )),
            Some((_, _, q)) => {
                let (qs, ps) = (
                    q.get("schema").map(|s| old.deref(s)),
                    p.get("schema").map(|s| new.deref(s)),
                );
                let schema_ref = |v: &Value| v.get("schema").and_then(|s| s.get("$ref")).cloned();
                if schema_ref(q) != schema_ref(p) || (schema_ref(p).is_none() && qs != ps) {
                    out.push(format!(
                        "parameter `{name}` ({loc}) schema: {} → {}",
                        q.get("schema").map_or("(none)".into(), compact),
                        p.get("schema").map_or("(none)".into(), compact)
                    ));
                } else if qs != ps
                    && let Some(r) = schema_ref(p)
                {
                    out.push(format!(
                        "parameter `{name}` ({loc}) schema `{}` changed (see component schemas)",
                        r.as_str()
                            .unwrap_or_default()
                            .trim_start_matches("#/components/schemas/")
                    ));
                }
                let req = |v: &Value| v.get("required") == Some(&Value::Bool(true));
                if req(q) != req(p) {
                    out.push(format!(
                        "parameter `{name}` ({loc}) {}",
                        if req(p) {
                            "is now required"
                        } else {
                            "is no longer required"
                        }
                    ));
                }
            }
        }
    }
    for (loc, name, _) in &op_params {
        if !np_params.iter().any(|(l, nm, _)| l == loc && nm == name) {
            out.push(format!("parameter `{name}` ({loc}) removed"));
        }
    }

    // Request body.
    let body =
        |spec: &Spec, op: &Operation| op.value.get("requestBody").map(|b| spec.deref(b).clone());
    match (body(old, o), body(new, n)) {
        (None, None) => {}
        (None, Some(_)) => out.push("request body added".into()),
        (Some(_), None) => out.push("request body removed".into()),
        (Some(a), Some(b)) => {
            if a.get("content") != b.get("content") {
                let media = |v: &Value| {
                    names_of(v.get("content"))
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let (ma, mb) = (media(&a), media(&b));
                let schema = |v: &Value| {
                    v.get("content")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                        .map(
                            |(_, m)| match m.pointer("/schema/$ref").and_then(Value::as_str) {
                                Some(r) => {
                                    format!("`{}`", r.trim_start_matches("#/components/schemas/"))
                                }
                                None => "an inline schema".to_string(),
                            },
                        )
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let (sa, sb) = (schema(&a), schema(&b));
                if ma != mb {
                    out.push(format!("request body media type: {ma} → {mb}"));
                } else if sa != sb {
                    out.push(format!("request body schema: {sa} → {sb}"));
                } else {
                    out.push(format!("request body schema changed ({mb}, {sb})"));
                }
            } else {
                let hit = affected(new, &b, changed_schemas);
                if !hit.is_empty() {
                    out.push(format!(
                        "request body reaches changed schemas: {}",
                        join(hit)
                    ));
                }
            }
            if a.get("required") != b.get("required") {
                out.push(format!(
                    "request body required: {} → {}",
                    flag(&a, "required"),
                    flag(&b, "required")
                ));
            }
        }
    }

    // 200 response.
    if o.response != n.response {
        out.push(format!(
            "200 response: {} → {}",
            describe(&o.response),
            describe(&n.response)
        ));
    } else {
        let ok = |spec: &Spec, op: &Operation| {
            op.value
                .get("responses")
                .and_then(|r| r.get("200"))
                .map(|r| spec.deref(r).clone())
        };
        let (a, b) = (ok(old, o), ok(new, n));
        if a.as_ref().and_then(|v| v.get("content")) != b.as_ref().and_then(|v| v.get("content")) {
            out.push("200 response schema changed".into());
        } else if let Some(b) = &b {
            let hit = affected(new, b, changed_schemas);
            if !hit.is_empty() {
                out.push(format!(
                    "200 response reaches changed schemas: {}",
                    join(hit)
                ));
            }
        }
    }
    out
}

/// An operation's parameters as (in, name, the parameter object as written).
fn params<'a>(op: &'a Operation<'a>) -> Vec<(&'static str, &'a str, &'a Value)> {
    op.params
        .iter()
        .map(|p| (p.location.as_str(), p.name.as_str(), p.value))
        .collect()
}

fn describe(r: &Response) -> String {
    r.to_string()
}

fn affected(spec: &Spec, v: &Value, changed: &HashSet<String>) -> Vec<String> {
    reachable_schemas(spec, v)
        .into_iter()
        .filter(|s| changed.contains(s))
        .collect()
}
