//! Reaching VirusTotal from where analysts work: through a corporate proxy ([`ProxySettings`])
//! and past TLS inspection ([`CaCertificates`] and the default trust roots).
//!
//! # Trust roots
//!
//! A [`Client`](super::Client) trusts, by default:
//!
//! 1. **the operating system's certificate store**, through `rustls-platform-verifier` (what
//!    reqwest's `rustls` feature uses): the Keychain on macOS, the certificate store on Windows,
//!    `/etc/ssl/certs` (or `SSL_CERT_FILE` / `SSL_CERT_DIR`) on Linux. That is where a company's
//!    IT department installs the CA of its TLS-inspecting proxy, so a managed machine needs
//!    nothing more;
//! 2. **Mozilla's root certificates, bundled** (`webpki-root-certs`), on Linux and the other
//!    Unix systems that are not Apple's: there "the system store" is a file that minimal
//!    containers (distroless, scratch, slim images without `ca-certificates`) do not have, and
//!    without any root every connection would fail. They are not added on macOS and Windows,
//!    whose stores are complete and administered: extra anchors would override a distrust
//!    decision made there. [`ClientBuilder::bundled_roots`](super::ClientBuilder::bundled_roots)
//!    turns them on or off;
//! 3. **the certificates of [`CaCertificates`]** given to
//!    [`ClientBuilder::ca_certificates`](super::ClientBuilder::ca_certificates) (the server's
//!    `VTMCP_CA_FILE` / `--ca-file`): the inspecting proxy's CA when it is not in the system
//!    store (a container, a machine where the user cannot install certificates).
//!
//! They add up: configuring a CA never removes the public roots, so the same configuration
//! works on and off the corporate network.

use std::{
    fmt,
    path::Path,
    sync::{Arc, OnceLock},
};

use rustls::pki_types::{CertificateDer, pem::PemObject};

use crate::Error;

/// The largest CA file read (a full public bundle is about 250 KB).
pub const MAX_CA_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The proxies a client uses, decided once when it is built.
///
/// Without [`ClientBuilder::proxy`](super::ClientBuilder::proxy), a client is built with
/// [`ProxySettings::from_env`]: the variables curl and reqwest read, upper-case spelling first.
///
/// * `HTTPS_PROXY`: the proxy for `https` URLs (VirusTotal). It is asked to open a tunnel with
///   `CONNECT host:443`; the request, and with it the API key, travel inside TLS that the proxy
///   cannot read (unless it inspects TLS, see [`CaCertificates`]).
/// * `HTTP_PROXY`: the proxy for plain `http` URLs, which sees every request whole. A client
///   with an API key refuses to be built when its base URL is plain `http` and would go
///   through a proxy: the proxy would read the key.
/// * `ALL_PROXY`: either, when the specific variable is unset.
/// * `NO_PROXY`: hosts reached directly, comma-separated: names (a name also covers its
///   subdomains; `.example.com` and `example.com` are the same), IP addresses, networks
///   (`10.0.0.0/8`), or `*` for every host.
///
/// A proxy is an `http://` or `https://` URL; `proxy.example:3128` means
/// `http://proxy.example:3128`. Credentials in it (`http://user:password@proxy:3128`) are sent
/// to the proxy only, in `Proxy-Authorization`; they never appear in `Debug` output or errors.
/// Inside a CGI program (`REQUEST_METHOD` is set) the variables are ignored, since a request
/// could set `HTTP_PROXY` through a `Proxy:` header ("httpoxy").
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    http: Option<ProxyUrl>,
    https: Option<ProxyUrl>,
    no_proxy: String,
}

/// One proxy URL as given, and where it came from (for messages).
#[derive(Clone, PartialEq, Eq)]
struct ProxyUrl {
    value: String,
    source: String,
}

impl ProxySettings {
    /// No proxy: every request goes directly, whatever the environment says.
    pub fn none() -> Self {
        ProxySettings::default()
    }

    /// One proxy for `http` and `https` URLs alike.
    pub fn all(url: impl Into<String>) -> Self {
        let proxy = ProxyUrl {
            value: url.into(),
            source: "the proxy".into(),
        };
        ProxySettings {
            http: Some(proxy.clone()),
            https: Some(proxy),
            no_proxy: String::new(),
        }
    }

    /// The settings of the environment variables `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` (each also in lower case), as they are now.
    pub fn from_env() -> Self {
        ProxySettings::from_vars(|name| std::env::var(name).ok())
    }

