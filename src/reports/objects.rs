//! The four object reports: what each shows as identity, which relationships it embeds, and
//! how a report is fetched (one request at summary depth; at full depth, one more per
//! relationship, all in parallel).

use super::model::{Field, RelatedObject, Report, clean, clean_to};
use super::{Ctx, Depth};
use crate::Error;
use crate::ops::Output;
use serde_json::{Map, Value, json};

/// What differs between the four kinds of report.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// `file`, `url`, `domain`, `ip_address`.
    pub name: &'static str,
    /// Operation that gets the object.
    pub get_op: &'static str,
    /// Path argument of that operation.
    pub id_arg: &'static str,
    /// Operation that lists related objects.
    pub related_op: &'static str,
    /// Relationships embedded for any key.
    pub public_rels: &'static [&'static str],
    /// Relationships embedded as well for a premium key.
    pub premium_rels: &'static [&'static str],
}

/// File reports.
pub const FILE: Kind = Kind {
    name: "file",
    get_op: "get_file",
    id_arg: "id",
    related_op: "list_file_related_objects",
    public_rels: &[
        "contacted_domains",
        "contacted_ips",
        "contacted_urls",
        "dropped_files",
        "execution_parents",
    ],
    premium_rels: &["itw_urls", "embedded_urls"],
};

/// URL reports.
pub const URL: Kind = Kind {
    name: "url",
    get_op: "get_url",
    id_arg: "id",
    related_op: "list_url_related_objects",
    public_rels: &["last_serving_ip_address", "network_location"],
    premium_rels: &["redirects_to", "downloaded_files", "contacted_domains"],
};

/// Domain reports.
pub const DOMAIN: Kind = Kind {
    name: "domain",
    get_op: "get_domain",
    id_arg: "domain",
    related_op: "list_domain_related_objects",
    public_rels: &[
        "resolutions",
        "subdomains",
        "communicating_files",
        "referrer_files",
    ],
    premium_rels: &["urls", "downloaded_files"],
};

/// IP address reports.
pub const IP: Kind = Kind {
    name: "ip_address",
    get_op: "get_ip_address",
    id_arg: "ip",
    related_op: "list_ip_address_related_objects",
    public_rels: &["resolutions", "communicating_files", "referrer_files"],
    premium_rels: &["urls", "downloaded_files"],
};

impl Kind {
    /// The relationships a report embeds by default for this key.
    pub fn default_relationships(&self, premium: bool) -> Vec<String> {
        let mut v: Vec<String> = self.public_rels.iter().map(|s| s.to_string()).collect();
        if premium {
            v.extend(self.premium_rels.iter().map(|s| s.to_string()));
        }
        v
    }
}

