//! Quota windows shared between processes: the [`SharedWindows`] trait a store implements (the
//! SQLite store of [`crate::cache`] does; a Redis store can), and the sliding-window arithmetic
//! every implementation applies, so that all of them decide alike.
//!
//! A store keeps, per key namespace (a salted hash of the API key, never the key): the send
//! times of the requests of the last minute (reservations may lie in the future), the count of
//! the current UTC day and the count of the current UTC month. [`SharedWindows::reserve`] must
//! be atomic across every process using the store: read the windows, decide with [`plan`], and
//! record the slot, with no other reservation in between (SQLite: one `BEGIN IMMEDIATE`
//! transaction; Redis: one script).
//!
//! The methods block (file or network I/O): the limiter calls them on tokio's blocking pool.

use super::{
    MINUTE, QuotaStatus, QuotaWindow, RateLimit, until_midnight_utc, until_next_month_utc,
};
use crate::cache::Namespace;
use crate::client::ApiKey;
use chrono::{DateTime, NaiveDate, Utc};
use std::{
    fmt,
    time::{Duration, SystemTime},
};

/// A store of quota windows that several processes share (see the [module](self) docs).
pub trait SharedWindows: Send + Sync + fmt::Debug {
    /// The namespace of `key` in this store: a salted hash, the same in every process that
    /// uses the store. The key itself is never stored.
    fn namespace(&self, key: &ApiKey) -> Result<Namespace, SharedError>;

    /// Atomically decides whether a request may go out under `limit` at `now` (see [`plan`]),
    /// and if so records its slot: at `now` or, when the per-minute window is full, at the
    /// time the answer names (the caller waits until then).
    fn reserve(
        &self,
        ns: &Namespace,
        limit: &RateLimit,
        now: SystemTime,
    ) -> Result<SharedReservation, SharedError>;

    /// Gives back a slot that `reserve` granted but that was not used (the call was dropped
    /// while it waited): its minute entry goes, and the day and month counts go down by one
    /// if they are still those of the slot.
    fn release(&self, ns: &Namespace, slot: &SlotId) -> Result<(), SharedError>;

    /// The windows of `ns` as they stand at `now`.
    fn usage(&self, ns: &Namespace, now: SystemTime) -> Result<SharedUsage, SharedError>;

    /// Where the windows are kept, for messages (no secrets).
    fn describe(&self) -> String;
}

/// A store that cannot be used (unreadable, corrupt, unwritable, unreachable). The limiter
/// then counts in-process and logs a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedError(pub String);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SharedError {}

/// A slot granted by [`SharedWindows::reserve`], for [`SharedWindows::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotId {
    /// The store's id of the minute entry (0 when there is no per-minute limit).
    pub stamp: i64,
    /// The UTC day the slot was counted in.
    pub day: NaiveDate,
    /// The UTC month `(year, month)` the slot was counted in.
    pub month: (i32, u32),
}

/// The answer of [`SharedWindows::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedReservation {
    /// The request may go out at `at` (now, or later when the minute window is full).
    Granted {
        /// The slot, to give back if the call is dropped before `at`.
        slot: SlotId,
        /// When the request may go out.
        at: SystemTime,
        /// The windows after the reservation.
        usage: SharedUsage,
    },
    /// The request may not go out: a budget is spent, or the wait would exceed the limit's
    /// `max_wait`. Nothing was recorded.
    Refused {
        /// The window that refused.
        window: QuotaWindow,
        /// Its limit.
        limit: u32,
        /// How long the call would have had to wait.
        wait: Duration,
        /// The windows as they stand.
        usage: SharedUsage,
    },
}

/// The shared windows of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedUsage {
    /// When the windows were read.
    pub read_at: SystemTime,
    /// Send times of the requests of the last minute, oldest first (reservations may lie in the
    /// future).
    pub minute: Vec<SystemTime>,
    /// The UTC day `used_today` counts.
    pub day: NaiveDate,
    /// Requests counted on `day`.
    pub used_today: u32,
    /// The UTC month `used_this_month` counts.
    pub month: (i32, u32),
    /// Requests counted in `month`.
    pub used_this_month: u32,
}

impl SharedUsage {
    /// Empty windows at `now`.
    pub fn empty(now: SystemTime) -> Self {
        let t = DateTime::<Utc>::from(now);
        SharedUsage {
            read_at: now,
            minute: Vec::new(),
            day: super::utc_day(t),
            used_today: 0,
            month: super::utc_month(t),
            used_this_month: 0,
        }
    }

    /// Requests counted today as of `now` (0 once the UTC day has changed).
    pub fn used_on(&self, now: SystemTime) -> u32 {
        if self.day == super::utc_day(DateTime::<Utc>::from(now)) {
            self.used_today
        } else {
            0
        }
    }

    /// Requests counted this month as of `now` (0 once the UTC month has changed).
    pub fn used_in_month_of(&self, now: SystemTime) -> u32 {
        if self.month == super::utc_month(DateTime::<Utc>::from(now)) {
            self.used_this_month
        } else {
            0
        }
    }

