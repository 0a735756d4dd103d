//! Hand-written composite tools: the analyst's everyday triage.
//!
//! * `get_file_report`, `get_url_report`, `get_domain_report`, `get_ip_report`: verdict first,
//!   then identity, dates, reputation, tags, classification, highlights and relationships. Summary
//!   depth costs exactly one upstream request (relationship descriptors embedded); full depth
//!   fetches the related objects of each relationship in parallel.
//! * `get_*_relationship`: one page of related objects, with the cursor of the next page.
//! * `scan_url`, `scan_file` (submit class): submit, optionally wait with progress, then report.
//! * threat actors, malware families and campaigns: collections filtered by `collection_type`
//!   (the legacy `/threat_actors` endpoint when collections are not available to the key).
//! * `triage_iocs`: many indicators, one compact verdict table, quota-aware.
//!
//! Reports are markdown by default (`format: "json"` puts the same JSON in the text) and always
//! carry the JSON as `structuredContent`.

pub mod model;
pub mod objects;
mod relationships;
mod scan;
mod threats;
mod triage;

use crate::access::{Permission, Tier};
use crate::mcp::catalog;
use crate::mcp::output::{error_result, json_result};
use crate::{Client, Error};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolResult, ContentBlock, ProgressNotificationParam, ProgressToken, Tool, ToolAnnotations,
};
use rmcp::service::Peer;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Report depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// One request: the object with relationship descriptors.
    Summary,
    /// Also the related objects, in parallel.
    Full,
}

impl Depth {
    /// `summary` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Depth::Summary => "summary",
            Depth::Full => "full",
        }
    }
}

/// Sends `notifications/progress` when the client asked for them (a progress token).
///
/// MCP requires the progress value to increase with every notification of a request. Clones
/// share the last value sent, so a call's own steps and the waits reported beside them (rate
/// limit, retries, analysis polls) form one increasing sequence: a value that would not
/// increase is sent as a small step above the last one.
#[derive(Clone, Default)]
pub struct Progress {
    target: Option<(Peer<RoleServer>, ProgressToken)>,
    last: Arc<tokio::sync::Mutex<Option<f64>>>,
}

impl Progress {
    /// Progress reports to `peer` under `token`.
    pub fn new(peer: Peer<RoleServer>, token: Option<ProgressToken>) -> Progress {
        Progress {
            target: token.map(|t| (peer, t)),
            last: Arc::default(),
        }
    }

    /// Whether notifications are sent (the client asked for them with a progress token).
    pub fn is_reporting(&self) -> bool {
        self.target.is_some()
    }

    /// The last value sent (0 before the first notification).
    pub async fn current(&self) -> f64 {
        self.last.lock().await.unwrap_or(0.0)
    }

    /// Reports progress (ignored without a token).
    pub async fn report(&self, progress: f64, total: Option<f64>, message: String) {
        let Some((peer, token)) = &self.target else {
            return;
        };
        // Held while sending, so notifications leave in the order of their values.
        let mut last = self.last.lock().await;
        let value = match *last {
            Some(l) if progress <= l => l + 0.001,
            _ => progress,
        };
        *last = Some(value);
        let mut p = ProgressNotificationParam::new(token.clone(), value);
        p.total = total.filter(|t| *t >= value);
        p.message = Some(message);
        let _ = peer.notify_progress(p).await;
    }
}

/// What a composite tool runs with.
#[derive(Clone)]
pub struct Ctx {
    /// The typed client.
    pub client: Client,
    /// Whether the key is premium.
    pub premium: bool,
    /// Whether submissions are allowed (for next-step hints).
    pub allow_submit: bool,
    /// Progress notifications of this call.
    pub progress: Progress,
    /// Output budget in characters.
    pub budget_chars: usize,
    /// First delay between analysis polls (doubles up to 8×).
    pub poll_interval: std::time::Duration,
    /// The directories `scan_file` may upload from.
    pub uploads: std::sync::Arc<crate::upload_dirs::UploadDirs>,
}

/// A composite tool's static description.
#[derive(Debug, Clone, Copy)]
pub struct Composite {
    /// Tool name.
    pub name: &'static str,
    /// Title.
    pub title: &'static str,
    /// Description.
    pub description: &'static str,
    /// What it does (read or submit).
    pub permission: Permission,
    /// Tier needed.
    pub tier: Tier,
    /// The operations it may call (operation ids of the spec): `vtmcp tools --json` lists their
    /// methods and paths, COVERAGE.md shows them, and a test checks each one exists.
    pub calls: &'static [&'static str],
}

