//! `find_operations` and `call_operation`: every operation of the spec from the `default`
//! toolset, at the context cost of two tools.
//!
//! * `find_operations(query, toolset?, limit?)` ranks the operations ([`rank`]) and returns the
//!   best ones with the input schema their own tool lists, their tier and permission, and
//!   whether this server may run them (if not, the flag that allows it). It sends nothing.
//! * `call_operation(operation, arguments)` runs an operation through the very path its own
//!   tool takes (`VtServer::dispatch` unwraps it, then the same `run`): same validation,
//!   tier and permission checks, budget, `fields`, binary handling, `cache`, errors and
//!   progress. Toolsets do not matter there (that is the point), the key's tier and the granted
//!   permissions do: `call_operation` is listed for everyone and refuses per call.

pub mod rank;

use super::catalog::{Entry, ToolMeta};
use crate::access::{Permission, Tier};
use crate::ops::OPERATIONS;
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The name of the tool that searches the operations.
pub const FIND_OPERATIONS: &str = crate::config::OPERATIONS_TOOLS[0];
/// The name of the tool that runs one.
pub const CALL_OPERATION: &str = crate::config::OPERATIONS_TOOLS[1];

/// Results `find_operations` returns by default, and at most.
pub const DEFAULT_LIMIT: usize = 5;
/// The most results one `find_operations` call returns.
pub const MAX_LIMIT: usize = 20;

/// Which of the two tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `find_operations`.
    Find,
    /// `call_operation`.
    Call,
}

/// One of the two operations tools.
#[derive(Debug)]
pub struct OperationsTool {
    /// Tool name.
    pub name: &'static str,
    /// Which one.
    pub kind: Kind,
    title: &'static str,
    description: &'static str,
}

/// Both tools, in listing order.
pub static OPERATIONS_TOOLS: [OperationsTool; 2] = [
    OperationsTool {
        name: FIND_OPERATIONS,
        kind: Kind::Find,
        title: "Find API operations",
        description: "Search every VirusTotal API operation, listed or not, by task; gives each one's input schema and whether it may run here. Then call_operation.",
    },
    OperationsTool {
        name: CALL_OPERATION,
        kind: Kind::Call,
        title: "Call an API operation",
        description: "Run an operation from find_operations with arguments per its schema; answers as its own tool would.",
    },
];

impl OperationsTool {
    /// Toolset, tier and permission: in `default`, for every key; `call_operation` is a read for
    /// listing, each call is checked against the operation it runs.
    pub fn meta(&self) -> ToolMeta {
        ToolMeta {
            id: self.name,
            toolset: "default",
            tier: Tier::PUBLIC,
            permission: Permission::Read,
        }
    }

