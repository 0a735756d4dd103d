//! The MCP server through a real rmcp client over an in-process duplex: initialize, tools/list
//! under several flag combinations, tools/call for every generated tool against a mock
//! VirusTotal, error results for bad or hidden calls, and the committed tool snapshots (one file
//! per tool in `tests/snapshots/tools/`).

// The MCP helpers live in `crate::support::mcp`; other test files import them from here.
pub use crate::support::mcp::{
    all_tiers, call, config, connect, everything, mount_sample_answer, sha256_hex, text,
};

use crate::support::snapshots::{assert_dir, pretty_json};
use crate::support::{TEST_KEY, mock_vt};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use vtmcp::config::Config;
use vtmcp::mcp::VtServer;
use vtmcp::ops::{OPERATIONS, ResponseKind};
use wiremock::{Mock, ResponseTemplate, matchers};

#[tokio::test]
async fn initialize_reports_the_server_and_instructions() {
    let client = connect(&config(
        "http://127.0.0.1:9",
        &["default"],
        &[],
        false,
        false,
    ))
    .await;
    let info = client.peer_info().unwrap();
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("vtmcp")
    );
    let instructions = info.instructions.clone().unwrap();
    assert!(instructions.contains("untrusted data"), "{instructions}");
    assert!(
        instructions.contains("Zero detections does not prove"),
        "{instructions}"
    );
    assert!(instructions.contains("default"), "{instructions}");
}

#[tokio::test]
async fn tools_list_follows_toolsets_tiers_and_permissions() {
    // Every tool as (toolset, tier, permission), generated and composite, built from the
    // spec table and the composite list rather than from the catalog under test.
    let all: Vec<(&str, &str, &str)> = OPERATIONS
        .iter()
        .filter(|o| o.excluded.is_none())
        .map(|o| (o.toolset, o.tier.as_str(), o.permission.as_str()))
        .chain(
            vtmcp::reports::COMPOSITES
                .iter()
                .map(|c| ("reports", c.tier.as_str(), c.permission.as_str())),
        )
        // find_operations and call_operation: in `default`, for every key (each call of
        // call_operation is checked against the operation it runs).
        .chain(
            vtmcp::config::OPERATIONS_TOOLS
                .iter()
                .map(|_| ("default", "public", "read")),
        )
        .collect();
    let count =
        |f: &dyn Fn(&str, &str, &str) -> bool| all.iter().filter(|(t, ti, p)| f(t, ti, p)).count();
    let cases: Vec<(Config, usize)> = vec![
        (
            config("http://127.0.0.1:9", &["all"], all_tiers(), true, true),
            count(&|_, _, _| true),
        ),
        (
            config("http://127.0.0.1:9", &["all"], &[], false, false),
            count(&|_, tier, perm| tier == "public" && perm == "read"),
        ),
        (
            config("http://127.0.0.1:9", &["files"], &["premium"], false, false),
            count(&|set, tier, perm| {
                set == "files" && matches!(tier, "public" | "premium") && perm == "read"
            }),
        ),
        (
            config("http://127.0.0.1:9", &["files", "urls"], &[], true, false),
            count(&|set, tier, perm| {
                matches!(set, "files" | "urls") && tier == "public" && perm != "write"
            }),
        ),
        (
            config("http://127.0.0.1:9", &["feeds"], &["feeds"], false, false),
            count(&|set, _, _| set == "feeds"),
        ),
        (
            config("http://127.0.0.1:9", &["reports"], &[], true, false),
            count(&|set, tier, _| set == "reports" && tier == "public"),
        ),
        (
            config("http://127.0.0.1:9", &["default"], &[], false, false),
            vtmcp::mcp::catalog::DEFAULT_TOOLSET.len() - 2, // scan_url and scan_file need --allow-submit
        ),
    ];
    for (cfg, expected) in cases {
        let client = connect(&cfg).await;
        let tools = client.list_all_tools().await.unwrap();
        assert_eq!(tools.len(), expected, "{:?}", cfg.selection);
        let names: BTreeSet<_> = tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names.len(), tools.len(), "duplicate tool names");
    }
}