impl Composite {
    /// Looks a composite tool up by name.
    pub fn find(name: &str) -> Option<&'static Composite> {
        COMPOSITES.iter().find(|c| c.name == name)
    }
}

/// Every composite tool, in listing order.
pub const COMPOSITES: &[Composite] = &[
    Composite {
        name: "get_file_report",
        title: "File report",
        description: "Verdict, identity, dates, reputation, threat label, sandbox/YARA/Sigma/IDS highlights and relationships of a file, by MD5, SHA-1 or SHA-256. Summary depth costs one request.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_file", "list_file_related_objects"],
    },
    Composite {
        name: "get_url_report",
        title: "URL report",
        description: "Verdict, final URL, title, HTTP code, categories and relationships of a URL. Never submits an unknown URL.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_url", "list_url_related_objects"],
    },
    Composite {
        name: "get_domain_report",
        title: "Domain report",
        description: "Verdict, registrar, dates, DNS, certificate, categories, popularity and relationships of a domain.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_domain", "list_domain_related_objects"],
    },
    Composite {
        name: "get_ip_report",
        title: "IP address report",
        description: "Verdict, ASN, owner, country, network, certificate and relationships of an IPv4 or IPv6 address.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_ip_address", "list_ip_address_related_objects"],
    },
    Composite {
        name: "get_file_relationship",
        title: "File relationship",
        description: "One page of objects related to a file; pass the returned cursor for the next page.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["list_file_related_objects"],
    },
    Composite {
        name: "get_url_relationship",
        title: "URL relationship",
        description: "One page of objects related to a URL; pass the returned cursor for the next page.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["list_url_related_objects"],
    },
    Composite {
        name: "get_domain_relationship",
        title: "Domain relationship",
        description: "One page of objects related to a domain; pass the returned cursor for the next page.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["list_domain_related_objects"],
    },
    Composite {
        name: "get_ip_relationship",
        title: "IP relationship",
        description: "One page of objects related to an IP address; pass the returned cursor for the next page.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["list_ip_address_related_objects"],
    },
    Composite {
        name: "triage_iocs",
        title: "Triage indicators",
        description: "Verdicts for a list of hashes, URLs, domains and IPs (types detected, duplicates merged) in one table; states the requests it will spend and stops cleanly at the quota.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_file", "get_url", "get_domain", "get_ip_address"],
    },
    Composite {
        name: "scan_url",
        title: "Scan a URL",
        description: "Submits a URL to VirusTotal (shared with its community), optionally waits for the analysis with progress, and returns the URL report.",
        permission: Permission::Submit,
        tier: Tier::PUBLIC,
        calls: &["submit_url", "get_analysis", "get_url"],
    },
    Composite {
        name: "scan_file",
        title: "Scan a local file",
        description: "Uploads a local file to VirusTotal (shared with its community) unless it is already known, optionally waits with progress, and returns the file report.",
        permission: Permission::Submit,
        tier: Tier::PUBLIC,
        calls: &[
            "get_file",
            "get_file_upload_url",
            "upload_file",
            "get_analysis",
        ],
    },
    Composite {
        name: "get_threat_actor",
        title: "Threat actor",
        description: "A threat actor profile by collection id or name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &[
            "get_collection",
            "list_collections",
            "get_legacy_threat_actor",
        ],
    },
    Composite {
        name: "list_threat_actors",
        title: "List threat actors",
        description: "Threat actors, optionally filtered by name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["list_collections", "list_legacy_threat_actors"],
    },
    Composite {
        name: "get_malware_family",
        title: "Malware family",
        description: "A malware family profile by collection id or name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["get_collection", "list_collections"],
    },
    Composite {
        name: "list_malware_families",
        title: "List malware families",
        description: "Malware families, optionally filtered by name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["list_collections"],
    },
    Composite {
        name: "get_campaign",
        title: "Campaign",
        description: "A campaign profile by collection id or name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["get_collection", "list_collections"],
    },
    Composite {
        name: "list_campaigns",
        title: "List campaigns",
        description: "Campaigns, optionally filtered by name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["list_collections"],
    },
];

/// The toolset of the composite tools.
pub const TOOLSET: &str = "reports";

/// The relationship names of an object type (from the spec) as a string schema that carries
/// the same markers as the generated tools' schemas (`x-vt-premium`, `x-vt-gti`, `x-vt-open`).
fn rel_schema(op: &str) -> Value {
    let meta = crate::ops::OperationMeta::find(op).expect("relationship operation exists");
    let schema = catalog::full_schema(meta);
    let rel = &schema["properties"]["relationship"];
    let mut s = json!({"type": "string", "enum": rel["enum"].clone()});
    for key in ["x-vt-premium", "x-vt-gti", "x-vt-open"] {
        if let Some(p) = rel.get(key) {
            s[key] = p.clone();
        }
    }
    s
}

