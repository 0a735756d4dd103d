//! Integration tests: one binary, one module per area.

mod operations;
mod roundtrip;
mod spec;
mod support;
