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
//! This layer knows nothing of MCP: a tool returns an [`Answer`] (its JSON, and its markdown
//! when asked for) or a [`Failure`], and the MCP layer turns them into results.
//!
//! ## Adding a composite tool
//! One value in [`COMPOSITES`]: `Composite::new::<T>(Info { … })`, where `T` implements
//! [`Run`] (its argument type, a struct deriving `Deserialize` and `JsonSchema`, and its run
//! function) and [`Info`] holds the name, title, description, tier, permission and the
//! operations it may call. A missing piece does not compile; the catalog, `--tools`,
//! `vtmcp tools --json`, the snapshots and COVERAGE.md all read this list.

pub mod args;
mod defang;
mod extract;
mod ioc;
pub mod model;
pub mod objects;
mod relationships;
mod render;
mod scan;
pub mod stix;
mod text;
mod threats;
mod triage;

pub use args::{Arguments, Depth, ExportFormat, Format};
pub use defang::defang_markdown;

use crate::access::{Permission, Tier};
use crate::{Client, Error};
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Where progress notifications go: `(progress, total, message)`.
pub type ProgressSink =
    Arc<dyn Fn(f64, Option<f64>, String) -> BoxFuture<'static, ()> + Send + Sync>;

/// Reports a call's progress (the MCP layer sends them as `notifications/progress` when the
/// client asked for them).
///
/// MCP requires the progress value to increase with every notification of a request. Clones
/// share the last value sent, so a call's own steps and the waits reported beside them (rate
/// limit, retries, analysis polls) form one increasing sequence: a value that would not
/// increase is sent as a small step above the last one.
#[derive(Clone, Default)]
pub struct Progress {
    sink: Option<ProgressSink>,
    last: Arc<tokio::sync::Mutex<Option<f64>>>,
}

impl Progress {
    /// Progress sent to `sink`.
    pub fn new(sink: ProgressSink) -> Progress {
        Progress {
            sink: Some(sink),
            last: Arc::default(),
        }
    }

    /// Whether notifications are sent.
    pub fn is_reporting(&self) -> bool {
        self.sink.is_some()
    }

    /// The last value sent (0 before the first notification).
    pub async fn current(&self) -> f64 {
        self.last.lock().await.unwrap_or(0.0)
    }

    /// Reports progress (ignored without a sink). A `total` below the value is left out.
    pub async fn report(&self, progress: f64, total: Option<f64>, message: String) {
        let Some(sink) = &self.sink else {
            return;
        };
        // Held while sending, so notifications leave in the order of their values.
        let mut last = self.last.lock().await;
        let value = match *last {
            Some(l) if progress <= l => l + 0.001,
            _ => progress,
        };
        *last = Some(value);
        sink(value, total.filter(|t| *t >= value), message).await;
    }
}

/// What a composite tool runs with.
#[derive(Clone)]
pub struct Ctx {
    /// The tool's name (messages start with it).
    pub tool: &'static str,
    /// The typed client.
    pub client: Client,
    /// Whether the key is premium.
    pub premium: bool,
    /// Whether submissions are allowed (for next-step hints).
    pub allow_submit: bool,
    /// Progress notifications of this call.
    pub progress: Progress,
    /// First delay between analysis polls (doubles up to 8×).
    pub poll_interval: std::time::Duration,
    /// The directories `scan_file` may upload from.
    pub uploads: Arc<crate::upload_dirs::UploadDirs>,
}

/// A tool's answer: its JSON (the structured content), and its markdown text when the caller
/// asked for markdown (otherwise the JSON is the text too, cut to the output budget).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer as JSON.
    pub json: Value,
    /// The answer as markdown, when asked for.
    pub markdown: Option<String>,
}

impl Answer {
    /// A JSON-only answer.
    pub fn json(json: Value) -> Answer {
        Answer {
            json,
            markdown: None,
        }
    }

    /// A report in `format`.
    pub fn report(r: &model::Report, format: Format) -> Answer {
        Answer {
            json: serde_json::to_value(r).unwrap_or_default(),
            markdown: (format == Format::Markdown).then(|| model::markdown(r)),
        }
    }

    /// A report in `format`, STIX included.
    pub fn export(r: &model::Report, format: ExportFormat) -> Answer {
        match format.plain() {
            Some(plain) => Answer::report(r, plain),
            None => Answer::stix(
                serde_json::to_value(r).unwrap_or_default(),
                stix::report_bundle(r, chrono::Utc::now()),
            ),
        }
    }

    /// A STIX bundle as the text, `json` as the structured content.
    pub fn stix(json: Value, bundle: Value) -> Answer {
        Answer {
            json,
            markdown: Some(bundle.to_string()),
        }
    }
}