    /// The same as [`from_env`](Self::from_env), with each variable looked up through `var`
    /// (which gets `HTTPS_PROXY`, `https_proxy`, … and answers its value, or `None` when it is
    /// unset): tests and embedding programs configure a client without changing the
    /// environment of the whole process.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        if var("REQUEST_METHOD").is_some() {
            return ProxySettings::none();
        }
        // The first spelling that is set wins, as in reqwest; set but empty means none.
        let first = |names: [&str; 2]| {
            names
                .into_iter()
                .find_map(|name| var(name).map(|value| (name, value)))
                .filter(|(_, value)| !value.trim().is_empty())
                .map(|(name, value)| ProxyUrl {
                    value,
                    source: name.to_string(),
                })
        };
        let all = first(["ALL_PROXY", "all_proxy"]);
        ProxySettings {
            http: first(["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone()),
            https: first(["HTTPS_PROXY", "https_proxy"]).or(all),
            no_proxy: ["NO_PROXY", "no_proxy"]
                .into_iter()
                .find_map(&var)
                .unwrap_or_default(),
        }
    }

    /// The proxy for plain `http` URLs (forwarded: it sees each request whole).
    pub fn with_http(mut self, url: impl Into<String>) -> Self {
        self.http = Some(ProxyUrl {
            value: url.into(),
            source: "the proxy for http URLs".into(),
        });
        self
    }

    /// The proxy for `https` URLs (a `CONNECT` tunnel: it sees the host name and port).
    pub fn with_https(mut self, url: impl Into<String>) -> Self {
        self.https = Some(ProxyUrl {
            value: url.into(),
            source: "the proxy for https URLs".into(),
        });
        self
    }

    /// Hosts reached directly, in `NO_PROXY`'s syntax (see above).
    pub fn with_no_proxy(mut self, list: impl Into<String>) -> Self {
        self.no_proxy = list.into();
        self
    }

    /// Whether no proxy is configured at all.
    pub fn is_direct(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// Checks the URLs and registers their passwords for redaction.
    pub(crate) fn resolve(&self) -> Result<ResolvedProxies, Error> {
        // `*` is every host, IP addresses included (the matcher applies it to names only).
        if self.no_proxy.split(',').any(|entry| entry.trim() == "*") {
            return ProxySettings::none().resolve();
        }
        let parse = |p: &Option<ProxyUrl>| p.as_ref().map(ProxyUrl::parse).transpose();
        Ok(ResolvedProxies {
            http: parse(&self.http)?,
            https: parse(&self.https)?,
            no_proxy: self.no_proxy.clone(),
        })
    }
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |p: &Option<ProxyUrl>| p.as_ref().map(|p| without_credentials(&p.value));
        f.debug_struct("ProxySettings")
            .field("http", &shown(&self.http))
            .field("https", &shown(&self.https))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyUrl {
    fn parse(&self) -> Result<url::Url, Error> {
        let value = self.value.trim();
        let shown = without_credentials(value);
        let full = if value.contains("://") {
            value.to_string()
        } else {
            format!("http://{value}")
        };
        let url = url::Url::parse(&full).map_err(|e| {
            Error::Config(format!(
                "{} {shown:?} is not a valid proxy URL ({e}); write it as http://host:port",
                self.source
            ))
            .scrubbed()
        })?;
        // The password is sent to the proxy only; should it turn up in a message, it is
        // redacted like an API key.
        if let Some(password) = url.password() {
            crate::error::register_secret(&Arc::from(password));
            let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
            crate::error::register_secret(&Arc::from(decoded.as_ref()));
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "{} {shown:?}: {}:// proxies are not supported; vtmcp speaks to HTTP proxies \
                 only (http://host:port or https://host:port)",
                self.source,
                url.scheme()
            ))
            .scrubbed());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Config(format!(
                "{} {shown:?} names no host; write it as http://host:port",
                self.source
            ))
            .scrubbed());
        }
        Ok(url)
    }
}

/// `value` with anything between the scheme and the last `@` (user name and password)
/// replaced by `<credentials>`.
fn without_credentials(value: &str) -> String {
    let start = value.find("://").map_or(0, |i| i + 3);
    match value[start..].rfind('@') {
        Some(at) => format!(
            "{}<credentials>@{}",
            &value[..start],
            &value[start + at + 1..]
        ),
        None => value.to_string(),
    }
}