#[tokio::test]
async fn every_generated_tool_calls_virustotal_through_mcp() {
    let server = mock_vt().await;
    let downloads = tempfile::tempdir().unwrap();
    let uploads = tempfile::tempdir().unwrap();
    let upload = tempfile::NamedTempFile::new_in(uploads.path()).unwrap();
    std::fs::write(upload.path(), b"sample bytes").unwrap();
    let mut cfg = everything(&server.uri());
    cfg.download_dir = Some(downloads.path().to_path_buf());
    cfg.upload_dirs = vec![uploads.path().to_path_buf()];
    let client = connect(&cfg).await;
    let mut failures = vec![];
    let mut called = 0;
    for op in OPERATIONS.iter().filter(|o| o.excluded.is_none()) {
        let (args, path) = mount_sample_answer(&server, op, upload.path()).await;
        let r = call(&client, op.id, Value::Object(args)).await;
        called += 1;
        let sent = server.received_requests().await.unwrap();
        if r.is_error == Some(true) || sent.len() != 1 || sent[0].url.path() != path {
            failures.push(format!(
                "{}: error={:?} requests={} text={}",
                op.id,
                r.is_error,
                sent.len(),
                text(&r).chars().take(300).collect::<String>()
            ));
            continue;
        }
        let structured = r.structured_content.clone().unwrap_or(Value::Null);
        if op.response == ResponseKind::Bytes {
            let saved = structured["saved_to"].as_str().unwrap_or_default();
            if std::fs::read(saved).ok().as_deref() != Some(b"binary-body".as_slice())
                || structured["sha256"] != sha256_hex(b"binary-body")
            {
                failures.push(format!(
                    "{}: binary not saved correctly: {structured}",
                    op.id
                ));
            }
        } else if structured.is_null() || text(&r).is_empty() {
            failures.push(format!("{}: no structured content or text", op.id));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {called} tools failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn errors_are_results_the_model_can_read() {
    let server = mock_vt().await;
    let client = connect(&config(
        &server.uri(),
        &["default", "files"],
        &[],
        false,
        false,
    ))
    .await;
    // Bad arguments: isError, the argument named, nothing sent.
    for (tool, args, needle) in [
        ("get_file", json!({"id": "not-a-hash"}), "`id`"),
        ("get_file", json!({}), "missing required argument `id`"),
        (
            "get_file",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f", "colour": "red"}),
            "unknown argument `colour`",
        ),
        (
            "list_file_comments",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f", "limit": 500}),
            "at most 40",
        ),
        (
            "list_file_related_objects",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f", "relationship": "similar_files"}),
            "--tier premium",
        ),
        (
            "list_file_related_objects",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f", "relationship": "No-Pe"}),
            "must be one of",
        ),
    ] {
        let r = call(&client, tool, args).await;
        assert_eq!(r.is_error, Some(true), "{tool}");
        assert!(text(&r).contains(needle), "{tool}: {}", text(&r));
        assert!(text(&r).contains("Nothing was sent"), "{}", text(&r));
    }
    // A tool that exists but is not enabled says which flag enables it.
    for (tool, args, needle) in [
        (
            "add_file_comment",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f", "text": "x"}),
            "--allow-write",
        ),
        (
            "rescan_file",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f"}),
            "--allow-submit",
        ),
        (
            "download_file",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f"}),
            "--tier premium",
        ),
        ("get_graph", json!({"id": "g"}), "--toolsets graphs"),
    ] {
        let r = call(&client, tool, args).await;
        assert!(
            r.is_error == Some(true) && text(&r).contains(needle),
            "{tool}: {}",
            text(&r)
        );
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "invalid or hidden calls must send nothing"
    );
    // VirusTotal errors: code, status and next step.
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": {"code": "NotFoundError", "message": "File not found"}}),
        ))
        .mount(&server)
        .await;
    let r = call(
        &client,
        "get_file",
        json!({"id": "44d88612fea8a8f36de82e1278abb02f"}),
    )
    .await;
    let t = text(&r);
    assert!(
        r.is_error == Some(true)
            && t.contains("NotFoundError")
            && t.contains("404")
            && t.contains("Check the identifier"),
        "{t}"
    );
    // An unknown tool is a protocol error.
    let e = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await;
    assert!(e.is_err(), "unknown tool must be a JSON-RPC error");
}

#[tokio::test]
async fn without_a_key_calls_explain_and_send_nothing() {
    let server = mock_vt().await;
    let mut cfg = config(&server.uri(), &["default"], &[], false, false);
    cfg.api_key = None;
    let client = connect(&cfg).await;
    assert_eq!(
        client.list_all_tools().await.unwrap().len(),
        vtmcp::mcp::catalog::DEFAULT_TOOLSET.len() - 2
    );
    let r = call(
        &client,
        "get_file_report",
        json!({"file_hash": "44d88612fea8a8f36de82e1278abb02f"}),
    )
    .await;
    assert!(
        r.is_error == Some(true) && text(&r).contains("VT_API_KEY"),
        "{}",
        text(&r)
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn binary_results_need_a_download_dir_and_fields_project() {
    let server = mock_vt().await;
    let client = connect(&config(
        &server.uri(),
        &["files"],
        &["premium"],
        false,
        false,
    ))
    .await;
    Mock::given(matchers::path(
        "/files/44d88612fea8a8f36de82e1278abb02f/download",
    ))
    .respond_with(
        ResponseTemplate::new(200).set_body_raw(b"MZ".to_vec(), "application/octet-stream"),
    )
    .mount(&server)
    .await;
    let r = call(
        &client,
        "download_file",
        json!({"id": "44d88612fea8a8f36de82e1278abb02f"}),
    )
    .await;
    assert!(
        r.is_error == Some(true) && text(&r).contains("--download-dir"),
        "{}",
        text(&r)
    );
    let body: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/file.json"
        ))
        .unwrap(),
    )
    .unwrap();
    Mock::given(matchers::path(format!(
        "/files/{}",
        body["data"]["id"].as_str().unwrap()
    )))
    .respond_with(ResponseTemplate::new(200).set_body_json(&body))
    .mount(&server)
    .await;
    let r = call(
        &client,
        "get_file",
        json!({"id": body["data"]["id"], "fields": ["last_analysis_stats", "meaningful_name"]}),
    )
    .await;
    let attrs = &r.structured_content.unwrap()["data"]["attributes"];
    // In the order VirusTotal sent them.
    let mut keys = attrs.as_object().unwrap().keys().collect::<Vec<_>>();
    keys.sort();
    assert_eq!(keys, ["last_analysis_stats", "meaningful_name"]);
}

