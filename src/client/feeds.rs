//! Feeds (VirusTotal's Feeds licence): every object VirusTotal processed in one UTC minute or
//! hour, as a [`Stream`] of JSON objects.
//!
//! A minute batch (`/feeds/{kind}/{YYYYMMDDhhmm}`) is a bzip2-compressed file of
//! newline-delimited JSON; an hourly batch (`/feeds/{kind}/hourly/{YYYYMMDDhh}`, a redirect to
//! storage, followed without the key) is a `.tar.bz2` of the sixty minute files. Both are
//! decompressed and decoded while they download, on a blocking thread, one object at a time:
//! memory stays small whatever the batch size.
//!
//! A batch that is not ready yet fails with [`ErrorCode::NotAvailableYet`](crate::ErrorCode)
//! (HTTP 400; check with [`Error::is_not_available_yet`]); minute batches appear about an hour
//! late, hourly ones two hours late. A minute without a batch fails with 404
//! ([`Error::is_not_found`]): skip it.

use crate::client::download::Chunks;
use crate::{Client, Error};
use bytes::{Buf, Bytes};
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::{
    io::{BufRead, BufReader, Read},
    pin::Pin,
    task::{Context, Poll},
};
use tokio::sync::mpsc;

/// Which feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// `/feeds/files`: file objects (with a `download_url` in `context_attributes`).
    Files,
    /// `/feeds/file-behaviours`: sandbox reports.
    FileBehaviours,
    /// `/feeds/urls`: URL objects.
    Urls,
    /// `/feeds/domains`: domain objects.
    Domains,
    /// `/feeds/ip_addresses`: IP address objects.
    IpAddresses,
}

impl FeedKind {
    /// The operation of a minute batch.
    pub fn minute_operation(self) -> &'static str {
        match self {
            FeedKind::Files => "get_file_feed_batch",
            FeedKind::FileBehaviours => "get_file_behaviour_feed_batch",
            FeedKind::Urls => "get_url_feed_batch",
            FeedKind::Domains => "get_domain_feed_batch",
            FeedKind::IpAddresses => "get_ip_address_feed_batch",
        }
    }

    /// The operation of an hourly batch.
    pub fn hour_operation(self) -> &'static str {
        match self {
            FeedKind::Files => "get_file_feed_hourly_batch",
            FeedKind::FileBehaviours => "get_file_behaviour_feed_hourly_batch",
            FeedKind::Urls => "get_url_feed_hourly_batch",
            FeedKind::Domains => "get_domain_feed_hourly_batch",
            FeedKind::IpAddresses => "get_ip_address_feed_hourly_batch",
        }
    }
}

/// The minute id of a feed batch: `YYYYMMDDhhmm` (UTC).
///
/// ```
/// use chrono::TimeZone;
/// let t = chrono::Utc.with_ymd_and_hms(2024, 1, 1, 12, 5, 59).unwrap();
/// assert_eq!(vtmcp::client::feeds::minute_id(t), "202401011205");
/// assert_eq!(vtmcp::client::feeds::hour_id(t), "2024010112");
/// ```
pub fn minute_id(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y%m%d%H%M").to_string()
}

/// The hour id of an hourly feed batch: `YYYYMMDDhh` (UTC).
pub fn hour_id(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y%m%d%H").to_string()
}

/// The objects of a feed batch, decoded while the batch downloads. Items are `Err` for a line
/// that is not JSON (the stream goes on) and for a broken download or archive (the stream
/// ends). Dropping the stream stops the download.
pub struct FeedStream {
    rx: mpsc::Receiver<Result<Value, Error>>,
}

impl std::fmt::Debug for FeedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedStream").finish_non_exhaustive()
    }
}

impl Stream for FeedStream {
    type Item = Result<Value, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl FeedStream {
    /// Decodes a minute batch (bzip2-compressed newline-delimited JSON) read from `reader`,
    /// e.g. a file saved earlier with [`save_stream`](crate::client::download::save_stream).
    /// Must be called inside a Tokio runtime; decoding runs on a blocking thread.
    pub fn from_minute_reader(reader: impl Read + Send + 'static) -> FeedStream {
        FeedStream::spawn("feed batch".into(), false, move || Ok(reader))
    }

    /// Decodes an hourly batch (a `.tar.bz2` of minute files) read from `reader`.
    pub fn from_hour_reader(reader: impl Read + Send + 'static) -> FeedStream {
        FeedStream::spawn("hourly feed batch".into(), true, move || Ok(reader))
    }

    fn from_chunks(operation: String, hourly: bool, chunks: Chunks) -> FeedStream {
        let handle = tokio::runtime::Handle::current();
        FeedStream::spawn(operation, hourly, move || {
            Ok(ChunkReader {
                handle,
                chunks,
                current: Bytes::new(),
            })
        })
    }

    fn spawn<R: Read>(
        operation: String,
        hourly: bool,
        open: impl FnOnce() -> std::io::Result<R> + Send + 'static,
    ) -> FeedStream {
        let (tx, rx) = mpsc::channel(256);
        tokio::task::spawn_blocking(move || {
            let sink = Sink { tx, operation };
            let reader = match open() {
                Ok(r) => r,
                Err(e) => {
                    sink.fail(e);
                    return;
                }
            };
            if hourly {
                decode_hour(reader, &sink);
            } else {
                decode_minute(reader, &sink);
            }
        });
        FeedStream { rx }
    }
}

impl Client {
    /// The objects of one minute of a feed (`minute` = `YYYYMMDDhhmm`, UTC; see
    /// [`minute_id`]), decoded while the batch downloads.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use vtmcp::client::{Client, FeedKind};
    ///
    /// # async fn demo(client: Client) -> Result<(), vtmcp::Error> {
    /// let mut batch = match client.feed_minute(FeedKind::Files, "202401011200").await {
    ///     Ok(batch) => batch,
    ///     Err(e) if e.is_not_available_yet() => return Ok(()), // try again in a minute
    ///     Err(e) => return Err(e),
    /// };
    /// while let Some(file) = batch.try_next().await? {
    ///     println!("{}", file["id"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn feed_minute(&self, kind: FeedKind, minute: &str) -> Result<FeedStream, Error> {
        check_time(minute, "YYYYMMDDhhmm", 12)?;
        let sent = match kind {
            FeedKind::Files => self.get_file_feed_batch().time(minute).send().await,
            FeedKind::FileBehaviours => {
                self.get_file_behaviour_feed_batch()
                    .time(minute)
                    .send()
                    .await
            }
            FeedKind::Urls => self.get_url_feed_batch().time(minute).send().await,
            FeedKind::Domains => self.get_domain_feed_batch().time(minute).send().await,
            FeedKind::IpAddresses => self.get_ip_address_feed_batch().time(minute).send().await,
        };
        let op = kind.minute_operation();
        let body = sent?;
        Ok(FeedStream::from_chunks(
            op.to_string(),
            false,
            Box::pin(body.into_inner().into_inner()),
        ))
    }

