//! Calling any operation by its id with flat JSON arguments: the dispatcher the MCP server and
//! the reports use, and the by-name helpers built on it ([`paginate_json`], [`download_to`],
//! the multipart uploads).
//!
//! The operation table itself is plain data in [`crate::operations`] (re-exported here). Its
//! generated dispatch list (every operation with its builder, setters and their concrete types)
//! is expanded below into one `async fn` per operation and the [`call`] match. There is no
//! wildcard arm for known ids: an operation is either generated (progenitor) or hand-written
//! (the multipart uploads, run by the client's [`crate::client::upload`]).
//!
//! ```no_run
//! # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
//! use futures::TryStreamExt;
//! use vtmcp::client::PageOptions;
//! use vtmcp::ops::paginate_json;
//!
//! let args = serde_json::json!({"id": "example.com", "relationship": "subdomains", "limit": 40});
//! let domains: Vec<serde_json::Value> =
//!     paginate_json(&client, "list_domain_related_objects", args, PageOptions::new().max_items(100))?
//!         .try_collect()
//!         .await?;
//! # Ok(()) }
//! ```

mod args;
pub mod download;
pub mod paging;
pub(crate) mod upload;

pub use crate::operations::{
    BodyShape, Location, OPERATIONS, OperationMeta, ParamMeta, ResponseKind,
};
pub use args::{Args, FREE_TEXT_ARGUMENTS, check_control_characters};
pub use download::{DownloadSource, download_to};
pub use paging::paginate_json;

use crate::cache::{Answer as CachedAnswer, CacheMode, Lookup, Origin};
use crate::{Client, Error};
use serde_json::{Map, Value};

/// The result of a call.
pub enum Output {
    /// JSON, parsed from VirusTotal's answer as sent (every member, `null`s included).
    Json(Value),
    /// JSON not yet parsed ([`call_raw`]): the answer's bytes as VirusTotal sent them.
    Raw(crate::client::RawJson),
    /// A byte stream to be written somewhere, not read into memory whole.
    Bytes(crate::client::ByteStream),
    /// An empty success.
    Empty,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Json(v) => f.debug_tuple("Json").field(v).finish(),
            Output::Raw(r) => r.fmt(f),
            Output::Bytes(_) => f.write_str("Bytes(..)"),
            Output::Empty => f.write_str("Empty"),
        }
    }
}

/// Expands the generated dispatch list ([`crate::operations`]) into one function per operation,
/// the `dispatch` match, [`call_raw`] and [`call_typed`].
macro_rules! dispatchers {
    (
        generated { $( $id:ident : $builder:ident [ $( $setter:ident ( $arg:literal, $req:ident ) : $ty:ty , )* ] body( $($body:ty)? ) -> $resp:ident ; )* }
        handwritten { $( $hid:ident , )* }
    ) => {
        mod generated_calls {
            #[allow(unused_imports)]
            use super::{Args, Output};
            use crate::{Client, Error};
            // Each call is boxed in its own (non-async) function: `dispatch` then holds one
            // pointer per operation instead of every operation's future, which in a debug build
            // made its stack frame over a megabyte (one slot per match arm).
            $(
                #[allow(unused_variables)]
                pub(super) fn $id<'a>(client: &'a Client, args: &'a Args, raw: bool) -> futures::future::BoxFuture<'a, Result<Output, Error>> {
                    Box::pin(async move {
                        #[allow(unused_mut)]
                        let mut b = client.$id();
                        $( dispatchers!(@set b, args, $setter, $arg, $req, $ty); )*
                        $( b = b.body(args.body::<$body>()?); )?
                        if raw {
                            // A JSON answer is kept as sent (see `client::answers`); the typed
                            // decode of the empty stand-in then fails, and that error is not the
                            // outcome.
                            let (r, raw) = crate::client::capturing(Box::pin(b.send())).await;
                            if let Some(raw) = raw {
                                return raw.map(Output::Raw);
                            }
                            let r = r?;
                            return dispatchers!(@resp $id, r, $resp);
                        }
                        let r = b.send().await?;
                        dispatchers!(@resp $id, r, $resp)
                    })
                }
            )*
        }

        async fn dispatch(client: &Client, id: &str, args: &Args, raw: bool) -> Result<Output, Error> {
            match id {
                $( stringify!($id) => generated_calls::$id(client, args, raw).await, )*
                $( stringify!($hid) => Box::pin(upload::$hid(client, args)).await, )*
                other => Err(Error::InvalidInput { argument: "operation".into(), problem: format!("unknown operation `{other}`") }),
            }
        }

        /// Sends the operation `id` (no cache); a JSON answer comes back unparsed.
        async fn send_raw(client: &Client, id: &str, args: &Args) -> Result<Output, Error> {
            dispatch(client, id, args, true).await
        }

        /// Calls the operation `id` and decodes a JSON answer through the typed client's
        /// structs, re-encoded as JSON: what a Rust user of [`Client`] sees (optional members
        /// sent as `null`, `[]` or `{}` come back absent). For tests of the typed client.
        pub async fn call_typed(client: &Client, id: &str, args: &Args) -> Result<Output, Error> {
            dispatch(client, id, args, false).await
        }
    };
    (@set $b:ident, $args:ident, $setter:ident, $arg:literal, required, $ty:ty) => {
        $b = $b.$setter($args.required::<$ty>($arg)?);
    };
    (@set $b:ident, $args:ident, $setter:ident, $arg:literal, optional, $ty:ty) => {
        if let Some(v) = $args.optional::<$ty>($arg)? {
            $b = $b.$setter(v);
        }
    };
    (@resp $id:ident, $r:ident, Json) => {
        serde_json::to_value($r.into_inner())
            .map(Output::Json)
            .map_err(|e| Error::Decode { operation: stringify!($id).into(), detail: e.to_string() })
    };
    (@resp $id:ident, $r:ident, Bytes) => { Ok(Output::Bytes($r.into_inner())) };
    (@resp $id:ident, $r:ident, Empty) => {{ let _ = $r; Ok(Output::Empty) }};
}

