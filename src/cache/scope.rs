//! What one tool call asks of the cache, and what the cache did for it.
//!
//! A caller (the MCP layer, for one `tools/call`) runs its work inside [`scoped`] with a
//! [`CacheMode`]; every cacheable operation the work calls through the dispatcher — directly, or
//! several from a report tool — reads the mode with [`mode`] and records where its answer came
//! from with [`record`]. The scope is a task-local, so the mode reaches nested calls without a
//! parameter on every function between, and concurrent calls never see each other's.

use super::Origin;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// How a call uses the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// A cached answer if there is a fresh one, else VirusTotal's (stored).
    #[default]
    Use,
    /// VirusTotal's answer whatever is cached (stored).
    Refresh,
    /// Only a cached answer: no request at all; "not cached" when there is none.
    Only,
}

impl CacheMode {
    /// Reads `use`, `refresh` or `only`.
    pub fn parse(s: &str) -> Option<CacheMode> {
        match s {
            "use" => Some(CacheMode::Use),
            "refresh" => Some(CacheMode::Refresh),
            "only" => Some(CacheMode::Only),
            _ => None,
        }
    }
}

/// Where the answers of one call's cacheable operations came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Answers taken from the cache.
    pub hits: u32,
    /// The age of the oldest of them.
    pub oldest: Option<Duration>,
    /// Answers fetched from VirusTotal (by this call, or by an identical one it waited for).
    pub fetched: u32,
    /// Why the cache could not be used during the call (a broken file, an unreachable Redis
    /// server): its answers were fetched and not stored.
    pub unavailable: Option<String>,
}

struct Scope {
    mode: CacheMode,
    usage: Mutex<Usage>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `work` with `mode`; returns its output and what the cache did for it.
pub async fn scoped<F: Future>(mode: CacheMode, work: F) -> (F::Output, Usage) {
    let scope = Scope {
        mode,
        usage: Mutex::default(),
    };
    SCOPE
        .scope(scope, async {
            let out = work.await;
            let usage = SCOPE.with(|s| s.usage.lock().map(|u| u.clone()).unwrap_or_default());
            (out, usage)
        })
        .await
}

/// The mode of the current call ([`CacheMode::Use`] outside any scope).
pub fn mode() -> CacheMode {
    SCOPE.try_with(|s| s.mode).unwrap_or_default()
}

/// Records where an answer of the current call came from (nothing outside a scope).
pub fn record(origin: Origin) {
    let _ = SCOPE.try_with(|s| {
        if let Ok(mut u) = s.usage.lock() {
            match origin {
                Origin::Cache { age } => {
                    u.hits += 1;
                    u.oldest = Some(u.oldest.map_or(age, |o| o.max(age)));
                }
                Origin::Upstream | Origin::Joined => u.fetched += 1,
            }
        }
    });
}

/// Records that the cache's store could not be used during the current call, and why (the
/// first reason is kept; nothing outside a scope).
pub fn record_unavailable(problem: String) {
    let _ = SCOPE.try_with(|s| {
        if let Ok(mut u) = s.usage.lock()
            && u.unavailable.is_none()
        {
            u.unavailable = Some(problem);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scope_sees_its_own_mode_and_usage_only() {
        assert_eq!(mode(), CacheMode::Use);
        record(Origin::Upstream); // outside any scope: ignored
        let ((), usage) = scoped(CacheMode::Only, async {
            assert_eq!(mode(), CacheMode::Only);
            record(Origin::Cache {
                age: Duration::from_secs(5),
            });
            record(Origin::Cache {
                age: Duration::from_secs(50),
            });
            record(Origin::Joined);
            let ((), inner) = scoped(CacheMode::Refresh, async {
                assert_eq!(mode(), CacheMode::Refresh);
                record(Origin::Upstream);
            })
            .await;
            assert_eq!(inner.fetched, 1);
        })
        .await;
        assert_eq!(
            usage,
            Usage {
                hits: 2,
                oldest: Some(Duration::from_secs(50)),
                fetched: 1,
                unavailable: None,
            }
        );
        assert_eq!(CacheMode::parse("refresh"), Some(CacheMode::Refresh));
        assert_eq!(CacheMode::parse("yes"), None);
    }
}
