//! STIX 2.1 export (`format: "stix"` on the object reports and `triage_iocs`): what VirusTotal
//! said, as a bundle that MISP, OpenCTI and SIEMs import.
//!
//! What a bundle holds:
//! * an `identity` for VirusTotal (the source, `created_by_ref` of every object made here);
//! * the object looked up as a cyber-observable (`file`, `url`, `domain-name`, `ipv4-addr`,
//!   `ipv6-addr`), with the engine counts as `x_virustotal_stats`;
//! * when engines flag it (malicious or suspicious), an `indicator` with a STIX pattern for it
//!   (`[file:hashes.'SHA-256' = '…']`), the verdict in its description and stats, a link to
//!   VirusTotal, and a `based-on` relationship to the observable; an object no engine flags gets
//!   no indicator (zero detections is not a verdict of harmlessness);
//! * for a file, a `malware` family for each name in VirusTotal's popular threat classification,
//!   with the file as sample and the indicator `indicates` it;
//! * the related objects the report carries (contacted domains, resolutions …) as observables,
//!   `related-to` the object (the VirusTotal relationship named in the description) or, for
//!   passive DNS, `domain-name` `resolves-to` address.
//!
//! Identifiers are deterministic, so a second export of the same object updates the same
//! objects in the tool that imports it: observables use STIX's own UUIDv5 scheme (namespace
//! `00abedb4-…`, over the canonical JSON of their id-contributing properties, §2.9 of the
//! specification); the others a UUIDv5 under vtmcp's namespace over what they describe.
//! Values are exact (the raw VirusTotal values, not the cleaned text of the markdown).

use super::model::{Report, Verdict};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::net::IpAddr;
use uuid::Uuid;

/// STIX 2.1's namespace for deterministic cyber-observable identifiers (§2.9).
const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);
/// vtmcp's namespace for the identifiers of the other objects it makes.
const VTMCP_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f3b0e_58d2_4a47_9b1e_3e0f6d2a9c41);

/// The STIX malware types (`malware-type-ov`) VirusTotal's threat categories map to.
const MALWARE_TYPES: &[(&str, &str)] = &[
    ("adware", "adware"),
    ("backdoor", "backdoor"),
    ("bot", "bot"),
    ("downloader", "downloader"),
    ("dropper", "dropper"),
    ("keylogger", "keylogger"),
    ("ransomware", "ransomware"),
    ("rat", "remote-access-trojan"),
    ("rootkit", "rootkit"),
    ("spyware", "spyware"),
    ("trojan", "trojan"),
    ("virus", "virus"),
    ("webshell", "webshell"),
    ("wiper", "wiper"),
    ("worm", "worm"),
    ("miner", "resource-exploitation"),
];

