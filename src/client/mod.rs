//! The typed client: progenitor's generated code (included from `OUT_DIR`), the policy state it
//! carries ([`Inner`]), the request hooks, the builder users construct it with, and the
//! hand-written helpers a program needs around the raw operations: paging, scans, analysis
//! polling, streamed downloads and feeds.
//!
//! # Policy
//!
//! * **Key**: every request to the configured origin gets the `x-apikey` header (marked
//!   sensitive); progenitor's `api-version` header is dropped. The key never appears in
//!   `Debug` output or in an [`Error`](crate::Error).
//! * **Redirects** are never followed by reqwest. A `GET` of an operation that answers with
//!   bytes, or a download by URL, that answers with a redirect (VirusTotal's `/download`
//!   endpoints and hourly feeds point at signed storage) is followed here, and the key is only
//!   sent again when the target has the base URL's origin. Any other redirect (a JSON `GET`
//!   pointed elsewhere, e.g. by a proxy or a hostile upstream) is not followed: it becomes an
//!   [`Error::Http`](crate::Error::Http) saying where it pointed.
//! * **Rate limit**: one [`RateLimiter`] per client, shared by its clones (see [`RateLimit`];
//!   off by default, [`RateLimit::public()`] for a free key). Waits are reported to
//!   [`with_wait_reporter`] and [`ClientBuilder::on_wait`]; [`Client::quota_status`] says what
//!   is left.
//! * **Retries**: `GET`s are repeated on transient failures, and on per-minute 429s when
//!   asked to ([`RetryPolicy`]); nothing else ever is.
//! * **Network**: the proxies of `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`, or
//!   [`ClientBuilder::proxy`]; the system's trust roots, plus [`ClientBuilder::ca_certificates`]
//!   for a TLS-inspecting proxy's CA (see [`network`]). A certificate the client does not
//!   trust is not retried.
//!
//! # Examples
//!
//! Look up a file:
//!
//! ```no_run
//! use vtmcp::client::{Client, RateLimit};
//!
//! # async fn demo() -> Result<(), vtmcp::Error> {
//! let client = Client::builder()
//!     .api_key(std::env::var("VT_API_KEY").unwrap_or_default())
//!     .rate_limit(RateLimit::public())
//!     .build()?;
//! let report = client
//!     .get_file()
//!     .id("44d88612fea8a8f36de82e1278abb02f")
//!     .send()
//!     .await
//!     .map_err(|e| vtmcp::Error::from_progenitor("get_file", e))?
//!     .into_inner();
//! println!("{:?}", report.data.attributes.and_then(|a| a.last_analysis_stats));
//! println!("{} requests left today", client.quota_status().remaining_today.unwrap_or(0));
//! # Ok(()) }
//! ```
//!
//! Page through a relationship with a typed method (40 items a page, at most 200 in all):
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use vtmcp::client::{Client, IntoPage, PageOptions, paginate};
//!
//! # async fn demo(client: Client) -> Result<(), vtmcp::Error> {
//! let hash = "44d88612fea8a8f36de82e1278abb02f";
//! let mut comments = paginate(PageOptions::new().max_items(200), move |cursor| {
//!     let client = client.clone();
//!     async move {
//!         let mut request = client.list_file_comments().id(hash).limit(40u32);
//!         if let Some(c) = cursor {
//!             request = request.cursor(c);
//!         }
//!         let page = request
//!             .send()
//!             .await
//!             .map_err(|e| vtmcp::Error::from_progenitor("list_file_comments", e))?;
//!         Ok(page.into_inner().into_page())
//!     }
//! });
//! while let Some(comment) = comments.try_next().await? {
//!     println!("{}", comment.id);
//! }
//! // Where to pick up later (None: everything was read).
//! let _resume = comments.resume_point();
//! # Ok(()) }
//! ```
//!
//! The same through the JSON dispatcher, as the MCP server does:
//!
//! ```no_run
//! # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
//! use futures::TryStreamExt;
//! use vtmcp::client::{PageOptions, paginate_json};
//!
//! let args = serde_json::json!({"id": "example.com", "relationship": "subdomains", "limit": 40});
//! let domains: Vec<serde_json::Value> =
//!     paginate_json(&client, "list_domain_related_objects", args, PageOptions::new().max_items(100))?
//!         .try_collect()
//!         .await?;
//! # Ok(()) }
//! ```
//!
//! Scan a file (nothing is uploaded when VirusTotal already knows it) and wait for the result:
//!
//! ```no_run
//! use std::{path::Path, time::Duration};
//! use vtmcp::client::{AnalysisWait, Client, FileScan, ScanOptions};
//!
//! # async fn demo(client: Client) -> Result<(), vtmcp::Error> {
//! match client.scan_file(Path::new("sample.exe"), &ScanOptions::new()).await? {
//!     FileScan::Known { report, .. } => {
//!         println!("known: {:?}", report.data.attributes.and_then(|a| a.last_analysis_stats))
//!     }
//!     FileScan::Submitted { analysis_id, .. } => {
//!         let wait = AnalysisWait::new()
//!             .timeout(Duration::from_secs(600))
//!             .on_progress(|p| eprintln!("{} after {:?}", p.status, p.elapsed));
//!         let analysis = client.wait_for_analysis(&analysis_id, &wait).await?;
//!         println!("{:?}", analysis.data.attributes.and_then(|a| a.stats));
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Read one minute of the file feed (decoded while it downloads):
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use vtmcp::client::{Client, FeedKind};
//!
//! # async fn demo(client: Client) -> Result<(), vtmcp::Error> {
//! let mut batch = match client.feed_minute(FeedKind::Files, "202401011200").await {
//!     Ok(batch) => batch,
//!     Err(e) if e.is_not_available_yet() => return Ok(()), // try again in a minute
//!     Err(e) => return Err(e),
//! };
//! while let Some(file) = batch.try_next().await? {
//!     println!("{}", file["id"]);
//! }
//! # Ok(()) }
//! ```
//!
//! Report waits (rate limit, retries) of one call, e.g. as MCP progress notifications:
//!
//! ```no_run
//! # async fn demo(client: vtmcp::Client) {
//! use vtmcp::client::{WaitEvent, with_wait_reporter};
//!
//! let result = with_wait_reporter(
//!     |event: &WaitEvent| eprintln!("{event}"),
//!     client.get_ip_address().ip("8.8.8.8").send(),
//! )
//! .await;
//! # }
//! ```

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

