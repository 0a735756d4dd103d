//! `--tier auto` (issue 14, item 4): the server lists the public set at once, asks VirusTotal
//! for the key's user object in the background, and when the key has more it announces the
//! larger set with `notifications/tools/list_changed` — to an rmcp client in process, to the
//! real binary's stdio client, and to a Streamable HTTP session (whose later sessions see the
//! larger set from the start). A public key's set stays; a failed detection (500, 401, no
//! answer in time, an answer without privileges) keeps the public set and says why; an explicit
//! `--tier` sends nothing to `/users`. `vtmcp tools` detects before listing.
//!
//! The user object's answer is held back by a loopback upstream until the test releases it,
//! so that the order of events (listed before, announced after) is the test's, not the
//! scheduler's.

use crate::support::TEST_KEY;
use crate::support::mcp::config;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vtmcp::config::Config;
use vtmcp::mcp::VtServer;
use vtmcp::mcp::tier::TierStatus;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

/// Only detects a hang; every step is expected to take well under it.
const HANG: Duration = Duration::from_secs(20);

/// Toolsets whose premium and licensed tools show whether detection took effect.
const TOOLSETS: &[&str] = &["default", "intelligence", "hunting", "feeds"];

/// Tools a premium key with a URL feed gets, beyond the public set.
const PREMIUM_TOOLS: &[&str] = &[
    "intelligence_search",
    "list_hunting_rulesets",
    "get_url_feed_batch",
];

/// A premium key's user object, shaped as VirusTotal documents it (privileges with `granted`,
/// inherited ones, an expiry in the future; quotas with `allowed` and `used`); `apikey` echoes
/// the key, as VirusTotal's does.
fn premium_user() -> Value {
    json!({"data": {"type": "user", "id": "analyst", "links": {"self": "https://www.virustotal.com/api/v3/users/analyst"},
    "attributes": {
        "apikey": TEST_KEY, "first_name": "Ana", "status": "active", "user_since": 1557214525,
        "privileges": {
            "intelligence": {"granted": true},
            "livehunt": {"granted": true, "inherited_from": "intelligence", "inherited_via": "privilege"},
            "downloads-tier-2": {"granted": true, "expiration_date": 4102444800u64},
            "url-feed": {"granted": true},
            "file-feed": {"granted": false},
            "monitor": {"granted": false}
        },
        "quotas": {
            "api_requests_daily": {"allowed": 20000, "used": 5},
            "api_requests_hourly": {"allowed": 60000, "used": 1},
            "api_requests_monthly": {"allowed": 600000, "used": 100}
        }
    }}})
}

/// A free key's user object: privileges present, none granted.
fn public_user() -> Value {
    json!({"data": {"type": "user", "id": "hobbyist", "attributes": {
        "apikey": TEST_KEY, "status": "active",
        "privileges": {"intelligence": {"granted": false}, "downloads-tier-1": {"granted": false}},
        "quotas": {"api_requests_daily": {"allowed": 500, "used": 3}, "api_requests_monthly": {"allowed": 15500, "used": 40}}
    }}})
}

/// Records `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct Recorder {
    changes: Arc<AtomicUsize>,
    heard: Arc<tokio::sync::Notify>,
}

impl ClientHandler for Recorder {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.heard.notify_one();
    }
}

impl Recorder {
    async fn wait_for_change(&self) {
        tokio::time::timeout(HANG, self.heard.notified())
            .await
            .expect("notifications/tools/list_changed never came");
    }

    fn changes(&self) -> usize {
        self.changes.load(Ordering::SeqCst)
    }
}

