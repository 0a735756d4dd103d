//! The tool catalog: one MCP tool per spec operation (from [`crate::ops::OPERATIONS`]) and the
//! rules that decide which tools a session sees (toolsets, allow-list, key tier, permissions).
//!
//! Which permission class an operation belongs to is decided once, in the spec
//! (`x-vt-permission`); the tier in `x-vt-tier`; tools are never guessed per call.

use crate::access::{Permission, Tier};
use crate::ops::{OPERATIONS, OperationMeta, ResponseKind};
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

/// The everyday-triage toolset: small on purpose (it is what most sessions load).
pub const DEFAULT_TOOLSET: &[&str] = &[
    "get_file_report",
    "get_url_report",
    "get_domain_report",
    "get_ip_report",
    "get_file_relationship",
    "get_url_relationship",
    "get_domain_relationship",
    "get_ip_relationship",
    "triage_iocs",
    "scan_url",
    "scan_file",
    "get_analysis",
    "search",
    "get_file_behaviour_summary",
    super::meta::FIND_OPERATIONS,
    super::meta::CALL_OPERATION,
];

// The selection (which tools a session lists) is plain configuration data.
pub use crate::config::{Permissions, Selection, TIERS, toolset_names};

/// What visibility depends on, for generated and composite tools alike.
#[derive(Debug, Clone, Copy)]
pub struct ToolMeta {
    /// Tool name.
    pub id: &'static str,
    /// Toolset.
    pub toolset: &'static str,
    /// Tier or licence needed.
    pub tier: Tier,
    /// What it does.
    pub permission: Permission,
}

impl From<&OperationMeta> for ToolMeta {
    fn from(op: &OperationMeta) -> ToolMeta {
        ToolMeta {
            id: op.id,
            toolset: op.toolset,
            tier: op.tier,
            permission: op.permission,
        }
    }
}

/// Why a known tool is not available in this session, and what enables it.
pub fn hidden_reason(op: &ToolMeta, sel: &Selection) -> Option<String> {
    let in_toolsets = sel.toolsets.contains("all")
        || sel.toolsets.contains(op.toolset)
        || (sel.toolsets.contains("default") && DEFAULT_TOOLSET.contains(&op.id))
        || sel.tools.contains(op.id);
    if !in_toolsets {
        return Some(format!(
            "tool `{}` is in the `{}` toolset, which is not enabled: start vtmcp with --toolsets {} (or VTMCP_TOOLSETS), or --tools {}",
            op.id, op.toolset, op.toolset, op.id
        ));
    }
    access_reason(op, sel).map(|r| r.why)
}

/// Why the key's tier or the granted permissions do not allow a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The whole message: what the tool needs and how to start vtmcp to allow it.
    pub why: String,
    /// The flag that allows it (`--tier premium`, `--allow-write`, …).
    pub flag: String,
}

/// Why the key's tier or the granted permissions do not allow a tool, whatever the toolsets
/// (what `call_operation` checks).
pub fn access_reason(op: &ToolMeta, sel: &Selection) -> Option<Refusal> {
    if !tier_allows(op.tier, &sel.tiers) {
        return Some(Refusal {
            why: format!(
                "tool `{}` needs a VirusTotal key with the `{}` tier or licence: if your key has it, start vtmcp with --tier {} (or VT_TIER)",
                op.id, op.tier, op.tier
            ),
            flag: format!("--tier {}", op.tier),
        });
    }
    match op.permission {
        Permission::Submit if !sel.permissions.submit => Some(Refusal {
            why: format!(
                "tool `{}` sends content to VirusTotal, where it becomes visible to others: start vtmcp with --allow-submit (or VTMCP_ALLOW_SUBMIT=1) to enable it",
                op.id
            ),
            flag: "--allow-submit".into(),
        }),
        Permission::Write if !sel.permissions.write => Some(Refusal {
            why: format!(
                "tool `{}` changes or deletes data in VirusTotal: start vtmcp with --allow-write (or VTMCP_ALLOW_WRITE=1) to enable it",
                op.id
            ),
            flag: "--allow-write".into(),
        }),
        _ => None,
    }
}

fn tier_allows(tier: Tier, tiers: &BTreeSet<Tier>) -> bool {
    tier == Tier::PUBLIC || tiers.contains(&tier)
}

