//! What build.rs makes of the operations [`crate::model`] reads: the document progenitor is given,
//! the flat tool input schemas, the operation table and the dispatcher's input, with the setter
//! types read back out of progenitor's generated builder code (README, "What progenitor needs
//! from the spec", rule 6).

use crate::model::{self, Location, Operation, Shape};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Relationship enums are open (spec header): the typed client takes any well-formed name, so
/// progenitor gets a patterned string instead of each `*Relationship` enum. The tool schemas
/// keep the enum (it helps a model choose) and mark it `x-vt-open` (see [`model::inline`]).
pub fn open_relationship_enums(doc: &mut Value) {
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            if model::is_relationship_enum(name, schema) {
                let description = schema.get("description").cloned();
                let mut open = json!({"type": "string", "pattern": model::RELATIONSHIP_NAME});
                if let Some(d) = description {
                    open["description"] = d;
                }
                *schema = open;
            }
        }
    }
}

/// README, "What progenitor needs from the spec", rule 2: `additionalProperties: true` beside
/// `properties` drops unknown fields in typify; `{}` keeps them in a flattened map.
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

/// The document progenitor sees: multipart operations removed (README, "What progenitor needs
/// from the spec", rule 3).
pub fn without_multipart(doc: &Value, ops: &[Operation]) -> Value {
    let mut d = doc.clone();
    for op in ops.iter().filter(|o| o.multipart()) {
        let Some(paths) = d.get_mut("paths").and_then(Value::as_object_mut) else {
            break;
        };
        if let Some(item) = paths.get_mut(&op.path).and_then(Value::as_object_mut) {
            item.remove(&op.method.to_lowercase());
            if item.is_empty() {
                paths.remove(&op.path);
            }
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
pub fn input_schema(op: &Operation) -> Value {
    let mut props = Map::new();
    let mut required = vec![];
    let mut add = |name: &str, schema: Value, req: bool, op: &Operation| {
        // The model reports a repeated argument, and build.rs stops on reported problems.
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
            let schema = if b.multipart() && name == "file" {
                json!({"type": "string", "minLength": 1, "description": "Path of a file in an --upload-dir directory."})
            } else {
                schema.clone()
            };
            add(name, schema, *req, op);
        }
    }
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// The `ResponseKind` variant of an operation ([`model::Response`] decides it).
fn response_kind(op: &Operation) -> &'static str {
    op.response
        .kind()
        .unwrap_or_else(|| panic!("{}: no 200 response", op.id))
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

pub fn emit_table(ops: &[Operation], setters: &Setters) -> String {
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
                    match p.location {
                        Location::Path => "Path",
                        Location::Query => "Query",
                        Location::Header => "Header",
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
                    Shape::Fields { fields } if b.multipart() => {
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
            "    OperationMeta {{ id: {}, method: {}, path: {}, toolset: {}, tier: Tier::named({}), permission: Permission::{}, summary: {}, description: {}, deprecated: {}, excluded: {}, cache: {}, params: &[{}], body: {}, response: ResponseKind::{}, input_schema: {} }},",
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
            // `not_found` → `TtlClass::NotFound`: an unknown class does not compile.
            op.cache.as_deref().map_or("None".to_string(), |c| format!(
                "Some(crate::cache::TtlClass::{})",
                c.split('_').map(capitalize).collect::<String>()
            )),
            params.join(", "),
            body,
            response_kind(op),
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
        let _ = writeln!(t, ") -> {};", response_kind(op));
    }
    t.push_str("    }\n    handwritten {");
    for op in ops.iter().filter(|o| o.multipart()) {
        let _ = write!(t, " {},", op.id);
    }
    t.push_str(" }\n}\n");
    t
}
