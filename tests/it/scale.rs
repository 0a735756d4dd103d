//! Horizontal scale (issue 14, item 6): three real `vtmcp --transport http --stateless`
//! processes on free loopback ports, with a bearer token, sharing one cache store, against a
//! counting mock VirusTotal, driven by a client that sends each call to the next instance (plain
//! JSON-RPC POSTs: a stateless server needs no session).
//!
//! Every scenario takes the store as a URL (`--cache`), so that another backend is one more
//! `#[tokio::test]` calling the same scenario: the second lookup of an object on another
//! instance is a cache hit; the per-minute quota holds across the three; killing one instance
//! loses no call routed to the other two. The limits of the HTTP gate (token, Host with
//! `--allowed-hosts`, Origin, body size, connection cap) are checked once in stateless mode.

use crate::support::{TEST_KEY, mock_vt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

const TOKEN: &str = "scale-test-token-0123456789abcdef";
const ACCEPT: &str = "application/json, text/event-stream";
const VERSION: &str = "2025-06-18";
/// Only detects a hang; every step is expected to take well under it.
const HANG: Duration = Duration::from_secs(20);

/// One `vtmcp` process serving stateless Streamable HTTP; dropping it kills the process.
struct Instance {
    child: Child,
    url: String,
    /// Everything the process wrote on stderr (for failure messages).
    log: Arc<Mutex<String>>,
}

impl Instance {
    /// Starts the binary on `127.0.0.1:0` and reads the address it bound from its stderr.
    fn start(store: &str, upstream: &str, args: &[&str]) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vtmcp"))
            .env_clear()
            .env("VT_API_KEY", TEST_KEY)
            .env("VT_BASE_URL", upstream)
            .env("VTMCP_HTTP_TOKEN", TOKEN)
            .env("VTMCP_CACHE", store)
            .env("VTMCP_TOOLSETS", "default,ip_addresses")
            .env("RUST_LOG", "warn")
            .args([
                "--transport",
                "http",
                "--stateless",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vtmcp");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        // Drains stderr for the life of the process (a full pipe would block it).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("vtmcp: Streamable HTTP on ") {
                    let _ = tx.send(rest.to_string());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let Ok(line) = rx.recv_timeout(HANG) else {
            let _ = child.kill();
            panic!("vtmcp did not start: {}", log.lock().unwrap());
        };
        let Some(url) = line.strip_suffix(" (stateless)") else {
            panic!("not served stateless: {line}");
        };
        let url = url.to_string();
        Instance { child, url, log }
    }

    /// `host:port`.
    fn addr(&self) -> String {
        let rest = self.url.trim_start_matches("http://");
        rest.split('/').next().unwrap_or_default().to_string()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL, by PID, and reaped.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three instances on one store.
fn fleet(store: &str, upstream: &str, args: &[&str]) -> Vec<Instance> {
    let fleet: Vec<Instance> = (0..3)
        .map(|_| Instance::start(store, upstream, args))
        .collect();
    let pids: std::collections::HashSet<u32> = fleet.iter().map(Instance::pid).collect();
    assert_eq!(pids.len(), 3, "three processes");
    fleet
}

/// What a POST brought back: the answer, or (when asked to stop there) the first progress
/// notification of a call that is waiting.
#[derive(Debug)]
enum Reply {
    Answer(Value),
    Progress(Value),
}

/// A JSON-RPC client for stateless servers: a POST per request, the SSE answer read event by
/// event.
struct Client {
    http: reqwest::Client,
    next: AtomicUsize,
    ids: AtomicUsize,
}

impl Client {
    fn new() -> Client {
        Client {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
            next: AtomicUsize::new(0),
            ids: AtomicUsize::new(1),
        }
    }

    /// Sends one request to `url`; reads until its answer, or its first progress notification
    /// when `stop_at_progress`. Dropping the reply closes the connection (the server then
    /// abandons the call).
    async fn send(
        &self,
        url: &str,
        method: &str,
        params: Value,
        stop_at_progress: bool,
    ) -> Result<Reply, reqwest::Error> {
        Ok(self
            .send_holding(url, method, params, stop_at_progress)
            .await?
            .0)
    }

    /// [`Client::send`], keeping the connection (the call, if still running) until the
    /// response returned with the reply is dropped.
    async fn send_holding(
        &self,
        url: &str,
        method: &str,
        params: Value,
        stop_at_progress: bool,
    ) -> Result<(Reply, reqwest::Response), reqwest::Error> {
        let id = self.ids.fetch_add(1, Ordering::SeqCst);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut resp = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("mcp-protocol-version", VERSION)
            .body(body.to_string())
            .send()
            .await?;
        assert_eq!(resp.status(), 200, "{method} on {url}");
        assert!(
            resp.headers().get("mcp-session-id").is_none(),
            "a stateless server opens no session"
        );
        let mut buf = String::new();
        loop {
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                let Ok(message) = serde_json::from_str::<Value>(&data) else {
                    continue;
                };
                if message["id"] == json!(id) {
                    return Ok((Reply::Answer(message), resp));
                }
                if stop_at_progress && message["method"] == "notifications/progress" {
                    return Ok((Reply::Progress(message["params"].clone()), resp));
                }
            }
            match resp.chunk().await? {
                Some(bytes) => buf.push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                None => panic!("the stream ended without an answer to {method}: {buf}"),
            }
        }
    }

    /// A tool call on instance `url`: its result (`result` member of the answer).
    async fn call_on(&self, url: &str, tool: &str, args: Value) -> Result<Value, reqwest::Error> {
        let params = json!({"name": tool, "arguments": args});
        match self.send(url, "tools/call", params, false).await? {
            Reply::Answer(a) => Ok(a["result"].clone()),
            Reply::Progress(_) => unreachable!("not asked to stop at progress"),
        }
    }

    /// A tool call sent to the next instance in turn; an instance that refuses the connection
    /// is passed over (recorded in `refused`) and the call goes to the one after it.
    async fn call(
        &self,
        fleet: &[String],
        tool: &str,
        args: Value,
        refused: &Mutex<Vec<(usize, Duration)>>,
    ) -> (usize, Value) {
        for _ in 0..fleet.len() {
            let i = self.next.fetch_add(1, Ordering::SeqCst) % fleet.len();
            let started = Instant::now();
            match self.call_on(&fleet[i], tool, args.clone()).await {
                Ok(result) => return (i, result),
                Err(e) if e.is_connect() => refused.lock().unwrap().push((i, started.elapsed())),
                Err(e) => panic!("instance {i}: {e}"),
            }
        }
        panic!("no instance answered {tool}");
    }
}

/// The text of a tool result.
fn text(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect()
}

fn is_error(result: &Value) -> bool {
    result["isError"] == json!(true)
}

/// Answers `GET /ip_addresses/{ip}` with an object naming the address (so an answer can be
/// told apart from another address's).
struct IpObject;
impl Respond for IpObject {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let ip = r
            .url
            .path()
            .trim_start_matches("/ip_addresses/")
            .to_string();
        ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "ip_address", "id": ip, "attributes": {
                "as_owner": format!("owner of {ip}"), "country": "ZZ",
                "last_analysis_stats": {"malicious": 0, "undetected": 90}}}}))
    }
}

