//! The `vtmcp` binary: `vtmcp serve` (the default) runs the MCP server on stdio or Streamable
//! HTTP; `vtmcp tools` prints the tool catalog for the given flags. Logs go to stderr only.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use vtmcp::config::{self, Config, SelectionInput};
use vtmcp::mcp::VtServer;

#[derive(Parser, Debug)]
#[command(
    name = "vtmcp",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("VTMCP_SPEC"), ")"),
    about = "VirusTotal API v3 as an MCP server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flags: Flags,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the MCP server (the default).
    Serve,
    /// Print the tools the given flags enable: name, toolset, tier, permission, method, path.
    Tools {
        /// Print JSON (the MCP tool definitions plus vtmcp's metadata).
        #[arg(long)]
        json: bool,
    },
    /// Run one tool as an MCP client's `tools/call` would (validation, tier and permission
    /// checks, cache, output budget) and print its markdown, or its JSON with `--json`. Exit
    /// status: 0 success, 1 an error result (message on stderr), 2 a usage error.
    #[command(after_help = CALL_HELP)]
    Call {
        /// The tool (`vtmcp tools` lists those the flags enable).
        tool: String,
        /// Arguments: `key=value` (typed by the tool's schema; repeat for array items),
        /// `key:=JSON` (raw JSON), or `-` to read a JSON object of arguments from stdin.
        #[arg(value_name = "ARG")]
        args: Vec<String>,
        /// Read a JSON object of arguments from this file (pairs override its members).
        #[arg(long, value_name = "FILE")]
        args_file: Option<PathBuf>,
        /// Print the structured result as JSON instead of the markdown.
        #[arg(long)]
        json: bool,
    },
    /// The answer cache (`--cache`): `stats`, `clear` or `path`.
    Cache {
        #[arg(value_enum)]
        action: CacheAction,
    },
}

