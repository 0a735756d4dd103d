//! How a [`Report`] is filled from VirusTotal's JSON: identity and dates from the object's
//! attributes, the verdict from `last_analysis_stats` and `last_analysis_results`, highlights from
//! crowdsourced rule results and sandbox verdicts, relationships from their descriptors.

use super::model::{EngineHit, Field, Highlight, MAX_ENGINES, Relationship, Report, Verdict};
use super::text::clean;
use serde_json::{Map, Value, json};

/// The categories of `last_analysis_stats` that are a verdict; the others (type-unsupported,
/// timeout, confirmed-timeout, failure) mean the engine gave none.
const VERDICT_CATEGORIES: [&str; 4] = ["malicious", "suspicious", "harmless", "undetected"];

/// How many highlights a report shows per source (sandbox, YARA, Sigma, IDS).
const HIGHLIGHTS_PER_SOURCE: usize = 5;

/// How severe a sandbox category, Sigma level or IDS severity is, for ordering (higher first);
/// YARA matches carry no severity and rank between medium and low.
fn severity_rank(severity: Option<&str>) -> u8 {
    match severity.map(str::to_ascii_lowercase).as_deref() {
        Some("critical") => 5,
        Some("malicious" | "high") => 4,
        Some("suspicious" | "medium") => 3,
        Some("low") => 1,
        Some("info" | "informational" | "harmless" | "undetected") => 0,
        // A YARA match (no level) says more than a low or informational alert.
        _ => 2,
    }
}

