//! How a [`Report`] is filled from VirusTotal's JSON: identity and dates from the object's
//! attributes, the verdict from `last_analysis_stats` and `last_analysis_results`, highlights from
//! crowdsourced rule results and sandbox verdicts, relationships from their descriptors.

use super::model::{EngineHit, Field, Highlight, MAX_ENGINES, Relationship, Report, Verdict};
use super::text::clean;
use serde_json::{Map, Value, json};

/// The categories of `last_analysis_stats` that are a verdict; the others (type-unsupported,
/// timeout, confirmed-timeout, failure) mean the engine gave none.
const VERDICT_CATEGORIES: [&str; 4] = ["malicious", "suspicious", "harmless", "undetected"];

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
        for (name, v) in sorted(a.get("sandbox_verdicts")).into_iter().take(6) {
            let mut detail: Vec<String> = vec![];
            for k in ["malware_names", "malware_classification"] {
                detail.extend(
                    v.get(k)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(clean),
                );
            }
            self.highlights.push(Highlight {
                source: "sandbox".into(),
                title: clean(name),
                severity: v.get("category").and_then(Value::as_str).map(clean),
                detail: (!detail.is_empty()).then(|| detail.join(", ")),
            });
        }
        for y in a
            .get("crowdsourced_yara_results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(5)
        {
            self.highlights.push(Highlight {
                source: "yara".into(),
                title: clean(y.get("rule_name").and_then(Value::as_str).unwrap_or("rule")),
                severity: y.get("ruleset_name").and_then(Value::as_str).map(clean),
                detail: y
                    .get("description")
                    .and_then(Value::as_str)
                    .map(clean)
                    .filter(|s| !s.is_empty()),
            });
        }
        for s in a
            .get("sigma_analysis_results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(5)
        {
            self.highlights.push(Highlight {
                source: "sigma".into(),
                title: clean(
                    s.get("rule_title")
                        .and_then(Value::as_str)
                        .unwrap_or("rule"),
                ),
                severity: s.get("rule_level").and_then(Value::as_str).map(clean),
                detail: None,
            });
        }
        for i in a
            .get("crowdsourced_ids_results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(5)
        {
            self.highlights.push(Highlight {
                source: "ids".into(),
                title: clean(i.get("rule_msg").and_then(Value::as_str).unwrap_or("alert")),
                severity: i.get("alert_severity").and_then(Value::as_str).map(clean),
                detail: None,
            });
        }
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
                    .filter_map(|i| i.get("id").and_then(Value::as_str))
                    .map(|id| match name.as_str() {
                        "resolutions" => clean(&resolution_label(self.kind, &self.id, id)),
                        _ => clean(id),
                    })
                    .take(5)
                    .collect(),
                objects: vec![],
                error: None,
            });
        }
    }
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
