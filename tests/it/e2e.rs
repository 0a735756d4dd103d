//! The real binary: spawned on stdio and driven by an rmcp client, and the Streamable HTTP
//! transport's gate (token, Origin, body size, bind address).

use crate::mcp::text;
use crate::support::{TEST_KEY, mock_vt};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use wiremock::{Mock, ResponseTemplate, matchers};

#[tokio::test]
async fn the_binary_serves_mcp_on_stdio() {
    let server = mock_vt().await;
    let body: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ip_address.json"
        ))
        .unwrap(),
    )
    .unwrap();
    Mock::given(matchers::path("/ip_addresses/8.8.8.8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"));
    cmd.env_clear()
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .env("VT_API_KEY", TEST_KEY)
        .env("VT_BASE_URL", server.uri())
        .env("VTMCP_TOOLSETS", "default,ip_addresses")
        // A given tier: only the call below reaches the mock (detection: tier_auto.rs).
        .env("VT_TIER", "public")
        .env("RUST_LOG", "trace");
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let logs = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut s = String::new();
        stderr.unwrap().read_to_string(&mut s).await.unwrap();
        s
    });
    let client = ().serve(transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "list_ip_address_comments"),
        "ip_addresses toolset enabled"
    );
    let r = client
        .call_tool(
            CallToolRequestParams::new("get_ip_address").with_arguments(
                json!({"ip": "8.8.8.8", "fields": ["as_owner"]})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(
        r.structured_content.unwrap()["data"]["attributes"]["as_owner"],
        "GOOGLE"
    );
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].headers.get("x-apikey").unwrap(), TEST_KEY);
    assert!(
        sent[0]
            .headers
            .get("user-agent")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("vtmcp/")
    );
    // An error path too, then the log at trace level must not contain the key.
    let r = client
        .call_tool(
            CallToolRequestParams::new("get_ip_address")
                .with_arguments(json!({"ip": "1.2.3.4"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    client.cancel().await.unwrap();
    let logs = logs.await.unwrap();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "trace logging was on"
    );
    assert!(!logs.contains(TEST_KEY), "the API key leaked into the log");
}

#[tokio::test]
async fn the_binary_refuses_bad_flags_with_the_valid_names() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .args(["--toolsets", "nope", "tools"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown toolset `nope`") && err.contains("files") && err.contains("default"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .args(["--tier", "gold", "tools"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown tier `gold`"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .args(["serve", "--transport", "http", "--listen", "0.0.0.0:0"])
        .env_remove("VTMCP_HTTP_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without a bearer token"));
}

#[tokio::test]
async fn tools_command_prints_the_catalog() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .args(["tools", "--toolsets", "files", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let tools: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let get_file = tools.iter().find(|t| t["name"] == "get_file").unwrap();
    assert_eq!(
        get_file["_vtmcp"],
        json!({"toolset": "files", "tier": "public", "permission": "read", "method": "GET", "path": "/files/{id}"})
    );
    assert!(
        tools
            .iter()
            .all(|t| t["_vtmcp"]["permission"] == "read" && t["_vtmcp"]["tier"] == "public")
    );
}

async fn http_server(token: Option<&str>) -> (String, tokio::sync::oneshot::Sender<()>) {
    http_server_with(vtmcp::http::Options {
        token: token.map(str::to_string),
        ..Default::default()
    })
    .await
}

async fn http_server_with(
    options: vtmcp::http::Options,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let cfg = crate::mcp::config("http://127.0.0.1:9", &["default"], &[], false, false);
    let server = vtmcp::mcp::VtServer::new(&cfg).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(vtmcp::http::serve_listener(
        server,
        listener,
        options,
        async move {
            let _ = rx.await;
        },
    ));
    (format!("http://{addr}/mcp"), tx)
}

const TOKEN: &str = "0123456789abcdef-s3cret";
const BEARER: &str = "Bearer 0123456789abcdef-s3cret";

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})
}

#[tokio::test]
async fn http_transport_checks_token_origin_and_size() {
    let (url, _stop) = http_server(Some(TOKEN)).await;
    let http = reqwest::Client::new();
    let post = |auth: Option<&str>, origin: Option<&str>, body: String| {
        let mut r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    let init = initialize().to_string();
    assert_eq!(post(None, None, init.clone()).await.unwrap().status(), 401);
    assert_eq!(
        post(Some("Bearer wrong"), None, init.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        post(Some(BEARER), Some("https://evil.example"), init.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    let huge = json!({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"pad": "x".repeat(2 * 1024 * 1024)}}).to_string();
    assert_eq!(post(Some(BEARER), None, huge).await.unwrap().status(), 413);
    let ok = post(Some(BEARER), Some("http://localhost:3000"), init)
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(text.contains("\"vtmcp\""), "{text}");
}

#[tokio::test]
async fn http_sessions_are_bounded() {
    let (url, _stop) = http_server_with(vtmcp::http::Options {
        max_sessions: 2,
        ..Default::default()
    })
    .await;
    let http = reqwest::Client::new();
    let open = || {
        http.post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize().to_string())
            .send()
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = open().await.unwrap();
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["mcp-session-id"].to_str().unwrap().to_string());
        // Read the initialize answer so the session is fully set up.
        assert!(r.text().await.unwrap().contains("\"vtmcp\""));
    }
    let refused = open().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "60");
    let why = refused.text().await.unwrap();
    assert!(why.contains("too many open MCP sessions (2)"), "{why}");
    assert!(why.contains("--max-sessions"), "{why}");
    // An open session keeps working while new ones are refused.
    let ping = http
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &ids[0])
        .header("mcp-protocol-version", "2025-06-18")
        .body(json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    assert!(ping.text().await.unwrap().contains("\"id\":7"));
    // Ending a session makes room for a new one.
    let ended = http
        .delete(&url)
        .header("mcp-session-id", &ids[1])
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204, "the Python SDK expects 200 or 204");
    let mut admitted = false;
    for _ in 0..50 {
        let r = open().await.unwrap();
        if r.status() == 200 {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(admitted, "a session slot was not given back after DELETE");
}

#[tokio::test]
async fn a_slow_client_does_not_hold_up_new_sessions() {
    use tokio::io::AsyncWriteExt;
    let (url, _stop) = http_server_with(vtmcp::http::Options::default()).await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    // Headers of an initialize request whose body never comes.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /mcp HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: 400\r\n\r\n{{\"jsonrpc\""
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // Another client opens a session meanwhile (the timeout only detects a hang).
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize().to_string())
            .send(),
    )
    .await
    .expect("a stalled upload must not block other clients")
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("mcp-session-id"));
    drop(slow);
}