async fn mount_ips(server: &MockServer) {
    Mock::given(matchers::method("GET"))
        .and(matchers::path_regex("^/ip_addresses/[0-9.]+$"))
        .respond_with(IpObject)
        .mount(server)
        .await;
}

/// A public key's own user object (for `--tier auto`).
async fn mount_public_user(server: &MockServer) {
    Mock::given(matchers::method("GET"))
        .and(matchers::path(format!("/users/{TEST_KEY}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "type": "user", "id": "someone", "attributes": {
                "privileges": {"intelligence": {"granted": false}},
                "quotas": {"api_requests_daily": {"allowed": 500, "used": 0}}}}})))
        .mount(server)
        .await;
}

/// Requests the mock received whose path starts with `prefix`.
async fn upstream(server: &MockServer, prefix: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().starts_with(prefix))
        .count()
}

fn sqlite_store(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("shared.sqlite3").display())
}

fn urls(fleet: &[Instance]) -> Vec<String> {
    fleet.iter().map(|i| i.url.clone()).collect()
}

// ---- The scenarios, each for a store given as a `--cache` URL ----

/// An object looked up on one instance is answered from the shared store by the two others,
/// with no upstream request; every instance lists tools without a session; and the key's tier
/// is detected once per process, not once per request.
async fn a_lookup_on_one_instance_is_a_cache_hit_on_the_others(store: &str) {
    let server = mock_vt().await;
    mount_ips(&server).await;
    mount_public_user(&server).await;
    let fleet = fleet(
        store,
        &server.uri(),
        &["--tier", "auto", "--requests-per-minute", "0"],
    );
    let urls = urls(&fleet);
    let client = Client::new();
    for url in &urls {
        let Reply::Answer(list) = client
            .send(url, "tools/list", json!({}), false)
            .await
            .unwrap()
        else {
            unreachable!()
        };
        let tools = list["result"]["tools"].as_array().unwrap();
        assert!(
            tools.iter().any(|t| t["name"] == "get_ip_address"),
            "tools/list without a session: {list}"
        );
    }
    for k in 0..3 {
        let ip = format!("198.51.100.{k}");
        let path = format!("/ip_addresses/{ip}");
        let first = client
            .call_on(&urls[k], "get_ip_address", json!({"ip": ip}))
            .await
            .unwrap();
        assert!(!is_error(&first), "{}", text(&first));
        assert!(
            text(&first).contains(&format!("owner of {ip}")),
            "{}",
            text(&first)
        );
        assert!(!text(&first).contains("Cache:"), "{}", text(&first));
        assert_eq!(upstream(&server, &path).await, 1, "{path}");
        for other in [(k + 1) % 3, (k + 2) % 3] {
            let again = client
                .call_on(&urls[other], "get_ip_address", json!({"ip": ip}))
                .await
                .unwrap();
            let t = text(&again);
            assert!(!is_error(&again), "{t}");
            assert!(
                t.contains(&format!("owner of {ip}")),
                "the same object: {t}"
            );
            assert!(
                t.contains("Cache: answered from vtmcp's cache"),
                "instance {other} answers from the shared store: {t}"
            );
            assert_eq!(
                upstream(&server, &path).await,
                1,
                "a lookup on instance {other} after one on {k} sends nothing upstream"
            );
        }
    }
    // Tier detection: at most once per process, however many requests they served (the three
    // started together, so each may have asked before another's answer was in the store) …
    let detections = upstream(&server, "/users/").await;
    assert!(
        (1..=3).contains(&detections),
        "tier detection runs at most once per process: {detections}: {}",
        fleet[0].log()
    );
    // … and an instance started once the profile is in the shared store asks nothing.
    let late = Instance::start(store, &server.uri(), &["--tier", "auto"]);
    let Reply::Answer(list) = client
        .send(&late.url, "tools/list", json!({}), false)
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert!(list["result"]["tools"].is_array(), "{list}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        upstream(&server, "/users/").await,
        detections,
        "the late instance recalled the key's profile from the store: {}",
        late.log()
    );
}

