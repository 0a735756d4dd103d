//! Defanged markdown (`--defang`): committed snapshots of the reports with
//! their URLs, domains and IPs defanged; the JSON stays exact.

use crate::reports::{REPORTS, mount_objects};
use crate::support::mcp::{call, config, connect, text};
use crate::support::mock_vt;
use serde_json::json;

fn snapshot(name: &str) -> String {
    format!(
        "{}/tests/snapshots/reports/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn check_snapshot(path: &str, body: &str) {
    if crate::support::snapshots::updating() {
        std::fs::write(path, body).unwrap();
    } else {
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == body,
            "{path} is stale; review and run UPDATE_SNAPSHOTS=1 cargo test --test it defang\n{body}"
        );
    }
}

/// Where a chat client would make a link: a scheme, or a dotted host or address.
fn linkable(md: &str) -> Vec<&str> {
    md.split(|c: char| c.is_whitespace() || "`()<>|,;".contains(c))
        .filter(|w| {
            w.contains("http://")
                || w.contains("https://")
                || w.contains("example-secure.top")
                || w.contains("8.8.8.8")
                || w.contains("github.com")
        })
        .collect()
}

#[tokio::test]
async fn defanged_report_markdown_keeps_the_json_exact() {
    let server = mock_vt().await;
    mount_objects(&server).await;
    let client = connect(&config(&server.uri(), &["default"], &[], false, false)).await;
    let mut cfg = config(&server.uri(), &["default"], &[], false, false);
    cfg.defang = true;
    let defanging = connect(&cfg).await;
    for (tool, arg, value, snap) in REPORTS {
        let plain = call(&client, tool, json!({*arg: value})).await;
        let defanged = call(&defanging, tool, json!({*arg: value})).await;
        assert_eq!(
            defanged.is_error,
            Some(false),
            "{tool}: {}",
            text(&defanged)
        );
        // Without the flag: the committed report, unchanged.
        let committed = std::fs::read_to_string(snapshot(&format!("{snap}.md"))).unwrap();
        assert_eq!(text(&plain), committed, "{tool}");
        let md = text(&defanged);
        check_snapshot(&snapshot(&format!("{snap}.defanged.md")), &md);
        assert!(linkable(&md).is_empty(), "{tool}: {:?}", linkable(&md));
        assert_ne!(md, committed, "{tool}: something was defanged");
        assert_eq!(
            defanged.structured_content, plain.structured_content,
            "{tool}: the JSON stays exact"
        );
    }
}

#[tokio::test]
async fn the_defang_flag_defangs_every_markdown_result() {
    let server = mock_vt().await;
    mount_objects(&server).await;
    let mut cfg = config(&server.uri(), &["default", "reports"], &[], false, false);
    cfg.defang = true;
    let client = connect(&cfg).await;
    let (tool, arg, value, snap) = REPORTS[1];
    let r = call(&client, tool, json!({arg: value})).await;
    let committed = std::fs::read_to_string(snapshot(&format!("{snap}.defanged.md"))).unwrap();
    assert_eq!(text(&r), committed);
    let r = call(
        &client,
        "extract_iocs",
        json!({"text": "C2 at https://evil.example-secure.top/gate and 198.51.100.23, file invoice.pdf"}),
    )
    .await;
    let md = text(&r);
    assert!(
        md.contains("hxxps://evil[.]example-secure[.]top/gate")
            && md.contains("198.51.100[.]23")
            && !md.contains("https://"),
        "{md}"
    );
    let s = r.structured_content.unwrap().to_string();
    assert!(
        s.contains("https://evil.example-secure.top/gate"),
        "JSON exact: {s}"
    );
}
