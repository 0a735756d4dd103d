//! The typed client's policies against a mock VirusTotal on loopback: error mapping and key
//! hygiene, the local rate limiter (on a paused Tokio clock), retries, cursor paging, uploads
//! and scans, analysis polling, streamed downloads across origins, feed decoding and the
//! in-flight cap; one submodule per topic, with the helpers they share here.

mod analyses;
mod download;
mod errors;
mod feeds;
mod inflight;
mod paging;
mod ratelimit;
mod retries;
mod scan;

use crate::support::TEST_KEY;
use serde_json::{Value, json};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use vtmcp::Client;
use vtmcp::client::{RateLimit, RetryPolicy, WaitEvent};
use wiremock::{MockServer, Request, ResponseTemplate};

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
