//! `cargo xtask bench`: builds the release binary, then runs the `bench` example
//! (`examples/bench/`), which drives the binary against a local mock VirusTotal, prints the
//! figures and writes them to `BENCHMARKS.md`.
//!
//! The measuring lives in the example so that this crate stays light: it only runs cargo.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fewer repetitions.
    pub quick: bool,
    /// Where to write the results (default: `BENCHMARKS.md` at the repository root).
    pub out: Option<PathBuf>,
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run_step(what: &str, cmd: &mut Command) -> Result<std::process::Output, String> {
    cmd.output()
        .map_err(|e| format!("{what}: cannot run cargo: {e}"))
}

/// Cargo's target directory for this workspace (honours `CARGO_TARGET_DIR` and config files).
fn target_dir(root: &Path) -> Result<PathBuf, String> {
    let out = run_step(
        "cargo metadata",
        cargo()
            .current_dir(root)
            .args(["metadata", "--format-version", "1", "--no-deps"]),
    )?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata gave no target_directory".into())
}

fn status(what: &str, cmd: &mut Command) -> Result<(), String> {
    let s = cmd
        .status()
        .map_err(|e| format!("{what}: cannot run cargo: {e}"))?;
    if s.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({s})"))
    }
}

/// Runs the benchmarks from the repository at `root`.
pub fn run_in(root: &Path, opts: &Options) -> Result<(), String> {
    status(
        "cargo build --release --bin vtmcp",
        cargo().current_dir(root).args([
            "build",
            "--release",
            "--package",
            "vtmcp",
            "--bin",
            "vtmcp",
        ]),
    )?;
    let bin = target_dir(root)?
        .join("release")
        .join(format!("vtmcp{}", std::env::consts::EXE_SUFFIX));
    let out = match &opts.out {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => std::env::current_dir()
            .map_err(|e| format!("current directory: {e}"))?
            .join(p),
        None => root.join("BENCHMARKS.md"),
    };
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args([
            "run",
            "--release",
            "--package",
            "vtmcp",
            "--example",
            "bench",
            "--",
        ])
        .arg("--bin")
        .arg(&bin)
        .arg("--out")
        .arg(&out)
        .args(["--command", "cargo xtask bench"]);
    if opts.quick {
        cmd.arg("--quick");
    }
    status("cargo run --release --example bench", &mut cmd)
}

/// Runs the benchmarks from this repository; prints the error and returns false on failure.
pub fn run(opts: &Options) -> bool {
    match run_in(&crate::repo_root(), opts) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}
