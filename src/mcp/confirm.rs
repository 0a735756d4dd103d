//! Confirm before sharing: `scan_url` and `scan_file` send content to VirusTotal, where its
//! community can see it. When the client can ask its user (the elicitation capability, form
//! mode), the server asks before the tool runs, naming the URL, or the file's name and size;
//! if the user declines or cancels, the call answers normally that nothing was sent.
//!
//! `--allow-submit` stays the gate: without it the tools are not listed and nothing is asked.
//! A client without elicitation gets today's behaviour. How the question travels depends on the
//! protocol: up to 2025-11-25 it is an `elicitation/create` request to the client during the call;
//! from 2026-07-28 (no server-to-client requests) the call answers `input_required` with the
//! question, and the client calls again with the answer under [`ANSWER_KEY`].
//!
//! This module writes the question and reads the answer; `super` decides when to ask.

use rmcp::model::{
    ClientCapabilities, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, InputRequest, InputRequests, InputRequiredResult,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The key of the question in an `input_required` answer, and of the client's answer on the
/// retry.
pub const ANSWER_KEY: &str = "confirm_submission";

/// The tools that ask.
pub const ASKING_TOOLS: [&str; 2] = ["scan_url", "scan_file"];

/// Whether the client can answer a form question.
pub fn supported(caps: Option<&ClientCapabilities>) -> bool {
    caps.and_then(|c| c.elicitation.as_ref())
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// What a submission would share, in words (`None`: not a submission that asks).
/// `file` gives a file's name and size for a path (`Err`: the tool will refuse the path
/// itself, so there is nothing to ask about).
pub fn what(
    tool: &str,
    args: &Map<String, Value>,
    file: impl Fn(&str) -> Result<(String, u64), String>,
) -> Option<String> {
    let arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::trim);
    match tool {
        "scan_url" => Some(format!(
            "the URL {}",
            crate::reports::model::clean_to(arg("url")?, 300)
        )),
        "scan_file" => {
            let (name, len) = file(arg("path")?).ok()?;
            Some(format!(
                "the file {} ({})",
                crate::reports::model::clean_to(&name, 200),
                size(len)
            ))
        }
        _ => None,
    }
}

fn size(len: u64) -> String {
    match len {
        n if n < 1024 => format!("{n} bytes"),
        n if n < 1024 * 1024 => format!("{:.1} KiB, {n} bytes", n as f64 / 1024.0),
        n => format!("{:.1} MiB, {n} bytes", n as f64 / (1024.0 * 1024.0)),
    }
}

/// The question for `what`.
pub fn question(tool: &str, what: &str) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!(
            "{tool} will send {what} to VirusTotal. Submissions are shared with VirusTotal's community: other users (including the people behind a threat) can see and download what you submit. Send it?"
        ),
        requested_schema: ElicitationSchema::new(BTreeMap::new()),
    }
}

/// The `input_required` answer that carries the question (2026-07-28 and later).
pub fn input_required(tool: &str, what: &str) -> InputRequiredResult {
    let mut requests = InputRequests::new();
    requests.insert(
        ANSWER_KEY.into(),
        InputRequest::Elicitation(ElicitRequest::new(question(tool, what))),
    );
    InputRequiredResult::from_input_requests(requests)
}

/// The user's answer in a retry's `inputResponses`, if there is one (an unreadable answer is a
/// cancel: nothing is sent without a clear yes).
pub fn answer(responses: Option<&BTreeMap<String, Value>>) -> Option<ElicitationAction> {
    let v = responses?.get(ANSWER_KEY)?;
    Some(
        serde_json::from_value::<ElicitResult>(v.clone())
            .map(|r| r.action)
            .unwrap_or(ElicitationAction::Cancel),
    )
}

/// The text of the result of a call the user did not confirm.
pub fn declined(tool: &str, what: &str, action: &ElicitationAction) -> String {
    let how = match action {
        ElicitationAction::Decline => "declined",
        _ => "cancelled",
    };
    format!(
        "{tool}: nothing was sent to VirusTotal: the user {how} sharing {what}. Look it up without submitting instead (get_url_report or get_file_report with its hash), or ask again if the user changes their mind."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_names_the_url_or_the_file_and_its_size() {
        let args = json!({"url": " https://a.example/x "});
        let w = what("scan_url", args.as_object().unwrap(), |_| unreachable!());
        assert_eq!(w.as_deref(), Some("the URL https://a.example/x"));
        let args = json!({"path": "s.bin"});
        let w = what("scan_file", args.as_object().unwrap(), |_| {
            Ok(("s.bin".into(), 2048))
        });
        assert_eq!(w.as_deref(), Some("the file s.bin (2.0 KiB, 2048 bytes)"));
        let refused = what("scan_file", args.as_object().unwrap(), |_| Err("no".into()));
        assert_eq!(refused, None);
        assert_eq!(
            what("get_file_report", args.as_object().unwrap(), |_| Err(
                "".into()
            )),
            None
        );
    }

    #[test]
    fn an_unreadable_answer_is_a_cancel() {
        let mut m = BTreeMap::new();
        m.insert(ANSWER_KEY.to_string(), json!({"action": "maybe"}));
        assert_eq!(answer(Some(&m)), Some(ElicitationAction::Cancel));
        m.insert(ANSWER_KEY.to_string(), json!({"action": "accept"}));
        assert_eq!(answer(Some(&m)), Some(ElicitationAction::Accept));
        assert_eq!(answer(None), None);
    }
}
