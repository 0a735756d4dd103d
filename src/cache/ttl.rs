//! How long answers are kept: the TTL classes an operation's `x-vt-cache` annotation names in
//! the spec, the table of their lifetimes (with the defaults and the `--cache-ttl` parser), and
//! the rule that decides whether one answer is stored and until when.

use crate::Error;
use std::{fmt, str::FromStr, time::Duration};

/// What kind of answer an operation gives, for how long it stays true. An operation's class
/// is decided once in the spec (`x-vt-cache: <class>`; `never` or no annotation: the answer is
/// not cached, see [`TtlClass::from_annotation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TtlClass {
    /// File objects and what hangs off them (behaviours, sandbox reports, crowdsourced rules):
    /// they change when a file is reanalysed. Default 24 h.
    File,
    /// URL objects and their relationships. Default 6 h.
    Url,
    /// Domains, resolutions, WHOIS and certificates. Default 6 h.
    Domain,
    /// IP addresses. Default 6 h.
    Ip,
    /// Analyses: a completed analysis never changes (kept for good by default); one still
    /// queued or in progress is never stored.
    Analysis,
    /// Comments and votes: new ones arrive at any time. Default 1 h.
    Community,
    /// Collections, threat profiles, threat actors and references. Default 1 h.
    Collection,
    /// Search results (basic and intelligence search): they change over time, but repeating a
    /// query within minutes is common and costs quota. Default 30 min.
    Search,
    /// Reference data that changes rarely: MITRE ATT&CK, `/metadata`, popular threat
    /// categories. Default 7 days.
    Static,
    /// A `404` answer ("not in VirusTotal") of any cacheable operation, whatever its class:
    /// the object may be submitted at any time. Default 1 h.
    NotFound,
    /// Cacheable operations that fit no other class. Default 1 h.
    Default,
    /// What `--tier auto` learned about the key (its tiers, licences and allowances; never the
    /// user object itself, which holds the key): not an operation's class. Default 24 h.
    KeyProfile,
}

impl TtlClass {
    /// Every class, in the order of [`TtlTable`]'s display.
    pub const ALL: [TtlClass; 12] = [
        TtlClass::File,
        TtlClass::Url,
        TtlClass::Domain,
        TtlClass::Ip,
        TtlClass::Analysis,
        TtlClass::Community,
        TtlClass::Collection,
        TtlClass::Search,
        TtlClass::Static,
        TtlClass::NotFound,
        TtlClass::Default,
        TtlClass::KeyProfile,
    ];

    /// The name used in the spec and in `--cache-ttl` (`file`, `not_found`, …).
    pub fn name(self) -> &'static str {
        match self {
            TtlClass::File => "file",
            TtlClass::Url => "url",
            TtlClass::Domain => "domain",
            TtlClass::Ip => "ip",
            TtlClass::Analysis => "analysis",
            TtlClass::Community => "community",
            TtlClass::Collection => "collection",
            TtlClass::Search => "search",
            TtlClass::Static => "static",
            TtlClass::NotFound => "not_found",
            TtlClass::Default => "default",
            TtlClass::KeyProfile => "key_profile",
        }
    }

    /// The class an operation's `x-vt-cache` value names: `None` for no annotation or `never`
    /// (the operation's answers are never cached). `not_found` is not an operation's class.
    pub fn from_annotation(value: Option<&str>) -> Result<Option<TtlClass>, Error> {
        match value.map(str::trim) {
            None | Some("never") => Ok(None),
            Some("not_found") => Err(Error::Config(
                "`x-vt-cache: not_found` is not an operation's class: 404 answers of every \
                 cacheable operation use it"
                    .into(),
            )),
            Some("key_profile") => Err(Error::Config(
                "`x-vt-cache: key_profile` is not an operation's class: it keeps what \
                 `--tier auto` learned about the key"
                    .into(),
            )),
            Some(name) => name.parse().map(Some),
        }
    }

    /// How long answers of this class are kept unless configured otherwise.
    pub fn default_ttl(self) -> Ttl {
        const HOUR: u64 = 3600;
        match self {
            TtlClass::File => Ttl::For(Duration::from_secs(24 * HOUR)),
            TtlClass::Url | TtlClass::Domain | TtlClass::Ip => {
                Ttl::For(Duration::from_secs(6 * HOUR))
            }
            TtlClass::Analysis => Ttl::Forever,
            TtlClass::Community | TtlClass::Collection | TtlClass::NotFound | TtlClass::Default => {
                Ttl::For(Duration::from_secs(HOUR))
            }
            TtlClass::Search => Ttl::For(Duration::from_secs(30 * 60)),
            TtlClass::Static => Ttl::For(Duration::from_secs(7 * 24 * HOUR)),
            TtlClass::KeyProfile => Ttl::For(Duration::from_secs(24 * HOUR)),
        }
    }
}

