//! Cutting a large JSON answer down *before* it is parsed.
//!
//! A result never exceeds the output budget (about 80 KB by default), but an answer can be up to
//! 64 MiB, and a parsed `Value` costs several times its text (every string, number and member
//! is a separate allocation). So an answer over [`SHRINK_ABOVE`] is walked as borrowed slices of
//! its own text ([`RawValue`]): members and items that fit are copied verbatim, known heavy
//! members are dropped first, lists keep their head and long strings are cut, with the same
//! notes [`super::output::fit_budget`] writes. Only the reduced text (a few times the budget)
//! is then parsed, and the usual budget pass finishes the job. Peak memory stays near the
//! answer's own size. The `fields` projection is applied during the walk, so a member the
//! caller asked for is never dropped in favour of others.

use super::output::Cut;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Answers larger than this many bytes are shrunk before parsing.
pub const SHRINK_ABOVE: usize = 1024 * 1024;

/// The object members of a raw JSON object, in order, values unparsed.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct Walk<'f> {
    fields: &'f [String],
    key: Option<crate::error::SecretForms>,
    notes: Vec<Cut>,
    /// Leading items of the top-level `data` list to leave out (shown before).
    skip: usize,
}

/// Reduces `text` (a JSON document) to about `target` bytes of JSON, applying the `fields`
/// projection on the way and leaving out the first `skip` items of a top-level `data` list
/// (a page resumed part-way, [`crate::ops::paging::PageResume`]). Returns the reduced text and
/// what was cut.
pub fn shrink(
    text: &[u8],
    fields: &[String],
    key: Option<&str>,
    target: usize,
    skip: usize,
) -> Result<(String, Vec<Cut>), serde_json::Error> {
    let text = std::str::from_utf8(text).map_err(|e| {
        <serde_json::Error as serde::de::Error>::custom(format!("the answer is not UTF-8: {e}"))
    })?;
    let root: &RawValue = serde_json::from_str(text)?;
    let mut w = Walk {
        fields,
        key: key.and_then(crate::error::SecretForms::new),
        notes: Vec::new(),
        skip,
    };
    let mut out = String::with_capacity(target.min(text.len()) + 64);
    w.emit(root, "", target, &mut out)?;
    Ok((out, w.notes))
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Walk<'_> {
    /// Whether `fields` filters the members of the object at `path` (as
    /// [`super::output::project`] does: `data.attributes`, or each listed item's attributes).
    fn projects(&self, path: &str, members: &[(String, &RawValue)]) -> bool {
        if self.fields.is_empty() {
            return false;
        }
        let mut parts = path.split('/').skip(1);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("data"), None, ..) => !members.iter().any(|(k, _)| k == "attributes"),
            (Some("data"), Some("attributes"), None, _) => true,
            (Some("data"), Some(i), Some("attributes"), None) => i.parse::<usize>().is_ok(),
            _ => false,
        }
    }

    /// Whether a projection may apply at or below `path`.
    fn may_project_below(&self, path: &str) -> bool {
        !self.fields.is_empty()
            && path.matches('/').count() < 4
            && (path.is_empty() || path.starts_with("/data"))
    }

    fn emit(
        &mut self,
        raw: &RawValue,
        path: &str,
        target: usize,
        out: &mut String,
    ) -> Result<(), serde_json::Error> {
        let text = raw.get();
        let skips_here = self.skip > 0 && (path.is_empty() || path == "/data");
        let expand = text.len() > target || self.may_project_below(path) || skips_here;
        match text.as_bytes().first() {
            Some(b'{') if expand => self.object(raw, path, target, out),
            Some(b'[') if expand => self.array(raw, path, target, out),
            Some(b'"') if text.len() > target => self.string(raw, path, target, out),
            _ => {
                out.push_str(text);
                Ok(())
            }
        }
    }

    fn object(
        &mut self,
        raw: &RawValue,
        path: &str,
        target: usize,
        out: &mut String,
    ) -> Result<(), serde_json::Error> {
        let Members(mut members) = serde_json::from_str(raw.get())?;
        if self.projects(path, &members) {
            members.retain(|(k, _)| self.fields.iter().any(|f| f == k));
        }
        let cost = |k: &str, v: &RawValue| json_str(k).len() + 2 + v.get().len();
        let mut total: usize = 2 + members.iter().map(|(k, v)| cost(k, v)).sum::<usize>();
        // 1. Known heavy members, biggest first.
        if total > target {
            let mut heavy: Vec<(usize, usize)> = members
                .iter()
                .enumerate()
                .filter(|(_, (k, _))| super::output::HEAVY.contains(&k.as_str()))
                .map(|(i, (k, v))| (i, cost(k, v)))
                .collect();
            heavy.sort_by_key(|h| std::cmp::Reverse(h.1));
            let mut drop = vec![];
            for (i, c) in heavy {
                if total <= target {
                    break;
                }
                total -= c;
                drop.push(i);
                let (k, v) = &members[i];
                self.notes.push(Cut::Dropped {
                    path: format!("{path}/{}", pointer_token(k)),
                    bytes: v.get().len(),
                });
            }
            let mut i = 0;
            members.retain(|_| {
                i += 1;
                !drop.contains(&(i - 1))
            });
        }
        // 2. The rest: everything fits but the biggest members, which share what is left.
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(members[i].1.get().len()));
        let mut allowance: Vec<usize> = members.iter().map(|(_, v)| v.get().len()).collect();
        let mut over = total.saturating_sub(target);
        for &i in &order {
            if over == 0 {
                break;
            }
            let give = allowance[i].min(over);
            // Keep at least a little of every member that is cut.
            let keep = (allowance[i] - give).max(64.min(allowance[i]));
            over -= allowance[i] - keep;
            allowance[i] = keep;
        }
        out.push('{');
        for (n, (k, v)) in members.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(&json_str(k));
            out.push(':');
            let child = format!("{path}/{}", pointer_token(k));
            self.emit(v, &child, allowance[n], out)?;
        }
        out.push('}');
        Ok(())
    }

    fn array(
        &mut self,
        raw: &RawValue,
        path: &str,
        target: usize,
        out: &mut String,
    ) -> Result<(), serde_json::Error> {
        let mut items: Vec<&RawValue> = serde_json::from_str(raw.get())?;
        if path == "/data" {
            items.drain(..self.skip.min(items.len()));
        }
        out.push('[');
        let start = out.len();
        let mut kept = 0;
        for (i, item) in items.iter().enumerate() {
            let used = out.len() - start;
            let room = target.saturating_sub(used + 1);
            if i > 0 && (room == 0 || (item.get().len() > room && !self.may_project_below(path))) {
                break;
            }
            // The first item is always kept (cut to fit); later ones only whole (after the
            // projection), so a list is a head of whole items.
            let notes = self.notes.len();
            let mut piece = String::new();
            self.emit(item, &format!("{path}/{i}"), room.max(64), &mut piece)?;
            if i > 0 && (self.notes.len() > notes || piece.len() > room) {
                self.notes.truncate(notes);
                break;
            }
            if i > 0 {
                out.push(',');
            }
            out.push_str(&piece);
            kept += 1;
        }
        out.push(']');
        if kept < items.len() {
            self.notes.push(Cut::Kept {
                path: path.to_string(),
                kept,
                of: items.len(),
            });
        }
        Ok(())
    }

    fn string(
        &mut self,
        raw: &RawValue,
        path: &str,
        target: usize,
        out: &mut String,
    ) -> Result<(), serde_json::Error> {
        let mut s: String = serde_json::from_str(raw.get())?;
        if let Some(clean) = self.key.as_ref().and_then(|k| k.redact(&s)) {
            s = clean;
        }
        let len = s.chars().count();
        let mut cut = String::new();
        let mut size = 2;
        for c in s.chars() {
            let w = if c.is_control() || c == '"' || c == '\\' {
                6
            } else {
                c.len_utf8()
            };
            if size + w > target.max(200) {
                break;
            }
            size += w;
            cut.push(c);
        }
        if cut.len() < s.len() {
            self.notes.push(Cut::Shortened {
                path: path.to_string(),
                from: len,
            });
            cut.push_str("… [cut]");
        }
        out.push_str(&json_str(&cut));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn run(v: &Value, fields: &[&str], target: usize) -> (Value, Vec<String>) {
        let text = serde_json::to_string_pretty(v).unwrap();
        let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        let (out, cuts) =
            shrink(text.as_bytes(), &fields, Some("secret-key-123"), target, 0).unwrap();
        let notes = super::super::output::describe_cuts(cuts, Default::default());
        (serde_json::from_str(&out).unwrap(), notes)
    }

    #[test]
    fn a_resumed_page_leaves_out_the_items_shown_before() {
        let v = json!({"data": (0..10).map(|i| json!({"id": i})).collect::<Vec<_>>(), "meta": {}});
        let text = serde_json::to_string(&v).unwrap();
        let (out, cuts) = shrink(text.as_bytes(), &[], None, 100_000, 4).unwrap();
        let out: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["data"][0]["id"], 4);
        assert_eq!(out["data"].as_array().unwrap().len(), 6);
        assert!(cuts.is_empty(), "{cuts:?}");
    }

    #[test]
    fn small_answers_come_back_whole() {
        let v = json!({"data": {"id": "x", "attributes": {"a": null, "b": [], "c": {}, "f": 1.5e300, "n": 100}}});
        assert_eq!(run(&v, &[], 10_000).0, v);
    }

    #[test]
    fn large_answers_lose_heavy_members_then_list_tails_then_string_tails() {
        let item = |i: usize| {
            json!({"id": format!("f{i}"), "type": "file", "attributes": {
                "meaningful_name": "x".repeat(50),
                "last_analysis_results": {"engine": "y".repeat(2000)},
            }})
        };
        let v = json!({"data": (0..200).map(item).collect::<Vec<_>>(), "meta": {"cursor": "c"}});
        let (out, notes) = run(&v, &[], 20_000);
        let text = serde_json::to_string(&out).unwrap();
        assert!(text.len() <= 20_000 + 200, "{}", text.len());
        assert_eq!(out["meta"], json!({"cursor": "c"}));
        assert_eq!(out["data"][0]["id"], "f0");
        assert!(
            notes.iter().any(|n| n.contains("items of /data")),
            "{notes:?}"
        );
        let long = json!({"data": {"attributes": {"text": format!("{} secret-key-123 tail", "z".repeat(100_000))}}});
        let (out, notes) = run(&long, &[], 5_000);
        let s = out["data"]["attributes"]["text"].as_str().unwrap();
        assert!(s.ends_with("… [cut]") && s.len() < 6_000, "{}", s.len());
        assert!(
            notes[0].contains("shortened /data/attributes/text"),
            "{notes:?}"
        );
    }

    #[test]
    fn the_projection_keeps_what_was_asked_for() {
        let item = json!({"id": "f", "attributes": {"last_analysis_results": {"e": "r".repeat(300)}, "other": "o".repeat(5000)}});
        let v = json!({"data": [item.clone(), item]});
        let (out, notes) = run(&v, &["last_analysis_results"], 2_000);
        assert_eq!(
            out["data"][0]["attributes"],
            json!({"last_analysis_results": {"e": "r".repeat(300)}})
        );
        assert_eq!(out["data"].as_array().unwrap().len(), 2, "{notes:?}");
        // Small members are projected too, not copied whole.
        let v = json!({"data": [{"id": "a", "attributes": {"keep": 1, "drop": 2}}], "pad": "p".repeat(100)});
        let (out, _) = run(&v, &["keep"], 50);
        assert_eq!(out["data"][0]["attributes"], json!({"keep": 1}));
    }

    #[test]
    fn the_key_never_survives_a_cut() {
        // The key straddles the cut (at about 200 characters).
        let v = json!({"k": format!("{}secret-key-123", "a".repeat(195))});
        let (out, notes) = run(&v, &[], 100);
        assert!(!notes.is_empty());
        assert!(
            !serde_json::to_string(&out).unwrap().contains("secret-"),
            "{out}"
        );
    }
}
