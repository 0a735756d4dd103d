//! The operations of the OpenAPI document, read in one place for everything that needs them:
//! build.rs (the operation table, the tool input schemas and the dispatcher's input), the xtask
//! (`spec check`, the generated documents, `spec diff`) and the vtmcp tests.
//!
//! Each user includes this file by path (`#[path = …] mod model;`), so it may use only what
//! build.rs and the xtask both depend on: `serde_json` (with `preserve_order`, so maps keep the
//! document's order).
//!
//! The walk never panics, because `spec check` must report on a broken document: what cannot be
//! read is recorded in [`Operation::problems`] and the rest is read as far as it goes.
//! [`checked_operations`] is the strict form build.rs uses: every operation complete, or an
//! error listing everything that is not.

use serde_json::{Map, Value, json};
use std::fmt;

/// HTTP methods an OpenAPI path item may hold, in the order OpenAPI lists them. Other keys of a
/// path item (`parameters`, `summary`, `x-…`) are not operations.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Component schemas whose `data` is untyped JSON: operations returning them are "free-form".
pub const FREE_FORM_SCHEMAS: &[&str] = &["RawDataResponse"];

/// The pattern of a relationship name (lower-case letters, digits, `_`).
pub const RELATIONSHIP_NAME: &str = "^[a-z][a-z0-9_]{0,63}$";

/// How deep [`inline`] follows nested schemas before it calls the schema recursive.
const MAX_SCHEMA_DEPTH: usize = 16;

/// How many `$ref`s in a row [`deref`] follows before it calls them a loop.
const MAX_REF_HOPS: usize = 32;

/// Whether a component schema is one of the `*Relationship` name enums (open in the client: see
/// build/spec.rs, `open_relationship_enums`).
pub fn is_relationship_enum(name: &str, schema: &Value) -> bool {
    name.ends_with("Relationship") && schema.get("enum").is_some()
}

/// What kind of thing keeps an operation from being read completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A `$ref` that is not local or does not resolve (`spec check` reports every such `$ref`
    /// where it is written, so it does not repeat these).
    Reference,
    /// Something the operation table cannot represent (two request media types, a cookie
    /// parameter, a recursive schema …).
    Unsupported,
}

/// Something in one operation the walk could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer of the part of the operation being read (`…/parameters/0`,
    /// `…/requestBody`, `…/responses/200`).
    pub pointer: String,
    pub message: String,
    pub kind: ProblemKind,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

impl Location {
    fn parse(s: &str) -> Option<Location> {
        match s {
            "path" => Some(Location::Path),
            "query" => Some(Location::Query),
            "header" => Some(Location::Header),
            _ => None,
        }
    }

    /// The OpenAPI name (`in:` value).
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
        }
    }
}

/// One parameter of an operation (its own, or one declared on its path item).
#[derive(Debug, Clone)]
pub struct Param<'a> {
    /// The name in the spec (`x-apikey`, `relationship` …).
    pub name: String,
    /// The tool argument: the name without a leading `x-`, `-` turned into `_`.
    pub arg: String,
    pub location: Location,
    pub required: bool,
    /// The schema, self-contained ([`inline`]), with the parameter's description when the schema
    /// has none.
    pub schema: Value,
    /// JSON pointer of the parameter's entry.
    pub pointer: String,
    /// The parameter object as written, its `$ref` followed.
    pub value: &'a Value,
}

/// How the arguments of a request body are laid out.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `{data:{type:<vt_type>, attributes:{fields…}, extras…}}`
    Attributes {
        vt_type: String,
        fields: Vec<String>,
        extras: Vec<String>,
    },
    /// `{data:{fields…}}`
    DataFields { fields: Vec<String> },
    /// `{data: <arg "data">}`
    Data,
    /// Form or multipart fields at the top level.
    Fields { fields: Vec<String> },
}

/// A request body: its one media type and the arguments it is built from.
#[derive(Debug, Clone)]
pub struct Body {
    pub media: String,
    pub shape: Shape,
    /// Every argument of the body: name, self-contained schema, required.
    pub props: Vec<(String, Value, bool)>,
}

