//! A real `redis-server` for the Redis tests: started on a free loopback port with persistence
//! off, stopped by killing its process on drop. Without `redis-server` on the PATH, [`start`]
//! skips the test (see [`skip`](super::skip)) and says how to install it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
}

/// Whether `redis-server` can be run.
fn available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A new server on a free loopback port, or a skip when there is no `redis-server`.
pub fn start(password: Option<&str>) -> Option<RedisServer> {
    if !available() {
        return super::skip(
            "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; \
             macOS: brew install redis)",
        );
    }
    let port = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = RedisServer {
        child: None,
        port,
        password: password.map(str::to_string),
    };
    server.restart();
    Some(server)
}

impl RedisServer {
    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its `redis://` URL (with the password, when it has one).
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The parsed URL, for a [`vtmcp::cache::CacheConfig`].
    pub fn cache_config(&self) -> vtmcp::cache::CacheConfig {
        vtmcp::cache::CacheConfig::redis(vtmcp::cache::RedisUrl::parse(&self.url()).unwrap())
    }

    /// Kills the server (SIGKILL: nothing is saved, clients see the connection drop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: persistence is off) and waits until
    /// it answers.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .args(["--daemonize", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(p) = &self.password {
                cmd.args(["--requirepass", p]);
            }
            let mut child = cmd.spawn().expect("redis-server starts");
            // Ready once it answers a PING (or, with a password, refuses it for want of AUTH).
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (the port may still be held by the old one): start again
                }
                if ping(self.port) {
                    self.child = Some(child);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Whether a Redis server answers on `port`.
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && (buf.starts_with(b"+PONG") || buf.starts_with(b"-NOAUTH")))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