/// Why a tool gave no answer.
#[derive(Debug)]
pub enum Failure {
    /// A complete message for the caller: what was wrong and what to do.
    Message(String),
    /// VirusTotal or the network failed; the MCP layer adds its advice.
    Upstream(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Upstream(e)
    }
}

/// What a tool returns.
pub type Outcome = Result<Answer, Failure>;

/// A composite tool's behaviour: its argument type and what it does with them.
pub trait Run: 'static {
    /// The arguments (their JSON Schema is the tool's input schema).
    type Args: Arguments;
    /// Runs the tool with validated arguments.
    fn run(ctx: &Ctx, args: Self::Args) -> BoxFuture<'_, Outcome>;
    /// The tool's output schema, if its JSON has a fixed shape.
    fn output_schema() -> Option<Map<String, Value>> {
        None
    }
}

/// What a composite tool is, apart from its behaviour.
#[derive(Debug, Clone, Copy)]
pub struct Info {
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

/// One composite tool: its [`Info`] and, from its [`Run`] type, its schemas and run function.
#[derive(Clone, Copy)]
pub struct Composite {
    /// Name, title, description, tier, permission, calls.
    pub info: Info,
    schema: fn() -> Map<String, Value>,
    output: fn() -> Option<Map<String, Value>>,
    run: for<'a> fn(&'a Ctx, Map<String, Value>) -> BoxFuture<'a, Outcome>,
}

impl std::fmt::Debug for Composite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Composite").field(&self.info.name).finish()
    }
}

/// A composite reads as its [`Info`] (`c.name`, `c.tier` …).
impl std::ops::Deref for Composite {
    type Target = Info;
    fn deref(&self) -> &Info {
        &self.info
    }
}

impl Composite {
    /// The tool `info` describes, run by `T`.
    pub const fn new<T: Run>(info: Info) -> Composite {
        Composite {
            info,
            schema: args::schema_of::<T::Args>,
            output: T::output_schema,
            run: run_erased::<T>,
        }
    }

    /// Looks a composite tool up by name.
    pub fn find(name: &str) -> Option<&'static Composite> {
        COMPOSITES.iter().find(|c| c.name == name)
    }

    /// The full input schema (validation uses it; the listing drops examples and, for a public
    /// key, premium-only relationship names).
    pub fn input_schema(&self) -> Map<String, Value> {
        (self.schema)()
    }

    /// The output schema, if the tool has one.
    pub fn output_schema(&self) -> Option<Map<String, Value>> {
        (self.output)()
    }

    /// Runs the tool with arguments already validated against [`Composite::input_schema`].
    pub fn run<'a>(&self, ctx: &'a Ctx, args: Map<String, Value>) -> BoxFuture<'a, Outcome> {
        (self.run)(ctx, args)
    }
}

fn run_erased<T: Run>(ctx: &Ctx, args: Map<String, Value>) -> BoxFuture<'_, Outcome> {
    match serde_json::from_value::<T::Args>(Value::Object(args)) {
        Ok(a) => T::run(ctx, a),
        // The schema accepted what the type does not: a defect, reported rather than hidden.
        Err(e) => {
            let msg = format!(
                "{}: the arguments passed validation but could not be read ({e}); this is a vtmcp bug, please report it. Nothing was sent to VirusTotal.",
                ctx.tool
            );
            Box::pin(async move { Err(Failure::Message(msg)) })
        }
    }
}

use args::{DomainArg, FileArg, IpArg, UrlArg};
use relationships::{ObjectReport, RelationshipPage};
use scan::{ScanFile, ScanUrl};
use threats::{Campaigns, GetProfile, ListProfiles, MalwareFamilies, ThreatActors};