    /// The schema arguments are validated against (with bounds and examples).
    pub fn input_schema(&self) -> Map<String, Value> {
        let schema = match self.kind {
            Kind::Find => json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1, "maxLength": 500,
                        "example": "list the YARA rules of a crowdsourced ruleset"},
                    "toolset": {"type": "string", "enum": spec_toolsets(),
                        "description": "Search one toolset only."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
            Kind::Call => json!({
                "type": "object",
                "properties": {
                    "operation": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 64,
                        "example": "list_yara_rules"},
                    "arguments": {"type": "object"}
                },
                "required": ["operation"],
                "additionalProperties": false
            }),
        };
        match schema {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The MCP tool as listed: no examples, bounds on strings or toolset enum (validation keeps
    /// them). `call_operation`'s annotations follow what the session allows: read-only without
    /// `--allow-submit` and `--allow-write`, destructive with `--allow-write`.
    pub fn tool(&self, permissions: crate::config::Permissions) -> Tool {
        let mut schema = self.input_schema();
        schema.remove("additionalProperties");
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            for p in props.values_mut().filter_map(Value::as_object_mut) {
                for k in ["example", "maxLength", "minLength", "pattern", "default"] {
                    p.remove(k);
                }
                // The server's instructions name the toolsets; validation keeps the enum.
                if p.contains_key("description") {
                    p.remove("enum");
                }
            }
        }
        let annotations = match self.kind {
            // `idempotentHint` is left at MCP's default (false).
            Kind::Call if permissions.write => {
                ToolAnnotations::new().read_only(false).destructive(true)
            }
            Kind::Call if permissions.submit => {
                ToolAnnotations::new().read_only(false).destructive(false)
            }
            _ => ToolAnnotations::new().read_only(true),
        };
        Tool::new(self.name, self.description, Arc::new(schema))
            .with_title(self.title)
            .with_annotations(annotations)
    }
}

/// The spec's tags that hold at least one tool (what `find_operations` may be narrowed to).
pub fn spec_toolsets() -> Vec<&'static str> {
    let mut t: Vec<&str> = OPERATIONS
        .iter()
        .filter(|o| o.excluded.is_none())
        .map(|o| o.toolset)
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// What a `call_operation` call asks for, its own arguments checked.
#[derive(Debug)]
pub struct CallRequest {
    /// The operation's name.
    pub operation: String,
    /// Its arguments (`cache` included when given beside them).
    pub arguments: Map<String, Value>,
}

/// Reads `call_operation`'s arguments (already validated against its schema, `cache` taken
/// off first): a `cache` given beside `arguments` goes into them unless they have their own,
/// so that the operation's own checks judge it.
pub fn call_request(mut args: Map<String, Value>, cache: Option<Value>) -> CallRequest {
    let operation = args
        .remove("operation")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut arguments = match args.remove("arguments") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(cache) = cache {
        arguments.entry("cache").or_insert(cache);
    }
    CallRequest {
        operation,
        arguments,
    }
}

/// The message for an operation `call_operation` does not know: the closest names, and
/// `find_operations`.
pub fn unknown_operation(name: &str) -> String {
    if let Some(why) = OPERATIONS
        .iter()
        .find(|o| o.id == name)
        .and_then(|o| o.excluded)
    {
        return format!(
            "{CALL_OPERATION}: `{name}` is not available through vtmcp: {why}. Nothing was sent to VirusTotal."
        );
    }
    if crate::reports::Composite::find(name).is_some()
        || OPERATIONS_TOOLS.iter().any(|t| t.name == name)
    {
        return format!(
            "{CALL_OPERATION}: `{name}` is a tool of its own, not a spec operation: call it directly (if it is not listed, start vtmcp with --tools {name}). Nothing was sent to VirusTotal."
        );
    }
    let query = name.replace('_', " ");
    let closest: Vec<String> = rank::index()
        .search(&query, None, 3)
        .into_iter()
        .map(|(op, _)| format!("`{}`", op.id))
        .collect();
    let mut msg = format!("{CALL_OPERATION}: unknown operation `{name}`.");
    if !closest.is_empty() {
        msg.push_str(&format!(" Closest: {}.", closest.join(", ")));
    }
    msg.push_str(&format!(
        " {FIND_OPERATIONS} finds operations by what they do. Nothing was sent to VirusTotal."
    ));
    msg
}

/// `find_operations`' answer for validated arguments: the best matches, each with what its
/// tool lists and whether this session may run it. `entry` looks an operation's catalog entry
/// up in the session's current view.
pub fn find<'a>(args: &Map<String, Value>, entry: impl Fn(&str) -> Option<&'a Entry>) -> Value {
    let query = args
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let toolset = args.get("toolset").and_then(Value::as_str);
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_LIMIT, |l| (l as usize).clamp(1, MAX_LIMIT));
    let hits: Vec<Value> = rank::index()
        .search(query, toolset, limit)
        .into_iter()
        .filter_map(|(op, _)| {
            let e = entry(op.id)?;
            let tool = e.tool();
            let mut hit = json!({
                "name": op.id,
                "description": tool.description,
                "tier": op.tier,
                "permission": op.permission,
                "input_schema": Value::Object((*tool.input_schema).clone()),
            });
            match &e.refused {
                None => hit["available"] = json!(true),
                Some(r) => {
                    hit["available"] = json!(false);
                    hit["enable_with"] = json!(r.flag);
                }
            }
            Some(hit)
        })
        .collect();
    let mut out = json!({ "operations": hits });
    if hits_empty(&out) {
        out["hint"] = json!(
            "No operation matched: try other words (the object, e.g. file, URL, domain, IP, collection, ruleset, and the action)."
        );
    } else {
        out["next"] = json!(
            "call_operation with {\"operation\": name, \"arguments\": {…}}; an operation that is not available says which flag enables it."
        );
    }
    out
}

fn hits_empty(v: &Value) -> bool {
    v["operations"].as_array().is_none_or(Vec::is_empty)
}
