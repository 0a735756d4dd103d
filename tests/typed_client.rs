//! The typed client as a Rust developer uses it, against wiremock on loopback:
//!
//! - `?` on a generated call in a function returning `vtmcp::Result`, and the error naming the
//!   operation on every path (VirusTotal's error body, a non-JSON body, a refused argument, a
//!   transport failure, an undecodable answer), with code, status and `Retry-After` matchable;
//! - the generated `stream()` of paged operations: three pages, a start cursor, limits, a
//!   repeated cursor ending the stream with an error, and the rate limiter pacing the pages;
//! - the README's typed-client example (`typed_client/readme.rs`, which the README must quote
//!   verbatim) and every program in `examples/`, each run through its own `run` function (the
//!   example files are compiled here as modules, so the code a user copies is the code tested);
//! - the public API snapshot (`typed_client/public_api.rs`);
//! - the client-only build without the server's crates (`typed_client/features.rs`).

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use vtmcp::client::{PageOptions, RateLimit, RetryPolicy};
use vtmcp::{Client, Error, ErrorCode};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

#[allow(dead_code)]
#[path = "../examples/comments.rs"]
mod comments_example;
#[allow(dead_code)]
#[path = "../examples/download_sample.rs"]
mod download_example;
#[path = "typed_client/features.rs"]
mod features;
#[allow(dead_code)]
#[path = "../examples/file_report.rs"]
mod file_report_example;
#[cfg(feature = "feeds")]
#[allow(dead_code)]
#[path = "../examples/hourly_feed.rs"]
mod hourly_feed_example;
#[path = "typed_client/public_api.rs"]
mod public_api;
#[allow(dead_code)]
#[path = "typed_client/readme.rs"]
mod readme;
#[allow(dead_code)]
#[path = "../examples/scan_file.rs"]
mod scan_file_example;

const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const KEY: &str = "typed-client-test-key-0123456789";

fn client_for(server: &MockServer) -> Client {
    Client::builder()
        .api_key(KEY)
        .base_url(server.uri())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn fixture(name: &str) -> Value {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn vt_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"code": code, "message": message}}))
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    let all = server.received_requests().await.unwrap();
    all.into_iter().filter(|r| r.url.path() == p).collect()
}

// ---------------------------------------------------------------------------------------------
// Errors without ceremony

/// What a user writes: `?` on the generated call, in a function returning `vtmcp::Result`.
async fn malicious_count(client: &Client, hash: &str) -> vtmcp::Result<Option<i64>> {
    let report = client.get_file().id(hash).send().await?;
    Ok(report
        .into_inner()
        .data
        .attributes
        .and_then(|a| a.last_analysis_stats)
        .and_then(|s| s.malicious))
}

