//! Every operation of the spec, called through the typed client (via the generated dispatcher)
//! against a mock VirusTotal: exact method, path (percent-encoded), query, headers and body, and
//! a response with every typed field (plus unknown ones) that must decode and come back whole.

use crate::support::{
    TEST_KEY, as_query_value, client_for, install_catch_all, json_response_schema, mock_vt,
    sample_call, sample_instance, strip_nulls,
};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use vtmcp::ops::{
    BodyShape, Location, OPERATIONS, Output, ResponseKind, call_json, call_json_typed,
};
use wiremock::{Mock, ResponseTemplate, matchers};

/// The body VirusTotal must receive for these arguments, built from the table's shape.
fn expected_body(shape: BodyShape, args: &Map<String, Value>) -> Option<Value> {
    let pick = |fields: &[&str]| -> Map<String, Value> {
        fields
            .iter()
            .filter_map(|f| args.get(*f).map(|v| (f.to_string(), v.clone())))
            .collect()
    };
    match shape {
        BodyShape::None | BodyShape::Multipart { .. } => None,
        BodyShape::Attributes {
            vt_type,
            fields,
            extras,
        } => {
            let mut data = Map::new();
            data.insert("type".into(), json!(vt_type));
            data.insert("attributes".into(), Value::Object(pick(fields)));
            data.extend(pick(extras));
            Some(json!({ "data": data }))
        }
        BodyShape::DataFields { fields } => Some(json!({ "data": pick(fields) })),
        BodyShape::Data => Some(json!({ "data": args["data"] })),
        BodyShape::Form { fields } => Some(Value::Object(pick(fields))),
    }
}

#[tokio::test]
async fn every_operation_sends_the_exact_request_and_decodes_its_response() {
    let server = mock_vt().await;
    let client = client_for(&server);
    let upload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(upload.path(), b"hello vtmcp upload").unwrap();
    let mut failures = vec![];

    for op in OPERATIONS {
        server.reset().await;
        install_catch_all(&server).await;
        let (args, path, mut query) = sample_call(op, upload.path());
        let (template, expected_out) = match op.response {
            ResponseKind::Empty => (ResponseTemplate::new(200), None),
            ResponseKind::Json => {
                let sample = sample_instance(json_response_schema(op.id), 0);
                (
                    ResponseTemplate::new(200).set_body_json(&sample),
                    Some(sample),
                )
            }
            ResponseKind::Bytes => (
                ResponseTemplate::new(200)
                    .set_body_raw(b"\x00\x01binary\xff".to_vec(), "application/octet-stream"),
                None,
            ),
        };
        Mock::given(matchers::method(op.method))
            .and(matchers::path(path.clone()))
            .respond_with(template)
            .mount(&server)
            .await;

        let out = call_json_typed(&client, op.id, args.clone()).await;
        let reqs = server.received_requests().await.unwrap();
        let fail = |m: String| format!("{} ({} {}): {m}", op.id, op.method, op.path);
        if reqs.len() != 1 {
            failures.push(fail(format!("{} requests sent", reqs.len())));
            continue;
        }
        let r = &reqs[0];
        if r.method.as_str() != op.method || r.url.path() != path {
            failures.push(fail(format!(
                "sent {} {} instead of {path}",
                r.method,
                r.url.path()
            )));
        }
        let mut got_q: Vec<(String, String)> = r
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        got_q.sort();
        query.sort();
        if got_q != query {
            failures.push(fail(format!("query {got_q:?}, expected {query:?}")));
        }
        if r.headers.get("x-apikey").map(|v| v.to_str().unwrap()) != Some(TEST_KEY) {
            failures.push(fail("x-apikey header missing".into()));
        }
        if r.headers.get("api-version").is_some() {
            failures.push(fail("api-version header leaked".into()));
        }
        for p in op.params.iter().filter(|p| p.location == Location::Header) {
            if r.headers
                .get(p.name)
                .map(|v| v.to_str().unwrap().to_string())
                != Some(as_query_value(&args[p.arg]))
            {
                failures.push(fail(format!("header {} missing", p.name)));
            }
        }
        match (op.body, expected_body(op.body, &args)) {
            (BodyShape::Form { .. }, Some(exp)) => {
                let got: Map<String, Value> = url_form(&r.body);
                // Form fields are text: numbers and booleans arrive as their JSON text.
                let exp: Map<String, Value> = exp
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(as_query_value(v))))
                    .collect();
                if got != exp {
                    failures.push(fail(format!("form body {got:?}, expected {exp:?}")));
                }
                if r.headers.get("content-type").map(|v| v.to_str().unwrap())
                    != Some("application/x-www-form-urlencoded")
                {
                    failures.push(fail("form content type".into()));
                }
            }
            (_, Some(exp)) => match serde_json::from_slice::<Value>(&r.body) {
                Ok(got) if strip_nulls(&got) == strip_nulls(&exp) => {}
                Ok(got) => failures.push(fail(format!("body {got}, expected {exp}"))),
                Err(e) => failures.push(fail(format!("body is not JSON: {e}"))),
            },
            (BodyShape::Multipart { fields }, None) => {
                let ct = r
                    .headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                let body = String::from_utf8_lossy(&r.body);
                if !ct.starts_with("multipart/form-data")
                    || !body.contains("hello vtmcp upload")
                    || !body.contains("filename=")
                {
                    failures.push(fail(format!("multipart body wrong (content-type {ct})")));
                }
                // Every form field given is sent as its own part.
                for f in fields
                    .iter()
                    .filter(|f| **f != "file" && args.contains_key(**f))
                {
                    if !body.contains(&format!("name=\"{f}\"")) {
                        failures.push(fail(format!("form field `{f}` not sent")));
                    }
                }
            }
            (_, None) => {
                if !r.body.is_empty() {
                    failures.push(fail("unexpected body".into()));
                }
            }
        }
        match (out, expected_out) {
            (Ok(Output::Json(v)), Some(exp)) => {
                if strip_nulls(&v) != strip_nulls(&exp) {
                    failures.push(fail(format!(
                        "response lost or changed fields:\n got {v}\nsent {exp}"
                    )));
                }
            }
            (Ok(Output::Bytes(stream)), None) => {
                let mut inner = stream.into_inner();
                let mut all = vec![];
                while let Some(chunk) = inner.next().await {
                    all.extend_from_slice(&chunk.unwrap());
                }
                if all != b"\x00\x01binary\xff" {
                    failures.push(fail("bytes differ".into()));
                }
            }
            (Ok(Output::Empty), None) => {}
            (other, _) => failures.push(fail(format!("unexpected outcome {other:?}"))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} operations failed:\n{}",
        failures.len(),
        OPERATIONS.len(),
        failures.join("\n")
    );
}

