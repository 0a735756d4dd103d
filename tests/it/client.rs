//! The typed client's policies against a mock VirusTotal on loopback: error mapping and key
//! hygiene, the local rate limiter (on a paused Tokio clock), retries, cursor paging, uploads
//! and scans, analysis polling, streamed downloads across origins, and feed decoding.

use crate::support::{TEST_KEY, client_for, mock_vt};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;
use vtmcp::client::{
    AnalysisWait, DownloadSource, FeedKind, FileScan, IntoPage, Page, PageOptions, QuotaWindow,
    RateLimit, RateLimiter, ResumePoint, RetryPolicy, ScanOptions, ScanSource, WaitEvent, paginate,
    paginate_json, with_wait_reporter,
};
use vtmcp::{Client, Error, ErrorCode};
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{
        body_string_contains, header_exists, method, path, query_param, query_param_is_missing,
    },
};

const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

fn fixture(name: &str) -> Value {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A client whose requests leave no Tokio timer pending while they wait for the mock server,
/// so a paused clock only moves when the client itself sleeps (rate limit, backoff, polling).
fn paused_client(server: &MockServer, limit: RateLimit) -> Client {
    Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .retry(RetryPolicy::default().retry_on_quota(true))
        .timeout(Duration::ZERO)
        .connect_timeout(Duration::ZERO)
        .pool_idle_timeout(None)
        .rate_limit(limit)
        .build()
        .unwrap()
}

fn no_retry_client(server: &MockServer) -> Client {
    Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn vt_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"code": code, "message": message}}))
}

/// Collects the wait events a call reports.
fn recorder() -> (
    Arc<Mutex<Vec<WaitEvent>>>,
    impl Fn(&WaitEvent) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(vec![]));
    let sink = events.clone();
    (events, move |e: &WaitEvent| {
        sink.lock().unwrap().push(e.clone())
    })
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn every_vt_error_code_maps_to_its_variant() {
    let table: Vec<(u16, &str, ErrorCode)> = vec![
        (400, "BadRequestError", ErrorCode::BadRequest),
        (400, "InvalidArgumentError", ErrorCode::InvalidArgument),
        (400, "NotAvailableYet", ErrorCode::NotAvailableYet),
        (
            400,
            "UnselectiveContentQueryError",
            ErrorCode::UnselectiveContentQuery,
        ),
        (
            400,
            "UnsupportedContentQueryError",
            ErrorCode::UnsupportedContentQuery,
        ),
        (
            401,
            "AuthenticationRequiredError",
            ErrorCode::AuthenticationRequired,
        ),
        (401, "UserNotActiveError", ErrorCode::UserNotActive),
        (401, "WrongCredentialsError", ErrorCode::WrongCredentials),
        (403, "ForbiddenError", ErrorCode::Forbidden),
        (404, "NotFoundError", ErrorCode::NotFound),
        (409, "AlreadyExistsError", ErrorCode::AlreadyExists),
        (424, "FailedDependencyError", ErrorCode::FailedDependency),
        (429, "QuotaExceededError", ErrorCode::QuotaExceeded),
        (429, "TooManyRequestsError", ErrorCode::TooManyRequests),
        (429, "TooManyRequests", ErrorCode::TooManyRequests),
        (503, "TransientError", ErrorCode::Transient),
        (504, "DeadlineExceededError", ErrorCode::DeadlineExceeded),
        (
            400,
            "SomethingNewError",
            ErrorCode::Unknown("SomethingNewError".into()),
        ),
    ];
    let server = mock_vt().await;
    let client = no_retry_client(&server);
    for (i, (status, code, expected)) in table.iter().enumerate() {
        let id = format!("{i:032x}");
        Mock::given(method("GET"))
            .and(path(format!("/files/{id}")))
            .respond_with(vt_error(*status, code, &format!("message {i}")))
            .mount(&server)
            .await;
        let e = client
            .get_file()
            .id(id.as_str())
            .send()
            .await
            .map_err(|e| Error::from_progenitor("get_file", e))
            .unwrap_err();
        match &e {
            Error::Api {
                status: s,
                code: c,
                message,
                ..
            } => {
                assert_eq!((s, c), (status, expected), "{code}");
                assert_eq!(message, &format!("message {i}"));
            }
            other => panic!("{code}: {other:?}"),
        }
        assert_eq!(e.code(), Some(expected));
        assert!(e.to_string().contains(expected.as_str()), "{e}");
    }
    assert_eq!(
        ErrorCode::parse("TooManyRequests"),
        ErrorCode::parse("TooManyRequestsError")
    );
}

#[tokio::test(start_paused = true)]
async fn the_shared_error_fixtures_map_and_their_daily_quota_is_not_retried() {
    let Some(dir) = crate::support::shared_fixtures("errors") else {
        return;
    };
    let table = [
        (
            "authentication_required.json",
            401,
            ErrorCode::AuthenticationRequired,
        ),
        ("bad_request.json", 400, ErrorCode::BadRequest),
        ("forbidden.json", 403, ErrorCode::Forbidden),
        ("not_found.json", 404, ErrorCode::NotFound),
        ("quota_exceeded.json", 429, ErrorCode::QuotaExceeded),
        ("wrong_credentials.json", 401, ErrorCode::WrongCredentials),
    ];
    let server = mock_vt().await;
    // Quota retries on: the fixture's message names a daily limit, so it is still not retried.
    let client = paused_client(&server, RateLimit::unlimited());
    for (i, (file, status, code)) in table.iter().enumerate() {
        let body: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        let id = format!("{:032x}", 0xe000 + i);
        Mock::given(path(format!("/files/{id}")))
            .respond_with(ResponseTemplate::new(*status).set_body_json(&body))
            .mount(&server)
            .await;
        let e = client
            .get_file()
            .id(id.as_str())
            .send()
            .await
            .map_err(|e| Error::from_progenitor("get_file", e))
            .unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(*status), Some(code)),
            "{file}: {e:?}"
        );
        assert!(
            e.to_string()
                .contains(body["error"]["message"].as_str().unwrap()),
            "{e}"
        );
        assert_eq!(
            requests_to(&server, &format!("/files/{id}")).await.len(),
            1,
            "{file}"
        );
    }
}

