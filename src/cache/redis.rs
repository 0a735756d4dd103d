//! The Redis store: the answer cache and the shared quota windows of a team, on one Redis
//! server (`--cache redis://[user:pass@]host:port[/db]`), so that N vtmcp instances on N
//! machines answer from one cache and spend one key's quota together.
//!
//! What it keeps, all under the key prefix `vtmcp:` (nothing else in the database is read,
//! written or removed; `clear` uses `SCAN` + `UNLINK` on `vtmcp:c:*`, never `FLUSHDB`):
//!
//! * `vtmcp:salt`: the random salt of the key namespaces, written once with `SET NX`, so every
//!   instance derives the same [`Namespace`] from a key; the key itself is never stored. An
//!   instance that knows the salt proposes it again on every new connection, so a Redis
//!   restarted without persistence gets the same salt back from the first instance that
//!   reconnects.
//! * `vtmcp:c:<namespace>:<sha256 of the request>`: one answer (status, stored-at and
//!   expires-at times, body), with a Redis expiry (`PX`) of its class's lifetime. Classes kept
//!   "for good" (a completed analysis) get [`FOREVER_TTL`]: every answer expires, so that an
//!   eviction policy limited to keys with an expiry can always make room.
//! * `vtmcp:q:{<namespace>}:m` (a sorted set: the send times of the last minute) and
//!   `vtmcp:q:{<namespace>}:n` (a hash: the UTC day and its count, the UTC month and its count,
//!   the slot sequence): the rate limiter's windows, with no expiry. A reservation, a release
//!   and a read of the windows are each one run of one Lua script ([`QUOTA_SCRIPT`], sent with
//!   `EVALSHA`, and with `EVAL` when the server does not have it yet), which decides exactly as
//!   [`plan`](crate::client::policy::shared::plan) does.
//!
//! The size bound is the operator's: `maxmemory` with `maxmemory-policy volatile-lru` (or
//! `volatile-lfu` / `volatile-ttl`) evicts only keys with an expiry, i.e. cached answers, never
//! the salt or the quota windows. `allkeys-*` policies could evict the salt or a window (the
//! cache would start afresh, a window would forget requests); `noeviction` makes writes fail
//! when full (answers are then not stored; the quota script fails and instances count
//! in-process). `--cache-max-mb` is not applied to Redis beyond refusing an answer larger than
//! it alone.
//!
//! Time: windows are counted on the calling instance's wall clock (as with SQLite): instances
//! on several machines need synchronised clocks (NTP); a skew of `s` seconds shifts their
//! minute windows by `s`.
//!
//! Failures: nothing is connected before first use (start-up is untouched). Connecting waits at
//! most [`CONNECT_TIMEOUT`], a command at most [`IO_TIMEOUT`]. When Redis cannot be reached, the
//! store logs one warning for the outage, answers every call at once with an error for
//! [`RECONNECT_INTERVAL`] (the cache misses and stores nothing, the limiter counts in-process at
//! the same limit), then tries again with the next call; once Redis answers, caching and
//! sharing resume and an info line says so. [`RedisStore::problem`] says why while it lasts.
//!
//! The password of the URL is a secret: [`RedisUrl`]'s `Debug` and `Display`, every message
//! and [`SharedWindows::describe`] show `<redacted>` in its place.

use super::key::Namespace;
use super::sqlite::{CacheStats, Entry, StoreError, from_ms, to_ms};
use super::store::Store;
use crate::Error;
use crate::client::ApiKey;
use crate::client::policy::{
    QuotaWindow, RateLimit, SharedError, SharedReservation, SharedUsage, SharedWindows, SlotId,
    until_midnight_utc, until_next_month_utc,
};
use chrono::{DateTime, Datelike, Utc};
use sha2::{Digest, Sha256};
use std::{
    fmt,
    sync::{Mutex, MutexGuard, OnceLock},
    time::{Duration, Instant, SystemTime},
};