/// The full input schema of an operation's tool (with examples), used for validation.
pub fn full_schema(op: &OperationMeta) -> Map<String, Value> {
    let mut schema: Map<String, Value> =
        serde_json::from_str(op.input_schema).expect("generated schema is JSON");
    if op.method == "GET" && op.response == ResponseKind::Json {
        schema["properties"].as_object_mut().expect("properties").insert(
            "fields".into(),
            json!({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 128}, "maxItems": 64,
                   "description": "Attributes to keep.", "example": ["last_analysis_stats", "names"]}),
        );
    }
    schema
}

/// Which restricted relationship names a key may use. The spec marks them on each
/// relationship enum: `x-vt-premium` (not with a public key) and `x-vt-gti` (only with a Google
/// Threat Intelligence licence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameAccess {
    /// The key is premium.
    pub premium: bool,
    /// The key has a GTI licence.
    pub gti: bool,
}

impl NameAccess {
    /// The access of a key with these tiers.
    pub fn of(tiers: &BTreeSet<Tier>) -> NameAccess {
        NameAccess {
            premium: tiers.contains(&Tier::PREMIUM),
            gti: tiers.contains(&Tier::GTI),
        }
    }

    /// Why `value` may not be used under `schema` (a relationship enum), if it may not: the
    /// flag that allows it.
    pub fn refusal(&self, schema: &Value, value: &Value) -> Option<&'static str> {
        let listed = |key: &str| {
            schema
                .get(key)
                .and_then(Value::as_array)
                .is_some_and(|names| names.contains(value))
        };
        if !self.gti && listed("x-vt-gti") {
            Some(
                "a Google Threat Intelligence licence; if your key has one, start vtmcp with --tier gti",
            )
        } else if !self.premium && listed("x-vt-premium") {
            Some(
                "a premium VirusTotal key; if your key is premium, start vtmcp with --tier premium",
            )
        } else {
            None
        }
    }

    /// Drops the names this key may not use from a listed enum (validation still refuses them
    /// with a hint) and the markers, here and in array items.
    pub fn list(&self, schema: &mut Value) {
        let Some(m) = schema.as_object_mut() else {
            return;
        };
        let premium = m.remove("x-vt-premium");
        let gti = m.remove("x-vt-gti");
        m.remove("x-vt-open");
        if let Some(Value::Array(e)) = m.get_mut("enum") {
            let hide = |names: &Option<Value>, allowed: bool, v: &Value| {
                !allowed
                    && names
                        .as_ref()
                        .and_then(Value::as_array)
                        .is_some_and(|n| n.contains(v))
            };
            e.retain(|v| !hide(&premium, self.premium, v) && !hide(&gti, self.gti, v));
        }
        if let Some(items) = m.get_mut("items") {
            self.list(items);
        }
    }
}

/// The MCP tool definition of an operation, listing the relationship names `access` allows.
pub fn tool_for(op: &'static OperationMeta, access: NameAccess) -> Tool {
    let mut schema = full_schema(op);
    compact_schema(&mut schema, op.id, access);
    // The descriptor variant takes the same names as its `_related_objects` sibling: list them
    // once (validation still uses the full enum).
    if let Some(sibling) = op
        .id
        .strip_suffix("_related_descriptors")
        .map(|p| format!("{p}_related_objects"))
        && OPERATIONS.iter().any(|o| o.id == sibling)
        && let Some(rel) = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut("relationship"))
            .and_then(Value::as_object_mut)
    {
        rel.remove("enum");
        rel.insert(
            "description".into(),
            json!(format!("Relationship name, as for {sibling}.")),
        );
    }
    // A listed tool is always within the key's tier (others are hidden), so the tier is not
    // repeated here; `vtmcp tools` and the snapshot show it.
    let mut description = op.description.to_string();
    // Writes are marked by the annotations; a submission also shares content, so it is said.
    if op.permission == Permission::Submit {
        description.push_str(" Sends content to VirusTotal.");
    }
    if op.response == ResponseKind::Bytes {
        description.push_str(" Saved under --download-dir; returns path, size, SHA-256.");
    }
    if op.deprecated {
        description.insert_str(0, "Deprecated. ");
    }
    Tool::new(op.id, description, Arc::new(schema))
        .with_title(op.summary)
        .with_annotations(annotations(op.method))
}

