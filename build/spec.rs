//! Spec walking for build.rs: the operation table, flat tool input schemas, and the setter types
//! read back out of progenitor's generated builder code (README, "What progenitor needs from the
//! spec", rule 6).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub struct Param {
    pub name: String,
    pub arg: String,
    pub location: String,
    pub required: bool,
    pub schema: Value,
}

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
    /// form or multipart fields at the top level
    Fields { fields: Vec<String> },
}

pub struct Body {
    pub media: String,
    pub shape: Shape,
    pub props: Vec<(String, Value, bool)>,
}

pub struct Op {
    pub id: String,
    pub method: String,
    pub path: String,
    pub tag: String,
    pub tier: String,
    pub permission: String,
    pub summary: String,
    pub description: String,
    pub deprecated: bool,
    pub excluded: Option<String>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub response: &'static str,
}

impl Op {
    pub fn multipart(&self) -> bool {
        self.body
            .as_ref()
            .is_some_and(|b| b.media == "multipart/form-data")
    }
}

/// The pattern of a relationship name (lower-case letters, digits, `_`).
pub const RELATIONSHIP_NAME: &str = "^[a-z][a-z0-9_]{0,63}$";

/// Relationship enums are open (spec header): the typed client takes any well-formed name, so
/// progenitor gets a patterned string instead of each `*Relationship` enum. The tool schemas
/// keep the enum (it helps a model choose) and mark it `x-vt-open` (see [`inline`]).
pub fn open_relationship_enums(doc: &mut Value) {
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            if is_relationship_enum(name, schema) {
                let description = schema.get("description").cloned();
                let mut open = json!({"type": "string", "pattern": RELATIONSHIP_NAME});
                if let Some(d) = description {
                    open["description"] = d;
                }
                *schema = open;
            }
        }
    }
}

fn is_relationship_enum(name: &str, schema: &Value) -> bool {
    name.ends_with("Relationship") && schema.get("enum").is_some()
}

/// README, "What progenitor needs from the spec", rule 2: `additionalProperties: true` beside `properties` drops unknown fields in
/// typify; `{}` keeps them in a flattened map.
pub fn keep_unknown_fields(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("properties")
                && m.get("additionalProperties") == Some(&Value::Bool(true))
            {
                m.insert("additionalProperties".into(), json!({}));
            }
            m.values_mut().for_each(keep_unknown_fields);
        }
        Value::Array(a) => a.iter_mut().for_each(keep_unknown_fields),
        _ => {}
    }
}

fn lookup<'a>(doc: &'a Value, r: &str) -> &'a Value {
    let ptr = r
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local $refs are supported: {r}"));
    doc.pointer(ptr)
        .unwrap_or_else(|| panic!("unresolved $ref {r}"))
}

fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => deref(doc, lookup(doc, r)),
        None => v,
    }
}

/// A self-contained copy of a schema: `$ref`s inlined, OpenAPI-only keys dropped, and
/// `additionalProperties: {}` (a typify hint) removed so that tool schemas stay compact.
pub fn inline(doc: &Value, v: &Value, depth: usize) -> Value {
    assert!(depth < 16, "schema nesting too deep (recursive $ref?)");
    let open = v
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .is_some_and(|name| is_relationship_enum(name, deref(doc, v)));
    if open {
        let mut out = inline(doc, deref(doc, v), depth + 1);
        out["x-vt-open"] = json!(RELATIONSHIP_NAME);
        return out;
    }
    let v = deref(doc, v);
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                match k.as_str() {
                    "nullable" | "format" => {}
                    "additionalProperties" if x == &json!({}) => {}
                    "properties" => {
                        let props = x
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(pk, pv)| (pk.clone(), inline(doc, pv, depth + 1)))
                            .collect();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(k.clone(), inline(doc, x, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| inline(doc, x, depth + 1)).collect()),
        other => other.clone(),
    }
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn props_of(doc: &Value, schema: &Value) -> Vec<(String, Value, bool)> {
    let schema = deref(doc, schema);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.clone(), inline(doc, v, 0), required.contains(&k.as_str())))
                .collect()
        })
        .unwrap_or_default()
}

