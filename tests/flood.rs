//! The HTTP transport under a connection flood: the real binary, at a lowered open-file limit,
//! gets as many idle TCP connections as this process may open (up to 20,000) plus 50 slowloris
//! clients, and must keep running and answer a good client.
//!
//! Its own test binary: it holds thousands of descriptors, which would starve tests running
//! beside it in one process. Loopback only; counts and time are bounded.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The server's open-file limit: far below the flood.
const SERVER_FD_LIMIT: u32 = 256;
const IDLE_WANTED: usize = 20_000;
const SLOWLORIS: usize = 50;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `vtmcp serve --transport http` on a free loopback port under `ulimit -n`, and returns
/// it with its address.
fn start_server() -> (Server, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {SERVER_FD_LIMIT} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_vtmcp"))
        .args(["serve", "--transport", "http", "--listen", "127.0.0.1:0"])
        .env_remove("VTMCP_HTTP_TOKEN")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vtmcp");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("vtmcp ended before listening").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.trim_end_matches("/mcp").to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Server(child), addr)
}

/// How many descriptors this process may still use for the flood.
fn own_fd_budget() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(hard),
            maximum: limit.maximum,
        },
    );
    let current = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    usize::try_from(current.saturating_sub(500)).unwrap_or(usize::MAX)
}

async fn initialize(http: &reqwest::Client, addr: &str) -> reqwest::StatusCode {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}"#;
    http.post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the good client got no answer")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_server_survives_a_connection_flood_and_answers_a_good_client() {
    let (mut server, addr) = start_server();
    let idle_target = IDLE_WANTED.min(own_fd_budget().saturating_sub(SLOWLORIS + 50));
    assert!(
        idle_target > 4 * SERVER_FD_LIMIT as usize,
        "this process may open only {idle_target} connections"
    );
    let started = Instant::now();

    // Idle connections, opened in batches; a connect the kernel does not complete in time (full
    // backlog) counts as tried, not held.
    let mut idle = Vec::with_capacity(idle_target);
    let mut tried = 0;
    while tried < idle_target {
        let batch = (idle_target - tried).min(2_000);
        let connects: Vec<_> = (0..batch)
            .map(|_| {
                let addr = addr.clone();
                tokio::spawn(async move {
                    tokio::time::timeout(
                        Duration::from_secs(3),
                        tokio::net::TcpStream::connect(addr),
                    )
                    .await
                })
            })
            .collect();
        for c in connects {
            if let Ok(Ok(Ok(s))) = c.await {
                idle.push(s);
            }
        }
        tried += batch;
    }

    // Slowloris: request heads that never end, one header line at a time.
    let mut slow = Vec::new();
    for _ in 0..SLOWLORIS {
        if let Ok(Ok(mut s)) = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(&addr),
        )
        .await
        {
            let _ = s
                .write_all(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n")
                .await;
            slow.push(s);
        }
    }
    let drip = tokio::spawn(async move {
        loop {
            for s in &mut slow {
                let _ = s.write_all(b"x-slow: 1\r\n").await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    assert!(
        server.0.try_wait().unwrap().is_none(),
        "vtmcp exited under the flood"
    );
    let flooded = started.elapsed();
    let http = reqwest::Client::new();
    assert_eq!(initialize(&http, &addr).await, 200);
    assert_eq!(initialize(&http, &addr).await, 200);
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "vtmcp exited under the flood"
    );
    eprintln!(
        "flood: {tried} idle connections tried ({} connected), {SLOWLORIS} slowloris clients, server at ulimit -n {SERVER_FD_LIMIT}; flood took {:.1} s; good client answered {:.2} s later",
        idle.len(),
        flooded.as_secs_f64(),
        (started.elapsed() - flooded).as_secs_f64()
    );
    drip.abort();
    drop(idle);
}