/// Arguments each kind of object takes, as in the original server.
pub(crate) fn id_arg(tool: &str) -> (&'static str, Value) {
    match tool {
        t if t.starts_with("get_file_") => (
            "file_hash",
            json!({"type": "string", "description": "MD5, SHA-1 or SHA-256.", "pattern": "^\\s*([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})\\s*$", "example": "44d88612fea8a8f36de82e1278abb02f"}),
        ),
        t if t.starts_with("get_url_") => (
            "url",
            json!({"type": "string", "description": "The URL (http or https).", "minLength": 1, "maxLength": 8192, "example": "https://example.com/login"}),
        ),
        t if t.starts_with("get_domain_") => (
            "domain",
            json!({"type": "string", "description": "Domain name (IDN accepted).", "minLength": 1, "maxLength": 253, "example": "example.com"}),
        ),
        _ => (
            "ip",
            json!({"type": "string", "description": "IPv4 or IPv6 address.", "minLength": 2, "maxLength": 45, "example": "8.8.8.8"}),
        ),
    }
}

fn related_op(tool: &str) -> &'static str {
    match tool {
        t if t.starts_with("get_file_") => "list_file_related_objects",
        t if t.starts_with("get_url_") => "list_url_related_objects",
        t if t.starts_with("get_domain_") => "list_domain_related_objects",
        _ => "list_ip_address_related_objects",
    }
}