impl Body {
    /// `multipart/form-data`: progenitor cannot generate it (README, "What progenitor needs from
    /// the spec", rule 3); the client method is written by hand.
    pub fn multipart(&self) -> bool {
        self.media == "multipart/form-data"
    }
}

/// What the `200` response of an operation carries: the one definition every user of the spec
/// shares, decided as progenitor decides the type of a generated method's success value.
///
/// progenitor looks at the response's `content` map: a media type that is `application/json`
/// (or `application/json; …`) makes the method return that schema's type; failing that, any
/// other media type makes it return a raw `ByteStream`; an empty map makes it return `()`.
/// OpenAPI's `content` defaults to an empty map, so progenitor sees no difference between a
/// response without `content` and one with `content: {}`: both are [`Response::Empty`]. The
/// dispatcher (`vt_dispatch!`, expanded in src/ops/mod.rs) must agree, since it calls `into_inner()` on the
/// method's answer and wraps it as `Output::Json`, `Output::Bytes` or `Output::Empty`: calling
/// a `content: {}` operation `Bytes` would hand `()` to `Output::Bytes`, which does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// JSON described by a component schema.
    Typed(String),
    /// JSON whose `data` is untyped (a schema in [`FREE_FORM_SCHEMAS`], or an inline schema).
    FreeForm(Option<String>),
    /// Bytes: only non-JSON media types (`application/octet-stream`, `text/html` …); the first
    /// one named.
    Binary(String),
    /// No content (no `content`, or `content: {}`).
    Empty,
    /// No readable `200` response (`spec check` reports it; build.rs cannot generate the
    /// operation).
    Missing,
}

impl Response {
    /// A short class name used in counts: typed, free-form, binary, empty, missing.
    pub fn class(&self) -> &'static str {
        match self {
            Response::Typed(_) => "typed",
            Response::FreeForm(_) => "free-form",
            Response::Binary(_) => "binary",
            Response::Empty => "empty",
            Response::Missing => "missing",
        }
    }

    /// The dispatcher's name for it (`vtmcp::ops::ResponseKind`): `Json`, `Bytes` or `Empty`;
    /// `None` without a `200` response.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Response::Typed(_) | Response::FreeForm(_) => Some("Json"),
            Response::Binary(_) => Some("Bytes"),
            Response::Empty => Some("Empty"),
            Response::Missing => None,
        }
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Typed(name) => write!(f, "typed `{name}`"),
            Response::FreeForm(Some(name)) => write!(f, "free-form (`{name}`)"),
            Response::FreeForm(None) => write!(f, "free-form (inline schema)"),
            Response::Binary(media) => write!(f, "binary (`{media}`)"),
            Response::Empty => write!(f, "empty"),
            Response::Missing => write!(f, "no 200 response"),
        }
    }
}

/// Values of `x-vt-evidence.status`.
pub const EVIDENCE_STATUSES: &[&str] = &["confirmed", "partial", "unverified"];

/// `x-vt-evidence`: where an operation's path, parameters and body were confirmed.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// `confirmed`, `partial` or `unverified` (anything else: `spec check` reports it).
    pub status: String,
    /// Pointers to the sources (`docs: <url> (what)`, `vt-py: <file> (what)` …).
    pub sources: Vec<String>,
    /// Why an operation is unverified, or what a partial one still lacks.
    pub why: Option<String>,
}

impl Evidence {
    fn of(v: &Value) -> Evidence {
        Evidence {
            status: str_of(v, "status").unwrap_or_default().to_string(),
            sources: v
                .get("sources")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            why: str_of(v, "why").map(str::to_string),
        }
    }

    /// Whether one source is VirusTotal's own (its reference pages and their OpenAPI
    /// definition, or an official client) rather than a third party's.
    pub fn is_first_party(source: &str) -> bool {
        let s = source.to_ascii_lowercase();
        !(s.starts_with("ae")
            || s.starts_with("dt")
            || s.contains("third party")
            || s.contains("3rd party"))
    }

    /// Confirmed, with at least one first-party source.
    pub fn confirmed_first_party(&self) -> bool {
        self.status == "confirmed" && self.sources.iter().any(|s| Self::is_first_party(s))
    }
}