/// Checked proxy settings, ready for reqwest.
pub(crate) struct ResolvedProxies {
    http: Option<url::Url>,
    https: Option<url::Url>,
    no_proxy: String,
}

impl ResolvedProxies {
    /// The proxies for reqwest, with `NO_PROXY` applied to each.
    pub(crate) fn for_reqwest(&self) -> Result<Vec<reqwest::Proxy>, Error> {
        let no = || reqwest::NoProxy::from_string(&self.no_proxy);
        let mut out = Vec::new();
        let failed = |e: reqwest::Error| {
            Error::Config(format!("cannot use the proxy: {}", e.without_url())).scrubbed()
        };
        if let Some(u) = &self.http {
            out.push(
                reqwest::Proxy::http(u.as_str())
                    .map_err(failed)?
                    .no_proxy(no()),
            );
        }
        if let Some(u) = &self.https {
            out.push(
                reqwest::Proxy::https(u.as_str())
                    .map_err(failed)?
                    .no_proxy(no()),
            );
        }
        Ok(out)
    }

    /// The proxy a request to `url` goes through, if any, shown without its credentials.
    /// The same matcher reqwest builds from the same values decides.
    pub(crate) fn proxy_for(&self, url: &url::Url) -> Option<String> {
        use hyper_util::client::proxy::matcher::Matcher;
        let uri: http::Uri = url.as_str().parse().ok()?;
        let (proxy, m) = match url.scheme() {
            "http" => (
                self.http.as_ref()?,
                Matcher::builder().http(proxy_str(&self.http)),
            ),
            "https" => (
                self.https.as_ref()?,
                Matcher::builder().https(proxy_str(&self.https)),
            ),
            _ => return None,
        };
        m.no(self.no_proxy.as_str())
            .build()
            .intercept(&uri)
            .map(|_| without_credentials(proxy.as_str()))
    }
}

fn proxy_str(u: &Option<url::Url>) -> String {
    u.as_ref()
        .map(|u| u.as_str().to_string())
        .unwrap_or_default()
}

/// CA certificates to trust besides the default roots (see the [module](self) documentation):
/// typically the CA of a proxy that inspects TLS.
///
/// Loaded from PEM (one or more `-----BEGIN CERTIFICATE-----` blocks; other blocks, such as
/// keys, are ignored). A file that cannot be read, holds no certificate, or holds a block that
/// is not a valid X.509 certificate is refused with a message naming the file.
#[derive(Clone)]
pub struct CaCertificates {
    source: String,
    certs: Arc<[CertificateDer<'static>]>,
}

impl fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCertificates")
            .field("source", &self.source)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

impl CaCertificates {
    /// Reads a PEM file of at most [`MAX_CA_FILE_BYTES`]. It must be a regular file: a FIFO, a
    /// device or a directory is refused without reading it.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<CaCertificates, Error> {
        use crate::files::{SmallFileError, read_small_regular_file};
        let path = path.as_ref();
        let source = path.display().to_string();
        let fail = |problem: String| Error::Config(format!("CA file {source}: {problem}"));
        let (bytes, _) = read_small_regular_file(path, MAX_CA_FILE_BYTES).map_err(|e| {
            fail(match e {
                SmallFileError::Open(e) => format!("cannot open it: {e}"),
                SmallFileError::Read(e) => format!("cannot read it: {e}"),
                SmallFileError::Directory => {
                    "is a directory; name a PEM file of CA certificates".into()
                }
                SmallFileError::NotRegular => "is not a regular file (a FIFO, socket or device?); \
                     name a PEM file of CA certificates"
                    .into(),
                SmallFileError::TooLarge => format!(
                    "is larger than {MAX_CA_FILE_BYTES} bytes; a CA file holds PEM certificates"
                ),
            })
        })?;
        Self::parse(&bytes, source.clone()).map_err(fail)
    }

    /// Parses PEM text; `source` names it in messages (e.g. a file name).
    pub fn from_pem(pem: &[u8], source: impl Into<String>) -> Result<CaCertificates, Error> {
        let source = source.into();
        Self::parse(pem, source.clone())
            .map_err(|problem| Error::Config(format!("CA certificates {source}: {problem}")))
    }