    /// The minute entries still inside the window at `now`.
    fn live_minute(&self, now: SystemTime) -> impl Iterator<Item = SystemTime> + '_ {
        self.minute
            .iter()
            .copied()
            .filter(move |t| *t + MINUTE > now)
    }

    /// The quota status these windows give under `limit` at `now`.
    pub fn status(&self, limit: &RateLimit, now: SystemTime) -> QuotaStatus {
        let t = DateTime::<Utc>::from(now);
        let used_last_minute = self.live_minute(now).filter(|s| *s <= now).count() as u32;
        let next = next_minute_slot(limit, self, now);
        let used_today = self.used_on(now);
        let used_this_month = self.used_in_month_of(now);
        QuotaStatus {
            per_minute: limit.requests_per_minute(),
            used_last_minute,
            next_slot_in: next.duration_since(now).unwrap_or(Duration::ZERO),
            per_day: limit.requests_per_day(),
            used_today,
            remaining_today: limit
                .requests_per_day()
                .map(|d| d.saturating_sub(used_today)),
            day_resets_in: until_midnight_utc(t),
            per_month: limit.requests_per_month(),
            used_this_month,
            remaining_this_month: limit
                .requests_per_month()
                .map(|m| m.saturating_sub(used_this_month)),
            shared: true,
        }
    }
}

/// The earliest time a new request may go out under the per-minute limit: `now`, never before
/// the last reservation (the log stays in send order), and when `n` requests already lie in
/// the window, a minute after the `n`-th newest.
pub fn next_minute_slot(limit: &RateLimit, usage: &SharedUsage, now: SystemTime) -> SystemTime {
    let Some(n) = limit.requests_per_minute() else {
        return now;
    };
    let live: Vec<SystemTime> = usage.live_minute(now).collect();
    let mut at = now;
    if let Some(last) = live.last() {
        at = at.max(*last);
    }
    let n = n as usize;
    if live.len() >= n {
        at = at.max(live[live.len() - n] + MINUTE);
    }
    at
}

/// The decision every [`SharedWindows`] implementation makes from the windows it read: the
/// time the request may go out, or the window that refuses it with the wait it would need.
/// The daily budget and the monthly allowance refuse when spent (they do not pass by waiting
/// minutes); the minute window refuses when its wait would exceed `limit`'s `max_wait`.
pub fn plan(
    limit: &RateLimit,
    usage: &SharedUsage,
    now: SystemTime,
) -> Result<SystemTime, (QuotaWindow, u32, Duration)> {
    let t = DateTime::<Utc>::from(now);
    if let Some(per_day) = limit.requests_per_day()
        && usage.used_on(now) >= per_day
    {
        return Err((QuotaWindow::Day, per_day, until_midnight_utc(t)));
    }
    if let Some(per_month) = limit.requests_per_month()
        && usage.used_in_month_of(now) >= per_month
    {
        return Err((QuotaWindow::Month, per_month, until_next_month_utc(t)));
    }
    let at = next_minute_slot(limit, usage, now);
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    if wait > limit.max_wait_duration() {
        return Err((
            QuotaWindow::Minute,
            limit.requests_per_minute().unwrap_or(0),
            wait,
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(s).unwrap().into()
    }

    #[test]
    fn the_minute_window_slides_and_keeps_send_order() {
        let now = at("2026-12-06T10:00:30Z");
        let limit = RateLimit::per_minute(2).max_wait(Duration::from_secs(120));
        let mut usage = SharedUsage::empty(now);
        assert_eq!(plan(&limit, &usage, now), Ok(now));
        usage.minute = vec![at("2026-12-06T09:59:40Z"), at("2026-12-06T10:00:10Z")];
        // Full: the next slot is a minute after the older of the two.
        assert_eq!(plan(&limit, &usage, now), Ok(at("2026-12-06T10:00:40Z")));
        // An entry older than a minute no longer counts.
        let later = at("2026-12-06T10:00:45Z");
        assert_eq!(plan(&limit, &usage, later), Ok(later));
        // A reservation in the future keeps later requests behind it.
        usage.minute = vec![at("2026-12-06T10:00:50Z")];
        assert_eq!(plan(&limit, &usage, now), Ok(at("2026-12-06T10:00:50Z")));
        let short = limit.clone().max_wait(Duration::from_secs(5));
        assert_eq!(
            plan(&short, &usage, now),
            Err((QuotaWindow::Minute, 2, Duration::from_secs(20)))
        );
    }

    #[test]
    fn the_day_budget_is_a_utc_day() {
        let limit = RateLimit::unlimited().per_day(2);
        let evening = at("2026-12-06T23:59:59Z");
        let mut usage = SharedUsage::empty(evening);
        usage.used_today = 2;
        assert_eq!(
            plan(&limit, &usage, evening),
            Err((QuotaWindow::Day, 2, Duration::from_secs(1)))
        );
        // The count belongs to the 6th: on the 7th it starts again.
        let morning = at("2026-12-07T00:00:01Z");
        assert_eq!(plan(&limit, &usage, morning), Ok(morning));
        assert_eq!(usage.status(&limit, morning).remaining_today, Some(2));
    }

    #[test]
    fn the_month_allowance_is_a_utc_month() {
        let limit = RateLimit::unlimited().per_month(10);
        let last = at("2026-12-31T23:00:00Z");
        let mut usage = SharedUsage::empty(last);
        usage.used_this_month = 10;
        assert_eq!(
            plan(&limit, &usage, last),
            Err((QuotaWindow::Month, 10, Duration::from_secs(3600)))
        );
        let first = at("2027-01-01T00:00:00Z");
        assert_eq!(plan(&limit, &usage, first), Ok(first));
    }

    #[test]
    fn status_counts_what_the_store_holds() {
        let now = at("2026-12-06T10:00:30Z");
        let limit = RateLimit::public();
        let mut usage = SharedUsage::empty(now);
        usage.minute = vec![at("2026-12-06T10:00:00Z"); 4];
        usage.used_today = 123;
        let s = usage.status(&limit, now);
        assert_eq!(s.used_last_minute, 4);
        assert_eq!(s.next_slot_in, Duration::from_secs(30));
        assert_eq!(s.remaining_today, Some(377));
        assert!(s.shared);
    }
}
