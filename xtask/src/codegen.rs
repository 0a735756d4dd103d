//! `cargo xtask codegen [--check]`: refreshes every committed file derived from the spec, or
//! (with `--check`) verifies that they are fresh without touching them.
//!
//! Each artefact is produced independently, so one that cannot be generated (a README without
//! its markers) is reported while the others are still written.

use crate::render;
use crate::spec::{Operation, Spec};
use std::fs;
use std::path::Path;

/// The spec, relative to the repository root.
pub const SPEC: &str = "spec/virustotal-v3.yaml";
/// Marker line opening the generated region of README.md.
pub const BEGIN_MARKER: &str = "<!-- BEGIN GENERATED: toolsets -->";
/// Marker line closing the generated region of README.md.
pub const END_MARKER: &str = "<!-- END GENERATED: toolsets -->";
/// The command that refreshes stale artefacts.
pub const FIX: &str = "cargo xtask codegen";

/// How many differing lines `--check` shows per stale file.
const DIFF_LINES: usize = 8;

/// One generated file: its path relative to the root and its expected content, or why it could
/// not be produced.
pub struct Artefact {
    pub path: String,
    pub content: Result<String, String>,
}

/// Every artefact derived from the spec under `root`. Fails only if the spec cannot be read.
pub fn artefacts(root: &Path) -> Result<Vec<Artefact>, String> {
    let spec = Spec::load(&root.join(SPEC))?;
    let ops = spec.operations();
    let mut all = vec![
        Artefact {
            path: "spec/operations.txt".into(),
            content: Ok(render::operations_txt(&ops)),
        },
        Artefact {
            path: "COVERAGE.md".into(),
            content: Ok(render::coverage_md(&spec, &ops)),
        },
        Artefact {
            path: "README.md".into(),
            content: readme(root, &spec, &ops),
        },
    ];
    all.extend(tool_snapshot(root, &spec, &ops));
    Ok(all)
}

/// Tool snapshot step: `tests/snapshots/tools.json`, the MCP tool list (names, descriptions,
/// input schemas, annotations) committed so that reviewers see every change to what clients
/// are offered.
///
/// The tool definitions are built inside the vtmcp crate (its build script and `src/mcp`),
/// which this crate does not link, so the snapshot is not an [`Artefact`] here: the vtmcp test
/// `tool_snapshot_is_current_and_every_tool_keeps_the_invariants` checks it on every
/// `cargo test`, and [`refresh_tool_snapshot`] rewrites it when `codegen` runs for real.
pub fn tool_snapshot(_root: &Path, _spec: &Spec, _ops: &[Operation]) -> Option<Artefact> {
    None
}

/// Rewrites `tests/snapshots/tools.json` by running the snapshot test in update mode. Only for a
/// real checkout (the repository's own Cargo.toml with the `it` test), never in `--check`.
pub fn refresh_tool_snapshot(root: &Path) -> Result<(), String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("name = \"vtmcp\"") || !root.join("tests/it/mcp.rs").exists() {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["test", "-q", "-p", "vtmcp", "--test", "it", "tool_snapshot"])
        .env("UPDATE_SNAPSHOTS", "1")
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        println!("refreshed tests/snapshots/tools.json");
        Ok(())
    } else {
        Err("the tool snapshot could not be refreshed (cargo test failed)".into())
    }
}

/// README.md with the region between the markers replaced by the toolset tables.
fn readme(root: &Path, spec: &Spec, ops: &[Operation]) -> Result<String, String> {
    let path = root.join("README.md");
    let current =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    splice_region(&current, &render::readme_toolsets(spec, ops))
}

/// Replaces the lines between the marker lines with `body` (markers kept, rest byte-identical).
pub fn splice_region(text: &str, body: &str) -> Result<String, String> {
    let how = format!(
        "add these two lines to README.md where the toolset tables belong:\n\n    {BEGIN_MARKER}\n    {END_MARKER}\n\nthen run `{FIX}`"
    );
    let begin = text.find(BEGIN_MARKER);
    let end = text.find(END_MARKER);
    let (begin, end) = match (begin, end) {
        (Some(b), Some(e)) if b < e => (b, e),
        (None, None) => return Err(format!("no generated toolsets region; {how}")),
        (Some(_), Some(_)) => {
            return Err(format!(
                "`{END_MARKER}` comes before `{BEGIN_MARKER}`; {how}"
            ));
        }
        (None, Some(_)) => return Err(format!("`{BEGIN_MARKER}` is missing; {how}")),
        (Some(_), None) => return Err(format!("`{END_MARKER}` is missing; {how}")),
    };
    if text[begin + 1..].contains(BEGIN_MARKER) || text[end + 1..].contains(END_MARKER) {
        return Err("more than one generated toolsets region; keep one pair of markers".into());
    }
    let after_begin = match text[begin..].find('\n') {
        Some(n) => begin + n + 1,
        None => {
            return Err(format!(
                "`{BEGIN_MARKER}` and `{END_MARKER}` must be on separate lines"
            ));
        }
    };
    if after_begin > end {
        return Err(format!(
            "`{BEGIN_MARKER}` and `{END_MARKER}` must be on separate lines"
        ));
    }
    let mut out = String::with_capacity(text.len() + body.len());
    out.push_str(&text[..after_begin]);
    out.push_str(body);
    if !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&text[end..]);
    Ok(out)
}

