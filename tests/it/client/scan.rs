//! Uploads and scans: large files through an upload URL, the size limit, known files, private
//! scans and URL scans.

use super::{fixture, requests_to, vt_error};
use crate::support::{client_for, mock_vt};
use serde_json::json;
use std::io::Write;
use vtmcp::Error;
use vtmcp::client::{FileScan, ScanOptions, ScanSource};
use wiremock::matchers::{body_string_contains, header_exists, method, path};
use wiremock::{Mock, ResponseTemplate};

fn descriptor(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"data": {"type": "analysis", "id": id, "links": {"self": "x"}}}))
}

#[tokio::test]
async fn a_40_mb_file_is_streamed_to_an_upload_url_after_a_missed_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    let len = 40 * 1024 * 1024;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let chunk: Vec<u8> = (0..=255u8).cycle().take(1024 * 1024).collect();
        for _ in 0..40 {
            f.write_all(&chunk).unwrap();
        }
        f.flush().unwrap();
    }
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()))
    };
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{sha256}")))
        .respond_with(vt_error(404, "NotFoundError", "File not found"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/upload_url"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"data": format!("{}/_ah/upload/one-shot-token", server.uri())}),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/_ah/upload/one-shot-token"))
        .and(header_exists("x-apikey"))
        .respond_with(descriptor("big-analysis"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let scan = client
        .scan_file(&file, &ScanOptions::new().password("infected"))
        .await
        .unwrap();
    assert_eq!(scan.sha256(), sha256);
    assert_eq!(scan.analysis_id(), Some("big-analysis"));
    assert_eq!(requests_to(&server, "/files/upload_url").await.len(), 1);
    assert!(
        requests_to(&server, "/files").await.is_empty(),
        "not the direct endpoint"
    );
    let posts = requests_to(&server, "/_ah/upload/one-shot-token").await;
    assert_eq!(posts.len(), 1);
    let body = &posts[0].body;
    assert!(
        body.len() > len,
        "the whole file arrived: {} bytes",
        body.len()
    );
    let ct = posts[0]
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(ct.starts_with("multipart/form-data"), "{ct}");
    let declared: usize = posts[0]
        .headers
        .get("content-length")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        declared,
        body.len(),
        "sent with a known length, not buffered into chunks"
    );
    let text = String::from_utf8_lossy(&body[..512]);
    assert!(text.contains("filename=\"big.bin\""), "{text}");
    let tail = String::from_utf8_lossy(&body[body.len() - 512..]);
    assert!(
        tail.contains("name=\"password\"") && tail.contains("infected"),
        "{tail}"
    );
    // The file bytes arrived intact: find the 40 MB run and compare its hash.
    let start = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&body[start..start + len])),
        sha256
    );
}

#[tokio::test]
async fn a_file_over_650_mb_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.iso");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(650 * 1024 * 1024 + 1)
        .unwrap();
    let server = mock_vt().await;
    let client = client_for(&server);
    for e in [
        client
            .scan_file(&file, &ScanOptions::new())
            .await
            .unwrap_err(),
        client
            .scan_file_privately(&file, &ScanOptions::new())
            .await
            .unwrap_err(),
        client
            .upload_path(vtmcp::client::upload::UploadTarget::Public, &file, &[])
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        assert!(e.to_string().contains("650 MB"), "{e}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_known_file_returns_its_report_without_an_upload() {
    let data = b"hello, virustotal".to_vec();
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&data))
    };
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{sha256}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("file.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/files"))
        .respond_with(descriptor("forced"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let scan = client
        .scan_file(
            ScanSource::bytes(data.clone(), "hello.txt"),
            &ScanOptions::new(),
        )
        .await
        .unwrap();
    let FileScan::Known { report, sha256: s } = &scan else {
        panic!("{scan:?}")
    };
    assert_eq!(s, &sha256);
    assert_eq!(
        report.data.id,
        fixture("file.json")["data"]["id"].as_str().unwrap()
    );
    assert!(
        requests_to(&server, "/files").await.is_empty(),
        "nothing uploaded"
    );
    // force_upload skips the lookup and posts the bytes directly (≤ 32 MB).
    let scan = client
        .scan_file(
            ScanSource::bytes(data, "hello.txt"),
            &ScanOptions::new().force_upload(true),
        )
        .await
        .unwrap();
    assert_eq!(scan.analysis_id(), Some("forced"));
    let posts = requests_to(&server, "/files").await;
    assert_eq!(posts.len(), 1);
    assert!(String::from_utf8_lossy(&posts[0].body).contains("hello, virustotal"));
    assert_eq!(
        requests_to(&server, &format!("/files/{sha256}"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn private_scans_and_url_scans() {
    let server = mock_vt().await;
    Mock::given(method("GET"))
        .and(path_regex_private_file())
        .respond_with(vt_error(404, "NotFoundError", "not found"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/private/files"))
        .and(body_string_contains("retention_period_days"))
        .respond_with(descriptor("private-1"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/urls"))
        .and(body_string_contains(
            "url=https%3A%2F%2Fexample.com%2Fa%3Fb%3Dc",
        ))
        .respond_with(descriptor("u-abc-1"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/private/urls"))
        .respond_with(descriptor("pu-1"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let scan = client
        .scan_file_privately(
            ScanSource::bytes(&b"private bytes"[..], "p.bin"),
            &ScanOptions::new().field("retention_period_days", "3"),
        )
        .await
        .unwrap();
    assert_eq!(scan.analysis_id(), Some("private-1"));
    assert_eq!(
        client.scan_url("https://example.com/a?b=c").await.unwrap(),
        "u-abc-1"
    );
    assert_eq!(
        client
            .scan_url_privately("https://example.com/")
            .await
            .unwrap(),
        "pu-1"
    );
    let before = server.received_requests().await.unwrap().len();
    let e = client.scan_url("example.com").await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let e = client
        .scan_file(
            ScanSource::bytes(&b"x"[..], "x"),
            &ScanOptions::new().field("enable_internet", "true"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("scan_file_privately"), "{e}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        before,
        "checked before sending"
    );
}

fn path_regex_private_file() -> wiremock::matchers::PathRegexMatcher {
    wiremock::matchers::path_regex("^/private/files/[0-9a-f]{64}$")
}