impl fmt::Display for TtlClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TtlClass {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        TtlClass::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown cache class {:?}; the classes are: {}",
                    crate::error::truncate(s, 40),
                    TtlClass::ALL.map(TtlClass::name).join(", ")
                ))
            })
    }
}

/// How long one class of answers is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ttl {
    /// Not stored at all.
    Off,
    /// Kept this long (then no longer returned, and removed when space is needed).
    For(Duration),
    /// Kept until evicted for space or cleared.
    Forever,
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ttl::Off => f.write_str("off"),
            Ttl::Forever => f.write_str("forever"),
            Ttl::For(d) => write!(f, "{}", humantime::format_duration(*d)),
        }
    }
}

impl FromStr for Ttl {
    type Err = Error;

    /// `12h`, `30min`, `7days`, `1h 30m` (see `humantime`), `forever`, or `0` / `off`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" | "0" => Ok(Ttl::Off),
            "forever" => Ok(Ttl::Forever),
            d => match humantime::parse_duration(d) {
                Ok(d) if d.is_zero() => Ok(Ttl::Off),
                Ok(d) => Ok(Ttl::For(d)),
                Err(e) => Err(Error::Config(format!(
                    "cache lifetime {:?} is not a duration ({e}); write e.g. 12h, 30min, 7days, \
                     forever or off",
                    crate::error::truncate(d, 40)
                ))),
            },
        }
    }
}

/// The lifetime of every [`TtlClass`]: the defaults ([`TtlClass::default_ttl`]), changed with
/// [`TtlTable::with_overrides`] from a `--cache-ttl` value.
///
/// ```
/// use std::time::Duration;
/// use vtmcp::cache::{Ttl, TtlClass, TtlTable};
///
/// let table = TtlTable::default().with_overrides("file=12h, url=1h,search=off").unwrap();
/// assert_eq!(table.get(TtlClass::File), Ttl::For(Duration::from_secs(12 * 3600)));
/// assert_eq!(table.get(TtlClass::Search), Ttl::Off);
/// assert_eq!(table.get(TtlClass::Analysis), Ttl::Forever);
/// assert!(TtlTable::default().with_overrides("files=1h").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtlTable {
    ttl: [Ttl; TtlClass::ALL.len()],
}

impl Default for TtlTable {
    fn default() -> Self {
        TtlTable {
            ttl: TtlClass::ALL.map(TtlClass::default_ttl),
        }
    }
}

impl fmt::Display for TtlTable {
    /// `file=1day,url=6h,…`, which [`TtlTable::with_overrides`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, class) in TtlClass::ALL.into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{class}={}", self.get(class))?;
        }
        Ok(())
    }
}

impl TtlTable {
    fn index(class: TtlClass) -> usize {
        TtlClass::ALL
            .iter()
            .position(|c| *c == class)
            .unwrap_or(TtlClass::ALL.len() - 1)
    }

    /// The lifetime of `class`.
    pub fn get(&self, class: TtlClass) -> Ttl {
        self.ttl[Self::index(class)]
    }

    /// Sets the lifetime of `class`.
    pub fn set(&mut self, class: TtlClass, ttl: Ttl) {
        self.ttl[Self::index(class)] = ttl;
    }

    /// This table with the lifetimes of a `--cache-ttl` value applied: `class=duration` pairs
    /// separated by commas (`file=12h,url=1h,analysis=forever,search=off`). An unknown class
    /// or a malformed duration is an error naming it; an empty value changes nothing.
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, Error> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((class, ttl)) = part.split_once('=') else {
                return Err(Error::Config(format!(
                    "cache lifetime {:?} is not class=duration (e.g. file=12h)",
                    crate::error::truncate(part, 60)
                )));
            };
            self.set(class.parse()?, ttl.parse()?);
        }
        Ok(self)
    }

    /// How long an answer of an operation of `class` with HTTP `status` and `body` is kept:
    /// a `200` for its class's lifetime (an analysis only once it is completed), a `404` for
    /// the shorter of its class's and [`TtlClass::NotFound`]'s, anything else not at all.
    pub fn for_answer(&self, class: TtlClass, status: u16, body: &[u8]) -> Ttl {
        match status {
            200 if class == TtlClass::Analysis && !analysis_completed(body) => Ttl::Off,
            200 => self.get(class),
            404 => self.get(class).min(self.get(TtlClass::NotFound)),
            _ => Ttl::Off,
        }
    }
}

