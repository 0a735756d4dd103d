//! Request policy: the local rate limiter (per-minute spacing and a daily budget), the retry
//! policy for requests that are safe to repeat, and the wait events both of them report.
//!
//! Every [`Client`](crate::Client) carries one [`RateLimiter`], shared by all its clones; every
//! request to the VirusTotal origin (generated methods, uploads, retries) takes a slot from it
//! before it is sent. A wait for a slot is an ordinary `tokio` sleep: dropping the future stops
//! waiting and gives the slot back. A wait longer than [`RateLimit::max_wait`] is not started:
//! the call fails at once with [`Error::QuotaWait`], which says how
//! long the wait would have been.

use crate::Error;
use std::{
    collections::VecDeque,
    fmt,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;

/// The length of the sliding window of a per-minute limit.
const MINUTE: Duration = Duration::from_secs(60);

/// The quota window a local limit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaWindow {
    /// A per-minute limit (a sliding window of 60 s).
    Minute,
    /// A daily budget (a UTC day: VirusTotal resets daily quotas at 00:00 UTC).
    Day,
}

impl QuotaWindow {
    /// `"minute"` or `"day"`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaWindow::Minute => "minute",
            QuotaWindow::Day => "day",
        }
    }
}

impl fmt::Display for QuotaWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many requests a client may send: a per-minute limit, a daily budget, and how long a call
/// may wait for a free slot.
///
/// * [`RateLimit::public()`]: a free ("public API") key: 4 requests per minute and 500 per day.
/// * [`RateLimit::per_minute(n)`](RateLimit::per_minute): a premium contract's rate, no daily
///   budget (add one with [`RateLimit::per_day`]).
/// * [`RateLimit::unlimited()`] (the default of [`ClientBuilder`](crate::ClientBuilder)): no
///   local limit; VirusTotal's own 429 answers are still retried for `GET`s (see
///   [`RetryPolicy`]).
///
/// The per-minute limit is a sliding window: at most `n` requests in any 60 seconds, so `n`
/// requests can go out at once and request `n + 1` waits until the first one is a minute old.
/// The daily budget counts the requests sent since 00:00 UTC by this client (and its clones);
/// requests made elsewhere with the same key are not seen.
///
/// ```
/// use std::time::Duration;
/// use vtmcp::client::RateLimit;
///
/// let free = RateLimit::public();
/// assert_eq!((free.requests_per_minute(), free.requests_per_day()), (Some(4), Some(500)));
/// let premium = RateLimit::per_minute(1000).per_day(100_000).max_wait(Duration::from_secs(10));
/// assert_eq!(premium.max_wait_duration(), Duration::from_secs(10));
/// assert!(RateLimit::unlimited().is_unlimited());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    per_minute: Option<u32>,
    per_day: Option<u32>,
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
            per_day: None,
            max_wait: Self::DEFAULT_MAX_WAIT,
        }
    }

    /// No local limit at all.
    pub fn unlimited() -> Self {
        RateLimit {
            per_minute: None,
            per_day: None,
            max_wait: Self::DEFAULT_MAX_WAIT,
        }
    }

    /// Adds a daily budget of `n` requests per UTC day (`0` is taken as 1).
    pub fn per_day(mut self, n: u32) -> Self {
        self.per_day = Some(n.max(1));
        self
    }

    /// The longest a call may wait for a per-minute slot (default
    /// [`RateLimit::DEFAULT_MAX_WAIT`]). A call that would wait longer fails at once with
    /// [`Error::QuotaWait`]; `Duration::ZERO` means never wait.
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

    /// The longest a call may wait for a slot.
    pub fn max_wait_duration(&self) -> Duration {
        self.max_wait
    }

    /// Whether there is no local limit.
    pub fn is_unlimited(&self) -> bool {
        self.per_minute.is_none() && self.per_day.is_none()
    }
}

/// A snapshot of the local quota, from [`Client::quota_status`](crate::Client::quota_status).
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
}

impl QuotaStatus {
    /// Whether `n` more requests fit in today's budget.
    pub fn can_spend_today(&self, n: u32) -> bool {
        self.remaining_today.is_none_or(|r| n <= r)
    }

