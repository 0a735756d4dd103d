//! Resources, resource templates, prompts and completions through a real rmcp client (in
//! process) against a mock VirusTotal: a report resource is the summary report, spends one
//! request and is then answered from the cache; a bad identifier, a refused relationship or a
//! tier the key lacks is an error with nothing sent; the guides are generated from the catalog;
//! completions list closed sets only; the prompts are written for the session.

use crate::mcp::{config, connect};
use crate::reports::{FILE_ID, mount_objects};
use crate::support::mock_vt;
use rmcp::RoleClient;
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, GetPromptRequestParams, ReadResourceRequestParams,
    Reference, ResourceContents,
};
use rmcp::service::{RunningService, ServiceError};
use serde_json::{Value, json};
use wiremock::MockServer;

async fn upstream(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect()
}

async fn read(client: &RunningService<RoleClient, ()>, uri: &str) -> Result<String, String> {
    match client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
    {
        Ok(r) => Ok(r
            .contents
            .iter()
            .map(|c| match c {
                ResourceContents::TextResourceContents { text, .. } => text.clone(),
                _ => String::new(),
            })
            .collect()),
        Err(ServiceError::McpError(e)) => Err(e.message.to_string()),
        Err(e) => panic!("{uri}: transport failure {e}"),
    }
}

async fn complete(
    client: &RunningService<RoleClient, ()>,
    reference: Reference,
    arg: &str,
    prefix: &str,
) -> Vec<String> {
    client
        .complete(CompleteRequestParams::new(
            reference,
            ArgumentInfo::new(arg, prefix),
        ))
        .await
        .unwrap()
        .completion
        .values
}

#[tokio::test]
async fn resources_templates_and_prompts_are_listed_with_capabilities_and_a_ttl() {
    let client = connect(&config(
        "http://127.0.0.1:9",
        &["default"],
        &[],
        false,
        false,
    ))
    .await;
    let caps = &client.peer_info().unwrap().capabilities;
    assert!(caps.resources.is_some() && caps.prompts.is_some() && caps.completions.is_some());
    let resources = client.list_resources(None).await.unwrap();
    assert_eq!(resources.ttl_ms, Some(3_600_000));
    let uris: Vec<&str> = resources.resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "vt://guides/search-syntax",
            "vt://guides/quota-and-tiers",
            "vt://guides/toolsets"
        ]
    );
    let templates = client.list_resource_templates(None).await.unwrap();
    assert_eq!(templates.ttl_ms, Some(3_600_000));
    let names: Vec<&str> = templates
        .resource_templates
        .iter()
        .map(|t| t.uri_template.as_str())
        .collect();
    for t in [
        "vt://files/{hash}",
        "vt://urls/{url}",
        "vt://domains/{domain}",
        "vt://ip_addresses/{ip}",
        "vt://collections/{id}",
        "vt://files/{hash}/{relationship}",
        "vt://guides/toolsets/{toolset}",
    ] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    let prompts = client.list_prompts(None).await.unwrap();
    assert_eq!(prompts.ttl_ms, Some(3_600_000));
    let names: Vec<&str> = prompts.prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["investigate_indicator", "triage_alert", "profile_threat"]
    );
    for p in &prompts.prompts {
        let d = p.description.as_deref().unwrap_or_default();
        assert!(d.contains("request"), "{}: the cost is stated: {d}", p.name);
    }
}

