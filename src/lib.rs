//! # vtmcp
//!
//! The whole VirusTotal API v3 as a typed Rust client, generated at build time from the OpenAPI
//! document in `spec/virustotal-v3.yaml`.
//!
//! * [`Client`] is the typed client: one builder method per spec operation
//!   (`client.get_file().id("…").send().await`), plus hand-written multipart uploads.
//! * [`ops`] holds the operation table generated from the same spec (id, method, path, toolset,
//!   tier, permission class, flat input schema) and a dispatcher that calls any operation by
//!   name with JSON arguments.
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

pub mod client;
pub mod config;
pub mod error;
pub mod http;
pub mod mcp;
pub mod ops;
pub mod reports;

pub use client::{ApiKey, Client, ClientBuilder, types};
pub use error::{Error, ErrorCode};
