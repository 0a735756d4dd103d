//! Configuration from flags and environment variables: the API key (never printed), base URL,
//! toolsets, tiers (given, or `auto`: learned from the key, see [`crate::mcp::tier`]),
//! permissions, download directory and output budget.

use crate::access::Tier;
use crate::client::{ApiKey, DEFAULT_BASE_URL};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Licences and tiers a key can have, as named in `x-vt-tier` (the one list, `spec/tiers.rs`).
pub use crate::access::TIERS;

/// What a session may do beyond reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions {
    /// `--allow-submit`: tools that send content to VirusTotal (scans, uploads, rescans).
    pub submit: bool,
    /// `--allow-write`: tools that create, change or delete (comments, votes, rulesets …).
    pub write: bool,
}

/// The rules that decide which tools are listed.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Toolsets by name (tags, `default`, `all`).
    pub toolsets: BTreeSet<String>,
    /// Individual tools by name.
    pub tools: BTreeSet<String>,
    /// Tiers and licences of the key (`public` is always included). With [`Selection::detect`],
    /// what detection finds is added to these.
    pub tiers: BTreeSet<Tier>,
    /// `--tier auto`: learn the key's tiers and licences from VirusTotal (the user object of
    /// the key) in the background, starting from [`Selection::tiers`]. Off unless asked for:
    /// the binary asks by default, a [`Config`] built in code does not.
    pub detect: bool,
    /// Permissions granted.
    pub permissions: Permissions,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            toolsets: BTreeSet::from(["default".to_string()]),
            tools: BTreeSet::new(),
            tiers: BTreeSet::from([Tier::PUBLIC]),
            detect: false,
            permissions: Permissions::default(),
        }
    }
}

/// The `--tier` value that asks for detection (the binary's default).
pub const TIER_AUTO: &str = "auto";

/// How long detecting the key's tier may take before the public set is kept.
pub const DEFAULT_TIER_DETECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The two tools that reach every operation of the spec (`find_operations`, `call_operation`;
/// `vtmcp::mcp::meta`), in the `default` toolset.
pub const OPERATIONS_TOOLS: [&str; 2] = ["find_operations", "call_operation"];

/// Every toolset name: the spec's tags, `reports` (composite tools), `default` and `all`.
pub fn toolset_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = crate::ops::OPERATIONS.iter().map(|o| o.toolset).collect();
    names.push(crate::reports::TOOLSET);
    names.sort_unstable();
    names.dedup();
    names.insert(0, "all");
    names.insert(0, "default");
    names
}

/// The most Streamable HTTP sessions open at once, by default (`--max-sessions`).
pub const DEFAULT_MAX_SESSIONS: usize = 32;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The key (None: the server starts, lists tools, and every call explains how to set one).
    pub api_key: Option<ApiKey>,
    /// VirusTotal base URL.
    pub base_url: String,
    /// Which tools are listed.
    pub selection: Selection,
    /// Where binary results are written (None: binary tools explain how to set it).
    pub download_dir: Option<PathBuf>,
    /// Directories file uploads may come from (none: uploads are refused); see
    /// [`crate::upload_dirs`].
    pub upload_dirs: Vec<PathBuf>,
    /// Largest binary body written to disk.
    pub max_download_bytes: u64,
    /// Largest result, in tokens (≈ 4 characters each).
    pub max_output_tokens: usize,
    /// First delay between polls of a submitted analysis.
    pub poll_interval: std::time::Duration,
    /// Client-side request pacing (None: 4/minute and 500/day for a public key, no limit for
    /// premium).
    pub rate_limit: Option<crate::client::RateLimit>,
    /// The longest wait for the answer of tier detection ([`Selection::detect`]); after it,
    /// the public set stays and the server says why.
    pub tier_detection_timeout: std::time::Duration,
    /// The most upstream requests in flight at once (0: no cap).
    pub max_in_flight: usize,
    /// The most Streamable HTTP sessions open at once.
    pub max_sessions: usize,
    /// CA certificates trusted besides the default roots (`--ca-file`, `VTMCP_CA_FILE`); see
    /// [`crate::client::network`].
    pub ca_certificates: Option<crate::client::CaCertificates>,
    /// Where answers are cached, for how long, how much (`--cache`, `--cache-ttl`,
    /// `--cache-max-mb`). Off in `Config::default()`; the binary's default is the SQLite file in
    /// the user's cache directory.
    pub cache: crate::cache::CacheConfig,
    /// Write the URLs, domains and IPs in markdown results defanged (`--defang`,
    /// `VTMCP_DEFANG`); a call can ask for it with `defang: true` too.
    pub defang: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_key: None,
            base_url: DEFAULT_BASE_URL.into(),
            selection: Selection::default(),
            download_dir: None,
            upload_dirs: Vec::new(),
            max_download_bytes: 700 * 1024 * 1024,
            max_output_tokens: 20_000,
            poll_interval: std::time::Duration::from_secs(3),
            rate_limit: None,
            tier_detection_timeout: DEFAULT_TIER_DETECTION_TIMEOUT,
            max_in_flight: crate::client::DEFAULT_MAX_IN_FLIGHT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            ca_certificates: None,
            cache: crate::cache::CacheConfig::off(),
            defang: false,
        }
    }
}

