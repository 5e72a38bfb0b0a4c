//! Docker `config.json` and containers `auth.json` (podman, skopeo, buildah): rendering them from
//! a list of logins, byte for byte as `docker login` and `podman login` write a fresh file, and
//! reading existing ones for import. Both tools write Go's `json.MarshalIndent(…, "", "\t")` of
//! `{"auths":{KEY:{"auth":"base64(user:pass)"}}}` without a trailing newline, keys sorted; they
//! differ only in that docker leaves `auth` out when username and password are both empty. Keys
//! are written as given, so path-scoped keys (`quay.io/org`), which only containers/image
//! honours, are kept. Import understands what the tools write: `auth` (padded or not, split at the
//! first `:`, winning over `username`/`password`, as the kubelet reads it), plain
//! `username`/`password`, and explains what cannot be imported because the file does not hold
//! it — identity tokens, registry tokens, and logins kept by a credential helper (`credHelpers`,
//! `credsStore`). Unknown fields are ignored: Docker's config holds much besides logins.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use crate::go_json::Value;
use crate::k8s_secret::{check_unique_servers, DockerAuth, RenderError};
use crate::secret::Secret;

/// Docker's `~/.docker/config.json` as `docker login` writes it for these logins (emails are not
/// written: `docker login` no longer stores them).
pub fn docker_config_json(entries: &[DockerAuth<'_>]) -> Result<String, RenderError> {
    render(entries, AuthWhenEmpty::Omit)
}

/// containers/image's `auth.json` as `podman login` / `skopeo login` writes it for these logins.
pub fn containers_auth_json(entries: &[DockerAuth<'_>]) -> Result<String, RenderError> {
    render(entries, AuthWhenEmpty::Write)
}

/// docker's `encodeAuth` returns "" for an empty username and password (and `auth` is
/// `omitempty`); containers/image always encodes `user:pass`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AuthWhenEmpty {
    Omit,
    Write,
}

fn render(entries: &[DockerAuth<'_>], empty: AuthWhenEmpty) -> Result<String, RenderError> {
    check_unique_servers(entries)?;
    let auth_fields: Vec<Option<String>> = entries
        .iter()
        .map(|e| {
            let blank = e.username.is_empty() && e.password.is_empty();
            (!(blank && empty == AuthWhenEmpty::Omit)).then(|| e.auth_field())
        })
        .collect();
    let members = entries
        .iter()
        .zip(&auth_fields)
        .map(|(entry, auth)| {
            let fields = auth.iter().map(|a| ("auth", Value::Str(a))).collect();
            (entry.server, Value::Object(fields))
        })
        .collect();
    Ok(Value::Object(vec![("auths", Value::map(members))]).to_indented("\t"))
}

/// The `auths` entry `docker login` writes for one login: `{"auth": base64(user:pass)}`.
pub fn entry(login: &DockerAuth<'_>) -> Json {
    let mut m = Map::new();
    m.insert("auth".into(), Json::String(login.auth_field()));
    Json::Object(m)
}

/// The `auths` entries of an auth file's text (empty for an empty file), keyed as written, each
/// turned into `f(entry)` as it is read: the file is never held as a tree (a Docker host's file
/// can hold 100,000 logins, and a `serde_json::Value` of one costs a kilobyte). The `auths`
/// member is found as [`update`] and Docker find it: by its exact name, else case-insensitively.
pub fn entries<T>(
    text: &str,
    f: impl FnMut(&Json) -> T,
) -> Result<BTreeMap<String, T>, AuthFileError> {
    use serde::de::DeserializeSeed as _;
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let (root, _) = Streamed::Root(f).deserialize(&mut de).map_err(invalid)?;
    de.end().map_err(invalid)?;
    let not_object = |path: &str| AuthFileError::WrongType {
        path: path.to_owned(),
        expected: "an object",
    };
    let Read::Object(mut candidates) = root else {
        return Err(not_object("the file"));
    };
    // The exact name wins; otherwise the first case-insensitive match in key order.
    let chosen = match candidates.remove("auths") {
        Some(exact) => Some(exact),
        None => candidates.into_values().next(),
    };
    match chosen {
        None | Some(Read::Null) => Ok(BTreeMap::new()),
        Some(Read::Entries(entries)) => Ok(entries),
        Some(_) => Err(not_object("auths")),
    }
}

/// What [`entries`] makes of a JSON value while reading: the file (its `auths` candidates by
/// name), an `auths` object (its mapped entries), a null, or anything else.
enum Read<T> {
    Object(BTreeMap<String, Read<T>>),
    Entries(BTreeMap<String, T>),
    Null,
    Other,
}

/// The reader of one level of [`entries`]: the file's root, or an `auths` member.
enum Streamed<F> {
    Root(F),
    Auths(F),
}

impl<'de, T, F: FnMut(&Json) -> T> serde::de::DeserializeSeed<'de> for Streamed<F> {
    type Value = (Read<T>, F);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T, F: FnMut(&Json) -> T> serde::de::Visitor<'de> for Streamed<F> {
    type Value = (Read<T>, F);

    fn expecting(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        match self {
            Streamed::Root(mut f) => {
                let mut candidates = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key.eq_ignore_ascii_case("auths") {
                        let (read, back) = map.next_value_seed(Streamed::Auths(f))?;
                        f = back;
                        candidates.insert(key, read);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok((Read::Object(candidates), f))
            }
            Streamed::Auths(mut f) => {
                let mut entries = BTreeMap::new();
                while let Some((key, entry)) = map.next_entry::<String, Json>()? {
                    entries.insert(key, f(&entry));
                }
                Ok((Read::Entries(entries), f))
            }
        }
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok((Read::Null, self.into_f()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok((Read::Other, self.into_f()))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok((Read::Other, self.into_f()))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok((Read::Other, self.into_f()))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok((Read::Other, self.into_f()))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok((Read::Other, self.into_f()))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok((Read::Other, self.into_f()))
    }
}

impl<F> Streamed<F> {
    fn into_f(self) -> F {
        match self {
            Streamed::Root(f) | Streamed::Auths(f) => f,
        }
    }
}

/// Sets the `auths` entries in `set` (each an entry's JSON) and removes the keys in `remove`,
/// leaving everything else in the file as it was (other logins, `credHelpers`, `credsStore`,
/// Docker's other settings). Written with tabs, like `docker login`, keys sorted.
///
/// The file is never held as a tree: its members and entries are kept as slices of `text` and
/// each is turned into a `Value` only while it is written out, so updating a file of 100,000
/// logins costs about the file's size again, not a kilobyte per login.
pub fn update(
    text: &str,
    set: &[(String, Box<RawValue>)],
    remove: &[String],
) -> Result<String, AuthFileError> {
    let mut root: BTreeMap<String, &RawValue> = if text.trim().is_empty() {
        BTreeMap::new()
    } else {
        let whole: &RawValue = serde_json::from_str(text).map_err(invalid)?;
        object_members(whole, "")?
    };
    let mut auths = match root.remove("auths") {
        Some(raw) => object_members(raw, "auths")?,
        None => BTreeMap::new(),
    };
    for key in remove {
        auths.remove(key);
    }
    for (key, value) in set {
        auths.insert(key.clone(), value);
    }
    let mut members: BTreeMap<&str, Member<'_>> = root
        .iter()
        .map(|(key, raw)| (key.as_str(), Member::Raw(raw)))
        .collect();
    members.insert("auths", Member::Object(&auths));
    let mut out = Vec::with_capacity(text.len() + set.len() * 64);
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&members, &mut serializer).map_err(invalid)?;
    // serde_json writes UTF-8 only.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The members of a JSON object, as slices of its text; `path` names it in the error when it is
/// not an object. A repeated name keeps its last value, as a `Value` would.
fn object_members<'a>(
    raw: &'a RawValue,
    path: &str,
) -> Result<BTreeMap<String, &'a RawValue>, AuthFileError> {
    if !raw.get().starts_with('{') {
        return Err(AuthFileError::WrongType {
            path: path.to_owned(),
            expected: "an object",
        });
    }
    serde_json::from_str(raw.get()).map_err(invalid)
}

/// Broken JSON, as an auth-file error (serde_json's message names a place, never a value).
fn invalid(e: serde_json::Error) -> AuthFileError {
    AuthFileError::InvalidJson {
        message: e.to_string(),
    }
}

/// A member of the file to write: JSON text, turned into a `Value` only while it is written (so
/// that the output is `Value`'s, indented), or an object of such members.
enum Member<'a> {
    Raw(&'a RawValue),
    Object(&'a BTreeMap<String, &'a RawValue>),
}

impl serde::Serialize for Member<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Member::Raw(raw) => serde_json::from_str::<Json>(raw.get())
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer),
            Member::Object(members) => {
                serializer.collect_map(members.iter().map(|(k, raw)| (k, Member::Raw(raw))))
            }
        }
    }
}

