//! The invariants regcred's fuzz targets check, one function per target: each takes the
//! fuzzer's bytes and panics when an invariant breaks (a crash, for libFuzzer). They run under
//! `cargo fuzz` (`scripts/fuzz`, the binaries in `fuzz_targets/`) and, in the normal test suite,
//! over the committed corpus and every crash found so far (`tests/corpus.rs`).
//!
//! Every target takes the bytes as UTF-8 where the parser takes text (headers, references and
//! JSON files are text; other bytes are not an input regcred can receive there), and:
//!
//! - `image_ref`: `ImageRef::parse` never panics; what it accepts is a fixed point (the stored
//!   form parses to the same reference and prints the same), and what it refuses has the stable
//!   code `invalid_image`.
//! - `registry_server`: `RegistryServer::normalize` never panics; a normalized server is
//!   normalized already (its stored form parses to itself with no change noted), and an error
//!   never repeats what stood before an `@` (it may be a password).
//! - `www_authenticate`: whatever `challenge::parse` accepts renders to a header that parses
//!   back to the same challenges.
//! - `auth_file`: parsing a Docker `config.json` / containers `auth.json` never panics, and
//!   neither its result nor its error shows a password or an `auth` value of the input.
//! - `rpc_body`: strict decoding of the API's request bodies never panics and never answers
//!   with a server error (a body is the client's mistake, a 4xx with a stable code), and its
//!   messages never repeat a string value of the body.
#![forbid(unsafe_code)]

use regcred_core::api;
use regcred_core::auth_file::parse_auth_file;
use regcred_core::codes::ErrorCode;
use regcred_core::image_ref::ImageRef;
use regcred_core::registry_host::RegistryServer;
use regcred_registry::challenge;
use regcred_server::decode::decode;
use regcred_server::error::ApiError;

pub fn image_ref(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match ImageRef::parse(input) {
        Ok(parsed) => {
            let stored = parsed.to_string();
            let again = ImageRef::parse(&stored)
                .unwrap_or_else(|e| panic!("stored form {stored:?} of {input:?} refused: {e}"));
            assert_eq!(again, parsed, "stored form {stored:?} of {input:?}");
            assert_eq!(again.to_string(), stored, "{input:?}");
        }
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidImage, "{input:?}: {e}"),
    }
}

pub fn registry_server(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match RegistryServer::normalize(input) {
        Ok(normalized) => {
            let stored = normalized.server.to_string();
            let again = RegistryServer::normalize(&stored)
                .unwrap_or_else(|e| panic!("stored form {stored:?} of {input:?} refused: {e}"));
            assert_eq!(again.server, normalized.server, "{input:?}");
            assert!(
                !again.changed(),
                "stored form {stored:?} of {input:?} changed again: {:?}",
                again.note()
            );
        }
        Err(e) => {
            // The refusal of credentials is one fixed message (it names `user:password@` and
            // `ghcr.io` itself): what it holds by its own wording proves nothing.
            let wording = RegistryServer::normalize("u@h")
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string());
            if let Some((userinfo, _)) = input.rsplit_once('@') {
                if userinfo.len() >= 4 && !wording.contains(userinfo) {
                    assert!(
                        !e.to_string().contains(userinfo),
                        "the error on {input:?} repeats {userinfo:?}: {e}"
                    );
                }
            }
        }
    }
}

pub fn www_authenticate(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(challenges) = challenge::parse(input) {
        let rendered = challenges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            challenge::parse(&rendered),
            Ok(challenges),
            "{input:?} rendered as {rendered:?}"
        );
    }
}

pub fn auth_file(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let shown = match parse_auth_file(input) {
        Ok(parsed) => format!("{parsed:?}"),
        Err(e) => format!("{e} {e:?}"),
    };
    for secret in secrets_of(input) {
        assert!(
            !shown.contains(&secret),
            "{secret:?} of {input:?} is shown: {shown}"
        );
    }
}

/// The `password` and `auth` values of the logins (`auths.SERVER`) of a JSON auth file, long
/// enough that a message cannot hold them by chance, and not part of a server's name (errors
/// name the entry). The same keys elsewhere — a registry named `password` in `credHelpers` —
/// hold no secret.
fn secrets_of(input: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(input) else {
        return Vec::new();
    };
    let Some(auths) = value.get("auths").and_then(|a| a.as_object()) else {
        return Vec::new();
    };
    auths
        .values()
        .filter_map(|login| login.as_object())
        .flat_map(|login| ["password", "auth"].map(|key| login.get(key)))
        .filter_map(|v| v.and_then(|v| v.as_str()))
        .filter(|secret| secret.len() >= 8 && !auths.keys().any(|server| server.contains(secret)))
        .map(str::to_owned)
        .collect()
}

/// String values of a JSON document that could only appear in a message by being copied: long,
/// with letters and digits, no spaces — and not part of a key of the document, since errors name
/// the fields they are about (an unknown field by its name).
fn distinctive_strings(body: &[u8]) -> Vec<String> {
    fn walk(value: &serde_json::Value, keys: &mut Vec<String>, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s)
                if s.len() >= 16
                    && !s.contains(char::is_whitespace)
                    && s.chars().any(|c| c.is_ascii_digit())
                    && s.chars().any(char::is_alphabetic) =>
            {
                out.push(s.clone());
            }
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    keys.push(key.clone());
                    walk(v, keys, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, keys, out)),
            _ => {}
        }
    }
    let (mut keys, mut out) = (Vec::new(), Vec::new());
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        walk(&value, &mut keys, &mut out);
    }
    out.retain(|value| !keys.iter().any(|key| key.contains(value.as_str())));
    out
}

fn check_refusal(body: &[u8], what: &str, result: Result<(), ApiError>) {
    let Err(e) = result else {
        return;
    };
    assert!(
        e.status.is_client_error(),
        "{what}: {:?} answered {} {}: {}",
        String::from_utf8_lossy(body),
        e.status,
        e.code,
        e.message
    );
    let text = std::iter::once(e.message.as_str())
        .chain(e.items.iter().map(|i| i.message.as_str()))
        .collect::<Vec<_>>()
        .join("\n");
    for value in distinctive_strings(body) {
        assert!(
            !text.contains(&value),
            "{what}: the error repeats {value:?}: {text}"
        );
    }
}

/// Decodes `body` as `T` and checks the refusal, if any.
fn decode_as<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) {
    check_refusal(body, what, decode::<T>(body).map(drop));
}

pub fn rpc_body(data: &[u8]) {
    decode_as::<api::PullSecretCreate>(data, "pullSecret.create");
    decode_as::<api::PullSecretTest>(data, "pullSecret.test");
    decode_as::<api::PullSecretRender>(data, "pullSecret.render");
    decode_as::<api::PullSecretDelete>(data, "pullSecret.delete");
    decode_as::<api::LocationCreate>(data, "location.create");
    decode_as::<api::DeploymentDeploy>(data, "deployment.deploy");
    decode_as::<api::ImageResolve>(data, "image.resolve");
    decode_as::<api::TokenCreate>(data, "token.create");
    decode_as::<api::CredentialGet>(data, "credential.get");
    decode_as::<api::AuditList>(data, "audit.list");
}
