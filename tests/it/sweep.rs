//! The findings of the security sweep (issue 17), one test or more each:
//!
//! 1. downloads never write through a symbolic link planted in the download directory, and the
//!    saved sample is `0600`;
//! 2. `VT_API_KEY_FILE` must name a small regular file holding one key (a device, FIFO,
//!    directory, large or multi-line file is refused with a message that never shows the key);
//! 3. control characters in arguments that name something are refused with nothing sent, free
//!    text (comment text) keeps its line breaks;
//! 4. a JSON `GET` is not redirected to another origin; the key is redacted in any case and in
//!    base64; terminal control characters are escaped in the text content of results.

use crate::mcp::{call, config, connect, everything, text};
use crate::support::{TEST_KEY, client_for, mock_vt};
use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use vtmcp::ops::{DownloadSource, download_to};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

/// Control characters an attacker would use: line breaks (header/log injection), NUL, an ANSI
/// colour sequence, DEL and the one-character C1 CSI.
const BAD: &[&str] = &["\r\n", "\u{0}", "\u{1b}[31m", "\u{7f}", "\u{9b}2J"];

// ---------------------------------------------------------------------------------------------
// 1. Downloads

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn downloads_never_write_through_planted_links_and_are_private() {
    let vt = mock_vt().await;
    let sample = b"MZ\x90\x00 not really malware".to_vec();
    Mock::given(matchers::method("GET"))
        .and(matchers::path(format!("/files/{MD5}/download")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(sample.clone()))
        .mount(&vt)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim_part = outside.path().join("authorized_keys");
    let victim_final = outside.path().join("bashrc");
    std::fs::write(&victim_part, "ORIGINAL PART").unwrap();
    std::fs::write(&victim_final, "ORIGINAL FINAL").unwrap();
    let out = dir.path().join("sample.bin");
    // Another local user plants links at the old predictable temporary name and at the final
    // name, both pointing at files outside the directory.
    std::os::unix::fs::symlink(&victim_part, dir.path().join("sample.bin.part")).unwrap();
    std::os::unix::fs::symlink(&victim_final, &out).unwrap();

    let done = download_to(
        &client_for(&vt),
        DownloadSource::operation("download_file", json!({"id": MD5})),
        &out,
    )
    .await
    .unwrap();
    assert_eq!(done.bytes, sample.len() as u64);
    assert_eq!(
        std::fs::read(&victim_part).unwrap(),
        b"ORIGINAL PART",
        "written through the link at the temporary name"
    );
    assert_eq!(
        std::fs::read(&victim_final).unwrap(),
        b"ORIGINAL FINAL",
        "written through the link at the final name"
    );
    // The link at the final name was replaced by the sample itself, private to its owner.
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(meta.file_type().is_file(), "{meta:?}");
    assert_eq!(std::fs::read(&out).unwrap(), sample);
    assert_eq!(mode(&out), 0o600);
    // Nothing else was left behind (the planted `.part` link is untouched).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["sample.bin", "sample.bin.part"]);

    // A download that fails half-way leaves no temporary file either.
    let e = download_to(
        &client_for(&vt),
        DownloadSource::operation(
            "download_file",
            json!({"id": "ffffffffffffffffffffffffffffffff"}),
        ),
        &dir.path().join("missing.bin"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), Some(418), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    // Through the MCP server: the saved sample is 0600 and alone in the directory.
    let downloads = tempfile::tempdir().unwrap();
    let mut cfg = config(&vt.uri(), &["files"], &["premium"], false, false);
    cfg.download_dir = Some(downloads.path().to_path_buf());
    let client = connect(&cfg).await;
    let r = call(&client, "download_file", json!({"id": MD5})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let saved = r.structured_content.as_ref().unwrap()["saved_to"]
        .as_str()
        .unwrap()
        .to_string();
    let saved = std::path::Path::new(&saved);
    assert!(saved.starts_with(downloads.path()), "{}", saved.display());
    assert_eq!(std::fs::read(saved).unwrap(), sample);
    assert_eq!(mode(saved), 0o600);
    assert_eq!(std::fs::read_dir(downloads.path()).unwrap().count(), 1);
}

// ---------------------------------------------------------------------------------------------
// 2. VT_API_KEY_FILE

/// Runs `api_key_from_file` on a thread, failing (instead of hanging) if it blocks.
fn key_from(path: &std::path::Path) -> Result<String, String> {
    let path = path.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = vtmcp::config::api_key_from_file("VT_API_KEY_FILE", &path)
            .map(|k| k.expose().to_string());
        let _ = tx.send(r);
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("reading the key file blocked or took too long")
}

#[cfg(unix)]
#[test]
fn the_key_file_must_be_a_small_regular_file_holding_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let good = dir.path().join("good");
    std::fs::write(&good, format!("  {key}\n")).unwrap();
    assert_eq!(key_from(&good).unwrap(), key);

    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big");
    std::fs::write(&big, "k".repeat(1 << 20)).unwrap();
    let two_lines = dir.path().join("two-lines");
    std::fs::write(&two_lines, format!("{key}\n{key}\n")).unwrap();
    let spaced = dir.path().join("spaced");
    std::fs::write(&spaced, format!("{key} {key}")).unwrap();
    let nul = dir.path().join("nul");
    std::fs::write(&nul, format!("{key}\u{0}x")).unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, " \n").unwrap();
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        ("/dev/zero".into(), "not a regular file"),
        (fifo, "not a regular file"),
        (dir.path().to_path_buf(), "a directory"),
        (big, "4096"),
        (two_lines, "control character"),
        (spaced, "whitespace"),
        (nul, "control character"),
        (empty, "empty"),
        (dir.path().join("missing"), "cannot open"),
    ];
    for (path, why) in cases {
        let started = Instant::now();
        let e = key_from(&path).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path:?} was slow"
        );
        assert!(e.contains("VT_API_KEY_FILE"), "{path:?}: {e}");
        assert!(e.contains(why), "{path:?}: expected {why:?} in {e}");
        assert!(!e.contains(key) && !e.contains("0123456789abcdef"), "{e}");
    }
}

