//! The async front of the cache ([`Cache`]) and where it keeps answers ([`CacheConfig`],
//! [`CacheLocation`]); see the [module](super) docs.

use super::{
    CacheStats, Entry, Namespace, RedisStore, RedisUrl, SqliteStore, Store, StoreError, Ttl,
    TtlClass, TtlTable, scope,
};
use crate::Error;
use crate::client::ApiKey;
use crate::client::policy::SharedWindows;
use bytes::Bytes;
use std::{
    collections::HashMap,
    fmt,
    future::Future,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use tokio::sync::watch;

/// Where answers are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// Nowhere: every call goes upstream.
    Off,
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A Redis server (its password never shown by `Debug`).
    Redis(RedisUrl),
}

impl CacheLocation {
    /// Reads a `--cache` / `VTMCP_CACHE` / `VTMCP_REDIS_URL` value: `off`, `sqlite` (the
    /// default file, [`CacheConfig::default_path`]), `sqlite:PATH` or
    /// `redis://[user:pass@]host[:port][/db]` ([`RedisUrl::parse`]). Errors never quote a
    /// Redis URL (it may hold a password).
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let spec = spec.trim();
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("redis://") || lower.starts_with("rediss://") {
            return RedisUrl::parse(spec).map(CacheLocation::Redis);
        }
        if lower.starts_with("redis") {
            return Err(Error::Config(
                "--cache: a Redis server is given as redis://[user:pass@]host[:port][/db] \
                 (the value is not shown: it may hold a password)"
                    .into(),
            ));
        }
        let (scheme, rest) = match spec.split_once(':') {
            Some((s, r)) => (s, Some(r)),
            None => (spec, None),
        };
        match (scheme.to_ascii_lowercase().as_str(), rest) {
            ("off" | "none", None) => Ok(CacheLocation::Off),
            ("sqlite", None) => Self::default_sqlite(),
            ("sqlite", Some(path)) if path.trim().is_empty() => Self::default_sqlite(),
            ("sqlite", Some(path)) => Ok(CacheLocation::Sqlite(PathBuf::from(path))),
            _ => Err(Error::Config(format!(
                "--cache is `sqlite`, `sqlite:PATH`, `redis://HOST:PORT` or `off`, not {:?}",
                crate::error::truncate(spec, 80)
            ))),
        }
    }

    fn default_sqlite() -> Result<Self, Error> {
        CacheConfig::default_path()
            .map(CacheLocation::Sqlite)
            .ok_or_else(|| {
                Error::Config(
                    "this system has no user cache directory (is HOME set?); give the file \
                     with --cache sqlite:PATH, or --cache off"
                        .into(),
                )
            })
    }
}

/// What [`Cache`] is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Where answers are kept.
    pub location: CacheLocation,
    /// How long each class of answers is kept.
    pub ttl: TtlTable,
    /// The most bytes the answers may take; the oldest go first when over.
    pub max_bytes: u64,
}

impl Default for CacheConfig {
    /// The default file ([`CacheConfig::default_path`]; off when the system has no user
    /// cache directory), the default lifetimes and [`CacheConfig::DEFAULT_MAX_BYTES`].
    fn default() -> Self {
        CacheConfig {
            location: Self::default_path()
                .map(CacheLocation::Sqlite)
                .unwrap_or(CacheLocation::Off),
            ttl: TtlTable::default(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

impl CacheConfig {
    /// The default size bound: 256 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

    /// `vtmcp/cache.sqlite3` in the user's cache directory (`$XDG_CACHE_HOME` or
    /// `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows).
    pub fn default_path() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("vtmcp").join("cache.sqlite3"))
    }

    /// A configuration from a `--cache` value ([`CacheLocation::parse`]) with the default
    /// lifetimes and size bound.
    pub fn parse(spec: &str) -> Result<Self, Error> {
        Ok(CacheConfig {
            location: CacheLocation::parse(spec)?,
            ..CacheConfig::off()
        })
    }

    /// No cache.
    pub fn off() -> Self {
        CacheConfig {
            location: CacheLocation::Off,
            ttl: TtlTable::default(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }

    /// A cache in the SQLite file `path`, with the default lifetimes and size bound.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        CacheConfig {
            location: CacheLocation::Sqlite(path.into()),
            ..CacheConfig::off()
        }
    }

    /// A cache on the Redis server `url`, with the default lifetimes and size bound.
    pub fn redis(url: RedisUrl) -> Self {
        CacheConfig {
            location: CacheLocation::Redis(url),
            ..CacheConfig::off()
        }
    }
}

/// An answer as the caller got it from VirusTotal: HTTP status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as sent.
    pub body: Bytes,
}

/// Where a [`Lookup`]'s answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The cache: no request was made. `age` is the time since it was fetched.
    Cache {
        /// Time since the answer was fetched.
        age: Duration,
    },
    /// VirusTotal, by this call.
    Upstream,
    /// VirusTotal, by an identical call made at the same time, which this one waited for: no
    /// request of its own.
    Joined,
}

