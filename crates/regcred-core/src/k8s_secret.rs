//! `.dockerconfigjson` and the `kubernetes.io/dockerconfigjson` Secret around it, byte for byte as
//! `kubectl create secret docker-registry NAME --docker-server S --docker-username U
//! --docker-password P [--docker-email E] [-n NS] --dry-run=client -o json|yaml` prints them
//! (kubectl 1.32, which still prints `creationTimestamp: null`). The inner document is compact Go
//! JSON with entry fields `username, password, email, auth` (`email` left out when empty, `auth` the
//! padded base64 of `user:pass`) and server keys sorted as Go sorts map keys; several entries merge
//! into one document, and a server given twice is an error rather than a silent "last one wins",
//! because dropping credentials should be a decision of the caller. `-o json` is Go's
//! `MarshalIndent` with four spaces; `-o yaml` is what sigs.k8s.io/yaml produces: the JSON is
//! re-read by go-yaml v2 and emitted with sorted keys, which decides how names and namespaces are
//! quoted (`"true"`, `"0x1f"`, `'a: b'`, …) and folded at 80 columns — [`crate::go_yaml`] reproduces that.
//! [`DockerAuth::from_kubectl_flags`] mirrors kubectl's flag defaults and its validation message.
//! A `.dockerconfigjson` written elsewhere ([`DockerConfigJson`], kubectl's
//! `--from-file=.dockerconfigjson=FILE`) is checked and then carried byte for byte.

use crate::auth_file::{parse_auth_file, AuthFileError, NotImportable};
use crate::go_yaml;
use std::fmt;

use base64::Engine as _;

use crate::go_json::Value;

/// The server key kubectl uses when `--docker-server` is not given.
pub const DEFAULT_DOCKER_SERVER: &str = "https://index.docker.io/v1/";

/// The Secret type of a rendered pull secret.
pub const SECRET_TYPE: &str = "kubernetes.io/dockerconfigjson";

/// The data key of a rendered pull secret.
pub const DATA_KEY: &str = ".dockerconfigjson";

/// One registry login: an entry of `auths` in a `.dockerconfigjson`, Docker `config.json` or
/// containers `auth.json`. `Debug` never shows the password.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DockerAuth<'a> {
    /// The `auths` key, exactly as given (`https://index.docker.io/v1/`, `ghcr.io`,
    /// `quay.io/org`, …); kubectl does not normalize it and neither does this.
    pub server: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    /// Deprecated by Docker, still carried by kubectl; `None` and `Some("")` are both left out.
    pub email: Option<&'a str>,
}

impl<'a> DockerAuth<'a> {
    pub fn new(server: &'a str, username: &'a str, password: &'a str) -> Self {
        DockerAuth {
            server,
            username,
            password,
            email: None,
        }
    }

    pub fn with_email(self, email: &'a str) -> Self {
        DockerAuth {
            email: Some(email),
            ..self
        }
    }

    /// What kubectl makes of its flags: a missing `--docker-server` means Docker Hub's
    /// [`DEFAULT_DOCKER_SERVER`]; a missing or empty username or password, or an explicitly empty
    /// server, is kubectl's error; an empty email is no email.
    pub fn from_kubectl_flags(
        server: Option<&'a str>,
        username: Option<&'a str>,
        password: Option<&'a str>,
        email: Option<&'a str>,
    ) -> Result<Self, KubectlInputError> {
        validate_kubectl_inputs(server, username, password)?;
        Ok(DockerAuth {
            server: server.unwrap_or(DEFAULT_DOCKER_SERVER),
            username: username.unwrap_or_default(),
            password: password.unwrap_or_default(),
            email: email.filter(|e| !e.is_empty()),
        })
    }

    /// The `auth` field: standard base64, with padding, of `username:password`.
    /// This is secret material.
    pub fn auth_field(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }

    fn email(&self) -> Option<&'a str> {
        self.email.filter(|e| !e.is_empty())
    }
}

