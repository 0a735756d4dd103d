//! The hand-written ("composite") MCP tools and the operations each one calls, as the server's
//! registry (`vtmcp::reports::COMPOSITES`) declares them. The xtask does not link the server:
//! it reads the committed tool snapshots (`tests/snapshots/tools/<tool>.json`, written from the
//! registry by the `it` test `tool_snapshot…` and kept fresh by `cargo xtask codegen --check`),
//! whose `_vtmcp.calls` lists each composite's operations. There is no second list to keep in
//! step.

use std::path::Path;
use std::sync::OnceLock;

/// A composite MCP tool.
#[derive(Debug, Clone)]
pub struct CompositeTool {
    /// The MCP tool name.
    pub name: String,
    /// What it does (the tool's description).
    pub purpose: String,
    /// `(METHOD, path)` of every endpoint it may call, as written in the spec.
    pub endpoints: Vec<(String, String)>,
}

/// The composite tools of the repository this xtask belongs to, read once.
pub fn composite_tools() -> &'static [CompositeTool] {
    static TOOLS: OnceLock<Vec<CompositeTool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        read(&crate::repo_root().join("tests/snapshots/tools")).unwrap_or_else(|e| {
            eprintln!("warning: {e}; composite tools are left out");
            Vec::new()
        })
    })
}

/// The composite tools described in a directory of tool snapshots, sorted by name.
pub fn read(dir: &Path) -> Result<Vec<CompositeTool>, String> {
    let mut out = vec![];
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let Some(calls) = v.pointer("/_vtmcp/calls").and_then(|c| c.as_array()) else {
            continue;
        };
        let s = |p: &str| {
            v.pointer(p)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string()
        };
        out.push(CompositeTool {
            name: s("/name"),
            purpose: s("/description"),
            endpoints: calls
                .iter()
                .map(|c| {
                    let f = |k: &str| {
                        c.get(k)
                            .and_then(|x| x.as_str())
                            .unwrap_or_default()
                            .to_string()
                    };
                    (f("method"), f("path"))
                })
                .collect(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
