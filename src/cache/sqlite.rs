//! The SQLite store: one file holding the cached answers and the shared quota windows of every
//! key used on the machine, each under its key's [`Namespace`].
//!
//! Every method blocks (file I/O, and up to [`BUSY_TIMEOUT`] waiting for another process's
//! write): async code calls them on tokio's blocking pool, as [`Cache`](super::Cache) and the
//! rate limiter do. The file is opened on first use, never before.
//!
//! Robustness: the file is in WAL mode and every change is one transaction, so a process killed
//! mid-write leaves the last committed state; several processes may use the file at once. A
//! file that cannot be used (not a database, corrupt, another program's database, made by a
//! newer vtmcp, in a place that cannot be written) is reported once with a warning and then
//! bypassed for the rest of the process: reads miss, writes do nothing, nothing panics and no
//! call fails because of it. [`SqliteStore::problem`] says why.

use super::key::Namespace;
use crate::client::ApiKey;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard, OnceLock},
    time::{Duration, SystemTime},
};

/// How long a write waits for another process's write to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `PRAGMA application_id` of a vtmcp store ("vtmc"): another program's SQLite file is refused
/// rather than written into.
const APPLICATION_ID: i32 = 0x7674_6d63;

/// The schema version this code writes and reads.
const SCHEMA_VERSION: i64 = 1;

/// Bytes counted for a row besides its key and body (SQLite's own bookkeeping, roughly).
const ROW_OVERHEAD: i64 = 64;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id         INTEGER PRIMARY KEY,
    ns         BLOB NOT NULL,
    key        TEXT NOT NULL,
    status     INTEGER NOT NULL,
    body       BLOB NOT NULL,
    stored_at  INTEGER NOT NULL,
    expires_at INTEGER,
    size       INTEGER NOT NULL,
    UNIQUE (ns, key)
);
CREATE INDEX IF NOT EXISTS entries_by_age ON entries (stored_at);
CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS totals (
    id      INTEGER PRIMARY KEY CHECK (id = 0),
    entries INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals (id, entries, bytes) VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS entries_added AFTER INSERT ON entries BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS entries_removed AFTER DELETE ON entries BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS entries_resized AFTER UPDATE OF size ON entries BEGIN
    UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0;
END;
CREATE TABLE IF NOT EXISTS quota_minute (
    id INTEGER PRIMARY KEY,
    ns BLOB NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS quota_minute_by_ns ON quota_minute (ns, at);
CREATE TABLE IF NOT EXISTS quota_count (
    ns     BLOB NOT NULL,
    window TEXT NOT NULL,
    period TEXT NOT NULL,
    used   INTEGER NOT NULL,
    PRIMARY KEY (ns, window)
);
";

/// Why the store could not do something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its HTTP status: 200, or 404 (an object VirusTotal does not know).
    pub status: u16,
    /// The answer's body as VirusTotal sent it.
    pub body: bytes::Bytes,
    /// When it was stored.
    pub stored_at: SystemTime,
    /// When it stops being returned (`None`: never).
    pub expires_at: Option<SystemTime>,
}

impl Entry {
    /// How old it is at `now`.
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.stored_at).unwrap_or(Duration::ZERO)
    }
}

/// What the store holds ([`Cache::stats`](super::Cache::stats)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    /// Where: the file's path, or the Redis server (its password never shown).
    pub location: String,
    /// Answers stored (SQLite: expired ones included until they are removed).
    pub entries: u64,
    /// Bytes the answers take (SQLite: bodies, keys and a per-row estimate, which the size
    /// bound limits; Redis: the stored values and their keys).
    pub bytes: u64,
    /// The file's size on disk, with its WAL (`None` for Redis).
    pub file_bytes: Option<u64>,
    /// When the oldest answer was stored.
    pub oldest: Option<SystemTime>,
}

