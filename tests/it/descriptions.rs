//! Audit of tool descriptions: a client that searches its tool list by words (its own tool
//! search, or a model skimming the list) should find each tool from the task, so every listed
//! tool's description says what it does, to what, and how the thing is picked out.

use crate::support::mcp::everything;
use vtmcp::mcp::VtServer;

/// Verbs a description may start with (base form; the `-s`/`-es` form is accepted too).
const VERBS: &[&str] = &[
    "abort",
    "add",
    "analyse",
    "ask",
    "cast",
    "change",
    "check",
    "create",
    "delete",
    "download",
    "end",
    "export",
    "extract",
    "find",
    "get",
    "grant",
    "link",
    "list",
    "make",
    "pack",
    "post",
    "rate",
    "remove",
    "rename",
    "rescan",
    "revoke",
    "run",
    "save",
    "scan",
    "search",
    "send",
    "set",
    "start",
    "stop",
    "submit",
    "subscribe",
    "tell",
    "transfer",
    "triage",
    "unlink",
    "update",
    "upload",
];

/// The VirusTotal object each path root is about, as the words a description may use for it
/// (lower case; a word matches at a word start, so plurals count).
const OBJECTS: &[(&str, &[&str])] = &[
    ("analyses", &["analysis", "analyses"]),
    ("attack_tactics", &["tactic"]),
    ("attack_techniques", &["technique"]),
    ("codeinsights", &["code"]),
    ("collections", &["collection"]),
    ("comments", &["comment"]),
    ("domains", &["domain"]),
    ("file-behaviours", &["sandbox report", "behaviour"]),
    ("file_behaviours", &["sandbox report", "behaviour"]),
    ("files", &["file"]),
    ("graphs", &["graph"]),
    ("groups", &["group"]),
    ("hunting_notification_files", &["file"]),
    ("hunting_notifications", &["notification"]),
    ("hunting_rulesets", &["ruleset"]),
    ("ioc_stream", &["ioc stream"]),
    ("ioc_stream_notifications", &["notification"]),
    ("ip_addresses", &["ip address"]),
    ("metadata", &["metadata"]),
    ("monitor", &["monitor"]),
    ("monitor_partner", &["monitor"]),
    ("operations", &["operation"]),
    ("popular_threat_categories", &["threat categor"]),
    ("references", &["reference"]),
    ("resolutions", &["resolution"]),
    ("retrohunt_jobs", &["retrohunt job"]),
    ("saved_searches", &["saved search"]),
    ("search", &["file", "url", "domain", "snippet"]),
    ("service_accounts", &["service account"]),
    ("sigma_rules", &["sigma rule"]),
    ("ssl_certs", &["certificate"]),
    ("submissions", &["submission"]),
    ("threat_actors", &["threat actor"]),
    ("threat_profiles", &["threat profile"]),
    ("urls", &["url"]),
    ("users", &["user"]),
    ("whois", &["whois"]),
    ("widget", &["widget"]),
    ("yara_rules", &["yara rule"]),
    ("yara_rulesets", &["ruleset"]),
    ("zip_files", &["zip"]),
];

/// Objects that only tools without a path (the composites over collections) are about.
const COMPOSITE_OBJECTS: &[&str] = &["campaign", "malware famil"];

/// Path parameters whose value is the object itself (a domain name, an IP address): a tool
/// named for that object needs no "by …" to say what identifies it.
const SELF_IDENTIFYING: &[&str] = &["domain", "ip"];

/// Words that name an identifier in a "by …" clause.
const ID_WORDS: &[&str] = &[
    "id", "ids", "uuid", "sha-256", "sha-1", "md5", "hash", "token", "name", "username", "e-mail",
    "minute", "hour", "time",
];

