//! The one secret scrubber: the secrets of this process (the API keys of the clients built in
//! it, proxy passwords) and the forms each is searched for in ([`SecretForms`]), redacted from
//! every text an error stores (`redact`), from VirusTotal's answers before a model sees them
//! ([`scrub_json`]) and from panic messages ([`install_panic_hook`]).

use serde_json::Value;
use std::sync::{Arc, RwLock};

/// The API keys of the clients built in this process, each with the forms it is searched for
/// in; texts stored in errors are scrubbed of them. Short strings are never registered (they
/// would redact ordinary words).
static SECRETS: RwLock<Vec<(Arc<str>, SecretForms)>> = RwLock::new(Vec::new());

/// The forms of one secret that are redacted from text: the secret itself in any ASCII case,
/// and the standard and URL-safe base64 of it (and of its upper- and lower-cased spellings),
/// wherever it sits in the encoded text. Base64 of a longer text that contains the key (`key:`,
/// `user:key` as in HTTP Basic auth) still holds a run of characters that depends only on the
/// key's bytes and their offset modulo 3; those runs are what is searched for, so they are
/// redacted too. Out of scope: a key split across several strings (adjacent JSON members,
/// list items), hex or percent-encoded, reversed or otherwise transformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretForms {
    /// The secret, ASCII-lower-cased (matched against lower-cased text).
    lower: String,
    /// Base64 runs, matched exactly.
    encoded: Vec<String>,
}

impl SecretForms {
    /// The forms of `secret`, or `None` for a secret under 8 bytes (never redacted).
    pub fn new(secret: &str) -> Option<SecretForms> {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        if secret.len() < 8 {
            return None;
        }
        let mut spellings = vec![
            secret.to_string(),
            secret.to_ascii_lowercase(),
            secret.to_ascii_uppercase(),
        ];
        spellings.dedup();
        let mut encoded: Vec<String> = Vec::new();
        for s in &spellings {
            for offset in 0..3usize {
                // Encode the secret behind `offset` filler bytes and keep the characters whose
                // six bits all come from the secret.
                let mut bytes = vec![0u8; offset];
                bytes.extend_from_slice(s.as_bytes());
                let first = (8 * offset).div_ceil(6);
                let last = 8 * bytes.len() / 6;
                for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                    let text = engine.encode(&bytes);
                    if let Some(run) = text.get(first..last)
                        && run.len() >= 8
                        && !encoded.iter().any(|e| e == run)
                    {
                        encoded.push(run.to_string());
                    }
                }
            }
        }
        Some(SecretForms {
            lower: secret.to_ascii_lowercase(),
            encoded,
        })
    }

    /// `text` with every form replaced by `<redacted>`, or `None` when it holds none.
    pub fn redact(&self, text: &str) -> Option<String> {
        let shortest = self
            .encoded
            .iter()
            .map(String::len)
            .chain([self.lower.len()])
            .min()
            .unwrap_or(0);
        if text.len() < shortest {
            return None;
        }
        let mut out: Option<String> = None;
        // The secret in any ASCII case: ASCII lower-casing keeps byte offsets.
        let lowered = text.to_ascii_lowercase();
        if lowered.contains(&self.lower) {
            let mut s = String::with_capacity(text.len());
            let mut at = 0;
            for (i, _) in lowered.match_indices(&self.lower) {
                if i < at {
                    continue;
                }
                s.push_str(&text[at..i]);
                s.push_str("<redacted>");
                at = i + self.lower.len();
            }
            s.push_str(&text[at..]);
            out = Some(s);
        }
        for e in &self.encoded {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(e.as_str()) {
                out = Some(current.replace(e.as_str(), "<redacted>"));
            }
        }
        out
    }
}

/// Registers an API key for [`redact`].
pub(crate) fn register_secret(secret: &Arc<str>) {
    let Some(forms) = SecretForms::new(secret) else {
        return;
    };
    let mut s = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !s.iter().any(|(k, _)| **k == **secret) {
        s.push((secret.clone(), forms));
    }
}

/// Replaces every registered API key in `text` (in any case, or base64-encoded, see
/// [`SecretForms`]) with `<redacted>`.
pub(crate) fn redact(text: String) -> String {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut text = text;
    for (_, forms) in secrets.iter() {
        if let Some(t) = forms.redact(&text) {
            text = t;
        }
    }
    text
}

/// Replaces the default panic message (printed raw to stderr) with an `error` log line whose
/// text has every registered API key redacted. A panic inside a tool call is also turned into
/// an error result for that call ([`crate::mcp`]); this only decides what the log says.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(at = %at, "panic: {}", redact(message));
    }));
}

