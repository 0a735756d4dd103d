//! End-to-end tests of `cargo xtask`: the binary is run on copies of the real spec in temporary
//! directories, and once on the repository itself so that a stale committed artefact fails
//! `cargo test --workspace`.

use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use xtask::codegen::{BEGIN_MARKER, END_MARKER};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run the xtask binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn real_spec_path() -> PathBuf {
    xtask::repo_root().join("spec/virustotal-v3.yaml")
}

fn real_spec() -> Value {
    let text = fs::read_to_string(real_spec_path()).unwrap();
    yaml_serde::from_str(&text).unwrap()
}

/// Writes a spec document (as JSON, which is YAML too) and returns its path as a string.
fn write_spec(dir: &Path, name: &str, doc: &Value) -> String {
    let path = dir.join(name);
    fs::write(&path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

fn error_count(o: &Output) -> usize {
    stderr(o)
        .lines()
        .filter(|l| l.starts_with("error: "))
        .count()
}

/// Runs `spec check` on the real spec and on a copy changed by `edit`; asserts the copy fails with
/// exactly one more problem, and returns the copy's stderr.
fn check_rejects(edit: impl FnOnce(&mut Value)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let base = real_spec();
    let mut changed = base.clone();
    edit(&mut changed);
    let base_path = write_spec(dir.path(), "base.yaml", &base);
    let changed_path = write_spec(dir.path(), "changed.yaml", &changed);
    let before = xtask(&["spec", "check", "--spec", &base_path]);
    let after = xtask(&["spec", "check", "--spec", &changed_path]);
    assert!(
        !after.status.success(),
        "the changed spec passed:\n{}",
        stderr(&after)
    );
    assert_eq!(
        error_count(&after),
        error_count(&before) + 1,
        "expected exactly one new problem:\n{}",
        stderr(&after)
    );
    stderr(&after)
}

#[test]
fn spec_check_rejects_a_missing_tier() {
    let err = check_rejects(|doc| {
        doc["paths"]["/files/{id}"]["get"]
            .as_object_mut()
            .unwrap()
            .remove("x-vt-tier");
    });
    assert!(
        err.contains("error: get_file (GET /files/{id}): `x-vt-tier` is missing"),
        "{err}"
    );
    assert!(
        err.contains("at /paths/~1files~1{id}/get/x-vt-tier"),
        "{err}"
    );
}

#[test]
fn spec_check_rejects_a_duplicate_operation_id() {
    let err = check_rejects(|doc| {
        doc["paths"]["/files/{id}/analyse"]["post"]["operationId"] = json!("get_file");
    });
    assert!(
        err.contains(
            "error: get_file (POST /files/{id}/analyse): operationId `get_file` is already used by GET /files/{id}"
        ),
        "{err}"
    );
}

#[test]
fn spec_check_rejects_a_default_response_beside_200() {
    let err = check_rejects(|doc| {
        doc["paths"]["/files/{id}"]["get"]["responses"]["default"] =
            json!({"$ref": "#/components/responses/Error"});
    });
    assert!(
        err.contains("error: get_file (GET /files/{id}): a `default` response beside 200"),
        "{err}"
    );
    assert!(
        err.contains("at /paths/~1files~1{id}/get/responses/default"),
        "{err}"
    );
}

#[test]
fn spec_check_reports_what_build_rs_could_not_generate() {
    // build.rs and `spec check` read operations through one model: a parameter the operation
    // table cannot hold is a `spec check` problem, not a panic in the build.
    let err = check_rejects(|doc| {
        doc["paths"]["/files/{id}"]["get"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "session", "in": "cookie", "schema": {"type": "string"}}));
    });
    assert!(
        err.contains(
            "error: get_file (GET /files/{id}): parameter `session` is in `cookie`; only path, query and header parameters are supported (build.rs cannot generate it)"
        ),
        "{err}"
    );
}

