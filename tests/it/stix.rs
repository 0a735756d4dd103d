//! `format: "stix"` on the object reports and `triage_iocs`, through a real MCP client against a
//! mock VirusTotal. Every bundle is checked against the STIX 2.1 specification: the required
//! properties of each object type produced (§3–§6), identifier and timestamp forms, property
//! names, references that resolve inside the bundle, and every indicator's pattern against the
//! patterning grammar (§9) — parsed here by a recursive-descent parser written from that
//! grammar, and checked to match the observable it is based on.
//!
//! (Checked once more by hand when this was written: the bundles these tests produce parse with
//! OASIS' `stix2` 3.0 library, their patterns pass `stix2-patterns`' 2.1 validator, and their
//! observable ids equal the ones that library computes. Neither is needed to run the tests.)

use crate::mcp::{call, config, connect, text};
use crate::reports::{FILE_ID, fixture, mount_objects};
use crate::support::mock_vt;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use wiremock::{Mock, ResponseTemplate, matchers};

// ---------------------------------------------------------------- the specification's rules

/// Required properties per object type (STIX 2.1 §4–§6), beyond the common ones.
fn required(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "identity" => &["name"],
        "indicator" => &["pattern", "pattern_type", "valid_from"],
        "malware" => &["is_family"],
        "relationship" => &["relationship_type", "source_ref", "target_ref"],
        "file" | "url" | "domain-name" | "ipv4-addr" | "ipv6-addr" => &[],
        _ => return None,
    })
}

/// The properties the specification defines for each type produced (common ones included).
fn defined(kind: &str) -> Vec<&'static str> {
    let mut v = vec!["type", "spec_version", "id"];
    if !SCOS.contains(&kind) {
        v.extend([
            "created_by_ref",
            "created",
            "modified",
            "revoked",
            "labels",
            "confidence",
            "lang",
            "external_references",
            "object_marking_refs",
            "granular_markings",
            "extensions",
        ]);
    } else {
        v.extend([
            "object_marking_refs",
            "granular_markings",
            "defanged",
            "extensions",
        ]);
    }
    v.extend(match kind {
        "identity" => &[
            "name",
            "description",
            "roles",
            "identity_class",
            "sectors",
            "contact_information",
        ][..],
        "indicator" => &[
            "name",
            "description",
            "indicator_types",
            "pattern",
            "pattern_type",
            "pattern_version",
            "valid_from",
            "valid_until",
            "kill_chain_phases",
        ][..],
        "malware" => &[
            "name",
            "description",
            "malware_types",
            "is_family",
            "aliases",
            "kill_chain_phases",
            "first_seen",
            "last_seen",
            "operating_system_refs",
            "architecture_execution_envs",
            "implementation_languages",
            "capabilities",
            "sample_refs",
        ][..],
        "relationship" => &[
            "relationship_type",
            "description",
            "source_ref",
            "target_ref",
            "start_time",
            "stop_time",
        ][..],
        "file" => &[
            "hashes",
            "size",
            "name",
            "name_enc",
            "magic_number_hex",
            "mime_type",
            "ctime",
            "mtime",
            "atime",
            "parent_directory_ref",
            "contains_refs",
            "content_ref",
        ][..],
        "url" => &["value"][..],
        "domain-name" | "ipv4-addr" | "ipv6-addr" => {
            &["value", "resolves_to_refs", "belongs_to_refs"][..]
        }
        _ => &[][..],
    });
    v
}

const SCOS: &[&str] = &["file", "url", "domain-name", "ipv4-addr", "ipv6-addr"];

fn is_timestamp(v: &Value) -> bool {
    // RFC 3339, UTC, `Z`; fractional seconds optional.
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    s.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && s.ends_with('Z')
        && (s.len() == 20 || (b[19] == b'.' && digits(20..s.len() - 1) && s.len() > 21))
}

fn is_millisecond_timestamp(v: &Value) -> bool {
    is_timestamp(v) && v.as_str().is_some_and(|s| s.len() == 24)
}

/// `type--UUID`, an RFC 4122 UUID of version 4 or 5 (version 5 for observables, §2.9).
fn check_id(id: &Value, kind: &str) -> Result<(), String> {
    let id = id.as_str().ok_or("id is not a string")?;
    let uuid = id
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix("--"))
        .ok_or_else(|| format!("{id}: not `{kind}--UUID`"))?;
    let u = uuid::Uuid::parse_str(uuid).map_err(|e| format!("{id}: {e}"))?;
    if uuid.to_ascii_lowercase() != uuid {
        return Err(format!("{id}: the UUID must be lowercase"));
    }
    match (u.get_version_num(), SCOS.contains(&kind)) {
        (5, _) | (4, false) => Ok(()),
        (v, _) => Err(format!("{id}: UUID version {v}")),
    }
}

