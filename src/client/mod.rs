//! The typed client: progenitor's generated code (included from `OUT_DIR`), the policy state it
//! carries ([`Inner`]), the request hooks, and the builder users construct it with.
//!
//! Hooks: every request gets the API key header (marked sensitive) and loses progenitor's
//! `api-version` header; redirects are never followed by reqwest. A `GET` that answers with a
//! redirect (VirusTotal's `/download` endpoints point at signed storage) is followed here, and
//! the key is only sent again when the target has the configured base URL's origin.

#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    missing_docs,
    rustdoc::all,
    mismatched_lifetime_syntaxes
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/client.rs"));
}

pub mod ids;
pub mod upload;

pub use generated::{ByteStream, Client, ResponseValue, builder, types};

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use std::{fmt, sync::Arc, time::Duration};

/// The default base URL of the VirusTotal API v3.
pub const DEFAULT_BASE_URL: &str = "https://www.virustotal.com/api/v3";

/// How many redirects a download may follow.
const MAX_REDIRECTS: usize = 5;

/// A VirusTotal API key. It never appears in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps a key, trimming surrounding whitespace (files often end in a newline).
    pub fn new(key: impl AsRef<str>) -> Self {
        ApiKey(Arc::from(key.as_ref().trim()))
    }

    /// The key itself, for building the request header. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Policy state carried by every [`Client`] and shared by its clones.
#[derive(Clone)]
pub struct Inner {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) origin: url::Origin,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field(
                "api_key",
                &self.shared.api_key.as_ref().map(|_| "<redacted>"),
            )
            .field("origin", &self.shared.origin.ascii_serialization())
            .finish()
    }
}

/// Builds a [`Client`]: `Client::builder().api_key(key).build()`.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    api_key: Option<ApiKey>,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_string(),
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(15),
            user_agent: format!("vtmcp/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl ClientBuilder {
    /// The API key sent in the `x-apikey` header.
    pub fn api_key(mut self, key: impl AsRef<str>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// An already wrapped key (or none: requests are then sent without a key).
    pub fn api_key_opt(mut self, key: Option<ApiKey>) -> Self {
        self.api_key = key;
        self
    }

    /// Overrides the base URL (default [`DEFAULT_BASE_URL`]); tests point it at a mock server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Total time allowed for one request, body included (default 120 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Time allowed to establish a connection (default 15 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Overrides the `User-Agent` (default `vtmcp/<version>`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Builds the client. Fails on a base URL that is not an absolute http(s) URL.
    pub fn build(self) -> Result<Client, crate::Error> {
        let base = self.base_url.trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base).map_err(|e| {
            crate::Error::Config(format!("base URL {base:?} is not a valid URL: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(crate::Error::Config(format!(
                "base URL {base:?} must use http or https"
            )));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(self.user_agent)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|e| crate::Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let inner = Inner {
            shared: Arc::new(Shared {
                api_key: self.api_key,
                origin: parsed.origin(),
            }),
        };
        Ok(Client::new_with_client(&base, http, inner))
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Whether an API key is configured.
    pub fn has_api_key(&self) -> bool {
        self.inner().shared.api_key.is_some()
    }

    pub(crate) fn key_header(&self) -> Option<reqwest::header::HeaderValue> {
        let key = self.inner().shared.api_key.as_ref()?;
        let mut v = reqwest::header::HeaderValue::from_str(key.expose()).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// Whether `url` has the same origin as the configured base URL.
    pub(crate) fn same_origin(&self, url: &url::Url) -> bool {
        url.origin() == self.inner().shared.origin
    }

    /// Sends a request built by hand (uploads), with the same header policy and redirect rule
    /// as the generated methods.
    pub(crate) async fn execute(
        &self,
        mut request: reqwest::Request,
    ) -> reqwest::Result<reqwest::Response> {
        self.prepare(&mut request);
        self.send_following(request).await
    }

    fn prepare(&self, request: &mut reqwest::Request) {
        let same_origin = self.same_origin(request.url());
        let headers = request.headers_mut();
        headers.remove("api-version");
        headers.remove("x-apikey");
        if same_origin && let Some(v) = self.key_header() {
            headers.insert("x-apikey", v);
        }
    }

    async fn send_following(
        &self,
        request: reqwest::Request,
    ) -> reqwest::Result<reqwest::Response> {
        let is_get = request.method() == reqwest::Method::GET;
        let mut resp = self.client().execute(request).await?;
        let mut hops = 0;
        while is_get && resp.status().is_redirection() && hops < MAX_REDIRECTS {
            let Some(next) = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| resp.url().join(l).ok())
            else {
                break;
            };
            hops += 1;
            let mut req = reqwest::Request::new(reqwest::Method::GET, next);
            // The key goes only to the VirusTotal origin, never to signed storage.
            if self.same_origin(req.url())
                && let Some(v) = self.key_header()
            {
                req.headers_mut().insert("x-apikey", v);
            }
            resp = self.client().execute(req).await?;
        }
        Ok(resp)
    }
}

impl ClientHooks<Inner> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        self.prepare(request);
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let resp = self.send_following(request).await?;
        normalize_error_body(resp).await
    }
}

/// Error bodies that are not VirusTotal's `{error:{code,message}}` (HTML from a gateway, plain
/// text, nothing) would otherwise lose their status inside progenitor. They are rewritten into
/// the VT shape with the code [`crate::error::NON_JSON_CODE`] and the (truncated) text.
async fn normalize_error_body(resp: reqwest::Response) -> reqwest::Result<reqwest::Response> {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await?;
    let is_vt = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .is_some_and(|v| v.pointer("/error/code").is_some_and(|c| c.is_string()));
    let body = if is_vt {
        bytes.to_vec()
    } else {
        let text = String::from_utf8_lossy(&bytes);
        serde_json::to_vec(&serde_json::json!({
            "error": {"code": crate::error::NON_JSON_CODE, "message": crate::error::truncate(text.trim(), 512)}
        }))
        .unwrap_or_default()
    };
    let mut builder = http::Response::builder().status(status);
    for (k, v) in headers.iter() {
        if k != reqwest::header::CONTENT_LENGTH && k != reqwest::header::CONTENT_TYPE {
            builder = builder.header(k, v);
        }
    }
    let rebuilt = builder
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("status and headers come from a valid response");
    Ok(reqwest::Response::from(rebuilt))
}