pub mod answers;
pub mod download;
pub mod feeds;
pub mod ids;
pub mod network;
pub mod paging;
pub mod policy;
pub mod scan;
pub mod upload;

pub use answers::{DEFAULT_ANSWER_MEMORY, MAX_JSON_BODY, RawJson, capturing};
pub use download::{DownloadSource, Downloaded};
pub use feeds::{FeedKind, FeedStream};
pub use generated::{ByteStream, Client, ResponseValue, builder, types};
pub use network::{CaCertificates, ProxySettings};
pub use paging::{IntoPage, Page, PageOptions, Paginator, ResumePoint, paginate, paginate_json};
pub use policy::{
    QuotaStatus, QuotaWindow, RateLimit, RateLimiter, RetryPolicy, WaitEvent, WaitReporter,
    with_wait_reporter,
};
pub use scan::{AnalysisProgress, AnalysisWait, FileScan, ScanOptions, ScanSource};

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
    /// Segments of the base URL's path (`/api/v3`: 2).
    pub(crate) base_segments: usize,
    pub(crate) limiter: RateLimiter,
    pub(crate) retry: RetryPolicy,
    pub(crate) reporter: Option<WaitReporter>,
    pub(crate) download_timeout: Option<Duration>,
    /// Slots for requests in flight (from sending until the body is read or dropped).
    pub(crate) in_flight: Option<Arc<tokio::sync::Semaphore>>,
    /// Bytes of JSON answers held at once ([`answers`]).
    pub(crate) answer_budget: Option<Arc<tokio::sync::Semaphore>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("Inner")
            .field("api_key", &s.api_key.as_ref().map(|_| "<redacted>"))
            .field("origin", &s.origin.ascii_serialization())
            .field("rate_limit", s.limiter.limit())
            .field("retry", &s.retry)
            .field("download_timeout", &s.download_timeout)
            .field("max_in_flight", &s.in_flight.as_ref().map(|_| "<capped>"))
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]: `Client::builder().api_key(key).build()`.
///
/// Defaults: base URL [`DEFAULT_BASE_URL`], no local rate limit ([`RateLimit::unlimited`]; use
/// [`RateLimit::public`] for a free key), [`RetryPolicy::default`], a 120 s timeout per request
/// (30 min for downloads and feeds), 15 s to connect, the proxies of the environment
/// ([`ProxySettings::from_env`]), and the trust roots described in [`network`].
#[derive(Clone)]
pub struct ClientBuilder {
    api_key: Option<ApiKey>,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    download_timeout: Duration,
    pool_idle_timeout: Option<Duration>,
    user_agent: String,
    rate_limit: RateLimit,
    retry: RetryPolicy,
    reporter: Option<WaitReporter>,
    max_in_flight: usize,
    max_answer_memory: usize,
    /// `None`: [`ProxySettings::from_env`] when the client is built.
    proxy: Option<ProxySettings>,
    ca_certificates: Vec<CaCertificates>,
    bundled_roots: bool,
    /// Where the rate limiter's windows are shared with other processes (none: in-process).
    shared_quota: Option<Arc<dyn policy::SharedWindows>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("download_timeout", &self.download_timeout)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("user_agent", &self.user_agent)
            .field("rate_limit", &self.rate_limit)
            .field("retry", &self.retry)
            .field("on_wait", &self.reporter.as_ref().map(|_| "<callback>"))
            .field("max_in_flight", &self.max_in_flight)
            .field("max_answer_memory", &self.max_answer_memory)
            .field("proxy", &self.proxy)
            .field("ca_certificates", &self.ca_certificates)
            .field("bundled_roots", &self.bundled_roots)
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            api_key: None,
            base_url: DEFAULT_BASE_URL.to_string(),
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(15),
            download_timeout: Duration::from_secs(30 * 60),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            user_agent: format!("vtmcp/{}", env!("CARGO_PKG_VERSION")),
            rate_limit: RateLimit::unlimited(),
            retry: RetryPolicy::default(),
            reporter: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_answer_memory: DEFAULT_ANSWER_MEMORY,
            proxy: None,
            ca_certificates: Vec::new(),
            bundled_roots: network::BUNDLED_ROOTS_DEFAULT,
            shared_quota: None,
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

