//! Integration tests: one binary, one module per area.

mod budget;
mod cache;
mod cli;
mod client;
mod defang;
mod e2e;
mod extract;
mod findings;
mod hardening;
mod http_sessions;
mod mcp;
mod network;
mod operations;
mod props;
mod reports;
mod roundtrip;
mod spec;
mod support;
mod sweep;
mod tier_auto;
mod uploads;
