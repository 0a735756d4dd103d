//! Analysis polling on a paused Tokio clock: progress until completed, and the timeout.

use super::{fixture, paused_client, recorder, requests_to};
use crate::support::mock_vt;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use vtmcp::Error;
use vtmcp::client::{AnalysisWait, RateLimit, with_wait_reporter};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

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
