//! Indicators of compromise in free text (alert bodies, e-mails, threat reports), and the
//! `extract_iocs` tool that lists them. The extraction is pure: no I/O, no request.
//!
//! What is found: MD5, SHA-1 and SHA-256 hashes; http and https URLs; domain names; IPv4 and
//! IPv6 addresses; and the domains of e-mail addresses. Defanged forms are refanged first
//! (`hxxp`, `hxxps`, `h**p`, `h[tt]p`, `fxp`; `[.]`, `(.)`, `{.}`, `[dot]`, `(dot)`; `[:]`,
//! `[://]`, `[/]`; `[@]`, `[at]`, `(at)`), and each indicator says whether it was written defanged.
//! Duplicates are merged: hashes and domains ignoring case, IPs by address, URLs by their
//! normalised form (scheme and host in lower case).
//!
//! The rules that keep look-alikes out:
//! * a domain must end in a suffix of the Public Suffix List (compiled into the `psl` crate, so
//!   nothing is fetched) and be more than a bare public suffix: `invoice.pdf`, `setup.exe`,
//!   `example[.]pdf`, `version.1` and `host.corp.local` are not domains;
//! * a name whose last label is a common file extension that is also a top-level domain
//!   (`.zip`, `.mov`, `.one`, `.py`, `.sh` …, [`FILE_EXTENSION_TLDS`]) is a file name unless it
//!   was written defanged (`update[.]zip`), in a URL or in an e-mail address;
//! * a name written right after `/` or `\` is part of a path; a name whose last label has
//!   capitals while the rest of it does not (`System.Net`, `System.IO`, a sentence run into
//!   the next: `done.It`) is code or prose, and `ASP.NET` is a product, unless written
//!   defanged (`BAD-SITE.NET`, in one case throughout, is a domain);
//! * text inside a URL belongs to the URL: its host, a hash or a file name in its path are not
//!   listed again (a URL with a host under no public suffix, such as `http://intranet/`, is not
//!   an indicator); an ftp URL is not looked up by VirusTotal, so only its host is listed;
//! * a hash is a run of exactly 32, 40 or 64 hex digits, not touching other letters or digits
//!   (hex of other lengths, `0x…` numbers and longer hex runs are not hashes);
//! * an IPv4 address is four dotted decimal octets (0–255, no leading zeros) that are not part
//!   of a longer dotted run; one written as a version (`v1.2.3.4`, `version 10.0.0.1`) is kept
//!   and flagged `version_like`, and so is one in a product token (`Chrome/120.0.0.0`) or after
//!   `build`, `release`, `patch` or `section`;
//! * a dotted name followed by `(` is a call in code (`requests.get(url)`), and so is a member
//!   of a well-known script object (`window.open`, `self.app`), not a host.
//!
//! Addresses and domains that mean nothing to VirusTotal are kept but flagged, and
//! `triage_iocs` lists them as skipped instead of looking them up ([`Flag::skips_lookup`]):
//! private (RFC 1918, `fc00::/7`), loopback, link-local, documentation (RFC 5737, `2001:db8::/32`,
//! `3fff::/20`, and `example.com`/`.net`/`.org` of RFC 2606), unspecified and other reserved
//! ranges (multicast, broadcast, `100.64.0.0/10`, `198.18.0.0/15`, `240.0.0.0/4`).

use super::args::{ExtractArgs, Format};
use super::model::{clean, q};
use super::{Answer, Ctx, Outcome, Run};
use futures::future::BoxFuture;
use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// The kind of an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IocType {
    /// 32 hex digits.
    Md5,
    /// 40 hex digits.
    Sha1,
    /// 64 hex digits.
    Sha256,
    /// An http or https URL.
    Url,
    /// A domain name under a public suffix.
    Domain,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
}

impl IocType {
    /// Every type, in the order counts are shown.
    pub const ALL: [IocType; 7] = [
        IocType::Md5,
        IocType::Sha1,
        IocType::Sha256,
        IocType::Url,
        IocType::Domain,
        IocType::Ipv4,
        IocType::Ipv6,
    ];

    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            IocType::Md5 => "md5",
            IocType::Sha1 => "sha1",
            IocType::Sha256 => "sha256",
            IocType::Url => "url",
            IocType::Domain => "domain",
            IocType::Ipv4 => "ipv4",
            IocType::Ipv6 => "ipv6",
        }
    }
}

