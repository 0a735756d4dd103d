//! Shared test helpers, one submodule per topic, re-exported here so that tests name them as
//! `crate::support::…`:
//!
//! - [`spec`]: the parsed spec and sample values derived from its schemas;
//! - [`mock`]: a mock VirusTotal that names the requests it did not expect, and a client for it;
//! - [`skipping`]: skipping a test for want of something, or failing it in CI;
//! - [`mcp`]: an MCP client on an in-process server (also re-exported as `crate::mcp::…`);
//! - [`snapshots`]: committed snapshot files, checked or rewritten (`UPDATE_SNAPSHOTS=1`);
//! - [`redis`]: a real `redis-server` on a free loopback port, or a skip without one.

pub mod mcp;
pub mod mock;
pub mod redis;
pub mod skipping;
pub mod snapshots;
pub mod spec;

// Every helper keeps the path it had when this was one file, used or not today.
#[allow(unused_imports)]
pub use mock::{client_for, install_catch_all, mock_vt};
#[allow(unused_imports)]
pub use skipping::{REQUIRE_ALL, shared_fixtures, skip};
#[allow(unused_imports)]
pub use spec::{
    as_query_value, encode_segment, json_response_schema, operations, resolve, sample_arg,
    sample_call, sample_instance, spec, spec_op, strip_nulls,
};

pub const TEST_KEY: &str = "test-key-0123456789abcdef";
