//! Property tests (proptest): the identifier helpers, the argument validator and the argument
//! decoder, over generated inputs rather than hand-picked ones.
//!
//! - `url_id` is unpadded base64url that decodes back to the URL's bytes, for any string;
//! - `hash_kind` accepts exactly 32/40/64 hex digits, `normalize_domain` only yields plain,
//!   lower-case ASCII host names and is idempotent;
//! - an id argument, whatever it holds, either fails validation with nothing sent or is
//!   requested as exactly one path segment that decodes back to it (path injection cannot
//!   change the URL);
//! - for every operation, arguments the validator accepts are accepted by the decoder and reach
//!   VirusTotal (validation and decoding agree), and neither panics on any JSON.

use crate::support::{TEST_KEY, client_for, mock_vt, sample_arg};
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use vtmcp::client::ids::{HashKind, hash_kind, normalize_domain, url_id};
use vtmcp::mcp::catalog::full_schema;
use vtmcp::mcp::validate::validate_args;
use vtmcp::ops::{Args, OPERATIONS, OperationMeta, ResponseKind};

/// Strings that mix path-injection material with ordinary id characters and any unicode.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._~-]{0,24}",
        "[a-z0-9./%?#&=:@+ \\\\\r\n\t-]{0,40}",
        prop::collection::vec(
            prop_oneof![
                Just("../".to_string()),
                Just("%2F".to_string()),
                Just("%2e%2e".to_string()),
                Just("?x=1".to_string()),
                Just("#frag".to_string()),
                Just("\r\n".to_string()),
                Just("\u{202e}".to_string()),
                "[a-z0-9]{1,8}",
            ],
            0..6
        )
        .prop_map(|parts| parts.concat()),
        any::<String>(),
    ]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn url_ids_are_unpadded_base64url_of_the_url() {
    proptest!(Config::with_cases(512), |(url in any::<String>())| {
        let id = url_id(&url);
        prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{id}");
        prop_assert_eq!(id.len(), (url.len() * 4).div_ceil(3));
        let back = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&id).unwrap();
        prop_assert_eq!(back, url.as_bytes());
    });
}

#[test]
fn hash_kind_accepts_exactly_hex_of_the_three_lengths() {
    proptest!(Config::with_cases(512), |(hex in "[0-9a-fA-F]{0,80}", junk in any::<String>())| {
        let want = match hex.len() {
            32 => Some(HashKind::Md5),
            40 => Some(HashKind::Sha1),
            64 => Some(HashKind::Sha256),
            _ => None,
        };
        prop_assert_eq!(hash_kind(&hex), want);
        // Surrounding whitespace is ignored; any other character makes it not a hash.
        prop_assert_eq!(hash_kind(&format!(" {hex}\n")), want);
        if junk.trim().chars().any(|c| !c.is_ascii_hexdigit()) {
            prop_assert_eq!(hash_kind(&junk), None);
        }
    });
}

#[test]
fn normalized_domains_are_plain_ascii_host_names() {
    proptest!(Config::with_cases(512), |(s in prop_oneof![
        "[a-zA-Z0-9.-]{1,30}",
        "[a-z]{1,10}\\.(com|org|xn--p1ai|рф|例え)",
        hostile_string(),
    ])| {
        if let Some(d) = normalize_domain(&s) {
            prop_assert!(d.is_ascii(), "{d}");
            prop_assert_eq!(d.to_ascii_lowercase(), d.clone());
            prop_assert!(
                d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
                "{d}"
            );
            prop_assert!(d.contains('.') && d.len() <= 253, "{d}");
            prop_assert_eq!(normalize_domain(&d), Some(d.clone()), "idempotent");
        }
    });
}