/// The full input schema of a composite tool (validation uses it; listing drops examples and,
/// for a public key, premium-only relationship names).
pub fn input_schema(c: &Composite) -> Map<String, Value> {
    let depth = json!({"type": "string", "enum": ["summary", "full"], "description": "summary: one request; full: also the related objects' verdicts (more requests). Default: summary for a public key, full for premium."});
    let format = json!({"type": "string", "enum": ["markdown", "json"], "default": "markdown"});
    let limit = json!({"type": "integer", "minimum": 1, "maximum": 40, "default": 10});
    let cursor = json!({"type": "string", "minLength": 1, "maxLength": 4096});
    let mut props = Map::new();
    let mut required = vec![];
    match c.name {
        n if n.ends_with("_report") => {
            let (arg, schema) = id_arg(n);
            props.insert(arg.into(), schema);
            required.push(arg);
            props.insert("relationships".into(), json!({"type": "array", "items": rel_schema(related_op(n)), "maxItems": 10, "description": "Relationships to show (default: a useful set for the key)."}));
            props.insert("depth".into(), depth);
            props.insert("format".into(), format);
        }
        n if n.ends_with("_relationship") => {
            let (arg, schema) = id_arg(n);
            props.insert(arg.into(), schema);
            props.insert("relationship".into(), rel_schema(related_op(n)));
            props.insert("limit".into(), limit);
            props.insert("cursor".into(), cursor);
            props.insert("format".into(), format);
            required.extend([arg, "relationship"]);
        }
        "triage_iocs" => {
            props.insert("iocs".into(), json!({"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 8192}, "description": "Hashes, URLs, domains and IPs, mixed.", "example": ["44d88612fea8a8f36de82e1278abb02f", "example.com", "8.8.8.8"]}));
            props.insert("format".into(), format);
            required.push("iocs");
        }
        "scan_url" => {
            props.insert("url".into(), id_arg("get_url_").1);
            props.insert("wait".into(), json!({"type": "boolean", "default": true, "description": "Wait for the analysis and return the report."}));
            props.insert(
                "timeout_seconds".into(),
                json!({"type": "integer", "minimum": 10, "maximum": 900, "default": 180}),
            );
            props.insert("format".into(), format);
            required.push("url");
        }
        "scan_file" => {
            props.insert("path".into(), json!({"type": "string", "minLength": 1, "maxLength": 4096, "description": "Path of a file in an --upload-dir directory (up to 650 MB).", "example": "samples/sample.exe"}));
            props.insert("password".into(), json!({"type": "string", "maxLength": 256, "description": "Password of an encrypted ZIP to unpack."}));
            props.insert("wait".into(), json!({"type": "boolean", "default": true}));
            props.insert(
                "timeout_seconds".into(),
                json!({"type": "integer", "minimum": 10, "maximum": 1800, "default": 300}),
            );
            props.insert("format".into(), format);
            required.push("path");
        }
        n if n.starts_with("get_") => {
            props.insert("id".into(), json!({"type": "string", "minLength": 1, "maxLength": 256, "description": "Collection id or name.", "example": "APT28"}));
            required.push("id");
        }
        _ => {
            props.insert("name".into(), json!({"type": "string", "minLength": 1, "maxLength": 128, "description": "Only those whose name matches."}));
            props.insert("limit".into(), limit);
            props.insert("cursor".into(), cursor);
        }
    }
    let mut m = Map::new();
    m.insert("type".into(), json!("object"));
    m.insert("properties".into(), Value::Object(props));
    m.insert("required".into(), json!(required));
    m.insert("additionalProperties".into(), json!(false));
    m
}

fn output_schema(c: &Composite) -> Option<Map<String, Value>> {
    if !c.name.ends_with("_report") {
        return None;
    }
    // The key members; the rest (identity, dates, highlights …) are arrays of labelled values.
    let v = json!({"type": "object", "required": ["kind", "id", "found", "requests", "depth"], "properties": {
        "kind": {"type": "string"}, "id": {"type": "string"}, "found": {"type": "boolean"},
        "verdict": {"type": "object"}, "relationships": {"type": "array"},
        "requests": {"type": "integer"}, "depth": {"type": "string"}}});
    v.as_object().cloned()
}

/// The MCP tool of a composite.
pub fn tool(c: &Composite, access: catalog::NameAccess) -> Tool {
    let mut schema = input_schema(c);
    schema.remove("additionalProperties");
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        if let Some(r) = props.get_mut("relationships") {
            // The names are listed once, on the matching get_*_relationship tool; validation
            // still checks them against the full enum.
            let rel_tool = c.name.replace("_report", "_relationship");
            *r = json!({"type": "array", "items": {"type": "string"}, "description": format!("Relationship names to show (those of {rel_tool}); default: a useful set for the key.")});
        }
        for p in props.values_mut() {
            access.list(p);
            if let Some(m) = p.as_object_mut() {
                for k in ["example", "maxLength", "minLength"] {
                    m.remove(k);
                }
            }
        }
    }
    let mut t = Tool::new(c.name, c.description, Arc::new(schema))
        .with_title(c.title)
        .with_annotations(if c.permission == Permission::Read {
            // As for generated tools: MCP's defaults are left out (see catalog::annotations).
            ToolAnnotations::new().read_only(true)
        } else {
            ToolAnnotations::new().read_only(false).destructive(false)
        });
    if let Some(o) = output_schema(c) {
        t = t.with_raw_output_schema(Arc::new(o));
    }
    t
}

/// A short reason for a failed part of a report.
pub fn short_error(e: &Error) -> String {
    crate::error::advice::summary(e)
}

fn arg_str<'a>(args: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    args.get(k).and_then(Value::as_str)
}

/// Renders a report in the requested format.
pub fn report_result(r: &model::Report, format: &str, budget: usize) -> CallToolResult {
    let v = serde_json::to_value(r).unwrap_or_default();
    if format == "json" {
        return json_result(v, budget);
    }
    let text = model::markdown(r);
    let mut res = CallToolResult::success(vec![ContentBlock::text(text)]);
    res.structured_content = Some(v);
    res
}

/// Runs a composite tool with validated arguments.
pub async fn run(ctx: &Ctx, name: &str, args: &Map<String, Value>) -> CallToolResult {
    let format = arg_str(args, "format").unwrap_or("markdown");
    let depth = match arg_str(args, "depth") {
        Some("full") => Depth::Full,
        Some("summary") => Depth::Summary,
        _ if ctx.premium => Depth::Full,
        _ => Depth::Summary,
    };
    let result = match name {
        "get_file_report" | "get_url_report" | "get_domain_report" | "get_ip_report" => {
            let rels: Option<Vec<String>> = args
                .get("relationships")
                .and_then(|v| serde_json::from_value(v.clone()).ok());
            return relationships::object_report(ctx, name, args, rels, depth, format).await;
        }
        "get_file_relationship"
        | "get_url_relationship"
        | "get_domain_relationship"
        | "get_ip_relationship" => {
            return relationships::relationship_page(ctx, name, args, format).await;
        }
        "triage_iocs" => return triage::triage(ctx, args, format).await,
        "scan_url" | "scan_file" => return scan::scan(ctx, name, args, format).await,
        _ => threats::run(ctx, name, args).await,
    };
    result.unwrap_or_else(|e| error_result(crate::mcp::output::describe_error(name, &e)))
}