fn body_of(doc: &Value, id: &str, rb: &Value) -> Body {
    let rb = deref(doc, rb);
    let content = rb["content"].as_object().expect("requestBody.content");
    assert_eq!(
        content.len(),
        1,
        "{id}: a request body must have exactly one media type"
    );
    let (media, mt) = content.iter().next().unwrap();
    let schema = deref(doc, &mt["schema"]);
    if media != "application/json" {
        let props = props_of(doc, schema);
        let fields = props.iter().map(|p| p.0.clone()).collect();
        return Body {
            media: media.clone(),
            shape: Shape::Fields { fields },
            props,
        };
    }
    let data = deref(doc, &schema["properties"]["data"]);
    let data_props = data.get("properties");
    if let Some(attrs) = data_props.and_then(|p| p.get("attributes")) {
        let vt_type = data_props.unwrap()["type"]["enum"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: data.type must be a one-value enum"))
            .to_string();
        let mut props = props_of(doc, attrs);
        let fields = props.iter().map(|p| p.0.clone()).collect();
        let mut extras = vec![];
        for (k, v) in data_props.unwrap().as_object().unwrap() {
            if k != "type" && k != "attributes" {
                extras.push(k.clone());
                props.push((k.clone(), inline(doc, v, 0), false));
            }
        }
        Body {
            media: media.clone(),
            shape: Shape::Attributes {
                vt_type,
                fields,
                extras,
            },
            props,
        }
    } else if data_props.is_some() {
        let props = props_of(doc, data);
        let fields = props.iter().map(|p| p.0.clone()).collect();
        Body {
            media: media.clone(),
            shape: Shape::DataFields { fields },
            props,
        }
    } else {
        Body {
            media: media.clone(),
            shape: Shape::Data,
            props: vec![("data".into(), inline(doc, data, 0), true)],
        }
    }
}

pub fn collect_operations(doc: &Value) -> Vec<Op> {
    let mut ops = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let id = s(op, "operationId");
            let mut params = vec![];
            for p in op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let p = deref(doc, p);
                let name = s(p, "name");
                let mut schema = inline(doc, &p["schema"], 0);
                if let (Some(d), Value::Object(m)) = (p.get("description"), &mut schema)
                    && !m.contains_key("description")
                {
                    m.insert("description".into(), d.clone());
                }
                params.push(Param {
                    arg: name.trim_start_matches("x-").replace('-', "_"),
                    name,
                    location: s(p, "in"),
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                    schema,
                });
            }
            let mut body = op.get("requestBody").map(|rb| body_of(doc, &id, rb));
            // `{data:{…}}` is flattened unless a field would collide with a parameter.
            if let Some(b) = &mut body
                && matches!(b.shape, Shape::DataFields { .. })
                && b.props
                    .iter()
                    .any(|(n, ..)| params.iter().any(|p: &Param| &p.arg == n))
            {
                let schema = deref(
                    doc,
                    &op["requestBody"]["content"]["application/json"]["schema"],
                );
                b.shape = Shape::Data;
                b.props = vec![(
                    "data".into(),
                    inline(doc, &schema["properties"]["data"], 0),
                    true,
                )];
            }
            let ok = op["responses"]
                .get("200")
                .map(|r| deref(doc, r))
                .unwrap_or_else(|| panic!("{id}: no 200 response"));
            let response = match ok.get("content").and_then(Value::as_object) {
                None => "Empty",
                Some(c) if c.contains_key("application/json") => "Json",
                Some(_) => "Bytes",
            };
            ops.push(Op {
                id,
                method: method.to_uppercase(),
                path: path.clone(),
                tag: op["tags"][0].as_str().unwrap_or_default().to_string(),
                tier: s(op, "x-vt-tier"),
                permission: s(op, "x-vt-permission"),
                summary: s(op, "summary"),
                description: s(op, "description"),
                deprecated: op
                    .get("deprecated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                excluded: op
                    .get("x-vt-tool-excluded")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                params,
                body,
                response,
            });
        }
    }
    ops
}

