//! The transport pipeline every request of a [`Client`] goes through, generated or
//! hand-written: the path check and the key header (only to the base URL's origin, never in
//! `Debug` output), the rate limit and the in-flight cap, sending with redirects followed only
//! for downloads (without the key off-origin), error bodies normalised into VirusTotal's shape,
//! `GET`s repeated as the [`RetryPolicy`](super::RetryPolicy) allows, and JSON answers capped
//! in size and held within the answer memory budget ([`super::answers`]).

use super::answers::{self, MAX_JSON_BODY};
use super::policy::{self, RateLimiter, WaitEvent};
use super::{Client, Inner, network};
use crate::operations::{OperationMeta, ResponseKind};
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use std::time::Duration;

/// How many redirects a download may follow.
const MAX_REDIRECTS: usize = 5;

impl Client {
    /// The `x-apikey` header value (marked sensitive), when a key is configured.
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
        let Some(op) = OperationMeta::find(operation) else {
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
    /// returned as it came; the generated `send()` turns it into an error.
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
    OperationMeta::find(operation).is_some_and(|o| o.response == ResponseKind::Json)
}

/// Whether the operation answers with bytes (downloads, PCAPs, feed batches).
fn returns_bytes(operation: &str) -> bool {
    OperationMeta::find(operation).is_some_and(|o| o.response == ResponseKind::Bytes)
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
/// structured details, which the generated `send()` turns back into
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
}
