//! Building a [`Client`]: [`ClientBuilder`] and its settings (key, base URL, timeouts, rate
//! limit, retries, in-flight cap, answer memory, proxies and trust roots), checked and turned
//! into the HTTP client and the policy state ([`Inner`]) every request goes through.

use super::network::{self, CaCertificates, ProxySettings};
use super::policy::{RateLimit, RateLimiter, RetryPolicy, WaitEvent, WaitReporter};
use super::{
    ApiKey, Client, DEFAULT_ANSWER_MEMORY, DEFAULT_BASE_URL, Inner, MAX_JSON_BODY, Shared,
};
use std::{fmt, sync::Arc, time::Duration};

/// The default cap on requests in flight ([`ClientBuilder::max_in_flight`]).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;

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
    shared_quota: Option<Arc<dyn super::policy::SharedWindows>>,
    #[cfg(feature = "cache")]
    cache: crate::cache::Cache,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientBuilder");
        d.field("api_key", &self.api_key)
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
            .field("bundled_roots", &self.bundled_roots);
        #[cfg(feature = "cache")]
        d.field("cache", &self.cache);
        d.finish()
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
            #[cfg(feature = "cache")]
            cache: crate::cache::Cache::off(),
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
    /// dropped; further readers wait. See [`answers`](super::answers).
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
    /// per-call reporter is installed with [`with_wait_reporter`](super::with_wait_reporter); both are called.
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

    /// Keeps the answers of cacheable operations called through the dispatcher
    /// ([`crate::ops::call`]) in `cache` (default: [`Cache::off`](crate::cache::Cache::off)).
    /// Which operations are cacheable, and for how long, is `x-vt-cache` in the spec.
    #[cfg(feature = "cache")]
    pub fn cache(mut self, cache: crate::cache::Cache) -> Self {
        self.cache = cache;
        self
    }

    /// Keeps the rate limiter's windows in `store` (e.g. [`crate::cache::Cache::shared_windows`]),
    /// keyed by the API key's namespace there, so every process using the store with the same
    /// key spends one budget. Without a key, or when the store fails, the limiter counts in
    /// this process ([`super::policy::limiter`]).
    pub fn shared_quota(mut self, store: Arc<dyn super::policy::SharedWindows>) -> Self {
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
                #[cfg(feature = "cache")]
                cache: self.cache,
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
}