/// One operation, read out of the document.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    /// `operationId` (empty if missing, which `spec check` reports).
    pub id: String,
    /// Upper case, e.g. `GET`.
    pub method: String,
    pub path: String,
    /// JSON pointer of the operation object, e.g. `/paths/~1files~1{id}/get`.
    pub pointer: String,
    /// The operation object as written.
    pub value: &'a Value,
    /// The first tag: the toolset (`spec check` insists on exactly one).
    pub tag: String,
    /// `x-vt-tier`.
    pub tier: String,
    /// `x-vt-permission`.
    pub permission: String,
    pub summary: String,
    pub description: String,
    pub deprecated: bool,
    /// The reason given in `x-vt-tool-excluded`, if the operation is not an MCP tool.
    pub excluded: Option<String>,
    /// `x-vt-cache`: the TTL class its answers are cached under (`None`: absent or `never`).
    pub cache: Option<String>,
    /// The operation's parameters, then those of its path item that it does not override.
    pub params: Vec<Param<'a>>,
    pub body: Option<Body>,
    pub response: Response,
    /// `x-vt-evidence` (None: missing, which `spec check` reports).
    pub evidence: Option<Evidence>,
    /// What could not be read; empty for an operation build.rs can generate.
    pub problems: Vec<Problem>,
}

impl Operation<'_> {
    /// Whether the request body is `multipart/form-data` (hand-written in the client).
    pub fn multipart(&self) -> bool {
        self.body.as_ref().is_some_and(Body::multipart)
    }

    /// Whether the operation is exposed as an MCP tool (named after its id).
    pub fn is_tool(&self) -> bool {
        self.excluded.is_none()
    }

    /// `id (METHOD path)`, the way messages name an operation.
    pub fn label(&self) -> String {
        let id = if self.id.is_empty() {
            "<no operationId>"
        } else {
            &self.id
        };
        format!("{id} ({} {})", self.method, self.path)
    }
}

/// An endpoint the spec leaves out on purpose (`x-vt-omitted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Omitted {
    pub method: String,
    pub path: String,
    pub why: String,
}

/// The document's `x-vt-omitted` list, if it has one (a missing member of an entry reads as
/// empty; `spec check` reports it).
pub fn omitted(doc: &Value) -> Option<Vec<Omitted>> {
    let list = doc.get("x-vt-omitted")?.as_array()?;
    Some(
        list.iter()
            .map(|e| {
                let s = |k| str_of(e, k).unwrap_or_default().to_string();
                Omitted {
                    method: s("method"),
                    path: s("path"),
                    why: s("why"),
                }
            })
            .collect(),
    )
}

/// Every operation, in document order (paths, then methods as written). Never fails: a document
/// without `paths` has no operations, and what an operation lacks is in its `problems`.
pub fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let mut ops = vec![];
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return ops;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            if METHODS.contains(&method.as_str()) && op.is_object() {
                ops.push(operation(doc, path, item, method, op));
            }
        }
    }
    ops
}

/// The operations of a document build.rs can generate from: every one with an id and a `200`
/// response and nothing unreadable, or an error naming each thing that is not so.
pub fn checked_operations(doc: &Value) -> Result<Vec<Operation<'_>>, String> {
    if doc.get("paths").and_then(Value::as_object).is_none() {
        return Err("the spec has no `paths` mapping".into());
    }
    let ops = operations(doc);
    let mut errors = vec![];
    for op in &ops {
        if op.id.is_empty() {
            errors.push(format!("{}: `operationId` is missing", op.label()));
        }
        if op.response == Response::Missing {
            errors.push(format!("{}: no `200` response", op.label()));
        }
        for p in &op.problems {
            errors.push(format!("{}: {} (at {})", op.label(), p.message, p.pointer));
        }
    }
    if errors.is_empty() {
        Ok(ops)
    } else {
        Err(format!(
            "the spec cannot be generated (`cargo xtask spec check` says more):\n{}",
            errors.join("\n")
        ))
    }
}

