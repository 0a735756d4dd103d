//! Configuration from flags and environment variables: the API key (never printed), base URL,
//! toolsets, tiers, permissions, download directory and output budget.

use crate::client::{ApiKey, DEFAULT_BASE_URL};
use crate::mcp::catalog::{self, Permissions, Selection};
use std::collections::BTreeSet;
use std::path::PathBuf;

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
    /// The most upstream requests in flight at once (0: no cap).
    pub max_in_flight: usize,
    /// The most Streamable HTTP sessions open at once.
    pub max_sessions: usize,
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
            max_in_flight: crate::client::DEFAULT_MAX_IN_FLIGHT,
            max_sessions: crate::http::DEFAULT_MAX_SESSIONS,
        }
    }
}

impl Config {
    /// The pacing in force: the configured one, or the preset for the key's tier.
    pub fn effective_rate_limit(&self) -> crate::client::RateLimit {
        self.rate_limit.clone().unwrap_or_else(|| {
            if self.selection.tiers.contains("premium") {
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
    /// `--tier` (public, premium, and/or licences).
    pub tiers: Vec<String>,
    /// `--allow-submit`.
    pub allow_submit: bool,
    /// `--allow-write`.
    pub allow_write: bool,
}

/// Checks names and builds a [`Selection`]. Unknown toolsets, tiers or tools are errors that
/// list the valid names.
pub fn selection(input: &SelectionInput) -> Result<Selection, String> {
    let valid = catalog::toolset_names();
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
        if !crate::ops::OPERATIONS
            .iter()
            .any(|o| o.id == t && o.excluded.is_none())
        {
            return Err(format!(
                "unknown tool `{t}`; run `vtmcp tools --toolsets all --tier premium --allow-submit --allow-write` to list every tool"
            ));
        }
    }
    if toolsets.is_empty() && tools.is_empty() {
        toolsets.insert("default".into());
    }
    let mut tiers: BTreeSet<String> = BTreeSet::from(["public".to_string()]);
    for t in clean(&input.tiers) {
        if !catalog::TIERS.contains(&t.as_str()) {
            return Err(format!(
                "unknown tier `{t}`; valid tiers and licences: {}",
                catalog::TIERS.join(", ")
            ));
        }
        tiers.insert(t);
    }
    Ok(Selection {
        toolsets,
        tools,
        tiers,
        permissions: Permissions {
            submit: input.allow_submit,
            write: input.allow_write,
        },
    })
}

/// Reads the key from `VT_API_KEY`, `VIRUSTOTAL_API_KEY` or the file named by `VT_API_KEY_FILE`.
/// Warns (on stderr, via tracing) when the key file is readable by other users.
pub fn api_key_from_env() -> Result<Option<ApiKey>, String> {
    for var in ["VT_API_KEY", "VIRUSTOTAL_API_KEY"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return Ok(Some(ApiKey::new(v)));
        }
    }
    if let Ok(path) = std::env::var("VT_API_KEY_FILE") {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("VT_API_KEY_FILE={path}: cannot read it: {e}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!("VT_API_KEY_FILE {path} is readable by other users; chmod 600 it");
            }
        }
        if text.trim().is_empty() {
            return Err(format!("VT_API_KEY_FILE={path} is empty"));
        }
        return Ok(Some(ApiKey::new(text)));
    }
    Ok(None)
}
