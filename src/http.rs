//! Streamable HTTP transport: rmcp's service behind a small gate that checks, before anything
//! reaches the MCP layer, the bearer token (constant-time comparison), the `Origin` header
//! (DNS-rebinding protection: only loopback origins, or none), the path (`/mcp` only) and the
//! request size; rmcp then checks the `Host` header (loopback names, the listening address and
//! [`Options::allowed_hosts`]). Binding a non-loopback address without a token is refused, and a token must be
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
//!
//! **Stateless mode** ([`Options::stateless`], `--stateless`) is for several instances behind a
//! load balancer: rmcp answers every `POST` on its own (no `Mcp-Session-Id`, nothing kept
//! between requests), `GET` and `DELETE` get `405` (`Allow: POST`), and a request may reach any
//! instance. What a request needs lives in the one [`VtServer`] shared by all of them (client,
//! cache, limiter, detected tier; with a shared cache store, other instances share the answers
//! and the quota windows too). Tier detection starts once, when the server starts; until it
//! ends the public set is listed, and since there is no session to send
//! `notifications/tools/list_changed` to, the server does not declare `tools.listChanged`
//! ([`VtServer::without_sessions`]) and a client sees the larger set when it lists again.
//! Progress notifications of a call still reach the client: the answer is an SSE stream that
//! carries them before the result. The gate, body limits and connection cap below apply as in
//! the default mode; the session cap does not (there are none).
//!
//! Requests are answered so that clients neither hang nor loop:
//! - **No resumable streams**: rmcp 3.11 numbers every SSE event and sends a priming event, so a
//!   client whose call was cancelled (or timed out) resumes the finished stream with
//!   `Last-Event-ID`, gets an empty `200` (or an event it already had) and tries again every 3 s
//!   for the life of the session (rust-sdk issue #958). Events carry no id and no priming event
//!   is sent, so clients have nothing to resume; a `GET` with `Last-Event-ID` gets `405`, which
//!   the TypeScript SDK and rmcp's client take as "no stream here" and stop.
//! - **Request ids**: a request whose id is that of a request still in progress in its session
//!   gets a JSON-RPC error and is not run ([`crate::mcp::UniqueIds`]); before, rmcp answered only
//!   one of the two.
//! - **Bodies**: every `POST` body is read whole first, within [`MAX_BODY_BYTES`] (`413`, also
//!   for chunked bodies) and [`BODY_READ_TIMEOUT`] (`408`); a body declared JSON that is not
//!   JSON, or not a JSON-RPC message, gets `400` with a JSON-RPC error (`415` stays for a body
//!   that is not declared JSON).

use crate::mcp::{InFlight, UniqueIds, VtServer};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Request, Response, StatusCode, body::Incoming};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tower_service::Service;

/// Largest request body accepted (tool arguments are small).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// How long a request that opens a session may take to send its body.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Default for [`Options::max_sessions`] (the configuration's default, kept with it).
pub use crate::config::DEFAULT_MAX_SESSIONS;

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
    /// The most sessions open at once (no meaning when [`Options::stateless`]).
    pub max_sessions: usize,
    /// The most TCP connections open at once (lowered to fit the process's file limit).
    pub max_connections: usize,
    /// How long a client may take to send a request head, and how long a kept-alive connection
    /// may sit idle.
    pub header_timeout: std::time::Duration,
    /// Serve without sessions: every `POST` is answered on its own, so that any of several
    /// instances can answer any request (see the module docs).
    pub stateless: bool,
    /// `Host` values accepted besides the loopback names and the listening address (a load
    /// balancer's or a container's name, `name` or `name:port`); any other gets `403`
    /// (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            stateless: false,
            allowed_hosts: Vec::new(),
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
            .field("stateless", &self.stateless)
            .field("allowed_hosts", &self.allowed_hosts)
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

/// The answer to a `GET` that asks to resume a stream (`Last-Event-ID`): events carry no ids, so
/// there is nothing to resume. `405` is what the TypeScript SDK and rmcp's client take as "no
/// stream here": they stop, where an empty `200` made them retry every 3 s for good.
fn no_resume() -> Response<Body> {
    let mut r = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "vtmcp does not resume SSE streams (its events carry no ids): a stream that ended is finished, its request answered or cancelled. Send a request again to retry it.",
    );
    r.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static("GET, POST, DELETE"),
    );
    r
}

/// Reads a request body whole, within [`MAX_BODY_BYTES`] and [`BODY_READ_TIMEOUT`].
async fn read_body(body: Incoming) -> Result<Bytes, Response<Body>> {
    let body = http_body_util::Limited::new(body, MAX_BODY_BYTES as usize);
    match tokio::time::timeout(BODY_READ_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )),
        Ok(Err(_)) => Err(plain(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
        Err(_) => Err(plain(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time",
        )),
    }
}

/// A body declared JSON must be a JSON-RPC message: one that is not JSON (`-32700`), or JSON but
/// not a message (`-32600`), gets `400` with a JSON-RPC error; rmcp answered `415`, which says
/// the media type is wrong. A body not declared JSON is left to rmcp (`415`).
fn check_json(headers: &hyper::HeaderMap, body: &[u8]) -> Option<Response<Body>> {
    let declared_json = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !declared_json || serde_json::from_slice::<ClientJsonRpcMessage>(body).is_ok() {
        return None;
    }
    let (code, problem) = match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Err(e) => (-32700, format!("Parse error: the body is not JSON ({e})")),
        Ok(_) => (
            -32600,
            "Invalid Request: the body is JSON but not a JSON-RPC request, notification or response"
                .to_string(),
        ),
    };
    let error = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": problem}});
    Some(
        Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(error.to_string())).boxed())
            .expect("static response"),
    )
}

