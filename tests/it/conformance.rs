//! Protocol conformance: one scenario (start-up, list the tools, call a tool, an error result,
//! progress during a call, cancel a call) run by the rmcp client pinned to each protocol version
//! vtmcp supports, against the real binary over stdio and over Streamable HTTP with and without
//! sessions. Each (version, transport) pair is its own test, named `conformance::<transport>_<version>`.
//!
//! 2025-06-18 and 2025-11-25 start with `initialize`; 2026-07-28 has no handshake: the client
//! sends `server/discover` and self-contained requests (rmcp's `ClientLifecycleMode::Discover`).
//! The progress comes from the real rate limiter (`--requests-per-minute 1`): the second call
//! of the minute waits for a slot, which is sent as progress; that call is then cancelled: the
//! client gets no answer, the server goes on answering, and the call has not reached VirusTotal
//! (checked while the test runs; the slot it waited for would only come a minute later).

use crate::support::{TEST_KEY, mock_vt};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientConfig, ClientRequest, ProgressNotificationParam,
    ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, PeerRequestOptions, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, ResponseTemplate, matchers};

/// Only detects a hang; every step is expected to take well under it.
const HANG: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Via {
    Stdio,
    Http,
    HttpStateless,
}

/// An rmcp client that announces one protocol version and records progress.
#[derive(Clone)]
struct Pinned {
    version: ProtocolVersion,
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    heard: Arc<tokio::sync::Notify>,
}

impl ClientHandler for Pinned {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default().with_protocol_version(self.version.clone())
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
        self.heard.notify_waiters();
    }
}

/// The binary serving HTTP on a free loopback port; killed when dropped.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env(cmd: &mut Command, upstream: &str) {
    cmd.env_clear()
        .env("VT_API_KEY", TEST_KEY)
        .env("VT_BASE_URL", upstream)
        .env("VT_TIER", "public")
        .env("VTMCP_CACHE", "off")
        .env("VTMCP_TOOLSETS", "default")
        .env("VTMCP_REQUESTS_PER_MINUTE", "1")
        .env("RUST_LOG", "warn");
}

fn start_http(upstream: &str, stateless: bool) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vtmcp"));
    env(&mut cmd, upstream);
    cmd.args(["--transport", "http", "--listen", "127.0.0.1:0"]);
    if stateless {
        cmd.arg("--stateless");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vtmcp");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("vtmcp: Streamable HTTP on ") {
                let _ = tx.send(rest.to_string());
            }
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let Ok(line) = rx.recv_timeout(HANG) else {
        let _ = child.kill();
        panic!("vtmcp did not start: {}", log.lock().unwrap());
    };
    let url = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    Server { child, url, log }
}

async fn connect<T, E, A>(handler: Pinned, transport: T) -> RunningService<RoleClient, Pinned>
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let started = if handler.version.has_initialize() {
        tokio::time::timeout(HANG, handler.clone().serve(transport)).await
    } else {
        let version = handler.version.clone();
        tokio::time::timeout(
            HANG,
            handler.clone().serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![version],
                },
            ),
        )
        .await
    };
    started
        .expect("start-up hung")
        .unwrap_or_else(|e| panic!("start-up failed: {e}"))
}

