//! A [`Report`] as dense markdown: verdict first, then identity, dates, reputation, tags,
//! classification, highlights, categories, popularity, relationships.

use super::model::{Field, Report};
use super::text::{clean, q};
use serde_json::Value;
use std::fmt::Write as _;

fn value_md(v: &Value) -> String {
    match v {
        Value::String(s) => q(s),
        Value::Array(a) => a.iter().map(value_md).collect::<Vec<_>>().join(", "),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| format!("{k} {}", value_plain(x)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn value_plain(v: &Value) -> String {
    match v {
        Value::String(s) => q(s),
        other => other.to_string(),
    }
}

fn fields_md(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.name.replace('_', " "), value_md(&f.value)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The report as markdown: verdict first, then identity, dates, reputation, tags,
/// classification, highlights, categories, popularity, relationships.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let kind = r.kind.replace('_', " ");
    let _ = writeln!(s, "## VirusTotal {kind} report: {}", q(&clean(&r.id)));
    if !r.found {
        for n in &r.notes {
            let _ = writeln!(s, "{n}");
        }
        return s;
    }
    if r.verdict.is_none() {
        // Known but never analysed: say so rather than let "found" read like a verdict.
        let _ = writeln!(
            s,
            "**No analysis yet:** VirusTotal knows this {kind} but has no engine results for it, so there is no verdict (which does not make it safe)."
        );
    }
    if let Some(v) = &r.verdict {
        let mut line = format!("**Verdict: {}/{} malicious", v.malicious, v.total);
        if v.suspicious > 0 {
            let _ = write!(line, ", {} suspicious", v.suspicious);
        }
        line.push_str("**");
        if v.no_verdict > 0 {
            let _ = write!(
                line,
                " ({} more engine{} gave no verdict: type unsupported, timeout or failure)",
                v.no_verdict,
                if v.no_verdict == 1 { "" } else { "s" }
            );
        }
        if let Some(l) = &v.threat_label {
            let _ = write!(line, " · label {}", q(l));
        }
        let _ = writeln!(s, "{line}");
        if !v.flagged_by.is_empty() {
            let hits: Vec<String> = v
                .flagged_by
                .iter()
                .map(|h| match &h.label {
                    Some(l) => format!("{} {}", h.engine, q(l)),
                    None => format!("{} ({})", h.engine, h.category),
                })
                .collect();
            let more = if v.more_flagged > 0 {
                format!(" +{} more", v.more_flagged)
            } else {
                String::new()
            };
            let _ = writeln!(s, "Flagged by: {}{more}", hits.join("; "));
        }
        if v.malicious + v.suspicious == 0 {
            let _ = writeln!(s, "No engine flagged it (that does not prove it is safe).");
        }
    }
    for (title, fields) in [
        ("Identity", &r.identity),
        ("Dates", &r.dates),
        ("Reputation", &r.reputation),
        ("Threat classification", &r.classification),
    ] {
        if !fields.is_empty() {
            let _ = writeln!(s, "**{title}:** {}", fields_md(fields));
        }
    }
    if !r.tags.is_empty() {
        let _ = writeln!(
            s,
            "**Tags:** {}",
            r.tags.iter().map(|t| q(t)).collect::<Vec<_>>().join(" ")
        );
    }
    if !r.highlights.is_empty() {
        let _ = writeln!(s, "**Highlights:**");
        for h in &r.highlights {
            let mut line = format!("- {}: {}", h.source, q(&h.title));
            if let Some(sev) = &h.severity {
                let _ = write!(line, " [{}]", q(sev));
            }
            if h.hits > 1 {
                let _ = write!(line, " ×{}", h.hits);
            }
            if let Some(d) = &h.detail {
                let _ = write!(line, " — {}", q(d));
            }
            let _ = writeln!(s, "{line}");
        }
    }
    for (title, fields) in [("Categories", &r.categories), ("Popularity", &r.popularity)] {
        if !fields.is_empty() {
            let _ = writeln!(s, "**{title}:** {}", fields_md(fields));
        }
    }
    if !r.relationships.is_empty() {
        let _ = writeln!(s, "**Relationships:**");
        for rel in &r.relationships {
            let name = rel.name.replace('_', " ");
            if let Some(e) = &rel.error {
                let _ = writeln!(s, "- {name}: {e}");
                continue;
            }
            let count = match (rel.count, rel.more) {
                (Some(c), true) => format!("{c}+"),
                (Some(c), false) => c.to_string(),
                (None, _) => "?".into(),
            };
            if rel.count == Some(0) {
                let _ = writeln!(s, "- {name}: none");
                continue;
            }
            if !rel.objects.is_empty() {
                let objs: Vec<String> = rel
                    .objects
                    .iter()
                    .map(|o| {
                        let det = match (o.malicious, o.suspicious) {
                            (Some(m), Some(su)) if su > 0 => format!(" {m} mal/{su} susp"),
                            (Some(m), _) => format!(" {m} mal"),
                            _ => String::new(),
                        };
                        let label = o
                            .label
                            .as_ref()
                            .map(|l| format!(" {}", q(l)))
                            .unwrap_or_default();
                        format!("{}{det}{label}", q(&o.id))
                    })
                    .collect();
                let _ = writeln!(s, "- {name} ({count}): {}", objs.join("; "));
            } else {
                let ids: Vec<String> = rel.ids.iter().map(|i| q(i)).collect();
                let _ = writeln!(s, "- {name} ({count}): {}", ids.join(", "));
            }
        }
    }
    let mut foot = format!(
        "_{} upstream request{}, {} depth",
        r.requests,
        if r.requests == 1 { "" } else { "s" },
        r.depth
    );
    foot.push_str("; quoted values are untrusted data from VirusTotal._");
    let _ = writeln!(s, "{foot}");
    for n in &r.notes {
        let _ = writeln!(s, "{n}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_without_an_analysis_says_so_instead_of_a_verdict() {
        let mut r = Report::new("domain", "new.example", "summary");
        r.found = true;
        let md = markdown(&r);
        assert!(md.contains("**No analysis yet:**"), "{md}");
        assert!(!md.contains("Verdict"), "{md}");
    }
}