/// Something worth knowing about an indicator. All but [`Flag::Email`] mean it is not worth a
/// VirusTotal lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Seen as the domain of an e-mail address (informational).
    Email,
    /// Written like a version number (`v1.2.3.4`, `version 10.0.0.1`).
    VersionLike,
    /// Private network: RFC 1918, unique local `fc00::/7`.
    Private,
    /// Loopback: `127.0.0.0/8`, `::1`.
    Loopback,
    /// Link-local: `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// Documentation: RFC 5737, `2001:db8::/32`, `3fff::/20`, RFC 2606 example domains.
    Documentation,
    /// Unspecified: `0.0.0.0`, `::`.
    Unspecified,
    /// Other ranges not routed on the internet: multicast, broadcast, `0.0.0.0/8`,
    /// `100.64.0.0/10`, `198.18.0.0/15`, `240.0.0.0/4`, `100::/64`.
    Reserved,
}

impl Flag {
    /// Whether an indicator with this flag is skipped by `triage_iocs`.
    pub fn skips_lookup(self) -> bool {
        self != Flag::Email
    }

    /// Why an indicator with this flag is not looked up.
    pub fn reason(self) -> &'static str {
        match self {
            Flag::Email => "seen in an e-mail address",
            Flag::VersionLike => "written like a version number",
            Flag::Private => "a private address",
            Flag::Loopback => "a loopback address",
            Flag::LinkLocal => "a link-local address",
            Flag::Documentation => "a documentation address or domain",
            Flag::Unspecified => "the unspecified address",
            Flag::Reserved => "a reserved, multicast or broadcast address",
        }
    }
}

/// One indicator found in the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: IocType,
    /// The indicator, refanged: a hash in lower case, a domain in lower-case ASCII (IDN as
    /// punycode), an IP in its canonical form, a URL as written.
    pub value: String,
    /// Whether it was written defanged (at least once).
    pub defanged_in_text: bool,
    /// What is worth knowing about it.
    pub flags: Vec<Flag>,
}

impl Indicator {
    /// Why `triage_iocs` does not look it up, if it does not.
    pub fn skip_reason(&self) -> Option<String> {
        let reasons: Vec<&str> = self
            .flags
            .iter()
            .filter(|f| f.skips_lookup())
            .map(|f| f.reason())
            .collect();
        (!reasons.is_empty()).then(|| reasons.join(", "))
    }
}

/// File extensions that are also top-level domains and name files far more often than hosts in
/// security text. A name ending in one is a file name unless written defanged, in a URL or in
/// an e-mail address. Each is in the Public Suffix List (a test checks it).
pub const FILE_EXTENSION_TLDS: &[&str] = &[
    "zip", "mov", "one", "py", "sh", "pl", "pm", "md", "rs", "ps", "so", "cab", "java", "pub",
];

/// Domains reserved for documentation (RFC 2606), flagged with their subdomains.
const DOCUMENTATION_DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];

// The patterns are constants: a failure to compile is a defect caught by the unit tests, which
// build every one of them.
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant pattern")
}

/// Defang tokens: a scheme (checked for a following `:` in code), a bracketed dot, a bracketed
/// at sign, bracketed separators.
static DEFANG: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)(?P<scheme>\b(?:hxxps?|hxxxps?|h\*\*ps?|h\[tt\]ps?|hxtps?|htxps?|fxps?))",
        r"|(?P<dot>[ \t]?[\[\(\{][ \t]*(?:\.|dot)[ \t]*[\]\)\}][ \t]?)",
        r"|(?P<at>[ \t]?[\[\(\{][ \t]*(?:@|at)[ \t]*[\]\)\}][ \t]?)",
        r"|(?P<sep>\[(?:://|:|//|/)\]|\(:\)|\{:\})",
    ))
});

/// http(s) URLs up to a character a URL cannot hold unencoded (white space, quotes, angle
/// brackets, backtick, pipe, controls and invisible format characters).
static URL: LazyLock<Regex> = LazyLock::new(|| {
    re(r#"(?i)\bhttps?://[^\s<>"'`|\p{Cc}\p{Cf}\u{2018}-\u{201F}\u{00AB}\u{00BB}]+"#)
});

/// E-mail addresses; group 1 is the domain.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"[\p{L}\p{N}\p{M}._%+\-]+@([\p{L}\p{N}\p{M}_\-]+(?:\.[\p{L}\p{N}\p{M}_\-]+)+)")
});

/// Dotted decimal runs (an IPv4 address has exactly four parts).
static DOTTED: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9]+(?:\.[0-9]+)+"));

/// IPv6 candidates (an IPv4 tail first, so that it wins over a short hex group).
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-f]{0,4})")
});

/// Hex runs of hash lengths and longer (the length is checked in code).
static HEX: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9A-Fa-f]{32,64}"));

/// Dotted names.
static NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"[\p{L}\p{N}\p{M}_\-]+(?:\.[\p{L}\p{N}\p{M}_\-]+)+"));

/// The text with defanged tokens replaced, and where the replacements are (byte ranges of the
/// refanged text, in order).
struct Refanged {
    text: String,
    replaced: Vec<(usize, usize)>,
}