    /// The most requests in flight at once across this client and its clones (default
    /// [`DEFAULT_MAX_IN_FLIGHT`]; `0` for no cap). A request holds its slot from sending until
    /// its body is read or dropped; waiting for a rate-limit slot or a retry does not hold one.
    /// Further requests wait for a free slot.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// The most bytes of JSON answers held at once across this client and its clones (default
    /// [`DEFAULT_ANSWER_MEMORY`], raised to at least [`MAX_JSON_BODY`]; `0` for no budget). A
    /// reader takes its share before reading and gives it back when the answer is decoded or
    /// dropped; further readers wait. See [`answers`].
    pub fn max_answer_memory(mut self, bytes: usize) -> Self {
        self.max_answer_memory = bytes;
        self
    }

    /// Overrides the base URL (default [`DEFAULT_BASE_URL`]); tests point it at a mock server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Total time allowed for one request, body included (default 120 s; `Duration::ZERO`:
    /// no limit). Downloads and feeds use [`ClientBuilder::download_timeout`] instead.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Time allowed to establish a connection (default 15 s; `Duration::ZERO`: no limit).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Total time allowed for an operation that returns bytes (downloads, PCAPs, feed batches),
    /// body included (default 30 min; `Duration::ZERO`: no limit).
    pub fn download_timeout(mut self, t: Duration) -> Self {
        self.download_timeout = t;
        self
    }

