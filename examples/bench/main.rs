//! Benchmarks of the `vtmcp` release binary, run through `cargo xtask bench` (which builds the
//! binary first and writes `BENCHMARKS.md`).
//!
//! A local mock of VirusTotal (wiremock on loopback) answers the report paths from the fixtures
//! in `tests/fixtures/`, with relationship descriptors and related-object pages, optionally after
//! an injected delay; it logs when each request arrived and how long it was held, from which the
//! most requests in flight are computed. The binary is spawned over stdio and driven by an rmcp
//! client. Measured: cold start (spawn → initialize, spawn → tools/list), memory (RSS after
//! tools/list, peak RSS over a session of a few hundred calls), tools/list size per toolset, and
//! per composite report: latency at 0 ms and 50 ms of upstream latency, upstream requests, most
//! requests in flight, text and structuredContent size; plus 8 concurrent reports against one;
//! and the Streamable HTTP transport (`vtmcp serve --transport http`) with kept-alive
//! connections: p50 and p95 latency of tools/list and get_file_report at 1, 8 and 32 sessions at
//! once. Figures are medians (or percentiles) of repeated runs; nothing asserts a time.
//!
//! Direct use: `cargo run --release --example bench -- [--quick] [--out BENCHMARKS.md]
//! [--bin target/release/vtmcp]`.

use clap::Parser;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vtmcp::reports::objects::{self, Kind};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod cache;
mod scale;

type Res<T> = Result<T, Box<dyn Error>>;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const FILE_ID: &str = "a7f3c2d91e0b4c8f6a5d3e2f1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";
const URL: &str = "http://login-microsoft.example-secure.top/owa/?user=victim";
const DOMAIN: &str = "example-secure.top";
const IP: &str = "8.8.8.8";
const API_KEY: &str = "bench-key-0123456789abcdef";
/// Injected upstream latency of the "slow" runs.
const SLOW_MS: u64 = 50;
/// Reports issued at once in the concurrency run.
const CONCURRENT: usize = 8;

/// The project's budgets, reported next to the figures (never asserted).
const BUDGET_TOOLS_LIST_MS: f64 = 25.0;
const BUDGET_RSS_MIB: f64 = 12.0;
const BUDGET_DEFAULT_TOKENS: usize = 3_000;
const BUDGET_ALL_TOKENS: usize = 40_000;

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Benchmarks of the vtmcp binary against a local mock VirusTotal"
)]
struct Args {
    /// Fewer repetitions (10 cold starts, 5 runs per report), for a quick look.
    #[arg(long)]
    quick: bool,
    /// Write the results (markdown) to this file as well as printing them.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// The vtmcp binary (default: `vtmcp` next to this example's directory, then
    /// target/release/vtmcp).
    #[arg(long, value_name = "PATH")]
    bin: Option<PathBuf>,
    /// The command named on the first line of the output file.
    #[arg(long, default_value = "cargo xtask bench")]
    command: String,
    /// Extra environment for the server, KEY=VALUE (repeatable).
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    server_env: Vec<String>,
}