#[tokio::test]
async fn a_binary_result_over_the_limit_is_not_kept() {
    let server = mock_vt().await;
    Mock::given(matchers::path(
        "/files/44d88612fea8a8f36de82e1278abb02f/download",
    ))
    .respond_with(
        ResponseTemplate::new(200).set_body_raw(vec![b'M'; 4096], "application/octet-stream"),
    )
    .mount(&server)
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.uri(), &["files"], &["premium"], false, false);
    cfg.download_dir = Some(dir.path().to_path_buf());
    cfg.max_download_bytes = 1000;
    let client = connect(&cfg).await;
    let args = json!({"id": "44d88612fea8a8f36de82e1278abb02f"});
    let r = call(&client, "download_file", args.clone()).await;
    assert!(
        r.is_error == Some(true) && text(&r).contains("1000 byte limit"),
        "{}",
        text(&r)
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing kept"
    );
    // Within the limit the file is saved with its size and SHA-256.
    drop(client);
    cfg.max_download_bytes = 4096;
    let client = connect(&cfg).await;
    let r = call(&client, "download_file", args).await;
    let saved = r.structured_content.unwrap();
    assert_eq!(saved["size"], 4096);
    assert_eq!(saved["sha256"], sha256_hex(&[b'M'; 4096]));
    let path = saved["saved_to"].as_str().unwrap();
    assert_eq!(std::fs::read(path).unwrap().len(), 4096);
}