    /// How long an idle connection is kept for reuse (default 90 s; `None`: until the server
    /// closes it).
    pub fn pool_idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.pool_idle_timeout = t;
        self
    }

    /// Overrides the `User-Agent` (default `vtmcp/<version>`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// The local rate limit (default [`RateLimit::unlimited`]). A free key should use
    /// [`RateLimit::public`]: 4 requests per minute, 500 per day.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// When `GET`s are repeated (default [`RetryPolicy::default`]; [`RetryPolicy::none`] turns
    /// retries off). Other methods are never repeated.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// A callback for every [`WaitEvent`] of every call of this client (e.g. for logging). A
    /// per-call reporter is installed with [`with_wait_reporter`]; both are called.
    pub fn on_wait(mut self, reporter: impl Fn(&WaitEvent) + Send + Sync + 'static) -> Self {
        self.reporter = Some(Arc::new(reporter));
        self
    }

    /// The proxies to use, instead of reading `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` when the client is built (the default); [`ProxySettings::none`] for none.
    pub fn proxy(mut self, settings: ProxySettings) -> Self {
        self.proxy = Some(settings);
        self
    }

    /// CA certificates to trust besides the default roots (e.g. the CA of a proxy that
    /// inspects TLS; see [`network`]). May be given more than once; `None` adds nothing.
    pub fn ca_certificates(mut self, certs: impl IntoIterator<Item = CaCertificates>) -> Self {
        self.ca_certificates.extend(certs);
        self
    }

    /// Whether Mozilla's bundled root certificates are trusted besides the system's (default:
    /// on Linux and other non-Apple Unix systems, off on macOS and Windows; see [`network`]).
    pub fn bundled_roots(mut self, yes: bool) -> Self {
        self.bundled_roots = yes;
        self
    }

    /// Keeps the rate limiter's windows in `store` (e.g. [`crate::cache::Cache::shared_windows`]),
    /// keyed by the API key's namespace there, so every process using the store with the same
    /// key spends one budget. Without a key, or when the store fails, the limiter counts in
    /// this process ([`policy::limiter`]).
    pub fn shared_quota(mut self, store: Arc<dyn policy::SharedWindows>) -> Self {
        self.shared_quota = Some(store);
        self
    }

    /// Builds the client. Fails on a base URL that is not an absolute http(s) URL, on a proxy
    /// URL that is not an http(s) URL, and on a plain `http` base URL with an API key that
    /// would go through a proxy (which would read the key).
    pub fn build(self) -> Result<Client, crate::Error> {
        if let Some(k) = &self.api_key {
            crate::error::register_secret(&k.0);
            // A key an HTTP header cannot carry would make every request go out without it.
            if reqwest::header::HeaderValue::from_str(k.expose()).is_err() {
                return Err(crate::Error::Config(
                    "the API key contains a line break or another control character, which \
                     cannot be sent in the x-apikey header; give the key alone"
                        .into(),
                ));
            }
        }
        let base = self.base_url.trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base).map_err(|e| {
            crate::Error::Config(format!("base URL {base:?} is not a valid URL: {e}")).scrubbed()
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(
                crate::Error::Config(format!("base URL {base:?} must use http or https"))
                    .scrubbed(),
            );
        }
        let proxy = self.proxy.unwrap_or_else(ProxySettings::from_env);
        tracing::debug!(?proxy, "proxies (credentials not shown)");
        let proxies = proxy.resolve()?;
        if self.api_key.is_some()
            && parsed.scheme() == "http"
            && let Some(proxy) = proxies.proxy_for(&parsed)
        {
            return Err(crate::Error::Config(format!(
                "the base URL {base:?} is plain http and would go through the proxy {proxy:?}, \
                 which would read the API key: use an https base URL, or list its host in \
                 NO_PROXY"
            ))
            .scrubbed());
        }
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(self.user_agent)
            .pool_idle_timeout(self.pool_idle_timeout)
            .no_proxy();
        for proxy in proxies.for_reqwest()? {
            http = http.proxy(proxy);
        }
        let mut roots = Vec::new();
        if self.bundled_roots {
            roots.extend_from_slice(network::bundled_roots());
        }
        for ca in &self.ca_certificates {
            roots.extend(ca.for_reqwest()?);
        }
        if !roots.is_empty() {
            http = http.tls_certs_merge(roots);
        }
        if !self.timeout.is_zero() {
            http = http.timeout(self.timeout);
        }
        if !self.connect_timeout.is_zero() {
            http = http.connect_timeout(self.connect_timeout);
        }
        let http = http
            .build()
            .map_err(|e| crate::Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let limiter = match (self.shared_quota, &self.api_key) {
            (Some(store), Some(key)) => RateLimiter::shared(self.rate_limit, store, key.clone()),
            _ => RateLimiter::new(self.rate_limit),
        };
        let inner = Inner {
            shared: Arc::new(Shared {
                api_key: self.api_key,
                origin: parsed.origin(),
                base_segments: parsed.path().split('/').filter(|s| !s.is_empty()).count(),
                limiter,
                retry: self.retry,
                reporter: self.reporter,
                download_timeout: (!self.download_timeout.is_zero())
                    .then_some(self.download_timeout),
                in_flight: (self.max_in_flight > 0)
                    .then(|| Arc::new(tokio::sync::Semaphore::new(self.max_in_flight))),
                answer_budget: (self.max_answer_memory > 0).then(|| {
                    Arc::new(tokio::sync::Semaphore::new(
                        self.max_answer_memory.max(MAX_JSON_BODY as usize),
                    ))
                }),
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

    /// The local quota as it stands: requests left today, the wait for the next slot. A batch
    /// tool can check what it is about to spend (see [`QuotaStatus::estimate`]).
    pub fn quota_status(&self) -> QuotaStatus {
        self.inner().shared.limiter.status()
    }

    /// The rate limiter shared by this client and its clones.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner().shared.limiter
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner().shared.retry
    }

    pub(crate) fn key_header(&self) -> Option<reqwest::header::HeaderValue> {
        let key = self.inner().shared.api_key.as_ref()?;
        let mut v = reqwest::header::HeaderValue::from_str(key.expose()).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// Refuses a request whose path does not have the operation's shape: a path parameter that
    /// is empty, `.` or `..` cannot be sent as one segment (URL parsing removes or resolves it),
    /// and would otherwise reach a different endpoint.
    fn check_path(&self, url: &url::Url, operation: &str) -> Result<(), String> {
        let Some(op) = crate::ops::OperationMeta::find(operation) else {
            return Ok(());
        };
        let want = self.inner().shared.base_segments
            + op.path.split('/').filter(|s| !s.is_empty()).count();
        let segments: Vec<&str> = url.path().split('/').skip(1).collect();
        if segments.len() == want && segments.iter().all(|s| !s.is_empty()) {
            return Ok(());
        }
        Err(format!(
            "{operation}: a path parameter is empty, `.` or `..` (or otherwise cannot be one path segment of {}); nothing was sent",
            op.path
        ))
    }

    /// Whether `url` has the same origin as the configured base URL.
    pub(crate) fn same_origin(&self, url: &url::Url) -> bool {
        url.origin() == self.inner().shared.origin
    }

    /// Sends a request built by hand (uploads, downloads by URL) with the same header policy,
    /// rate limit and retry policy as the generated methods; `GET` redirects are followed only
    /// when `follow_redirects` (downloads). Requests to another origin (signed storage URLs) do
    /// not take a rate-limit slot.
    pub(crate) async fn execute(
        &self,
        operation: &str,
        mut request: reqwest::Request,
        follow_redirects: bool,
    ) -> reqwest::Result<reqwest::Response> {
        self.prepare(&mut request);
        let limited = self.same_origin(request.url());
        self.send_with_policy(operation, request, limited, follow_redirects)
            .await
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

    /// Rate limit, send (following `GET` redirects when `follow`), and repeat a `GET` while the
    /// policy allows.
    async fn send_with_policy(
        &self,
        operation: &str,
        request: reqwest::Request,
        limited: bool,
        follow: bool,
    ) -> reqwest::Result<reqwest::Response> {
        let shared = &self.inner().shared;
        let repeatable = matches!(
            *request.method(),
            reqwest::Method::GET | reqwest::Method::HEAD
        );
        let max_retries = if repeatable {
            shared.retry.retries()
        } else {
            0
        };
        let started = tokio::time::Instant::now();
        let mut request = request;
        let mut retries = 0u32;
        let mut last: Option<reqwest::Result<reqwest::Response>> = None;
        loop {
            let spare = if retries < max_retries {
                request.try_clone()
            } else {
                None
            };
            if limited
                && let Err(e) = shared
                    .limiter
                    .acquire_reporting(operation, shared.reporter.as_ref())
                    .await
            {
                // A retry that cannot get a slot in time gives back the previous answer.
                return last.unwrap_or_else(|| Ok(local_quota_response(&e)));
            }
            let permit = match &shared.in_flight {
                Some(slots) => Some(
                    slots
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("the in-flight semaphore is never closed"),
                ),
                None => None,
            };
            let result = match self.send_following(request, follow).await {
                Ok(resp) => normalize_error_body(resp).await,
                Err(e) => Err(e),
            };
            let verdict = match &result {
                Ok((resp, Some(info))) => retry_reason(
                    resp.status().as_u16(),
                    info,
                    &shared.limiter,
                    shared.retry.retries_quota(),
                ),
                Ok((_, None)) => None,
                Err(e) => connection_problem(e).map(|r| (r, false, None)),
            };
            let result = result.map(|(resp, _)| resp);
            let (Some((reason, quota, retry_after)), Some(spare)) = (verdict, spare) else {
                return result.map(|resp| match permit {
                    // The slot is given back when the body stream is read or dropped.
                    Some(slot) => map_body(resp, move |body| {
                        futures::StreamExt::inspect(body, move |_| {
                            let _held = &slot;
                        })
                    }),
                    None => resp,
                });
            };
            // A retried answer's body is already read (error bodies are) or dropped.
            drop(permit);
            retries += 1;
            let wait = shared.retry.backoff(retries, quota, retry_after);
            if started.elapsed() + wait > shared.retry.max_elapsed_duration() {
                return result;
            }
            policy::report(
                shared.reporter.as_ref(),
                &WaitEvent::Retry {
                    operation: operation.to_string(),
                    attempt: retries,
                    max_retries,
                    wait,
                    reason,
                },
            );
            tokio::time::sleep(wait).await;
            last = Some(result);
            request = spare;
        }
    }

    /// Sends `request`; when `follow` and it is a `GET`, follows up to [`MAX_REDIRECTS`]
    /// redirects (only downloads ask for that: JSON answers are never redirected by VirusTotal,
    /// and following one could take a lookup to another origin). An unfollowed redirect is
    /// returned as it came; [`crate::Error::from_progenitor`] turns it into an error.
    async fn send_following(
        &self,
        request: reqwest::Request,
        follow: bool,
    ) -> reqwest::Result<reqwest::Response> {
        let is_get = follow && request.method() == reqwest::Method::GET;
        let timeout = request.timeout().copied();
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
            *req.timeout_mut() = timeout;
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
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        self.check_path(request.url(), info.operation_id)
            .map_err(progenitor_client::Error::InvalidRequest)?;
        self.prepare(request);
        if let Some(t) = self.inner().shared.download_timeout
            && returns_bytes(info.operation_id)
        {
            *request.timeout_mut() = Some(t);
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        // Only operations that answer with bytes (downloads, feeds) follow redirects.
        let follow = returns_bytes(info.operation_id);
        let resp = self
            .send_with_policy(info.operation_id, request, true, follow)
            .await?;
        let op = info.operation_id;
        if !returns_json(op) || !resp.status().is_success() {
            return Ok(resp);
        }
        let budget = self.inner().shared.answer_budget.as_ref();
        if answers::is_capturing() {
            // The caller wants the answer as sent: keep it, and give the typed decoder nothing
            // (its decode error is ignored by the caller, see `answers::capturing`).
            answers::keep(answers::read(resp, budget, MAX_JSON_BODY, op).await);
            let empty = http::Response::builder()
                .status(200)
                .body(reqwest::Body::from(bytes::Bytes::new()))
                .expect("an empty response");
            return Ok(reqwest::Response::from(empty));
        }
        // Typed decoding: the declared length is taken from the budget while the body is read.
        let held = match (budget, resp.content_length()) {
            (Some(b), Some(n)) if n <= MAX_JSON_BODY => Some(
                b.clone()
                    .acquire_many_owned(n as u32)
                    .await
                    .expect("the answer budget is never closed"),
            ),
            _ => None,
        };
        let resp = cap_body(resp, MAX_JSON_BODY);
        Ok(match held {
            Some(permit) => map_body(resp, move |body| {
                futures::StreamExt::inspect(body, move |_| {
                    let _held = &permit;
                })
            }),
            None => resp,
        })
    }
}

/// How much of an error answer is read (VirusTotal's are a few hundred bytes; a hostile
/// upstream's endless error page is cut here).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Reads at most `max` bytes of a body and drops the rest.
async fn read_prefix(resp: reqwest::Response, max: usize) -> reqwest::Result<Vec<u8>> {
    use futures::StreamExt;
    let mut out = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let room = max - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

/// Encodes one path parameter as a single URL path segment: every byte except the unreserved
/// characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`) is percent-encoded, so `/`, `\`, `?`, `#`
/// and `%` can never change which URL is requested. (The generated client calls this instead
/// of progenitor's encoder, which leaves `\` alone; URL parsing turns it into `/`.) A segment
/// that is exactly `.` or `..` is refused before sending.
pub fn encode_path(segment: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(segment, KEEP).to_string()
}

/// The default cap on requests in flight ([`ClientBuilder::max_in_flight`]).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;

type BodyStream = futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>;

/// Rebuilds a response around a transformed body stream, keeping status, version, headers and
/// URL.
fn map_body<S, E>(resp: reqwest::Response, f: impl FnOnce(BodyStream) -> S) -> reqwest::Response
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use futures::StreamExt;
    use reqwest::ResponseBuilderExt;
    let mut b = http::Response::builder()
        .status(resp.status())
        .version(resp.version())
        .url(resp.url().clone());
    for (k, v) in resp.headers() {
        b = b.header(k, v);
    }
    let body = reqwest::Body::wrap_stream(f(resp.bytes_stream().boxed()));
    reqwest::Response::from(b.body(body).expect("parts of a valid response"))
}

/// Wraps a response body so that reading past `max` bytes fails.
fn cap_body(resp: reqwest::Response, max: u64) -> reqwest::Response {
    use futures::StreamExt;
    if resp.content_length().is_some_and(|n| n > max) {
        return map_body(resp, move |_| {
            futures::stream::once(async move {
                Err::<bytes::Bytes, _>(std::io::Error::other(format!(
                    "the response declares more than {max} bytes; vtmcp does not read it"
                )))
            })
        });
    }
    let mut seen: u64 = 0;
    map_body(resp, move |body| {
        body.map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            seen += chunk.len() as u64;
            if seen > max {
                return Err(std::io::Error::other(format!(
                    "the response is larger than {max} bytes; vtmcp stopped reading"
                )));
            }
            Ok(chunk)
        })
    })
}

/// Whether the operation answers with JSON.
fn returns_json(operation: &str) -> bool {
    crate::ops::OperationMeta::find(operation)
        .is_some_and(|o| o.response == crate::ops::ResponseKind::Json)
}

/// Whether the operation answers with bytes (downloads, PCAPs, feed batches).
fn returns_bytes(operation: &str) -> bool {
    crate::ops::OperationMeta::find(operation)
        .is_some_and(|o| o.response == crate::ops::ResponseKind::Bytes)
}

/// What an error answer said, for the retry decision.
struct ErrorInfo {
    code: String,
    message: String,
    retry_after: Option<Duration>,
}

/// Why a `GET` that got this error answer may be repeated: (reason, is a quota, Retry-After).
fn retry_reason(
    status: u16,
    info: &ErrorInfo,
    limiter: &RateLimiter,
    on_quota: bool,
) -> Option<(String, bool, Option<Duration>)> {
    let code = crate::ErrorCode::parse(&info.code);
    let what = if info.code == crate::error::NON_JSON_CODE {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {}", info.code)
    };
    match (status, &code) {
        (429, _) => {
            let m = info.message.to_ascii_lowercase();
            let long_quota = ["daily", "day", "monthly", "month"]
                .iter()
                .any(|w| m.contains(w));
            if !on_quota || long_quota || limiter.daily_budget_spent() {
                None
            } else {
                Some((format!("{what} (per-minute quota)"), true, info.retry_after))
            }
        }
        (502..=504, _) | (_, crate::ErrorCode::DeadlineExceeded) => {
            Some((what, false, info.retry_after))
        }
        _ => None,
    }
}

/// Whether a transport error is a refused, reset or truncated connection (worth repeating a
/// `GET` for), with a short description.
fn connection_problem(e: &reqwest::Error) -> Option<String> {
    if e.is_timeout() {
        return None;
    }
    if network::is_certificate_problem(e) {
        return None;
    }
    if e.is_connect() {
        return Some("could not connect".into());
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return Some(format!("connection lost ({})", io.kind()));
            }
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled())
        {
            return Some("connection closed before the answer was complete".into());
        }
        src = s.source();
    }
    None
}

/// The answer the client makes up when the local rate limiter refuses: a 429 with the
/// structured details, which [`crate::Error::from_progenitor`] turns back into
/// [`crate::Error::QuotaWait`].
fn local_quota_response(e: &crate::Error) -> reqwest::Response {
    let body = e
        .local_quota_body()
        .map(|v| serde_json::to_vec(&v).unwrap_or_default())
        .unwrap_or_default();
    let resp = http::Response::builder()
        .status(429)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("a static status and header");
    reqwest::Response::from(resp)
}

/// Error bodies that are not VirusTotal's `{error:{code,message}}` (HTML from a gateway, plain
/// text, nothing) would otherwise lose their status inside progenitor. They are rewritten into
/// the VT shape with the code [`crate::error::NON_JSON_CODE`] and the (truncated) text. Returns
/// what the error said, for the retry decision.
async fn normalize_error_body(
    resp: reqwest::Response,
) -> reqwest::Result<(reqwest::Response, Option<ErrorInfo>)> {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok((resp, None));
    }
    let headers = resp.headers().clone();
    let bytes = read_prefix(resp, MAX_ERROR_BODY).await?;
    let parsed = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .filter(|v| v.pointer("/error/code").is_some_and(|c| c.is_string()));
    let (body, code, message) = match parsed {
        Some(v) => {
            let code = v["error"]["code"].as_str().unwrap_or_default().to_string();
            let message = v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (bytes, code, message)
        }
        None => {
            let text = crate::error::truncate(String::from_utf8_lossy(&bytes).trim(), 512);
            let body = serde_json::to_vec(&serde_json::json!({
                "error": {"code": crate::error::NON_JSON_CODE, "message": text}
            }))
            .unwrap_or_default();
            (body, crate::error::NON_JSON_CODE.to_string(), text)
        }
    };
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::error::parse_retry_after);
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
    Ok((
        reqwest::Response::from(rebuilt),
        Some(ErrorInfo {
            code,
            message,
            retry_after,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_lost_or_gained_segments_is_refused() {
        let client = Client::builder()
            .base_url("https://vt.example/api/v3")
            .build()
            .unwrap();
        let url = |p: &str| url::Url::parse(&format!("https://vt.example/api/v3{p}")).unwrap();
        assert!(
            client
                .check_path(&url("/comments/f-1"), "get_comment")
                .is_ok()
        );
        assert!(
            client
                .check_path(&url("/comments/..%5Cx"), "get_comment")
                .is_ok()
        );
        for bad in ["/comments/", "/comments", "/comments/a/b", "/comments//"] {
            let e = client.check_path(&url(bad), "get_comment").unwrap_err();
            assert!(e.contains("nothing was sent"), "{bad}: {e}");
        }
        // `..` and `.` are resolved by URL parsing: the path comes out a segment short.
        assert!(
            client
                .check_path(&url("/comments/.."), "get_comment")
                .is_err()
        );
        assert!(
            client
                .check_path(&url("/files/./comments"), "list_file_comments")
                .is_err()
        );
    }

    #[test]
    fn path_segments_keep_only_unreserved_characters() {
        assert_eq!(encode_path("f-abc_1.2~"), "f-abc_1.2~");
        assert_eq!(encode_path(r"a\b/c?d#e%f g"), "a%5Cb%2Fc%3Fd%23e%25f%20g");
        assert_eq!(encode_path("ü"), "%C3%BC");
    }
}
