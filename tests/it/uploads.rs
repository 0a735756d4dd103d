//! File uploads through the MCP server come only from the operator's `--upload-dir`
//! directories: no directory, a path outside, `..`, a symbolic link out, a FIFO or a directory
//! is refused with an error naming the problem, and nothing reaches VirusTotal.

use crate::mcp::{call, config, connect, text};
use crate::support::mock_vt;
use serde_json::json;
use std::path::{Path, PathBuf};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

/// The upload tools and the name of their path argument.
const TOOLS: [(&str, &str); 4] = [
    ("upload_file", "file"),
    ("upload_private_file", "file"),
    ("upload_monitor_item", "file"),
    ("scan_file", "path"),
];

async fn server_with(upload_dirs: Vec<PathBuf>) -> (MockServer, vtmcp::config::Config) {
    let server = mock_vt().await;
    let mut cfg = config(
        &server.uri(),
        &["default", "files", "private_scanning", "monitor"],
        &["private-scanning", "monitor"],
        true,
        false,
    );
    cfg.upload_dirs = upload_dirs;
    (server, cfg)
}

fn args(arg: &str, path: &str) -> serde_json::Value {
    match arg {
        "file" => json!({ "file": path }),
        _ => json!({ "path": path, "wait": false }),
    }
}

#[tokio::test]
async fn without_upload_dirs_no_file_is_uploaded() {
    let samples = tempfile::tempdir().unwrap();
    let sample = samples.path().join("sample.bin");
    std::fs::write(&sample, b"sample").unwrap();
    let (server, cfg) = server_with(vec![]).await;
    let client = connect(&cfg).await;
    for (tool, arg) in TOOLS {
        for path in [
            sample.to_str().unwrap(),
            "/proc/self/environ",
            "/etc/passwd",
        ] {
            let r = call(&client, tool, args(arg, path)).await;
            let t = text(&r);
            assert_eq!(r.is_error, Some(true), "{tool} {path}: {t}");
            assert!(t.contains("--upload-dir"), "{tool} {path}: {t}");
            assert!(t.contains("Nothing was sent"), "{tool} {path}: {t}");
        }
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn only_regular_files_inside_an_upload_dir_are_uploaded() {
    let root = tempfile::tempdir().unwrap();
    let uploads = root.path().join("uploads");
    std::fs::create_dir(&uploads).unwrap();
    std::fs::write(uploads.join("sample.bin"), b"the sample").unwrap();
    std::fs::create_dir(uploads.join("sub")).unwrap();
    std::fs::write(uploads.join("sub/inner.bin"), b"the inner sample").unwrap();
    std::fs::write(root.path().join("secret.txt"), b"a secret outside").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", uploads.join("passwd")).unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), uploads.join("secret")).unwrap();
    std::os::unix::fs::symlink(root.path(), uploads.join("up")).unwrap();
    std::os::unix::fs::symlink("sample.bin", uploads.join("alias.bin")).unwrap();
    let fifo = uploads.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    let (server, cfg) = server_with(vec![uploads.clone()]).await;
    let client = connect(&cfg).await;
    let u = |p: &str| uploads.join(p).to_str().unwrap().to_string();
    let refused: Vec<(String, &str)> = vec![
        ("/etc/passwd".into(), "not inside an upload directory"),
        (
            "/proc/self/environ".into(),
            "not inside an upload directory",
        ),
        (
            root.path().join("secret.txt").to_str().unwrap().into(),
            "not inside an upload directory",
        ),
        (u("../secret.txt"), "outside the upload directory"),
        ("../secret.txt".into(), "outside the upload directory"),
        (u("passwd"), "outside the upload directory"),
        (u("secret"), "outside the upload directory"),
        (u("up/secret.txt"), "outside the upload directory"),
        (u("fifo"), "not a regular file"),
        (u("sub"), "not a regular file"),
        (u("missing.bin"), "no such file"),
        (u(""), "directory"),
        ("sample.bin\n".into(), "control characters"),
    ];
    for (tool, arg) in TOOLS {
        for (path, why) in &refused {
            let r = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                call(&client, tool, args(arg, path)),
            )
            .await
            .unwrap_or_else(|_| panic!("{tool} {path}: hung"));
            let t = text(&r);
            assert_eq!(r.is_error, Some(true), "{tool} {path}: {t}");
            assert!(t.contains(why), "{tool} {path}: expected {why:?} in {t}");
            assert!(t.contains("Nothing was sent"), "{tool} {path}: {t}");
        }
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "a refused upload sent a request"
    );

    // Inside the directory: absolute, relative, nested, and a link that stays inside.
    for (path, body) in [
        (u("sample.bin"), "the sample"),
        ("sample.bin".to_string(), "the sample"),
        ("sub/inner.bin".to_string(), "the inner sample"),
        (u("alias.bin"), "the sample"),
    ] {
        server.reset().await;
        Mock::given(matchers::method("POST"))
            .and(matchers::path("/files"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"data": {"type": "analysis", "id": "a-1"}})),
            )
            .mount(&server)
            .await;
        let r = call(&client, "upload_file", json!({ "file": path })).await;
        assert_eq!(r.is_error, Some(false), "{path}: {}", text(&r));
        let sent = server.received_requests().await.unwrap();
        assert_eq!(sent.len(), 1, "{path}");
        let form = String::from_utf8_lossy(&sent[0].body);
        assert!(form.contains(body), "{path}: {form}");
    }
}

#[test]
fn upload_dirs_that_hold_kernel_state_are_refused_at_start() {
    for dir in ["/", "/proc", "/sys", "/dev", "/proc/self"] {
        let cfg = vtmcp::config::Config {
            upload_dirs: vec![Path::new(dir).to_path_buf()],
            ..Default::default()
        };
        let e = vtmcp::mcp::VtServer::new(&cfg).err().unwrap().to_string();
        assert!(e.contains("upload-dir"), "{dir}: {e}");
    }
}
