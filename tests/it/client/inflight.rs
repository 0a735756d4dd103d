//! The cap on requests in flight at once.

use super::fixture;
use crate::support::{TEST_KEY, mock_vt};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vtmcp::Client;
use wiremock::matchers::method;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

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
