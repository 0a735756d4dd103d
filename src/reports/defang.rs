//! Defanged markdown (`--defang`, `VTMCP_DEFANG`): the URLs, domains and IP addresses in a
//! tool's markdown written so that chat clients and mail readers do not turn them into links
//! (`hxxps://evil[.]example[.]com/x`, `evil[.]com`, `1.2.3[.]4`, `2001:db8::[:]1`).
//!
//! Every network indicator in the text is defanged, not only those judged malicious: a report is
//! about the indicator under analysis and the ones related to it, and one not (yet) flagged is no
//! safer to click than one that is. Hashes are left as they are (they are not links). The
//! indicators are found by the same extractor as `extract_iocs` ([`super::ioc::extract`]), so
//! file names such as `invoice.pdf`, version numbers and code are left alone. Only the
//! markdown changes: the JSON (structured content) keeps every value exact.

use super::ioc::{IocType, extract};

/// `url` defanged: `http`/`https` become `hxxp`/`hxxps` and every dot of the host `[.]`.
fn defang_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return url.replace('.', "[.]"),
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => "hxxp".to_string(),
        "https" => "hxxps".to_string(),
        _ => scheme.replace('t', "x"),
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    format!("{scheme}://{}{tail}", host.replace('.', "[.]"))
}

/// One indicator's defanged spelling, if it has one.
fn defanged(kind: IocType, value: &str) -> Option<String> {
    match kind {
        IocType::Url => Some(defang_url(value)),
        IocType::Domain => Some(value.replace('.', "[.]")),
        IocType::Ipv4 => value.rsplit_once('.').map(|(a, b)| format!("{a}[.]{b}")),
        IocType::Ipv6 => value.rsplit_once(':').map(|(a, b)| format!("{a}[:]{b}")),
        IocType::Md5 | IocType::Sha1 | IocType::Sha256 => None,
    }
}

/// Whether `c` may continue a host name or address (a match must not be part of a longer one).
fn continues(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `markdown` with every URL, domain and IP address in it defanged.
pub fn defang_markdown(markdown: &str) -> String {
    // Each indicator in lower case, to find it in any case; written back in the text's own.
    let mut pairs: Vec<(String, IocType)> = extract(markdown)
        .into_iter()
        .filter(|i| defanged(i.kind, &i.value).is_some())
        .map(|i| (i.value.to_ascii_lowercase(), i.kind))
        .collect();
    if pairs.is_empty() {
        return markdown.to_string();
    }
    // Longest first: a URL before its host, a host before its parent domain.
    pairs.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    let lower = markdown.to_ascii_lowercase();
    let mut out = String::with_capacity(markdown.len() + 64);
    let mut i = 0;
    'scan: while i < markdown.len() {
        let before = markdown[..i].chars().next_back();
        if !continues(before) && before != Some('.') {
            for (value, kind) in &pairs {
                let end = i + value.len();
                if lower.as_bytes().get(i..end) == Some(value.as_bytes())
                    && markdown.is_char_boundary(end)
                    && let Some(fanged) = defanged(*kind, &markdown[i..end])
                {
                    let after = markdown[end..].chars().next();
                    let more_host =
                        after == Some('.') && continues(markdown[end + 1..].chars().next());
                    if !continues(after) && !more_host {
                        out.push_str(&fanged);
                        i = end;
                        continue 'scan;
                    }
                }
            }
        }
        let c = markdown[i..].chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_domains_and_addresses_are_defanged_and_the_rest_is_not() {
        let md = "## Report: `https://login.evil-site.com/owa?u=1`\n\
                  Host `login.evil-site.com` resolved to 203.0.113.7 and 2606:4700::1111; \
                  sibling Evil-Site.com. File `invoice.pdf`, version 1.2.3, \
                  hash 44d88612fea8a8f36de82e1278abb02f, plain http://x.example.org/a.";
        let d = defang_markdown(md);
        assert!(
            d.contains("`hxxps://login[.]evil-site[.]com/owa?u=1`"),
            "{d}"
        );
        assert!(d.contains("`login[.]evil-site[.]com`"), "{d}");
        assert!(d.contains("203.0.113[.]7"), "{d}");
        assert!(d.contains("2606:4700:[:]1111"), "{d}");
        assert!(d.contains("Evil-Site[.]com."), "original case kept: {d}");
        assert!(d.contains("hxxp://x[.]example[.]org/a"), "{d}");
        assert!(
            d.contains("`invoice.pdf`") && d.contains("version 1.2.3"),
            "{d}"
        );
        assert!(d.contains("44d88612fea8a8f36de82e1278abb02f"), "{d}");
        // Nothing a linker would pick up is left.
        assert!(!d.contains("http://") && !d.contains("https://"), "{d}");
        assert!(!d.contains("evil-site.com"), "{d}");
        // Defanging twice changes nothing more.
        assert_eq!(defang_markdown(&d), d);
    }

    #[test]
    fn text_without_indicators_is_unchanged() {
        let md = "**Verdict: 0/70 malicious** — no indicators here, `setup.exe` v2.0.1.";
        assert_eq!(defang_markdown(md), md);
    }
}