/// A VirusTotal stand-in on loopback: the user object is answered (with `status` and `body`)
/// only once the test calls [`Held::release`]; any other path answers an empty page at once.
/// Records every request's path and whether it carried the key.
struct Held {
    base: String,
    gate: tokio::sync::watch::Sender<bool>,
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

impl Held {
    async fn start(status: u16, body: Value) -> Held {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (gate, open) = tokio::sync::watch::channel(false);
        let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let log = seen.clone();
        let body = body.to_string();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (mut open, log, body) = (open.clone(), log.clone(), body.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let keyed = head.lines().any(|l| {
                        l.to_ascii_lowercase().starts_with("x-apikey:") && l.ends_with(TEST_KEY)
                    });
                    log.lock().unwrap().push((path.clone(), keyed));
                    let (status, body) = if path.starts_with("/users/") {
                        let _ = open.wait_for(|o| *o).await;
                        (status, body)
                    } else {
                        (200, r#"{"data": []}"#.to_string())
                    };
                    let answer = format!(
                        "HTTP/1.1 {status} Answer\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Held { base, gate, seen }
    }

    fn release(&self) {
        self.gate.send_replace(true);
    }

    fn requests(&self) -> Vec<(String, bool)> {
        self.seen.lock().unwrap().clone()
    }
}

fn auto(base: &str) -> Config {
    config(base, TOOLSETS, &["auto"], false, false)
}

fn names(tools: &[rmcp::model::Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

/// An rmcp client that records list changes, on an in-process server (over a duplex).
async fn connect(server: &VtServer) -> (RunningService<RoleClient, Recorder>, Recorder) {
    let (s, c) = tokio::io::duplex(1 << 20);
    let server = server.clone();
    tokio::spawn(async move {
        if let Ok(running) = server.serve_with_unique_ids(s).await {
            let _ = running.waiting().await;
        }
    });
    let recorder = Recorder::default();
    let client = recorder.clone().serve(c).await.unwrap();
    (client, recorder)
}

async fn listed(client: &RunningService<RoleClient, Recorder>) -> Vec<String> {
    names(&client.list_all_tools().await.unwrap())
}

async fn settled(server: &VtServer) -> TierStatus {
    tokio::time::timeout(HANG, server.tier_settled())
        .await
        .expect("detection never finished")
        .clone()
}

/// The tools the same toolsets list with a key given as public.
fn public_set() -> Vec<String> {
    let server = VtServer::new(&config("http://127.0.0.1:9", TOOLSETS, &[], false, false)).unwrap();
    names(server.listed_tools())
}

#[tokio::test]
async fn a_premium_keys_tools_appear_after_list_changed_without_any_flag() {
    let upstream = Held::start(200, premium_user()).await;
    // The pacing presets, not the tests' "none".
    let server = VtServer::new(&Config {
        rate_limit: None,
        ..auto(&upstream.base)
    })
    .unwrap();
    let (client, recorder) = connect(&server).await;
    // Initialized while VirusTotal has not answered: the public set, and the instructions say
    // why and what will happen.
    let instructions = client.peer_info().unwrap().instructions.clone().unwrap();
    assert!(
        instructions.contains("asking VirusTotal what the key can do")
            && instructions.contains("notifications/tools/list_changed"),
        "{instructions}"
    );
    assert!(
        client
            .peer_info()
            .unwrap()
            .capabilities
            .tools
            .as_ref()
            .and_then(|t| t.list_changed)
            == Some(true),
        "listChanged is declared"
    );
    let before = listed(&client).await;
    assert_eq!(before, public_set());
    for t in PREMIUM_TOOLS {
        assert!(
            !before.contains(&t.to_string()),
            "{t} listed before detection"
        );
    }
    assert_eq!(recorder.changes(), 0);

    upstream.release();
    recorder.wait_for_change().await;
    let after = listed(&client).await;
    for t in PREMIUM_TOOLS {
        assert!(
            after.contains(&t.to_string()),
            "{t} missing after detection"
        );
    }
    // Monitor was not granted, file-feed was not, licences stay out.
    assert!(!after.contains(&"list_monitor_items".to_string()));
    assert!(before.iter().all(|t| after.contains(t)));

    // One request, for the key's own user object, with the key in its header.
    let requests = upstream.requests();
    assert_eq!(requests, [(format!("/users/{TEST_KEY}"), true)]);

    // What was detected is on the server: tiers, the privileges that gave them, the quotas,
    // and the pacing the limiter should switch to.
    let TierStatus::Detected(profile) = server.tier_status() else {
        panic!("{:?}", server.tier_status());
    };
    assert_eq!(
        profile.evidence,
        ["downloads-tier-2", "intelligence", "livehunt", "url-feed"]
    );
    let quotas = server.key_quotas().unwrap();
    assert_eq!(
        (
            quotas.daily.unwrap().allowed,
            quotas.hourly.unwrap().allowed,
            quotas.monthly.unwrap().allowed
        ),
        (20000, 60000, 600000)
    );
    // The limiter now paces as the key allows: no per-minute spacing for premium, and the day
    // and month allowances VirusTotal stated for the key.
    let pacing = server.pacing_for_detected_key().unwrap();
    assert_eq!(
        (
            pacing.requests_per_minute(),
            pacing.requests_per_day(),
            pacing.requests_per_month()
        ),
        (None, Some(20000), Some(600000))
    );
    assert_eq!(server.client().rate_limiter().limit(), pacing);
    // A session initialized now is told what was detected, and lists the larger set at once.
    let (late, late_recorder) = connect(&server).await;
    let told = late.peer_info().unwrap().instructions.clone().unwrap();
    assert!(
        told.contains("tier: public, premium, feeds (detected from the key: privileges downloads-tier-2, intelligence, livehunt, url-feed; quotas: 20000/day, 60000/hour, 600000/month)"),
        "{told}"
    );
    assert!(!told.contains(TEST_KEY));
    assert_eq!(listed(&late).await, after);
    assert_eq!(late_recorder.changes(), 0);
    assert_eq!(upstream.requests().len(), 1, "detected once per server");
}

#[tokio::test]
async fn what_was_detected_is_remembered_for_a_day_in_the_cache() {
    let upstream = Held::start(200, premium_user()).await;
    upstream.release();
    let dir = tempfile::tempdir().unwrap();
    let cached = |ttl: Option<&str>| {
        let mut cache = vtmcp::cache::CacheConfig::sqlite(dir.path().join("c.sqlite3"));
        if let Some(t) = ttl {
            cache.ttl = cache.ttl.with_overrides(t).unwrap();
        }
        VtServer::new(&Config {
            cache,
            ..auto(&upstream.base)
        })
        .unwrap()
    };
    // The first server asks VirusTotal and keeps what it learned.
    let first = cached(None);
    let TierStatus::Detected(learned) = settled(&first).await else {
        panic!("{:?}", first.tier_status());
    };
    assert_eq!(learned.remembered, None);
    assert_eq!(upstream.requests().len(), 1);
    // A second (a restart, another process on the same file) asks nothing and lists the same.
    let second = cached(None);
    let TierStatus::Detected(recalled) = settled(&second).await else {
        panic!("{:?}", second.tier_status());
    };
    assert_eq!(upstream.requests().len(), 1, "remembered, not asked again");
    assert!(recalled.remembered.is_some());
    assert_eq!(
        (&recalled.tiers, &recalled.evidence, &recalled.quotas),
        (&learned.tiers, &learned.evidence, &learned.quotas)
    );
    assert_eq!(names(second.listed_tools()), names(first.listed_tools()));
    let line = second.tier_status().describe(second.tiers());
    assert!(
        line.contains("(detected from the key, remembered from ")
            && line.contains(" ago: privileges downloads-tier-2"),
        "{line}"
    );
    // The stored profile holds neither the key nor the user object.
    let bytes = std::fs::read(dir.path().join("c.sqlite3")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains(TEST_KEY) && !text.contains("Ana"),
        "the key or the user object was stored"
    );
    // With the profile's lifetime off, the key is asked again.
    let third = cached(Some("key_profile=off"));
    settled(&third).await;
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test]
async fn a_call_to_a_premium_tool_during_detection_waits_for_it() {
    let upstream = Held::start(200, premium_user()).await;
    let server = VtServer::new(&auto(&upstream.base)).unwrap();
    let (client, recorder) = connect(&server).await;
    let call = {
        let peer = client.peer().clone();
        tokio::spawn(async move {
            peer.call_tool(
                CallToolRequestParams::new("list_hunting_rulesets")
                    .with_arguments(json!({}).as_object().unwrap().clone()),
            )
            .await
            .unwrap()
        })
    };
    // The call waits rather than being refused: it has not finished while VirusTotal has not
    // answered the detection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "the call did not wait for detection");
    upstream.release();
    let result = tokio::time::timeout(HANG, call).await.unwrap().unwrap();
    let text = crate::support::mcp::text(&result);
    assert_eq!(result.is_error, Some(false), "{text}");
    recorder.wait_for_change().await;
    let paths: Vec<String> = upstream.requests().into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths[0], format!("/users/{TEST_KEY}"));
    assert!(
        paths[1].starts_with("/intelligence/hunting_rulesets"),
        "{paths:?}"
    );
}

#[tokio::test]
async fn a_public_keys_set_stays_and_no_change_is_announced() {
    let upstream = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path(format!("/users/{TEST_KEY}")))
        .and(matchers::header("x-apikey", TEST_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(public_user()))
        .expect(1)
        .mount(&upstream)
        .await;
    let server = VtServer::new(&Config {
        rate_limit: None,
        ..auto(&upstream.uri())
    })
    .unwrap();
    let (client, recorder) = connect(&server).await;
    let before = listed(&client).await;
    let TierStatus::Detected(profile) = settled(&server).await else {
        panic!("{:?}", server.tier_status());
    };
    assert!(profile.evidence.is_empty());
    // Any announcement would have been sent when detection ended; give it time to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(listed(&client).await, before);
    assert_eq!(before, public_set());
    assert_eq!(recorder.changes(), 0, "nothing changed, nothing announced");
    assert!(
        server.instructions().contains(
            "tier: public (detected from the key: no premium privileges or licences; quotas: 500/day, 15500/month)"
        ),
        "{}",
        server.instructions()
    );
    assert!(
        server
            .instructions()
            .contains("A public key allows 4 requests per minute")
    );
    let pacing = server.pacing_for_detected_key().unwrap();
    assert_eq!(
        (
            pacing.requests_per_minute(),
            pacing.requests_per_day(),
            pacing.requests_per_month()
        ),
        (Some(4), Some(500), Some(15500))
    );
    assert_eq!(server.client().rate_limiter().limit(), pacing);
}

#[tokio::test]
async fn a_failed_detection_keeps_the_public_set_and_says_why() {
    let wrong_key = json!({"error": {"code": "WrongCredentialsError", "message": "Wrong API key"}});
    let no_privileges =
        json!({"data": {"type": "user", "id": "someone", "attributes": {"first_name": "A"}}});
    let cases: Vec<(u16, Value, &str)> = vec![
        (
            500,
            json!({"error": {"code": "InternalError", "message": "boom"}}),
            "VirusTotal answered HTTP 500",
        ),
        (
            401,
            wrong_key,
            "VirusTotal answered HTTP 401 WrongCredentialsError",
        ),
        (200, no_privileges, "the user object has no privileges"),
        (
            403,
            json!({"error": {"code": "ForbiddenError", "message": "no"}}),
            "VirusTotal answered HTTP 403 ForbiddenError",
        ),
    ];
    for (status, body, reason) in cases {
        let upstream = MockServer::start().await;
        Mock::given(matchers::path(format!("/users/{TEST_KEY}")))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .expect(1)
            .mount(&upstream)
            .await;
        let server = VtServer::new(&auto(&upstream.uri())).unwrap();
        let (client, recorder) = connect(&server).await;
        let TierStatus::Failed(why) = settled(&server).await else {
            panic!("{status}: {:?}", server.tier_status());
        };
        assert!(why.contains(reason), "{status}: {why}");
        assert_failed_publicly(&server, &why);
        assert_eq!(listed(&client).await, public_set(), "{status}");
        assert_eq!(recorder.changes(), 0);
    }
}

#[tokio::test]
async fn a_detection_without_an_answer_in_time_keeps_the_public_set() {
    // Held back for good: the answer never comes within the detection timeout.
    let upstream = Held::start(200, premium_user()).await;
    let server = VtServer::new(&Config {
        tier_detection_timeout: Duration::from_millis(300),
        ..auto(&upstream.base)
    })
    .unwrap();
    let (client, _recorder) = connect(&server).await;
    let TierStatus::Failed(why) = settled(&server).await else {
        panic!("{:?}", server.tier_status());
    };
    assert!(why.contains("VirusTotal did not answer within"), "{why}");
    assert_failed_publicly(&server, &why);
    assert_eq!(listed(&client).await, public_set());
    // A late answer changes nothing: detection is over.
    upstream.release();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(matches!(server.tier_status(), TierStatus::Failed(_)));
}

/// The public set with the failure in the instructions, never the key.
fn assert_failed_publicly(server: &VtServer, why: &str) {
    assert_eq!(names(server.listed_tools()), public_set());
    assert!(server.key_quotas().is_none());
    assert!(server.pacing_for_detected_key().is_none());
    let told = server.instructions();
    assert!(
        told.contains(&format!(
            "tier: public (detection failed: {why}; pass --tier to set it)"
        )),
        "{told}"
    );
    assert!(!told.contains(TEST_KEY), "{told}");
}

#[tokio::test]
async fn an_explicit_tier_sends_nothing_to_users() {
    let upstream = MockServer::start().await;
    Mock::given(matchers::path_regex("^/users/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(premium_user()))
        .expect(0)
        .mount(&upstream)
        .await;
    for tiers in [&["public"][..], &["premium"], &[]] {
        let server =
            VtServer::new(&config(&upstream.uri(), TOOLSETS, tiers, false, false)).unwrap();
        server.start_tier_detection();
        let (client, _recorder) = connect(&server).await;
        assert_eq!(settled(&server).await, TierStatus::Given);
        let list = listed(&client).await;
        assert_eq!(
            list.contains(&"intelligence_search".to_string()),
            tiers == ["premium"],
            "{tiers:?}"
        );
        assert!(
            server.instructions().contains("(given with --tier)"),
            "{}",
            server.instructions()
        );
    }
    // `auto` without a key has nothing to ask about.
    let server = VtServer::new(&Config {
        api_key: None,
        ..auto(&upstream.uri())
    })
    .unwrap();
    server.start_tier_detection();
    assert_eq!(settled(&server).await, TierStatus::NoKey);
    assert!(
        server
            .instructions()
            .contains("no API key to detect the tier from")
    );
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP: every session initialized before detection is told; later ones list the
// larger set from the start.

const ACCEPT: &str = "application/json, text/event-stream";
const VERSION: &str = "2025-06-18";

/// The JSON-RPC messages in an SSE body (or a plain JSON body).
fn messages(body: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return vec![v];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

/// Sends one JSON-RPC message in `session` (none: a new one) and returns the session id and
/// the answer's messages.
async fn rpc(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> (String, Vec<Value>) {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", VERSION);
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let r = tokio::time::timeout(HANG, req.body(body.to_string()).send())
        .await
        .unwrap()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let id = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(session.map(str::to_string))
        .unwrap();
    let text = tokio::time::timeout(HANG, r.text()).await.unwrap().unwrap();
    (id, messages(&text))
}

/// Opens a session: its id and the instructions it was given.
async fn open_session(http: &reqwest::Client, url: &str) -> (String, String) {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let (session, answer) = rpc(http, url, None, init).await;
    let instructions = answer[0]["result"]["instructions"]
        .as_str()
        .unwrap()
        .to_string();
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    rpc(http, url, Some(&session), done).await;
    (session, instructions)
}

async fn http_tools(http: &reqwest::Client, url: &str, session: &str) -> Vec<String> {
    let (_, answer) = rpc(
        http,
        url,
        Some(session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    answer[0]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn http_sessions_hear_of_the_larger_set_and_later_ones_start_with_it() {
    let upstream = Held::start(200, premium_user()).await;
    let server = VtServer::new(&auto(&upstream.base)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(vtmcp::http::serve_listener(
        server.clone(),
        listener,
        vtmcp::http::Options::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::new();
    let (first, told) = open_session(&http, &url).await;
    assert!(told.contains("asking VirusTotal"), "{told}");
    assert_eq!(http_tools(&http, &url, &first).await, public_set());
    // The session's stream for messages outside requests, where the announcement comes.
    let mut stream = tokio::time::timeout(
        HANG,
        http.get(&url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &first)
            .header("mcp-protocol-version", VERSION)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(stream.status(), 200);
    upstream.release();
    let mut seen = String::new();
    let announced = tokio::time::timeout(HANG, async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if messages(&seen)
                .iter()
                .any(|m| m["method"] == "notifications/tools/list_changed")
            {
                return;
            }
        }
        panic!("the stream ended without the announcement: {seen}");
    })
    .await;
    assert!(announced.is_ok(), "no announcement: {seen}");
    let after = http_tools(&http, &url, &first).await;
    for t in PREMIUM_TOOLS {
        assert!(after.contains(&t.to_string()), "{t}");
    }
    // A session opened now starts with the larger set and is told where it comes from.
    let (second, told) = open_session(&http, &url).await;
    assert!(told.contains("detected from the key"), "{told}");
    assert_eq!(http_tools(&http, &url, &second).await, after);
    assert_eq!(upstream.requests().len(), 1);
    drop(stop);
}

// ---------------------------------------------------------------------------------------------
// The real binary.

fn binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"));
    cmd.env_clear()
        .env("VT_API_KEY", TEST_KEY)
        // Not the user's cache file (`dirs` finds the home directory without HOME too).
        .env("VTMCP_CACHE", "off")
        .env("RUST_LOG", "trace");
    cmd
}

async fn user_mock(status: u16, body: Value) -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(matchers::path(format!("/users/{TEST_KEY}")))
        .and(matchers::header("x-apikey", TEST_KEY))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&upstream)
        .await;
    upstream
}

fn tool_names(stdout: &[u8]) -> Vec<String> {
    let tools: Vec<Value> = serde_json::from_slice(stdout).unwrap();
    tools
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn vtmcp_tools_detects_the_key_before_listing() {
    let upstream = user_mock(200, premium_user()).await;
    // No --tier and no VT_TIER: auto is the default.
    let out = binary()
        .args(["tools", "--json", "--toolsets", &TOOLSETS.join(",")])
        .env("VT_BASE_URL", upstream.uri())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let names = tool_names(&out.stdout);
    for t in PREMIUM_TOOLS {
        assert!(names.contains(&t.to_string()), "{t}: {names:?}");
    }
    assert!(
        stderr.contains("tier: public, premium, feeds (detected from the key: privileges downloads-tier-2, intelligence, livehunt, url-feed; quotas: 20000/day, 60000/hour, 600000/month)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "trace logging was on"
    );
    assert!(!stderr.contains(TEST_KEY), "the key leaked: {stderr}");
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
    // An empty VT_TIER (MCP client configurations carry them) is the default too.
    let out = binary()
        .args(["tools", "--toolsets", "intelligence"])
        .env("VT_BASE_URL", upstream.uri())
        .env("VT_TIER", "")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tier: public, premium, feeds (detected from the key"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("intelligence_search"));
    assert_eq!(upstream.received_requests().await.unwrap().len(), 2);

    // VirusTotal refuses the key: the public set, and the reason.
    let refused = user_mock(
        401,
        json!({"error": {"code": "WrongCredentialsError", "message": "Wrong API key"}}),
    )
    .await;
    let out = binary()
        .args(["tools", "--json", "--toolsets", &TOOLSETS.join(",")])
        .env("VT_BASE_URL", refused.uri())
        .env("VT_TIER", "auto")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(tool_names(&out.stdout), public_set());
    assert!(
        stderr.contains("tier: public (detection failed: VirusTotal answered HTTP 401 WrongCredentialsError; pass --tier to set it)"),
        "{stderr}"
    );
    assert!(stderr.contains("WARN"), "logged as a warning: {stderr}");
    assert!(!stderr.contains(TEST_KEY), "the key leaked: {stderr}");
}

#[tokio::test]
async fn vtmcp_tools_with_an_explicit_tier_asks_nothing() {
    let upstream = user_mock(200, premium_user()).await;
    for tier in ["public", "premium"] {
        let out = binary()
            .args([
                "tools",
                "--json",
                "--tier",
                tier,
                "--toolsets",
                "intelligence",
            ])
            .env("VT_BASE_URL", upstream.uri())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            tool_names(&out.stdout).contains(&"intelligence_search".to_string()),
            tier == "premium"
        );
        assert!(!stderr.contains("tier:"), "{stderr}");
    }
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_binary_on_stdio_announces_the_larger_set() {
    let upstream = Held::start(200, premium_user()).await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"));
    cmd.env_clear()
        .env("VT_API_KEY", TEST_KEY)
        .env("VT_BASE_URL", &upstream.base)
        .env("VTMCP_CACHE", "off")
        .env("VTMCP_TOOLSETS", TOOLSETS.join(","))
        .env("RUST_LOG", "trace");
    let (transport, stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let logs = tokio::spawn(async move {
        let mut s = String::new();
        stderr.unwrap().read_to_string(&mut s).await.unwrap();
        s
    });
    let recorder = Recorder::default();
    let client = recorder.clone().serve(transport).await.unwrap();
    assert_eq!(listed(&client).await, public_set());
    upstream.release();
    recorder.wait_for_change().await;
    let after = listed(&client).await;
    for t in PREMIUM_TOOLS {
        assert!(after.contains(&t.to_string()), "{t}");
    }
    assert_eq!(upstream.requests(), [(format!("/users/{TEST_KEY}"), true)]);
    client.cancel().await.unwrap();
    let logs = tokio::time::timeout(HANG, logs).await.unwrap().unwrap();
    assert!(
        logs.contains("tier: public, premium, feeds (detected from the key"),
        "{logs}"
    );
    assert!(!logs.contains(TEST_KEY), "the key leaked into the log");
}
