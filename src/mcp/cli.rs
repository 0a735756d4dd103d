//! `vtmcp call`: one tool call from a terminal or a script, without an MCP client.
//!
//! The call goes through [`VtServer::call_tool_with_progress`], the function `tools/call`
//! itself runs: the same lookup (an unknown tool gets the protocol error `tools/call` answers
//! with), the same visibility, tier and permission checks, validation, cache, output budget and
//! progress. Only the transport is left out: no JSON-RPC framing, no rmcp client in the binary.
//!
//! Arguments on the command line (a small, httpie-like syntax):
//!
//! * `key=value`: the value as the tool's schema types the argument: a string, or an integer,
//!   number or boolean when the schema says so (never guessed from the text). For an array
//!   argument each `key=value` adds one item, so `relationships=contacted_ips
//!   relationships=contacted_domains` is a list of two.
//! * `key:=JSON`: the value as raw JSON (arrays, objects, `null`).
//! * `-` (stdin) or `--args-file FILE`: a JSON object holding the whole argument set; pairs
//!   given beside it override its members.

use super::VtServer;
use crate::reports::{Progress, ProgressSink};
use rmcp::model::CallToolResult;
use serde_json::{Map, Value};

/// What `vtmcp call` prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// For standard output.
    pub stdout: String,
    /// For standard error (the error message of a failed call, notes beside `--json`).
    pub stderr: String,
    /// The exit status: 0 success, 1 an error result, 2 a usage error.
    pub code: u8,
}

impl Printed {
    /// A usage error (exit status 2).
    pub fn usage(message: impl Into<String>) -> Printed {
        Printed {
            stdout: String::new(),
            stderr: message.into(),
            code: 2,
        }
    }
}

/// The types a property's schema allows (`type` as a string or a list, through one `$ref` into
/// the schema's `$defs` and the members of `anyOf`/`oneOf`).
fn types<'a>(schema: &'a Map<String, Value>, prop: &'a Value, out: &mut Vec<&'a str>, depth: u8) {
    if depth > 4 {
        return;
    }
    if let Some(r) = prop.get("$ref").and_then(Value::as_str)
        && let Some(name) = r.strip_prefix("#/$defs/")
        && let Some(def) = schema.get("$defs").and_then(|d| d.get(name))
    {
        types(schema, def, out, depth + 1);
    }
    match prop.get("type") {
        Some(Value::String(t)) => out.push(t),
        Some(Value::Array(ts)) => out.extend(ts.iter().filter_map(Value::as_str)),
        _ => {}
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for member in prop
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            types(schema, member, out, depth + 1);
        }
    }
}

/// `text` as the schema `prop` types it: a string unless the schema allows no string and does
/// allow an integer, number or boolean (parsed strictly; an error says what was expected).
fn scalar(
    schema: &Map<String, Value>,
    key: &str,
    prop: Option<&Value>,
    text: &str,
) -> Result<Value, String> {
    let mut allowed = Vec::new();
    if let Some(p) = prop {
        types(schema, p, &mut allowed, 0);
    }
    let has = |t: &str| allowed.contains(&t);
    if allowed.is_empty() || has("string") {
        return Ok(Value::String(text.to_string()));
    }
    if has("integer")
        && let Ok(n) = text.parse::<i64>()
    {
        return Ok(Value::from(n));
    }
    if has("number")
        && let Ok(n) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(n)
    {
        return Ok(Value::Number(n));
    }
    if has("boolean") {
        match text {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            _ => {}
        }
    }
    if has("object") || has("array") {
        return Err(format!(
            "`{key}` takes JSON ({}): write {key}:=<JSON>",
            allowed.join(" or ")
        ));
    }
    Err(format!(
        "`{key}` takes {}; `{text}` is not one (write {key}:=<JSON> for a raw JSON value)",
        allowed
            .iter()
            .map(|t| match *t {
                "integer" => "an integer",
                "number" => "a number",
                "boolean" => "true or false",
                "null" => "null",
                other => other,
            })
            .collect::<Vec<_>>()
            .join(" or ")
    ))
}