fn identity(kind: &Kind, id: &str, a: &Map<String, Value>) -> Vec<Field> {
    let mut f = vec![];
    match kind.name {
        "file" => {
            Report::text(&mut f, "name", a.get("meaningful_name"));
            let main = a.get("meaningful_name");
            let others: Vec<Value> = a
                .get("names")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|n| Some(*n) != main)
                .cloned()
                .collect();
            Report::list(&mut f, "other_names", Some(&Value::Array(others)), 5);
            Report::text(&mut f, "type", a.get("type_description"));
            Report::number(&mut f, "size", a.get("size"));
            Report::text(&mut f, "sha256", a.get("sha256").or(Some(&json!(id))));
            Report::text(&mut f, "sha1", a.get("sha1"));
            Report::text(&mut f, "md5", a.get("md5"));
            Report::text(
                &mut f,
                "imphash",
                a.get("pe_info").and_then(|p| p.get("imphash")),
            );
            Report::text(
                &mut f,
                "signature",
                a.get("signature_info").and_then(|p| p.get("verified")),
            );
            Report::text(&mut f, "magic", a.get("magic"));
        }
        "url" => {
            Report::text(&mut f, "url", a.get("url"));
            if a.get("last_final_url") != a.get("url") {
                Report::text(&mut f, "final_url", a.get("last_final_url"));
            }
            Report::text(&mut f, "title", a.get("title"));
            Report::number(&mut f, "http_code", a.get("last_http_response_code"));
            Report::text(
                &mut f,
                "content_sha256",
                a.get("last_http_response_content_sha256"),
            );
            Report::list(&mut f, "threat_names", a.get("threat_names"), 5);
            if a.get("targeted_brand").is_some() {
                let brands: Vec<Value> = super::model::sorted(a.get("targeted_brand"))
                    .into_iter()
                    .filter_map(|(_, v)| v.as_str())
                    .map(|s| Value::String(clean(s)))
                    .take(3)
                    .collect();
                if !brands.is_empty() {
                    f.push(Field {
                        name: "targeted_brand".into(),
                        value: Value::Array(brands),
                    });
                }
            }
        }
        "domain" => {
            Report::text(&mut f, "registrar", a.get("registrar"));
            Report::date(&mut f, "created", a.get("creation_date"));
            Report::date(&mut f, "expires", a.get("expiration_date"));
            let records: Vec<Value> = a
                .get("last_dns_records")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    Some(Value::String(clean(&format!(
                        "{} {}",
                        r.get("type")?.as_str()?,
                        r.get("value")?.as_str()?
                    ))))
                })
                .take(8)
                .collect();
            if !records.is_empty() {
                f.push(Field {
                    name: "dns".into(),
                    value: Value::Array(records),
                });
            }
            cert(&mut f, a);
            whois(&mut f, a);
        }
        _ => {
            Report::number(&mut f, "asn", a.get("asn"));
            Report::text(&mut f, "as_owner", a.get("as_owner"));
            Report::text(&mut f, "country", a.get("country"));
            Report::text(&mut f, "network", a.get("network"));
            Report::text(&mut f, "rir", a.get("regional_internet_registry"));
            cert(&mut f, a);
            whois(&mut f, a);
        }
    }
    f
}

fn cert(f: &mut Vec<Field>, a: &Map<String, Value>) {
    Report::text(
        f,
        "certificate_subject",
        a.get("last_https_certificate")
            .and_then(|c| c.pointer("/subject/CN")),
    );
    Report::text(
        f,
        "certificate_issuer",
        a.get("last_https_certificate")
            .and_then(|c| c.pointer("/issuer/O")),
    );
}

/// A few meaningful WHOIS lines (registrant country/organisation, dates), not the raw blob.
fn whois(f: &mut Vec<Field>, a: &Map<String, Value>) {
    let Some(w) = a.get("whois").and_then(Value::as_str) else {
        return;
    };
    let wanted = [
        "registrant country",
        "registrant organization",
        "orgname",
        "org-name",
        "country",
        "creation date",
    ];
    let lines: Vec<Value> = w
        .lines()
        .filter(|l| {
            let l = l.trim().to_ascii_lowercase();
            wanted.iter().any(|k| l.starts_with(k))
        })
        .map(|l| Value::String(clean_to(l.trim(), 80)))
        .take(4)
        .collect();
    if !lines.is_empty() {
        f.push(Field {
            name: "whois".into(),
            value: Value::Array(lines),
        });
    }
}