/// Annotations from the HTTP method: GET reads; DELETE destroys; PUT and DELETE are
/// idempotent. Hints whose value is MCP's default, or that MCP says mean nothing for the tool,
/// are left out to save context on every tools/list: `openWorldHint` (default true: every tool
/// reaches VirusTotal), and for read-only tools `destructiveHint` and `idempotentHint` (MCP
/// reads both only when `readOnlyHint` is false).
pub fn annotations(method: &str) -> ToolAnnotations {
    if method == "GET" {
        ToolAnnotations::new().read_only(true)
    } else {
        ToolAnnotations::new()
            .read_only(false)
            .idempotent(matches!(method, "PUT" | "DELETE"))
            .destructive(method == "DELETE")
    }
}

/// Drops what costs context without helping a model choose arguments (examples, descriptions
/// that repeat the bounds, nested descriptions, empty `required` lists). The full schema is
/// still used to validate and to word error messages.
///
/// Relationship enums list only the names the key may use ([`NameAccess::list`]).
fn compact_schema(schema: &mut Map<String, Value>, tool: &str, access: NameAccess) {
    if schema
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.is_empty())
    {
        schema.remove("required");
    }
    // Unknown arguments are still refused: validation uses the full schema.
    schema.remove("additionalProperties");
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, p) in props.iter_mut() {
            if let Some(m) = p.as_object_mut() {
                for k in ["example", "maxLength", "minLength", "maxItems"] {
                    m.remove(k);
                }
                if name == "limit" {
                    m.remove("default");
                }
                // Hash ids: the description names the format; validation keeps the pattern.
                if m.get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.starts_with("MD5, SHA-1 or SHA-256"))
                {
                    m.remove("pattern");
                }
                if name == "relationships" {
                    m.remove("pattern");
                    m.insert(
                        "description".into(),
                        json!("Comma-separated relationship names to embed as descriptors."),
                    );
                }
                if m.get("pattern")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.contains("(?!"))
                {
                    m.remove("pattern");
                }
                if matches!(name.as_str(), "limit" | "cursor") {
                    m.remove("description");
                }
                // A relationship enum speaks for itself (the instructions say newer names pass).
                if m.contains_key("x-vt-open") {
                    m.remove("description");
                }
                if m.get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| names_the_tool(d, tool))
                {
                    m.remove("description");
                }
            }
            access.list(p);
            strip_nested(p, 0);
        }
    }
}

/// Whether a description only says "the id of what the tool is named after" (`Graph id.` on
/// `get_graph`, `Hunting ruleset id.` on `list_hunting_ruleset_editors`): every word of it is
/// in the tool's name, so listing it costs context and tells nothing.
fn names_the_tool(description: &str, tool: &str) -> bool {
    let Some(object) = description.strip_suffix(" id.") else {
        return false;
    };
    let parts: Vec<&str> = tool.split('_').collect();
    let words: Vec<String> = object
        .split([' ', '-'])
        .map(str::to_ascii_lowercase)
        .collect();
    !words.is_empty()
        && words.iter().all(|w| {
            !w.is_empty()
                && w.chars().all(|c| c.is_ascii_lowercase())
                && parts
                    .iter()
                    .any(|p| *p == w || p.strip_suffix('s') == Some(w.as_str()))
        })
}

fn strip_nested(v: &mut Value, depth: usize) {
    if let Value::Object(m) = v {
        if depth > 0 {
            for k in ["example", "description", "minLength", "maxLength"] {
                m.remove(k);
            }
        }
        if m.get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.is_empty())
        {
            m.remove("required");
        }
        for key in ["properties"] {
            if let Some(Value::Object(props)) = m.get_mut(key) {
                for p in props.values_mut() {
                    strip_nested(p, depth + 1);
                }
            }
        }
        if let Some(items) = m.get_mut("items") {
            strip_nested(items, depth + 1);
        }
    }
}

/// One entry of the catalog: a generated tool (backed by an operation), a composite one, or one
/// of the two tools that reach every operation ([`super::meta`]).
///
/// The MCP definition and the validation schema are built on first use: a session lists a
/// dozen tools out of ~280, and parsing every schema at start-up would cost time and memory
/// for tools it never sees.
#[derive(Debug)]
pub struct Entry {
    /// The operation behind a generated tool.
    pub op: Option<&'static OperationMeta>,
    /// The composite behind a hand-written tool.
    pub composite: Option<&'static crate::reports::Composite>,
    /// Toolset, tier and permission.
    pub meta: ToolMeta,
    /// The operations tool behind `find_operations` or `call_operation`.
    pub operations_tool: Option<&'static super::meta::OperationsTool>,
    /// Why the tool is not listed in this session, if it is not.
    pub hidden: Option<String>,
    /// Why the key's tier or the granted permissions refuse it, whatever the toolsets (what
    /// `call_operation` checks).
    pub refused: Option<Refusal>,
    access: NameAccess,
    permissions: Permissions,
    tool: OnceLock<Tool>,
    schema: OnceLock<Arc<Map<String, Value>>>,
}