/// For people (`vtmcp cache stats`).
impl std::fmt::Display for CacheStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.file_bytes {
            Some(on_disk) => {
                writeln!(f, "file:    {}", self.location)?;
                writeln!(f, "answers: {}", self.entries)?;
                writeln!(
                    f,
                    "size:    {:.1} MiB of answers ({:.1} MiB on disk)",
                    self.bytes as f64 / 1048576.0,
                    on_disk as f64 / 1048576.0
                )?;
            }
            None => {
                writeln!(f, "server:  {}", self.location)?;
                writeln!(f, "answers: {}", self.entries)?;
                writeln!(
                    f,
                    "size:    {:.1} MiB of answers",
                    self.bytes as f64 / 1048576.0
                )?;
            }
        }
        match self
            .oldest
            .and_then(|t| SystemTime::now().duration_since(t).ok())
        {
            Some(age) => write!(
                f,
                "oldest:  stored {} ago",
                humantime::format_duration(std::time::Duration::from_secs(age.as_secs()))
            ),
            None => write!(f, "oldest:  -"),
        }
    }
}

/// The SQLite store (see the [module](self) docs). Opened on first use.
pub struct SqliteStore {
    path: PathBuf,
    state: Mutex<State>,
    /// Why the store is bypassed, once it is.
    problem: OnceLock<String>,
}

enum State {
    Closed,
    Open(Box<Open>),
    Broken,
}