/// True when `needle` occurs in `hay` at a word start.
fn has_word_start(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        hay[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

/// Words of a text, lower case, split on anything but letters, digits and `-`.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('-').to_lowercase())
        .collect()
}

/// Why `description` fails the audit for a tool with this path, if it does.
///
/// The rule, applied to the description as `tools/list` gives it:
/// - **action**: after the markers the server or the spec put first (`Deprecated. `, `GTI: `),
///   the first word is a verb of [`VERBS`], in its base or `-s`/`-es` form;
/// - **object**: for a generated tool, the description names the object of its path's root
///   (the first segment after `/intelligence`, `/private` or `/feeds`), with a word of
///   [`OBJECTS`]; a tool without a path (composites, meta tools) names any of those objects
///   or of [`COMPOSITE_OBJECTS`];
/// - **identifier**: when the path takes a parameter that is neither a closed-set selector
///   (an `enum` in the tool's input schema, or `relationship`, whose names the descriptor
///   tools take from their `_related_objects` sibling) nor the object itself
///   ([`SELF_IDENTIFYING`]), some sentence (text between `. ` or `;`) has the word `by`
///   followed later in that sentence by a word of [`ID_WORDS`] ("by SHA-256, SHA-1 or MD5",
///   "by ruleset id", "by UTC minute").
fn audit(description: &str, path: Option<&str>, schema: &serde_json::Value) -> Vec<String> {
    let mut reasons = vec![];
    let mut rest = description;
    for marker in ["Deprecated. ", "GTI: "] {
        rest = rest.strip_prefix(marker).unwrap_or(rest);
    }
    let first = words(rest).into_iter().next().unwrap_or_default();
    let is_verb = VERBS.iter().any(|v| {
        first == *v || first.strip_suffix('s') == Some(v) || first.strip_suffix("es") == Some(v)
    });
    if !is_verb {
        reasons.push(format!("no action: starts with {first:?}, not a verb"));
    }
    let lower = description.to_lowercase();
    let root = path.map(|p| {
        p.split('/')
            .filter(|s| !s.is_empty())
            .find(|s| !matches!(*s, "intelligence" | "private" | "feeds"))
            .unwrap_or_default()
    });
    let nouns: Vec<&str> = match root {
        Some(root) => OBJECTS
            .iter()
            .find(|(r, _)| *r == root)
            .map(|(_, n)| n.to_vec())
            .unwrap_or_else(|| panic!("path root {root} has no object in OBJECTS")),
        None => OBJECTS
            .iter()
            .flat_map(|(_, n)| n.iter().copied())
            .chain(COMPOSITE_OBJECTS.iter().copied())
            .collect(),
    };
    if !nouns.iter().any(|n| has_word_start(&lower, n)) {
        reasons.push(format!("no object: names none of {nouns:?}"));
    }
    let identifying: Vec<&str> = path
        .into_iter()
        .flat_map(|p| p.split('/'))
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .filter(|p| *p != "relationship" && !SELF_IDENTIFYING.contains(p))
        .filter(|p| schema["properties"][*p].get("enum").is_none())
        .collect();
    if !identifying.is_empty() {
        let says = lower
            .split([';', '\n'])
            .flat_map(|s| s.split(". "))
            .any(|s| {
                let w = words(s);
                w.iter()
                    .position(|x| x == "by")
                    .is_some_and(|i| w[i + 1..].iter().any(|x| ID_WORDS.contains(&x.as_str())))
            });
        if !says {
            reasons.push(format!(
                "no identifier: takes {identifying:?} but no \"by <id>\" clause"
            ));
        }
    }
    reasons
}

#[test]
fn every_tool_description_names_action_object_and_identifier() {
    let server = VtServer::new(&everything("http://127.0.0.1:9")).unwrap();
    let mut failures = vec![];
    let mut audited = 0;
    for e in server.entries() {
        let t = e.tool();
        let description = t.description.as_deref().unwrap_or_default();
        let schema = serde_json::Value::Object((*t.input_schema).clone());
        let reasons = audit(description, e.op.map(|o| o.path), &schema);
        audited += 1;
        if !reasons.is_empty() {
            failures.push(format!(
                "{}: {} — {description}",
                t.name,
                reasons.join("; ")
            ));
        }
    }
    assert!(audited > 250, "only {audited} tools listed");
    assert!(
        failures.is_empty(),
        "{} of {audited} tool descriptions fail the audit:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_audit_rejects_what_it_should() {
    let schema = serde_json::json!({"properties": {"id": {"type": "string"}}});
    // A noun phrase names no action.
    assert!(
        audit(
            "Files your organisation scanned privately.",
            Some("/private/files"),
            &schema
        )[0]
        .starts_with("no action")
    );
    // The wrong object.
    let r = audit("Gets one graph by id.", Some("/files/{id}"), &schema);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("no object"), "{r:?}");
    // An identifier in the path that the text leaves unsaid.
    let r = audit("Gets one ruleset.", Some("/yara_rulesets/{id}"), &schema);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("no identifier"), "{r:?}");
    // "by" in one sentence and an id word in the next do not make a clause.
    let r = audit(
        "Gets a ruleset used by engines. Its id is long.",
        Some("/yara_rulesets/{id}"),
        &schema,
    );
    assert!(r[0].starts_with("no identifier"), "{r:?}");
    // Passing forms: a verb with -s/-es, a marker first, a self-identifying parameter, a
    // selector with an enum.
    assert!(
        audit(
            "Gets a ruleset by ruleset id.",
            Some("/yara_rulesets/{id}"),
            &schema
        )
        .is_empty()
    );
    assert!(
        audit(
            "Deprecated. Searches files by hash.",
            Some("/files/{id}"),
            &schema
        )
        .is_empty()
    );
    assert!(
        audit(
            "Lists the votes on a domain.",
            Some("/domains/{domain}/votes"),
            &schema
        )
        .is_empty()
    );
    let with_enum = serde_json::json!({"properties": {"id": {"type": "string"},
        "format": {"enum": ["json", "csv"]}}});
    assert!(
        audit(
            "Downloads a collection's IoCs by collection id.",
            Some("/collections/{id}/download/{format}"),
            &with_enum
        )
        .is_empty()
    );
    // A tool without a path names any object.
    assert!(audit("Triages URLs and hashes.", None, &schema).is_empty());
}
