//! The flat JSON arguments of one call: checked against the operation's table entry (names,
//! required ones, control characters), decoded into the generated parameter types, and
//! assembled into the request body the operation's [`BodyShape`] describes.

use crate::Error;
use crate::operations::{BodyShape, OperationMeta};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Flat arguments of one call, checked against the operation, with the body assembled.
#[derive(Debug, Clone)]
pub struct Args {
    values: Map<String, Value>,
    body: Option<Value>,
}

impl Args {
    /// The path, query and header arguments (not the body).
    pub(crate) fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// Checks that every argument is known to `op` and every required one is present, and
    /// assembles the body. Types, patterns and bounds are checked when each value is decoded
    /// into the generated parameter type, still before anything is sent.
    pub fn new(op: &OperationMeta, values: Map<String, Value>) -> Result<Args, Error> {
        let schema: Value =
            serde_json::from_str(op.input_schema).expect("generated schema is JSON");
        let known = schema["properties"]
            .as_object()
            .expect("schema has properties");
        for k in values.keys() {
            if !known.contains_key(k) {
                let mut names: Vec<&str> = known.keys().map(String::as_str).collect();
                names.sort_unstable();
                return Err(Error::InvalidInput {
                    argument: k.clone(),
                    problem: format!(
                        "{} takes no argument `{k}`; its arguments are: {}",
                        op.id,
                        names.join(", ")
                    ),
                });
            }
        }
        // The same control-character rule as the MCP server's validation.
        check_control_characters(schema.as_object().expect("schema is an object"), &values)?;
        for r in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if values.get(r).is_none_or(Value::is_null) {
                let hint = known[r]
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Err(Error::InvalidInput {
                    argument: r.to_string(),
                    problem: format!("missing required argument `{r}` ({hint})"),
                });
            }
        }
        let pick = |fields: &[&str]| -> Map<String, Value> {
            fields
                .iter()
                .filter_map(|f| {
                    values
                        .get(*f)
                        .filter(|v| !v.is_null())
                        .map(|v| (f.to_string(), v.clone()))
                })
                .collect()
        };
        let body = match op.body {
            BodyShape::None | BodyShape::Multipart { .. } => None,
            BodyShape::Attributes {
                vt_type,
                fields,
                extras,
            } => {
                let mut data = Map::new();
                data.insert("type".into(), Value::String(vt_type.into()));
                data.insert("attributes".into(), Value::Object(pick(fields)));
                data.extend(pick(extras));
                Some(serde_json::json!({ "data": data }))
            }
            BodyShape::DataFields { fields } => Some(serde_json::json!({ "data": pick(fields) })),
            BodyShape::Data => Some(
                serde_json::json!({ "data": values.get("data").cloned().unwrap_or(Value::Null) }),
            ),
            BodyShape::Form { fields } => Some(Value::Object(pick(fields))),
        };
        Ok(Args { values, body })
    }

    /// The raw value of an argument.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name).filter(|v| !v.is_null())
    }

    /// The assembled request body, if the operation has one.
    pub fn body_value(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    fn decode<T: DeserializeOwned>(name: &str, v: &Value) -> Result<T, Error> {
        T::deserialize(v).map_err(|e| Error::InvalidInput {
            argument: name.to_string(),
            problem: e.to_string(),
        })
    }

    #[doc(hidden)]
    pub fn required<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        match self.get(name) {
            Some(v) => Self::decode(name, v),
            None => Err(Error::InvalidInput {
                argument: name.into(),
                problem: format!("missing required argument `{name}`"),
            }),
        }
    }

    #[doc(hidden)]
    pub fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        self.get(name).map(|v| Self::decode(name, v)).transpose()
    }

    #[doc(hidden)]
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Self::decode("body", self.body.as_ref().unwrap_or(&Value::Null))
    }
}

/// Arguments that are bodies of free text written by the user (comments, YARA source, IoC
/// dumps, descriptions, notes, base64 code that may be wrapped): they may hold line breaks and
/// tabs. Every other string argument names something (URLs, domains, ids, hashes, queries,
/// relationship names, cursors, filters, paths, passwords) and may hold no control character.
pub const FREE_TEXT_ARGUMENTS: &[&str] = &[
    "text",
    "comment",
    "description",
    "rules",
    "raw_items",
    "details",
    "profile_phrase",
    "code",
];

/// Refuses control characters in string arguments, before anything is sent. One rule for every
/// tool, generated or composite, decided by the argument's name and schema:
///
/// * an argument that names something (any string not listed below) may hold no control
///   character at all (C0 such as CR, LF, NUL and ESC, DEL, C1): a line break in a URL, id,
///   query, cursor or filter can only be an injection attempt or a mistake;
/// * free text ([`FREE_TEXT_ARGUMENTS`], and free-form JSON objects such as `graph_data`,
///   whose schema is an object without declared properties) may hold line feeds, carriage
///   returns and tabs, but no other control character (NUL, ESC …).
///
/// Strings inside arrays and objects are checked too (object keys included), and the error names
/// the argument path (`iocs[2]`, `data[0].id`) and the character, never echoing the value.
pub fn check_control_characters(
    schema: &Map<String, Value>,
    args: &Map<String, Value>,
) -> Result<(), Error> {
    let props = schema.get("properties").and_then(Value::as_object);
    for (k, v) in args {
        let free_form_object = props.and_then(|p| p.get(k)).is_some_and(|s| {
            s.get("type").and_then(Value::as_str) == Some("object") && s.get("properties").is_none()
        });
        let free_text = FREE_TEXT_ARGUMENTS.contains(&k.as_str()) || free_form_object;
        controls_in(k, v, free_text)?;
    }
    Ok(())
}

fn controls_in(at: &str, v: &Value, free_text: bool) -> Result<(), Error> {
    let refused = |c: char| c.is_control() && !(free_text && matches!(c, '\n' | '\r' | '\t'));
    let bad = |c: char| {
        Err(Error::InvalidInput {
            argument: at.to_string(),
            problem: if free_text {
                format!(
                    "contains the control character U+{:04X}; free text may hold line breaks and \
                     tabs but no other control characters (NUL, escape sequences …)",
                    c as u32
                )
            } else {
                format!(
                    "contains the control character U+{:04X}; control characters (line breaks, \
                     NUL, escape sequences …) are not allowed in an argument that names something",
                    c as u32
                )
            },
        })
    };
    match v {
        Value::String(s) => match s.chars().find(|&c| refused(c)) {
            Some(c) => bad(c),
            None => Ok(()),
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| controls_in(&format!("{at}[{i}]"), x, free_text)),
        Value::Object(m) => m.iter().try_for_each(|(k, x)| {
            let path = format!("{at}.{k}");
            if let Some(c) = k.chars().find(|&c| c.is_control()) {
                return Err(Error::InvalidInput {
                    argument: path,
                    problem: format!(
                        "the member name contains the control character U+{:04X}",
                        c as u32
                    ),
                });
            }
            controls_in(&path, x, free_text)
        }),
        _ => Ok(()),
    }
}
