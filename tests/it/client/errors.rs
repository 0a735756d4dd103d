//! Error mapping and key hygiene: every VirusTotal error code, the shared error fixtures, non-JSON
//! answers, and the API key kept out of errors and debug output.

use super::{MD5, no_retry_client, paused_client, requests_to, vt_error};
use crate::support::mock_vt;
use futures::TryStreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use vtmcp::client::{AnalysisWait, PageOptions, RateLimit, RetryPolicy, ScanOptions};
use vtmcp::ops::paginate_json;
use vtmcp::{Client, Error, ErrorCode};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

#[tokio::test]
async fn every_vt_error_code_maps_to_its_variant() {
    let table: Vec<(u16, &str, ErrorCode)> = vec![
        (400, "BadRequestError", ErrorCode::BadRequest),
        (400, "InvalidArgumentError", ErrorCode::InvalidArgument),
        (400, "NotAvailableYet", ErrorCode::NotAvailableYet),
        (
            400,
            "UnselectiveContentQueryError",
            ErrorCode::UnselectiveContentQuery,
        ),
        (
            400,
            "UnsupportedContentQueryError",
            ErrorCode::UnsupportedContentQuery,
        ),
        (
            401,
            "AuthenticationRequiredError",
            ErrorCode::AuthenticationRequired,
        ),
        (401, "UserNotActiveError", ErrorCode::UserNotActive),
        (401, "WrongCredentialsError", ErrorCode::WrongCredentials),
        (403, "ForbiddenError", ErrorCode::Forbidden),
        (404, "NotFoundError", ErrorCode::NotFound),
        (409, "AlreadyExistsError", ErrorCode::AlreadyExists),
        (424, "FailedDependencyError", ErrorCode::FailedDependency),
        (429, "QuotaExceededError", ErrorCode::QuotaExceeded),
        (429, "TooManyRequestsError", ErrorCode::TooManyRequests),
        (429, "TooManyRequests", ErrorCode::TooManyRequests),
        (503, "TransientError", ErrorCode::Transient),
        (504, "DeadlineExceededError", ErrorCode::DeadlineExceeded),
        (
            400,
            "SomethingNewError",
            ErrorCode::Unknown("SomethingNewError".into()),
        ),
    ];
    let server = mock_vt().await;
    let client = no_retry_client(&server);
    for (i, (status, code, expected)) in table.iter().enumerate() {
        let id = format!("{i:032x}");
        Mock::given(method("GET"))
            .and(path(format!("/files/{id}")))
            .respond_with(vt_error(*status, code, &format!("message {i}")))
            .mount(&server)
            .await;
        let e = client.get_file().id(id.as_str()).send().await.unwrap_err();
        match &e {
            Error::Api {
                status: s,
                code: c,
                message,
                ..
            } => {
                assert_eq!((s, c), (status, expected), "{code}");
                assert_eq!(message, &format!("message {i}"));
            }
            other => panic!("{code}: {other:?}"),
        }
        assert_eq!(e.code(), Some(expected));
        assert!(e.to_string().contains(expected.as_str()), "{e}");
    }
    assert_eq!(
        ErrorCode::parse("TooManyRequests"),
        ErrorCode::parse("TooManyRequestsError")
    );
}

#[tokio::test(start_paused = true)]
async fn the_shared_error_fixtures_map_and_their_daily_quota_is_not_retried() {
    let Some(dir) = crate::support::shared_fixtures("errors") else {
        return;
    };
    let table = [
        (
            "authentication_required.json",
            401,
            ErrorCode::AuthenticationRequired,
        ),
        ("bad_request.json", 400, ErrorCode::BadRequest),
        ("forbidden.json", 403, ErrorCode::Forbidden),
        ("not_found.json", 404, ErrorCode::NotFound),
        ("quota_exceeded.json", 429, ErrorCode::QuotaExceeded),
        ("wrong_credentials.json", 401, ErrorCode::WrongCredentials),
    ];
    let server = mock_vt().await;
    // Quota retries on: the fixture's message names a daily limit, so it is still not retried.
    let client = paused_client(&server, RateLimit::unlimited());
    for (i, (file, status, code)) in table.iter().enumerate() {
        let body: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        let id = format!("{:032x}", 0xe000 + i);
        Mock::given(path(format!("/files/{id}")))
            .respond_with(ResponseTemplate::new(*status).set_body_json(&body))
            .mount(&server)
            .await;
        let e = client.get_file().id(id.as_str()).send().await.unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(*status), Some(code)),
            "{file}: {e:?}"
        );
        assert!(
            e.to_string()
                .contains(body["error"]["message"].as_str().unwrap()),
            "{e}"
        );
        assert_eq!(
            requests_to(&server, &format!("/files/{id}")).await.len(),
            1,
            "{file}"
        );
    }
}

