//! The output budget never hides data: a page cut to fit resumes at its first item cut, a cut
//! member's note says how to get that member, and each cut is stated once.

use crate::support::mcp::{call, config, connect, text};
use crate::support::mock_vt;
use serde_json::{Value, json};
use wiremock::{Mock, ResponseTemplate, matchers};

const H: &str = "44d88612fea8a8f36de82e1278abb02f";

fn comment(i: usize) -> Value {
    json!({"type": "comment", "id": format!("c-{i}"), "attributes": {
        "date": 1_700_000_000 + i, "text": format!("comment {i} {}", "words ".repeat(60)),
        "tags": [], "votes": {"positive": 0, "negative": 0, "abuse": 0}}})
}

fn notes(s: &Value) -> Vec<String> {
    s["_vtmcp"]["truncated"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Two upstream pages of comments (40, then 5); every result is cut to 1,000 tokens. Following
/// the cursors the results hand back must show all 45 comments once each, in order — and,
/// with the answer cache on, the repeats of a cut page cost no request.
#[tokio::test]
async fn a_cut_page_hands_back_a_cursor_that_resumes_at_the_first_item_cut() {
    let server = mock_vt().await;
    let dir = tempfile::tempdir().unwrap();
    Mock::given(matchers::path(format!("/files/{H}/comments")))
        .and(matchers::query_param("cursor", "upstream-page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": (40..45).map(comment).collect::<Vec<_>>(), "meta": {"count": 45}})))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(matchers::path(format!("/files/{H}/comments")))
        .and(matchers::query_param("limit", "40"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": (0..40).map(comment).collect::<Vec<_>>(),
            "meta": {"count": 45, "cursor": "upstream-page-2"},
            "links": {"self": "s", "next": format!("https://www.virustotal.com/api/v3/files/{H}/comments?cursor=upstream-page-2&limit=40")}})))
        .with_priority(2)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), &["files"], &[], false, false);
    cfg.max_output_tokens = 1000;
    cfg.cache = vtmcp::cache::CacheConfig::sqlite(dir.path().join("cache.sqlite3"));
    let client = connect(&cfg).await;

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut first = true;
    for _ in 0..60 {
        let mut args = json!({"id": H, "limit": 40});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let r = call(&client, "list_file_comments", args).await;
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        let s = r.structured_content.unwrap();
        let ids = s["data"].as_array().unwrap();
        assert!(!ids.is_empty(), "{s}");
        seen.extend(ids.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        if first {
            // The first page was cut: its cursor is not the upstream's, which would skip the
            // comments cut, and the upstream's next link is gone.
            first = false;
            assert!(ids.len() < 40, "the budget cut the page: {}", ids.len());
            assert_ne!(s["meta"]["cursor"], "upstream-page-2", "{}", s["meta"]);
            assert!(s["links"].get("next").is_none(), "{}", s["links"]);
            let n = notes(&s);
            assert_eq!(n.iter().filter(|n| n.contains("/data")).count(), 1, "{n:?}");
            assert!(n[0].contains("cursor in this result resumes"), "{n:?}");
        }
        cursor = s["meta"]["cursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
    }
    let expected: Vec<String> = (0..45).map(|i| format!("c-{i}")).collect();
    assert_eq!(seen, expected, "every comment once, in order");
    let sent = server.received_requests().await.unwrap();
    assert_eq!(
        sent.len(),
        2,
        "one request per upstream page; the repeats came from the cache"
    );
    // A damaged resume cursor is refused before anything is sent.
    let r = call(
        &client,
        "list_file_comments",
        json!({"id": H, "cursor": "vtmcp:resume:!!"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("damaged"), "{}", text(&r));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

/// A list inside one object's attribute is not a page: its note says `fields`, not
/// limit/cursor; the same heavy member dropped from every item of a list is one note.
#[tokio::test]
async fn cut_notes_name_a_recovery_that_works_for_the_member_and_come_once() {
    let server = mock_vt().await;
    let names: Vec<String> = (0..2000).map(|i| format!("sample-{i}.exe")).collect();
    Mock::given(matchers::path(format!("/files/{H}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "file", "id": H, "attributes": {"meaningful_name": "a.exe", "names": names}}})))
        .mount(&server)
        .await;
    let engines: serde_json::Map<String, Value> = (0..70)
        .map(|i| {
            (
                format!("engine{i}"),
                json!({"category": "undetected", "result": null}),
            )
        })
        .collect();
    let file = |i: usize| {
        json!({"type": "file", "id": format!("{i:064x}"), "attributes": {
            "meaningful_name": format!("f{i}.exe"), "last_analysis_results": engines}})
    };
    Mock::given(matchers::path(format!("/files/{H}/contacted_domains")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": (0..10).map(file).collect::<Vec<_>>(), "meta": {"count": 10}})))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), &["files"], &[], false, false);
    cfg.max_output_tokens = 1000;
    let client = connect(&cfg).await;

    let r = call(&client, "get_file", json!({"id": H})).await;
    let s = r.structured_content.unwrap();
    let n = notes(&s);
    assert_eq!(n.len(), 1, "one list, one note: {n:?}");
    assert!(
        n[0].contains("items of /data/attributes/names")
            && n[0].contains("fields=[\"names\"]")
            && !n[0].contains("cursor")
            && !n[0].contains("limit"),
        "{n:?}"
    );
    assert_eq!(
        n[0].matches("of 2000 items").count(),
        1,
        "the original length: {n:?}"
    );

    let r = call(
        &client,
        "list_file_related_objects",
        json!({"id": H, "relationship": "contacted_domains"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let s = r.structured_content.unwrap();
    let n = notes(&s);
    let dropped: Vec<&String> = n
        .iter()
        .filter(|n| n.contains("last_analysis_results"))
        .collect();
    assert_eq!(dropped.len(), 1, "{n:?}");
    assert!(
        dropped[0].contains("/data/*/attributes/last_analysis_results")
            && dropped[0].contains("fields=[\"last_analysis_results\"]"),
        "{n:?}"
    );
}

/// `get_file_relationship` with `format: "json"`: a page of related objects cut to fit does not
/// hand back the upstream's cursor (which would skip the items cut); it says to repeat the call
/// with `limit` = the items kept, and that call's page fits and its cursor continues after them.
#[tokio::test]
async fn a_cut_relationship_page_says_how_to_resume_instead_of_skipping() {
    let server = mock_vt().await;
    let page = |n: usize, cursor: &str| json!({"data": (0..n).map(comment).collect::<Vec<_>>(), "meta": {"count": 45, "cursor": cursor}});
    Mock::given(matchers::path(format!("/files/{H}/comments")))
        .and(matchers::query_param("limit", "40"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(40, "upstream-page-2")))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), &["default"], &[], false, false);
    cfg.max_output_tokens = 1000;
    let client = connect(&cfg).await;
    let args = |limit: usize| json!({"file_hash": H, "relationship": "comments", "limit": limit, "format": "json"});
    let r = call(&client, "get_file_relationship", args(40)).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let s = r.structured_content.clone().unwrap();
    let kept = s["items"].as_array().unwrap().len();
    assert!((1..40).contains(&kept), "the page was cut: {kept}");
    assert_eq!(s["cursor"], Value::Null, "not the upstream's cursor: {s}");
    let resume = s["resume"].as_str().unwrap();
    assert!(resume.contains(&format!("limit {kept}")), "{resume}");

    // Following the advice: the first `kept` items again, whole, and a cursor after them.
    Mock::given(matchers::path(format!("/files/{H}/comments")))
        .and(matchers::query_param("limit", kept.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(kept, "after-kept")))
        .mount(&server)
        .await;
    let r = call(&client, "get_file_relationship", args(kept)).await;
    let s = r.structured_content.clone().unwrap();
    assert_eq!(s["items"].as_array().unwrap().len(), kept, "{s}");
    assert_eq!(s["cursor"], "after-kept", "{s}");
    assert!(s.get("resume").is_none(), "{s}");
}