const CALL_HELP: &str = "Examples:
  vtmcp call get_file_report file_hash=44d88612fea8a8f36de82e1278abb02f
  vtmcp call get_domain_report domain=example.com relationships=resolutions depth=full
  vtmcp call triage_iocs 'indicators:=[\"1.2.3.4\",\"example.com\"]' --json
  echo '{\"ip\": \"8.8.8.8\"}' | vtmcp call get_ip_report -";

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum CacheAction {
    /// Entries, bytes and the oldest entry.
    Stats,
    /// Delete every cached answer (the quota windows stay).
    Clear,
    /// Print the file's path.
    Path,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Transport {
    Stdio,
    Http,
}

#[derive(clap::Args, Debug)]
struct Flags {
    /// Toolsets to enable (spec tags, `default`, `all`), comma-separated.
    #[arg(long, global = true, env = "VTMCP_TOOLSETS", value_delimiter = ',')]
    toolsets: Vec<String>,
    /// Individual tools to enable, comma-separated (alone: only these tools).
    #[arg(long, global = true, env = "VTMCP_TOOLS", value_delimiter = ',')]
    tools: Vec<String>,
    #[arg(
        long,
        global = true,
        env = "VT_TIER",
        value_delimiter = ',',
        default_value = config::TIER_AUTO,
        help = tier_help()
    )]
    tier: Vec<String>,
    /// Enable tools that send content to VirusTotal (scans, uploads, rescans).
    #[arg(long, global = true, env = "VTMCP_ALLOW_SUBMIT")]
    allow_submit: bool,
    /// Enable tools that create, change or delete data in VirusTotal.
    #[arg(long, global = true, env = "VTMCP_ALLOW_WRITE")]
    allow_write: bool,
    /// Directory where binary results (samples, PCAPs, feed batches) are written.
    #[arg(long, global = true, env = "VTMCP_DOWNLOAD_DIR")]
    download_dir: Option<PathBuf>,
    /// Directory local files may be uploaded from (repeatable; none: file uploads are off).
    /// `..` and symbolic links may not lead out of it.
    #[arg(
        long = "upload-dir",
        global = true,
        env = "VTMCP_UPLOAD_DIRS",
        value_delimiter = ','
    )]
    upload_dirs: Vec<PathBuf>,
    /// Largest tool result, in tokens (about 4 characters each).
    #[arg(
        long,
        global = true,
        env = "VTMCP_MAX_OUTPUT_TOKENS",
        default_value_t = 20_000
    )]
    max_output_tokens: usize,
    /// Client-side pacing in requests per minute (0: none). Default: 4/minute and 500/day for a
    /// public key, none for premium.
    #[arg(long, global = true, env = "VTMCP_REQUESTS_PER_MINUTE")]
    requests_per_minute: Option<u32>,
    /// The most requests to VirusTotal in flight at once (0: no cap); further calls wait.
    #[arg(long, global = true, env = "VTMCP_MAX_IN_FLIGHT", default_value_t = vtmcp::client::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// The most Streamable HTTP sessions open at once (`--transport http`); idle sessions close
    /// after 10 minutes. Not with `--stateless`, which keeps no sessions.
    #[arg(long, global = true, env = "VTMCP_MAX_SESSIONS", default_value_t = vtmcp::http::DEFAULT_MAX_SESSIONS, conflicts_with = "stateless")]
    max_sessions: usize,
    /// Host names (or name:port) HTTP requests may carry in `Host` besides loopback and the
    /// listening address, e.g. the name a load balancer or other containers use; comma-separated.
    #[arg(
        long,
        global = true,
        env = "VTMCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Serve Streamable HTTP without sessions (`--transport http`): every request is answered
    /// on its own, so any of several instances behind a load balancer can answer it.
    #[arg(long, global = true, env = "VTMCP_STATELESS")]
    stateless: bool,
    /// The most TCP connections the HTTP transport keeps open (lowered to fit `ulimit -n`).
    #[arg(long, global = true, env = "VTMCP_MAX_CONNECTIONS", default_value_t = vtmcp::http::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// VirusTotal API base URL.
    #[arg(long, global = true, env = "VT_BASE_URL", default_value = vtmcp::client::DEFAULT_BASE_URL)]
    base_url: String,
    /// Transport for `serve`.
    #[arg(long, global = true, value_enum, default_value_t = Transport::Stdio, env = "VTMCP_TRANSPORT")]
    transport: Transport,
    /// PEM file of CA certificates to trust besides the system's, e.g. the CA of a proxy that
    /// inspects TLS.
    #[arg(long, global = true, env = "VTMCP_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Where answers are cached: `sqlite` (the file in the user's cache directory, the
    /// default), `sqlite:PATH`, `redis://[user:pass@]host[:port][/db]` (a team's server), or
    /// `off`. The store also holds the rate limiter's windows, shared by every vtmcp process
    /// using it with the same key. Without --cache or VTMCP_CACHE, VTMCP_REDIS_URL is used.
    // The value may hold a Redis password: never shown in --help.
    #[arg(long, global = true, env = "VTMCP_CACHE", hide_env_values = true)]
    cache: Option<String>,
    /// Lifetimes per class, e.g. `file=12h,url=1h,search=off` (classes: file, url, domain, ip,
    /// analysis, community, collection, search, static, not_found, default; `forever`, `off`).
    #[arg(long, global = true, env = "VTMCP_CACHE_TTL")]
    cache_ttl: Option<String>,
    /// The most the cached answers may take on disk, in MiB (oldest go first).
    #[arg(long, global = true, env = "VTMCP_CACHE_MAX_MB", default_value_t = 256)]
    cache_max_mb: u64,
    /// Write the URLs, domains and IPs in markdown results defanged (`hxxps://evil[.]com`,
    /// `1.2.3[.]4`) so chat clients do not link them; JSON stays exact.
    #[arg(long, global = true, env = "VTMCP_DEFANG")]
    defang: bool,
    /// Address for `--transport http`, e.g. 127.0.0.1:8765.
    #[arg(
        long,
        global = true,
        env = "VTMCP_LISTEN",
        default_value = "127.0.0.1:8765"
    )]
    listen: String,
}

