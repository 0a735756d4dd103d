//! Streamable HTTP transport: rmcp's service behind a small gate that checks, before anything
//! reaches the MCP layer, the bearer token (constant-time comparison), the `Origin` header
//! (DNS-rebinding protection: only loopback origins, or none), and the request size.
//! Binding a non-loopback address without a token is refused.

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
    token: Option<String>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    let token = token.filter(|t| !t.is_empty());
    check_bind(&addr, token.as_deref())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("vtmcp: Streamable HTTP on http://{local}/mcp");
    serve_listener(server, listener, token, shutdown).await
}

/// Serves on an already bound listener (tests bind port 0).
pub async fn serve_listener(
    server: VtServer,
    listener: tokio::net::TcpListener,
    token: Option<String>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
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
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let token: Arc<Option<String>> = Arc::new(token);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => r.map_err(|e| e.to_string())?,
            _ = &mut shutdown => { ct.cancel(); return Ok(()); }
        };
        let mcp = mcp.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut mcp = mcp.clone();
                let token = token.clone();
                async move {
                    if let Some(denied) = gate(&req, token.as_deref()) {
                        return Ok::<_, Infallible>(denied);
                    }
                    let req = req.map(|b| http_body_util::Limited::new(b, MAX_BODY_BYTES as usize));
                    mcp.call(req).await
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
