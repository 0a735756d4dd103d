//! Running where analysts work: through a corporate proxy and past TLS inspection. Every server
//! here is on loopback and run by the test itself: a mock VirusTotal (wiremock), an HTTPS front
//! for it whose certificate a CA made by the test signs (rcgen, tokio-rustls), and a proxy that
//! answers `CONNECT` (tunnels, for https) and absolute-form requests (forwarding, for http) and
//! records what it saw. Proxies are configured per client ([`ProxySettings`]), never through the
//! process environment, so these tests run in parallel with all others.

use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};
use vtmcp::client::{CaCertificates, ProxySettings, RetryPolicy};
use vtmcp::{Client, Error};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

const KEY: &str = "network-test-key-5f1e2d3c4b5a69788796a5b4c3d2e1f0";
const PROXY_USER: &str = "analyst";
const PROXY_PASSWORD: &str = "proxy-password-7c1f9e";
const IP_PATH: &str = "/api/v3/ip_addresses/8.8.8.8";

// ---------------------------------------------------------------------------------------------
// A private CA and an HTTPS front signed by it.

struct Pki {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: PrivatePkcs8KeyDer<'static>,
}

/// A CA ("vtmcp test inspection CA") and a server certificate for 127.0.0.1 it signed, as a
/// TLS-inspecting proxy would make them.
fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "vtmcp test inspection CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf.signed_by(&leaf_key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        leaf: leaf.der().clone(),
        leaf_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
    }
}

/// Terminates TLS with the certificate of `pki` on a loopback port and passes the plain bytes
/// on to `backend`. Returns its address.
async fn https_front(pki: &Pki, backend: SocketAddr) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.leaf.clone()],
            PrivateKeyDer::Pkcs8(pki.leaf_key.clone_key()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate aborts the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

/// The mock VirusTotal: `GET /api/v3/ip_addresses/8.8.8.8` answers the fixture, whatever key.
async fn mock_vt() -> MockServer {
    let server = MockServer::start().await;
    let body: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ip_address.json"
        ))
        .unwrap(),
    )
    .unwrap();
    Mock::given(method("GET"))
        .and(path(IP_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

// ---------------------------------------------------------------------------------------------
// A proxy that records what it sees.

#[derive(Default)]
struct ProxyLog {
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// The request head of each connection (`CONNECT …` or an absolute-form request).
    heads: Mutex<Vec<String>>,
    /// Every byte the client sent into a `CONNECT` tunnel.
    tunnelled: Mutex<Vec<u8>>,
}

impl ProxyLog {
    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ProxyMode {
    /// Tunnels `CONNECT` and forwards absolute-form requests (to loopback only).
    Serve,
    /// Answers every request with `407 Proxy Authentication Required`.
    Deny,
}

/// Starts a proxy on loopback: (its URL with the test credentials in it, what it saw).
async fn start_proxy(mode: ProxyMode) -> (String, Arc<ProxyLog>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(ProxyLog::default());
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            seen.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(proxy_connection(client, seen.clone(), mode));
        }
    });
    (format!("http://{PROXY_USER}:{PROXY_PASSWORD}@{addr}"), log)
}

async fn proxy_connection(mut client: TcpStream, log: Arc<ProxyLog>, mode: ProxyMode) {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    log.heads.lock().unwrap().push(head.clone());
    if mode == ProxyMode::Deny {
        let _ = client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\
                  Connection: close\r\n\r\n",
            )
            .await;
        return;
    }
    let mut words = head.split_whitespace();
    let (verb, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let tunnel = verb == "CONNECT";
    let authority = if tunnel {
        target
    } else {
        target
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("")
    };
    // This proxy only ever reaches the test's own loopback servers.
    let Some(upstream) = authority
        .parse::<SocketAddr>()
        .ok()
        .filter(|a| a.ip().is_loopback())
    else {
        let _ = client
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(upstream).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    if !tunnel {
        // Forwarding: the request goes on as it came, absolute-form (servers must accept it).
        if upstream.write_all(&buf).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        return;
    }
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let early = buf[head_end..].to_vec();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let up = async move {
        log.tunnelled.lock().unwrap().extend_from_slice(&early);
        if upstream_write.write_all(&early).await.is_err() {
            return;
        }
        let mut chunk = [0u8; 8192];
        loop {
            let n = match client_read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            log.tunnelled.lock().unwrap().extend_from_slice(&chunk[..n]);
            if upstream_write.write_all(&chunk[..n]).await.is_err() {
                break;
            }
        }
        let _ = upstream_write.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// The `Proxy-Authorization` value the test credentials make.
fn proxy_authorization() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}"))
    )
}