impl Config {
    /// The pacing in force at start-up: the configured one, or the preset for the tiers given
    /// (with `--tier auto`, the public preset until the key is known).
    pub fn effective_rate_limit(&self) -> crate::client::RateLimit {
        self.pacing_for_tiers(&self.selection.tiers)
    }

    /// The pacing for a key with `tiers`: the configured one (`--requests-per-minute`) if
    /// any, else the preset (4/minute and 500/day without `premium`, none with it). Once
    /// `--tier auto` has detected the key, this with the detected tiers is what should be in
    /// force ([`crate::mcp::VtServer::pacing_for_detected_key`]).
    pub fn pacing_for_tiers(&self, tiers: &BTreeSet<Tier>) -> crate::client::RateLimit {
        self.rate_limit.clone().unwrap_or_else(|| {
            if tiers.contains(&Tier::PREMIUM) {
                crate::client::RateLimit::unlimited()
            } else {
                crate::client::RateLimit::public()
            }
        })
    }
}

/// Raw selection inputs before checking.
#[derive(Debug, Clone, Default)]
pub struct SelectionInput {
    /// `--toolsets`.
    pub toolsets: Vec<String>,
    /// `--tools`.
    pub tools: Vec<String>,
    /// `--tier` (public, premium, and/or licences; `auto` to detect them, alone or with the
    /// licences detection cannot see, e.g. `auto,gti`). Empty: public, no detection.
    pub tiers: Vec<String>,
    /// `--allow-submit`.
    pub allow_submit: bool,
    /// `--allow-write`.
    pub allow_write: bool,
}

/// Checks names and builds a [`Selection`]. Unknown toolsets, tiers or tools are errors that
/// list the valid names.
pub fn selection(input: &SelectionInput) -> Result<Selection, String> {
    let valid = toolset_names();
    let clean = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut toolsets: BTreeSet<String> = clean(&input.toolsets).into_iter().collect();
    for t in &toolsets {
        if !valid.contains(&t.as_str()) {
            return Err(format!(
                "unknown toolset `{t}`; valid toolsets: {}",
                valid.join(", ")
            ));
        }
    }
    let tools: BTreeSet<String> = clean(&input.tools).into_iter().collect();
    for t in &tools {
        let generated = crate::ops::OPERATIONS
            .iter()
            .any(|o| o.id == t && o.excluded.is_none());
        if !generated
            && crate::reports::Composite::find(t).is_none()
            && !OPERATIONS_TOOLS.contains(&t.as_str())
        {
            return Err(format!(
                "unknown tool `{t}`; run `vtmcp tools --toolsets all --tier {} --allow-submit --allow-write` to list every tool",
                TIERS[1..].join(",")
            ));
        }
    }
    if toolsets.is_empty() && tools.is_empty() {
        toolsets.insert("default".into());
    }
    let mut tiers = BTreeSet::from([Tier::PUBLIC]);
    let mut detect = false;
    for t in clean(&input.tiers) {
        if t == TIER_AUTO {
            detect = true;
            continue;
        }
        let tier = Tier::parse(&t).ok_or_else(|| {
            format!(
                "unknown tier `{t}`; valid: {TIER_AUTO} (ask VirusTotal), or tiers and licences {}",
                TIERS.join(", ")
            )
        })?;
        tiers.insert(tier);
    }
    Ok(Selection {
        toolsets,
        tools,
        tiers,
        detect,
        permissions: Permissions {
            submit: input.allow_submit,
            write: input.allow_write,
        },
    })
}

