//! Sessions of the Streamable HTTP transport, driven by a raw HTTP client (issue 17): a
//! cancelled call leaves nothing to resume and a resume is answered so that clients stop; a
//! duplicate request id is refused while the first request is still answered (HTTP and stdio);
//! an oversized chunked body gets 413 and a malformed one 400; and the progress a client gets
//! during a wait has a total and moves with time.

use rmcp::ClientHandler;
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressNotificationParam, ProgressToken,
    RequestMetaObject,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use vtmcp::config::{Config, SelectionInput, selection};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

const KEY: &str = "test-key-0123456789abcdef";
const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const ACCEPT: &str = "application/json, text/event-stream";
const VERSION: &str = "2025-06-18";
/// Only detects a hang; every step is expected to take well under it.
const HANG: Duration = Duration::from_secs(15);

fn config(base: &str, toolsets: &[&str], submit: bool) -> Config {
    Config {
        api_key: Some(vtmcp::ApiKey::new(KEY)),
        base_url: base.to_string(),
        selection: selection(&SelectionInput {
            toolsets: toolsets.iter().map(|s| s.to_string()).collect(),
            tools: vec![],
            tiers: vec![],
            allow_submit: submit,
            allow_write: false,
        })
        .unwrap(),
        rate_limit: Some(vtmcp::client::RateLimit::unlimited()),
        ..Config::default()
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The HTTP transport on a free loopback port, against `base`; dropping the sender stops it.
async fn http_server(base: &str) -> (String, tokio::sync::oneshot::Sender<()>) {
    let server = vtmcp::mcp::VtServer::new(&config(base, &["default"], false)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(vtmcp::http::serve_listener(
        server,
        listener,
        vtmcp::http::Options::default(),
        async move {
            let _ = rx.await;
        },
    ));
    (format!("http://{addr}/mcp"), tx)
}

/// A POST of `body` within `session`, as MCP clients send it.
fn post(http: &reqwest::Client, url: &str, session: &str, body: &Value) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", VERSION)
        .body(body.to_string())
}

/// Initializes a session and returns its id.
async fn open_session(http: &reqwest::Client, url: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    assert!(r.text().await.unwrap().contains("\"vtmcp\""));
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = post(http, url, &session, &done).send().await.unwrap();
    assert_eq!(r.status(), 202);
    session
}

fn tool_call(id: u64, name: &str, args: Value, progress: Option<&str>) -> Value {
    let mut params = json!({"name": name, "arguments": args});
    if let Some(token) = progress {
        params["_meta"] = json!({"progressToken": token});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

/// One server-sent event: its `id:` and `retry:` fields and its data.
#[derive(Debug, Clone, Default)]
struct Event {
    id: Option<String>,
    retry: Option<String>,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// Reads an SSE body event by event, as the events arrive.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    fn new(resp: reqwest::Response) -> Events {
        Events {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            let normalized = self.buf.replace("\r\n", "\n");
            if let Some(end) = normalized.find("\n\n") {
                self.buf = normalized[end + 2..].to_string();
                let mut ev = Event::default();
                let mut fields = 0;
                for line in normalized[..end].lines() {
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_string();
                    match name {
                        "" => continue,
                        "id" => ev.id = Some(value),
                        "retry" => ev.retry = Some(value),
                        "data" => ev.data.push_str(&value),
                        _ => {}
                    }
                    fields += 1;
                }
                if fields > 0 {
                    return Some(ev);
                }
                continue;
            }
            let chunk = self.resp.chunk().await.ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Every event until the stream ends.
    async fn rest(&mut self) -> Vec<Event> {
        let mut all = vec![];
        while let Some(ev) = self.next().await {
            all.push(ev);
        }
        all
    }
}

/// The first event whose JSON-RPC message answers request `id` (result or error).
async fn answer(events: &mut Events, id: u64) -> Option<Value> {
    while let Some(ev) = events.next().await {
        let m = ev.json();
        if m["id"] == json!(id) && (m.get("result").is_some() || m.get("error").is_some()) {
            return Some(m);
        }
    }
    None
}

#[tokio::test]
async fn a_cancelled_call_leaves_no_stream_to_resume_and_a_resume_makes_clients_stop() {
    // An upstream that accepts connections and never answers: the call waits until cancelled.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", upstream.local_addr().unwrap());
    let _held = tokio::spawn(async move {
        let mut open = vec![];
        while let Ok((s, _)) = upstream.accept().await {
            open.push(s);
        }
    });
    let (url, _stop) = http_server(&base).await;
    let http = reqwest::Client::new();
    let session = open_session(&http, &url).await;

    let call = tool_call(2, "get_file_report", json!({"file_hash": MD5}), Some("p-2"));
    let r = post(&http, &url, &session, &call).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut events = Events::new(r);
    // The call reports its first step, then waits for the upstream answer.
    let mut seen = vec![];
    loop {
        let ev = tokio::time::timeout(HANG, events.next())
            .await
            .expect("no progress event")
            .expect("the call's stream ended before its first progress event");
        seen.push(ev.clone());
        if ev.json()["method"] == "notifications/progress" {
            break;
        }
    }
    // The client gives up, as the TypeScript SDK does after its timeout.
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 2, "reason": "Request timed out"}});
    let r = post(&http, &url, &session, &cancel).send().await.unwrap();
    assert_eq!(r.status(), 202);
    seen.extend(
        tokio::time::timeout(HANG, events.rest())
            .await
            .expect("the stream of a cancelled call must end"),
    );
    assert!(
        seen.iter().all(|e| e.json()["id"] != json!(2)),
        "a cancelled call is not answered: {seen:?}"
    );
    // Nothing in it can be resumed: no event ids (which make the TypeScript SDK resume) and no
    // priming event (`retry:`).
    assert!(
        seen.iter().all(|e| e.id.is_none() && e.retry.is_none()),
        "events carry ids or retry hints: {seen:?}"
    );

    // A client that resumes all the same, as the TypeScript SDK did with the last event id it
    // had (rmcp 3.11 numbered the progress event `1/0`), gets an answer that makes it stop:
    // not an empty 200, and no event it already had.
    let last_id = seen
        .iter()
        .rev()
        .find_map(|e| e.id.clone())
        .unwrap_or_else(|| "1/0".into());
    let resumed = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", VERSION)
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    let status = resumed.status();
    let body = tokio::time::timeout(HANG, resumed.text())
        .await
        .expect("the resume answer must end")
        .unwrap();
    assert!(
        !body.contains("notifications/progress"),
        "a progress event already delivered was sent again: {body}"
    );
    assert_eq!(
        status, 405,
        "the TypeScript SDK and rmcp's client stop on 405 (an empty 200 made them retry every 3 s): {body}"
    );
    assert!(body.len() < 300, "a short body: {body}");

    // The session goes on.
    let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
    let r = post(&http, &url, &session, &ping).send().await.unwrap();
    let mut events = Events::new(r);
    let pong = tokio::time::timeout(HANG, answer(&mut events, 3))
        .await
        .unwrap()
        .expect("ping answered");
    assert!(pong.get("result").is_some(), "{pong}");
}

#[tokio::test]
async fn a_duplicate_request_id_in_a_session_is_refused_and_the_first_is_still_answered() {
    let upstream = MockServer::start().await;
    Mock::given(matchers::path(format!("/files/{MD5}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("file.json"))
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&upstream)
        .await;
    let (url, _stop) = http_server(&upstream.uri()).await;
    let http = reqwest::Client::new();
    let session = open_session(&http, &url).await;
    let call = tool_call(5, "get_file_report", json!({"file_hash": MD5}), None);

    let first = post(&http, &url, &session, &call).send().await.unwrap();
    assert_eq!(first.status(), 200);
    // The same id again while the first call waits for its upstream answer.
    let second = post(&http, &url, &session, &call).send().await.unwrap();
    assert_eq!(second.status(), 200);
    let refused = tokio::time::timeout(HANG, answer(&mut Events::new(second), 5))
        .await
        .expect("the duplicate was not answered")
        .expect("the duplicate's stream ended without an answer");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    let why = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(why.contains("already in use"), "{refused}");
    // The first request is answered with its result.
    let answered = tokio::time::timeout(HANG, answer(&mut Events::new(first), 5))
        .await
        .expect("the first request was left unanswered")
        .expect("the first request's stream ended without an answer");
    assert_eq!(answered["result"]["isError"], false, "{answered}");
    assert!(
        answered["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("VirusTotal file report"),
        "{answered}"
    );
    assert_eq!(
        upstream.received_requests().await.unwrap().len(),
        1,
        "the duplicate was not run"
    );
    // Once answered, the id may be used again.
    let ping = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});
    let r = post(&http, &url, &session, &ping).send().await.unwrap();
    let pong = tokio::time::timeout(HANG, answer(&mut Events::new(r), 5))
        .await
        .unwrap()
        .expect("ping answered");
    assert!(pong.get("result").is_some(), "{pong}");
}

#[tokio::test]
async fn a_duplicate_request_id_on_stdio_is_refused_and_the_first_is_still_answered() {
    let upstream = MockServer::start().await;
    Mock::given(matchers::path(format!("/files/{MD5}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("file.json"))
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&upstream)
        .await;
    let server = vtmcp::mcp::VtServer::new(&config(&upstream.uri(), &["default"], false)).unwrap();
    // The server side of stdio: newline-delimited JSON-RPC over a byte stream.
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve_with_unique_ids(theirs).await {
            let _ = running.waiting().await;
        }
    });
    let (rd, mut wr) = tokio::io::split(ours);
    let mut lines = tokio::io::BufReader::new(rd).lines();
    let mut send = async |v: Value| {
        wr.write_all(format!("{v}\n").as_bytes()).await.unwrap();
        wr.flush().await.unwrap();
    };
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}))
    .await;
    let init: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(init["id"], 1, "{init}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let call = tool_call(5, "get_file_report", json!({"file_hash": MD5}), None);
    send(call.clone()).await;
    send(call).await;
    let mut answers = vec![];
    tokio::time::timeout(HANG, async {
        while answers.len() < 2 {
            let line = lines.next_line().await.unwrap().expect("stdout closed");
            let m: Value = serde_json::from_str(&line).unwrap();
            if m["id"] == 5 {
                answers.push(m);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("both requests must be answered; got only {answers:?}"));
    let refused = answers.iter().find(|m| m.get("error").is_some());
    let result = answers.iter().find(|m| m.get("result").is_some());
    assert!(
        refused.is_some_and(|m| m["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already in use")),
        "{answers:?}"
    );
    assert!(
        result.is_some_and(|m| m["result"]["isError"] == false),
        "{answers:?}"
    );
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_oversized_chunked_body_in_a_session_gets_413() {
    let (url, _stop) = http_server("http://127.0.0.1:9").await;
    let http = reqwest::Client::new();
    let session = open_session(&http, &url).await;
    // 2 MiB sent chunked (no Content-Length to refuse it by).
    let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
    let chunks = futures::stream::iter(
        std::iter::once(bytes::Bytes::from_static(
            b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\",\"params\":{\"pad\":\"",
        ))
        .chain(std::iter::repeat_n(chunk, 32))
        .map(Ok::<_, std::io::Error>),
    );
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", VERSION)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn a_body_declared_json_that_is_not_gets_400_and_a_wrong_media_type_415() {
    let (url, _stop) = http_server("http://127.0.0.1:9").await;
    let http = reqwest::Client::new();
    let session = open_session(&http, &url).await;
    let send = |body: &'static str, content_type: &'static str, session: Option<&str>| {
        let mut r = http
            .post(&url)
            .header("content-type", content_type)
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", VERSION)
            .body(body);
        if let Some(s) = session {
            r = r.header("mcp-session-id", s.to_string());
        }
        r.send()
    };
    for (session, body, code) in [
        (
            Some(session.as_str()),
            "{\"jsonrpc\": \"2.0\", \"id\": 4, \"method\"",
            -32700,
        ),
        (Some(session.as_str()), "not json at all", -32700),
        (Some(session.as_str()), "{\"hello\": \"world\"}", -32600),
        (
            None,
            "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"initialize\"",
            -32700,
        ),
    ] {
        let r = send(body, "application/json", session).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
    }
    // A body that is not declared JSON is a wrong media type.
    let r = send(
        "{\"jsonrpc\": \"2.0\", \"id\": 4, \"method\": \"ping\"}",
        "text/plain",
        Some(&session),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 415);
    // The session still answers a well-formed request.
    let ping = json!({"jsonrpc": "2.0", "id": 6, "method": "ping"});
    let r = post(&http, &url, &session, &ping).send().await.unwrap();
    assert!(
        tokio::time::timeout(HANG, answer(&mut Events::new(r), 6))
            .await
            .unwrap()
            .is_some()
    );
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(std::time::Instant, ProgressNotificationParam)>>>);

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push((std::time::Instant::now(), params));
    }
}

/// An analysis that stays queued until its `n`-th poll.
struct QueuedUntil(Arc<Mutex<usize>>, usize);

impl Respond for QueuedUntil {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut polls = self.0.lock().unwrap();
        *polls += 1;
        let status = if *polls >= self.1 {
            "completed"
        } else {
            "queued"
        };
        ResponseTemplate::new(200).set_body_json(json!({"data": {"type": "analysis", "id": "u-1",
            "attributes": {"status": status, "stats": {"malicious": 1}}}}))
    }
}

#[tokio::test]
async fn progress_during_an_analysis_wait_has_a_total_and_moves_with_time() {
    let upstream = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/urls"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"type": "analysis", "id": "u-1"}})),
        )
        .mount(&upstream)
        .await;
    Mock::given(matchers::path("/analyses/u-1"))
        .respond_with(QueuedUntil(Arc::default(), 3))
        .mount(&upstream)
        .await;
    Mock::given(matchers::path_regex("^/urls/[A-Za-z0-9_-]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("url.json")))
        .mount(&upstream)
        .await;
    let mut cfg = config(&upstream.uri(), &["default"], true);
    // Polls at about 0 s, 1 s and 2.5 s (the interval grows by half each time).
    cfg.poll_interval = Duration::from_secs(1);
    let server = vtmcp::mcp::VtServer::new(&cfg).unwrap();
    let (s, c) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve_with_unique_ids(s).await {
            let _ = running.waiting().await;
        }
    });
    let recorder = Recorder::default();
    let client = recorder.clone().serve(c).await.unwrap();
    let mut params = CallToolRequestParams::new("scan_url").with_arguments(
        json!({"url": "https://new.example/x", "timeout_seconds": 10})
            .as_object()
            .unwrap()
            .clone(),
    );
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::Number(7),
    )));
    let started = std::time::Instant::now();
    let r = client.call_tool(params).await.unwrap();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let notes = recorder.0.lock().unwrap().clone();
    let values: Vec<(f64, Option<f64>)> =
        notes.iter().map(|(_, p)| (p.progress, p.total)).collect();
    // MCP: values increase with every notification of a request.
    assert!(
        values.windows(2).all(|w| w[1].0 > w[0].0),
        "values must increase: {values:?}"
    );
    let waits: Vec<&(std::time::Instant, ProgressNotificationParam)> = notes
        .iter()
        .filter(|(_, p)| p.message.as_deref().unwrap_or("").contains("analysis u-1"))
        .collect();
    assert!(waits.len() >= 3, "wait notifications: {values:?}");
    for (at, p) in &waits {
        // The total is the wait's timeout (10 s; nothing was reported before the wait).
        let total = p.total.unwrap_or_else(|| panic!("no total: {values:?}"));
        assert!((total - 10.0).abs() < 0.01, "total {total}: {values:?}");
        assert!(p.progress <= total, "{values:?}");
        // The value is the time waited: never ahead of the time since the call began.
        let since_start = at.duration_since(started).as_secs_f64();
        assert!(
            p.progress <= since_start + 0.05,
            "{} > {since_start}: {values:?}",
            p.progress
        );
    }
    // ...and it moves with time: the last one comes about 2 s into the wait.
    let last = waits.last().unwrap().1.progress;
    assert!(
        last >= 1.5,
        "values do not follow the time waited: {values:?}"
    );
    assert!(
        waits
            .iter()
            .any(|(_, p)| p.message.as_deref().unwrap_or("").contains("waited")),
        "no notification between polls: {:?}",
        waits
            .iter()
            .map(|(_, p)| p.message.clone())
            .collect::<Vec<_>>()
    );
}