/// Asserts that `text` holds neither the API key nor the proxy's password (plain or as the
/// base64 of `user:password`).
fn assert_no_secrets(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what} holds the API key: {text}");
    assert!(
        !text.contains(PROXY_PASSWORD),
        "{what} holds the proxy password: {text}"
    );
    let basic = proxy_authorization();
    let encoded = basic.trim_start_matches("Basic ");
    assert!(
        !text.contains(encoded),
        "{what} holds the proxy credentials in base64: {text}"
    );
}

async fn lookup(client: &Client) -> Result<Value, Error> {
    client
        .get_ip_address()
        .ip("8.8.8.8")
        .send()
        .await
        .map(|r| serde_json::to_value(r.into_inner()).unwrap())
}

fn ca(pki: &Pki) -> CaCertificates {
    CaCertificates::from_pem(pki.ca_pem.as_bytes(), "the test CA").unwrap()
}

// ---------------------------------------------------------------------------------------------
// Proxies.

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_that_carries_the_key_only_encrypted() {
    let vt = mock_vt().await;
    let pki = pki();
    let front = https_front(&pki, *vt.address()).await;
    let (proxy, log) = start_proxy(ProxyMode::Serve).await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(format!("https://{front}/api/v3"))
        .ca_certificates([ca(&pki)])
        .proxy(ProxySettings::none().with_https(&proxy))
        .build()
        .unwrap();
    let report = lookup(&client).await.unwrap();
    assert_eq!(report["data"]["id"], "8.8.8.8");

    // The proxy was asked for a tunnel to the front, with the proxy's credentials, and that
    // is all it read: no path, no key.
    let heads = log.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = &heads[0];
    assert!(
        head.starts_with(&format!("CONNECT {front} HTTP/1.1\r\n")),
        "{head}"
    );
    assert!(
        head.lines()
            .any(|l| l
                .eq_ignore_ascii_case(&format!("proxy-authorization: {}", proxy_authorization()))),
        "the proxy's credentials go in Proxy-Authorization: {head}"
    );
    for secret in [KEY, "x-apikey", "ip_addresses"] {
        assert!(
            !head.contains(secret),
            "{secret} in the CONNECT head: {head}"
        );
    }
    // Inside the tunnel: TLS only. The key, the header name and the path never pass in clear.
    let tunnelled = log.tunnelled.lock().unwrap().clone();
    assert!(tunnelled.len() > 100, "the request went through the tunnel");
    assert_eq!(tunnelled[0], 0x16, "the tunnel starts with a TLS handshake");
    for secret in [KEY, "x-apikey", "ip_addresses"] {
        assert!(
            !tunnelled
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "{secret} crossed the proxy in clear"
        );
    }
    // The server behind the tunnel got the key, and no proxy credentials.
    let received = vt.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].headers["x-apikey"], KEY);
    assert!(!received[0].headers.contains_key("proxy-authorization"));
}

#[tokio::test]
async fn plain_http_goes_through_a_forward_proxy_in_absolute_form() {
    let vt = mock_vt().await;
    let (proxy, log) = start_proxy(ProxyMode::Serve).await;
    let base = format!("{}/api/v3", vt.uri());
    // Without a key: a forward proxy reads each request whole.
    let client = Client::builder()
        .base_url(&base)
        .proxy(ProxySettings::none().with_http(&proxy))
        .build()
        .unwrap();
    let report = lookup(&client).await.unwrap();
    assert_eq!(report["data"]["id"], "8.8.8.8");
    let heads = log.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with(&format!("GET {base}/ip_addresses/8.8.8.8 HTTP/1.1\r\n")),
        "absolute-form: {}",
        heads[0]
    );
    assert!(
        heads[0].to_ascii_lowercase().contains(&format!(
            "proxy-authorization: {}",
            proxy_authorization().to_ascii_lowercase()
        )),
        "{}",
        heads[0]
    );
    let received = vt.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert!(!received[0].headers.contains_key("x-apikey"));
}