/// Everything an auth file says about logins: `importable` sorted by key; `not_importable` with
/// the `auths` entries first, then the `credHelpers` entries (each sorted by key), then the
/// `credsStore` record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedAuthFile {
    pub importable: Vec<ImportedCredential>,
    pub not_importable: Vec<NotImportable>,
}

/// A login whose username and password are in the file. `Debug` never shows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedCredential {
    /// The `auths` key as written (`https://index.docker.io/v1/`, `quay.io/org`, …).
    pub server: String,
    pub username: String,
    pub password: Secret,
    pub email: Option<String>,
}

/// A login (or a whole store of them) that the file only points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotImportable {
    /// The `auths` or `credHelpers` key; `None` for the `credsStore` record itself.
    pub server: Option<String>,
    pub reason: NotImportableReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotImportableReason {
    /// `identitytoken`: an OAuth refresh token for the Docker client, not a password.
    IdentityToken,
    /// `registrytoken`: a bearer token for the registry, not a password.
    RegistryToken,
    /// `username` without `password`, `password` without `username`, or `auth` with an empty
    /// password.
    Incomplete { missing: &'static str },
    /// An empty entry and no `credsStore`: nothing to import.
    Empty,
    /// The login lives in `docker-credential-<helper>`: a `credHelpers` entry, an empty `auths`
    /// entry while `credsStore` is set, or (`server: None`) the `credsStore` itself.
    CredentialHelper { helper: String },
}

impl fmt::Display for NotImportableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotImportableReason::IdentityToken => f.write_str(
                "the entry holds an identity token, which only the Docker client can use; log in again with a username and password or access token",
            ),
            NotImportableReason::RegistryToken => f.write_str(
                "the entry holds a registry bearer token, not a username and password; log in again with a username and password or access token",
            ),
            NotImportableReason::Incomplete { missing } => {
                write!(f, "the entry has no {missing}")
            }
            NotImportableReason::Empty => f.write_str("the entry holds no credentials"),
            NotImportableReason::CredentialHelper { helper } => write!(
                f,
                "kept by docker-credential-{helper}; run `docker-credential-{helper} get` with the server address on stdin to read it, or log in again with a file store"
            ),
        }
    }
}

