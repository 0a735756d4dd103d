//! VT-shaped responses decode into the generated types and encode back with no field lost.
//!
//! Two sources: the project's own fixtures under `tests/fixtures/` (always run), and the shared
//! MIT fixtures in `../shared/fixtures/vt` (run when that folder exists; skipped with a note on a
//! fresh clone).

use crate::support::{client_for, mock_vt, sample_call, strip_nulls};
use serde_json::Value;
use std::path::{Path, PathBuf};
use vtmcp::ops::{OperationMeta, Output, call_json_typed};
use wiremock::{Mock, ResponseTemplate, matchers};

/// (fixture file, operation that answers it, relationship argument if any).
const SHARED: &[(&str, &str, Option<&str>)] = &[
    ("files/get_file.json", "get_file", None),
    (
        "files/post_file_analysis_descriptor.json",
        "rescan_file",
        None,
    ),
    ("files/get_upload_url.json", "get_file_upload_url", None),
    ("files/get_download_url.json", "get_file_download_url", None),
    (
        "files/relationship_contacted_domains.json",
        "list_file_related_objects",
        Some("contacted_domains"),
    ),
    (
        "files/relationship_descriptors_contacted_domains.json",
        "list_file_related_descriptors",
        Some("contacted_domains"),
    ),
    (
        "files/relationship_analyses.json",
        "list_file_related_objects",
        Some("analyses"),
    ),
    (
        "files/relationship_related_references.json",
        "list_file_related_objects",
        Some("related_references"),
    ),
    ("urls/get_url.json", "get_url", None),
    ("urls/post_url_analysis_descriptor.json", "submit_url", None),
    (
        "urls/post_url_analyse_descriptor_no_links.json",
        "rescan_url",
        None,
    ),
    (
        "urls/relationship_embedded_js_files.json",
        "list_url_related_objects",
        Some("embedded_js_files"),
    ),
    ("domains/get_domain.json", "get_domain", None),
    // The fixture answers a rescan with a full analysis object; the docs give a descriptor.
    // Both decode: the descriptor type keeps the extra attributes.
    ("domains/post_domain_analyse.json", "rescan_domain", None),
    ("domains/get_resolution.json", "get_resolution", None),
    (
        "domains/relationship_historical_ssl_certificates.json",
        "list_domain_related_objects",
        Some("historical_ssl_certificates"),
    ),
    (
        "domains/relationship_soa_records.json",
        "list_domain_related_objects",
        Some("soa_records"),
    ),
    (
        "domains/relationship_related_comments.json",
        "list_domain_related_objects",
        Some("related_comments"),
    ),
    ("ips/get_ip_address.json", "get_ip_address", None),
    (
        "ips/relationship_historical_ssl_certificates.json",
        "list_ip_address_related_objects",
        Some("historical_ssl_certificates"),
    ),
    ("analyses/get_analysis.json", "get_analysis", None),
    ("analyses/get_submission.json", "get_submission", None),
    ("analyses/get_operation.json", "get_operation", None),
    // `item` is one-to-one on the live service; the fixture wraps it in an array. Both decode.
    (
        "analyses/relationship_item.json",
        "list_analysis_related_objects",
        Some("item"),
    ),
    (
        "analyses/relationship_descriptors_item.json",
        "list_analysis_related_descriptors",
        Some("item"),
    ),
    ("comments_votes/get_comment.json", "get_comment", None),
    (
        "comments_votes/list_latest_comments.json",
        "list_comments",
        None,
    ),
    (
        "comments_votes/post_comment_vote.json",
        "vote_comment",
        None,
    ),
    (
        "comments_votes/file_comments_with_cursor.json",
        "list_file_comments",
        None,
    ),
    (
        "comments_votes/post_ip_address_comment.json",
        "add_ip_address_comment",
        None,
    ),
    ("comments_votes/post_file_vote.json", "add_file_vote", None),
    (
        "behaviours/file_behaviour_summary.json",
        "get_file_behaviour_summary",
        None,
    ),
    (
        "behaviours/multi_file_behaviour_summary.json",
        "get_files_behaviour_summary",
        None,
    ),
    (
        "behaviours/file_behaviour_mitre_trees.json",
        "get_file_behaviour_mitre_trees",
        None,
    ),
    (
        "behaviours/list_file_behaviours.json",
        "list_file_behaviours",
        None,
    ),
    (
        "behaviours/get_file_behaviour.json",
        "get_file_behaviour",
        None,
    ),
    (
        "behaviours/file_behaviour_relationship_attack_techniques.json",
        "list_file_behaviour_related_objects",
        Some("attack_techniques"),
    ),
    ("search/search.json", "search", None),
    (
        "search/intelligence_search_with_cursor.json",
        "intelligence_search",
        None,
    ),
    (
        "search/intelligence_search_snippets.json",
        "get_intelligence_search_snippet",
        None,
    ),
    (
        "threat_landscape/popular_threat_categories.json",
        "list_popular_threat_categories",
        None,
    ),
    (
        "threat_landscape/get_attack_tactic.json",
        "get_attack_tactic",
        None,
    ),
    (
        "threat_landscape/get_attack_technique.json",
        "get_attack_technique",
        None,
    ),
    (
        "threat_landscape/attack_technique_relationship_threat_actors.json",
        "list_attack_technique_related_objects",
        Some("threat_actors"),
    ),
    (
        "collections/post_collection.json",
        "create_collection",
        None,
    ),
    ("collections/get_collection.json", "get_collection", None),
    (
        "collections/relationship_domains_no_links.json",
        "list_collection_related_objects",
        Some("domains"),
    ),
    (
        "graphs/domain_relationship_graphs.json",
        "list_domain_related_objects",
        Some("graphs"),
    ),
    (
        "users_groups/saved_search_relationship_owner.json",
        "list_saved_search_related_objects",
        Some("owner"),
    ),
    ("misc/metadata.json", "get_metadata", None),
    (
        "misc/code_insights_analyse_binary.json",
        "analyse_code_insight",
        None,
    ),
    ("misc/get_sigma_rule.json", "get_sigma_rule", None),
    ("misc/get_yara_ruleset.json", "get_yara_ruleset", None),
    (
        "misc/list_crowdsourced_yara_rules.json",
        "list_yara_rules",
        None,
    ),
];

