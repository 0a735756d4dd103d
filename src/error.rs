//! The one error type of vtmcp: VirusTotal API errors with their documented codes, HTTP errors
//! whose body was not VirusTotal's JSON, transport failures, decode failures, invalid input and
//! the local quota.
//!
//! No variant ever holds the API key: every text that comes from the server or the transport
//! is scrubbed of the keys of the clients built in this process before it is stored.

use crate::client::QuotaWindow;
use crate::client::policy::human;
use serde_json::{Map, Value};
use std::{
    fmt,
    sync::{Arc, RwLock},
    time::Duration,
};

/// Code given to error bodies that were not VirusTotal JSON (see `client::normalize_error_body`).
pub(crate) const NON_JSON_CODE: &str = "vtmcp.NonJsonErrorBody";

/// Code of the answer the client makes up itself when the local rate limiter refuses to wait
/// (see `client::local_quota_response`); it never comes from VirusTotal.
pub(crate) const LOCAL_QUOTA_CODE: &str = "vtmcp.LocalQuotaWait";

/// VirusTotal's documented error codes (docs: "Errors").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: the request is malformed.
    BadRequest,
    /// 400: some argument is wrong.
    InvalidArgument,
    /// 400: the resource (e.g. a feed batch) is not available yet.
    NotAvailableYet,
    /// 400: a content search is not selective enough.
    UnselectiveContentQuery,
    /// 400: a content search is not supported.
    UnsupportedContentQuery,
    /// 401: no API key, or not accepted.
    AuthenticationRequired,
    /// 401: the account is not active.
    UserNotActive,
    /// 401: the API key is wrong.
    WrongCredentials,
    /// 403: the key may not do this (often: a premium endpoint with a public key).
    Forbidden,
    /// 404: not found.
    NotFound,
    /// 409: already exists (e.g. a second vote).
    AlreadyExists,
    /// 424: a request this one depended on failed.
    FailedDependency,
    /// 429: a minute, daily or monthly quota is used up.
    QuotaExceeded,
    /// 429: too many requests (VT spells it `TooManyRequestsError` or `TooManyRequests`).
    TooManyRequests,
    /// 503: transient server error.
    Transient,
    /// 504: the operation took too long.
    DeadlineExceeded,
    /// A code VirusTotal added after this list was written.
    Unknown(String),
}

impl ErrorCode {
    /// Maps VirusTotal's code string.
    pub fn parse(code: &str) -> ErrorCode {
        use ErrorCode::*;
        match code {
            "BadRequestError" => BadRequest,
            "InvalidArgumentError" => InvalidArgument,
            "NotAvailableYet" => NotAvailableYet,
            "UnselectiveContentQueryError" => UnselectiveContentQuery,
            "UnsupportedContentQueryError" => UnsupportedContentQuery,
            "AuthenticationRequiredError" => AuthenticationRequired,
            "UserNotActiveError" => UserNotActive,
            "WrongCredentialsError" => WrongCredentials,
            "ForbiddenError" => Forbidden,
            "NotFoundError" => NotFound,
            "AlreadyExistsError" => AlreadyExists,
            "FailedDependencyError" => FailedDependency,
            "QuotaExceededError" => QuotaExceeded,
            "TooManyRequestsError" | "TooManyRequests" => TooManyRequests,
            "TransientError" => Transient,
            "DeadlineExceededError" => DeadlineExceeded,
            other => Unknown(other.to_string()),
        }
    }

    /// VirusTotal's spelling of the code.
    pub fn as_str(&self) -> &str {
        use ErrorCode::*;
        match self {
            BadRequest => "BadRequestError",
            InvalidArgument => "InvalidArgumentError",
            NotAvailableYet => "NotAvailableYet",
            UnselectiveContentQuery => "UnselectiveContentQueryError",
            UnsupportedContentQuery => "UnsupportedContentQueryError",
            AuthenticationRequired => "AuthenticationRequiredError",
            UserNotActive => "UserNotActiveError",
            WrongCredentials => "WrongCredentialsError",
            Forbidden => "ForbiddenError",
            NotFound => "NotFoundError",
            AlreadyExists => "AlreadyExistsError",
            FailedDependency => "FailedDependencyError",
            QuotaExceeded => "QuotaExceededError",
            TooManyRequests => "TooManyRequestsError",
            Transient => "TransientError",
            DeadlineExceeded => "DeadlineExceededError",
            Unknown(s) => s,
        }
    }