impl Refanged {
    /// Whether `start..end` of the refanged text holds a replacement.
    fn defanged(&self, start: usize, end: usize) -> bool {
        let i = self.replaced.partition_point(|&(_, e)| e <= start);
        self.replaced.get(i).is_some_and(|&(s, _)| s < end)
    }
}

fn refang(text: &str) -> Refanged {
    let mut out = String::with_capacity(text.len());
    let mut replaced = vec![];
    let mut last = 0;
    for c in DEFANG.captures_iter(text) {
        let Some(m) = c.get(0) else { continue };
        let token = m.as_str();
        let with: String = if c.name("scheme").is_some() {
            let after = &text[m.end()..];
            let is_scheme = [":", "[:", "(:", "{:"].iter().any(|p| after.starts_with(p));
            if !is_scheme {
                continue;
            }
            let secure = token.ends_with(['s', 'S']);
            let base = if token.starts_with(['f', 'F']) {
                "ftp"
            } else {
                "http"
            };
            format!("{base}{}", if secure { "s" } else { "" })
        } else if c.name("dot").is_some() {
            ".".into()
        } else if c.name("at").is_some() {
            "@".into()
        } else {
            token
                .trim_matches(|ch| matches!(ch, '[' | ']' | '(' | ')' | '{' | '}'))
                .to_string()
        };
        out.push_str(&text[last..m.start()]);
        let start = out.len();
        out.push_str(&with);
        replaced.push((start, out.len()));
        last = m.end();
    }
    out.push_str(&text[last..]);
    Refanged {
        text: out,
        replaced,
    }
}

/// Replaces `spans` of `text` with spaces (same byte length, so positions stay valid).
fn blank(text: &str, spans: &[(usize, usize)]) -> String {
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for &(s, e) in spans {
        out.push_str(&text[last..s]);
        out.extend(std::iter::repeat_n(' ', e - s));
        last = e;
    }
    out.push_str(&text[last..]);
    out
}

fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn char_after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// Flags of an IPv4 address that VirusTotal has nothing to say about.
fn ipv4_flags(ip: Ipv4Addr) -> Vec<Flag> {
    let [a, b, c, _] = ip.octets();
    let flag = if ip.is_unspecified() {
        Flag::Unspecified
    } else if ip.is_loopback() {
        Flag::Loopback
    } else if ip.is_private() {
        Flag::Private
    } else if ip.is_link_local() {
        Flag::LinkLocal
    } else if ip.is_documentation() {
        Flag::Documentation
    } else if a == 0
        || ip.is_multicast()
        || ip.is_broadcast()
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && c == 0)
    {
        Flag::Reserved
    } else {
        return vec![];
    };
    vec![flag]
}

/// Flags of an IPv6 address that VirusTotal has nothing to say about.
fn ipv6_flags(ip: Ipv6Addr) -> Vec<Flag> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_flags(v4);
    }
    let s = ip.segments();
    let flag = if ip.is_unspecified() {
        Flag::Unspecified
    } else if ip.is_loopback() {
        Flag::Loopback
    } else if ip.is_unique_local() {
        Flag::Private
    } else if ip.is_unicast_link_local() {
        Flag::LinkLocal
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0 {
        Flag::Documentation
    } else if ip.is_multicast() || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) {
        Flag::Reserved
    } else {
        return vec![];
    };
    vec![flag]
}

/// Whether `domain` (lower-case ASCII) is a name under a public suffix, not a bare suffix.
/// A bare private suffix (`github.io`, `duckdns.org`) is a host of its own and counts.
fn under_public_suffix(domain: &str) -> bool {
    let Some(suffix) = psl::suffix(domain.as_bytes()) else {
        return false;
    };
    suffix.is_known()
        && (psl::domain(domain.as_bytes()).is_some() || suffix.typ() == Some(psl::Type::Private))
}

fn domain_flags(domain: &str) -> Vec<Flag> {
    let documentation = DOCUMENTATION_DOMAINS
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")));
    if documentation {
        vec![Flag::Documentation]
    } else {
        vec![]
    }
}

/// A name as a domain indicator: normalised, under a public suffix.
fn as_domain(name: &str) -> Option<String> {
    let d = crate::client::ids::normalize_domain(name)?;
    under_public_suffix(&d).then_some(d)
}

/// Product names written like domains (in capitals, as their makers write them).
const PRODUCT_NAMES: &[&str] = &["ASP.NET", "VB.NET", "ADO.NET"];

/// Objects of scripting languages whose members read like domains (`window.open`, `self.app`).
const CODE_OBJECTS: &[&str] = &[
    "window",
    "document",
    "self",
    "this",
    "console",
    "navigator",
    "location",
    "os",
    "sys",
    "process",
];

