//! MCP helpers: a server configuration, an rmcp client connected to an in-process server over a
//! duplex, tool calls and their text. `crate::mcp` re-exports them under their old paths.

use super::TEST_KEY;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use vtmcp::config::{Config, SelectionInput, selection};
use vtmcp::mcp::VtServer;

/// Every tier and licence beyond `public` (the catalog's list, public first).
pub fn all_tiers() -> &'static [&'static str] {
    &vtmcp::mcp::catalog::TIERS[1..]
}

pub fn config(base: &str, toolsets: &[&str], tiers: &[&str], submit: bool, write: bool) -> Config {
    Config {
        api_key: Some(vtmcp::ApiKey::new(TEST_KEY)),
        base_url: base.to_string(),
        selection: selection(&SelectionInput {
            toolsets: toolsets.iter().map(|s| s.to_string()).collect(),
            tools: vec![],
            tiers: tiers.iter().map(|s| s.to_string()).collect(),
            allow_submit: submit,
            allow_write: write,
        })
        .unwrap(),
        // Tests pace nothing unless they test pacing.
        rate_limit: Some(vtmcp::client::RateLimit::unlimited()),
        ..Config::default()
    }
}

pub fn everything(base: &str) -> Config {
    config(base, &["all"], all_tiers(), true, true)
}

pub async fn connect(config: &Config) -> RunningService<RoleClient, ()> {
    let server = VtServer::new(config).unwrap();
    let (s, c) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(s).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(c).await.unwrap()
}

pub async fn call(
    client: &RunningService<RoleClient, ()>,
    name: &str,
    args: Value,
) -> CallToolResult {
    let params = CallToolRequestParams::new(name.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    client.call_tool(params).await.unwrap()
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Mounts on `server` (reset, with its catch-all) the answer VirusTotal would give to the sample
/// call of `op` (a sample of its JSON response schema, `binary-body` bytes, or an empty 200),
/// and returns that call's arguments and the path it must request. Shared by the tests that
/// call every operation (through its own tool, and through `call_operation`).
pub async fn mount_sample_answer(
    server: &wiremock::MockServer,
    op: &vtmcp::ops::OperationMeta,
    upload: &std::path::Path,
) -> (serde_json::Map<String, Value>, String) {
    use vtmcp::ops::ResponseKind;
    use wiremock::{Mock, ResponseTemplate, matchers};
    server.reset().await;
    super::install_catch_all(server).await;
    let (args, path, _) = super::sample_call(op, upload);
    let template = match op.response {
        ResponseKind::Empty => ResponseTemplate::new(200),
        ResponseKind::Json => ResponseTemplate::new(200).set_body_json(super::sample_instance(
            super::json_response_schema(op.id),
            0,
        )),
        ResponseKind::Bytes => ResponseTemplate::new(200)
            .set_body_raw(BINARY_BODY.to_vec(), "application/octet-stream"),
    };
    Mock::given(matchers::method(op.method))
        .and(matchers::path(path.clone()))
        .respond_with(template)
        .mount(server)
        .await;
    (args, path)
}

/// The bytes [`mount_sample_answer`] answers a binary operation with.
pub const BINARY_BODY: &[u8] = b"binary-body";

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}