    fn advice(&self) -> &'static str {
        use ErrorCode::*;
        match self {
            AuthenticationRequired | WrongCredentials => "check the API key (VT_API_KEY)",
            UserNotActive => "activate the VirusTotal account",
            Forbidden => "this needs a premium key or a licence the key does not have",
            NotFound => "VirusTotal has no such object; check the identifier",
            QuotaExceeded | TooManyRequests => {
                "the key's quota is used up; wait (daily quotas reset at 00:00 UTC)"
            }
            Transient | DeadlineExceeded => "a temporary VirusTotal problem; try again shortly",
            NotAvailableYet => "not available yet; try again later",
            UnselectiveContentQuery => "make the content search more selective",
            AlreadyExists => "it already exists (e.g. you already voted)",
            _ => "check the arguments",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong calling VirusTotal through vtmcp.
///
/// Each message says what failed and what to do about it. The API key never appears in the
/// `Display` or `Debug` output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// VirusTotal answered with its JSON error body.
    #[error("VirusTotal error {code} (HTTP {status}): {message}; {}", code.advice())]
    Api {
        /// HTTP status.
        status: u16,
        /// VirusTotal's error code.
        code: ErrorCode,
        /// VirusTotal's message.
        message: String,
        /// Seconds from a `Retry-After` header, if any.
        retry_after: Option<Duration>,
    },
    /// An HTTP error whose body was not VirusTotal JSON (a gateway page, plain text, nothing).
    #[error("HTTP {status} from VirusTotal{}{}; {}", if body.is_empty() { "" } else { ": " }, body, http_advice(*status))]
    Http {
        /// HTTP status.
        status: u16,
        /// The body text, truncated.
        body: String,
    },
    /// The request did not complete (DNS, connection, TLS, reset).
    #[error(
        "network error during {operation}: {message}; check the network, a proxy, and the base URL"
    )]
    Transport {
        /// Operation id.
        operation: String,
        /// What failed (without the URL).
        message: String,
    },
    /// The request took longer than the configured timeout.
    #[error(
        "{operation} timed out: VirusTotal did not answer within the client's timeout; try again, ask for less (limit, fields), or raise ClientBuilder::timeout"
    )]
    Timeout {
        /// Operation id.
        operation: String,
    },
    /// A successful response could not be decoded.
    #[error(
        "could not decode the response of {operation}: {detail} (VirusTotal's answer does not match the spec in spec/virustotal-v3.yaml; please report it)"
    )]
    Decode {
        /// Operation id.
        operation: String,
        /// What did not match.
        detail: String,
    },
    /// An argument was rejected before anything was sent.
    #[error("invalid argument `{argument}`: {problem}")]
    InvalidInput {
        /// Argument name.
        argument: String,
        /// What is wrong, with an example of a valid value where that helps.
        problem: String,
    },
    /// Local configuration is wrong (base URL, key file …).
    #[error("configuration error: {0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The local rate limiter did not send the request: today's budget is spent, or the wait
    /// for a per-minute slot would be longer than the allowed maximum
    /// ([`RateLimit::max_wait`](crate::client::RateLimit::max_wait)). Nothing was sent.
    #[error("{}", quota_wait_message(operation, *window, *limit, *wait, *max_wait))]
    QuotaWait {
        /// Operation id.
        operation: String,
        /// Which limit refused: the per-minute limit, the daily budget or the monthly allowance.
        window: QuotaWindow,
        /// The limit (requests per minute or per day).
        limit: u32,
        /// How long the call would have had to wait (for the daily budget: until 00:00 UTC).
        wait: Duration,
        /// The longest wait allowed.
        max_wait: Duration,
    },
    /// [`Client::wait_for_analysis`](crate::Client::wait_for_analysis) gave up before the
    /// analysis completed. The analysis goes on at VirusTotal; wait again later with the same id.
    #[error("analysis {id} was still {status} after {}; VirusTotal is still working on it: wait again later with the same id, or allow a longer timeout", human(*waited))]
    AnalysisTimeout {
        /// Analysis id.
        id: String,
        /// The last status seen (`queued`, `in-progress`).
        status: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// Paging stopped because the server misbehaved (e.g. it repeated a cursor, which would
    /// loop forever).
    #[error("paging {operation} stopped: {detail}")]
    Paging {
        /// Operation id.
        operation: String,
        /// What went wrong.
        detail: String,
    },
}

