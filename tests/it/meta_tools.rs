//! `find_operations` and `call_operation` (issue 15, item 1) through a real rmcp client: every
//! operation of the table through `call_operation` answers as its own tool does (or is refused
//! naming the flag), the same bad argument gets the same message both ways, an unknown
//! operation names the closest ones, `find_operations` shows schema, tier, permission and the
//! enabling flag, the hit rate over 20 analyst tasks (written to BENCHMARKS.md), and the
//! `ttlMs` of `tools/list` (item 4).

use crate::mcp::{call, config, connect, everything, mount_sample_answer, text};
use crate::support::mcp::BINARY_BODY;
use crate::support::mock_vt;
use crate::support::snapshots::updating;
use rmcp::RoleClient;
use rmcp::model::CallToolResult;
use rmcp::service::RunningService;
use serde_json::{Value, json};
use vtmcp::access::{Permission, Tier};
use vtmcp::config::Config;
use vtmcp::mcp::VtServer;
use vtmcp::ops::{OPERATIONS, OperationMeta, ResponseKind};
use wiremock::MockServer;

type Client = RunningService<RoleClient, ()>;

/// Calls `op` with `args` through `call_operation`.
async fn call_operation(client: &Client, op: &str, args: Value) -> CallToolResult {
    call(
        client,
        "call_operation",
        json!({"operation": op, "arguments": args}),
    )
    .await
}

/// What a result says, for comparing two calls: error or not, its text, and its structured
/// content, with the download's file name (unique per call) left out.
fn gist(r: &CallToolResult) -> (Option<bool>, String, Value) {
    let mut structured = r.structured_content.clone().unwrap_or(Value::Null);
    let mut text = text(r);
    if let Some(saved) = structured.get("saved_to").and_then(Value::as_str) {
        text = text.replace(saved, "<saved_to>");
        structured["saved_to"] = json!("<saved_to>");
    }
    (r.is_error, text, structured)
}

