//! Retries on a paused Tokio clock: 429s and transient errors on GETs, `Retry-After`, POSTs not
//! replayed, daily quota not retried, dropped connections.

use super::{MD5, fixture, paused_client, recorder, requests_to, vt_error};
use crate::support::{TEST_KEY, mock_vt};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use vtmcp::client::{RateLimit, RetryPolicy, WaitEvent, with_wait_reporter};
use vtmcp::{Client, Error, ErrorCode};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

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
    let e = client.get_file().id(MD5).send().await.unwrap_err();
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
