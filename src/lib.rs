//! # vtmcp
//!
//! The whole VirusTotal API v3 as a typed Rust client (and an MCP server), generated at build
//! time from one OpenAPI document kept with the crate (`spec/virustotal-v3.yaml`).
//!
//! ## The typed client
//!
//! [`Client`] has one builder method per API operation, named after its `operationId`
//! (`client.get_file()`, `client.list_file_comments()`, … — `spec/operations.txt` lists them
//! all). Setters take the parameters, `send()` sends the request, and every failure is a
//! [`vtmcp::Error`](Error) that names the operation, so `?` works in any function returning
//! [`vtmcp::Result`](Result):
//!
//! ```
//! # use serde_json::json;
//! # use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> vtmcp::Result<()> {
//! # let server = MockServer::start().await;
//! # Mock::given(path("/files/44d88612fea8a8f36de82e1278abb02f"))
//! #     .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
//! #         "type": "file", "id": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
//! #         "attributes": {"last_analysis_stats": {"malicious": 62, "undetected": 10}}}})))
//! #     .mount(&server).await;
//! # let base_url = server.uri();
//! use vtmcp::Client;
//!
//! let client = Client::builder()
//!     .api_key("<your key>")
//!     .base_url(base_url) // default: https://www.virustotal.com/api/v3
//!     .build()?;
//! let report = client
//!     .get_file()
//!     .id("44d88612fea8a8f36de82e1278abb02f")
//!     .send()
//!     .await?;
//! let stats = report.data.attributes.as_ref().and_then(|a| a.last_analysis_stats.as_ref());
//! assert_eq!(stats.and_then(|s| s.malicious), Some(62));
//! # Ok(()) }
//! ```
//!
//! What went wrong is reachable by matching: VirusTotal's code, the HTTP status and how long to
//! wait before trying again.
//!
//! ```
//! # use serde_json::json;
//! # use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> vtmcp::Result<()> {
//! # let server = MockServer::start().await;
//! # Mock::given(path("/ip_addresses/192.0.2.1"))
//! #     .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30")
//! #         .set_body_json(json!({"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}})))
//! #     .mount(&server).await;
//! # let client = vtmcp::Client::builder().api_key("k").base_url(server.uri()).build()?;
//! use vtmcp::{Error, ErrorCode};
//!
//! match client.get_ip_address().ip("192.0.2.1").send().await {
//!     Ok(answer) => println!("{:?}", answer.data.attributes),
//!     Err(Error::Api { operation, code: ErrorCode::QuotaExceeded, retry_after, .. }) => {
//!         assert_eq!(operation, "get_ip_address");
//!         assert_eq!(retry_after, Some(std::time::Duration::from_secs(30)));
//!     }
//!     Err(other) => return Err(other),
//! }
//! # Ok(()) }
//! ```
//!
//! Every operation with a `cursor` parameter pages with `stream()`: the items of every page,
//! the next page fetched when the last one is used up (at the client's rate limit), ending with
//! an error rather than looping if the server repeats a cursor.
//!
//! ```
//! # use serde_json::json;
//! # use wiremock::{Mock, MockServer, ResponseTemplate, matchers::{path, query_param, query_param_is_missing}};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> vtmcp::Result<()> {
//! # let server = MockServer::start().await;
//! # let comment = |n: u32| json!({"type": "comment", "id": format!("f-44d8-{n}"), "attributes": {"text": "…"}});
//! # Mock::given(path("/files/44d88612fea8a8f36de82e1278abb02f/comments")).and(query_param_is_missing("cursor"))
//! #     .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [comment(1), comment(2)], "meta": {"cursor": "page2"}})))
//! #     .mount(&server).await;
//! # Mock::given(path("/files/44d88612fea8a8f36de82e1278abb02f/comments")).and(query_param("cursor", "page2"))
//! #     .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [comment(3)]})))
//! #     .mount(&server).await;
//! # let client = vtmcp::Client::builder().api_key("k").base_url(server.uri()).build()?;
//! use futures::TryStreamExt;
//!
//! let comments: Vec<_> = client
//!     .list_file_comments()
//!     .id("44d88612fea8a8f36de82e1278abb02f")
//!     .stream()
//!     .try_collect()
//!     .await?;
//! assert_eq!(comments.len(), 3);
//! # Ok(()) }
//! ```
//!
//! `stream_with(PageOptions::new().max_items(100))` caps it, and
//! [`Paginator::resume_point`](client::Paginator::resume_point) says where to pick up later. The
//! module [`client`] has the rest: rate limits and quotas ([`client::RateLimit`]), retries,
//! proxies and CA certificates, scanning a file and waiting for the analysis, streamed
//! downloads (redirects to signed storage followed without the key), and feeds. The generated
//! request and answer types are in [`types`]; the runnable programs in `examples/` show each
//! task end to end.
//!
//! ## Cargo features
//!
//! | feature | what it adds | default |
//! |---|---|---|
//! | `server` | the MCP server (the `vtmcp` binary), its Streamable HTTP transport, the CLI, the report tools ([`reports`]), calls by name ([`ops`]); implies `cache` and `feeds` | yes |
//! | `cache` | the answer cache and the shared quota windows in SQLite or Redis ([`cache::Cache`], [`ClientBuilder::cache`]) | with `server` |
//! | `feeds` | feed batches, decoded while they download ([`client::feeds`]) | with `server` |
//!
//! `server` is a default feature so that `cargo install vtmcp` installs the server. A program
//! that only wants the typed client leaves it out:
//!
//! ```toml
//! [dependencies]
//! vtmcp = { version = "0.1", default-features = false }            # the client alone
//! # vtmcp = { version = "0.1", default-features = false, features = ["feeds"] }
//! ```
//!
//! The client alone has the rate limiter, retries, proxies and CA certificates, scans and
//! downloads; the dependency count and build times of each build are in the README.
//!
//! ## The rest of the crate
//!
//! * **The MCP server** (the `vtmcp` binary, feature `server`): one tool per API operation plus
//!   hand-written report tools ([`reports`]), filtered by toolsets, the key's tier and the
//!   permissions granted (nothing is submitted or written unless enabled). See [`mcp`] and
//!   [`config`].
//! * **Calls by name** (feature `server`): [`ops`], a layer above the client, calls any
//!   operation by name with JSON arguments (and pages, downloads and uploads by name), reading
//!   the table in [`operations`].
//! * **The spec workflow**: edit the YAML, run `cargo xtask spec check` and
//!   `cargo xtask codegen`; the client, the tool table, `COVERAGE.md` and the snapshots follow
//!   (README, "Changing the spec").

#![warn(missing_docs)]

pub mod access;
pub mod cache;
pub mod client;
#[cfg(feature = "server")]
pub mod config;
pub mod error;
pub mod files;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod mcp;
pub mod operations;
#[cfg(feature = "server")]
pub mod ops;
#[cfg(feature = "server")]
pub mod reports;
#[cfg(feature = "server")]
pub mod upload_dirs;

pub use client::{ApiKey, Client, ClientBuilder, types};
pub use error::{Error, ErrorCode, Result};
