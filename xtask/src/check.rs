//! `cargo xtask spec check`: the rules the spec must follow for build.rs, progenitor and the MCP
//! server, checked all at once so that one run lists every problem.
//!
//! Each problem carries the JSON pointer of the offending value and, where there is one, the
//! operation it belongs to (`id (METHOD path)`).

use crate::composite::composite_tools;
use crate::model::{Location, ProblemKind};
use crate::spec::{
    EVIDENCE_STATUSES, METHODS, Operation, PERMISSIONS, Spec, TIERS, escape_pointer, path_params,
};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

/// The longest operationId allowed (it is also an MCP tool name and a Rust method name).
pub const MAX_ID_LEN: usize = 48;

/// Values of `x-vt-cache`: `never`, then the TTL classes (`vtmcp::cache::TtlClass`; an unknown
/// class would also fail to compile in the generated table).
const CACHE_CLASSES: &[&str] = &[
    "never",
    "file",
    "url",
    "domain",
    "ip",
    "analysis",
    "community",
    "collection",
    "search",
    "static",
    "not_found",
    "default",
];

/// Path parameters whose schema must be an enum of names.
const ENUM_PARAMS: &[&str] = &["relationship", "access"];

/// Component sections whose entries must be used from `paths` (security schemes are used by
/// `security`, not by `$ref`, and are left out).
const COMPONENT_KINDS: &[&str] = &[
    "schemas",
    "parameters",
    "responses",
    "requestBodies",
    "headers",
    "examples",
    "links",
    "callbacks",
];

/// Keys a path item may hold besides HTTP methods.
const PATH_ITEM_KEYS: &[&str] = &["parameters", "summary", "description", "servers"];

/// One thing wrong with the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer of the value at fault.
    pub pointer: String,
    /// `id (METHOD path)` of the operation, when the problem is inside one.
    pub operation: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.operation {
            Some(op) => write!(f, "error: {op}: {}", self.message)?,
            None => write!(f, "error: {}", self.message)?,
        }
        write!(f, "\n    at {}", self.pointer)
    }
}

/// Checks the whole document; an empty list means it passes.
pub fn check(spec: &Spec) -> Vec<Problem> {
    let mut c = Checker {
        spec,
        problems: vec![],
    };
    c.version();
    c.omitted();
    c.tags_and_operations();
    c.schemas();
    c.refs();
    c.unused_components();
    c.problems
}

