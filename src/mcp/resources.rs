//! MCP resources and completions.
//!
//! * **Report templates**: `vt://files/{hash}`, `vt://urls/{url}`, `vt://domains/{domain}`,
//!   `vt://ip_addresses/{ip}` read as the object's summary report (markdown), and
//!   `vt://<kind>/{id}/{relationship}` as one page of a relationship; `vt://collections/{id}` reads
//!   the collection's main attributes. A read is a call of the report tool (`get_file_report`
//!   with `depth: summary` …) through the server's one call path: the same validation, tier and
//!   permission checks, cache, quota and errors; the identifier is checked here first, so a bad
//!   one is refused with nothing sent.
//! * **Guides** (static text written for this server): the VirusTotal Intelligence search syntax,
//!   quota and tiers (with the key's own tier line), and what each toolset is for, generated from
//!   the catalog so that it lists what the server really has.
//! * **Completions** for the arguments that have a closed set: relationship names per object
//!   kind (those the key may use), toolset names, and the collection types of `profile_threat`.
//!
//! This module decides what a URI means and writes the guides; `super` runs the calls.

use super::catalog::{self, Entry, NameAccess, Selection};
use crate::reports::args::{DomainArg, FileArg, IpArg, Object, UrlArg, relationship_schema};
use crate::reports::objects::Kind;
use rmcp::model::{Resource, ResourceTemplate};
use serde_json::{Map, Value, json};

/// The URI scheme of every vtmcp resource.
pub const SCHEME: &str = "vt://";

/// One object kind that has a report template.
struct ObjectKind {
    /// The first path segment (`files`), as in VirusTotal's own API paths.
    segment: &'static str,
    /// The template variable (`hash`).
    var: &'static str,
    /// What it is, for descriptions.
    noun: &'static str,
    report_tool: &'static str,
    relationship_tool: &'static str,
    /// The report tool's argument (`file_hash`).
    arg: &'static str,
    kind: &'static Kind,
    /// Checks and normalises the identifier (the report tools' own check).
    check: fn(&str) -> Result<(String, String), String>,
    example: &'static str,
}

const OBJECTS: [ObjectKind; 4] = [
    ObjectKind {
        segment: "files",
        var: "hash",
        noun: "file (MD5, SHA-1 or SHA-256)",
        report_tool: "get_file_report",
        relationship_tool: "get_file_relationship",
        arg: "file_hash",
        kind: FileArg::KIND,
        check: FileArg::check,
        example: FileArg::EXAMPLE,
    },
    ObjectKind {
        segment: "urls",
        var: "url",
        noun: "URL (percent-encoded in the URI)",
        report_tool: "get_url_report",
        relationship_tool: "get_url_relationship",
        arg: "url",
        kind: UrlArg::KIND,
        check: UrlArg::check,
        example: UrlArg::EXAMPLE,
    },
    ObjectKind {
        segment: "domains",
        var: "domain",
        noun: "domain",
        report_tool: "get_domain_report",
        relationship_tool: "get_domain_relationship",
        arg: "domain",
        kind: DomainArg::KIND,
        check: DomainArg::check,
        example: DomainArg::EXAMPLE,
    },
    ObjectKind {
        segment: "ip_addresses",
        var: "ip",
        noun: "IPv4 or IPv6 address",
        report_tool: "get_ip_report",
        relationship_tool: "get_ip_relationship",
        arg: "ip",
        kind: IpArg::KIND,
        check: IpArg::check,
        example: IpArg::EXAMPLE,
    },
];

/// The collection template's path segment and the operation that reads it.
const COLLECTIONS: &str = "collections";
/// The operation a collection is read with (one request, cached as `collection`).
pub const COLLECTION_OP: &str = "get_collection";
/// The attributes of a collection a read keeps (the rest is large: every IoC it holds).
const COLLECTION_FIELDS: &[&str] = &[
    "name",
    "collection_type",
    "description",
    "tags",
    "alt_names",
    "aliases",
    "creation_date",
    "last_modification_date",
    "first_seen_date",
    "last_seen_date",
    "targeted_industries",
    "targeted_regions",
    "files_count",
    "domains_count",
    "urls_count",
    "ip_addresses_count",
    "references_count",
];