/// Sandbox verdicts and crowdsourced YARA, Sigma and IDS results as highlights: one per rule
/// (a rule that fired many times is one line with its count and its most severe level), most
/// severe first, at most [`HIGHLIGHTS_PER_SOURCE`] per source.
fn highlights(a: &Map<String, Value>) -> Vec<Highlight> {
    let items = |key: &str| -> Vec<&Value> {
        a.get(key)
            .and_then(Value::as_array)
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(clean);
    let mut by_source: Vec<Vec<Highlight>> = vec![];
    // Sandboxes: one entry per sandbox already.
    by_source.push(
        sorted(a.get("sandbox_verdicts"))
            .into_iter()
            .map(|(name, v)| {
                let detail: Vec<String> = ["malware_names", "malware_classification"]
                    .iter()
                    .flat_map(|k| v.get(*k).and_then(Value::as_array).into_iter().flatten())
                    .filter_map(Value::as_str)
                    .map(clean)
                    .collect();
                Highlight {
                    source: "sandbox".into(),
                    title: clean(name),
                    severity: text(v, "category"),
                    detail: (!detail.is_empty()).then(|| detail.join(", ")),
                    hits: 1,
                }
            })
            .collect(),
    );
    by_source.push(
        items("crowdsourced_yara_results")
            .into_iter()
            .map(|y| Highlight {
                source: "yara".into(),
                title: text(y, "rule_name").unwrap_or_else(|| "rule".into()),
                severity: None,
                detail: match (
                    text(y, "description").filter(|s| !s.is_empty()),
                    text(y, "ruleset_name"),
                ) {
                    (Some(d), Some(set)) => Some(format!("{d} (ruleset {set})")),
                    (Some(d), None) => Some(d),
                    (None, Some(set)) => Some(format!("ruleset {set}")),
                    (None, None) => None,
                },
                hits: 1,
            })
            .collect(),
    );
    by_source.push(
        items("sigma_analysis_results")
            .into_iter()
            .map(|s| Highlight {
                source: "sigma".into(),
                title: text(s, "rule_title").unwrap_or_else(|| "rule".into()),
                severity: text(s, "rule_level"),
                detail: None,
                hits: 1,
            })
            .collect(),
    );
    by_source.push(
        items("crowdsourced_ids_results")
            .into_iter()
            .map(|i| Highlight {
                source: "ids".into(),
                title: text(i, "rule_msg").unwrap_or_else(|| "alert".into()),
                severity: text(i, "alert_severity"),
                detail: None,
                hits: 1,
            })
            .collect(),
    );
    let mut out: Vec<Highlight> = vec![];
    for found in by_source {
        let mut rules: Vec<Highlight> = vec![];
        for h in found {
            match rules.iter_mut().find(|r| r.title == h.title) {
                Some(r) => {
                    r.hits += 1;
                    if severity_rank(h.severity.as_deref()) > severity_rank(r.severity.as_deref()) {
                        r.severity = h.severity;
                    }
                    if r.detail.is_none() {
                        r.detail = h.detail;
                    }
                }
                None => rules.push(h),
            }
        }
        // Stable: equally severe rules keep VirusTotal's order.
        rules.sort_by_key(|r| std::cmp::Reverse(severity_rank(r.severity.as_deref())));
        out.extend(rules.into_iter().take(HIGHLIGHTS_PER_SOURCE));
    }
    // Most severe first across sources too; a source's own order is kept within a level.
    out.sort_by_key(|r| std::cmp::Reverse(severity_rank(r.severity.as_deref())));
    out
}

/// `(engines that returned a verdict, engines that did not)` of `last_analysis_stats`.
pub fn engine_counts(stats: &Map<String, Value>) -> (u64, u64) {
    stats
        .iter()
        .filter_map(|(k, v)| Some((k, v.as_u64()?)))
        .fold((0, 0), |(with, without), (k, n)| {
            if VERDICT_CATEGORIES.contains(&k.as_str()) {
                (with + n, without)
            } else {
                (with, without + n)
            }
        })
}

impl Report {
    /// An empty report for an object.
    pub fn new(kind: &'static str, id: impl Into<String>, depth: &'static str) -> Report {
        Report {
            kind,
            id: id.into(),
            found: true,
            verdict: None,
            identity: vec![],
            dates: vec![],
            reputation: vec![],
            tags: vec![],
            classification: vec![],
            highlights: vec![],
            categories: vec![],
            popularity: vec![],
            relationships: vec![],
            requests: 0,
            depth,
            data: Value::Null,
            notes: vec![],
        }
    }

    /// Adds a cleaned string field when present and non-empty.
    pub fn text(list: &mut Vec<Field>, name: &str, v: Option<&Value>) {
        if let Some(s) = v
            .and_then(Value::as_str)
            .map(clean)
            .filter(|s| !s.is_empty())
        {
            list.push(Field {
                name: name.into(),
                value: Value::String(s),
            });
        }
    }

    /// Adds a number field when present.
    pub fn number(list: &mut Vec<Field>, name: &str, v: Option<&Value>) {
        if let Some(n) = v.filter(|n| n.is_number()) {
            list.push(Field {
                name: name.into(),
                value: n.clone(),
            });
        }
    }

    /// Adds a UTC date field from a Unix timestamp when present.
    pub fn date(list: &mut Vec<Field>, name: &str, v: Option<&Value>) {
        if let Some(d) = v.and_then(Value::as_i64).and_then(utc) {
            list.push(Field {
                name: name.into(),
                value: Value::String(d),
            });
        }
    }

    /// Adds a list of cleaned strings (capped) when non-empty.
    pub fn list(list: &mut Vec<Field>, name: &str, v: Option<&Value>, max: usize) {
        let items: Vec<Value> = v
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(clean)
            .filter(|s| !s.is_empty())
            .take(max)
            .map(Value::String)
            .collect();
        if !items.is_empty() {
            list.push(Field {
                name: name.into(),
                value: Value::Array(items),
            });
        }
    }

    /// Fills verdict, dates, reputation, tags, classification and highlights common to all kinds.
    pub fn fill_common(&mut self, a: &Map<String, Value>) {
        self.verdict = verdict(a);
        Report::date(
            &mut self.dates,
            "first_submission",
            a.get("first_submission_date"),
        );
        Report::date(
            &mut self.dates,
            "last_submission",
            a.get("last_submission_date"),
        );
        Report::date(
            &mut self.dates,
            "first_seen_in_the_wild",
            a.get("first_seen_itw_date"),
        );
        Report::date(
            &mut self.dates,
            "last_analysis",
            a.get("last_analysis_date"),
        );
        Report::number(&mut self.reputation, "reputation", a.get("reputation"));
        if let Some(v) = a.get("total_votes").and_then(Value::as_object) {
            let h = v.get("harmless").and_then(Value::as_u64).unwrap_or(0);
            let m = v.get("malicious").and_then(Value::as_u64).unwrap_or(0);
            if h + m > 0 {
                self.reputation.push(Field {
                    name: "votes".into(),
                    value: json!({"harmless": h, "malicious": m}),
                });
            }
        }
        self.tags = a
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(clean)
            .take(20)
            .collect();
        if let Some(ptc) = a
            .get("popular_threat_classification")
            .and_then(Value::as_object)
        {
            for (key, name) in [
                ("popular_threat_category", "categories"),
                ("popular_threat_name", "names"),
            ] {
                let items: Vec<String> = ptc
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|x| {
                        Some(format!(
                            "{} ({})",
                            clean(x.get("value")?.as_str()?),
                            x.get("count")?.as_u64()?
                        ))
                    })
                    .take(5)
                    .collect();
                if !items.is_empty() {
                    self.classification.push(Field {
                        name: name.into(),
                        value: json!(items),
                    });
                }
            }
        }
        self.highlights = highlights(a);
        for (vendor, cat) in sorted(a.get("categories")).into_iter().take(8) {
            if let Some(c) = cat.as_str() {
                self.categories.push(Field {
                    name: clean(vendor),
                    value: Value::String(clean(c)),
                });
            }
        }
        for (service, r) in sorted(a.get("popularity_ranks")).into_iter().take(6) {
            if let Some(rank) = r.get("rank").and_then(Value::as_u64) {
                self.popularity.push(Field {
                    name: clean(service),
                    value: json!(rank),
                });
            }
        }
    }

    /// Reads embedded relationship descriptors (`?relationships=`) into the report.
    pub fn fill_relationships(&mut self, data: &Value, names: &[String]) {
        let rels = data.get("relationships").and_then(Value::as_object);
        for name in names {
            let Some(r) = rels.and_then(|r| r.get(name)) else {
                self.relationships.push(Relationship {
                    name: name.clone(),
                    count: None,
                    more: false,
                    ids: vec![],
                    objects: vec![],
                    error: Some("not returned by VirusTotal (may need a premium key)".into()),
                });
                continue;
            };
            let items: Vec<&Value> = match r.get("data") {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v @ Value::Object(_)) => vec![v],
                _ => vec![],
            };
            let cursor = r.pointer("/meta/cursor").and_then(Value::as_str).is_some()
                || r.pointer("/links/next").and_then(Value::as_str).is_some();
            let count = r
                .pointer("/meta/count")
                .and_then(Value::as_u64)
                .or(Some(items.len() as u64));
            self.relationships.push(Relationship {
                name: name.clone(),
                count,
                more: cursor,
                ids: items
                    .iter()
                    .filter_map(|i| descriptor_label(self.kind, &self.id, i))
                    .map(|label| clean(&label))
                    .take(5)
                    .collect(),
                objects: vec![],
                error: None,
            });
        }
    }
}

