//! The answer cache and the shared quota on a real SQLite file: repeated lookups served with no
//! request, one request for concurrent identical lookups, what is and is not kept, a file that
//! is corrupt or cannot be written (bypassed, calls still answer), a writer killed mid-write
//! (the file stays readable), and one quota for several clients and several processes.
//!
//! The multi-process tests start this test binary again, running [`child_process`] with a role
//! in the environment.

use crate::support::{TEST_KEY, mock_vt};
use bytes::Bytes;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use vtmcp::cache::{
    Answer, Cache, CacheConfig, Entry, Lookup, Origin, SqliteStore, TtlClass, TtlTable,
};
use vtmcp::client::policy::{SharedReservation, SharedWindows};
use vtmcp::client::{ApiKey, QuotaWindow, RateLimit, RetryPolicy, WaitEvent};
use vtmcp::{Client, Error};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The role of a child process (`writer`, `quota`); unset in the parent.
const CHILD: &str = "VTMCP_CACHE_TEST_CHILD";
const CHILD_PATH: &str = "VTMCP_CACHE_TEST_PATH";
const CHILD_URL: &str = "VTMCP_CACHE_TEST_URL";
const CHILD_CALLS: &str = "VTMCP_CACHE_TEST_CALLS";
const CHILD_START_MS: &str = "VTMCP_CACHE_TEST_START_MS";

fn fixture(name: &str) -> Value {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn key() -> ApiKey {
    ApiKey::new(TEST_KEY)
}

/// A fetch that sends `GET {server}{p}` and counts it.
async fn fetch_from(
    server_uri: String,
    p: &'static str,
    count: Arc<AtomicUsize>,
) -> Result<Answer, reqwest::Error> {
    count.fetch_add(1, Ordering::SeqCst);
    let resp = reqwest::get(format!("{server_uri}{p}")).await?;
    let status = resp.status().as_u16();
    Ok(Answer {
        status,
        body: resp.bytes().await?,
    })
}

async fn lookup(
    cache: &Cache,
    server: &MockServer,
    p: &'static str,
    count: &Arc<AtomicUsize>,
) -> Lookup {
    let (uri, count) = (server.uri(), count.clone());
    cache
        .get_or_fetch(&key(), &format!("GET {p}"), TtlClass::File, move || {
            fetch_from(uri, p, count)
        })
        .await
        .unwrap()
}

async fn mount(server: &MockServer, p: &str, status: u16, body: Value) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_repeated_lookup_is_answered_from_the_file_with_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.sqlite3");
    let server = mock_vt().await;
    let body = fixture("file.json");
    mount(&server, "/files/abc", 200, body.clone()).await;
    let count = Arc::new(AtomicUsize::new(0));

    let cache = Cache::new(CacheConfig::sqlite(&file));
    let first = lookup(&cache, &server, "/files/abc", &count).await;
    assert_eq!((first.status, first.origin), (200, Origin::Upstream));
    let second = lookup(&cache, &server, "/files/abc", &count).await;
    assert!(matches!(second.origin, Origin::Cache { age } if age < Duration::from_secs(5)));
    assert_eq!(serde_json::from_slice::<Value>(&second.body).unwrap(), body);
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // Another process (a new store on the same file) finds it too.
    let again = Cache::new(CacheConfig::sqlite(&file));
    let third = lookup(&again, &server, "/files/abc", &count).await;
    assert!(matches!(third.origin, Origin::Cache { .. }));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // Another key never sees it.
    let other_key = ApiKey::new("another-key-0123456789abcdef");
    assert!(again.get(&other_key, "GET /files/abc").await.is_none());
    assert!(again.get(&key(), "GET /files/abc").await.is_some());

    // `refresh` goes upstream whatever is cached, and stores what it got.
    let (uri, c) = (server.uri(), count.clone());
    let refreshed = again
        .refresh(&key(), "GET /files/abc", TtlClass::File, move || {
            fetch_from(uri, "/files/abc", c)
        })
        .await
        .unwrap();
    assert_eq!(refreshed.origin, Origin::Upstream);
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let Some(Lookup {
        origin: Origin::Cache { age },
        ..
    }) = cache.get(&key(), "GET /files/abc").await
    else {
        panic!("not cached after a refresh")
    };
    assert!(age < Duration::from_secs(5));
}