/// Whether a dotted name written as `name` (not defanged, not in a URL or an e-mail address)
/// reads as a file name, a code identifier, a product or run-together prose rather than a host.
fn looks_like_non_host(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or("");
    let capitalised_end =
        last.chars().any(char::is_uppercase) && name.chars().any(char::is_lowercase);
    let code_member = name
        .split_once('.')
        .is_some_and(|(object, member)| !member.contains('.') && CODE_OBJECTS.contains(&object));
    FILE_EXTENSION_TLDS
        .iter()
        .any(|ext| last.eq_ignore_ascii_case(ext))
        || capitalised_end
        || code_member
        || PRODUCT_NAMES.contains(&name)
}

/// Whether the dotted run at `start` is written as a version or a section number: `v1.2.3.4`,
/// a product token (`Chrome/120.0.0.0`), or after a word such as `version`, `build`, `release`,
/// `patch` or `section` (with spaces, `:` or `#` between).
fn written_as_version(text: &str, start: usize) -> bool {
    let before = &text[..start];
    if let Some(rest) = before.strip_suffix(['v', 'V'])
        && !char_before(rest, rest.len()).is_some_and(char::is_alphanumeric)
    {
        return true;
    }
    if let Some(rest) = before.strip_suffix('/')
        && char_before(rest, rest.len()).is_some_and(char::is_alphanumeric)
    {
        return true;
    }
    let trimmed = before.trim_end_matches([' ', '\t', ':', '#']);
    if trimmed.len() == before.len() {
        return false;
    }
    let word: String = trimmed
        .chars()
        .rev()
        .take_while(|c| c.is_alphabetic() || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    matches!(
        word.trim_end_matches('.').to_lowercase().as_str(),
        "version"
            | "ver"
            | "v"
            | "build"
            | "release"
            | "rev"
            | "revision"
            | "firmware"
            | "patch"
            | "section"
            | "chapter"
    )
}

/// Trims what usually follows a URL in prose: closing punctuation, and closing brackets that
/// have no opening one inside the URL.
fn trim_url(mut url: &str) -> &str {
    loop {
        let Some(last) = url.chars().next_back() else {
            return url;
        };
        let unbalanced = |open: char, close: char| {
            last == close && url.matches(close).count() > url.matches(open).count()
        };
        let trim = matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '*' | '\'' | '"')
            || unbalanced('(', ')')
            || unbalanced('[', ']')
            || unbalanced('{', '}');
        if !trim {
            return url;
        }
        url = &url[..url.len() - last.len_utf8()];
    }
}

/// One occurrence, before duplicates are merged.
struct Found {
    at: usize,
    key: String,
    indicator: Indicator,
}

