//! Team scale-out: 32 clients at once against 1 and against 3 stateless HTTP instances
//! (`--stateless`) sharing one SQLite cache file, each client sending its calls to the next
//! instance in turn as a round-robin load balancer would.

use super::{DEFAULT_SELECTION, Res, Target, Upstream, fmt_ms, ms, percentile};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Clients at once.
pub const CLIENTS: usize = 32;
/// Distinct objects the calls ask about: the first call for each goes upstream, the others
/// are answered from the shared cache, whichever instance gets them.
const OBJECTS: usize = 256;

pub struct Row {
    instances: usize,
    latencies: Vec<f64>,
    wall: Duration,
    upstream: usize,
    calls: usize,
}

/// Starts one stateless HTTP instance; returns the child (killed on drop) and its URL.
async fn instance(target: &Target, cache: &str) -> Res<(tokio::process::Child, String)> {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = target.command(DEFAULT_SELECTION);
    cmd.args(["serve", "--transport", "http", "--stateless"])
        .args(["--listen", "127.0.0.1:0"])
        .env("VTMCP_CACHE", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("vtmcp: Streamable HTTP on ") {
                return Ok::<_, std::io::Error>(Some(
                    rest.trim_end_matches(" (stateless)").to_string(),
                ));
            }
        }
        Ok(None)
    })
    .await
    .map_err(|_| "the HTTP server printed no address within 30 s")??
    .ok_or("the HTTP server exited without printing its address")?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

/// One tools/call, POSTed to `url` without a session; the latency to the end of the answer.
async fn call(http: &reqwest::Client, url: &str, id: u64, hash: &str) -> Res<f64> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "get_file_report", "arguments": {"file_hash": hash, "depth": "summary"}}});
    let start = Instant::now();
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string())
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    let elapsed = ms(start.elapsed());
    if !status.is_success() || !text.contains("\"result\"") || text.contains("\"isError\":true") {
        return Err(format!(
            "tools/call on {url}: {status}: {}",
            &text[..text.len().min(300)]
        )
        .into());
    }
    Ok(elapsed)
}

async fn round(
    target: &Target,
    up: &Upstream,
    dir: &Path,
    instances: usize,
    per_client: usize,
    file: &str,
) -> Res<Row> {
    let cache = format!("sqlite:{}", dir.join(file).display());
    let mut fleet = vec![];
    for _ in 0..instances {
        fleet.push(instance(target, &cache).await?);
    }
    let urls: Vec<String> = fleet.iter().map(|(_, u)| u.clone()).collect();
    let ids = AtomicU64::new(1);
    let before = up.requests();
    let start = Instant::now();
    let all = futures::future::join_all((0..CLIENTS).map(|c| {
        let urls = &urls;
        let ids = &ids;
        async move {
            let http = reqwest::Client::builder().build()?;
            let mut lat = Vec::with_capacity(per_client);
            for k in 0..per_client {
                let n = c * per_client + k;
                let hash = format!("{:064x}", 0x5ca1e_u64 * 1_000_000 + (n % OBJECTS) as u64);
                let url = &urls[n % urls.len()];
                lat.push(call(&http, url, ids.fetch_add(1, Ordering::Relaxed), &hash).await?);
            }
            Ok::<_, Box<dyn std::error::Error>>(lat)
        }
    }))
    .await;
    let wall = start.elapsed();
    let mut latencies = vec![];
    for r in all {
        latencies.extend(r?);
    }
    drop(fleet);
    Ok(Row {
        instances,
        calls: latencies.len(),
        latencies,
        wall,
        upstream: up.requests() - before,
    })
}

pub async fn measure(
    target: &Target,
    up: &Upstream,
    dir: &Path,
    per_client: usize,
) -> Res<Vec<Row>> {
    // A warm-up fleet (page cache, the binary) not measured.
    round(target, up, dir, 1, 2, "scale-warm-up.sqlite3").await?;
    let mut rows = vec![];
    for n in [1, 3] {
        eprintln!("bench: {CLIENTS} HTTP clients against {n} stateless instance(s) …");
        let file = format!("scale-{n}.sqlite3");
        rows.push(round(target, up, dir, n, per_client, &file).await?);
    }
    Ok(rows)
}

pub fn write(w: &mut String, rows: &[Row]) {
    let _ = writeln!(w, "## Team scale-out: stateless HTTP instances\n");
    let _ = writeln!(
        w,
        "{CLIENTS} clients at once, each with its own connection pool, send `get_file_report` \
         (summary) calls as session-less POSTs, each to the next instance in turn (a round-robin \
         load balancer); the instances run `--stateless` and share one SQLite cache file. The \
         calls ask about {OBJECTS} distinct files: the first call for each goes upstream (0 ms \
         mock latency), every other one is a cache hit, on whichever instance it lands. On this \
         machine's cores, more instances share the same CPUs: the figure shows the cost of \
         spreading, not a speed-up.\n"
    );
    let _ = writeln!(
        w,
        "| instances | calls | calls/s | p50 | p99 | upstream requests |\n|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let _ = writeln!(
            w,
            "| {} | {} | {:.0} | {} | {} | {} |",
            r.instances,
            r.calls,
            r.calls as f64 / r.wall.as_secs_f64(),
            fmt_ms(percentile(&r.latencies, 50.0)),
            fmt_ms(percentile(&r.latencies, 99.0)),
            r.upstream
        );
    }
    let _ = writeln!(w);
}