impl fmt::Debug for DockerAuth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerAuth")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("email", &self.email)
            .finish()
    }
}

/// kubectl's check of `create secret docker-registry` flags (without `--from-file`): username and
/// password must be non-empty, and the server, when given, must be non-empty.
pub fn validate_kubectl_inputs(
    server: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
) -> Result<(), KubectlInputError> {
    let mut missing = Vec::new();
    if username.is_none_or(str::is_empty) {
        missing.push("--docker-username");
    }
    if password.is_none_or(str::is_empty) {
        missing.push("--docker-password");
    }
    if server == Some("") {
        missing.push("--docker-server");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(KubectlInputError::MissingDockerCredentials { missing })
    }
}

/// kubectl's refusal of incomplete `--docker-*` flags; the message is kubectl's, word for word
/// (kubectl prints it after `error: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubectlInputError {
    #[error("either --from-file or the combination of --docker-username, --docker-password and --docker-server is required")]
    MissingDockerCredentials {
        /// The flags that were missing or empty.
        missing: Vec<&'static str>,
    },
}

/// Why a document could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("a server is given more than once; a credentials file holds one entry per server")]
    DuplicateServer { server: String },
    /// kubectl fails the same way (`yaml: control characters are not allowed`): its YAML printer
    /// re-reads its own JSON, in which these characters are not escaped.
    #[error("{field} cannot be printed as YAML: it contains the control character U+{code:04X}, which kubectl rejects too")]
    YamlControlCharacter {
        field: &'static str,
        value: String,
        character: char,
        code: u32,
    },
    /// kubectl fails the same way (`yaml: found unexpected document indicator`).
    #[error("{field} cannot be printed as YAML: a NEL line break followed by `---` or `...` reads as a document marker, and kubectl fails on it too")]
    YamlDocumentIndicator { field: &'static str, value: String },
}

/// `kubectl … -o json` or `-o yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Yaml,
}