pub(crate) struct Open {
    conn: Connection,
    salt: Vec<u8>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("problem", &self.problem.get())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// A store at `path`; nothing is opened or created until it is used.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteStore {
            path: path.into(),
            state: Mutex::new(State::Closed),
            problem: OnceLock::new(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the store is bypassed, once it is (the warning logged then).
    pub fn problem(&self) -> Option<&str> {
        self.problem.get().map(String::as_str)
    }

    /// Runs `f` on the open connection, opening the file first if needed. A failure that will
    /// not pass (see [`is_lasting`]) makes the store bypassed from then on, with one warning.
    pub(crate) fn with_conn<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Open) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock();
        if matches!(*state, State::Closed) {
            match open(&self.path) {
                Ok(open) => *state = State::Open(Box::new(open)),
                // Another process held the file longer than the busy timeout: try again later.
                Err(Problem::Sqlite(e)) if !is_lasting(&e) => {
                    tracing::debug!(target: "vtmcp::cache", path = %self.path.display(), "{what}: {e}");
                    return Err(StoreError(format!("{what}: {e}")));
                }
                Err(e) => {
                    *state = State::Broken;
                    return Err(self.broken(&e));
                }
            }
        }
        let State::Open(open) = &mut *state else {
            return Err(StoreError(self.problem().unwrap_or("unusable").to_string()));
        };
        match f(open) {
            Ok(v) => Ok(v),
            Err(e) if is_lasting(&e) => {
                *state = State::Broken;
                Err(self.broken(&Problem::Sqlite(e)))
            }
            Err(e) => {
                tracing::debug!(target: "vtmcp::cache", path = %self.path.display(), "{what}: {e}");
                Err(StoreError(format!("{what}: {e}")))
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records why the store is bypassed and warns, once.
    fn broken(&self, problem: &Problem) -> StoreError {
        let message = format!(
            "the cache file {} cannot be used ({problem}); going on without it: nothing is \
             cached and each process counts its own quota. Remove or move the file, or choose \
             another with --cache sqlite:PATH",
            self.path.display()
        );
        if self.problem.set(message.clone()).is_ok() {
            tracing::warn!(target: "vtmcp::cache", "{message}");
        }
        StoreError(message)
    }

    /// The namespace of `key` in this store.
    pub fn namespace(&self, key: &ApiKey) -> Result<Namespace, StoreError> {
        self.with_conn("reading the salt", |open| {
            Ok(Namespace::derive(&open.salt, key))
        })
    }

    /// The answer stored for `key` in `ns`, unless it has expired at `now`.
    pub fn get(
        &self,
        ns: &Namespace,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<Entry>, StoreError> {
        self.with_conn("reading an answer", |open| {
            let row = open
                .conn
                .prepare_cached(
                    "SELECT status, body, stored_at, expires_at FROM entries \
                     WHERE ns = ?1 AND key = ?2",
                )?
                .query_row(params![&ns.as_bytes()[..], key], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                })
                .optional()?;
            let Some((status, body, stored_at, expires_at)) = row else {
                return Ok(None);
            };
            if expires_at.is_some_and(|e| e <= to_ms(now)) {
                return Ok(None);
            }
            Ok(Some(Entry {
                status: u16::try_from(status).unwrap_or(0),
                body: body.into(),
                stored_at: from_ms(stored_at),
                expires_at: expires_at.map(from_ms),
            }))
        })
    }

    /// Stores `entry` for `key` in `ns` (it is kept until its `expires_at`; `None`: until
    /// evicted), then removes expired answers and, while the answers take more than
    /// `max_bytes`, the oldest. An answer larger than `max_bytes` alone is not stored (and
    /// replaces nothing). Returns whether it was stored.
    pub fn put(
        &self,
        ns: &Namespace,
        key: &str,
        entry: &Entry,
        max_bytes: u64,
    ) -> Result<bool, StoreError> {
        let Entry {
            status,
            body,
            stored_at: now,
            expires_at,
        } = entry;
        let (status, now, expires_at) = (*status, *now, *expires_at);
        let size = body.len() as i64 + key.len() as i64 + ROW_OVERHEAD;
        let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        if size > max {
            return Ok(false);
        }
        self.with_conn("storing an answer", |open| {
            let tx = open
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now_ms = to_ms(now);
            tx.prepare_cached(
                "INSERT INTO entries (ns, key, status, body, stored_at, expires_at, size) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (ns, key) DO UPDATE SET status = excluded.status, \
                 body = excluded.body, stored_at = excluded.stored_at, \
                 expires_at = excluded.expires_at, size = excluded.size",
            )?
            .execute(params![
                &ns.as_bytes()[..],
                key,
                i64::from(status),
                &body[..],
                now_ms,
                expires_at.map(to_ms),
                size
            ])?;
            // Expired answers go first (a few at a time, so a put stays quick) …
            tx.prepare_cached(
                "DELETE FROM entries WHERE id IN (SELECT id FROM entries \
                 WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT 64)",
            )?
            .execute(params![now_ms])?;
            // … then the oldest, while over the bound.
            loop {
                let excess = total_bytes(&tx)? - max;
                if excess <= 0 {
                    break;
                }
                // The oldest rows, just enough of them to cover the excess.
                let mut victims = vec![];
                let mut freed = 0;
                {
                    let mut oldest = tx.prepare_cached(
                        "SELECT id, size FROM entries ORDER BY stored_at, id LIMIT 64",
                    )?;
                    let mut rows = oldest.query([])?;
                    while freed < excess
                        && let Some(row) = rows.next()?
                    {
                        victims.push(row.get::<_, i64>(0)?);
                        freed += row.get::<_, i64>(1)?;
                    }
                }
                if victims.is_empty() {
                    break;
                }
                let mut delete = tx.prepare_cached("DELETE FROM entries WHERE id = ?1")?;
                for id in victims {
                    delete.execute(params![id])?;
                }
            }
            tx.commit()?;
            Ok(true)
        })
    }

    /// What the store holds.
    pub fn stats(&self) -> Result<CacheStats, StoreError> {
        let (entries, bytes, oldest) = self.with_conn("reading the totals", |open| {
            let (entries, bytes) =
                open.conn
                    .query_row("SELECT entries, bytes FROM totals WHERE id = 0", [], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })?;
            let oldest: Option<i64> =
                open.conn
                    .query_row("SELECT min(stored_at) FROM entries", [], |r| r.get(0))?;
            Ok((entries, bytes, oldest))
        })?;
        let file_bytes = [self.path.clone(), sidecar(&self.path, "-wal")]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Ok(CacheStats {
            location: self.path.display().to_string(),
            entries: entries.max(0) as u64,
            bytes: bytes.max(0) as u64,
            file_bytes: Some(file_bytes),
            oldest: oldest.map(from_ms),
        })
    }

    /// Removes every cached answer (of every key); the quota windows stay, since the requests
    /// they count were spent. Returns how many answers were removed.
    pub fn clear(&self) -> Result<u64, StoreError> {
        self.with_conn("clearing the cache", |open| {
            let tx = open
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let removed = tx.execute("DELETE FROM entries", [])?;
            tx.execute("UPDATE totals SET entries = 0, bytes = 0 WHERE id = 0", [])?;
            tx.commit()?;
            // Give the freed pages back to the file system.
            open.conn.execute_batch("PRAGMA incremental_vacuum;")?;
            let _ = open
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            Ok(removed as u64)
        })
    }
}

/// The bytes the entries take, from the totals the triggers keep.
fn total_bytes(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT bytes FROM totals WHERE id = 0")?
        .query_row([], |r| r.get(0))
}

/// A file next to the database (`-wal`, `-shm`).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Why a store cannot be opened or used.
enum Problem {
    Io(String, std::io::Error),
    Sqlite(rusqlite::Error),
    Foreign(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io(what, e) => write!(f, "{what}: {e}"),
            Problem::Sqlite(e) => match e.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => f.write_str("it is not an SQLite database"),
                Some(ErrorCode::DatabaseCorrupt) => write!(f, "it is corrupt: {e}"),
                _ => write!(f, "{e}"),
            },
            Problem::Foreign(why) => f.write_str(why),
        }
    }
}

