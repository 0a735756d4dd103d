//! # vtmcp
//!
//! The whole VirusTotal API v3, generated at build time from one OpenAPI document
//! (`spec/virustotal-v3.yaml`), usable three ways:
//!
//! 1. **As an MCP server** (the `vtmcp` binary): one tool per API operation plus hand-written
//!    report tools ([`reports`]), filtered by toolsets, the key's tier and the permissions
//!    granted (nothing is submitted or written unless enabled). See [`mcp`] and [`config`].
//! 2. **As a typed Rust client**: [`Client`] has one builder method per operation
//!    (`client.get_file().id("…").send().await`), hand-written multipart uploads, and the
//!    policies in [`client`] (key handling, redirects without the key, errors in [`Error`]).
//!    It stands alone: [`ops`], a layer above, calls any operation by name with JSON arguments
//!    (and pages, downloads and uploads by name), reading the table in [`operations`].
//! 3. **As a spec workflow**: edit the YAML, run `cargo xtask spec check` and
//!    `cargo xtask codegen`; the client, the tool table, `COVERAGE.md` and the snapshots follow
//!    (README, "Changing the spec").
//!
//! ```no_run
//! # async fn demo() -> Result<(), vtmcp::Error> {
//! let client = vtmcp::Client::builder().api_key("<your key>").build()?;
//! let report = client
//!     .get_file()
//!     .id("44d88612fea8a8f36de82e1278abb02f")
//!     .send()
//!     .await
//!     .map_err(|e| vtmcp::Error::from_progenitor("get_file", e))?;
//! if let Some(attributes) = &report.data.attributes {
//!     println!("{:?}", attributes.last_analysis_stats);
//! }
//! # Ok(()) }
//! ```

pub mod access;
pub mod cache;
pub mod client;
pub mod config;
pub mod error;
pub mod files;
pub mod http;
pub mod mcp;
pub mod operations;
pub mod ops;
pub mod reports;
pub mod upload_dirs;

pub use client::{ApiKey, Client, ClientBuilder, types};
pub use error::{Error, ErrorCode};
