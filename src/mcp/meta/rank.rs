//! Ranks the spec's operations for a query written in an analyst's words: BM25 over weighted
//! fields (name, summary, toolset, path, description, parameter and relationship names), with
//! light stemming and a small table of VirusTotal vocabulary. Built once from the operation
//! table; no model, no network, and the same query always gives the same order (ties keep spec
//! order).

use crate::ops::{OPERATIONS, OperationMeta};
use std::collections::HashMap;
use std::sync::OnceLock;

/// How much a term found in each field counts.
const NAME: f64 = 3.0;
const SUMMARY: f64 = 2.0;
const TOOLSET: f64 = 1.5;
const PATH: f64 = 1.0;
const DESCRIPTION: f64 = 1.0;
const PARAMS: f64 = 0.5;
/// The bonus of an operation whose name the query's own words cover entirely (scaled by the
/// share covered): `get_file` over `get_private_file` for "get a file report".
const NAME_COVERED: f64 = 3.0;
/// How much a word the vocabulary table adds counts beside the query's own words.
const RELATED: f64 = 0.6;
/// BM25's term-frequency saturation and length normalisation (documents are short and of
/// similar length, so length matters little).
const K1: f64 = 1.2;
const B: f64 = 0.4;

/// Words that say nothing about which operation is meant.
const STOP: &[&str] = &[
    "a", "an", "the", "of", "to", "for", "in", "on", "by", "with", "and", "or", "is", "are", "be",
    "this", "that", "these", "those", "it", "its", "i", "me", "my", "we", "our", "you", "your",
    "what", "which", "how", "do", "does", "did", "can", "from", "at", "as", "into", "about",
    "some", "any", "there", "their", "them", "has", "have", "had", "was", "were", "if", "so",
    "please", "want", "need", "would", "like", "could", "should", "let", "us", "id", "ids",
];

/// VirusTotal vocabulary: a word analysts use (stemmed), and the words the spec uses for it.
const RELATED_WORDS: &[(&str, &[&str])] = &[
    ("sample", &["file"]),
    ("binary", &["file"]),
    ("malware", &["file"]),
    ("executable", &["file"]),
    ("hash", &["file"]),
    ("attachment", &["file"]),
    ("website", &["url", "domain"]),
    ("site", &["url", "domain"]),
    ("link", &["url"]),
    ("host", &["domain"]),
    ("hostname", &["domain"]),
    ("subdomain", &["domain", "relationship"]),
    ("ip", &["ip_address"]),
    ("sandbox", &["behaviour"]),
    ("behavior", &["behaviour"]),
    ("detonation", &["behaviour"]),
    ("dynamic", &["behaviour"]),
    ("traffic", &["pcap"]),
    ("capture", &["pcap"]),
    ("dns", &["resolution"]),
    ("resolv", &["resolution"]),
    ("certificate", &["ssl", "cert"]),
    ("tls", &["ssl", "cert"]),
    ("archive", &["zip"]),
    ("livehunt", &["hunting", "ruleset"]),
    ("hunt", &["hunting"]),
    ("yara", &["ruleset", "rule"]),
    ("alert", &["notification"]),
    ("match", &["notification", "matching"]),
    ("matched", &["notification", "matching"]),
    ("hit", &["notification", "matching"]),
    ("quota", &["usage", "quota"]),
    ("allowance", &["quota"]),
    ("consumption", &["usage"]),
    ("mitre", &["attack", "technique", "tactic"]),
    ("ttp", &["attack", "technique"]),
    ("actor", &["threat_actor"]),
    ("apt", &["threat_actor"]),
    ("note", &["comment"]),
    ("verdict", &["vote", "analysis"]),
    ("scan", &["analyse", "rescan"]),
    ("reanalyze", &["rescan"]),
    ("reanalyse", &["rescan"]),
    ("member", &["user"]),
    ("teammate", &["user", "group"]),
    ("team", &["group"]),
    ("organization", &["group"]),
    ("status", &["get"]),
    ("progress", &["get"]),
    ("show", &["get", "list"]),
    ("fetch", &["get"]),
    ("retrieve", &["get"]),
    ("look", &["get"]),
    ("lookup", &["get"]),
    ("see", &["get", "list"]),
    ("who", &["list", "user"]),
    ("all", &["list"]),
    ("every", &["list"]),
    ("new", &["create"]),
    ("make", &["create"]),
    ("start", &["create"]),
    ("launch", &["create"]),
    ("post", &["add"]),
    ("write", &["add", "create"]),
    ("remove", &["delete"]),
    ("erase", &["delete"]),
    ("cancel", &["abort", "delete"]),
    ("stop", &["abort"]),
    ("edit", &["update"]),
    ("change", &["update"]),
    ("modify", &["update"]),
    ("rename", &["update"]),
    ("share", &["grant", "viewer", "editor"]),
    ("permission", &["editor", "viewer", "access"]),
    ("owner", &["ownership"]),
    ("feed", &["batch"]),
    ("stream", &["ioc_stream"]),
    ("private", &["private"]),
    ("search", &["search", "intelligence"]),
    ("query", &["search"]),
];