/// A short label of a related object, by type.
pub fn object_label(o: &Value) -> Option<String> {
    let a = o.get("attributes")?;
    let s = match o.get("type").and_then(Value::as_str)? {
        "file" => a
            .get("meaningful_name")
            .or_else(|| a.get("type_description"))
            .and_then(Value::as_str)?
            .to_string(),
        "url" => a.get("url").and_then(Value::as_str)?.to_string(),
        "ip_address" => {
            let parts: Vec<&str> = [a.get("country"), a.get("as_owner")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            parts.join(" ")
        }
        "resolution" => {
            // Passive DNS: the date is the fact that matters.
            let h = a.get("host_name").and_then(Value::as_str).unwrap_or("");
            let i = a.get("ip_address").and_then(Value::as_str).unwrap_or("");
            match a
                .get("date")
                .and_then(Value::as_i64)
                .and_then(super::model::utc)
            {
                Some(d) => format!("{h} → {i} (resolved {d})"),
                None => format!("{h} → {i}"),
            }
        }
        "comment" => a.get("text").and_then(Value::as_str)?.to_string(),
        "collection" => a.get("name").and_then(Value::as_str)?.to_string(),
        "ssl_cert" => a
            .pointer("/subject/CN")
            .and_then(Value::as_str)?
            .to_string(),
        _ => return None,
    };
    let s = clean_to(&s, 80);
    (!s.is_empty()).then_some(s)
}

/// One related object for the report.
pub fn related_object(o: &Value) -> Option<RelatedObject> {
    let stats = o.pointer("/attributes/last_analysis_stats");
    Some(RelatedObject {
        kind: o.get("type")?.as_str()?.to_string(),
        id: clean(o.get("id")?.as_str()?),
        malicious: stats
            .and_then(|s| s.get("malicious"))
            .and_then(Value::as_u64),
        suspicious: stats
            .and_then(|s| s.get("suspicious"))
            .and_then(Value::as_u64),
        label: object_label(o),
    })
}

/// Builds a report. `vt_id` is the id in VirusTotal's path (URL id for URLs).
pub async fn report(
    ctx: &Ctx,
    kind: &Kind,
    vt_id: &str,
    shown_id: &str,
    rels: Vec<String>,
    depth: Depth,
) -> Result<Report, Error> {
    let mut args = Map::new();
    args.insert(kind.id_arg.into(), json!(vt_id));
    if !rels.is_empty() {
        args.insert("relationships".into(), json!(rels.join(",")));
    }
    let mut r = Report::new(kind.name, shown_id, depth.as_str());
    ctx.progress
        .report(0.0, None, format!("fetching the {} report", kind.name))
        .await;
    r.requests += 1;
    let v = match crate::ops::call_json(&ctx.client, kind.get_op, args).await? {
        Output::Json(v) => v,
        _ => {
            return Err(Error::Decode {
                operation: kind.get_op.into(),
                detail: "expected JSON".into(),
            });
        }
    };
    let data = &v["data"];
    let empty = Map::new();
    let a = data
        .get("attributes")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(id) = data.get("id").and_then(Value::as_str) {
        r.id = clean(id);
    }
    r.identity = identity(kind, &r.id, a);
    if kind.name == "url" {
        // A URL report is headed by the URL (VirusTotal's id for it, a SHA-256, is no use to a
        // reader); the id stays in the identity lines.
        Report::text(&mut r.identity, "url_id", Some(&json!(r.id)));
        r.id = clean(a.get("url").and_then(Value::as_str).unwrap_or(shown_id));
    }
    r.fill_common(a);
    r.fill_relationships(data, &rels);
    r.data = data.clone();
    if depth == Depth::Full && !rels.is_empty() {
        let total = rels.len() as f64;
        let futures = r
            .relationships
            .iter()
            .filter(|rel| rel.error.is_none() && rel.count != Some(0))
            .map(|rel| {
                let name = rel.name.clone();
                let mut a = Map::new();
                a.insert(kind.id_arg.into(), json!(vt_id));
                a.insert("relationship".into(), json!(name));
                a.insert("limit".into(), json!(5));
                async move {
                    (
                        name,
                        crate::ops::call_json(&ctx.client, kind.related_op, a).await,
                    )
                }
            });
        let results = futures::future::join_all(futures).await;
        ctx.progress
            .report(total, Some(total), "related objects fetched".into())
            .await;
        for (name, res) in results {
            r.requests += 1;
            let Some(rel) = r.relationships.iter_mut().find(|x| x.name == name) else {
                continue;
            };
            match res {
                Ok(Output::Json(v)) => {
                    let items: Vec<Value> = match v.get("data") {
                        Some(Value::Array(a)) => a.clone(),
                        Some(o @ Value::Object(_)) => vec![o.clone()],
                        _ => vec![],
                    };
                    rel.objects = items.iter().filter_map(related_object).collect();
                }
                Ok(_) => {}
                Err(e) => rel.error = Some(super::short_error(&e)),
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolution_is_labelled_with_its_date() {
        let o = json!({"type": "resolution", "id": "140.82.114.3github.com", "attributes": {
            "host_name": "github.com", "ip_address": "140.82.114.3", "date": 1764150000}});
        assert_eq!(
            object_label(&o).unwrap(),
            "github.com → 140.82.114.3 (resolved 2025-11-26 09:40 UTC)"
        );
    }
}