#[tokio::test]
async fn a_non_json_502_keeps_its_status_and_body_text() {
    let server = mock_vt().await;
    Mock::given(path(format!("/files/{MD5}")))
        .respond_with(
            ResponseTemplate::new(502)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body>502 Bad Gateway from the front end</body></html>"),
        )
        .mount(&server)
        .await;
    let e = no_retry_client(&server)
        .get_file()
        .id(MD5)
        .send()
        .await
        .map_err(|e| Error::from_progenitor("get_file", e))
        .unwrap_err();
    match &e {
        Error::Http { status, body } => {
            assert_eq!(*status, 502);
            assert!(
                body.contains("502 Bad Gateway from the front end"),
                "{body}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_retryable());
    assert!(e.to_string().contains("try again"), "{e}");
}

/// Answers with the `x-apikey` it received inside the error message.
struct EchoKey {
    status: u16,
    json: bool,
}

impl Respond for EchoKey {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let key = r
            .headers
            .get("x-apikey")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        if self.json {
            vt_error(
                self.status,
                "WrongCredentialsError",
                &format!("Wrong API key {key}"),
            )
        } else {
            ResponseTemplate::new(self.status).set_body_string(format!("gateway saw key {key}"))
        }
    }
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    const KEY: &str = "leaky-key-0123456789ABCDEFGHIJKLMNOP";
    let server = mock_vt().await;
    Mock::given(path("/files/00000000000000000000000000000401"))
        .respond_with(EchoKey {
            status: 401,
            json: true,
        })
        .mount(&server)
        .await;
    Mock::given(path("/files/00000000000000000000000000000502"))
        .respond_with(EchoKey {
            status: 502,
            json: false,
        })
        .mount(&server)
        .await;
    Mock::given(path("/files/00000000000000000000000000000200"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(format!("{{\"data\": 5, \"apikey\": \"{KEY}\"}}")),
        )
        .mount(&server)
        .await;
    Mock::given(path("/files/000000000000000000000000000000de"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    Mock::given(path("/files/0000000000000000000000000000abcd/comments"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [], "meta": {"cursor": "same"}})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/analyses/slow"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": {"type": "analysis", "id": "slow", "attributes": {"status": "queued"}}}),
        ))
        .mount(&server)
        .await;
    let build = |base: String| {
        Client::builder()
            .api_key(KEY)
            .base_url(base)
            .retry(RetryPolicy::none())
            .timeout(Duration::from_millis(300))
            .rate_limit(RateLimit::per_minute(1000).per_day(1000))
            .build()
            .unwrap()
    };
    let client = build(server.uri());
    let get = |id: &'static str| {
        let client = client.clone();
        async move {
            client
                .get_file()
                .id(id)
                .send()
                .await
                .map_err(|e| Error::from_progenitor("get_file", e))
                .unwrap_err()
        }
    };
    let mut errors: Vec<Error> = vec![
        get("00000000000000000000000000000401").await,
        get("00000000000000000000000000000502").await,
        get("00000000000000000000000000000200").await,
        get("000000000000000000000000000000de").await,
        client
            .get_file()
            .id("not a hash")
            .send()
            .await
            .map_err(|e| Error::from_progenitor("get_file", e))
            .unwrap_err(),
    ];
    // The echoes really carried the key, and it was scrubbed.
    assert!(matches!(errors[0], Error::Api { .. }) && errors[0].to_string().contains("<redacted>"));
    assert!(
        matches!(errors[1], Error::Http { status: 502, .. })
            && errors[1].to_string().contains("<redacted>")
    );
    assert!(
        matches!(errors[2], Error::Decode { .. }) && errors[2].to_string().contains("<redacted>")
    );
    assert!(
        matches!(errors[3], Error::Timeout { .. }),
        "{:?}",
        errors[3]
    );
    assert!(
        matches!(errors[4], Error::InvalidInput { .. }),
        "{:?}",
        errors[4]
    );
    // Transport: nothing listens on the port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = build(format!("http://127.0.0.1:{port}"));
    let e = dead
        .get_file()
        .id(MD5)
        .send()
        .await
        .map_err(|e| Error::from_progenitor("get_file", e))
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    errors.push(e);
    // The local quota.
    let tight = Client::builder()
        .api_key(KEY)
        .base_url(server.uri())
        .rate_limit(RateLimit::per_minute(1).max_wait(Duration::ZERO))
        .build()
        .unwrap();
    let _ = tight
        .get_file()
        .id("00000000000000000000000000000401")
        .send()
        .await;
    let e = tight
        .get_file()
        .id(MD5)
        .send()
        .await
        .map_err(|e| Error::from_progenitor("get_file", e))
        .unwrap_err();
    assert!(matches!(e, Error::QuotaWait { .. }), "{e:?}");
    errors.push(e);
    // Local files, paging and analysis polling.
    errors.push(
        client
            .scan_file(
                std::path::Path::new("/nonexistent/sample.exe"),
                &ScanOptions::new(),
            )
            .await
            .unwrap_err(),
    );
    errors.push(
        paginate_json(
            &client,
            "list_file_comments",
            json!({"id": "0000000000000000000000000000abcd"}),
            PageOptions::new().cursor("same"),
        )
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err(),
    );
    errors.push(
        client
            .wait_for_analysis(
                "slow",
                &AnalysisWait::new()
                    .timeout(Duration::from_millis(30))
                    .initial_interval(Duration::from_millis(10)),
            )
            .await
            .unwrap_err(),
    );
    errors.push(
        Client::builder()
            .api_key(KEY)
            .base_url(format!("ftp://{KEY}@example.com"))
            .build()
            .unwrap_err(),
    );
    let kinds: Vec<String> = errors
        .iter()
        .map(|e| {
            format!("{e:?}")
                .split([' ', '('])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for expected in [
        "Api",
        "Http",
        "Decode",
        "Timeout",
        "InvalidInput",
        "Transport",
        "QuotaWait",
        "InvalidInput",
        "Paging",
        "AnalysisTimeout",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} not provoked: {kinds:?}"
        );
    }
    for e in &errors {
        let (display, debug) = (format!("{e}"), format!("{e:?}"));
        assert!(!display.contains(KEY), "key in Display: {display}");
        assert!(!debug.contains(KEY), "key in Debug: {debug}");
    }
    // The Config error quotes the bad base URL, key included: scrubbed too (checked above).
    assert!(!format!("{client:?}").contains(KEY));
    assert!(!format!("{:?}", Client::builder().api_key(KEY)).contains(KEY));
    // The key was really sent.
    let sent = server.received_requests().await.unwrap();
    assert!(
        sent.iter()
            .any(|r| r.headers.get("x-apikey").is_some_and(|v| v == KEY))
    );
}