/// The longest a connection attempt (TCP connect, `AUTH`, `SELECT`) waits.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest one command waits to be sent or answered.
pub const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failure, how long calls go on without Redis before one tries to connect again.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(3);
/// The Redis expiry of answers whose class keeps them for good: 30 days.
pub const FOREVER_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most idle connections kept for reuse.
const MAX_IDLE: usize = 8;
/// Keys per `SCAN` step of `stats` and `clear`.
const SCAN_COUNT: usize = 500;
/// Minute entries further ahead than this are dropped: only a clock turned back can make them.
const FUTURE_LIMIT_MS: i64 = 24 * 3600 * 1000;

const PREFIX: &str = "vtmcp:";
const SALT_KEY: &str = "vtmcp:salt";
const ENTRY_PATTERN: &str = "vtmcp:c:*";
/// The first byte of a stored answer, and its format version.
const ENTRY_MAGIC: [u8; 2] = *b"V1";
/// Magic, status (u16), stored at (ms, i64), expires at (ms, i64; -1: never).
const ENTRY_HEADER: usize = 2 + 2 + 8 + 8;

/// The quota windows of one namespace, decided in one atomic run (see the [module](self) docs).
///
/// `KEYS[1]`: the minute set (member: slot id, score: send time in ms); `KEYS[2]`: the counts
/// hash. `ARGV[1]` is the operation:
/// * `reserve now_ms day month per_minute per_day per_month max_wait_ms future_ms` (a limit of
///   0: none) → `{code, value, id, used_today, used_this_month, minute...}` where code 1 is
///   granted (value: the send time), 2 refused by the day, 3 by the month, 4 by the minute
///   (value: the wait in ms);
/// * `usage now_ms day month 0 0 0 0 future_ms` → the same with code 0;
/// * `release id day month` → 1.
pub const QUOTA_SCRIPT: &str = r#"
local m, n = KEYS[1], KEYS[2]
local op = ARGV[1]
local MINUTE = 60000
local function s(x) return string.format('%d', x) end
if op == 'release' then
  redis.call('ZREM', m, ARGV[2])
  local windows = {{'day', 'day_used', ARGV[3]}, {'month', 'month_used', ARGV[4]}}
  for _, w in ipairs(windows) do
    local v = redis.call('HMGET', n, w[1], w[2])
    if v[1] == w[3] then
      local used = tonumber(v[2]) or 0
      if used > 0 then redis.call('HSET', n, w[2], used - 1) end
    end
  end
  return 1
end
local now = tonumber(ARGV[2])
local day, month = ARGV[3], ARGV[4]
local per_minute, per_day, per_month = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local max_wait, future = tonumber(ARGV[8]), tonumber(ARGV[9])
if op == 'reserve' then
  redis.call('ZREMRANGEBYSCORE', m, '-inf', s(now - MINUTE))
  redis.call('ZREMRANGEBYSCORE', m, '(' .. s(now + future), '+inf')
end
local raw = redis.call('ZRANGEBYSCORE', m, '(' .. s(now - MINUTE), s(now + future), 'WITHSCORES')
local live = {}
for i = 2, #raw, 2 do live[#live + 1] = tonumber(raw[i]) end
local function count(pf, uf, period)
  local v = redis.call('HMGET', n, pf, uf)
  if v[1] == period then return tonumber(v[2]) or 0 end
  return 0
