//! Committed snapshots: one file per item in a directory, checked on every run and rewritten only
//! with `UPDATE_SNAPSHOTS=1`.
//!
//! A stale file is shown with expectorate (`eq_file`, its `assert_contents` without the panic):
//! a line diff of the committed file (`-`) against what the code produces now (`+`).
//!
//! Why expectorate rather than insta: the files stay plain pretty-printed JSON named after the
//! item (insta wraps each snapshot in a `.snap` file with its own header); nothing is written
//! beside a stale file (insta, outside CI, writes `.snap.new` files by default, and a checking
//! run must write nothing); there is no review tool to install; it is small and maintained (by
//! Oxide). Its own switch, `EXPECTORATE=overwrite`, is not this project's: only
//! `UPDATE_SNAPSHOTS=1` rewrites, and a checking run that finds a stale file with `EXPECTORATE`
//! set fails instead of letting expectorate write it.

use predicates::Predicate;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The switch: `1` rewrites the committed snapshots; `0` or unset checks them and never writes.
pub const UPDATE: &str = "UPDATE_SNAPSHOTS";

/// Whether this run rewrites snapshots (`UPDATE_SNAPSHOTS=1`); a value that is neither on nor
/// off fails rather than guessing.
pub fn updating() -> bool {
    match std::env::var(UPDATE) {
        Err(std::env::VarError::NotPresent) => false,
        Err(e) => panic!("{UPDATE}: {e}"),
        Ok(v) => match v.trim() {
            "" | "0" | "false" | "no" => false,
            "1" | "true" | "yes" => true,
            other => {
                panic!("{UPDATE}={other:?}: set it to 1 to rewrite the snapshots, 0 to check them")
            }
        },
    }
}

/// `v` with the members of every object in key order (arrays keep theirs), so that a snapshot
/// does not depend on the order in which the code happened to build it.
pub fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, x)| (k.clone(), sorted_keys(x)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// The snapshot text of a JSON value: keys sorted, pretty-printed, one final newline.
pub fn pretty_json(v: &Value) -> String {
    serde_json::to_string_pretty(&sorted_keys(v)).unwrap() + "\n"
}

/// The repository-relative form of a path, for messages.
fn relative(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Asserts that `dir` holds exactly one `<name>.<ext>` file per entry of `files` (name → content),
/// each equal to its content, or with `UPDATE_SNAPSHOTS=1` makes it so: writes the files that
/// differ or are missing and deletes the `*.<ext>` files whose item no longer exists.
///
/// When checking, nothing is written: each stale or missing file is shown as a diff, then the
/// test fails listing every changed, missing and extra `what` by name, with `fix`, the commands
/// that refresh them; that failure starts `<what> snapshots in <dir>/ are stale:`, which
/// `cargo xtask codegen --check` looks for to tell a stale snapshot from another failure. Other
/// files in `dir` are left alone.
pub fn assert_dir(dir: &Path, ext: &str, files: &BTreeMap<String, String>, what: &str, fix: &str) {
    let shown = relative(dir);
    let committed: BTreeMap<String, std::path::PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
            .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p)))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => panic!("cannot read {shown}: {e}"),
    };
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.replace("\r\n", "\n"))
    };
    let extra: Vec<&String> = committed
        .keys()
        .filter(|name| !files.contains_key(*name))
        .collect();

    if updating() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {shown}: {e}"));
        for (name, content) in files {
            let path = dir.join(format!("{name}.{ext}"));
            let current = read(&path);
            if current.as_deref() != Some(content.as_str()) {
                std::fs::write(&path, content)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", relative(&path)));
                let how = if current.is_some() {
                    "updated"
                } else {
                    "added"
                };
                println!("{how} {}", relative(&path));
            }
        }
        for name in extra {
            let path = &committed[name];
            std::fs::remove_file(path)
                .unwrap_or_else(|e| panic!("cannot remove {}: {e}", relative(path)));
            println!(
                "removed {} ({what} `{name}` no longer exists)",
                relative(path)
            );
        }
        return;
    }

    let (mut changed, mut missing) = (vec![], vec![]);
    for (name, content) in files {
        let path = dir.join(format!("{name}.{ext}"));
        let current = read(&path);
        if current.as_deref() == Some(content.as_str()) {
            continue;
        }
        println!(
            "\n=== {what} `{name}`: {} {} (- committed, + now)",
            relative(&path),
            if current.is_some() {
                "is stale"
            } else {
                "is missing"
            }
        );
        assert!(
            std::env::var_os("EXPECTORATE").is_none(),
            "EXPECTORATE is set, but this project's switch is {UPDATE}=1 (with {UPDATE}=0 or unset \
             nothing is rewritten): unset EXPECTORATE"
        );
        // `eq_file` is expectorate's `assert_contents` without the panic: it prints the diff
        // (and a line naming the file), so every stale file is shown before the one failure
        // that lists them all.
        let shown_diff = !expectorate::eq_file(&path).eval(content.as_str());
        assert!(
            shown_diff,
            "expectorate found no difference in {}",
            relative(&path)
        );
        if current.is_some() {
            changed.push(name.as_str());
        } else {
            missing.push(name.as_str());
        }
    }
    if changed.is_empty() && missing.is_empty() && extra.is_empty() {
        return;
    }
    let mut report = format!("{what} snapshots in {shown}/ are stale:\n");
    let mut line = |label: &str, names: &[&str]| {
        if !names.is_empty() {
            report.push_str(&format!(
                "  {label} ({}): {}\n",
                names.len(),
                names.join(", ")
            ));
        }
    };
    line("changed, diff above", &changed);
    line("missing, diff above", &missing);
    let extra: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
    line(&format!("left over, no such {what}"), &extra);
    report.push_str(&format!(
        "Review the changes, then run {fix} ({UPDATE}=1 writes them and deletes the extra files)."
    ));
    panic!("{report}");
}