#[tokio::test]
async fn a_key_is_never_handed_to_a_forward_proxy_in_clear() {
    let vt = mock_vt().await;
    let (proxy, log) = start_proxy(ProxyMode::Serve).await;
    for settings in [
        ProxySettings::none().with_http(&proxy),
        ProxySettings::all(&proxy),
        // A NO_PROXY entry for another host changes nothing.
        ProxySettings::all(&proxy).with_no_proxy("example.com, 10.0.0.0/8"),
        ProxySettings::from_vars(|name| (name == "http_proxy").then(|| proxy.clone())),
    ] {
        let e = Client::builder()
            .api_key(KEY)
            .base_url(vt.uri())
            .proxy(settings.clone())
            .build()
            .err()
            .unwrap_or_else(|| panic!("built with {settings:?}"));
        let msg = e.to_string();
        assert!(matches!(e, Error::Config(_)), "{msg}");
        assert!(
            msg.contains("plain http") && msg.contains("NO_PROXY"),
            "{msg}"
        );
        assert_no_secrets("the refusal", &msg);
        assert_no_secrets("the refusal's Debug", &format!("{e:?}"));
    }
    assert_eq!(log.connections.load(Ordering::SeqCst), 0);
    assert!(vt.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn no_proxy_hosts_are_reached_directly() {
    let vt = mock_vt().await;
    let (proxy, log) = start_proxy(ProxyMode::Serve).await;
    let variables = |name: &str| match name {
        "HTTP_PROXY" | "HTTPS_PROXY" => Some(proxy.clone()),
        "no_proxy" => Some("localhost, 127.0.0.0/8".to_string()),
        _ => None,
    };
    for settings in [
        ProxySettings::all(&proxy).with_no_proxy("127.0.0.1"),
        ProxySettings::all(&proxy).with_no_proxy("*"),
        ProxySettings::from_vars(variables),
        // In a CGI program the variables are ignored (httpoxy).
        ProxySettings::from_vars(|name| match name {
            "REQUEST_METHOD" => Some("GET".into()),
            "HTTP_PROXY" => Some(proxy.clone()),
            _ => None,
        }),
    ] {
        // With a key too: it goes to VirusTotal only.
        let client = Client::builder()
            .api_key(KEY)
            .base_url(format!("{}/api/v3", vt.uri()))
            .proxy(settings.clone())
            .build()
            .unwrap_or_else(|e| panic!("{settings:?}: {e}"));
        lookup(&client).await.unwrap();
    }
    assert_eq!(
        log.connections.load(Ordering::SeqCst),
        0,
        "{:?}",
        log.heads()
    );
    let received = vt.received_requests().await.unwrap();
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|r| r.headers["x-apikey"] == KEY));
}