    /// The objects of one hour of a feed (`hour` = `YYYYMMDDhh`, UTC; see [`hour_id`]): the
    /// sixty minute files of the hourly archive, in archive order.
    pub async fn feed_hour(&self, kind: FeedKind, hour: &str) -> Result<FeedStream, Error> {
        check_time(hour, "YYYYMMDDhh", 10)?;
        let sent = match kind {
            FeedKind::Files => self.get_file_feed_hourly_batch().time(hour).send().await,
            FeedKind::FileBehaviours => {
                self.get_file_behaviour_feed_hourly_batch()
                    .time(hour)
                    .send()
                    .await
            }
            FeedKind::Urls => self.get_url_feed_hourly_batch().time(hour).send().await,
            FeedKind::Domains => self.get_domain_feed_hourly_batch().time(hour).send().await,
            FeedKind::IpAddresses => {
                self.get_ip_address_feed_hourly_batch()
                    .time(hour)
                    .send()
                    .await
            }
        };
        let op = kind.hour_operation();
        let body = sent?;
        Ok(FeedStream::from_chunks(
            op.to_string(),
            true,
            Box::pin(body.into_inner().into_inner()),
        ))
    }
}

/// Refuses a batch id that is not `digits` ASCII digits (`format`), before anything is sent.
fn check_time(time: &str, format: &str, digits: usize) -> Result<(), Error> {
    if time.len() == digits && time.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(Error::InvalidInput {
        argument: "time".into(),
        problem: format!(
            "expected the batch time as {format} (UTC, {digits} digits, e.g. {})",
            &"202401011200"[..digits]
        ),
    })
}

/// Reads an async chunk stream from a blocking thread.
struct ChunkReader {
    handle: tokio::runtime::Handle,
    chunks: Chunks,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.handle.block_on(self.chunks.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => {
                    let e = Error::from_reqwest("feed", e);
                    return Err(std::io::Error::other(e.to_string()));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

struct Sink {
    tx: mpsc::Sender<Result<Value, Error>>,
    operation: String,
}

impl Sink {
    /// Sends an item; false when the stream was dropped.
    fn send(&self, item: Result<Value, Error>) -> bool {
        self.tx.blocking_send(item).is_ok()
    }

    fn fail(&self, e: std::io::Error) {
        self.send(Err(Error::Decode {
            operation: self.operation.clone(),
            detail: format!("reading the batch failed: {e}"),
        }));
    }
}

fn decode_minute(reader: impl Read, sink: &Sink) -> bool {
    let bz = bzip2::read::MultiBzDecoder::new(reader);
    decode_lines(BufReader::with_capacity(64 * 1024, bz), sink, "")
}

/// Decodes newline-delimited JSON; false when decoding must stop.
fn decode_lines(reader: impl BufRead, sink: &Sink, file: &str) -> bool {
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                sink.fail(e);
                return false;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let item = serde_json::from_slice::<Value>(&line).map_err(|e| Error::Decode {
            operation: sink.operation.clone(),
            detail: format!("line {}{file} is not JSON: {e}", i + 1),
        });
        if !sink.send(item) {
            return false;
        }
    }
    true
}

fn decode_hour(reader: impl Read, sink: &Sink) {
    let bz = bzip2::read::MultiBzDecoder::new(reader);
    let mut archive = tar::Archive::new(bz);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => return sink.fail(e),
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => return sink.fail(e),
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map(|p| format!(" of {}", p.display()))
            .unwrap_or_default();
        let mut inner = BufReader::with_capacity(64 * 1024, entry);
        // Minute files inside the archive are bzip2 files themselves; accept plain ones too.
        let compressed = match inner.fill_buf() {
            Ok(b) => b.starts_with(b"BZh"),
            Err(e) => return sink.fail(e),
        };
        let go_on = if compressed {
            let bz = bzip2::read::MultiBzDecoder::new(inner);
            decode_lines(BufReader::with_capacity(64 * 1024, bz), sink, &name)
        } else {
            decode_lines(inner, sink, &name)
        };
        if !go_on {
            return;
        }
    }
}