/// Reads the CA file of `--ca-file` / `VTMCP_CA_FILE` (PEM, one or more certificates). A file
/// that is missing, empty, not PEM or not a certificate stops start-up with a message naming it.
pub fn ca_certificates(
    path: Option<&std::path::Path>,
) -> Result<Option<crate::client::CaCertificates>, String> {
    let Some(path) = path else {
        return Ok(None);
    };
    let certs = crate::client::CaCertificates::from_pem_file(path).map_err(|e| match e {
        crate::Error::Config(m) => format!("--ca-file / VTMCP_CA_FILE: {m}"),
        other => format!("--ca-file / VTMCP_CA_FILE: {other}"),
    })?;
    tracing::info!(
        "trusting {} CA certificate(s) from {} besides the system's",
        certs.count(),
        path.display()
    );
    Ok(Some(certs))
}

/// The largest key file read (a VirusTotal key is 64 characters).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Reads the key from `VT_API_KEY`, `VIRUSTOTAL_API_KEY` or the file named by `VT_API_KEY_FILE`
/// (see [`api_key_from_file`]). A key holding whitespace or control characters is refused: it
/// could not be sent in a header, and requests would silently go out without it.
pub fn api_key_from_env() -> Result<Option<ApiKey>, String> {
    for var in ["VT_API_KEY", "VIRUSTOTAL_API_KEY"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            check_key(var, v.trim())?;
            return Ok(Some(ApiKey::new(v)));
        }
    }
    if let Some(path) = std::env::var_os("VT_API_KEY_FILE") {
        return api_key_from_file("VT_API_KEY_FILE", std::path::Path::new(&path)).map(Some);
    }
    Ok(None)
}

/// Reads a key from the file `path` (named by the variable `var`, which error messages name):
/// it must be a regular file (a FIFO, a device such as `/dev/zero` or a directory is refused
/// without blocking or reading it) of at most [`MAX_KEY_FILE_BYTES`], holding the key and
/// nothing else (surrounding whitespace is trimmed). Messages never contain the key. Warns (on
/// stderr, via tracing) when the file is readable by other users.
pub fn api_key_from_file(var: &str, path: &std::path::Path) -> Result<ApiKey, String> {
    use crate::files::{SmallFileError, read_small_regular_file};
    let shown = path.display();
    let (bytes, meta) = read_small_regular_file(path, MAX_KEY_FILE_BYTES).map_err(|e| match e {
        SmallFileError::Open(e) => format!("{var}={shown}: cannot open it: {e}"),
        SmallFileError::Read(e) => format!("{var}={shown}: cannot read it: {e}"),
        SmallFileError::Directory => format!(
            "{var}={shown} is a directory; it must name a regular file holding only the API key"
        ),
        SmallFileError::NotRegular => format!(
            "{var}={shown} is not a regular file (a FIFO, socket or device?); it must name a regular file holding only the API key"
        ),
        SmallFileError::TooLarge => format!(
            "{var}={shown} is larger than {MAX_KEY_FILE_BYTES} bytes; a key file holds only the key"
        ),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!("{var} {shown} is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{var}={shown} is not text (UTF-8); it must hold only the API key"))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(format!("{var}={shown} is empty"));
    }
    check_key(&format!("{var}={shown}"), key)?;
    Ok(ApiKey::new(key))
}

/// Refuses a key with whitespace or control characters inside (e.g. a key file of two lines);
/// the message says what is wrong without showing the key.
fn check_key(source: &str, key: &str) -> Result<(), String> {
    if key.chars().any(char::is_control) {
        return Err(format!(
            "{source}: the key contains a control character (a line break, NUL, escape …); it must be the key alone on one line"
        ));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(format!(
            "{source}: the key contains whitespace (more than one line or word?); it must be the key alone on one line"
        ));
    }
    Ok(())
}
