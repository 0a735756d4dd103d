//! Reading the OpenAPI document and the operation model every command shares.
//!
//! The YAML is parsed into a [`serde_json::Value`] (with `preserve_order`, so maps keep the
//! document's order); the helpers here walk it without assuming it is valid, because `spec check`
//! must be able to report on a broken document.

use serde_json::Value;
use std::fmt;
use std::path::Path;

/// HTTP methods an OpenAPI path item may hold, in the order OpenAPI lists them.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Values of `x-vt-tier`, from the most to the least widely available.
pub const TIERS: &[&str] = include!("../../spec/tiers.rs");

/// Values of `x-vt-permission`.
pub const PERMISSIONS: &[&str] = &["read", "submit", "write"];

/// Component schemas whose `data` is untyped JSON: operations returning them are "free-form".
pub const FREE_FORM_SCHEMAS: &[&str] = &["RawDataResponse"];

/// A parsed spec document and where it came from.
pub struct Spec {
    pub doc: Value,
    pub source: String,
}

impl Spec {
    /// Reads and parses a spec file (YAML, or JSON since JSON is YAML).
    pub fn load(path: &Path) -> Result<Spec, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Spec::parse(&text, &path.display().to_string())
    }

    /// Parses spec text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Spec, String> {
        let doc: Value = yaml_serde::from_str(text)
            .map_err(|e| format!("{source} is not a YAML document this tool can read: {e}"))?;
        if !doc.is_object() {
            return Err(format!("{source}: the document is not a mapping"));
        }
        Ok(Spec {
            doc,
            source: source.to_string(),
        })
    }

    /// Every operation, in document order (paths, then methods as written).
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut ops = vec![];
        let Some(paths) = self.doc.get("paths").and_then(Value::as_object) else {
            return ops;
        };
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                if !METHODS.contains(&method.as_str()) || !op.is_object() {
                    continue;
                }
                ops.push(Operation::new(self, path, method, op));
            }
        }
        ops
    }

    /// The tags declared at the top level, in order, with their descriptions.
    pub fn tags(&self) -> Vec<(String, String)> {
        self.doc
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let name = t.get("name")?.as_str()?.to_string();
                let desc = str_of(t, "description").unwrap_or_default().to_string();
                Some((name, desc))
            })
            .collect()
    }

    /// Follows a local `$ref` (`#/…`); `None` if it is not local or does not resolve.
    pub fn resolve_ref(&self, r: &str) -> Option<&Value> {
        self.doc.pointer(r.strip_prefix('#')?)
    }

    /// Follows `$ref`s until a value that is not a reference (at most 32 hops).
    pub fn deref<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => match self.resolve_ref(r) {
                    Some(target) => v = target,
                    None => return v,
                },
                None => return v,
            }
        }
        v
    }
}

/// What the `200` response of an operation carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// JSON described by a component schema.
    Typed(String),
    /// JSON whose `data` is untyped (a schema in [`FREE_FORM_SCHEMAS`] or an inline schema).
    FreeForm(Option<String>),
    /// Bytes: a non-JSON media type (`application/octet-stream`, `text/html` …).
    Binary(String),
    /// No content.
    Empty,
    /// No `200` response at all (`spec check` reports it).
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

/// One operation, with the fields the xtask commands need already read out.
pub struct Operation<'a> {
    pub id: String,
    /// Upper case, e.g. `GET`.
    pub method: String,
    pub path: String,
    /// JSON pointer of the operation object, e.g. `/paths/~1files~1{id}/get`.
    pub pointer: String,
    pub value: &'a Value,
    /// The first tag (`spec check` insists on exactly one).
    pub tag: String,
    pub tier: String,
    pub permission: String,
    pub summary: String,
    pub deprecated: bool,
    /// The reason given in `x-vt-tool-excluded`, if the operation is not an MCP tool.
    pub excluded: Option<String>,
    /// Whether the request body is `multipart/form-data` (hand-written in the client).
    pub multipart: bool,
    pub response: Response,
    /// `x-vt-evidence` (None: missing, which `spec check` reports).
    pub evidence: Option<Evidence>,
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