// ---------------------------------------------------------------------------------------------
// Rate limiting

async fn mount_ip(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/ip_addresses/8.8.8.8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("ip_address.json")))
        .mount(server)
        .await;
}

#[tokio::test(start_paused = true)]
async fn the_public_limit_spaces_five_calls_by_a_minute() {
    let server = mock_vt().await;
    mount_ip(&server).await;
    let client = paused_client(&server, RateLimit::public());
    let (events, reporter) = recorder();
    let start = Instant::now();
    let mut done = vec![];
    with_wait_reporter(reporter, async {
        for _ in 0..5 {
            client.get_ip_address().ip("8.8.8.8").send().await.unwrap();
            done.push(start.elapsed());
        }
    })
    .await;
    assert!(
        done[3] < Duration::from_secs(1),
        "four calls go at once: {done:?}"
    );
    assert!(
        done[4] >= Duration::from_secs(60) && done[4] < Duration::from_secs(61),
        "the fifth waits for the first to be a minute old: {done:?}"
    );
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        WaitEvent::RateLimit {
            operation,
            wait,
            per_minute,
        } => {
            assert_eq!((operation.as_str(), *per_minute), ("get_ip_address", 4));
            assert!(*wait > Duration::from_secs(59), "{wait:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(events[0].to_string().contains("4 requests per minute"));
    assert_eq!(server.received_requests().await.unwrap().len(), 5);
    let status = client.quota_status();
    assert_eq!((status.used_today, status.remaining_today), (5, Some(495)));
    assert_eq!(status.per_minute, Some(4));
    // A clone shares the limiter.
    assert_eq!(client.clone().quota_status().used_today, 5);
}

#[tokio::test(start_paused = true)]
async fn the_limiter_queues_concurrent_callers_and_gives_back_cancelled_slots() {
    let limiter = Arc::new(RateLimiter::new(RateLimit::public()));
    let start = Instant::now();
    let mut tasks = vec![];
    for _ in 0..8 {
        let l = limiter.clone();
        tasks.push(tokio::spawn(async move {
            l.acquire("op").await.unwrap();
            start.elapsed()
        }));
    }
    let mut times = vec![];
    for t in tasks {
        times.push(t.await.unwrap());
    }
    times.sort();
    assert!(
        times[..4].iter().all(|t| *t < Duration::from_secs(1)),
        "{times:?}"
    );
    assert!(
        times[4..]
            .iter()
            .all(|t| *t >= Duration::from_secs(60) && *t < Duration::from_secs(61)),
        "{times:?}"
    );
    assert_eq!(limiter.status().used_today, 8);
    // A waiting caller that gives up (its future is dropped) frees its slot.
    let waited = tokio::time::timeout(Duration::from_secs(5), limiter.acquire("op")).await;
    assert!(waited.is_err(), "it had to wait a minute");
    assert_eq!(
        limiter.status().used_today,
        8,
        "the cancelled slot was given back"
    );
    assert!(limiter.status().next_slot_in > Duration::from_secs(50));
}

#[tokio::test]
async fn a_wait_longer_than_the_maximum_fails_at_once_without_a_request() {
    let server = mock_vt().await;
    mount_ip(&server).await;
    let client = Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .rate_limit(RateLimit::per_minute(2).max_wait(Duration::from_secs(10)))
        .build()
        .unwrap();
    for _ in 0..2 {
        client.get_ip_address().ip("8.8.8.8").send().await.unwrap();
    }
    let t = std::time::Instant::now();
    let e = client
        .get_ip_address()
        .ip("8.8.8.8")
        .send()
        .await
        .map_err(|e| Error::from_progenitor("get_ip_address", e))
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2), "it did not wait");
    match &e {
        Error::QuotaWait {
            operation,
            window,
            limit,
            wait,
            max_wait,
        } => {
            assert_eq!(operation, "get_ip_address");
            assert_eq!((*window, *limit), (QuotaWindow::Minute, 2));
            assert!(*wait > Duration::from_secs(50), "{wait:?}");
            assert_eq!(*max_wait, Duration::from_secs(10));
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("was not sent")
            && text.contains("2 requests per minute")
            && text.contains("max_wait"),
        "{text}"
    );
    assert!(e.is_quota() && e.retry_after().is_some());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    // Through the JSON dispatcher (as the MCP server calls) it is the same error.
    let e = vtmcp::ops::call_json(
        &client,
        "get_ip_address",
        json!({"ip": "8.8.8.8"}).as_object().unwrap().clone(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::QuotaWait { .. }), "{e:?}");
}

#[tokio::test]
async fn a_spent_daily_budget_fails_fast_and_quota_status_says_so() {
    let server = mock_vt().await;
    mount_ip(&server).await;
    let client = Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .rate_limit(RateLimit::per_minute(100).per_day(3))
        .build()
        .unwrap();
    assert!(client.quota_status().can_spend_today(3));
    assert!(!client.quota_status().can_spend_today(4));
    for _ in 0..3 {
        client.get_ip_address().ip("8.8.8.8").send().await.unwrap();
    }
    let status = client.quota_status();
    assert_eq!(status.remaining_today, Some(0));
    assert_eq!(status.estimate(1), None);
    let e = client
        .get_ip_address()
        .ip("8.8.8.8")
        .send()
        .await
        .map_err(|e| Error::from_progenitor("get_ip_address", e))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::QuotaWait {
                window: QuotaWindow::Day,
                limit: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("00:00 UTC"), "{e}");
    // Uploads go through the limiter too.
    let e = client
        .scan_file(
            ScanSource::bytes(&b"abc"[..], "a.txt"),
            &ScanOptions::new().force_upload(true),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::QuotaWait { .. }), "{e:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test(start_paused = true)]
async fn a_429_on_a_get_is_retried_after_a_backoff() {
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{MD5}")))
        .respond_with(vt_error(429, "QuotaExceededError", "Quota exceeded"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{MD5}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("file.json")))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = paused_client(&server, RateLimit::unlimited());
    let (events, reporter) = recorder();
    let start = Instant::now();
    let r = with_wait_reporter(reporter, client.get_file().id(MD5).send()).await;
    assert!(r.is_ok(), "{:?}", r.err());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    let WaitEvent::Retry {
        attempt,
        wait,
        reason,
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*attempt, 1);
    assert!(
        reason.contains("429") && reason.contains("per-minute"),
        "{reason}"
    );
    // The default quota backoff: 15 s, half of it jitter.
    assert!(
        *wait >= Duration::from_millis(7500) && *wait <= Duration::from_secs(15),
        "{wait:?}"
    );
    assert!(start.elapsed() >= *wait);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_transient_errors_are_retried() {
    let server = mock_vt().await;
    Mock::given(path(format!("/files/{MD5}")))
        .respond_with(
            vt_error(503, "TransientError", "try later").insert_header("retry-after", "42"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path(format!("/files/{MD5}")))
        .respond_with(vt_error(504, "DeadlineExceededError", "slow"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(path(format!("/files/{MD5}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("file.json")))
        .with_priority(3)
        .mount(&server)
        .await;
    let client = paused_client(&server, RateLimit::unlimited());
    let (events, reporter) = recorder();
    let start = Instant::now();
    with_wait_reporter(reporter, client.get_file().id(MD5).send())
        .await
        .unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].wait() >= Duration::from_secs(42),
        "{:?}",
        events[0]
    );
    assert!(
        events[0].to_string().contains("503 TransientError"),
        "{}",
        events[0]
    );
    assert!(
        events[1].to_string().contains("DeadlineExceededError"),
        "{}",
        events[1]
    );
    assert!(start.elapsed() >= Duration::from_secs(42));
}

#[tokio::test(start_paused = true)]
async fn a_429_on_a_post_is_returned_not_replayed() {
    let server = mock_vt().await;
    Mock::given(method("POST"))
        .and(path("/urls"))
        .respond_with(vt_error(429, "QuotaExceededError", "Quota exceeded"))
        .mount(&server)
        .await;
    let client = paused_client(&server, RateLimit::unlimited());
    let e = client
        .scan_url("https://example.com/a?b=c")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Api {
                status: 429,
                code: ErrorCode::QuotaExceeded,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a POST is never replayed"
    );
    // Nor is a 503 on a DELETE.
    Mock::given(method("DELETE"))
        .respond_with(vt_error(503, "TransientError", "busy"))
        .mount(&server)
        .await;
    let r = vtmcp::ops::call_json(
        &client,
        "delete_comment",
        json!({"id": "f-x-1"}).as_object().unwrap().clone(),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_daily_quota_429_is_not_retried() {
    let server = mock_vt().await;
    Mock::given(path(format!("/files/{MD5}")))
        .respond_with(vt_error(
            429,
            "QuotaExceededError",
            "Daily quota exceeded (500 requests per day)",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/ip_addresses/8.8.8.8"))
        .respond_with(vt_error(
            429,
            "QuotaExceededError",
            "Monthly quota exceeded",
        ))
        .mount(&server)
        .await;
    let client = paused_client(&server, RateLimit::unlimited());
    let e = client
        .get_file()
        .id(MD5)
        .send()
        .await
        .map_err(|e| Error::from_progenitor("get_file", e))
        .unwrap_err();
    assert!(e.is_quota(), "{e:?}");
    assert!(client.get_ip_address().ip("8.8.8.8").send().await.is_err());
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "one request each"
    );
    // By default 429s are not retried at all (VirusTotal's message rarely says which quota).
    Mock::given(path("/domains/example.com"))
        .respond_with(vt_error(429, "QuotaExceededError", "Quota exceeded"))
        .mount(&server)
        .await;
    // The default retry policy, without timers (the clock is paused).
    let default_policy = Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .timeout(Duration::ZERO)
        .connect_timeout(Duration::ZERO)
        .pool_idle_timeout(None)
        .build()
        .unwrap();
    assert!(
        default_policy
            .get_domain()
            .domain("example.com")
            .send()
            .await
            .is_err()
    );
    assert_eq!(requests_to(&server, "/domains/example.com").await.len(), 1);
}

#[tokio::test]
async fn a_dropped_connection_on_a_get_is_retried() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = serde_json::to_vec(&fixture("ip_address.json")).unwrap();
    let served = Arc::new(Mutex::new(0usize));
    let count = served.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await;
            *count.lock().unwrap() += 1;
            if n == 0 {
                drop(sock); // closed before any answer
                continue;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await.unwrap();
            sock.write_all(&body).await.unwrap();
        }
    });
    let client = Client::builder()
        .api_key(TEST_KEY)
        .base_url(format!("http://{addr}"))
        .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(20)))
        .build()
        .unwrap();
    let (events, reporter) = recorder();
    let r = with_wait_reporter(reporter, client.get_ip_address().ip("8.8.8.8").send()).await;
    assert!(r.is_ok(), "{:?}", r.err());
    assert_eq!(*served.lock().unwrap(), 2);
    let events = events.lock().unwrap().clone();
    assert!(
        matches!(&events[..], [WaitEvent::Retry { reason, .. }] if reason.contains("connection")),
        "{events:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Paging

fn comment(n: usize) -> Value {
    json!({"type": "comment", "id": format!("f-{MD5}-{n}"), "attributes": {"text": format!("comment {n}")}})
}

/// Three pages of two comments: no cursor → "c2" → "c3" → end.
async fn mount_three_pages(server: &MockServer, last_cursor: Option<&str>) {
    let p = format!("/files/{MD5}/comments");
    let page = |items: [usize; 2], cursor: Option<&str>| {
        let mut v = json!({"data": [comment(items[0]), comment(items[1])], "links": {"self": "x"}});
        if let Some(c) = cursor {
            v["meta"] = json!({"cursor": c, "count": 6});
        }
        ResponseTemplate::new(200).set_body_json(v)
    };
    Mock::given(path(p.clone()))
        .and(query_param_is_missing("cursor"))
        .respond_with(page([1, 2], Some("c2")))
        .mount(server)
        .await;
    Mock::given(path(p.clone()))
        .and(query_param("cursor", "c2"))
        .respond_with(page([3, 4], Some("c3")))
        .mount(server)
        .await;
    Mock::given(path(p))
        .and(query_param("cursor", "c3"))
        .respond_with(page([5, 6], last_cursor))
        .mount(server)
        .await;
}

fn typed_comments(
    client: &Client,
    options: PageOptions,
) -> vtmcp::client::Paginator<vtmcp::types::Comment> {
    let client = client.clone();
    paginate(options, move |cursor| {
        let client = client.clone();
        async move {
            let mut b = client.list_file_comments().id(MD5).limit(2u32);
            if let Some(c) = cursor {
                b = b.cursor(c);
            }
            b.send()
                .await
                .map(IntoPage::into_page)
                .map_err(|e| Error::from_progenitor("list_file_comments", e))
        }
    })
    .named("list_file_comments")
}

fn texts(items: &[vtmcp::types::Comment]) -> Vec<usize> {
    items
        .iter()
        .map(|c| c.id.rsplit('-').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn paging_follows_the_cursor_across_three_pages() {
    let server = mock_vt().await;
    mount_three_pages(&server, None).await;
    let client = client_for(&server);
    let mut p = typed_comments(&client, PageOptions::new());
    let mut all = vec![];
    while let Some(c) = p.try_next().await.unwrap() {
        all.push(c);
    }
    assert_eq!(texts(&all), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(p.pages_fetched(), 3);
    assert_eq!(p.resume_point(), None, "nothing left");
    let sent = requests_to(&server, &format!("/files/{MD5}/comments")).await;
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|r| r.url.query().unwrap().contains("limit=2"))
    );
}

#[tokio::test]
async fn paging_stops_at_max_items_and_resumes_exactly_where_it_stopped() {
    let server = mock_vt().await;
    mount_three_pages(&server, None).await;
    let client = client_for(&server);
    let mut p = typed_comments(&client, PageOptions::new().max_items(3));
    let first: Vec<_> = (&mut p).try_collect().await.unwrap();
    assert_eq!(texts(&first), vec![1, 2, 3]);
    let resume = p.resume_point().unwrap();
    assert_eq!(
        resume,
        ResumePoint {
            cursor: Some("c2".into()),
            skip: 1
        }
    );
    assert_eq!(p.next_cursor(), Some("c3"));
    // The resume point survives a round trip through JSON (e.g. to an MCP client and back).
    let resume: ResumePoint =
        serde_json::from_value(serde_json::to_value(&resume).unwrap()).unwrap();
    let rest: Vec<_> = typed_comments(&client, PageOptions::new().resume_from(resume))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(texts(&rest), vec![4, 5, 6], "no item lost or repeated");
    // Resuming from a bare cursor starts at that page.
    let from_c3: Vec<_> = typed_comments(&client, PageOptions::new().cursor("c3"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(texts(&from_c3), vec![5, 6]);
    let sent = requests_to(&server, &format!("/files/{MD5}/comments")).await;
    assert_eq!(
        sent.len(),
        2 + 2 + 1,
        "max_items stopped before fetching page 3"
    );
}

#[tokio::test]
async fn paging_ends_with_an_error_when_the_server_repeats_a_cursor() {
    let server = mock_vt().await;
    mount_three_pages(&server, Some("c2")).await;
    let client = client_for(&server);
    let mut p = typed_comments(&client, PageOptions::new());
    let mut ids = vec![];
    let err = loop {
        match p.next().await {
            Some(Ok(c)) => ids.push(c),
            Some(Err(e)) => break e,
            None => panic!("ended without an error"),
        }
    };
    assert_eq!(
        texts(&ids),
        vec![1, 2, 3, 4, 5, 6],
        "the pages before the loop were read"
    );
    assert!(matches!(err, Error::Paging { .. }), "{err:?}");
    assert!(
        err.to_string().contains("list_file_comments") && err.to_string().contains("\"c2\""),
        "{err}"
    );
    assert!(p.next().await.is_none(), "the stream ended");
    assert_eq!(p.resume_point(), None);
    assert_eq!(
        requests_to(&server, &format!("/files/{MD5}/comments"))
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn paging_works_over_the_json_dispatcher() {
    let server = mock_vt().await;
    mount_three_pages(&server, None).await;
    let client = client_for(&server);
    let items: Vec<Value> = paginate_json(
        &client,
        "list_file_comments",
        json!({"id": MD5, "limit": 2}),
        PageOptions::new().max_items(5),
    )
    .unwrap()
    .try_collect()
    .await
    .unwrap();
    let ids: Vec<&str> = items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    assert!(ids[4].ends_with("-5"));
    // A cursor among the arguments is where paging starts.
    let from_c3: Vec<Value> = paginate_json(
        &client,
        "list_file_comments",
        json!({"id": MD5, "cursor": "c3"}),
        PageOptions::new(),
    )
    .unwrap()
    .try_collect()
    .await
    .unwrap();
    assert_eq!(from_c3.len(), 2);
    // Operations that do not page, and bad arguments, fail before any request.
    let before = server.received_requests().await.unwrap().len();
    let e = paginate_json(&client, "get_file", json!({"id": MD5}), PageOptions::new()).unwrap_err();
    assert!(e.to_string().contains("does not page"), "{e}");
    let e = paginate_json(
        &client,
        "list_file_comments",
        json!({"nope": 1}),
        PageOptions::new(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), before);
    // Pages of a hand-made source work too.
    let n: Vec<usize> = paginate(
        PageOptions::new().max_pages(2),
        |c: Option<String>| async move {
            let c = c.unwrap_or_default();
            Ok(Page::new(vec![c.len()], Some(format!("{c}x"))))
        },
    )
    .try_collect()
    .await
    .unwrap();
    assert_eq!(n, vec![0, 1]);
}

// ---------------------------------------------------------------------------------------------
// Uploads and scans

fn descriptor(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"data": {"type": "analysis", "id": id, "links": {"self": "x"}}}))
}

#[tokio::test]
async fn a_40_mb_file_is_streamed_to_an_upload_url_after_a_missed_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    let len = 40 * 1024 * 1024;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let chunk: Vec<u8> = (0..=255u8).cycle().take(1024 * 1024).collect();
        for _ in 0..40 {
            f.write_all(&chunk).unwrap();
        }
        f.flush().unwrap();
    }
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()))
    };
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{sha256}")))
        .respond_with(vt_error(404, "NotFoundError", "File not found"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/upload_url"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"data": format!("{}/_ah/upload/one-shot-token", server.uri())}),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/_ah/upload/one-shot-token"))
        .and(header_exists("x-apikey"))
        .respond_with(descriptor("big-analysis"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let scan = client
        .scan_file(&file, &ScanOptions::new().password("infected"))
        .await
        .unwrap();
    assert_eq!(scan.sha256(), sha256);
    assert_eq!(scan.analysis_id(), Some("big-analysis"));
    assert_eq!(requests_to(&server, "/files/upload_url").await.len(), 1);
    assert!(
        requests_to(&server, "/files").await.is_empty(),
        "not the direct endpoint"
    );
    let posts = requests_to(&server, "/_ah/upload/one-shot-token").await;
    assert_eq!(posts.len(), 1);
    let body = &posts[0].body;
    assert!(
        body.len() > len,
        "the whole file arrived: {} bytes",
        body.len()
    );
    let ct = posts[0]
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(ct.starts_with("multipart/form-data"), "{ct}");
    let declared: usize = posts[0]
        .headers
        .get("content-length")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        declared,
        body.len(),
        "sent with a known length, not buffered into chunks"
    );
    let text = String::from_utf8_lossy(&body[..512]);
    assert!(text.contains("filename=\"big.bin\""), "{text}");
    let tail = String::from_utf8_lossy(&body[body.len() - 512..]);
    assert!(
        tail.contains("name=\"password\"") && tail.contains("infected"),
        "{tail}"
    );
    // The file bytes arrived intact: find the 40 MB run and compare its hash.
    let start = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&body[start..start + len])),
        sha256
    );
}

#[tokio::test]
async fn a_file_over_650_mb_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.iso");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(650 * 1024 * 1024 + 1)
        .unwrap();
    let server = mock_vt().await;
    let client = client_for(&server);
    for e in [
        client
            .scan_file(&file, &ScanOptions::new())
            .await
            .unwrap_err(),
        client
            .scan_file_privately(&file, &ScanOptions::new())
            .await
            .unwrap_err(),
        client
            .upload_path(vtmcp::client::upload::UploadTarget::Public, &file, &[])
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        assert!(e.to_string().contains("650 MB"), "{e}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_known_file_returns_its_report_without_an_upload() {
    let data = b"hello, virustotal".to_vec();
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&data))
    };
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{sha256}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("file.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/files"))
        .respond_with(descriptor("forced"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let scan = client
        .scan_file(
            ScanSource::bytes(data.clone(), "hello.txt"),
            &ScanOptions::new(),
        )
        .await
        .unwrap();
    let FileScan::Known { report, sha256: s } = &scan else {
        panic!("{scan:?}")
    };
    assert_eq!(s, &sha256);
    assert_eq!(
        report.data.id,
        fixture("file.json")["data"]["id"].as_str().unwrap()
    );
    assert!(
        requests_to(&server, "/files").await.is_empty(),
        "nothing uploaded"
    );
    // force_upload skips the lookup and posts the bytes directly (≤ 32 MB).
    let scan = client
        .scan_file(
            ScanSource::bytes(data, "hello.txt"),
            &ScanOptions::new().force_upload(true),
        )
        .await
        .unwrap();
    assert_eq!(scan.analysis_id(), Some("forced"));
    let posts = requests_to(&server, "/files").await;
    assert_eq!(posts.len(), 1);
    assert!(String::from_utf8_lossy(&posts[0].body).contains("hello, virustotal"));
    assert_eq!(
        requests_to(&server, &format!("/files/{sha256}"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn private_scans_and_url_scans() {
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path_regex_private_file())
        .respond_with(vt_error(404, "NotFoundError", "not found"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/private/files"))
        .and(body_string_contains("retention_period_days"))
        .respond_with(descriptor("private-1"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/urls"))
        .and(body_string_contains(
            "url=https%3A%2F%2Fexample.com%2Fa%3Fb%3Dc",
        ))
        .respond_with(descriptor("u-abc-1"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/private/urls"))
        .respond_with(descriptor("pu-1"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let scan = client
        .scan_file_privately(
            ScanSource::bytes(&b"private bytes"[..], "p.bin"),
            &ScanOptions::new().field("retention_period_days", "3"),
        )
        .await
        .unwrap();
    assert_eq!(scan.analysis_id(), Some("private-1"));
    assert_eq!(
        client.scan_url("https://example.com/a?b=c").await.unwrap(),
        "u-abc-1"
    );
    assert_eq!(
        client
            .scan_url_privately("https://example.com/")
            .await
            .unwrap(),
        "pu-1"
    );
    let before = server.received_requests().await.unwrap().len();
    let e = client.scan_url("example.com").await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let e = client
        .scan_file(
            ScanSource::bytes(&b"x"[..], "x"),
            &ScanOptions::new().field("enable_internet", "true"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("scan_file_privately"), "{e}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        before,
        "checked before sending"
    );
}

fn path_regex_private_file() -> wiremock::matchers::PathRegexMatcher {
    wiremock::matchers::path_regex("^/private/files/[0-9a-f]{64}$")
}

// ---------------------------------------------------------------------------------------------
// Analyses

/// Equal up to the paused clock's millisecond timer resolution.
fn assert_close(got: Duration, want: Duration) {
    let diff = got.abs_diff(want);
    assert!(diff <= Duration::from_millis(5), "{got:?} is not {want:?}");
}

fn analysis(id: &str, status: &str) -> ResponseTemplate {
    let mut v = fixture("analysis.json");
    v["data"]["id"] = json!(id);
    v["data"]["attributes"]["status"] = json!(status);
    ResponseTemplate::new(200).set_body_json(v)
}

#[tokio::test(start_paused = true)]
async fn wait_for_analysis_polls_until_completed_and_reports_progress() {
    let server = mock_vt().await;
    Mock::given(path("/analyses/an-1"))
        .respond_with(analysis("an-1", "queued"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/analyses/an-1"))
        .respond_with(analysis("an-1", "in-progress"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(path("/analyses/an-1"))
        .respond_with(analysis("an-1", "completed"))
        .with_priority(3)
        .mount(&server)
        .await;
    let client = paused_client(&server, RateLimit::unlimited());
    let seen = Arc::new(Mutex::new(vec![]));
    let s = seen.clone();
    let wait = AnalysisWait::new().on_progress(move |p| s.lock().unwrap().push(p.clone()));
    let (events, reporter) = recorder();
    let start = Instant::now();
    let done = with_wait_reporter(reporter, client.wait_for_analysis("an-1", &wait))
        .await
        .unwrap();
    assert_eq!(
        done.data.attributes.unwrap().status.as_deref(),
        Some("completed")
    );
    let seen = seen.lock().unwrap().clone();
    let statuses: Vec<&str> = seen.iter().map(|p| p.status.as_str()).collect();
    assert_eq!(statuses, vec!["queued", "in-progress", "completed"]);
    assert_eq!(seen[0].next_poll_in, Some(Duration::from_secs(5)));
    assert_eq!(
        seen[1].next_poll_in,
        Some(Duration::from_millis(7500)),
        "the interval grows"
    );
    assert_eq!(seen[2].next_poll_in, None);
    assert_close(start.elapsed(), Duration::from_millis(12500));
    assert_eq!(events.lock().unwrap().len(), 2, "two waits reported");
    assert_eq!(requests_to(&server, "/analyses/an-1").await.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn wait_for_analysis_times_out_with_the_last_status() {
    let server = mock_vt().await;
    Mock::given(path("/private/analyses/pa-1"))
        .respond_with(analysis("pa-1", "queued"))
        .mount(&server)
        .await;
    let client = paused_client(&server, RateLimit::unlimited());
    let start = Instant::now();
    let e = client
        .wait_for_private_analysis(
            "pa-1",
            &AnalysisWait::new()
                .timeout(Duration::from_secs(60))
                .max_interval(Duration::from_secs(20)),
        )
        .await
        .unwrap_err();
    match &e {
        Error::AnalysisTimeout { id, status, waited } => {
            assert_eq!((id.as_str(), status.as_str()), ("pa-1", "queued"));
            assert_close(*waited, Duration::from_secs(60));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("wait again later"), "{e}");
    assert_close(start.elapsed(), Duration::from_secs(60)); // the last poll is at the deadline
    // Polls at 0, 5, 12.5, 23.75, 40.625 and 60 s.
    assert_eq!(
        requests_to(&server, "/private/analyses/pa-1").await.len(),
        6
    );
}

// ---------------------------------------------------------------------------------------------
// Downloads

#[tokio::test]
async fn a_download_follows_the_redirect_without_the_key_and_streams_to_a_file() {
    let vt = mock_vt().await;
    let storage = MockServer::start().await;
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    Mock::given(method("GET"))
        .and(path(format!("/files/{MD5}/download")))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/signed/blob?sig=abc", storage.uri()).as_str(),
        ))
        .mount(&vt)
        .await;
    Mock::given(method("GET"))
        .and(path("/signed/blob"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(content.clone()))
        .mount(&storage)
        .await;
    let client = client_for(&vt);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample.bin");
    let done = client
        .download_to(
            DownloadSource::operation("download_file", json!({"id": MD5})),
            &out,
        )
        .await
        .unwrap();
    assert_eq!(done.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), content);
    use sha2::Digest;
    assert_eq!(done.sha256, hex::encode(sha2::Sha256::digest(&content)));
    assert!(!dir.path().join("sample.bin.part").exists());
    // A signed URL given directly goes without the key too.
    let direct = dir.path().join("direct.bin");
    client
        .download_to(
            DownloadSource::url(format!("{}/signed/blob?sig=abc", storage.uri())),
            &direct,
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&direct).unwrap(), content);
    let vt_saw = vt.received_requests().await.unwrap();
    assert_eq!(vt_saw.len(), 1);
    assert_eq!(
        vt_saw[0].headers.get("x-apikey").unwrap(),
        TEST_KEY,
        "VirusTotal gets the key"
    );
    let storage_saw = storage.received_requests().await.unwrap();
    assert_eq!(storage_saw.len(), 2);
    for r in &storage_saw {
        assert!(
            r.headers.get("x-apikey").is_none(),
            "the key leaked to storage"
        );
        assert!(!format!("{:?}", r.headers).contains(TEST_KEY));
    }
    // A failed download leaves nothing behind and says why.
    let missing = dir.path().join("missing.bin");
    let e = client
        .download_to(
            DownloadSource::operation(
                "download_file",
                json!({"id": "ffffffffffffffffffffffffffffffff"}),
            ),
            &missing,
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(418), "{e}");
    assert!(!missing.exists() && !dir.path().join("missing.bin.part").exists());
    let e = client
        .download_to(
            DownloadSource::operation("get_file", json!({"id": MD5})),
            &missing,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not answer with bytes"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Feeds

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn ndjson(ids: std::ops::Range<usize>) -> String {
    ids.map(|i| {
        json!({"type": "file", "id": format!("id-{i}"), "context_attributes": {"download_url": format!("https://x/{i}")}})
            .to_string()
            + "\n"
    })
    .collect()
}

#[tokio::test]
async fn a_bz2_minute_batch_decodes_into_objects() {
    let server = mock_vt().await;
    let mut text = ndjson(0..3);
    text.push_str("\nnot json\n");
    text.push_str(&ndjson(3..5));
    Mock::given(path("/feeds/files/202401011200"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/octet-stream")
                .set_body_bytes(bz2(text.as_bytes())),
        )
        .mount(&server)
        .await;
    Mock::given(path("/feeds/urls/202401011300"))
        .respond_with(vt_error(400, "NotAvailableYet", "Batch not available yet"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let items: Vec<Result<Value, Error>> = client
        .feed_minute(FeedKind::Files, "202401011200")
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 6);
    let ids: Vec<String> = items
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["id-0", "id-1", "id-2", "id-3", "id-4"]);
    let bad = items.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(bad.to_string().contains("line 5"), "{bad}");
    assert_eq!(
        items[0].as_ref().unwrap()["context_attributes"]["download_url"],
        "https://x/0"
    );
    let e = client
        .feed_minute(FeedKind::Urls, "202401011300")
        .await
        .unwrap_err();
    assert!(e.is_not_available_yet(), "{e:?}");
    assert_eq!(e.status(), Some(400));
    let e = client
        .feed_minute(FeedKind::Files, "2024-01-01")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    // The same decoder reads a batch saved to disk.
    let local: Vec<Value> = vtmcp::client::FeedStream::from_minute_reader(std::io::Cursor::new(
        bz2(ndjson(0..2).as_bytes()),
    ))
    .try_collect()
    .await
    .unwrap();
    assert_eq!(local.len(), 2);
}

#[tokio::test]
async fn an_hourly_batch_behind_a_redirect_decodes_every_minute_file() {
    let vt = mock_vt().await;
    let storage = MockServer::start().await;
    let mut tar = tar::Builder::new(Vec::new());
    for (minute, range) in [("202401011200", 0..3), ("202401011201", 3..7)] {
        let data = bz2(ndjson(range).as_bytes());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, minute, &data[..]).unwrap();
    }
    let archive = bz2(&tar.into_inner().unwrap());
    Mock::given(path("/feeds/domains/hourly/2024010112"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/hourly.tar.bz2", storage.uri()).as_str(),
        ))
        .mount(&vt)
        .await;
    Mock::given(path("/hourly.tar.bz2"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(archive))
        .mount(&storage)
        .await;
    let client = client_for(&vt);
    let items: Vec<Value> = client
        .feed_hour(FeedKind::Domains, "2024010112")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, (0..7).map(|i| format!("id-{i}")).collect::<Vec<_>>());
    let storage_saw = storage.received_requests().await.unwrap();
    assert_eq!(storage_saw.len(), 1);
    assert!(storage_saw[0].headers.get("x-apikey").is_none());
}

// ---------------------------------------------------------------------------------------------
// In-flight cap

/// Records when each request arrives; every answer takes `delay`.
struct Arrivals {
    log: Arc<Mutex<Vec<std::time::Instant>>>,
    delay: Duration,
}

impl Respond for Arrivals {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.log.lock().unwrap().push(std::time::Instant::now());
        ResponseTemplate::new(200)
            .set_body_json(fixture("ip_address.json"))
            .set_delay(self.delay)
    }
}

/// The most requests that were being answered at once, given arrival times and a fixed delay.
fn most_at_once(arrivals: &[std::time::Instant], delay: Duration) -> usize {
    arrivals
        .iter()
        .map(|a| {
            arrivals
                .iter()
                .filter(|b| **b <= *a && *a < **b + delay)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn requests_in_flight_are_capped() {
    let delay = Duration::from_millis(300);
    let server = mock_vt().await;
    let log = Arc::new(Mutex::new(vec![]));
    Mock::given(method("GET"))
        .respond_with(Arrivals {
            log: log.clone(),
            delay,
        })
        .mount(&server)
        .await;
    let run = |cap: usize| {
        let client = Client::builder()
            .api_key(TEST_KEY)
            .base_url(server.uri())
            .max_in_flight(cap)
            .build()
            .unwrap();
        async move {
            let calls = (0..6).map(|_| {
                let c = client.clone();
                async move { c.get_ip_address().ip("8.8.8.8").send().await.map(|_| ()) }
            });
            for r in futures::future::join_all(calls).await {
                r.unwrap();
            }
        }
    };
    run(2).await;
    let capped = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(capped.len(), 6);
    // A slot is given back only once an answer is read, so a third request cannot arrive
    // before the first answer (300 ms) is complete.
    assert_eq!(most_at_once(&capped, delay), 2, "{capped:?}");
    // Without a cap all six are in flight together (the comparison that makes the test mean
    // something).
    run(0).await;
    let free = std::mem::take(&mut *log.lock().unwrap());
    assert!(most_at_once(&free, delay) > 2, "{free:?}");
}
