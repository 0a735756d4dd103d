//! Request policy: the rate limiter (a per-minute sliding window, a daily budget and a monthly
//! allowance), the retry policy for requests that are safe to repeat, and the wait events both
//! of them report.
//!
//! Every [`Client`](crate::Client) carries one [`RateLimiter`], shared by all its clones; every
//! request to the VirusTotal origin (generated methods, uploads, retries) takes a slot from it
//! before it is sent. A wait for a slot is an ordinary `tokio` sleep: dropping the future stops
//! waiting and gives the slot back. A wait longer than [`RateLimit::max_wait`] is not started:
//! the call fails at once with [`Error::QuotaWait`](crate::Error::QuotaWait), which says how
//! long the wait would have been.
//!
//! The limiter counts in this process unless it is given a [`SharedWindows`] store
//! ([`ClientBuilder::shared_quota`](crate::ClientBuilder::shared_quota)): then its windows live
//! in the store, keyed by the API key's namespace, and every process using that store and key
//! spends one budget (see [`limiter`] and [`shared`]).
//!
//! * [`limiter`]: the [`RateLimiter`], in-process or on a shared store;
//! * [`shared`]: the [`SharedWindows`] trait a shared store implements, and the sliding-window
//!   arithmetic every implementation uses;
//! * [`retry`]: the [`RetryPolicy`];
//! * [`wait`]: [`WaitEvent`]s and their reporters.

pub mod limiter;
pub mod retry;
pub mod shared;
pub mod wait;

pub use limiter::RateLimiter;
pub use retry::RetryPolicy;
pub use shared::{SharedError, SharedReservation, SharedUsage, SharedWindows, SlotId};
#[cfg(feature = "server")]
pub(crate) use wait::human;
pub(crate) use wait::report;
pub use wait::{WaitEvent, WaitReporter, with_wait_reporter};

use std::{fmt, time::Duration};

/// The length of the sliding window of a per-minute limit.
pub(crate) const MINUTE: Duration = Duration::from_secs(60);

pub use crate::error::QuotaWindow;

impl fmt::Display for QuotaWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many requests a client may send: a per-minute limit, a daily budget, a monthly
/// allowance, and how long a call may wait for a free slot.
///
/// * [`RateLimit::public()`]: a free ("public API") key: 4 requests per minute and 500 per day.
/// * [`RateLimit::per_minute(n)`](RateLimit::per_minute): a premium contract's rate, no daily
///   budget (add one with [`RateLimit::per_day`], a monthly allowance with
///   [`RateLimit::per_month`]).
/// * [`RateLimit::unlimited()`] (the default of [`ClientBuilder`](crate::ClientBuilder)): no
///   local limit; VirusTotal's own 429 answers are still retried for `GET`s (see
///   [`RetryPolicy`]).
///
/// The per-minute limit is a sliding window: at most `n` requests in any 60 seconds, so `n`
/// requests can go out at once and request `n + 1` waits until the first one is a minute old.
/// The daily budget counts the requests sent since 00:00 UTC, the monthly allowance those sent
/// since the 1st of the month at 00:00 UTC. They count the requests of this client and its
/// clones; with a shared store
/// ([`ClientBuilder::shared_quota`](crate::ClientBuilder::shared_quota)) those of every
/// process that uses the store with the same key.
///
/// ```
/// use std::time::Duration;
/// use vtmcp::client::RateLimit;
///
/// let free = RateLimit::public();
/// assert_eq!((free.requests_per_minute(), free.requests_per_day()), (Some(4), Some(500)));
/// let premium = RateLimit::per_minute(1000)
///     .per_day(100_000)
///     .per_month(1_000_000)
///     .max_wait(Duration::from_secs(10));
/// assert_eq!(premium.max_wait_duration(), Duration::from_secs(10));
/// assert_eq!(premium.requests_per_month(), Some(1_000_000));
/// assert!(RateLimit::unlimited().is_unlimited());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    per_minute: Option<u32>,
    per_day: Option<u32>,
    per_month: Option<u32>,
    max_wait: Duration,
}

