//! Maintenance tasks for vtmcp, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `spec check`: lints `spec/virustotal-v3.yaml` ([`check`]);
//! - `spec diff OLD NEW`: what changed between two spec versions ([`diff`]);
//! - `spec import-metadata FILE`: relationship names from a saved `GET /metadata` ([`metadata`]);
//! - `codegen [--check]`: refreshes or verifies the committed artefacts derived from the spec
//!   ([`codegen`], rendered by [`render`]);
//! - `bench [--quick] [--out FILE]`: builds the release binary and benchmarks it ([`bench`]);
//! - `layers`: no module of the crate refers to a layer above it ([`layers`]).
//!
//! The crate is a library plus a thin binary so that its tests can call it directly.

pub mod bench;
pub mod check;
pub mod codegen;
pub mod composite;
pub mod diff;
pub mod layers;
pub mod metadata;
/// The operation model build.rs uses, included from the same file so that the two cannot
/// disagree about what the spec says.
#[path = "../../build/model.rs"]
pub mod model;
pub mod render;
pub mod spec;

use std::path::PathBuf;

/// The repository root: the parent of this crate's directory.
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
