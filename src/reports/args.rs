//! The arguments of the composite tools, as Rust types. Their JSON Schemas (the tools'
//! `inputSchema`) are derived with schemars ([`schema_of`]); the MCP layer validates arguments
//! against that schema before a tool runs (so messages name the argument and give the example),
//! then they are deserialised into these types.
//!
//! Conventions the derived schemas keep, because the validator and the listing rely on them:
//! * `example` (singular, OpenAPI style) is added with `extend("example" = …)`: the validator
//!   quotes it in its messages and the listing drops it;
//! * integer bounds come from `range`, string and array bounds from `length`;
//! * relationship names are not Rust enums: they come from the spec (the relationship operation
//!   of each object kind) and are filled in by [`Arguments::complete`].

// A doc comment here becomes the JSON Schema description a tool lists: some fields and enums
// are left without one on purpose (tokens, or a plain comment saying why), so the crate-wide
// `missing_docs` lint does not apply to this module.
#![allow(missing_docs)]

use super::objects::{self, Kind};
use crate::client::ids;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A composite tool's argument type.
pub trait Arguments: DeserializeOwned + JsonSchema + Send + 'static {
    /// Adds to the derived schema what only the spec knows (relationship names). Default:
    /// nothing.
    fn complete(_schema: &mut Map<String, Value>) {}
}

/// The input schema of `A`: the schemars schema, inlined, without nulls for optional members,
/// without `$schema`, titles and integer formats, closed to unknown members, completed by
/// [`Arguments::complete`].
pub fn schema_of<A: Arguments>() -> Map<String, Value> {
    let generator = schemars::generate::SchemaSettings::draft07()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<A>().to_value();
    tidy(&mut schema);
    let mut m = match schema {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    // The struct's doc comment is for Rust readers; the tool's description says it to models.
    m.remove("description");
    m.insert("additionalProperties".into(), json!(false));
    if !m.contains_key("required") {
        m.insert("required".into(), json!([]));
    }
    A::complete(&mut m);
    m
}

/// Removes what the derived schema has and the hand-written ones never had: titles, integer
/// formats, and `null` as a value of optional members (leaving a member out is how a caller
/// says "none"; the validator would otherwise have to accept `null` everywhere).
fn tidy(v: &mut Value) {
    if let Value::Object(m) = v {
        m.remove("title");
        if let Some(Value::Array(types)) = m.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let only = types.remove(0);
                m.insert("type".into(), only);
            }
        }
        if let Some(Value::Array(any)) = m.get("anyOf") {
            let rest: Vec<Value> = any
                .iter()
                .filter(|s| s.get("type") != Some(&json!("null")))
                .cloned()
                .collect();
            if let [Value::Object(only)] = rest.as_slice() {
                let only = only.clone();
                m.remove("anyOf");
                for (k, v) in only {
                    m.entry(k).or_insert(v);
                }
            }
        }
        // An enum whose variants have doc comments: `oneOf` of constants → a plain string enum.
        if let Some(Value::Array(one_of)) = m.get("oneOf")
            && let Some(values) = one_of
                .iter()
                .map(|v| v.get("const").cloned())
                .collect::<Option<Vec<Value>>>()
        {
            m.remove("oneOf");
            m.insert("type".into(), json!("string"));
            m.insert("enum".into(), Value::Array(values));
        }
        if let Some(Value::Array(e)) = m.get_mut("enum") {
            e.retain(|x| !x.is_null());
        }
        if m.get("type") == Some(&json!("integer")) {
            m.remove("format");
        }
        // Subschemas: each property (not the map of them, whose keys are argument names), items.
        if let Some(Value::Object(props)) = m.get_mut("properties") {
            props.values_mut().for_each(tidy);
        }
        if let Some(items) = m.get_mut("items") {
            tidy(items);
        }
    }
}

// Report format. (A plain comment: a doc comment would become the schema's description of
// every `format` argument, which the tools have never carried.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Markdown text, with the JSON as structured content.
    #[default]
    Markdown,
    /// The JSON as text too.
    Json,
}

// Format of the object reports and triage: `stix` gives a STIX 2.1 bundle as the text (the
// structured content stays the report's JSON). A plain comment for the same reason as above.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Markdown text, with the JSON as structured content.
    #[default]
    Markdown,
    /// The JSON as text too.
    Json,
    /// A STIX 2.1 bundle as text, with the JSON as structured content.
    Stix,
}

impl ExportFormat {
    /// The plain format, or `None` for STIX.
    pub fn plain(self) -> Option<Format> {
        match self {
            ExportFormat::Markdown => Some(Format::Markdown),
            ExportFormat::Json => Some(Format::Json),
            ExportFormat::Stix => None,
        }
    }
}

/// Report depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
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