/// `--tier`'s help, from the one tier list (spec/tiers.rs).
fn tier_help() -> String {
    format!(
        "Tiers and licences of the key: `{}` asks VirusTotal (in the background; licences it \
         cannot see can be added, e.g. auto,gti), or any of {} (public is always included)",
        config::TIER_AUTO,
        vtmcp::mcp::catalog::TIERS.join(", ")
    )
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    vtmcp::error::install_panic_hook();
    let cli = Cli::parse();
    let config = match build_config(&cli.flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vtmcp: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Call {
            tool,
            args,
            args_file,
            json,
        } => return call_command(&config, &tool, &args, args_file.as_deref(), json),
        Command::Tools { json } => print_tools(&config, json),
        Command::Cache { action } => cache_command(&config, action),
        Command::Serve => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let r = runtime.block_on(serve(config, &cli.flags));
            // A blocking stdin read cannot be interrupted; do not wait for it on the way out.
            runtime.shutdown_timeout(std::time::Duration::from_millis(200));
            r
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vtmcp: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build_config(f: &Flags) -> Result<Config, String> {
    // An empty `VT_TIER=` (as MCP client configurations often carry) is the default too.
    let tiers = if f.tier.iter().all(|t| t.trim().is_empty()) {
        vec![config::TIER_AUTO.to_string()]
    } else {
        f.tier.clone()
    };
    let selection = config::selection(&SelectionInput {
        toolsets: f.toolsets.clone(),
        tools: f.tools.clone(),
        tiers,
        allow_submit: f.allow_submit,
        allow_write: f.allow_write,
    })?;
    Ok(Config {
        api_key: config::api_key_from_env()?,
        base_url: f.base_url.clone(),
        selection,
        download_dir: f.download_dir.clone(),
        upload_dirs: f.upload_dirs.clone(),
        max_output_tokens: f.max_output_tokens.max(1000),
        rate_limit: f.requests_per_minute.map(|n| match n {
            0 => vtmcp::client::RateLimit::unlimited(),
            n => vtmcp::client::RateLimit::per_minute(n),
        }),
        max_in_flight: f.max_in_flight,
        max_sessions: f.max_sessions.max(1),
        ca_certificates: config::ca_certificates(f.ca_file.as_deref())?,
        cache: cache_config(f).map_err(|e| e.to_string())?,
        defang: f.defang,
        ..Config::default()
    })
}

fn cache_config(f: &Flags) -> Result<vtmcp::cache::CacheConfig, vtmcp::Error> {
    // --cache, else VTMCP_CACHE (both read by clap), else VTMCP_REDIS_URL, else the file.
    let spec = f
        .cache
        .clone()
        .or_else(|| std::env::var("VTMCP_REDIS_URL").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "sqlite".to_string());
    let mut c = match vtmcp::cache::CacheConfig::parse(&spec) {
        Ok(c) => c,
        // The default file needs a user cache directory; without one, run uncached rather
        // than refuse to start.
        Err(e) if spec == "sqlite" && vtmcp::cache::CacheConfig::default_path().is_none() => {
            tracing::warn!("answers are not cached: {e}");
            vtmcp::cache::CacheConfig::off()
        }
        Err(e) => return Err(e),
    };
    if let Some(spec) = &f.cache_ttl {
        c.ttl = c.ttl.with_overrides(spec)?;
    }
    c.max_bytes = f.cache_max_mb.saturating_mul(1 << 20);
    Ok(c)
}

/// `vtmcp call TOOL ARG… [--args-file FILE] [--json]` ([`vtmcp::mcp::cli`]).
fn call_command(
    config: &Config,
    tool: &str,
    args: &[String],
    args_file: Option<&std::path::Path>,
    json: bool,
) -> ExitCode {
    use std::io::{Read, Write};
    let printed = (|| {
        let stdin = args.iter().any(|a| a == "-");
        let pairs: Vec<String> = args.iter().filter(|a| *a != "-").cloned().collect();
        let base = match (stdin, args_file) {
            (true, Some(_)) => {
                return vtmcp::mcp::cli::Printed::usage(
                    "vtmcp call: give the JSON arguments either on stdin (-) or with --args-file, not both",
                );
            }
            (true, None) => {
                let mut text = String::new();
                if let Err(e) = std::io::stdin().read_to_string(&mut text) {
                    return vtmcp::mcp::cli::Printed::usage(format!("stdin: {e}"));
                }
                Some(vtmcp::mcp::cli::object_from(&text, "stdin"))
            }
            (false, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|text| {
                        vtmcp::mcp::cli::object_from(&text, &path.display().to_string())
                    }),
            ),
            (false, None) => None,
        };
        let base = match base.transpose() {
            Ok(b) => b,
            Err(e) => return vtmcp::mcp::cli::Printed::usage(e),
        };
        let server = match VtServer::new(config) {
            Ok(s) => s,
            Err(e) => return vtmcp::mcp::cli::Printed::usage(e.to_string()),
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                return vtmcp::mcp::cli::Printed {
                    stdout: String::new(),
                    stderr: format!("cannot start the runtime: {e}"),
                    code: 1,
                };
            }
        };
        let printed = runtime.block_on(vtmcp::mcp::cli::call(&server, tool, base, &pairs, json));
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        printed
    })();
    if !printed.stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = writeln!(out, "{}", printed.stdout).and_then(|()| out.flush());
    }
    if !printed.stderr.is_empty() {
        eprintln!("{}", printed.stderr);
    }
    ExitCode::from(printed.code)
}