/// A cyber-observable, with its exact value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observable {
    /// A file by its hashes (at least one), with a name and size when known.
    File {
        /// MD5, lowercase hex.
        md5: Option<String>,
        /// SHA-1, lowercase hex.
        sha1: Option<String>,
        /// SHA-256, lowercase hex.
        sha256: Option<String>,
        /// A name VirusTotal gives it.
        name: Option<String>,
        /// Size in bytes.
        size: Option<u64>,
    },
    /// A URL.
    Url(String),
    /// A domain name.
    Domain(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl Observable {
    /// A file known by one hash (its kind read from its length), or `None` if it is not one.
    pub fn file_by_hash(hash: &str) -> Option<Observable> {
        let h = hash.trim().to_ascii_lowercase();
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (mut md5, mut sha1, mut sha256) = (None, None, None);
        match h.len() {
            32 => md5 = Some(h),
            40 => sha1 = Some(h),
            64 => sha256 = Some(h),
            _ => return None,
        }
        Some(Observable::File {
            md5,
            sha1,
            sha256,
            name: None,
            size: None,
        })
    }

    /// The observable VirusTotal's object `kind` (`file`, `url`, `domain`, `ip_address`) with
    /// id or value `value` stands for.
    pub fn of_kind(kind: &str, value: &str) -> Option<Observable> {
        match kind {
            "file" => Observable::file_by_hash(value),
            "url" => Some(Observable::Url(value.to_string())),
            "domain" => Some(Observable::Domain(value.to_ascii_lowercase())),
            "ip_address" => value.parse().ok().map(Observable::Ip),
            _ => None,
        }
    }

    fn stix_type(&self) -> &'static str {
        match self {
            Observable::File { .. } => "file",
            Observable::Url(_) => "url",
            Observable::Domain(_) => "domain-name",
            Observable::Ip(IpAddr::V4(_)) => "ipv4-addr",
            Observable::Ip(IpAddr::V6(_)) => "ipv6-addr",
        }
    }

    /// The hashes, strongest first, as STIX names them.
    fn hashes(&self) -> Vec<(&'static str, &str)> {
        let Observable::File {
            md5, sha1, sha256, ..
        } = self
        else {
            return vec![];
        };
        [("SHA-256", sha256), ("SHA-1", sha1), ("MD5", md5)]
            .into_iter()
            .filter_map(|(n, h)| Some((n, h.as_deref()?)))
            .collect()
    }

    /// The value shown to people (the strongest hash for a file).
    pub fn value(&self) -> String {
        match self {
            Observable::File { .. } => self
                .hashes()
                .first()
                .map(|(_, h)| h.to_string())
                .unwrap_or_default(),
            Observable::Url(u) => u.clone(),
            Observable::Domain(d) => d.clone(),
            Observable::Ip(ip) => ip.to_string(),
        }
    }

    /// The STIX object (without custom properties).
    fn object(&self) -> Value {
        let mut o = Map::new();
        o.insert("type".into(), json!(self.stix_type()));
        o.insert("spec_version".into(), json!("2.1"));
        o.insert("id".into(), json!(self.id()));
        match self {
            Observable::File { name, size, .. } => {
                let hashes: Map<String, Value> = self
                    .hashes()
                    .into_iter()
                    .map(|(n, h)| (n.to_string(), json!(h)))
                    .collect();
                o.insert("hashes".into(), Value::Object(hashes));
                if let Some(n) = name {
                    o.insert("name".into(), json!(n));
                }
                if let Some(s) = size {
                    o.insert("size".into(), json!(s));
                }
            }
            _ => {
                o.insert("value".into(), json!(self.value()));
            }
        }
        Value::Object(o)
    }

    /// The deterministic identifier of §2.9: a UUIDv5 over the canonical JSON (keys sorted, no
    /// white space) of the id-contributing properties — `value`, or for a file one hash (MD5,
    /// then SHA-1, then SHA-256 by the specification's preference) and its name.
    pub fn id(&self) -> String {
        let contributing = match self {
            Observable::File { name, .. } => {
                let hashes = self.hashes();
                let preferred = ["MD5", "SHA-1", "SHA-256"]
                    .iter()
                    .find_map(|want| hashes.iter().find(|(n, _)| n == want))
                    .map(|(n, h)| json!({ *n: h }));
                let mut m = Map::new();
                if let Some(h) = preferred {
                    m.insert("hashes".into(), h);
                }
                if let Some(n) = name {
                    m.insert("name".into(), json!(n));
                }
                Value::Object(m)
            }
            _ => json!({"value": self.value()}),
        };
        // serde_json's maps are ordered by key and `to_string` writes no white space: the
        // canonical form for these (string-only) properties.
        let name = contributing.to_string();
        format!(
            "{}--{}",
            self.stix_type(),
            Uuid::new_v5(&SCO_NAMESPACE, name.as_bytes())
        )
    }

    /// A STIX pattern matching it.
    pub fn pattern(&self) -> String {
        match self {
            Observable::File { .. } => {
                let (name, hash) = self.hashes().first().copied().unwrap_or(("SHA-256", ""));
                format!("[file:hashes.'{name}' = '{}']", escape(hash))
            }
            _ => format!("[{}:value = '{}']", self.stix_type(), escape(&self.value())),
        }
    }

    /// The object's page on VirusTotal.
    fn gui_url(&self, url_id: Option<&str>) -> Option<String> {
        let base = "https://www.virustotal.com/gui";
        match self {
            Observable::File { .. } => Some(format!("{base}/file/{}", self.value())),
            Observable::Url(_) => url_id.map(|id| format!("{base}/url/{id}")),
            Observable::Domain(d) => Some(format!("{base}/domain/{d}")),
            Observable::Ip(ip) => Some(format!("{base}/ip-address/{ip}")),
        }
    }
}