impl From<rusqlite::Error> for Problem {
    fn from(e: rusqlite::Error) -> Self {
        Problem::Sqlite(e)
    }
}

/// Whether an SQLite error will happen again on the next use (a corrupt, foreign, unreadable
/// or unwritable file, a full disk), as opposed to one that passes (another process holding
/// the lock longer than [`BUSY_TIMEOUT`], an answer too large for SQLite).
fn is_lasting(e: &rusqlite::Error) -> bool {
    !matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::TooBig)
    )
}

/// Opens (creating if needed) the store at `path`: its directory (mode 0700) and file (mode
/// 0600, as it records what was looked up), WAL mode, the schema and the salt.
fn open(path: &Path) -> Result<Open, Problem> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| Problem::Io(format!("cannot create {}", dir.display()), e))?;
    }
    let mut file = std::fs::OpenOptions::new();
    file.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    file.open(path)
        .map_err(|e| Problem::Io("cannot open it for writing".into(), e))?;

    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Reading the header: a file that is not a database fails here, before anything is written.
    let (application_id, tables): (i32, i64) = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id), \
                (SELECT count(*) FROM sqlite_master)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if application_id != APPLICATION_ID && (application_id != 0 || tables != 0) {
        return Err(Problem::Foreign(
            "it is another program's SQLite database, not a vtmcp cache".into(),
        ));
    }
    if tables == 0 {
        // Only takes effect before the first table is created.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
    }
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::debug!(target: "vtmcp::cache", "journal mode is {mode}, not WAL");
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL;")?;

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let has_meta: bool = tx.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |r| r.get(0),
    )?;
    let version: Option<i64> = if has_meta {
        tx.query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?
    } else {
        None
    };
    if let Some(v) = version
        && v > SCHEMA_VERSION
    {
        return Err(Problem::Foreign(format!(
            "it was made by a newer vtmcp (schema {v}; this one reads {SCHEMA_VERSION})"
        )));
    }
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID};"))?;
    tx.execute(
        "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', ?1)",
        params![SCHEMA_VERSION],
    )?;
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| {
        Problem::Io(
            "cannot draw a random salt".into(),
            std::io::Error::other(e.to_string()),
        )
    })?;
    tx.execute(
        "INSERT OR IGNORE INTO meta (name, value) VALUES ('salt', ?1)",
        params![&fresh[..]],
    )?;
    let salt: Vec<u8> = tx.query_row("SELECT value FROM meta WHERE name = 'salt'", [], |r| {
        r.get(0)
    })?;
    tx.commit()?;
    if salt.len() < 16 {
        return Err(Problem::Foreign("its salt is damaged".into()));
    }
    Ok(Open { conn, salt })
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The time `ms` milliseconds after the Unix epoch.
pub(crate) fn from_ms(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

impl super::store::Store for SqliteStore {
    fn get(&self, ns: &Namespace, key: &str, now: SystemTime) -> Result<Option<Entry>, StoreError> {
        SqliteStore::get(self, ns, key, now)
    }

    fn put(
        &self,
        ns: &Namespace,
        key: &str,
        entry: &Entry,
        max_bytes: u64,
    ) -> Result<bool, StoreError> {
        SqliteStore::put(self, ns, key, entry, max_bytes)
    }

    fn stats(&self) -> Result<CacheStats, StoreError> {
        SqliteStore::stats(self)
    }

    fn clear(&self) -> Result<u64, StoreError> {
        SqliteStore::clear(self)
    }

    fn problem(&self) -> Option<String> {
        SqliteStore::problem(self).map(str::to_string)
    }

    fn path(&self) -> Option<&Path> {
        Some(SqliteStore::path(self))
    }
}

impl Open {
    /// The connection, for the quota windows.
    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> ApiKey {
        ApiKey::new(c.to_string().repeat(64))
    }

    fn entry(
        status: u16,
        body: &[u8],
        stored_at: SystemTime,
        expires_at: Option<SystemTime>,
    ) -> Entry {
        Entry {
            status,
            body: bytes::Bytes::copy_from_slice(body),
            stored_at,
            expires_at,
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn nothing_is_touched_before_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("cache.sqlite3");
        let store = SqliteStore::new(&path);
        assert_eq!(store.path(), path);
        assert!(!path.parent().unwrap().exists());
        store.namespace(&key('a')).unwrap();
        assert!(path.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
    }

    #[test]
    fn answers_round_trip_expire_and_stay_in_their_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::new(dir.path().join("c.sqlite3"));
        let a = store.namespace(&key('a')).unwrap();
        let b = store.namespace(&key('b')).unwrap();
        assert_ne!(a, b);
        let body = br#"{"data":{"id":"x"}}"#;
        assert!(
            store
                .put(
                    &a,
                    "GET /files/x",
                    &entry(200, body, t(0), Some(t(60))),
                    1 << 20
                )
                .unwrap()
        );
        let e = store.get(&a, "GET /files/x", t(30)).unwrap().unwrap();
        assert_eq!((e.status, &e.body[..]), (200, &body[..]));
        assert_eq!(e.age(t(30)), Duration::from_secs(30));
        assert_eq!(e.expires_at, Some(t(60)));
        // Another key's namespace does not see it; it is gone once expired.
        assert_eq!(store.get(&b, "GET /files/x", t(30)).unwrap(), None);
        assert_eq!(store.get(&a, "GET /files/x", t(60)).unwrap(), None);
        // A 404 kept forever; storing again replaces.
        store
            .put(&a, "GET /files/y", &entry(404, b"{}", t(0), None), 1 << 20)
            .unwrap();
        store
            .put(&a, "GET /files/y", &entry(200, b"[1]", t(5), None), 1 << 20)
            .unwrap();
        let e = store
            .get(&a, "GET /files/y", t(1_000_000))
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.status, &e.body[..], e.stored_at),
            (200, &b"[1]"[..], t(5))
        );
        let s = store.stats().unwrap();
        assert_eq!(s.entries, 2);
        assert_eq!(s.oldest, Some(t(0)));
        assert!(s.file_bytes.unwrap() > 0);
    }

    #[test]
    fn the_size_bound_evicts_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::new(dir.path().join("c.sqlite3"));
        let ns = store.namespace(&key('a')).unwrap();
        let body = vec![b'x'; 1000];
        // Room for five of them (their keys are 11 bytes).
        let max = 5 * (1000 + 11 + ROW_OVERHEAD as u64);
        for i in 0..8u64 {
            let k = format!("GET /f/{i:04}");
            assert!(
                store
                    .put(&ns, &k, &entry(200, &body, t(i), None), max)
                    .unwrap()
            );
        }
        let s = store.stats().unwrap();
        assert!(s.bytes <= max, "{s:?}");
        assert_eq!(s.entries, 5);
        assert_eq!(s.oldest, Some(t(3)));
        assert_eq!(store.get(&ns, "GET /f/0002", t(9)).unwrap(), None);
        assert!(store.get(&ns, "GET /f/0007", t(9)).unwrap().is_some());
        // An answer larger than the whole bound is not stored and evicts nothing.
        let huge = vec![b'y'; max as usize + 1];
        assert!(
            !store
                .put(&ns, "GET /huge", &entry(200, &huge, t(10), None), max)
                .unwrap()
        );
        assert_eq!(store.stats().unwrap().entries, 5);
        // A small answer pushes the oldest out …
        store
            .put(
                &ns,
                "GET /short",
                &entry(200, b"{}", t(11), Some(t(12))),
                max,
            )
            .unwrap();
        assert_eq!(store.get(&ns, "GET /f/0003", t(11)).unwrap(), None);
        // … and once it has expired, it goes before any live answer does.
        store
            .put(&ns, "GET /later", &entry(200, &body, t(13), None), max)
            .unwrap();
        assert!(store.get(&ns, "GET /f/0004", t(13)).unwrap().is_some());
        assert_eq!(store.stats().unwrap().entries, 5);
        assert_eq!(store.clear().unwrap(), 5);
        let s = store.stats().unwrap();
        assert_eq!((s.entries, s.bytes, s.oldest), (0, 0, None));
    }

    #[test]
    fn the_salt_is_kept_and_the_key_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let secret = key('k');
        let first = SqliteStore::new(&path).namespace(&secret).unwrap();
        let store = SqliteStore::new(&path);
        assert_eq!(store.namespace(&secret).unwrap(), first);
        store
            .put(
                &first,
                "GET /files/x",
                &entry(200, b"{}", t(0), None),
                1 << 20,
            )
            .unwrap();
        drop(store);
        // Another store's salt gives the same key another namespace.
        let other = SqliteStore::new(dir.path().join("d.sqlite3"));
        assert_ne!(other.namespace(&secret).unwrap(), first);
        for file in [path.clone(), sidecar(&path, "-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let hay = String::from_utf8_lossy(&bytes);
                assert!(!hay.contains(secret.expose()), "{}", file.display());
            }
        }
    }

    /// Captures the warnings logged on this thread.
    fn warnings(f: impl FnOnce()) -> Vec<String> {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_file_that_is_not_a_database_is_reported_once_and_bypassed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let junk =
            b"this is not a database, just some text that a user put here by mistake\n".repeat(100);
        std::fs::write(&path, &junk).unwrap();
        let store = SqliteStore::new(&path);
        let ns = Namespace::derive(b"any salt here 16", &key('a'));
        let logged = warnings(|| {
            for _ in 0..3 {
                assert!(store.namespace(&key('a')).is_err());
                assert!(store.get(&ns, "GET /x", t(0)).is_err());
                assert!(
                    store
                        .put(&ns, "GET /x", &entry(200, b"{}", t(0), None), 1 << 20)
                        .is_err()
                );
                assert!(store.stats().is_err());
            }
        });
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(logged[0].contains("not an SQLite database"), "{logged:?}");
        assert!(
            store
                .problem()
                .unwrap()
                .contains(&path.display().to_string())
        );
        // The file is left as it was.
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }

    #[test]
    fn another_programs_database_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
        let store = SqliteStore::new(&path);
        assert!(store.namespace(&key('a')).is_err());
        assert!(store.problem().unwrap().contains("another program"));
        let conn = Connection::open(&path).unwrap();
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 1);
    }

    #[test]
    fn a_store_made_by_a_newer_version_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        SqliteStore::new(&path).namespace(&key('a')).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE meta SET value = 99 WHERE name = 'schema_version'",
                [],
            )
            .unwrap();
        let store = SqliteStore::new(&path);
        assert!(store.namespace(&key('a')).is_err());
        assert!(store.problem().unwrap().contains("newer vtmcp"));
    }

    #[test]
    fn a_place_that_cannot_be_written_is_bypassed() {
        let dir = tempfile::tempdir().unwrap();
        // A parent that is a file: no one, root included, can create the store there.
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let store = SqliteStore::new(file.join("cache.sqlite3"));
        assert!(store.namespace(&key('a')).is_err());
        assert!(store.problem().unwrap().contains("cannot create"));
        // A directory where the file should be.
        let store = SqliteStore::new(dir.path());
        let ns = Namespace::derive(b"any salt here 16", &key('a'));
        assert!(
            store
                .put(&ns, "GET /x", &entry(200, b"{}", t(0), None), 1 << 20)
                .is_err()
        );
        assert!(store.problem().is_some());
    }

    #[test]
    fn a_corrupt_page_is_reported_and_bypassed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        {
            let store = SqliteStore::new(&path);
            let ns = store.namespace(&key('a')).unwrap();
            for i in 0..200 {
                store
                    .put(
                        &ns,
                        &format!("GET /f/{i}"),
                        &entry(200, &[b'z'; 2000], t(i), None),
                        1 << 30,
                    )
                    .unwrap();
            }
        }
        // Fold the WAL into the file, then overwrite everything after the first page.
        Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let page = 4096.min(bytes.len() / 2);
        for b in &mut bytes[page..] {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let store = SqliteStore::new(&path);
        let failed = (|| {
            let ns = store.namespace(&key('a'))?;
            store.get(&ns, "GET /f/7", t(300))?;
            store.stats()
        })();
        assert!(failed.is_err());
        assert!(store.problem().is_some(), "{failed:?}");
        let ns = Namespace::derive(b"any salt here 16", &key('a'));
        assert!(store.get(&ns, "GET /f/7", t(300)).is_err());
    }
}
