//! The report model shared by the four object reports: what a report holds, as plain data
//! (serialised as the reports' JSON). How it is filled from VirusTotal JSON is in
//! `reports::extract`, how its text is made inert in `reports::text`, and how it is rendered as
//! markdown in `reports::render`; the names most callers need are re-exported here.
//!
//! A field VirusTotal did not return is left out, never shown as "Unknown".

pub use super::extract::{engine_counts, sorted, utc};
pub use super::render::markdown;
pub use super::text::{clean, clean_to, escape_controls, is_unsafe_control, q};

use serde::Serialize;
use serde_json::Value;

/// How many engines that flagged an object are listed by name.
pub const MAX_ENGINES: usize = 8;
/// Longest untrusted string kept.
pub const MAX_TEXT: usize = 160;

/// One labelled value.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    /// Label.
    pub name: String,
    /// Value (string, number or list of strings).
    pub value: Value,
}

/// An engine that flagged the object.
#[derive(Debug, Clone, Serialize)]
pub struct EngineHit {
    /// Engine name.
    pub engine: String,
    /// malicious or suspicious.
    pub category: String,
    /// The engine's label, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Detection verdict of the last analysis.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Verdict {
    /// Engines that said malicious.
    pub malicious: u64,
    /// Engines that said suspicious.
    pub suspicious: u64,
    /// Engines that said harmless.
    pub harmless: u64,
    /// Engines that found nothing.
    pub undetected: u64,
    /// Engines that returned a verdict (malicious, suspicious, harmless or undetected): the
    /// denominator of the verdict.
    pub total: u64,
    /// Engines that returned none (type unsupported, timeout, failure).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub no_verdict: u64,
    /// Engines that flagged it (capped at [`MAX_ENGINES`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flagged_by: Vec<EngineHit>,
    /// How many more engines flagged it than are listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_flagged: usize,
    /// VirusTotal's suggested threat label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threat_label: Option<String>,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A related object with its own detection counts (full depth).
#[derive(Debug, Clone, Serialize)]
pub struct RelatedObject {
    /// Object type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Object id.
    pub id: String,
    /// Engines that said malicious.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malicious: Option<u64>,
    /// Engines that said suspicious.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspicious: Option<u64>,
    /// A short label (file name, URL, threat label …), cleaned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One relationship of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Relationship {
    /// Relationship name.
    pub name: String,
    /// How many related objects VirusTotal reports (or at least how many came back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Whether more exist than were returned (a cursor came back).
    pub more: bool,
    /// The first few related ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// Related objects with their detection counts (full depth).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<RelatedObject>,
    /// Why this relationship is missing (premium-only, quota, error), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A highlight from crowdsourced YARA, Sigma or IDS results (one per rule), or a sandbox verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Highlight {
    /// yara, sigma, ids or sandbox.
    pub source: String,
    /// Rule or sandbox name (cleaned).
    pub title: String,
    /// Severity or category, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Description or detail (cleaned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How many times the rule fired (its results are merged into one highlight).
    #[serde(skip_serializing_if = "is_one")]
    pub hits: u32,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// A report on a file, URL, domain or IP address.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// file, url, domain or ip_address.
    pub kind: &'static str,
    /// VirusTotal's id of the object.
    pub id: String,
    /// Whether VirusTotal knows the object.
    pub found: bool,
    /// Detection verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Identity: names, type, hashes, URL, registrar, ASN … (kind-specific).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identity: Vec<Field>,
    /// First/last seen and analysis dates (UTC).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<Field>,
    /// Reputation score and community votes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reputation: Vec<Field>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Popular threat classification (categories and names with counts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classification: Vec<Field>,
    /// Sandbox verdicts and crowdsourced YARA / Sigma / IDS highlights.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub highlights: Vec<Highlight>,
    /// Categories given by URL/domain classification services.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Field>,
    /// Popularity ranks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub popularity: Vec<Field>,
    /// Relationships.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<Relationship>,
    /// Upstream requests this report cost.
    pub requests: u32,
    /// Depth used: summary or full.
    pub depth: &'static str,
    /// VirusTotal's `data` object as it came (exact values for exports such as STIX; not
    /// serialised).
    #[serde(skip)]
    pub data: Value,
    /// What to do next, or what is missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
