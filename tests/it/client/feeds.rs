//! Feed decoding: bzip2 minute batches and hourly batches behind a redirect.

use super::vt_error;
use crate::support::{client_for, mock_vt};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use std::io::Write;
use vtmcp::Error;
use vtmcp::client::FeedKind;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn ndjson(ids: std::ops::Range<usize>) -> String {
    ids.map(|i| {
        json!({"type": "file", "id": format!("id-{i}"), "context_attributes": {"download_url": format!("https://x/{i}")}})
            .to_string()
            + "\n"
    })
    .collect()
}

#[tokio::test]
async fn a_bz2_minute_batch_decodes_into_objects() {
    let server = mock_vt().await;
    let mut text = ndjson(0..3);
    text.push_str("\nnot json\n");
    text.push_str(&ndjson(3..5));
    Mock::given(path("/feeds/files/202401011200"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/octet-stream")
                .set_body_bytes(bz2(text.as_bytes())),
        )
        .mount(&server)
        .await;
    Mock::given(path("/feeds/urls/202401011300"))
        .respond_with(vt_error(400, "NotAvailableYet", "Batch not available yet"))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let items: Vec<Result<Value, Error>> = client
        .feed_minute(FeedKind::Files, "202401011200")
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 6);
    let ids: Vec<String> = items
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["id-0", "id-1", "id-2", "id-3", "id-4"]);
    let bad = items.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(bad.to_string().contains("line 5"), "{bad}");
    assert_eq!(
        items[0].as_ref().unwrap()["context_attributes"]["download_url"],
        "https://x/0"
    );
    let e = client
        .feed_minute(FeedKind::Urls, "202401011300")
        .await
        .unwrap_err();
    assert!(e.is_not_available_yet(), "{e:?}");
    assert_eq!(e.status(), Some(400));
    let sent = server.received_requests().await.unwrap().len();
    let e = client
        .feed_minute(FeedKind::Files, "2024-01-01")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(e.to_string().contains("YYYYMMDDhhmm"), "{e}");
    let e = client
        .feed_hour(FeedKind::Files, "202401011200")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("YYYYMMDDhh (UTC, 10 digits"), "{e}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        sent,
        "a bad batch time sends nothing"
    );
    // The same decoder reads a batch saved to disk.
    let local: Vec<Value> = vtmcp::client::FeedStream::from_minute_reader(std::io::Cursor::new(
        bz2(ndjson(0..2).as_bytes()),
    ))
    .try_collect()
    .await
    .unwrap();
    assert_eq!(local.len(), 2);
}

#[tokio::test]
async fn an_hourly_batch_behind_a_redirect_decodes_every_minute_file() {
    let vt = mock_vt().await;
    let storage = MockServer::start().await;
    let mut tar = tar::Builder::new(Vec::new());
    for (minute, range) in [("202401011200", 0..3), ("202401011201", 3..7)] {
        let data = bz2(ndjson(range).as_bytes());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, minute, &data[..]).unwrap();
    }
    let archive = bz2(&tar.into_inner().unwrap());
    Mock::given(path("/feeds/domains/hourly/2024010112"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/hourly.tar.bz2", storage.uri()).as_str(),
        ))
        .mount(&vt)
        .await;
    Mock::given(path("/hourly.tar.bz2"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(archive))
        .mount(&storage)
        .await;
    let client = client_for(&vt);
    let items: Vec<Value> = client
        .feed_hour(FeedKind::Domains, "2024010112")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, (0..7).map(|i| format!("id-{i}")).collect::<Vec<_>>());
    let storage_saw = storage.received_requests().await.unwrap();
    assert_eq!(storage_saw.len(), 1);
    assert!(storage_saw[0].headers.get("x-apikey").is_none());
}