/// Builds a call's arguments from `base` (the JSON object of `-` or `--args-file`, if any) and
/// the `key=value` / `key:=JSON` pairs, typed by the tool's input `schema` (empty for an unknown
/// tool: every value is a string). The error is a usage message.
pub fn arguments(
    schema: &Map<String, Value>,
    base: Option<Map<String, Value>>,
    pairs: &[String],
) -> Result<Map<String, Value>, String> {
    let props = schema.get("properties").and_then(Value::as_object);
    let mut args = base.unwrap_or_default();
    let mut given: Vec<String> = Vec::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "`{pair}` is not an argument: write key=value, key:=<JSON>, or - for a JSON object on stdin"
            ));
        };
        let (key, raw) = match key.strip_suffix(':') {
            Some(k) => (k, true),
            None => (key, false),
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "`{pair}`: `{key}` is not an argument name (letters, digits and _)"
            ));
        }
        let prop = props.and_then(|p| p.get(key));
        let repeated = given.iter().any(|g| g == key);
        given.push(key.to_string());
        if raw {
            if repeated {
                return Err(format!("`{key}` is given twice"));
            }
            let v: Value = serde_json::from_str(value)
                .map_err(|e| format!("`{key}:=`: the value is not JSON ({e})"))?;
            args.insert(key.to_string(), v);
            continue;
        }
        let mut allowed = Vec::new();
        if let Some(p) = prop {
            types(schema, p, &mut allowed, 0);
        }
        if allowed.contains(&"array") {
            // Each pair adds one item, typed by the items' schema.
            let item = scalar(schema, key, prop.and_then(|p| p.get("items")), value)?;
            if !repeated {
                args.insert(key.to_string(), Value::Array(Vec::new()));
            }
            if let Some(Value::Array(items)) = args.get_mut(key) {
                items.push(item);
            }
            continue;
        }
        if repeated {
            return Err(format!(
                "`{key}` is given twice (only array arguments take several values)"
            ));
        }
        args.insert(key.to_string(), scalar(schema, key, prop, value)?);
    }
    Ok(args)
}

/// Reads the JSON object of `-` or `--args-file`.
pub fn object_from(text: &str, source: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "{source}: the arguments must be a JSON object, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Null => "null",
                _ => "a scalar",
            }
        )),
        Err(e) => Err(format!("{source}: not JSON: {e}")),
    }
}

/// A progress sink writing each message to standard error as `tool: message`.
pub fn stderr_progress(tool: &str) -> ProgressSink {
    let tool = tool.to_string();
    std::sync::Arc::new(move |_value, _total, message| {
        eprintln!("{tool}: {message}");
        Box::pin(async {})
    })
}