#[tokio::test]
async fn a_404_is_kept_briefly_and_errors_are_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = mock_vt().await;
    mount(
        &server,
        "/files/unknown",
        404,
        json!({"error": {"code": "NotFoundError", "message": "not found"}}),
    )
    .await;
    mount(
        &server,
        "/files/flaky",
        503,
        json!({"error": {"code": "TransientError", "message": "try again"}}),
    )
    .await;
    let count = Arc::new(AtomicUsize::new(0));
    let cache = Cache::new(CacheConfig::sqlite(dir.path().join("c.sqlite3")));
    for _ in 0..2 {
        lookup(&cache, &server, "/files/unknown", &count).await;
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "a 404 is an answer worth keeping"
    );
    for _ in 0..2 {
        let l = lookup(&cache, &server, "/files/flaky", &count).await;
        assert_eq!((l.status, l.origin), (503, Origin::Upstream));
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "a 503 is never served from the cache"
    );

    // A class whose lifetime is off keeps nothing; a lifetime that has run out returns nothing.
    let mut config = CacheConfig::sqlite(dir.path().join("d.sqlite3"));
    config.ttl = TtlTable::default()
        .with_overrides("file=off,url=1s")
        .unwrap();
    let short = Cache::new(config);
    let answer = Answer {
        status: 200,
        body: Bytes::from_static(b"{}"),
    };
    assert!(
        !short
            .put(&key(), "GET /files/x", TtlClass::File, &answer)
            .await
    );
    assert!(
        short
            .put(&key(), "GET /urls/x", TtlClass::Url, &answer)
            .await
    );
    // (A lifetime long enough that a loaded machine reads the entry before it runs out.)
    assert!(short.get(&key(), "GET /urls/x").await.is_some());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(short.get(&key(), "GET /urls/x").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_lookups_make_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path("/files/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("file.json"))
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&server)
        .await;
    mount(&server, "/files/other", 200, json!({"data": {}})).await;
    let count = Arc::new(AtomicUsize::new(0));
    let cache = Cache::new(CacheConfig::sqlite(dir.path().join("c.sqlite3")));
    let mut calls = vec![];
    for i in 0..20 {
        let (cache, server_uri, count) = (cache.clone(), server.uri(), count.clone());
        calls.push(tokio::spawn(async move {
            let p = if i == 19 {
                "/files/other"
            } else {
                "/files/slow"
            };
            cache
                .get_or_fetch(&key(), &format!("GET {p}"), TtlClass::File, move || {
                    fetch_from(server_uri, p, count)
                })
                .await
                .unwrap()
        }));
    }
    let mut origins = vec![];
    for c in calls {
        origins.push(c.await.unwrap().origin);
    }
    // One request for the 19 identical lookups, one for the other.
    assert_eq!(count.load(Ordering::SeqCst), 2, "{origins:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    let upstream = origins.iter().filter(|o| **o == Origin::Upstream).count();
    let joined = origins.iter().filter(|o| **o == Origin::Joined).count();
    let cached = origins
        .iter()
        .filter(|o| matches!(o, Origin::Cache { .. }))
        .count();
    assert_eq!(upstream, 2, "{origins:?}");
    assert_eq!(joined + cached, 18, "{origins:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_dropped_first_call_hands_over_to_a_waiting_one() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(CacheConfig::sqlite(dir.path().join("c.sqlite3")));
    let request = "GET /files/handover";
    let ok = || async {
        Ok::<_, String>(Answer {
            status: 200,
            body: Bytes::from_static(b"{\"ok\":true}"),
        })
    };

    // The first call fails: the one waiting for it fetches itself instead of failing too.
    let failing = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_fetch(&key(), request, TtlClass::File, || async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Err::<Answer, String>("upstream broke".into())
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiter = cache
        .get_or_fetch(&key(), request, TtlClass::File, ok)
        .await;
    assert_eq!(failing.await.unwrap().unwrap_err(), "upstream broke");
    assert_eq!(waiter.unwrap().origin, Origin::Upstream);

    // The first call is dropped (its client went away): the waiting one fetches.
    let request = "GET /files/dropped";
    let stuck = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_fetch(&key(), request, TtlClass::File, || async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Err::<Answer, String>("never".into())
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_fetch(&key(), request, TtlClass::File, ok)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    stuck.abort();
    let got = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter was left hanging")
        .unwrap()
        .unwrap();
    assert_eq!(got.origin, Origin::Upstream);
}

#[tokio::test]
async fn nothing_is_opened_before_first_use_and_the_cli_helpers_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-yet").join("cache.sqlite3");
    let cache = Cache::new(CacheConfig::sqlite(&file));
    let windows = cache.shared_windows().unwrap();
    let server = mock_vt().await;
    let _client = Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .rate_limit(RateLimit::public())
        .shared_quota(windows)
        .build()
        .unwrap();
    assert!(
        !file.parent().unwrap().exists(),
        "start-up touched the disk"
    );
    assert_eq!(cache.path(), Some(file.as_path()));

    let answer = Answer {
        status: 200,
        body: Bytes::from(vec![b'x'; 1000]),
    };
    for i in 0..3 {
        assert!(
            cache
                .put(&key(), &format!("GET /files/{i}"), TtlClass::File, &answer)
                .await
        );
    }
    let stats = cache.stats().await.unwrap();
    assert_eq!(
        (stats.entries, stats.location.as_str()),
        (3, file.display().to_string().as_str())
    );
    assert!(
        stats.bytes >= 3000 && stats.file_bytes.is_some_and(|b| b > 0),
        "{stats:?}"
    );
    assert!(stats.oldest.unwrap() <= SystemTime::now());
    assert_eq!(cache.clear().await.unwrap(), 3);
    assert_eq!(cache.stats().await.unwrap().entries, 0);
    assert!(cache.get(&key(), "GET /files/0").await.is_none());

    let off = Cache::off();
    assert!(off.path().is_none() && off.shared_windows().is_none());
    assert!(off.stats().await.unwrap_err().to_string().contains("off"));
    assert!(
        !off.put(&key(), "GET /files/0", TtlClass::File, &answer)
            .await
    );
}

#[tokio::test]
async fn a_corrupt_or_unwritable_file_is_bypassed_and_calls_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, b"definitely not SQLite ".repeat(400)).unwrap();
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, b"x").unwrap();
    let server = mock_vt().await;
    mount(&server, "/files/abc", 200, fixture("file.json")).await;
    for file in [junk.clone(), blocked.join("cache.sqlite3")] {
        let count = Arc::new(AtomicUsize::new(0));
        let cache = Cache::new(CacheConfig::sqlite(&file));
        for _ in 0..2 {
            let l = lookup(&cache, &server, "/files/abc", &count).await;
            assert_eq!((l.status, l.origin), (200, Origin::Upstream));
        }
        assert_eq!(count.load(Ordering::SeqCst), 2, "{}", file.display());
        let problem = cache.problem().expect("the problem is reported");
        assert!(problem.contains(&file.display().to_string()), "{problem}");
        assert!(cache.stats().await.is_err());
        assert!(cache.clear().await.is_err());
    }
    // The corrupt file is not "repaired" by overwriting it.
    assert!(
        std::fs::read(&junk)
            .unwrap()
            .starts_with(b"definitely not SQLite")
    );
}