struct Checker<'a> {
    spec: &'a Spec,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn doc_error(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            pointer: pointer.into(),
            operation: None,
            message: message.into(),
        });
    }

    fn op_error(&mut self, op: &Operation, suffix: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            pointer: format!("{}{suffix}", op.pointer),
            operation: Some(op.label()),
            message: message.into(),
        });
    }

    fn omitted(&mut self) {
        let Some(v) = self.spec.doc.get("x-vt-omitted") else {
            return;
        };
        let Some(list) = v.as_array() else {
            return self.doc_error("/x-vt-omitted", "`x-vt-omitted` must be a list");
        };
        for (i, e) in list.iter().enumerate() {
            for key in ["method", "path", "why"] {
                if e.get(key)
                    .and_then(Value::as_str)
                    .is_none_or(|s| s.trim().is_empty())
                {
                    self.doc_error(
                        format!("/x-vt-omitted/{i}/{key}"),
                        format!("each `x-vt-omitted` entry needs a non-empty `{key}`"),
                    );
                }
            }
        }
    }

    fn version(&mut self) {
        match self.spec.doc.get("openapi") {
            Some(Value::String(v)) if v.starts_with("3.0.") => {}
            Some(v) => self.doc_error(
                "/openapi",
                format!("`openapi` is {v}; this project's tooling reads OpenAPI 3.0.x only"),
            ),
            None => self.doc_error(
                "/openapi",
                "`openapi` (the OpenAPI version, 3.0.x) is missing",
            ),
        }
    }

    fn tags_and_operations(&mut self) {
        let declared = self.spec.tags();
        let mut seen = HashSet::new();
        for (i, (name, _)) in declared.iter().enumerate() {
            if !seen.insert(name.clone()) {
                self.doc_error(
                    format!("/tags/{i}"),
                    format!("tag `{name}` is declared twice"),
                );
            }
        }
        if self
            .spec
            .doc
            .get("tags")
            .and_then(Value::as_array)
            .is_none()
        {
            self.doc_error(
                "/tags",
                "the top-level `tags` list (the toolsets) is missing",
            );
        }

        let Some(paths) = self.spec.doc.get("paths").and_then(Value::as_object) else {
            self.doc_error("/paths", "`paths` is missing or not a mapping");
            return;
        };
        for (path, item) in paths {
            let ptr = format!("/paths/{}", escape_pointer(path));
            if !path.starts_with('/') {
                self.doc_error(&ptr, format!("path `{path}` does not start with `/`"));
            }
            let Some(item) = item.as_object() else {
                self.doc_error(&ptr, format!("path item `{path}` is not a mapping"));
                continue;
            };
            for key in item.keys() {
                if key == "$ref" {
                    self.doc_error(
                        format!("{ptr}/$ref"),
                        format!("path item `{path}` is a `$ref`; write its operations inline"),
                    );
                } else if !METHODS.contains(&key.as_str())
                    && !PATH_ITEM_KEYS.contains(&key.as_str())
                    && !key.starts_with("x-")
                {
                    self.doc_error(
                        format!("{ptr}/{}", escape_pointer(key)),
                        format!(
                            "`{key}` under `{path}` is neither an HTTP method nor a path item field"
                        ),
                    );
                }
            }
        }

        let mut ids: HashMap<String, String> = HashMap::new();
        let mut used_tags = HashSet::new();
        let declared_names: HashSet<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
        for op in self.spec.operations() {
            self.operation(&op, &declared_names, &mut ids);
            if let Some(tags) = op.value.get("tags").and_then(Value::as_array) {
                used_tags.extend(tags.iter().filter_map(Value::as_str).map(str::to_string));
            }
        }
        for (i, (name, _)) in declared.iter().enumerate() {
            if !used_tags.contains(name) {
                self.doc_error(
                    format!("/tags/{i}"),
                    format!("tag `{name}` is declared but no operation has it (an empty toolset)"),
                );
            }
        }
    }

    fn operation(
        &mut self,
        op: &Operation,
        declared_tags: &HashSet<&str>,
        ids: &mut HashMap<String, String>,
    ) {
        let v = op.value;

        // operationId
        match v.get("operationId") {
            None => self.op_error(op, "/operationId", "`operationId` is missing"),
            Some(Value::String(id)) => {
                if !is_snake_case(id) {
                    self.op_error(
                        op,
                        "/operationId",
                        format!("operationId `{id}` is not snake_case (a-z, 0-9, single `_`)"),
                    );
                }
                if id.len() > MAX_ID_LEN {
                    self.op_error(
                        op,
                        "/operationId",
                        format!(
                            "operationId `{id}` is {} characters long; at most {MAX_ID_LEN} are allowed",
                            id.len()
                        ),
                    );
                }
                let here = format!("{} {}", op.method, op.path);
                if let Some(first) = ids.get(id) {
                    let msg = format!("operationId `{id}` is already used by {first}");
                    self.op_error(op, "/operationId", msg);
                } else {
                    ids.insert(id.clone(), here);
                }
            }
            Some(other) => self.op_error(
                op,
                "/operationId",
                format!("`operationId` must be a string, not {other}"),
            ),
        }

        // tags
        match v.get("tags").and_then(Value::as_array) {
            None => self.op_error(
                op,
                "/tags",
                "`tags` is missing (exactly one tag, the toolset)",
            ),
            Some(tags) if tags.len() != 1 => self.op_error(
                op,
                "/tags",
                format!(
                    "has {} tags; exactly one (the toolset) is required",
                    tags.len()
                ),
            ),
            Some(tags) => match tags[0].as_str() {
                Some(t) if declared_tags.contains(t) => {}
                Some(t) => self.op_error(
                    op,
                    "/tags/0",
                    format!("tag `{t}` is not declared in the top-level `tags`"),
                ),
                None => self.op_error(op, "/tags/0", "the tag must be a string"),
            },
        }

        // x-vt-tier
        match v.get("x-vt-tier") {
            None => self.op_error(
                op,
                "/x-vt-tier",
                format!("`x-vt-tier` is missing (one of: {})", TIERS.join(", ")),
            ),
            Some(Value::String(t)) if TIERS.contains(&t.as_str()) => {}
            Some(t) => self.op_error(
                op,
                "/x-vt-tier",
                format!("`x-vt-tier` is {t}; expected one of: {}", TIERS.join(", ")),
            ),
        }

        // x-vt-permission
        match v.get("x-vt-permission") {
            None => self.op_error(
                op,
                "/x-vt-permission",
                format!(
                    "`x-vt-permission` is missing (one of: {})",
                    PERMISSIONS.join(", ")
                ),
            ),
            Some(Value::String(p)) if PERMISSIONS.contains(&p.as_str()) => {
                if p == "read" && op.method != "GET" && !op.id.starts_with("check_") {
                    self.op_error(
                        op,
                        "/x-vt-permission",
                        format!(
                            "a {} operation is `read` only if its id starts with `check_`; make it `submit` or `write`",
                            op.method
                        ),
                    );
                }
            }
            Some(p) => self.op_error(
                op,
                "/x-vt-permission",
                format!(
                    "`x-vt-permission` is {p}; expected one of: {}",
                    PERMISSIONS.join(", ")
                ),
            ),
        }

        // x-vt-cache: every GET says whether (and as what) its answers are cached; nothing else
        // has it.
        match (op.method.as_str(), v.get("x-vt-cache")) {
            ("GET", Some(Value::String(c))) if CACHE_CLASSES.contains(&c.as_str()) => {}
            ("GET", Some(c)) => self.op_error(
                op,
                "/x-vt-cache",
                format!(
                    "`x-vt-cache` is {c}; expected `never` or one of: {}",
                    CACHE_CLASSES[1..].join(", ")
                ),
            ),
            ("GET", None) => self.op_error(
                op,
                "/x-vt-cache",
                "`x-vt-cache` is missing: `never`, or the class its answers are cached under \
                 (see the spec's header)"
                    .to_string(),
            ),
            (_, Some(_)) => self.op_error(
                op,
                "/x-vt-cache",
                "`x-vt-cache` is for GETs only: nothing else is cached".to_string(),
            ),
            (_, None) => {}
        }

        // summary
        match v.get("summary") {
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.op_error(op, "/summary", "`summary` is empty")
            }
            Some(Value::String(s)) if s.contains('\n') => {
                self.op_error(op, "/summary", "`summary` must be one line")
            }
            Some(Value::String(_)) => {}
            Some(_) => self.op_error(op, "/summary", "`summary` must be a string"),
            None => self.op_error(op, "/summary", "`summary` is missing"),
        }

        // x-vt-evidence
        match (&op.evidence, v.get("x-vt-evidence")) {
            (_, Some(e)) if !e.is_object() => self.op_error(
                op,
                "/x-vt-evidence",
                "`x-vt-evidence` must be a map with `status` and `sources` (or `why`)",
            ),
            (None, _) => self.op_error(
                op,
                "/x-vt-evidence",
                format!(
                    "`x-vt-evidence` is missing: give `status` ({}) and the `sources` that confirm \
                     the path, parameters and body, or `status: unverified` with `why` (see the \
                     spec's header)",
                    EVIDENCE_STATUSES.join(", ")
                ),
            ),
            (Some(e), _) if !EVIDENCE_STATUSES.contains(&e.status.as_str()) => self.op_error(
                op,
                "/x-vt-evidence/status",
                format!(
                    "`x-vt-evidence.status` is {:?}; expected one of: {}",
                    e.status,
                    EVIDENCE_STATUSES.join(", ")
                ),
            ),
            (Some(e), _) if e.status != "unverified" && e.sources.is_empty() => self.op_error(
                op,
                "/x-vt-evidence/sources",
                format!("`x-vt-evidence` is {} but names no sources", e.status),
            ),
            (Some(e), _)
                if e.status == "unverified"
                    && e.why.as_deref().is_none_or(|w| w.trim().is_empty()) =>
            {
                self.op_error(
                    op,
                    "/x-vt-evidence/why",
                    "an unverified operation must say `why` (what was searched, what is missing)",
                )
            }
            _ => {}
        }

        // x-vt-tool-excluded, deprecated
        match v.get("x-vt-tool-excluded") {
            None => {}
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(_) => self.op_error(
                op,
                "/x-vt-tool-excluded",
                "`x-vt-tool-excluded` must be a non-empty string giving the reason",
            ),
        }
        if op.is_tool()
            && let Some(c) = composite_tools().iter().find(|c| c.name == op.id)
        {
            self.op_error(
                op,
                "/operationId",
                format!(
                    "`{}` is exposed as an MCP tool, but a hand-written composite tool has that name too \
                     (src/reports, `COMPOSITES`); tool names must be unique: exclude the operation with \
                     `x-vt-tool-excluded: <reason>` or rename one of them",
                    c.name
                ),
            );
        }
        if let Some(d) = v.get("deprecated")
            && !d.is_boolean()
        {
            self.op_error(op, "/deprecated", "`deprecated` must be true or false");
        }

        self.responses(op);
        self.parameters(op);

        // What build.rs could not read (two request media types, a cookie parameter, a
        // recursive schema …). `$ref`s that do not resolve are reported where they are written
        // (`refs`), not once per operation that reaches them.
        for p in &op.problems {
            if p.kind == ProblemKind::Unsupported {
                self.problems.push(Problem {
                    pointer: p.pointer.clone(),
                    operation: Some(op.label()),
                    message: format!("{} (build.rs cannot generate it)", p.message),
                });
            }
        }
    }

    fn responses(&mut self, op: &Operation) {
        let Some(responses) = op.value.get("responses").and_then(Value::as_object) else {
            self.op_error(op, "/responses", "`responses` is missing");
            return;
        };
        if !responses.contains_key("200") {
            self.op_error(
                op,
                "/responses",
                "has no `200` response (build.rs classifies operations by it)",
            );
        }
        if responses.contains_key("default") {
            let success: Vec<&str> = responses
                .keys()
                .filter(|k| k.starts_with('2'))
                .map(String::as_str)
                .collect();
            if !success.is_empty() {
                self.op_error(
                    op,
                    "/responses/default",
                    format!(
                        "a `default` response beside {} makes progenitor's error type ambiguous; use `4XX`/`5XX`",
                        success.join(", ")
                    ),
                );
            }
        }
    }

    fn parameters(&mut self, op: &Operation) {
        // The operation's parameters and those of its path item (the model merges them).
        let mut declared_path: Vec<(&str, &str, bool)> = vec![];
        for p in &op.params {
            if p.location == Location::Path {
                declared_path.push((&p.name, &p.pointer, p.required));
            }
            if ENUM_PARAMS.contains(&p.name.as_str()) {
                let is_enum = p
                    .schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty());
                if !is_enum {
                    self.problems.push(Problem {
                        pointer: format!("{}/schema", p.pointer),
                        operation: Some(op.label()),
                        message: format!(
                            "parameter `{}` must resolve to an enum of names (e.g. `$ref: '#/components/schemas/FileRelationship'`)",
                            p.name
                        ),
                    });
                }
            }
        }

        let in_template = path_params(&op.path);
        for name in &in_template {
            match declared_path.iter().find(|(n, ..)| n == name) {
                None => self.op_error(
                    op,
                    "/parameters",
                    format!("path parameter `{{{name}}}` is not declared (`in: path`)"),
                ),
                Some((_, ptr, false)) => self.problems.push(Problem {
                    pointer: ptr.to_string(),
                    operation: Some(op.label()),
                    message: format!("path parameter `{name}` must have `required: true`"),
                }),
                Some(_) => {}
            }
            if name.chars().any(|c| c.is_ascii_digit()) {
                self.op_error(
                    op,
                    "",
                    format!("path parameter `{{{name}}}` has a digit in its name; progenitor's path templates lose it"),
                );
            }
        }
        for (name, ptr, _) in &declared_path {
            if !in_template.iter().any(|t| t == name) {
                self.problems.push(Problem {
                    pointer: ptr.to_string(),
                    operation: Some(op.label()),
                    message: format!("path parameter `{name}` does not appear in the path"),
                });
            }
        }
    }

    /// Object schemas with `properties` keep unknown fields (`additionalProperties: {}`).
    fn schemas(&mut self) {
        let doc = &self.spec.doc;
        let mut roots: Vec<(String, &Value)> = vec![];
        // Component schemas used as a multipart body are exempt like inline multipart bodies.
        let mut multipart_components = HashSet::new();

        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                let item_ptr = format!("/paths/{}", escape_pointer(path));
                let Some(item) = item.as_object() else {
                    continue;
                };
                for (key, op) in item {
                    let op_ptr = format!("{item_ptr}/{}", escape_pointer(key));
                    if key == "parameters" {
                        param_schemas(&op_ptr, op, &mut roots);
                        continue;
                    }
                    if !METHODS.contains(&key.as_str()) {
                        continue;
                    }
                    if let Some(p) = op.get("parameters") {
                        param_schemas(&format!("{op_ptr}/parameters"), p, &mut roots);
                    }
                    if let Some(rb) = op.get("requestBody") {
                        content_schemas(
                            &format!("{op_ptr}/requestBody"),
                            rb,
                            &mut roots,
                            &mut multipart_components,
                        );
                    }
                    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                        for (code, r) in responses {
                            let r_ptr = format!("{op_ptr}/responses/{}", escape_pointer(code));
                            content_schemas(&r_ptr, r, &mut roots, &mut multipart_components);
                            header_schemas(&r_ptr, r, &mut roots);
                        }
                    }
                }
            }
        }
        if let Some(components) = doc.get("components") {
            for (name, p) in entries(components, "parameters") {
                if let Some(s) = p.get("schema") {
                    roots.push((format!("/components/parameters/{name}/schema"), s));
                }
            }
            for (kind, name, v) in entries(components, "responses")
                .map(|(n, v)| ("responses", n, v))
                .chain(entries(components, "requestBodies").map(|(n, v)| ("requestBodies", n, v)))
            {
                let ptr = format!("/components/{kind}/{name}");
                content_schemas(&ptr, v, &mut roots, &mut multipart_components);
                header_schemas(&ptr, v, &mut roots);
            }
            for (name, s) in entries(components, "schemas") {
                if !multipart_components.contains(&name) {
                    roots.push((format!("/components/schemas/{name}"), s));
                }
            }
        }
        for (ptr, schema) in roots {
            self.walk_schema(&ptr, schema);
        }
    }

    fn walk_schema(&mut self, ptr: &str, schema: &Value) {
        let Some(m) = schema.as_object() else {
            return;
        };
        if m.contains_key("$ref") {
            return; // the target is checked where it is defined
        }
        if let Some(props) = m.get("properties").and_then(Value::as_object) {
            match m.get("additionalProperties") {
                Some(Value::Object(ap)) if ap.is_empty() => {}
                None => self.doc_error(
                    ptr,
                    "object schema with `properties` lacks `additionalProperties: {}` (unknown fields would be dropped)",
                ),
                Some(Value::Bool(true)) => self.doc_error(
                    format!("{ptr}/additionalProperties"),
                    "write `additionalProperties: {}` rather than `true` (typify drops unknown fields with `true`)",
                ),
                Some(other) => self.doc_error(
                    format!("{ptr}/additionalProperties"),
                    format!(
                        "`additionalProperties` is {other} beside `properties`; it must be `{{}}` so unknown fields are kept"
                    ),
                ),
            }
            for (name, p) in props {
                self.walk_schema(&format!("{ptr}/properties/{}", escape_pointer(name)), p);
            }
        }
        for key in ["items", "additionalProperties", "not"] {
            if let Some(s) = m.get(key) {
                self.walk_schema(&format!("{ptr}/{key}"), s);
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for (i, s) in m
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.walk_schema(&format!("{ptr}/{key}/{i}"), s);
            }
        }
    }

    fn refs(&mut self) {
        let mut found = vec![];
        collect_refs(&self.spec.doc, "", &mut found);
        for (ptr, r) in found {
            match r {
                Value::String(s) if !s.starts_with("#/") => self.doc_error(
                    ptr,
                    format!("`$ref: {s}` is not a local reference (`#/…`); only local ones are supported"),
                ),
                Value::String(s) if self.spec.resolve_ref(s).is_none() => {
                    self.doc_error(ptr, format!("`$ref: {s}` does not resolve"))
                }
                Value::String(_) => {}
                other => self.doc_error(ptr, format!("`$ref` must be a string, not {other}")),
            }
        }
    }

    fn unused_components(&mut self) {
        let doc = &self.spec.doc;
        let Some(components) = doc.get("components") else {
            return;
        };
        let mut pending = vec![];
        if let Some(paths) = doc.get("paths") {
            collect_refs(paths, "/paths", &mut pending);
        }
        let mut used: BTreeSet<(String, String)> = BTreeSet::new();
        while let Some((_, r)) = pending.pop() {
            let Some(rest) = r.as_str().and_then(|s| s.strip_prefix("#/components/")) else {
                continue;
            };
            let mut parts = rest.splitn(3, '/');
            let (Some(kind), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            let name = unescape_pointer(name);
            if used.insert((kind.to_string(), name.clone()))
                && let Some(target) = components.get(kind).and_then(|k| k.get(&name))
            {
                collect_refs(target, "", &mut pending);
            }
        }
        for kind in COMPONENT_KINDS {
            for (name, _) in entries(components, kind) {
                if !used.contains(&(kind.to_string(), name.clone())) {
                    self.doc_error(
                        format!("/components/{kind}/{}", escape_pointer(&name)),
                        format!(
                            "component `{kind}/{name}` is not used by any operation; remove it"
                        ),
                    );
                }
            }
        }
    }
}

