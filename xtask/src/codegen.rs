//! `cargo xtask codegen [--check]`: refreshes every committed file derived from the spec, or
//! (with `--check`) verifies that they are fresh without touching them.
//!
//! Each artefact is produced independently, so one that cannot be generated (a README without
//! its markers) is reported while the others are still written. The tool snapshots in
//! `tests/snapshots/tools/` come last: the vtmcp test that owns them is run through cargo
//! ([`tool_snapshots`]).

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
    Ok(vec![
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
    ])
}

/// The committed tool snapshots, relative to the root: one pretty-printed JSON file per MCP tool
/// (name, title, description, input and output schemas, annotations, toolset, tier and
/// permission), so that reviewers see every change to what clients are offered, tool by tool.
pub const TOOL_SNAPSHOTS: &str = "tests/snapshots/tools";
/// The vtmcp test (a name filter for the `it` test binary) that checks the tool snapshots, and
/// with `UPDATE_SNAPSHOTS=1` rewrites them.
pub const TOOL_SNAPSHOT_TEST: &str = "tool_snapshot";
/// What that test's failure says when a snapshot is stale, missing or left over (as opposed to a
/// broken invariant or a build failure, which `codegen` cannot fix).
pub const TOOL_SNAPSHOTS_STALE: &str = "tool snapshots in tests/snapshots/tools/ are stale";
/// How many lines of the test's output `--check` shows from its start, and from its end (where
/// the list of stale tools is).
const OUTPUT_HEAD: usize = 160;
const OUTPUT_TAIL: usize = 40;

/// What the tool snapshot step found.
#[derive(Debug, PartialEq, Eq)]
pub enum ToolSnapshots {
    /// `root` is not a vtmcp checkout (no vtmcp `Cargo.toml` or no `tests/it/mcp.rs`): nothing
    /// to check, as for the temporary roots of the xtask tests.
    NotHere,
    /// Every snapshot is fresh: in write mode, after writing the lines listed (`updated …`,
    /// `added …`, `removed …`; none when nothing changed).
    Fresh(Vec<String>),
    /// `--check` only: a snapshot is stale, missing or left over; the test's diff and list.
    Stale(String),
    /// The snapshots could not be checked or written (the build or another assertion of the
    /// test failed, or the test did not run): why.
    Failed(String),
}

/// Tool snapshot step for `root`: checks `tests/snapshots/tools/` (`check`), or refreshes it.
///
/// The tool definitions are built inside the vtmcp crate (its build script, `src/mcp` and the
/// composite registry `COMPOSITES` in `src/reports/mod.rs`), which this crate does not link (it
/// must run while that crate does not build), so the snapshots are not an [`Artefact`]: the
/// vtmcp test `tool_snapshot_is_current_and_every_tool_keeps_the_invariants` produces them, and
/// this step
/// runs it through cargo with `UPDATE_SNAPSHOTS=0` (check: the test writes nothing and fails on
/// a stale, missing or left-over file) or `UPDATE_SNAPSHOTS=1` (write).
pub fn tool_snapshots(root: &Path, check: bool) -> ToolSnapshots {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("name = \"vtmcp\"") || !root.join("tests/it/mcp.rs").exists() {
        return ToolSnapshots::NotHere;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "test",
        "-q",
        "-p",
        "vtmcp",
        "--test",
        "it",
        TOOL_SNAPSHOT_TEST,
    ])
    .env("UPDATE_SNAPSHOTS", if check { "0" } else { "1" })
    // expectorate's own switch would let the checking test write: the test refuses it.
    .env_remove("EXPECTORATE")
    // A failed assertion's backtrace would bury the diff and the list of stale tools.
    .env("RUST_BACKTRACE", "0")
    .current_dir(root);
    if !check {
        // The test prints the files it writes; a passing test's output is shown only so.
        cmd.args(["--", "--nocapture"]);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return ToolSnapshots::Failed(format!("cannot run cargo: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        if !stdout.lines().any(|l| {
            l.strip_prefix("test result: ok. ")
                .is_some_and(|r| !r.starts_with("0 passed"))
        }) {
            return ToolSnapshots::Failed(format!(
                "no test matching `{TOOL_SNAPSHOT_TEST}` ran in the `it` test binary"
            ));
        }
        let written = stdout
            .lines()
            .filter(|l| {
                ["added ", "updated ", "removed "]
                    .iter()
                    .any(|p| l.starts_with(&format!("{p}{TOOL_SNAPSHOTS}/")))
            })
            .map(str::to_string)
            .collect();
        return ToolSnapshots::Fresh(written);
    }
    if check && stdout.contains(TOOL_SNAPSHOTS_STALE) {
        // The test's own output: a diff per stale file, then the list of stale tools.
        ToolSnapshots::Stale(excerpt(&stdout))
    } else {
        // Cargo's output too: a build error is there.
        ToolSnapshots::Failed(format!(
            "`cargo test -p vtmcp --test it {TOOL_SNAPSHOT_TEST}` failed:\n{}",
            excerpt(&format!("{stdout}{stderr}"))
        ))
    }
}

/// The first and last lines of a long output, indented.
fn excerpt(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let mut out = String::new();
    let mut push = |l: &str| out.push_str(&format!("  {l}\n"));
    if lines.len() <= OUTPUT_HEAD + OUTPUT_TAIL {
        lines.iter().for_each(|l| push(l));
    } else {
        lines[..OUTPUT_HEAD].iter().for_each(|l| push(l));
        push(&format!(
            "… {} lines cut …",
            lines.len() - OUTPUT_HEAD - OUTPUT_TAIL
        ));
        lines[lines.len() - OUTPUT_TAIL..]
            .iter()
            .for_each(|l| push(l));
    }
    out
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
    let snapshots = format!("{TOOL_SNAPSHOTS}/");
    match tool_snapshots(root, check) {
        ToolSnapshots::NotHere => {}
        ToolSnapshots::Fresh(written) if written.is_empty() => {
            println!("{snapshots} is up to date")
        }
        ToolSnapshots::Fresh(written) => written.iter().for_each(|l| println!("{l}")),
        ToolSnapshots::Stale(output) => {
            eprintln!("stale: {snapshots}\n{output}");
            stale.push(snapshots);
        }
        ToolSnapshots::Failed(e) => {
            eprintln!("error: {snapshots}: {e}");
            failed.push(snapshots);
        }
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
    fn a_long_test_output_keeps_its_start_and_its_end() {
        let short = excerpt("a\nb\n");
        assert_eq!(short, "  a\n  b\n");
        let long: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let cut = excerpt(&long);
        assert_eq!(cut.lines().count(), OUTPUT_HEAD + 1 + OUTPUT_TAIL);
        assert!(cut.starts_with("  line 0\n"), "{cut}");
        assert!(cut.contains(&format!(
            "… {} lines cut …",
            1000 - OUTPUT_HEAD - OUTPUT_TAIL
        )));
        assert!(cut.ends_with("  line 999\n"), "{cut}");
    }

    #[test]
    fn a_root_that_is_not_a_vtmcp_checkout_has_no_tool_snapshots() {
        let dir = std::env::temp_dir().join(format!("xtask-no-snapshots-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(tool_snapshots(&dir, true), ToolSnapshots::NotHere);
        fs::remove_dir_all(&dir).unwrap();
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