/// The compact `.dockerconfigjson` document: `{"auths":{KEY:{"username":…,"password":…,
/// "email":…,"auth":…}}}`, keys sorted as Go sorts map keys.
pub fn dockerconfigjson(entries: &[DockerAuth<'_>]) -> Result<String, RenderError> {
    check_unique_servers(entries)?;
    let auth_fields: Vec<String> = entries.iter().map(DockerAuth::auth_field).collect();
    let members = entries
        .iter()
        .zip(&auth_fields)
        .map(|(entry, auth)| {
            let mut fields = vec![
                ("username", Value::Str(entry.username)),
                ("password", Value::Str(entry.password)),
            ];
            if let Some(email) = entry.email() {
                fields.push(("email", Value::Str(email)));
            }
            fields.push(("auth", Value::Str(auth)));
            (entry.server, Value::Object(fields))
        })
        .collect();
    Ok(Value::Object(vec![("auths", Value::map(members))]).to_compact())
}

/// The Secret as `kubectl create secret docker-registry … --dry-run=client -o json|yaml` prints
/// it, trailing newline included. `namespace` `None` or `Some("")` leaves it out, as `-n ''` does.
pub fn secret(
    name: &str,
    namespace: Option<&str>,
    entries: &[DockerAuth<'_>],
    format: OutputFormat,
) -> Result<String, RenderError> {
    secret_of_document(
        name,
        namespace,
        dockerconfigjson(entries)?.as_bytes(),
        format,
    )
}

/// The Secret around a `.dockerconfigjson` given whole, as `kubectl create secret generic NAME
/// --from-file=.dockerconfigjson=FILE --type=kubernetes.io/dockerconfigjson --dry-run=client -o
/// json|yaml` prints it (and `kubectl create secret docker-registry NAME
/// --from-file=.dockerconfigjson=FILE`, which prints the same): the file's bytes as they are,
/// base64-encoded. Without `--type`, kubectl leaves `type` out, which makes an Opaque Secret the
/// kubelet never uses for pulling; this always writes it.
pub fn secret_from_file(
    name: &str,
    namespace: Option<&str>,
    document: &DockerConfigJson<'_>,
    format: OutputFormat,
) -> Result<String, RenderError> {
    secret_of_document(name, namespace, document.text.as_bytes(), format)
}

fn secret_of_document(
    name: &str,
    namespace: Option<&str>,
    document: &[u8],
    format: OutputFormat,
) -> Result<String, RenderError> {
    let data = base64::engine::general_purpose::STANDARD.encode(document);
    let namespace = namespace.filter(|ns| !ns.is_empty());
    match format {
        OutputFormat::Json => Ok(secret_json(name, namespace, &data)),
        OutputFormat::Yaml => secret_yaml(name, namespace, &data),
    }
}

/// A `.dockerconfigjson` document written by someone else (`docker login`, another tool), checked
/// to be one the kubelet can pull with and otherwise kept byte for byte. `Debug` never shows it.
pub struct DockerConfigJson<'a> {
    text: &'a str,
    unusable: Vec<NotImportable>,
}

impl<'a> DockerConfigJson<'a> {
    /// Reads `text` as the kubelet would: a JSON object whose `auths` object has at least one
    /// entry with a username and password (`auth`, or `username` and `password`). Entries without
    /// usable credentials (identity tokens, logins kept by a credential helper) stay in the
    /// document and are listed by [`unusable`](Self::unusable). Errors name keys, never values.
    pub fn parse(text: &'a str) -> Result<Self, DockerConfigJsonError> {
        let root: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            DockerConfigJsonError::File(AuthFileError::InvalidJson {
                message: e.to_string(),
            })
        })?;
        if !root.get("auths").is_some_and(serde_json::Value::is_object) {
            return Err(DockerConfigJsonError::NoAuths);
        }
        let parsed = parse_auth_file(text).map_err(|e| match e {
            // The decoder's message names the offending byte of the secret.
            AuthFileError::BadBase64 { server, .. } => {
                DockerConfigJsonError::File(AuthFileError::BadBase64 {
                    server,
                    message: "invalid character or length".to_owned(),
                })
            }
            other => DockerConfigJsonError::File(other),
        })?;
        if parsed.importable.is_empty() {
            return Err(DockerConfigJsonError::NoCredentials);
        }
        let unusable = parsed
            .not_importable
            .into_iter()
            .filter(|n| n.server.is_some())
            .collect();
        Ok(DockerConfigJson { text, unusable })
    }

    /// The `auths` and `credHelpers` entries the kubelet cannot pull with, with the reason.
    pub fn unusable(&self) -> &[NotImportable] {
        &self.unusable
    }
}

impl fmt::Debug for DockerConfigJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfigJson")
            .field("text", &"<redacted>")
            .field("unusable", &self.unusable)
            .finish()
    }
}

/// Why a file is not a `.dockerconfigjson` the kubelet can pull with. The file holds secrets, so
/// messages name keys and positions, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerConfigJsonError {
    #[error("{0}")]
    File(AuthFileError),
    #[error("there is no `auths` object; a .dockerconfigjson is {{\"auths\":{{\"SERVER\":{{\"auth\":\"…\"}}}}}}")]
    NoAuths,
    #[error("no entry of `auths` holds a username and password the kubelet could pull with")]
    NoCredentials,
}

/// One entry per server: Go maps cannot hold two, and a silent "last one wins" would drop a login.
pub(crate) fn check_unique_servers(entries: &[DockerAuth<'_>]) -> Result<(), RenderError> {
    let mut servers: Vec<&str> = entries.iter().map(|e| e.server).collect();
    servers.sort_unstable();
    match servers.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(RenderError::DuplicateServer {
            server: w[0].to_owned(),
        }),
        None => Ok(()),
    }
}