fn operation<'a>(
    doc: &'a Value,
    path: &str,
    item: &'a Map<String, Value>,
    method: &str,
    op: &'a Value,
) -> Operation<'a> {
    let pointer = format!("/paths/{}/{method}", escape_pointer(path));
    let mut problems = vec![];
    let params = params_of(doc, path, item, op, &pointer, &mut problems);
    let args: Vec<&str> = params.iter().map(|p| p.arg.as_str()).collect();
    let body = op.get("requestBody").and_then(|rb| {
        body_of(doc, rb, &args)
            .map_err(|u| problems.push(u.at(format!("{pointer}/requestBody"))))
            .ok()
    });
    let mut seen: Vec<&str> = vec![];
    for name in args.iter().copied().chain(
        body.iter()
            .flat_map(|b| b.props.iter().map(|p| p.0.as_str())),
    ) {
        if seen.contains(&name) {
            problems.push(Problem {
                pointer: pointer.clone(),
                message: format!(
                    "argument `{name}` appears twice among the parameters and body fields"
                ),
                kind: ProblemKind::Unsupported,
            });
        }
        seen.push(name);
    }
    let response = response_of(doc, op).unwrap_or_else(|u| {
        problems.push(u.at(format!("{pointer}/responses/200")));
        Response::Missing
    });
    let text = |k: &str| str_of(op, k).unwrap_or_default().to_string();
    Operation {
        id: text("operationId"),
        method: method.to_uppercase(),
        path: path.to_string(),
        tag: op
            .get("tags")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        tier: text("x-vt-tier"),
        permission: text("x-vt-permission"),
        summary: text("summary"),
        description: text("description"),
        deprecated: op.get("deprecated").and_then(Value::as_bool) == Some(true),
        excluded: str_of(op, "x-vt-tool-excluded").map(str::to_string),
        cache: str_of(op, "x-vt-cache")
            .filter(|c| *c != "never")
            .map(str::to_string),
        params,
        body,
        response,
        evidence: op.get("x-vt-evidence").map(Evidence::of),
        problems,
        pointer,
        value: op,
    }
}

fn params_of<'a>(
    doc: &'a Value,
    path: &str,
    item: &'a Map<String, Value>,
    op: &'a Value,
    op_pointer: &str,
    problems: &mut Vec<Problem>,
) -> Vec<Param<'a>> {
    let listed = |v: Option<&'a Value>, at: String| {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(move |(i, p)| (format!("{at}/{i}"), p))
    };
    let own = listed(op.get("parameters"), format!("{op_pointer}/parameters"));
    let shared = listed(
        item.get("parameters"),
        format!("/paths/{}/parameters", escape_pointer(path)),
    );
    let own_count = op
        .get("parameters")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut params: Vec<Param<'a>> = vec![];
    for (i, (pointer, p)) in own.chain(shared).enumerate() {
        let p = match deref_checked(doc, p) {
            Ok(p) => p,
            Err(e) => {
                problems.push(e.at(pointer));
                continue;
            }
        };
        let name = str_of(p, "name").unwrap_or_default().to_string();
        let declared_in = str_of(p, "in").unwrap_or_default();
        let Some(location) = Location::parse(declared_in) else {
            problems.push(Problem {
                pointer,
                message: format!(
                    "parameter `{name}` is in `{declared_in}`; only path, query and header parameters are supported"
                ),
                kind: ProblemKind::Unsupported,
            });
            continue;
        };
        // A path item's parameter applies unless the operation declares one of the same name
        // and location (OpenAPI's rule, and progenitor's).
        if i >= own_count
            && params
                .iter()
                .any(|q| q.name == name && q.location == location)
        {
            continue;
        }
        let mut schema = match inline_checked(doc, p.get("schema").unwrap_or(&Value::Null)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.at(format!("{pointer}/schema")));
                Value::Null
            }
        };
        if let (Some(d), Value::Object(m)) = (p.get("description"), &mut schema)
            && !m.contains_key("description")
        {
            m.insert("description".into(), d.clone());
        }
        params.push(Param {
            arg: name.trim_start_matches("x-").replace('-', "_"),
            name,
            location,
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
            schema,
            pointer,
            value: p,
        });
    }
    params
}

/// Why a reference or a schema could not be read.
struct Unreadable {
    message: String,
    kind: ProblemKind,
}