/// Escapes the C1 control characters JSON text may carry unescaped (serde escapes C0 and
/// DEL is harmless there), so that `--json` output cannot drive a terminal either.
fn escape_c1(s: String) -> String {
    if !s.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) {
        return s;
    }
    s.chars()
        .map(|c| {
            if ('\u{80}'..='\u{9f}').contains(&c) {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// What to print for a result: its text blocks (markdown, or the JSON text of a generated tool)
/// on stdout, or with `json` its structured content, pretty, on stdout and any further text
/// blocks (notes) on stderr. An error result's text goes to stderr with status 1.
pub fn render(result: &CallToolResult, json: bool) -> Printed {
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    if result.is_error == Some(true) {
        return Printed {
            stdout: String::new(),
            stderr: texts.join("\n"),
            code: 1,
        };
    }
    if !json {
        return Printed {
            stdout: texts.join("\n\n"),
            stderr: String::new(),
            code: 0,
        };
    }
    let (stdout, notes) = match &result.structured_content {
        Some(v) => (
            escape_c1(serde_json::to_string_pretty(v).unwrap_or_default()),
            texts.get(1..).unwrap_or_default().join("\n"),
        ),
        // No structured content: the text is what there is (it is JSON for every tool that
        // has no markdown).
        None => (texts.join("\n"), String::new()),
    };
    Printed {
        stdout,
        stderr: notes,
        code: 0,
    }
}

/// Runs `tool` with the command-line arguments as `tools/call` would, progress on stderr.
pub async fn call(
    server: &VtServer,
    tool: &str,
    base: Option<Map<String, Value>>,
    pairs: &[String],
    json: bool,
) -> Printed {
    let schema = server
        .entries()
        .iter()
        .find(|e| e.name() == tool)
        .map(|e| e.schema().clone())
        .unwrap_or_default();
    let args = match arguments(&schema, base, pairs) {
        Ok(a) => a,
        Err(e) => return Printed::usage(format!("{tool}: {e}")),
    };
    let progress = Progress::new(stderr_progress(tool));
    match server.call_tool_with_progress(tool, args, progress).await {
        Ok(result) => render(&result, json),
        // What `tools/call` answers for a name it does not know: a usage error here.
        Err(e) => Printed::usage(format!("{} (`vtmcp tools` lists them)", e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Map<String, Value> {
        json!({"type": "object", "properties": {
            "file_hash": {"type": "string"},
            "limit": {"type": ["integer", "null"]},
            "ratio": {"type": "number"},
            "defang": {"type": "boolean"},
            "relationships": {"type": "array", "items": {"type": "string"}},
            "ids": {"type": "array", "items": {"type": "integer"}},
            "format": {"$ref": "#/$defs/Format"},
            "filter": {"type": "object"},
        }, "$defs": {"Format": {"type": "string", "enum": ["markdown", "json"]}}})
        .as_object()
        .unwrap()
        .clone()
    }

    fn parse(pairs: &[&str]) -> Result<Value, String> {
        let pairs: Vec<String> = pairs.iter().map(|s| s.to_string()).collect();
        arguments(&schema(), None, &pairs).map(Value::Object)
    }

    #[test]
    fn values_are_typed_by_the_schema_not_guessed() {
        assert_eq!(
            parse(&[
                "file_hash=123",
                "limit=5",
                "ratio=0.5",
                "defang=true",
                "format=json",
                "unknown=7"
            ])
            .unwrap(),
            json!({"file_hash": "123", "limit": 5, "ratio": 0.5, "defang": true, "format": "json", "unknown": "7"})
        );
        assert_eq!(
            parse(&["relationships=a", "relationships=b", "ids=1", "ids=2"]).unwrap(),
            json!({"relationships": ["a", "b"], "ids": [1, 2]})
        );
        assert_eq!(
            parse(&["filter:={\"a\":1}", "relationships:=[\"x\"]"]).unwrap(),
            json!({"filter": {"a": 1}, "relationships": ["x"]})
        );
        // A value with `=` in it keeps it.
        assert_eq!(
            parse(&["file_hash=a=b"]).unwrap(),
            json!({"file_hash": "a=b"})
        );
    }

    #[test]
    fn bad_pairs_are_usage_errors_that_say_what_to_write() {
        let e = parse(&["limit=five"]).unwrap_err();
        assert!(
            e.contains("`limit` takes an integer") && e.contains("five"),
            "{e}"
        );
        let e = parse(&["defang=yes"]).unwrap_err();
        assert!(e.contains("true or false"), "{e}");
        let e = parse(&["filter=x"]).unwrap_err();
        assert!(e.contains("filter:=<JSON>"), "{e}");
        assert!(parse(&["nonsense"]).unwrap_err().contains("key=value"));
        assert!(
            parse(&["limit=1", "limit=2"])
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse(&["x:=[1,"]).unwrap_err().contains("not JSON"));
        assert!(parse(&["=1"]).unwrap_err().contains("not an argument name"));
    }

    #[test]
    fn a_base_object_is_overridden_by_pairs() {
        let base = object_from(r#"{"file_hash": "a", "limit": 3}"#, "stdin").unwrap();
        let args = arguments(&schema(), Some(base), &["limit=4".to_string()]).unwrap();
        assert_eq!(Value::Object(args), json!({"file_hash": "a", "limit": 4}));
        assert!(
            object_from("[1]", "stdin")
                .unwrap_err()
                .contains("an array")
        );
        assert!(
            object_from("{", "f.json")
                .unwrap_err()
                .starts_with("f.json: not JSON")
        );
    }

    #[test]
    fn json_output_cannot_carry_terminal_controls() {
        let mut r = CallToolResult::success(vec![rmcp::model::ContentBlock::text("x")]);
        r.structured_content = Some(json!({"name": "a\u{9b}31mb\u{1b}"}));
        let p = render(&r, true);
        assert!(!p.stdout.contains('\u{9b}') && !p.stdout.contains('\u{1b}'));
        assert!(
            p.stdout.contains("\\u009b") && p.stdout.contains("\\u001b"),
            "{}",
            p.stdout
        );
    }
}
