//! Integration tests: one binary, one module per area.

mod cache;
mod client;
mod confirm;
mod conformance;
mod e2e;
mod extract;
mod findings;
mod hardening;
mod http_sessions;
mod mcp;
mod meta_tools;
mod network;
mod operations;
mod props;
mod reports;
mod resources;
mod roundtrip;
mod scale;
mod spec;
mod stix;
mod support;
mod sweep;
mod tier_auto;
mod uploads;