#[tokio::test]
async fn a_report_resource_is_the_summary_report_and_a_second_read_is_cached() {
    let server = mock_vt().await;
    mount_objects(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.uri(), &["default"], &[], false, false);
    cfg.cache = vtmcp::cache::CacheConfig::sqlite(dir.path().join("c.sqlite3"));
    let client = connect(&cfg).await;
    let uri = format!("vt://files/{FILE_ID}");
    let first = read(&client, &uri).await.unwrap();
    // The report tool's markdown, at summary depth (one request, relationships embedded).
    assert!(first.contains(FILE_ID), "{first}");
    assert!(first.to_lowercase().contains("verdict"), "{first}");
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1, "{:?}", upstream(&server).await);
    assert!(
        sent[0]
            .url
            .query()
            .unwrap_or_default()
            .contains("relationships="),
        "summary depth embeds descriptors: {}",
        sent[0].url
    );
    let second = read(&client, &uri).await.unwrap();
    assert!(second.contains("from vtmcp's cache"), "{second}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // The other kinds, through their templates (a URL percent-encoded).
    let url = "http://login-microsoft.example-secure.top/owa/?user=victim";
    let enc = percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC);
    for uri in [
        format!("vt://urls/{enc}"),
        "vt://domains/example-secure.top".to_string(),
        "vt://ip_addresses/8.8.8.8".to_string(),
    ] {
        let text = read(&client, &uri).await.unwrap();
        assert!(text.to_lowercase().contains("verdict"), "{uri}: {text}");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn bad_identifiers_and_refused_reads_are_errors_with_nothing_sent() {
    let server = mock_vt().await;
    let client = connect(&config(&server.uri(), &["default"], &[], false, false)).await;
    for (uri, says) in [
        ("vt://files/not-a-hash", "MD5"),
        ("vt://ip_addresses/300.1.2.3", "IPv4"),
        ("vt://urls/ftp%3A%2F%2Fexample.com", "not a valid url"),
        ("vt://domains/exa%20mple.com", "domain"),
        (
            "vt://files/44d88612fea8a8f36de82e1278abb02f/a/b",
            "expected",
        ),
        ("vt://tickets/1", "unknown kind"),
        ("https://example.com/", "not a vtmcp resource"),
        ("vt://guides/toolsets/nope", "unknown toolset"),
        // A relationship name a public key may not use.
        (
            "vt://files/44d88612fea8a8f36de82e1278abb02f/behaviours_tags_not_a_name%0A",
            "relationship",
        ),
    ] {
        let e = read(&client, uri).await.unwrap_err();
        assert!(e.contains(says), "{uri}: {e}");
        assert!(e.contains("Nothing was sent"), "{uri}: {e}");
    }
    // Premium-only relationship names are refused for a public key, naming the flag.
    let premium_only =
        vtmcp::reports::args::relationship_schema(&vtmcp::reports::objects::FILE)["x-vt-premium"]
            [0]
        .as_str()
        .unwrap()
        .to_string();
    let e = read(
        &client,
        &format!("vt://files/44d88612fea8a8f36de82e1278abb02f/{premium_only}"),
    )
    .await
    .unwrap_err();
    assert!(e.contains("--tier premium"), "{e}");
    assert!(
        upstream(&server).await.is_empty(),
        "{:?}",
        upstream(&server).await
    );
}

#[tokio::test]
async fn a_read_without_a_key_is_refused_and_one_the_tier_allows_runs_whatever_the_toolsets() {
    let server = mock_vt().await;
    let mut cfg = config(&server.uri(), &["search"], &[], false, false);
    cfg.api_key = None;
    let client = connect(&cfg).await;
    let e = read(&client, "vt://domains/example.com").await.unwrap_err();
    assert!(e.contains("no VirusTotal API key"), "{e}");
    assert!(upstream(&server).await.is_empty());
    // Toolsets decide what is listed, not what a resource may read (as for call_operation).
    mount_objects(&server).await;
    let client = connect(&config(&server.uri(), &["search"], &[], false, false)).await;
    let text = read(&client, "vt://domains/example-secure.top")
        .await
        .unwrap();
    assert!(text.to_lowercase().contains("verdict"), "{text}");
    wiremock::Mock::given(wiremock::matchers::path("/collections/c-1"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "collection", "id": "c-1", "attributes": {
                "name": "Op Example", "collection_type": "campaign", "files_count": 3,
                "relationships_everything": ["x", "y"]}}})),
        )
        .mount(&server)
        .await;
    let text = read(&client, "vt://collections/c-1").await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"]["attributes"]["name"], "Op Example");
    assert!(
        v["data"]["attributes"]
            .get("relationships_everything")
            .is_none(),
        "only the summary attributes: {text}"
    );
}

#[tokio::test]
async fn guides_are_written_from_the_catalog_and_the_session() {
    let client = connect(&config(
        "http://127.0.0.1:9",
        &["default"],
        &[],
        false,
        false,
    ))
    .await;
    let toolsets = read(&client, "vt://guides/toolsets").await.unwrap();
    for name in vtmcp::config::toolset_names() {
        assert!(
            toolsets.contains(&format!("| `{name}` |")),
            "{name} missing: {toolsets}"
        );
    }
    let files = read(&client, "vt://guides/toolsets/files").await.unwrap();
    assert!(
        files.contains("`get_file`") && files.contains("`upload_file`"),
        "{files}"
    );
    let search = read(&client, "vt://guides/search-syntax").await.unwrap();
    for modifier in [
        "type:", "p:", "fs:", "ls:", "tag:", "engines:", "name:", "entity:",
    ] {
        assert!(
            search.contains(&format!("`{modifier}")),
            "{modifier} missing"
        );
    }
    let quota = read(&client, "vt://guides/quota-and-tiers").await.unwrap();
    assert!(
        quota.contains("tier: public (given with --tier)"),
        "{quota}"
    );
    assert!(quota.contains("off (start with --allow-submit)"), "{quota}");
}

