//! Streamable HTTP transport: rmcp's service behind a small gate that checks, before anything
//! reaches the MCP layer, the bearer token (constant-time comparison), the `Origin` header
//! (DNS-rebinding protection: only loopback origins, or none), the path (`/mcp` only) and the
//! request size. Binding a non-loopback address without a token is refused, and a token must be
//! at least [`MIN_TOKEN_LEN`] characters.
//!
//! Resources are bounded so that nobody can take the server down without a token:
//! - **Connections**: HTTP/1.1 only, `TCP_NODELAY` (rmcp writes an SSE answer in two pieces; with
//!   Nagle on, each answer waited for the client's delayed ACK), at most
//!   [`Options::max_connections`] open (lowered to fit the process's file limit). When the cap is
//!   reached, the oldest connection that has not yet sent an admitted request is closed to make
//!   room, so idle or slowloris connections cannot lock out a real client; if every connection is
//!   in use, the new one is closed.
//! - **Time**: a request head must arrive within [`Options::header_timeout`], and a kept-alive
//!   connection idle for that long is closed (hyper's header-read timer covers both).
//! - **`accept` failures** (`EMFILE` and the like) are logged and survived: the server closes the
//!   oldest unadmitted connection, backs off briefly and goes on serving.
//! - **Sessions**: at most [`Options::max_sessions`] are open at once (a new one beyond that gets
//!   `503`), and a session idle for [`SESSION_IDLE`] is closed.

use crate::mcp::VtServer;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Request, Response, StatusCode, body::Incoming};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tower_service::Service;

/// Largest request body accepted (tool arguments are small).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// How long a request that opens a session may take to send its body.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Default for [`Options::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 32;

/// A session with no traffic for this long is closed (its client must initialize again).
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// Default for [`Options::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Default for [`Options::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The shortest bearer token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// File descriptors kept free of client connections (upstream connections, downloads, logs).
const FD_RESERVE: u64 = 64;

/// Pause after a failed `accept` before the next one.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(20);

/// The path MCP is served at.
pub const MCP_PATH: &str = "/mcp";

/// How the HTTP transport admits clients.
#[derive(Clone)]
pub struct Options {
    /// Bearer token every request must carry (`None` or empty: no token, loopback only).
    pub token: Option<String>,
    /// The most sessions open at once.
    pub max_sessions: usize,
    /// The most TCP connections open at once (lowered to fit the process's file limit).
    pub max_connections: usize,
    /// How long a client may take to send a request head, and how long a kept-alive connection
    /// may sit idle.
    pub header_timeout: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_sessions", &self.max_sessions)
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .finish()
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn plain(status: StatusCode, msg: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(msg.to_string())).boxed())
        .expect("static response")
}

/// Checks one request; `None` lets it through.
pub fn gate(req: &Request<Incoming>, token: Option<&str>) -> Option<Response<Body>> {
    if req.uri().path() != MCP_PATH {
        return Some(plain(
            StatusCode::NOT_FOUND,
            "not found: MCP is served at /mcp",
        ));
    }
    if let Some(token) = token {
        // RFC 9110: the scheme is case-insensitive. A repeated header is refused.
        let mut values = req.headers().get_all(hyper::header::AUTHORIZATION).iter();
        let given = match (values.next(), values.next()) {
            (Some(v), None) => v
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
                .unwrap_or(""),
            _ => "",
        };
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return Some(
                Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header("www-authenticate", "Bearer")
                    .body(Full::new(Bytes::from_static(b"missing or wrong bearer token")).boxed())
                    .expect("static response"),
            );
        }
    }
    if req.headers().get_all(hyper::header::HOST).iter().count() > 1 {
        return Some(plain(StatusCode::BAD_REQUEST, "more than one Host header"));
    }
    // Every Origin value must be a loopback origin (a second one must not slip through).
    let foreign = req
        .headers()
        .get_all(hyper::header::ORIGIN)
        .iter()
        .any(|origin| {
            !origin
                .to_str()
                .ok()
                .and_then(|o| url::Url::parse(o).ok())
                .is_some_and(|u| {
                    matches!(u.host(), Some(url::Host::Domain("localhost")))
                        || matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                        || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                })
        });
    if foreign {
        return Some(plain(
            StatusCode::FORBIDDEN,
            "requests from this Origin are not allowed",
        ));
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Some(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        ));
    }
    None
}