fn http_advice(status: u16) -> &'static str {
    match status {
        429 => "a quota is used up; wait a minute (daily quotas reset at 00:00 UTC)",
        500..=599 => "a problem on VirusTotal's side or on the way there; try again shortly",
        401 | 403 => "check the API key and what it is licensed for",
        404 => "not found; check the identifier",
        _ => "check the request",
    }
}

fn quota_wait_message(
    operation: &str,
    window: QuotaWindow,
    limit: u32,
    wait: Duration,
    max_wait: Duration,
) -> String {
    match window {
        QuotaWindow::Day => format!(
            "{operation} was not sent: the local daily budget of {limit} requests is spent; it \
             starts again at 00:00 UTC (in {}). A key with a larger quota needs \
             RateLimit::per_minute(..) or RateLimit::unlimited() on the client builder",
            human(wait)
        ),
        QuotaWindow::Month => format!(
            "{operation} was not sent: the local monthly allowance of {limit} requests is spent; \
             it starts again on the 1st at 00:00 UTC (in {}). A larger allowance needs \
             RateLimit::per_month(..) on the client builder",
            human(wait)
        ),
        QuotaWindow::Minute => format!(
            "{operation} was not sent: the rate limit of {limit} requests per minute would make \
             it wait {}, longer than the allowed {}. Try again in {}, or allow longer waits \
             with RateLimit::max_wait",
            human(wait),
            human(max_wait),
            human(wait)
        ),
    }
}