#[tokio::test]
async fn completions_give_closed_sets_only_and_respect_the_key() {
    let public = connect(&config(
        "http://127.0.0.1:9",
        &["default"],
        &[],
        false,
        false,
    ))
    .await;
    let premium = connect(&config(
        "http://127.0.0.1:9",
        &["default"],
        &["premium"],
        false,
        false,
    ))
    .await;
    let rel = Reference::for_resource("vt://files/{hash}/{relationship}");
    let names = complete(&public, rel.clone(), "relationship", "contacted_").await;
    assert!(
        names.contains(&"contacted_domains".to_string()),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| n.starts_with("contacted_")),
        "{names:?}"
    );
    let premium_only =
        vtmcp::reports::args::relationship_schema(&vtmcp::reports::objects::FILE)["x-vt-premium"]
            [0]
        .as_str()
        .unwrap()
        .to_string();
    let all_public = complete(&public, rel.clone(), "relationship", "").await;
    let all_premium = complete(&premium, rel.clone(), "relationship", "").await;
    assert!(
        !all_public.contains(&premium_only),
        "{premium_only} for a public key"
    );
    assert!(
        all_premium.contains(&premium_only),
        "{premium_only} for premium"
    );
    // Each kind has its own names.
    let ip = complete(
        &public,
        Reference::for_resource("vt://ip_addresses/{ip}/{relationship}"),
        "relationship",
        "reso",
    )
    .await;
    assert_eq!(ip, ["resolutions"]);
    let toolsets = complete(
        &public,
        Reference::for_resource("vt://guides/toolsets/{toolset}"),
        "toolset",
        "mon",
    )
    .await;
    assert_eq!(toolsets, ["monitor", "monitor_partner"]);
    let kinds = complete(&public, Reference::for_prompt("profile_threat"), "kind", "").await;
    assert_eq!(kinds, ["threat-actor", "malware-family", "campaign"]);
    // No closed set: nothing offered.
    assert!(
        complete(
            &public,
            Reference::for_resource("vt://files/{hash}"),
            "hash",
            "44"
        )
        .await
        .is_empty()
    );
    assert!(
        complete(&public, Reference::for_prompt("triage_alert"), "text", "")
            .await
            .is_empty()
    );
}

async fn prompt(
    client: &RunningService<RoleClient, ()>,
    name: &str,
    args: Value,
) -> Result<String, String> {
    let params =
        GetPromptRequestParams::new(name).with_arguments(args.as_object().cloned().unwrap());
    match client.get_prompt(params).await {
        Ok(r) => Ok(r
            .messages
            .iter()
            .map(|m| serde_json::to_string(&m.content).unwrap())
            .collect::<Vec<_>>()
            .join("\n")),
        Err(ServiceError::McpError(e)) => Err(e.message.to_string()),
        Err(e) => panic!("{name}: {e}"),
    }
}

#[tokio::test]
async fn prompts_are_playbooks_for_the_session_and_check_their_arguments() {
    let server = mock_vt().await;
    let public = connect(&config(&server.uri(), &["default"], &[], false, false)).await;
    let text = prompt(
        &public,
        "investigate_indicator",
        json!({"indicator": "hxxps[://]evil[.]example/login"}),
    )
    .await
    .unwrap();
    assert!(text.contains("get_url_report"), "{text}");
    assert!(text.contains("get_url_relationship"), "{text}");
    assert!(
        text.contains("vt://urls/https%3A%2F%2Fevil%2Eexample%2Flogin"),
        "{text}"
    );
    assert!(text.contains("request"), "the cost is stated: {text}");
    let e = prompt(
        &public,
        "investigate_indicator",
        json!({"indicator": "hello world"}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("must be an MD5"), "{e}");
    let e = prompt(&public, "investigate_indicator", json!({}))
        .await
        .unwrap_err();
    assert!(e.contains("`indicator` is required"), "{e}");

    let alert = "Blocked beacon to 185.220.101[.]4 from host ws-17; dropper 44d88612fea8a8f36de82e1278abb02f ```";
    let text = prompt(&public, "triage_alert", json!({"text": alert}))
        .await
        .unwrap();
    assert!(text.contains("triage_iocs"), "{text}");
    assert!(
        text.contains("44d88612fea8a8f36de82e1278abb02f"),
        "the alert is embedded"
    );
    assert!(
        text.contains("````"),
        "a fence longer than the alert's backticks: {text}"
    );

    let text = prompt(&public, "profile_threat", json!({"name": "APT28"}))
        .await
        .unwrap();
    assert!(text.contains("not premium"), "{text}");
    assert!(text.contains("`search`"), "{text}");
    let premium = connect(&config(
        &server.uri(),
        &["default"],
        &["premium"],
        false,
        false,
    ))
    .await;
    let text = prompt(
        &premium,
        "profile_threat",
        json!({"name": "Emotet", "kind": "malware-family"}),
    )
    .await
    .unwrap();
    assert!(text.contains("get_malware_family"), "{text}");
    assert!(
        text.contains("`call_operation` with operation `list_collection_related_objects`"),
        "an unlisted operation is reached through call_operation: {text}"
    );
    let e = prompt(
        &premium,
        "profile_threat",
        json!({"name": "x", "kind": "botnet"}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("threat-actor, malware-family, campaign"), "{e}");
    let e = prompt(&premium, "nope", json!({})).await.unwrap_err();
    assert!(e.contains("unknown prompt"), "{e}");
    assert!(upstream(&server).await.is_empty(), "prompts send nothing");
}