#[tokio::test]
async fn question_mark_on_a_generated_call_gives_an_error_naming_the_operation() {
    let server = MockServer::start().await;
    Mock::given(path(format!("/files/{MD5}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("file.json")))
        .mount(&server)
        .await;
    Mock::given(path("/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
        .respond_with(
            vt_error(429, "QuotaExceededError", "Quota exceeded")
                .insert_header("retry-after", "30"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/files/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/files/cccccccccccccccccccccccccccccccc"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"data\": 7}"))
        .mount(&server)
        .await;
    let client = client_for(&server);

    let expected =
        fixture("file.json")["data"]["attributes"]["last_analysis_stats"]["malicious"].as_i64();
    assert_eq!(malicious_count(&client, MD5).await.unwrap(), expected);

    // VirusTotal's error body: code, status and Retry-After by matching, the operation named.
    let e = malicious_count(&client, &"a".repeat(32)).await.unwrap_err();
    match &e {
        Error::Api {
            operation,
            status: 429,
            code: ErrorCode::QuotaExceeded,
            retry_after: Some(wait),
            ..
        } => {
            assert_eq!(operation, "get_file");
            assert_eq!(*wait, Duration::from_secs(30));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().starts_with("get_file: "), "{e}");
    assert_eq!(e.operation(), Some("get_file"));
    assert!(e.is_quota() && e.is_retryable());

    // A body that is not VirusTotal's JSON.
    let e = malicious_count(&client, &"b".repeat(32)).await.unwrap_err();
    assert!(
        matches!(&e, Error::Http { operation, status: 502, .. } if operation == "get_file"),
        "{e:?}"
    );
    // An answer that does not decode.
    let e = malicious_count(&client, &"c".repeat(32)).await.unwrap_err();
    assert!(
        matches!(&e, Error::Decode { operation, .. } if operation == "get_file"),
        "{e:?}"
    );
    // An argument refused before sending: nothing reaches the server.
    let before = server.received_requests().await.unwrap().len();
    let e = malicious_count(&client, "..").await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { argument, .. } if argument == "id"),
        "{e:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), before);
    // No server at all: a transport error, still naming the operation.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let offline = Client::builder()
        .api_key(KEY)
        .base_url(format!("http://{closed}"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let e = offline
        .get_ip_address()
        .ip("192.0.2.1")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Transport { operation, .. } if operation == "get_ip_address"),
        "{e:?}"
    );
    // The key never shows.
    for e in [format!("{e}"), format!("{e:?}")] {
        assert!(!e.contains(KEY), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Streams for paged operations

fn comment(n: usize) -> Value {
    json!({"type": "comment", "id": format!("f-{MD5}-{n}"), "attributes": {"text": format!("comment {n}")}})
}

/// Three pages of two comments: no cursor → "c2" → "c3" → `last_cursor`.
async fn mount_three_pages(server: &MockServer, last_cursor: Option<&str>) {
    let p = format!("/files/{MD5}/comments");
    let page = |items: [usize; 2], cursor: Option<&str>| {
        let mut v = json!({"data": [comment(items[0]), comment(items[1])], "links": {"self": "x"}});
        if let Some(c) = cursor {
            v["meta"] = json!({"cursor": c});
        }
        ResponseTemplate::new(200).set_body_json(v)
    };
    Mock::given(path(p.clone()))
        .and(query_param_is_missing("cursor"))
        .respond_with(page([1, 2], Some("c2")))
        .mount(server)
        .await;
    Mock::given(path(p.clone()))
        .and(query_param("cursor", "c2"))
        .respond_with(page([3, 4], Some("c3")))
        .mount(server)
        .await;
    Mock::given(path(p))
        .and(query_param("cursor", "c3"))
        .respond_with(page([5, 6], last_cursor))
        .mount(server)
        .await;
}

fn numbers(items: &[vtmcp::types::Comment]) -> Vec<usize> {
    items
        .iter()
        .map(|c| c.id.rsplit('-').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn stream_pages_a_relationship_in_one_expression() {
    let server = MockServer::start().await;
    mount_three_pages(&server, None).await;
    let client = client_for(&server);
    let all = client
        .list_file_comments()
        .id(MD5)
        .limit(2u32)
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(numbers(&all), vec![1, 2, 3, 4, 5, 6]);
    let sent = requests_to(&server, &format!("/files/{MD5}/comments")).await;
    let cursors: Vec<Option<String>> = sent
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(cursors, vec![None, Some("c2".into()), Some("c3".into())]);
    assert!(
        sent.iter()
            .all(|r| r.url.query().unwrap().contains("limit=2"))
    );
    assert!(
        sent.iter()
            .all(|r| r.headers.get("x-apikey").unwrap() == KEY)
    );

    // A cursor on the builder is where paging starts; limits and resume points as paginate's.
    let from_c3: Vec<_> = client
        .list_file_comments()
        .id(MD5)
        .cursor("c3")
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(numbers(&from_c3), vec![5, 6]);
    let mut first = client
        .list_file_comments()
        .id(MD5)
        .stream_with(PageOptions::new().max_items(3));
    let three: Vec<_> = (&mut first).try_collect().await.unwrap();
    assert_eq!(numbers(&three), vec![1, 2, 3]);
    let resume = first.resume_point().unwrap();
    let rest: Vec<_> = client
        .list_file_comments()
        .id(MD5)
        .stream_with(PageOptions::new().resume_from(resume))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(numbers(&rest), vec![4, 5, 6], "no item lost or repeated");

    // Another shape of page: a relationship answered with descriptors.
    Mock::given(path(format!(
        "/files/{MD5}/relationships/contacted_domains"
    )))
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "data": [{"type": "domain", "id": "evil.example"}, {"type": "domain", "id": "c2.example"}]
    })))
    .mount(&server)
    .await;
    let ids: Vec<String> = client
        .list_file_related_descriptors()
        .id(MD5)
        .relationship("contacted_domains")
        .stream()
        .map_ok(|d| d.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, vec!["evil.example", "c2.example"]);
}

#[tokio::test]
async fn stream_ends_with_an_error_when_the_server_repeats_a_cursor() {
    let server = MockServer::start().await;
    mount_three_pages(&server, Some("c2")).await;
    let client = client_for(&server);
    let mut stream = client.list_file_comments().id(MD5).stream();
    let mut seen = vec![];
    let err = loop {
        match stream.next().await {
            Some(Ok(c)) => seen.push(c),
            Some(Err(e)) => break e,
            None => panic!("the stream ended without an error"),
        }
    };
    assert_eq!(numbers(&seen), vec![1, 2, 3, 4, 5, 6]);
    assert!(
        matches!(&err, Error::Paging { operation, .. } if operation == "list_file_comments"),
        "{err:?}"
    );
    assert!(stream.next().await.is_none(), "the stream ended");
    assert_eq!(
        requests_to(&server, &format!("/files/{MD5}/comments"))
            .await
            .len(),
        3,
        "no page fetched twice"
    );
    // A failing page ends the stream with that page's error, naming the operation.
    let failing = MockServer::start().await;
    Mock::given(path(format!("/files/{MD5}/comments")))
        .respond_with(vt_error(403, "ForbiddenError", "premium only"))
        .mount(&failing)
        .await;
    let e = client_for(&failing)
        .list_file_comments()
        .id(MD5)
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Api { operation, code: ErrorCode::Forbidden, .. } if operation == "list_file_comments"),
        "{e:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_limiter_paces_the_pages_of_a_stream() {
    let server = MockServer::start().await;
    mount_three_pages(&server, None).await;
    // Two requests a minute; no Tokio timer pending while waiting for the mock, so the paused
    // clock only moves when the limiter sleeps.
    let client = Client::builder()
        .api_key(KEY)
        .base_url(server.uri())
        .retry(RetryPolicy::none())
        .timeout(Duration::ZERO)
        .connect_timeout(Duration::ZERO)
        .pool_idle_timeout(None)
        .rate_limit(RateLimit::per_minute(2))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let mut stream = client.list_file_comments().id(MD5).stream();
    let mut at = vec![];
    while let Some(c) = stream.try_next().await.unwrap() {
        at.push((numbers(&[c])[0], start.elapsed()));
    }
    let when = |n: usize| at.iter().find(|(i, _)| *i == n).unwrap().1;
    assert!(
        when(4) < Duration::from_secs(1),
        "two pages at once: {at:?}"
    );
    assert!(
        when(5) >= Duration::from_secs(60) && when(5) < Duration::from_secs(61),
        "the third page waits for the first to be a minute old: {at:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The README's example and the programs in examples/

#[tokio::test]
async fn the_readme_example_is_quoted_verbatim_and_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let code = include_str!("typed_client/readme.rs");
    assert!(
        readme.contains(&format!("```rust\n{code}```\n")),
        "README.md's typed-client example differs from tests/typed_client/readme.rs: copy it back"
    );
    assert!(
        !code.contains("map_err"),
        "the example needs no error mapping"
    );

    let server = MockServer::start().await;
    Mock::given(path(format!("/files/{MD5}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("file.json")))
        .mount(&server)
        .await;
    mount_three_pages(&server, None).await;
    Mock::given(path("/files/dddddddddddddddddddddddddddddddd"))
        .respond_with(vt_error(404, "NotFoundError", "not found"))
        .mount(&server)
        .await;
    Mock::given(path("/files/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"))
        .respond_with(vt_error(429, "QuotaExceededError", "Quota exceeded"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    readme::triage(&client, MD5).await.unwrap();
    assert_eq!(
        requests_to(&server, &format!("/files/{MD5}/comments"))
            .await
            .len(),
        3
    );
    readme::triage(&client, &"d".repeat(32)).await.unwrap();
    let e = readme::triage(&client, &"e".repeat(32)).await.unwrap_err();
    assert!(e.to_string().starts_with("get_file: "), "{e}");
}

#[tokio::test]
async fn example_file_report() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{MD5}")))
        .and(query_param("relationships", "contacted_domains"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("file.json")))
        .mount(&server)
        .await;
    let report = file_report_example::run(&client_for(&server), MD5)
        .await
        .unwrap();
    assert_eq!(
        report.data.id,
        fixture("file.json")["data"]["id"].as_str().unwrap()
    );
    assert!(
        report
            .data
            .attributes
            .unwrap()
            .last_analysis_stats
            .is_some()
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn example_comments() {
    let server = MockServer::start().await;
    mount_three_pages(&server, None).await;
    let client = client_for(&server);
    let five = comments_example::run(&client, MD5, 5).await.unwrap();
    assert_eq!(numbers(&five), vec![1, 2, 3, 4, 5]);
    let sent = requests_to(&server, &format!("/files/{MD5}/comments")).await;
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|r| r.url.query().unwrap().contains("limit=40"))
    );
}

#[tokio::test]
async fn example_scan_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sample.bin");
    std::fs::write(&file, b"not really malware").unwrap();
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"not really malware"))
    };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{sha256}")))
        .respond_with(vt_error(404, "NotFoundError", "not found"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/files"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"type": "analysis", "id": "an-1"}})),
        )
        .mount(&server)
        .await;
    let analysis = |status: &str, malicious: i64| {
        ResponseTemplate::new(200).set_body_json(json!({"data": {"type": "analysis", "id": "an-1",
            "attributes": {"status": status, "stats": {"malicious": malicious, "undetected": 3}}}}))
    };
    Mock::given(path("/analyses/an-1"))
        .respond_with(analysis("queued", 0))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/analyses/an-1"))
        .respond_with(analysis("completed", 2))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let stats = scan_file_example::run(&client, &file, Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(stats.and_then(|s| s.malicious), Some(2));
    assert_eq!(requests_to(&server, "/analyses/an-1").await.len(), 2);
    let upload = requests_to(&server, "/files").await;
    assert_eq!(upload.len(), 1);
    assert!(String::from_utf8_lossy(&upload[0].body).contains("not really malware"));

    // A known file: its report, nothing uploaded.
    let known = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{sha256}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("file.json")))
        .mount(&known)
        .await;
    let stats = scan_file_example::run(&client_for(&known), &file, Duration::from_millis(10))
        .await
        .unwrap();
    let expected =
        fixture("file.json")["data"]["attributes"]["last_analysis_stats"]["malicious"].as_i64();
    assert_eq!(stats.and_then(|s| s.malicious), expected);
    assert_eq!(known.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn example_download_sample() {
    let vt = MockServer::start().await;
    let storage = MockServer::start().await;
    let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    Mock::given(path(format!("/files/{MD5}/download")))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/signed/blob?sig=1", storage.uri()).as_str(),
        ))
        .mount(&vt)
        .await;
    Mock::given(path("/signed/blob"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(content.clone()))
        .mount(&storage)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("sample.bin");
    let saved = download_example::run(&client_for(&vt), MD5, &to)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&to).unwrap(), content);
    assert_eq!(saved.bytes, content.len() as u64);
    let at_storage = storage.received_requests().await.unwrap();
    assert!(
        at_storage[0].headers.get("x-apikey").is_none(),
        "no key off origin"
    );
}

#[cfg(feature = "feeds")]
fn bz2(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[cfg(feature = "feeds")]
#[tokio::test]
async fn example_hourly_feed() {
    let vt = MockServer::start().await;
    let mut tar = tar::Builder::new(Vec::new());
    for (minute, ids) in [("202401011200", 0..2), ("202401011201", 2..5)] {
        let text: String = ids
            .map(|i| json!({"type": "file", "id": format!("id-{i}")}).to_string() + "\n")
            .collect();
        let data = bz2(text.as_bytes());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, minute, &data[..]).unwrap();
    }
    Mock::given(path("/feeds/files/hourly/2024010112"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bz2(&tar.into_inner().unwrap())))
        .mount(&vt)
        .await;
    Mock::given(path("/feeds/files/hourly/2024010113"))
        .respond_with(vt_error(400, "NotAvailableYet", "not yet"))
        .mount(&vt)
        .await;
    let client = client_for(&vt);
    let ids = hourly_feed_example::run(&client, "2024010112")
        .await
        .unwrap();
    assert_eq!(
        ids,
        Some((0..5).map(|i| format!("id-{i}")).collect::<Vec<_>>())
    );
    assert_eq!(
        hourly_feed_example::run(&client, "2024010113")
            .await
            .unwrap(),
        None
    );
    let e = hourly_feed_example::run(&client, "20240101")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
}