    /// About how long `n` requests take under the per-minute limit (zero without one), or
    /// `None` when they do not fit in today's budget. An estimate: other calls made meanwhile
    /// and VirusTotal's own answers are not foreseen.
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

/// Something a call is waiting for. Sent to the wait reporters (see [`with_wait_reporter`] and
/// [`ClientBuilder::on_wait`](crate::ClientBuilder::on_wait)); its `Display` is a sentence a
/// person can read in a progress notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitEvent {
    /// Waiting for a slot of the local per-minute limit before sending.
    RateLimit {
        /// Operation id.
        operation: String,
        /// How long the call waits.
        wait: Duration,
        /// The limit (requests per minute).
        per_minute: u32,
    },
    /// Waiting before repeating a `GET` that failed in a way that may pass.
    Retry {
        /// Operation id.
        operation: String,
        /// Which retry this is (1 for the first).
        attempt: u32,
        /// The most retries the policy allows.
        max_retries: u32,
        /// How long the call waits before repeating.
        wait: Duration,
        /// Why the request is repeated (e.g. `HTTP 503 TransientError`).
        reason: String,
    },
    /// [`Client::wait_for_analysis`](crate::Client::wait_for_analysis): the analysis is not
    /// complete yet.
    Analysis {
        /// Analysis id.
        id: String,
        /// Its status (`queued`, `in-progress`).
        status: String,
        /// Polls made so far.
        polls: u32,
        /// Time since the wait began.
        elapsed: Duration,
        /// Time until the next poll.
        wait: Duration,
        /// When the wait gives up ([`AnalysisWait::timeout`](crate::client::AnalysisWait::timeout)),
        /// counted from its start.
        timeout: Duration,
    },
}

impl WaitEvent {
    /// How long this wait lasts.
    pub fn wait(&self) -> Duration {
        match self {
            WaitEvent::RateLimit { wait, .. }
            | WaitEvent::Retry { wait, .. }
            | WaitEvent::Analysis { wait, .. } => *wait,
        }
    }

    /// How far the wait has got when it is reported, and how long it can last in all: for a
    /// rate limit or a retry the wait itself (`(0, wait)`), for an analysis the time since it
    /// began and its timeout. Progress notifications use them as value and total.
    pub fn span(&self) -> (Duration, Duration) {
        match self {
            WaitEvent::RateLimit { wait, .. } | WaitEvent::Retry { wait, .. } => {
                (Duration::ZERO, *wait)
            }
            WaitEvent::Analysis {
                elapsed, timeout, ..
            } => ((*elapsed).min(*timeout), *timeout),
        }
    }

    /// What the wait is for, when several events report one wait (the polls of one analysis):
    /// events with the same key continue one wait; `None` is a wait of its own.
    pub fn wait_key(&self) -> Option<&str> {
        match self {
            WaitEvent::Analysis { id, .. } => Some(id),
            WaitEvent::RateLimit { .. } | WaitEvent::Retry { .. } => None,
        }
    }
}

impl fmt::Display for WaitEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitEvent::RateLimit {
                operation,
                wait,
                per_minute,
            } => write!(
                f,
                "{operation}: waiting {} for the rate limit ({per_minute} requests per minute)",
                human(*wait)
            ),
            WaitEvent::Retry {
                operation,
                attempt,
                max_retries,
                wait,
                reason,
            } => write!(
                f,
                "{operation}: {reason}; retry {attempt} of {max_retries} in {}",
                human(*wait)
            ),
            WaitEvent::Analysis {
                id,
                status,
                polls,
                elapsed,
                wait,
                ..
            } => write!(
                f,
                "analysis {id} is {status} after {} ({polls} polls); next poll in {}",
                human(*elapsed),
                human(*wait)
            ),
        }
    }
}

/// A callback that receives [`WaitEvent`]s.
pub type WaitReporter = Arc<dyn Fn(&WaitEvent) + Send + Sync>;

tokio::task_local! {
    static WAIT_REPORTER: WaitReporter;
}

