//! `vtmcp call`: the real binary against a mock VirusTotal (`VT_BASE_URL`), through the same
//! path an MCP `tools/call` takes.

use crate::support::{TEST_KEY, mock_vt};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

const FILE_ID: &str = "a7f3c2d91e0b4c8f6a5d3e2f1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `vtmcp call ARGS…` with the key and the mock's address in the environment, `stdin`
/// on its standard input.
async fn vtmcp_call(server: &MockServer, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"));
    cmd.env_clear()
        .env("VTMCP_CACHE", "off")
        .env("VT_API_KEY", TEST_KEY)
        .env("VT_BASE_URL", server.uri())
        // A given tier: only the call's own requests reach the mock.
        .env("VT_TIER", "public")
        .envs(env.iter().copied())
        .arg("call")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(
        !run.stdout.contains(TEST_KEY) && !run.stderr.contains(TEST_KEY),
        "the key was printed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

fn file_body() -> Value {
    crate::reports::fixture("file.json")
}

async fn mount_file(server: &MockServer) {
    Mock::given(matchers::method("GET"))
        .and(matchers::path(format!("/files/{FILE_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(file_body()))
        .mount(server)
        .await;
}

#[tokio::test]
async fn call_prints_a_report_as_markdown_and_as_json() {
    let server = mock_vt().await;
    mount_file(&server).await;
    let arg = format!("file_hash={FILE_ID}");
    let r = vtmcp_call(&server, &[], &["get_file_report", &arg], "").await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with('#'), "markdown: {}", r.stdout);
    assert!(r.stdout.contains("invoice_2026_11.exe"), "{}", r.stdout);
    assert!(r.stdout.contains("52"), "the verdict: {}", r.stdout);
    // The same call with --json: the structured result, parsed as JSON.
    let r = vtmcp_call(&server, &[], &["get_file_report", &arg, "--json"], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["found"], true, "{v}");
    assert_eq!(v["verdict"]["malicious"], 52, "{v}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn call_takes_typed_pairs_raw_json_and_a_json_object_on_stdin() {
    let server = mock_vt().await;
    let body: Value = crate::reports::fixture("ip_address.json");
    Mock::given(matchers::path("/ip_addresses/8.8.8.8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    let env = [("VTMCP_TOOLSETS", "ip_addresses")];
    let r = vtmcp_call(
        &server,
        &env,
        &["get_ip_address", "-", "fields:=[\"as_owner\"]", "--json"],
        r#"{"ip": "8.8.8.8"}"#,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["data"]["attributes"], json!({"as_owner": "GOOGLE"}));
    // A number where the schema wants one is sent as a number; a word is a usage error.
    Mock::given(matchers::path("/ip_addresses/8.8.8.8/comments"))
        .and(matchers::query_param("limit", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [], "meta": {}})))
        .mount(&server)
        .await;
    let r = vtmcp_call(
        &server,
        &env,
        &["list_ip_address_comments", "ip=8.8.8.8", "limit=3"],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&r.stdout).unwrap()["data"],
        json!([])
    );
    let sent = server.received_requests().await.unwrap().len();
    let r = vtmcp_call(
        &server,
        &env,
        &["list_ip_address_comments", "ip=8.8.8.8", "limit=three"],
        "",
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`limit` takes an integer"),
        "{}",
        r.stderr
    );
    assert_eq!(server.received_requests().await.unwrap().len(), sent);
}

#[tokio::test]
async fn call_errors_exit_non_zero_with_the_message_on_stderr() {
    let server = mock_vt().await;
    // A value the schema refuses: the validation message, nothing sent, status 1.
    let r = vtmcp_call(&server, &[], &["get_file_report", "file_hash=zz"], "").await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("invalid argument `file_hash`")
            && r.stderr.contains("Nothing was sent to VirusTotal"),
        "{}",
        r.stderr
    );
    // A tool the flags do not enable: the message tools/call gives, naming the flag.
    let r = vtmcp_call(
        &server,
        &[],
        &["list_ip_address_comments", "ip=8.8.8.8"],
        "",
    )
    .await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "`ip_addresses` toolset, which is not enabled: start vtmcp with --toolsets ip_addresses"
        ),
        "{}",
        r.stderr
    );
    // A name no tool has: a usage error.
    let r = vtmcp_call(&server, &[], &["get_everything"], "").await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown tool `get_everything`"),
        "{}",
        r.stderr
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
    // An upstream refusal that quotes the key: an error result, the key scrubbed.
    Mock::given(matchers::path(format!("/files/{FILE_ID}")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "code": "WrongCredentialsError",
            "message": format!("Wrong API key {TEST_KEY}")}})))
        .mount(&server)
        .await;
    let arg = format!("file_hash={FILE_ID}");
    let r = vtmcp_call(&server, &[], &["get_file_report", &arg], "").await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("get_file_report"), "{}", r.stderr);
}
