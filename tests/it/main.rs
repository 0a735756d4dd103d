//! Integration tests: one binary, one module per area.

mod client;
mod e2e;
mod findings;
mod hardening;
mod mcp;
mod operations;
mod props;
mod reports;
mod roundtrip;
mod spec;
mod support;
mod sweep;
mod uploads;
