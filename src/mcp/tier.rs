//! `--tier auto`: learning the key's tiers, licences and request allowances from VirusTotal
//! itself instead of asking the user.
//!
//! One request, `GET /users/{id}` with the API key as the id (VirusTotal answers with the key's
//! own user object; the key is sent as in every request, and the path is kept out of logs and
//! errors like the header), made through the normal client so that the limiter counts it. The
//! answer's `privileges` give the tiers ([`PRIVILEGE_TIERS`], the one mapping), its `quotas`
//! the allowances ([`KeyQuotas`]). Anything else — no answer in time, 401, 403, 5xx, an answer
//! without privileges — is a [`TierStatus::Failed`] with a short reason: the public set stays,
//! and the server says so.
//!
//! The user object is never stored or shown: it holds the key itself (`apikey`). What was
//! learned from it ([`KeyProfile`]: tiers, the privilege names, the allowances) is kept in the
//! answer cache for a day (`key_profile` lifetime, `--cache-ttl key_profile=…`), under the
//! key's salted namespace like every entry, so that a restart or another process on the same
//! store does not ask again ([`detect_or_recall`]).

use crate::access::Tier;
use crate::client::Client;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// Which privileges of the user object give which tier or licence of `spec/tiers.rs`.
///
/// `data.attributes.privileges` maps a privilege's name to `{granted, expiration_date,
/// inherited_from, inherited_via}` (VirusTotal's reference of the user object,
/// <https://docs.virustotal.com/reference/user-object>, "privileges"). The names here are
/// the ones VirusTotal's own examples carry: the group object in its reference of a user's
/// relationships (`/users/{id}/api_quota_group`,
/// <https://docs.virustotal.com/reference/users-relationships>) lists `intelligence`, with
/// `livehunt`, `retrohunt`, `saved-search` and `ioc-stream` inherited from it,
/// `downloads-tier-1`, `downloads-tier-2`, `file-feed`, `url-feed`, `domain-feed`, `ip-feed`,
/// `file-behaviour-feed`, `monitor` and `monitor-partner`; vt-cli's `privileges grant`
/// example grants `intelligence` and `downloads-tier-2`. Our `premium` tier is VirusTotal
/// Intelligence's features (search, hunting, retrohunt, downloads, IoC stream, saved
/// searches), so any of those privileges gives it.
///
/// No privilege name was found for `threat-landscape`, `admin` (a role in a group, not a
/// privilege) or `gti`: those are never detected; give them with `--tier auto,gti`.
/// `private-scanning` is recognised by its allowances instead ([`PRIVATE_SCANNING_QUOTAS`]).
pub const PRIVILEGE_TIERS: &[(&str, Tier)] = &[
    ("intelligence", Tier::PREMIUM),
    ("livehunt", Tier::PREMIUM),
    ("retrohunt", Tier::PREMIUM),
    ("saved-search", Tier::PREMIUM),
    ("ioc-stream", Tier::PREMIUM),
    ("downloads-tier-1", Tier::PREMIUM),
    ("downloads-tier-2", Tier::PREMIUM),
    ("file-feed", Tier::named("feeds")),
    ("url-feed", Tier::named("feeds")),
    ("domain-feed", Tier::named("feeds")),
    ("ip-feed", Tier::named("feeds")),
    ("file-behaviour-feed", Tier::named("feeds")),
    ("monitor", Tier::named("monitor")),
    ("monitor-partner", Tier::named("monitor-partner")),
];

/// Quotas (`data.attributes.quotas`, name → `{allowed, used}`) whose allowance above zero
/// means a Private Scanning licence. The same group object lists `private_scans_monthly` and
/// `private_urlscans_monthly` (allowed 0 for a group without the licence).
pub const PRIVATE_SCANNING_QUOTAS: &[&str] = &["private_scans_monthly", "private_urlscans_monthly"];