/// The object argument of a report or relationship tool: one per kind of object, each with
/// the argument name the original server used.
pub trait Object: DeserializeOwned + JsonSchema + Send + 'static {
    /// The kind of object.
    const KIND: &'static Kind;
    /// The argument's name.
    const ARG: &'static str;
    /// A valid value: the schema's `example`, quoted in error messages.
    const EXAMPLE: &'static str;
    /// The value given.
    fn raw(&self) -> &str;
    /// Checks and normalises a value: (id for the VirusTotal path, id to show), or what is
    /// wrong with it.
    fn check(raw: &str) -> Result<(String, String), String>;
}

/// A file, by hash.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FileArg {
    /// MD5, SHA-1 or SHA-256.
    #[schemars(
        regex(pattern = r"^\s*([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})\s*$"),
        extend("example" = <FileArg as Object>::EXAMPLE)
    )]
    pub file_hash: String,
}

/// A URL.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UrlArg {
    /// The URL (http or https).
    #[schemars(length(min = 1, max = 8192), extend("example" = <UrlArg as Object>::EXAMPLE))]
    pub url: String,
}

/// A domain.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DomainArg {
    /// Domain name (IDN accepted).
    #[schemars(length(min = 1, max = 253), extend("example" = <DomainArg as Object>::EXAMPLE))]
    pub domain: String,
}

/// An IP address.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct IpArg {
    /// IPv4 or IPv6 address.
    #[schemars(length(min = 2, max = 45), extend("example" = <IpArg as Object>::EXAMPLE))]
    pub ip: String,
}

impl Object for FileArg {
    const KIND: &'static Kind = &objects::FILE;
    const EXAMPLE: &'static str = "44d88612fea8a8f36de82e1278abb02f";
    const ARG: &'static str = "file_hash";
    fn raw(&self) -> &str {
        &self.file_hash
    }
    fn check(raw: &str) -> Result<(String, String), String> {
        match ids::hash_kind(raw) {
            Some(_) => Ok((raw.to_ascii_lowercase(), raw.to_ascii_lowercase())),
            None => Err("must be an MD5 (32), SHA-1 (40) or SHA-256 (64) hex digest".into()),
        }
    }
}

impl Object for UrlArg {
    const KIND: &'static Kind = &objects::URL;
    const EXAMPLE: &'static str = "https://example.com/login";
    const ARG: &'static str = "url";
    fn raw(&self) -> &str {
        &self.url
    }
    fn check(raw: &str) -> Result<(String, String), String> {
        ids::check_url(raw).map(|_| (ids::url_id(raw), raw.to_string()))
    }
}

impl Object for DomainArg {
    const KIND: &'static Kind = &objects::DOMAIN;
    const EXAMPLE: &'static str = "example.com";
    const ARG: &'static str = "domain";
    fn raw(&self) -> &str {
        &self.domain
    }
    fn check(raw: &str) -> Result<(String, String), String> {
        match ids::normalize_domain(raw) {
            Some(d) => Ok((d.clone(), d)),
            None => Err("must be a domain name such as example.com (no scheme, path or IP)".into()),
        }
    }
}

impl Object for IpArg {
    const KIND: &'static Kind = &objects::IP;
    const EXAMPLE: &'static str = "8.8.8.8";
    const ARG: &'static str = "ip";
    fn raw(&self) -> &str {
        &self.ip
    }
    fn check(raw: &str) -> Result<(String, String), String> {
        match ids::parse_ip(raw) {
            Some(ip) => Ok((ip.to_string(), ip.to_string())),
            None => Err("must be an IPv4 or IPv6 address".into()),
        }
    }
}

/// The relationship names of an object kind (from the spec) as a string schema that carries
/// the same markers as the generated tools' schemas (`x-vt-premium`, `x-vt-gti`, `x-vt-open`).
pub fn relationship_schema(kind: &Kind) -> Value {
    let rel: Value = crate::ops::OperationMeta::find(kind.related_op)
        .and_then(|op| serde_json::from_str::<Value>(op.input_schema).ok())
        .and_then(|s| s.pointer("/properties/relationship").cloned())
        .unwrap_or_default();
    let mut s = json!({"type": "string", "enum": rel.get("enum").cloned().unwrap_or(json!([]))});
    for key in ["x-vt-premium", "x-vt-gti", "x-vt-open"] {
        if let Some(p) = rel.get(key) {
            s[key] = p.clone();
        }
    }
    s
}

fn property<'a>(schema: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    schema.get_mut("properties")?.get_mut(name)
}

/// `get_{file,url,domain,ip}_report`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReportArgs<O> {
    /// The object.
    #[serde(flatten)]
    pub object: O,
    /// Relationships to show (default: a useful set for the key).
    #[schemars(length(max = 10))]
    pub relationships: Option<Vec<String>>,
    /// full adds related objects' verdicts, one request per relationship. Default: full for premium, else summary (one request).
    pub depth: Option<Depth>,
    #[serde(default)]
    pub format: ExportFormat,
}

