//! Checks tool arguments against the tool's JSON Schema before anything is sent: types, enums,
//! bounds, lengths, patterns, required and unknown arguments. Only the subset of JSON Schema the
//! generated schemas use is supported. Every message names the argument, says what is wrong and
//! gives an example of a valid value where the schema has one.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// An argument that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The argument (dotted path for nested values).
    pub argument: String,
    /// What is wrong and what would be right.
    pub problem: String,
}

fn regex(pattern: &str) -> Option<regress::Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regress::Regex>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| regress::Regex::new(pattern).ok())
        .clone()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn example_hint(schema: &Value) -> String {
    match schema.get("example") {
        Some(Value::String(s)) => format!(" (example: {s:?})"),
        Some(other) => format!(" (example: {other})"),
        None => match schema.get("enum").and_then(Value::as_array) {
            Some(e) if !e.is_empty() => format!(" (e.g. {})", e[0]),
            _ => String::new(),
        },
    }
}

/// The control-character rule ([`crate::ops::check_control_characters`]) as a validation error.
pub fn check_control_characters(
    schema: &Map<String, Value>,
    args: &Map<String, Value>,
) -> Result<(), Invalid> {
    crate::ops::check_control_characters(schema, args).map_err(|e| match e {
        crate::Error::InvalidInput { argument, problem } => Invalid { argument, problem },
        other => Invalid {
            argument: "arguments".into(),
            problem: other.to_string(),
        },
    })
}

/// Validates the arguments object of a tool call.
pub fn validate_args(
    schema: &Map<String, Value>,
    args: &Map<String, Value>,
) -> Result<(), Invalid> {
    let props = schema.get("properties").and_then(Value::as_object);
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        for k in args.keys() {
            if props.is_none_or(|p| !p.contains_key(k)) {
                let mut names: Vec<&str> = props
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                names.sort_unstable();
                return Err(Invalid {
                    argument: k.clone(),
                    problem: format!(
                        "unknown argument `{k}`; valid arguments: {}",
                        names.join(", ")
                    ),
                });
            }
        }
    }
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if args.get(r).is_none_or(Value::is_null) {
            let s = props.and_then(|p| p.get(r)).unwrap_or(&Value::Null);
            let what = s.get("description").and_then(Value::as_str).unwrap_or("");
            return Err(Invalid {
                argument: r.to_string(),
                problem: format!("missing required argument `{r}`: {what}{}", example_hint(s)),
            });
        }
    }
    check_control_characters(schema, args)?;
    if let Some(props) = props {
        for (k, v) in args {
            if v.is_null() {
                continue;
            }
            if let Some(s) = props.get(k) {
                check(k, s, v)?;
            }
        }
    }
    Ok(())
}

/// Whether `v` is a well-formed name outside the listed values of an open enum (`x-vt-open`
/// holds the pattern names must match).
fn is_unlisted_name(s: &Value, v: &Value) -> bool {
    let (Some(pattern), Some(name)) = (s.get("x-vt-open").and_then(Value::as_str), v.as_str())
    else {
        return false;
    };
    regex(pattern).is_some_and(|r| r.find(name).is_some())
        && !s
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.contains(v))
}

/// The arguments whose values are unlisted names of an open enum (top-level arguments, or the
/// items of an array argument), for the note a result carries.
pub fn unlisted(schema: &Map<String, Value>, args: &Map<String, Value>) -> Vec<String> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return vec![];
    };
    let mut out = vec![];
    for (name, v) in args {
        let Some(s) = props.get(name) else { continue };
        let (s, values): (&Value, Vec<&Value>) = match v {
            Value::Array(items) => match s.get("items") {
                Some(i) => (i, items.iter().collect()),
                None => continue,
            },
            v => (s, vec![v]),
        };
        for v in values {
            if is_unlisted_name(s, v) {
                out.push(format!(
                    "`{name}` {v} is not a name vtmcp lists; it was sent as given (VirusTotal may have added it, or may refuse it)"
                ));
            }
        }
    }
    out
}