/// Why an auth file could not be read. Values from the file are never included, only keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFileError {
    #[error("not valid JSON: {message}")]
    InvalidJson { message: String },
    #[error("`{path}` must be {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    #[error("`auths.{server}.auth` is not valid base64: {message}")]
    BadBase64 { server: String, message: String },
    #[error("`auths.{server}.auth` does not decode to `username:password` (no `:`)")]
    MissingColon { server: String },
    #[error("`auths.{server}.auth` decodes to an empty username")]
    EmptyUsername { server: String },
    #[error("`auths.{server}.auth` does not decode to UTF-8 text")]
    NotUtf8 { server: String },
}

/// Reads a Docker `config.json` or containers `auth.json`.
pub fn parse_auth_file(text: &str) -> Result<ParsedAuthFile, AuthFileError> {
    let root: Json = serde_json::from_str(text).map_err(|e| AuthFileError::InvalidJson {
        message: e.to_string(),
    })?;
    let root = as_object(&root, "")?;
    let creds_store = string_field(root, "credsStore", "credsStore")?.filter(|s| !s.is_empty());
    let mut parsed = ParsedAuthFile::default();

    let auths = match field(root, "auths") {
        Some(value) => as_object(value, "auths")?.iter().collect(),
        None => BTreeMap::new(),
    };
    for (server, entry) in auths {
        let path = format!("auths.{server}");
        let entry = as_object(entry, &path)?;
        match read_entry(server, entry, &path, creds_store)? {
            Ok(credential) => parsed.importable.push(credential),
            Err(reason) => parsed.not_importable.push(NotImportable {
                server: Some(server.clone()),
                reason,
            }),
        }
    }

    if let Some(helpers) = field(root, "credHelpers") {
        let helpers: BTreeMap<_, _> = as_object(helpers, "credHelpers")?.iter().collect();
        for (server, helper) in helpers {
            let helper = match helper {
                Json::String(h) => h.clone(),
                _ => {
                    return Err(AuthFileError::WrongType {
                        path: format!("credHelpers.{server}"),
                        expected: "a string",
                    })
                }
            };
            parsed.not_importable.push(NotImportable {
                server: Some(server.clone()),
                reason: NotImportableReason::CredentialHelper { helper },
            });
        }
    }
    if let Some(helper) = creds_store {
        parsed.not_importable.push(NotImportable {
            server: None,
            reason: NotImportableReason::CredentialHelper {
                helper: helper.to_owned(),
            },
        });
    }
    Ok(parsed)
}