/// Repetitions of each measurement.
struct Plan {
    cold_starts: usize,
    report_runs: usize,
    concurrency_runs: usize,
    session_calls: usize,
    /// Measured requests of each kind per HTTP session.
    http_runs: usize,
    /// Cold/warm pairs per cache backend.
    cache_runs: usize,
    /// Entries written for the cache's memory figure.
    cache_entries: usize,
    /// Calls per client in the scale-out run.
    scale_calls: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                cold_starts: 10,
                report_runs: 5,
                concurrency_runs: 3,
                session_calls: 200,
                http_runs: 10,
                cache_runs: 5,
                cache_entries: 2_000,
                scale_calls: 10,
            }
        } else {
            Plan {
                cold_starts: 30,
                report_runs: 15,
                concurrency_runs: 7,
                session_calls: 400,
                http_runs: 40,
                cache_runs: 15,
                cache_entries: 10_000,
                scale_calls: 40,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The mock VirusTotal
// ---------------------------------------------------------------------------------------------

/// What the mock serves and what it saw.
struct Upstream {
    /// Injected delay of every answer, in milliseconds.
    delay_ms: AtomicU64,
    /// Arrival time and held delay of every request.
    log: Mutex<Vec<(Instant, Duration)>>,
    /// Object bodies by collection (`files`, `urls`, `domains`, `ip_addresses`).
    objects: HashMap<&'static str, Vec<u8>>,
    /// Related-object pages by (collection, relationship).
    pages: HashMap<(&'static str, String), Vec<u8>>,
}

impl Upstream {
    fn requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn since(&self, from: usize) -> Vec<(Instant, Duration)> {
        self.log.lock().unwrap()[from..].to_vec()
    }
}

struct Router(Arc<Upstream>);

impl Respond for Router {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let delay = Duration::from_millis(self.0.delay_ms.load(Ordering::Relaxed));
        self.0.log.lock().unwrap().push((Instant::now(), delay));
        let parts: Vec<&str> = req.url.path().trim_matches('/').split('/').collect();
        let body = match parts.as_slice() {
            [collection, _id] => self.0.objects.get(collection),
            [collection, _id, rel] => self
                .0
                .pages
                .iter()
                .find(|((c, r), _)| c == collection && r == rel)
                .map(|(_, b)| b),
            _ => None,
        };
        let t = match body {
            Some(b) => ResponseTemplate::new(200).set_body_raw(b.clone(), "application/json"),
            None => ResponseTemplate::new(404).set_body_json(json!({"error": {
                "code": "NotFoundError",
                "message": format!("{} is not served by the bench mock", req.url.path())}})),
        };
        t.set_delay(delay)
    }
}

fn fixture(name: &str) -> Res<Value> {
    let path = format!("{ROOT}/tests/fixtures/{name}");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    Ok(serde_json::from_str(&text)?)
}

/// The type of the objects a relationship points at.
fn related_type(rel: &str) -> &'static str {
    match rel {
        "contacted_domains" | "subdomains" | "network_location" => "domain",
        "contacted_ips" | "last_serving_ip_address" => "ip_address",
        "contacted_urls" | "itw_urls" | "embedded_urls" | "urls" | "redirects_to" => "url",
        "resolutions" => "resolution",
        _ => "file",
    }
}

fn stats(i: usize) -> Value {
    json!({"malicious": 3 + i, "suspicious": i % 2, "harmless": 55, "undetected": 14, "timeout": 0})
}

/// A related object of the given type, with the attributes the reports read.
fn related_object(kind: &str, i: usize) -> Value {
    match kind {
        "domain" => json!({"type": "domain", "id": format!("c2-{i}.example-bad.top"),
            "attributes": {"last_analysis_stats": stats(i), "reputation": -12,
                "categories": {"Forcepoint ThreatSeeker": "malicious web sites"}}}),
        "ip_address" => json!({"type": "ip_address", "id": format!("203.0.113.{}", 10 + i),
            "attributes": {"country": "NL", "as_owner": "Example Hosting B.V.", "asn": 64500 + i,
                "last_analysis_stats": stats(i)}}),
        "url" => json!({"type": "url", "id": format!("{:064x}", 0xabcdef_u64 + i as u64),
            "attributes": {"url": format!("http://c2-{i}.example-bad.top/gate.php?id={i}"),
                "title": "Sign in", "last_analysis_stats": stats(i)}}),
        "resolution" => json!({"type": "resolution", "id": format!("203.0.113.{i}{DOMAIN}"),
            "attributes": {"host_name": DOMAIN, "ip_address": format!("203.0.113.{i}"),
                "date": 1_764_150_000 - i * 86_400, "resolver": "VirusTotal"}}),
        _ => json!({"type": "file", "id": format!("{:064x}", 0x5eed_u64 + i as u64),
            "attributes": {"meaningful_name": format!("payload_{i}.exe"),
                "type_description": "Win32 EXE", "size": 182_272 + i,
                "last_analysis_stats": stats(i)}}),
    }
}

/// A page of 5 related objects out of 12, with a cursor.
fn related_page(rel: &str) -> Value {
    let t = related_type(rel);
    let data: Vec<Value> = (0..5).map(|i| related_object(t, i)).collect();
    json!({"data": data, "meta": {"count": 12, "cursor": "Q1VSU09SLTI="},
        "links": {"self": format!("https://www.virustotal.com/api/v3/x/{rel}?limit=5"),
            "next": format!("https://www.virustotal.com/api/v3/x/{rel}?limit=5&cursor=Q1VSU09SLTI=")}})
}

/// Adds relationship descriptors (`?relationships=`) for every relationship a report may ask.
fn with_descriptors(mut v: Value, kind: &Kind) -> Value {
    let mut m = Map::new();
    for rel in kind.public_rels.iter().chain(kind.premium_rels) {
        let t = related_type(rel);
        let ids: Vec<Value> = (0..3)
            .map(|i| {
                let o = related_object(t, i);
                json!({"type": o["type"], "id": o["id"]})
            })
            .collect();
        let single = matches!(*rel, "last_serving_ip_address" | "network_location");
        let d = if single {
            json!({"data": ids[0], "links": {"self": "https://www.virustotal.com/api/v3/x"}})
        } else {
            json!({"data": ids, "meta": {"count": 12, "cursor": "Q1VSU09SLTE="},
                "links": {"self": "https://www.virustotal.com/api/v3/x",
                    "next": "https://www.virustotal.com/api/v3/x?cursor=Q1VSU09SLTE="}})
        };
        m.insert(rel.to_string(), d);
    }
    v["data"]["relationships"] = Value::Object(m);
    v
}

async fn start_mock() -> Res<(MockServer, Arc<Upstream>)> {
    let kinds: [(&'static str, Kind, &str); 4] = [
        ("files", objects::FILE, "file.json"),
        ("urls", objects::URL, "url.json"),
        ("domains", objects::DOMAIN, "domain.json"),
        ("ip_addresses", objects::IP, "ip_address.json"),
    ];
    let mut objects_by = HashMap::new();
    let mut pages = HashMap::new();
    for (collection, kind, file) in kinds {
        let body = with_descriptors(fixture(file)?, &kind);
        objects_by.insert(collection, serde_json::to_vec(&body)?);
        for rel in kind.public_rels.iter().chain(kind.premium_rels) {
            pages.insert(
                (collection, rel.to_string()),
                serde_json::to_vec(&related_page(rel))?,
            );
        }
    }
    let upstream = Arc::new(Upstream {
        delay_ms: AtomicU64::new(0),
        log: Mutex::new(Vec::new()),
        objects: objects_by,
        pages,
    });
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    Mock::given(any())
        .respond_with(Router(upstream.clone()))
        .mount(&server)
        .await;
    Ok((server, upstream))
}

/// The most intervals `[arrival, arrival + delay)` that overlap (requests in flight at the mock).
fn most_in_flight(entries: &[(Instant, Duration)]) -> usize {
    let mut events: Vec<(Instant, i32)> = entries
        .iter()
        .flat_map(|(t, d)| [(*t, 1), (*t + *d, -1)])
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    (most.max(0) as usize).max(usize::from(!entries.is_empty()))
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

struct Target {
    bin: PathBuf,
    base_url: String,
    extra_env: Vec<(String, String)>,
}

/// Which tools a spawned server lists.
#[derive(Clone, Copy)]
struct Selection<'a> {
    toolsets: &'a str,
    tiers: &'a str,
    submit: bool,
    write: bool,
}

/// `toolsets` with every tier and licence and both permissions.
fn everything<'a>(toolsets: &'a str, tiers: &'a str) -> Selection<'a> {
    Selection {
        toolsets,
        tiers,
        submit: true,
        write: true,
    }
}

const DEFAULT_SELECTION: Selection<'static> = Selection {
    toolsets: "default",
    tiers: "",
    submit: false,
    write: false,
};

struct Session {
    client: RunningService<RoleClient, ()>,
    pid: u32,
    /// Spawn → initialize answered.
    initialized: Duration,
}

impl Target {
    fn command(&self, sel: Selection) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.env_clear()
            .env("VT_API_KEY", API_KEY)
            .env("VT_BASE_URL", &self.base_url)
            .env("VTMCP_TOOLSETS", sel.toolsets)
            .env("RUST_LOG", "error")
            // No client-side pacing: the mock's answers, not the public key's 4/minute preset,
            // set the pace (`--server-env` may override it).
            .env("VTMCP_REQUESTS_PER_MINUTE", "0")
            // Every lookup goes upstream (the figures count requests), and no tier detection
            // request is added to them: the tier is given.
            .env("VTMCP_CACHE", "off");
        cmd.env(
            "VT_TIER",
            if sel.tiers.is_empty() {
                "public"
            } else {
                sel.tiers
            },
        );
        if sel.submit {
            cmd.env("VTMCP_ALLOW_SUBMIT", "true");
        }
        if sel.write {
            cmd.env("VTMCP_ALLOW_WRITE", "true");
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    async fn spawn(&self, sel: Selection<'_>) -> Res<Session> {
        let start = Instant::now();
        let (transport, _) = TokioChildProcess::builder(self.command(sel))
            .stderr(Stdio::null())
            .spawn()?;
        let pid = transport.id().ok_or("the server exited at once")?;
        let client = ().serve(transport).await?;
        Ok(Session {
            client,
            pid,
            initialized: start.elapsed(),
        })
    }

    /// `vtmcp tools --json` with everything enabled: the toolset names.
    fn toolsets(&self, all_tiers: &str) -> Res<Vec<String>> {
        let out = std::process::Command::new(&self.bin)
            .env_clear()
            .args([
                "tools",
                "--toolsets",
                "all",
                "--tier",
                all_tiers,
                "--allow-submit",
                "--allow-write",
                "--json",
            ])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "vtmcp tools failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let tools: Vec<Value> = serde_json::from_slice(&out.stdout)?;
        let names: BTreeSet<String> = tools
            .iter()
            .filter_map(|t| t.pointer("/_vtmcp/toolset").and_then(Value::as_str))
            .map(String::from)
            .collect();
        Ok(names.into_iter().collect())
    }
}

/// `(VmRSS, VmHWM)` of a process in KiB, from `/proc/<pid>/status`.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

async fn call(peer: &Peer<RoleClient>, name: &str, args: &Value) -> Res<CallToolResult> {
    let params = CallToolRequestParams::new(name.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    let r = peer.call_tool(params).await?;
    if r.is_error == Some(true) {
        return Err(format!("{name} {args} failed: {}", text_of(&r)).into());
    }
    Ok(r)
}

fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting
// ---------------------------------------------------------------------------------------------

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_ms(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2} ms")
    } else {
        format!("{x:.1} ms")
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "within" } else { "**over**" }
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Hardware"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn run_text(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(ROOT)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn git_commit() -> String {
    match run_text("git", &["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => {
            let dirty = run_text("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} (with uncommitted changes)")
            } else {
                c
            }
        }
        None => "unknown (not a git checkout)".into(),
    }
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The measurements
// ---------------------------------------------------------------------------------------------

struct ColdStarts {
    initialize: Vec<f64>,
    tools_list: Vec<f64>,
    rss_kib: Vec<f64>,
    tools: usize,
}

async fn cold_starts(target: &Target, sel: Selection<'_>, n: usize) -> Res<ColdStarts> {
    let mut c = ColdStarts {
        initialize: vec![],
        tools_list: vec![],
        rss_kib: vec![],
        tools: 0,
    };
    // One unmeasured start warms the page cache.
    target.spawn(sel).await?.client.cancel().await?;
    for _ in 0..n {
        let start = Instant::now();
        let s = target.spawn(sel).await?;
        let tools = s.client.list_all_tools().await?;
        let listed = start.elapsed();
        c.initialize.push(ms(s.initialized));
        c.tools_list.push(ms(listed));
        if let Some((rss, _)) = memory_kib(s.pid) {
            c.rss_kib.push(rss as f64);
        }
        c.tools = tools.len();
        s.client.cancel().await?;
    }
    Ok(c)
}

struct ListSize {
    tools: usize,
    bytes: usize,
    tokens: usize,
}

async fn list_size(target: &Target, sel: Selection<'_>) -> Res<ListSize> {
    let s = target.spawn(sel).await?;
    let tools = s.client.list_all_tools().await?;
    s.client.cancel().await?;
    let json = serde_json::to_string(&tools)?;
    Ok(ListSize {
        tools: tools.len(),
        bytes: json.len(),
        tokens: json.chars().count().div_ceil(4),
    })
}

/// One composite tool call to measure.
struct Variant {
    label: &'static str,
    depth: &'static str,
    tool: &'static str,
    args: Value,
}

fn variants() -> Vec<Variant> {
    let mut v = vec![];
    for (label, tool, arg, value) in [
        ("file", "get_file_report", "file_hash", FILE_ID),
        ("url", "get_url_report", "url", URL),
        ("domain", "get_domain_report", "domain", DOMAIN),
        ("ip", "get_ip_report", "ip", IP),
    ] {
        for depth in ["summary", "full"] {
            v.push(Variant {
                label,
                depth,
                tool,
                args: json!({arg: value, "depth": depth}),
            });
        }
    }
    v.push(Variant {
        label: "triage_iocs (4 IOCs)",
        depth: "-",
        tool: "triage_iocs",
        args: json!({"iocs": [FILE_ID, URL, DOMAIN, IP]}),
    });
    v
}

#[derive(Default)]
struct VariantStats {
    fast_ms: Vec<f64>,
    slow_ms: Vec<f64>,
    requests: Vec<f64>,
    in_flight: Vec<f64>,
    text_chars: usize,
    structured_bytes: usize,
}

struct Measured {
    requests: usize,
    in_flight: usize,
    elapsed: Duration,
}

async fn measure_call(
    peer: &Peer<RoleClient>,
    up: &Upstream,
    v: &Variant,
) -> Res<(Measured, CallToolResult)> {
    let before = up.requests();
    let start = Instant::now();
    let r = call(peer, v.tool, &v.args).await?;
    let elapsed = start.elapsed();
    let log = up.since(before);
    Ok((
        Measured {
            requests: log.len(),
            in_flight: most_in_flight(&log),
            elapsed,
        },
        r,
    ))
}

async fn reports(
    peer: &Peer<RoleClient>,
    up: &Upstream,
    runs: usize,
    calls: &mut usize,
) -> Res<Vec<(Variant, VariantStats)>> {
    let mut out: Vec<(Variant, VariantStats)> = variants()
        .into_iter()
        .map(|v| (v, VariantStats::default()))
        .collect();
    for delay in [0, SLOW_MS] {
        up.delay_ms.store(delay, Ordering::Relaxed);
        // One unmeasured pass, then `runs` interleaved passes.
        for pass in 0..=runs {
            for (v, s) in out.iter_mut() {
                let (m, r) = measure_call(peer, up, v).await?;
                *calls += 1;
                if pass == 0 {
                    continue;
                }
                if delay == 0 {
                    s.fast_ms.push(ms(m.elapsed));
                    s.requests.push(m.requests as f64);
                    s.text_chars = text_of(&r).chars().count();
                    s.structured_bytes = r
                        .structured_content
                        .as_ref()
                        .map_or(0, |x| serde_json::to_string(x).map_or(0, |t| t.len()));
                } else {
                    s.slow_ms.push(ms(m.elapsed));
                    s.in_flight.push(m.in_flight as f64);
                }
            }
        }
    }
    up.delay_ms.store(0, Ordering::Relaxed);
    Ok(out)
}

struct ConcurrencyRow {
    depth: &'static str,
    delay: u64,
    one_ms: f64,
    many_ms: f64,
    requests: f64,
    in_flight: f64,
}

async fn concurrency(
    peer: &Peer<RoleClient>,
    up: &Upstream,
    runs: usize,
    calls: &mut usize,
) -> Res<Vec<ConcurrencyRow>> {
    let mut rows = vec![];
    for depth in ["summary", "full"] {
        for delay in [0, SLOW_MS] {
            up.delay_ms.store(delay, Ordering::Relaxed);
            let v = Variant {
                label: "file",
                depth,
                tool: "get_file_report",
                args: json!({"file_hash": FILE_ID, "depth": depth}),
            };
            let (mut one, mut many, mut reqs, mut flight) = (vec![], vec![], vec![], vec![]);
            for pass in 0..=runs {
                let (m, _) = measure_call(peer, up, &v).await?;
                let before = up.requests();
                let start = Instant::now();
                let all =
                    futures::future::join_all((0..CONCURRENT).map(|_| call(peer, v.tool, &v.args)))
                        .await;
                let wall = start.elapsed();
                *calls += 1 + CONCURRENT;
                for r in all {
                    r?;
                }
                let log = up.since(before);
                if pass == 0 {
                    continue;
                }
                one.push(ms(m.elapsed));
                many.push(ms(wall));
                reqs.push(log.len() as f64);
                flight.push(most_in_flight(&log) as f64);
            }
            rows.push(ConcurrencyRow {
                depth,
                delay,
                one_ms: median(&one),
                many_ms: median(&many),
                requests: median(&reqs),
                in_flight: median(&flight),
            });
        }
    }
    up.delay_ms.store(0, Ordering::Relaxed);
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Large answers
// ---------------------------------------------------------------------------------------------

/// Size of the hostile answer (under the 64 MiB cap).
const LARGE_ANSWER_BYTES: usize = 60_000_000;

/// A comments page of about `bytes` bytes: many small objects, the shape that costs the most
/// memory once parsed.
fn large_comments_page(bytes: usize) -> Vec<u8> {
    let mut items = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < bytes {
        let item = json!({"type": "comment", "id": format!("f-{FILE_ID}-{i}"), "attributes": {
            "date": 1_700_000_000 + i, "text": format!("comment {i}: {}", "lorem ipsum ".repeat(20)),
            "tags": ["malware", "phishing", "c2"], "votes": {"positive": i % 7, "negative": 0, "abuse": 0},
            "html": null}});
        size += item.to_string().len() + 1;
        items.push(item);
        i += 1;
    }
    serde_json::to_vec(&json!({"data": items, "meta": {"cursor": "next"}, "links": {"self": "x"}}))
        .unwrap_or_default()
}

struct LargeAnswers {
    bytes: usize,
    one_peak_kib: Option<u64>,
    one_ms: f64,
    four_peak_kib: Option<u64>,
    four_ms: f64,
    four_ok: usize,
    alive: bool,
}

/// Peak RSS of a fresh server for one, then four concurrent, calls whose answer is
/// [`LARGE_ANSWER_BYTES`] of JSON.
async fn large_answers(bin: &Path) -> Res<LargeAnswers> {
    let body = large_comments_page(LARGE_ANSWER_BYTES);
    let bytes = body.len();
    let mock = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&mock)
        .await;
    let target = Target {
        bin: bin.to_path_buf(),
        base_url: mock.uri(),
        extra_env: vec![],
    };
    let sel = Selection {
        toolsets: "files",
        ..DEFAULT_SELECTION
    };
    let args = json!({"id": FILE_ID});
    let one = target.spawn(sel).await?;
    let start = Instant::now();
    let r = call(one.client.peer(), "list_file_comments", &args).await?;
    let one_ms = ms(start.elapsed());
    if r.is_error == Some(true) {
        return Err(format!("the large answer failed: {}", text_of(&r)).into());
    }
    let one_peak_kib = memory_kib(one.pid).map(|m| m.1);
    one.client.cancel().await?;

    let four = target.spawn(sel).await?;
    let peer = four.client.peer().clone();
    let start = Instant::now();
    let all =
        futures::future::join_all((0..4).map(|_| call(&peer, "list_file_comments", &args))).await;
    let four_ms = ms(start.elapsed());
    let four_ok = all
        .iter()
        .filter(|r| matches!(r, Ok(r) if r.is_error != Some(true)))
        .count();
    let four_peak_kib = memory_kib(four.pid).map(|m| m.1);
    let alive = peer.list_all_tools().await.is_ok();
    four.client.cancel().await?;
    Ok(LargeAnswers {
        bytes,
        one_peak_kib,
        one_ms,
        four_peak_kib,
        four_ms,
        four_ok,
        alive,
    })
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP with kept-alive connections
// ---------------------------------------------------------------------------------------------

/// Sessions open at once in the HTTP runs.
const HTTP_SESSIONS: [usize; 3] = [1, 8, 32];
/// The protocol version the HTTP sessions speak.
const HTTP_PROTOCOL: &str = "2025-06-18";

/// One row of the HTTP table: latencies (ms) at a number of sessions at once.
struct HttpRow {
    sessions: usize,
    tools_list: Vec<f64>,
    report: Vec<f64>,
    /// get_file_report answers per second over all sessions.
    report_rate: f64,
}

/// A served `vtmcp serve --transport http`; killed when dropped.
struct HttpServer {
    _child: tokio::process::Child,
    url: String,
}

impl Target {
    /// Starts the binary on HTTP at a free loopback port and reads the address it prints.
    async fn spawn_http(&self, sel: Selection<'_>) -> Res<HttpServer> {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = self.command(sel);
        cmd.args(["serve", "--transport", "http", "--listen", "127.0.0.1:0"])
            // Room for every run's sessions (each run ends its own).
            .env("VTMCP_MAX_SESSIONS", "64")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(at) = line.find("http://") {
                    return Ok::<_, std::io::Error>(Some(line[at..].trim().to_string()));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|_| "the HTTP server printed no address within 30 s")??
        .ok_or("the HTTP server exited without printing its address")?;
        // Keep draining stderr so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(HttpServer { _child: child, url })
    }
}

/// One MCP session over HTTP with its own client (one kept-alive connection).
struct HttpSession {
    http: reqwest::Client,
    url: String,
    id: String,
    next_id: u64,
}

impl HttpSession {
    async fn open(url: &str) -> Res<HttpSession> {
        let http = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .build()?;
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": HTTP_PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}});
        let r = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string())
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(format!("initialize over HTTP: {}", r.status()).into());
        }
        let id = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .ok_or("initialize over HTTP: no mcp-session-id")?
            .to_string();
        r.bytes().await?;
        let s = HttpSession {
            http,
            url: url.to_string(),
            id,
            next_id: 1,
        };
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = s.post(&done).send().await?;
        if r.status() != reqwest::StatusCode::ACCEPTED {
            return Err(format!("notifications/initialized over HTTP: {}", r.status()).into());
        }
        r.bytes().await?;
        Ok(s)
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", HTTP_PROTOCOL)
            .body(body.to_string())
    }

    /// Sends one request and reads its whole answer (so the connection is reused); returns the
    /// time it took, in ms.
    async fn request(&mut self, method: &str, params: Value) -> Res<f64> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let start = Instant::now();
        let r = self.post(&body).send().await?;
        let status = r.status();
        let text = r.text().await?;
        let elapsed = ms(start.elapsed());
        if !status.is_success() || !text.contains("\"result\"") || text.contains("\"isError\":true")
        {
            return Err(format!(
                "{method} over HTTP: {status}: {}",
                &text[..text.len().min(300)]
            )
            .into());
        }
        Ok(elapsed)
    }

    async fn close(self) {
        let _ = self
            .http
            .delete(&self.url)
            .header("mcp-session-id", &self.id)
            .send()
            .await;
    }
}