/// With `--requests-per-minute 2`, a burst of 7 distinct lookups spread over the three sends
/// exactly 2 upstream: 2 are answered, the others are held for a slot a minute or two away
/// (the limiter's maximum wait is 2 minutes, [`vtmcp::client::RateLimit::DEFAULT_MAX_WAIT`];
/// the client sees them waiting through progress notifications, then gives up) or, past that
/// maximum, refused at once. Abandoned waits never reach VirusTotal.
async fn the_per_minute_quota_holds_across_the_instances(store: &str) {
    let server = mock_vt().await;
    mount_ips(&server).await;
    let fleet = fleet(
        store,
        &server.uri(),
        &["--tier", "public", "--requests-per-minute", "2"],
    );
    let urls = urls(&fleet);
    let client = Arc::new(Client::new());
    let calls = (0..7).map(|n| {
        let client = client.clone();
        let url = urls[n % 3].clone();
        async move {
            let params = json!({"name": "get_ip_address",
                "arguments": {"ip": format!("203.0.113.{n}")},
                "_meta": {"progressToken": format!("burst-{n}")}});
            let sent = client.send_holding(&url, "tools/call", params, true);
            let (reply, held) = tokio::time::timeout(HANG, sent)
                .await
                .expect("every call is answered or reports its wait")
                .unwrap();
            (n, reply, held)
        }
    });
    // Every connection stays open until all seven are classified: a waiting call that is
    // abandoned gives its slot back, which would let a later one in sooner.
    let (replies, connections): (Vec<_>, Vec<_>) = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|(n, reply, held)| ((n, reply), held))
        .unzip();
    let (mut answered, mut next_minute, mut minute_after, mut refused) = (0, 0, 0, 0);
    for (n, reply) in &replies {
        match reply {
            Reply::Answer(a) => {
                let t = text(&a["result"]);
                if is_error(&a["result"]) {
                    assert!(
                        t.contains("was not sent") && t.contains("2 requests per minute"),
                        "call {n}: {t}"
                    );
                    refused += 1;
                } else {
                    assert!(
                        t.contains(&format!("owner of 203.0.113.{n}")),
                        "call {n}: {t}"
                    );
                    answered += 1;
                }
            }
            Reply::Progress(p) => {
                let message = p["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("waiting") && message.contains("rate limit"),
                    "call {n}: {p}"
                );
                match p["total"].as_f64().unwrap_or(0.0) {
                    t if (50.0..=60.0).contains(&t) => next_minute += 1,
                    t if (110.0..=120.0).contains(&t) => minute_after += 1,
                    _ => panic!("call {n} waits for neither minute: {p}"),
                }
            }
        }
    }
    let counts = (answered, next_minute, minute_after, refused);
    // The calls due in two minutes sit at the limiter's maximum wait: each is held or refused
    // by milliseconds, but at most two fit there and the seventh never does.
    assert_eq!((answered, next_minute), (2, 2), "{counts:?}: {replies:?}");
    assert_eq!(minute_after + refused, 3, "{counts:?}: {replies:?}");
    assert!(minute_after <= 2 && refused >= 1, "{counts:?}: {replies:?}");
    assert_eq!(
        upstream(&server, "/ip_addresses/").await,
        2,
        "2 per minute in all"
    );
    // The held calls are abandoned (their connections closed): their slots go back, and
    // nothing more goes upstream.
    drop(connections);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(upstream(&server, "/ip_addresses/").await, 2);
}