fn check(at: &str, s: &Value, v: &Value) -> Result<(), Invalid> {
    let bad = |problem: String| {
        Err(Invalid {
            argument: at.to_string(),
            problem: format!("{problem}{}", example_hint(s)),
        })
    };
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        // An open enum (relationship names, spec header): a name VirusTotal added after the
        // spec was written is accepted if it is well formed ([`unlisted`] finds it for a note).
        if !e.contains(v) && !is_unlisted_name(s, v) {
            let list: Vec<String> = e
                .iter()
                .map(|x| x.as_str().map(str::to_string).unwrap_or(x.to_string()))
                .collect();
            return Err(Invalid {
                argument: at.to_string(),
                problem: format!("must be one of: {}", list.join(", ")),
            });
        }
        return Ok(());
    }
    match s.get("type").and_then(Value::as_str) {
        Some("string") => {
            let Some(text) = v.as_str() else {
                return bad(format!("must be a string, got {}", type_name(v)));
            };
            let n = text.chars().count();
            if let Some(min) = s.get("minLength").and_then(Value::as_u64)
                && (n as u64) < min
            {
                return bad(if n == 0 {
                    "must not be empty".into()
                } else {
                    format!("must be at least {min} characters")
                });
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
                && (n as u64) > max
            {
                return bad(format!("is {n} characters long; the limit is {max}"));
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str)
                && let Some(re) = regex(p)
                && re.find(text).is_none()
            {
                return bad(format!("has the wrong format (must match {p})"));
            }
        }
        Some("integer") | Some("number") => {
            let integer = s["type"] == "integer";
            let Some(x) = v.as_f64() else {
                return bad(format!("must be a number, got {}", type_name(v)));
            };
            if integer && !(v.is_i64() || v.is_u64()) {
                return bad(format!("must be a whole number, got {v}"));
            }
            if let Some(min) = s.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                return bad(format!("must be at least {min}, got {v}"));
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                return bad(format!("must be at most {max}, got {v}"));
            }
        }
        Some("boolean") if !v.is_boolean() => {
            return bad(format!("must be true or false, got {}", type_name(v)));
        }
        Some("array") => {
            let Some(items) = v.as_array() else {
                return bad(format!("must be an array, got {}", type_name(v)));
            };
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                return bad(format!("needs at least {min} item(s)"));
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                return bad(format!("has {} items; the limit is {max}", items.len()));
            }
            if let Some(is) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(&format!("{at}[{i}]"), is, item)?;
                }
            }
        }
        Some("object") => {
            let Some(obj) = v.as_object() else {
                return bad(format!("must be an object, got {}", type_name(v)));
            };
            for r in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if obj.get(r).is_none_or(Value::is_null) {
                    return Err(Invalid {
                        argument: format!("{at}.{r}"),
                        problem: "is required".into(),
                    });
                }
            }
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, x) in obj {
                    if let Some(ps) = props.get(k)
                        && !x.is_null()
                    {
                        check(&format!("{at}.{k}"), ps, x)?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Map<String, Value> {
        json!({"type": "object", "additionalProperties": false, "required": ["id"], "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[0-9a-f]{32}$", "example": "44d88612fea8a8f36de82e1278abb02f"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 40},
            "relationship": {"type": "string", "enum": ["comments", "votes"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}
        }})
        .as_object()
        .unwrap()
        .clone()
    }

    fn err(args: Value) -> Invalid {
        validate_args(&schema(), args.as_object().unwrap()).unwrap_err()
    }

    #[test]
    fn accepts_valid_arguments() {
        let ok = json!({"id": "44d88612fea8a8f36de82e1278abb02f", "limit": 40, "relationship": "votes", "tags": ["a"]});
        assert_eq!(validate_args(&schema(), ok.as_object().unwrap()), Ok(()));
    }

    #[test]
    fn control_characters_are_refused_except_line_breaks_in_free_text() {
        let schema = json!({"type": "object", "properties": {
            "query": {"type": "string"},
            "text": {"type": "string"},
            "graph_data": {"type": "object"},
            "data": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}}
        }});
        let schema = schema.as_object().unwrap();
        let check = |args: Value| check_control_characters(schema, args.as_object().unwrap());
        assert_eq!(
            check(json!({"query": "a b", "text": "l1\r\nl2\tx"})),
            Ok(())
        );
        assert_eq!(
            check(json!({"graph_data": {"nodes": [{"text": "a\nb"}]}})),
            Ok(())
        );
        let e = check(json!({"query": "a\nb"})).unwrap_err();
        assert_eq!(e.argument, "query");
        assert!(
            e.problem.contains("U+000A") && !e.problem.contains("a\nb"),
            "{e:?}"
        );
        assert_eq!(
            check(json!({"text": "x\u{1b}[31m"})).unwrap_err().argument,
            "text"
        );
        assert_eq!(
            check(json!({"graph_data": {"n": "\u{0}"}}))
                .unwrap_err()
                .argument,
            "graph_data.n"
        );
        assert_eq!(
            check(json!({"data": [{"id": "ok"}, {"id": "x\u{9b}"}]}))
                .unwrap_err()
                .argument,
            "data[1].id"
        );
        // The same rule inside schema validation, before the other checks.
        let e = validate_args(schema, json!({"query": "\u{7f}"}).as_object().unwrap());
        assert_eq!(e.unwrap_err().argument, "query");
    }

    #[test]
    fn names_the_argument_and_the_fix() {
        let e = err(json!({}));
        assert_eq!(e.argument, "id");
        assert!(
            e.problem.contains("missing") && e.problem.contains("44d88612"),
            "{e:?}"
        );
        assert_eq!(err(json!({"id": "zz"})).argument, "id");
        assert!(err(json!({"id": "zz"})).problem.contains("wrong format"));
        assert!(err(json!({"id": ""})).problem.contains("must not be empty"));
        assert!(
            err(json!({"id": 5}))
                .problem
                .contains("must be a string, got an integer")
        );
        let e = err(json!({"id": "44d88612fea8a8f36de82e1278abb02f", "limit": 41}));
        assert_eq!(
            (e.argument.as_str(), e.problem.contains("at most 40")),
            ("limit", true)
        );
        assert!(
            err(json!({"id": "44d88612fea8a8f36de82e1278abb02f", "limit": 2.5}))
                .problem
                .contains("whole number")
        );
        assert!(
            err(json!({"id": "44d88612fea8a8f36de82e1278abb02f", "relationship": "x"}))
                .problem
                .contains("comments, votes")
        );
        assert_eq!(
            err(json!({"id": "44d88612fea8a8f36de82e1278abb02f", "tags": ["a", 1]})).argument,
            "tags[1]"
        );
        assert!(
            err(json!({"id": "44d88612fea8a8f36de82e1278abb02f", "tags": ["a", "b", "c"]}))
                .problem
                .contains("limit is 2")
        );
        let e = err(json!({"id": "44d88612fea8a8f36de82e1278abb02f", "bogus": 1}));
        assert!(
            e.argument == "bogus" && e.problem.contains("valid arguments: id, limit"),
            "{e:?}"
        );
    }
}
