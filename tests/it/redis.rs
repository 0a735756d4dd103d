//! The Redis backend on a real `redis-server` (started per test on a free loopback port, see
//! `support::redis`; skipped without one unless `VTMCP_TESTS_REQUIRE_ALL` is set): the cache
//! tests of `cache.rs` run on it, the quota script decides as `plan` (and the SQLite store)
//! do, two real binaries share one per-minute limit, a Redis killed mid-run does not stop
//! calls and caching and sharing resume once it is back, and its password never shows.

use crate::cache::{HASH, config_with, mount_file, requests_to};
use crate::mcp::text;
use crate::support::{TEST_KEY, mock_vt, redis as server};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncReadExt;
use vtmcp::cache::{Cache, Namespace, RedisStore, RedisUrl, SqliteStore};
use vtmcp::client::policy::shared::plan;
use vtmcp::client::policy::{SharedReservation, SharedWindows, SlotId};
use vtmcp::client::{ApiKey, RateLimit};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_repeated_report_is_answered_from_redis_and_says_so() {
    let Some(redis) = server::start(None) else {
        return;
    };
    crate::cache::a_repeated_report_is_cached_on(redis.cache_config()).await;
}

#[tokio::test]
async fn cache_only_on_redis_makes_no_request_and_says_not_cached() {
    let Some(redis) = server::start(None) else {
        return;
    };
    crate::cache::cache_only_says_not_cached_on(redis.cache_config()).await;
}

#[tokio::test]
async fn a_write_makes_what_redis_holds_about_its_object_stale() {
    let Some(redis) = server::start(None) else {
        return;
    };
    crate::cache::a_write_makes_cached_answers_stale_on(redis.cache_config()).await;
}

// ---- The quota script decides as `plan` does ----

/// A Redis store and an SQLite store driven alike; each reservation is checked against `plan`
/// on the windows Redis held just before, and against the SQLite store's answer.
struct Twins {
    _dir: tempfile::TempDir,
    redis: RedisStore,
    sqlite: SqliteStore,
    ns_redis: Namespace,
    ns_sqlite: Namespace,
    /// Slots granted by both, for releases.
    granted: Vec<(SlotId, SlotId)>,
    decisions: usize,
}

impl Twins {
    fn new(url: &str) -> Twins {
        let dir = tempfile::tempdir().unwrap();
        let redis = RedisStore::new(RedisUrl::parse(url).unwrap());
        let sqlite = SqliteStore::new(dir.path().join("q.sqlite3"));
        let key = ApiKey::new(TEST_KEY);
        Twins {
            ns_redis: SharedWindows::namespace(&redis, &key).unwrap(),
            ns_sqlite: SharedWindows::namespace(&sqlite, &key).unwrap(),
            _dir: dir,
            redis,
            sqlite,
            granted: vec![],
            decisions: 0,
        }
    }

    fn reserve(&mut self, limit: &RateLimit, now: SystemTime) -> SharedReservation {
        let before = self.redis.usage(&self.ns_redis, now).unwrap();
        assert_eq!(
            before,
            self.sqlite.usage(&self.ns_sqlite, now).unwrap(),
            "windows differ before a reservation at {now:?}"
        );
        let expected = plan(limit, &before, now);
        let r = self.redis.reserve(&self.ns_redis, limit, now).unwrap();
        let s = self.sqlite.reserve(&self.ns_sqlite, limit, now).unwrap();
        match (&r, &expected) {
            (SharedReservation::Granted { at, .. }, Ok(e)) => assert_eq!(at, e, "{limit:?}"),
            (
                SharedReservation::Refused {
                    window,
                    limit: l,
                    wait,
                    ..
                },
                Err(e),
            ) => assert_eq!(&(*window, *l, *wait), e, "{limit:?}"),
            _ => panic!("Redis decided {r:?}, plan {expected:?} ({limit:?}, {before:?})"),
        }
        assert_eq!(
            without_stamp(&r),
            without_stamp(&s),
            "Redis and SQLite differ"
        );
        if let (
            SharedReservation::Granted { slot: a, .. },
            SharedReservation::Granted { slot: b, .. },
        ) = (&r, &s)
        {
            self.granted.push((a.clone(), b.clone()));
        }
        self.decisions += 1;
        r
    }

