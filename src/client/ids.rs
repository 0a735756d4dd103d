//! Identifiers VirusTotal uses: URL ids (unpadded base64url of the URL), file hashes (MD5,
//! SHA-1, SHA-256 hex), IP addresses and domain names (IDN accepted, sent as ASCII/punycode).

use base64::Engine;
use std::net::IpAddr;

/// VirusTotal's id for a URL: the URL in base64url without `=` padding (RFC 4648 §5).
///
/// ```
/// assert_eq!(vtmcp::client::ids::url_id("http://example.com/"), "aHR0cDovL2V4YW1wbGUuY29tLw");
/// ```
pub fn url_id(url: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.as_bytes())
}

/// The kind of a file hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// 32 hex digits.
    Md5,
    /// 40 hex digits.
    Sha1,
    /// 64 hex digits.
    Sha256,
}

/// Detects MD5, SHA-1 or SHA-256 hex (any case, surrounding whitespace ignored).
pub fn hash_kind(s: &str) -> Option<HashKind> {
    let s = s.trim();
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match s.len() {
        32 => Some(HashKind::Md5),
        40 => Some(HashKind::Sha1),
        64 => Some(HashKind::Sha256),
        _ => None,
    }
}

/// Parses an IPv4 or IPv6 address (IPv6 may be given in brackets).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// Normalises a domain name: lower case, trailing dot removed, IDN converted to ASCII
/// (punycode). Returns `None` for anything that is not a plausible host name (an IP address,
/// a URL, labels that are empty or too long, characters a host name cannot hold).
pub fn normalize_domain(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.');
    if s.is_empty() || s.len() > 253 || parse_ip(s).is_some() {
        return None;
    }
    let ascii = match url::Host::parse(s).ok()? {
        url::Host::Domain(d) => d,
        _ => return None,
    };
    let ok = ascii.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (ok && ascii.contains('.')).then_some(ascii)
}

