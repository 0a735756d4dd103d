//! Reading JSON answers within bounds of size and memory.
//!
//! Every JSON answer is capped at [`MAX_JSON_BODY`]. Beyond that single cap, the bytes of
//! answers being held at once are bounded by a budget shared by a client and its clones
//! ([`ClientBuilder::max_answer_memory`](super::ClientBuilder::max_answer_memory)): a reader
//! takes its share before reading (the declared length, or chunk by chunk when none is
//! declared) and gives it back when the answer is dropped. Four hostile 60 MB answers at once
//! therefore queue instead of exhausting memory.
//!
//! A caller that wants the answer as VirusTotal sent it, rather than decoded into the typed
//! structs (the MCP server: it passes JSON through, and decoding a 60 MB answer into typed
//! structs and then into a `Value` held several large copies), runs the generated call inside
//! [`capturing`]: the client then keeps the body as [`RawJson`] and hands the typed decoder an
//! empty body, whose decode error the caller ignores.

use crate::Error;
use bytes::Bytes;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest JSON answer read (VirusTotal's biggest objects are a few MB). A hostile or
/// broken upstream that sends more, or never stops, ends in a clear error instead of
/// exhausting memory. Binary answers are streamed to disk and capped where they are written.
pub const MAX_JSON_BODY: u64 = 64 * 1024 * 1024;

/// The default memory budget for answers held at once (four answers at the cap).
pub const DEFAULT_ANSWER_MEMORY: usize = 4 * MAX_JSON_BODY as usize;

/// Longest wait for a share of the answer budget when the length is not declared (a reader
/// that already holds part of the budget must not wait forever for the rest).
const UNDECLARED_WAIT: Duration = Duration::from_secs(30);

/// A JSON answer as VirusTotal sent it, holding its share of the answer budget until dropped.
pub struct RawJson {
    bytes: Bytes,
    _held: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawJson({} bytes)", self.bytes.len())
    }
}

impl RawJson {
    /// The bytes of the answer.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the answer is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// An answer read from the cache (its size is bounded by the cache, not the answer budget).
    #[cfg(feature = "server")]
    pub(crate) fn cached(bytes: Bytes) -> RawJson {
        RawJson { bytes, _held: None }
    }

    /// The bytes, giving back the answer's share of the budget.
    #[cfg(feature = "server")]
    pub(crate) fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Parses the answer into one `Value`, with every member VirusTotal sent (`null`s and empty
    /// members included) and numbers as sent (integers stay integers; floats round-trip).
    pub fn parse(&self, operation: &str) -> Result<serde_json::Value, Error> {
        serde_json::from_slice(&self.bytes).map_err(|e| Error::Decode {
            operation: operation.into(),
            detail: e.to_string(),
        })
    }
}

tokio::task_local! {
    static CAPTURE: RefCell<Option<Result<RawJson, Error>>>;
}

/// Runs `call` (one generated call) so that its successful JSON answer is kept raw instead of
/// decoded; returns the call's own outcome and the raw answer (or the error reading it), if
/// there was one. With a raw answer, the call's own outcome is a decode error to ignore.
pub async fn capturing<F: Future>(call: F) -> (F::Output, Option<Result<RawJson, Error>>) {
    CAPTURE
        .scope(RefCell::new(None), async {
            let out = call.await;
            let raw = CAPTURE.with(|c| c.borrow_mut().take());
            (out, raw)
        })
        .await
}

/// Whether the current task asked for raw answers.
pub(crate) fn is_capturing() -> bool {
    CAPTURE.try_with(|_| ()).is_ok()
}

/// Keeps `raw` for the [`capturing`] caller.
pub(crate) fn keep(raw: Result<RawJson, Error>) {
    let _ = CAPTURE.try_with(|c| *c.borrow_mut() = Some(raw));
}

/// Reads a JSON answer whole: at most `max` bytes, within the answer budget.
pub(crate) async fn read(
    resp: reqwest::Response,
    budget: Option<&Arc<Semaphore>>,
    max: u64,
    operation: &str,
) -> Result<RawJson, Error> {
    use futures::StreamExt;
    let too_big = || Error::Decode {
        operation: operation.into(),
        detail: format!("the answer is larger than {max} bytes; vtmcp does not read it"),
    };
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > max) {
        return Err(too_big());
    }
    let mut held: Option<OwnedSemaphorePermit> = None;
    if let Some(n) = declared {
        take(budget, &mut held, n as usize, None, operation).await?;
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::from_reqwest(operation, e))?;
        if (out.len() + chunk.len()) as u64 > max {
            return Err(too_big());
        }
        if declared.is_none_or(|n| (out.len() + chunk.len()) as u64 > n) {
            take(
                budget,
                &mut held,
                chunk.len(),
                Some(UNDECLARED_WAIT),
                operation,
            )
            .await?;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(RawJson {
        bytes: Bytes::from(out),
        _held: held,
    })
}

/// Takes `n` bytes of the budget into `held` (waiting at most `wait`, if given).
async fn take(
    budget: Option<&Arc<Semaphore>>,
    held: &mut Option<OwnedSemaphorePermit>,
    n: usize,
    wait: Option<Duration>,
    operation: &str,
) -> Result<(), Error> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let acquire = budget
        .clone()
        .acquire_many_owned(u32::try_from(n).unwrap_or(u32::MAX));
    let permit = match wait {
        None => acquire.await,
        Some(w) => tokio::time::timeout(w, acquire)
            .await
            .map_err(|_| Error::Decode {
                operation: operation.into(),
                detail: "too many large answers are being read at once; try again shortly".into(),
            })?,
    }
    .expect("the answer budget is never closed");
    match held {
        Some(h) => h.merge(permit),
        None => *held = Some(permit),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &'static [u8], declare: bool) -> reqwest::Response {
        let mut b = http::Response::builder().status(200);
        if declare {
            b = b.header("content-length", body.len());
        }
        reqwest::Response::from(b.body(reqwest::Body::from(body)).unwrap())
    }

    #[tokio::test]
    async fn an_answer_holds_its_share_of_the_budget_until_dropped() {
        let budget = Arc::new(Semaphore::new(10));
        let a = read(response(b"[1,2,3]", true), Some(&budget), 100, "op")
            .await
            .unwrap();
        assert_eq!(budget.available_permits(), 3);
        let b = read(response(b"[1]", false), Some(&budget), 100, "op")
            .await
            .unwrap();
        assert_eq!(budget.available_permits(), 0);
        assert_eq!(a.parse("op").unwrap(), serde_json::json!([1, 2, 3]));
        drop((a, b));
        assert_eq!(budget.available_permits(), 10);
        // Over the cap: refused, declared or not.
        let e = read(response(b"[1,2,3]", true), Some(&budget), 4, "op").await;
        assert!(e.unwrap_err().to_string().contains("larger than 4 bytes"));
        let e = read(response(b"[1,2,3]", false), Some(&budget), 4, "op").await;
        assert!(e.unwrap_err().to_string().contains("larger than 4 bytes"));
        assert_eq!(budget.available_permits(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_budget_makes_the_next_reader_wait() {
        let budget = Arc::new(Semaphore::new(8));
        let first = read(response(b"[1,2,3]", true), Some(&budget), 100, "op")
            .await
            .unwrap();
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move {
                read(response(b"[4,5,6]", true), Some(&budget), 100, "op")
                    .await
                    .map(|r| r.len())
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished(), "read beyond the budget");
        drop(first);
        assert_eq!(waiting.await.unwrap().unwrap(), 7);
    }
}