/// `sessions` sessions at once, each sending `runs` measured requests (after one unmeasured)
/// of `method`, one after the other; returns every latency (ms) and the wall time.
async fn http_round(
    open: &mut [HttpSession],
    runs: usize,
    method: &str,
    params: &Value,
) -> Res<(Vec<f64>, Duration)> {
    let start = Instant::now();
    let all = futures::future::join_all(open.iter_mut().map(|s| async move {
        s.request(method, params.clone()).await?;
        let mut v = Vec::with_capacity(runs);
        for _ in 0..runs {
            v.push(s.request(method, params.clone()).await?);
        }
        Ok::<_, Box<dyn Error>>(v)
    }))
    .await;
    let wall = start.elapsed();
    let mut latencies = vec![];
    for r in all {
        latencies.extend(r?);
    }
    Ok((latencies, wall))
}

async fn http_keep_alive(target: &Target, runs: usize) -> Res<Vec<HttpRow>> {
    let server = target.spawn_http(DEFAULT_SELECTION).await?;
    let report = json!({"name": "get_file_report",
        "arguments": {"file_hash": FILE_ID, "depth": "summary"}});
    let mut rows = vec![];
    for n in HTTP_SESSIONS {
        let mut open = vec![];
        for _ in 0..n {
            open.push(HttpSession::open(&server.url).await?);
        }
        let (tools_list, _) = http_round(&mut open, runs, "tools/list", &json!({})).await?;
        let (report_ms, wall) = http_round(&mut open, runs, "tools/call", &report).await?;
        let calls = (n * (runs + 1)) as f64;
        rows.push(HttpRow {
            sessions: n,
            tools_list,
            report: report_ms,
            report_rate: calls / wall.as_secs_f64(),
        });
        for s in open {
            s.close().await;
        }
    }
    Ok(rows)
}