#[tokio::test]
async fn proxy_credentials_never_appear_in_debug_output_or_errors() {
    let vt = mock_vt().await;
    let pki = pki();
    let front = https_front(&pki, *vt.address()).await;
    let base = format!("https://{front}/api/v3");

    // Debug of the settings, the builder and the client.
    let (proxy, log) = start_proxy(ProxyMode::Deny).await;
    let settings = ProxySettings::all(&proxy);
    assert_no_secrets("ProxySettings Debug", &format!("{settings:?}"));
    assert!(format!("{settings:?}").contains("<credentials>@127.0.0.1"));
    let builder = Client::builder()
        .api_key(KEY)
        .base_url(&base)
        .ca_certificates([ca(&pki)])
        .retry(RetryPolicy::none())
        .proxy(settings);
    assert_no_secrets("ClientBuilder Debug", &format!("{builder:?}"));
    let client = builder.build().unwrap();
    assert_no_secrets("Client Debug", &format!("{client:?}"));

    // A proxy that refuses the credentials.
    let e = lookup(&client).await.unwrap_err();
    assert_no_secrets("the error of a 407", &e.to_string());
    assert_no_secrets("the error of a 407 (Debug)", &format!("{e:?}"));
    assert_eq!(log.heads().len(), 1);
    assert!(vt.received_requests().await.unwrap().is_empty());

    // A proxy that is not there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = closed.local_addr().unwrap();
    drop(closed);
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&base)
        .retry(RetryPolicy::none())
        .proxy(ProxySettings::all(format!(
            "http://{PROXY_USER}:{PROXY_PASSWORD}@{gone}"
        )))
        .build()
        .unwrap();
    let e = lookup(&client).await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert_no_secrets("the error of an absent proxy", &e.to_string());
    assert_no_secrets("the error of an absent proxy (Debug)", &format!("{e:?}"));

    // Proxy URLs that cannot be used: refused when the client is built, without the password.
    for (bad, says) in [
        (
            format!("socks5://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:1080"),
            "socks5",
        ),
        (
            format!("http://{PROXY_USER}:{PROXY_PASSWORD}@[::1"),
            "not a valid proxy URL",
        ),
        (
            format!("ftp://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:21"),
            "HTTP proxies only",
        ),
    ] {
        let e = Client::builder()
            .base_url(&base)
            .proxy(ProxySettings::from_vars(|name| {
                (name == "HTTPS_PROXY").then(|| bad.clone())
            }))
            .build()
            .err()
            .unwrap_or_else(|| panic!("{bad} was accepted"));
        let msg = e.to_string();
        assert!(msg.contains(says) && msg.contains("HTTPS_PROXY"), "{msg}");
        assert_no_secrets("a bad proxy URL's error", &msg);
    }
}

// ---------------------------------------------------------------------------------------------
// TLS inspection: a CA the client does not know.

#[tokio::test]
async fn a_private_ca_is_trusted_when_configured_and_only_then() {
    let vt = mock_vt().await;
    let pki = pki();
    let front = https_front(&pki, *vt.address()).await;
    let base = format!("https://{front}/api/v3");

    // The default roots (system and bundled) do not know the test CA.
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&base)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = lookup(&client).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Transport { .. }), "{msg}");
    assert!(
        msg.contains("certificate") && msg.contains("UnknownIssuer"),
        "the message names the certificate problem: {msg}"
    );
    assert!(msg.contains("VTMCP_CA_FILE"), "and the way out: {msg}");
    assert_no_secrets("the TLS error", &msg);
    assert_no_secrets("the TLS error (Debug)", &format!("{e:?}"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "an untrusted certificate is not retried ({:?})",
        started.elapsed()
    );
    assert!(vt.received_requests().await.unwrap().is_empty());

    // From a PEM file with the CA after an unrelated block (a bundle as IT hands them out).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("corp-ca.pem");
    std::fs::write(
        &file,
        format!("# corporate inspection CA\n{}\n", pki.ca_pem),
    )
    .unwrap();
    let certs = CaCertificates::from_pem_file(&file).unwrap();
    assert_eq!(certs.count(), 1);
    for bundled in [true, false] {
        let client = Client::builder()
            .api_key(KEY)
            .base_url(&base)
            .ca_certificates(Some(certs.clone()))
            .bundled_roots(bundled)
            .build()
            .unwrap();
        let report = lookup(&client).await.unwrap();
        assert_eq!(report["data"]["id"], "8.8.8.8");
    }
    let received = vt.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].headers["x-apikey"], KEY);
}

#[tokio::test]
async fn an_untrusted_certificate_is_an_error_result_through_the_mcp_server() {
    use vtmcp::config::{Config, SelectionInput, selection};
    use vtmcp::mcp::VtServer;
    let vt = mock_vt().await;
    let pki = pki();
    let front = https_front(&pki, *vt.address()).await;
    let config = Config {
        api_key: Some(vtmcp::ApiKey::new(KEY)),
        base_url: format!("https://{front}/api/v3"),
        selection: selection(&SelectionInput {
            toolsets: vec!["ip_addresses".into()],
            ..Default::default()
        })
        .unwrap(),
        rate_limit: Some(vtmcp::client::RateLimit::unlimited()),
        ..Config::default()
    };
    let args = json!({"ip": "8.8.8.8"}).as_object().unwrap().clone();
    let text = |r: &rmcp::model::CallToolResult| -> String {
        r.content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()
    };

    let server = VtServer::new(&config).unwrap();
    let r = server.call("get_ip_address", args.clone()).await.unwrap();
    let msg = text(&r);
    assert_eq!(r.is_error, Some(true), "{msg}");
    assert!(
        msg.contains("certificate") && msg.contains("UnknownIssuer"),
        "{msg}"
    );
    assert!(msg.contains("VTMCP_CA_FILE"), "{msg}");
    assert_no_secrets("the tool's error", &msg);
    assert_no_secrets(
        "the whole result",
        &serde_json::to_string(&r).unwrap_or_default(),
    );
    assert!(vt.received_requests().await.unwrap().is_empty());

    let trusting = VtServer::new(&Config {
        ca_certificates: Some(ca(&pki)),
        ..config
    })
    .unwrap();
    let r = trusting.call("get_ip_address", args).await.unwrap();
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert!(text(&r).contains("GOOGLE"));
}