/// What identifies a related object to a person, from its descriptor (`{type, id,
/// context_attributes?}`) as a report's summary depth carries it: the URL where the answer gives
/// it, a resolution as `host → address`, and otherwise the id said to be what it is ("URL id …",
/// "analysis …") where a bare id would not tell.
pub fn descriptor_label(kind: &str, own_id: &str, item: &Value) -> Option<String> {
    let id = item.get("id").and_then(Value::as_str)?;
    let url = ["/context_attributes/url", "/attributes/url"]
        .iter()
        .find_map(|p| item.pointer(p).and_then(Value::as_str));
    Some(match (item.get("type").and_then(Value::as_str), url) {
        (Some("url"), Some(url)) => url.to_string(),
        (Some("url"), None) => format!("URL id {id}"),
        (Some("resolution"), _) => resolution_label(kind, own_id, id),
        (Some("analysis"), _) => format!("analysis {id}"),
        (Some("whois"), _) => format!("WHOIS record {id}"),
        (Some("ssl_cert"), _) => format!("certificate {id}"),
        (Some("graph"), _) => format!("graph {id}"),
        (Some("comment"), _) => format!("comment {id}"),
        _ => id.to_string(),
    })
}

/// A resolution's id is the IP address and the host name run together
/// (`140.82.114.3github.com`): shown as `github.com → 140.82.114.3` when the report's own domain
/// or address marks where one ends (the id as it is otherwise).
pub fn resolution_label(kind: &str, own_id: &str, id: &str) -> String {
    let split = match kind {
        "domain" => id
            .strip_suffix(own_id)
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .map(|ip| format!("{own_id} → {ip}")),
        "ip_address" => id
            .strip_prefix(own_id)
            .filter(|host| !host.is_empty())
            .map(|host| format!("{host} → {own_id}")),
        _ => None,
    };
    split.unwrap_or_else(|| id.to_string())
}

/// The members of a JSON object sorted by key. Answers are parsed with serde_json, which keeps
/// the document's order (`preserve_order`; only the typed client's maps are `BTreeMap`s), and the
/// order of VirusTotal's maps (engine results, sandbox verdicts) carries no meaning: sorted, the
/// same object always renders the same way.
pub fn sorted(v: Option<&Value>) -> Vec<(&String, &Value)> {
    let mut m: Vec<(&String, &Value)> = v
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    m.sort_by(|a, b| a.0.cmp(b.0));
    m
}