fn is_snake_case(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some('a'..='z'))
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !id.contains("__")
        && !id.ends_with('_')
}

fn entries<'a>(components: &'a Value, kind: &str) -> impl Iterator<Item = (String, &'a Value)> {
    components
        .get(kind)
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::iter)
        .map(|(k, v)| (k.clone(), v))
}

fn unescape_pointer(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn param_schemas<'a>(ptr: &str, params: &'a Value, roots: &mut Vec<(String, &'a Value)>) {
    for (i, p) in params.as_array().into_iter().flatten().enumerate() {
        if let Some(s) = p.get("schema") {
            roots.push((format!("{ptr}/{i}/schema"), s));
        }
    }
}

fn content_schemas<'a>(
    ptr: &str,
    holder: &'a Value,
    roots: &mut Vec<(String, &'a Value)>,
    multipart_components: &mut HashSet<String>,
) {
    let Some(content) = holder.get("content").and_then(Value::as_object) else {
        return;
    };
    for (media, m) in content {
        let Some(s) = m.get("schema") else { continue };
        if media == "multipart/form-data" {
            if let Some(name) = s
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                multipart_components.insert(unescape_pointer(name));
            }
            continue;
        }
        roots.push((format!("{ptr}/content/{}/schema", escape_pointer(media)), s));
    }
}