/// Runs `future` with `reporter` receiving every [`WaitEvent`] of the requests it makes (rate
/// limit waits, retries, analysis polls). The reporter is bound to the current task: requests
/// made by tasks that `future` spawns are not reported. It is called synchronously from the
/// request path, so it must be quick: send the event into a channel rather than doing I/O.
///
/// ```no_run
/// # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
/// use vtmcp::client::{WaitEvent, with_wait_reporter};
///
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
/// tokio::spawn(async move {
///     while let Some(message) = rx.recv().await {
///         eprintln!("progress: {message}"); // e.g. an MCP progress notification
///     }
/// });
/// let report = with_wait_reporter(
///     move |event: &WaitEvent| {
///         let _ = tx.send(event.to_string());
///     },
///     client.get_file().id("44d88612fea8a8f36de82e1278abb02f").send(),
/// )
/// .await;
/// # Ok(()) }
/// ```
pub async fn with_wait_reporter<F, R>(reporter: R, future: F) -> F::Output
where
    F: Future,
    R: Fn(&WaitEvent) + Send + Sync + 'static,
{
    WAIT_REPORTER.scope(Arc::new(reporter), future).await
}

/// Sends `event` to the reporter of the current task (if any) and to the client's (if any).
pub(crate) fn report(client_reporter: Option<&WaitReporter>, event: &WaitEvent) {
    tracing::debug!(target: "vtmcp::client", "{event}");
    let _ = WAIT_REPORTER.try_with(|r| r(event));
    if let Some(r) = client_reporter {
        r(event);
    }
}

/// The local rate limiter of a [`Client`](crate::Client) (see [`RateLimit`]). All clones of a
/// client share one; [`Client::rate_limiter`](crate::Client::rate_limiter) returns it, so code
/// that sends its own requests with the same key can take slots from it too.
pub struct RateLimiter {
    limit: RateLimit,
    state: Mutex<LimiterState>,
}

struct LimiterState {
    /// Send times of the requests of the last minute, oldest first (reservations may lie in the
    /// future).
    log: VecDeque<Slot>,
    next_id: u64,
    day: chrono::NaiveDate,
    used_today: u32,
}

struct Slot {
    id: u64,
    at: Instant,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// A slot taken but not yet used: dropping it gives it back.
struct Reservation<'a> {
    limiter: &'a RateLimiter,
    id: u64,
    at: Instant,
    day: chrono::NaiveDate,
    committed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let mut st = self.limiter.lock();
        if let Some(i) = st.log.iter().position(|s| s.id == self.id) {
            st.log.remove(i);
        }
        if st.day == self.day {
            st.used_today = st.used_today.saturating_sub(1);
        }
    }
}