#[cfg(unix)]
#[test]
fn the_binary_refuses_dev_zero_as_a_key_file_at_once() {
    // Under a memory limit, so that a binary that reads the device whole fails rather than
    // taking the machine's memory.
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -v 4194304 2>/dev/null; exec \"$0\" tools",
            env!("CARGO_BIN_EXE_vtmcp"),
        ])
        .env_clear()
        .env("VT_API_KEY_FILE", "/dev/zero")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vtmcp kept reading /dev/zero");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{status:?}: {stderr}");
    assert!(
        stderr.contains("VT_API_KEY_FILE=/dev/zero is not a regular file"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_key_that_cannot_be_sent_is_refused_not_dropped() {
    let key = "0123456789abcdef\n0123456789abcdef";
    let e = vtmcp::Client::builder()
        .api_key(key)
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("x-apikey") && msg.contains("control character"),
        "{msg}"
    );
    assert!(!msg.contains("0123456789abcdef"), "{msg}");
    // The binary refuses such a key in the environment too, naming the variable.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        .arg("tools")
        .env_clear()
        .env("VTMCP_CACHE", "off")
        .env("VT_API_KEY", key)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("VT_API_KEY: the key contains a control character"),
        "{stderr}"
    );
    assert!(!stderr.contains("0123456789abcdef"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// 3. Control characters in arguments

#[tokio::test]
async fn control_characters_in_names_are_refused_with_nothing_sent() {
    let server = mock_vt().await;
    let client = connect(&everything(&server.uri())).await;
    let mut cases: Vec<(&str, Value, &str)> = vec![];
    for bad in BAD {
        cases.extend([
            (
                "get_url_report",
                json!({"url": format!("https://example.com/a{bad}b")}),
                "url",
            ),
            (
                "get_domain_report",
                json!({"domain": format!("example{bad}.com")}),
                "domain",
            ),
            ("search", json!({"query": format!("8.8.8.8{bad}")}), "query"),
            (
                "intelligence_search",
                json!({"query": format!("type:peexe{bad} p:5+")}),
                "query",
            ),
            ("get_comment", json!({"id": format!("f-1{bad}")}), "id"),
            ("get_ip_address", json!({"ip": format!("8.8.8.8{bad}")}), "ip"),
            (
                "list_domain_related_objects",
                json!({"domain": "example.com", "relationship": format!("subdomains{bad}")}),
                "relationship",
            ),
            (
                "list_domain_related_objects",
                json!({"domain": "example.com", "relationship": "subdomains", "cursor": format!("c{bad}")}),
                "cursor",
            ),
            (
                "list_comments",
                json!({"filter": format!("tag:malware{bad}")}),
                "filter",
            ),
            (
                "triage_iocs",
                json!({"iocs": ["8.8.8.8", format!("example.com{bad}")]}),
                "iocs[1]",
            ),
            (
                "get_domain_relationship",
                json!({"domain": "example.com", "relationship": "subdomains", "cursor": format!("c{bad}")}),
                "cursor",
            ),
            (
                "add_file_comment",
                json!({"id": format!("{MD5}{bad}"), "text": "fine"}),
                "id",
            ),
        ]);
    }
    let mut failures = vec![];
    for (tool, args, arg) in &cases {
        let r = call(&client, tool, args.clone()).await;
        let t = text(&r);
        if !(r.is_error == Some(true)
            && t.contains(&format!("`{arg}`"))
            && t.contains("control character")
            && t.contains("Nothing was sent"))
        {
            failures.push(format!("{tool} {args}: {t:.300}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} not refused clearly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn free_text_keeps_its_line_breaks_but_not_escape_sequences() {
    let server = mock_vt().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path(format!("/files/{MD5}/comments")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": {"type": "comment", "id": format!("f-{MD5}-1"), "attributes": {"text": "ok"}}}),
        ))
        .mount(&server)
        .await;
    let client = connect(&config(&server.uri(), &["files"], &[], false, true)).await;
    let comment = "First line\r\nsecond line\twith a tab #malware";
    let r = call(
        &client,
        "add_file_comment",
        json!({"id": MD5, "text": comment}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["data"]["attributes"]["text"], comment);
    // Free text may not carry NUL or terminal escapes.
    for bad in ["\u{0}", "\u{1b}[31m"] {
        let r = call(
            &client,
            "add_file_comment",
            json!({"id": MD5, "text": format!("hi{bad}")}),
        )
        .await;
        let t = text(&r);
        assert_eq!(r.is_error, Some(true), "{t}");
        assert!(
            t.contains("`text`") && t.contains("control character"),
            "{t}"
        );
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_library_dispatcher_refuses_control_characters_too() {
    let server = mock_vt().await;
    let e = vtmcp::ops::call_json(
        &client_for(&server),
        "search",
        json!({"query": "8.8.8.8\r\nx"})
            .as_object()
            .unwrap()
            .clone(),
    )
    .await
    .unwrap_err();
    match &e {
        vtmcp::Error::InvalidInput { argument, problem } => {
            assert_eq!(argument, "query");
            assert!(problem.contains("control character"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
}

// ---------------------------------------------------------------------------------------------
// 4a. Redirects

#[tokio::test]
async fn a_json_get_is_not_redirected_to_another_origin() {
    let vt = mock_vt().await;
    let elsewhere = MockServer::start().await;
    Mock::given(matchers::path(format!("/files/{MD5}")))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/steal?x=1", elsewhere.uri()).as_str(),
        ))
        .mount(&vt)
        .await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"id": "fake"}})))
        .mount(&elsewhere)
        .await;
    // The typed client.
    let e = client_for(&vt).get_file().id(MD5).send().await.unwrap_err();
    assert_eq!(e.status(), Some(302), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("redirect") && msg.contains("not followed") && msg.contains(&elsewhere.uri()),
        "{msg}"
    );
    assert!(!msg.contains("steal"), "only the origin is named: {msg}");
    // The MCP tool (its answer is read raw).
    let client = connect(&config(&vt.uri(), &["files"], &[], false, false)).await;
    let r = call(&client, "get_file", json!({"id": MD5})).await;
    let t = text(&r);
    assert_eq!(r.is_error, Some(true), "{t}");
    assert!(t.contains("HTTP 302") && t.contains("not followed"), "{t}");
    assert_eq!(
        elsewhere.received_requests().await.unwrap().len(),
        0,
        "the redirect was followed"
    );
    // A download still follows its redirect to storage (without the key).
    Mock::given(matchers::path(format!("/files/{MD5}/download")))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/blob", elsewhere.uri()).as_str()),
        )
        .mount(&vt)
        .await;
    let dir = tempfile::tempdir().unwrap();
    download_to(
        &client_for(&vt),
        DownloadSource::operation("download_file", json!({"id": MD5})),
        &dir.path().join("s.bin"),
    )
    .await
    .unwrap();
    let seen = elsewhere.received_requests().await.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].headers.get("x-apikey").is_none());
}

// ---------------------------------------------------------------------------------------------
// 4b. Key redaction

fn key_forms() -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    vec![
        TEST_KEY.to_ascii_uppercase(),
        format!("Bearer {}", TEST_KEY.replace("key", "KEY")),
        STANDARD.encode(TEST_KEY),
        URL_SAFE.encode(TEST_KEY),
        URL_SAFE_NO_PAD.encode(format!("{TEST_KEY}:")),
        STANDARD.encode(format!("apikey:{TEST_KEY}")),
    ]
}

/// A run of each form long enough to give the key away.
fn leaks(s: &str) -> Vec<String> {
    let mut found = vec![];
    if s.to_ascii_lowercase().contains(TEST_KEY) {
        found.push("the key in some case".to_string());
    }
    for f in key_forms() {
        let core: String = f.chars().skip(12).take(12).collect();
        if s.contains(&core) {
            found.push(f);
        }
    }
    found
}

#[tokio::test]
async fn the_key_is_redacted_in_any_case_and_in_base64() {
    let server = mock_vt().await;
    let forms = key_forms();
    Mock::given(matchers::path("/ip_addresses/8.8.8.8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "ip_address", "id": "8.8.8.8",
            "attributes": {"whois": format!("contact {} end", forms[0]), "notes": forms[1..].to_vec()}
        }})))
        .mount(&server)
        .await;
    Mock::given(matchers::path("/ip_addresses/1.1.1.1"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "BadRequestError",
            "message": format!("bad key {} / {}", forms[0], forms[2])
        }})))
        .mount(&server)
        .await;
    let client = connect(&config(&server.uri(), &["ip_addresses"], &[], false, false)).await;
    let r = call(&client, "get_ip_address", json!({"ip": "8.8.8.8"})).await;
    let t = text(&r);
    assert_eq!(r.is_error, Some(false), "{t}");
    let structured = r.structured_content.unwrap().to_string();
    assert_eq!(leaks(&t), Vec::<String>::new(), "{t}");
    assert_eq!(leaks(&structured), Vec::<String>::new(), "{structured}");
    assert!(t.contains("<redacted>"), "{t}");
    let r = call(&client, "get_ip_address", json!({"ip": "1.1.1.1"})).await;
    let t = text(&r);
    assert_eq!(r.is_error, Some(true), "{t}");
    assert!(t.contains("bad key <redacted>"), "{t}");
    assert_eq!(leaks(&t), Vec::<String>::new(), "{t}");
    // The typed client's errors too.
    let e = client_for(&server)
        .get_ip_address()
        .ip("1.1.1.1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(leaks(&e.to_string()), Vec::<String>::new(), "{e}");
    assert_eq!(leaks(&format!("{e:?}")), Vec::<String>::new(), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// 4c. Terminal escapes in text content

fn unsafe_controls(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect()
}

#[tokio::test]
async fn text_content_carries_no_terminal_control_characters() {
    let server = mock_vt().await;
    let hostile = json!({
        "as_owner": "\u{1b}[31mRED\u{1b}[0m",
        "title": "\u{1b}]0;pwned\u{7}bell",
        "cr": "over\rwrite",
        "del": "x\u{7f}y",
        "csi": "\u{9b}2Jclear",
        "fine": "line\nbreak\ttab",
    });
    Mock::given(matchers::path("/ip_addresses/8.8.8.8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "ip_address", "id": "8.8.8.8", "attributes": hostile.clone()
        }})))
        .mount(&server)
        .await;
    Mock::given(matchers::path("/ip_addresses/1.1.1.1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": "NotFoundError",
            "message": "gone\u{1b}]0;pwned\u{7}\u{9b}2J\r\u{7f}"
        }})))
        .mount(&server)
        .await;
    let client = connect(&config(
        &server.uri(),
        &["ip_addresses", "default"],
        &[],
        false,
        false,
    ))
    .await;
    // A raw (generated) tool: the text is JSON that escapes everything, and parses back to
    // exactly what structuredContent holds (VirusTotal's values, untouched).
    let r = call(&client, "get_ip_address", json!({"ip": "8.8.8.8"})).await;
    let t = text(&r);
    assert_eq!(r.is_error, Some(false), "{t}");
    assert_eq!(unsafe_controls(&t), Vec::<char>::new(), "{t:?}");
    let structured = r.structured_content.unwrap();
    assert_eq!(structured["data"]["attributes"], hostile);
    assert_eq!(serde_json::from_str::<Value>(&t).unwrap(), structured);
    // An error VirusTotal wrote.
    let r = call(&client, "get_ip_address", json!({"ip": "1.1.1.1"})).await;
    let t = text(&r);
    assert_eq!(r.is_error, Some(true), "{t}");
    assert_eq!(unsafe_controls(&t), Vec::<char>::new(), "{t:?}");
    assert!(t.contains("gone"), "{t}");
    // A report, markdown and JSON.
    for format in ["markdown", "json"] {
        let r = call(
            &client,
            "get_ip_report",
            json!({"ip": "8.8.8.8", "format": format}),
        )
        .await;
        let t = text(&r);
        assert_eq!(r.is_error, Some(false), "{t}");
        assert_eq!(unsafe_controls(&t), Vec::<char>::new(), "{format}: {t:?}");
    }
}