    fn release(&mut self, i: usize) {
        let (a, b) = self.granted.remove(i);
        self.redis.release(&self.ns_redis, &a).unwrap();
        self.sqlite.release(&self.ns_sqlite, &b).unwrap();
    }
}

fn without_stamp(r: &SharedReservation) -> SharedReservation {
    let mut r = r.clone();
    if let SharedReservation::Granted { slot, .. } = &mut r {
        slot.stamp = 0;
    }
    r
}

fn at(s: &str) -> SystemTime {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().into()
}

fn granted_at(r: &SharedReservation) -> Option<SystemTime> {
    match r {
        SharedReservation::Granted { at, .. } => Some(*at),
        _ => None,
    }
}

#[test]
fn the_quota_script_decides_as_plan_does() {
    let Some(redis) = server::start(None) else {
        return;
    };
    let secs = Duration::from_secs;
    // The table: each case on a fresh namespace (a flushed database).
    type Step = (&'static str, Option<usize>);
    let cases: Vec<(RateLimit, Vec<Step>)> = vec![
        // The minute slides, waits keep send order, a long wait is refused.
        (
            RateLimit::per_minute(2).max_wait(secs(120)),
            vec![
                ("2026-12-06T09:59:40Z", None),
                ("2026-12-06T10:00:10Z", None),
                ("2026-12-06T10:00:30Z", None),
                ("2026-12-06T10:00:45Z", None),
                ("2026-12-06T10:00:46Z", None),
                ("2026-12-06T10:03:00Z", None),
            ],
        ),
        (
            RateLimit::public().max_wait(secs(5)),
            vec![("2026-12-06T10:00:00Z", None); 6],
        ),
        // The day budget is a UTC day; a released slot comes back; yesterday's release is void.
        (
            RateLimit::unlimited().per_day(2),
            vec![
                ("2026-12-06T23:59:58Z", None),
                ("2026-12-06T23:59:58Z", None),
                ("2026-12-06T23:59:59Z", None),
                ("2026-12-06T23:59:59Z", Some(0)),
                ("2026-12-06T23:59:59Z", None),
                ("2026-12-07T00:00:01Z", None),
                ("2026-12-07T00:00:02Z", Some(0)),
                ("2026-12-07T00:00:03Z", None),
            ],
        ),
        // The month allowance is a UTC month.
        (
            RateLimit::unlimited().per_day(10).per_month(3),
            vec![
                ("2026-12-01T12:00:00Z", None),
                ("2026-12-02T12:00:00Z", None),
                ("2026-12-03T12:00:00Z", None),
                ("2026-12-31T23:00:00Z", None),
                ("2027-01-01T00:00:00Z", None),
            ],
        ),
        // A clock turned back by two days does not block for ever.
        (
            RateLimit::per_minute(1).max_wait(secs(5)),
            vec![
                ("2026-12-08T10:00:00Z", None),
                ("2026-12-06T10:00:00Z", None),
            ],
        ),
        // No wait allowed at all.
        (
            RateLimit::per_minute(1).max_wait(Duration::ZERO),
            vec![
                ("2026-12-06T10:00:00Z", None),
                ("2026-12-06T10:00:00.500Z", None),
            ],
        ),
    ];
    for (limit, steps) in cases {
        flush(&redis);
        let mut twins = Twins::new(&redis.url());
        for (time, release) in steps {
            if let Some(i) = release
                && i < twins.granted.len()
            {
                twins.release(i);
            }
            twins.reserve(&limit, at(time));
        }
    }
    // Spot checks that the table means what it says.
    flush(&redis);
    let mut twins = Twins::new(&redis.url());
    let limit = RateLimit::per_minute(2).max_wait(secs(120));
    twins.reserve(&limit, at("2026-12-06T09:59:40Z"));
    twins.reserve(&limit, at("2026-12-06T10:00:10Z"));
    assert_eq!(
        granted_at(&twins.reserve(&limit, at("2026-12-06T10:00:30Z"))),
        Some(at("2026-12-06T10:00:40Z"))
    );

    // A seeded random sequence: limits, times (across a UTC day and month), releases.
    flush(&redis);
    let mut twins = Twins::new(&redis.url());
    let mut rng = 0x5eed_1234_u64;
    let mut next = move |n: u64| {
        // splitmix64
        rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    };
    let mut now = at("2026-12-31T23:50:00Z");
    let mut granted = 0;
    for _ in 0..400 {
        let mut limit = RateLimit::per_minute(1 + next(5) as u32)
            .per_day(20 + next(30) as u32)
            .max_wait(Duration::from_millis(next(3) * 40_000));
        if next(2) == 0 {
            limit = limit.per_month(60 + next(40) as u32);
        }
        if next(8) == 0 {
            limit = RateLimit::unlimited().per_day(40).max_wait(secs(10));
        }
        if next(6) == 0 && !twins.granted.is_empty() {
            let i = next(twins.granted.len() as u64) as usize;
            twins.release(i);
        }
        if granted_at(&twins.reserve(&limit, now)).is_some() {
            granted += 1;
        }
        now += Duration::from_millis(next(8_000));
    }
    assert!(
        twins.decisions == 400 && granted > 50 && granted < 400,
        "{granted}"
    );
}

fn flush(redis: &server::RedisServer) {
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    ::redis::cmd("FLUSHALL").query::<()>(&mut conn).unwrap();
}

// ---- Real binaries ----

fn binary(cache: &str, upstream: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"));
    cmd.env_clear()
        .env("VTMCP_CACHE", cache)
        .env("VT_API_KEY", TEST_KEY)
        .env("VT_BASE_URL", upstream)
        .env("VTMCP_TOOLSETS", "default,ip_addresses,files")
        .env("VT_TIER", "public")
        .env("RUST_LOG", "vtmcp=debug")
        .kill_on_drop(true);
    cmd
}

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// The binary on stdio, and its log.
async fn spawn(cmd: tokio::process::Command) -> (Client, tokio::task::JoinHandle<String>) {
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let logs = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.unwrap().read_to_string(&mut s).await;
        s
    });
    (().serve(transport).await.unwrap(), logs)
}

