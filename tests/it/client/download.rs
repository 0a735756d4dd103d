//! Streamed downloads across origins: the redirect followed without the key, by operation name
//! through the dispatcher (`ops::download_to`) and with the typed client alone (a typed call's
//! stream saved with `save_stream`, a signed URL with `Client::download_url_to`).

use super::MD5;
use crate::support::{TEST_KEY, client_for, mock_vt};
use serde_json::json;
use vtmcp::client::save_stream;
use vtmcp::ops::{DownloadSource, download_to};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_download_follows_the_redirect_without_the_key_and_streams_to_a_file() {
    let vt = mock_vt().await;
    let storage = MockServer::start().await;
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    Mock::given(method("GET"))
        .and(path(format!("/files/{MD5}/download")))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/signed/blob?sig=abc", storage.uri()).as_str(),
        ))
        .mount(&vt)
        .await;
    Mock::given(method("GET"))
        .and(path("/signed/blob"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(content.clone()))
        .mount(&storage)
        .await;
    let client = client_for(&vt);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample.bin");
    let done = download_to(
        &client,
        DownloadSource::operation("download_file", json!({"id": MD5})),
        &out,
    )
    .await
    .unwrap();
    assert_eq!(done.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), content);
    use sha2::Digest;
    assert_eq!(done.sha256, hex::encode(sha2::Sha256::digest(&content)));
    assert!(!dir.path().join("sample.bin.part").exists());
    // A signed URL given directly goes without the key too, by name and typed.
    let direct = dir.path().join("direct.bin");
    let signed = format!("{}/signed/blob?sig=abc", storage.uri());
    download_to(&client, DownloadSource::url(signed.clone()), &direct)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&direct).unwrap(), content);
    let typed_url = dir.path().join("typed-url.bin");
    let done = client.download_url_to(&signed, &typed_url).await.unwrap();
    assert_eq!(std::fs::read(&typed_url).unwrap(), content);
    assert_eq!(done.bytes, content.len() as u64);
    // The typed method's stream, saved without the dispatcher: the same redirect, the same file.
    let typed = dir.path().join("typed.bin");
    let body = client.download_file().id(MD5).send().await.unwrap();
    let done = save_stream("download_file", body.into_inner(), &typed)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&typed).unwrap(), content);
    assert_eq!(done.sha256, hex::encode(sha2::Sha256::digest(&content)));
    let vt_saw = vt.received_requests().await.unwrap();
    assert_eq!(vt_saw.len(), 2);
    for r in &vt_saw {
        assert_eq!(
            r.headers.get("x-apikey").unwrap(),
            TEST_KEY,
            "VirusTotal gets the key"
        );
    }
    let storage_saw = storage.received_requests().await.unwrap();
    assert_eq!(storage_saw.len(), 4);
    for r in &storage_saw {
        assert!(
            r.headers.get("x-apikey").is_none(),
            "the key leaked to storage"
        );
        assert!(!format!("{:?}", r.headers).contains(TEST_KEY));
    }
    // A failed download leaves nothing behind and says why.
    let missing = dir.path().join("missing.bin");
    let e = download_to(
        &client,
        DownloadSource::operation(
            "download_file",
            json!({"id": "ffffffffffffffffffffffffffffffff"}),
        ),
        &missing,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), Some(418), "{e}");
    assert!(!missing.exists() && !dir.path().join("missing.bin.part").exists());
    let e = download_to(
        &client,
        DownloadSource::operation("get_file", json!({"id": MD5})),
        &missing,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("does not answer with bytes"), "{e}");
    // A typed download that fails leaves nothing behind either.
    let e = client
        .download_url_to("not a url", &missing)
        .await
        .unwrap_err();
    assert!(matches!(e, vtmcp::Error::InvalidInput { .. }), "{e:?}");
    assert!(!missing.exists());
}
