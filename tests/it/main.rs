//! Integration tests: one binary, one module per area.

mod e2e;
mod mcp;
mod operations;
mod roundtrip;
mod spec;
mod support;