/// Checks a bundle against the rules above; returns its objects by id.
fn check_bundle(b: &Value) -> HashMap<String, Value> {
    assert_eq!(b["type"], "bundle", "{b}");
    check_id(&b["id"], "bundle").unwrap();
    let objects = b["objects"].as_array().expect("objects");
    assert!(!objects.is_empty());
    let mut by_id = HashMap::new();
    for o in objects {
        let kind = o["type"].as_str().unwrap_or_else(|| panic!("no type: {o}"));
        let req = required(kind).unwrap_or_else(|| panic!("unexpected type {kind}: {o}"));
        check_id(&o["id"], kind).unwrap();
        assert_eq!(o["spec_version"], "2.1", "{o}");
        for p in req {
            assert!(o.get(*p).is_some(), "{kind} lacks {p}: {o}");
        }
        for name in o.as_object().unwrap().keys() {
            // §3.1: property names are ASCII letters, digits and underscores; one the
            // specification does not define for the type is custom (§11.1): `x_`, 3–250 long.
            assert!(
                name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'),
                "property name {name:?} in {o}"
            );
            if !defined(kind).contains(&name.as_str()) {
                assert!(
                    name.starts_with("x_") && (3..=250).contains(&name.len()),
                    "{kind} has no property {name:?} (custom ones start with x_): {o}"
                );
            }
        }
        if !SCOS.contains(&kind) {
            assert!(is_millisecond_timestamp(&o["created"]), "created: {o}");
            assert!(is_millisecond_timestamp(&o["modified"]), "modified: {o}");
            assert!(o["modified"].as_str() >= o["created"].as_str(), "{o}");
        }
        match kind {
            "indicator" => {
                assert_eq!(o["pattern_type"], "stix", "{o}");
                assert!(is_timestamp(&o["valid_from"]), "{o}");
                for t in o["indicator_types"].as_array().into_iter().flatten() {
                    // indicator-type-ov
                    assert!(
                        [
                            "anomalous-activity",
                            "anonymization",
                            "benign",
                            "compromised",
                            "malicious-activity",
                            "attribution",
                            "unknown"
                        ]
                        .contains(&t.as_str().unwrap()),
                        "{o}"
                    );
                }
                parse_pattern(o["pattern"].as_str().unwrap())
                    .unwrap_or_else(|e| panic!("pattern {}: {e}", o["pattern"]));
            }
            "malware" if o["is_family"] == true => {
                assert!(o["name"].is_string(), "a family has a name (§4.11): {o}");
            }
            "file" => {
                // §6.7: at least one of hashes or name; hashes by hash-algorithm-ov, as hex.
                assert!(o.get("hashes").is_some() || o.get("name").is_some(), "{o}");
                for (alg, h) in o["hashes"].as_object().into_iter().flatten() {
                    let len = match alg.as_str() {
                        "MD5" => 32,
                        "SHA-1" => 40,
                        "SHA-256" => 64,
                        other => panic!("hash {other} in {o}"),
                    };
                    let h = h.as_str().unwrap();
                    assert!(
                        h.len() == len && h.bytes().all(|c| c.is_ascii_hexdigit()),
                        "{o}"
                    );
                }
            }
            "url" | "domain-name" => assert!(o["value"].is_string(), "{o}"),
            "ipv4-addr" => assert!(
                o["value"]
                    .as_str()
                    .unwrap()
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok(),
                "{o}"
            ),
            "ipv6-addr" => assert!(
                o["value"]
                    .as_str()
                    .unwrap()
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok(),
                "{o}"
            ),
            _ => {}
        }
        assert!(
            by_id
                .insert(o["id"].as_str().unwrap().to_string(), o.clone())
                .is_none(),
            "duplicate id {}",
            o["id"]
        );
    }
    // Every reference resolves inside the bundle.
    for o in by_id.values() {
        for (k, v) in o.as_object().unwrap() {
            let refs: Vec<&Value> = if k.ends_with("_ref") {
                vec![v]
            } else if k.ends_with("_refs") {
                v.as_array().unwrap().iter().collect()
            } else {
                continue;
            };
            for r in refs {
                assert!(
                    by_id.contains_key(r.as_str().unwrap()),
                    "{k} → {r} is not in the bundle"
                );
            }
        }
    }
    by_id
}

