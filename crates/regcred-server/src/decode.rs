//! Strict decoding of request bodies (and of JSON values inside them, such as a location's
//! spec): unknown fields, missing fields, wrong types, duplicate keys at any depth and trailing
//! data are errors naming the offending field's path, and no error echoes a value the client sent.

use regcred_core::codes::ErrorCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Decodes a request body strictly. An empty body is an empty object.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    // One walk over the text refuses duplicate keys at every depth (parts decoded later from a
    // JSON value, such as a location's spec, would otherwise keep the last one silently),
    // trailing data, and bodies or specs that are not objects.
    let mut de = serde_json::Deserializer::from_slice(body);
    let shape: Shape =
        serde_path_to_error::deserialize(&mut de).map_err(|e| decode_error(e, ""))?;
    de.end().map_err(|e| {
        ApiError::validation(
            ErrorCode::InvalidJson,
            format!(
                "request body is not valid JSON: {}",
                redact_values(&e.to_string())
            ),
        )
    })?;
    require_objects(&shape)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| decode_error(e, ""))
}

/// What a JSON value is, as far as the checks of [`decode`] ask: an object (with what its
/// `spec` is), null, or anything else. Reading it refuses an object that names a key twice
/// (serde's "duplicate field" error, with the path of the object).
enum Shape {
    Object { spec: Option<Box<Shape>> },
    Null,
    Other,
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<Shape>()?.is_some() {}
        Ok(Shape::Other)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut spec = None;
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let shown: String = key.chars().take(64).collect();
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{shown}`"
                )));
            }
            let value = map.next_value::<Shape>()?;
            if key == "spec" {
                spec = Some(Box::new(value));
            }
        }
        Ok(Shape::Object { spec })
    }
}

/// serde lets a struct be written as a positional JSON array; the API does not. Requests are
/// objects, and so is every nested struct, all of which are called `spec`.
fn require_objects(shape: &Shape) -> Result<(), ApiError> {
    let Shape::Object { spec } = shape else {
        return Err(ApiError::validation(
            ErrorCode::InvalidField,
            "the request body must be a JSON object with the method's fields",
        ));
    };
    match spec.as_deref() {
        None | Some(Shape::Null | Shape::Object { .. }) => Ok(()),
        Some(Shape::Other) => Err(ApiError::field(
            "spec",
            ErrorCode::InvalidField,
            "spec must be a JSON object",
        )),
    }
}

/// Turns a decoding error into a field error; `prefix` names the enclosing field, if any.
pub fn decode_error(e: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> ApiError {
    let path = match (prefix, e.path().to_string()) {
        ("", p) => p,
        (pre, p) if p == "." => pre.to_owned(),
        (pre, p) => format!("{pre}.{p}"),
    };
    let inner = e.into_inner();
    let message = redact_values(&inner.to_string());
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::validation(
                ErrorCode::InvalidJson,
                format!("request body is not valid JSON: {message}"),
            )
        }
        _ if message.starts_with("unknown field") => ApiError::field(
            &parent_path(&path, &message),
            ErrorCode::UnknownField,
            message,
        ),
        _ if message.starts_with("duplicate field") => ApiError::field(
            &parent_path(&path, &message),
            ErrorCode::InvalidField,
            message,
        ),
        _ if message.starts_with("missing field") => ApiError::field(
            &parent_path(&path, &message),
            ErrorCode::MissingField,
            message,
        ),
        _ => ApiError::field(&path, ErrorCode::InvalidField, message),
    }
}

/// serde reports unknown/missing fields at the enclosing object; name the field itself.
fn parent_path(path: &str, message: &str) -> String {
    let name = message.split('`').nth(1).unwrap_or("");
    match path {
        "." | "" => name.to_owned(),
        p if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        p => format!("{p}.{name}"),
    }
}

/// serde_json quotes the offending value in type and value errors (`invalid type: string
/// "hunter2", expected u64`) and unknown enum values (``unknown variant `x`, expected …``); the
/// value may be a secret, so only its kind is kept.
fn redact_values(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let tail = rest.rfind(", expected").map_or("", |i| &rest[i..]);
        return format!("unknown value{tail}");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let kind = rest.split([' ', ',']).next().unwrap_or("");
            let tail = rest.rfind(", expected").map_or("", |i| &rest[i..]);
            return format!("{prefix}{kind}{tail}");
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_do_not_echo_string_values() {
        assert_eq!(
            redact_values("invalid type: string \"hunter2\", expected u64 at line 1 column 9"),
            "invalid type: string, expected u64 at line 1 column 9"
        );
        assert_eq!(
            redact_values("invalid type: integer `987654321`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            redact_values("invalid value: string \"x\", expected one of"),
            "invalid value: string, expected one of"
        );
        assert_eq!(
            redact_values("invalid type: string \"a, expected b\", expected u64"),
            "invalid type: string, expected u64",
            "a value that looks like serde's own words is still cut"
        );
        assert_eq!(
            redact_values(
                "unknown variant `hunter2`, expected `json` or `yaml` at line 1 column 9"
            ),
            "unknown value, expected `json` or `yaml` at line 1 column 9"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        spec: Inner,
    }

    fn check(body: &str, code: ErrorCode, field: Option<&str>) {
        let e = decode::<Outer>(body.as_bytes()).unwrap_err();
        assert_eq!(e.code, code, "{body}: {}", e.message);
        assert_eq!(
            e.items.first().and_then(|i| i.field.as_deref()),
            field,
            "{body}"
        );
    }

    #[test]
    fn decode_errors_name_the_field() {
        check("{", ErrorCode::InvalidJson, None);
        check("[]", ErrorCode::InvalidField, None);
        check(r#"{"spec":[1]}"#, ErrorCode::InvalidField, Some("spec"));
        check(r#"{"spec":{"a":1}} x"#, ErrorCode::InvalidJson, None);
        check(
            r#"{"spec":{"a":1,"b":2}}"#,
            ErrorCode::UnknownField,
            Some("spec.b"),
        );
        check(r#"{"spec":{}}"#, ErrorCode::MissingField, Some("spec.a"));
        check(r#"{}"#, ErrorCode::MissingField, Some("spec"));
        check(
            r#"{"spec":{"a":"x"}}"#,
            ErrorCode::InvalidField,
            Some("spec.a"),
        );
        check(
            r#"{"spec":{"a":1,"a":2}}"#,
            ErrorCode::InvalidField,
            Some("spec.a"),
        );
    }

    /// Duplicate keys inside an object decoded from a JSON value (a location's `spec`) used
    /// to be accepted, the last one winning; only the top level refused them.
    #[test]
    fn duplicate_keys_are_refused_at_every_depth() {
        for (body, field) in [
            (r#"{"a":1,"a":2}"#, "a"),
            (r#"{"spec":{"path":"/a","path":"/b"}}"#, "spec.path"),
            (r#"{"spec":{"x":{"y":[{"z":1,"z":1}]}}}"#, "spec.x.y[0].z"),
        ] {
            let e = decode::<serde_json::Value>(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidField, "{body}: {}", e.message);
            assert_eq!(
                e.items.first().and_then(|i| i.field.as_deref()),
                Some(field),
                "{body}"
            );
        }
        decode::<serde_json::Value>(br#"{"a":{"b":1},"c":{"b":1},"d":[{"b":1},{"b":1}]}"#)
            .expect("the same key in different objects is fine");
    }
}