impl Error {
    /// Converts an error of a generated method, naming the operation.
    pub fn from_progenitor(
        operation: &str,
        e: progenitor_client::Error<crate::types::ErrorResponse>,
    ) -> Error {
        use progenitor_client::Error as P;
        let e = match e {
            P::ErrorResponse(rv) => {
                let status = rv.status().as_u16();
                let retry_after = rv
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let body = rv.into_inner();
                Error::from_error_body(
                    operation,
                    status,
                    retry_after,
                    &body.error.code,
                    body.error.message.unwrap_or_default(),
                    &body.error.extra,
                )
            }
            P::InvalidRequest(msg) => Error::InvalidInput {
                argument: argument_in(&msg).unwrap_or_else(|| "arguments".into()),
                problem: msg,
            },
            P::CommunicationError(e) | P::ResponseBodyError(e) | P::InvalidUpgrade(e) => {
                Error::from_reqwest(operation, e)
            }
            P::InvalidResponsePayload(bytes, e) => Error::Decode {
                operation: operation.to_string(),
                detail: format!(
                    "{e} (body starts: {})",
                    truncate(&String::from_utf8_lossy(&bytes), 200)
                ),
            },
            P::UnexpectedResponse(r) if r.status().is_redirection() => {
                // Only downloads follow redirects (see `client::send_following`); a JSON
                // operation pointed elsewhere stops here, naming only where it pointed.
                let to = r
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| r.url().join(l).ok())
                    .map(|u| format!(" to {}", u.origin().ascii_serialization()))
                    .unwrap_or_default();
                Error::Http {
                    status: r.status().as_u16(),
                    body: format!(
                        "a redirect{to} that was not followed: only downloads follow redirects, \
                         and {operation} is not one (check VT_BASE_URL and any proxy in between)"
                    ),
                }
            }
            P::UnexpectedResponse(r) => Error::Http {
                status: r.status().as_u16(),
                body: "unexpected response".into(),
            },
            P::Custom(msg) => Error::Config(msg),
        };
        e.scrubbed()
    }

    /// Builds the error for a VirusTotal-shaped error body (`{"error":{"code","message"}}`),
    /// including the two codes the client itself writes (a non-JSON body, the local quota).
    pub(crate) fn from_error_body(
        operation: &str,
        status: u16,
        retry_after: Option<Duration>,
        code: &str,
        message: String,
        extra: &Map<String, Value>,
    ) -> Error {
        let e = match code {
            NON_JSON_CODE => Error::Http {
                status,
                body: message,
            },
            LOCAL_QUOTA_CODE => {
                let num = |k: &str| extra.get(k).and_then(Value::as_u64).unwrap_or(0);
                Error::QuotaWait {
                    operation: operation.to_string(),
                    window: extra
                        .get("window")
                        .and_then(Value::as_str)
                        .and_then(QuotaWindow::from_name)
                        .unwrap_or(QuotaWindow::Minute),
                    limit: num("limit") as u32,
                    wait: Duration::from_millis(num("wait_ms")),
                    max_wait: Duration::from_millis(num("max_wait_ms")),
                }
            }
            _ => Error::Api {
                status,
                code: ErrorCode::parse(code),
                message,
                retry_after,
            },
        };
        e.scrubbed()
    }

    /// The body of the answer the client makes up for a local quota refusal, so that the
    /// generated methods return it through their normal error path.
    pub(crate) fn local_quota_body(&self) -> Option<Value> {
        let Error::QuotaWait {
            window,
            limit,
            wait,
            max_wait,
            ..
        } = self
        else {
            return None;
        };
        Some(serde_json::json!({"error": {
            "code": LOCAL_QUOTA_CODE,
            "message": self.to_string(),
            "window": window.as_str(),
            "limit": limit,
            "wait_ms": wait.as_millis() as u64,
            "max_wait_ms": max_wait.as_millis() as u64,
        }}))
    }

    /// Converts a transport error, dropping the URL (it may hold the indicator being looked up).
    pub fn from_reqwest(operation: &str, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            return Error::Timeout {
                operation: operation.to_string(),
            };
        }
        if let Some(status) = e.status() {
            return Error::Http {
                status: status.as_u16(),
                body: String::new(),
            };
        }
        let e = e.without_url();
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        if crate::client::network::is_certificate_problem(&e) {
            message.push_str(
                " (the server's TLS certificate is not trusted; if a proxy or security product \
                 on this network inspects TLS, trust its CA certificate with VTMCP_CA_FILE or \
                 --ca-file, or ClientBuilder::ca_certificates)",
            );
        }
        Error::Transport {
            operation: operation.to_string(),
            message,
        }
        .scrubbed()
    }

    /// Removes every registered API key from the texts the error holds.
    pub(crate) fn scrubbed(self) -> Error {
        match self {
            Error::Api {
                status,
                code,
                message,
                retry_after,
            } => Error::Api {
                status,
                code,
                message: redact(message),
                retry_after,
            },
            Error::Http { status, body } => Error::Http {
                status,
                body: redact(body),
            },
            Error::Transport { operation, message } => Error::Transport {
                operation,
                message: redact(message),
            },
            Error::Decode { operation, detail } => Error::Decode {
                operation,
                detail: redact(detail),
            },
            Error::InvalidInput { argument, problem } => Error::InvalidInput {
                argument,
                problem: redact(problem),
            },
            Error::Config(m) => Error::Config(redact(m)),
            Error::Paging { operation, detail } => Error::Paging {
                operation,
                detail: redact(detail),
            },
            other => other,
        }
    }

    /// HTTP status, when the error came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// VirusTotal's error code, when there was one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether VirusTotal said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Api {
                code: ErrorCode::NotFound,
                ..
            }
        ) || self.status() == Some(404)
    }

    /// Whether VirusTotal said the resource (e.g. a feed batch) is not available yet.
    pub fn is_not_available_yet(&self) -> bool {
        matches!(
            self,
            Error::Api {
                code: ErrorCode::NotAvailableYet,
                ..
            }
        )
    }

    /// Whether a quota ran out, at VirusTotal or in the local rate limiter.
    pub fn is_quota(&self) -> bool {
        matches!(
            self,
            Error::Api {
                code: ErrorCode::QuotaExceeded | ErrorCode::TooManyRequests,
                ..
            } | Error::QuotaWait { .. }
        ) || self.status() == Some(429)
    }

    /// Whether the same request may succeed if repeated later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { code, status, .. } => {
                matches!(
                    code,
                    ErrorCode::Transient
                        | ErrorCode::DeadlineExceeded
                        | ErrorCode::TooManyRequests
                        | ErrorCode::QuotaExceeded
                ) || matches!(status, 502..=504)
            }
            Error::Http { status, .. } => matches!(status, 429 | 502..=504),
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::QuotaWait { .. } | Error::AnalysisTimeout { .. } => true,
            _ => false,
        }
    }

    /// How long to wait before trying again, when known: the server's `Retry-After`, or the
    /// wait the local rate limiter computed.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            Error::QuotaWait { wait, .. } => Some(*wait),
            _ => None,
        }
    }
}