/// Killing one instance (SIGKILL) while calls are in flight on the others loses none of them;
/// later calls sent to the dead one fail at once with a connection error, and the client moves
/// on to the next instance, which answers.
async fn killing_an_instance_loses_no_call_routed_to_the_others(store: &str) {
    let server = mock_vt().await;
    // Slow answers for the calls in flight at the kill.
    Mock::given(matchers::method("GET"))
        .and(matchers::path_regex("^/ip_addresses/192\\.0\\.2\\.[0-9]+$"))
        .respond_with(IpObjectAfter(Duration::from_millis(1500)))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_ips(&server).await;
    let mut fleet = fleet(
        store,
        &server.uri(),
        &["--tier", "public", "--requests-per-minute", "0"],
    );
    let urls = urls(&fleet);
    let client = Arc::new(Client::new());
    let refused = Arc::new(Mutex::new(Vec::new()));
    let check = |ip: &str, (i, result): &(usize, Value)| {
        let t = text(result);
        assert!(!is_error(result), "instance {i}: {t}");
        assert!(t.contains(&format!("owner of {ip}")), "instance {i}: {t}");
    };
    for n in 0..6 {
        let ip = format!("198.51.100.{}", 10 + n);
        let answer = client
            .call(&urls, "get_ip_address", json!({"ip": ip}), &refused)
            .await;
        check(&ip, &answer);
    }
    // One slow call in flight on each instance, then instance 2 is killed.
    let in_flight: Vec<_> = (0..3)
        .map(|i| {
            let client = client.clone();
            let url = urls[i].clone();
            tokio::spawn(async move {
                let ip = format!("192.0.2.{i}");
                let r = client
                    .call_on(&url, "get_ip_address", json!({"ip": ip}))
                    .await;
                (ip, r)
            })
        })
        .collect();
    let deadline = Instant::now() + HANG;
    while upstream(&server, "/ip_addresses/192.0.2.").await < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        upstream(&server, "/ip_addresses/192.0.2.").await,
        3,
        "all three in flight"
    );
    fleet[2].kill();
    for n in 0..12 {
        let ip = format!("198.51.100.{}", 20 + n);
        let answer = client
            .call(&urls, "get_ip_address", json!({"ip": ip}), &refused)
            .await;
        assert_ne!(answer.0, 2, "the dead instance answers nothing");
        check(&ip, &answer);
    }
    for (i, task) in in_flight.into_iter().enumerate() {
        let (ip, r) = tokio::time::timeout(HANG, task)
            .await
            .expect("no hang")
            .unwrap();
        match (i, r) {
            (2, r) => assert!(r.is_err(), "the killed instance's call is cut off: {r:?}"),
            (_, Ok(result)) => check(&ip, &(i, result)),
            (_, Err(e)) => panic!("instance {i}'s call in flight at the kill was lost: {e}"),
        }
    }
    // The calls whose turn fell on instance 2 after the kill: refused at once, then answered
    // by the next one.
    let refused = refused.lock().unwrap().clone();
    assert!(!refused.is_empty(), "the dead instance's turns came up");
    for (i, took) in refused {
        assert_eq!(i, 2);
        assert!(
            took < Duration::from_secs(1),
            "a dead instance fails fast: {took:?}"
        );
    }
    assert_eq!(
        upstream(&server, "/ip_addresses/198.51.100.").await,
        18,
        "one request per call"
    );
}

