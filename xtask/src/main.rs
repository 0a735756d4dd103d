//! `cargo xtask`: the command line of the maintenance tasks (see the library docs).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use xtask::spec::Spec;
use xtask::{bench, check, codegen, diff, metadata, repo_root};

#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "Maintenance tasks for vtmcp",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work on the OpenAPI document.
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// Refresh every committed file derived from the spec (spec/operations.txt, COVERAGE.md,
    /// the README toolset tables).
    Codegen {
        /// Change nothing; fail if any generated file is stale.
        #[arg(long)]
        check: bool,
        /// Repository root holding spec/, README.md and COVERAGE.md.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Check that no module of the crate refers to a layer above it.
    Layers,
    /// Build the release binary and benchmark it against a local mock VirusTotal; print the
    /// figures and write them to BENCHMARKS.md.
    Bench {
        /// Fewer repetitions, for a quick look.
        #[arg(long)]
        quick: bool,
        /// Where to write the results (default: BENCHMARKS.md at the repository root).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SpecCommand {
    /// Check the spec against the project's rules; print every problem.
    Check {
        /// The spec to check (default: spec/virustotal-v3.yaml of the repository).
        #[arg(long, value_name = "PATH")]
        spec: Option<PathBuf>,
    },
    /// Summarise what changed from OLD to NEW (operations and component schemas).
    Diff { old: PathBuf, new: PathBuf },
    /// Compare the relationship names of a saved `GET /metadata` response with the spec's enums.
    ImportMetadata {
        /// The saved response (JSON).
        file: PathBuf,
        /// Append the names VirusTotal lists but the enums lack to the spec (text edit in place).
        #[arg(long)]
        write: bool,
        /// The spec to compare with (default: spec/virustotal-v3.yaml of the repository).
        #[arg(long, value_name = "PATH")]
        spec: Option<PathBuf>,
    },
}

fn default_spec(spec: Option<PathBuf>) -> PathBuf {
    spec.unwrap_or_else(|| repo_root().join(codegen::SPEC))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ok = match cli.command {
        Command::Codegen { check, root } => codegen::run(&root.unwrap_or_else(repo_root), check),
        Command::Bench { quick, out } => bench::run(&bench::Options { quick, out }),
        Command::Layers => match xtask::layers::check(&repo_root().join("src")) {
            Ok(problems) if problems.is_empty() => {
                println!(
                    "layers: OK ({} known back-edges left, see xtask/src/layers.rs)",
                    xtask::layers::KNOWN_BACK_EDGES.len()
                );
                true
            }
            Ok(problems) => {
                problems.iter().for_each(|p| eprintln!("error: {p}"));
                false
            }
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        },
        Command::Spec { command } => match command {
            SpecCommand::Check { spec } => spec_check(&default_spec(spec)),
            SpecCommand::Diff { old, new } => spec_diff(&old, &new),
            SpecCommand::ImportMetadata { file, write, spec } => {
                import_metadata(&file, &default_spec(spec), write)
            }
        },
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `N of M operations confirmed …`: how much of the spec VirusTotal's sources back.
fn evidence_summary(spec: &Spec) -> String {
    let ops = spec.operations();
    let count = |f: &dyn Fn(&xtask::spec::Evidence) -> bool| {
        ops.iter()
            .filter(|o| o.evidence.as_ref().is_some_and(f))
            .count()
    };
    let confirmed = count(&|e| e.status == "confirmed");
    let first = count(&|e| e.confirmed_first_party());
    format!(
        "evidence: {confirmed} of {} operations confirmed ({first} by VirusTotal's own docs or clients, {} by third parties only); {} partial; {} unverified; {} without evidence",
        ops.len(),
        confirmed - first,
        count(&|e| e.status == "partial"),
        count(&|e| e.status == "unverified"),
        ops.iter().filter(|o| o.evidence.is_none()).count()
    )
}

fn spec_check(path: &std::path::Path) -> bool {
    let spec = match Spec::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    let problems = check::check(&spec);
    for p in &problems {
        eprintln!("{p}");
    }
    let ops = spec.operations().len();
    let schemas = spec
        .doc
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
        .map_or(0, |s| s.len());
    let summary = format!(
        "spec check: {} — {ops} operations, {} tags, {schemas} component schemas",
        path.display(),
        spec.tags().len()
    );
    println!("{}", evidence_summary(&spec));
    if problems.is_empty() {
        println!("{summary}: OK");
        true
    } else {
        eprintln!(
            "\n{summary}: {} problem{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        false
    }
}

fn spec_diff(old: &std::path::Path, new: &std::path::Path) -> bool {
    match (Spec::load(old), Spec::load(new)) {
        (Ok(o), Ok(n)) => {
            print!("{}", diff::diff(&o, &n));
            true
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            false
        }
    }
}

fn import_metadata(file: &std::path::Path, spec_path: &std::path::Path, write: bool) -> bool {
    let meta: serde_json::Value = match std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))
        .and_then(|t| {
            serde_json::from_str(&t).map_err(|e| format!("{} is not JSON: {e}", file.display()))
        }) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    let text = match std::fs::read_to_string(spec_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", spec_path.display());
            return false;
        }
    };
    let spec = match Spec::parse(&text, &spec_path.display().to_string()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    let report = match metadata::compare(&meta, &spec) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return false;
        }
    };
    print!(
        "{}",
        metadata::render(&report, &file.display().to_string(), &spec.source)
    );
    if !write {
        if report.compared.iter().any(|c| !c.missing.is_empty()) {
            println!("Run again with --write to append the missing names to the enums.");
        }
        return true;
    }
    match metadata::write_missing(&text, &report) {
        Ok((_, 0)) => {
            println!("Nothing to write: every listed name is in the enums.");
            true
        }
        Ok((edited, added)) => match std::fs::write(spec_path, edited) {
            Ok(()) => {
                println!(
                    "Appended {added} name{} to the enums in {}. If some are premium-only, say so in the enum's \
                     description; then run `cargo xtask spec check && cargo xtask codegen`.",
                    if added == 1 { "" } else { "s" },
                    spec_path.display()
                );
                true
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", spec_path.display());
                false
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}