/// Calls every operation through its own tool (`direct`, a session listing every toolset) and
/// through `call_operation` (`via`, a session listing only `default`), against the same mock
/// answer; returns what differed, and the results through `call_operation` with the requests
/// each sent.
async fn both_ways(
    vt: &MockServer,
    direct: &Client,
    via: &Client,
    upload: &std::path::Path,
) -> (
    Vec<String>,
    Vec<(&'static OperationMeta, CallToolResult, usize)>,
) {
    let mut differences = vec![];
    let mut results = vec![];
    for op in OPERATIONS.iter().filter(|o| o.excluded.is_none()) {
        let (args, _) = mount_sample_answer(vt, op, upload).await;
        let own = call(direct, op.id, Value::Object(args.clone())).await;
        let sent_own = vt.received_requests().await.unwrap();
        mount_sample_answer(vt, op, upload).await;
        let through = call_operation(via, op.id, Value::Object(args)).await;
        let sent_through = vt.received_requests().await.unwrap();
        let paths = |s: &[wiremock::Request]| -> Vec<String> {
            s.iter()
                .map(|r| format!("{} {}", r.method, r.url))
                .collect()
        };
        if gist(&own) != gist(&through) || paths(&sent_own) != paths(&sent_through) {
            differences.push(format!(
                "{}:\n  own tool:       {:?} {:?}\n  call_operation: {:?} {:?}",
                op.id,
                gist(&own),
                paths(&sent_own),
                gist(&through),
                paths(&sent_through)
            ));
        }
        results.push((op, through, sent_through.len()));
    }
    (differences, results)
}

#[tokio::test]
async fn every_operation_answers_through_call_operation_as_through_its_own_tool() {
    let vt = mock_vt().await;
    let downloads = tempfile::tempdir().unwrap();
    let uploads = tempfile::tempdir().unwrap();
    let upload = uploads.path().join("sample.bin");
    std::fs::write(&upload, b"sample bytes").unwrap();
    let with_dirs = |mut cfg: Config| {
        cfg.download_dir = Some(downloads.path().to_path_buf());
        cfg.upload_dirs = vec![uploads.path().to_path_buf()];
        cfg
    };
    let direct = connect(&with_dirs(everything(&vt.uri()))).await;
    let mut only_default = everything(&vt.uri());
    only_default.selection.toolsets = ["default".to_string()].into();
    let via = connect(&with_dirs(only_default)).await;
    // `call_operation` reaches operations no listed tool offers.
    let listed = via.list_all_tools().await.unwrap();
    assert!(listed.iter().any(|t| t.name == "call_operation"));
    assert!(!listed.iter().any(|t| t.name == "list_yara_rules"));

    let (differences, results) = both_ways(&vt, &direct, &via, &upload).await;
    assert!(
        differences.is_empty(),
        "{} operations answered differently:\n{}",
        differences.len(),
        differences.join("\n")
    );
    // And each answered (every tier and permission is granted here): one request, a result.
    let mut failures = vec![];
    for (op, r, sent) in &results {
        let s = r.structured_content.clone().unwrap_or(Value::Null);
        let ok = r.is_error == Some(false)
            && *sent == 1
            && match op.response {
                ResponseKind::Bytes => {
                    s["sha256"] == crate::mcp::sha256_hex(BINARY_BODY)
                        && std::fs::read(s["saved_to"].as_str().unwrap_or_default())
                            .is_ok_and(|b| b == BINARY_BODY)
                }
                _ => !s.is_null(),
            };
        if !ok {
            failures.push(format!("{}: {}", op.id, text(r)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} operations answered through call_operation as through their own tools",
        results.len()
    );
}

/// The flag that allows `op` for a public key with no permissions, from the spec's table.
fn flag_for_public_read_only(op: &OperationMeta) -> Option<String> {
    if op.tier != Tier::PUBLIC {
        return Some(format!("--tier {}", op.tier));
    }
    match op.permission {
        Permission::Read => None,
        Permission::Submit => Some("--allow-submit".into()),
        Permission::Write => Some("--allow-write".into()),
    }
}

#[tokio::test]
async fn call_operation_refuses_what_the_key_or_the_flags_do_not_allow() {
    let vt = mock_vt().await;
    let uploads = tempfile::tempdir().unwrap();
    let upload = uploads.path().join("sample.bin");
    std::fs::write(&upload, b"sample bytes").unwrap();
    // A public key, no permissions: the operation's own tool (every toolset listed) and
    // call_operation (default only) refuse the same ones with the same words.
    let direct = connect(&config(&vt.uri(), &["all"], &[], false, false)).await;
    let via = connect(&config(&vt.uri(), &["default"], &[], false, false)).await;
    let (differences, results) = both_ways(&vt, &direct, &via, &upload).await;
    assert!(
        differences.is_empty(),
        "{} operations answered differently:\n{}",
        differences.len(),
        differences.join("\n")
    );
    let mut wrong = vec![];
    let mut refused = 0;
    for (op, r, sent) in &results {
        match flag_for_public_read_only(op) {
            Some(flag) => {
                refused += 1;
                let t = text(r);
                if r.is_error != Some(true) || *sent != 0 || !t.contains(&flag) {
                    wrong.push(format!("{}: expected a refusal naming {flag}: {t}", op.id));
                }
            }
            None => {
                // Public reads run (a binary one says it needs --download-dir).
                let t = text(r);
                let answered = r.is_error == Some(false) && *sent == 1;
                let no_dir = op.response == ResponseKind::Bytes && t.contains("--download-dir");
                if !answered && !no_dir {
                    wrong.push(format!("{}: expected an answer: {t}", op.id));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(refused > 100, "{refused}");
}

#[tokio::test]
async fn the_same_bad_argument_gets_the_same_message_both_ways() {
    let vt = mock_vt().await;
    let direct = connect(&config(&vt.uri(), &["all"], &[], false, false)).await;
    let via = connect(&config(&vt.uri(), &["default"], &[], false, false)).await;
    let cases = [
        ("get_file", json!({"id": "zz"}), "`id`"),
        (
            "get_domain",
            json!({"domain": "evil.com\r\nX-Injected: 1"}),
            "`domain`",
        ),
        (
            "list_file_comments",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f", "limit": 1000}),
            "`limit`",
        ),
        ("get_url", json!({"id": "abc", "colour": "red"}), "colour"),
        ("get_file", json!({}), "`id`"),
        (
            "get_ip_address",
            json!({"ip": "8.8.8.8", "cache": "sometimes"}),
            "`cache`",
        ),
        (
            "list_file_related_objects",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f", "relationship": "carbonblack_children"}),
            "premium",
        ),
    ];
    for (op, args, names) in cases {
        let own = call(&direct, op, args.clone()).await;
        let through = call_operation(&via, op, args.clone()).await;
        assert_eq!(own.is_error, Some(true), "{op} {args}: {}", text(&own));
        assert_eq!(text(&own), text(&through), "{op} {args}");
        assert!(text(&own).starts_with(op), "{}", text(&own));
        assert!(text(&own).contains(names), "{}", text(&own));
        assert!(text(&own).contains("Nothing was sent"), "{}", text(&own));
    }
    // `cache` beside `arguments` is judged as the operation's own.
    let own = call(&direct, "get_file", json!({"id": "zz", "cache": "never"})).await;
    let beside = call(
        &via,
        "call_operation",
        json!({"operation": "get_file", "arguments": {"id": "zz"}, "cache": "never"}),
    )
    .await;
    assert_eq!(text(&own), text(&beside));
    assert!(vt.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_operation_names_the_closest_ones_and_find_operations() {
    let vt = mock_vt().await;
    let via = connect(&config(&vt.uri(), &["default"], &[], false, false)).await;
    let r = call_operation(&via, "get_files", json!({"id": "x"})).await;
    assert_eq!(r.is_error, Some(true));
    let t = text(&r);
    assert!(t.contains("unknown operation `get_files`"), "{t}");
    assert!(t.contains("`get_file`"), "{t}");
    assert!(t.contains("find_operations"), "{t}");
    // A report tool is a tool of its own.
    let r = call_operation(&via, "get_malware_family", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("tool of its own"), "{}", text(&r));
    // An operation the spec keeps out of MCP says why.
    let excluded = OPERATIONS.iter().find(|o| o.excluded.is_some()).unwrap();
    let r = call_operation(&via, excluded.id, json!({})).await;
    assert!(
        text(&r).contains(excluded.excluded.unwrap()),
        "{}",
        text(&r)
    );
    // call_operation's own arguments are checked like any tool's.
    let r = call(&via, "call_operation", json!({"operation": "Get File!"})).await;
    assert!(
        text(&r).starts_with("call_operation: invalid argument `operation`"),
        "{}",
        text(&r)
    );
    let r = call(&via, "call_operation", json!({"arguments": {}})).await;
    assert!(text(&r).contains("`operation`"), "{}", text(&r));
    assert!(vt.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn find_operations_shows_the_schema_tier_permission_and_the_flag_that_enables() {
    let vt = mock_vt().await;
    // No key: searching needs none.
    let mut cfg = config(&vt.uri(), &["default"], &[], false, false);
    cfg.api_key = None;
    let client = connect(&cfg).await;
    let r = call(
        &client,
        "find_operations",
        json!({"query": "post a comment on a URL"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let s = r.structured_content.clone().unwrap();
    let ops = s["operations"].as_array().unwrap();
    assert!(!ops.is_empty() && ops.len() <= 5, "{s}");
    let hit = ops
        .iter()
        .find(|o| o["name"] == "add_url_comment")
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(hit["tier"], "public");
    assert_eq!(hit["permission"], "write");
    assert_eq!(hit["available"], false);
    assert_eq!(hit["enable_with"], "--allow-write");
    // The schema is the one its own tool lists in a session that allows it (same key).
    let allowed = connect(&config(&vt.uri(), &["urls"], &[], false, true)).await;
    let tools = allowed.list_all_tools().await.unwrap();
    let own = tools.iter().find(|t| t.name == "add_url_comment").unwrap();
    assert_eq!(
        hit["input_schema"],
        Value::Object((*own.input_schema).clone())
    );
    assert_eq!(hit["description"], json!(own.description));

    // A premium operation for a public key names --tier; a public read is available.
    let r = call(
        &client,
        "find_operations",
        json!({"query": "retrohunt jobs", "limit": 20}),
    )
    .await;
    let s = r.structured_content.clone().unwrap();
    let job = s["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "list_retrohunt_jobs")
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(job["enable_with"], "--tier premium");
    let r = call(
        &client,
        "find_operations",
        json!({"query": "votes", "toolset": "domains", "limit": 20}),
    )
    .await;
    let s = r.structured_content.clone().unwrap();
    let names: Vec<&str> = s["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"list_domain_votes"), "{names:?}");
    assert!(
        names.iter().all(|n| OPERATIONS
            .iter()
            .any(|o| o.id == *n && o.toolset == "domains")),
        "{names:?}"
    );
    let list = s["operations"].as_array().unwrap();
    let votes = list
        .iter()
        .find(|o| o["name"] == "list_domain_votes")
        .unwrap();
    assert_eq!(votes["available"], true);
    assert!(votes.get("enable_with").is_none());
    // Bad arguments are refused like any tool's.
    for (args, names) in [
        (json!({"query": "x", "toolset": "nope"}), "`toolset`"),
        (json!({"query": "x", "limit": 21}), "`limit`"),
        (json!({}), "`query`"),
    ] {
        let r = call(&client, "find_operations", args).await;
        assert_eq!(r.is_error, Some(true));
        assert!(
            text(&r).starts_with("find_operations: invalid argument"),
            "{}",
            text(&r)
        );
        assert!(text(&r).contains(names), "{}", text(&r));
    }
    // Same query, same answer.
    let a = call(
        &client,
        "find_operations",
        json!({"query": "download a sample"}),
    )
    .await;
    let b = call(
        &client,
        "find_operations",
        json!({"query": "download a sample"}),
    )
    .await;
    assert_eq!(text(&a), text(&b));
    assert!(vt.received_requests().await.unwrap().is_empty());
}

/// Tasks that need an operation outside the default toolset, as an analyst would ask, each with
/// the operation that does it.
const TASKS: &[(&str, &str)] = &[
    (
        "list the YARA rules of crowdsourced ruleset X",
        "list_yara_rules",
    ),
    ("who voted on this domain", "list_domain_votes"),
    (
        "download a malware sample so I can reverse it",
        "download_file",
    ),
    (
        "what is the status of my retrohunt job",
        "get_retrohunt_job",
    ),
    (
        "which files did my retrohunt job match",
        "list_retrohunt_job_matching_files",
    ),
    (
        "passive DNS history of an IP address",
        "list_ip_address_related_objects",
    ),
    (
        "get the pcap of the sandbox run of a hash",
        "download_file_behaviour_pcap",
    ),
    (
        "how much of my API quota have I used",
        "get_user_overall_quotas",
    ),
    ("post a comment on a URL", "add_url_comment"),
    (
        "which of my livehunt rules fired recently",
        "list_hunting_notifications",
    ),
    (
        "create a new livehunt ruleset with a YARA rule",
        "create_hunting_ruleset",
    ),
    ("delete a collection I made", "delete_collection"),
    ("details of MITRE technique T1055", "get_attack_technique"),
    (
        "read what the community said about a file",
        "list_file_comments",
    ),
    (
        "package several samples into a password-protected zip",
        "create_zip_file",
    ),
    ("who are the members of my group", "list_group_users"),
    (
        "hourly batch of the file feed",
        "get_file_feed_hourly_batch",
    ),
    (
        "ask VirusTotal to reanalyse a hash with fresh engines",
        "rescan_file",
    ),
    (
        "add indicators to an existing collection",
        "add_collection_items",
    ),
    ("show a Sigma rule", "get_sigma_rule"),
];

/// The hit rate's section of BENCHMARKS.md, between these markers (written by this test,
/// kept by `cargo xtask bench`).
const BEGIN: &str = "<!-- BEGIN GENERATED: find_operations hit rate -->";
const END: &str = "<!-- END GENERATED: find_operations hit rate -->";

#[tokio::test]
async fn find_operations_puts_the_right_operation_in_the_top_five_for_analyst_tasks() {
    let client = connect(&config(
        "http://127.0.0.1:9",
        &["default"],
        &[],
        false,
        false,
    ))
    .await;
    let mut rows = vec![];
    let mut hits = 0;
    for (task, expected) in TASKS {
        assert!(
            !vtmcp::mcp::catalog::DEFAULT_TOOLSET.contains(expected)
                && OPERATIONS.iter().any(|o| o.id == *expected),
            "{expected}"
        );
        // One scripted find_operations call with its default limit, as a model would make.
        let r = call(&client, "find_operations", json!({"query": task})).await;
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        let names: Vec<String> = r.structured_content.unwrap()["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect();
        let rank = names.iter().position(|n| n == expected);
        if rank.is_some() {
            hits += 1;
        }
        rows.push(format!(
            "| {task} | `{expected}` | {} | `{}` |",
            rank.map_or("–".to_string(), |r| (r + 1).to_string()),
            names.first().map_or("", String::as_str)
        ));
    }
    let section = format!(
        "{BEGIN}\n## find_operations hit rate\n\n{} analyst tasks that need an operation outside the `default` toolset, one `find_operations` call each with its default limit (5); a hit is the expected operation among the results. Measured by `cargo test --test it find_operations_puts` (tests/it/meta_tools.rs), which rewrites this section with `UPDATE_SNAPSHOTS=1`.\n\n**{hits}/{} in the top 5.**\n\n| task | expected | rank | first result |\n|---|---|---:|---|\n{}\n{END}\n",
        TASKS.len(),
        TASKS.len(),
        rows.join("\n")
    );
    println!("{section}");
    assert!(hits >= 18, "only {hits}/20 in the top 5:\n{section}");
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md"));
    let current = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
    let now = match (current.find(BEGIN), current.find(END)) {
        (Some(b), Some(e)) if b < e => {
            let rest = &current[e + END.len()..];
            format!(
                "{}{section}{}",
                &current[..b],
                rest.strip_prefix('\n').unwrap_or(rest)
            )
        }
        _ => format!("{}\n\n{section}", current.trim_end()),
    };
    if updating() {
        if now != current {
            std::fs::write(path, &now).unwrap();
            println!("updated BENCHMARKS.md");
        }
    } else {
        assert!(
            now == current,
            "the find_operations hit rate in BENCHMARKS.md is stale: `UPDATE_SNAPSHOTS=1 cargo test --test it find_operations_puts`"
        );
    }
}

#[tokio::test]
async fn tools_list_says_how_long_it_stays_fresh() {
    use std::time::Duration;
    use wiremock::{Mock, ResponseTemplate, matchers};
    // An explicit tier: the list is fixed, an hour.
    let client = connect(&config(
        "http://127.0.0.1:9",
        &["default"],
        &[],
        false,
        false,
    ))
    .await;
    let listed = client.list_tools(None).await.unwrap();
    assert_eq!(listed.ttl_ms, Some(3_600_000));

    // `--tier auto`: 0 while VirusTotal has not said what the key is, an hour after.
    let vt = mock_vt().await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path_regex("^/users/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"data": {"type": "user", "id": "u", "attributes": {"privileges": {}}}}),
                )
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&vt)
        .await;
    let server = VtServer::new(&config(&vt.uri(), &["default"], &["auto"], false, false)).unwrap();
    let (s, c) = tokio::io::duplex(1 << 20);
    let serving = server.clone();
    tokio::spawn(async move {
        if let Ok(running) = rmcp::ServiceExt::serve(serving, s).await {
            let _ = running.waiting().await;
        }
    });
    let client = rmcp::ServiceExt::serve((), c).await.unwrap();
    let listed = client.list_tools(None).await.unwrap();
    assert!(
        server.tier_status().is_detecting(),
        "{:?}",
        server.tier_status()
    );
    assert_eq!(listed.ttl_ms, Some(0));
    tokio::time::timeout(Duration::from_secs(20), server.tier_settled())
        .await
        .unwrap();
    let listed = client.list_tools(None).await.unwrap();
    assert_eq!(listed.ttl_ms, Some(3_600_000));
}