/// rmcp's in-memory sessions ([`LocalSessionManager`]) with two changes: SSE events carry no
/// ids (nothing to resume, see the module docs), and a request whose id is that of a request
/// still in progress in its session is answered with a JSON-RPC error before it reaches the
/// session (whose routing is by request id: the duplicate took over the first one's answer).
struct Sessions {
    local: LocalSessionManager,
    in_flight: std::sync::Mutex<HashMap<SessionId, InFlight>>,
}

impl Sessions {
    fn new(local: LocalSessionManager) -> Sessions {
        Sessions {
            local,
            in_flight: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, InFlight>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sessions open now.
    async fn open(&self) -> usize {
        self.local.sessions.read().await.len()
    }
}

/// The stream without event ids.
fn without_event_ids(
    stream: impl Stream<Item = ServerSseMessage>,
) -> impl Stream<Item = ServerSseMessage> {
    stream.map(|mut m| {
        m.event_id = None;
        m
    })
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = UniqueIds<<LocalSessionManager as SessionManager>::Transport>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.local.create_session().await?;
        let ids = InFlight::default();
        self.lock().insert(id.clone(), ids.clone());
        Ok((id, UniqueIds::releasing(transport, ids)))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.local.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.local.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.lock().remove(id);
        self.local.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let claimed = match &message {
            ClientJsonRpcMessage::Request(r) => {
                let ids = self.lock().get(id).cloned();
                ids.map(|ids| (ids, r.id.clone()))
            }
            _ => None,
        };
        if let Some((ids, request)) = &claimed
            && !ids.claim(request)
        {
            tracing::debug!(id = %request, "refusing a request whose id is in progress");
            let refusal = ServerSseMessage::from_message(crate::mcp::duplicate_id(request));
            return Ok(futures::stream::iter([refusal]).left_stream());
        }
        match self.local.create_stream(id, message).await {
            Ok(stream) => Ok(without_event_ids(stream).right_stream()),
            Err(e) => {
                if let Some((ids, request)) = claimed {
                    ids.release(&request);
                }
                Err(e)
            }
        }
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.local.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(without_event_ids(
            self.local.create_standalone_stream(id).await?,
        ))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        // Not reached (a resume gets `405` first); kept without ids all the same.
        Ok(without_event_ids(
            self.local.resume(id, last_event_id).await?,
        ))
    }
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
    let mode = if options.stateless {
        " (stateless)"
    } else {
        ""
    };
    eprintln!("vtmcp: Streamable HTTP on http://{local}/mcp{mode}");
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
    let stateless = options.stateless;
    let header_timeout = options.header_timeout;
    let conns = Arc::new(Connections {
        cap: fitting_connection_cap(options.max_connections),
        state: Default::default(),
    });
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut config = StreamableHttpServerConfig::default();
    config.max_request_body_bytes = MAX_BODY_BYTES as usize;
    // No priming events: nothing for a client to resume (see the module docs).
    config.sse_retry = None;
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    hosts.push(local.ip().to_string());
    hosts.extend(
        options
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty()),
    );
    config = config.with_allowed_hosts(hosts);
    // Stateless: no sessions, each POST served on its own (SSE answers, so that progress and
    // keep-alive comments reach the client during a long wait).
    config.legacy_session_mode = !stateless;
    let server = if stateless {
        // Once per process, not per request; requests share the outcome through `server`.
        server.start_tier_detection();
        server.without_sessions()
    } else {
        server
    };
    let ct = config.cancellation_token.clone();
    let mut local_sessions = LocalSessionManager::default();
    local_sessions.session_config.keep_alive = Some(SESSION_IDLE);
    local_sessions.session_config.sse_retry = None;
    let sessions = Arc::new(Sessions::new(local_sessions));
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
                    // Stateless: rmcp answers GET and DELETE with 405 (`Allow: POST`) itself.
                    if !stateless
                        && req.method() == hyper::Method::GET
                        && req.headers().contains_key("last-event-id")
                    {
                        return Ok(no_resume());
                    }
                    if req.method() != hyper::Method::POST {
                        let ending = req.method() == hyper::Method::DELETE;
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
                    // Every POST body is read whole first, bounded in size and time: a slow
                    // client cannot hold up the admission of others, and a body too large gets
                    // 413 however it is sent (rmcp answered 500 to a chunked one cut short).
                    let opens_session = !stateless && !req.headers().contains_key("mcp-session-id");
                    let (parts, body) = req.into_parts();
                    let body = match read_body(body).await {
                        Ok(b) => b,
                        Err(refused) => return Ok(refused),
                    };
                    if let Some(refused) = check_json(&parts.headers, &body) {
                        return Ok(refused);
                    }
                    let req = Request::from_parts(parts, Full::new(body));
                    if !opens_session {
                        return mcp.call(req).await;
                    }
                    let _turn = admitting.lock().await;
                    let open = sessions.open().await;
                    if open >= max_sessions {
                        return Ok(too_many_sessions(open));
                    }
                    mcp.call(req).await
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