#[tokio::test]
async fn oversized_results_are_cut_to_the_budget_with_a_note() {
    let server = mock_vt().await;
    let mut cfg = config(&server.uri(), &["files"], &[], false, false);
    cfg.max_output_tokens = 1000;
    let client = connect(&cfg).await;
    let body: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/file.json"
        ))
        .unwrap(),
    )
    .unwrap();
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    let r = call(&client, "get_file", json!({"id": body["data"]["id"]})).await;
    let t = text(&r);
    assert!(t.len() <= 4000, "{} chars", t.len());
    let s = r.structured_content.unwrap();
    assert!(
        s["_vtmcp"]["truncated"][0]
            .as_str()
            .unwrap()
            .contains("last_analysis_results"),
        "{s}"
    );
    assert_eq!(
        s["data"]["attributes"]["meaningful_name"],
        "invoice_2026_11.exe"
    );
}

#[tokio::test]
async fn tool_snapshot_is_current_and_every_tool_keeps_the_invariants() {
    let server = VtServer::new(&everything("http://127.0.0.1:9")).unwrap();
    let toolsets = vtmcp::mcp::catalog::toolset_names();
    let mut snapshots = BTreeMap::new();
    for e in server.entries() {
        let t = e.tool();
        let name = t.name.as_ref();
        assert!(
            name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
        assert!(
            t.description.as_ref().is_some_and(|d| !d.is_empty()),
            "{name}: description"
        );
        assert!(
            t.title.as_ref().is_some_and(|d| !d.is_empty()),
            "{name}: title"
        );
        assert_eq!(t.input_schema.get("type"), Some(&json!("object")), "{name}");
        for k in ["oneOf", "anyOf", "allOf"] {
            assert!(!t.input_schema.contains_key(k), "{name}: top-level {k}");
        }
        let a = t
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: annotations"));
        let m = &e.meta;
        assert!(toolsets.contains(&m.toolset), "{name}: toolset");
        // Every tool reaches VirusTotal: MCP's default `openWorldHint` (true) must not be
        // overridden. Read-only tools carry only `readOnlyHint`; the others say whether they
        // destroy and whether repeating them is harmless.
        assert_ne!(a.open_world_hint, Some(false), "{name}");
        match e.op {
            Some(op) if op.method == "GET" => {
                assert_eq!(a.read_only_hint, Some(true), "{name}");
            }
            Some(op) => {
                assert_eq!(a.read_only_hint, Some(false), "{name}");
                assert_eq!(
                    a.idempotent_hint,
                    Some(matches!(op.method, "PUT" | "DELETE")),
                    "{name}"
                );
                assert_eq!(a.destructive_hint, Some(op.method == "DELETE"), "{name}");
            }
            // `call_operation` runs writes in a session that allows them (this one does).
            None if name == "call_operation" => {
                assert_eq!(a.read_only_hint, Some(false), "{name}");
                assert_eq!(a.destructive_hint, Some(true), "{name}");
            }
            None => assert_eq!(
                a.read_only_hint,
                Some(m.permission == vtmcp::access::Permission::Read),
                "{name}"
            ),
        }
        let mut v = serde_json::to_value(t).unwrap();
        v["_vtmcp"] = json!({"toolset": m.toolset, "tier": m.tier, "permission": m.permission,
            "method": e.op.map(|o| o.method), "path": e.op.map(|o| o.path)});
        if let Some(c) = e.composite {
            // What a composite calls (the registry's `calls`), as `vtmcp tools --json` shows it;
            // COVERAGE.md is rendered from this.
            v["_vtmcp"]["calls"] = c
                .calls
                .iter()
                .map(|id| {
                    let o = vtmcp::ops::OperationMeta::find(id)
                        .unwrap_or_else(|| panic!("{name} calls unknown operation {id}"));
                    json!({"operation": o.id, "method": o.method, "path": o.path})
                })
                .collect();
        }
        let previous = snapshots.insert(name.to_string(), pretty_json(&v));
        assert!(previous.is_none(), "{name}: two tools of that name");
    }
    // Context budgets: every tool with every permission ≤ 40,000 tokens; `default` ≤ 3,000
    // (≈ 4 characters per token of compact JSON, as a client receives them).
    let tokens = |tools: &[&rmcp::model::Tool]| serde_json::to_string(tools).unwrap().len() / 4;
    let everything: Vec<_> = server.listed_tools().iter().collect();
    assert!(
        tokens(&everything) <= 40_000,
        "all tools: {} tokens",
        tokens(&everything)
    );
    let default = VtServer::new(&config(
        "http://127.0.0.1:9",
        &["default"],
        &[],
        true,
        false,
    ))
    .unwrap();
    let default: Vec<_> = default.listed_tools().iter().collect();
    // Every operation is two calls away from the default toolset.
    for name in ["find_operations", "call_operation"] {
        assert!(default.iter().any(|t| t.name == name), "{name} not listed");
    }
    assert!(
        tokens(&default) <= 3_000,
        "default toolset: {} tokens",
        tokens(&default)
    );
    println!(
        "tools/list budget: all {} tools ≈ {} tokens; default {} tools ≈ {} tokens",
        everything.len(),
        tokens(&everything),
        default.len(),
        tokens(&default)
    );
    // One file per tool, keys sorted: a change shows as a diff naming the tool, and a tool that
    // is gone leaves a file that fails the check until the update deletes it.
    assert_dir(
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/snapshots/tools"
        )),
        "json",
        &snapshots,
        "tool",
        "`UPDATE_SNAPSHOTS=1 cargo test --test it tool_snapshot` or `cargo xtask codegen`",
    );
}