impl<O: Object> Arguments for ReportArgs<O> {
    fn complete(schema: &mut Map<String, Value>) {
        if let Some(p) = property(schema, "relationships") {
            p["items"] = relationship_schema(O::KIND);
        }
    }
}

/// `get_{file,url,domain,ip}_relationship`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RelationshipArgs<O> {
    /// The object.
    #[serde(flatten)]
    pub object: O,
    /// The relationship.
    pub relationship: String,
    #[serde(default = "ten")]
    #[schemars(range(min = 1, max = 40))]
    pub limit: u32,
    #[schemars(length(min = 1, max = 4096))]
    pub cursor: Option<String>,
    #[serde(default)]
    pub format: Format,
}

impl<O: Object> Arguments for RelationshipArgs<O> {
    fn complete(schema: &mut Map<String, Value>) {
        if let Some(p) = property(schema, "relationship") {
            *p = relationship_schema(O::KIND);
        }
    }
}

fn ten() -> u32 {
    10
}

fn yes() -> bool {
    true
}

/// The longest free text `extract_iocs` and `triage_iocs` take, in characters (well within the
/// HTTP transport's 1 MiB request body for plain text).
pub const MAX_TEXT_CHARS: u32 = 500_000;

/// `triage_iocs`: exactly one of `iocs` and `text` (checked when it runs: a top-level `oneOf`
/// is refused by several MCP clients).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TriageArgs {
    /// Hashes, URLs, domains and IPs, mixed.
    #[schemars(
        length(min = 1, max = 100),
        inner(length(min = 1, max = 8192)),
        extend("example" = ["44d88612fea8a8f36de82e1278abb02f", "example.com", "8.8.8.8"])
    )]
    pub iocs: Option<Vec<String>>,
    /// Instead of `iocs`: free text (up to 500,000 characters) to find them in, defanged forms included.
    #[schemars(
        length(min = 1, max = MAX_TEXT_CHARS),
        extend("example" = "Beacon to hxxps://login[.]example.com/gate from 203.0.113[.]7")
    )]
    pub text: Option<String>,
    #[serde(default)]
    pub format: ExportFormat,
}

impl Arguments for TriageArgs {}

/// `extract_iocs`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExtractArgs {
    /// Alert, e-mail or report text (up to 500,000 characters).
    #[schemars(
        length(min = 1, max = MAX_TEXT_CHARS),
        extend("example" = "Beacon to hxxps://login[.]example.com/gate from 203.0.113[.]7")
    )]
    pub text: String,
    #[serde(default)]
    pub format: Format,
}

impl Arguments for ExtractArgs {}

/// `scan_url`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScanUrlArgs {
    /// The URL (http or https).
    #[schemars(length(min = 1, max = 8192), extend("example" = "https://example.com/login"))]
    pub url: String,
    /// Wait for the analysis and return the report.
    #[serde(default = "yes")]
    pub wait: bool,
    #[serde(default = "ScanUrlArgs::timeout")]
    #[schemars(range(min = 10, max = 900))]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub format: Format,
}

impl ScanUrlArgs {
    fn timeout() -> u64 {
        180
    }
}

impl Arguments for ScanUrlArgs {}

/// `scan_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScanFileArgs {
    /// Path of a file in an --upload-dir directory (up to 650 MB).
    #[schemars(length(min = 1, max = 4096), extend("example" = "samples/sample.exe"))]
    pub path: String,
    /// Password of an encrypted ZIP to unpack.
    #[schemars(length(max = 256))]
    pub password: Option<String>,
    #[serde(default = "yes")]
    pub wait: bool,
    #[serde(default = "ScanFileArgs::timeout")]
    #[schemars(range(min = 10, max = 1800))]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub format: Format,
}

impl ScanFileArgs {
    fn timeout() -> u64 {
        300
    }
}

impl Arguments for ScanFileArgs {}

/// `get_threat_actor`, `get_malware_family`, `get_campaign`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProfileArgs {
    /// Collection id or name.
    #[schemars(length(min = 1, max = 256), extend("example" = "APT28"))]
    pub id: String,
}

impl Arguments for ProfileArgs {}

/// `list_threat_actors`, `list_malware_families`, `list_campaigns`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProfileListArgs {
    /// Only those whose name matches.
    #[schemars(length(min = 1, max = 128))]
    pub name: Option<String>,
    #[serde(default = "ten")]
    #[schemars(range(min = 1, max = 40))]
    pub limit: u32,
    #[schemars(length(min = 1, max = 4096))]
    pub cursor: Option<String>,
}

impl Arguments for ProfileListArgs {}