/// The `x-vt-cache` annotations of the spec: every GET has one (a class or `never`), nothing
/// else does, and what must never be cached is not.
#[test]
fn the_spec_says_which_answers_may_be_cached() {
    let never_paths = [
        "/users/",
        "/groups/",
        "/service_accounts/",
        "/private/",
        "/monitor",
        "/ioc_stream",
        "/intelligence/hunting",
        "/intelligence/retrohunt",
        "/saved_searches",
        "/graphs",
        "/operations/",
        "/zip_files/",
        "/feeds/",
        "upload_url",
        "download_url",
        "/widget/",
        "/subscription_preferences",
        "hunting_rulesets",
    ];
    let mut cacheable = 0;
    for (path, item) in crate::support::spec()["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let value = op.get("x-vt-cache").map(|v| v.as_str().expect("a string"));
            if method != "get" {
                assert_eq!(value, None, "{id}: only GETs are cached");
                continue;
            }
            let value = value.unwrap_or_else(|| panic!("{id}: a GET without x-vt-cache"));
            let class =
                TtlClass::from_annotation(Some(value)).unwrap_or_else(|e| panic!("{id}: {e}"));
            let Some(class) = class else { continue };
            cacheable += 1;
            assert!(
                !never_paths.iter().any(|n| path.contains(n)),
                "{id} ({path}) must never be cached, but is `{class}`"
            );
            let content = crate::support::resolve(&op["responses"]["200"])["content"]
                .as_object()
                .map(|c| c.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            assert!(
                content.iter().all(|c| c == "application/json"),
                "{id}: a binary answer ({content:?}) is never cached"
            );
        }
    }
    assert!(cacheable > 50, "{cacheable}");
    for (id, class) in [
        ("get_file", TtlClass::File),
        ("get_url", TtlClass::Url),
        ("get_domain", TtlClass::Domain),
        ("get_ip_address", TtlClass::Ip),
        ("get_analysis", TtlClass::Analysis),
        ("get_attack_technique", TtlClass::Static),
        ("get_metadata", TtlClass::Static),
        ("intelligence_search", TtlClass::Search),
    ] {
        let op = crate::support::spec_op(id);
        assert_eq!(op.value["x-vt-cache"], class.name(), "{id}");
    }
    for id in [
        "get_user",
        "get_user_overall_quotas",
        "list_ioc_stream",
        "get_private_file",
    ] {
        let op = crate::support::spec_op(id);
        assert_eq!(op.value["x-vt-cache"], "never", "{id}");
    }
}

fn public_client(server: &MockServer, windows: Arc<dyn SharedWindows>, limit: RateLimit) -> Client {
    Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .rate_limit(limit)
        .retry(RetryPolicy::none())
        .shared_quota(windows)
        .build()
        .unwrap()
}

async fn get_ip(client: &Client) -> Result<(), Error> {
    client
        .get_ip_address()
        .ip("8.8.8.8")
        .send()
        .await
        .map(|_| ())
}

async fn mount_ip(server: &MockServer) {
    mount(
        server,
        "/ip_addresses/8.8.8.8",
        200,
        fixture("ip_address.json"),
    )
    .await;
}