#[tokio::test]
async fn secrets_in_answers_are_redacted() {
    let server = mock_vt().await;
    Mock::given(matchers::path("/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"type": "user", "id": "me", "attributes": {
            "apikey": "0123456789abcdef0123456789abcdef", "first_name": "Ana", "note": format!("key {TEST_KEY} here")}}})))
        .mount(&server)
        .await;
    let client = connect(&config(&server.uri(), &["users"], &[], false, false)).await;
    let r = call(&client, "get_user", json!({"id": "me"})).await;
    let t = text(&r);
    assert!(
        !t.contains("0123456789abcdef0123456789abcdef") && !t.contains(TEST_KEY),
        "{t}"
    );
    assert!(t.contains("Ana") && t.contains("<redacted>"), "{t}");
}

#[tokio::test]
async fn generated_tools_return_what_virustotal_sent() {
    let server = mock_vt().await;
    let id = "44d88612fea8a8f36de82e1278abb02f";
    // Members VirusTotal sends that carry meaning as sent: `null` results ("no detection"),
    // empty lists and maps, integers that must not become floats, floats that must not move.
    let body = r#"{"data": {"type": "file", "id": "44d88612fea8a8f36de82e1278abb02f", "links": {"self": "x"},
        "attributes": {"last_analysis_results": {"Engine": {"category": "undetected", "result": null,
        "engine_update": "20240101", "method": "blacklist"}}, "tags": [], "names": [], "pe_info": {},
        "reputation": 0, "size": 100, "ratio": 0.1, "tiny": 1e-7, "sum": 0.30000000000000004,
        "big": 123456789012345678, "negative": -1.5, "unknown_member_added_later": null}}}"#;
    Mock::given(matchers::method("GET"))
        .and(matchers::path(format!("/files/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let client = connect(&config(&server.uri(), &["files"], &[], false, false)).await;
    let r = call(&client, "get_file", json!({ "id": id })).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let sent: Value = serde_json::from_str(body).unwrap();
    assert_eq!(r.structured_content.clone().unwrap(), sent);
    // The text is the same JSON, numbers printed as sent.
    let t = text(&r);
    for literal in [
        "\"result\":null",
        "\"tags\":[]",
        "\"pe_info\":{}",
        "\"size\":100,",
        "0.30000000000000004",
        "123456789012345678",
    ] {
        assert!(t.contains(literal), "{literal} missing from {t}");
    }
}