end
local used_day = count('day', 'day_used', day)
local used_month = count('month', 'month_used', month)
local function answer(code, value, id)
  local out = {code, value, id, used_day, used_month}
  for _, t in ipairs(live) do out[#out + 1] = t end
  return out
end
if op == 'usage' then return answer(0, 0, 0) end
if per_day > 0 and used_day >= per_day then return answer(2, 0, 0) end
if per_month > 0 and used_month >= per_month then return answer(3, 0, 0) end
local at = now
if per_minute > 0 then
  if #live > 0 then at = math.max(at, live[#live]) end
  if #live >= per_minute then at = math.max(at, live[#live - per_minute + 1] + MINUTE) end
end
if at - now > max_wait then return answer(4, at - now, 0) end
local id = redis.call('HINCRBY', n, 'seq', 1)
redis.call('ZADD', m, s(at), s(id))
for _, w in ipairs({{'day', 'day_used', day}, {'month', 'month_used', month}}) do
  if redis.call('HGET', n, w[1]) == w[3] then
    redis.call('HINCRBY', n, w[2], 1)
  else
    redis.call('HSET', n, w[1], w[3], w[2], 1)
  end
end
used_day = used_day + 1
used_month = used_month + 1
live[#live + 1] = at
return answer(1, at, id)
"#;

/// A `redis://` URL, parsed (see [`RedisUrl::parse`]). Its password is never shown: `Debug`
/// and `Display` print `<redacted>` in its place.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    host: String,
    port: u16,
    db: i64,
    username: Option<String>,
    password: Option<String>,
}

impl RedisUrl {
    /// The port when the URL names none.
    pub const DEFAULT_PORT: u16 = 6379;

    /// Reads `redis://[user:pass@]host[:port][/db]` (port 6379 and database 0 by default;
    /// user and password percent-encoded). `rediss://` (TLS) is refused: this build has no TLS
    /// for Redis. Errors never quote the URL (it may hold a password).
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::Config(format!(
                "--cache: the Redis URL (not shown: it may hold a password) is not \
                 redis://[user:pass@]host[:port][/db]: {why}"
            ))
        };
        let url = url::Url::parse(spec.trim()).map_err(|e| bad(&e.to_string()))?;
        match url.scheme() {
            "redis" => {}
            "rediss" => {
                return Err(Error::Config(
                    "--cache: rediss:// (Redis over TLS) is not supported by this build; reach \
                     Redis over a private network or through a TLS tunnel (e.g. stunnel) and \
                     give its redis:// address"
                        .into(),
                ));
            }
            _ => return Err(bad("the scheme is not redis://")),
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(bad("it names no host")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it takes no ?options or #fragment"));
        }
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            d => d
                .parse::<i64>()
                .ok()
                .filter(|d| *d >= 0)
                .ok_or_else(|| bad("the path is not a database number"))?,
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad("the user or password is not UTF-8"))
        };
        let username = Some(decode(url.username())?).filter(|u| !u.is_empty());
        let password = url.password().map(decode).transpose()?;
        if let Some(p) = &password {
            // Any message that quotes it (none should) is scrubbed like the API key.
            crate::error::secrets::register_secret(&std::sync::Arc::from(p.as_str()));
        }
        Ok(RedisUrl {
            host,
            port: url.port().unwrap_or(Self::DEFAULT_PORT),
            db,
            username,
            password,
        })
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database number.
    pub fn db(&self) -> i64 {
        self.db
    }

    /// Whether the URL has a password.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    fn connection_info(&self) -> redis::ConnectionInfo {
        use redis::IntoConnectionInfo;
        let mut settings = redis::RedisConnectionInfo::default().set_db(self.db);
        if let Some(u) = &self.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &self.password {
            settings = settings.set_password(p);
        }
        // Building the info from an address cannot fail.
        redis::ConnectionAddr::Tcp(self.host.clone(), self.port)
            .into_connection_info()
            .map(|info| info.set_redis_settings(settings))
            .unwrap_or_else(|_| unreachable!("a TCP address is always a connection info"))
    }

    /// `text` with the password (should a message ever hold it) replaced by `<redacted>`.
    fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => text.replace(p.as_str(), "<redacted>"),
            _ => text.to_string(),
        }
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        match (&self.username, &self.password) {
            (Some(u), Some(_)) => write!(f, "{u}:<redacted>@")?,
            (None, Some(_)) => f.write_str(":<redacted>@")?,
            (Some(u), None) => write!(f, "{u}@")?,
            (None, None) => {}
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        write!(f, ":{}/{}", self.port, self.db)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// The Redis store (see the [module](self) docs). Connects on first use.
pub struct RedisStore {
    url: RedisUrl,
    client: OnceLock<redis::Client>,
    script: OnceLock<redis::Script>,
    idle: Mutex<Vec<redis::Connection>>,
    salt: Mutex<Option<Vec<u8>>>,
    outage: Mutex<Outage>,
}

/// Whether Redis is failing, and when to try again.
#[derive(Default)]
struct Outage {
    /// Why, while it fails (the warning logged once when it began).
    problem: Option<String>,
    /// No connection is attempted before this.
    retry_at: Option<Instant>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("problem", &self.problem())
            .finish_non_exhaustive()
    }
}