impl Unreadable {
    fn unsupported(message: impl Into<String>) -> Unreadable {
        Unreadable {
            message: message.into(),
            kind: ProblemKind::Unsupported,
        }
    }

    fn at(self, pointer: String) -> Problem {
        Problem {
            pointer,
            message: self.message,
            kind: self.kind,
        }
    }
}

/// Follows `$ref`s until a value that is not a reference. Only local references (`#/…`) are
/// read; a reference that does not resolve, or a loop of them, is an error.
pub fn deref<'a>(doc: &'a Value, v: &'a Value) -> Result<&'a Value, String> {
    deref_checked(doc, v).map_err(|u| u.message)
}

fn deref_checked<'a>(doc: &'a Value, mut v: &'a Value) -> Result<&'a Value, Unreadable> {
    for _ in 0..MAX_REF_HOPS {
        let Some(r) = v.get("$ref") else {
            return Ok(v);
        };
        let target = r
            .as_str()
            .and_then(|s| s.strip_prefix('#'))
            .and_then(|ptr| doc.pointer(ptr));
        v = target.ok_or_else(|| Unreadable {
            message: format!(
                "`$ref: {}` does not resolve to a local definition",
                ref_text(r)
            ),
            kind: ProblemKind::Reference,
        })?;
    }
    Err(Unreadable::unsupported(
        "`$ref`s lead to one another in a loop",
    ))
}

fn ref_text(r: &Value) -> String {
    r.as_str().map_or_else(|| r.to_string(), str::to_string)
}

/// A self-contained copy of a schema, as tool input schemas show it: `$ref`s inlined,
/// OpenAPI-only keys (`nullable`, `format`) dropped, `additionalProperties: {}` (a typify hint)
/// removed to keep schemas compact, and a relationship enum marked `x-vt-open` with the pattern
/// any other name must match.
pub fn inline(doc: &Value, v: &Value) -> Result<Value, String> {
    inline_at(doc, v, 0).map_err(|u| u.message)
}

fn inline_checked(doc: &Value, v: &Value) -> Result<Value, Unreadable> {
    inline_at(doc, v, 0)
}

