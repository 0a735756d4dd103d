//! The one error type of vtmcp: VirusTotal API errors with their documented codes, HTTP errors
//! whose body was not VirusTotal's JSON, transport failures, decode failures and invalid input.
//! No variant ever holds the API key.

use std::{fmt, time::Duration};

/// Code given to error bodies that were not VirusTotal JSON (see `client::normalize_error_body`).
pub(crate) const NON_JSON_CODE: &str = "vtmcp.NonJsonErrorBody";

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
#[derive(Debug, thiserror::Error)]
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
    #[error("HTTP {status} from VirusTotal: {body}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The body text, truncated.
        body: String,
    },
    /// The request did not complete (DNS, connection, TLS, reset).
    #[error("network error during {operation}: {message}")]
    Transport {
        /// Operation id.
        operation: String,
        /// What failed (without the URL).
        message: String,
    },
    /// The request took longer than the configured timeout.
    #[error("{operation} timed out")]
    Timeout {
        /// Operation id.
        operation: String,
    },
    /// A successful response could not be decoded.
    #[error("could not decode the response of {operation}: {detail}")]
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
}

impl Error {
    /// Converts an error of a generated method, naming the operation.
    pub fn from_progenitor(
        operation: &str,
        e: progenitor_client::Error<crate::types::ErrorResponse>,
    ) -> Error {
        use progenitor_client::Error as P;
        match e {
            P::ErrorResponse(rv) => {
                let status = rv.status().as_u16();
                let retry_after = rv
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = rv.into_inner();
                let code = body.error.code;
                let message = body.error.message.unwrap_or_default();
                if code == NON_JSON_CODE {
                    Error::Http {
                        status,
                        body: message,
                    }
                } else {
                    Error::Api {
                        status,
                        code: ErrorCode::parse(&code),
                        message,
                        retry_after,
                    }
                }
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
            P::UnexpectedResponse(r) => Error::Http {
                status: r.status().as_u16(),
                body: "unexpected response".into(),
            },
            P::Custom(msg) => Error::Config(msg),
        }
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
        Error::Transport {
            operation: operation.to_string(),
            message,
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

    /// Whether a quota ran out.
    pub fn is_quota(&self) -> bool {
        matches!(
            self,
            Error::Api {
                code: ErrorCode::QuotaExceeded | ErrorCode::TooManyRequests,
                ..
            }
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
            _ => false,
        }
    }

    /// How long the server asked to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
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