impl<'a> Operation<'a> {
    fn new(spec: &'a Spec, path: &str, method: &str, op: &'a Value) -> Operation<'a> {
        let pointer = format!("/paths/{}/{}", escape_pointer(path), method);
        let tag = op
            .get("tags")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let multipart = op
            .get("requestBody")
            .map(|rb| spec.deref(rb))
            .and_then(|rb| rb.get("content"))
            .and_then(Value::as_object)
            .is_some_and(|c| c.contains_key("multipart/form-data"));
        Operation {
            id: str_of(op, "operationId").unwrap_or_default().to_string(),
            method: method.to_uppercase(),
            path: path.to_string(),
            pointer,
            value: op,
            tag,
            tier: str_of(op, "x-vt-tier").unwrap_or_default().to_string(),
            permission: str_of(op, "x-vt-permission")
                .unwrap_or_default()
                .to_string(),
            summary: str_of(op, "summary").unwrap_or_default().to_string(),
            deprecated: op.get("deprecated").and_then(Value::as_bool) == Some(true),
            excluded: str_of(op, "x-vt-tool-excluded").map(str::to_string),
            multipart,
            response: response_of(spec, op),
            evidence: op.get("x-vt-evidence").map(Evidence::of),
        }
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

    /// Whether the operation is exposed as an MCP tool (named after its id).
    pub fn is_tool(&self) -> bool {
        self.excluded.is_none()
    }
}

fn response_of(spec: &Spec, op: &Value) -> Response {
    let Some(ok) = op.get("responses").and_then(|r| r.get("200")) else {
        return Response::Missing;
    };
    let ok = spec.deref(ok);
    let Some(content) = ok.get("content").and_then(Value::as_object) else {
        return Response::Empty;
    };
    if content.is_empty() {
        return Response::Empty;
    }
    match content.get("application/json") {
        Some(media) => match media
            .get("schema")
            .and_then(|s| s.get("$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            Some(name) if FREE_FORM_SCHEMAS.contains(&name) => {
                Response::FreeForm(Some(name.to_string()))
            }
            Some(name) => Response::Typed(name.to_string()),
            None => Response::FreeForm(None),
        },
        None => Response::Binary(content.keys().next().cloned().unwrap_or_default()),
    }
}

/// The string at `key` of an object, if there is one.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Escapes one JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The path with every `{name}` replaced by `{}`, to compare paths whatever their parameters
/// are called.
pub fn path_shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// The names of the `{parameters}` in a path template, in order.
pub fn path_params(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_segments_are_escaped() {
        assert_eq!(escape_pointer("/files/{id}"), "~1files~1{id}");
        assert_eq!(escape_pointer("a~b"), "a~0b");
    }

    #[test]
    fn path_shape_ignores_parameter_names() {
        assert_eq!(
            path_shape("/ip_addresses/{ip}/{relationship}"),
            "/ip_addresses/{}/{}"
        );
        assert_eq!(path_params("/a/{id}/b/{rel}"), vec!["id", "rel"]);
    }

    #[test]
    fn responses_are_classified() {
        let spec = Spec::parse(
            r##"
openapi: 3.0.3
paths:
  /a:
    get:
      operationId: a
      responses:
        '200':
          description: OK
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Thing'
  /b:
    get:
      operationId: b
      responses:
        '200':
          description: OK
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/RawDataResponse'
  /c:
    get:
      operationId: c
      responses:
        '200':
          description: OK
          content:
            application/octet-stream:
              schema: {type: string, format: binary}
  /d:
    delete:
      operationId: d
      responses:
        '200':
          description: OK
"##,
            "test",
        )
        .unwrap();
        let kinds: Vec<_> = spec.operations().into_iter().map(|o| o.response).collect();
        assert_eq!(
            kinds,
            vec![
                Response::Typed("Thing".into()),
                Response::FreeForm(Some("RawDataResponse".into())),
                Response::Binary("application/octet-stream".into()),
                Response::Empty,
            ]
        );
    }
}