fn inline_at(doc: &Value, v: &Value, depth: usize) -> Result<Value, Unreadable> {
    if depth >= MAX_SCHEMA_DEPTH {
        return Err(Unreadable::unsupported(
            "schema nesting too deep (a recursive `$ref`?)",
        ));
    }
    let target = deref_checked(doc, v)?;
    let open = v
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .is_some_and(|name| is_relationship_enum(name, target));
    if open {
        let mut out = inline_at(doc, target, depth + 1)?;
        if let Value::Object(m) = &mut out {
            m.insert("x-vt-open".into(), json!(RELATIONSHIP_NAME));
        }
        return Ok(out);
    }
    Ok(match target {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                match k.as_str() {
                    "nullable" | "format" => {}
                    "additionalProperties" if x == &json!({}) => {}
                    "properties" => {
                        let props = x.as_object().ok_or_else(|| {
                            Unreadable::unsupported("`properties` is not a mapping")
                        })?;
                        let mut inlined = Map::new();
                        for (pk, pv) in props {
                            inlined.insert(pk.clone(), inline_at(doc, pv, depth + 1)?);
                        }
                        out.insert(k.clone(), Value::Object(inlined));
                    }
                    _ => {
                        out.insert(k.clone(), inline_at(doc, x, depth + 1)?);
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| inline_at(doc, x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// The properties of an object schema: name, self-contained schema, required.
fn props_of(doc: &Value, schema: &Value) -> Result<Vec<(String, Value, bool)>, Unreadable> {
    let schema = deref_checked(doc, schema)?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = vec![];
    for (k, v) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        out.push((
            k.clone(),
            inline_checked(doc, v)?,
            required.contains(&k.as_str()),
        ));
    }
    Ok(out)
}

fn names(props: &[(String, Value, bool)]) -> Vec<String> {
    props.iter().map(|p| p.0.clone()).collect()
}

/// A request body. A JSON body is VirusTotal's `{data: …}`: its `data.attributes` fields (plus
/// any other `data` members) become arguments, or the fields of `data` itself, or, when one of
/// those would take a parameter's name (`args`), `data` is one argument.
fn body_of(doc: &Value, rb: &Value, args: &[&str]) -> Result<Body, Unreadable> {
    let rb = deref_checked(doc, rb)?;
    let content = rb
        .get("content")
        .and_then(Value::as_object)
        .ok_or_else(|| Unreadable::unsupported("the request body has no `content`"))?;
    let mut media_types = content.iter();
    let (Some((media, mt)), None) = (media_types.next(), media_types.next()) else {
        return Err(Unreadable::unsupported(format!(
            "the request body has {} media types; exactly one is supported",
            content.len()
        )));
    };
    let media = media.clone();
    let schema = deref_checked(doc, mt.get("schema").unwrap_or(&Value::Null))?;
    if media != "application/json" {
        let props = props_of(doc, schema)?;
        return Ok(Body {
            shape: Shape::Fields {
                fields: names(&props),
            },
            media,
            props,
        });
    }
    let data = schema
        .get("properties")
        .and_then(|p| p.get("data"))
        .ok_or_else(|| {
            Unreadable::unsupported("a JSON request body must be an object with a `data` member")
        })?;
    let data_schema = deref_checked(doc, data)?;
    let whole_data = || {
        Ok(Body {
            media: media.clone(),
            shape: Shape::Data,
            props: vec![("data".into(), inline_checked(doc, data)?, true)],
        })
    };
    let Some(data_props) = data_schema.get("properties").and_then(Value::as_object) else {
        return whole_data();
    };
    if let Some(attrs) = data_props.get("attributes") {
        let vt_type = data_props
            .get("type")
            .map(|t| deref_checked(doc, t))
            .transpose()?
            .and_then(|t| t.get("enum"))
            .and_then(|e| e.get(0))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Unreadable::unsupported(
                    "`data.type` of a JSON request body must be a one-value enum",
                )
            })?
            .to_string();
        let mut props = props_of(doc, attrs)?;
        let fields = names(&props);
        let mut extras = vec![];
        for (k, v) in data_props {
            if k != "type" && k != "attributes" {
                extras.push(k.clone());
                props.push((k.clone(), inline_checked(doc, v)?, false));
            }
        }
        return Ok(Body {
            media,
            shape: Shape::Attributes {
                vt_type,
                fields,
                extras,
            },
            props,
        });
    }
    let props = props_of(doc, data_schema)?;
    if props.iter().any(|(n, ..)| args.contains(&n.as_str())) {
        return whole_data();
    }
    Ok(Body {
        media,
        shape: Shape::DataFields {
            fields: names(&props),
        },
        props,
    })
}

/// Whether progenitor reads a media type as JSON.
pub fn is_json_media(media: &str) -> bool {
    media == "application/json" || media.starts_with("application/json;")
}

/// The JSON media type of a response's `content`, as progenitor picks it: the first one
/// [`is_json_media`] accepts.
pub fn json_media(content: &Map<String, Value>) -> Option<(&String, &Value)> {
    content.iter().find(|(m, _)| is_json_media(m))
}

/// The `200` response of an operation ([`Response`] says how it is classified).
fn response_of(doc: &Value, op: &Value) -> Result<Response, Unreadable> {
    let Some(ok) = op.get("responses").and_then(|r| r.get("200")) else {
        return Ok(Response::Missing);
    };
    let ok = deref_checked(doc, ok)?;
    let content = match ok.get("content") {
        None => return Ok(Response::Empty),
        Some(Value::Object(c)) => c,
        Some(_) => return Err(Unreadable::unsupported("`content` is not a mapping")),
    };
    if let Some((_, media)) = json_media(content) {
        let schema_ref = media
            .get("schema")
            .and_then(|s| s.get("$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"));
        return Ok(match schema_ref {
            Some(name) if FREE_FORM_SCHEMAS.contains(&name) => {
                Response::FreeForm(Some(name.to_string()))
            }
            Some(name) => Response::Typed(name.to_string()),
            None => Response::FreeForm(None),
        });
    }
    Ok(match content.keys().next() {
        Some(media) => Response::Binary(media.clone()),
        None => Response::Empty,
    })
}

/// The string at `key` of an object, if there is one.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Escapes one JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