// ------------------------------------------------------------------ the patterning grammar

/// A parsed comparison: object type, path, operator, string literal (unescaped).
#[derive(Debug, PartialEq)]
struct Comparison {
    object: String,
    path: Vec<String>,
    op: String,
    literal: String,
}

/// Parses a STIX pattern (§9.3's grammar: observation expressions joined by AND / OR /
/// FOLLOWEDBY, each `[ comparison expression ]` with optional qualifiers; comparisons joined by
/// AND / OR, parenthesised, `NOT`, the operators `= != < <= > >= IN LIKE MATCHES ISSUBSET
/// ISSUPERSET`, `EXISTS`, and the literal forms) and returns its comparisons.
fn parse_pattern(s: &str) -> Result<Vec<Comparison>, String> {
    let mut p = Parser {
        s: s.as_bytes(),
        i: 0,
        found: vec![],
    };
    p.observation_expressions()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing text at {}", p.i));
    }
    Ok(p.found)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    found: Vec<Comparison>,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        let t = tok.as_bytes();
        let word = t[0].is_ascii_alphabetic();
        if self.s[self.i..].starts_with(t)
            && !(word
                && self
                    .s
                    .get(self.i + t.len())
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_'))
        {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, tok: &str) -> Result<(), String> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(format!("expected {tok:?} at {}", self.i))
        }
    }
    /// `item (op item)*`: the grammar's left-associative joins (FOLLOWEDBY, OR, AND).
    fn joined(
        &mut self,
        op: &str,
        item: fn(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        item(self)?;
        while self.eat(op) {
            item(self)?;
        }
        Ok(())
    }
    fn observation_expressions(&mut self) -> Result<(), String> {
        self.joined("FOLLOWEDBY", |p| {
            p.joined("OR", |p| p.joined("AND", Self::observation))
        })
    }
    fn observation(&mut self) -> Result<(), String> {
        if self.eat("[") {
            self.comparison_or()?;
            self.expect("]")?;
        } else if self.eat("(") {
            self.observation_expressions()?;
            self.expect(")")?;
        } else {
            return Err(format!("expected an observation expression at {}", self.i));
        }
        // Qualifiers: START t'…' STOP t'…' | WITHIN n SECONDS | REPEATS n TIMES.
        loop {
            if self.eat("START") {
                self.timestamp_literal()?;
                self.expect("STOP")?;
                self.timestamp_literal()?;
            } else if self.eat("WITHIN") {
                self.number()?;
                self.expect("SECONDS")?;
            } else if self.eat("REPEATS") {
                self.number()?;
                self.expect("TIMES")?;
            } else {
                return Ok(());
            }
        }
    }
    fn comparison_or(&mut self) -> Result<(), String> {
        self.joined("OR", |p| p.joined("AND", Self::prop_test))
    }
    fn prop_test(&mut self) -> Result<(), String> {
        if self.eat("(") {
            self.comparison_or()?;
            return self.expect(")");
        }
        if self.eat("EXISTS") {
            self.object_path()?;
            return Ok(());
        }
        let (object, path) = self.object_path()?;
        self.eat("NOT");
        for op in ["!=", "<=", ">=", "=", "<", ">"] {
            if self.eat(op) {
                let literal = self.primitive_literal()?;
                self.found.push(Comparison {
                    object,
                    path,
                    op: op.into(),
                    literal,
                });
                return Ok(());
            }
        }
        if self.eat("IN") {
            self.expect("(")?;
            self.primitive_literal()?;
            while self.eat(",") {
                self.primitive_literal()?;
            }
            return self.expect(")");
        }
        for op in ["LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"] {
            if self.eat(op) {
                let literal = self.string_literal()?;
                self.found.push(Comparison {
                    object,
                    path,
                    op: op.into(),
                    literal,
                });
                return Ok(());
            }
        }
        Err(format!("expected a comparison operator at {}", self.i))
    }
    /// objectType ':' firstPathComponent objectPathComponent*
    fn object_path(&mut self) -> Result<(String, Vec<String>), String> {
        self.ws();
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        {
            self.i += 1;
        }
        let object = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
        if object.is_empty() || !object.as_bytes()[0].is_ascii_lowercase() || object.ends_with('-')
        {
            return Err(format!("bad object type {object:?}"));
        }
        if self.s.get(self.i) != Some(&b':') {
            return Err(format!("expected ':' after {object}"));
        }
        self.i += 1;
        let mut path = vec![self.path_component()?];
        loop {
            if self.s.get(self.i) == Some(&b'.') {
                self.i += 1;
                path.push(self.path_component()?);
            } else if self.s.get(self.i) == Some(&b'[') {
                self.i += 1;
                if self.s.get(self.i) == Some(&b'*') {
                    self.i += 1;
                } else {
                    self.number()?;
                }
                if self.s.get(self.i) != Some(&b']') {
                    return Err("unclosed index".into());
                }
                self.i += 1;
            } else {
                return Ok((object, path));
            }
        }
    }
    fn path_component(&mut self) -> Result<String, String> {
        if self.s.get(self.i) == Some(&b'\'') {
            return self.string_literal();
        }
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.i += 1;
        }
        if start == self.i || !self.s[start].is_ascii_alphabetic() {
            return Err(format!("bad path component at {start}"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).to_string())
    }
    fn number(&mut self) -> Result<(), String> {
        self.ws();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
        }
        if self.i == start {
            Err(format!("expected a number at {start}"))
        } else {
            Ok(())
        }
    }
    /// '…' with \' and \\ the only escapes.
    fn string_literal(&mut self) -> Result<String, String> {
        self.ws();
        if self.s.get(self.i) != Some(&b'\'') {
            return Err(format!("expected a string at {}", self.i));
        }
        self.i += 1;
        let mut out = vec![];
        loop {
            match self.s.get(self.i) {
                None => return Err("unterminated string".into()),
                Some(b'\'') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|e| e.to_string());
                }
                Some(b'\\') => match self.s.get(self.i + 1) {
                    Some(c @ (b'\'' | b'\\')) => {
                        out.push(*c);
                        self.i += 2;
                    }
                    _ => return Err(format!("bad escape at {}", self.i)),
                },
                Some(c) => {
                    out.push(*c);
                    self.i += 1;
                }
            }
        }
    }
    fn timestamp_literal(&mut self) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) != Some(&b't') {
            return Err("expected t'…'".into());
        }
        self.i += 1;
        let s = self.string_literal()?;
        if is_timestamp(&json!(s)) {
            Ok(())
        } else {
            Err(format!("bad timestamp {s}"))
        }
    }
    fn primitive_literal(&mut self) -> Result<String, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'\'') => self.string_literal(),
            Some(b't' | b'h' | b'b') if self.s.get(self.i + 1) == Some(&b'\'') => {
                self.i += 1;
                self.string_literal()
            }
            _ if self.eat("true") || self.eat("false") => Ok(String::new()),
            _ => self.number().map(|_| String::new()),
        }
    }
}

