//! The retry policy for requests that are safe to repeat.

use std::time::Duration;

/// When and how often a request that failed in a way that may pass is repeated.
///
/// Only `GET` and `HEAD` requests are ever repeated; a `POST`, `PATCH` or `DELETE` is sent
/// once, whatever the answer. A `GET` is repeated on:
///
/// * 503 (`TransientError`), 504 and `DeadlineExceededError`, 502 from a gateway;
/// * a connection that was refused, reset or closed before the answer was complete;
/// * with [`retry_on_quota(true)`](RetryPolicy::retry_on_quota) only: 429
///   `QuotaExceededError` / `TooManyRequestsError` for a per-minute quota, i.e. unless
///   VirusTotal's message speaks of a daily or monthly quota or the local daily budget is
///   spent (those do not pass by waiting minutes). It is off by default because VirusTotal
///   answers every exhausted quota with the same code and a message that rarely says which;
///   a batch job without a local [`RateLimit`](super::RateLimit) is the case for turning it on.
///
/// The wait grows exponentially from [`initial_backoff`](RetryPolicy::initial_backoff)
/// ([`quota_backoff`](RetryPolicy::quota_backoff) for 429s) up to
/// [`max_backoff`](RetryPolicy::max_backoff), with random jitter (half the wait is random),
/// and is never shorter than the server's `Retry-After`. No retry starts if it would end after
/// [`max_elapsed`](RetryPolicy::max_elapsed) since the first attempt; the last answer is then
/// returned as it was.
///
/// ```
/// use std::time::Duration;
/// use vtmcp::client::RetryPolicy;
///
/// let patient = RetryPolicy::default()
///     .max_retries(5)
///     .retry_on_quota(true)
///     .max_elapsed(Duration::from_secs(600));
/// assert_eq!(patient.retries(), 5);
/// assert!(patient.retries_quota() && !RetryPolicy::default().retries_quota());
/// assert_eq!(RetryPolicy::none().retries(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    quota_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Duration,
    on_quota: bool,
}

impl Default for RetryPolicy {
    /// 3 retries; backoff from 1 s (15 s for 429s) up to 60 s; at most 3 minutes in all; 429s
    /// not retried.
    fn default() -> Self {
        RetryPolicy {
            on_quota: false,
            max_retries: 3,
            initial_backoff: Duration::from_secs(1),
            quota_backoff: Duration::from_secs(15),
            max_backoff: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// Never repeat a request.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// How many times a request may be repeated after the first attempt.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The first wait after a transient error or a dropped connection (doubles each retry).
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The first wait after a 429 for a per-minute quota (doubles each retry).
    pub fn quota_backoff(mut self, d: Duration) -> Self {
        self.quota_backoff = d;
        self
    }

    /// The longest computed wait (a longer `Retry-After` is still honoured).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The longest time from the first attempt to the start of the last retry.
    pub fn max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = d;
        self
    }

    /// Whether a 429 for a per-minute quota is retried (default false).
    pub fn retry_on_quota(mut self, yes: bool) -> Self {
        self.on_quota = yes;
        self
    }

    /// Whether 429s for a per-minute quota are retried.
    pub fn retries_quota(&self) -> bool {
        self.on_quota
    }

    /// How many retries the policy allows.
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// The longest time from the first attempt to the start of the last retry.
    pub fn max_elapsed_duration(&self) -> Duration {
        self.max_elapsed
    }

    /// The wait before retry number `retry` (1-based).
    pub(crate) fn backoff(
        &self,
        retry: u32,
        quota: bool,
        retry_after: Option<Duration>,
    ) -> Duration {
        let unit = if quota {
            self.quota_backoff
        } else {
            self.initial_backoff
        };
        let factor = 1u32 << retry.saturating_sub(1).min(16);
        let exp = unit.saturating_mul(factor).min(self.max_backoff);
        let half = exp / 2;
        let jitter = half.mul_f64(random_unit());
        let wait = half + jitter;
        wait.max(retry_after.unwrap_or(Duration::ZERO))
    }
}

/// A random number in `[0, 1]`, from the standard library's per-process random hash keys.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_capped_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for _ in 0..50 {
            let first = p.backoff(1, false, None);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let third = p.backoff(3, false, None);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
            let tenth = p.backoff(10, false, None);
            assert!(tenth <= Duration::from_secs(60));
            let quota = p.backoff(1, true, None);
            assert!(quota >= Duration::from_millis(7500) && quota <= Duration::from_secs(15));
            let ra = p.backoff(1, false, Some(Duration::from_secs(30)));
            assert!(ra >= Duration::from_secs(30));
        }
    }
}
