//! Streamable HTTP transport: rmcp's service behind a small gate that checks, before anything
//! reaches the MCP layer, the bearer token (constant-time comparison), the `Origin` header
//! (DNS-rebinding protection: only loopback origins, or none), and the request size.
//! Binding a non-loopback address without a token is refused. Sessions are bounded: at most
//! [`Options::max_sessions`] are open at once (a new one beyond that gets `503`), and a session
//! idle for [`SESSION_IDLE`] is closed.

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

/// How the HTTP transport admits clients.
#[derive(Clone)]
pub struct Options {
    /// Bearer token every request must carry (`None` or empty: no token, loopback only).
    pub token: Option<String>,
    /// The most sessions open at once.
    pub max_sessions: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_sessions", &self.max_sessions)
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
    if let Some(token) = token {
        let given = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
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
    if let Some(origin) = req.headers().get(hyper::header::ORIGIN) {
        let ok = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .is_some_and(|u| {
                matches!(u.host(), Some(url::Host::Domain("localhost")))
                    || matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                    || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            });
        if !ok {
            return Some(plain(
                StatusCode::FORBIDDEN,
                "requests from this Origin are not allowed",
            ));
        }
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

/// Refuses a non-loopback address without a token.
pub fn check_bind(addr: &SocketAddr, token: Option<&str>) -> Result<(), String> {
    if !addr.ip().is_loopback() && token.is_none_or(|t| t.is_empty()) {
        return Err(format!(
            "refusing to listen on {addr} (not loopback) without a bearer token: set VTMCP_HTTP_TOKEN, or listen on 127.0.0.1"
        ));
    }
    Ok(())
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
    let max_sessions = options.max_sessions.max(1);
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
        let (stream, _) = tokio::select! {
            r = listener.accept() => r.map_err(|e| e.to_string())?,
            _ = &mut shutdown => { ct.cancel(); return Ok(()); }
        };
        let mcp = mcp.clone();
        let token = token.clone();
        let sessions = sessions.clone();
        let admitting = admitting.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut mcp = mcp.clone();
                let token = token.clone();
                let sessions = sessions.clone();
                let admitting = admitting.clone();
                async move {
                    if let Some(denied) = gate(&req, token.as_deref()) {
                        return Ok::<_, Infallible>(denied);
                    }
                    let opens_session = req.method() == hyper::Method::POST
                        && !req.headers().contains_key("mcp-session-id");
                    if !opens_session {
                        let req =
                            req.map(|b| http_body_util::Limited::new(b, MAX_BODY_BYTES as usize));
                        return mcp.call(req).await;
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
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(io, svc)
                    .await;
        });
    }
}