/// Checks a URL for scanning or lookup: absolute, http or https, with a host, at most 8 KiB.
pub fn check_url(s: &str) -> Result<url::Url, String> {
    let s = s.trim();
    if s.len() > 8192 {
        return Err(format!(
            "is {} characters long; URLs up to 8192 are accepted",
            s.len()
        ));
    }
    let u = url::Url::parse(s)
        .map_err(|e| format!("is not an absolute URL ({e}); e.g. https://example.com/path"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "uses the scheme `{}`; only http and https URLs can be looked up",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("has no host; e.g. https://example.com/path".into());
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_ids_are_unpadded_base64url() {
        assert_eq!(url_id("http://example.com/"), "aHR0cDovL2V4YW1wbGUuY29tLw");
        // Bytes that standard base64 writes as '+' and '/' become '-' and '_'.
        let id = url_id("https://example.com/?q=>>>???&x=~~~#frag");
        assert!(
            !id.contains('+') && !id.contains('/') && !id.contains('='),
            "{id}"
        );
        assert_eq!(url_id("a"), "YQ");
        assert!(url_id("https://example.com/a?b=c#d").len() % 4 != 1);
    }

    #[test]
    fn hash_kinds() {
        assert_eq!(
            hash_kind("44d88612fea8a8f36de82e1278abb02f"),
            Some(HashKind::Md5)
        );
        assert_eq!(
            hash_kind("3395856CE81F2B7382DEE72602F798B642F14140"),
            Some(HashKind::Sha1)
        );
        assert_eq!(
            hash_kind(" 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\n"),
            Some(HashKind::Sha256)
        );
        assert_eq!(hash_kind("44d88612fea8a8f36de82e1278abb02g"), None);
        assert_eq!(hash_kind("abc"), None);
        assert_eq!(hash_kind(""), None);
    }

    #[test]
    fn ips_and_domains() {
        assert!(parse_ip("8.8.8.8").is_some());
        assert!(parse_ip("2001:4860:4860::8888").is_some());
        assert!(parse_ip("[::1]").is_some());
        assert!(parse_ip("999.1.1.1").is_none());
        assert_eq!(normalize_domain("Example.COM."), Some("example.com".into()));
        assert_eq!(
            normalize_domain("bücher.de"),
            Some("xn--bcher-kva.de".into())
        );
        assert_eq!(normalize_domain("8.8.8.8"), None);
        assert_eq!(normalize_domain("https://example.com"), None);
        assert_eq!(normalize_domain("localhost"), None);
        assert_eq!(normalize_domain("-bad-.com"), None);
        assert_eq!(normalize_domain("a..b.com"), None);
    }

    #[test]
    fn urls() {
        assert!(check_url("https://example.com/a?b=c#d").is_ok());
        assert!(
            check_url("ftp://example.com/")
                .unwrap_err()
                .contains("scheme")
        );
        assert!(check_url("example.com").is_err());
        assert!(
            check_url(&format!("https://example.com/{}", "a".repeat(9000)))
                .unwrap_err()
                .contains("8192")
        );
    }

    #[test]
    fn url_ids_of_urls_with_queries_fragments_and_unusual_hosts() {
        // Standard base64 of these has '+' and '/': the id must use '-' and '_', unpadded.
        assert_eq!(
            url_id("http://a.example/?q=>>>???"),
            "aHR0cDovL2EuZXhhbXBsZS8_cT0-Pj4_Pz8"
        );
        assert_eq!(
            url_id("https://example.com/search?q=a+b&x=1#frag"),
            "aHR0cHM6Ly9leGFtcGxlLmNvbS9zZWFyY2g_cT1hK2ImeD0xI2ZyYWc"
        );
        assert_eq!(
            url_id("https://xn--bcher-kva.de/p?x=%C3%BC"),
            "aHR0cHM6Ly94bi0tYmNoZXIta3ZhLmRlL3A_eD0lQzMlQkM"
        );
        assert_eq!(
            url_id("http://[2001:db8::1]:8080/a?b=c"),
            "aHR0cDovL1syMDAxOmRiODo6MV06ODA4MC9hP2I9Yw"
        );
        // The id decodes back to exactly the URL given (the query and fragment included).
        let u = "https://example.com/a?b=c&d=%2F#frag";
        let back = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(url_id(u))
            .unwrap();
        assert_eq!(back, u.as_bytes());
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(
            parse_ip("2001:DB8::1"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert!(parse_ip("::ffff:192.0.2.1").is_some_and(|ip| ip.is_ipv6()));
        assert!(parse_ip(" ::1 ").is_some());
        assert!(parse_ip("2001:0db8:0000:0000:0000:ff00:0042:8329").is_some());
        // Not a bare address: a port, a zone index, a typo.
        assert_eq!(parse_ip("[2001:db8::1]:443"), None);
        assert_eq!(parse_ip("fe80::1%eth0"), None);
        assert_eq!(parse_ip("2001:db8:::1"), None);
        assert_eq!(normalize_domain("2001:db8::1"), None);
        assert_eq!(normalize_domain("[::1]"), None);
    }

    #[test]
    fn idn_domains() {
        assert_eq!(
            normalize_domain("Bücher.DE."),
            Some("xn--bcher-kva.de".into())
        );
        assert_eq!(
            normalize_domain("xn--bcher-kva.de"),
            Some("xn--bcher-kva.de".into())
        );
        assert_eq!(normalize_domain("☃.net"), Some("xn--n3h.net".into()));
        assert_eq!(
            normalize_domain("_dmarc.example.com"),
            Some("_dmarc.example.com".into())
        );
        assert_eq!(normalize_domain(&format!("{}.com", "a".repeat(64))), None);
        assert_eq!(normalize_domain("exa mple.com"), None);
    }

    #[test]
    fn urls_with_queries_fragments_ipv6_and_idn_hosts() {
        let u = check_url("http://[2001:db8::1]:8080/a?b=c#d").unwrap();
        assert_eq!(u.host_str(), Some("[2001:db8::1]"));
        let u = check_url("https://bücher.de/p?x=ü#f").unwrap();
        assert_eq!(u.host_str(), Some("xn--bcher-kva.de"));
        assert_eq!(u.fragment(), Some("f"));
        assert!(check_url("http://").is_err());
        assert!(check_url("javascript:alert(1)").is_err());
    }
}
