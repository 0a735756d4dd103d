//! What an error means and what to do about it, written once. [`Failure`] sorts an [`Error`]
//! by what can be done about it; [`Failure::next_step`] is the one table of next steps, worded
//! for the two kinds of reader ([`Reader`]): a program using the typed client (the `Display` of
//! [`Error`]) and a model using the MCP server (`mcp::output::describe_error`). The
//! local rate limiter's refusal ([`quota_wait_message`]) and the one-line summaries of the
//! reports ([`summary`]) are here too.

use super::{Error, ErrorCode};
use super::{QuotaWindow, human};
use std::time::Duration;

/// Who reads an error message: the next step names the settings that reader has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A program using the typed client: settings are `ClientBuilder` methods.
    Library,
    /// A model (or person) using the MCP server: settings are flags and environment variables.
    Server,
}

/// What kind of failure an error is, as far as what to do about it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 401: no key, or one VirusTotal does not accept.
    Key,
    /// 401 `UserNotActiveError`: the account is not active.
    Account,
    /// 403: the key lacks the tier or licence.
    NotPermitted,
    /// 404: no such object.
    NotFound,
    /// 409: it already exists.
    Exists,
    /// 429: a quota is used up.
    Quota,
    /// `NotAvailableYet`: e.g. a feed batch not published yet.
    NotYet,
    /// `UnselectiveContentQueryError`: a content search matching too much.
    Unselective,
    /// 5xx, `TransientError`, `DeadlineExceededError`: VirusTotal's side or the way there.
    Upstream,
    /// 3xx on a request that does not follow redirects (the message says where it pointed).
    Redirect,
    /// Any other rejected request (400 and the rest of 4xx).
    Request,
    /// No answer within the client's timeout.
    Timeout,
    /// The request did not complete (DNS, connection, TLS, reset).
    Network,
}

impl Failure {
    /// The failure of an error answer: the code decides when it says more than the status.
    pub fn of_answer(status: u16, code: Option<&ErrorCode>) -> Failure {
        use ErrorCode as C;
        match code {
            Some(C::AuthenticationRequired | C::WrongCredentials) => Failure::Key,
            Some(C::UserNotActive) => Failure::Account,
            Some(C::Forbidden) => Failure::NotPermitted,
            Some(C::NotFound) => Failure::NotFound,
            Some(C::AlreadyExists) => Failure::Exists,
            Some(C::QuotaExceeded | C::TooManyRequests) => Failure::Quota,
            Some(C::NotAvailableYet) => Failure::NotYet,
            Some(C::UnselectiveContentQuery) => Failure::Unselective,
            Some(C::Transient | C::DeadlineExceeded) => Failure::Upstream,
            _ => match status {
                401 => Failure::Key,
                403 => Failure::NotPermitted,
                404 => Failure::NotFound,
                409 => Failure::Exists,
                429 => Failure::Quota,
                300..=399 => Failure::Redirect,
                500..=599 => Failure::Upstream,
                _ => Failure::Request,
            },
        }
    }

    /// The failure of an error, for the errors whose next step depends on it (VirusTotal's
    /// answers, HTTP errors, timeouts, network errors); the others say what to do themselves.
    pub fn of(e: &Error) -> Option<Failure> {
        match e {
            Error::Api { status, code, .. } => Some(Failure::of_answer(*status, Some(code))),
            Error::Http { status, .. } => Some(Failure::of_answer(*status, None)),
            Error::Timeout { .. } => Some(Failure::Timeout),
            Error::Transport { .. } => Some(Failure::Network),
            _ => None,
        }
    }

