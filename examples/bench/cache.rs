//! The answer cache and the shared quota (issue 14): a report looked up cold and warm (upstream
//! requests and latency), for each cache backend available (SQLite always; Redis when a
//! `redis-server` binary is on `PATH`, started here on a free loopback port with persistence off
//! and stopped when done); 1,000 cached lookups through one session; memory after 10,000
//! entries; and two processes sharing the public key's 4-per-minute quota through one SQLite
//! file.

use super::{
    DEFAULT_SELECTION, FILE_ID, Res, SLOW_MS, Selection, Target, Upstream, call, fmt_ms, median,
    memory_kib, mib, ms, percentile, thousands,
};
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Cold and warm lookups of one report through one backend.
pub struct Backend {
    label: String,
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    cold_requests: usize,
    warm_requests: usize,
    runs: usize,
}

pub struct Figures {
    backends: Vec<Backend>,
    /// Why Redis was not measured, when it was not.
    redis_skipped: Option<String>,
    /// 1,000 cached lookups: latencies (ms), wall time, upstream requests.
    thousand: (Vec<f64>, Duration, usize),
    /// Entries written, RSS and peak RSS after them (KiB), cache file bytes, wall time.
    filled: (usize, Option<(u64, u64)>, u64, Duration),
    /// Two processes, `calls` calls each at once on the public preset: upstream requests in the
    /// first `window`, and the answers by then.
    shared: SharedQuota,
}

pub struct SharedQuota {
    calls_each: usize,
    window: Duration,
    upstream: usize,
    answered: usize,
}

/// The default toolset and `files` (for the generated `get_file`).
const WITH_FILES: Selection<'static> = Selection {
    toolsets: "default,files",
    ..DEFAULT_SELECTION
};

/// A hash no other measurement uses (the mock answers any id).
fn hash(prefix: u32, i: usize) -> String {
    format!("{prefix:08x}{i:056x}")
}

/// A `Target` whose servers use the cache `spec` (and otherwise the bench's settings).
fn with_cache(target: &Target, spec: &str, pacing: Option<&str>) -> Target {
    let mut extra_env = target.extra_env.clone();
    extra_env.push(("VTMCP_CACHE".into(), spec.into()));
    if let Some(rpm) = pacing {
        extra_env.push(("VTMCP_REQUESTS_PER_MINUTE".into(), rpm.into()));
    }
    Target {
        bin: target.bin.clone(),
        base_url: target.base_url.clone(),
        extra_env,
    }
}

async fn cold_and_warm(
    target: &Target,
    up: &Upstream,
    label: &str,
    spec: &str,
    runs: usize,
    prefix: u32,
) -> Res<Backend> {
    let t = with_cache(target, spec, None);
    let s = t.spawn(DEFAULT_SELECTION).await?;
    let peer = s.client.peer().clone();
    let mut b = Backend {
        label: label.into(),
        cold_ms: vec![],
        warm_ms: vec![],
        cold_requests: 0,
        warm_requests: 0,
        runs,
    };
    up.delay_ms.store(SLOW_MS, Ordering::Relaxed);
    for i in 0..=runs {
        let args = json!({"file_hash": hash(prefix, i), "depth": "summary"});
        let before = up.requests();
        let start = Instant::now();
        call(&peer, "get_file_report", &args).await?;
        let cold = start.elapsed();
        let mid = up.requests();
        let start = Instant::now();
        call(&peer, "get_file_report", &args).await?;
        let warm = start.elapsed();
        if i == 0 {
            continue; // warms the process, the file and the connection
        }
        b.cold_ms.push(ms(cold));
        b.warm_ms.push(ms(warm));
        b.cold_requests += mid - before;
        b.warm_requests += up.requests() - mid;
    }
    up.delay_ms.store(0, Ordering::Relaxed);
    s.client.cancel().await?;
    Ok(b)
}

/// A `redis-server` on a free loopback port, persistence off; killed on drop.
struct Redis {
    child: std::process::Child,
    url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Result<Redis, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--daemonize", "no"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("no redis-server on PATH ({e})"))?;
    let redis = Redis {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(redis);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("redis-server did not start listening within 5 s".into())
}

pub async fn measure(
    target: &Target,
    up: &Upstream,
    dir: &Path,
    runs: usize,
    entries: usize,
) -> Res<Figures> {
    eprintln!("bench: cache, cold and warm reports …");
    let sqlite = format!("sqlite:{}", dir.join("cold.sqlite3").display());
    let mut backends = vec![cold_and_warm(target, up, "SQLite", &sqlite, runs, 1).await?];
    let mut redis_skipped = None;
    match start_redis() {
        Ok(r) => backends.push(cold_and_warm(target, up, "Redis", &r.url, runs, 2).await?),
        Err(why) => redis_skipped = Some(why),
    }

    eprintln!("bench: cache, 1,000 cached lookups …");
    let t = with_cache(target, &sqlite, None);
    let s = t.spawn(DEFAULT_SELECTION).await?;
    let peer = s.client.peer().clone();
    let args = json!({"file_hash": FILE_ID, "depth": "summary"});
    call(&peer, "get_file_report", &args).await?;
    let before = up.requests();
    let start = Instant::now();
    let mut lat = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let t0 = Instant::now();
        call(&peer, "get_file_report", &args).await?;
        lat.push(ms(t0.elapsed()));
    }
    let thousand = (lat, start.elapsed(), up.requests() - before);
    s.client.cancel().await?;