/// A string literal's content in a STIX pattern: backslash and quote escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Engine counts of a verdict.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Engines that said malicious.
    pub malicious: u64,
    /// Engines that said suspicious.
    pub suspicious: u64,
    /// Engines that returned a verdict.
    pub engines: u64,
}

impl From<&Verdict> for Stats {
    fn from(v: &Verdict) -> Stats {
        Stats {
            malicious: v.malicious,
            suspicious: v.suspicious,
            engines: v.total,
        }
    }
}

/// A STIX bundle being built (see the [module](self) docs).
pub struct Bundle {
    now: String,
    identity: String,
    objects: Vec<Value>,
    ids: HashSet<String>,
}

impl Bundle {
    /// An empty bundle made at `now`, holding VirusTotal's identity.
    pub fn new(now: DateTime<Utc>) -> Bundle {
        let now = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let identity = sdo_id("identity", "VirusTotal");
        let mut b = Bundle {
            now: now.clone(),
            identity: identity.clone(),
            objects: vec![],
            ids: HashSet::new(),
        };
        b.push(json!({
            "type": "identity", "spec_version": "2.1", "id": identity,
            "created": now, "modified": now, "name": "VirusTotal",
            "identity_class": "organization",
            "description": "Detections and context from VirusTotal, exported by vtmcp."
        }));
        b
    }

    /// Adds `o` unless an object with its id is already in.
    fn push(&mut self, o: Value) -> String {
        let id = o["id"].as_str().unwrap_or_default().to_string();
        if self.ids.insert(id.clone()) {
            self.objects.push(o);
        }
        id
    }

    /// Adds an observable, with VirusTotal's counts when known.
    pub fn observable(&mut self, o: &Observable, stats: Option<Stats>) -> String {
        let mut v = o.object();
        if let Some(s) = stats {
            v["x_virustotal_stats"] = json!({"malicious": s.malicious, "suspicious": s.suspicious,
                                             "engines": s.engines});
        }
        self.push(v)
    }

    /// Adds the observable and, when engines flag it, an indicator based on it; returns the
    /// indicator's id if one was made.
    pub fn verdict(
        &mut self,
        o: &Observable,
        stats: Stats,
        label: Option<&str>,
        analysed: Option<DateTime<Utc>>,
        url_id: Option<&str>,
    ) -> Option<String> {
        let observable = self.observable(o, Some(stats));
        if stats.malicious + stats.suspicious == 0 {
            return None;
        }
        let kind = if stats.malicious > 0 {
            "malicious-activity"
        } else {
            "anomalous-activity"
        };
        let mut description = format!(
            "VirusTotal: {} of {} engines that returned a verdict flag it malicious, {} suspicious.",
            stats.malicious, stats.engines, stats.suspicious
        );
        if let Some(l) = label {
            description.push_str(&format!(" Suggested threat label: {l}."));
        }
        let pattern = o.pattern();
        let mut ind = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": sdo_id("indicator", &pattern),
            "created_by_ref": self.identity, "created": self.now, "modified": self.now,
            "name": format!("{} flagged by VirusTotal", o.value()),
            "description": description,
            "indicator_types": [kind],
            "pattern": pattern, "pattern_type": "stix", "pattern_version": "2.1",
            "valid_from": analysed
                .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_else(|| self.now.clone()),
            "x_virustotal_stats": {"malicious": stats.malicious, "suspicious": stats.suspicious,
                                   "engines": stats.engines},
        });
        if let Some(url) = o.gui_url(url_id) {
            ind["external_references"] = json!([{"source_name": "VirusTotal", "url": url}]);
        }
        let indicator = self.push(ind);
        self.relate(&indicator, "based-on", &observable, None);
        Some(indicator)
    }

    /// Adds a malware family (`is_family`), with `sample` as a sample when given.
    pub fn malware(&mut self, name: &str, types: &[&str], sample: Option<&str>) -> String {
        let mut m = json!({
            "type": "malware", "spec_version": "2.1",
            "id": sdo_id("malware", &name.to_ascii_lowercase()),
            "created_by_ref": self.identity, "created": self.now, "modified": self.now,
            "name": name, "is_family": true,
        });
        if !types.is_empty() {
            m["malware_types"] = json!(types);
        }
        if let Some(s) = sample {
            m["sample_refs"] = json!([s]);
        }
        self.push(m)
    }

    /// Adds a relationship `source` → `target`.
    pub fn relate(
        &mut self,
        source: &str,
        kind: &str,
        target: &str,
        description: Option<&str>,
    ) -> String {
        let mut r = json!({
            "type": "relationship", "spec_version": "2.1",
            "id": sdo_id("relationship", &format!("{source} {kind} {target}")),
            "created_by_ref": self.identity, "created": self.now, "modified": self.now,
            "relationship_type": kind, "source_ref": source, "target_ref": target,
        });
        if let Some(d) = description {
            r["description"] = json!(d);
        }
        self.push(r)
    }

    /// The bundle as JSON.
    pub fn into_value(self) -> Value {
        json!({
            "type": "bundle",
            "id": sdo_id("bundle", &self.objects.iter().map(|o| o["id"].as_str().unwrap_or_default()).collect::<Vec<_>>().join(" ")),
            "objects": self.objects,
        })
    }
}

