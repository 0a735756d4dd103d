//! Turning what the HTTP stack and the generated client report into [`Error`]s. These
//! conversions live with the client, which produced the errors, so that the error layer below
//! it knows nothing of progenitor's or reqwest's types beyond what its variants hold.
//!
//! # Why `send()` returns [`Error`] directly
//!
//! progenitor's `send()` fails with `progenitor_client::Error<ErrorResponse>`, which does not
//! say which operation failed, and a `From` conversion could not find out on every path: an
//! argument refused before sending, a transport failure or an undecodable answer carry no
//! request at all. So build.rs (`build/client.rs`) renames each generated `send()` to a private
//! `send_generated()` and puts a `send()` of the same name in its place that converts the
//! error with the operation id progenitor itself gave the request. The builders keep their
//! names, setters and docs; `client.get_file().id(h).send().await?` works in any function
//! returning [`crate::Result`], and the error names the operation ([`Error::operation`]) with
//! VirusTotal's code, the HTTP status and `Retry-After` in its variants.

use crate::Error;
use crate::error::{argument_in, parse_retry_after, truncate};

/// What [`Error::from_progenitor`] accepts: the raw error of progenitor's generated code, or an
/// [`Error`] (which generated `send()` methods already return), passed through unchanged.
/// Sealed: only these two implement it.
pub trait CallError: sealed::Sealed {
    /// The [`Error`] for this failure of `operation`.
    fn into_error(self, operation: &str) -> Error;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Error {}
    impl Sealed for progenitor_client::Error<crate::types::ErrorResponse> {}
}

impl CallError for Error {
    fn into_error(self, _operation: &str) -> Error {
        self
    }
}

impl CallError for progenitor_client::Error<crate::types::ErrorResponse> {
    fn into_error(self, operation: &str) -> Error {
        Error::convert_generated(operation, self)
    }
}

impl Error {
    /// Converts the failure of a call, naming `operation`. Generated `send()` methods already
    /// return an [`Error`] naming their operation (it passes through unchanged); this remains
    /// for code that still maps their errors, and for progenitor's raw error type.
    pub fn from_progenitor(operation: &str, e: impl CallError) -> Error {
        e.into_error(operation)
    }

    fn convert_generated(
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
                    operation: operation.to_string(),
                    status: r.status().as_u16(),
                    body: format!(
                        "a redirect{to} that was not followed: only downloads follow redirects, \
                         and {operation} is not one (check VT_BASE_URL and any proxy in between)"
                    ),
                }
            }
            P::UnexpectedResponse(r) => Error::Http {
                operation: operation.to_string(),
                status: r.status().as_u16(),
                body: "unexpected response".into(),
            },
            P::Custom(msg) => Error::Config(msg),
        };
        e.scrubbed()
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
                operation: operation.to_string(),
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
        if super::network::is_certificate_problem(&e) {
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
}