#[test]
fn non_loopback_bind_needs_a_token() {
    let any: std::net::SocketAddr = "0.0.0.0:8765".parse().unwrap();
    assert!(
        vtmcp::http::check_bind(&any, None)
            .unwrap_err()
            .contains("VTMCP_HTTP_TOKEN")
    );
    assert!(vtmcp::http::check_bind(&any, Some(TOKEN)).is_ok());
    for weak in ["t", " ", "short-token", "a token with spaces in it"] {
        let e = vtmcp::http::check_bind(&any, Some(weak)).unwrap_err();
        assert!(e.contains("at least 16"), "{weak:?}: {e}");
    }
    assert!(vtmcp::http::check_bind(&"127.0.0.1:1".parse().unwrap(), None).is_ok());
}

#[tokio::test]
async fn http_serves_only_mcp_over_http1_and_judges_every_header_value() {
    let (url, _stop) = http_server(Some(TOKEN)).await;
    let base = url.trim_end_matches("/mcp").to_string();
    let http = reqwest::Client::new();
    let post = |url: String, auth: &str| {
        http.post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", auth)
            .body(initialize().to_string())
            .send()
    };
    // Only /mcp serves MCP.
    for path in ["/foo/bar", "/", "/mcp/x", "/MCP"] {
        let r = post(format!("{base}{path}"), BEARER).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // The bearer scheme is case-insensitive.
    let lower = format!("bearer {TOKEN}");
    assert_eq!(post(url.clone(), &lower).await.unwrap().status(), 200);
    // A second Origin header is judged too.
    let mut origins = reqwest::header::HeaderMap::new();
    origins.append("origin", "http://localhost:3000".parse().unwrap());
    origins.append("origin", "https://evil.example".parse().unwrap());
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", BEARER)
        .headers(origins)
        .body(initialize().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // HTTP/2 is not spoken.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .post(&url)
        .header("authorization", BEARER)
        .body(initialize().to_string())
        .send()
        .await;
    assert!(r.is_err(), "HTTP/2 answered: {:?}", r.map(|r| r.status()));
}

#[tokio::test]
async fn half_sent_headers_and_idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (url, _stop) = http_server_with(vtmcp::http::Options {
        header_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    // The test's own timeout only detects a hang; the server closes well before it.
    let closed_within = |mut s: tokio::net::TcpStream| async move {
        let mut buf = vec![0u8; 4096];
        tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    };
    // Slowloris: headers that never end.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\nx-a: b\r\n")
        .await
        .unwrap();
    assert!(closed_within(slow).await, "a half-sent head was held open");
    // A connection that never sends anything.
    let idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(idle).await,
        "an idle connection was held open"
    );
    // A kept-alive connection that goes idle after one request.
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = initialize().to_string();
    kept.write_all(
        format!(
            "POST /mcp HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    assert!(
        closed_within(kept).await,
        "an idle kept-alive connection was held open"
    );
}

#[test]
fn version_names_the_spec_it_was_generated_from() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    let ops = vtmcp::ops::OPERATIONS.len();
    assert!(
        v.starts_with(&format!("vtmcp {}", env!("CARGO_PKG_VERSION")))
            && v.contains(&format!("{ops} operations, sha256 ")),
        "{v}"
    );
}

#[test]
fn tools_names_composite_tools_and_lists_what_they_call() {
    // `--tools` takes composite tools too (the server's own hints name them).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .args([
            "--tools",
            "get_file_report,get_threat_actor",
            "--tier",
            "premium",
            "tools",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tools: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["get_file_report", "get_threat_actor"]);
    let calls = &tools[0]["_vtmcp"]["calls"];
    assert_eq!(
        calls[0],
        json!({"operation": "get_file", "method": "GET", "path": "/files/{id}"})
    );
    // Named but not available to the key's tier: not listed, and the reason is printed.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .args(["--tools", "get_file_report,get_threat_actor", "tools"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.starts_with("get_file_report ") && !listed.contains("get_threat_actor"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("get_threat_actor: not listed:") && stderr.contains("--tier premium"),
        "{stderr}"
    );
    // Every composite names only operations that exist, with their method and path; one that
    // calls none (extract_iocs) says so in its description.
    for c in vtmcp::reports::COMPOSITES {
        assert!(
            !c.calls.is_empty() || c.description.contains("Makes no request"),
            "{} lists no operation and does not say it makes no request",
            c.name
        );
        for id in c.calls {
            assert!(
                vtmcp::ops::OperationMeta::find(id).is_some(),
                "{} calls unknown operation {id}",
                c.name
            );
        }
    }
}
