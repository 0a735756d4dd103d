//! Reading the OpenAPI document, and the vocabulary the xtask commands share.
//!
//! The YAML is parsed into a [`serde_json::Value`] (with `preserve_order`, so maps keep the
//! document's order). Its operations are read by [`crate::model`], the same code build.rs uses;
//! neither assumes the document is valid, because `spec check` must be able to report on a
//! broken one.

use crate::model;
pub use crate::model::{
    EVIDENCE_STATUSES, Evidence, FREE_FORM_SCHEMAS, METHODS, Operation, Response, escape_pointer,
    str_of,
};
use serde_json::Value;
use std::path::Path;

/// Values of `x-vt-tier`, from the most to the least widely available.
pub const TIERS: &[&str] = include!("../../spec/tiers.rs");

/// Values of `x-vt-permission`.
pub const PERMISSIONS: &[&str] = &["read", "submit", "write"];

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

    /// Every operation, in document order (paths, then methods as written), as build.rs reads
    /// them ([`crate::model`]).
    pub fn operations(&self) -> Vec<Operation<'_>> {
        model::operations(&self.doc)
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

    /// Follows `$ref`s ([`model::deref`]); a value whose references do not resolve is returned
    /// as it is (`spec check` reports the reference).
    pub fn deref<'a>(&'a self, v: &'a Value) -> &'a Value {
        model::deref(&self.doc, v).unwrap_or(v)
    }
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
}