/// Parses `Retry-After`: delay seconds, or an HTTP date.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

fn argument_in(msg: &str) -> Option<String> {
    // progenitor: "conversion to `X` for <name> failed: …"
    let rest = msg.split(" for ").nth(1)?;
    Some(rest.split(' ').next()?.trim_end_matches(':').to_string())
}

/// Cuts `s` to at most `max` characters, marking the cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// The API keys of the clients built in this process, each with the forms it is searched for
/// in; texts stored in errors are scrubbed of them. Short strings are never registered (they
/// would redact ordinary words).
static SECRETS: RwLock<Vec<(Arc<str>, SecretForms)>> = RwLock::new(Vec::new());

/// The forms of one secret that are redacted from text: the secret itself in any ASCII case,
/// and the standard and URL-safe base64 of it (and of its upper- and lower-cased spellings),
/// wherever it sits in the encoded text. Base64 of a longer text that contains the key (`key:`,
/// `user:key` as in HTTP Basic auth) still holds a run of characters that depends only on the
/// key's bytes and their offset modulo 3; those runs are what is searched for, so they are
/// redacted too. Out of scope: a key split across several strings (adjacent JSON members,
/// list items), hex or percent-encoded, reversed or otherwise transformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretForms {
    /// The secret, ASCII-lower-cased (matched against lower-cased text).
    lower: String,
    /// Base64 runs, matched exactly.
    encoded: Vec<String>,
}

impl SecretForms {
    /// The forms of `secret`, or `None` for a secret under 8 bytes (never redacted).
    pub fn new(secret: &str) -> Option<SecretForms> {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        if secret.len() < 8 {
            return None;
        }
        let mut spellings = vec![
            secret.to_string(),
            secret.to_ascii_lowercase(),
            secret.to_ascii_uppercase(),
        ];
        spellings.dedup();
        let mut encoded: Vec<String> = Vec::new();
        for s in &spellings {
            for offset in 0..3usize {
                // Encode the secret behind `offset` filler bytes and keep the characters whose
                // six bits all come from the secret.
                let mut bytes = vec![0u8; offset];
                bytes.extend_from_slice(s.as_bytes());
                let first = (8 * offset).div_ceil(6);
                let last = 8 * bytes.len() / 6;
                for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                    let text = engine.encode(&bytes);
                    if let Some(run) = text.get(first..last)
                        && run.len() >= 8
                        && !encoded.iter().any(|e| e == run)
                    {
                        encoded.push(run.to_string());
                    }
                }
            }
        }
        Some(SecretForms {
            lower: secret.to_ascii_lowercase(),
            encoded,
        })
    }

    /// `text` with every form replaced by `<redacted>`, or `None` when it holds none.
    pub fn redact(&self, text: &str) -> Option<String> {
        let shortest = self
            .encoded
            .iter()
            .map(String::len)
            .chain([self.lower.len()])
            .min()
            .unwrap_or(0);
        if text.len() < shortest {
            return None;
        }
        let mut out: Option<String> = None;
        // The secret in any ASCII case: ASCII lower-casing keeps byte offsets.
        let lowered = text.to_ascii_lowercase();
        if lowered.contains(&self.lower) {
            let mut s = String::with_capacity(text.len());
            let mut at = 0;
            for (i, _) in lowered.match_indices(&self.lower) {
                if i < at {
                    continue;
                }
                s.push_str(&text[at..i]);
                s.push_str("<redacted>");
                at = i + self.lower.len();
            }
            s.push_str(&text[at..]);
            out = Some(s);
        }
        for e in &self.encoded {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(e.as_str()) {
                out = Some(current.replace(e.as_str(), "<redacted>"));
            }
        }
        out
    }
}

