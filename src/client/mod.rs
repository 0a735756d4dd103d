//! The typed client: progenitor's generated code (included from `OUT_DIR`), the key and the
//! policy state it carries ([`Inner`]), and the hand-written helpers a program needs around the
//! raw operations: paging, scans, analysis polling, streamed downloads and feeds. The builder
//! users construct it with is in `settings` ([`ClientBuilder`]); the pipeline every request goes
//! through (key header, rate limit, redirects, retries, answer caps) is in `transport`. Nothing
//! here calls operations by name: that is the dispatcher's job (`vtmcp::ops`), a layer above.
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
//!     .await?
//!     .into_inner();
//! println!("{:?}", report.data.attributes.and_then(|a| a.last_analysis_stats));
//! println!("{} requests left today", client.quota_status().remaining_today.unwrap_or(0));
//! # Ok(()) }
//! ```
//!
//! Page through a relationship: every operation with a `cursor` parameter has `stream()` and
//! `stream_with()` on its builder (40 items a page here, at most 200 in all):
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use vtmcp::client::{Client, PageOptions};
//!
//! # async fn demo(client: Client) -> vtmcp::Result<()> {
//! let mut comments = client
//!     .list_file_comments()
//!     .id("44d88612fea8a8f36de82e1278abb02f")
//!     .limit(40u32)
//!     .stream_with(PageOptions::new().max_items(200));
//! while let Some(comment) = comments.try_next().await? {
//!     println!("{}", comment.id);
//! }
//! // Where to pick up later (None: everything was read).
//! let _resume = comments.resume_point();
//! # Ok(()) }
//! ```
//!
//! [`paginate`] pages any other source (a closure that fetches the page at a cursor).
//!
//! (The same by operation name with JSON arguments, as the MCP server pages, is
//! `vtmcp::ops::paginate_json`, in the layer above the client.)
//!
//! Download a sample (the redirect to signed storage is followed without the key):
//!
//! ```no_run
//! # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
//! let body = client
//!     .download_file()
//!     .id("44d88612fea8a8f36de82e1278abb02f")
//!     .send()
//!     .await?;
//! let saved = vtmcp::client::save_stream("download_file", body.into_inner(), "sample.bin".as_ref())
//!     .await?;
//! println!("{} bytes, SHA-256 {}", saved.bytes, saved.sha256);
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
//! Feeds (feature `feeds`): [`Client::feed_minute`] and [`Client::feed_hour`].
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
mod errors;
#[cfg(feature = "feeds")]
pub mod feeds;
pub mod ids;
pub mod network;
pub mod paging;
pub mod policy;
pub mod scan;
mod settings;
mod transport;
pub mod upload;

pub use answers::{DEFAULT_ANSWER_MEMORY, MAX_JSON_BODY, RawJson, capturing};
pub use download::{Downloaded, save_stream};
pub use errors::CallError;
#[cfg(feature = "feeds")]
pub use feeds::{FeedKind, FeedStream};
pub use generated::{ByteStream, Client, ResponseValue, builder, types};
pub use network::{CaCertificates, ProxySettings};
pub use paging::{IntoPage, Page, PageOptions, Paginator, ResumePoint, paginate};
pub use policy::{
    QuotaStatus, QuotaWindow, RateLimit, RateLimiter, RetryPolicy, WaitEvent, WaitReporter,
    with_wait_reporter,
};
pub use scan::{AnalysisProgress, AnalysisWait, FileScan, ScanOptions, ScanSource};
pub use settings::{ClientBuilder, DEFAULT_MAX_IN_FLIGHT};

use progenitor_client::ClientInfo;
use std::{fmt, sync::Arc, time::Duration};

/// The default base URL of the VirusTotal API v3.
pub const DEFAULT_BASE_URL: &str = "https://www.virustotal.com/api/v3";

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
    /// Where cacheable answers are kept ([`crate::cache`]); consulted by the dispatcher.
    #[cfg(feature = "cache")]
    pub(crate) cache: crate::cache::Cache,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("Inner")
            .field("api_key", &s.api_key.as_ref().map(|_| "<redacted>"))
            .field("origin", &s.origin.ascii_serialization())
            .field("rate_limit", &s.limiter.limit())
            .field("retry", &s.retry)
            .field("download_timeout", &s.download_timeout)
            .field("max_in_flight", &s.in_flight.as_ref().map(|_| "<capped>"))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Whether an API key is configured.
    pub fn has_api_key(&self) -> bool {
        self.inner().shared.api_key.is_some()
    }

    /// The key (for namespacing cache entries; never printed).
    #[cfg(feature = "server")]
    pub(crate) fn api_key(&self) -> Option<&ApiKey> {
        self.inner().shared.api_key.as_ref()
    }

    /// The answer cache the dispatcher uses ([`ClientBuilder::cache`]; off by default).
    #[cfg(feature = "cache")]
    pub fn cache(&self) -> &crate::cache::Cache {
        &self.inner().shared.cache
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_keep_only_unreserved_characters() {
        assert_eq!(encode_path("f-abc_1.2~"), "f-abc_1.2~");
        assert_eq!(encode_path(r"a\b/c?d#e%f g"), "a%5Cb%2Fc%3Fd%23e%25f%20g");
        assert_eq!(encode_path("ü"), "%C3%BC");
    }
}