/// Lower-cased alphanumeric words of `text`, stemmed, stop words left out.
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

/// A light English stemmer: plurals, `-ed`, `-ing` and a final `e` go, so that `votes`,
/// `voted` and `voting` meet `vote`, and `rules` meets `rule`.
pub fn stem(word: &str) -> String {
    let mut w = word.to_string();
    let n = w.chars().count();
    if n > 4 && w.ends_with("ies") {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if n > 3
        && w.ends_with('s')
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
    {
        w.pop();
    }
    let n = w.chars().count();
    if n > 5 && w.ends_with("ing") {
        w.truncate(w.len() - 3);
    } else if n > 4 && w.ends_with("ed") && !w.ends_with("eed") {
        w.truncate(w.len() - 2);
    }
    // A doubled final consonant left by the suffix (`scanned` → `scann`) is one.
    let b = w.as_bytes();
    if b.len() > 3 && b[b.len() - 1] == b[b.len() - 2] && !b"aeiouls".contains(&b[b.len() - 1]) {
        w.pop();
    }
    if w.chars().count() > 3 && w.ends_with('e') && !w.ends_with("ee") {
        w.pop();
    }
    w
}

/// The query's terms with their weights: its own words, then the spec's words for the
/// analyst's ones ([`RELATED_WORDS`]) at a lower weight.
fn query_terms(query: &str) -> Vec<(String, f64)> {
    let own = terms(query);
    let mut out: Vec<(String, f64)> = Vec::new();
    let mut add = |t: String, w: f64| match out.iter_mut().find(|(x, _)| *x == t) {
        Some((_, old)) => *old = old.max(w),
        None => out.push((t, w)),
    };
    for t in &own {
        add(t.clone(), 1.0);
    }
    for t in &own {
        for (word, related) in RELATED_WORDS {
            if stem(word) == *t {
                for r in related.iter().flat_map(|r| terms(r)) {
                    add(r, RELATED);
                }
            }
        }
    }
    out
}

/// One operation as the ranking sees it.
struct Doc {
    op: &'static OperationMeta,
    /// The terms of its name.
    name: Vec<String>,
    /// Weighted term frequencies.
    tf: HashMap<String, f64>,
    /// Weighted length.
    len: f64,
}

/// The ranking index of every operation that is a tool.
pub struct Index {
    docs: Vec<Doc>,
    /// In how many documents each term occurs.
    df: HashMap<String, usize>,
    avg_len: f64,
}

/// The index, built on first use.
pub fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| Index::new(OPERATIONS.iter().filter(|o| o.excluded.is_none())))
}

/// Parameter names and relationship names an operation takes (from its input schema).
fn parameter_words(op: &OperationMeta) -> String {
    let mut words: Vec<String> = op.params.iter().map(|p| p.arg.to_string()).collect();
    if let Ok(serde_json::Value::Object(schema)) =
        serde_json::from_str::<serde_json::Value>(op.input_schema)
        && let Some(props) = schema.get("properties").and_then(|p| p.as_object())
    {
        for (name, p) in props {
            words.push(name.clone());
            if name.starts_with("relationship")
                && let Some(names) = p
                    .get("enum")
                    .or_else(|| p.get("items").and_then(|i| i.get("enum")))
                    .and_then(|e| e.as_array())
            {
                words.extend(names.iter().filter_map(|n| n.as_str()).map(str::to_string));
            }
        }
    }
    words.join(" ")
}