#[test]
fn the_pattern_parser_accepts_the_grammar_and_rejects_what_is_not() {
    for ok in [
        "[file:hashes.'SHA-256' = 'aa']",
        "[file:hashes.MD5 = 'aa' OR file:name = 'x.exe']",
        "[url:value = 'http://x/a\\'b\\\\c']",
        "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
        "([domain-name:value = 'a.example'] AND [ipv4-addr:value = '1.2.3.4']) WITHIN 300 SECONDS",
        "[network-traffic:dst_ref.value = '1.2.3.4' AND network-traffic:dst_port IN (80, 443)]",
        "[file:size > 10] REPEATS 2 TIMES START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00Z'",
        "[x-custom:extensions.'a-b'.list[*] NOT = 'q']",
    ] {
        parse_pattern(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "file:hashes.MD5 = 'aa'",
        "[file:hashes.MD5 == 'aa']",
        "[file:hashes.MD5 = 'a'a']",
        "[file:hashes.MD5 = 'a\\x']",
        "[File:name = 'a']",
        "[url:value = 'x'",
        "[url:value = 'x'] AND",
        "[url value = 'x']",
    ] {
        assert!(parse_pattern(bad).is_err(), "accepted {bad}");
    }
    let c = parse_pattern("[url:value = 'http://x/a\\'b']").unwrap();
    assert_eq!(
        c,
        [Comparison {
            object: "url".into(),
            path: vec!["value".into()],
            op: "=".into(),
            literal: "http://x/a'b".into()
        }]
    );
}

// ---------------------------------------------------------------------------------- the tests

/// The bundle of a STIX answer: the text, with the report's JSON as structured content.
fn bundle_of(r: &rmcp::model::CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(false), "{}", text(r));
    serde_json::from_str(&text(r)).unwrap_or_else(|e| panic!("{e}: {}", text(r)))
}