fn verdict(a: &Map<String, Value>) -> Option<Verdict> {
    let stats = a.get("last_analysis_stats").and_then(Value::as_object)?;
    let n = |k: &str| stats.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut v = Verdict {
        malicious: n("malicious"),
        suspicious: n("suspicious"),
        harmless: n("harmless"),
        undetected: n("undetected"),
        total: engine_counts(stats).0,
        no_verdict: engine_counts(stats).1,
        ..Verdict::default()
    };
    let mut hits: Vec<EngineHit> = a
        .get("last_analysis_results")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(engine, r)| {
            let category = r.get("category")?.as_str()?;
            matches!(category, "malicious" | "suspicious").then(|| EngineHit {
                engine: clean(engine),
                category: category.into(),
                label: r
                    .get("result")
                    .and_then(Value::as_str)
                    .map(clean)
                    .filter(|s| !s.is_empty()),
            })
        })
        .collect();
    hits.sort_by(|x, y| {
        (x.category != "malicious", &x.engine).cmp(&(y.category != "malicious", &y.engine))
    });
    v.more_flagged = hits.len().saturating_sub(MAX_ENGINES);
    hits.truncate(MAX_ENGINES);
    v.flagged_by = hits;
    v.threat_label = a
        .get("popular_threat_classification")
        .and_then(|p| p.get("suggested_threat_label"))
        .and_then(Value::as_str)
        .map(clean);
    Some(v)
}

/// A Unix timestamp as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(ts: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_only_descriptors_say_what_their_id_is() {
        let label = |v: Value| descriptor_label("domain", "example.com", &v).unwrap();
        assert_eq!(
            label(
                json!({"type": "url", "id": "ab12", "context_attributes": {"url": "http://x.example/"}})
            ),
            "http://x.example/"
        );
        assert_eq!(label(json!({"type": "url", "id": "ab12"})), "URL id ab12");
        assert_eq!(
            label(json!({"type": "analysis", "id": "u-ab12-1700000000"})),
            "analysis u-ab12-1700000000"
        );
        assert_eq!(
            label(json!({"type": "whois", "id": "f00d"})),
            "WHOIS record f00d"
        );
        assert_eq!(
            label(json!({"type": "resolution", "id": "1.2.3.4example.com"})),
            "example.com → 1.2.3.4"
        );
        assert_eq!(label(json!({"type": "file", "id": "44d8"})), "44d8");
        assert!(descriptor_label("domain", "example.com", &json!({"type": "url"})).is_none());
    }

    #[test]
    fn highlights_are_one_per_rule_most_severe_first() {
        let a = json!({
            "sigma_analysis_results": [
                {"rule_title": "A", "rule_level": "low"},
                {"rule_title": "B", "rule_level": "medium"},
                {"rule_title": "A", "rule_level": "critical"},
            ],
            "crowdsourced_ids_results": (0..9).map(|i| json!({"rule_msg": format!("R{i}"), "alert_severity": "info"})).collect::<Vec<_>>(),
        });
        let h = highlights(a.as_object().unwrap());
        let got: Vec<(String, Option<String>, u32)> = h
            .iter()
            .map(|h| (h.title.clone(), h.severity.clone(), h.hits))
            .collect();
        assert_eq!(got[0], ("A".into(), Some("critical".into()), 2));
        assert_eq!(got[1], ("B".into(), Some("medium".into()), 1));
        assert_eq!(
            h.iter().filter(|h| h.source == "ids").count(),
            HIGHLIGHTS_PER_SOURCE
        );
    }

    #[test]
    fn resolution_ids_read_as_host_and_address() {
        let label = |k, own, id| resolution_label(k, own, id);
        assert_eq!(
            label("domain", "github.com", "140.82.114.3github.com"),
            "github.com → 140.82.114.3"
        );
        assert_eq!(
            label("ip_address", "140.82.114.3", "140.82.114.3github.com"),
            "github.com → 140.82.114.3"
        );
        assert_eq!(
            label("domain", "b.com", "2001:db8::1b.com"),
            "b.com → 2001:db8::1"
        );
        // Not of that shape: as it is.
        assert_eq!(label("domain", "github.com", "odd-id"), "odd-id");
        assert_eq!(label("file", "x", "1.2.3.4x"), "1.2.3.4x");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0).unwrap(), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1764150000).unwrap(), "2025-11-26 09:40 UTC");
    }
}