fn read_entry(
    server: &str,
    entry: &Map<String, Json>,
    path: &str,
    creds_store: Option<&str>,
) -> Result<Result<ImportedCredential, NotImportableReason>, AuthFileError> {
    let get = |name: &str| {
        string_field(entry, name, &format!("{path}.{name}")).map(|v| v.filter(|s| !s.is_empty()))
    };
    let (auth, username, password) = (get("auth")?, get("username")?, get("password")?);
    let (email, identity_token, registry_token) =
        (get("email")?, get("identitytoken")?, get("registrytoken")?);
    if identity_token.is_some() {
        return Ok(Err(NotImportableReason::IdentityToken));
    }
    let (username, password) = match (auth, username, password) {
        (Some(auth), _, _) => {
            let (user, pass) = decode_auth(server, auth)?;
            (Some(user), Some(pass).filter(|p| !p.is_empty()))
        }
        (None, user, pass) => (user.map(str::to_owned), pass.map(str::to_owned)),
    };
    let reason = match (username, password) {
        (Some(username), Some(password)) => {
            return Ok(Ok(ImportedCredential {
                server: server.to_owned(),
                username,
                password: Secret::new(password),
                email: email.map(str::to_owned),
            }))
        }
        _ if registry_token.is_some() => NotImportableReason::RegistryToken,
        (Some(_), None) => NotImportableReason::Incomplete {
            missing: "password",
        },
        (None, Some(_)) => NotImportableReason::Incomplete {
            missing: "username",
        },
        (None, None) => match creds_store {
            Some(helper) => NotImportableReason::CredentialHelper {
                helper: helper.to_owned(),
            },
            None => NotImportableReason::Empty,
        },
    };
    Ok(Err(reason))
}

/// The kubelet's reading of `auth`: base64 with or without padding (Go's decoder also skips line
/// breaks), split at the first `:`.
fn decode_auth(server: &str, auth: &str) -> Result<(String, String), AuthFileError> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let cleaned: String = auth.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let decoded = engine
        .decode(cleaned)
        .map_err(|e| AuthFileError::BadBase64 {
            server: server.to_owned(),
            message: e.to_string(),
        })?;
    let decoded = String::from_utf8(decoded).map_err(|_| AuthFileError::NotUtf8 {
        server: server.to_owned(),
    })?;
    let Some((user, pass)) = decoded.split_once(':') else {
        return Err(AuthFileError::MissingColon {
            server: server.to_owned(),
        });
    };
    if user.is_empty() {
        return Err(AuthFileError::EmptyUsername {
            server: server.to_owned(),
        });
    }
    Ok((user.to_owned(), pass.to_owned()))
}