fn header_schemas<'a>(ptr: &str, holder: &'a Value, roots: &mut Vec<(String, &'a Value)>) {
    if let Some(headers) = holder.get("headers").and_then(Value::as_object) {
        for (name, h) in headers {
            if let Some(s) = h.get("schema") {
                roots.push((format!("{ptr}/headers/{}/schema", escape_pointer(name)), s));
            }
        }
    }
}

/// Every `$ref` under `v`, with the pointer of the `$ref` key.
fn collect_refs<'a>(v: &'a Value, ptr: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{ptr}/{}", escape_pointer(k));
                if k == "$ref" {
                    out.push((p, x));
                } else {
                    collect_refs(x, &p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_refs(x, &format!("{ptr}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_ids() {
        assert!(is_snake_case("get_file"));
        assert!(is_snake_case("list_x509_certs"));
        assert!(!is_snake_case("getFile"));
        assert!(!is_snake_case("get__file"));
        assert!(!is_snake_case("_get"));
        assert!(!is_snake_case("get_"));
        assert!(!is_snake_case("9get"));
    }

    #[test]
    fn small_spec_problems_are_found() {
        let spec = Spec::parse(
            r##"
openapi: 3.1.0
tags:
- name: things
- name: unused
paths:
  /things/{thing_id}:
    post:
      operationId: getThing
      tags: [things, other]
      summary: "two\nlines"
      x-vt-tier: platinum
      x-vt-permission: read
      x-vt-tool-excluded: ''
      x-vt-evidence: {status: maybe}
      parameters:
      - name: relationship
        in: query
        schema: {type: string}
      responses:
        '200':
          description: OK
          content:
            application/json:
              schema:
                type: object
                properties:
                  a: {$ref: '#/components/schemas/Nope'}
        default:
          description: error
components:
  schemas:
    Orphan:
      type: string
"##,
            "test",
        )
        .unwrap();
        let problems = check(&spec);
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        for needle in [
            "`openapi` is \"3.1.0\"",
            "operationId `getThing` is not snake_case",
            "has 2 tags",
            "`x-vt-tier` is \"platinum\"",
            "is `read` only if its id starts with `check_`",
            "`summary` must be one line",
            "`x-vt-tool-excluded` must be a non-empty string",
            "`x-vt-evidence.status` is \"maybe\"",
            "a `default` response beside 200",
            "parameter `relationship` must resolve to an enum",
            "path parameter `{thing_id}` is not declared",
            "lacks `additionalProperties: {}`",
            "`$ref: #/components/schemas/Nope` does not resolve",
            "component `schemas/Orphan` is not used",
            "tag `unused` is declared but no operation has it",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert!(all.contains("getThing (POST /things/{thing_id})"));
        assert!(all.contains("at /paths/~1things~1{thing_id}/post/x-vt-tier"));
    }

    #[test]
    fn evidence_is_required_and_checked() {
        let spec = |evidence: &str| {
            Spec::parse(
                &format!(
                    r##"
openapi: 3.0.3
tags:
- name: things
paths:
  /things/{{id}}:
    get:
      operationId: get_thing
      tags: [things]
      summary: A thing
      description: A thing.
      x-vt-tier: public
      x-vt-permission: read
{evidence}
      parameters:
      - {{name: id, in: path, required: true, schema: {{type: string}}}}
      responses:
        '200': {{description: OK}}
"##
                ),
                "test",
            )
            .unwrap()
        };
        let problems = |e: &str| {
            check(&spec(e))
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(problems("").contains("`x-vt-evidence` is missing"));
        assert!(problems("      x-vt-evidence: {status: confirmed}").contains("names no sources"));
        assert!(problems("      x-vt-evidence: {status: unverified}").contains("must say `why`"));
        let ok = problems("      x-vt-evidence: {status: confirmed, sources: ['docs: x']}");
        assert!(!ok.contains("x-vt-evidence"), "{ok}");
    }
}