    fn parse(pem: &[u8], source: String) -> Result<CaCertificates, String> {
        if pem.iter().all(u8::is_ascii_whitespace) {
            return Err(
                "is empty; it must hold PEM certificates (-----BEGIN CERTIFICATE-----)".into(),
            );
        }
        let mut certs = Vec::new();
        for (i, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let der = item.map_err(|e| match e {
                rustls::pki_types::pem::Error::MissingSectionEnd { .. } => format!(
                    "certificate {} has no -----END CERTIFICATE----- line (is the file cut \
                     short?)",
                    i + 1
                ),
                e => format!("certificate {} is not valid PEM: {e}", i + 1),
            })?;
            // What rustls does with a trust anchor: a block that is not an X.509 certificate
            // is refused now rather than when a client is built.
            rustls::RootCertStore::empty()
                .add(der.clone())
                .map_err(|e| {
                    let why = match e {
                        rustls::Error::InvalidCertificate(why) => format!("{why:?}"),
                        e => e.to_string(),
                    };
                    format!(
                        "certificate {} is not a valid X.509 certificate ({why})",
                        i + 1
                    )
                })?;
            certs.push(der);
        }
        if certs.is_empty() {
            return Err(
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----); a DER file (.cer, \
                 .crt) can be converted with `openssl x509 -inform der -in ca.cer -out ca.pem`"
                    .into(),
            );
        }
        Ok(CaCertificates {
            source,
            certs: certs.into(),
        })
    }

    /// How many certificates were loaded.
    pub fn count(&self) -> usize {
        self.certs.len()
    }

    /// Where they came from (a file name, or the name given to [`from_pem`](Self::from_pem)).
    pub fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn for_reqwest(&self) -> Result<Vec<reqwest::Certificate>, Error> {
        self.certs
            .iter()
            .map(|der| {
                reqwest::Certificate::from_der(der)
                    .map_err(|e| Error::Config(format!("CA certificates {}: {e}", self.source)))
            })
            .collect()
    }
}

/// Whether Mozilla's roots are added by default (see the [module](self) documentation).
pub(crate) const BUNDLED_ROOTS_DEFAULT: bool = cfg!(all(
    unix,
    not(target_vendor = "apple"),
    not(target_os = "android")
));

/// Mozilla's root certificates, converted once.
pub(crate) fn bundled_roots() -> &'static [reqwest::Certificate] {
    static ROOTS: OnceLock<Vec<reqwest::Certificate>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok())
            .collect()
    })
}

/// Whether a transport error is a certificate the client does not trust (or another TLS
/// verification failure): repeating the request cannot help.
pub(crate) fn is_certificate_problem(e: &(dyn std::error::Error + 'static)) -> bool {
    // The TLS error sits inside an I/O error (inside another: reqwest's connector wraps it),
    // whose `source` skips it, so wrapped I/O errors are opened as well as sources followed.
    fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
        tls_error(inner)
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if matches!(
            tls_error(s),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        src = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_cut_from_shown_urls() {
        assert_eq!(
            without_credentials("http://user:p%40ss@proxy:3128"),
            "http://<credentials>@proxy:3128"
        );
        assert_eq!(
            without_credentials("user:p@ss/word@proxy:3128"),
            "<credentials>@proxy:3128"
        );
        assert_eq!(
            without_credentials("http://proxy:3128"),
            "http://proxy:3128"
        );
    }

    #[test]
    fn variables_are_read_like_curl() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = ProxySettings::from_vars(vars(&[
            ("https_proxy", "http://low:1"),
            ("HTTPS_PROXY", "http://up:1"),
            ("ALL_PROXY", "http://all:1"),
            ("no_proxy", "localhost"),
        ]));
        assert_eq!(s.https.as_ref().unwrap().value, "http://up:1");
        assert_eq!(s.http.as_ref().unwrap().value, "http://all:1");
        assert_eq!(s.no_proxy, "localhost");
        let cgi = ProxySettings::from_vars(vars(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://evil:1"),
        ]));
        assert!(cgi.is_direct());
        let empty = ProxySettings::from_vars(vars(&[
            ("HTTPS_PROXY", " "),
            ("https_proxy", "http://low:1"),
        ]));
        assert!(empty.is_direct());
    }

    #[test]
    fn a_proxy_without_scheme_is_http_and_socks_is_refused() {
        let r = ProxySettings::all("proxy.example:3128").resolve().unwrap();
        assert_eq!(r.https.unwrap().as_str(), "http://proxy.example:3128/");
        let e = ProxySettings::all("socks5://u:socks-secret-99@h:1080")
            .resolve()
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("socks5:// proxies are not supported"), "{e}");
        assert!(!e.contains("socks-secret-99"), "{e}");
    }
}