/// The project's own fixtures: realistic core objects that always run.
const OWN: &[(&str, &str)] = &[
    ("file.json", "get_file"),
    ("url.json", "get_url"),
    ("domain.json", "get_domain"),
    ("ip_address.json", "get_ip_address"),
    ("analysis.json", "get_analysis"),
    ("comments_page.json", "list_file_comments"),
];

async fn roundtrip(
    dir: &Path,
    file: &str,
    op_id: &str,
    relationship: Option<&str>,
) -> Result<(), String> {
    let body: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
    let op = OperationMeta::find(op_id).unwrap();
    let server = mock_vt().await;
    let upload = tempfile::NamedTempFile::new().unwrap();
    let (mut args, mut path, _) = sample_call(op, upload.path());
    if let Some(rel) = relationship {
        let example = format!("/{}", args["relationship"].as_str().unwrap());
        let at = path.rfind(&example).unwrap();
        path.replace_range(at..at + example.len(), &format!("/{rel}"));
        args.insert("relationship".into(), Value::String(rel.into()));
    }
    Mock::given(matchers::method(op.method))
        .and(matchers::path(path))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    match call_json_typed(&client_for(&server), op_id, args).await {
        Ok(Output::Json(v)) if strip_nulls(&v) == strip_nulls(&body) => Ok(()),
        Ok(Output::Json(v)) => Err(format!(
            "{file}: fields lost or changed\n got {v}\nwant {body}"
        )),
        other => Err(format!("{file}: {other:?}")),
    }
}

#[tokio::test]
async fn own_fixtures_roundtrip() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let mut failures = vec![];
    for (file, op) in OWN {
        if let Err(e) = roundtrip(&dir, file, op, None).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn shared_fixtures_roundtrip() {
    let Some(dir) = crate::support::shared_fixtures("") else {
        return;
    };
    let mut failures = vec![];
    for (file, op, rel) in SHARED {
        if let Err(e) = roundtrip(&dir, file, op, *rel).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        SHARED.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn unknown_attributes_survive_decoding() {
    let body = serde_json::json!({"data": {"type": "file", "id": "abc", "attributes": {
        "md5": "44d88612fea8a8f36de82e1278abb02f",
        "a_field_vt_adds_next_year": {"score": 9, "labels": ["x"]},
        "last_analysis_stats": {"malicious": 3, "brand-new-category": 2}
    }, "brand_new_member": true}, "meta": {"extra": 1}});
    let server = mock_vt().await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    let typed = client_for(&server)
        .get_file()
        .id("44d88612fea8a8f36de82e1278abb02f")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        typed.data.attributes.as_ref().unwrap().md5.as_deref(),
        Some("44d88612fea8a8f36de82e1278abb02f")
    );
    assert_eq!(
        typed.data.attributes.as_ref().unwrap().extra["a_field_vt_adds_next_year"]["score"],
        9
    );
    assert_eq!(strip_nulls(&serde_json::to_value(&typed).unwrap()), body);
}