    /// What to do next, for `reader`: a clause in lower case without a final stop, empty when
    /// the message already says it (a redirect names where it pointed and what to check).
    pub fn next_step(self, reader: Reader) -> String {
        // (for everyone, added for a program, added for the MCP server)
        let (next, library, server) = match self {
            Failure::Key => (
                "check the API key (VT_API_KEY); VirusTotal did not accept it",
                "",
                "",
            ),
            Failure::Account => ("activate the VirusTotal account", "", ""),
            Failure::NotPermitted => (
                "this needs a premium key or a licence the key does not have",
                "",
                ". Start vtmcp with the matching --tier only if the key has it",
            ),
            Failure::NotFound => (
                "check the identifier; VirusTotal has no such object",
                "",
                ". For a URL or file, scanning it (if enabled) creates one",
            ),
            Failure::Exists => ("it already exists (for votes: you already voted)", "", ""),
            Failure::Quota => (
                "the key's quota is used up: wait a minute (per-minute quota) or until 00:00 UTC \
                 (daily quota)",
                "",
                "",
            ),
            Failure::NotYet => (
                "not available yet; try again later (minute feed batches appear about an hour \
                 late, hourly ones two hours late)",
                "",
                "",
            ),
            Failure::Unselective => ("make the content search more selective", "", ""),
            Failure::Upstream => (
                "a problem on VirusTotal's side or on the way there; try again shortly",
                "",
                "",
            ),
            Failure::Redirect => ("", "", ""),
            Failure::Request => ("check the arguments", "", ""),
            Failure::Timeout => (
                "try again, or ask for less (limit, fields)",
                "; ClientBuilder::timeout sets the limit",
                "",
            ),
            Failure::Network => (
                "check the network, any proxy (HTTPS_PROXY) and the base URL (VT_BASE_URL)",
                "",
                "",
            ),
        };
        let extra = match reader {
            Reader::Library => library,
            Reader::Server => server,
        };
        format!("{next}{extra}")
    }

    /// `"; <next step>"` for the end of a program's error message, or nothing.
    pub(crate) fn suffix(self) -> String {
        let next = self.next_step(Reader::Library);
        if next.is_empty() {
            next
        } else {
            format!("; {next}")
        }
    }

    /// The next step as a sentence for the MCP server (capitalised, with a final stop), or
    /// nothing.
    pub fn sentence(self) -> String {
        let next = self.next_step(Reader::Server);
        let mut chars = next.chars();
        match chars.next() {
            Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
            None => next,
        }
    }
}

/// The message of [`Error::QuotaWait`]: which local limit refused, for how long, and what
/// `reader` can change.
pub fn quota_wait_message(
    operation: &str,
    window: QuotaWindow,
    limit: u32,
    wait: Duration,
    max_wait: Duration,
    reader: Reader,
) -> String {
    match window {
        QuotaWindow::Day => {
            let larger = match reader {
                Reader::Library => {
                    "A key with a larger quota needs RateLimit::per_minute(..) or \
                     RateLimit::unlimited() on the client builder"
                }
                Reader::Server => {
                    "If the key has a larger quota, start vtmcp with --requests-per-minute N \
                     (no daily budget) or 0 (no local pacing)"
                }
            };
            format!(
                "{operation} was not sent: the local daily budget of {limit} requests is spent; \
                 it starts again at 00:00 UTC (in {}). {larger}",
                human(wait)
            )
        }
        QuotaWindow::Month => {
            let larger = match reader {
                Reader::Library => {
                    "A larger allowance needs RateLimit::per_month(..) on the client builder"
                }
                Reader::Server => {
                    "If the key's allowance is larger, start vtmcp with --tier auto (the default) \
                     so the allowance VirusTotal states for the key is used"
                }
            };
            format!(
                "{operation} was not sent: the local monthly allowance of {limit} requests is \
                 spent; it starts again on the 1st at 00:00 UTC (in {}). {larger}",
                human(wait)
            )
        }
        QuotaWindow::Minute => {
            let longer = match reader {
                Reader::Library => ", or allow longer waits with RateLimit::max_wait",
                Reader::Server => {
                    "; if the key allows more requests, start vtmcp with a higher \
                     --requests-per-minute (0 turns local pacing off)"
                }
            };
            format!(
                "{operation} was not sent: the rate limit of {limit} requests per minute would \
                 make it wait {}, longer than the allowed {}. Try again in {}{longer}",
                human(wait),
                human(max_wait),
                human(wait)
            )
        }
    }
}