/// The quotas of the key's API requests (`api_requests_daily`, `api_requests_hourly`,
/// `api_requests_monthly` in the user object's `quotas`), as VirusTotal stated them when the
/// key was detected. A quota the answer did not carry is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyQuotas {
    /// Requests per UTC day.
    pub daily: Option<Allowance>,
    /// Requests per hour.
    pub hourly: Option<Allowance>,
    /// Requests per month.
    pub monthly: Option<Allowance>,
}

/// One quota: how many requests it allows, and how many were used when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// `allowed`.
    pub allowed: u64,
    /// `used` (0 when absent).
    pub used: u64,
}

impl KeyQuotas {
    /// The pacing for a key with these allowances and `tiers`: `configured` when the user set
    /// one (`--requests-per-minute`); else the tier's preset ([`Config::pacing_for_tiers`](crate::config::Config::pacing_for_tiers))
    /// with the daily and monthly allowances VirusTotal states for the key in place of the
    /// preset's guesses. (The hourly allowance has no window of its own in the limiter; the
    /// per-minute spacing keeps well inside it.)
    pub fn pacing(
        &self,
        config: &crate::config::Config,
        tiers: &BTreeSet<Tier>,
    ) -> crate::client::RateLimit {
        if let Some(configured) = &config.rate_limit {
            return configured.clone();
        }
        let mut limit = config.pacing_for_tiers(tiers);
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        if let Some(d) = self.daily {
            limit = limit.per_day(clamp(d.allowed));
        }
        if let Some(m) = self.monthly {
            limit = limit.per_month(clamp(m.allowed));
        }
        limit
    }
}

impl fmt::Display for KeyQuotas {
    /// `500/day, 240/hour, 15500/month` (the quotas present), or `none stated`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            (self.daily, "day"),
            (self.hourly, "hour"),
            (self.monthly, "month"),
        ]
        .iter()
        .filter_map(|(a, per)| a.map(|a| format!("{}/{per}", a.allowed)))
        .collect();
        if parts.is_empty() {
            f.write_str("none stated")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// What detection learned about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProfile {
    /// Its tiers and licences (`public` always).
    pub tiers: BTreeSet<Tier>,
    /// The granted privileges and quotas that gave them, by name, sorted (e.g.
    /// `intelligence`, `file-feed`, `private_scans_monthly`).
    pub evidence: Vec<String>,
    /// Its request allowances.
    pub quotas: KeyQuotas,
    /// How long ago it was learned, when it came from the cache rather than from VirusTotal
    /// now.
    pub remembered: Option<Duration>,
}

impl KeyProfile {
    /// Reads a user object (`{"data": {"attributes": {"privileges": …, "quotas": …}}}`).
    /// A privilege counts when `granted` is `true` and its `expiration_date` (Unix seconds, 0
    /// or absent: none) is not past `now`. An answer without a `privileges` object is an
    /// error: VirusTotal shows privileges only to the key's owner, so it is not the key's own
    /// user object, and nothing can be concluded from it.
    pub fn from_user_object(answer: &Value, now: u64) -> Result<KeyProfile, String> {
        let attributes = answer
            .pointer("/data/attributes")
            .and_then(Value::as_object)
            .ok_or("the answer is not a user object (no data.attributes)")?;
        let privileges = attributes
            .get("privileges")
            .and_then(Value::as_object)
            .ok_or("the user object has no privileges (not the key's own user object?)")?;
        let mut tiers = BTreeSet::from([Tier::PUBLIC]);
        let mut evidence = BTreeSet::new();
        for (name, tier) in PRIVILEGE_TIERS {
            let Some(p) = privileges.get(*name) else {
                continue;
            };
            let granted = p.get("granted").and_then(Value::as_bool) == Some(true);
            let expires = p
                .get("expiration_date")
                .and_then(Value::as_u64)
                .filter(|&t| t > 0);
            if granted && expires.is_none_or(|t| t > now) {
                tiers.insert(*tier);
                evidence.insert(name.to_string());
            }
        }
        let quotas = attributes.get("quotas").and_then(Value::as_object);
        let allowance = |name: &str| -> Option<Allowance> {
            let q = quotas?.get(name)?;
            Some(Allowance {
                allowed: q.get("allowed")?.as_u64()?,
                used: q.get("used").and_then(Value::as_u64).unwrap_or(0),
            })
        };
        for name in PRIVATE_SCANNING_QUOTAS {
            if allowance(name).is_some_and(|a| a.allowed > 0) {
                tiers.insert(Tier::named("private-scanning"));
                evidence.insert(name.to_string());
            }
        }
        Ok(KeyProfile {
            remembered: None,
            tiers,
            evidence: evidence.into_iter().collect(),
            quotas: KeyQuotas {
                daily: allowance("api_requests_daily"),
                hourly: allowance("api_requests_hourly"),
                monthly: allowance("api_requests_monthly"),
            },
        })
    }
}