fn url_form(body: &[u8]) -> Map<String, Value> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                let s = s.replace('+', " ");
                let mut out = vec![];
                let b = s.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'%' && i + 2 < b.len() + 1 {
                        out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    } else {
                        out.push(b[i]);
                        i += 1;
                    }
                }
                String::from_utf8(out).unwrap()
            };
            (dec(k), Value::String(dec(v)))
        })
        .collect()
}

#[tokio::test]
async fn ids_are_percent_encoded_and_cannot_change_the_path() {
    let server = mock_vt().await;
    let client = client_for(&server);
    Mock::given(matchers::any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"type": "comment", "id": "x"}})),
        )
        .mount(&server)
        .await;
    // A space is encoded; '/', '?', '#', control characters and dot segments are refused before sending.
    let ok = call_json(
        &client,
        "get_comment",
        json!({"id": "f-abc def"}).as_object().unwrap().clone(),
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
    for bad in [
        "../files",
        "a/b",
        "a?b=c",
        "a#b",
        "a\r\nx-apikey: stolen",
        "..",
        ".",
    ] {
        let r = call_json(
            &client,
            "get_comment",
            json!({"id": bad}).as_object().unwrap().clone(),
        )
        .await;
        assert!(
            matches!(r, Err(vtmcp::Error::InvalidInput { ref argument, .. }) if argument == "id"),
            "{bad:?}: {r:?}"
        );
    }
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.path(), "/comments/f-abc%20def");

    // The typed builders: a backslash (which URL parsing would turn into '/') is encoded, and a
    // segment that cannot be sent as one ('', '.', '..') is refused before sending (by the
    // parameter type's pattern, and failing that by the client's path check).
    client
        .get_comment()
        .id(r"..\..\users\me")
        .send()
        .await
        .unwrap();
    for bad in ["..", ".", ""] {
        let e = client.get_comment().id(bad).send().await.unwrap_err();
        assert!(
            matches!(e, vtmcp::Error::InvalidInput { .. }),
            "{bad:?}: {e:?}"
        );
    }
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2, "only the encoded id was sent");
    assert_eq!(reqs[1].url.path(), "/comments/..%5C..%5Cusers%5Cme");
}