fn too_many_sessions(open: usize) -> Response<Body> {
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "too many open MCP sessions ({open}): end one (HTTP DELETE with its Mcp-Session-Id), wait for an idle one to close, or raise --max-sessions"
        ),
    );
    r.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from_static("60"),
    );
    r
}

/// Refuses a non-loopback address without a token, and a weak token.
pub fn check_bind(addr: &SocketAddr, token: Option<&str>) -> Result<(), String> {
    if let Some(t) = token {
        check_token(t)?;
    }
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "refusing to listen on {addr} (not loopback) without a bearer token: set VTMCP_HTTP_TOKEN, or listen on 127.0.0.1"
        ));
    }
    Ok(())
}

/// A bearer token must be at least [`MIN_TOKEN_LEN`] visible ASCII characters.
pub fn check_token(token: &str) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "VTMCP_HTTP_TOKEN must be at least {MIN_TOKEN_LEN} visible ASCII characters, without spaces (e.g. the output of `openssl rand -hex 32`)"
        ));
    }
    Ok(())
}

/// The connection cap that fits the process's open-file limit.
fn fitting_connection_cap(wanted: usize) -> usize {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(limit) = limit {
            let room = usize::try_from(limit.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
            if room < wanted {
                tracing::warn!(
                    "the open-file limit ({limit}) allows only {} HTTP connections; raise it (ulimit -n) to allow {wanted}",
                    room.max(1)
                );
                return room.max(1);
            }
        }
    }
    wanted.max(1)
}

/// Open connections. A connection is *unadmitted* until a request of it has passed the
/// [`gate`]; those are the ones closed first when room is needed.
struct Connections {
    cap: usize,
    state: std::sync::Mutex<ConnState>,
}

#[derive(Default)]
struct ConnState {
    next_id: u64,
    /// Connections with no admitted request yet, oldest first.
    unadmitted: std::collections::BTreeMap<u64, tokio_util::sync::CancellationToken>,
    /// Connections that sent an admitted request.
    admitted: std::collections::HashSet<u64>,
}

impl ConnState {
    fn open(&self) -> usize {
        self.unadmitted.len() + self.admitted.len()
    }
}

/// One open connection's place; dropping it gives the place back.
struct Slot {
    conns: Arc<Connections>,
    id: u64,
    closed: tokio_util::sync::CancellationToken,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the oldest unadmitted connection (its place is free at once); false if there is
    /// none.
    fn evict_oldest(state: &mut ConnState) -> bool {
        match state.unadmitted.pop_first() {
            Some((_, closed)) => {
                closed.cancel();
                true
            }
            None => false,
        }
    }

    /// A place for a new connection, making room if the cap is reached; `None` if every
    /// connection is admitted and busy.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut state = self.lock();
        if state.open() >= self.cap && !Self::evict_oldest(&mut state) {
            return None;
        }
        state.next_id += 1;
        let id = state.next_id;
        let closed = tokio_util::sync::CancellationToken::new();
        state.unadmitted.insert(id, closed.clone());
        Some(Slot {
            conns: self.clone(),
            id,
            closed,
        })
    }

    fn make_room(&self) -> bool {
        Self::evict_oldest(&mut self.lock())
    }
}