fn secret_json(name: &str, namespace: Option<&str>, data: &str) -> String {
    // Field order is that of the Go structs (TypeMeta, then ObjectMeta's name, namespace,
    // creationTimestamp); empty name and namespace are `omitempty`.
    let mut metadata = Vec::new();
    if !name.is_empty() {
        metadata.push(("name", Value::Str(name)));
    }
    if let Some(ns) = namespace {
        metadata.push(("namespace", Value::Str(ns)));
    }
    metadata.push(("creationTimestamp", Value::Null));
    let secret = Value::Object(vec![
        ("kind", Value::Str("Secret")),
        ("apiVersion", Value::Str("v1")),
        ("metadata", Value::Object(metadata)),
        ("data", Value::Object(vec![(DATA_KEY, Value::Str(data))])),
        ("type", Value::Str(SECRET_TYPE)),
    ]);
    let mut out = secret.to_indented("    ");
    out.push('\n');
    out
}

fn secret_yaml(name: &str, namespace: Option<&str>, data: &str) -> Result<String, RenderError> {
    let name = go_yaml::json_round_trip("name", name)?;
    let namespace = namespace
        .map(|ns| go_yaml::json_round_trip("namespace", ns))
        .transpose()?;
    // go-yaml sorts map keys; these are the Secret's keys in that order.
    let mut e = go_yaml::Emitter::new();
    e.key("apiVersion", 0);
    e.string_value("v1", 0);
    e.key("data", 0);
    e.key(DATA_KEY, 2);
    e.string_value(data, 2);
    e.key("kind", 0);
    e.string_value("Secret", 0);
    e.key("metadata", 0);
    e.key("creationTimestamp", 2);
    e.null_value(2);
    if !name.is_empty() {
        e.key("name", 2);
        e.string_value(&name, 2);
    }
    if let Some(ns) = &namespace {
        e.key("namespace", 2);
        e.string_value(ns, 2);
    }
    e.key("type", 0);
    e.string_value(SECRET_TYPE, 0);
    Ok(e.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "hunter2-canary";

    fn entry(server: &'static str) -> DockerAuth<'static> {
        DockerAuth::new(server, "u", PASSWORD)
    }

    /// How `value` is written as `metadata.namespace` in `-o yaml`: the text after `namespace:`
    /// up to the `type:` line.
    fn check_yaml_value(value: &str, expected: &str) {
        let yaml = secret("x", Some(value), &[entry("s")], OutputFormat::Yaml)
            .unwrap_or_else(|e| panic!("{value:?}: {e}"));
        let start = yaml.find("  namespace:").map(|i| i + "  namespace:".len());
        let end = yaml.find("\ntype:");
        let shown = match (start, end) {
            (Some(s), Some(e)) => &yaml[s..e],
            _ => panic!("no namespace in {yaml}"),
        };
        assert_eq!(shown, expected, "value {value:?}");
    }

    #[test]
    fn yaml_quoting_matches_kubectl() {
        // Each expectation is what kubectl 1.32 printed for `-n VALUE … -o yaml` on this machine
        // (see the report of the change that added this module).
        let words = "word ".repeat(30);
        let cases: &[(&str, &str)] = &[
            ("plain-name", " plain-name"),
            ("true", r#" "true""#),
            ("True", r#" "True""#),
            ("TRUE", r#" "TRUE""#),
            ("yes", r#" "yes""#),
            ("Yes", r#" "Yes""#),
            ("y", r#" "y""#),
            ("Y", r#" "Y""#),
            ("n", r#" "n""#),
            ("no", r#" "no""#),
            ("off", r#" "off""#),
            ("on", r#" "on""#),
            ("On", r#" "On""#),
            ("null", r#" "null""#),
            ("Null", r#" "Null""#),
            ("NULL", r#" "NULL""#),
            ("~", r#" "~""#),
            ("123", r#" "123""#),
            ("1e3", r#" "1e3""#),
            ("0x1f", r#" "0x1f""#),
            ("0o7", r#" "0o7""#),
            (".5", r#" ".5""#),
            ("1_000", r#" "1_000""#),
            ("-1", r#" "-1""#),
            ("+1", r#" "+1""#),
            ("08", r#" "08""#),
            ("0", r#" "0""#),
            ("0x", " 0x"),
            ("1e400", " 1e400"),
            ("1e-400", r#" "1e-400""#),
            ("2024-02-29", r#" "2024-02-29""#),
            ("2023-02-29", " 2023-02-29"),
            ("2001-12-14", r#" "2001-12-14""#),
            ("2001-1-1", r#" "2001-1-1""#),
            ("20011-12-14", " 20011-12-14"),
            ("1:20", r#" "1:20""#),
            ("12:30:45", r#" "12:30:45""#),
            ("<<", " <<"),
            ("-", " '-'"),
            ("---", " '---'"),
            ("-x", " -x"),
            ("a: b", " 'a: b'"),
            ("a #b", " 'a #b'"),
            ("a#b", " a#b"),
            ("#a", " '#a'"),
            ("@a", " '@a'"),
            ("it's", " it's"),
            ("a\"b", " a\"b"),
            (" a", " ' a'"),
            ("a ", " 'a '"),
            ("é", " é"),
            ("\u{a0}a", " \u{a0}a"),
            ("😀", r#" "\U0001F600""#),
            ("a\tb", r#" "a\tb""#),
            ("a\rb", r#" "a\rb""#),
            (".inf", r#" ".inf""#),
            (".nan", r#" ".nan""#),
            (".e5", " .e5"),
            (".5e999", " .5e999"),
            (".5_5", r#" ".5_5""#),
            ("nan", " nan"),
            ("inf", " inf"),
            ("0b101", r#" "0b101""#),
            ("-0b101", r#" "-0b101""#),
            ("0B1", r#" "0B1""#),
            ("99999999999999999999", r#" "99999999999999999999""#),
            ("0xffffffffffffffffffff", " 0xffffffffffffffffffff"),
            ("-99999999999999999999", r#" "-99999999999999999999""#),
            ("+.inf", r#" "+.inf""#),
            ("1.", r#" "1.""#),
            ("1.5e+3", r#" "1.5e+3""#),
            ("a,b", " a,b"),
            ("[a", " '[a'"),
            ("a[", " a["),
            ("?a", " ?a"),
            ("? a", " '? a'"),
            (":a", " :a"),
            ("a:", " 'a:'"),
            ("%a", " '%a'"),
            ("!a", " '!a'"),
            ("&a", " '&a'"),
            ("*a", " '*a'"),
            ("|a", " '|a'"),
            (">a", " '>a'"),
            ("'a", " '''a'"),
            ("`a", " '`a'"),
            ("a b c", " a b c"),
            ("\u{85}", " ' '"),
            ("\u{2028}x", " '\u{2028}    x'"),
            ("a\u{2028}b", " 'a\u{2028}    b'"),
            ("a\nb", " |-\n    a\n    b"),
            ("\u{feff}a", r#" "\uFEFF\x61""#),
            (
                words.trim_end(),
                " word word word word word word word word word word word word word word\n    word word word word word word word word word word word word word word word word",
            ),
            (
                &format!("{}x", "word ".repeat(30)),
                " word word word word word word word word word word word word word word\n    word word word word word word word word word word word word word word word word\n    x",
            ),
            (
                &format!("'{}x", "word ".repeat(30)),
                " '''word word word word word word word word word word word word word word\n    word word word word word word word word word word word word word word word word\n    x'",
            ),
            (
                &format!("{}x\t", "word ".repeat(30)),
                " \"word word word word word word word word word word word word word word\n    word word word word word word word word word word word word word word word word\n    x\\t\"",
            ),
            (
                &format!("{} a", "w".repeat(90)),
                &format!(" {}\n    a", "w".repeat(90)),
            ),
        ];
        for (value, expected) in cases {
            check_yaml_value(value, expected);
        }
    }

    #[test]
    fn yaml_refuses_what_kubectl_refuses() {
        for value in ["a\u{7f}", "\u{80}", "\u{9f}", "\u{fffe}"] {
            let err = secret("x", Some(value), &[entry("s")], OutputFormat::Yaml).unwrap_err();
            assert!(matches!(
                err,
                RenderError::YamlControlCharacter {
                    field: "namespace",
                    ..
                }
            ));
        }
        let err = secret("a\u{85}--- b", None, &[entry("s")], OutputFormat::Yaml).unwrap_err();
        assert!(matches!(
            err,
            RenderError::YamlDocumentIndicator { field: "name", .. }
        ));
        // JSON has no such problem.
        assert!(secret("a\u{7f}", None, &[entry("s")], OutputFormat::Json).is_ok());
    }

    #[test]
    fn nel_is_folded_like_the_yaml_reader_does() {
        let check = |input: &str, expected: &str| {
            assert_eq!(
                go_yaml::json_round_trip("name", input).as_deref(),
                Ok(expected)
            );
        };
        check("a\u{85}b", "a b");
        check("a \u{85} b", "a b");
        check("a\u{85}\u{85}b", "a\nb");
        check("a\u{85} \u{85}b", "a\nb");
        check("\u{85}", " ");
        check("a\u{85}---", "a ---");
        check("plain", "plain");
    }

    #[test]
    fn docker_hub_secret_json_and_yaml() {
        let auth = DockerAuth::from_kubectl_flags(None, Some("u"), Some("p&<>:x"), Some("e@x"))
            .unwrap_or_else(|e| panic!("{e}"));
        let json = secret("foo", Some("ns"), &[auth], OutputFormat::Json).unwrap();
        insta::assert_snapshot!("docker_hub_secret_json", json);
        let yaml = secret("foo", Some("ns"), &[auth], OutputFormat::Yaml).unwrap();
        insta::assert_snapshot!("docker_hub_secret_yaml", yaml);
        insta::assert_snapshot!(
            "docker_hub_dockerconfigjson",
            dockerconfigjson(&[auth]).unwrap()
        );
    }

    #[test]
    fn several_servers_merge_sorted() {
        let entries = [
            entry("quay.io/org"),
            entry("https://index.docker.io/v1/").with_email(""),
            entry("ghcr.io").with_email("ops@example.com"),
        ];
        let expected = concat!(
            r#"{"auths":{"ghcr.io":{"username":"u","password":"hunter2-canary","email":"ops@example.com","auth":"dTpodW50ZXIyLWNhbmFyeQ=="},"#,
            r#""https://index.docker.io/v1/":{"username":"u","password":"hunter2-canary","auth":"dTpodW50ZXIyLWNhbmFyeQ=="},"#,
            r#""quay.io/org":{"username":"u","password":"hunter2-canary","auth":"dTpodW50ZXIyLWNhbmFyeQ=="}}}"#,
        );
        assert_eq!(dockerconfigjson(&entries).unwrap(), expected);
        assert_eq!(dockerconfigjson(&[]).unwrap(), r#"{"auths":{}}"#);
    }

    #[test]
    fn duplicate_server_is_an_error() {
        let err = dockerconfigjson(&[entry("ghcr.io"), entry("quay.io"), entry("ghcr.io")]);
        assert_eq!(
            err,
            Err(RenderError::DuplicateServer {
                server: "ghcr.io".into()
            })
        );
        // Keys are compared as Go compares map keys: byte for byte.
        assert!(dockerconfigjson(&[entry("ghcr.io"), entry("GHCR.io")]).is_ok());
    }

    #[test]
    fn kubectl_flag_validation() {
        let check = |server, username, password, expected: Result<&str, &[&str]>| {
            let got = DockerAuth::from_kubectl_flags(server, username, password, None);
            match (got, expected) {
                (Ok(auth), Ok(server)) => assert_eq!(auth.server, server),
                (Err(KubectlInputError::MissingDockerCredentials { missing }), Err(flags)) => {
                    assert_eq!(missing, flags);
                }
                (got, expected) => panic!("{got:?} vs {expected:?}"),
            }
        };
        check(None, Some("u"), Some("p"), Ok(DEFAULT_DOCKER_SERVER));
        check(Some("ghcr.io"), Some("u"), Some("p"), Ok("ghcr.io"));
        check(Some(""), Some("u"), Some("p"), Err(&["--docker-server"]));
        check(None, None, Some("p"), Err(&["--docker-username"]));
        check(None, Some(""), Some("p"), Err(&["--docker-username"]));
        check(None, Some("u"), Some(""), Err(&["--docker-password"]));
        check(
            Some(""),
            None,
            None,
            Err(&["--docker-username", "--docker-password", "--docker-server"]),
        );
        let err = validate_kubectl_inputs(None, None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "either --from-file or the combination of --docker-username, --docker-password and --docker-server is required"
        );
    }

    #[test]
    fn dockerconfigjson_file_is_checked_without_showing_it() {
        let ok = r#"{"auths":{"ghcr.io":{"auth":"dTpodW50ZXIyLWNhbmFyeQ=="},"quay.io":{}}}"#;
        let doc = DockerConfigJson::parse(ok).unwrap();
        let servers: Vec<_> = doc.unusable().iter().map(|n| n.server.clone()).collect();
        assert_eq!(servers, [Some("quay.io".to_owned())]);
        assert!(!format!("{doc:?}").contains("dTpod"), "{doc:?}");
        let secret = secret_from_file("x", None, &doc, OutputFormat::Json).unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(ok);
        assert!(
            secret.contains(&format!(r#""{DATA_KEY}": "{data}""#)),
            "{secret}"
        );

        for (text, expected) in [
            ("", "not valid JSON"),
            (
                r#"{"auths":{"x":{"password":"hunter2-canary"}"#,
                "not valid JSON",
            ),
            ("[\"hunter2-canary\"]", "no `auths` object"),
            (r#"{"auth":"hunter2-canary"}"#, "no `auths` object"),
            (r#"{"auths":"hunter2-canary"}"#, "no `auths` object"),
            (r#"{"auths":{}}"#, "no entry of `auths`"),
            (
                r#"{"auths":{"ghcr.io":{}},"credsStore":"desktop"}"#,
                "no entry of `auths`",
            ),
            (
                r#"{"auths":{"ghcr.io":{"username":"u"}}}"#,
                "no entry of `auths`",
            ),
            (
                r#"{"auths":{"ghcr.io":"hunter2-canary"}}"#,
                "`auths.ghcr.io` must be",
            ),
            (
                r#"{"auths":{"ghcr.io":{"auth":"hunter2-canary!"}}}"#,
                "`auths.ghcr.io.auth` is not valid base64",
            ),
            (
                r#"{"auths":{"ghcr.io":{"auth":"aHVudGVyMi1jYW5hcnk="}}}"#,
                "no `:`",
            ),
        ] {
            let err = DockerConfigJson::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(
                !err.contains("hunter2") && !err.contains("canary"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let auth = entry("ghcr.io").with_email("e@x");
        let shown = format!("{auth:?} {:?}", [auth]);
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(!shown.contains(&auth.auth_field()), "{shown}");
        assert!(shown.contains("ghcr.io"), "{shown}");
    }

    proptest::proptest! {
        #[test]
        fn rendered_json_reads_back(
            name in "[a-z0-9][a-z0-9.-]{0,20}",
            user in "\\PC{1,20}",
            pass in "\\PC{1,40}",
        ) {
            let auth = DockerAuth::new("ghcr.io", &user, &pass);
            let json = secret(&name, None, &[auth], OutputFormat::Json).unwrap();
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            let data = v["data"][DATA_KEY].as_str().unwrap();
            let inner = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
            let inner: serde_json::Value = serde_json::from_slice(&inner).unwrap();
            proptest::prop_assert_eq!(inner["auths"]["ghcr.io"]["password"].as_str(), Some(pass.as_str()));
            proptest::prop_assert_eq!(v["metadata"]["name"].as_str(), Some(name.as_str()));
        }
    }
}