/// A deterministic identifier for a non-observable object describing `what`.
fn sdo_id(kind: &str, what: &str) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&VTMCP_NAMESPACE, format!("{kind}:{what}").as_bytes())
    )
}

/// The observable of an object report, from VirusTotal's exact values.
fn report_observable(r: &Report) -> Option<Observable> {
    let a = r.data.get("attributes").unwrap_or(&Value::Null);
    let s = |k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    let id = r.data.get("id").and_then(Value::as_str);
    match r.kind {
        "file" => {
            let o = Observable::File {
                md5: s("md5"),
                sha1: s("sha1"),
                sha256: s("sha256").or_else(|| id.map(str::to_ascii_lowercase)),
                name: a
                    .get("meaningful_name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                size: a.get("size").and_then(Value::as_u64),
            };
            (!o.hashes().is_empty()).then_some(o)
        }
        "url" => a
            .get("url")
            .and_then(Value::as_str)
            .map(|u| Observable::Url(u.to_string())),
        kind => Observable::of_kind(kind, id?),
    }
}

/// An object report as a STIX bundle (see the [module](self) docs). A report on an object
/// VirusTotal does not know is a bundle with the identity only.
pub fn report_bundle(r: &Report, now: DateTime<Utc>) -> Value {
    let mut b = Bundle::new(now);
    let Some(o) = report_observable(r) else {
        return b.into_value();
    };
    let a = r.data.get("attributes").unwrap_or(&Value::Null);
    let analysed = a
        .get("last_analysis_date")
        .and_then(Value::as_i64)
        .and_then(|t| DateTime::from_timestamp(t, 0));
    let url_id = r.data.get("id").and_then(Value::as_str);
    let stats = r.verdict.as_ref().map(Stats::from);
    let label = r.verdict.as_ref().and_then(|v| v.threat_label.as_deref());
    let (subject, indicator) = match stats {
        Some(s) => {
            let ind = b.verdict(&o, s, label, analysed, url_id);
            (o.id(), ind)
        }
        None => (b.observable(&o, None), None),
    };
    // Families, for files.
    if r.kind == "file" {
        let ptc = a.get("popular_threat_classification");
        let list = |key: &str| -> Vec<String> {
            ptc.and_then(|p| p.get(key))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|x| x.get("value")?.as_str().map(str::to_string))
                .collect()
        };
        let types: Vec<&str> = list("popular_threat_category")
            .iter()
            .filter_map(|c| {
                MALWARE_TYPES
                    .iter()
                    .find(|(vt, _)| vt.eq_ignore_ascii_case(c))
                    .map(|(_, stix)| *stix)
            })
            .collect();
        for family in list("popular_threat_name").iter().take(5) {
            let m = b.malware(family, &types, Some(&subject));
            if let Some(ind) = &indicator {
                b.relate(ind, "indicates", &m, None);
            }
        }
    }
    // Related objects the answer carries.
    let own = o.value();
    for (name, rel) in r
        .data
        .get("relationships")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let items: Vec<&Value> = match rel.get("data") {
            Some(Value::Array(v)) => v.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => vec![],
        };
        for item in items {
            let (Some(kind), Some(id)) = (
                item.get("type").and_then(Value::as_str),
                item.get("id").and_then(Value::as_str),
            ) else {
                continue;
            };
            if kind == "resolution" {
                let Some((domain, ip)) = split_resolution(r.kind, &own, id) else {
                    continue;
                };
                let d = b.observable(&Observable::Domain(domain), None);
                let i = b.observable(&Observable::Ip(ip), None);
                b.relate(&d, "resolves-to", &i, Some("VirusTotal passive DNS"));
                continue;
            }
            let related = match kind {
                "url" => item
                    .pointer("/context_attributes/url")
                    .or_else(|| item.pointer("/attributes/url"))
                    .and_then(Value::as_str)
                    .map(|u| Observable::Url(u.to_string())),
                other => Observable::of_kind(other, id),
            };
            if let Some(rel_o) = related {
                let target = b.observable(&rel_o, None);
                b.relate(
                    &subject,
                    "related-to",
                    &target,
                    Some(&format!("VirusTotal relationship: {name}")),
                );
            }
        }
    }
    b.into_value()
}