/// Calls the operation `id` with checked arguments; a JSON answer comes back unparsed
/// ([`Output::Raw`]), so a caller can bound what it builds from a large one.
///
/// An operation the spec marks cacheable (`x-vt-cache`) goes through the client's cache
/// ([`Client::cache`]) as the current call's [`CacheMode`] says
/// ([`crate::cache::scope`]): a fresh cached answer (a 200, or a 404 kept for a shorter time)
/// is returned without a request, concurrent identical calls make one, and what came from
/// where is recorded for the caller.
pub async fn call_raw(client: &Client, id: &str, args: &Args) -> Result<Output, Error> {
    let mode = crate::cache::scope::mode();
    let cache = client.cache();
    let Some((class, key)) = cache_slot(client, id) else {
        if mode == CacheMode::Only {
            let cacheable = OperationMeta::find(id).is_some_and(|op| op.cache.is_some());
            let why = if !cacheable {
                "its answers are never cached (x-vt-cache in the spec)"
            } else {
                "the cache is off (--cache)"
            };
            return Err(Error::NotCached {
                operation: id.into(),
                why: why.into(),
            });
        }
        let sent = send_raw(client, id, args).await;
        // A write (a comment, vote, rescan or edit) changes its object: what is cached about
        // it is stale from now on.
        if sent.is_ok() && OperationMeta::find(id).is_some_and(|op| op.method != "GET") {
            mark_object_changed(client, id, args).await;
        }
        return sent;
    };
    let request = cache_request(id, args);
    let fetch = || async {
        match send_raw(client, id, args).await {
            Ok(Output::Raw(raw)) => Ok(CachedAnswer {
                status: 200,
                body: raw.into_bytes(),
            }),
            // "Not in VirusTotal" is an answer too, kept for a shorter time.
            Err(Error::Api {
                status: 404,
                code,
                message,
                ..
            }) => Ok(CachedAnswer {
                status: 404,
                body: serde_json::to_vec(
                    &serde_json::json!({"error": {"code": code.as_str(), "message": message}}),
                )
                .unwrap_or_default()
                .into(),
            }),
            Ok(other) => Err(Ok(other)),
            Err(e) => Err(Err(e)),
        }
    };
    let lookup = match mode {
        CacheMode::Use => match cache.get_or_fetch(key, &request, class, fetch).await {
            Ok(l) if stale(client, key, id, args, &l).await => {
                cache.refresh(key, &request, class, fetch).await
            }
            other => other,
        },
        CacheMode::Refresh => cache.refresh(key, &request, class, fetch).await,
        CacheMode::Only => match cache.get(key, &request).await {
            Some(l) if !stale(client, key, id, args, &l).await => Ok(l),
            cached => Err(Err(Error::NotCached {
                operation: id.into(),
                why: if cached.is_some() {
                    "vtmcp's cached answer predates a change made since (a comment, vote, \
                     rescan or edit through vtmcp)"
                } else {
                    "not in vtmcp's cache (never fetched, or expired)"
                }
                .into(),
            })),
        },
    };
    let lookup = match lookup {
        Ok(l) => l,
        // Not a JSON answer after all (the spec says JSON): passed on as it came.
        Err(Ok(output)) => return Ok(output),
        Err(Err(e)) => return Err(e),
    };
    crate::cache::scope::record(lookup.origin);
    if lookup.status == 404 {
        let body: Value = serde_json::from_slice(&lookup.body).unwrap_or_default();
        let text = |k: &str| body["error"][k].as_str().unwrap_or_default().to_string();
        return Err(Error::Api {
            operation: id.to_string(),
            status: 404,
            code: crate::ErrorCode::parse(&text("code")),
            message: text("message"),
            retry_after: None,
        });
    }
    Ok(Output::Raw(crate::client::RawJson::cached(lookup.body)))
}