/// The static guides: (path after `vt://guides/`, name, title, description).
const GUIDES: [(&str, &str, &str, &str); 3] = [
    (
        "search-syntax",
        "search-syntax",
        "VirusTotal search syntax",
        "How to write VirusTotal Intelligence queries: modifiers (type:, p:, fs:, ls:, tag:, engines:, name:, entity: …) with examples, and what the public search accepts.",
    ),
    (
        "quota-and-tiers",
        "quota-and-tiers",
        "Quota and tiers",
        "What a public or premium key allows, what each vtmcp call costs, how the cache saves quota, and this server's key tier.",
    ),
    (
        "toolsets",
        "toolsets",
        "Toolsets",
        "What each toolset is for, its tools, and which are enabled in this session (generated from the catalog).",
    ),
];

/// What a resource URI asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A call of `tool` with `args` (a report, a relationship page or a collection), whose text
    /// is the resource, of type `mime`.
    Call {
        /// The tool run (a composite report tool or the operation `get_collection`).
        tool: &'static str,
        /// Its arguments, identifier checked.
        args: Map<String, Value>,
        /// The text's media type.
        mime: &'static str,
    },
    /// A guide, by its path (`search-syntax`, `quota-and-tiers`, `toolsets`, `toolsets/<name>`).
    Guide(String),
}

/// The resource templates, in listing order.
pub fn templates() -> Vec<ResourceTemplate> {
    let mut out = Vec::new();
    for o in &OBJECTS {
        out.push(
            ResourceTemplate::new(
                format!("{SCHEME}{}/{{{}}}", o.segment, o.var),
                format!("{}-report", o.kind.name.replace('_', "-")),
            )
            .with_title(format!("{} report", title_case(o.kind.name)))
            .with_description(format!(
                "Summary report of a {} ({} with depth summary: one request, or none when cached).",
                o.noun, o.report_tool
            ))
            .with_mime_type("text/markdown"),
        );
        out.push(
            ResourceTemplate::new(
                format!("{SCHEME}{}/{{{}}}/{{relationship}}", o.segment, o.var),
                format!("{}-relationship", o.kind.name.replace('_', "-")),
            )
            .with_title(format!("{} relationship", title_case(o.kind.name)))
            .with_description(format!(
                "First page of objects related to a {} ({}; one request). Relationship names complete.",
                o.noun, o.relationship_tool
            ))
            .with_mime_type("text/markdown"),
        );
    }
    out.push(
        ResourceTemplate::new(format!("{SCHEME}{COLLECTIONS}/{{id}}"), "collection")
            .with_title("Collection")
            .with_description("A collection (IoC collection, threat actor, malware family, campaign) by id: its name, type, description, dates and counts (get_collection: one request, or none when cached).")
            .with_mime_type("application/json"),
    );
    out.push(
        ResourceTemplate::new(format!("{SCHEME}guides/toolsets/{{toolset}}"), "toolset")
            .with_title("One toolset")
            .with_description("What one toolset is for and its tools (toolset names complete).")
            .with_mime_type("text/markdown"),
    );
    out
}

/// The static resources (the guides), in listing order.
pub fn listed() -> Vec<Resource> {
    GUIDES
        .iter()
        .map(|(path, name, title, description)| {
            Resource::new(format!("{SCHEME}guides/{path}"), *name)
                .with_title(*title)
                .with_description(*description)
                .with_mime_type("text/markdown")
        })
        .collect()
}