#[tokio::test]
async fn explicit_bodies_match_virustotal_examples() {
    let server = mock_vt().await;
    let client = client_for(&server);
    Mock::given(matchers::any())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"type": "x", "id": "y"}})),
        )
        .mount(&server)
        .await;
    let cases = [
        (
            "add_file_comment",
            json!({"id": "44d88612fea8a8f36de82e1278abb02f", "text": "Seen in #phishing"}),
            json!({"data": {"type": "comment", "attributes": {"text": "Seen in #phishing"}}}),
        ),
        (
            "add_url_vote",
            json!({"id": "aHR0cDovL2V4YW1wbGUuY29tLw", "verdict": "malicious"}),
            json!({"data": {"type": "vote", "attributes": {"verdict": "malicious"}}}),
        ),
        (
            "create_zip_file",
            json!({"hashes": ["44d88612fea8a8f36de82e1278abb02f"], "password": "infected"}),
            json!({"data": {"hashes": ["44d88612fea8a8f36de82e1278abb02f"], "password": "infected"}}),
        ),
        (
            "add_graph_editors",
            json!({"id": "g1", "data": [{"type": "user", "id": "alice"}]}),
            json!({"data": [{"type": "user", "id": "alice"}]}),
        ),
        (
            "create_collection",
            json!({"name": "Campaign X", "raw_items": "evil.example 1.2.3.4"}),
            json!({"data": {"type": "collection", "attributes": {"name": "Campaign X"}, "raw_items": "evil.example 1.2.3.4"}}),
        ),
    ];
    for (id, args, expected) in cases {
        server.reset().await;
        let answer = if id == "add_graph_editors" {
            json!({"data": []})
        } else {
            json!({"data": {"type": "x", "id": "y"}})
        };
        Mock::given(matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
        call_json(&client, id, args.as_object().unwrap().clone())
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let body: Value =
            serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
        assert_eq!(strip_nulls(&body), expected, "{id}");
    }
}

/// One-to-one relationships (`network_location`, `parent`, `author`, `item` …) answer with one
/// object or `null` instead of a list: every relationship operation decodes all three forms,
/// through the typed client and through its MCP tool, which returns them as sent.
#[tokio::test]
async fn relationship_operations_decode_a_list_one_object_or_null() {
    let server = mock_vt().await;
    let client = client_for(&server);
    let mcp = crate::mcp::connect(&crate::mcp::everything(&server.uri())).await;
    let upload = tempfile::NamedTempFile::new().unwrap();
    let descriptor = json!({"type": "ip_address", "id": "8.8.8.8"});
    let object = json!({"type": "ip_address", "id": "8.8.8.8", "attributes": {"country": "US"}, "links": {"self": "x"}});
    let mut failures = vec![];
    let mut checked = 0;
    for op in OPERATIONS
        .iter()
        .filter(|o| o.id.ends_with("_related_descriptors") || o.id.ends_with("_related_objects"))
    {
        let one = if op.id.ends_with("_descriptors") {
            &descriptor
        } else {
            &object
        };
        for data in [json!([one]), one.clone(), Value::Null] {
            let body = json!({"data": data, "links": {"self": "x"}});
            server.reset().await;
            let (args, path, _) = sample_call(op, upload.path());
            Mock::given(matchers::method(op.method))
                .and(matchers::path(path.clone()))
                .respond_with(ResponseTemplate::new(200).set_body_json(&body))
                .mount(&server)
                .await;
            match call_json_typed(&client, op.id, args.clone()).await {
                Ok(Output::Json(v)) if strip_nulls(&v) == strip_nulls(&body) => {}
                other => failures.push(format!("{} typed, data {data}: {other:?}", op.id)),
            }
            if op.excluded.is_none() {
                let r = crate::mcp::call(&mcp, op.id, Value::Object(args)).await;
                if r.is_error == Some(true) || r.structured_content.as_ref() != Some(&body) {
                    failures.push(format!(
                        "{} tool, data {data}: {}",
                        op.id,
                        crate::mcp::text(&r)
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} relationship calls checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
