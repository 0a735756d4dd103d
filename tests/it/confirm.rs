//! Confirm before sharing (issue 15, item 5): `scan_url` and `scan_file` ask a client that
//! supports elicitation before anything is sent; an accept sends, a decline or cancel is a
//! normal result with nothing sent, and a client without the capability is not asked. Both ways
//! of asking are covered: an `elicitation/create` request (2025-06-18, 2025-11-25) and the
//! `input_required` round trip of 2026-07-28.

use crate::mcp::config;
use crate::reports::fixture;
use crate::support::mock_vt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, ElicitationCapability, FormElicitationCapability,
    ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::json;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

/// A client that answers every question with `answer` (or cannot be asked, with `None`), and
/// remembers the questions.
#[derive(Clone)]
struct User {
    answer: Option<ElicitationAction>,
    version: ProtocolVersion,
    asked: Arc<Mutex<Vec<String>>>,
}

impl User {
    fn new(answer: Option<ElicitationAction>, version: ProtocolVersion) -> User {
        User {
            answer,
            version,
            asked: Arc::default(),
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl ClientHandler for User {
    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        if self.answer.is_some() {
            caps.elicitation =
                Some(ElicitationCapability::new().with_form(FormElicitationCapability::default()));
        }
        let mut info = ClientConfig::default().with_protocol_version(self.version.clone());
        info.capabilities = caps;
        info
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.asked.lock().unwrap().push(message.clone());
        }
        Ok(ElicitResult::new(
            self.answer.clone().unwrap_or(ElicitationAction::Decline),
        ))
    }
}

async fn connect(user: &User, cfg: &vtmcp::config::Config) -> RunningService<RoleClient, User> {
    let server = vtmcp::mcp::VtServer::new(cfg).unwrap();
    let (s, c) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve_with_unique_ids(s).await {
            let _ = running.waiting().await;
        }
    });
    if user.version.has_initialize() {
        user.clone().serve(c).await.unwrap()
    } else {
        user.clone()
            .serve_with_lifecycle(
                c,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![user.version.clone()],
                },
            )
            .await
            .unwrap()
    }
}

async fn mount_scan(server: &MockServer) {
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/urls"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"type": "analysis", "id": "u-1"}})),
        )
        .mount(server)
        .await;
    Mock::given(matchers::path("/analyses/u-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "analysis", "id": "u-1",
            "attributes": {"status": "completed", "stats": {"malicious": 1}}}})))
        .mount(server)
        .await;
    Mock::given(matchers::path_regex("^/urls/[A-Za-z0-9_-]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("url.json")))
        .mount(server)
        .await;
}

async fn sent(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

async fn scan_url(client: &RunningService<RoleClient, User>) -> CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new("scan_url").with_arguments(
                json!({"url": "https://new.example/x", "timeout_seconds": 10})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        )
        .await
        .unwrap()
}

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

#[tokio::test]
async fn an_accepted_scan_url_is_sent_after_the_user_is_asked() {
    for version in VERSIONS {
        let upstream = mock_vt().await;
        mount_scan(&upstream).await;
        let user = User::new(Some(ElicitationAction::Accept), version.clone());
        let client = connect(
            &user,
            &config(&upstream.uri(), &["default"], &[], true, false),
        )
        .await;
        let r = scan_url(&client).await;
        assert_eq!(r.is_error, Some(false), "{version}: {}", text(&r));
        let asked = user.asked();
        assert_eq!(asked.len(), 1, "{version}: {asked:?}");
        assert!(asked[0].contains("https://new.example/x"), "{asked:?}");
        assert!(asked[0].contains("community"), "{asked:?}");
        assert!(
            sent(&upstream).await.contains(&"POST /urls".to_string()),
            "{version}: {:?}",
            sent(&upstream).await
        );
    }
}

#[tokio::test]
async fn a_declined_or_cancelled_scan_url_sends_nothing_and_says_so() {
    for version in VERSIONS {
        for answer in [ElicitationAction::Decline, ElicitationAction::Cancel] {
            let upstream = mock_vt().await;
            mount_scan(&upstream).await;
            let user = User::new(Some(answer.clone()), version.clone());
            let client = connect(
                &user,
                &config(&upstream.uri(), &["default"], &[], true, false),
            )
            .await;
            let r = scan_url(&client).await;
            // A normal answer, not a failure: the user chose.
            assert_eq!(r.is_error, Some(false), "{version}: {}", text(&r));
            assert!(text(&r).contains("nothing was sent"), "{}", text(&r));
            assert!(text(&r).contains("https://new.example/x"), "{}", text(&r));
            assert_eq!(user.asked().len(), 1, "{version} {answer:?}");
            assert!(
                sent(&upstream).await.is_empty(),
                "{:?}",
                sent(&upstream).await
            );
        }
    }
}

#[tokio::test]
async fn scan_file_asks_with_the_file_name_and_size() {
    let upstream = mock_vt().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sample.bin"), vec![7u8; 3000]).unwrap();
    let mut cfg = config(&upstream.uri(), &["default"], &[], true, false);
    cfg.upload_dirs = vec![dir.path().to_path_buf()];
    let user = User::new(
        Some(ElicitationAction::Decline),
        ProtocolVersion::V_2025_06_18,
    );
    let client = connect(&user, &cfg).await;
    let r = client
        .call_tool(
            CallToolRequestParams::new("scan_file")
                .with_arguments(json!({"path": "sample.bin"}).as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let asked = user.asked();
    assert!(
        asked[0].contains("sample.bin") && asked[0].contains("3000 bytes"),
        "{asked:?}"
    );
    assert!(
        sent(&upstream).await.is_empty(),
        "{:?}",
        sent(&upstream).await
    );
    // A path the upload directories refuse is not asked about: the tool refuses it itself.
    let r = client
        .call_tool(
            CallToolRequestParams::new("scan_file").with_arguments(
                json!({"path": "/etc/hostname"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    assert_eq!(user.asked().len(), 1);
}

#[tokio::test]
async fn a_client_without_elicitation_is_not_asked_and_submit_stays_the_gate() {
    for version in VERSIONS {
        let upstream = mock_vt().await;
        mount_scan(&upstream).await;
        let user = User::new(None, version.clone());
        let client = connect(
            &user,
            &config(&upstream.uri(), &["default"], &[], true, false),
        )
        .await;
        let r = scan_url(&client).await;
        assert_eq!(r.is_error, Some(false), "{version}: {}", text(&r));
        assert!(sent(&upstream).await.contains(&"POST /urls".to_string()));
        // Without --allow-submit, a client that could be asked is refused, not asked.
        let upstream = mock_vt().await;
        let user = User::new(Some(ElicitationAction::Accept), version.clone());
        let client = connect(
            &user,
            &config(&upstream.uri(), &["default"], &[], false, false),
        )
        .await;
        let r = scan_url(&client).await;
        assert_eq!(r.is_error, Some(true), "{version}: {}", text(&r));
        assert!(text(&r).contains("--allow-submit"), "{}", text(&r));
        assert!(user.asked().is_empty());
        assert!(sent(&upstream).await.is_empty());
    }
}
