//! Scanning files and URLs, publicly or privately, and waiting for the analysis.
//!
//! [`Client::scan_file`] hashes the file first (SHA-256, read from disk in chunks) and, unless
//! told otherwise, asks VirusTotal for the existing report (`GET /files/{sha256}`): a known
//! file is not uploaded again. Otherwise files up to 32 MB go to `POST /files`, larger ones
//! (up to 650 MB) to a one-shot URL from `GET /files/upload_url`; the file is streamed from
//! disk. A file over 650 MB is refused before any request. [`Client::scan_file_privately`] does
//! the same with Private Scanning (`/private/files`). [`Client::wait_for_analysis`] polls
//! `GET /analyses/{id}` with a growing interval until the status is `completed`.

use crate::client::policy::{WaitEvent, report};
use crate::client::types;
use crate::client::upload::{
    UploadBody, UploadTarget, check_upload_file, check_upload_len, multipart_fields,
};
use crate::{Client, Error};
use serde_json::Value;
use sha2::Digest;
use std::{
    fmt,
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

/// What to scan: a file on disk (streamed, never read whole) or bytes in memory.
#[derive(Debug, Clone)]
pub enum ScanSource {
    /// A local file.
    Path(PathBuf),
    /// Bytes, with the file name VirusTotal records for them.
    Bytes {
        /// The content.
        data: bytes::Bytes,
        /// The file name.
        name: String,
    },
}

impl ScanSource {
    /// Bytes in memory, named `name`.
    pub fn bytes(data: impl Into<bytes::Bytes>, name: impl Into<String>) -> Self {
        ScanSource::Bytes {
            data: data.into(),
            name: name.into(),
        }
    }
}

impl From<&Path> for ScanSource {
    fn from(p: &Path) -> Self {
        ScanSource::Path(p.to_path_buf())
    }
}

impl From<PathBuf> for ScanSource {
    fn from(p: PathBuf) -> Self {
        ScanSource::Path(p)
    }
}

impl From<&PathBuf> for ScanSource {
    fn from(p: &PathBuf) -> Self {
        ScanSource::Path(p.clone())
    }
}

/// How a file is scanned.
///
/// ```
/// use vtmcp::client::ScanOptions;
///
/// // Upload even if VirusTotal knows the file (a fresh analysis), unpacking an encrypted ZIP.
/// let options = ScanOptions::new().force_upload(true).password("infected");
/// // Private Scanning sandbox options are plain form fields.
/// let private = ScanOptions::new().field("retention_period_days", "7").field("enable_internet", "true");
/// # let _ = (options, private);
/// ```
#[derive(Clone, Default)]
pub struct ScanOptions {
    force_upload: bool,
    password: Option<String>,
    fields: Vec<(String, String)>,
}

impl fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanOptions")
            .field("force_upload", &self.force_upload)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("fields", &self.fields)
            .finish()
    }
}

impl ScanOptions {
    /// Look the file up first; upload only if VirusTotal does not know it.
    pub fn new() -> Self {
        ScanOptions::default()
    }

    /// Upload even when VirusTotal already has a report (default false).
    pub fn force_upload(mut self, yes: bool) -> Self {
        self.force_upload = yes;
        self
    }