#[tokio::test]
async fn two_clients_on_one_file_share_the_public_quota() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.sqlite3");
    let server = mock_vt().await;
    mount_ip(&server).await;
    let limit = RateLimit::public().max_wait(Duration::from_secs(2));
    // Two stores on one file: two connections, as two processes would have.
    let a = public_client(
        &server,
        Cache::new(CacheConfig::sqlite(&file))
            .shared_windows()
            .unwrap(),
        limit.clone(),
    );
    let b = public_client(
        &server,
        Cache::new(CacheConfig::sqlite(&file))
            .shared_windows()
            .unwrap(),
        limit,
    );
    let mut sent = 0;
    let mut refused = vec![];
    for i in 0..8 {
        let client = if i % 2 == 0 { &a } else { &b };
        match get_ip(client).await {
            Ok(()) => sent += 1,
            Err(Error::QuotaWait {
                window,
                limit,
                wait,
                ..
            }) => refused.push((window, limit, wait)),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(sent, 4);
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    assert_eq!(refused.len(), 4);
    for (window, limit, wait) in refused {
        assert_eq!((window, limit), (QuotaWindow::Minute, 4));
        assert!(wait > Duration::from_secs(50), "{wait:?}");
    }
    // Each client sees what both spent.
    let status = a.rate_limiter().current_status().await;
    assert!(status.shared);
    assert_eq!((status.used_last_minute, status.used_today), (4, 4));
    assert_eq!(b.quota_status().remaining_today, Some(496));
}

/// Two clients on one store (each with its own connection, as two processes or two machines
/// have) with a daily budget of 5: of 8 calls, exactly 5 go upstream together and the other 3
/// are refused naming the day window.
pub(crate) async fn two_clients_share_the_daily_budget_on(store: CacheConfig) {
    let server = mock_vt().await;
    mount_ip(&server).await;
    let limit = RateLimit::unlimited().per_day(5);
    let a = public_client(
        &server,
        Cache::new(store.clone()).shared_windows().unwrap(),
        limit.clone(),
    );
    let b = public_client(&server, Cache::new(store).shared_windows().unwrap(), limit);
    let (mut sent, mut refused) = (0, 0);
    for i in 0..8 {
        let client = if i % 2 == 0 { &a } else { &b };
        match get_ip(client).await {
            Ok(()) => sent += 1,
            Err(Error::QuotaWait { window, limit, .. }) => {
                assert_eq!((window, limit), (QuotaWindow::Day, 5));
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((sent, refused), (5, 3));
    assert_eq!(server.received_requests().await.unwrap().len(), 5);
    assert_eq!(b.quota_status().remaining_today, Some(0));
}

#[tokio::test]
async fn two_clients_on_one_file_share_the_daily_budget() {
    let dir = tempfile::tempdir().unwrap();
    two_clients_share_the_daily_budget_on(CacheConfig::sqlite(dir.path().join("d.sqlite3"))).await;
}

#[tokio::test]
async fn a_shared_wait_is_reported_and_a_dropped_wait_gives_its_slot_back() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(CacheConfig::sqlite(dir.path().join("q.sqlite3")));
    let windows = cache.shared_windows().unwrap();
    let server = mock_vt().await;
    mount_ip(&server).await;
    let limit = RateLimit::public().max_wait(Duration::from_secs(120));
    // Another process spent the minute's four requests 58.5 s ago.
    let ns = windows.namespace(&key()).unwrap();
    let earlier = SystemTime::now() - Duration::from_millis(58_500);
    for _ in 0..4 {
        assert!(matches!(
            windows.reserve(&ns, &limit, earlier).unwrap(),
            SharedReservation::Granted { .. }
        ));
    }
    let events = Arc::new(std::sync::Mutex::new(vec![]));
    let sink = events.clone();
    let client = Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .rate_limit(limit.clone())
        .shared_quota(windows.clone())
        .on_wait(move |e: &WaitEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    get_ip(&client).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    let events = events.lock().unwrap().clone();
    assert!(
        matches!(&events[..], [WaitEvent::RateLimit { per_minute: 4, wait, .. }] if *wait <= Duration::from_secs(2)),
        "{events:?}"
    );

    // Fill the window for a minute: a call that waits and is dropped gives its slot back.
    for _ in 0..3 {
        assert!(matches!(
            windows.reserve(&ns, &limit, SystemTime::now()).unwrap(),
            SharedReservation::Granted { .. }
        ));
    }
    let before = windows.usage(&ns, SystemTime::now()).unwrap();
    let dropped = tokio::time::timeout(Duration::from_millis(300), get_ip(&client)).await;
    assert!(dropped.is_err(), "the call should still be waiting");
    let mut after = windows.usage(&ns, SystemTime::now()).unwrap();
    for _ in 0..50 {
        if after.used_today == before.used_today {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = windows.usage(&ns, SystemTime::now()).unwrap();
    }
    assert_eq!(after.used_today, before.used_today);
    assert_eq!(after.minute.len(), before.minute.len());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_monthly_allowance_is_shared_and_refuses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.sqlite3");
    let server = mock_vt().await;
    mount_ip(&server).await;
    let limit = RateLimit::unlimited().per_month(3);
    let a = public_client(
        &server,
        Cache::new(CacheConfig::sqlite(&file))
            .shared_windows()
            .unwrap(),
        limit.clone(),
    );
    let b = public_client(
        &server,
        Cache::new(CacheConfig::sqlite(&file))
            .shared_windows()
            .unwrap(),
        limit,
    );
    get_ip(&a).await.unwrap();
    get_ip(&b).await.unwrap();
    get_ip(&a).await.unwrap();
    let e = get_ip(&b).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::QuotaWait {
                window: QuotaWindow::Month,
                limit: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("monthly allowance of 3 requests"),
        "{e}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert_eq!(b.quota_status().remaining_this_month, Some(0));
}

#[tokio::test]
async fn a_broken_quota_store_falls_back_to_this_processs_own_count() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, b"not a database at all ".repeat(300)).unwrap();
    let server = mock_vt().await;
    mount_ip(&server).await;
    let cache = Cache::new(CacheConfig::sqlite(&junk));
    let client = public_client(
        &server,
        cache.shared_windows().unwrap(),
        RateLimit::public().max_wait(Duration::from_secs(1)),
    );
    for _ in 0..4 {
        get_ip(&client).await.unwrap();
    }
    let e = get_ip(&client).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::QuotaWait {
                window: QuotaWindow::Minute,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    let status = client.quota_status();
    assert!(!status.shared);
    assert_eq!(status.used_today, 4);
    assert!(cache.problem().unwrap().contains("not an SQLite database"));
}

/// Starts this test binary again as a child running [`child_process`] with `role`.
fn spawn_child(role: &str, envs: &[(&str, String)]) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "cache::child_process",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, role)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// The body the writer stores under entry `i`: its own index, and padding derived from it.
fn writer_body(i: u64) -> Vec<u8> {
    let pad = format!("{i:016x}").repeat(3000);
    serde_json::to_vec(&json!({"i": i, "pad": pad})).unwrap()
}

fn entry_count(file: &Path) -> u64 {
    SqliteStore::new(file)
        .stats()
        .map(|s| s.entries)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_mid_write_leaves_a_readable_cache() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crash.sqlite3");
    for round in 1..=3u64 {
        let mut child = spawn_child("writer", &[(CHILD_PATH, file.display().to_string())]);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while entry_count(&file) < 20 * round {
            if std::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "the writer did not get going: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Kill it at an arbitrary point of its loop (SIGKILL on Unix: no clean-up runs).
        tokio::time::sleep(Duration::from_millis(7 * round)).await;
        child.kill().unwrap();
        child.wait().unwrap();

        let conn = rusqlite::Connection::open(&file).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        let mut stmt = conn.prepare("SELECT key, body FROM entries").unwrap();
        let rows: Vec<(String, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let counted: i64 = conn
            .query_row("SELECT entries FROM totals", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            counted as usize,
            rows.len(),
            "round {round}: the totals drifted"
        );
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(k, _)| k != "GET /files/after")
            .collect();
        assert!(
            rows.len() as u64 >= 20 * round,
            "round {round}: {} rows",
            rows.len()
        );
        for (k, body) in &rows {
            let i: u64 = k.trim_start_matches("GET /files/").parse().unwrap();
            assert!(
                body == &writer_body(i),
                "round {round}: entry {k} is damaged"
            );
        }
        // The cache still reads and writes through the ordinary API.
        let cache = Cache::new(CacheConfig::sqlite(&file));
        let writer_key = ApiKey::new("writer-key-0123456789abcdef");
        let (k, body) = &rows[rows.len() / 2];
        assert_eq!(
            &cache.get(&writer_key, k).await.unwrap().body[..],
            &body[..]
        );
        assert!(
            cache
                .put(
                    &key(),
                    "GET /files/after",
                    TtlClass::File,
                    &Answer {
                        status: 200,
                        body: Bytes::from_static(b"{}")
                    }
                )
                .await
        );
        assert!(cache.problem().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_file_send_four_of_eight_calls_on_the_public_quota() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quota.sqlite3");
    let server: MockServer = mock_vt().await;
    mount_ip(&server).await;
    let start_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1500;
    let envs = [
        (CHILD_PATH, file.display().to_string()),
        (CHILD_URL, server.uri()),
        (CHILD_CALLS, "4".to_string()),
        (CHILD_START_MS, start_ms.to_string()),
    ];
    let children = [spawn_child("quota", &envs), spawn_child("quota", &envs)];
    let mut results = vec![];
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        results.extend(
            stdout
                .lines()
                // The test harness may print its own "test … " on the same line.
                .filter_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
                .map(str::to_string),
        );
    }
    assert_eq!(results.len(), 8, "{results:?}");
    let sent = results.iter().filter(|r| *r == "sent").count();
    let refused = results
        .iter()
        .filter(|r| r.starts_with("refused minute"))
        .count();
    assert_eq!((sent, refused), (4, 4), "{results:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    let windows = Cache::new(CacheConfig::sqlite(&file))
        .shared_windows()
        .unwrap();
    let ns = windows.namespace(&key()).unwrap();
    assert_eq!(windows.usage(&ns, SystemTime::now()).unwrap().used_today, 4);
}

/// Not a test: the entry point of the child processes the tests above start (it returns at
/// once when run any other way).
#[test]
#[ignore = "a child process of the cache tests, started by them"]
fn child_process() {
    let Ok(role) = std::env::var(CHILD) else {
        eprintln!("cache::child_process only runs as a child of the cache tests");
        return;
    };
    let file = PathBuf::from(std::env::var(CHILD_PATH).unwrap());
    match role.as_str() {
        "writer" => child_writer(&file),
        "quota" => child_quota(&file),
        other => panic!("unknown child role {other}"),
    }
}

/// Writes entries in a loop until killed, carrying on from what the file holds.
fn child_writer(file: &Path) {
    let store = SqliteStore::new(file);
    let ns = store
        .namespace(&ApiKey::new("writer-key-0123456789abcdef"))
        .unwrap();
    let mut i = store.stats().unwrap().entries;
    loop {
        let body = writer_body(i);
        store
            .put(
                &ns,
                &format!("GET /files/{i}"),
                &Entry {
                    status: 200,
                    body: body.into(),
                    stored_at: SystemTime::now(),
                    expires_at: None,
                },
                1 << 30,
            )
            .unwrap();
        i += 1;
    }
}

/// Makes CHILD_CALLS concurrent calls at CHILD_START_MS through a client on the shared file,
/// printing one `RESULT` line per call.
fn child_quota(file: &Path) {
    let url = std::env::var(CHILD_URL).unwrap();
    let calls: usize = std::env::var(CHILD_CALLS).unwrap().parse().unwrap();
    let start_ms: u128 = std::env::var(CHILD_START_MS).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cache = Cache::new(CacheConfig::sqlite(file));
        let client = Client::builder()
            .api_key(TEST_KEY)
            .base_url(url)
            .rate_limit(RateLimit::public().max_wait(Duration::from_secs(2)))
            .retry(RetryPolicy::none())
            .shared_quota(cache.shared_windows().unwrap())
            .build()
            .unwrap();
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        if start_ms > now_ms {
            tokio::time::sleep(Duration::from_millis((start_ms - now_ms) as u64)).await;
        }
        let results = futures::future::join_all((0..calls).map(|_| get_ip(&client))).await;
        for r in results {
            match r {
                Ok(()) => println!("RESULT sent"),
                Err(Error::QuotaWait { window, .. }) => println!("RESULT refused {window}"),
                Err(e) => println!("RESULT error {e}"),
            }
        }
    });
}

// ---- Through the MCP server: the `cache` argument and what results say ----

/// A server on `server` whose cache is an SQLite file in `dir`.
fn cached_config(server: &MockServer, dir: &Path) -> vtmcp::config::Config {
    config_with(server, CacheConfig::sqlite(dir.join("cache.sqlite3")))
}

/// A server on `server` with the cache `cache` (either backend).
pub(crate) fn config_with(server: &MockServer, cache: CacheConfig) -> vtmcp::config::Config {
    let mut c = crate::mcp::config(
        &server.uri(),
        &["default", "files", "users"],
        &[],
        false,
        false,
    );
    c.cache = cache;
    c
}

/// Upstream requests to `path` the mock has seen.
pub(crate) async fn requests_to(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}

pub(crate) const HASH: &str = "44d88612fea8a8f36de82e1278abb02f";

pub(crate) async fn mount_file(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("/files/{HASH}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "file", "id": HASH, "attributes": {
                "meaningful_name": "eicar.com",
                "last_analysis_stats": {"malicious": 60, "undetected": 5, "type-unsupported": 3}}}})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_repeated_report_is_answered_from_the_cache_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.sqlite3");
    a_repeated_report_is_cached_on(CacheConfig::sqlite(file)).await;
}

/// A repeated report sends nothing and says it is cached; `refresh` sends exactly one request;
/// a new server on the same store (a restart, another instance) still answers from it. Run
/// on each backend (SQLite here, Redis in `redis.rs`).
pub(crate) async fn a_repeated_report_is_cached_on(cache: CacheConfig) {
    let server = mock_vt().await;
    mount_file(&server).await;
    let client = crate::mcp::connect(&config_with(&server, cache.clone())).await;
    let file = format!("/files/{HASH}");
    let args = json!({"file_hash": HASH});
    let first = crate::mcp::call(&client, "get_file_report", args.clone()).await;
    assert_ne!(first.is_error, Some(true), "{}", crate::mcp::text(&first));
    assert!(!crate::mcp::text(&first).contains("Cache:"));
    assert_eq!(requests_to(&server, &file).await, 1);
    // The same report again: no request, and the result says where it came from.
    let second = crate::mcp::call(&client, "get_file_report", args.clone()).await;
    assert_eq!(
        requests_to(&server, &file).await,
        1,
        "a cache hit sends nothing"
    );
    let t = crate::mcp::text(&second);
    assert!(t.contains("Cache: answered from vtmcp's cache"), "{t}");
    assert!(t.contains("60/65"), "the same report: {t}");
    let s = second.structured_content.clone().unwrap();
    assert_eq!(s["_vtmcp"]["cache"]["from_cache"], 1, "{s}");
    assert_eq!(s["_vtmcp"]["cache"]["fetched"], 0);
    // The generated tool asks without the report's embedded relationships: another entry,
    // cached in turn.
    let generated = crate::mcp::call(&client, "get_file", json!({"id": HASH})).await;
    assert_eq!(
        requests_to(&server, &file).await,
        2,
        "other arguments, other entry"
    );
    assert!(!crate::mcp::text(&generated).contains("Cache:"));
    let again = crate::mcp::call(&client, "get_file", json!({"id": HASH})).await;
    assert_eq!(requests_to(&server, &file).await, 2);
    assert_eq!(
        again.structured_content.unwrap()["_vtmcp"]["cache"]["from_cache"],
        1
    );
    // refresh: exactly one request, whatever is cached.
    let mut refresh = args.clone();
    refresh["cache"] = json!("refresh");
    let r = crate::mcp::call(&client, "get_file_report", refresh).await;
    assert!(!crate::mcp::text(&r).contains("Cache:"));
    assert_eq!(
        requests_to(&server, &file).await,
        3,
        "refresh makes exactly one"
    );
    // A new server process on the same store (a restart): still cached.
    drop(client);
    let client = crate::mcp::connect(&config_with(&server, cache)).await;
    let mut only = args.clone();
    only["cache"] = json!("only");
    let r = crate::mcp::call(&client, "get_file_report", only).await;
    assert_ne!(r.is_error, Some(true), "{}", crate::mcp::text(&r));
    assert!(crate::mcp::text(&r).contains("Cache: answered from vtmcp's cache"));
    assert_eq!(requests_to(&server, &file).await, 3);
}

/// A scan changes the object: the report after the analysis comes from VirusTotal even when a
/// lookup before the scan cached the old one (and the fresh one replaces it in the cache).
#[tokio::test]
async fn the_report_after_a_scan_is_fetched_not_taken_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let server = mock_vt().await;
    let url = "https://fresh.example/login";
    let object = || wiremock::matchers::path_regex("^/urls/[A-Za-z0-9_-]+$");
    let lookups = || async {
        let all = server.received_requests().await.unwrap_or_default();
        all.iter()
            .filter(|r| r.method.as_str() == "GET" && r.url.path().starts_with("/urls/"))
            .count()
    };
    let verdict = |malicious: u32| {
        json!({"data": {"type": "url", "id": "u", "attributes": {
            "url": url, "last_analysis_stats": {"malicious": malicious, "harmless": 70}}}})
    };
    // Before the scan VirusTotal says 0; after it, 9.
    Mock::given(method("GET"))
        .and(object())
        .respond_with(ResponseTemplate::new(200).set_body_json(verdict(0)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(object())
        .respond_with(ResponseTemplate::new(200).set_body_json(verdict(9)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/urls"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"type": "analysis", "id": "u-new-1"}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/analyses/u-new-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "analysis", "id": "u-new-1", "attributes": {"status": "completed"}}})))
        .mount(&server)
        .await;
    let mut config = crate::mcp::config(&server.uri(), &["default"], &[], true, false);
    config.cache = CacheConfig::sqlite(dir.path().join("cache.sqlite3"));
    config.poll_interval = Duration::from_millis(20);
    let client = crate::mcp::connect(&config).await;

    let args = json!({"url": url});
    let before = crate::mcp::call(&client, "get_url_report", args.clone()).await;
    assert!(
        crate::mcp::text(&before).contains("0/70"),
        "{}",
        crate::mcp::text(&before)
    );
    let cached = crate::mcp::call(&client, "get_url_report", args.clone()).await;
    assert!(crate::mcp::text(&cached).contains("Cache: answered from vtmcp's cache"));
    assert_eq!(lookups().await, 1);

    let scanned = crate::mcp::call(&client, "scan_url", args.clone()).await;
    let t = crate::mcp::text(&scanned);
    assert_ne!(scanned.is_error, Some(true), "{t}");
    assert!(t.contains("9/79"), "the verdict after the scan: {t}");
    assert!(!t.contains("Cache: answered"), "{t}");
    assert_eq!(lookups().await, 2, "fetched after the scan");
    // The fresh report replaced the old one in the cache.
    let after = crate::mcp::call(&client, "get_url_report", args).await;
    let t = crate::mcp::text(&after);
    assert!(t.contains("9/79") && t.contains("Cache: answered"), "{t}");
    assert_eq!(lookups().await, 2);
}

#[tokio::test]
async fn a_write_makes_the_cached_answers_about_its_object_stale() {
    let dir = tempfile::tempdir().unwrap();
    a_write_makes_cached_answers_stale_on(CacheConfig::sqlite(dir.path().join("c.sqlite3"))).await;
}

/// A write through vtmcp (a comment, a rescan) makes what was cached about its object stale:
/// the next lookup fetches (and caches the new answer), `cache: only` says why it has nothing,
/// and answers about other objects stay cached. Run on each backend.
pub(crate) async fn a_write_makes_cached_answers_stale_on(cache: CacheConfig) {
    let server = mock_vt().await;
    mount_file(&server).await;
    let other = "d41d8cd98f00b204e9800998ecf8427e";
    mount(
        &server,
        &format!("/files/{other}"),
        200,
        json!({"data": {"type": "file", "id": other}}),
    )
    .await;
    let comments = format!("/files/{HASH}/comments");
    mount(&server, &comments, 200, json!({"data": []})).await;
    Mock::given(method("POST"))
        .and(path(comments.as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"type": "comment", "id": format!("f-{HASH}-1")}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path_regex(format!(
            "(?i)^/files/{HASH}/analyse$"
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"type": "analysis", "id": "a-1"}})),
        )
        .mount(&server)
        .await;
    let mut config = crate::mcp::config(&server.uri(), &["default", "files"], &[], true, true);
    config.cache = cache;
    let client = crate::mcp::connect(&config).await;
    let call = |tool: &'static str, args: Value| {
        let client = &client;
        async move {
            let r = crate::mcp::call(client, tool, args).await;
            assert_ne!(r.is_error, Some(true), "{tool}: {}", crate::mcp::text(&r));
            r
        }
    };
    let file = format!("/files/{HASH}");
    let other_file = format!("/files/{other}");

    // Cached: the report, the file object, another file, the comments.
    call("get_file_report", json!({"file_hash": HASH})).await;
    for _ in 0..2 {
        call("get_file", json!({"id": HASH})).await;
        call("get_file", json!({"id": other})).await;
        call("list_file_comments", json!({"id": HASH})).await;
    }
    assert_eq!(requests_to(&server, &file).await, 2, "report + object");
    assert_eq!(requests_to(&server, &other_file).await, 1);
    let comment_lists = || async {
        let all = server.received_requests().await.unwrap_or_default();
        all.iter()
            .filter(|r| r.method.as_str() == "GET" && r.url.path() == comments)
            .count()
    };
    assert_eq!(comment_lists().await, 1);

    // A comment changes the file: what was cached about it is stale.
    call(
        "add_file_comment",
        json!({"id": HASH, "text": "seen in a phishing mail"}),
    )
    .await;
    let only = crate::mcp::call(
        &client,
        "get_file_report",
        json!({"file_hash": HASH, "cache": "only"}),
    )
    .await;
    let t = crate::mcp::text(&only);
    assert!(
        only.is_error == Some(true) && t.contains("predates a change"),
        "{t}"
    );
    call("list_file_comments", json!({"id": HASH})).await;
    assert_eq!(comment_lists().await, 2, "the comments are fetched again");
    call("get_file", json!({"id": HASH})).await;
    assert_eq!(
        requests_to(&server, &file).await,
        3,
        "the file is fetched again"
    );
    // The answer fetched after the write is cached as usual; another file never went stale.
    call("get_file", json!({"id": HASH})).await;
    call("get_file", json!({"id": other})).await;
    assert_eq!(requests_to(&server, &file).await, 3);
    assert_eq!(requests_to(&server, &other_file).await, 1);

    // A rescan is a change too, whatever the case of the hash it was asked with.
    call("rescan_file", json!({"id": HASH.to_uppercase()})).await;
    call("get_file", json!({"id": HASH})).await;
    assert_eq!(requests_to(&server, &file).await, 4);
}

#[tokio::test]
async fn cache_only_makes_no_request_and_says_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    cache_only_says_not_cached_on(CacheConfig::sqlite(dir.path().join("cache.sqlite3"))).await;
}

/// `cache: "only"` sends nothing and says "not cached" (on each backend).
pub(crate) async fn cache_only_says_not_cached_on(cache: CacheConfig) {
    let server = mock_vt().await;
    mount_file(&server).await;
    let client = crate::mcp::connect(&config_with(&server, cache)).await;
    let r = crate::mcp::call(
        &client,
        "get_file_report",
        json!({"file_hash": HASH, "cache": "only"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    let t = crate::mcp::text(&r);
    assert!(
        t.contains("not in vtmcp's cache") && t.contains("nothing was sent"),
        "{t}"
    );
    // An operation whose answers are never cached cannot be answered from it either.
    let r = crate::mcp::call(&client, "get_user", json!({"id": "me", "cache": "only"})).await;
    assert!(
        crate::mcp::text(&r).contains("never cached"),
        "{}",
        crate::mcp::text(&r)
    );
    // A value that is not a mode is refused before anything is sent.
    let r = crate::mcp::call(
        &client,
        "get_file_report",
        json!({"file_hash": HASH, "cache": "sometimes"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(crate::mcp::text(&r).contains("invalid argument `cache`"));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn not_found_is_kept_briefly_and_the_answer_stays_an_answer() {
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{HASH}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": {"code": "NotFoundError", "message": "File not found"}}),
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let client = crate::mcp::connect(&cached_config(&server, dir.path())).await;
    for round in 0..2 {
        let r = crate::mcp::call(&client, "get_file_report", json!({"file_hash": HASH})).await;
        let s = r.structured_content.clone().unwrap();
        assert_eq!(s["found"], false, "round {round}: {s}");
    }
    assert_eq!(
        requests_to(&server, &format!("/files/{HASH}")).await,
        1,
        "the second \"not found\" came from the cache"
    );
}

#[tokio::test]
async fn an_unusable_cache_file_is_bypassed_through_the_server() {
    let server = mock_vt().await;
    mount_file(&server).await;
    let dir = tempfile::tempdir().unwrap();
    // Not a database: the cache says why once and calls go upstream.
    std::fs::write(dir.path().join("cache.sqlite3"), vec![0x42u8; 8192]).unwrap();
    let client = crate::mcp::connect(&cached_config(&server, dir.path())).await;
    for _ in 0..2 {
        let r = crate::mcp::call(&client, "get_file_report", json!({"file_hash": HASH})).await;
        assert_ne!(r.is_error, Some(true), "{}", crate::mcp::text(&r));
    }
    assert_eq!(requests_to(&server, &format!("/files/{HASH}")).await, 2);
}

#[tokio::test]
async fn triage_states_what_the_cache_answers_and_spends_only_the_rest() {
    let server = mock_vt().await;
    mount_file(&server).await;
    Mock::given(method("GET"))
        .and(path("/domains/example.org"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "domain", "id": "example.org",
            "attributes": {"last_analysis_stats": {"malicious": 0, "undetected": 70}}}})))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let client = crate::mcp::connect(&cached_config(&server, dir.path())).await;
    // The file is looked at once first, as triage looks it up.
    crate::mcp::call(&client, "triage_iocs", json!({"iocs": [HASH]})).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let r = crate::mcp::call(
        &client,
        "triage_iocs",
        json!({"iocs": [HASH, "example.org"], "format": "json"}),
    )
    .await;
    let s = r.structured_content.clone().unwrap();
    let plan = s["plan"].as_str().unwrap();
    assert!(
        plan.contains("2 lookup(s): 1 answered from vtmcp's cache, 1 VirusTotal request(s)"),
        "{plan}"
    );
    assert_eq!(s["requests"], 1, "{s}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(
        s["rows"][0]["malicious"], 60,
        "the cached row has its verdict: {s}"
    );
}
