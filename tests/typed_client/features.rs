//! The client-only build (`default-features = false`) really leaves the server out: `cargo tree`
//! of the library without default features (normal dependencies, this platform) holds none of
//! the crates only the MCP server, its HTTP transport, the CLI, the cache stores or feed
//! decoding need, and hyper (which reqwest needs as a client) is built without its server half.
//! The default build, which `cargo install` uses, still has them, so the check cannot pass by
//! reading the wrong tree.

use std::process::Command;

/// Crates the typed client must not pull in, and the feature that brings each one.
const SERVER_ONLY: &[(&str, &str)] = &[
    ("rmcp", "server"),
    ("clap", "server"),
    ("tracing-subscriber", "server"),
    ("schemars", "server"),
    ("psl", "server"),
    ("cap-std", "server"),
    ("rusqlite", "cache"),
    ("redis", "cache"),
    ("bzip2", "feeds"),
    ("tar", "feeds"),
];

/// `cargo tree` of this package with `args`, as plain lines.
fn tree(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--locked", "-p", "vtmcp", "--prefix", "none"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The package names in a `cargo tree --prefix none` listing.
fn packages(listing: &str) -> std::collections::BTreeSet<&str> {
    listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[test]
fn the_client_only_build_has_no_server_crates() {
    let client = tree(&["--no-default-features", "-e", "normal"]);
    let full = tree(&["-e", "normal"]);
    let (client, full) = (packages(&client), packages(&full));
    for (name, feature) in SERVER_ONLY {
        assert!(
            full.contains(name),
            "{name} is not in the default build any more: update this list"
        );
        assert!(
            !client.contains(name),
            "{name} is in the client-only build; it belongs behind the `{feature}` feature"
        );
    }
    assert!(client.len() < full.len());

    let features = tree(&[
        "--no-default-features",
        "-e",
        "normal,features",
        "-i",
        "hyper",
    ]);
    assert!(
        features.contains("hyper feature \"client\""),
        "the listing shows hyper's features:\n{features}"
    );
    assert!(
        !features.contains("hyper feature \"server\""),
        "hyper's server is built into the client-only build:\n{features}"
    );
}
