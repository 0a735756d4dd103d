//! A mock VirusTotal that names the requests it did not expect, and a client for it.

use super::TEST_KEY;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

struct NotMocked;
impl Respond for NotMocked {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        ResponseTemplate::new(418).set_body_json(json!({
            "error": {"code": "NotMocked", "message": format!("{} {} was not mocked", r.method, r.url)}
        }))
    }
}

/// A mock server with a lowest-priority catch-all that answers 418 "… was not mocked".
pub async fn mock_vt() -> MockServer {
    let server = MockServer::start().await;
    install_catch_all(&server).await;
    server
}

pub async fn install_catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(NotMocked)
        .with_priority(u8::MAX)
        .mount(server)
        .await;
}

pub fn client_for(server: &MockServer) -> vtmcp::Client {
    vtmcp::Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .build()
        .unwrap()
}