#[test]
fn spec_check_reports_an_unresolved_parameter_ref_once() {
    // Where the `$ref` is written, not a second time for the operation that reaches it.
    let err = check_rejects(|doc| {
        doc["paths"]["/files/{id}"]["get"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"$ref": "#/components/parameters/Nope"}));
    });
    assert!(
        err.contains("`$ref: #/components/parameters/Nope` does not resolve"),
        "{err}"
    );
}

#[test]
fn spec_check_passes_on_the_repository_spec() {
    let out = xtask(&["spec", "check"]);
    assert!(
        out.status.success(),
        "the committed spec fails `cargo xtask spec check`; fix these problems in spec/virustotal-v3.yaml:\n{}",
        stderr(&out)
    );
}

#[test]
fn composite_tool_endpoints_exist_in_the_spec() {
    let spec = xtask::spec::Spec::load(&real_spec_path()).unwrap();
    let ops = spec.operations();
    let tools = xtask::composite::composite_tools();
    assert!(
        tools.len() >= 10,
        "the composite tools are read from tests/snapshots/tools/: found {}",
        tools.len()
    );
    for tool in tools {
        // A tool that calls nothing (extract_iocs) says so in its description.
        assert!(
            !tool.endpoints.is_empty() || tool.purpose.contains("Makes no request"),
            "{}",
            tool.name
        );
        for (method, path) in &tool.endpoints {
            assert!(
                ops.iter().any(|o| &o.method == method && &o.path == path),
                "composite tool {} uses {method} {path}, which is not in the spec",
                tool.name
            );
        }
    }
}

/// A temporary repository root: the real spec and a README with the markers.
fn temp_root(readme: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("spec")).unwrap();
    fs::copy(real_spec_path(), dir.path().join("spec/virustotal-v3.yaml")).unwrap();
    fs::write(dir.path().join("README.md"), readme).unwrap();
    dir
}

fn readme_with_markers() -> String {
    format!("# Test\n\nIntro.\n\n## Tools\n\n{BEGIN_MARKER}\n{END_MARKER}\n\n## Later\n\nText.\n")
}

const ARTEFACTS: &[&str] = &["spec/operations.txt", "COVERAGE.md", "README.md"];

fn snapshot(root: &Path) -> Vec<Option<Vec<u8>>> {
    ARTEFACTS
        .iter()
        .map(|a| fs::read(root.join(a)).ok())
        .collect()
}

#[test]
fn codegen_check_fails_after_an_operation_is_added_and_codegen_fixes_it() {
    let dir = temp_root(&readme_with_markers());
    let root = dir.path().to_str().unwrap();

    let first = xtask(&["codegen", "--root", root]);
    assert!(first.status.success(), "{}", stderr(&first));
    let fresh = xtask(&["codegen", "--check", "--root", root]);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    let readme = fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(
        readme.starts_with("# Test\n\nIntro.\n\n## Tools\n\n"),
        "{readme}"
    );
    assert!(
        readme.ends_with(&format!("{END_MARKER}\n\n## Later\n\nText.\n")),
        "{readme}"
    );
    for a in ARTEFACTS {
        let text = fs::read_to_string(dir.path().join(a)).unwrap();
        assert!(
            text.contains("generated by cargo xtask codegen"),
            "{a} lacks its header"
        );
    }

    // Add an operation to the spec.
    let mut doc = real_spec();
    let mut op = doc["paths"]["/files/{id}"]["get"].clone();
    op["operationId"] = json!("get_file_brand_new_view");
    op["summary"] = json!("A brand new view of a file");
    doc["paths"]
        .as_object_mut()
        .unwrap()
        .insert("/files/{id}/brand_new_view".into(), json!({ "get": op }));
    write_spec(dir.path(), "spec/virustotal-v3.yaml", &doc);

    let before = snapshot(dir.path());
    let stale = xtask(&["codegen", "--check", "--root", root]);
    let err = stderr(&stale);
    assert!(!stale.status.success(), "--check passed on stale files");
    for a in ARTEFACTS {
        assert!(
            err.contains(&format!("stale: {a}")),
            "{a} not reported stale:\n{err}"
        );
    }
    assert!(
        err.contains("get_file_brand_new_view"),
        "diff lacks the new line:\n{err}"
    );
    assert!(err.contains("run `cargo xtask codegen`"), "{err}");
    assert_eq!(snapshot(dir.path()), before, "--check changed files");

    let refresh = xtask(&["codegen", "--root", root]);
    assert!(refresh.status.success(), "{}", stderr(&refresh));
    let check = xtask(&["codegen", "--check", "--root", root]);
    assert!(check.status.success(), "{}", stderr(&check));
    let ops = fs::read_to_string(dir.path().join("spec/operations.txt")).unwrap();
    assert!(
        ops.lines().any(|l| {
            l.split_whitespace().collect::<Vec<_>>()
                == [
                    "get_file_brand_new_view",
                    "GET",
                    "/files/{id}/brand_new_view",
                    "files",
                    "public",
                    "read",
                ]
        }),
        "{ops}"
    );
    let coverage = fs::read_to_string(dir.path().join("COVERAGE.md")).unwrap();
    assert!(coverage.contains("`Client::get_file_brand_new_view`"));
    let readme = fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(readme.contains("`get_file_brand_new_view`"));
}

