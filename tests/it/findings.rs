//! Operations an audit against VirusTotal's reference pages and official clients found wrong
//! (issue 12): each test pins the corrected request or answer, through the typed client and the
//! MCP tool.

use crate::mcp::{call, config, connect, everything, text};
use crate::support::{TEST_KEY, client_for, mock_vt};
use serde_json::{Value, json};
use vtmcp::ops::{OperationMeta, Output, call_json_typed};
use wiremock::{Mock, ResponseTemplate, matchers};

const SHA: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

fn operation_answer() -> Value {
    json!({"data": {"type": "operation", "id": "op-1", "attributes": {"status": "queued"}}})
}

#[tokio::test]
async fn deleting_all_rulesets_confirms_with_the_username_and_answers_an_operation() {
    let server = mock_vt().await;
    Mock::given(matchers::method("DELETE"))
        .and(matchers::path("/intelligence/hunting_rulesets"))
        .and(matchers::header("x-confirm-delete", "jdoe"))
        .respond_with(ResponseTemplate::new(200).set_body_json(operation_answer()))
        .mount(&server)
        .await;
    let typed = client_for(&server)
        .delete_all_hunting_rulesets()
        .x_confirm_delete("jdoe")
        .send()
        .await
        .expect("the typed client decodes the operation");
    assert_eq!(typed.into_inner().data.id, "op-1");
    let client = connect(&everything(&server.uri())).await;
    let r = call(
        &client,
        "delete_all_hunting_rulesets",
        json!({"confirm_delete": "jdoe"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(r.structured_content.unwrap(), operation_answer());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn deleting_a_user_sends_the_password_header_and_is_not_a_tool() {
    let server = mock_vt().await;
    Mock::given(matchers::method("DELETE"))
        .and(matchers::path("/users/jdoe"))
        .and(matchers::header("x-user-password", "correct horse"))
        .and(matchers::header("x-apikey", TEST_KEY))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    client_for(&server)
        .delete_user()
        .id("jdoe")
        .x_user_password("correct horse")
        .send()
        .await
        .expect("sent with the confirmation header");
    let op = OperationMeta::find("delete_user").unwrap();
    assert_eq!(
        (op.tier.as_str(), op.permission.as_str()),
        ("public", "write")
    );
    assert!(op.excluded.is_some(), "not a tool for a model");
    let client = connect(&everything(&server.uri())).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(!tools.iter().any(|t| t.name == "delete_user"));
}

#[test]
fn the_widget_page_outside_the_api_is_left_out_with_a_reason() {
    assert!(OperationMeta::find("get_widget_html").is_none());
    let omitted = &crate::support::spec()["x-vt-omitted"];
    let widget = omitted
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "https://www.virustotal.com/ui/widget/html/{token}")
        .expect("listed under x-vt-omitted");
    assert!(widget["why"].as_str().unwrap().contains("/ui"));
    let coverage =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/COVERAGE.md")).unwrap();
    assert!(coverage.contains("ui/widget/html/{token}"));
}

#[tokio::test]
async fn monitor_partner_comments_are_lists_of_monitor_hash_comments() {
    let server = mock_vt().await;
    let comment = json!({"type": "monitor_hash_comment", "id": format!("{SHA}-Engine"),
        "attributes": {"comment": "a packer, not malware", "detection": "confirmed", "engine": "Engine", "sha256": SHA, "date": 1_700_000_000}});
    let answer = json!({"data": [comment]});
    Mock::given(matchers::method("POST"))
        .and(matchers::path(format!(
            "/monitor_partner/hashes/{SHA}/comments"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(&answer))
        .mount(&server)
        .await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path(format!(
            "/monitor_partner/comments/{SHA}-Engine"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(&answer))
        .mount(&server)
        .await;
    let client = connect(&everything(&server.uri())).await;
    let data = json!([{"type": "monitor_hash_comment",
        "attributes": {"comment": "a packer, not malware", "detection": "confirmed", "engine": "Engine", "sha256": SHA}}]);
    let r = call(
        &client,
        "add_monitor_partner_hash_comment",
        json!({"id": SHA, "data": data}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(r.structured_content.unwrap(), answer);
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent, json!({ "data": data }));
    // A comment object instead of a list, or the old `comment` type, is refused before sending.
    for bad in [
        json!({"type": "monitor_hash_comment", "attributes": {"comment": "x"}}),
        json!([{"type": "comment", "attributes": {"text": "x"}}]),
    ] {
        let r = call(
            &client,
            "add_monitor_partner_hash_comment",
            json!({"id": SHA, "data": bad}),
        )
        .await;
        assert_eq!(r.is_error, Some(true), "{bad}: {}", text(&r));
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // The typed client decodes the list answer.
    let typed = call_json_typed(
        &client_for(&server),
        "get_monitor_partner_comment",
        json!({"id": format!("{SHA}-Engine")})
            .as_object()
            .unwrap()
            .clone(),
    )
    .await
    .unwrap();
    match typed {
        Output::Json(v) => assert_eq!(
            v["data"][0]["attributes"]["comment"],
            "a packer, not malware"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn group_members_are_added_by_e_mail_only() {
    let server = mock_vt().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = connect(&config(&server.uri(), &["groups"], &["admin"], false, true)).await;
    for tool in ["add_group_users", "add_group_administrators"] {
        let r = call(
            &client,
            tool,
            json!({"id": "soc", "data": [{"type": "user", "id": "jdoe"}]}),
        )
        .await;
        assert_eq!(r.is_error, Some(true), "{tool}: {}", text(&r));
        assert!(text(&r).contains("data[0].id"), "{tool}: {}", text(&r));
    }
    assert!(server.received_requests().await.unwrap().is_empty());
    let r = call(
        &client,
        "add_group_users",
        json!({"id": "soc", "data": [{"type": "user", "id": "analyst@example.com"}]}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent,
        json!({"data": [{"type": "user", "id": "analyst@example.com"}]})
    );
}

#[tokio::test]
async fn private_url_scans_send_the_sandbox_options() {
    let server = mock_vt().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/private/urls"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"type": "private_analysis", "id": "p-1"}})),
        )
        .mount(&server)
        .await;
    let client = connect(&config(
        &server.uri(),
        &["private_scanning"],
        &["private-scanning"],
        true,
        false,
    ))
    .await;
    let r = call(
        &client,
        "scan_private_url",
        json!({"url": "https://example.com/a", "user_agent": "Mozilla/5.0", "sandboxes": "cape_win,zenbox_windows",
               "retention_period_days": 7, "storage_region": "EU", "interaction_sandbox": "cape_win", "interaction_timeout": 120}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let body =
        String::from_utf8(server.received_requests().await.unwrap()[0].body.clone()).unwrap();
    let form: std::collections::BTreeMap<String, String> =
        serde_urlencoded::from_str(&body).unwrap();
    for (k, v) in [
        ("url", "https://example.com/a"),
        ("user_agent", "Mozilla/5.0"),
        ("sandboxes", "cape_win,zenbox_windows"),
        ("retention_period_days", "7"),
        ("storage_region", "EU"),
        ("interaction_sandbox", "cape_win"),
        ("interaction_timeout", "120"),
    ] {
        assert_eq!(form.get(k).map(String::as_str), Some(v), "{k} in {body}");
    }
    let r = call(
        &client,
        "scan_private_url",
        json!({"url": "https://example.com/a", "storage_region": "MARS"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("storage_region"), "{}", text(&r));
}

/// Relationship enums are open: a listed name works as before, a well-formed name the spec
/// does not list yet is sent with a note, a malformed one is refused, and names that need
/// premium or GTI are refused with the flag that allows them.
#[tokio::test]
async fn unlisted_relationship_names_are_sent_with_a_note() {
    let server = mock_vt().await;
    let page = json!({"data": [], "links": {"self": "x"}});
    Mock::given(matchers::method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page))
        .mount(&server)
        .await;
    let h = "44d88612fea8a8f36de82e1278abb02f";
    let premium = connect(&config(
        &server.uri(),
        &["files", "default"],
        &["premium"],
        false,
        false,
    ))
    .await;
    let args = |rel: &str| json!({"id": h, "relationship": rel});

    let r = call(
        &premium,
        "list_file_related_objects",
        args("contacted_domains"),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert!(!text(&r).contains("Note:"), "{}", text(&r));

    let r = call(
        &premium,
        "list_file_related_objects",
        args("brand_new_relationship"),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert!(text(&r).contains("not a name vtmcp lists"), "{}", text(&r));
    assert_eq!(
        r.structured_content.unwrap()["_vtmcp"]["notes"][0]
            .as_str()
            .map(|n| n.contains("brand_new_relationship")),
        Some(true)
    );
    let r = call(
        &premium,
        "get_file_relationship",
        json!({"file_hash": h, "relationship": "brand_new_relationship"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            format!("/files/{h}/contacted_domains"),
            format!("/files/{h}/brand_new_relationship"),
            format!("/files/{h}/brand_new_relationship"),
        ]
    );

    // Malformed names, GTI names without the licence, premium names with a public key: refused.
    for bad in ["Bad-Name", "a b", "x/y", ""] {
        let r = call(&premium, "list_file_related_objects", args(bad)).await;
        assert_eq!(r.is_error, Some(true), "{bad:?}: {}", text(&r));
    }
    let r = call(
        &premium,
        "list_file_related_objects",
        args("malware_families"),
    )
    .await;
    assert!(text(&r).contains("--tier gti"), "{}", text(&r));
    let public = connect(&config(&server.uri(), &["files"], &[], false, false)).await;
    let r = call(&public, "list_file_related_objects", args("itw_urls")).await;
    assert!(text(&r).contains("--tier premium"), "{}", text(&r));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    // The typed client takes any well-formed name.
    client_for(&server)
        .list_file_related_objects()
        .id(h)
        .relationship("brand_new_relationship")
        .send()
        .await
        .expect("an unlisted name is sent");
}