async fn call(client: &Client, tool: &str, args: Value) -> rmcp::model::CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(tool.to_string())
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap()
}

async fn mount_ips(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/ip_addresses/[0-9.]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "ip_address", "id": "192.0.2.1",
            "attributes": {"as_owner": "EXAMPLE", "last_analysis_stats": {"malicious": 0}}}})))
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_binaries_on_one_redis_share_the_per_minute_limit() {
    let Some(redis) = server::start(None) else {
        return;
    };
    let upstream = mock_vt().await;
    mount_ips(&upstream).await;
    let mut clients = vec![];
    for _ in 0..2 {
        let mut cmd = binary(&redis.url(), &upstream.uri());
        cmd.args(["--requests-per-minute", "4"]);
        clients.push(spawn(cmd).await.0);
    }
    // 8 calls at once, 4 from each process, each for another address (none cached).
    let mut calls = vec![];
    for (i, client) in clients.iter().enumerate() {
        for j in 0..4 {
            let peer = client.peer().clone();
            let ip = format!("192.0.2.{}", 10 * i + j + 1);
            calls.push(tokio::spawn(async move {
                peer.call_tool(
                    CallToolRequestParams::new("get_ip_address")
                        .with_arguments(json!({"ip": ip}).as_object().unwrap().clone()),
                )
                .await
            }));
        }
    }
    // Within the minute, the two processes together send 4 and the other 4 wait.
    let started = Instant::now();
    let mut seen = 0;
    while started.elapsed() < Duration::from_secs(8) {
        seen = upstream.received_requests().await.unwrap().len();
        assert!(seen <= 4, "{seen} requests within a minute on a limit of 4");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, 4, "the first 4 went out");
    let finished = calls.iter().filter(|c| c.is_finished()).count();
    assert_eq!(finished, 4, "4 calls answered, 4 wait for the next minute");
    // Both processes counted in one window in Redis.
    let windows = Cache::new(redis.cache_config()).shared_windows().unwrap();
    let windows2 = windows.clone();
    let usage = tokio::task::spawn_blocking(move || {
        let ns = windows2.namespace(&ApiKey::new(TEST_KEY)).unwrap();
        windows2.usage(&ns, SystemTime::now()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        usage.used_today, 8,
        "4 sent and 4 reserved for the next minute"
    );
    for c in calls {
        c.abort();
    }
    drop(clients);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_mid_run_calls_keep_answering_and_caching_and_sharing_resume() {
    let Some(mut redis) = server::start(None) else {
        return;
    };
    let upstream = mock_vt().await;
    mount_file(&upstream).await;
    let file = format!("/files/{HASH}");
    let mut cmd = binary(&redis.url(), &upstream.uri());
    cmd.args(["--requests-per-minute", "1000"]);
    let (client, logs) = spawn(cmd).await;
    let report = json!({"file_hash": HASH});
    call(&client, "get_file_report", report.clone()).await;
    let r = call(&client, "get_file_report", report.clone()).await;
    assert!(
        text(&r).contains("Cache: answered from vtmcp's cache"),
        "{}",
        text(&r)
    );
    assert_eq!(requests_to(&upstream, &file).await, 1);

    redis.kill();
    for n in 2..=4 {
        let started = Instant::now();
        let r = call(&client, "get_file_report", report.clone()).await;
        assert_ne!(r.is_error, Some(true), "{}", text(&r));
        let t = text(&r);
        assert!(t.contains("60/65"), "still the report: {t}");
        assert!(
            t.contains("Cache: not available for this call") && t.contains("cannot be used"),
            "{t}"
        );
        assert_eq!(
            r.structured_content.as_ref().unwrap()["_vtmcp"]["cache"]["unavailable"]
                .as_str()
                .map(|s| s.contains("Redis at redis://127.0.0.1:")),
            Some(true)
        );
        assert_eq!(requests_to(&upstream, &file).await, n, "uncached: fetched");
        assert!(started.elapsed() < Duration::from_secs(3), "no call hangs");
    }

    redis.restart();
    // Past the reconnect interval, the next call connects again.
    tokio::time::sleep(vtmcp::cache::redis::RECONNECT_INTERVAL + Duration::from_millis(300)).await;
    let r = call(&client, "get_file_report", report.clone()).await;
    assert!(!text(&r).contains("Cache:"), "{}", text(&r));
    assert_eq!(
        requests_to(&upstream, &file).await,
        5,
        "the restarted Redis is empty"
    );
    let r = call(&client, "get_file_report", report.clone()).await;
    assert!(
        text(&r).contains("Cache: answered from vtmcp's cache"),
        "caching resumed: {}",
        text(&r)
    );
    assert_eq!(requests_to(&upstream, &file).await, 5);
    // Sharing resumed: the quota windows are in Redis again, under the same salt.
    let store = RedisStore::new(RedisUrl::parse(&redis.url()).unwrap());
    let used = tokio::task::spawn_blocking(move || {
        let ns = SharedWindows::namespace(&store, &ApiKey::new(TEST_KEY)).unwrap();
        store.usage(&ns, SystemTime::now()).unwrap().used_today
    })
    .await
    .unwrap();
    assert_eq!(
        used, 1,
        "the request after the restart was counted in Redis"
    );

    client.cancel().await.unwrap();
    let logs = logs.await.unwrap();
    // One warning from the store for the outage, and one from the limiter that falls back.
    let warned = |target: &str| {
        logs.lines()
            .filter(|l| l.contains(&format!("WARN {target}: ")))
            .count()
    };
    assert_eq!(
        warned("vtmcp::cache"),
        1,
        "one warning for the outage:\n{logs}"
    );
    assert_eq!(warned("vtmcp::client"), 1, "{logs}");
    assert!(logs.contains("answers again"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_password_never_shows() {
    const PASSWORD: &str = "pw-7d41c0ffee-secret";
    let Some(redis) = server::start(Some(PASSWORD)) else {
        return;
    };
    let url = redis.url();
    assert!(url.contains(PASSWORD));
    let upstream = mock_vt().await;
    mount_file(&upstream).await;
    let run = |args: &[&str], env: (&str, &str)| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
            .env_clear()
            .env(env.0, env.1)
            .env("RUST_LOG", "trace")
            .args(args)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(PASSWORD), "{args:?}: {all}");
        (out.status.success(), all)
    };
    let shown = format!("redis://:<redacted>@127.0.0.1:{}/0", redis.port());
    // `cache path`, from VTMCP_CACHE and from VTMCP_REDIS_URL.
    for var in ["VTMCP_CACHE", "VTMCP_REDIS_URL"] {
        let (ok, out) = run(&["cache", "path"], (var, &url));
        assert!(ok && out.trim() == shown, "{var}: {out}");
    }
    let (ok, out) = run(&["cache", "path", "--cache", &url], ("VTMCP_X", ""));
    assert!(ok && out.trim() == shown, "{out}");
    // `cache stats` and `cache clear` authenticate and show the server redacted.
    let (ok, out) = run(&["cache", "stats"], ("VTMCP_CACHE", &url));
    assert!(
        ok && out.contains(&shown) && out.contains("answers: 0"),
        "{out}"
    );
    let (ok, out) = run(&["cache", "clear"], ("VTMCP_CACHE", &url));
    assert!(ok && out.contains("0 cached answer(s)"), "{out}");
    // --help with the URL in the environment.
    let (ok, _) = run(&["--help"], ("VTMCP_CACHE", &url));
    assert!(ok);
    // A malformed URL with the password is refused without quoting it.
    let bad = format!("redis://:{PASSWORD}@127.0.0.1:{}/x", redis.port());
    let (ok, out) = run(&["cache", "path"], ("VTMCP_CACHE", &bad));
    assert!(!ok && out.contains("not shown"), "{out}");

    // A server with the right password: cached as usual; the log says nothing of it.
    let (client, logs) = spawn(binary(&url, &upstream.uri())).await;
    for _ in 0..2 {
        let r = call(&client, "get_file_report", json!({"file_hash": HASH})).await;
        assert!(!serde_json::to_string(&r).unwrap().contains(PASSWORD));
    }
    assert_eq!(requests_to(&upstream, &format!("/files/{HASH}")).await, 1);
    client.cancel().await.unwrap();
    let logs = logs.await.unwrap();
    assert!(!logs.contains(PASSWORD), "{logs}");

    // A wrong password: calls answer uncached; the warning and the results name the server
    // without the password.
    let wrong = format!("redis://:{PASSWORD}-wrong@127.0.0.1:{}", redis.port());
    let (client, logs) = spawn(binary(&wrong, &upstream.uri())).await;
    let r = call(&client, "get_file_report", json!({"file_hash": HASH})).await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let all = serde_json::to_string(&r).unwrap();
    assert!(
        all.contains("cannot be used") && !all.contains(PASSWORD),
        "{all}"
    );
    client.cancel().await.unwrap();
    let logs = logs.await.unwrap();
    assert!(logs.contains("WARN") && logs.contains(&shown), "{logs}");
    assert!(!logs.contains(PASSWORD), "{logs}");
}

#[tokio::test]
async fn stats_and_clear_touch_only_vtmcp_answers() {
    let Some(redis) = server::start(None) else {
        return;
    };
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    ::redis::cmd("SET")
        .arg("someone:else")
        .arg("theirs")
        .query::<()>(&mut conn)
        .unwrap();
    let upstream = mock_vt().await;
    mount_file(&upstream).await;
    mount_ips(&upstream).await;
    let mut config = config_with(&upstream, redis.cache_config());
    config.rate_limit = Some(RateLimit::per_minute(100));
    let mcp = crate::mcp::connect(&config).await;
    crate::mcp::call(&mcp, "get_file_report", json!({"file_hash": HASH})).await;
    crate::mcp::call(&mcp, "get_file", json!({"id": HASH})).await;
    let cache = Cache::new(redis.cache_config());
    let stats = cache.stats().await.unwrap();
    assert_eq!(stats.entries, 2, "{stats:?}");
    assert!(stats.bytes > 200 && stats.oldest.is_some() && stats.file_bytes.is_none());
    assert!(
        stats.to_string().contains("server:  redis://127.0.0.1:"),
        "{stats}"
    );
    assert_eq!(cache.clear().await.unwrap(), 2);
    assert_eq!(cache.stats().await.unwrap().entries, 0);
    // Another program's key, the salt and the quota windows stay.
    let theirs: Option<String> = ::redis::cmd("GET")
        .arg("someone:else")
        .query(&mut conn)
        .unwrap();
    assert_eq!(theirs.as_deref(), Some("theirs"));
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("vtmcp:*")
        .query(&mut conn)
        .unwrap();
    assert!(keys.iter().any(|k| k == "vtmcp:salt"), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("vtmcp:q:")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("vtmcp:c:")), "{keys:?}");
    // Every answer has an expiry (an eviction policy limited to them can make room); the
    // windows and the salt have none.
    crate::mcp::call(&mcp, "get_file", json!({"id": HASH})).await;
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("vtmcp:*")
        .query(&mut conn)
        .unwrap();
    for k in keys {
        let ttl: i64 = ::redis::cmd("PTTL").arg(&k).query(&mut conn).unwrap();
        assert_eq!(k.starts_with("vtmcp:c:"), ttl > 0, "{k}: {ttl}");
    }
    // The API key is stored nowhere.
    let dump: Vec<String> = ::redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    for k in dump {
        assert!(!k.contains(TEST_KEY));
        let v: Option<Vec<u8>> = ::redis::cmd("GET").arg(&k).query(&mut conn).unwrap_or(None);
        assert!(!String::from_utf8_lossy(&v.unwrap_or_default()).contains(TEST_KEY));
    }
}

#[test]
fn a_redis_restarted_empty_gets_its_salt_back_from_a_running_instance() {
    let Some(mut redis) = server::start(None) else {
        return;
    };
    let key = ApiKey::new(TEST_KEY);
    let running = RedisStore::new(RedisUrl::parse(&redis.url()).unwrap());
    // What a running instance's limiter holds for the key.
    let before = SharedWindows::namespace(&running, &key).unwrap();
    redis.restart();
    // Its next command finds its connection gone, reconnects and proposes its salt again.
    running.usage(&before, SystemTime::now()).unwrap();
    // An instance started afterwards files the key under the same namespace.
    let started_after = RedisStore::new(RedisUrl::parse(&redis.url()).unwrap());
    assert_eq!(
        SharedWindows::namespace(&started_after, &key).unwrap(),
        before
    );
    assert!(running.problem().is_none());
}

#[tokio::test]
async fn two_clients_on_one_redis_share_the_daily_budget() {
    let Some(redis) = server::start(None) else {
        return;
    };
    crate::cache::two_clients_share_the_daily_budget_on(redis.cache_config()).await;
}