impl KeyProfile {
    /// The profile as the cache keeps it: tier names, evidence, allowances.
    fn to_json(&self) -> Value {
        let allowance = |a: Option<Allowance>| {
            a.map(|a| serde_json::json!({"allowed": a.allowed, "used": a.used}))
        };
        serde_json::json!({
            "tiers": self.tiers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "evidence": self.evidence,
            "quotas": {"daily": allowance(self.quotas.daily), "hourly": allowance(self.quotas.hourly),
                       "monthly": allowance(self.quotas.monthly)},
        })
    }

    /// A profile the cache kept, learned `age` ago; `None` if it does not read as one (an
    /// older layout, a tier this build does not know): then the key is asked again.
    fn from_json(v: &Value, age: Duration) -> Option<KeyProfile> {
        let mut tiers = BTreeSet::new();
        for t in v.get("tiers")?.as_array()? {
            tiers.insert(Tier::parse(t.as_str()?)?);
        }
        let evidence = v
            .get("evidence")?
            .as_array()?
            .iter()
            .map(|e| e.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?;
        let allowance = |name: &str| -> Option<Allowance> {
            let a = v.pointer(&format!("/quotas/{name}"))?;
            Some(Allowance {
                allowed: a.get("allowed")?.as_u64()?,
                used: a.get("used")?.as_u64()?,
            })
        };
        tiers.contains(&Tier::PUBLIC).then(|| KeyProfile {
            tiers,
            evidence,
            quotas: KeyQuotas {
                daily: allowance("daily"),
                hourly: allowance("hourly"),
                monthly: allowance("monthly"),
            },
            remembered: Some(age),
        })
    }
}

/// The cache entry of a key's profile (not a VirusTotal path, so no answer can collide with it).
const PROFILE_ENTRY: &str = "vtmcp:key-profile";

/// The key's profile as the cache remembers it (learned less than a day ago, see the
/// [module](self) docs), or else [`detect`], remembered for next time. Only a successful
/// detection is kept.
pub async fn detect_or_recall(
    client: &Client,
    key: &crate::ApiKey,
    timeout: Duration,
) -> Result<KeyProfile, String> {
    let cache = client.cache();
    let kept = cache.config().ttl.get(crate::cache::TtlClass::KeyProfile) != crate::cache::Ttl::Off;
    if kept
        && let Some(hit) = cache.get(key, PROFILE_ENTRY).await
        && hit.status == 200
        && let crate::cache::Origin::Cache { age } = hit.origin
        && let Some(profile) = serde_json::from_slice::<Value>(&hit.body)
            .ok()
            .and_then(|v| KeyProfile::from_json(&v, age))
    {
        return Ok(profile);
    }
    let profile = detect(client, key, timeout).await?;
    let answer = crate::cache::Answer {
        status: 200,
        body: profile.to_json().to_string().into(),
    };
    cache
        .put(
            key,
            PROFILE_ENTRY,
            crate::cache::TtlClass::KeyProfile,
            &answer,
        )
        .await;
    Ok(profile)
}

/// Where the session's tiers come from, and what is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierStatus {
    /// Given with `--tier` (no detection).
    Given,
    /// `--tier auto` without an API key: nothing to ask about.
    NoKey,
    /// The request is on its way; the public set (plus tiers given beside `auto`) is listed.
    Detecting,
    /// Learned from the key.
    Detected(KeyProfile),
    /// Detection failed (the reason, without the key); the public set stays.
    Failed(String),
}