/// Registers an API key for [`redact`].
pub(crate) fn register_secret(secret: &Arc<str>) {
    let Some(forms) = SecretForms::new(secret) else {
        return;
    };
    let mut s = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !s.iter().any(|(k, _)| **k == **secret) {
        s.push((secret.clone(), forms));
    }
}

/// Replaces every registered API key in `text` (in any case, or base64-encoded, see
/// [`SecretForms`]) with `<redacted>`.
pub(crate) fn redact(text: String) -> String {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut text = text;
    for (_, forms) in secrets.iter() {
        if let Some(t) = forms.redact(&text) {
            text = t;
        }
    }
    text
}

/// Replaces the default panic message (printed raw to stderr) with an `error` log line whose
/// text has every registered API key redacted. A panic inside a tool call is also turned into
/// an error result for that call ([`crate::mcp`]); this only decides what the log says.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(at = %at, "panic: {}", redact(message));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        let d = parse_retry_after(&later).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn quota_wait_round_trips_through_the_local_body() {
        let e = Error::QuotaWait {
            operation: "get_file".into(),
            window: QuotaWindow::Minute,
            limit: 4,
            wait: Duration::from_secs(45),
            max_wait: Duration::from_secs(10),
        };
        let body = e.local_quota_body().unwrap();
        let err = &body["error"];
        let back = Error::from_error_body(
            "get_file",
            429,
            None,
            err["code"].as_str().unwrap(),
            err["message"].as_str().unwrap().to_string(),
            err.as_object().unwrap(),
        );
        assert_eq!(back.to_string(), e.to_string());
        assert!(e.to_string().contains("4 requests per minute"), "{e}");
        assert!(e.to_string().contains("45 s"), "{e}");
    }

    #[test]
    fn keys_are_redacted_in_any_case_and_in_base64() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let key = "0123456789abcdef0123456789ABCDEF-forms-test?>>";
        let forms = SecretForms::new(key).unwrap();
        // (form, how many characters of it may be left: the edges of a base64 run carry bits
        // of the bytes around the key, and the encoding of what precedes it stays).
        let texts = [
            (key.to_string(), 0),
            (key.to_ascii_uppercase(), 0),
            (key.to_ascii_lowercase(), 0),
            (STANDARD.encode(key), 4),
            (URL_SAFE_NO_PAD.encode(key), 4),
            (STANDARD.encode(key.to_ascii_uppercase()), 4),
            (STANDARD.encode(format!("{key}:")), 4),
            (STANDARD.encode(format!("apikey:{key}")), 16),
            (URL_SAFE_NO_PAD.encode(format!("x{key}")), 4),
        ];
        for (t, left) in texts {
            let wrapped = format!("before {t} after");
            let out = forms.redact(&wrapped).unwrap_or_else(|| panic!("{t} kept"));
            assert!(
                out.contains("<redacted>") && out.starts_with("before ") && out.ends_with(" after"),
                "{out}"
            );
            assert!(
                out.len() <= "before <redacted> after".len() + left,
                "{t} -> {out}"
            );
        }
        assert_eq!(forms.redact("nothing secret here"), None);
        assert!(SecretForms::new("short").is_none());
    }

    #[test]
    fn registered_keys_are_redacted() {
        register_secret(&Arc::from("unit-test-secret-1234"));
        register_secret(&Arc::from("short"));
        assert_eq!(
            redact("key unit-test-secret-1234 and short".into()),
            "key <redacted> and short"
        );
    }
}

#[cfg(test)]
mod panic_hook_tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn panic_messages_are_logged_with_the_key_redacted() {
        let log = Captured::default();
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let key: Arc<str> = Arc::from("panic-hook-test-key-0123456789");
        super::register_secret(&key);
        super::install_panic_hook();
        let caught = std::panic::catch_unwind(|| {
            panic!("header x-apikey: panic-hook-test-key-0123456789 was rejected")
        });
        let _ = std::panic::take_hook();
        assert!(caught.is_err());
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("panic: header x-apikey: <redacted> was rejected"),
            "{text}"
        );
        assert!(!text.contains("panic-hook-test-key"), "{text}");
        assert!(text.contains("src/error.rs"), "{text}");
    }
}
