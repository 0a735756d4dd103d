//! `cargo xtask spec import-metadata FILE [--write]`: compares the relationship names that
//! VirusTotal lists in a saved `GET /metadata` response with the relationship enums of the spec,
//! and optionally appends the missing names to the enums.
//!
//! Writing edits the YAML text in place (new `- name` lines after the enum's last item), so
//! comments and formatting survive; the edit is verified by parsing the result and comparing it
//! with the original document plus the new names.

use crate::spec::Spec;
use serde_json::Value;
use std::fmt::Write as _;

/// VirusTotal object type → the spec enum of its relationship names.
pub const RELATIONSHIP_ENUMS: &[(&str, &str)] = &[
    ("file", "FileRelationship"),
    ("url", "UrlRelationship"),
    ("domain", "DomainRelationship"),
    ("ip_address", "IpAddressRelationship"),
    ("collection", "CollectionRelationship"),
    ("comment", "CommentRelationship"),
    ("analysis", "AnalysisRelationship"),
    ("file_behaviour", "FileBehaviourRelationship"),
    ("attack_tactic", "AttackTacticRelationship"),
    ("attack_technique", "AttackTechniqueRelationship"),
    ("graph", "GraphRelationship"),
    ("user", "UserRelationship"),
    ("group", "GroupRelationship"),
    ("hunting_ruleset", "HuntingRulesetRelationship"),
    ("yara_rule", "YaraRuleRelationship"),
    ("saved_search", "SavedSearchRelationship"),
    ("private_file", "PrivateFileRelationship"),
    ("private_analysis", "PrivateAnalysisRelationship"),
    ("private_url", "PrivateUrlRelationship"),
    ("threat_actor", "ThreatActorRelationship"),
    ("reference", "ReferenceRelationship"),
    ("monitor_item", "MonitorItemRelationship"),
];

/// The comparison for one object type listed by VirusTotal and mapped to an enum.
pub struct Comparison {
    pub object_type: String,
    pub schema: String,
    /// Names VirusTotal lists, in its order.
    pub listed: Vec<String>,
    /// The enum's values, or `None` if the schema is missing or not an enum.
    pub enum_values: Option<Vec<String>>,
    /// Listed by VirusTotal, absent from the enum.
    pub missing: Vec<String>,
    /// In the enum, not listed by VirusTotal.
    pub extra: Vec<String>,
}

/// Everything `import-metadata` found.
pub struct Report {
    pub compared: Vec<Comparison>,
    /// Object types in the metadata with no enum mapping, with how many names each lists.
    pub unmapped: Vec<(String, usize)>,
    /// Mapped object types the metadata does not list.
    pub absent: Vec<String>,
}