impl Entry {
    /// The tool's name.
    pub fn name(&self) -> &'static str {
        self.meta.id
    }

    /// The MCP tool definition (what tools/list shows).
    pub fn tool(&self) -> &Tool {
        self.tool.get_or_init(|| match (self.op, self.composite) {
            (Some(op), _) => tool_for(op, self.access),
            (None, Some(c)) => composite_tool(c, self.access),
            (None, None) => match self.operations_tool {
                Some(m) => m.tool(self.permissions),
                None => unreachable!("an entry is an operation, a composite or an operations tool"),
            },
        })
    }

    /// The schema arguments are validated against (the listed one is a compact copy).
    pub fn schema(&self) -> &Arc<Map<String, Value>> {
        self.schema.get_or_init(|| {
            Arc::new(match (self.op, self.composite) {
                (Some(op), _) => full_schema(op),
                (None, Some(c)) => c.input_schema(),
                (None, None) => match self.operations_tool {
                    Some(m) => m.input_schema(),
                    None => {
                        unreachable!("an entry is an operation, a composite or an operations tool")
                    }
                },
            })
        })
    }
}

/// Every tool, composite tools first, then `find_operations` and `call_operation`, with its
/// visibility under `sel`. Excluded operations are not tools.
pub fn entries(sel: &Selection) -> Vec<Entry> {
    let access = NameAccess::of(&sel.tiers);
    let entry = |op, composite, meta: ToolMeta| Entry {
        op,
        composite,
        operations_tool: None,
        hidden: hidden_reason(&meta, sel),
        refused: access_reason(&meta, sel),
        meta,
        access,
        permissions: sel.permissions,
        tool: OnceLock::new(),
        schema: OnceLock::new(),
    };
    let composites = crate::reports::COMPOSITES.iter().map(|c| {
        let meta = ToolMeta {
            id: c.name,
            toolset: crate::reports::TOOLSET,
            tier: c.tier,
            permission: c.permission,
        };
        entry(None, Some(c), meta)
    });
    let operations_tools = super::meta::OPERATIONS_TOOLS.iter().map(|m| Entry {
        operations_tool: Some(m),
        ..entry(None, None, m.meta())
    });
    let generated = OPERATIONS
        .iter()
        .filter(|op| op.excluded.is_none())
        .map(|op| entry(Some(op), None, ToolMeta::from(op)));
    composites
        .chain(operations_tools)
        .chain(generated)
        .collect()
}

/// The MCP tool of a composite: its schema as listed (relationship names shown once, on the
/// `get_*_relationship` tools; examples and length bounds left out) and its annotations.
fn composite_tool(c: &crate::reports::Composite, access: NameAccess) -> Tool {
    let mut schema = c.input_schema();
    schema.remove("additionalProperties");
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        if let Some(r) = props.get_mut("relationships") {
            // Validation still checks them against the full enum.
            let rel_tool = c.name.replace("_report", "_relationship");
            *r = json!({"type": "array", "items": {"type": "string"}, "description": format!("Relationships to show (as in {rel_tool}); default: a useful set.")});
        }
        for (name, p) in props.iter_mut() {
            access.list(p);
            if let Some(m) = p.as_object_mut() {
                for k in ["example", "maxLength", "minLength"] {
                    m.remove(k);
                }
                // As for generated tools: a page's size needs no default, and the description
                // names the hash formats.
                if name == "limit" {
                    m.remove("default");
                }
                if m.get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.starts_with("MD5, SHA-1 or SHA-256"))
                {
                    m.remove("pattern");
                }
            }
            strip_nested(p, 0);
        }
    }
    if schema
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.is_empty())
    {
        schema.remove("required");
    }
    let mut t = Tool::new(c.name, c.description, Arc::new(schema))
        .with_title(c.title)
        .with_annotations(if c.permission == Permission::Read {
            // As for generated tools: MCP's defaults are left out (see annotations).
            ToolAnnotations::new().read_only(true)
        } else {
            ToolAnnotations::new().read_only(false).destructive(false)
        });
    if let Some(o) = c.output_schema() {
        t = t.with_raw_output_schema(Arc::new(o));
    }
    t
}