/// A resolution id (address and host name run together) as (domain, address), split by the
/// report's own domain or address.
fn split_resolution(kind: &str, own: &str, id: &str) -> Option<(String, IpAddr)> {
    match kind {
        "domain" => Some((own.to_string(), id.strip_suffix(own)?.parse().ok()?)),
        "ip_address" => {
            let host = id.strip_prefix(own).filter(|h| !h.is_empty())?;
            Some((host.to_ascii_lowercase(), own.parse().ok()?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observable_ids_follow_the_specifications_scheme() {
        // UUIDv5 over the canonical JSON of the id-contributing properties (§2.9).
        let d = Observable::Domain("example.com".into());
        let expect = Uuid::new_v5(&SCO_NAMESPACE, br#"{"value":"example.com"}"#);
        assert_eq!(d.id(), format!("domain-name--{expect}"));
        // A file: MD5 is preferred over the stronger hashes for the id, the name contributes.
        let f = Observable::File {
            md5: Some("44d88612fea8a8f36de82e1278abb02f".into()),
            sha1: None,
            sha256: Some("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f".into()),
            name: Some("eicar.com".into()),
            size: Some(68),
        };
        let expect = Uuid::new_v5(
            &SCO_NAMESPACE,
            br#"{"hashes":{"MD5":"44d88612fea8a8f36de82e1278abb02f"},"name":"eicar.com"}"#,
        );
        assert_eq!(f.id(), format!("file--{expect}"));
        // …while the pattern uses the strongest.
        assert_eq!(
            f.pattern(),
            "[file:hashes.'SHA-256' = '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f']"
        );
    }

    #[test]
    fn pattern_strings_escape_quotes_and_backslashes() {
        let u = Observable::Url(r"http://x.example/a'b\c".into());
        assert_eq!(u.pattern(), r"[url:value = 'http://x.example/a\'b\\c']");
        let ip = Observable::of_kind("ip_address", "2001:db8::1").unwrap();
        assert_eq!(ip.pattern(), "[ipv6-addr:value = '2001:db8::1']");
    }

    #[test]
    fn resolutions_split_by_the_reports_own_value() {
        assert_eq!(
            split_resolution("domain", "github.com", "140.82.114.3github.com"),
            Some(("github.com".into(), "140.82.114.3".parse().unwrap()))
        );
        assert_eq!(
            split_resolution("ip_address", "140.82.114.3", "140.82.114.3github.com"),
            Some(("github.com".into(), "140.82.114.3".parse().unwrap()))
        );
        assert_eq!(split_resolution("domain", "github.com", "garbage"), None);
    }
}