/// Reads the relationship lists of a saved `GET /metadata` response.
pub fn relationships(metadata: &Value) -> Result<Vec<(String, Vec<String>)>, String> {
    let rels = metadata
        .pointer("/data/relationships")
        .and_then(Value::as_object)
        .ok_or(
            "this is not a saved `GET /metadata` response: it has no `data.relationships` object",
        )?;
    let mut out = vec![];
    for (object_type, list) in rels {
        let names = list
            .as_array()
            .ok_or_else(|| format!("`data.relationships.{object_type}` is not a list"))?
            .iter()
            .filter_map(|r| match r {
                Value::String(s) => Some(s.clone()),
                other => other
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
            .collect();
        out.push((object_type.clone(), names));
    }
    Ok(out)
}

/// The values of `components/schemas/<name>/enum`, if it is an enum.
pub fn enum_values(spec: &Spec, schema: &str) -> Option<Vec<String>> {
    spec.doc
        .pointer(&format!("/components/schemas/{schema}/enum"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect()
        })
}

/// Compares the metadata's relationship lists with the spec's enums.
pub fn compare(metadata: &Value, spec: &Spec) -> Result<Report, String> {
    let listed = relationships(metadata)?;
    let mut compared = vec![];
    let mut unmapped = vec![];
    for (object_type, names) in &listed {
        let Some((_, schema)) = RELATIONSHIP_ENUMS.iter().find(|(t, _)| t == object_type) else {
            unmapped.push((object_type.clone(), names.len()));
            continue;
        };
        let values = enum_values(spec, schema);
        let (missing, extra) = match &values {
            Some(values) => {
                let mut missing: Vec<String> = vec![];
                for n in names {
                    if !values.contains(n) && !missing.contains(n) {
                        missing.push(n.clone());
                    }
                }
                let extra = values
                    .iter()
                    .filter(|v| !names.contains(v))
                    .cloned()
                    .collect();
                (missing, extra)
            }
            None => (vec![], vec![]),
        };
        compared.push(Comparison {
            object_type: object_type.clone(),
            schema: schema.to_string(),
            listed: names.clone(),
            enum_values: values,
            missing,
            extra,
        });
    }
    let absent = RELATIONSHIP_ENUMS
        .iter()
        .filter(|(t, _)| !listed.iter().any(|(l, _)| l == t))
        .map(|(t, _)| t.to_string())
        .collect();
    Ok(Report {
        compared,
        unmapped,
        absent,
    })
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn names(list: &[String]) -> String {
    list.iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The human-readable report.
pub fn render(report: &Report, metadata_source: &str, spec_source: &str) -> String {
    let mut out = format!("# Relationship names: `{metadata_source}` against `{spec_source}`\n");
    let mut total_missing = 0;
    for c in &report.compared {
        let _ = writeln!(out, "\n## {} → {}\n", c.object_type, c.schema);
        let Some(values) = &c.enum_values else {
            let _ = writeln!(
                out,
                "- the spec has no enum `components/schemas/{}`; VirusTotal lists {}: {}",
                c.schema,
                c.listed.len(),
                names(&c.listed)
            );
            continue;
        };
        let _ = writeln!(
            out,
            "VirusTotal lists {}, the enum has {}.\n",
            count(c.listed.len(), "name"),
            count(values.len(), "value")
        );
        total_missing += c.missing.len();
        if c.missing.is_empty() {
            out.push_str("- missing from the enum: none\n");
        } else {
            let _ = writeln!(
                out,
                "- missing from the enum ({}): {}",
                c.missing.len(),
                names(&c.missing)
            );
        }
        if c.extra.is_empty() {
            out.push_str("- in the enum but not listed by VirusTotal: none\n");
        } else {
            let _ = writeln!(
                out,
                "- in the enum but not listed by VirusTotal ({}): {}",
                c.extra.len(),
                names(&c.extra)
            );
        }
    }
    if !report.unmapped.is_empty() {
        out.push_str("\n## Object types with no enum mapping\n\n");
        for (t, n) in &report.unmapped {
            let _ = writeln!(out, "- `{t}` ({})", count(*n, "name"));
        }
    }
    if !report.absent.is_empty() {
        let _ = writeln!(
            out,
            "\nNot in this metadata file (not compared): {}.",
            report.absent.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n{total_missing} name{} missing from the spec's enums.",
        if total_missing == 1 { " is" } else { "s are" }
    );
    out
}

/// Appends `names` to the enum of `components/schemas/<schema>` in the YAML `text`, touching
/// nothing else.
pub fn append_enum_values(text: &str, schema: &str, names: &[String]) -> Result<String, String> {
    if names.is_empty() {
        return Ok(text.to_string());
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let components = lines
        .iter()
        .position(|l| key_of(l) == Some("components") && indent(l) == 0)
        .ok_or("the spec has no top-level `components:` line")?;
    let schemas =
        find_child(&lines, components, "schemas").ok_or("no `schemas:` under `components:`")?;
    let target = find_child(&lines, schemas, schema)
        .ok_or_else(|| format!("no `{schema}:` under `components: schemas:`"))?;
    let enum_line = find_child(&lines, target, "enum")
        .ok_or_else(|| format!("`{schema}` has no block `enum:` line"))?;
    let after_colon = lines[enum_line].trim().trim_start_matches("enum:").trim();
    if !after_colon.is_empty() && !after_colon.starts_with('#') {
        return Err(format!(
            "the enum of `{schema}` is written inline (`enum: {after_colon}`); add the names by hand"
        ));
    }

    // The items: `- value` lines at the enum's indentation or deeper, with their continuations.
    let enum_indent = indent(lines[enum_line]);
    let mut last_item = None;
    let mut dash_indent = None;
    for (i, line) in lines.iter().enumerate().skip(enum_line + 1) {
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let ind = indent(line);
        match dash_indent {
            None if content.starts_with("- ") && ind >= enum_indent => {
                dash_indent = Some(ind);
                last_item = Some(i);
            }
            Some(d) if ind == d && content.starts_with("- ") => last_item = Some(i),
            Some(d) if ind > d => last_item = Some(i),
            _ => break,
        }
    }
    let (Some(last), Some(dash)) = (last_item, dash_indent) else {
        return Err(format!("the enum of `{schema}` has no `- value` items"));
    };

    let eol = if lines[last].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut out = String::with_capacity(text.len() + names.len() * 32);
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        if i == last {
            if !line.ends_with('\n') {
                out.push_str(eol);
            }
            for n in names {
                let _ = write!(out, "{}- {}{eol}", " ".repeat(dash), yaml_scalar(n));
            }
        }
    }
    Ok(out)
}

/// Appends the missing names of every comparison to the spec text and checks that the result
/// parses to the original document plus exactly those names.
pub fn write_missing(text: &str, report: &Report) -> Result<(String, usize), String> {
    let original = Spec::parse(text, "the spec")?;
    let mut expected = original.doc.clone();
    let mut edited = text.to_string();
    let mut added = 0;
    for c in report.compared.iter().filter(|c| !c.missing.is_empty()) {
        edited = append_enum_values(&edited, &c.schema, &c.missing)
            .map_err(|e| format!("cannot add to `{}`: {e}", c.schema))?;
        if let Some(Value::Array(values)) =
            expected.pointer_mut(&format!("/components/schemas/{}/enum", c.schema))
        {
            values.extend(c.missing.iter().cloned().map(Value::String));
        }
        added += c.missing.len();
    }
    let result = Spec::parse(&edited, "the edited spec")?;
    if result.doc != expected {
        return Err(
            "the text edit would change more than the enums (unusual YAML layout?); nothing was written, add the names by hand"
                .into(),
        );
    }
    Ok((edited, added))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The mapping key a line starts, if it is `key:` (optionally followed by a value or comment).
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim();
    if t.starts_with('#') || t.starts_with("- ") {
        return None;
    }
    let (key, rest) = t.split_once(':')?;
    (rest.is_empty() || rest.starts_with(' ')).then_some(key.trim_matches(['\'', '"']))
}

/// The line of `key:` among the direct children of the mapping opened at line `parent`.
fn find_child(lines: &[&str], parent: usize, key: &str) -> Option<usize> {
    let parent_indent = indent(lines[parent]);
    let mut child_indent = None;
    for (i, line) in lines.iter().enumerate().skip(parent + 1) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if ind <= parent_indent {
            return None;
        }
        let ci = *child_indent.get_or_insert(ind);
        if ind == ci && key_of(line) == Some(key) {
            return Some(i);
        }
    }
    None
}

/// A YAML plain scalar when that reads back as the same string, else a single-quoted one.
fn yaml_scalar(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# a comment\nopenapi: 3.0.3\ncomponents:\n  schemas:\n    ARel:\n      type: string\n      enum:\n      - one\n      # trailing comment\n      - two\n    BRel:\n      type: string\n      enum:\n        - x\n";

    #[test]
    fn appends_after_the_last_item_only() {
        let out = append_enum_values(TEXT, "ARel", &["three".into(), "no".into()]).unwrap();
        assert_eq!(
            out,
            TEXT.replace(
                "      - two\n",
                "      - two\n      - three\n      - 'no'\n"
            )
        );
        let out = append_enum_values(TEXT, "BRel", &["y".into()]).unwrap();
        assert_eq!(
            out,
            TEXT.replace("        - x\n", "        - x\n        - 'y'\n")
        );
    }

    #[test]
    fn unknown_schema_is_an_error() {
        assert!(append_enum_values(TEXT, "CRel", &["a".into()]).is_err());
    }
}