fn of_type<'a>(objects: &'a HashMap<String, Value>, kind: &str) -> Vec<&'a Value> {
    let mut v: Vec<&Value> = objects.values().filter(|o| o["type"] == kind).collect();
    v.sort_by_key(|o| o["id"].as_str().unwrap().to_string());
    v
}

/// Each indicator's pattern names its observable's type and exact value.
fn check_indicators_match_observables(objects: &HashMap<String, Value>) {
    for ind in of_type(objects, "indicator") {
        let based: Vec<&Value> = of_type(objects, "relationship")
            .into_iter()
            .filter(|r| r["relationship_type"] == "based-on" && r["source_ref"] == ind["id"])
            .collect();
        assert_eq!(based.len(), 1, "one observable per indicator: {ind}");
        let obs = &objects[based[0]["target_ref"].as_str().unwrap()];
        let cmp = parse_pattern(ind["pattern"].as_str().unwrap()).unwrap();
        assert_eq!(cmp.len(), 1);
        assert_eq!(cmp[0].object, obs["type"].as_str().unwrap());
        assert_eq!(cmp[0].op, "=");
        match cmp[0].path.as_slice() {
            [v] if v == "value" => assert_eq!(cmp[0].literal, obs["value"].as_str().unwrap()),
            [h, alg] if h == "hashes" => {
                assert_eq!(cmp[0].literal, obs["hashes"][alg].as_str().unwrap())
            }
            other => panic!("unexpected path {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_file_report_exports_indicator_families_and_related_observables() {
    let server = mock_vt().await;
    mount_objects(&server).await;
    let client = connect(&config(&server.uri(), &["default"], &[], false, false)).await;
    let r = call(
        &client,
        "get_file_report",
        json!({"file_hash": FILE_ID, "format": "stix"}),
    )
    .await;
    // The structured content stays the report.
    assert_eq!(r.structured_content.as_ref().unwrap()["kind"], "file");
    let objects = check_bundle(&bundle_of(&r));
    check_indicators_match_observables(&objects);

    let file = of_type(&objects, "file");
    assert_eq!(file.len(), 1, "{objects:?}");
    let file = file[0];
    assert_eq!(file["hashes"]["SHA-256"], FILE_ID);
    assert_eq!(file["hashes"]["MD5"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(file["name"], "invoice_2026_11.exe");
    assert_eq!(file["x_virustotal_stats"]["malicious"], 52);

    let ind = of_type(&objects, "indicator");
    assert_eq!(ind.len(), 1);
    assert_eq!(
        ind[0]["pattern"],
        format!("[file:hashes.'SHA-256' = '{FILE_ID}']")
    );
    assert_eq!(ind[0]["indicator_types"], json!(["malicious-activity"]));
    assert_eq!(ind[0]["valid_from"], "2025-11-26T09:40:00Z");
    assert!(
        ind[0]["description"].as_str().unwrap().contains("52 of 68"),
        "{}",
        ind[0]
    );
    assert_eq!(
        ind[0]["external_references"][0]["url"],
        format!("https://www.virustotal.com/gui/file/{FILE_ID}")
    );

    // Families from the popular threat classification, with the file as sample.
    let malware = of_type(&objects, "malware");
    let mut names: Vec<&str> = malware
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["dropperx", "emotet"]);
    for m in &malware {
        assert_eq!(m["is_family"], true);
        assert_eq!(m["malware_types"], json!(["trojan", "dropper"]));
        assert_eq!(m["sample_refs"], json!([file["id"]]));
    }
    let rels = of_type(&objects, "relationship");
    let count = |t: &str| rels.iter().filter(|r| r["relationship_type"] == t).count();
    assert_eq!(count("indicates"), 2);
    // Related objects: the contacted domains and the URL whose descriptor carries it; the URL
    // known only by its id, and the mock's parents and dropped files (ids that are not hashes),
    // are left out.
    let related: HashSet<&str> = rels
        .iter()
        .filter(|r| r["relationship_type"] == "related-to")
        .map(|r| {
            objects[r["target_ref"].as_str().unwrap()]["value"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert!(
        related.contains("contacted_domains-0.example"),
        "{related:?}"
    );
    assert!(
        related.contains("http://cdn.example-secure.top/gate.php"),
        "{related:?}"
    );
    assert!(
        !related.iter().any(|v| v.contains("9e8d7c6b")),
        "a URL known only by its id is no URL observable: {related:?}"
    );
}

#[tokio::test]
async fn domain_resolutions_export_as_resolves_to_and_clean_objects_get_no_indicator() {
    let server = mock_vt().await;
    let mut domain = fixture("domain.json");
    domain["data"]["relationships"] = json!({"resolutions": {"data": [
        {"type": "resolution", "id": "203.0.113.7example-secure.top"},
        {"type": "resolution", "id": "2001:db8::7example-secure.top"},
    ]}});
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/domains/example-secure.top"))
        .respond_with(ResponseTemplate::new(200).set_body_json(domain))
        .mount(&server)
        .await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/ip_addresses/8.8.8.8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("ip_address.json")))
        .mount(&server)
        .await;
    let client = connect(&config(&server.uri(), &["default"], &[], false, false)).await;
    let r = call(
        &client,
        "get_domain_report",
        json!({"domain": "example-secure.top", "relationships": ["resolutions"], "format": "stix"}),
    )
    .await;
    let objects = check_bundle(&bundle_of(&r));
    check_indicators_match_observables(&objects);
    let resolves: Vec<(String, String)> = of_type(&objects, "relationship")
        .into_iter()
        .filter(|r| r["relationship_type"] == "resolves-to")
        .map(|r| {
            let v = |k: &str| {
                objects[r[k].as_str().unwrap()]["value"]
                    .as_str()
                    .unwrap()
                    .to_string()
            };
            (v("source_ref"), v("target_ref"))
        })
        .collect();
    assert_eq!(resolves.len(), 2, "{resolves:?}");
    assert!(resolves.contains(&("example-secure.top".into(), "203.0.113.7".into())));
    assert!(resolves.contains(&("example-secure.top".into(), "2001:db8::7".into())));
    assert_eq!(of_type(&objects, "ipv6-addr").len(), 1);

    // 0 of 63 engines: an observable with its counts, no indicator.
    let r = call(
        &client,
        "get_ip_report",
        json!({"ip": "8.8.8.8", "format": "stix"}),
    )
    .await;
    let objects = check_bundle(&bundle_of(&r));
    assert!(of_type(&objects, "indicator").is_empty(), "{objects:?}");
    let ip = of_type(&objects, "ipv4-addr");
    assert_eq!(ip.len(), 1);
    assert_eq!(ip[0]["value"], "8.8.8.8");
    assert_eq!(
        ip[0]["x_virustotal_stats"],
        json!({"malicious": 0, "suspicious": 0, "engines": 63})
    );
}

#[tokio::test]
async fn a_url_report_and_a_triage_export_exact_values_with_stable_ids() {
    let server = mock_vt().await;
    mount_objects(&server).await;
    let client = connect(&config(&server.uri(), &["default"], &[], false, false)).await;
    let url = "http://login-microsoft.example-secure.top/owa/?user=victim";
    let r = call(
        &client,
        "get_url_report",
        json!({"url": url, "format": "stix"}),
    )
    .await;
    let first = bundle_of(&r);
    let objects = check_bundle(&first);
    check_indicators_match_observables(&objects);
    let ind = of_type(&objects, "indicator");
    assert_eq!(ind.len(), 1);
    assert_eq!(ind[0]["pattern"], format!("[url:value = '{url}']"));
    // A second export names the same objects (an importer updates instead of duplicating).
    let again = bundle_of(
        &call(
            &client,
            "get_url_report",
            json!({"url": url, "format": "stix"}),
        )
        .await,
    );
    let ids = |b: &Value| -> Vec<String> {
        b["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first), ids(&again));

    let r = call(
        &client,
        "triage_iocs",
        json!({"iocs": [FILE_ID, url, "8.8.8.8", "not an ioc"], "format": "stix"}),
    )
    .await;
    assert!(r.structured_content.as_ref().unwrap()["rows"].is_array());
    let objects = check_bundle(&bundle_of(&r));
    check_indicators_match_observables(&objects);
    let patterns: HashSet<&str> = of_type(&objects, "indicator")
        .iter()
        .map(|i| i["pattern"].as_str().unwrap())
        .collect();
    assert_eq!(
        patterns,
        HashSet::from([
            format!("[file:hashes.'SHA-256' = '{FILE_ID}']").as_str(),
            format!("[url:value = '{url}']").as_str(),
        ])
    );
    // The clean address is an observable without an indicator; the invalid entry is left out.
    assert_eq!(of_type(&objects, "ipv4-addr").len(), 1);
    assert_eq!(
        objects.len(),
        1 + 3 + 2 + 2,
        "identity, 3 observables, 2 indicators, 2 based-on"
    );
}
