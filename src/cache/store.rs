//! The backend of the answer cache: the [`Store`] trait that [`Cache`](super::Cache) holds,
//! implemented by the SQLite file ([`SqliteStore`](super::SqliteStore), one machine) and by a
//! Redis server ([`RedisStore`](super::redis::RedisStore), a team).
//!
//! Why a trait and not an enum: every store is also the rate limiter's [`SharedWindows`], which
//! the limiter already holds as `Arc<dyn SharedWindows>`; with `Store: SharedWindows`, one
//! `Arc<dyn Store>` serves both the cache and the limiter (one connection, one salt), and a
//! backend is added by implementing two traits rather than by a match arm in every method.
//!
//! The methods block (file or network I/O, with bounded waits): the cache calls them on tokio's
//! blocking pool. A store that cannot be used answers with a [`StoreError`] quickly and says
//! why in [`Store::problem`]; the cache then misses, stores nothing, and calls go upstream.

use super::key::Namespace;
use super::sqlite::{CacheStats, Entry, StoreError};
use crate::client::policy::{SharedError, SharedWindows};
use std::{path::Path, time::SystemTime};

/// Where cached answers are kept (see the [module](self) docs). The key namespace is
/// [`SharedWindows::namespace`]: one salt per store, shared by the answers and the windows.
pub trait Store: SharedWindows {
    /// The answer stored for `key` in `ns`, unless it has expired at `now`.
    fn get(&self, ns: &Namespace, key: &str, now: SystemTime) -> Result<Option<Entry>, StoreError>;

    /// Stores `entry` for `key` in `ns` until its `expires_at` (`None`: as long as the store
    /// keeps anything), within the size bound `max_bytes` where the store enforces one. An
    /// answer larger than `max_bytes` alone is not stored. Returns whether it was stored.
    fn put(
        &self,
        ns: &Namespace,
        key: &str,
        entry: &Entry,
        max_bytes: u64,
    ) -> Result<bool, StoreError>;

    /// What the store holds.
    fn stats(&self) -> Result<CacheStats, StoreError>;

    /// Removes every cached answer (the quota windows stay); returns how many.
    fn clear(&self) -> Result<u64, StoreError>;

    /// Why the store is not used right now, if it is not (a broken file for good, a Redis
    /// server until it answers again). Never holds a secret.
    fn problem(&self) -> Option<String>;

    /// The file, for a store that is one.
    fn path(&self) -> Option<&Path> {
        None
    }
}

impl From<SharedError> for StoreError {
    fn from(e: SharedError) -> Self {
        StoreError(e.0)
    }
}