impl Default for RateLimit {
    /// [`RateLimit::unlimited()`].
    fn default() -> Self {
        RateLimit::unlimited()
    }
}

impl RateLimit {
    /// The longest a call waits for a slot unless told otherwise: two minutes.
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(120);

    /// The free ("public API") key's quota: 4 requests per minute, 500 per day.
    pub fn public() -> Self {
        RateLimit::per_minute(4).per_day(500)
    }

    /// At most `n` requests in any minute (`0` is taken as 1), no daily budget.
    pub fn per_minute(n: u32) -> Self {
        RateLimit {
            per_minute: Some(n.max(1)),
            ..RateLimit::unlimited()
        }
    }

    /// No local limit at all.
    pub fn unlimited() -> Self {
        RateLimit {
            per_minute: None,
            per_day: None,
            per_month: None,
            max_wait: Self::DEFAULT_MAX_WAIT,
        }
    }

    /// Adds a daily budget of `n` requests per UTC day (`0` is taken as 1).
    pub fn per_day(mut self, n: u32) -> Self {
        self.per_day = Some(n.max(1));
        self
    }

    /// Adds a monthly allowance of `n` requests per calendar month in UTC (`0` is taken as 1),
    /// as premium contracts have.
    pub fn per_month(mut self, n: u32) -> Self {
        self.per_month = Some(n.max(1));
        self
    }

    /// The longest a call may wait for a per-minute slot (default
    /// [`RateLimit::DEFAULT_MAX_WAIT`]). A call that would wait longer fails at once with
    /// [`Error::QuotaWait`](crate::Error::QuotaWait); `Duration::ZERO` means never wait.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The per-minute limit, if any.
    pub fn requests_per_minute(&self) -> Option<u32> {
        self.per_minute
    }

    /// The daily budget, if any.
    pub fn requests_per_day(&self) -> Option<u32> {
        self.per_day
    }

    /// The monthly allowance, if any.
    pub fn requests_per_month(&self) -> Option<u32> {
        self.per_month
    }

    /// The longest a call may wait for a slot.
    pub fn max_wait_duration(&self) -> Duration {
        self.max_wait
    }

    /// Whether there is no local limit.
    pub fn is_unlimited(&self) -> bool {
        self.per_minute.is_none() && self.per_day.is_none() && self.per_month.is_none()
    }
}

/// A snapshot of the quota, from [`Client::quota_status`](crate::Client::quota_status) or
/// [`RateLimiter::current_status`].
///
/// A batch tool can tell what a batch will spend before spending it:
///
/// ```
/// # fn demo(client: &vtmcp::Client) {
/// let status = client.quota_status();
/// if !status.can_spend_today(120) {
///     println!("only {:?} requests left today", status.remaining_today);
/// } else if let Some(t) = status.estimate(120) {
///     println!("120 lookups will take about {} s", t.as_secs());
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaStatus {
    /// The per-minute limit (None: no limit).
    pub per_minute: Option<u32>,
    /// Requests sent (or about to be sent) in the last 60 s.
    pub used_last_minute: u32,
    /// How long a request made now would wait for a per-minute slot.
    pub next_slot_in: Duration,
    /// The daily budget (None: no budget).
    pub per_day: Option<u32>,
    /// Requests sent since 00:00 UTC.
    pub used_today: u32,
    /// Requests left today (None: no budget).
    pub remaining_today: Option<u32>,
    /// Time until 00:00 UTC, when the daily budget starts again.
    pub day_resets_in: Duration,
    /// The monthly allowance (None: no allowance).
    pub per_month: Option<u32>,
    /// Requests sent since the 1st of the month, 00:00 UTC.
    pub used_this_month: u32,
    /// Requests left this month (None: no allowance).
    pub remaining_this_month: Option<u32>,
    /// Whether the counts are those of a shared store (every process using it with this key)
    /// rather than of this process alone.
    pub shared: bool,
}