/// `vtmcp cache stats|clear|path`.
fn cache_command(config: &Config, action: CacheAction) -> Result<(), String> {
    let cache = vtmcp::cache::Cache::new(config.cache.clone());
    // The file, or the Redis server with its password redacted.
    let Some(path) = cache.location() else {
        return Err("the cache is off (--cache off); nothing to show".into());
    };
    if action == CacheAction::Path {
        println!("{path}");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match action {
            CacheAction::Stats => {
                let s = cache.stats().await.map_err(|e| format!("{path}: {e}"))?;
                println!("{s}");
            }
            CacheAction::Clear => {
                let n = cache.clear().await.map_err(|e| format!("{path}: {e}"))?;
                println!("{n} cached answer(s) deleted from {path}");
            }
            CacheAction::Path => {}
        }
        Ok(())
    })
}

fn print_tools(config: &Config, json: bool) -> Result<(), String> {
    let server = VtServer::new(config).map_err(|e| e.to_string())?;
    if config.selection.detect {
        // A listing, not a server: the detection may be waited for.
        if config.api_key.is_some() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            runtime.block_on(server.tier_settled());
        }
        eprintln!("{}", server.tier_status().describe(server.tiers()));
    }
    let listed: Vec<_> = server
        .entries()
        .iter()
        .filter(|e| e.hidden.is_none())
        .collect();
    // A tool asked for by name but not listed says why (a tier or permission it needs).
    for e in server.entries() {
        if let Some(why) = &e.hidden
            && config.selection.tools.contains(e.name())
        {
            eprintln!("{}: not listed: {why}", e.name());
        }
    }
    if json {
        let out: Vec<serde_json::Value> = listed
            .iter()
            .map(|e| {
                let mut t = serde_json::to_value(e.tool()).unwrap_or_default();
                let m = &e.meta;
                t["_vtmcp"] = serde_json::json!({"toolset": m.toolset, "tier": m.tier, "permission": m.permission,
                    "method": e.op.map(|o| o.method), "path": e.op.map(|o| o.path)});
                if let Some(c) = e.composite {
                    // What a composite tool may call, as the generated tools show theirs.
                    t["_vtmcp"]["calls"] = c
                        .calls
                        .iter()
                        .filter_map(|id| vtmcp::ops::OperationMeta::find(id))
                        .map(|o| serde_json::json!({"operation": o.id, "method": o.method, "path": o.path}))
                        .collect();
                }
                t
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
        );
    } else {
        for e in listed {
            let calls;
            let (method, path) = match (e.op, e.composite) {
                (Some(op), _) => (op.method, op.path),
                (None, Some(c)) => {
                    calls = format!("(composite: {})", c.calls.join(", "));
                    ("", calls.as_str())
                }
                (None, None) => ("", ""),
            };
            let m = &e.meta;
            println!(
                "{:<48} {:<18} {:<16} {:<7} {:<6} {}",
                m.id, m.toolset, m.tier, m.permission, method, path
            );
        }
    }
    Ok(())
}

async fn serve(config: Config, flags: &Flags) -> Result<(), String> {
    if flags.stateless && flags.transport == Transport::Stdio {
        return Err(
            "--stateless (VTMCP_STATELESS) is for --transport http: stdio serves one client and keeps nothing to share".into(),
        );
    }
    let server = VtServer::new(&config).map_err(|e| e.to_string())?;
    if config.api_key.is_none() {
        tracing::warn!(
            "no VirusTotal API key (VT_API_KEY): tools are listed, calls will explain how to set it"
        );
    }
    // `--tier auto`: the public set is served at once, the key's own set when VirusTotal says.
    server.start_tier_detection();
    match flags.transport {
        Transport::Stdio => {
            // A client that goes away before initializing is a clean end, not an error.
            let shutdown = shutdown_signal();
            tokio::pin!(shutdown);
            let running = tokio::select! {
                r = server.serve_with_unique_ids(rmcp::transport::stdio()) => match r {
                    Ok(r) => r,
                    Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                },
                _ = &mut shutdown => return Ok(()),
            };
            tokio::select! {
                r = running.waiting() => { r.map_err(|e| e.to_string())?; }
                _ = &mut shutdown => { tracing::info!("shutting down on signal"); }
            }
            Ok(())
        }
        Transport::Http => {
            vtmcp::http::serve(
                server,
                &flags.listen,
                vtmcp::http::Options {
                    token: std::env::var("VTMCP_HTTP_TOKEN")
                        .ok()
                        .filter(|t| !t.is_empty()),
                    max_sessions: config.max_sessions,
                    max_connections: flags.max_connections,
                    stateless: flags.stateless,
                    allowed_hosts: flags.allowed_hosts.clone(),
                    ..Default::default()
                },
                shutdown_signal(),
            )
            .await
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
