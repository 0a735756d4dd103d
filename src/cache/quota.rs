//! The shared quota windows in the SQLite store: [`SharedWindows`] for [`SqliteStore`], so
//! that every vtmcp process on the machine using one store file and one key spends one budget.
//!
//! A reservation is one `BEGIN IMMEDIATE` transaction (SQLite's write lock, taken before
//! reading): drop minute entries older than a minute, read the minute entries and the day and
//! month counts, decide with [`plan`], and record the slot. Two processes can never both see a
//! window with one free slot and both take it.

use super::key::Namespace;
use super::sqlite::{SqliteStore, StoreError, from_ms, to_ms};
use crate::client::ApiKey;
use crate::client::policy::{
    RateLimit, SharedError, SharedReservation, SharedUsage, SharedWindows, SlotId, shared::plan,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::time::SystemTime;

/// Minute entries further ahead than this are dropped: only a clock turned back can make them.
const FUTURE_LIMIT_MS: i64 = 24 * 3600 * 1000;
const MINUTE_MS: i64 = 60_000;

impl From<StoreError> for SharedError {
    fn from(e: StoreError) -> Self {
        SharedError(e.0)
    }
}

fn day_period(t: DateTime<Utc>) -> String {
    t.date_naive().to_string()
}

fn month_period(t: DateTime<Utc>) -> String {
    use chrono::Datelike;
    format!("{:04}-{:02}", t.year(), t.month())
}

/// The windows of `ns` at `now` (minute entries still in the window, counts of the current day
/// and month).
fn read_usage(conn: &Connection, ns: &Namespace, now: SystemTime) -> rusqlite::Result<SharedUsage> {
    let now_ms = to_ms(now);
    let t = DateTime::<Utc>::from(now);
    let mut usage = SharedUsage::empty(now);
    usage.minute = conn
        .prepare_cached(
            "SELECT at FROM quota_minute WHERE ns = ?1 AND at > ?2 AND at <= ?3 ORDER BY at, id",
        )?
        .query_map(
            params![
                &ns.as_bytes()[..],
                now_ms - MINUTE_MS,
                now_ms + FUTURE_LIMIT_MS
            ],
            |r| r.get::<_, i64>(0),
        )?
        .map(|r| r.map(from_ms))
        .collect::<rusqlite::Result<_>>()?;
    let count = |window: &str, period: &str| -> rusqlite::Result<u32> {
        let row: Option<(String, i64)> = conn
            .prepare_cached("SELECT period, used FROM quota_count WHERE ns = ?1 AND window = ?2")?
            .query_row(params![&ns.as_bytes()[..], window], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(match row {
            Some((p, used)) if p == period => u32::try_from(used.max(0)).unwrap_or(u32::MAX),
            _ => 0,
        })
    };
    usage.used_today = count("day", &day_period(t))?;
    usage.used_this_month = count("month", &month_period(t))?;
    Ok(usage)
}

/// Adds one request to the count of `window` for `period` (starting afresh in a new period).
fn bump(conn: &Connection, ns: &Namespace, window: &str, period: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO quota_count (ns, window, period, used) VALUES (?1, ?2, ?3, 1) \
         ON CONFLICT (ns, window) DO UPDATE SET \
         used = CASE WHEN period = excluded.period THEN used + 1 ELSE 1 END, \
         period = excluded.period",
    )?
    .execute(params![&ns.as_bytes()[..], window, period])?;
    Ok(())
}

impl SharedWindows for SqliteStore {
    fn namespace(&self, key: &ApiKey) -> Result<Namespace, SharedError> {
        Ok(SqliteStore::namespace(self, key)?)
    }

    fn reserve(
        &self,
        ns: &Namespace,
        limit: &RateLimit,
        now: SystemTime,
    ) -> Result<SharedReservation, SharedError> {
        let answer = self.with_conn("reserving a quota slot", |open| {
            let tx = open
                .conn()
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now_ms = to_ms(now);
            tx.prepare_cached("DELETE FROM quota_minute WHERE ns = ?1 AND (at <= ?2 OR at > ?3)")?
                .execute(params![
                    &ns.as_bytes()[..],
                    now_ms - MINUTE_MS,
                    now_ms + FUTURE_LIMIT_MS
                ])?;
            let mut usage = read_usage(&tx, ns, now)?;
            let at = match plan(limit, &usage, now) {
                Ok(at) => at,
                Err((window, limit, wait)) => {
                    tx.commit()?;
                    return Ok(SharedReservation::Refused {
                        window,
                        limit,
                        wait,
                        usage,
                    });
                }
            };
            // Recorded even without a per-minute limit, so that a process with one counts the
            // requests of a process without.
            tx.prepare_cached("INSERT INTO quota_minute (ns, at) VALUES (?1, ?2)")?
                .execute(params![&ns.as_bytes()[..], to_ms(at)])?;
            let stamp = tx.last_insert_rowid();
            let t = DateTime::<Utc>::from(now);
            bump(&tx, ns, "day", &day_period(t))?;
            bump(&tx, ns, "month", &month_period(t))?;
            tx.commit()?;
            usage.minute.push(at);
            usage.used_today += 1;
            usage.used_this_month += 1;
            Ok(SharedReservation::Granted {
                slot: SlotId {
                    stamp,
                    day: usage.day,
                    month: usage.month,
                },
                at,
                usage,
            })
        })?;
        Ok(answer)
    }

    fn release(&self, ns: &Namespace, slot: &SlotId) -> Result<(), SharedError> {
        self.with_conn("giving back a quota slot", |open| {
            let tx = open
                .conn()
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("DELETE FROM quota_minute WHERE id = ?1 AND ns = ?2")?
                .execute(params![slot.stamp, &ns.as_bytes()[..]])?;
            let month = format!("{:04}-{:02}", slot.month.0, slot.month.1);
            for (window, period) in [("day", slot.day.to_string()), ("month", month)] {
                tx.prepare_cached(
                    "UPDATE quota_count SET used = max(used - 1, 0) \
                     WHERE ns = ?1 AND window = ?2 AND period = ?3",
                )?
                .execute(params![&ns.as_bytes()[..], window, period])?;
            }
            tx.commit()
        })?;
        Ok(())
    }

    fn usage(&self, ns: &Namespace, now: SystemTime) -> Result<SharedUsage, SharedError> {
        Ok(self.with_conn("reading the quota windows", |open| {
            read_usage(open.conn(), ns, now)
        })?)
    }

    fn describe(&self) -> String {
        format!("SQLite file {}", self.path().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::QuotaWindow;
    use std::time::Duration;

    fn at(s: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(s).unwrap().into()
    }

    fn granted(r: SharedReservation) -> (SlotId, SystemTime) {
        match r {
            SharedReservation::Granted { slot, at, .. } => (slot, at),
            other => panic!("refused: {other:?}"),
        }
    }

    fn refused(r: SharedReservation) -> (QuotaWindow, u32, Duration) {
        match r {
            SharedReservation::Refused {
                window,
                limit,
                wait,
                ..
            } => (window, limit, wait),
            other => panic!("granted: {other:?}"),
        }
    }

    fn store() -> (tempfile::TempDir, SqliteStore, Namespace) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::new(dir.path().join("q.sqlite3"));
        let ns = SqliteStore::namespace(&store, &ApiKey::new("k".repeat(64))).unwrap();
        (dir, store, ns)
    }

    #[test]
    fn the_minute_window_grants_waits_and_refuses() {
        let (_dir, store, ns) = store();
        let limit = RateLimit::public().max_wait(Duration::from_secs(90));
        let t0 = at("2026-12-06T10:00:00Z");
        for _ in 0..4 {
            assert_eq!(granted(store.reserve(&ns, &limit, t0).unwrap()).1, t0);
        }
        // The fifth waits for the first to be a minute old; the ninth would wait two minutes.
        let (_, fifth) = granted(store.reserve(&ns, &limit, t0).unwrap());
        assert_eq!(fifth, t0 + Duration::from_secs(60));
        for _ in 0..3 {
            granted(store.reserve(&ns, &limit, t0).unwrap());
        }
        assert_eq!(
            refused(store.reserve(&ns, &limit, t0).unwrap()),
            (QuotaWindow::Minute, 4, Duration::from_secs(120))
        );
        let status = store.usage(&ns, t0).unwrap().status(&limit, t0);
        assert_eq!((status.used_last_minute, status.used_today), (4, 8));
        // Two minutes on, the window is empty again.
        let later = t0 + Duration::from_secs(121);
        assert_eq!(granted(store.reserve(&ns, &limit, later).unwrap()).1, later);
    }

    #[test]
    fn the_day_window_is_a_utc_day_and_released_slots_come_back() {
        let (_dir, store, ns) = store();
        let limit = RateLimit::unlimited().per_day(3);
        let evening = at("2026-12-06T23:59:58Z");
        let (slot, _) = granted(store.reserve(&ns, &limit, evening).unwrap());
        granted(store.reserve(&ns, &limit, evening).unwrap());
        granted(store.reserve(&ns, &limit, evening).unwrap());
        assert_eq!(
            refused(store.reserve(&ns, &limit, evening).unwrap()),
            (QuotaWindow::Day, 3, Duration::from_secs(2))
        );
        // A slot given back (its call was dropped) can be taken again.
        store.release(&ns, &slot).unwrap();
        granted(store.reserve(&ns, &limit, evening).unwrap());
        assert_eq!(
            refused(store.reserve(&ns, &limit, evening).unwrap()).0,
            QuotaWindow::Day
        );
        // Past 00:00 UTC the budget starts again; releasing yesterday's slot changes nothing.
        let morning = at("2026-12-07T00:00:01Z");
        granted(store.reserve(&ns, &limit, morning).unwrap());
        store.release(&ns, &slot).unwrap();
        assert_eq!(store.usage(&ns, morning).unwrap().used_today, 1);
        // Other keys have their own windows.
        let other = SqliteStore::namespace(&store, &ApiKey::new("o".repeat(64))).unwrap();
        assert_eq!(store.usage(&other, evening).unwrap().used_today, 0);
    }

    #[test]
    fn the_month_window_counts_across_days() {
        let (_dir, store, ns) = store();
        let limit = RateLimit::unlimited().per_day(10).per_month(3);
        for day in [
            "2026-12-01T12:00:00Z",
            "2026-12-02T12:00:00Z",
            "2026-12-03T12:00:00Z",
        ] {
            granted(store.reserve(&ns, &limit, at(day)).unwrap());
        }
        assert_eq!(
            refused(
                store
                    .reserve(&ns, &limit, at("2026-12-31T23:00:00Z"))
                    .unwrap()
            ),
            (QuotaWindow::Month, 3, Duration::from_secs(3600))
        );
        granted(
            store
                .reserve(&ns, &limit, at("2027-01-01T00:00:00Z"))
                .unwrap(),
        );
    }

    #[test]
    fn a_clock_turned_back_does_not_block_for_ever() {
        let (_dir, store, ns) = store();
        let limit = RateLimit::per_minute(1).max_wait(Duration::from_secs(5));
        let late = at("2026-12-08T10:00:00Z");
        granted(store.reserve(&ns, &limit, late).unwrap());
        // Two days earlier by the clock: the entry "in the future" is dropped.
        let early = at("2026-12-06T10:00:00Z");
        assert_eq!(granted(store.reserve(&ns, &limit, early).unwrap()).1, early);
    }
}
