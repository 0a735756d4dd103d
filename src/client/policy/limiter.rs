//! The rate limiter every client carries: a per-minute sliding window, a UTC-day budget and a
//! UTC-month allowance, counted in this process or, with a [`SharedWindows`] store, in the
//! store for every process that uses it with the same key.
//!
//! In-process windows use tokio's clock (so tests can pause it); shared windows use the wall
//! clock, which every process on the machine agrees on. When the shared store fails, the
//! limiter logs a warning once and counts in-process until the store answers again: calls go
//! on, paced as if no other process used the key.

use super::{
    MINUTE, QuotaStatus, QuotaWindow, RateLimit, SharedError, SharedReservation, SharedUsage,
    SharedWindows, SlotId, WaitEvent, WaitReporter, report, until_midnight_utc,
    until_next_month_utc, utc_day, utc_month,
};
use crate::Error;
use crate::cache::Namespace;
use crate::client::ApiKey;
use std::{
    collections::VecDeque,
    fmt,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};
use tokio::time::Instant;

/// The rate limiter of a [`Client`](crate::Client) (see [`RateLimit`]). All clones of a
/// client share one; [`Client::rate_limiter`](crate::Client::rate_limiter) returns it, so code
/// that sends its own requests with the same key can take slots from it too.
pub struct RateLimiter {
    limit: std::sync::RwLock<RateLimit>,
    state: Mutex<LimiterState>,
    shared: Option<SharedQuota>,
}

struct LimiterState {
    /// Send times of the requests of the last minute, oldest first (reservations may lie in the
    /// future).
    log: VecDeque<Slot>,
    next_id: u64,
    day: chrono::NaiveDate,
    used_today: u32,
    month: (i32, u32),
    used_this_month: u32,
}

struct Slot {
    id: u64,
    at: Instant,
}

/// The shared store and what the limiter knows of it.
struct SharedQuota {
    windows: Arc<dyn SharedWindows>,
    key: ApiKey,
    ns: OnceLock<Namespace>,
    /// Whether the store failed last time (the warning is logged on the change).
    degraded: AtomicBool,
    /// The windows as the store last reported them.
    last: Mutex<Option<SharedUsage>>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit())
            .field(
                "shared",
                &self.shared.as_ref().map(|s| s.windows.describe()),
            )
            .finish_non_exhaustive()
    }
}

/// An in-process slot taken but not yet used: dropping it gives it back.
struct Reservation<'a> {
    limiter: &'a RateLimiter,
    id: u64,
    at: Instant,
    day: chrono::NaiveDate,
    month: (i32, u32),
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
        if st.month == self.month {
            st.used_this_month = st.used_this_month.saturating_sub(1);
        }
    }
}

/// A shared slot granted but not yet used: dropping it gives it back to the store (on the
/// blocking pool when a runtime is there).
struct SharedSlot {
    windows: Arc<dyn SharedWindows>,
    ns: Namespace,
    slot: Option<SlotId>,
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let windows = self.windows.clone();
        let ns = self.ns.clone();
        let release = move || {
            if let Err(e) = windows.release(&ns, &slot) {
                tracing::debug!(target: "vtmcp::client", "giving back a quota slot failed: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(release);
            }
            Err(_) => release(),
        }
    }
}

impl SharedQuota {
    /// The key's namespace in the store (computed once; opening the store may block).
    async fn namespace(&self) -> Result<Namespace, SharedError> {
        if let Some(ns) = self.ns.get() {
            return Ok(ns.clone());
        }
        let windows = self.windows.clone();
        let key = self.key.clone();
        let ns = tokio::task::spawn_blocking(move || windows.namespace(&key))
            .await
            .map_err(|e| SharedError(format!("the quota store's task failed: {e}")))??;
        Ok(self.ns.get_or_init(|| ns).clone())
    }

