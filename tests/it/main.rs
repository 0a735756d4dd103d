//! Integration tests: one binary, one module per area.

mod cache;
mod client;
mod e2e;
mod extract;
mod findings;
mod hardening;
mod http_sessions;
mod mcp;
mod network;
mod operations;
mod props;
mod redis;
mod reports;
mod roundtrip;
mod spec;
mod support;
mod sweep;
mod tier_auto;
mod uploads;