impl RateLimiter {
    /// A limiter enforcing `limit`.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            state: Mutex::new(LimiterState {
                log: VecDeque::new(),
                next_id: 0,
                day: today(),
                used_today: 0,
            }),
        }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> &RateLimit {
        &self.limit
    }

    /// Waits for a slot for one request of `operation`, reporting the wait to the current
    /// task's reporter (see [`with_wait_reporter`]). Fails at once with [`Error::QuotaWait`]
    /// when today's budget is spent or the wait would exceed [`RateLimit::max_wait`]. Dropping
    /// the future while it waits gives the slot back.
    pub async fn acquire(&self, operation: &str) -> Result<(), Error> {
        self.acquire_reporting(operation, None).await
    }

    pub(crate) async fn acquire_reporting(
        &self,
        operation: &str,
        client_reporter: Option<&WaitReporter>,
    ) -> Result<(), Error> {
        if self.limit.is_unlimited() {
            return Ok(());
        }
        let mut reservation = self.reserve(operation)?;
        let wait = reservation.at.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            report(
                client_reporter,
                &WaitEvent::RateLimit {
                    operation: operation.to_string(),
                    wait,
                    per_minute: self.limit.per_minute.unwrap_or(0),
                },
            );
            tokio::time::sleep_until(reservation.at).await;
        }
        reservation.committed = true;
        Ok(())
    }

    /// The local quota as it stands.
    pub fn status(&self) -> QuotaStatus {
        let now = Instant::now();
        let mut st = self.lock();
        st.roll_day();
        st.prune(now);
        let used_last_minute = st
            .log
            .iter()
            .filter(|s| s.at <= now && s.at + MINUTE > now)
            .count() as u32;
        let next_slot_in = self.next_slot(&st, now).saturating_duration_since(now);
        QuotaStatus {
            per_minute: self.limit.per_minute,
            used_last_minute,
            next_slot_in,
            per_day: self.limit.per_day,
            used_today: st.used_today,
            remaining_today: self.limit.per_day.map(|d| d.saturating_sub(st.used_today)),
            day_resets_in: until_midnight_utc(),
        }
    }

    /// Whether today's budget is spent (always false without a budget).
    pub(crate) fn daily_budget_spent(&self) -> bool {
        let Some(per_day) = self.limit.per_day else {
            return false;
        };
        let mut st = self.lock();
        st.roll_day();
        st.used_today >= per_day
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The earliest time a new request may go out under the per-minute limit.
    fn next_slot(&self, st: &LimiterState, now: Instant) -> Instant {
        let Some(n) = self.limit.per_minute else {
            return now;
        };
        let n = n as usize;
        let mut at = now;
        // Keep the log in send order: never before the last reservation.
        if let Some(last) = st.log.back() {
            at = at.max(last.at);
        }
        if st.log.len() >= n {
            at = at.max(st.log[st.log.len() - n].at + MINUTE);
        }
        at
    }

    fn reserve(&self, operation: &str) -> Result<Reservation<'_>, Error> {
        let now = Instant::now();
        let mut st = self.lock();
        st.roll_day();
        st.prune(now);
        if let Some(per_day) = self.limit.per_day
            && st.used_today >= per_day
        {
            return Err(Error::QuotaWait {
                operation: operation.to_string(),
                window: QuotaWindow::Day,
                limit: per_day,
                wait: until_midnight_utc(),
                max_wait: self.limit.max_wait,
            });
        }
        let at = self.next_slot(&st, now);
        let wait = at.saturating_duration_since(now);
        if wait > self.limit.max_wait {
            return Err(Error::QuotaWait {
                operation: operation.to_string(),
                window: QuotaWindow::Minute,
                limit: self.limit.per_minute.unwrap_or(0),
                wait,
                max_wait: self.limit.max_wait,
            });
        }
        let id = st.next_id;
        st.next_id += 1;
        if self.limit.per_minute.is_some() {
            st.log.push_back(Slot { id, at });
        }
        st.used_today += 1;
        Ok(Reservation {
            limiter: self,
            id,
            at,
            day: st.day,
            committed: false,
        })
    }
}

impl LimiterState {
    fn roll_day(&mut self) {
        let d = today();
        if d != self.day {
            self.day = d;
            self.used_today = 0;
        }
    }

    fn prune(&mut self, now: Instant) {
        while self.log.front().is_some_and(|s| s.at + MINUTE <= now) {
            self.log.pop_front();
        }
    }
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn until_midnight_utc() -> Duration {
    let now = chrono::Utc::now();
    let midnight = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    midnight
        .and_then(|m| (m - now).to_std().ok())
        .unwrap_or(Duration::ZERO)
}

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
///   a batch job without a local [`RateLimit`] is the case for turning it on.
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

/// A duration for people: `45 s`, `3 min 5 s`, `2 h 10 min`.
pub(crate) fn human(d: Duration) -> String {
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

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_secs(120)), "2 min");
        assert_eq!(human(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(human(Duration::from_secs(7800)), "2 h 10 min");
    }

    #[test]
    fn estimates() {
        let s = QuotaStatus {
            per_minute: Some(4),
            used_last_minute: 1,
            next_slot_in: Duration::ZERO,
            per_day: Some(500),
            used_today: 490,
            remaining_today: Some(10),
            day_resets_in: Duration::from_secs(3600),
        };
        assert!(s.can_spend_today(10) && !s.can_spend_today(11));
        assert_eq!(s.estimate(3), Some(Duration::ZERO));
        assert_eq!(s.estimate(7), Some(Duration::from_secs(60)));
        assert_eq!(s.estimate(8), Some(Duration::from_secs(120)));
        assert_eq!(s.estimate(11), None);
    }
}
