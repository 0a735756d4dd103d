//! The local rate limiter on a paused Tokio clock: the public per-minute limit, queued and
//! cancelled callers, waits longer than the maximum, and a spent daily budget.

use super::{fixture, paused_client, recorder};
use crate::support::{TEST_KEY, mock_vt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use vtmcp::client::{
    QuotaWindow, RateLimit, RateLimiter, ScanOptions, ScanSource, WaitEvent, with_wait_reporter,
};
use vtmcp::{Client, Error};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
