//! Skipping a test for want of something it needs, with the reason printed, or failing it in CI.

/// Set by `.ci/run`: a test that would be skipped because something it needs is absent fails
/// instead (CI has everything; a user's fresh clone may not).
pub const REQUIRE_ALL: &str = "VTMCP_TESTS_REQUIRE_ALL";

/// Skips the calling test with a printed reason, or fails it when [`REQUIRE_ALL`] is set.
/// Returns `None` so callers can write `let Some(x) = … else { return skip(…) }`.
pub fn skip<T>(why: &str) -> Option<T> {
    if std::env::var_os(REQUIRE_ALL).is_some_and(|v| v != "0") {
        panic!("{why}, and {REQUIRE_ALL} is set (CI): this test must run");
    }
    eprintln!("SKIPPED: {why} (set {REQUIRE_ALL}=1 to make this a failure)");
    None
}

/// The shared fixtures folder (`../shared/fixtures/vt` from the repository root, or
/// `VTMCP_SHARED_FIXTURES`), or a skip saying why there is none.
pub fn shared_fixtures(sub: &str) -> Option<std::path::PathBuf> {
    let base = std::env::var_os("VTMCP_SHARED_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/vt")
        });
    let dir = base.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(&format!(
            "{} is absent (a fresh clone has no ../shared)",
            dir.display()
        ))
    }
}