impl Index {
    fn new(ops: impl Iterator<Item = &'static OperationMeta>) -> Index {
        let mut docs = Vec::new();
        let mut df: HashMap<String, usize> = HashMap::new();
        for op in ops {
            let params = parameter_words(op);
            let fields: [(&str, f64); 6] = [
                (op.id, NAME),
                (op.summary, SUMMARY),
                (op.toolset, TOOLSET),
                (op.path, PATH),
                (op.description, DESCRIPTION),
                (&params, PARAMS),
            ];
            let mut tf: HashMap<String, f64> = HashMap::new();
            let mut len = 0.0;
            for (text, weight) in fields {
                for t in terms(text) {
                    *tf.entry(t).or_default() += weight;
                    len += weight;
                }
            }
            for t in tf.keys() {
                *df.entry(t.clone()).or_default() += 1;
            }
            docs.push(Doc {
                op,
                name: terms(op.id),
                tf,
                len,
            });
        }
        let avg_len = docs.iter().map(|d| d.len).sum::<f64>() / docs.len().max(1) as f64;
        Index { docs, df, avg_len }
    }

    /// The best `limit` operations for `query` (of `toolset` only, when given), best first,
    /// with their scores; operations that share no term with the query are left out.
    pub fn search(
        &self,
        query: &str,
        toolset: Option<&str>,
        limit: usize,
    ) -> Vec<(&'static OperationMeta, f64)> {
        let terms = query_terms(query);
        let n = self.docs.len() as f64;
        let mut scored: Vec<(usize, f64)> = self
            .docs
            .iter()
            .enumerate()
            .filter(|(_, d)| toolset.is_none_or(|t| d.op.toolset == t))
            .map(|(i, d)| {
                let norm = K1 * (1.0 - B + B * d.len / self.avg_len);
                let score = terms
                    .iter()
                    .filter_map(|(t, w)| {
                        let tf = *d.tf.get(t)?;
                        let df = *self.df.get(t)? as f64;
                        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                        Some(w * idf * tf * (K1 + 1.0) / (tf + norm))
                    })
                    .sum::<f64>();
                let covered = d
                    .name
                    .iter()
                    .filter(|t| terms.iter().any(|(q, w)| q == *t && *w == 1.0))
                    .count() as f64
                    / d.name.len().max(1) as f64;
                let score = if score > 0.0 {
                    score + NAME_COVERED * covered * covered
                } else {
                    0.0
                };
                (i, score)
            })
            .filter(|(_, s)| *s > 0.0)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
            .into_iter()
            .take(limit)
            .map(|(i, s)| (self.docs[i].op, s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stemming_meets_the_forms_of_a_word() {
        for (a, b) in [
            ("votes", "vote"),
            ("voted", "voting"),
            ("rules", "rule"),
            ("scanned", "scan"),
            ("resolutions", "resolution"),
            ("notifications", "notification"),
            ("policies", "policy"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        assert_ne!(stem("address"), stem("add"));
    }

    #[test]
    fn the_ranking_is_deterministic_and_finds_the_obvious() {
        let ids = |hits: &[(&OperationMeta, f64)]| -> Vec<(&str, f64)> {
            hits.iter().map(|(o, s)| (o.id, *s)).collect()
        };
        let first = index().search("get a file report", None, 5);
        assert_eq!(
            ids(&first),
            ids(&index().search("get a file report", None, 5))
        );
        assert_eq!(first[0].0.id, "get_file", "{first:?}");
        let votes = index().search("votes on a domain", None, 3);
        assert!(
            votes.iter().any(|(o, _)| o.id == "list_domain_votes"),
            "{votes:?}"
        );
        assert!(index().search("", None, 5).is_empty());
        let only = index().search("comments", Some("graphs"), 20);
        assert!(!only.is_empty() && only.iter().all(|(o, _)| o.toolset == "graphs"));
    }
}
