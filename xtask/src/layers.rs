//! `cargo xtask layers`: the crate's modules form layers, and no module may refer to one above
//! it (`crate::<module>` anywhere in its code). Lowest first:
//!
//! 1. `access` (tiers, permissions), `files`, `upload_dirs`, and `error` (the error type, the
//!    secret scrubber, the advice table; the client's conversions into it live in the client):
//!    errors and small helpers;
//! 2. `client` with its generated `types`, the operation table it reads (`operations`, plain
//!    data) and its answer cache and shared quota store (`cache`): the typed client, usable
//!    without the dispatcher or MCP. These four are one unit and refer to each other;
//! 3. `ops`: the dispatcher, and paging, downloads and uploads by operation name;
//! 4. `reports`: report logic;
//! 5. `config`: plain data built from flags;
//! 6. `mcp`: catalog, validation, output budget, results;
//! 7. `http`: transports (and the binary, `main.rs`, on top).
//!
//! Modules of one layer may refer to each other. Edges that still point upwards are listed in
//! [`KNOWN_BACK_EDGES`] with the reason; the check fails on any other, and also on a listed one
//! that no longer exists (so the list only shrinks).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first.
pub const LAYERS: &[&[&str]] = &[
    &["access", "files", "upload_dirs", "error"],
    &["client", "types", "operations", "cache"],
    &["ops"],
    &["reports"],
    &["config"],
    &["mcp"],
    &["http"],
];

/// Upward edges not yet removed: (from, to, why it is still there).
pub const KNOWN_BACK_EDGES: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a source file belongs to (`src/client/scan.rs` → `client`); `lib.rs`
/// and `main.rs` are the crate root, above every layer.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Every `crate::<module>` a file's code refers to (comments are ignored).
fn references(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The module graph of the crate under `src`: module → (referenced module → a file that does).
pub fn graph(src: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let mut g: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).map_err(|e| e.to_string())?;
            let Some(module) = module_of(rel) else {
                continue;
            };
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            for target in references(&text) {
                if target != module {
                    g.entry(module.clone())
                        .or_default()
                        .entry(target)
                        .or_insert_with(|| rel.display().to_string());
                }
            }
        }
    }
    Ok(g)
}

/// The problems: unknown modules, new back-edges, and listed back-edges that are gone.
pub fn check(src: &Path) -> Result<Vec<String>, String> {
    let g = graph(src)?;
    let mut problems = vec![];
    let mut seen = BTreeSet::new();
    for (from, targets) in &g {
        let Some(lf) = layer_of(from) else {
            problems.push(format!(
                "module `{from}` is in no layer: add it to LAYERS in xtask/src/layers.rs"
            ));
            continue;
        };
        for (to, file) in targets {
            let Some(lt) = layer_of(to) else {
                continue; // `crate::Client` and other root re-exports
            };
            if lt <= lf {
                continue;
            }
            if KNOWN_BACK_EDGES
                .iter()
                .any(|(f, t, _)| f == from && t == to)
            {
                seen.insert((from.clone(), to.clone()));
                continue;
            }
            problems.push(format!(
                "src/{file}: `{from}` refers to `crate::{to}`, a layer above it (layers, lowest first: {}); move the shared piece down instead",
                LAYERS
                    .iter()
                    .map(|l| l.join("/"))
                    .collect::<Vec<_>>()
                    .join(" < ")
            ));
        }
    }
    for (f, t, _) in KNOWN_BACK_EDGES {
        if !seen.contains(&(f.to_string(), t.to_string())) {
            problems.push(format!(
                "the known back-edge {f} -> {t} is gone: remove it from KNOWN_BACK_EDGES"
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn known() -> Vec<(&'static str, String)> {
        KNOWN_BACK_EDGES
            .iter()
            .map(|(f, t, _)| (*f, format!("use crate::{t}::x;\n")))
            .collect()
    }

    #[test]
    fn a_deliberate_back_edge_fails_and_the_known_ones_pass() {
        let mut files: Vec<(String, String)> = known()
            .into_iter()
            .map(|(f, t)| (format!("{f}/known.rs"), t))
            .collect();
        files.push(("client/mod.rs".into(), "use crate::error::Error;\n".into()));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let ok = tree(&refs);
        assert_eq!(check(ok.path()).unwrap(), Vec::<String>::new());

        let mut bad = refs.clone();
        bad.push((
            "client/scan.rs",
            "fn f() { let _ = crate::mcp::catalog::TIERS; }\n",
        ));
        let bad = tree(&bad);
        let problems = check(bad.path()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("`client` refers to `crate::mcp`"),
            "{problems:?}"
        );
        // Comments do not count.
        let commented = tree(&[("client/mod.rs", "// see crate::mcp\n")]);
        assert!(
            check(commented.path())
                .unwrap()
                .iter()
                .all(|p| p.contains("KNOWN_BACK_EDGES"))
        );
    }

    #[test]
    fn the_crate_keeps_its_layers() {
        let problems = check(&crate::repo_root().join("src")).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
