//! Wait events: what a call is waiting for (a rate-limit slot, a retry, an analysis), the
//! reporters that receive them, and the readable durations their messages use.

use std::{fmt, future::Future, sync::Arc, time::Duration};

/// Something a call is waiting for. Sent to the wait reporters (see [`with_wait_reporter`] and
/// [`ClientBuilder::on_wait`](crate::ClientBuilder::on_wait)); its `Display` is a sentence a
/// person can read in a progress notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitEvent {
    /// Waiting for a slot of the local per-minute limit before sending.
    RateLimit {
        /// Operation id.
        operation: String,
        /// How long the call waits.
        wait: Duration,
        /// The limit (requests per minute).
        per_minute: u32,
    },
    /// Waiting before repeating a `GET` that failed in a way that may pass.
    Retry {
        /// Operation id.
        operation: String,
        /// Which retry this is (1 for the first).
        attempt: u32,
        /// The most retries the policy allows.
        max_retries: u32,
        /// How long the call waits before repeating.
        wait: Duration,
        /// Why the request is repeated (e.g. `HTTP 503 TransientError`).
        reason: String,
    },
    /// [`Client::wait_for_analysis`](crate::Client::wait_for_analysis): the analysis is not
    /// complete yet.
    Analysis {
        /// Analysis id.
        id: String,
        /// Its status (`queued`, `in-progress`).
        status: String,
        /// Polls made so far.
        polls: u32,
        /// Time since the wait began.
        elapsed: Duration,
        /// Time until the next poll.
        wait: Duration,
        /// When the wait gives up ([`AnalysisWait::timeout`](crate::client::AnalysisWait::timeout)),
        /// counted from its start.
        timeout: Duration,
    },
}

impl WaitEvent {
    /// How long this wait lasts.
    pub fn wait(&self) -> Duration {
        match self {
            WaitEvent::RateLimit { wait, .. }
            | WaitEvent::Retry { wait, .. }
            | WaitEvent::Analysis { wait, .. } => *wait,
        }
    }

    /// How far the wait has got when it is reported, and how long it can last in all: for a
    /// rate limit or a retry the wait itself (`(0, wait)`), for an analysis the time since it
    /// began and its timeout. Progress notifications use them as value and total.
    pub fn span(&self) -> (Duration, Duration) {
        match self {
            WaitEvent::RateLimit { wait, .. } | WaitEvent::Retry { wait, .. } => {
                (Duration::ZERO, *wait)
            }
            WaitEvent::Analysis {
                elapsed, timeout, ..
            } => ((*elapsed).min(*timeout), *timeout),
        }
    }

    /// What the wait is for, when several events report one wait (the polls of one analysis):
    /// events with the same key continue one wait; `None` is a wait of its own.
    pub fn wait_key(&self) -> Option<&str> {
        match self {
            WaitEvent::Analysis { id, .. } => Some(id),
            WaitEvent::RateLimit { .. } | WaitEvent::Retry { .. } => None,
        }
    }
}

impl fmt::Display for WaitEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitEvent::RateLimit {
                operation,
                wait,
                per_minute,
            } => write!(
                f,
                "{operation}: waiting {} for the rate limit ({per_minute} requests per minute)",
                human(*wait)
            ),
            WaitEvent::Retry {
                operation,
                attempt,
                max_retries,
                wait,
                reason,
            } => write!(
                f,
                "{operation}: {reason}; retry {attempt} of {max_retries} in {}",
                human(*wait)
            ),
            WaitEvent::Analysis {
                id,
                status,
                polls,
                elapsed,
                wait,
                ..
            } => write!(
                f,
                "analysis {id} is {status} after {} ({polls} polls); next poll in {}",
                human(*elapsed),
                human(*wait)
            ),
        }
    }
}

/// A callback that receives [`WaitEvent`]s.
pub type WaitReporter = Arc<dyn Fn(&WaitEvent) + Send + Sync>;

tokio::task_local! {
    static WAIT_REPORTER: WaitReporter;
}

/// Runs `future` with `reporter` receiving every [`WaitEvent`] of the requests it makes (rate
/// limit waits, retries, analysis polls). The reporter is bound to the current task: requests
/// made by tasks that `future` spawns are not reported. It is called synchronously from the
/// request path, so it must be quick: send the event into a channel rather than doing I/O.
///
/// ```no_run
/// # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
/// use vtmcp::client::{WaitEvent, with_wait_reporter};
///
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
/// tokio::spawn(async move {
///     while let Some(message) = rx.recv().await {
///         eprintln!("progress: {message}"); // e.g. an MCP progress notification
///     }
/// });
/// let report = with_wait_reporter(
///     move |event: &WaitEvent| {
///         let _ = tx.send(event.to_string());
///     },
///     client.get_file().id("44d88612fea8a8f36de82e1278abb02f").send(),
/// )
/// .await;
/// # Ok(()) }
/// ```
pub async fn with_wait_reporter<F, R>(reporter: R, future: F) -> F::Output
where
    F: Future,
    R: Fn(&WaitEvent) + Send + Sync + 'static,
{
    WAIT_REPORTER.scope(Arc::new(reporter), future).await
}

/// Sends `event` to the reporter of the current task (if any) and to the client's (if any).
pub(crate) fn report(client_reporter: Option<&WaitReporter>, event: &WaitEvent) {
    tracing::debug!(target: "vtmcp::client", "{event}");
    let _ = WAIT_REPORTER.try_with(|r| r(event));
    if let Some(r) = client_reporter {
        r(event);
    }
}
pub(crate) use crate::error::human;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_secs(120)), "2 min");
        assert_eq!(human(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(human(Duration::from_secs(7800)), "2 h 10 min");
    }
}