/// An answer and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The HTTP status.
    pub status: u16,
    /// The body as VirusTotal sent it.
    pub body: Bytes,
    /// Where it came from.
    pub origin: Origin,
}

/// The answer cache (see the [module](super) docs). Cheap to clone; clones share the store and
/// the requests in flight.
///
/// ```no_run
/// # async fn demo() -> Result<(), vtmcp::Error> {
/// use bytes::Bytes;
/// use vtmcp::cache::{Answer, Cache, CacheConfig, TtlClass};
/// use vtmcp::client::ApiKey;
///
/// let cache = Cache::new(CacheConfig::parse("sqlite")?);
/// let key = ApiKey::new(std::env::var("VT_API_KEY").unwrap_or_default());
/// let lookup = cache
///     .get_or_fetch(&key, "GET /files/44d88612fea8a8f36de82e1278abb02f", TtlClass::File, || async {
///         // … send the request …
///         Ok::<_, vtmcp::Error>(Answer { status: 200, body: Bytes::from_static(b"{}") })
///     })
///     .await?;
/// println!("{} ({:?})", lookup.status, lookup.origin);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    config: CacheConfig,
    store: Option<Arc<dyn Store>>,
    /// Requests in flight, by (namespace under `flight_salt`, request key, refresh).
    flights: Mutex<HashMap<FlightKey, watch::Receiver<Option<Lookup>>>>,
    /// A per-process salt for the in-flight table, which needs no store.
    flight_salt: [u8; 32],
}

type FlightKey = (Namespace, String, bool);

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("location", &self.inner.config.location)
            .field("max_bytes", &self.inner.config.max_bytes)
            .field("problem", &self.problem())
            .finish_non_exhaustive()
    }
}