/// A member, matched as Go's `encoding/json` matches struct fields: exactly, or else
/// case-insensitively. JSON `null` counts as absent.
fn field<'j>(object: &'j Map<String, Json>, name: &str) -> Option<&'j Json> {
    object
        .get(name)
        .or_else(|| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn string_field<'j>(
    object: &'j Map<String, Json>,
    name: &str,
    path: &str,
) -> Result<Option<&'j str>, AuthFileError> {
    match field(object, name) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthFileError::WrongType {
            path: path.to_owned(),
            expected: "a string",
        }),
    }
}

fn as_object<'j>(value: &'j Json, path: &str) -> Result<&'j Map<String, Json>, AuthFileError> {
    value.as_object().ok_or_else(|| AuthFileError::WrongType {
        path: if path.is_empty() {
            "the file".to_owned()
        } else {
            path.to_owned()
        },
        expected: "an object",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "hunter2-canary";

    fn raw_entry(login: &DockerAuth<'_>) -> Box<RawValue> {
        RawValue::from_string(entry(login).to_string()).unwrap()
    }

    #[test]
    fn docker_login_shape() {
        // What `docker login` (docker CLI 28.2, client-side login against a local registry)
        // wrote for these two logins.
        let entries = [
            DockerAuth::new("localhost:45123", "u", "p&<>:x"),
            DockerAuth::new("127.0.0.1:45123", "us<er", "pw"),
        ];
        let expected = "{\n\t\"auths\": {\n\t\t\"127.0.0.1:45123\": {\n\t\t\t\"auth\": \"dXM8ZXI6cHc=\"\n\t\t},\n\t\t\"localhost:45123\": {\n\t\t\t\"auth\": \"dTpwJjw+Ong=\"\n\t\t}\n\t}\n}";
        assert_eq!(docker_config_json(&entries).unwrap(), expected);
        assert_eq!(containers_auth_json(&entries).unwrap(), expected);
    }

    /// `update` as it was written first: the whole file as a `Value`. The streaming one must
    /// write the same bytes.
    fn update_by_value(text: &str, set: &[(String, Json)], remove: &[String]) -> Option<String> {
        let mut root: Json = if text.trim().is_empty() {
            Json::Object(Map::new())
        } else {
            serde_json::from_str(text).ok()?
        };
        let auths = root
            .as_object_mut()?
            .entry("auths")
            .or_insert_with(|| Json::Object(Map::new()))
            .as_object_mut()?;
        for key in remove {
            auths.remove(key);
        }
        for (key, value) in set {
            auths.insert(key.clone(), value.clone());
        }
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        serde::Serialize::serialize(&root, &mut serializer).ok()?;
        String::from_utf8(out).ok()
    }

    #[test]
    fn update_writes_what_a_value_of_the_file_writes() {
        let files = [
            "",
            " \n",
            "{}",
            r#"{"auths":{}}"#,
            r#"  {"auths" : { "a.example.com" : {"auth":"eDp5"} } }  "#,
            r#"{"zeta":1,"auths":{"b":{"auth":"eDp5","x":[1,2.5,-3e2,null,true]}},"alpha":{"n":{}}}"#,
            r#"{"aaa":[],"auths":{"k":{"auth":"1"},"k":{"auth":"2"}},"auths2":"\u00e9\n"}"#,
            r#"{"credsStore":"desktop","psFormat":"table {{.ID}}"}"#,
            r#"{"Auths":{"x":{}},"auths":{"y":{"identitytoken":"t\"q"}},"b":"é"}"#,
            "[1]",
            "null",
            r#"{"auths":[]}"#,
            r#"{"auths":null}"#,
            r#"{"auths":{"a":1}"#,
        ];
        let set = [
            ("b".to_owned(), serde_json::json!({"auth": "bmV3"})),
            (
                "new.example.com".to_owned(),
                serde_json::json!({"auth": "cDpx", "email": "é"}),
            ),
        ];
        let raw: Vec<(String, Box<RawValue>)> = set
            .iter()
            .map(|(k, v)| (k.clone(), RawValue::from_string(v.to_string()).unwrap()))
            .collect();
        for text in files {
            for (set, raw) in [(&set[..], &raw[..]), (&[][..], &[][..])] {
                for remove in [vec![], vec!["k".to_owned(), "a.example.com".to_owned()]] {
                    let expected = update_by_value(text, set, &remove);
                    let got = update(text, raw, &remove).ok();
                    assert_eq!(got, expected, "{text:?} {remove:?}");
                }
            }
        }
    }

    #[test]
    fn update_sets_and_removes_one_entry_leaving_the_rest() {
        let before = r#"{"auths":{"other.example.com":{"auth":"b3RoZXI6cHc="},"old.example.com":{"auth":"eDp5"}},"credHelpers":{"x.example.com":"foo"},"psFormat":"table"}"#;
        let login = DockerAuth::new("ghcr.io", "u", "p&<>:x");
        let after = update(
            before,
            &[("ghcr.io".into(), raw_entry(&login))],
            &["old.example.com".into()],
        )
        .unwrap();
        let parsed: Json = serde_json::from_str(&after).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "auths": {
                    "other.example.com": {"auth": "b3RoZXI6cHc="},
                    "ghcr.io": {"auth": "dTpwJjw+Ong="},
                },
                "credHelpers": {"x.example.com": "foo"},
                "psFormat": "table",
            })
        );
        assert!(
            after.contains("\n\t\"auths\""),
            "tab-indented like docker login: {after}"
        );
        assert_eq!(entries(&after, |_| ()).unwrap().len(), 2);
        // A new file, and files that are not auth files.
        assert!(update("", &[("ghcr.io".into(), raw_entry(&login))], &[]).is_ok());
        assert!(matches!(
            update("[1]", &[], &[]),
            Err(AuthFileError::WrongType { .. })
        ));
        assert!(matches!(
            update(r#"{"auths":[]}"#, &[], &[]),
            Err(AuthFileError::WrongType { .. })
        ));
        assert!(matches!(
            entries("{", |_| ()),
            Err(AuthFileError::InvalidJson { .. })
        ));
    }

    /// `entries` finds `auths` as Docker does and reads every value type a file may hold.
    #[test]
    fn entries_of_files() {
        let keys = |text: &str| -> Result<Vec<String>, AuthFileError> {
            Ok(
                entries(text, |e| e["auth"].as_str().unwrap_or("").to_owned())?
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            )
        };
        let file = r#"{"credsStore": "desktop", "proxies": {"a": [1, 2.5, true, null, "x"]},
                       "auths": {"b.io": {"auth": "Yjpw", "email": "e"}, "a.io": {}}}"#;
        assert_eq!(keys(file).unwrap(), ["a.io=", "b.io=Yjpw"]);
        // The exact name wins over other spellings, whatever their order; else the first
        // spelling in key order; the last of repeated keys counts.
        let spelled = r#"{"Auths": {"x": {"auth": "1"}}, "auths": {"y": {"auth": "2"}}}"#;
        assert_eq!(keys(spelled).unwrap(), ["y=2"]);
        let folded = r#"{"aUTHS": {"z": {"auth": "3"}}, "AUTHS": {"x": {"auth": "1"}}}"#;
        assert_eq!(keys(folded).unwrap(), ["x=1"]);
        let repeated = r#"{"auths": {"x": {"auth": "1"}}, "auths": {"x": {"auth": "2"}}}"#;
        assert_eq!(keys(repeated).unwrap(), ["x=2"]);
        // Nothing to read: an empty file, no `auths`, a null one.
        for empty in [
            "",
            " \n",
            "{}",
            r#"{"auths": null}"#,
            r#"{"auths": null, "Auths": {"x": {}}}"#,
        ] {
            assert_eq!(keys(empty).unwrap(), Vec::<String>::new(), "{empty}");
        }
        for (text, path) in [
            ("[1]", "the file"),
            ("3", "the file"),
            (r#"{"auths": []}"#, "auths"),
            (r#"{"auths": "x"}"#, "auths"),
            (r#"{"AUTHS": 1}"#, "auths"),
        ] {
            assert!(
                matches!(keys(text), Err(AuthFileError::WrongType { path: p, .. }) if p == path),
                "{text}"
            );
        }
        for broken in ["{", r#"{"auths": {"x": }}"#, "{} {}"] {
            assert!(
                matches!(keys(broken), Err(AuthFileError::InvalidJson { .. })),
                "{broken}"
            );
        }
    }

    #[test]
    fn rendered_files() {
        let entries = [
            DockerAuth::new("quay.io/org", "org+robot", PASSWORD).with_email("e@x"),
            DockerAuth::new("https://index.docker.io/v1/", "u", PASSWORD),
            DockerAuth::new("empty.example", "", ""),
        ];
        insta::assert_snapshot!("docker_config_json", docker_config_json(&entries).unwrap());
        insta::assert_snapshot!(
            "containers_auth_json",
            containers_auth_json(&entries).unwrap()
        );
        assert_eq!(docker_config_json(&[]).unwrap(), "{\n\t\"auths\": {}\n}");
        let dup = [
            DockerAuth::new("a", "u", "p"),
            DockerAuth::new("a", "v", "q"),
        ];
        assert_eq!(
            containers_auth_json(&dup),
            Err(RenderError::DuplicateServer { server: "a".into() })
        );
    }

    /// One line per login: `key: user / password` for importable ones, `key: !reason` for the
    /// rest (`*` for the credsStore record).
    fn summary(parsed: &ParsedAuthFile) -> String {
        let mut lines: Vec<String> = parsed
            .importable
            .iter()
            .map(|c| {
                let email = c
                    .email
                    .as_deref()
                    .map(|e| format!(" <{e}>"))
                    .unwrap_or_default();
                format!(
                    "{}: {} / {}{email}",
                    c.server,
                    c.username,
                    c.password.expose()
                )
            })
            .collect();
        lines.extend(
            parsed
                .not_importable
                .iter()
                .map(|n| format!("{}: !{}", n.server.as_deref().unwrap_or("*"), n.reason)),
        );
        lines.join("\n")
    }

    fn check(input: &str, expected: &str) {
        match parse_auth_file(input) {
            Ok(parsed) => assert_eq!(summary(&parsed), expected, "input {input}"),
            Err(e) => assert_eq!(format!("error: {e}"), expected, "input {input}"),
        }
    }

    #[test]
    fn parses_what_the_tools_write() {
        let cases: &[(&str, &str)] = &[
            // docker login
            (
                r#"{"auths":{"localhost:45123":{"auth":"dTpwJjw+Ong="}}}"#,
                "localhost:45123: u / p&<>:x",
            ),
            // unpadded, line-wrapped and padded forms; split at the first colon
            (
                r#"{"auths":{"a":{"auth":"dTpwJjw+Ong"},"b":{"auth":"dTpw\nJjw+Ong="}}}"#,
                "a: u / p&<>:x\nb: u / p&<>:x",
            ),
            // auth wins over username/password; email is kept
            (
                r#"{"auths":{"ghcr.io":{"auth":"dTpw","username":"other","password":"x","email":"e@x"}}}"#,
                "ghcr.io: u / p <e@x>",
            ),
            // username/password without auth (kubectl's .dockerconfigjson has both)
            (
                r#"{"auths":{"quay.io/org":{"username":"org+robot","password":"tok"}}}"#,
                "quay.io/org: org+robot / tok",
            ),
            // Docker Desktop: logins in the credential store, empty entries in the file
            (
                r#"{"auths":{"https://index.docker.io/v1/":{}},"credsStore":"desktop","currentContext":"default"}"#,
                "https://index.docker.io/v1/: !kept by docker-credential-desktop; run `docker-credential-desktop get` with the server address on stdin to read it, or log in again with a file store\n*: !kept by docker-credential-desktop; run `docker-credential-desktop get` with the server address on stdin to read it, or log in again with a file store",
            ),
            // credHelpers, and an auths entry with nothing in it
            (
                r#"{"auths":{"x.io":{}},"credHelpers":{"gcr.io":"gcloud","123.dkr.ecr.us-east-1.amazonaws.com":"ecr-login"}}"#,
                "x.io: !the entry holds no credentials\n123.dkr.ecr.us-east-1.amazonaws.com: !kept by docker-credential-ecr-login; run `docker-credential-ecr-login get` with the server address on stdin to read it, or log in again with a file store\ngcr.io: !kept by docker-credential-gcloud; run `docker-credential-gcloud get` with the server address on stdin to read it, or log in again with a file store",
            ),
            // identity and registry tokens
            (
                r#"{"auths":{"a.io":{"auth":"dTo=","identitytoken":"tok"},"b.io":{"registrytoken":"tok"}}}"#,
                "a.io: !the entry holds an identity token, which only the Docker client can use; log in again with a username and password or access token\nb.io: !the entry holds a registry bearer token, not a username and password; log in again with a username and password or access token",
            ),
            // incomplete entries
            (
                r#"{"auths":{"a.io":{"username":"u"},"b.io":{"password":"p"},"c.io":{"auth":"dTo="}}}"#,
                "a.io: !the entry has no password\nb.io: !the entry has no username\nc.io: !the entry has no password",
            ),
            // no auths at all, nulls, unknown fields, Go's case-insensitive field names
            (r#"{"psFormat":"table","proxies":{}}"#, ""),
            (r#"{"auths":null,"credHelpers":null}"#, ""),
            (r#"{"Auths":{"a.io":{"Auth":"dTpw","password":null}}}"#, "a.io: u / p"),
            // errors
            ("{", "error: not valid JSON: EOF while parsing an object at line 1 column 1"),
            ("[]", "error: `the file` must be an object"),
            (r#"{"auths":[]}"#, "error: `auths` must be an object"),
            (r#"{"auths":{"a.io":{"auth":5}}}"#, "error: `auths.a.io.auth` must be a string"),
            (r#"{"credHelpers":{"a.io":1}}"#, "error: `credHelpers.a.io` must be a string"),
            (
                r#"{"auths":{"a.io":{"auth":"!!!"}}}"#,
                "error: `auths.a.io.auth` is not valid base64: Invalid symbol 33, offset 0.",
            ),
            (
                r#"{"auths":{"a.io":{"auth":"dXNlcg=="}}}"#,
                "error: `auths.a.io.auth` does not decode to `username:password` (no `:`)",
            ),
            (r#"{"auths":{"a.io":{"auth":"OnA="}}}"#, "error: `auths.a.io.auth` decodes to an empty username"),
            (r#"{"auths":{"a.io":{"auth":"/w=="}}}"#, "error: `auths.a.io.auth` does not decode to UTF-8 text"),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn errors_never_contain_file_values() {
        let err =
            parse_auth_file(r#"{"auths":{"a.io":{"auth":"aHVudGVyMi1jYW5hcnk="}}}"#).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let parsed =
            parse_auth_file(r#"{"auths":{"a.io":{"username":"u","password":"hunter2-canary"}}}"#)
                .unwrap();
        let shown = format!("{parsed:?}");
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains("a.io"), "{shown}");
    }

    #[test]
    fn rendered_files_read_back() {
        let entries = [
            DockerAuth::new("quay.io/org", "org+robot", "a:b:c"),
            DockerAuth::new("ghcr.io", "me", "p\u{2028}&<>"),
        ];
        for text in [
            docker_config_json(&entries).unwrap(),
            containers_auth_json(&entries).unwrap(),
        ] {
            check(
                &text,
                "ghcr.io: me / p\u{2028}&<>\nquay.io/org: org+robot / a:b:c",
            );
        }
    }
}