impl QuotaStatus {
    /// Whether `n` more requests fit in today's budget and this month's allowance.
    pub fn can_spend_today(&self, n: u32) -> bool {
        self.remaining_today.is_none_or(|r| n <= r)
            && self.remaining_this_month.is_none_or(|r| n <= r)
    }

    /// About how long `n` requests take under the per-minute limit (zero without one), or
    /// `None` when they do not fit in today's budget or this month's allowance. An estimate:
    /// other calls made meanwhile and VirusTotal's own answers are not foreseen.
    pub fn estimate(&self, n: u32) -> Option<Duration> {
        if !self.can_spend_today(n) {
            return None;
        }
        let Some(per_minute) = self.per_minute else {
            return Some(Duration::ZERO);
        };
        let free_now = per_minute.saturating_sub(self.used_last_minute);
        if n <= free_now {
            return Some(self.next_slot_in);
        }
        let later = n - free_now;
        let minutes = later.div_ceil(per_minute);
        Some(MINUTE * minutes)
    }
}

/// The current UTC day.
pub(crate) fn utc_day(at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    at.date_naive()
}

/// The current UTC month as `(year, month)`.
pub(crate) fn utc_month(at: chrono::DateTime<chrono::Utc>) -> (i32, u32) {
    use chrono::Datelike;
    (at.year(), at.month())
}

/// Time from `at` until the next 00:00 UTC.
pub(crate) fn until_midnight_utc(at: chrono::DateTime<chrono::Utc>) -> Duration {
    let midnight = at
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    midnight
        .and_then(|m| (m - at).to_std().ok())
        .unwrap_or(Duration::ZERO)
}

/// Time from `at` until the 1st of the next month, 00:00 UTC.
pub(crate) fn until_next_month_utc(at: chrono::DateTime<chrono::Utc>) -> Duration {
    let (y, m) = utc_month(at);
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .and_then(|next| (next - at).to_std().ok())
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(remaining_today: Option<u32>, remaining_this_month: Option<u32>) -> QuotaStatus {
        QuotaStatus {
            per_minute: Some(4),
            used_last_minute: 1,
            next_slot_in: Duration::ZERO,
            per_day: Some(500),
            used_today: 490,
            remaining_today,
            day_resets_in: Duration::from_secs(3600),
            per_month: remaining_this_month.map(|_| 1000),
            used_this_month: 0,
            remaining_this_month,
            shared: false,
        }
    }

    #[test]
    fn estimates() {
        let s = status(Some(10), None);
        assert!(s.can_spend_today(10) && !s.can_spend_today(11));
        assert_eq!(s.estimate(3), Some(Duration::ZERO));
        assert_eq!(s.estimate(7), Some(Duration::from_secs(60)));
        assert_eq!(s.estimate(8), Some(Duration::from_secs(120)));
        assert_eq!(s.estimate(11), None);
    }

    #[test]
    fn the_monthly_allowance_bounds_what_can_be_spent() {
        let s = status(Some(10), Some(2));
        assert!(s.can_spend_today(2) && !s.can_spend_today(3));
        assert_eq!(s.estimate(3), None);
    }

    #[test]
    fn windows_reset_at_utc_midnight_and_on_the_first() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        assert_eq!(
            until_midnight_utc(at("2026-12-31T23:59:30Z")),
            Duration::from_secs(30)
        );
        assert_eq!(
            until_next_month_utc(at("2026-12-31T23:59:30Z")),
            Duration::from_secs(30)
        );
        assert_eq!(
            until_next_month_utc(at("2027-02-27T00:00:00Z")),
            Duration::from_secs(2 * 86_400)
        );
        assert_eq!(utc_month(at("2027-01-01T00:00:00Z")), (2027, 1));
        for name in ["minute", "day", "month"] {
            assert_eq!(QuotaWindow::from_name(name).unwrap().as_str(), name);
        }
        assert_eq!(QuotaWindow::from_name("year"), None);
    }
}