// ---------------------------------------------------------------------------------------------
// Bad CA files stop start-up with a message naming the file.

#[test]
fn a_bad_ca_file_is_refused_with_its_name() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    };
    let key_only = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let mangled = pki.ca_pem.replacen("MII", "MII!!", 1);
    // A CERTIFICATE block whose content is valid base64 but not a certificate.
    let not_x509 = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
    let truncated = &pki.ca_pem[..pki.ca_pem.len() - 30];
    let cases = [
        (dir.path().join("missing.pem"), "cannot open it"),
        (write("empty.pem", b""), "is empty"),
        (write("blank.pem", b"\n \n"), "is empty"),
        (
            write("notes.txt", b"just some text\n"),
            "holds no PEM certificate",
        ),
        (
            write("ca.der", pki.leaf.as_ref()),
            "holds no PEM certificate",
        ),
        (
            write("key.pem", key_only.as_bytes()),
            "holds no PEM certificate",
        ),
        (write("mangled.pem", mangled.as_bytes()), "not valid PEM"),
        (
            write("truncated.pem", truncated.as_bytes()),
            "no -----END CERTIFICATE----- line",
        ),
        (
            write("garbage.pem", not_x509.as_bytes()),
            "not a valid X.509 certificate",
        ),
        (dir.path().to_path_buf(), "is a directory"),
        ("/dev/null".into(), "not a regular file"),
    ];
    for (file, says) in cases {
        let msg = vtmcp::config::ca_certificates(Some(&file))
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", file.display()));
        assert!(msg.contains(&file.display().to_string()), "{msg}");
        assert!(msg.contains(says), "{}: {msg}", file.display());
        assert!(msg.contains("--ca-file"), "{msg}");
    }
    // And a good one, with the CA twice and a key beside it.
    let good = write(
        "bundle.pem",
        format!("{}{key_only}{}", pki.ca_pem, pki.ca_pem).as_bytes(),
    );
    let certs = vtmcp::config::ca_certificates(Some(&good))
        .unwrap()
        .unwrap();
    assert_eq!(certs.count(), 2);
    assert_eq!(certs.source(), good.display().to_string());
    assert!(vtmcp::config::ca_certificates(None).unwrap().is_none());
}

#[test]
fn the_binary_stops_at_start_up_on_a_bad_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("inspection-ca.pem");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.path().join("no-such-ca.pem");
    let bin = env!("CARGO_BIN_EXE_vtmcp");
    let by_flag = std::process::Command::new(bin)
        .args(["tools", "--ca-file"])
        .arg(&missing)
        .env_remove("VTMCP_CA_FILE")
        .output()
        .unwrap();
    let by_env = std::process::Command::new(bin)
        .arg("tools")
        .env("VTMCP_CA_FILE", &empty)
        .output()
        .unwrap();
    for (out, file) in [(by_flag, &missing), (by_env, &empty)] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(out.stdout.is_empty(), "no tools are listed");
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains("VTMCP_CA_FILE"),
            "{stderr}"
        );
    }
}

#[test]
fn the_binary_accepts_a_good_ca_file() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ca.pem");
    std::fs::write(&file, &pki.ca_pem).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtmcp"))
        // No answer cache: each test counts its own requests.
        .env("VTMCP_CACHE", "off")
        .args(["tools", "--ca-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("get_file_report"));
}
