//! What cache entries and quota windows are keyed by: the [`Namespace`] of an API key (a salted
//! SHA-256 hash, so two keys never share an entry and the key itself is never stored) and the
//! request key of one request (method, path below the base URL, sorted query).

use crate::client::ApiKey;
use sha2::{Digest, Sha256};
use std::fmt;

/// The namespace of an API key in one store: SHA-256 over a domain label, the store's random
/// salt and the key. It tells nothing about the key without the salt, and the same key gets a
/// different namespace in another store.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Namespace([u8; 32]);

impl Namespace {
    /// The namespace of `key` under `salt`.
    pub fn derive(salt: &[u8], key: &ApiKey) -> Self {
        let mut h = Sha256::new();
        h.update(b"vtmcp key namespace v1\0");
        h.update((salt.len() as u64).to_be_bytes());
        h.update(salt);
        h.update(key.expose().as_bytes());
        Namespace(h.finalize().into())
    }

    /// A namespace from its stored bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Namespace(bytes)
    }

    /// The bytes stored for it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({}…)", hex::encode(&self.0[..4]))
    }
}

/// The request key of `url` (requested with `method`) relative to the API's `base` URL:
/// `GET /files/44d8…?relationships=comments`, with the query pairs sorted by name (pairs of one
/// name keep their order) and encoded one way, so that two requests for the same answer get
/// the same key whatever order their parameters were written in. `None` when `url` is not
/// below `base` (another origin or path), which is never cached.
///
/// ```
/// use url::Url;
/// use vtmcp::cache::request_key;
///
/// let base = Url::parse("https://www.virustotal.com/api/v3").unwrap();
/// let a = Url::parse("https://www.virustotal.com/api/v3/domains/example.com?limit=10&cursor=x").unwrap();
/// let b = Url::parse("https://www.virustotal.com/api/v3/domains/example.com?cursor=x&limit=10").unwrap();
/// assert_eq!(request_key("get", &base, &a).unwrap(), "GET /domains/example.com?cursor=x&limit=10");
/// assert_eq!(request_key("GET", &base, &a), request_key("GET", &base, &b));
/// let elsewhere = Url::parse("https://storage.example/files/x").unwrap();
/// assert_eq!(request_key("GET", &base, &elsewhere), None);
/// ```
pub fn request_key(method: &str, base: &url::Url, url: &url::Url) -> Option<String> {
    if url.origin() != base.origin() {
        return None;
    }
    let prefix = base.path().trim_end_matches('/');
    let rest = url.path().strip_prefix(prefix)?;
    let path = match rest {
        "" => "/",
        r if r.starts_with('/') => r,
        _ => return None,
    };
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut key = format!("{} {path}", method.to_ascii_uppercase());
    if !pairs.is_empty() {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        key.push('?');
        key.push_str(&query);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    #[test]
    fn namespaces_differ_by_key_and_by_salt_and_hide_both() {
        let a = ApiKey::new("a".repeat(64));
        let b = ApiKey::new("b".repeat(64));
        let salt = [7u8; 32];
        assert_eq!(Namespace::derive(&salt, &a), Namespace::derive(&salt, &a));
        assert_ne!(Namespace::derive(&salt, &a), Namespace::derive(&salt, &b));
        assert_ne!(
            Namespace::derive(&salt, &a),
            Namespace::derive(&[8u8; 32], &a)
        );
        let debug = format!("{:?}", Namespace::derive(&salt, &a));
        assert!(!debug.contains("aaaa") && debug.len() < 24, "{debug}");
    }

    #[test]
    fn request_keys_are_canonical() {
        let base = Url::parse("http://127.0.0.1:8080/api/v3/").unwrap();
        let key = |u: &str| request_key("GET", &base, &Url::parse(u).unwrap());
        assert_eq!(
            key("http://127.0.0.1:8080/api/v3/files/abc?relationships=a%2Cb&x=1"),
            key("http://127.0.0.1:8080/api/v3/files/abc?x=1&relationships=a,b")
        );
        // Values of one name keep their order; a different value is a different key.
        assert_ne!(
            key("http://127.0.0.1:8080/api/v3/s?q=1&q=2"),
            key("http://127.0.0.1:8080/api/v3/s?q=2&q=1")
        );
        assert_ne!(
            key("http://127.0.0.1:8080/api/v3/files/abc?limit=10"),
            key("http://127.0.0.1:8080/api/v3/files/abc?limit=20")
        );
        // The fragment is not part of the request.
        assert_eq!(
            key("http://127.0.0.1:8080/api/v3/files/abc#x").as_deref(),
            Some("GET /files/abc")
        );
        assert_eq!(
            key("http://127.0.0.1:8080/api/v3").as_deref(),
            Some("GET /")
        );
        // Not below the base URL: another port, another path, a lookalike prefix.
        assert_eq!(key("http://127.0.0.1:8081/api/v3/files/abc"), None);
        assert_eq!(key("http://127.0.0.1:8080/api/v2/files/abc"), None);
        assert_eq!(key("http://127.0.0.1:8080/api/v3x/files"), None);
        assert_eq!(
            request_key(
                "post",
                &base,
                &Url::parse("http://127.0.0.1:8080/api/v3/urls").unwrap()
            )
            .as_deref(),
            Some("POST /urls")
        );
    }
}