    /// The password of an encrypted ZIP, so VirusTotal can unpack it.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Another form field. Private Scanning takes `command_line`, `disable_sandbox`,
    /// `enable_internet`, `intercept_tls`, `retention_period_days` (1–28), `storage_region`,
    /// `interaction_sandbox`, `interaction_timeout` (60–1800 s) and `locale`; public scanning
    /// takes none besides the password.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    fn form_fields(&self, private: bool) -> Result<Vec<(&str, String)>, Error> {
        let mut out: Vec<(&str, String)> = vec![];
        if let Some(p) = &self.password {
            out.push(("password", p.clone()));
        }
        for (k, v) in &self.fields {
            match multipart_fields("upload_private_file").find(|f| *f == k.as_str()) {
                Some(name) if private => out.push((name, v.clone())),
                Some("password") => out.push(("password", v.clone())),
                _ if private => {
                    return Err(Error::InvalidInput {
                        argument: k.clone(),
                        problem: format!(
                            "Private Scanning takes no form field `{k}`; it takes: {}",
                            multipart_fields("upload_private_file")
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
                _ => {
                    return Err(Error::InvalidInput {
                        argument: k.clone(),
                        problem: format!(
                            "public scanning takes no form field `{k}` (only the password, set \
                             with ScanOptions::password); the sandbox options are for \
                             Client::scan_file_privately"
                        ),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The outcome of a file scan.
#[derive(Debug, Clone)]
pub enum FileScan<R> {
    /// VirusTotal already had a report, returned as is; nothing was uploaded.
    Known {
        /// The file's SHA-256.
        sha256: String,
        /// The existing report.
        report: Box<R>,
    },
    /// The file was uploaded: wait for the analysis ([`Client::wait_for_analysis`]).
    Submitted {
        /// The file's SHA-256.
        sha256: String,
        /// The analysis id.
        analysis_id: String,
    },
}

impl<R> FileScan<R> {
    /// The file's SHA-256 (lower-case hex).
    pub fn sha256(&self) -> &str {
        match self {
            FileScan::Known { sha256, .. } | FileScan::Submitted { sha256, .. } => sha256,
        }
    }

    /// The analysis id, when the file was uploaded.
    pub fn analysis_id(&self) -> Option<&str> {
        match self {
            FileScan::Submitted { analysis_id, .. } => Some(analysis_id),
            FileScan::Known { .. } => None,
        }
    }
}

/// Progress of [`Client::wait_for_analysis`], given to [`AnalysisWait::on_progress`] after each
/// poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisProgress {
    /// Analysis id.
    pub id: String,
    /// Its status: `queued`, `in-progress` or `completed`.
    pub status: String,
    /// Polls made so far.
    pub polls: u32,
    /// Time since the wait began.
    pub elapsed: Duration,
    /// Time until the next poll (None: this was the last).
    pub next_poll_in: Option<Duration>,
}

type ProgressFn = Arc<dyn Fn(&AnalysisProgress) + Send + Sync>;

/// How [`Client::wait_for_analysis`] polls: the first interval grows by half each poll up to a
/// maximum, until a timeout.
///
/// ```
/// use std::time::Duration;
/// use vtmcp::client::AnalysisWait;
///
/// let wait = AnalysisWait::new()
///     .timeout(Duration::from_secs(300))
///     .initial_interval(Duration::from_secs(10))
///     .on_progress(|p| eprintln!("{} is {} ({} polls)", p.id, p.status, p.polls));
/// # let _ = wait;
/// ```
#[derive(Clone)]
pub struct AnalysisWait {
    timeout: Duration,
    initial_interval: Duration,
    max_interval: Duration,
    progress: Option<ProgressFn>,
}

impl Default for AnalysisWait {
    /// 10 minutes in all; polls 5 s apart at first, growing to 30 s.
    fn default() -> Self {
        AnalysisWait {
            timeout: Duration::from_secs(600),
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            progress: None,
        }
    }
}

impl fmt::Debug for AnalysisWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnalysisWait")
            .field("timeout", &self.timeout)
            .field("initial_interval", &self.initial_interval)
            .field("max_interval", &self.max_interval)
            .field("on_progress", &self.progress.as_ref().map(|_| "<callback>"))
            .finish()
    }
}

impl AnalysisWait {
    /// The defaults (see [`AnalysisWait::default`]).
    pub fn new() -> Self {
        AnalysisWait::default()
    }

    /// Give up after this long with [`Error::AnalysisTimeout`].
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The wait before the second poll.
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.initial_interval = d;
        self
    }

    /// The longest wait between polls.
    pub fn max_interval(mut self, d: Duration) -> Self {
        self.max_interval = d;
        self
    }

    /// Called after each poll.
    pub fn on_progress(mut self, f: impl Fn(&AnalysisProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}

impl Client {
    /// Scans a file publicly: hashes it, returns VirusTotal's existing report when there is one
    /// (unless [`ScanOptions::force_upload`]), and uploads it otherwise (streamed; through an
    /// upload URL over 32 MB; refused over 650 MB before any request).
    pub async fn scan_file(
        &self,
        source: impl Into<ScanSource>,
        options: &ScanOptions,
    ) -> Result<FileScan<types::FileResponse>, Error> {
        let source = source.into();
        let fields = options.form_fields(false)?;
        let (_, sha256) = measure(&source).await?;
        if !options.force_upload {
            match self.get_file().id(sha256.as_str()).send().await {
                Ok(r) => {
                    return Ok(FileScan::Known {
                        sha256,
                        report: Box::new(r.into_inner()),
                    });
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let v = self
            .upload_body(UploadTarget::Public, upload_body(&source).await?, &fields)
            .await?;
        Ok(FileScan::Submitted {
            sha256,
            analysis_id: analysis_id_of("upload_file", &v)?,
        })
    }

    /// Scans a file with Private Scanning (`/private/files`; needs the licence): like
    /// [`Client::scan_file`], with the existing private report from
    /// `GET /private/files/{sha256}` and the sandbox options of [`ScanOptions::field`].
    pub async fn scan_file_privately(
        &self,
        source: impl Into<ScanSource>,
        options: &ScanOptions,
    ) -> Result<FileScan<types::PrivateFileResponse>, Error> {
        let source = source.into();
        let fields = options.form_fields(true)?;
        let (_, sha256) = measure(&source).await?;
        if !options.force_upload {
            match self.get_private_file().id(sha256.as_str()).send().await {
                Ok(r) => {
                    return Ok(FileScan::Known {
                        sha256,
                        report: Box::new(r.into_inner()),
                    });
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let v = self
            .upload_body(UploadTarget::Private, upload_body(&source).await?, &fields)
            .await?;
        Ok(FileScan::Submitted {
            sha256,
            analysis_id: analysis_id_of("upload_private_file", &v)?,
        })
    }

    /// Submits a URL for scanning (`POST /urls`) and returns the analysis id. The URL is
    /// checked first (absolute http or https, with a host).
    pub async fn scan_url(&self, url: &str) -> Result<String, Error> {
        let url = checked_url(url)?;
        self.submit_url()
            .body_map(|b| b.url(url).extra(serde_json::Map::new()))
            .send()
            .await
            .map(|r| r.into_inner().data.id)
    }

    /// Submits a URL to Private Scanning (`POST /private/urls`) and returns the analysis id.
    pub async fn scan_url_privately(&self, url: &str) -> Result<String, Error> {
        let url = checked_url(url)?;
        self.scan_private_url()
            .body_map(|b| b.url(url).extra(serde_json::Map::new()))
            .send()
            .await
            .map(|r| r.into_inner().data.id)
    }

    /// Polls `GET /analyses/{id}` until its status is `completed` and returns it. Fails with
    /// [`Error::AnalysisTimeout`] after [`AnalysisWait::timeout`]; each poll takes a rate-limit
    /// slot. Progress goes to [`AnalysisWait::on_progress`] and to the wait reporters
    /// ([`WaitEvent::Analysis`]).
    pub async fn wait_for_analysis(
        &self,
        id: &str,
        wait: &AnalysisWait,
    ) -> Result<types::AnalysisResponse, Error> {
        self.poll_analysis(
            id,
            wait,
            || async {
                self.get_analysis()
                    .id(id)
                    .send()
                    .await
                    .map(|r| r.into_inner())
            },
            |r| r.data.attributes.as_ref().and_then(|a| a.status.clone()),
        )
        .await
    }

    /// [`Client::wait_for_analysis`] for Private Scanning (`GET /private/analyses/{id}`).
    pub async fn wait_for_private_analysis(
        &self,
        id: &str,
        wait: &AnalysisWait,
    ) -> Result<types::PrivateAnalysisResponse, Error> {
        self.poll_analysis(
            id,
            wait,
            || async {
                self.get_private_analysis()
                    .id(id)
                    .send()
                    .await
                    .map(|r| r.into_inner())
            },
            |r| r.data.attributes.as_ref().and_then(|a| a.status.clone()),
        )
        .await
    }

    async fn poll_analysis<R, F, Fut>(
        &self,
        id: &str,
        wait: &AnalysisWait,
        mut fetch: F,
        status_of: fn(&R) -> Option<String>,
    ) -> Result<R, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R, Error>>,
    {
        let started = tokio::time::Instant::now();
        let mut interval = wait.initial_interval;
        let mut polls = 0u32;
        loop {
            let r = fetch().await?;
            polls += 1;
            let status = status_of(&r).unwrap_or_else(|| "unknown".into());
            let elapsed = started.elapsed();
            let done = status == "completed";
            let next =
                (!done && elapsed < wait.timeout).then(|| interval.min(wait.timeout - elapsed));
            if let Some(p) = &wait.progress {
                p(&AnalysisProgress {
                    id: id.to_string(),
                    status: status.clone(),
                    polls,
                    elapsed,
                    next_poll_in: next,
                });
            }
            if done {
                return Ok(r);
            }
            let Some(next) = next else {
                return Err(Error::AnalysisTimeout {
                    id: id.to_string(),
                    status,
                    waited: elapsed,
                });
            };
            report(
                self.inner.shared.reporter.as_ref(),
                &WaitEvent::Analysis {
                    id: id.to_string(),
                    status,
                    polls,
                    elapsed,
                    wait: next,
                    timeout: wait.timeout,
                },
            );
            tokio::time::sleep(next).await;
            interval = interval.mul_f64(1.5).min(wait.max_interval);
        }
    }
}

fn checked_url(url: &str) -> Result<String, Error> {
    crate::client::ids::check_url(url).map_err(|problem| Error::InvalidInput {
        argument: "url".into(),
        problem: format!("`{}` {problem}", crate::error::truncate(url.trim(), 100)),
    })?;
    Ok(url.trim().to_string())
}

async fn upload_body(source: &ScanSource) -> Result<UploadBody, Error> {
    match source {
        ScanSource::Path(p) => UploadBody::open(p).await,
        ScanSource::Bytes { data, name } => Ok(UploadBody::Bytes {
            data: data.clone(),
            name: name.clone(),
        }),
    }
}

/// The size (checked against the upload limit first) and SHA-256 of what is scanned.
pub(crate) async fn measure(source: &ScanSource) -> Result<(u64, String), Error> {
    match source {
        ScanSource::Path(p) => {
            let len = check_upload_file(p).await?;
            let path = p.clone();
            let sha = tokio::task::spawn_blocking(move || sha256_file(&path))
                .await
                .map_err(|e| Error::Io {
                    context: format!("hashing {}", p.display()),
                    source: std::io::Error::other(e.to_string()),
                })?
                .map_err(|e| Error::Io {
                    context: format!("hashing {}", p.display()),
                    source: e,
                })?;
            Ok((len, sha))
        }
        ScanSource::Bytes { data, .. } => {
            check_upload_len(data.len() as u64, "the data")?;
            Ok((data.len() as u64, hex::encode(sha2::Sha256::digest(data))))
        }
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    sha256_reader(std::fs::File::open(path)?)
}

/// Hashes an open file from its start and rewinds it, for a caller that uploads what it
/// hashed (the same open file, so nothing can swap it in between).
#[cfg(feature = "server")]
pub(crate) async fn sha256_and_rewind(
    file: std::fs::File,
) -> Result<(std::fs::File, String), Error> {
    let io = |source| Error::Io {
        context: "hashing the file".into(),
        source,
    };
    tokio::task::spawn_blocking(move || {
        use std::io::{Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(0))?;
        let sha = sha256_reader(&mut file)?;
        file.seek(SeekFrom::Start(0))?;
        Ok((file, sha))
    })
    .await
    .map_err(|e| io(std::io::Error::other(e.to_string())))?
    .map_err(io)
}

fn sha256_reader(mut f: impl std::io::Read) -> std::io::Result<String> {
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn analysis_id_of(op: &str, v: &Value) -> Result<String, Error> {
    v.pointer("/data/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Decode {
            operation: op.into(),
            detail: "the answer has no data.id (analysis id)".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_checked() {
        let o = ScanOptions::new().password("infected");
        assert_eq!(
            o.form_fields(false).unwrap(),
            vec![("password", "infected".into())]
        );
        let p = ScanOptions::new().field("retention_period_days", "3");
        assert!(p.form_fields(true).is_ok());
        let e = p.form_fields(false).unwrap_err();
        assert!(e.to_string().contains("scan_file_privately"), "{e}");
        let bad = ScanOptions::new()
            .field("nope", "1")
            .form_fields(true)
            .unwrap_err();
        assert!(bad.to_string().contains("retention_period_days"), "{bad}");
        assert!(!format!("{o:?}").contains("infected"));
    }
}