#[tokio::test]
async fn a_non_json_502_keeps_its_status_and_body_text() {
    let server = mock_vt().await;
    Mock::given(path(format!("/files/{MD5}")))
        .respond_with(
            ResponseTemplate::new(502)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body>502 Bad Gateway from the front end</body></html>"),
        )
        .mount(&server)
        .await;
    let e = no_retry_client(&server)
        .get_file()
        .id(MD5)
        .send()
        .await
        .unwrap_err();
    match &e {
        Error::Http { status, body, .. } => {
            assert_eq!(*status, 502);
            assert!(
                body.contains("502 Bad Gateway from the front end"),
                "{body}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_retryable());
    assert!(e.to_string().contains("try again"), "{e}");
}

/// Answers with the `x-apikey` it received inside the error message.
struct EchoKey {
    status: u16,
    json: bool,
}

impl Respond for EchoKey {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let key = r
            .headers
            .get("x-apikey")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        if self.json {
            vt_error(
                self.status,
                "WrongCredentialsError",
                &format!("Wrong API key {key}"),
            )
        } else {
            ResponseTemplate::new(self.status).set_body_string(format!("gateway saw key {key}"))
        }
    }
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    const KEY: &str = "leaky-key-0123456789ABCDEFGHIJKLMNOP";
    let server = mock_vt().await;
    Mock::given(path("/files/00000000000000000000000000000401"))
        .respond_with(EchoKey {
            status: 401,
            json: true,
        })
        .mount(&server)
        .await;
    Mock::given(path("/files/00000000000000000000000000000502"))
        .respond_with(EchoKey {
            status: 502,
            json: false,
        })
        .mount(&server)
        .await;
    Mock::given(path("/files/00000000000000000000000000000200"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(format!("{{\"data\": 5, \"apikey\": \"{KEY}\"}}")),
        )
        .mount(&server)
        .await;
    Mock::given(path("/files/000000000000000000000000000000de"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    Mock::given(path("/files/0000000000000000000000000000abcd/comments"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [], "meta": {"cursor": "same"}})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/analyses/slow"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": {"type": "analysis", "id": "slow", "attributes": {"status": "queued"}}}),
        ))
        .mount(&server)
        .await;
    let build = |base: String| {
        Client::builder()
            .api_key(KEY)
            .base_url(base)
            .retry(RetryPolicy::none())
            .timeout(Duration::from_millis(300))
            .rate_limit(RateLimit::per_minute(1000).per_day(1000))
            .build()
            .unwrap()
    };
    let client = build(server.uri());
    let get = |id: &'static str| {
        let client = client.clone();
        async move { client.get_file().id(id).send().await.unwrap_err() }
    };
    let mut errors: Vec<Error> = vec![
        get("00000000000000000000000000000401").await,
        get("00000000000000000000000000000502").await,
        get("00000000000000000000000000000200").await,
        get("000000000000000000000000000000de").await,
        client.get_file().id("not a hash").send().await.unwrap_err(),
    ];
    // The echoes really carried the key, and it was scrubbed.
    assert!(matches!(errors[0], Error::Api { .. }) && errors[0].to_string().contains("<redacted>"));
    assert!(
        matches!(errors[1], Error::Http { status: 502, .. })
            && errors[1].to_string().contains("<redacted>")
    );
    assert!(
        matches!(errors[2], Error::Decode { .. }) && errors[2].to_string().contains("<redacted>")
    );
    assert!(
        matches!(errors[3], Error::Timeout { .. }),
        "{:?}",
        errors[3]
    );
    assert!(
        matches!(errors[4], Error::InvalidInput { .. }),
        "{:?}",
        errors[4]
    );
    // Transport: nothing listens on the port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = build(format!("http://127.0.0.1:{port}"));
    let e = dead.get_file().id(MD5).send().await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    errors.push(e);
    // The local quota.
    let tight = Client::builder()
        .api_key(KEY)
        .base_url(server.uri())
        .rate_limit(RateLimit::per_minute(1).max_wait(Duration::ZERO))
        .build()
        .unwrap();
    let _ = tight
        .get_file()
        .id("00000000000000000000000000000401")
        .send()
        .await;
    let e = tight.get_file().id(MD5).send().await.unwrap_err();
    assert!(matches!(e, Error::QuotaWait { .. }), "{e:?}");
    errors.push(e);
    // Local files, paging and analysis polling.
    errors.push(
        client
            .scan_file(
                std::path::Path::new("/nonexistent/sample.exe"),
                &ScanOptions::new(),
            )
            .await
            .unwrap_err(),
    );
    errors.push(
        paginate_json(
            &client,
            "list_file_comments",
            json!({"id": "0000000000000000000000000000abcd"}),
            PageOptions::new().cursor("same"),
        )
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err(),
    );
    errors.push(
        client
            .wait_for_analysis(
                "slow",
                &AnalysisWait::new()
                    .timeout(Duration::from_millis(30))
                    .initial_interval(Duration::from_millis(10)),
            )
            .await
            .unwrap_err(),
    );
    errors.push(
        Client::builder()
            .api_key(KEY)
            .base_url(format!("ftp://{KEY}@example.com"))
            .build()
            .unwrap_err(),
    );
    let kinds: Vec<String> = errors
        .iter()
        .map(|e| {
            format!("{e:?}")
                .split([' ', '('])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for expected in [
        "Api",
        "Http",
        "Decode",
        "Timeout",
        "InvalidInput",
        "Transport",
        "QuotaWait",
        "InvalidInput",
        "Paging",
        "AnalysisTimeout",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} not provoked: {kinds:?}"
        );
    }
    for e in &errors {
        let (display, debug) = (format!("{e}"), format!("{e:?}"));
        assert!(!display.contains(KEY), "key in Display: {display}");
        assert!(!debug.contains(KEY), "key in Debug: {debug}");
    }
    // The Config error quotes the bad base URL, key included: scrubbed too (checked above).
    assert!(!format!("{client:?}").contains(KEY));
    assert!(!format!("{:?}", Client::builder().api_key(KEY)).contains(KEY));
    // The key was really sent.
    let sent = server.received_requests().await.unwrap();
    assert!(
        sent.iter()
            .any(|r| r.headers.get("x-apikey").is_some_and(|v| v == KEY))
    );
}