/// Runs codegen under `root`, printing what it does. Returns whether it succeeded: in write mode,
/// every artefact was generated; in check mode, every artefact is also fresh.
pub fn run(root: &Path, check: bool) -> bool {
    let artefacts = match artefacts(root) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    let mut failed = vec![];
    let mut stale = vec![];
    for a in &artefacts {
        let path = root.join(&a.path);
        let expected = match &a.content {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {}: {e}", a.path);
                failed.push(a.path.clone());
                continue;
            }
        };
        let current = fs::read_to_string(&path).ok();
        if current.as_deref() == Some(expected.as_str()) {
            println!("{} is up to date", a.path);
            continue;
        }
        if check {
            match &current {
                None => eprintln!("stale: {} is missing", a.path),
                Some(cur) => eprintln!("stale: {}\n{}", a.path, first_difference(cur, expected)),
            }
            stale.push(a.path.clone());
        } else {
            if let Some(dir) = path.parent()
                && let Err(e) = fs::create_dir_all(dir)
            {
                eprintln!("error: cannot create {}: {e}", dir.display());
                failed.push(a.path.clone());
                continue;
            }
            match fs::write(&path, expected) {
                Ok(()) => println!("updated {}", a.path),
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    failed.push(a.path.clone());
                }
            }
        }
    }
    if !check && let Err(e) = refresh_tool_snapshot(root) {
        eprintln!("error: tests/snapshots/tools.json: {e}");
        failed.push("tests/snapshots/tools.json".into());
    }
    if !stale.is_empty() {
        eprintln!(
            "\n{} out of date with {SPEC}: {}\nrun `{FIX}` to refresh {}",
            match stale.len() {
                1 => "1 file is".to_string(),
                n => format!("{n} files are"),
            },
            stale.join(", "),
            if stale.len() == 1 { "it" } else { "them" },
        );
    }
    if !failed.is_empty() {
        eprintln!(
            "\ncodegen could not produce: {}{}",
            failed.join(", "),
            if check {
                ""
            } else {
                " (the other files are up to date now)"
            }
        );
    }
    stale.is_empty() && failed.is_empty()
}

/// A one-hunk diff of the first region where `current` and `expected` differ: lines only in
/// the committed file (`-`) and lines only in the generated one (`+`).
pub fn first_difference(current: &str, expected: &str) -> String {
    let old: Vec<&str> = current.lines().collect();
    let new: Vec<&str> = expected.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let removed = &old[prefix..old.len() - suffix];
    let added = &new[prefix..new.len() - suffix];
    let mut out = format!("  @@ first difference at line {} @@\n", prefix + 1);
    let mut show = |sign: char, lines: &[&str]| {
        for l in lines.iter().take(DIFF_LINES) {
            out.push_str(&format!("  {sign} {}\n", shorten(l)));
        }
        if lines.len() > DIFF_LINES {
            out.push_str(&format!(
                "  {sign} … {} more lines\n",
                lines.len() - DIFF_LINES
            ));
        }
    };
    show('-', removed);
    show('+', added);
    if removed.is_empty() && added.is_empty() {
        // Same lines; only line endings or the final newline differ.
        out.push_str("  (only line endings or the final newline differ)\n");
    }
    out
}

/// A line cut to a readable length for the diff.
fn shorten(line: &str) -> String {
    const MAX: usize = 160;
    if line.chars().count() > MAX {
        format!("{}…", line.chars().take(MAX).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_replaced_and_the_rest_kept() {
        let text = format!("# T\n\nintro\n{BEGIN_MARKER}\nold\nold2\n{END_MARKER}\n\ntail\n");
        let out = splice_region(&text, "new\n").unwrap();
        assert_eq!(
            out,
            format!("# T\n\nintro\n{BEGIN_MARKER}\nnew\n{END_MARKER}\n\ntail\n")
        );
        // Idempotent.
        assert_eq!(splice_region(&out, "new\n").unwrap(), out);
    }

    #[test]
    fn missing_markers_name_the_markers() {
        let err = splice_region("# T\n", "x\n").unwrap_err();
        assert!(
            err.contains(BEGIN_MARKER) && err.contains(END_MARKER),
            "{err}"
        );
        let err = splice_region(&format!("{BEGIN_MARKER}\n"), "x\n").unwrap_err();
        assert!(err.contains("is missing"), "{err}");
    }

    #[test]
    fn difference_shows_inserted_lines_only() {
        let d = first_difference("a\nb\nc\n", "a\nb\nx\ny\nc\n");
        assert!(d.contains("line 3"), "{d}");
        assert!(d.contains("+ x\n") && d.contains("+ y\n"), "{d}");
        assert!(!d.contains("- "), "{d}");
        let d = first_difference("a\nb\n", "a\nc\n");
        assert!(d.contains("- b\n") && d.contains("+ c\n"), "{d}");
    }
}