/// The indicators in `text`, in order of first appearance, duplicates merged.
pub fn extract(text: &str) -> Vec<Indicator> {
    let r = refang(text);
    let norm = r.text.as_str();
    let mut found: Vec<Found> = vec![];
    let mut push = |at: usize, end: usize, kind: IocType, value: String, key: String, flags| {
        found.push(Found {
            at,
            key: format!("{}:{key}", kind.as_str()),
            indicator: Indicator {
                kind,
                value,
                defanged_in_text: r.defanged(at, end),
                flags,
            },
        });
    };

    // URLs first: what is inside one belongs to it.
    let mut taken = vec![];
    for m in URL.find_iter(norm) {
        let url = trim_url(m.as_str());
        let end = m.start() + url.len();
        taken.push((m.start(), end));
        let Ok(parsed) = crate::client::ids::check_url(url) else {
            continue;
        };
        let flags = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ipv4_flags(ip),
            Some(url::Host::Ipv6(ip)) => ipv6_flags(ip),
            Some(url::Host::Domain(d)) if under_public_suffix(d) => domain_flags(d),
            _ => continue,
        };
        push(
            m.start(),
            end,
            IocType::Url,
            url.to_string(),
            parsed.as_str().to_string(),
            flags,
        );
    }
    let work = blank(norm, &taken);

    // E-mail addresses: their domains.
    let mut taken = vec![];
    for c in EMAIL.captures_iter(&work) {
        let (Some(m), Some(d)) = (c.get(0), c.get(1)) else {
            continue;
        };
        taken.push((m.start(), m.end()));
        if let Some(domain) = as_domain(d.as_str()) {
            let mut flags = domain_flags(&domain);
            flags.insert(0, Flag::Email);
            push(
                d.start(),
                d.end(),
                IocType::Domain,
                domain.clone(),
                domain,
                flags,
            );
        }
    }
    let work = blank(&work, &taken);

    // IPv4: exactly four dotted parts, not touching letters or digits.
    for m in DOTTED.find_iter(&work) {
        let s = m.as_str();
        let before = char_before(&work, m.start());
        let after = &work[m.end()..];
        let continues = after.starts_with('.')
            && after[1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if s.split('.').count() != 4
            || continues
            || char_after(&work, m.end()).is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let version = written_as_version(&work, m.start());
        if !version && before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            continue;
        }
        let Ok(ip) = s.parse::<Ipv4Addr>() else {
            continue;
        };
        let mut flags = ipv4_flags(ip);
        if version {
            flags.insert(0, Flag::VersionLike);
        }
        push(
            m.start(),
            m.end(),
            IocType::Ipv4,
            ip.to_string(),
            ip.to_string(),
            flags,
        );
    }

    // IPv6: a parseable address with at least two groups (or `::1`), standing alone.
    for m in IPV6.find_iter(&work) {
        let s = m.as_str();
        let standalone = !char_before(&work, m.start())
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '.'))
            && !char_after(&work, m.end()).is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !standalone {
            continue;
        }
        let Ok(ip) = s.parse::<Ipv6Addr>() else {
            continue;
        };
        let groups = s.split(':').filter(|g| !g.is_empty()).count();
        if groups < 2 && !ip.is_loopback() {
            continue;
        }
        push(
            m.start(),
            m.end(),
            IocType::Ipv6,
            ip.to_string(),
            ip.to_string(),
            ipv6_flags(ip),
        );
    }

    // Hashes: exactly 32, 40 or 64 hex digits, not touching other letters or digits.
    for m in HEX.find_iter(&work) {
        let touches = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
        if touches(char_before(&work, m.start())) || touches(char_after(&work, m.end())) {
            continue;
        }
        let kind = match m.len() {
            32 => IocType::Md5,
            40 => IocType::Sha1,
            64 => IocType::Sha256,
            _ => continue,
        };
        let h = m.as_str().to_ascii_lowercase();
        push(m.start(), m.end(), kind, h.clone(), h, vec![]);
    }

    // Domains.
    for m in NAME.find_iter(&work) {
        let name = m.as_str();
        let before = char_before(&work, m.start());
        let in_path = match before {
            Some('\\') => true,
            Some('/') => !work[..m.start()].ends_with("//"),
            Some(c) => c == '@' || c == '.' || c == '$' || c == '%',
            None => false,
        };
        // A call in code: `requests.get(url)`, `subprocess.run(…)`.
        let called = char_after(&work, m.end()) == Some('(');
        let defanged = r.defanged(m.start(), m.end());
        if in_path || (!defanged && (called || looks_like_non_host(name))) {
            continue;
        }
        // Not a dotted quad or other run the IP pass owns.
        if name
            .split('.')
            .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let Some(domain) = as_domain(name) else {
            continue;
        };
        let flags = domain_flags(&domain);
        push(
            m.start(),
            m.end(),
            IocType::Domain,
            domain.clone(),
            domain,
            flags,
        );
    }

    merge(found)
}

/// Merges duplicates: the first occurrence's value, defanged if any occurrence was, the union of
/// the flags.
fn merge(mut found: Vec<Found>) -> Vec<Indicator> {
    found.sort_by_key(|f| f.at);
    let mut out: Vec<Indicator> = vec![];
    let mut index: HashMap<String, usize> = HashMap::new();
    for f in found {
        match index.get(&f.key) {
            Some(&i) => {
                let first = &mut out[i];
                first.defanged_in_text |= f.indicator.defanged_in_text;
                for flag in f.indicator.flags {
                    if !first.flags.contains(&flag) {
                        first.flags.push(flag);
                    }
                }
                first.flags.sort();
            }
            None => {
                index.insert(f.key, out.len());
                out.push(f.indicator);
            }
        }
    }
    out
}

/// Most indicators `extract_iocs` lists (the counts cover all).
pub const MAX_LISTED: usize = 250;

/// `extract_iocs`.
pub struct ExtractIocs;

impl Run for ExtractIocs {
    type Args = ExtractArgs;
    fn run(_ctx: &Ctx, args: ExtractArgs) -> BoxFuture<'_, Outcome> {
        Box::pin(async move { Ok(answer(&extract(&args.text), args.format)) })
    }
}

/// The counts of `found`: per type, defanged and flagged.
fn counts(found: &[Indicator]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("total".into(), json!(found.len()));
    for t in IocType::ALL {
        m.insert(
            t.as_str().into(),
            json!(found.iter().filter(|i| i.kind == t).count()),
        );
    }
    m.insert(
        "defanged".into(),
        json!(found.iter().filter(|i| i.defanged_in_text).count()),
    );
    m.insert(
        "skipped_by_triage".into(),
        json!(found.iter().filter(|i| i.skip_reason().is_some()).count()),
    );
    m
}