/// The nearest-rank percentile `p` (0–100) of `v`.
fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

fn default_bin() -> PathBuf {
    let name = format!("vtmcp{}", std::env::consts::EXE_SUFFIX);
    // target/<profile>/examples/bench → target/<profile>/vtmcp
    if let Some(p) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join(&name)))
        .filter(|p| p.is_file())
    {
        return p;
    }
    Path::new(ROOT).join("target/release").join(name)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("bench: error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Res<()> {
    let plan = Plan::new(args.quick);
    let bin = args.bin.clone().unwrap_or_else(default_bin);
    if !bin.is_file() {
        return Err(format!(
            "no vtmcp binary at {} (build it: cargo build --release --bin vtmcp, or run cargo xtask bench)",
            bin.display()
        )
        .into());
    }
    let mut extra_env = vec![];
    for kv in &args.server_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--server-env {kv}: expected KEY=VALUE"))?;
        extra_env.push((k.to_string(), v.to_string()));
    }
    let load_before = load_average();
    let (mock, up) = start_mock().await?;
    let target = Target {
        bin: bin.clone(),
        base_url: mock.uri(),
        extra_env,
    };
    let all_tiers: Vec<&str> = vtmcp::mcp::catalog::TIERS
        .iter()
        .copied()
        .filter(|t| *t != "public")
        .collect();
    let all_tiers = all_tiers.join(",");

    eprintln!(
        "bench: {} cold starts (default toolset) …",
        plan.cold_starts
    );
    let cold = cold_starts(&target, DEFAULT_SELECTION, plan.cold_starts).await?;
    eprintln!(
        "bench: {} cold starts (all toolsets, every tier and permission) …",
        plan.cold_starts
    );
    let cold_all = cold_starts(&target, everything("all", &all_tiers), plan.cold_starts).await?;

    eprintln!("bench: tools/list sizes …");
    let toolsets = target.toolsets(&all_tiers)?;
    let default_size = list_size(&target, DEFAULT_SELECTION).await?;
    let all_public = list_size(
        &target,
        Selection {
            toolsets: "all",
            ..DEFAULT_SELECTION
        },
    )
    .await?;
    let all_size = list_size(&target, everything("all", &all_tiers)).await?;
    let default_all = list_size(&target, everything("default", &all_tiers)).await?;
    let mut per_toolset = vec![];
    for t in &toolsets {
        let public = list_size(
            &target,
            Selection {
                toolsets: t,
                ..DEFAULT_SELECTION
            },
        )
        .await?;
        let full = list_size(&target, everything(t, &all_tiers)).await?;
        per_toolset.push((t.clone(), public, full));
    }

    eprintln!(
        "bench: reports, {} runs each at 0 ms and {SLOW_MS} ms …",
        plan.report_runs
    );
    let session = target.spawn(DEFAULT_SELECTION).await?;
    let peer = session.client.peer().clone();
    session.client.list_all_tools().await?;
    let mut calls = 0usize;
    let report_stats = reports(&peer, &up, plan.report_runs, &mut calls).await?;
    eprintln!("bench: {CONCURRENT} concurrent reports against one …");
    let conc = concurrency(&peer, &up, plan.concurrency_runs, &mut calls).await?;
    let mixed = variants();
    let mut i = 0;
    while calls < plan.session_calls {
        call(
            &peer,
            mixed[i % mixed.len()].tool,
            &mixed[i % mixed.len()].args,
        )
        .await?;
        calls += 1;
        i += 1;
    }
    let session_mem = memory_kib(session.pid);
    session.client.cancel().await?;
    eprintln!("bench: large answers ({LARGE_ANSWER_BYTES} bytes, one and four at once) …");
    let large = large_answers(&bin).await?;
    eprintln!(
        "bench: Streamable HTTP, kept-alive connections, {HTTP_SESSIONS:?} sessions at once …"
    );
    let http_rows = http_keep_alive(&target, plan.http_runs).await?;
    let cache_dir = tempfile::tempdir()?;
    let cache_figures = cache::measure(
        &target,
        &up,
        cache_dir.path(),
        plan.cache_runs,
        plan.cache_entries,
    )
    .await?;
    let scale_rows = scale::measure(&target, &up, cache_dir.path(), plan.scale_calls).await?;
    let load_after = load_average();

    // ----- The document -----
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let version = run_text(bin.to_str().unwrap_or("vtmcp"), &["--version"])
        .unwrap_or_else(|| "vtmcp (unknown version)".into());
    let bin_size = std::fs::metadata(&bin).map_or(0, |m| m.len() as usize);
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "Regenerate this file with `{}` (add `--quick` for fewer repetitions).\n",
        args.command
    );
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "The figures are medians of repeated runs of the release binary on the machine below, \
         driven over stdio by an MCP client against a local mock of VirusTotal that answers from the \
         test fixtures after 0 ms or {SLOW_MS} ms of injected latency, so they show vtmcp's own \
         start-up, memory, fan-out and output size. They are not VirusTotal's real latency, quotas or \
         answers, nor figures for other machines, and nothing asserts them: compare runs made on the \
         same machine.\n"
    );
    let _ = writeln!(w, "## Machine\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(w, "| date | {} |", utc_now());
    let _ = writeln!(w, "| commit | {} |", git_commit());
    let _ = writeln!(w, "| binary | {version}, {} bytes |", thousands(bin_size));
    if let Some(r) = run_text("rustc", &["--version"]) {
        let _ = writeln!(w, "| rustc | {r} |");
    }
    let _ = writeln!(w, "| CPU | {} |", cpu_model());
    let _ = writeln!(w, "| cores | {cores} |");
    let _ = writeln!(
        w,
        "| load average (1, 5, 15 min) | {load_before} before, {load_after} after |"
    );
    let _ = writeln!(
        w,
        "| repetitions | {} cold starts; {} runs per report and latency; {} runs of the concurrency test; {} requests of each kind per HTTP session{} |\n",
        plan.cold_starts,
        plan.report_runs,
        plan.concurrency_runs,
        plan.http_runs,
        if args.quick { " (`--quick`)" } else { "" }
    );

    let tl_median = median(&cold.tools_list);
    let rss_median = median(&cold.rss_kib) / 1024.0;
    let _ = writeln!(w, "## Budgets\n");
    let _ = writeln!(w, "| budget | target | measured | |\n|---|---|---|---|");
    let _ = writeln!(
        w,
        "| spawn → tools/list answered (default) | ≤ {BUDGET_TOOLS_LIST_MS} ms | {} | {} |",
        fmt_ms(tl_median),
        verdict(tl_median <= BUDGET_TOOLS_LIST_MS)
    );
    let _ = writeln!(
        w,
        "| RSS after tools/list (default) | ≤ {BUDGET_RSS_MIB} MiB | {rss_median:.1} MiB | {} |",
        verdict(rss_median <= BUDGET_RSS_MIB)
    );
    let _ = writeln!(
        w,
        "| tools/list, default toolset | ≤ {} tokens | {} tokens | {} |",
        thousands(BUDGET_DEFAULT_TOKENS),
        thousands(default_size.tokens),
        verdict(default_size.tokens <= BUDGET_DEFAULT_TOKENS)
    );
    let _ = writeln!(
        w,
        "| tools/list, all (every tier and permission) | ≤ {} tokens | {} tokens | {} |\n",
        thousands(BUDGET_ALL_TOKENS),
        thousands(all_size.tokens),
        verdict(all_size.tokens <= BUDGET_ALL_TOKENS)
    );

    let _ = writeln!(w, "## Start-up and memory\n");
    let _ = writeln!(w, "| measure | median | min | max |\n|---|---|---|---|");
    for (label, c) in [
        ("default toolset", &cold),
        ("all toolsets, every tier and permission", &cold_all),
    ] {
        for (what, v) in [
            ("spawn → initialize answered", &c.initialize),
            ("spawn → tools/list answered", &c.tools_list),
        ] {
            let (lo, hi) = min_max(v);
            let _ = writeln!(
                w,
                "| {what} ({label}, {} tools) | {} | {} | {} |",
                c.tools,
                fmt_ms(median(v)),
                fmt_ms(lo),
                fmt_ms(hi)
            );
        }
        let (lo, hi) = min_max(&c.rss_kib);
        let _ = writeln!(
            w,
            "| RSS after tools/list ({label}) | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            median(&c.rss_kib) / 1024.0,
            lo / 1024.0,
            hi / 1024.0
        );
    }
    match session_mem {
        Some((rss, hwm)) => {
            let _ = writeln!(
                w,
                "| peak RSS (VmHWM) over a session of {calls} calls (default toolset, mixed reports) | {:.1} MiB | | |",
                mib(hwm)
            );
            let _ = writeln!(
                w,
                "| RSS at the end of that session | {:.1} MiB | | |",
                mib(rss)
            );
        }
        None => {
            let _ = writeln!(w, "| peak RSS over a session | n/a (no /proc) | | |");
        }
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## tools/list size\n");
    let _ = writeln!(
        w,
        "Compact JSON of the listed tools; tokens ≈ characters / 4. \"public\": `VTMCP_TOOLSETS=<toolset>` \
         alone with a public key and no permissions; \"everything\": every tier and licence, \
         `VTMCP_ALLOW_SUBMIT=1` and `VTMCP_ALLOW_WRITE=1`.\n"
    );
    let _ = writeln!(
        w,
        "| toolsets | public: tools | bytes | ≈ tokens | everything: tools | bytes | ≈ tokens |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    let row = |w: &mut String, name: &str, p: Option<&ListSize>, e: &ListSize| {
        let (pt, pb, pk) = match p {
            Some(p) if p.tools > 0 => {
                (p.tools.to_string(), thousands(p.bytes), thousands(p.tokens))
            }
            _ => ("0".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            w,
            "| {name} | {pt} | {pb} | {pk} | {} | {} | {} |",
            e.tools,
            thousands(e.bytes),
            thousands(e.tokens)
        );
    };
    row(w, "**default**", Some(&default_size), &default_all);
    for (name, p, e) in &per_toolset {
        row(w, name, Some(p), e);
    }
    row(w, "**all**", Some(&all_public), &all_size);
    let _ = writeln!(w);

    let _ = writeln!(w, "## Composite reports\n");
    let _ = writeln!(
        w,
        "One call at a time on one session (markdown format, public key, client-side pacing off \
         with `VTMCP_REQUESTS_PER_MINUTE=0`). Latency is from the \
         client's tools/call to its answer; \"in flight\" is the most upstream requests the mock \
         held at once (measured at {SLOW_MS} ms); sizes are of the 0 ms answers.\n"
    );
    let _ = writeln!(
        w,
        "| report | depth | latency, 0 ms upstream | latency, {SLOW_MS} ms upstream | upstream requests | most in flight | text chars | structuredContent bytes |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for (v, s) in &report_stats {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            v.label,
            v.depth,
            fmt_ms(median(&s.fast_ms)),
            fmt_ms(median(&s.slow_ms)),
            median(&s.requests),
            median(&s.in_flight),
            thousands(s.text_chars),
            thousands(s.structured_bytes)
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## Large answers\n");
    let _ = writeln!(
        w,
        "A fresh server (`--toolsets files`) calls `list_file_comments`, whose answer is {} bytes of \
         JSON (a comments page: many small objects, the costliest shape to parse); then a fresh \
         server makes four such calls at once. Peak RSS is the process's VmHWM. The answer is cut \
         as text before it is parsed, and answers held at once share a memory budget.\n",
        thousands(large.bytes)
    );
    let _ = writeln!(w, "| measure | value | |\n|---|---:|---|");
    let peak = |k: Option<u64>| k.map_or("n/a".to_string(), |k| format!("{:.1} MiB", mib(k)));
    let ratio = |k: Option<u64>| k.map_or(f64::NAN, |k| (k * 1024) as f64 / large.bytes as f64);
    let _ = writeln!(
        w,
        "| peak RSS, one answer | {} ({:.2}× the answer) | {} (≤ 4×) |",
        peak(large.one_peak_kib),
        ratio(large.one_peak_kib),
        verdict(ratio(large.one_peak_kib) <= 4.0)
    );
    let _ = writeln!(w, "| latency, one answer | {} | |", fmt_ms(large.one_ms));
    let _ = writeln!(
        w,
        "| peak RSS, four at once | {} ({:.2}× one answer) | {} of 4 answered, server {} |",
        peak(large.four_peak_kib),
        ratio(large.four_peak_kib),
        large.four_ok,
        if large.alive { "alive" } else { "gone" }
    );
    let _ = writeln!(
        w,
        "| latency, four at once | {} | |\n",
        fmt_ms(large.four_ms)
    );

    let _ = writeln!(w, "## Concurrency\n");
    let _ = writeln!(
        w,
        "`get_file_report` alone against {CONCURRENT} identical calls sent at once on the same session \
         (wall time from the first send to the last answer).\n"
    );
    let _ = writeln!(
        w,
        "| depth | upstream latency | one report | {CONCURRENT} at once | ratio | upstream requests ({CONCURRENT} reports) | most in flight |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for r in &conc {
        let _ = writeln!(
            w,
            "| {} | {} ms | {} | {} | {:.2}× | {} | {} |",
            r.depth,
            r.delay,
            fmt_ms(r.one_ms),
            fmt_ms(r.many_ms),
            r.many_ms / r.one_ms,
            r.requests,
            if r.delay == 0 {
                "-".to_string()
            } else {
                r.in_flight.to_string()
            }
        );
    }

    let _ = writeln!(w);

    let _ = writeln!(w, "## Streamable HTTP, kept-alive connections\n");
    let _ = writeln!(
        w,
        "`vtmcp serve --transport http` against the same mock (0 ms upstream latency). Each \
         session has its own HTTP client, which reuses one kept-alive connection; the sessions \
         send their requests at the same time, one after the other within a session ({} measured \
         requests of each kind per session, after one unmeasured). Latency is from sending the \
         POST to the end of its SSE answer; `get_file_report` is the summary depth (one upstream \
         request, at most `--max-in-flight` 16 in flight).\n",
        plan.http_runs
    );
    let _ = writeln!(
        w,
        "| sessions at once | tools/list p50 | tools/list p95 | get_file_report p50 | get_file_report p95 | get_file_report answers/s |\n|---:|---:|---:|---:|---:|---:|"
    );
    for r in &http_rows {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {:.0} |",
            r.sessions,
            fmt_ms(percentile(&r.tools_list, 50.0)),
            fmt_ms(percentile(&r.tools_list, 95.0)),
            fmt_ms(percentile(&r.report, 50.0)),
            fmt_ms(percentile(&r.report, 95.0)),
            r.report_rate
        );
    }

    let _ = writeln!(w);
    cache::write(w, &cache_figures);
    scale::write(w, &scale_rows);

    // The find_operations hit rate is measured and written by a test
    // (tests/it/meta_tools.rs): its section is kept as it is.
    if let Some(out) = &args.out
        && let Ok(old) = std::fs::read_to_string(out)
    {
        let (begin, end) = (
            "<!-- BEGIN GENERATED: find_operations hit rate -->",
            "<!-- END GENERATED: find_operations hit rate -->",
        );
        if let (Some(b), Some(e)) = (old.find(begin), old.find(end))
            && b < e
        {
            md.push('\n');
            md.push_str(&old[b..e + end.len()]);
            md.push('\n');
        }
    }
    println!("{md}");
    if let Some(out) = &args.out {
        std::fs::write(out, &md).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        eprintln!("bench: wrote {}", out.display());
    }
    drop(mock);
    Ok(())
}
