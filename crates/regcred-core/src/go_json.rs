//! JSON text exactly as Go's `encoding/json` writes it, because the files regcred renders
//! (`.dockerconfigjson`, Kubernetes Secrets, Docker `config.json`, containers `auth.json`) must be
//! byte-identical to what kubectl, docker and podman write. Go escapes more than most encoders —
//! `<`, `>`, `&` become `\u003c`, `\u003e`, `\u0026`, U+2028/U+2029 become `\u2028`/`\u2029`,
//! `\b` and `\f` have short forms (Go ≥ 1.22), other control characters are `\u00xx` in lower-case
//! hex — and keeps all other non-ASCII text as UTF-8. [`Value`] is the small tree the renderers
//! build: strings, `null` and objects whose member order is the caller's (struct field order, or
//! sorted keys for Go maps); [`Value::to_compact`] is `json.Marshal` and [`Value::to_indented`] is
//! `json.MarshalIndent(v, "", indent)`.

use std::fmt;

/// A JSON value as far as the renderers need one.
///
/// Object members are written in the order given: Go writes struct fields in declaration order and
/// map keys sorted byte-wise, so callers sort map keys themselves ([`Value::map`] does).
#[derive(Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Str(&'a str),
    Object(Vec<(&'a str, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// An object for a Go map: members sorted by key, byte-wise, as `encoding/json` does.
    pub fn map(mut members: Vec<(&'a str, Value<'a>)>) -> Self {
        members.sort_by(|a, b| a.0.cmp(b.0));
        Value::Object(members)
    }

    /// `json.Marshal`: no whitespace at all.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None, 0);
        out
    }

    /// `json.MarshalIndent(v, "", indent)`: one member per line, `": "` between key and value,
    /// empty objects kept as `{}`, no trailing newline.
    pub fn to_indented(&self, indent: &str) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(indent), 0);
        out
    }

    fn write(&self, out: &mut String, indent: Option<&str>, depth: usize) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Str(s) => write_string(out, s),
            Value::Object(members) if members.is_empty() => out.push_str("{}"),
            Value::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, indent, depth + 1);
                    write_string(out, key);
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    value.write(out, indent, depth + 1);
                }
                newline(out, indent, depth);
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(indent) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

/// String contents are not shown: values in these trees are often passwords or `auth` fields.
impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Str(s) => write!(f, "Str(<{} bytes>)", s.len()),
            Value::Object(members) => f
                .debug_map()
                .entries(members.iter().map(|(k, v)| (k, v)))
                .finish(),
        }
    }
}

/// `s` as a Go JSON string literal, quotes included.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    out
}

/// Appends `s` as a Go JSON string literal (HTML escaping on, as `json.Marshal` does).
pub fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(quote(input), expected, "input {input:?}");
    }

    #[test]
    fn strings_are_escaped_like_go() {
        // Expected values are what Go 1.23's encoding/json (kubectl 1.32) prints.
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("p&<>:x", r#""p\u0026\u003c\u003e:x""#),
            ("q\"b\\s/", r#""q\"b\\s/""#),
            ("\n\r\t", r#""\n\r\t""#),
            ("\u{8}\u{c}", r#""\b\f""#),
            ("\u{0}\u{1}\u{1b}\u{1f}", r#""\u0000\u0001\u001b\u001f""#),
            ("\u{7f}", "\"\u{7f}\""),
            ("\u{85}\u{a0}é", "\"\u{85}\u{a0}é\""),
            ("\u{2028}\u{2029}", r#""\u2028\u2029""#),
            ("\u{feff}😀", "\"\u{feff}😀\""),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn compact_and_indented_objects() {
        let v = Value::Object(vec![
            ("kind", Value::Str("Secret")),
            (
                "metadata",
                Value::Object(vec![
                    ("name", Value::Str("x")),
                    ("creationTimestamp", Value::Null),
                ]),
            ),
            ("empty", Value::Object(vec![])),
        ]);
        assert_eq!(
            v.to_compact(),
            r#"{"kind":"Secret","metadata":{"name":"x","creationTimestamp":null},"empty":{}}"#
        );
        assert_eq!(
            v.to_indented("\t"),
            "{\n\t\"kind\": \"Secret\",\n\t\"metadata\": {\n\t\t\"name\": \"x\",\n\t\t\"creationTimestamp\": null\n\t},\n\t\"empty\": {}\n}"
        );
        assert_eq!(Value::Object(vec![]).to_indented("    "), "{}");
    }

    #[test]
    fn map_sorts_keys_bytewise_like_go() {
        let v = Value::map(vec![
            ("quay.io/org", Value::Null),
            ("Quay.io", Value::Null),
            ("https://index.docker.io/v1/", Value::Null),
            ("quay.io", Value::Null),
        ]);
        assert_eq!(
            v.to_compact(),
            r#"{"Quay.io":null,"https://index.docker.io/v1/":null,"quay.io":null,"quay.io/org":null}"#
        );
    }

    #[test]
    fn debug_does_not_show_string_contents() {
        let v = Value::Object(vec![("password", Value::Str("hunter2-canary"))]);
        let shown = format!("{v:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password"), "{shown}");
    }

    proptest::proptest! {
        #[test]
        fn quoted_strings_parse_back(s in "\\PC*|[\\x00-\\x7f\u{2028}\u{2029}]*") {
            let parsed: String = serde_json::from_str(&quote(&s)).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(e.to_string())
            })?;
            proptest::prop_assert_eq!(parsed, s);
        }
    }
}