/// Removes a request from the in-flight table when its leader finishes or is dropped; the
/// leader's sender goes with it, which wakes the waiters.
struct Flight<'a> {
    inner: &'a Inner,
    key: FlightKey,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.inner
            .flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl Cache {
    /// A cache as `config` says. Touches no file and connects to nothing: the store opens on
    /// first use.
    pub fn new(config: CacheConfig) -> Self {
        let store: Option<Arc<dyn Store>> = match &config.location {
            CacheLocation::Off => None,
            CacheLocation::Sqlite(path) => Some(Arc::new(SqliteStore::new(path.clone()))),
            CacheLocation::Redis(url) => Some(Arc::new(RedisStore::new(url.clone()))),
        };
        let mut flight_salt = [0u8; 32];
        if getrandom::fill(&mut flight_salt).is_err() {
            // Only the in-flight table uses it, in memory: a fixed salt is harmless.
            flight_salt = [0x5a; 32];
        }
        Cache {
            inner: Arc::new(Inner {
                config,
                store,
                flights: Mutex::new(HashMap::new()),
                flight_salt,
            }),
        }
    }

    /// No cache: every call goes upstream.
    pub fn off() -> Self {
        Cache::new(CacheConfig::off())
    }

    /// Its configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// Whether answers are kept anywhere (a file or a server configured; it may still turn out
    /// unusable, see [`problem`](Self::problem)).
    pub fn is_enabled(&self) -> bool {
        self.inner.store.is_some()
    }

    /// The file, when the store is one.
    pub fn path(&self) -> Option<&Path> {
        self.inner.store.as_deref().and_then(|s| s.path())
    }

    /// Where answers are kept, for people (`vtmcp cache path`): the file's path, or the Redis
    /// server's URL with its password redacted. `None` when the cache is off.
    pub fn location(&self) -> Option<String> {
        match &self.inner.config.location {
            CacheLocation::Off => None,
            CacheLocation::Sqlite(path) => Some(path.display().to_string()),
            CacheLocation::Redis(url) => Some(url.to_string()),
        }
    }

    /// Why the store is bypassed: for good for a broken file, while it lasts for a Redis
    /// server that cannot be reached (logged once as a warning too).
    pub fn problem(&self) -> Option<String> {
        self.inner.store.as_deref().and_then(|s| s.problem())
    }

    /// Tells the current call ([`scope`]) that the store is not used, when it is not.
    fn note_problem(&self) {
        if let Some(problem) = self.problem() {
            scope::record_unavailable(problem);
        }
    }

    /// The store as the rate limiter's shared windows
    /// ([`ClientBuilder::shared_quota`](crate::ClientBuilder::shared_quota)), when there is a
    /// store. It is the same store (one connection or pool per process), opened on first use.
    pub fn shared_windows(&self) -> Option<Arc<dyn SharedWindows>> {
        self.inner
            .store
            .clone()
            .map(|s| s as Arc<dyn SharedWindows>)
    }

    /// Runs `f` on the store on the blocking pool; `None` without a store or when the task
    /// failed.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> T + Send + 'static,
    ) -> Option<T> {
        let store = self.inner.store.clone()?;
        tokio::task::spawn_blocking(move || f(&*store)).await.ok()
    }

    /// The answer cached for `request` (a [`request_key`](super::request_key)) under `key`,
    /// if one is and has not expired. A store that cannot be used answers `None`.
    pub async fn get(&self, key: &ApiKey, request: &str) -> Option<Lookup> {
        let key = key.clone();
        let request = request.to_string();
        let read = self
            .blocking(move |store| {
                let ns = store.namespace(&key)?;
                store.get(&ns, &request, SystemTime::now())
            })
            .await?;
        let entry = match read {
            Ok(entry) => entry?,
            Err(_) => {
                self.note_problem();
                return None;
            }
        };
        Some(Lookup {
            status: entry.status,
            origin: Origin::Cache {
                age: entry.age(SystemTime::now()),
            },
            body: entry.body,
        })
    }

    /// Stores `answer` for `request` under `key` if its class keeps it
    /// ([`TtlTable::for_answer`]: a 200, a 404 for a shorter time, a completed analysis).
    /// Returns whether it was stored; a store that cannot be used stores nothing.
    pub async fn put(&self, key: &ApiKey, request: &str, class: TtlClass, answer: &Answer) -> bool {
        let now = SystemTime::now();
        let expires_at = match self
            .inner
            .config
            .ttl
            .for_answer(class, answer.status, &answer.body)
        {
            Ttl::Off => return false,
            Ttl::Forever => None,
            // A lifetime past what the clock can count is for good.
            Ttl::For(d) => now.checked_add(d),
        };
        let entry = Entry {
            status: answer.status,
            body: answer.body.clone(),
            stored_at: now,
            expires_at,
        };
        self.store_entry(key, request.to_string(), entry).await
    }

    /// Stores `entry` for `request` under `key`; whether it was stored.
    async fn store_entry(&self, key: &ApiKey, request: String, entry: Entry) -> bool {
        let key = key.clone();
        let max_bytes = self.inner.config.max_bytes;
        let stored = self
            .blocking(move |store| {
                let ns = store.namespace(&key)?;
                store.put(&ns, &request, &entry, max_bytes)
            })
            .await;
        match stored {
            Some(Ok(stored)) => stored,
            _ => {
                self.note_problem();
                false
            }
        }
    }

    /// Records that a write (a comment, a vote, a rescan, an edit) has just changed `object`
    /// (`/files/<id>`, `/collections/<id>`, …) for `key`, so that answers about it cached
    /// before now are not used again ([`Cache::changed_since`]). The mark lasts as long as the
    /// longest lifetime of any class, so it outlives every answer it overrides. Returns
    /// whether it was stored.
    pub async fn mark_changed(&self, key: &ApiKey, object: &str) -> bool {
        let mut longest = Some(Duration::ZERO); // None: for good
        for class in TtlClass::ALL {
            match self.inner.config.ttl.get(class) {
                Ttl::Off => {}
                Ttl::Forever => longest = None,
                Ttl::For(d) => longest = longest.map(|l| l.max(d)),
            }
        }
        if longest == Some(Duration::ZERO) {
            return false; // nothing is ever kept, so nothing can be stale
        }
        let now = SystemTime::now();
        let entry = Entry {
            status: 200,
            body: Bytes::new(),
            stored_at: now,
            expires_at: longest.and_then(|d| now.checked_add(d)),
        };
        self.store_entry(key, changed_key(object), entry).await
    }

    /// How long ago a write last changed `object` for `key` ([`Cache::mark_changed`]), if one
    /// did while its mark is kept. A cached answer about `object` older than that is stale.
    pub async fn changed_since(&self, key: &ApiKey, object: &str) -> Option<Duration> {
        match self.get(key, &changed_key(object)).await?.origin {
            Origin::Cache { age } => Some(age),
            Origin::Upstream | Origin::Joined => None,
        }
    }

    /// The cached answer for `request` under `key`, or else `fetch`'s, stored if its class
    /// keeps it. Concurrent calls with the same key and request make one upstream request:
    /// the first fetches, the others wait for its answer ([`Origin::Joined`]). When the first
    /// one fails (`fetch` returns an error) or is dropped, a waiting call fetches itself.
    pub async fn get_or_fetch<F, Fut, E>(
        &self,
        key: &ApiKey,
        request: &str,
        class: TtlClass,
        fetch: F,
    ) -> Result<Lookup, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, E>>,
    {
        self.flight(key, request, class, true, fetch).await
    }

    /// `fetch`'s answer for `request` whatever is cached, stored if its class keeps it (the
    /// `refresh` of a cached answer). Concurrent identical refreshes make one request.
    pub async fn refresh<F, Fut, E>(
        &self,
        key: &ApiKey,
        request: &str,
        class: TtlClass,
        fetch: F,
    ) -> Result<Lookup, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, E>>,
    {
        self.flight(key, request, class, false, fetch).await
    }

    async fn flight<F, Fut, E>(
        &self,
        key: &ApiKey,
        request: &str,
        class: TtlClass,
        read_first: bool,
        fetch: F,
    ) -> Result<Lookup, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, E>>,
    {
        if !self.is_enabled() {
            let answer = fetch().await?;
            return Ok(Lookup {
                status: answer.status,
                body: answer.body,
                origin: Origin::Upstream,
            });
        }
        let flight_key: FlightKey = (
            Namespace::derive(&self.inner.flight_salt, key),
            request.to_string(),
            !read_first,
        );
        loop {
            let waiting = {
                let mut flights = self.inner.flights.lock().unwrap_or_else(|p| p.into_inner());
                match flights.get(&flight_key) {
                    Some(rx) => Err(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        flights.insert(flight_key.clone(), rx);
                        Ok(tx)
                    }
                }
            };
            let tx = match waiting {
                Ok(tx) => tx,
                Err(mut rx) => {
                    if let Some(mut lookup) = wait_for(&mut rx).await {
                        if lookup.origin == Origin::Upstream {
                            lookup.origin = Origin::Joined;
                        }
                        return Ok(lookup);
                    }
                    // The first call failed or was dropped: try again, maybe first this time.
                    // Its entry is normally gone already; one whose sender is gone is removed
                    // here, so that no caller can spin on it.
                    let mut flights = self.inner.flights.lock().unwrap_or_else(|p| p.into_inner());
                    if flights
                        .get(&flight_key)
                        .is_some_and(|rx| rx.has_changed().is_err())
                    {
                        flights.remove(&flight_key);
                    }
                    continue;
                }
            };
            let _flight = Flight {
                inner: &self.inner,
                key: flight_key,
            };
            if read_first && let Some(hit) = self.get(key, request).await {
                let _ = tx.send(Some(hit.clone()));
                return Ok(hit);
            }
            let answer = fetch().await?;
            let lookup = Lookup {
                status: answer.status,
                body: answer.body.clone(),
                origin: Origin::Upstream,
            };
            // Waiters get the answer at once; the flight stays listed until it is stored, so
            // that a call arriving meanwhile joins instead of missing.
            let _ = tx.send(Some(lookup.clone()));
            self.put(key, request, class, &answer).await;
            return Ok(lookup);
        }
    }

    /// What the store holds. Errors when there is no file or it cannot be used.
    pub async fn stats(&self) -> Result<CacheStats, StoreError> {
        self.blocking(|store| store.stats())
            .await
            .unwrap_or_else(|| Err(self.unavailable()))
    }

    /// Removes every cached answer (the quota windows stay). Returns how many were removed.
    /// Errors when there is no file or it cannot be used.
    pub async fn clear(&self) -> Result<u64, StoreError> {
        self.blocking(|store| store.clear())
            .await
            .unwrap_or_else(|| Err(self.unavailable()))
    }

    fn unavailable(&self) -> StoreError {
        StoreError(match &self.inner.store {
            None => "the cache is off".into(),
            Some(_) => "the cache's task failed".into(),
        })
    }
}