#[test]
fn codegen_without_readme_markers_writes_the_rest_and_fails() {
    let dir = temp_root("# Test\n\nNo markers here.\n");
    let root = dir.path().to_str().unwrap();
    let out = xtask(&["codegen", "--root", root]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(BEGIN_MARKER) && err.contains(END_MARKER),
        "{err}"
    );
    assert!(dir.path().join("spec/operations.txt").exists());
    assert!(dir.path().join("COVERAGE.md").exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("README.md")).unwrap(),
        "# Test\n\nNo markers here.\n"
    );
}

#[test]
fn codegen_is_deterministic() {
    let dir = temp_root(&readme_with_markers());
    let root = dir.path().to_str().unwrap();
    assert!(xtask(&["codegen", "--root", root]).status.success());
    let first = snapshot(dir.path());
    assert!(xtask(&["codegen", "--root", root]).status.success());
    assert_eq!(snapshot(dir.path()), first);
}

/// The committed artefacts must match the committed spec.
#[test]
fn committed_artefacts_are_fresh() {
    let out = xtask(&["codegen", "--check"]);
    if out.status.success() {
        return;
    }
    let err = stderr(&out);
    if err.contains("no generated toolsets region") {
        panic!(
            "README.md has no generated toolsets region yet: add the lines\n\n    {BEGIN_MARKER}\n    {END_MARKER}\n\n\
             to README.md where the toolset tables belong, then run `cargo xtask codegen`.\n\nFull output:\n{err}"
        );
    }
    panic!("generated files are stale; run `cargo xtask codegen` and commit the result.\n\n{err}");
}