/// The document progenitor sees: multipart operations removed (README, "What progenitor needs from the spec", rule 3).
pub fn without_multipart(doc: &Value, ops: &[Op]) -> Value {
    let mut d = doc.clone();
    for op in ops.iter().filter(|o| o.multipart()) {
        let item = d["paths"][&op.path].as_object_mut().unwrap();
        item.remove(&op.method.to_lowercase());
        if item.is_empty() {
            d["paths"].as_object_mut().unwrap().remove(&op.path);
        }
    }
    d
}

/// builder struct name per operation id, and (builder, setter) → the concrete `T` of
/// `where V: TryInto<T>`.
pub struct Setters {
    pub builder: BTreeMap<String, String>,
    pub types: BTreeMap<(String, String), String>,
}

pub fn builder_setters(file: &syn::File) -> Setters {
    use quote::ToTokens;
    let mut builder = BTreeMap::new();
    let mut types = BTreeMap::new();
    for item in &file.items {
        match item {
            syn::Item::Impl(imp) if imp.self_ty.to_token_stream().to_string() == "Client" => {
                for it in &imp.items {
                    if let syn::ImplItem::Fn(f) = it
                        && let syn::ReturnType::Type(_, ty) = &f.sig.output
                        && let syn::Type::Path(tp) = &**ty
                    {
                        let last = tp.path.segments.last().unwrap().ident.to_string();
                        builder.insert(f.sig.ident.to_string(), last);
                    }
                }
            }
            syn::Item::Mod(m) if m.ident == "builder" => {
                for it in &m.content.as_ref().unwrap().1 {
                    let syn::Item::Impl(imp) = it else { continue };
                    let syn::Type::Path(tp) = &*imp.self_ty else {
                        continue;
                    };
                    let name = tp.path.segments.last().unwrap().ident.to_string();
                    for f in imp.items.iter().filter_map(|i| match i {
                        syn::ImplItem::Fn(f) => Some(f),
                        _ => None,
                    }) {
                        let Some(wc) = &f.sig.generics.where_clause else {
                            continue;
                        };
                        for pred in &wc.predicates {
                            let syn::WherePredicate::Type(pt) = pred else {
                                continue;
                            };
                            for bound in &pt.bounds {
                                let syn::TypeParamBound::Trait(tb) = bound else {
                                    continue;
                                };
                                let seg = tb.path.segments.last().unwrap();
                                if seg.ident != "TryInto" {
                                    continue;
                                }
                                if let syn::PathArguments::AngleBracketed(ab) = &seg.arguments
                                    && let Some(syn::GenericArgument::Type(t)) = ab.args.first()
                                {
                                    types.insert(
                                        (name.clone(), f.sig.ident.to_string()),
                                        t.to_token_stream().to_string(),
                                    );
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Setters { builder, types }
}

fn sanitize(name: &str) -> String {
    let n = name.replace('-', "_").to_lowercase();
    match n.as_str() {
        "type" | "ref" | "match" | "self" | "in" | "fn" | "mod" | "use" => format!("{n}_"),
        _ => n,
    }
}

fn rust_type(t: &str) -> String {
    let t = t.replace(' ', "");
    match t.strip_prefix("types::") {
        Some(rest) => format!("crate::client::types::{rest}"),
        None => t,
    }
}

/// The flat JSON Schema of an operation's tool input: path, query and header parameters plus the
/// body's fields.
pub fn input_schema(op: &Op) -> Value {
    let mut props = Map::new();
    let mut required = vec![];
    let mut add = |name: &str, schema: Value, req: bool, op: &Op| {
        assert!(
            props.insert(name.to_string(), schema).is_none(),
            "{}: argument {name} appears twice",
            op.id
        );
        if req {
            required.push(Value::String(name.to_string()));
        }
    };
    for p in &op.params {
        add(&p.arg, p.schema.clone(), p.required, op);
    }
    if let Some(b) = &op.body {
        for (name, schema, req) in &b.props {
            let schema = if b.media == "multipart/form-data" && name == "file" {
                json!({"type": "string", "minLength": 1, "description": "Path of a file in an --upload-dir directory."})
            } else {
                schema.clone()
            };
            add(name, schema, *req, op);
        }
    }
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn lit(s: &str) -> String {
    format!("{s:?}")
}

pub fn emit_table(_doc: &Value, ops: &[Op], setters: &Setters) -> String {
    let mut t =
        String::from("// @generated by build.rs from spec/virustotal-v3.yaml. Do not edit.\n\n");
    t.push_str("/// Every operation of the spec, in spec order.\npub static OPERATIONS: &[OperationMeta] = &[\n");
    for op in ops {
        let params: Vec<String> = op
            .params
            .iter()
            .map(|p| {
                format!(
                    "ParamMeta {{ name: {}, arg: {}, location: Location::{}, required: {} }}",
                    lit(&p.name),
                    lit(&p.arg),
                    match p.location.as_str() {
                        "path" => "Path",
                        "query" => "Query",
                        "header" => "Header",
                        other => panic!("{}: unsupported parameter location {other}", op.id),
                    },
                    p.required
                )
            })
            .collect();
        let body = match &op.body {
            None => "BodyShape::None".to_string(),
            Some(b) => {
                let list = |v: &[String]| {
                    format!(
                        "&[{}]",
                        v.iter().map(|x| lit(x)).collect::<Vec<_>>().join(", ")
                    )
                };
                match &b.shape {
                    Shape::Attributes {
                        vt_type,
                        fields,
                        extras,
                    } => format!(
                        "BodyShape::Attributes {{ vt_type: {}, fields: {}, extras: {} }}",
                        lit(vt_type),
                        list(fields),
                        list(extras)
                    ),
                    Shape::DataFields { fields } => {
                        format!("BodyShape::DataFields {{ fields: {} }}", list(fields))
                    }
                    Shape::Data => "BodyShape::Data".to_string(),
                    Shape::Fields { fields } if b.media == "multipart/form-data" => {
                        format!("BodyShape::Multipart {{ fields: {} }}", list(fields))
                    }
                    Shape::Fields { fields } => {
                        format!("BodyShape::Form {{ fields: {} }}", list(fields))
                    }
                }
            }
        };
        let _ = writeln!(
            t,
            "    OperationMeta {{ id: {}, method: {}, path: {}, toolset: {}, tier: Tier::named({}), permission: Permission::{}, summary: {}, description: {}, deprecated: {}, excluded: {}, params: &[{}], body: {}, response: ResponseKind::{}, input_schema: {} }},",
            lit(&op.id),
            lit(&op.method),
            lit(&op.path),
            lit(&op.tag),
            lit(&op.tier),
            capitalize(&op.permission),
            lit(&op.summary),
            lit(&op.description),
            op.deprecated,
            op.excluded
                .as_deref()
                .map_or("None".to_string(), |e| format!("Some({})", lit(e))),
            params.join(", "),
            body,
            op.response,
            lit(&input_schema(op).to_string()),
        );
    }
    t.push_str("];\n\nvt_dispatch! {\n    generated {\n");
    for op in ops.iter().filter(|o| !o.multipart()) {
        let b = setters
            .builder
            .get(&op.id)
            .unwrap_or_else(|| panic!("no builder for {}", op.id));
        let _ = write!(t, "        {} : {} [", op.id, b);
        for p in &op.params {
            let setter = sanitize(&p.name);
            let ty = setters
                .types
                .get(&(b.clone(), setter.clone()))
                .unwrap_or_else(|| panic!("{}: no setter {setter} on {b}", op.id));
            let _ = write!(
                t,
                " {setter}({}, {}): {},",
                lit(&p.arg),
                if p.required { "required" } else { "optional" },
                rust_type(ty)
            );
        }
        t.push_str(" ] body(");
        if op.body.is_some() {
            let ty = setters
                .types
                .get(&(b.clone(), "body".into()))
                .unwrap_or_else(|| panic!("{}: no body setter", op.id));
            t.push_str(&rust_type(ty));
        }
        let _ = writeln!(t, ") -> {};", op.response);
    }
    t.push_str("    }\n    handwritten {");
    for op in ops.iter().filter(|o| o.multipart()) {
        let _ = write!(t, " {},", op.id);
    }
    t.push_str(" }\n}\n");
    t
}