/// Waits until the leader publishes an answer (`Some`) or goes away without one (`None`).
/// The key of the mark [`Cache::mark_changed`] leaves for `object` (no request key starts so).
fn changed_key(object: &str) -> String {
    format!("changed {object}")
}

async fn wait_for(rx: &mut watch::Receiver<Option<Lookup>>) -> Option<Lookup> {
    loop {
        if let Some(lookup) = rx.borrow_and_update().clone() {
            return Some(lookup);
        }
        if rx.changed().await.is_err() {
            return rx.borrow().clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_values_parse() {
        assert_eq!(CacheLocation::parse("off").unwrap(), CacheLocation::Off);
        assert_eq!(CacheLocation::parse(" OFF ").unwrap(), CacheLocation::Off);
        assert_eq!(
            CacheLocation::parse("sqlite:/tmp/x.sqlite3").unwrap(),
            CacheLocation::Sqlite(PathBuf::from("/tmp/x.sqlite3"))
        );
        assert_eq!(
            CacheLocation::parse("sqlite:C:\\cache\\vt.db").unwrap(),
            CacheLocation::Sqlite(PathBuf::from("C:\\cache\\vt.db"))
        );
        if let Some(default) = CacheConfig::default_path() {
            assert!(default.ends_with("vtmcp/cache.sqlite3"));
            assert_eq!(
                CacheLocation::parse("sqlite").unwrap(),
                CacheLocation::Sqlite(default.clone())
            );
            assert_eq!(
                CacheLocation::parse("sqlite:").unwrap(),
                CacheLocation::Sqlite(default)
            );
        }
        match CacheLocation::parse("redis://:hunter2-password@10.0.0.5:6380/1").unwrap() {
            CacheLocation::Redis(url) => {
                assert_eq!((url.host(), url.port(), url.db()), ("10.0.0.5", 6380, 1));
                assert!(!format!("{:?}", CacheConfig::redis(url)).contains("hunter2"));
            }
            other => panic!("{other:?}"),
        }
        for bad in ["redis:/x:secret-pass@h", "redis", "rediss:x"] {
            let e = CacheLocation::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("redis://") && !e.contains("secret"),
                "{bad}: {e}"
            );
        }
        for bad in ["sqlit", "off:x", ""] {
            let e = CacheLocation::parse(bad).unwrap_err().to_string();
            assert!(e.contains("sqlite:PATH"), "{bad}: {e}");
        }
        let c = CacheConfig::parse("sqlite:/tmp/y").unwrap();
        assert_eq!(c.max_bytes, CacheConfig::DEFAULT_MAX_BYTES);
        assert_eq!(c.ttl, TtlTable::default());
    }
}