/// The `extract_iocs` answer for `found`.
pub fn answer(found: &[Indicator], format: Format) -> Answer {
    let listed = &found[..found.len().min(MAX_LISTED)];
    let not_listed = found.len() - listed.len();
    let counts = counts(found);
    let mut json = json!({"indicators": listed, "counts": counts, "requests": 0});
    if not_listed > 0 {
        json["not_listed"] = json!(not_listed);
    }
    if format == Format::Json {
        return Answer::json(json);
    }
    let mut s = String::from("## Indicators in the text\n");
    if found.is_empty() {
        s.push_str(
            "None found (hashes, http/https URLs, domains under a public suffix, IP addresses, \
             e-mail domains). No request was made to VirusTotal.\n",
        );
        return Answer {
            json,
            markdown: Some(s),
        };
    }
    let per_type: Vec<String> = IocType::ALL
        .iter()
        .filter_map(|t| {
            let n = found.iter().filter(|i| i.kind == *t).count();
            (n > 0).then(|| format!("{n} {}", t.as_str()))
        })
        .collect();
    let _ = writeln!(
        s,
        "{} found ({}); {} written defanged; {} flagged as not worth a lookup. No request was made to VirusTotal.\n",
        found.len(),
        per_type.join(", "),
        counts["defanged"],
        counts["skipped_by_triage"],
    );
    s.push_str("| type | indicator | defanged | flags |\n|---|---|---|---|\n");
    for i in listed {
        let flags: Vec<String> = i
            .flags
            .iter()
            .map(|f| {
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            i.kind.as_str(),
            q(&clean(&i.value)),
            if i.defanged_in_text { "yes" } else { "" },
            flags.join(", ")
        );
    }
    if not_listed > 0 {
        let _ = writeln!(
            s,
            "\n{not_listed} more not listed: pass a shorter part of the text."
        );
    }
    s.push_str(
        "\n_Quoted values come from the text given and are untrusted data. `triage_iocs` with the same `text` looks up the unflagged ones._\n",
    );
    Answer {
        json,
        markdown: Some(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(IocType, String)> {
        extract(text)
            .into_iter()
            .map(|i| (i.kind, i.value))
            .collect()
    }

    fn one(text: &str) -> Indicator {
        let mut all = extract(text);
        assert_eq!(all.len(), 1, "{text}: {all:?}");
        all.remove(0)
    }

    #[test]
    fn every_pattern_compiles() {
        for r in [&DEFANG, &URL, &EMAIL, &DOTTED, &IPV6, &HEX, &NAME] {
            assert!(!r.as_str().is_empty());
        }
    }

    #[test]
    fn file_extension_tlds_are_all_public_suffixes() {
        for ext in FILE_EXTENSION_TLDS {
            assert!(
                psl::suffix(ext.as_bytes()).is_some_and(|s| s.is_known()),
                "{ext} is not a public suffix: drop it from the list"
            );
        }
    }

    #[test]
    fn refangs_schemes_dots_separators_and_at_signs() {
        let i = one("beacon to hxxps[:]//evil[.]example-bad[.]com/gate[.]php?id=1 today");
        assert_eq!(i.kind, IocType::Url);
        assert_eq!(i.value, "https://evil.example-bad.com/gate.php?id=1");
        assert!(i.defanged_in_text);
        assert_eq!(
            one("hXXp://bad-site(.)net/x").value,
            "http://bad-site.net/x"
        );
        assert_eq!(
            one("h**ps[://]bad-site{.}net/").value,
            "https://bad-site.net/"
        );
        assert_eq!(one("bad-site [dot] net").value, "bad-site.net");
        assert_eq!(one("bad-site(DOT)net").value, "bad-site.net");
        let mail = one("sender: billing[at]pay-portal[.]biz");
        assert_eq!(
            (mail.kind, mail.value.as_str()),
            (IocType::Domain, "pay-portal.biz")
        );
        assert_eq!(mail.flags, [Flag::Email]);
        assert!(mail.defanged_in_text);
        assert_eq!(one("x[@]pay-portal.biz").value, "pay-portal.biz");
        assert_eq!(one("45.77.12[.]9").value, "45.77.12.9");
        assert!(one("45[.]77[.]12[.]9").defanged_in_text);
        // An ftp URL is not looked up: its host is.
        assert_eq!(
            values("fxp://files.bad-site.net/drop/a.bin"),
            [(IocType::Domain, "files.bad-site.net".to_string())]
        );
        // A word that merely starts like a defanged scheme is left alone.
        assert!(values("the hxxp protocol").is_empty());
    }

    #[test]
    fn plain_indicators_are_not_marked_defanged() {
        let i = one("see https://bad-site.net/a");
        assert!(!i.defanged_in_text);
        assert!(!one("8.8.4.4").defanged_in_text);
        // The same indicator written both ways: defanged.
        let all = extract("bad-site.net and bad-site[.]net");
        assert_eq!(all.len(), 1);
        assert!(all[0].defanged_in_text);
    }

    #[test]
    fn hashes_of_exactly_three_lengths() {
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        let sha1 = "3395856CE81F2B7382DEE72602F798B642F14140";
        let sha256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
        assert_eq!(
            values(&format!("md5={md5}, sha1: {sha1}\n({sha256})")),
            [
                (IocType::Md5, md5.to_string()),
                (IocType::Sha1, sha1.to_ascii_lowercase()),
                (IocType::Sha256, sha256.to_string()),
            ]
        );
        // Other lengths, longer runs, hex touching letters, 0x numbers.
        for not in [
            &md5[..31],
            &format!("{md5}a"),
            &format!("{sha256}{sha256}"),
            &format!("0x{md5}"),
            &format!("g{md5}"),
            "deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
        ] {
            assert!(values(not).is_empty(), "{not}");
        }
        // Separated by an underscore or a dash: still a hash.
        assert_eq!(values(&format!("sample_{md5}.bin"))[0].1, md5);
        // Inside a URL: part of the URL.
        assert_eq!(
            values(&format!("https://bad-site.net/files/{sha256}"))[0].0,
            IocType::Url
        );
    }

    #[test]
    fn file_names_are_not_domains() {
        for not in [
            "invoice.pdf",
            "setup.exe",
            "report.docx",
            "example[.]pdf",
            "Invoice_2024.zip",
            "install.sh",
            "payload.py",
            "C:\\Users\\Public\\update.zip",
            "/tmp/.x/loader.so",
            "id_rsa.pub",
            "host.corp.local",
            "co.uk",
        ] {
            assert!(values(not).is_empty(), "{not}: {:?}", values(not));
        }
        // Defanged, a file-extension TLD is a domain.
        assert_eq!(one("update-check[.]zip").value, "update-check.zip");
        // In a URL, its host counts whatever its TLD.
        assert_eq!(one("https://update-check.zip/a").kind, IocType::Url);
    }

    #[test]
    fn code_and_run_together_prose_are_not_domains() {
        for not in [
            "System.Net",
            "System.IO",
            "ASP.NET",
            "it was done.It then",
            "console.log",
            "r = requests.get(u)",
            "window.open",
            "self.app",
            "WScript.Shell",
            "ADODB.Stream",
        ] {
            assert!(values(not).is_empty(), "{not}: {:?}", values(not));
        }
        assert_eq!(one("Login-Portal.com").value, "login-portal.com");
        assert_eq!(one("evil[.]COM").value, "evil.com");
        assert_eq!(
            Some(one("bücher-shop.de").value),
            crate::client::ids::normalize_domain("bücher-shop.de")
        );
        assert_eq!(one("BAD-SITE.NET").value, "bad-site.net");
        // A bare private suffix is a host of its own.
        assert_eq!(one("payload at duckdns.org").value, "duckdns.org");
    }

    #[test]
    fn ips_versions_and_flags() {
        let i = one("v1.2.3.4");
        assert_eq!(i.flags, [Flag::VersionLike]);
        assert_eq!(one("version 11.20.30.40").flags, [Flag::VersionLike]);
        assert_eq!(one("Build: 5.6.7.8").flags, [Flag::VersionLike]);
        assert_eq!(one("see section 4.2.1.3").flags, [Flag::VersionLike]);
        assert_eq!(
            one("Mozilla/5.0 AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36").flags,
            [Flag::VersionLike]
        );
        // After `//` it is a host, not a product token.
        assert!(one("ftp://45.77.12.9/pub").flags.is_empty());
        // Not four parts, or an octet too big: not an IP at all.
        for not in [
            "1.2.3",
            "1.2.3.4.5",
            "10.0.19041.1",
            "256.1.1.1",
            "01.2.3.4",
        ] {
            assert!(values(not).is_empty(), "{not}: {:?}", values(not));
        }
        let flags = |s: &str| one(s).flags;
        assert_eq!(flags("10.1.2.3"), [Flag::Private]);
        assert_eq!(flags("172.16.0.9"), [Flag::Private]);
        assert_eq!(flags("192.168.1.1"), [Flag::Private]);
        assert_eq!(flags("127.0.0.1"), [Flag::Loopback]);
        assert_eq!(flags("169.254.10.10"), [Flag::LinkLocal]);
        assert_eq!(flags("192.0.2.7"), [Flag::Documentation]);
        assert_eq!(flags("198.51.100.7"), [Flag::Documentation]);
        assert_eq!(flags("203.0.113.7"), [Flag::Documentation]);
        assert_eq!(flags("0.0.0.0"), [Flag::Unspecified]);
        assert_eq!(flags("100.64.1.1"), [Flag::Reserved]);
        assert_eq!(flags("::1"), [Flag::Loopback]);
        assert_eq!(flags("fd12:3456::1"), [Flag::Private]);
        assert_eq!(flags("fe80::1%eth0"), [Flag::LinkLocal]);
        assert_eq!(flags("2001:db8::dead:beef"), [Flag::Documentation]);
        assert_eq!(flags("ff02::1"), [Flag::Reserved]);
        assert!(flags("2a01:4f8:c17:b8f::2").is_empty());
        assert!(flags("185.220.101.4").is_empty());
        assert_eq!(one("[2A01:4F8::2]").value, "2a01:4f8::2");
        assert_eq!(one("45.77.12.9:8443").value, "45.77.12.9");
        // Times, MAC addresses and C++ names are not IPv6.
        for not in ["12:30:45", "00:1a:2b:3c:4d:5e", "std::vector", "a[::2]"] {
            assert!(values(not).is_empty(), "{not}: {:?}", values(not));
        }
        assert!(
            one("http://10.0.0.5/admin").flags == [Flag::Private],
            "a URL's host decides its flags"
        );
        assert_eq!(one("ns1.example.com").flags, [Flag::Documentation]);
        assert_eq!(one("1.2.3.4.nip.io").kind, IocType::Domain);
    }

    #[test]
    fn urls_end_where_prose_resumes() {
        assert_eq!(
            values("(see https://bad-site.net/a_(b)/c), then \"https://other-bad.org/x\".")
                .into_iter()
                .map(|v| v.1)
                .collect::<Vec<_>>(),
            ["https://bad-site.net/a_(b)/c", "https://other-bad.org/x"]
        );
        assert_eq!(
            one("[link](https://bad-site.net/p?q=1)").value,
            "https://bad-site.net/p?q=1"
        );
        assert_eq!(
            one("<https://bad-site.net/>").value,
            "https://bad-site.net/"
        );
        // A host under no public suffix: not an indicator.
        assert!(values("http://intranet/wiki and http://localhost:8080/").is_empty());
        // Bidi and zero-width characters end a URL.
        assert_eq!(
            one("https://bad-site.net/a\u{202e}txt.exe").value,
            "https://bad-site.net/a"
        );
    }

    #[test]
    fn duplicates_merge_in_order_of_first_appearance() {
        let text = "BAD-SITE.NET 8.8.4.4 bad-site[.]net 44D88612FEA8A8F36DE82E1278ABB02F \
                    44d88612fea8a8f36de82e1278abb02f HTTP://Bad-Site.net/a http://bad-site.net/a \
                    ops@bad-site.net";
        let all = extract(text);
        let got: Vec<(IocType, &str)> = all.iter().map(|i| (i.kind, i.value.as_str())).collect();
        assert_eq!(
            got,
            [
                (IocType::Domain, "bad-site.net"),
                (IocType::Ipv4, "8.8.4.4"),
                (IocType::Md5, "44d88612fea8a8f36de82e1278abb02f"),
                (IocType::Url, "HTTP://Bad-Site.net/a"),
            ]
        );
        assert_eq!(all[0].flags, [Flag::Email]);
        assert!(all[0].defanged_in_text);
    }

    #[test]
    fn hostile_and_empty_input_is_harmless() {
        assert!(extract("").is_empty());
        assert!(extract("[.][.][.](at)[:]hxxp").is_empty());
        let long = "a.".repeat(100_000);
        assert!(extract(&long).is_empty());
        let many = "8.8.4.4 ".repeat(10_000);
        assert_eq!(extract(&many).len(), 1);
        // Multi-byte text around and inside candidates.
        assert_eq!(
            values("Zugriff auf „bad-site.net“ – ünd 1.1.1.1…"),
            [
                (IocType::Domain, "bad-site.net".to_string()),
                (IocType::Ipv4, "1.1.1.1".to_string())
            ]
        );
    }

    #[test]
    fn markdown_quotes_values_and_caps_the_listing() {
        let a = answer(&extract("https://bad-site.net/`x`<b>"), Format::Markdown);
        let md = a.markdown.unwrap();
        assert!(md.contains("| url | `https://bad-site.net/` |"), "{md}");
        assert!(!md.contains("<b>"), "{md}");
        assert_eq!(a.json["requests"], 0);
        let text: String = (0..300)
            .map(|i| format!("10.0.{}.{} ", i / 250, i % 250))
            .collect();
        let a = answer(&extract(&text), Format::Json);
        assert_eq!(a.json["indicators"].as_array().unwrap().len(), MAX_LISTED);
        assert_eq!(a.json["not_listed"], 300 - MAX_LISTED);
        assert_eq!(a.json["counts"]["ipv4"], 300);
        assert_eq!(a.json["counts"]["skipped_by_triage"], 300);
    }
}