/// Whether a fresh answer to this call is in the client's cache, so that making it would send
/// nothing (under the current call's [`CacheMode`]: never with `refresh`). Sends nothing; a
/// call whose arguments do not check is not cached. For planning: `triage_iocs` states what it
/// will spend before it spends it.
pub async fn is_cached(client: &Client, id: &str, args: Map<String, Value>) -> bool {
    let Some((_, key)) = cache_slot(client, id) else {
        return false;
    };
    if crate::cache::scope::mode() == CacheMode::Refresh {
        return false;
    }
    let Ok(args) = checked_args(id, args) else {
        return false;
    };
    match client.cache().get(key, &cache_request(id, &args)).await {
        Some(cached) => !stale(client, key, id, &args, &cached).await,
        None => false,
    }
}

/// Whether `cached`, an answer to (`id`, `args`) taken from the cache, is older than the last
/// write to its object ([`mark_changed`]): then it is stale and fetched again.
async fn stale(
    client: &Client,
    key: &crate::ApiKey,
    id: &str,
    args: &Args,
    cached: &Lookup,
) -> bool {
    let Origin::Cache { age } = cached.origin else {
        return false;
    };
    let Some(object) = object_of(id, args) else {
        return false;
    };
    let changed = client.cache().changed_since(key, &object).await;
    changed.is_some_and(|since| age > since)
}

/// The object a call is about: its path up to the first parameter, filled in (`/files/<id>`
/// for `/files/{id}/comments`, `/private/files/<id>`), lower-cased (ids that differ only in
/// case are taken as one: at worst an answer is fetched again). `None` for paths without one
/// (`/urls`, `/intelligence/search`).
fn object_of(id: &str, args: &Args) -> Option<String> {
    let op = OperationMeta::find(id)?;
    let mut object = String::new();
    for segment in op.path.trim_start_matches('/').split('/') {
        object.push('/');
        let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            object.push_str(segment);
            continue;
        };
        let param = op.params.iter().find(|p| p.name == name)?;
        let value = args.get(param.arg)?.as_str()?.trim();
        object.push_str(&value.to_lowercase());
        return Some(object);
    }
    None
}

/// Marks the object of a call to `id` with `args` (its path up to the first parameter:
/// `/files/<id>`, …) changed in the client's cache
/// ([`Cache::mark_changed`](crate::cache::Cache::mark_changed)): what is cached about it is
/// fetched again on the next lookup. The dispatcher does it after every successful write; a
/// report tool does it when VirusTotal changed the object (its analysis completed). Answers
/// cached under another id of the same object (a file's MD5 after a rescan by SHA-256) are not
/// known to be the same object and stay until they expire.
pub async fn mark_changed(client: &Client, id: &str, args: Map<String, Value>) {
    if let Ok(args) = checked_args(id, args) {
        mark_object_changed(client, id, &args).await;
    }
}

async fn mark_object_changed(client: &Client, id: &str, args: &Args) {
    let (Some(key), Some(object)) = (client.api_key(), object_of(id, args)) else {
        return;
    };
    if client.cache().is_enabled() {
        client.cache().mark_changed(key, &object).await;
    }
}

/// Where answers of `id` are cached: its class and the key they are filed under, when the
/// operation is cacheable, the client has a key and its cache is on.
fn cache_slot<'a>(
    client: &'a Client,
    id: &str,
) -> Option<(crate::cache::TtlClass, &'a crate::ApiKey)> {
    let class = OperationMeta::find(id)?.cache?;
    let key = client.api_key()?;
    client.cache().is_enabled().then_some((class, key))
}

/// The cache key of a call: the operation and its arguments, members sorted (one call, one
/// key, whatever order the arguments came in). The namespace of the API key is added by the
/// cache.
fn cache_request(id: &str, args: &Args) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    format!("{id} {}", sorted(&Value::Object(args.values().clone())))
}

/// Calls the operation `id` with checked arguments; a JSON answer is parsed into one `Value`
/// with every member VirusTotal sent.
pub async fn call(client: &Client, id: &str, args: &Args) -> Result<Output, Error> {
    match call_raw(client, id, args).await? {
        Output::Raw(raw) => raw.parse(id).map(Output::Json),
        other => Ok(other),
    }
}

/// Calls `id` with JSON arguments: checks them, then dispatches.
pub async fn call_json(
    client: &Client,
    id: &str,
    args: Map<String, Value>,
) -> Result<Output, Error> {
    call(client, id, &checked_args(id, args)?).await
}

/// [`call_json`] through the typed client's structs ([`call_typed`]).
pub async fn call_json_typed(
    client: &Client,
    id: &str,
    args: Map<String, Value>,
) -> Result<Output, Error> {
    call_typed(client, id, &checked_args(id, args)?).await
}

/// JSON arguments as an object (`null`: none); anything else is refused.
pub(crate) fn arguments_object(args: Value) -> Result<Map<String, Value>, Error> {
    match args {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(Error::InvalidInput {
            argument: "arguments".into(),
            problem: format!("expected a JSON object of arguments, got {other}"),
        }),
    }
}

fn checked_args(id: &str, args: Map<String, Value>) -> Result<Args, Error> {
    let op = OperationMeta::find(id).ok_or_else(|| Error::InvalidInput {
        argument: "operation".into(),
        problem: format!("unknown operation `{id}`"),
    })?;
    Args::new(op, args)
}

crate::operations::with_dispatch_list!(dispatchers);