fn title_case(kind: &str) -> String {
    match kind {
        "ip_address" => "IP address".into(),
        "url" => "URL".into(),
        k => {
            let mut c = k.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
    }
}

/// One path segment, percent-decoded (a URI template expands `{url}` with reserved characters
/// encoded). Control characters are left for the tools' own checks to refuse.
fn decode(segment: &str, what: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("the {what} is not UTF-8 once percent-decoded"))
}

/// What `uri` asks for, or why it is not a vtmcp resource (nothing is sent either way).
pub fn resolve(uri: &str) -> Result<Target, String> {
    let refuse = |why: String| format!("{uri}: {why}. Nothing was sent to VirusTotal.");
    let Some(rest) = uri.strip_prefix(SCHEME) else {
        return Err(refuse(format!(
            "not a vtmcp resource (they start with {SCHEME}; resources/templates/list shows them)"
        )));
    };
    // No query or fragment: a URL's own `?` and `#` arrive percent-encoded.
    if rest.contains(['?', '#']) {
        return Err(refuse(
            "a query or fragment is not part of a vtmcp resource; percent-encode `?` and `#` inside a URL".into(),
        ));
    }
    let parts: Vec<&str> = rest.split('/').collect();
    if let Some(guide) = rest.strip_prefix("guides/") {
        return match guide.split_once('/') {
            None if GUIDES.iter().any(|(p, ..)| *p == guide) => Ok(Target::Guide(guide.into())),
            Some(("toolsets", name)) => {
                let name = decode(name, "toolset")?;
                if catalog::toolset_names().contains(&name.as_str()) {
                    Ok(Target::Guide(format!("toolsets/{name}")))
                } else {
                    Err(refuse(format!(
                        "unknown toolset {name:?}; the toolsets are {}",
                        catalog::toolset_names().join(", ")
                    )))
                }
            }
            _ => Err(refuse(format!(
                "unknown guide; the guides are {}",
                GUIDES
                    .iter()
                    .map(|(p, ..)| format!("{SCHEME}guides/{p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    }
    if parts[0] == COLLECTIONS {
        let [_, id] = parts.as_slice() else {
            return Err(refuse(format!(
                "a collection is {SCHEME}{COLLECTIONS}/{{id}}"
            )));
        };
        let id = decode(id, "collection id").map_err(&refuse)?;
        if id.is_empty() {
            return Err(refuse("the collection id is empty".into()));
        }
        let mut args = Map::new();
        args.insert("id".into(), json!(id));
        args.insert("fields".into(), json!(COLLECTION_FIELDS));
        return Ok(Target::Call {
            tool: COLLECTION_OP,
            args,
            mime: "application/json",
        });
    }
    let Some(o) = OBJECTS.iter().find(|o| o.segment == parts[0]) else {
        return Err(refuse(format!(
            "unknown kind {:?}; the kinds are {}, {COLLECTIONS} and guides",
            parts[0],
            OBJECTS
                .iter()
                .map(|o| o.segment)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let (id, relationship) = match parts.as_slice() {
        [_, id] => (*id, None),
        [_, id, rel] => (*id, Some(*rel)),
        _ => {
            return Err(refuse(format!(
                "expected {SCHEME}{}/{{{}}} or {SCHEME}{}/{{{}}}/{{relationship}} (percent-encode `/` inside the {})",
                o.segment, o.var, o.segment, o.var, o.var
            )));
        }
    };
    let raw = decode(id, o.var).map_err(&refuse)?;
    if let Err(problem) = (o.check)(raw.trim()) {
        return Err(refuse(format!(
            "`{raw}` is not a valid {} ({problem}); for example {SCHEME}{}/{}",
            o.var,
            o.segment,
            percent_encoding::utf8_percent_encode(o.example, percent_encoding::NON_ALPHANUMERIC)
        )));
    }
    let mut args = Map::new();
    args.insert(o.arg.into(), json!(raw.trim()));
    args.insert("format".into(), json!("markdown"));
    let tool = match relationship {
        None => {
            args.insert("depth".into(), json!("summary"));
            o.report_tool
        }
        Some(rel) => {
            let rel = decode(rel, "relationship").map_err(&refuse)?;
            if rel.is_empty() {
                return Err(refuse("the relationship name is empty".into()));
            }
            args.insert("relationship".into(), json!(rel));
            o.relationship_tool
        }
    };
    Ok(Target::Call {
        tool,
        args,
        mime: "text/markdown",
    })
}

/// The values of a template or prompt argument that has a closed set, starting with `prefix`
/// (case-insensitive), at most `max`; `None` when the argument has no closed set.
///
/// `reference` is a resource template (or a URI made from one) or `prompt:<name>`.
pub fn complete(
    reference: &str,
    argument: &str,
    prefix: &str,
    access: NameAccess,
) -> Option<Vec<String>> {
    let all: Vec<String> = match (reference, argument) {
        (r, "relationship") => {
            let rest = r.strip_prefix(SCHEME)?;
            let segment = rest.split('/').next()?;
            let o = OBJECTS.iter().find(|o| o.segment == segment)?;
            relationship_names(o.kind, access)
        }
        (r, "toolset") if r.starts_with(&format!("{SCHEME}guides/toolsets")) => {
            catalog::toolset_names()
                .into_iter()
                .map(String::from)
                .collect()
        }
        (r, "kind") if r == format!("prompt:{}", super::prompts::PROFILE_THREAT) => {
            super::prompts::THREAT_KINDS
                .iter()
                .map(|s| s.to_string())
                .collect()
        }
        _ => return None,
    };
    let prefix = prefix.to_ascii_lowercase();
    Some(
        all.into_iter()
            .filter(|v| v.to_ascii_lowercase().starts_with(&prefix))
            .collect(),
    )
}

/// The relationship names of `kind` the key may use (premium- and GTI-only names left out as in
/// the tools' listed enums).
pub fn relationship_names(kind: &Kind, access: NameAccess) -> Vec<String> {
    let mut schema = relationship_schema(kind);
    access.list(&mut schema);
    schema
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

/// What a guide is written from: the session's selection and tier line, and its tools.
pub struct GuideContext<'a> {
    /// The session's selection.
    pub selection: &'a Selection,
    /// `tier: … (where it comes from)`.
    pub tier_line: String,
    /// Every tool with why it is hidden, if it is.
    pub entries: &'a [Entry],
}

/// The text of a guide (`path` as [`Target::Guide`] gives it).
pub fn guide(path: &str, ctx: &GuideContext<'_>) -> String {
    match path {
        "search-syntax" => SEARCH_SYNTAX.to_string(),
        "quota-and-tiers" => format!(
            "{QUOTA_AND_TIERS}\n## This server\n\n- Key {}.\n- Submitting (scans, uploads): {}.\n- Writing (comments, votes, collections …): {}.\n",
            ctx.tier_line,
            if ctx.selection.permissions.submit {
                "allowed (--allow-submit)"
            } else {
                "off (start with --allow-submit)"
            },
            if ctx.selection.permissions.write {
                "allowed (--allow-write)"
            } else {
                "off (start with --allow-write)"
            },
        ),
        "toolsets" => toolsets_guide(ctx, None),
        p => match p.strip_prefix("toolsets/") {
            Some(name) => toolsets_guide(ctx, Some(name)),
            None => String::new(),
        },
    }
}

/// What each toolset is for, in a line. A test checks that every toolset of the catalog has
/// one, so a new spec tag cannot be left out.
pub fn toolset_purpose(toolset: &str) -> Option<&'static str> {
    Some(match toolset {
        "default" => {
            "Everyday triage: the four object reports and their relationships, triage of many indicators, scans (with --allow-submit), analyses, search, a sandbox summary, and find_operations/call_operation to reach every other operation."
        }
        "all" => "Every tool of every toolset (within the key's tier and the permissions granted).",
        "reports" => {
            "The hand-written composite tools: reports, relationship pages, triage, indicator extraction, scans, and threat actor / malware family / campaign profiles."
        }
        "files" => {
            "Raw file objects: reports, rescans, uploads, comments, votes, relationships and sample downloads."
        }
        "file_behaviours" => {
            "Sandbox runs of a file: behaviour summaries, MITRE trees, per-sandbox reports and their PCAP, EVTX, memory dumps and HTML."
        }
        "urls" => "Raw URL objects: reports, submissions, comments, votes and relationships.",
        "domains" => {
            "Raw domain objects: reports, comments, votes, relationships, DNS resolutions, WHOIS and certificates."
        }
        "ip_addresses" => "Raw IP address objects: reports, comments, votes and relationships.",
        "comments" => "The community's comments: the latest ones, one comment, and votes on them.",
        "analyses" => "Analysis results of submissions, and the state of asynchronous operations.",
        "attack" => "MITRE ATT&CK tactics and techniques, and what relates to them.",
        "search" => {
            "The basic search (hashes, URLs, domains, IPs, comment tags), VirusTotal metadata and popular threat categories."
        }
        "intelligence" => {
            "Premium: VT Intelligence search with modifiers, content-search snippets, Code Insight and the widget."
        }
        "saved_searches" => "Premium: saved Intelligence searches and who may use them.",
        "zip_files" => "Premium: password-protected ZIP archives of samples for download.",
        "hunting" => "Premium: Livehunt YARA rulesets, their editors and their notifications.",
        "retrohunt" => "Premium: Retrohunt jobs that run YARA rules over past submissions.",
        "crowdsourced_rules" => {
            "Crowdsourced YARA rulesets and Sigma rules, and what they matched."
        }
        "ioc_stream" => "Premium: the stream of hunting and subscription notifications.",
        "collections" => {
            "Collections of indicators; threat actors, malware families and campaigns are collections too."
        }
        "threat_landscape" => {
            "Licence: the older threat actor and reference endpoints (collections replace them)."
        }
        "graphs" => "VirusTotal Graph: investigation graphs, their comments, editors and viewers.",
        "feeds" => "Licence: file, behaviour, URL, domain and IP feeds by minute or hour.",
        "users" => "Users: profile, relationships, quotas and API usage.",
        "groups" => "Groups: members, administrators, service accounts and API usage.",
        "private_scanning" => {
            "Licence: private scanning of files and URLs, never shared with the community."
        }
        "monitor" => "Licence: VT Monitor, for software publishers to watch their own files.",
        "monitor_partner" => "Licence: VT Monitor Partner, for antivirus vendors.",
        "threat_profiles" => "Google Threat Intelligence threat profiles.",
        _ => return None,
    })
}

fn toolsets_guide(ctx: &GuideContext<'_>, only: Option<&str>) -> String {
    let mut s = String::new();
    match only {
        None => {
            s.push_str("# Toolsets\n\nStart vtmcp with `--toolsets a,b` (or `VTMCP_TOOLSETS`) to list more tools; `find_operations` and `call_operation` (in `default`) reach every operation without listing it. A tool the key's tier or the permissions do not allow is not listed in any toolset.\n\n");
            s.push_str(&format!(
                "Enabled in this session: {}.\n\n| toolset | tools | listed here | for |\n| --- | ---: | ---: | --- |\n",
                ctx.selection
                    .toolsets
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Some(name) => s.push_str(&format!(
            "# Toolset `{name}`\n\n{}\n\n",
            toolset_purpose(name).unwrap_or("")
        )),
    }
    for name in catalog::toolset_names() {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let members: Vec<&Entry> = ctx.entries.iter().filter(|e| in_toolset(e, name)).collect();
        let listed = members.iter().filter(|e| e.hidden.is_none()).count();
        match only {
            None => s.push_str(&format!(
                "| `{name}` | {} | {listed} | {} |\n",
                members.len(),
                toolset_purpose(name).unwrap_or("")
            )),
            Some(_) => {
                s.push_str(&format!(
                    "{} tools, {listed} listed in this session.\n\n| tool | tier | permission | listed |\n| --- | --- | --- | --- |\n",
                    members.len()
                ));
                for e in members {
                    s.push_str(&format!(
                        "| `{}` | {} | {} | {} |\n",
                        e.name(),
                        e.meta.tier,
                        e.meta.permission,
                        if e.hidden.is_none() { "yes" } else { "no" }
                    ));
                }
            }
        }
    }
    s
}

/// Whether an entry belongs to a toolset (`all` has every tool; `default` its fixed list).
fn in_toolset(e: &Entry, toolset: &str) -> bool {
    match toolset {
        "all" => true,
        "default" => catalog::DEFAULT_TOOLSET.contains(&e.name()),
        t => e.meta.toolset == t,
    }
}

const SEARCH_SYNTAX: &str = r#"# VirusTotal search syntax

Two tools search VirusTotal:

- `search` (public key): one term, matched exactly. A hash, a URL, a domain or an IP address
  finds that object; other words search comments and their tags. No modifiers.
- `intelligence_search` (premium key, toolset `intelligence`, or `call_operation`): the
  VirusTotal Intelligence query language below. Each page of results costs a request and
  Intelligence search quota.

## How a query is built

- Terms are `modifier:value` pairs; several terms must all match (`AND` is implied).
  `OR`, `NOT` and parentheses combine them: `(tag:peexe OR tag:pedll) NOT tag:signed`.
- Quote values with spaces: `name:"invoice 2024"`.
- Numbers and dates take a sign after them: `+` means "at least / after", `-` means "at most
  / before": `p:10+` (ten or more detections), `size:100KB-`, `fs:2024-06-01+`.
- Dates are `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`; relative days work too (`fs:7d+`, seen in
  the last seven days).
- Without `entity:`, a query searches files. `entity:url`, `entity:domain`, `entity:ip` and
  `entity:collection` search the other kinds (each has its own modifiers).

## File modifiers (the common ones)

| modifier | matches | example |
| --- | --- | --- |
| `type:` | file type | `type:peexe`, `type:pdf`, `type:apk`, `type:elf`, `type:doc` |
| `p:` / `positives:` | number of engines that detect it | `p:5+`, `positives:0` |
| `engines:` | a word in any engine's detection name | `engines:emotet` |
| `<engine>:` | one engine's detection name | `kaspersky:"Trojan.Win32"` |
| `fs:` | first submission date | `fs:2024-01-01+ fs:2024-02-01-` |
| `ls:` | last submission date | `ls:3d+` |
| `la:` | last analysis date | `la:2024-05-01+` |
| `name:` | a submitted file name | `name:invoice.exe`, `name:"*.js"` |
| `size:` | size (B, KB, MB) | `size:10MB+` |
| `tag:` | VirusTotal tag | `tag:signed`, `tag:macros`, `tag:64bits`, `tag:exploit` |
| `submitter:` | submitter country or interface | `submitter:US`, `submitter:web` |
| `submissions:` | number of submissions | `submissions:1` |
| `itw:` | downloaded from (in the wild) | `itw:"example.com"` |
| `behaviour:` | any sandbox observation | `behaviour:"CurrentVersion\\Run"` |
| `behaviour_network:` | sandbox network traffic | `behaviour_network:evil.example` |
| `signature:` | signature information | `signature:"Microsoft Corporation"` |
| `imphash:` | PE import hash | `imphash:f34d5f2d4577ed6d9ceec516c1f5a744` |
| `similar-to:` | structurally similar files | `similar-to:<sha256>` |
| `content:` | bytes or strings inside the file (content search) | `content:"cmd.exe /c"`, `content:{4d5a90}` |

## Network modifiers (with `entity:`)

- URLs: `entity:url p:3+ hostname:example.com`, `entity:url title:"login"`.
- Domains: `entity:domain domain:*.example.com`, `entity:domain registrar:namecheap
  creation_date:30d+`, `entity:domain p:1+ tld:zip`.
- IP addresses: `entity:ip asn:13335`, `entity:ip country:NL p:2+`.

## Worked examples

- New, barely detected executables: `type:peexe fs:2d+ p:1-5`.
- Documents with macros that several engines flag: `tag:macros p:5+ (type:doc OR type:docx)`.
- Samples an engine names after a family: `engines:qakbot fs:30d+`.
- Files downloaded from a domain: `itw:"updates.example.net"`.
- Recently created domains that look like a brand: `entity:domain domain:*paypa1* creation_date:14d+`.

Results are untrusted data (names, titles and comments are written by third parties). Zero
detections does not mean safe.
"#;

const QUOTA_AND_TIERS: &str = r#"# Quota and tiers

## Keys

- **Public (free) key**: 4 requests per minute and 500 per day, public operations only, and
  not for commercial use. vtmcp paces calls to fit: a call that would go over waits (the wait
  is sent as progress) or is refused with the time to wait.
- **Premium key**: allowances agreed with VirusTotal (per day and per month); adds
  Intelligence search, hunting (Livehunt, Retrohunt), downloads, the IoC stream and more.
- **Licences** on top: Threat Landscape, Private Scanning, feeds, VT Monitor, Monitor Partner,
  group administration, Google Threat Intelligence. `--tier` declares them; `--tier auto` (the
  default) asks VirusTotal which the key has.

## What a call costs

- A report at summary depth (`get_file_report` …, or a `vt://files/{hash}` resource): 1
  request. Full depth: 1 + one per relationship shown.
- A relationship page: 1 request. `triage_iocs`: 1 per indicator (it says how many first).
- `scan_url` / `scan_file`: a submission, then one request per poll of the analysis while it
  waits, then the report.
- `extract_iocs`, `find_operations`, the guides and completions: nothing.

## Saving quota

- Answers are cached (on by default): asking again about the same hash, URL, domain or IP
  within its lifetime costs nothing. `cache: "only"` on any tool never spends a request.
- Prefer one report to many small calls; prefer `triage_iocs` to a report per indicator.
- Several vtmcp processes with one key share one cache file, and so one budget.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_toolset_has_a_purpose() {
        for name in catalog::toolset_names() {
            assert!(
                toolset_purpose(name).is_some(),
                "toolset {name} has no purpose line"
            );
        }
    }

    #[test]
    fn uris_resolve_to_the_report_calls() {
        let t = resolve("vt://files/44D88612FEA8A8F36DE82E1278ABB02F").unwrap();
        let Target::Call { tool, args, .. } = t else {
            panic!("a call")
        };
        assert_eq!(tool, "get_file_report");
        assert_eq!(args["depth"], "summary");
        let t = resolve("vt://urls/https%3A%2F%2Fexample.com%2Fa%3Fb%3D1").unwrap();
        let Target::Call { args, .. } = t else {
            panic!("a call")
        };
        assert_eq!(args["url"], "https://example.com/a?b=1");
        let t = resolve("vt://domains/example.com/resolutions").unwrap();
        let Target::Call { tool, args, .. } = t else {
            panic!("a call")
        };
        assert_eq!(tool, "get_domain_relationship");
        assert_eq!(args["relationship"], "resolutions");
        for bad in [
            "vt://files/zz",
            "vt://ip_addresses/999.1.1.1",
            "vt://domains/",
            "vt://urls/ftp%3A%2F%2Fx",
            "vt://nope/x",
            "https://example.com",
            "vt://guides/nope",
            "vt://files/a/b/c",
        ] {
            let e = resolve(bad).unwrap_err();
            assert!(e.contains("Nothing was sent"), "{bad}: {e}");
        }
    }
}