    eprintln!("bench: cache, {entries} entries …");
    let file = dir.join("filled.sqlite3");
    let t = with_cache(target, &format!("sqlite:{}", file.display()), None);
    let s = t.spawn(WITH_FILES).await?;
    let peer = s.client.peer().clone();
    let start = Instant::now();
    // Eight at a time: the generated `get_file` tool, each a distinct hash.
    for chunk in (0..entries).collect::<Vec<_>>().chunks(8) {
        let all = futures::future::join_all(chunk.iter().map(|i| {
            let peer = &peer;
            let args = json!({"id": hash(3, *i)});
            async move { call(peer, "get_file", &args).await }
        }))
        .await;
        for r in all {
            r?;
        }
    }
    let wall = start.elapsed();
    let mem = memory_kib(s.pid);
    s.client.cancel().await?;
    let bytes = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", file.display()))
                .ok()
                .map(|m| m.len())
        })
        .sum();
    let filled = (entries, mem, bytes, wall);

    eprintln!("bench: cache, two processes sharing the public quota …");
    let shared = shared_quota(target, up, dir).await?;
    Ok(Figures {
        backends,
        redis_skipped,
        thousand,
        filled,
        shared,
    })
}

/// Two servers on one SQLite file with the public preset (4 a minute): each sends `calls_each`
/// distinct lookups at once; after `window`, how many went upstream and how many were answered.
async fn shared_quota(target: &Target, up: &Upstream, dir: &Path) -> Res<SharedQuota> {
    let calls_each = 4;
    let window = Duration::from_secs(5);
    let spec = format!("sqlite:{}", dir.join("shared.sqlite3").display());
    let t = with_cache(target, &spec, Some("4"));
    let a = t.spawn(WITH_FILES).await?;
    let b = t.spawn(WITH_FILES).await?;
    let before = up.requests();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = vec![];
    for (n, s) in [&a, &b].into_iter().enumerate() {
        for i in 0..calls_each {
            let peer = s.client.peer().clone();
            let answered = answered.clone();
            let id = hash(4 + n as u32, i);
            tasks.push(tokio::spawn(async move {
                let p = CallToolRequestParams::new("get_file")
                    .with_arguments(json!({"id": id}).as_object().cloned().unwrap_or_default());
                if let Ok(r) = peer.call_tool(p).await
                    && r.is_error != Some(true)
                {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
    }
    tokio::time::sleep(window).await;
    let upstream = up.requests() - before;
    let answered = answered.load(Ordering::SeqCst);
    for t in tasks {
        t.abort();
    }
    a.client.cancel().await?;
    b.client.cancel().await?;
    Ok(SharedQuota {
        calls_each,
        window,
        upstream,
        answered,
    })
}

pub fn write(w: &mut String, f: &Figures) {
    let _ = writeln!(w, "## The answer cache and the shared quota\n");
    let _ = writeln!(
        w,
        "`get_file_report` (summary) on a fresh hash, then the same call again, on one session \
         whose cache is the backend named ({SLOW_MS} ms injected upstream latency; medians of {} \
         pairs). The warm call is answered from the cache with no upstream request.\n",
        f.backends.first().map_or(0, |b| b.runs)
    );
    let _ = writeln!(
        w,
        "| backend | cold: latency | cold: upstream requests | warm (cache hit): latency | warm: upstream requests |\n|---|---:|---:|---:|---:|"
    );
    for b in &f.backends {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            b.label,
            fmt_ms(median(&b.cold_ms)),
            b.cold_requests,
            fmt_ms(median(&b.warm_ms)),
            b.warm_requests
        );
    }
    if let Some(why) = &f.redis_skipped {
        let _ = writeln!(w, "\nRedis was not measured: {why}.");
    }
    let (lat, wall, reqs) = &f.thousand;
    let _ = writeln!(w);
    let _ = writeln!(w, "| measure | value |\n|---|---:|");
    let _ = writeln!(
        w,
        "| 1,000 cached lookups through one session (SQLite): wall time | {} ({:.0} lookups/s) |",
        fmt_ms(ms(*wall)),
        1000.0 / wall.as_secs_f64()
    );
    let _ = writeln!(
        w,
        "| … latency p50 / p99 | {} / {} |",
        fmt_ms(percentile(lat, 50.0)),
        fmt_ms(percentile(lat, 99.0))
    );
    let _ = writeln!(w, "| … upstream requests | {reqs} |");
    let (entries, mem, bytes, wall) = &f.filled;
    let _ = writeln!(
        w,
        "| {} entries written by one session (`get_file`, 8 at a time): wall time | {} |",
        thousands(*entries),
        fmt_ms(ms(*wall))
    );
    match mem {
        Some((rss, hwm)) => {
            let _ = writeln!(
                w,
                "| … RSS after them / peak RSS | {:.1} MiB / {:.1} MiB |",
                mib(*rss),
                mib(*hwm)
            );
        }
        None => {
            let _ = writeln!(w, "| … RSS after them | n/a (no /proc) |");
        }
    }
    let _ = writeln!(
        w,
        "| … cache file (with its write-ahead log) | {:.1} MiB |",
        *bytes as f64 / 1048576.0
    );
    let s = &f.shared;
    let _ = writeln!(
        w,
        "| two processes, one SQLite file, public preset (4/min): {} calls sent at once, upstream requests in the first {} s | {} |",
        2 * s.calls_each,
        s.window.as_secs(),
        s.upstream
    );
    let _ = writeln!(
        w,
        "| … calls answered by then (the rest wait for the next minute's slots) | {} |\n",
        s.answered
    );
}
