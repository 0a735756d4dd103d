//! Cursor paging: following the cursor, stopping at `max_items` and resuming, a repeated cursor,
//! and paging over the JSON dispatcher.

use super::{MD5, requests_to};
use crate::support::{client_for, mock_vt};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use vtmcp::client::{IntoPage, Page, PageOptions, ResumePoint, paginate};
use vtmcp::ops::paginate_json;
use vtmcp::{Client, Error};
use wiremock::matchers::{path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn comment(n: usize) -> Value {
    json!({"type": "comment", "id": format!("f-{MD5}-{n}"), "attributes": {"text": format!("comment {n}")}})
}

/// Three pages of two comments: no cursor → "c2" → "c3" → end.
async fn mount_three_pages(server: &MockServer, last_cursor: Option<&str>) {
    let p = format!("/files/{MD5}/comments");
    let page = |items: [usize; 2], cursor: Option<&str>| {
        let mut v = json!({"data": [comment(items[0]), comment(items[1])], "links": {"self": "x"}});
        if let Some(c) = cursor {
            v["meta"] = json!({"cursor": c, "count": 6});
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

fn typed_comments(
    client: &Client,
    options: PageOptions,
) -> vtmcp::client::Paginator<vtmcp::types::Comment> {
    let client = client.clone();
    paginate(options, move |cursor| {
        let client = client.clone();
        async move {
            let mut b = client.list_file_comments().id(MD5).limit(2u32);
            if let Some(c) = cursor {
                b = b.cursor(c);
            }
            b.send().await.map(IntoPage::into_page)
        }
    })
    .named("list_file_comments")
}

fn texts(items: &[vtmcp::types::Comment]) -> Vec<usize> {
    items
        .iter()
        .map(|c| c.id.rsplit('-').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn paging_follows_the_cursor_across_three_pages() {
    let server = mock_vt().await;
    mount_three_pages(&server, None).await;
    let client = client_for(&server);
    let mut p = typed_comments(&client, PageOptions::new());
    let mut all = vec![];
    while let Some(c) = p.try_next().await.unwrap() {
        all.push(c);
    }
    assert_eq!(texts(&all), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(p.pages_fetched(), 3);
    assert_eq!(p.resume_point(), None, "nothing left");
    let sent = requests_to(&server, &format!("/files/{MD5}/comments")).await;
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|r| r.url.query().unwrap().contains("limit=2"))
    );
}

#[tokio::test]
async fn paging_stops_at_max_items_and_resumes_exactly_where_it_stopped() {
    let server = mock_vt().await;
    mount_three_pages(&server, None).await;
    let client = client_for(&server);
    let mut p = typed_comments(&client, PageOptions::new().max_items(3));
    let first: Vec<_> = (&mut p).try_collect().await.unwrap();
    assert_eq!(texts(&first), vec![1, 2, 3]);
    let resume = p.resume_point().unwrap();
    assert_eq!(
        resume,
        ResumePoint {
            cursor: Some("c2".into()),
            skip: 1
        }
    );
    assert_eq!(p.next_cursor(), Some("c3"));
    // The resume point survives a round trip through JSON (e.g. to an MCP client and back).
    let resume: ResumePoint =
        serde_json::from_value(serde_json::to_value(&resume).unwrap()).unwrap();
    let rest: Vec<_> = typed_comments(&client, PageOptions::new().resume_from(resume))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(texts(&rest), vec![4, 5, 6], "no item lost or repeated");
    // Resuming from a bare cursor starts at that page.
    let from_c3: Vec<_> = typed_comments(&client, PageOptions::new().cursor("c3"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(texts(&from_c3), vec![5, 6]);
    let sent = requests_to(&server, &format!("/files/{MD5}/comments")).await;
    assert_eq!(
        sent.len(),
        2 + 2 + 1,
        "max_items stopped before fetching page 3"
    );
}

#[tokio::test]
async fn paging_ends_with_an_error_when_the_server_repeats_a_cursor() {
    let server = mock_vt().await;
    mount_three_pages(&server, Some("c2")).await;
    let client = client_for(&server);
    let mut p = typed_comments(&client, PageOptions::new());
    let mut ids = vec![];
    let err = loop {
        match p.next().await {
            Some(Ok(c)) => ids.push(c),
            Some(Err(e)) => break e,
            None => panic!("ended without an error"),
        }
    };
    assert_eq!(
        texts(&ids),
        vec![1, 2, 3, 4, 5, 6],
        "the pages before the loop were read"
    );
    assert!(matches!(err, Error::Paging { .. }), "{err:?}");
    assert!(
        err.to_string().contains("list_file_comments") && err.to_string().contains("\"c2\""),
        "{err}"
    );
    assert!(p.next().await.is_none(), "the stream ended");
    assert_eq!(p.resume_point(), None);
    assert_eq!(
        requests_to(&server, &format!("/files/{MD5}/comments"))
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn paging_works_over_the_json_dispatcher() {
    let server = mock_vt().await;
    mount_three_pages(&server, None).await;
    let client = client_for(&server);
    let items: Vec<Value> = paginate_json(
        &client,
        "list_file_comments",
        json!({"id": MD5, "limit": 2}),
        PageOptions::new().max_items(5),
    )
    .unwrap()
    .try_collect()
    .await
    .unwrap();
    let ids: Vec<&str> = items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    assert!(ids[4].ends_with("-5"));
    // A cursor among the arguments is where paging starts.
    let from_c3: Vec<Value> = paginate_json(
        &client,
        "list_file_comments",
        json!({"id": MD5, "cursor": "c3"}),
        PageOptions::new(),
    )
    .unwrap()
    .try_collect()
    .await
    .unwrap();
    assert_eq!(from_c3.len(), 2);
    // Operations that do not page, and bad arguments, fail before any request.
    let before = server.received_requests().await.unwrap().len();
    let e = paginate_json(&client, "get_file", json!({"id": MD5}), PageOptions::new()).unwrap_err();
    assert!(e.to_string().contains("does not page"), "{e}");
    let e = paginate_json(
        &client,
        "list_file_comments",
        json!({"nope": 1}),
        PageOptions::new(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), before);
    // Pages of a hand-made source work too.
    let n: Vec<usize> = paginate(
        PageOptions::new().max_pages(2),
        |c: Option<String>| async move {
            let c = c.unwrap_or_default();
            Ok(Page::new(vec![c.len()], Some(format!("{c}x"))))
        },
    )
    .try_collect()
    .await
    .unwrap();
    assert_eq!(n, vec![0, 1]);
}