fn text(r: &rmcp::model::CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

async fn run(via: Via, version: ProtocolVersion) {
    let case = format!("{via:?} {version}");
    let upstream = mock_vt().await;
    let body: Value = crate::reports::fixture("ip_address.json");
    Mock::given(matchers::path("/ip_addresses/8.8.8.8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&upstream)
        .await;
    let handler = Pinned {
        version: version.clone(),
        progress: Arc::default(),
        heard: Arc::default(),
    };
    let mut _server = None;
    let client = match via {
        Via::Stdio => {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_vtmcp"));
            env(&mut cmd, &upstream.uri());
            let transport = TokioChildProcess::builder(tokio::process::Command::from(cmd))
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
                .0;
            connect(handler.clone(), transport).await
        }
        Via::Http | Via::HttpStateless => {
            let server = start_http(&upstream.uri(), matches!(via, Via::HttpStateless));
            let transport = StreamableHttpClientTransport::from_uri(server.url.clone());
            _server = Some(server);
            connect(handler.clone(), transport).await
        }
    };
    let log = || {
        _server
            .as_ref()
            .map(|s| s.log.lock().unwrap().clone())
            .unwrap_or_default()
    };

    // 1. Start-up: the version asked for is the version spoken.
    let info = client.peer_info().expect("server info");
    assert_eq!(info.protocol_version, version, "{case}");
    assert!(info.capabilities.tools.is_some(), "{case}");
    // Only a server with sessions has anyone to announce a changed tool list to.
    let list_changed = info
        .capabilities
        .tools
        .as_ref()
        .and_then(|t| t.list_changed);
    assert_eq!(
        list_changed == Some(true),
        !matches!(via, Via::HttpStateless),
        "{case}: tools.listChanged is {list_changed:?}"
    );

    // 2. The tool list.
    let tools = tokio::time::timeout(HANG, client.list_all_tools())
        .await
        .expect("tools/list hung")
        .unwrap();
    assert!(
        tools.iter().any(|t| t.name == "get_ip_report"),
        "{case}: {:?}",
        tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>()
    );

    // 3. A call (the minute's one request).
    let ok = client
        .call_tool(
            CallToolRequestParams::new("get_ip_report")
                .with_arguments(args(json!({"ip": "8.8.8.8", "depth": "summary"}))),
        )
        .await
        .unwrap();
    assert_eq!(ok.is_error, Some(false), "{case}: {}", text(&ok));
    assert!(text(&ok).contains("8.8.8.8"), "{case}: {}", text(&ok));

    // 4. An error result (nothing sent).
    let bad = client
        .call_tool(
            CallToolRequestParams::new("get_ip_report")
                .with_arguments(args(json!({"ip": "999.1.1.1"}))),
        )
        .await
        .unwrap();
    assert_eq!(bad.is_error, Some(true), "{case}");
    assert!(
        text(&bad).contains("invalid argument `ip`"),
        "{case}: {}",
        text(&bad)
    );

    // 5. Progress during a call: the next request of the minute waits for a slot, and the
    // wait is reported (after the report's own first step).
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new("get_domain_report")
            .with_arguments(args(json!({"domain": "example.com"}))),
    ));
    let handle = client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    let token = handle.progress_token.clone();
    let waiting = |p: &ProgressNotificationParam| {
        p.progress_token == token
            && p.message.as_deref().unwrap_or_default().contains("waiting")
            && p.message
                .as_deref()
                .unwrap_or_default()
                .contains("rate limit")
    };
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let heard = handler.heard.notified();
        if handler.progress.lock().unwrap().iter().any(waiting) {
            break;
        }
        tokio::time::timeout_at(deadline, heard)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{case}: no progress for the wait: {:?} {}",
                    handler.progress.lock().unwrap(),
                    log()
                )
            });
    }
    let progress = handler.progress.lock().unwrap().clone();
    let ours: Vec<&ProgressNotificationParam> = progress
        .iter()
        .filter(|p| p.progress_token == token)
        .collect();
    assert!(
        ours.windows(2).all(|w| w[1].progress > w[0].progress),
        "{case}: values increase: {ours:?}"
    );
    assert!(
        ours.iter().any(|p| p.total.is_some_and(|t| t > 1.0)),
        "{case}: the wait has a total: {ours:?}"
    );

    // 6. Cancel it: no answer, the server goes on, and the call never reaches VirusTotal.
    handle
        .cancel(Some("conformance test".into()))
        .await
        .unwrap();
    let again = tokio::time::timeout(HANG, client.list_tools(None))
        .await
        .expect("the server stopped answering after a cancel")
        .unwrap();
    assert!(!again.tools.is_empty(), "{case}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paths: Vec<String> = upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(paths, ["/ip_addresses/8.8.8.8"], "{case}: {}", log());
    let _ = client.cancel().await;
}

macro_rules! cases {
    ($($name:ident: $via:expr, $version:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            run($via, $version).await;
        }
    )*};
}

cases! {
    stdio_2025_06_18: Via::Stdio, ProtocolVersion::V_2025_06_18;
    stdio_2025_11_25: Via::Stdio, ProtocolVersion::V_2025_11_25;
    stdio_2026_07_28: Via::Stdio, ProtocolVersion::V_2026_07_28;
    http_2025_06_18: Via::Http, ProtocolVersion::V_2025_06_18;
    http_2025_11_25: Via::Http, ProtocolVersion::V_2025_11_25;
    http_2026_07_28: Via::Http, ProtocolVersion::V_2026_07_28;
    http_stateless_2025_06_18: Via::HttpStateless, ProtocolVersion::V_2025_06_18;
    http_stateless_2025_11_25: Via::HttpStateless, ProtocolVersion::V_2025_11_25;
    http_stateless_2026_07_28: Via::HttpStateless, ProtocolVersion::V_2026_07_28;
}
