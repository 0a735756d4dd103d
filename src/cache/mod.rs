//! The answer cache and the store the rate limiter's windows can share: VirusTotal answers
//! whose content does not depend on who asks (files, URLs, domains, IPs, analyses, ATT&CK, …;
//! which operations, and for how long, is decided in the spec with `x-vt-cache`, see
//! [`TtlClass`]) are kept in an SQLite file in the user's cache directory, so that a second
//! look at the same object spends no quota, across processes and restarts; or, for a team, on
//! a Redis server ([`redis`]) that N instances on N machines share.
//!
//! * [`CacheConfig`]: where answers are kept (`--cache sqlite[:PATH]` / `redis://…` / `off`),
//!   the lifetimes ([`TtlTable`], `--cache-ttl`) and the size bound.
//! * [`Cache`]: the async front, cheap to clone. It opens nothing until first used (start-up
//!   stays fast), runs SQLite on tokio's blocking pool, and joins concurrent identical requests
//!   into one upstream request ([`Cache::get_or_fetch`]).
//! * [`Store`] (in [`store`]): the blocking backend, also the rate limiter's
//!   [`SharedWindows`](crate::client::policy::SharedWindows) ([`Cache::shared_windows`]), so
//!   every process using the store and one key spends one budget: [`SqliteStore`] (in
//!   [`sqlite`], windows in [`quota`]) for one machine, [`RedisStore`] (in [`redis`]) for a team.
//! * [`Namespace`], [`request_key`] (in [`key`]): entries are keyed by a salted hash of the API
//!   key (the key itself is never stored; two keys never share an entry) and by the request's
//!   method, path and sorted query.
//!
//! A write made through the dispatcher (a comment, a vote, a rescan) marks its object changed
//! ([`Cache::mark_changed`]); answers about the object cached before the mark are stale
//! ([`Cache::changed_since`]) and are fetched again.
//!
//! A file that cannot be used is reported once and bypassed (see [`sqlite`]), as is a Redis
//! server while it cannot be reached (see [`redis`]): the cache then answers "not cached" and
//! stores nothing, calls go upstream as without a cache, and their results say so
//! ([`Usage::unavailable`]).
//!
//! Without the `cache` feature (a default feature through `server`) only [`key`] and [`ttl`]
//! are built: the operation table names each operation's [`TtlClass`], and the rate limiter
//! keys its windows by [`Namespace`].

#[cfg(feature = "cache")]
mod front;
pub mod key;
#[cfg(feature = "cache")]
pub mod quota;
#[cfg(feature = "cache")]
pub mod redis;
#[cfg(feature = "cache")]
pub mod scope;
#[cfg(feature = "cache")]
pub mod sqlite;
#[cfg(feature = "cache")]
pub mod store;
pub mod ttl;

#[cfg(feature = "cache")]
pub use front::{Answer, Cache, CacheConfig, CacheLocation, Lookup, Origin};
pub use key::{Namespace, request_key};
#[cfg(feature = "cache")]
pub use redis::{RedisStore, RedisUrl};
#[cfg(feature = "cache")]
pub use scope::{CacheMode, Usage};
#[cfg(feature = "cache")]
pub use sqlite::{CacheStats, Entry, SqliteStore, StoreError};
#[cfg(feature = "cache")]
pub use store::Store;
pub use ttl::{Ttl, TtlClass, TtlTable};