/// One line for a part of a composite result that failed (a report's relationship, a row of a
/// triage table): what happened, without the next step.
pub fn summary(e: &Error) -> String {
    match e {
        Error::Api { status, code, .. } => match Failure::of_answer(*status, Some(code)) {
            Failure::NotPermitted => {
                format!("not available to this key ({status} {code}; premium-only)")
            }
            Failure::Quota => format!("skipped: quota exhausted ({status} {code})"),
            _ => format!("failed: {code} (HTTP {status})"),
        },
        Error::Http { status, .. } => format!("failed: HTTP {status}"),
        Error::Timeout { .. } => "failed: timed out".into(),
        Error::Transport { .. } => "failed: network error".into(),
        other => format!("failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Failure; 13] = [
        Failure::Key,
        Failure::Account,
        Failure::NotPermitted,
        Failure::NotFound,
        Failure::Exists,
        Failure::Quota,
        Failure::NotYet,
        Failure::Unselective,
        Failure::Upstream,
        Failure::Redirect,
        Failure::Request,
        Failure::Timeout,
        Failure::Network,
    ];

    #[test]
    fn every_failure_but_a_redirect_has_a_next_step_for_both_readers() {
        for f in ALL {
            for reader in [Reader::Library, Reader::Server] {
                let next = f.next_step(reader);
                assert_eq!(next.is_empty(), f == Failure::Redirect, "{f:?} {reader:?}");
                assert!(!next.ends_with('.'), "{f:?}: {next}");
                assert_eq!(next, next.trim(), "{f:?}");
            }
            // The server's sentence is the same advice, capitalised.
            let s = f.sentence();
            assert_eq!(s.is_empty(), f == Failure::Redirect);
            if !s.is_empty() {
                assert!(s.ends_with('.') && s.starts_with(char::is_uppercase), "{s}");
                let common = f.next_step(Reader::Library);
                let common = common.split("; ClientBuilder").next().unwrap();
                assert!(s.to_lowercase().contains(&common.to_lowercase()), "{s}");
            }
        }
    }

    #[test]
    fn the_code_decides_before_the_status() {
        let of = Failure::of_answer;
        assert_eq!(of(401, Some(&ErrorCode::UserNotActive)), Failure::Account);
        assert_eq!(of(401, Some(&ErrorCode::WrongCredentials)), Failure::Key);
        assert_eq!(of(401, None), Failure::Key);
        assert_eq!(
            of(400, Some(&ErrorCode::UnselectiveContentQuery)),
            Failure::Unselective
        );
        assert_eq!(of(400, Some(&ErrorCode::NotAvailableYet)), Failure::NotYet);
        assert_eq!(of(400, Some(&ErrorCode::InvalidArgument)), Failure::Request);
        assert_eq!(of(503, Some(&ErrorCode::Transient)), Failure::Upstream);
        assert_eq!(
            of(403, Some(&ErrorCode::Unknown("NewError".into()))),
            Failure::NotPermitted
        );
        assert_eq!(of(302, None), Failure::Redirect);
        assert_eq!(of(502, None), Failure::Upstream);
        assert_eq!(of(418, None), Failure::Request);
    }

    #[test]
    fn a_local_quota_refusal_names_the_settings_of_its_reader() {
        let msg = |window, reader| {
            quota_wait_message(
                "get_file",
                window,
                4,
                Duration::from_secs(45),
                Duration::from_secs(10),
                reader,
            )
        };
        for window in [QuotaWindow::Minute, QuotaWindow::Day] {
            let lib = msg(window, Reader::Library);
            let server = msg(window, Reader::Server);
            assert!(lib.starts_with("get_file was not sent: ") && lib.contains("RateLimit::"));
            assert!(server.contains("--requests-per-minute") && !server.contains("RateLimit"));
        }
    }

    #[test]
    fn summaries_say_what_happened_in_a_few_words() {
        let api = |status, code: &str| Error::Api {
            operation: "get_file".into(),
            status,
            code: ErrorCode::parse(code),
            message: "m".into(),
            retry_after: None,
        };
        assert_eq!(
            summary(&api(403, "ForbiddenError")),
            "not available to this key (403 ForbiddenError; premium-only)"
        );
        assert_eq!(
            summary(&api(429, "QuotaExceededError")),
            "skipped: quota exhausted (429 QuotaExceededError)"
        );
        assert_eq!(
            summary(&api(404, "NotFoundError")),
            "failed: NotFoundError (HTTP 404)"
        );
        assert_eq!(
            summary(&Error::Http {
                operation: "get_file".into(),
                status: 502,
                body: String::new()
            }),
            "failed: HTTP 502"
        );
        assert_eq!(
            summary(&Error::Timeout {
                operation: "get_file".into()
            }),
            "failed: timed out"
        );
    }
}