/// Decodes `%XX` escapes of one path segment.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[test]
fn an_id_is_refused_or_requested_as_exactly_one_segment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(mock_vt());
    let config = crate::mcp::config(&server.uri(), &["all"], &[], false, false);
    let vt = vtmcp::mcp::VtServer::new(&config).unwrap();
    let mut runner = TestRunner::new(Config::with_cases(256));
    let sent = std::cell::Cell::new(0usize);
    runner
        .run(&hostile_string(), |id| {
            let result = rt.block_on(async {
                server.reset().await;
                crate::support::install_catch_all(&server).await;
                let r = vt
                    .call(
                        "get_analysis",
                        json!({"id": id}).as_object().unwrap().clone(),
                    )
                    .await
                    .unwrap();
                (r, server.received_requests().await.unwrap())
            });
            let (r, requests) = result;
            let text: String = r
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect();
            prop_assert!(!text.contains(TEST_KEY));
            if requests.is_empty() {
                // Refused locally: an error that names the argument.
                prop_assert_eq!(r.is_error, Some(true));
                prop_assert!(text.contains("`id`"), "{}", text);
            } else {
                sent.set(sent.get() + 1);
                prop_assert_eq!(requests.len(), 1);
                let url = &requests[0].url;
                prop_assert!(url.query().is_none(), "{}", url);
                let rest = url.path().strip_prefix("/analyses/");
                prop_assert!(rest.is_some(), "{}", url);
                let segment = rest.unwrap();
                prop_assert!(!segment.contains('/'), "{}", url);
                prop_assert_eq!(percent_decode(segment), id.as_bytes().to_vec(), "{}", url);
            }
            Ok(())
        })
        .unwrap();
    // The property says something only if some ids were sent and some refused.
    assert!(sent.get() > 0, "no generated id passed validation");
}

/// Operations the decoder property covers: JSON answers through the generated client.
fn decodable() -> Vec<&'static OperationMeta> {
    OPERATIONS
        .iter()
        .filter(|op| op.excluded.is_none() && !op.hand_written())
        .filter(|op| op.response == ResponseKind::Json)
        .collect()
}

/// An operation and arguments for it: each property absent, a valid sample, or any JSON; and
/// sometimes an extra unknown argument.
fn op_and_args() -> impl Strategy<Value = (&'static OperationMeta, Map<String, Value>)> {
    let ops = decodable();
    (0..ops.len()).prop_flat_map(move |i| {
        let op = ops[i];
        let schema = full_schema(op);
        let props: Vec<(String, Value)> = schema["properties"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let values: Vec<BoxedStrategy<Option<(String, Value)>>> = props
            .into_iter()
            .map(|(k, s)| {
                let valid = sample_arg(&s);
                let k2 = k.clone();
                prop_oneof![
                    1 => Just(None),
                    3 => Just(Some((k.clone(), valid))),
                    1 => json_value().prop_map(move |v| Some((k2.clone(), v))),
                ]
                .boxed()
            })
            .collect();
        let extra = prop::option::weighted(0.1, ("[a-z_]{1,10}", json_value()));
        (Just(op), values, extra).prop_map(|(op, values, extra)| {
            let mut args: Map<String, Value> = values.into_iter().flatten().collect();
            if let Some((k, v)) = extra {
                args.insert(k, v);
            }
            (op, args)
        })
    })
}

#[test]
fn what_the_validator_accepts_the_decoder_accepts_and_sends() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(mock_vt());
    let client = client_for(&server);
    let mut runner = TestRunner::new(Config::with_cases(512));
    let (accepted, refused) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    runner
        .run(&op_and_args(), |(op, args)| {
            let schema = full_schema(op);
            let valid = validate_args(&schema, &args).is_ok();
            // The decoder never panics, whatever the validator said.
            let mut decoder_args = args.clone();
            decoder_args.remove("fields");
            let decoded = Args::new(op, decoder_args.clone());
            if !valid {
                refused.set(refused.get() + 1);
                return Ok(());
            }
            accepted.set(accepted.get() + 1);
            prop_assert!(
                decoded.is_ok(),
                "{}: {:?} -> {:?}",
                op.id,
                args,
                decoded.err()
            );
            let before = rt.block_on(server.received_requests()).unwrap().len();
            let result = rt.block_on(vtmcp::ops::call_json(&client, op.id, decoder_args));
            if let Err(vtmcp::Error::InvalidInput { argument, problem }) = &result {
                return Err(TestCaseError::fail(format!(
                    "{}: validation accepted {args:?} but decoding refused `{argument}`: {problem}",
                    op.id
                )));
            }
            let after = rt.block_on(server.received_requests()).unwrap().len();
            prop_assert_eq!(
                after,
                before + 1,
                "{}: {:?} -> {:?}",
                op.id,
                args,
                result.err()
            );
            Ok(())
        })
        .unwrap();
    let (accepted, refused) = (accepted.get(), refused.get());
    assert!(
        accepted > 50 && refused > 50,
        "accepted {accepted}, refused {refused}"
    );
}