#[test]
fn spec_diff_reports_added_removed_and_changed_operations() {
    let dir = tempfile::tempdir().unwrap();
    let old = real_spec();
    let mut new = old.clone();
    let paths = new["paths"].as_object_mut().unwrap();
    paths.remove("/files/{id}/analyse");
    let mut added = paths["/files/{id}"]["get"].clone();
    added["operationId"] = json!("get_file_brand_new_view");
    paths.insert("/files/{id}/brand_new_view".into(), json!({ "get": added }));
    paths["/files/{id}"]["get"]["x-vt-tier"] = json!("premium");
    paths["/files/{id}/votes"]["get"]["operationId"] = json!("list_votes_on_file");
    let old_path = write_spec(dir.path(), "old.yaml", &old);
    let new_path = write_spec(dir.path(), "new.yaml", &new);

    let out = xtask(&["spec", "diff", &old_path, &new_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("## Operations added (1)\n\n- `get_file_brand_new_view`: `GET /files/{id}/brand_new_view`"), "{text}");
    assert!(
        text.contains("## Operations removed (1)\n\n- `rescan_file`: `POST /files/{id}/analyse`"),
        "{text}"
    );
    assert!(
        text.contains("## Operations renamed (1)\n\n- `list_file_votes` → `list_votes_on_file`"),
        "{text}"
    );
    assert!(
        text.contains("### `get_file`: `GET /files/{id}`\n\n- tier: `public` → `premium`"),
        "{text}"
    );
    assert_eq!(
        text.matches("### `").count(),
        1,
        "only get_file changed:\n{text}"
    );

    let same = xtask(&["spec", "diff", &old_path, &old_path]);
    assert!(
        stdout(&same).contains("No differences"),
        "{}",
        stdout(&same)
    );
}

fn metadata_file(dir: &Path, file_relationships: &[&str]) -> String {
    let rels: Vec<Value> = file_relationships
        .iter()
        .map(|n| json!({"name": n, "description": "test"}))
        .collect();
    let doc = json!({"data": {"relationships": {"file": rels, "no_such_type": [{"name": "x"}]}, "engines": {}, "privileges": []}});
    let path = dir.join("metadata.json");
    fs::write(&path, doc.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn import_metadata_reports_missing_and_extra_relationships() {
    let dir = tempfile::tempdir().unwrap();
    let meta = metadata_file(dir.path(), &["behaviours", "brand_new_relationship"]);
    let spec = real_spec_path();
    let out = xtask(&[
        "spec",
        "import-metadata",
        &meta,
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("## file → FileRelationship"), "{text}");
    assert!(
        text.contains("- missing from the enum (1): `brand_new_relationship`"),
        "{text}"
    );
    let extra = text
        .lines()
        .find(|l| l.starts_with("- in the enum but not listed by VirusTotal"))
        .unwrap_or_else(|| panic!("no extra line:\n{text}"));
    assert!(
        extra.contains("`bundled_files`") && !extra.contains("`behaviours`"),
        "{extra}"
    );
    assert!(text.contains("- `no_such_type` (1 name)"), "{text}");
}

#[test]
fn import_metadata_write_appends_only_the_missing_names() {
    let dir = tempfile::tempdir().unwrap();
    let meta = metadata_file(dir.path(), &["behaviours", "brand_new_relationship"]);
    let spec = dir.path().join("spec.yaml");
    fs::copy(real_spec_path(), &spec).unwrap();
    let spec_arg = spec.to_str().unwrap();
    let before = fs::read_to_string(&spec).unwrap();

    let out = xtask(&[
        "spec",
        "import-metadata",
        &meta,
        "--spec",
        spec_arg,
        "--write",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = fs::read_to_string(&spec).unwrap();
    // Exactly one line was inserted, after the enum's last item; comments and everything else kept.
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(a.len(), b.len() + 1);
    let at = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    assert_eq!(a[at].trim(), "- brand_new_relationship");
    assert_eq!(&a[..at], &b[..at]);
    assert_eq!(&a[at + 1..], &b[at..]);
    let values = xtask::metadata::enum_values(
        &xtask::spec::Spec::parse(&after, "after").unwrap(),
        "FileRelationship",
    )
    .unwrap();
    assert_eq!(
        values.last().map(String::as_str),
        Some("brand_new_relationship")
    );

    let again = xtask(&[
        "spec",
        "import-metadata",
        &meta,
        "--spec",
        spec_arg,
        "--write",
    ]);
    assert!(
        stdout(&again).contains("Nothing to write"),
        "{}",
        stdout(&again)
    );
    assert_eq!(fs::read_to_string(&spec).unwrap(), after);
}

#[test]
fn import_metadata_fails_on_an_unreadable_file() {
    let out = xtask(&["spec", "import-metadata", "/nonexistent/metadata.json"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read /nonexistent/metadata.json"),
        "{}",
        stderr(&out)
    );
}