/// Whether an error means the connection (or the server) is gone, rather than one command
/// being refused.
fn is_outage(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            redis::ErrorKind::AuthenticationFailed
                | redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                | redis::ErrorKind::Server(redis::ServerErrorKind::MasterDown)
                | redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown)
        )
}

/// A connection that broke while idle in the pool (the server restarted): worth one fresh try.
fn is_stale(e: &redis::RedisError) -> bool {
    e.is_connection_dropped() && !e.is_timeout()
}

impl RedisStore {
    /// A store on the server `url`; nothing is connected until it is used.
    pub fn new(url: RedisUrl) -> Self {
        RedisStore {
            url,
            client: OnceLock::new(),
            script: OnceLock::new(),
            idle: Mutex::new(Vec::new()),
            salt: Mutex::new(None),
            outage: Mutex::new(Outage::default()),
        }
    }

    /// The server.
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Why the store is not used right now (Redis unreachable), while that lasts.
    pub fn problem(&self) -> Option<String> {
        lock(&self.outage).problem.clone()
    }

    fn client(&self) -> Result<&redis::Client, StoreError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let client = redis::Client::open(self.url.connection_info()).map_err(|e| {
            StoreError(format!(
                "Redis at {}: {}",
                self.url,
                self.url.scrub(&e.to_string())
            ))
        })?;
        Ok(self.client.get_or_init(|| client))
    }

    fn script(&self) -> &redis::Script {
        self.script.get_or_init(|| redis::Script::new(QUOTA_SCRIPT))
    }

    /// A new connection with bounded timeouts, after agreeing on the salt; fails at once while
    /// an outage waits for [`RECONNECT_INTERVAL`].
    fn connect(&self) -> Result<redis::Connection, StoreError> {
        {
            let mut outage = lock(&self.outage);
            if let (Some(problem), Some(at)) = (&outage.problem, outage.retry_at) {
                if Instant::now() < at {
                    return Err(StoreError(problem.clone()));
                }
                // This call tries; the others keep failing fast meanwhile.
                outage.retry_at = Some(Instant::now() + RECONNECT_INTERVAL);
            }
        }
        let attempt = (|| {
            let mut conn = self
                .client()
                .map_err(|e| (None, e))?
                .get_connection_with_timeout(CONNECT_TIMEOUT)
                .map_err(|e| (Some(e), StoreError(String::new())))?;
            conn.set_read_timeout(Some(IO_TIMEOUT))
                .and_then(|_| conn.set_write_timeout(Some(IO_TIMEOUT)))
                .and_then(|_| self.agree_salt(&mut conn))
                .map_err(|e| (Some(e), StoreError(String::new())))?;
            Ok(conn)
        })();
        match attempt {
            Ok(conn) => Ok(conn),
            Err((Some(e), _)) => Err(self.down("connecting", &e)),
            Err((None, e)) => Err(e),
        }
    }

    /// Writes this instance's salt if Redis has none (`SET NX`), then reads the one it has.
    fn agree_salt(&self, conn: &mut redis::Connection) -> redis::RedisResult<()> {
        let mine = match lock(&self.salt).clone() {
            Some(s) => s,
            None => {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh).map_err(|e| {
                    redis::RedisError::from(std::io::Error::other(format!(
                        "cannot draw a random salt: {e}"
                    )))
                })?;
                fresh.to_vec()
            }
        };
        let (stored,): (Option<Vec<u8>>,) = redis::pipe()
            .cmd("SET")
            .arg(SALT_KEY)
            .arg(&mine)
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(SALT_KEY)
            .query(conn)?;
        match stored {
            Some(s) if s.len() >= 16 => {
                *lock(&self.salt) = Some(s);
                Ok(())
            }
            _ => Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "the salt in Redis is damaged",
                format!("{SALT_KEY} holds no salt of at least 16 bytes"),
            ))),
        }
    }

    /// Records an outage (warning once per outage) and drops the idle connections.
    fn down(&self, what: &str, e: &redis::RedisError) -> StoreError {
        lock(&self.idle).clear();
        let detail = self.url.scrub(&e.to_string());
        let message = format!(
            "Redis at {} cannot be used ({what}: {detail}); answers are not cached and this \
             process counts its own quota until it answers again (retried every {} s)",
            self.url,
            RECONNECT_INTERVAL.as_secs()
        );
        let mut outage = lock(&self.outage);
        if outage.problem.is_none() {
            tracing::warn!(target: "vtmcp::cache", "{message}");
            outage.problem = Some(message.clone());
        }
        outage.retry_at = Some(Instant::now() + RECONNECT_INTERVAL);
        StoreError(outage.problem.clone().unwrap_or(message))
    }

    fn answered(&self) {
        let mut outage = lock(&self.outage);
        if outage.problem.take().is_some() {
            outage.retry_at = None;
            tracing::info!(
                target: "vtmcp::cache",
                "Redis at {} answers again: caching and the shared quota resume",
                self.url
            );
        }
    }

    /// Runs `f` on a connection (an idle one, or a new one), and keeps the connection for
    /// reuse unless it failed. A pooled connection found broken is replaced once.
    fn with_conn<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = lock(&self.idle).pop();
        let (mut conn, mut fresh) = match pooled {
            Some(c) => (c, false),
            None => (self.connect()?, true),
        };
        loop {
            match f(&mut conn) {
                Ok(v) => {
                    self.answered();
                    let mut idle = lock(&self.idle);
                    if idle.len() < MAX_IDLE {
                        idle.push(conn);
                    }
                    return Ok(v);
                }
                Err(e) if !fresh && is_stale(&e) => {
                    conn = self.connect()?;
                    fresh = true;
                }
                Err(e) if is_outage(&e) => return Err(self.down(what, &e)),
                Err(e) => {
                    let mut idle = lock(&self.idle);
                    if idle.len() < MAX_IDLE {
                        idle.push(conn);
                    }
                    let detail = self.url.scrub(&e.to_string());
                    tracing::debug!(target: "vtmcp::cache", "Redis at {}: {what}: {detail}", self.url);
                    return Err(StoreError(format!(
                        "Redis at {}: {what}: {detail}",
                        self.url
                    )));
                }
            }
        }
    }

    /// The namespace of `key`: needs the salt, read on the first connection.
    fn derive(&self, key: &ApiKey) -> Result<Namespace, StoreError> {
        if let Some(salt) = lock(&self.salt).as_deref() {
            return Ok(Namespace::derive(salt, key));
        }
        self.with_conn("reading the salt", |_| Ok(()))?;
        lock(&self.salt)
            .as_deref()
            .map(|salt| Namespace::derive(salt, key))
            .ok_or_else(|| StoreError(format!("Redis at {}: no salt", self.url)))
    }

    /// Runs the quota script: `EVALSHA`, and `EVAL` when the server does not know it.
    fn quota(
        &self,
        what: &str,
        ns: &Namespace,
        args: &[String],
    ) -> Result<redis::Value, StoreError> {
        let (minute, counts) = quota_keys(ns);
        let script = self.script();
        self.with_conn(what, |conn| {
            let sha: redis::RedisResult<redis::Value> = redis::cmd("EVALSHA")
                .arg(script.get_hash())
                .arg(2)
                .arg(&minute)
                .arg(&counts)
                .arg(args)
                .query(conn);
            match sha {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    redis::cmd("EVAL")
                        .arg(QUOTA_SCRIPT)
                        .arg(2)
                        .arg(&minute)
                        .arg(&counts)
                        .arg(args)
                        .query(conn)
                }
                other => other,
            }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The keys of the quota windows of `ns` (one hash tag, so a cluster keeps them on one node).
fn quota_keys(ns: &Namespace) -> (String, String) {
    let ns = hex::encode(ns.as_bytes());
    (
        format!("{PREFIX}q:{{{ns}}}:m"),
        format!("{PREFIX}q:{{{ns}}}:n"),
    )
}

/// The key of the answer to `request` under `ns`.
fn entry_key(ns: &Namespace, request: &str) -> String {
    format!(
        "{PREFIX}c:{}:{}",
        hex::encode(ns.as_bytes()),
        hex::encode(Sha256::digest(request.as_bytes()))
    )
}

fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut v = Vec::with_capacity(ENTRY_HEADER + entry.body.len());
    v.extend_from_slice(&ENTRY_MAGIC);
    v.extend_from_slice(&entry.status.to_be_bytes());
    v.extend_from_slice(&to_ms(entry.stored_at).to_be_bytes());
    v.extend_from_slice(&entry.expires_at.map_or(-1, to_ms).to_be_bytes());
    v.extend_from_slice(&entry.body);
    v
}

fn decode_entry(v: &[u8]) -> Option<Entry> {
    if v.len() < ENTRY_HEADER || v[..2] != ENTRY_MAGIC {
        return None;
    }
    let status = u16::from_be_bytes(v[2..4].try_into().ok()?);
    let stored_at = i64::from_be_bytes(v[4..12].try_into().ok()?);
    let expires_at = i64::from_be_bytes(v[12..20].try_into().ok()?);
    Some(Entry {
        status,
        body: bytes::Bytes::copy_from_slice(&v[ENTRY_HEADER..]),
        stored_at: from_ms(stored_at),
        expires_at: (expires_at >= 0).then(|| from_ms(expires_at)),
    })
}

fn day_period(t: DateTime<Utc>) -> String {
    t.date_naive().to_string()
}

fn month_period(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// The integers of a script answer.
fn integers(v: redis::Value) -> Result<Vec<i64>, StoreError> {
    let bad = || StoreError("the quota script's answer is not a list of integers".into());
    match v {
        redis::Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                redis::Value::Int(n) => Ok(n),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// The windows a script answer reports (`code, value, id, day, month, minute...`).
fn usage_from(answer: &[i64], now: SystemTime) -> SharedUsage {
    let mut usage = SharedUsage::empty(now);
    usage.used_today = u32::try_from(answer[3].max(0)).unwrap_or(u32::MAX);
    usage.used_this_month = u32::try_from(answer[4].max(0)).unwrap_or(u32::MAX);
    usage.minute = answer[5..].iter().map(|ms| from_ms(*ms)).collect();
    usage
}

impl SharedWindows for RedisStore {
    fn namespace(&self, key: &ApiKey) -> Result<Namespace, SharedError> {
        Ok(self.derive(key)?)
    }

    fn reserve(
        &self,
        ns: &Namespace,
        limit: &RateLimit,
        now: SystemTime,
    ) -> Result<SharedReservation, SharedError> {
        let t = DateTime::<Utc>::from(now);
        let now_ms = to_ms(now);
        let max_wait_ms = i64::try_from(limit.max_wait_duration().as_millis()).unwrap_or(i64::MAX);
        let args = [
            "reserve".to_string(),
            now_ms.to_string(),
            day_period(t),
            month_period(t),
            limit.requests_per_minute().unwrap_or(0).to_string(),
            limit.requests_per_day().unwrap_or(0).to_string(),
            limit.requests_per_month().unwrap_or(0).to_string(),
            max_wait_ms.to_string(),
            FUTURE_LIMIT_MS.to_string(),
        ];
        let answer = integers(self.quota("reserving a quota slot", ns, &args)?)?;
        if answer.len() < 5 {
            return Err(SharedError("the quota script's answer is too short".into()));
        }
        let usage = usage_from(&answer, now);
        let refused = |window, limit: Option<u32>, wait| SharedReservation::Refused {
            window,
            limit: limit.unwrap_or(0),
            wait,
            usage: usage.clone(),
        };
        Ok(match answer[0] {
            1 => SharedReservation::Granted {
                slot: SlotId {
                    stamp: answer[2],
                    day: usage.day,
                    month: usage.month,
                },
                // The request's own time when it need not wait (the script counts in ms).
                at: if answer[1] <= now_ms {
                    now
                } else {
                    from_ms(answer[1])
                },
                usage: usage.clone(),
            },
            2 => refused(
                QuotaWindow::Day,
                limit.requests_per_day(),
                until_midnight_utc(t),
            ),
            3 => refused(
                QuotaWindow::Month,
                limit.requests_per_month(),
                until_next_month_utc(t),
            ),
            4 => refused(
                QuotaWindow::Minute,
                limit.requests_per_minute(),
                Duration::from_millis(answer[1].max(0) as u64),
            ),
            other => {
                return Err(SharedError(format!(
                    "the quota script answered code {other}"
                )));
            }
        })
    }

    fn release(&self, ns: &Namespace, slot: &SlotId) -> Result<(), SharedError> {
        let args = [
            "release".to_string(),
            slot.stamp.to_string(),
            slot.day.to_string(),
            format!("{:04}-{:02}", slot.month.0, slot.month.1),
        ];
        self.quota("giving back a quota slot", ns, &args)?;
        Ok(())
    }

    fn usage(&self, ns: &Namespace, now: SystemTime) -> Result<SharedUsage, SharedError> {
        let t = DateTime::<Utc>::from(now);
        let args = [
            "usage".to_string(),
            to_ms(now).to_string(),
            day_period(t),
            month_period(t),
            "0".into(),
            "0".into(),
            "0".into(),
            "0".into(),
            FUTURE_LIMIT_MS.to_string(),
        ];
        let answer = integers(self.quota("reading the quota windows", ns, &args)?)?;
        if answer.len() < 5 {
            return Err(SharedError("the quota script's answer is too short".into()));
        }
        Ok(usage_from(&answer, now))
    }

    fn describe(&self) -> String {
        format!("Redis at {}", self.url)
    }
}

impl Store for RedisStore {
    fn get(&self, ns: &Namespace, key: &str, now: SystemTime) -> Result<Option<Entry>, StoreError> {
        let k = entry_key(ns, key);
        let raw: Option<Vec<u8>> = self.with_conn("reading an answer", |conn| {
            redis::cmd("GET").arg(&k).query(conn)
        })?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let Some(entry) = decode_entry(&raw) else {
            tracing::debug!(target: "vtmcp::cache", "Redis: an entry of another format is ignored");
            return Ok(None);
        };
        if entry.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        Ok(Some(entry))
    }

    fn put(
        &self,
        ns: &Namespace,
        key: &str,
        entry: &Entry,
        max_bytes: u64,
    ) -> Result<bool, StoreError> {
        let k = entry_key(ns, key);
        let value = encode_entry(entry);
        if (value.len() + k.len()) as u64 > max_bytes {
            return Ok(false);
        }
        let ttl = match entry.expires_at {
            None => FOREVER_TTL,
            Some(e) => match e.duration_since(entry.stored_at) {
                Ok(d) if !d.is_zero() => d,
                _ => return Ok(false),
            },
        };
        let px = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.with_conn("storing an answer", |conn| {
            redis::cmd("SET")
                .arg(&k)
                .arg(&value)
                .arg("PX")
                .arg(px)
                .query::<()>(conn)
        })?;
        Ok(true)
    }

    fn stats(&self) -> Result<CacheStats, StoreError> {
        let (entries, bytes, oldest) = self.with_conn("reading the totals", |conn| {
            let (mut entries, mut bytes, mut oldest) = (0u64, 0u64, None::<i64>);
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(ENTRY_PATTERN)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query(conn)?;
                if !keys.is_empty() {
                    let mut pipe = redis::pipe();
                    for k in &keys {
                        pipe.cmd("STRLEN")
                            .arg(k)
                            .cmd("GETRANGE")
                            .arg(k)
                            .arg(4)
                            .arg(11);
                    }
                    let answers: Vec<redis::Value> = pipe.query(conn)?;
                    for (k, pair) in keys.iter().zip(answers.chunks(2)) {
                        let (redis::Value::Int(len), stamp) = (&pair[0], &pair[1]) else {
                            continue;
                        };
                        if *len == 0 {
                            continue; // expired between SCAN and STRLEN
                        }
                        entries += 1;
                        bytes += *len as u64 + k.len() as u64;
                        if let redis::Value::BulkString(b) = stamp
                            && let Ok(b) = <[u8; 8]>::try_from(&b[..])
                        {
                            let at = i64::from_be_bytes(b);
                            oldest = Some(oldest.map_or(at, |o: i64| o.min(at)));
                        }
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            Ok((entries, bytes, oldest))
        })?;
        Ok(CacheStats {
            location: self.url.to_string(),
            entries,
            bytes,
            file_bytes: None,
            oldest: oldest.map(from_ms),
        })
    }

    fn clear(&self) -> Result<u64, StoreError> {
        self.with_conn("clearing the cache", |conn| {
            let mut removed = 0u64;
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(ENTRY_PATTERN)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query(conn)?;
                if !keys.is_empty() {
                    let n: u64 = redis::cmd("UNLINK").arg(&keys).query(conn)?;
                    removed += n;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            Ok(removed)
        })
    }

    fn problem(&self) -> Option<String> {
        RedisStore::problem(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_the_password() {
        let u = RedisUrl::parse("redis://vt:s3cr%40t-password@cache.internal:6380/2").unwrap();
        assert_eq!((u.host(), u.port(), u.db()), ("cache.internal", 6380, 2));
        assert_eq!(u.username.as_deref(), Some("vt"));
        assert_eq!(u.password.as_deref(), Some("s3cr@t-password"));
        for shown in [u.to_string(), format!("{u:?}")] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(
                shown.contains("redis://vt:<redacted>@cache.internal:6380/2"),
                "{shown}"
            );
        }
        let u = RedisUrl::parse("redis://:only-a-password@127.0.0.1").unwrap();
        assert_eq!(u.to_string(), "redis://:<redacted>@127.0.0.1:6379/0");
        let u = RedisUrl::parse("redis://[::1]:7000").unwrap();
        assert_eq!(
            (u.host(), u.to_string().as_str()),
            ("::1", "redis://[::1]:7000/0")
        );
        assert!(!u.has_password());
        for bad in [
            "redis://:pw-in-a-bad-url@host/x",
            "redis://:pw-in-a-bad-url@host/0?timeout=1",
            "redis://:pw-in-a-bad-url@/0",
            "http://:pw-in-a-bad-url@host",
        ] {
            let e = RedisUrl::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("pw-in"), "{e}");
            assert!(e.contains("redis://[user:pass@]host"), "{bad}: {e}");
        }
        let e = RedisUrl::parse("rediss://:pw@host:6380")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not supported") && !e.contains(":pw@"), "{e}");
    }

    #[test]
    fn entries_round_trip_and_foreign_values_are_ignored() {
        let e = Entry {
            status: 404,
            body: bytes::Bytes::from_static(br#"{"error":{}}"#),
            stored_at: from_ms(1_800_000_000_123),
            expires_at: Some(from_ms(1_800_003_600_123)),
        };
        assert_eq!(decode_entry(&encode_entry(&e)), Some(e.clone()));
        let forever = Entry {
            expires_at: None,
            ..e
        };
        assert_eq!(decode_entry(&encode_entry(&forever)), Some(forever));
        assert_eq!(decode_entry(b"hello"), None);
        assert_eq!(decode_entry(&[b'X'; 40]), None);
    }

    #[test]
    fn nothing_connects_before_first_use() {
        // An address nothing listens on: building the store does no I/O and no warning.
        let store = RedisStore::new(RedisUrl::parse("redis://127.0.0.1:1").unwrap());
        assert!(store.client.get().is_none() && store.problem().is_none());
        let started = Instant::now();
        assert!(store.stats().is_err());
        let problem = store.problem().unwrap();
        assert!(problem.contains("redis://127.0.0.1:1/0"), "{problem}");
        // During the outage, calls fail at once without connecting.
        let again = Instant::now();
        for _ in 0..100 {
            assert!(store.clear().is_err());
        }
        assert!(again.elapsed() < Duration::from_millis(200));
        assert!(started.elapsed() < CONNECT_TIMEOUT * 3);
    }
}