/// Whether an analysis object (`{"data": {"attributes": {"status": …}}}`) is completed.
fn analysis_completed(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Doc {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        attributes: Attributes,
    }
    #[derive(serde::Deserialize)]
    struct Attributes {
        status: Option<String>,
    }
    serde_json::from_slice::<Doc>(body)
        .is_ok_and(|d| d.data.attributes.status.as_deref() == Some("completed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for class in TtlClass::ALL {
            assert_eq!(class.name().parse::<TtlClass>().unwrap(), class);
        }
        let e = "files".parse::<TtlClass>().unwrap_err().to_string();
        assert!(e.contains("files") && e.contains("not_found"), "{e}");
    }

    #[test]
    fn annotations() {
        assert_eq!(TtlClass::from_annotation(None).unwrap(), None);
        assert_eq!(TtlClass::from_annotation(Some("never")).unwrap(), None);
        assert_eq!(
            TtlClass::from_annotation(Some("static")).unwrap(),
            Some(TtlClass::Static)
        );
        assert!(TtlClass::from_annotation(Some("not_found")).is_err());
        assert!(TtlClass::from_annotation(Some("sometimes")).is_err());
    }

    #[test]
    fn defaults() {
        let t = TtlTable::default();
        assert_eq!(t.get(TtlClass::File), Ttl::For(Duration::from_secs(86_400)));
        assert_eq!(t.get(TtlClass::Ip), Ttl::For(Duration::from_secs(6 * 3600)));
        assert_eq!(t.get(TtlClass::Analysis), Ttl::Forever);
        assert_eq!(
            t.get(TtlClass::NotFound),
            Ttl::For(Duration::from_secs(3600))
        );
        assert_eq!(
            t.get(TtlClass::Static),
            Ttl::For(Duration::from_secs(7 * 86_400))
        );
    }

    #[test]
    fn overrides_parse_and_display_round_trips() {
        let t = TtlTable::default()
            .with_overrides(" file=12h ,url=1h 30m,analysis=off,static=forever,,")
            .unwrap();
        assert_eq!(
            t.get(TtlClass::File),
            Ttl::For(Duration::from_secs(12 * 3600))
        );
        assert_eq!(t.get(TtlClass::Url), Ttl::For(Duration::from_secs(5400)));
        assert_eq!(t.get(TtlClass::Analysis), Ttl::Off);
        assert_eq!(t.get(TtlClass::Static), Ttl::Forever);
        assert_eq!(t.get(TtlClass::Domain), TtlClass::Domain.default_ttl());
        let back = TtlTable::default().with_overrides(&t.to_string()).unwrap();
        assert_eq!(back, t);
        for bad in ["file", "file=soon", "fil=1h", "file=-1h"] {
            let e = TtlTable::default().with_overrides(bad).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}: {e}");
        }
        assert_eq!(
            TtlTable::default()
                .with_overrides("url=0")
                .unwrap()
                .get(TtlClass::Url),
            Ttl::Off
        );
    }

    #[test]
    fn which_answers_are_kept_and_for_how_long() {
        let t = TtlTable::default();
        let day = Ttl::For(Duration::from_secs(86_400));
        let hour = Ttl::For(Duration::from_secs(3600));
        assert_eq!(t.for_answer(TtlClass::File, 200, b"{}"), day);
        // A 404 is kept for the shorter of the two.
        assert_eq!(t.for_answer(TtlClass::File, 404, b"{}"), hour);
        let short = t.clone().with_overrides("search=5min").unwrap();
        assert_eq!(
            short.for_answer(TtlClass::Search, 404, b"{}"),
            Ttl::For(Duration::from_secs(300))
        );
        for status in [201, 204, 400, 401, 403, 429, 500, 503] {
            assert_eq!(t.for_answer(TtlClass::File, status, b"{}"), Ttl::Off);
        }
        let done = br#"{"data":{"type":"analysis","attributes":{"status":"completed"}}}"#;
        let queued = br#"{"data":{"type":"analysis","attributes":{"status":"queued"}}}"#;
        assert_eq!(t.for_answer(TtlClass::Analysis, 200, done), Ttl::Forever);
        assert_eq!(t.for_answer(TtlClass::Analysis, 200, queued), Ttl::Off);
        assert_eq!(t.for_answer(TtlClass::Analysis, 200, b"not json"), Ttl::Off);
    }
}