/// [`IpObject`], answered after a delay.
struct IpObjectAfter(Duration);
impl Respond for IpObjectAfter {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        IpObject.respond(r).set_delay(self.0)
    }
}

// ---- SQLite: one file shared by the three (instances on one host) ----

#[tokio::test]
async fn sqlite_a_lookup_on_one_instance_is_a_cache_hit_on_the_others() {
    let dir = tempfile::tempdir().unwrap();
    a_lookup_on_one_instance_is_a_cache_hit_on_the_others(&sqlite_store(&dir)).await;
}

#[tokio::test]
async fn sqlite_the_per_minute_quota_holds_across_the_instances() {
    let dir = tempfile::tempdir().unwrap();
    the_per_minute_quota_holds_across_the_instances(&sqlite_store(&dir)).await;
}

#[tokio::test]
async fn sqlite_killing_an_instance_loses_no_call_routed_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    killing_an_instance_loses_no_call_routed_to_the_others(&sqlite_store(&dir)).await;
}

#[tokio::test]
async fn redis_a_lookup_on_one_instance_is_a_cache_hit_on_the_others() {
    let Some(redis) = crate::support::redis::start(None) else {
        return;
    };
    a_lookup_on_one_instance_is_a_cache_hit_on_the_others(&redis.url()).await;
}

#[tokio::test]
async fn redis_the_per_minute_quota_holds_across_the_instances() {
    let Some(redis) = crate::support::redis::start(None) else {
        return;
    };
    the_per_minute_quota_holds_across_the_instances(&redis.url()).await;
}

#[tokio::test]
async fn redis_killing_an_instance_loses_no_call_routed_to_the_others() {
    let Some(redis) = crate::support::redis::start(None) else {
        return;
    };
    killing_an_instance_loses_no_call_routed_to_the_others(&redis.url()).await;
}

// ---- The HTTP gate in stateless mode ----