impl TierStatus {
    /// Whether detection is still under way.
    pub fn is_detecting(&self) -> bool {
        matches!(self, TierStatus::Detecting)
    }

    /// The quotas detected, if any.
    pub fn quotas(&self) -> Option<&KeyQuotas> {
        match self {
            TierStatus::Detected(p) => Some(&p.quotas),
            _ => None,
        }
    }

    /// One line for people and models: `tier: <tiers> (<where they come from>)`.
    pub fn describe(&self, tiers: &BTreeSet<Tier>) -> String {
        let names = tiers
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        match self {
            TierStatus::Given => format!("tier: {names} (given with --tier)"),
            TierStatus::NoKey => {
                format!("tier: {names} (no API key to detect the tier from; pass --tier to set it)")
            }
            TierStatus::Detecting => format!(
                "tier: {names} for now (asking VirusTotal what the key can do; a larger tool list is announced with notifications/tools/list_changed; a stateless HTTP server cannot announce it: list the tools again)"
            ),
            TierStatus::Detected(p) => {
                let from = if p.evidence.is_empty() {
                    "no premium privileges or licences".to_string()
                } else {
                    format!("privileges {}", p.evidence.join(", "))
                };
                let when = p
                    .remembered
                    .map(|age| {
                        format!(
                            ", remembered from {} ago",
                            crate::client::policy::human(Duration::from_secs(age.as_secs()))
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "tier: {names} (detected from the key{when}: {from}; quotas: {})",
                    p.quotas
                )
            }
            TierStatus::Failed(why) => {
                format!("tier: {names} (detection failed: {why}; pass --tier to set it)")
            }
        }
    }
}

/// Asks VirusTotal for the key's user object and reads it, within `timeout`. The reason of a
/// failure names what went wrong, never the key.
pub async fn detect(
    client: &Client,
    key: &crate::ApiKey,
    timeout: Duration,
) -> Result<KeyProfile, String> {
    let secret = key.expose();
    let scrub = |text: String| text.replace(secret, "<API key>");
    let op = crate::ops::OperationMeta::find("get_user").ok_or("get_user is not in the spec")?;
    let mut args = serde_json::Map::new();
    args.insert("id".into(), Value::String(secret.to_string()));
    let args = crate::ops::Args::new(op, args)
        .map_err(|_| "the key cannot be used as a user id in a URL path".to_string())?;
    let answer =
        match tokio::time::timeout(timeout, crate::ops::call_raw(client, op.id, &args)).await {
            Err(_) => {
                return Err(format!(
                    "VirusTotal did not answer within {}",
                    crate::client::policy::human(timeout)
                ));
            }
            Ok(Err(e)) => return Err(scrub(short_reason(&e))),
            Ok(Ok(crate::ops::Output::Raw(raw))) => raw
                .parse(op.id)
                .map_err(|_| "the answer is not JSON".to_string())?,
            Ok(Ok(crate::ops::Output::Json(v))) => v,
            Ok(Ok(_)) => return Err("the answer is not JSON".into()),
        };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    KeyProfile::from_user_object(&answer, now).map_err(scrub)
}

/// A short reason for a failed request (the error's own text is written for a tool call).
fn short_reason(e: &crate::Error) -> String {
    use crate::Error as E;
    match e {
        E::Api { status, code, .. } => format!("VirusTotal answered HTTP {status} {code}"),
        E::Http { status, .. } => format!("VirusTotal answered HTTP {status}"),
        E::Timeout { .. } => "VirusTotal did not answer within the client's timeout".into(),
        E::Transport { message, .. } => format!("network error: {message}"),
        E::Decode { .. } => "the answer could not be read".into(),
        E::QuotaWait { .. } => "the local rate limit did not allow the request".into(),
        E::InvalidInput { .. } => "the key cannot be used as a user id in a URL path".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(privileges: Value, quotas: Value) -> Value {
        json!({"data": {"type": "user", "id": "someone", "attributes": {
            "apikey": "not-read", "privileges": privileges, "quotas": quotas}}})
    }

    #[test]
    fn every_mapped_tier_is_a_tier_of_the_spec_list() {
        for (name, tier) in PRIVILEGE_TIERS {
            assert_eq!(Tier::parse(tier.as_str()), Some(*tier), "{name}");
            assert_ne!(*tier, Tier::PUBLIC, "{name}");
        }
    }

    #[test]
    fn granted_privileges_give_tiers_and_quotas_are_read() {
        let answer = user(
            json!({
                "intelligence": {"granted": true},
                "livehunt": {"granted": true, "inherited_from": "intelligence", "inherited_via": "privilege"},
                "url-feed": {"granted": true, "expiration_date": 4_000_000_000u64},
                "monitor": {"granted": false},
                "monitor-partner": {"granted": true, "expiration_date": 1_000},
                "cases": {"granted": true}
            }),
            json!({
                "api_requests_daily": {"allowed": 20000, "used": 12},
                "api_requests_monthly": {"allowed": 600000},
                "private_scans_monthly": {"allowed": 0, "used": 0},
                "private_urlscans_monthly": {"allowed": 50, "used": 1}
            }),
        );
        let p = KeyProfile::from_user_object(&answer, 2_000_000_000).unwrap();
        let names: Vec<&str> = p.tiers.iter().map(|t| t.as_str()).collect();
        // monitor not granted, monitor-partner expired, cases maps to nothing.
        assert_eq!(
            names,
            ["public", "premium", "private-scanning", "feeds"],
            "{p:?}"
        );
        assert_eq!(
            p.evidence,
            [
                "intelligence",
                "livehunt",
                "private_urlscans_monthly",
                "url-feed"
            ]
        );
        assert_eq!(
            p.quotas.daily,
            Some(Allowance {
                allowed: 20000,
                used: 12
            })
        );
        assert_eq!(p.quotas.hourly, None);
        assert_eq!(p.quotas.monthly.map(|a| a.allowed), Some(600000));
        assert_eq!(p.quotas.to_string(), "20000/day, 600000/month");
    }

    #[test]
    fn a_public_key_is_public_and_an_odd_answer_is_an_error() {
        let public = user(
            json!({"intelligence": {"granted": false}, "downloads-tier-2": {"granted": false}}),
            json!({"api_requests_daily": {"allowed": 500, "used": 3}}),
        );
        let p = KeyProfile::from_user_object(&public, 0).unwrap();
        assert_eq!(p.tiers, BTreeSet::from([Tier::PUBLIC]));
        assert!(p.evidence.is_empty());
        assert_eq!(
            TierStatus::Detected(p.clone()).describe(&p.tiers),
            "tier: public (detected from the key: no premium privileges or licences; quotas: 500/day)"
        );
        for odd in [
            json!({"data": {"type": "user", "id": "x", "attributes": {"first_name": "A"}}}),
            json!({"data": {"attributes": {"privileges": ["intelligence"]}}}),
            json!({"error": {"code": "NotFoundError"}}),
            json!([1, 2]),
        ] {
            assert!(KeyProfile::from_user_object(&odd, 0).is_err(), "{odd}");
        }
        // Odd members are skipped, not trusted.
        let odd_members = user(
            json!({"intelligence": {"granted": "yes"}, "monitor": true}),
            json!({"api_requests_daily": {"allowed": -1}}),
        );
        let p = KeyProfile::from_user_object(&odd_members, 0).unwrap();
        assert_eq!(p.tiers, BTreeSet::from([Tier::PUBLIC]));
        assert_eq!(p.quotas, KeyQuotas::default());
    }
}