    fn failed(&self, e: &SharedError) {
        if !self.degraded.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                target: "vtmcp::client",
                "the shared quota store ({}) cannot be used: {e}; counting this process's \
                 requests only, as if no other process used the key",
                self.windows.describe()
            );
        }
    }

    fn answered(&self, usage: SharedUsage) {
        if self.degraded.swap(false, Ordering::SeqCst) {
            tracing::info!(
                target: "vtmcp::client",
                "the shared quota store ({}) answers again",
                self.windows.describe()
            );
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(usage);
    }

    /// The last windows the store reported, unless it has failed since.
    fn snapshot(&self) -> Option<SharedUsage> {
        if self.degraded.load(Ordering::SeqCst) {
            return None;
        }
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl RateLimiter {
    /// A limiter enforcing `limit`, counting in this process.
    pub fn new(limit: RateLimit) -> Self {
        let now = chrono::Utc::now();
        RateLimiter {
            limit: std::sync::RwLock::new(limit),
            state: Mutex::new(LimiterState {
                log: VecDeque::new(),
                next_id: 0,
                day: utc_day(now),
                used_today: 0,
                month: utc_month(now),
                used_this_month: 0,
            }),
            shared: None,
        }
    }

    /// A limiter enforcing `limit` on windows kept in `windows` under `key`'s namespace, shared
    /// with every process that uses the same store and key. Nothing is opened until the first
    /// request; when the store fails, the limiter counts in-process (see the module docs).
    pub fn shared(limit: RateLimit, windows: Arc<dyn SharedWindows>, key: ApiKey) -> Self {
        RateLimiter {
            shared: Some(SharedQuota {
                windows,
                key,
                ns: OnceLock::new(),
                degraded: AtomicBool::new(false),
                last: Mutex::new(None),
            }),
            ..RateLimiter::new(limit)
        }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> RateLimit {
        self.limit.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Enforces `limit` from now on (e.g. once the key's real allowances are known): windows
    /// already counted stay counted.
    pub fn set_limit(&self, limit: RateLimit) {
        *self.limit.write().unwrap_or_else(|p| p.into_inner()) = limit;
    }

    /// Whether the windows are kept in a shared store (which may be failing: see
    /// [`QuotaStatus::shared`] for what a status was computed from).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Waits for a slot for one request of `operation`, reporting the wait to the current
    /// task's reporter (see [`with_wait_reporter`](super::with_wait_reporter)). Fails at once
    /// with [`Error::QuotaWait`] when today's budget or this month's allowance is spent or the
    /// wait would exceed [`RateLimit::max_wait`]. Dropping the future while it waits gives the
    /// slot back.
    pub async fn acquire(&self, operation: &str) -> Result<(), Error> {
        self.acquire_reporting(operation, None).await
    }

    pub(crate) async fn acquire_reporting(
        &self,
        operation: &str,
        client_reporter: Option<&WaitReporter>,
    ) -> Result<(), Error> {
        if self.limit().is_unlimited() {
            return Ok(());
        }
        if let Some(shared) = &self.shared
            && let Some(result) = self
                .acquire_shared(shared, operation, client_reporter)
                .await
        {
            return result;
        }
        let mut reservation = self.reserve(operation)?;
        let wait = reservation.at.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            report(
                client_reporter,
                &WaitEvent::RateLimit {
                    operation: operation.to_string(),
                    wait,
                    per_minute: self.limit().per_minute.unwrap_or(0),
                },
            );
            tokio::time::sleep_until(reservation.at).await;
        }
        reservation.committed = true;
        Ok(())
    }

    /// Takes a slot from the shared store; `None` when the store failed (the caller then
    /// counts in-process).
    async fn acquire_shared(
        &self,
        shared: &SharedQuota,
        operation: &str,
        client_reporter: Option<&WaitReporter>,
    ) -> Option<Result<(), Error>> {
        let ns = match shared.namespace().await {
            Ok(ns) => ns,
            Err(e) => {
                shared.failed(&e);
                return None;
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let windows = shared.windows.clone();
        let limit = self.limit();
        let task_ns = ns.clone();
        tokio::task::spawn_blocking(move || {
            let answer = windows.reserve(&task_ns, &limit, SystemTime::now());
            // The call was dropped while the store decided: nobody will use the slot.
            if let Err(Ok(SharedReservation::Granted { slot, .. })) = tx.send(answer)
                && let Err(e) = windows.release(&task_ns, &slot)
            {
                tracing::debug!(target: "vtmcp::client", "giving back a quota slot failed: {e}");
            }
        });
        let answer = rx
            .await
            .unwrap_or_else(|_| Err(SharedError("the quota store's task failed".into())));
        match answer {
            Err(e) => {
                shared.failed(&e);
                None
            }
            Ok(SharedReservation::Refused {
                window,
                limit,
                wait,
                usage,
            }) => {
                shared.answered(usage);
                Some(Err(Error::QuotaWait {
                    operation: operation.to_string(),
                    window,
                    limit,
                    wait,
                    max_wait: self.limit().max_wait,
                }))
            }
            Ok(SharedReservation::Granted { slot, at, usage }) => {
                shared.answered(usage);
                let mut held = SharedSlot {
                    windows: shared.windows.clone(),
                    ns,
                    slot: Some(slot),
                };
                let wait = at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                if !wait.is_zero() {
                    report(
                        client_reporter,
                        &WaitEvent::RateLimit {
                            operation: operation.to_string(),
                            wait,
                            per_minute: self.limit().per_minute.unwrap_or(0),
                        },
                    );
                    tokio::time::sleep(wait).await;
                }
                held.slot = None;
                Some(Ok(()))
            }
        }
    }

    /// The quota as it stands, without waiting: with a shared store, as the store reported it
    /// with this process's last reservation (or [`current_status`](Self::current_status));
    /// before any, or while the store fails, this process's own count
    /// ([`QuotaStatus::shared`] says which).
    pub fn status(&self) -> QuotaStatus {
        if let Some(usage) = self.shared.as_ref().and_then(SharedQuota::snapshot) {
            return usage.status(&self.limit(), SystemTime::now());
        }
        self.local_status()
    }

    /// The quota as it stands, read from the shared store when there is one (every process's
    /// requests counted), else as [`status`](Self::status).
    pub async fn current_status(&self) -> QuotaStatus {
        if let Some(shared) = &self.shared {
            let read = async {
                let ns = shared.namespace().await?;
                let windows = shared.windows.clone();
                tokio::task::spawn_blocking(move || windows.usage(&ns, SystemTime::now()))
                    .await
                    .map_err(|e| SharedError(format!("the quota store's task failed: {e}")))?
            };
            match read.await {
                Ok(usage) => {
                    shared.answered(usage.clone());
                    return usage.status(&self.limit(), SystemTime::now());
                }
                Err(e) => shared.failed(&e),
            }
        }
        self.local_status()
    }

    fn local_status(&self) -> QuotaStatus {
        let now = Instant::now();
        let mut st = self.lock();
        st.roll();
        st.prune(now);
        let used_last_minute = st
            .log
            .iter()
            .filter(|s| s.at <= now && s.at + MINUTE > now)
            .count() as u32;
        let next_slot_in = self.next_slot(&st, now).saturating_duration_since(now);
        QuotaStatus {
            per_minute: self.limit().per_minute,
            used_last_minute,
            next_slot_in,
            per_day: self.limit().per_day,
            used_today: st.used_today,
            remaining_today: self
                .limit()
                .per_day
                .map(|d| d.saturating_sub(st.used_today)),
            day_resets_in: until_midnight_utc(chrono::Utc::now()),
            per_month: self.limit().per_month,
            used_this_month: st.used_this_month,
            remaining_this_month: self
                .limit()
                .per_month
                .map(|m| m.saturating_sub(st.used_this_month)),
            shared: false,
        }
    }

    /// Whether today's budget or this month's allowance is spent (always false without them):
    /// such a quota does not pass by waiting minutes.
    pub(crate) fn daily_budget_spent(&self) -> bool {
        let s = self.status();
        s.remaining_today == Some(0) || s.remaining_this_month == Some(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The earliest time a new request may go out under the per-minute limit.
    fn next_slot(&self, st: &LimiterState, now: Instant) -> Instant {
        let Some(n) = self.limit().per_minute else {
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
        let wall = chrono::Utc::now();
        let mut st = self.lock();
        st.roll();
        st.prune(now);
        if let Some(per_day) = self.limit().per_day
            && st.used_today >= per_day
        {
            return Err(Error::QuotaWait {
                operation: operation.to_string(),
                window: QuotaWindow::Day,
                limit: per_day,
                wait: until_midnight_utc(wall),
                max_wait: self.limit().max_wait,
            });
        }
        if let Some(per_month) = self.limit().per_month
            && st.used_this_month >= per_month
        {
            return Err(Error::QuotaWait {
                operation: operation.to_string(),
                window: QuotaWindow::Month,
                limit: per_month,
                wait: until_next_month_utc(wall),
                max_wait: self.limit().max_wait,
            });
        }
        let at = self.next_slot(&st, now);
        let wait = at.saturating_duration_since(now);
        if wait > self.limit().max_wait {
            return Err(Error::QuotaWait {
                operation: operation.to_string(),
                window: QuotaWindow::Minute,
                limit: self.limit().per_minute.unwrap_or(0),
                wait,
                max_wait: self.limit().max_wait,
            });
        }
        let id = st.next_id;
        st.next_id += 1;
        if self.limit().per_minute.is_some() {
            st.log.push_back(Slot { id, at });
        }
        st.used_today += 1;
        st.used_this_month += 1;
        Ok(Reservation {
            limiter: self,
            id,
            at,
            day: st.day,
            month: st.month,
            committed: false,
        })
    }
}

impl LimiterState {
    /// Starts the day's and the month's counts afresh when the UTC day or month has changed.
    fn roll(&mut self) {
        let now = chrono::Utc::now();
        let d = utc_day(now);
        if d != self.day {
            self.day = d;
            self.used_today = 0;
        }
        let m = utc_month(now);
        if m != self.month {
            self.month = m;
            self.used_this_month = 0;
        }
    }

    fn prune(&mut self, now: Instant) {
        while self.log.front().is_some_and(|s| s.at + MINUTE <= now) {
            self.log.pop_front();
        }
    }
}