/// A raw request on a fresh connection; the status code and the whole answer.
async fn raw(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(HANG, s.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out).to_string();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn tools_list_head(addr: &str, extra: &str, len: usize) -> String {
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: {ACCEPT}\r\nMCP-Protocol-Version: {VERSION}\r\n{extra}Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

/// Token, Host, Origin, body size, GET/DELETE and the connection cap, on a stateless instance.
#[tokio::test]
async fn the_gate_holds_in_stateless_mode() {
    let server = mock_vt().await;
    let dir = tempfile::tempdir().unwrap();
    let one = Instance::start(
        &sqlite_store(&dir),
        &server.uri(),
        &[
            "--tier",
            "public",
            "--allowed-hosts",
            "vtmcp.internal,lb.internal:8080",
        ],
    );
    let addr = one.addr();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");
    let http = reqwest::Client::new();
    let post = |auth: Option<String>, origin: Option<&str>, body: String| {
        let mut r = http
            .post(&one.url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", VERSION)
            .body(body);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    let good = || Some(format!("Bearer {TOKEN}"));
    let ok = post(good(), Some("http://localhost:3000"), list.clone())
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("mcp-session-id").is_none());
    assert!(ok.text().await.unwrap().contains("get_ip_address"));
    // No token, a wrong one.
    assert_eq!(post(None, None, list.clone()).await.unwrap().status(), 401);
    let wrong = Some(format!("Bearer {TOKEN}X"));
    assert_eq!(post(wrong, None, list.clone()).await.unwrap().status(), 401);
    // A foreign Origin, a foreign Host.
    let foreign = post(good(), Some("https://evil.example"), list.clone())
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let head = tools_list_head(&addr, &bearer, list.len());
    for host in [
        "evil.example",
        "vtmcp.internal.evil.example",
        "lb.internal:8081",
    ] {
        let foreign = raw(&addr, &head.replace(&addr, host), list.as_bytes()).await;
        assert_eq!(foreign.0, 403, "{host}: {}", foreign.1);
    }
    // The names given with --allowed-hosts (a load balancer's, a container's) pass.
    for host in ["vtmcp.internal", "vtmcp.internal:8765", "lb.internal:8080"] {
        let named = raw(&addr, &head.replace(&addr, host), list.as_bytes()).await;
        assert_eq!(named.0, 200, "{host}: {}", named.1);
    }
    // A body over the limit.
    // (Its own client: the server closes a connection whose body it did not read, and a pooled
    // connection would be reused after that.)
    let huge = json!({"jsonrpc": "2.0", "id": 2, "method": "ping",
        "params": {"pad": "x".repeat(vtmcp::http::MAX_BODY_BYTES as usize + 1)}});
    let r = reqwest::Client::new()
        .post(&one.url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(huge.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // No stream to open or resume, no session to end.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = http
            .request(method.clone(), &one.url)
            .header("accept", "text/event-stream")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("mcp-session-id", "anything")
            .header("last-event-id", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], "POST", "{method}");
    }
    // The connection cap (2), on an instance of its own: two connections that sent an admitted
    // request and stay open keep their places; a third is closed at once.
    let capped = Instance::start(
        &sqlite_store(&dir),
        &server.uri(),
        &["--tier", "public", "--max-connections", "2"],
    );
    let addr = capped.addr();
    let keep_head =
        tools_list_head(&addr, &bearer, list.len()).replace("Connection: close\r\n", "");
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(keep_head.as_bytes()).await.unwrap();
        s.write_all(list.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        while !String::from_utf8_lossy(&got).contains("\r\n0\r\n\r\n") {
            let n = tokio::time::timeout(HANG, s.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "answered: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        kept.push(s);
    }
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = third.write_all(keep_head.as_bytes()).await;
    let mut out = Vec::new();
    let closed = tokio::time::timeout(HANG, third.read_to_end(&mut out)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "a third connection is closed unanswered: {}",
        String::from_utf8_lossy(&out)
    );
    // The kept ones still serve.
    let s = &mut kept[0];
    s.write_all(keep_head.as_bytes()).await.unwrap();
    s.write_all(list.as_bytes()).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(HANG, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        capped.log()
    );
}

/// `--max-sessions` has no meaning without sessions: given with `--stateless` (flag or
/// environment), start-up stops and says so; `--stateless` on stdio too.
#[test]
fn stateless_refuses_what_it_cannot_honour() {
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vtmcp"))
            .env_clear()
            .env("VTMCP_CACHE", "off")
            .envs(envs.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} {envs:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = run(
        &["--transport", "http", "--stateless", "--max-sessions", "5"],
        &[],
    );
    assert!(
        e.contains("--max-sessions") && e.contains("--stateless"),
        "{e}"
    );
    let e = run(
        &["--transport", "http"],
        &[("VTMCP_STATELESS", "true"), ("VTMCP_MAX_SESSIONS", "5")],
    );
    assert!(
        e.contains("--max-sessions") && e.contains("--stateless"),
        "{e}"
    );
    let e = run(&["--stateless"], &[]);
    assert!(
        e.contains("--stateless") && e.contains("--transport http"),
        "{e}"
    );
}