/// Every composite tool, in listing order.
pub const COMPOSITES: &[Composite] = &[
    Composite::new::<ObjectReport<FileArg>>(Info {
        name: "get_file_report",
        title: "File report",
        description: "Gets verdict, identity, dates, reputation, threat label, sandbox/YARA/Sigma/IDS highlights and relationships of a file, by MD5, SHA-1 or SHA-256. Summary depth costs one request.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_file", "list_file_related_objects"],
    }),
    Composite::new::<ObjectReport<UrlArg>>(Info {
        name: "get_url_report",
        title: "URL report",
        description: "Gets verdict, final URL, title, HTTP code, categories and relationships of a URL. Never submits an unknown URL.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_url", "list_url_related_objects"],
    }),
    Composite::new::<ObjectReport<DomainArg>>(Info {
        name: "get_domain_report",
        title: "Domain report",
        description: "Gets verdict, registrar, dates, DNS, certificate, categories, popularity and relationships of a domain.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_domain", "list_domain_related_objects"],
    }),
    Composite::new::<ObjectReport<IpArg>>(Info {
        name: "get_ip_report",
        title: "IP address report",
        description: "Gets verdict, ASN, owner, country, network, certificate and relationships of an IP address (IPv4 or IPv6).",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_ip_address", "list_ip_address_related_objects"],
    }),
    Composite::new::<RelationshipPage<FileArg>>(Info {
        name: "get_file_relationship",
        title: "File relationship",
        description: "Lists one page of objects related to a file; pass the returned cursor for the next page.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["list_file_related_objects"],
    }),
    Composite::new::<RelationshipPage<UrlArg>>(Info {
        name: "get_url_relationship",
        title: "URL relationship",
        description: "Lists one page of objects related to a URL; pass the returned cursor for the next page.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["list_url_related_objects"],
    }),
    Composite::new::<RelationshipPage<DomainArg>>(Info {
        name: "get_domain_relationship",
        title: "Domain relationship",
        description: "Lists one page of objects related to a domain; pass the returned cursor for the next page.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["list_domain_related_objects"],
    }),
    Composite::new::<RelationshipPage<IpArg>>(Info {
        name: "get_ip_relationship",
        title: "IP relationship",
        description: "Lists one page of objects related to an IP address; pass the returned cursor for the next page.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["list_ip_address_related_objects"],
    }),
    Composite::new::<triage::Triage>(Info {
        name: "triage_iocs",
        title: "Triage indicators",
        description: "Triages hashes, URLs, domains and IPs (types detected, duplicates merged) into one verdict table; states the requests it will spend and stops cleanly at the quota.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &["get_file", "get_url", "get_domain", "get_ip_address"],
    }),
    Composite::new::<ioc::ExtractIocs>(Info {
        name: "extract_iocs",
        title: "Indicators in text",
        description: "Lists the hashes, URLs, domains, IPs and e-mail domains in free text, defanged forms (hxxp, [.]) included; file names are kept out, private and documentation addresses flagged. Makes no request to VirusTotal.",
        permission: Permission::Read,
        tier: Tier::PUBLIC,
        calls: &[],
    }),
    Composite::new::<ScanUrl>(Info {
        name: "scan_url",
        title: "Scan a URL",
        description: "Submits a URL to VirusTotal (shared with its community), optionally waits for the analysis with progress, and returns the URL report.",
        permission: Permission::Submit,
        tier: Tier::PUBLIC,
        calls: &["submit_url", "get_analysis", "get_url"],
    }),
    Composite::new::<ScanFile>(Info {
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
    }),
    Composite::new::<GetProfile<ThreatActors>>(Info {
        name: "get_threat_actor",
        title: "Threat actor",
        description: "Gets a threat actor profile by collection id or name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &[
            "get_collection",
            "list_collections",
            "get_legacy_threat_actor",
        ],
    }),
    Composite::new::<ListProfiles<ThreatActors>>(Info {
        name: "list_threat_actors",
        title: "List threat actors",
        description: "Lists threat actors, optionally filtered by name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["list_collections", "list_legacy_threat_actors"],
    }),
    Composite::new::<GetProfile<MalwareFamilies>>(Info {
        name: "get_malware_family",
        title: "Malware family",
        description: "Gets a malware family profile by collection id or name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["get_collection", "list_collections"],
    }),
    Composite::new::<ListProfiles<MalwareFamilies>>(Info {
        name: "list_malware_families",
        title: "List malware families",
        description: "Lists malware families, optionally filtered by name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["list_collections"],
    }),
    Composite::new::<GetProfile<Campaigns>>(Info {
        name: "get_campaign",
        title: "Campaign",
        description: "Gets a campaign profile by collection id or name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["get_collection", "list_collections"],
    }),
    Composite::new::<ListProfiles<Campaigns>>(Info {
        name: "list_campaigns",
        title: "List campaigns",
        description: "Lists campaigns, optionally filtered by name.",
        permission: Permission::Read,
        tier: Tier::PREMIUM,
        calls: &["list_collections"],
    }),
];

/// The toolset of the composite tools.
pub const TOOLSET: &str = "reports";

/// The output schema of the object reports: the key members; the rest (identity, dates,
/// highlights …) are arrays of labelled values.
fn report_output_schema() -> Option<Map<String, Value>> {
    json!({"type": "object", "required": ["kind", "id", "found", "requests", "depth"], "properties": {
        "kind": {"type": "string"}, "id": {"type": "string"}, "found": {"type": "boolean"},
        "verdict": {"type": "object"}, "relationships": {"type": "array"},
        "requests": {"type": "integer"}, "depth": {"type": "string"}}})
    .as_object()
    .cloned()
}

/// A short reason for a failed part of a report.
pub fn short_error(e: &Error) -> String {
    crate::error::advice::summary(e)
}