/// Removes secrets from a JSON value (a VirusTotal answer) in place: the value of every member
/// named like an API key (`apikey`, `api_key`, `x-apikey`, in any case; `GET /users/{id}`
/// returns your own), and every form of `forms` in any string. A key split across several
/// strings (adjacent members or items) is out of scope: no single string holds it, and joining
/// every pair of neighbours would cost more than it could catch.
pub fn scrub_json(v: &mut Value, forms: Option<&SecretForms>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let lk = k.to_ascii_lowercase();
                if matches!(lk.as_str(), "apikey" | "api_key" | "x-apikey") && x.is_string() {
                    *x = Value::String("<redacted>".into());
                } else {
                    scrub_json(x, forms);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_json(x, forms)),
        Value::String(s) => {
            if let Some(clean) = forms.and_then(|f| f.redact(s)) {
                *s = clean;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted_in_any_case_and_in_base64() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let key = "0123456789abcdef0123456789ABCDEF-forms-test?>>";
        let forms = SecretForms::new(key).unwrap();
        // (form, how many characters of it may be left: the edges of a base64 run carry bits
        // of the bytes around the key, and the encoding of what precedes it stays).
        let texts = [
            (key.to_string(), 0),
            (key.to_ascii_uppercase(), 0),
            (key.to_ascii_lowercase(), 0),
            (STANDARD.encode(key), 4),
            (URL_SAFE_NO_PAD.encode(key), 4),
            (STANDARD.encode(key.to_ascii_uppercase()), 4),
            (STANDARD.encode(format!("{key}:")), 4),
            (STANDARD.encode(format!("apikey:{key}")), 16),
            (URL_SAFE_NO_PAD.encode(format!("x{key}")), 4),
        ];
        for (t, left) in texts {
            let wrapped = format!("before {t} after");
            let out = forms.redact(&wrapped).unwrap_or_else(|| panic!("{t} kept"));
            assert!(
                out.contains("<redacted>") && out.starts_with("before ") && out.ends_with(" after"),
                "{out}"
            );
            assert!(
                out.len() <= "before <redacted> after".len() + left,
                "{t} -> {out}"
            );
        }
        assert_eq!(forms.redact("nothing secret here"), None);
        assert!(SecretForms::new("short").is_none());
    }

    #[test]
    fn registered_keys_are_redacted() {
        register_secret(&Arc::from("unit-test-secret-1234"));
        register_secret(&Arc::from("short"));
        assert_eq!(
            redact("key unit-test-secret-1234 and short".into()),
            "key <redacted> and short"
        );
    }

    #[test]
    fn json_answers_lose_key_members_and_every_form_of_the_key() {
        use base64::Engine;
        let key = "json-scrub-test-key-0123456789";
        let forms = SecretForms::new(key).unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("user:{key}"));
        let mut v = serde_json::json!({
            "data": {"attributes": {
                "apikey": "someone-elses-key",
                "API_KEY": "another",
                "x-apikey": 7,
                "notes": [format!("mine: {}", key.to_ascii_uppercase()), encoded],
                "plain": "nothing here",
            }}
        });
        scrub_json(&mut v, Some(&forms));
        let a = &v["data"]["attributes"];
        assert_eq!(a["apikey"], "<redacted>");
        assert_eq!(a["API_KEY"], "<redacted>");
        // Only strings are replaced: a number under such a name is not a key.
        assert_eq!(a["x-apikey"], 7);
        assert_eq!(a["notes"][0], "mine: <redacted>");
        assert!(
            a["notes"][1].as_str().unwrap().contains("<redacted>"),
            "{a}"
        );
        assert_eq!(a["plain"], "nothing here");
        // Without a key, members named like one are still redacted.
        let mut w = serde_json::json!({"apikey": "k", "text": key});
        scrub_json(&mut w, None);
        assert_eq!(w, serde_json::json!({"apikey": "<redacted>", "text": key}));
    }
}

#[cfg(test)]
mod panic_hook_tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn panic_messages_are_logged_with_the_key_redacted() {
        let log = Captured::default();
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let key: Arc<str> = Arc::from("panic-hook-test-key-0123456789");
        super::register_secret(&key);
        super::install_panic_hook();
        let caught = std::panic::catch_unwind(|| {
            panic!("header x-apikey: panic-hook-test-key-0123456789 was rejected")
        });
        let _ = std::panic::take_hook();
        assert!(caught.is_err());
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("panic: header x-apikey: <redacted> was rejected"),
            "{text}"
        );
        assert!(!text.contains("panic-hook-test-key"), "{text}");
        assert!(text.contains("src/error/secrets.rs"), "{text}");
    }
}