impl Slot {
    /// The connection sent a request that passed the gate: it is no longer first to go.
    fn admitted(&self) {
        let mut state = self.conns.lock();
        if state.unadmitted.remove(&self.id).is_some() {
            state.admitted.insert(self.id);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.conns.lock();
        state.unadmitted.remove(&self.id);
        state.admitted.remove(&self.id);
    }
}

/// Serves `server` over Streamable HTTP on `listen` until `shutdown` completes.
pub async fn serve(
    server: VtServer,
    listen: &str,
    options: Options,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    check_bind(&addr, options.token.as_deref())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("vtmcp: Streamable HTTP on http://{local}/mcp");
    serve_listener(server, listener, options, shutdown).await
}

/// Serves on an already bound listener (tests bind port 0).
pub async fn serve_listener(
    server: VtServer,
    listener: tokio::net::TcpListener,
    options: Options,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let token = options.token.filter(|t| !t.is_empty());
    if let Some(t) = &token {
        check_token(t)?;
    }
    let max_sessions = options.max_sessions.max(1);
    let header_timeout = options.header_timeout;
    let conns = Arc::new(Connections {
        cap: fitting_connection_cap(options.max_connections),
        state: Default::default(),
    });
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut config = StreamableHttpServerConfig::default();
    config.max_request_body_bytes = MAX_BODY_BYTES as usize;
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    hosts.push(local.ip().to_string());
    config = config.with_allowed_hosts(hosts);
    let ct = config.cancellation_token.clone();
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(SESSION_IDLE);
    let sessions = Arc::new(sessions);
    let mcp = StreamableHttpService::new(move || Ok(server.clone()), sessions.clone(), config);
    // New sessions are admitted one at a time, so the count checked is the count kept.
    let admitting = Arc::new(tokio::sync::Mutex::new(()));
    let token: Arc<Option<String>> = Arc::new(token);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = &mut shutdown => { ct.cancel(); return Ok(()); }
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors (or another passing failure): make room, back off,
                // keep serving. Never end the server for it.
                let closed = conns.make_room();
                tracing::warn!(error = %e, closed_idle = closed, "accepting a connection failed; backing off");
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = &mut shutdown => { ct.cancel(); return Ok(()); }
                }
                continue;
            }
        };
        let Some(slot) = conns.admit() else {
            tracing::debug!(
                "connection cap reached and every connection is in use; closing a new one"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mcp = mcp.clone();
        let token = token.clone();
        let sessions = sessions.clone();
        let admitting = admitting.clone();
        tokio::spawn(async move {
            let slot = Arc::new(slot);
            let closed = slot.closed.clone();
            let svc_slot = slot.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut mcp = mcp.clone();
                let token = token.clone();
                let sessions = sessions.clone();
                let admitting = admitting.clone();
                let slot = svc_slot.clone();
                async move {
                    if let Some(denied) = gate(&req, token.as_deref()) {
                        return Ok::<_, Infallible>(denied);
                    }
                    slot.admitted();
                    let ending = req.method() == hyper::Method::DELETE;
                    let opens_session = req.method() == hyper::Method::POST
                        && !req.headers().contains_key("mcp-session-id");
                    if !opens_session {
                        let req =
                            req.map(|b| http_body_util::Limited::new(b, MAX_BODY_BYTES as usize));
                        let mut resp = mcp.call(req).await?;
                        if ending && resp.status() == StatusCode::ACCEPTED {
                            // A session ended: 204, as clients (e.g. the Python SDK) expect.
                            *resp.status_mut() = StatusCode::NO_CONTENT;
                            *resp.body_mut() = Full::new(Bytes::new()).boxed();
                        }
                        return Ok(resp);
                    }
                    // A request that opens a session is read whole first (bounded in size and
                    // time), so a slow client cannot hold up the admission of others.
                    let (parts, body) = req.into_parts();
                    let body = http_body_util::Limited::new(body, MAX_BODY_BYTES as usize);
                    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, body.collect()).await {
                        Ok(Ok(b)) => b.to_bytes(),
                        Ok(Err(_)) => {
                            return Ok(plain(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "request body too large",
                            ));
                        }
                        Err(_) => {
                            return Ok(plain(
                                StatusCode::REQUEST_TIMEOUT,
                                "request body not received in time",
                            ));
                        }
                    };
                    let _turn = admitting.lock().await;
                    let open = sessions.sessions.read().await.len();
                    if open >= max_sessions {
                        return Ok(too_many_sessions(open));
                    }
                    mcp.call(Request::from_parts(parts, Full::new(body))).await
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(io, svc);
            tokio::select! {
                _ = conn => {}
                _ = closed.cancelled() => {}
            }
            drop(slot);
        });
    }
}
