//! The one error type of vtmcp: VirusTotal API errors with their documented codes, HTTP errors
//! whose body was not VirusTotal's JSON, transport failures, decode failures, invalid input and
//! the local quota.
//!
//! No variant ever holds the API key: every text that comes from the server or the transport
//! is scrubbed of the keys of the clients built in this process before it is stored
//! ([`secrets`], the one scrubber). What each error advises is written once, in [`advice`].

pub mod advice;
pub mod secrets;

pub use advice::{Failure, Reader};
pub use secrets::{SecretForms, install_panic_hook, scrub_json};
pub(crate) use secrets::{redact, register_secret};

use serde_json::{Map, Value};
use std::{fmt, time::Duration};

/// Code given to error bodies that were not VirusTotal JSON (see `client::normalize_error_body`).
pub(crate) const NON_JSON_CODE: &str = "vtmcp.NonJsonErrorBody";

/// Code of the answer the client makes up itself when the local rate limiter refuses to wait
/// (see `client::local_quota_response`); it never comes from VirusTotal.
pub(crate) const LOCAL_QUOTA_CODE: &str = "vtmcp.LocalQuotaWait";

/// `Result` with vtmcp's [`Error`]: what every fallible call of the crate returns, and what a
/// function calling the typed client can return to use `?` on its calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    #[error("{operation}: VirusTotal error {code} (HTTP {status}): {message}{}", Failure::of_answer(*status, Some(code)).suffix())]
    Api {
        /// Operation id (the spec's `operationId`, e.g. `get_file`).
        operation: String,
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
    #[error("{operation}: HTTP {status} from VirusTotal{}{}{}", if body.is_empty() { "" } else { ": " }, body, Failure::of_answer(*status, None).suffix())]
    Http {
        /// Operation id.
        operation: String,
        /// HTTP status.
        status: u16,
        /// The body text, truncated.
        body: String,
    },
    /// The request did not complete (DNS, connection, TLS, reset).
    #[error("network error during {operation}: {message}{}", Failure::Network.suffix())]
    Transport {
        /// Operation id.
        operation: String,
        /// What failed (without the URL).
        message: String,
    },
    /// The request took longer than the configured timeout.
    #[error(
        "{operation} timed out: VirusTotal did not answer within the client's timeout{}",
        Failure::Timeout.suffix()
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
    #[error("{}", advice::quota_wait_message(operation, *window, *limit, *wait, *max_wait, Reader::Library))]
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
    /// `cache: "only"` and the answer is not in the cache (or the operation's answers are never
    /// cached). Nothing was sent.
    #[error(
        "{operation}: {why}; nothing was sent (cache \"only\" makes no request). Call again with cache \"use\" to fetch it from VirusTotal"
    )]
    NotCached {
        /// Operation id.
        operation: String,
        /// Why: not cached, expired, the cache is off, or never cached.
        why: String,
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

impl Error {
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
                operation: operation.to_string(),
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
                operation: operation.to_string(),
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

    /// Removes every registered API key from the texts the error holds.
    pub(crate) fn scrubbed(self) -> Error {
        match self {
            Error::Api {
                operation,
                status,
                code,
                message,
                retry_after,
            } => Error::Api {
                operation,
                status,
                code,
                message: redact(message),
                retry_after,
            },
            Error::Http {
                operation,
                status,
                body,
            } => Error::Http {
                operation,
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

    /// The operation that failed (the spec's `operationId`, e.g. `get_file`), when the error
    /// came from one.
    pub fn operation(&self) -> Option<&str> {
        match self {
            Error::Api { operation, .. }
            | Error::Http { operation, .. }
            | Error::Transport { operation, .. }
            | Error::Timeout { operation }
            | Error::Decode { operation, .. }
            | Error::QuotaWait { operation, .. }
            | Error::NotCached { operation, .. }
            | Error::Paging { operation, .. } => Some(operation),
            _ => None,
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

pub(crate) fn argument_in(msg: &str) -> Option<String> {
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

/// The quota window a limit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaWindow {
    /// A per-minute limit (a sliding window of 60 s).
    Minute,
    /// A daily budget (a UTC day: VirusTotal resets daily quotas at 00:00 UTC).
    Day,
    /// A monthly allowance (a calendar month in UTC, starting on the 1st at 00:00 UTC).
    Month,
}

impl QuotaWindow {
    /// `"minute"`, `"day"` or `"month"`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaWindow::Minute => "minute",
            QuotaWindow::Day => "day",
            QuotaWindow::Month => "month",
        }
    }

    /// The window named `name` (`"minute"`, `"day"`, `"month"`), as [`as_str`](Self::as_str)
    /// writes it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "minute" => Some(QuotaWindow::Minute),
            "day" => Some(QuotaWindow::Day),
            "month" => Some(QuotaWindow::Month),
            _ => None,
        }
    }
}

/// A duration for people: `45 s`, `3 min 5 s`, `2 h 10 min`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{} ms", d.as_millis());
    }
    if s < 60 {
        return format!("{s} s");
    }
    if s < 3600 {
        let (m, r) = (s / 60, s % 60);
        return if r == 0 {
            format!("{m} min")
        } else {
            format!("{m} min {r} s")
        };
    }
    let (h, m) = (s / 3600, (s % 3600) / 60);
    format!("{h} h {m} min")
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
    fn messages_end_with_the_next_step_of_their_failure() {
        let http = |status| Error::Http {
            operation: "get_file".into(),
            status,
            body: "page".into(),
        };
        assert!(
            http(404)
                .to_string()
                .ends_with("page; check the identifier; VirusTotal has no such object"),
            "{}",
            http(404)
        );
        // A redirect's body already says where it pointed and what to check.
        assert_eq!(
            http(302).to_string(),
            "get_file: HTTP 302 from VirusTotal: page"
        );
        let api = Error::Api {
            operation: "search".into(),
            status: 400,
            code: ErrorCode::UnselectiveContentQuery,
            message: "too broad".into(),
            retry_after: None,
        };
        assert_eq!(
            api.to_string(),
            "search: VirusTotal error UnselectiveContentQueryError (HTTP 400): too broad; make the \
             content search more selective"
        );
        let t = Error::Timeout {
            operation: "get_file".into(),
        }
        .to_string();
        assert!(t.ends_with("ClientBuilder::timeout sets the limit"), "{t}");
        // The library's messages name no server flag.
        for status in [401, 403, 404, 409, 429, 500] {
            assert!(!http(status).to_string().contains("--"), "{}", http(status));
        }
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
}
