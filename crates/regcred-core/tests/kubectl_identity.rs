//! The real kubectl is the reference for rendered pull secrets: this test runs
//! `/usr/bin/kubectl create secret docker-registry … --dry-run=client -o json|yaml` on hand-picked
//! and pseudo-random inputs and requires regcred's rendering to be byte-identical, including
//! kubectl's own refusals (incomplete flags, names its YAML printer cannot print). kubectl is a
//! required peer, installed by the project's setup: without it this test fails, it does not skip.
//! It runs with `KUBECONFIG=/dev/null`, so it never talks to a cluster. Whole `.dockerconfigjson`
//! files are compared with `kubectl create secret generic … --from-file=.dockerconfigjson=FILE
//! --type=kubernetes.io/dockerconfigjson`.

use std::path::Path;
use std::process::Command;

use regcred_core::k8s_secret::{secret, DockerAuth, OutputFormat, RenderError};

const KUBECTL: &str = "/usr/bin/kubectl";
const DOCUMENT_INDICATOR: &str = "error: yaml: found unexpected document indicator\n";

/// One `kubectl create secret docker-registry` invocation; `None` leaves the flag out.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    namespace: Option<String>,
    server: Option<String>,
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
}

impl Case {
    fn new(name: &str, username: &str, password: &str) -> Case {
        Case {
            name: name.into(),
            namespace: None,
            server: None,
            username: Some(username.into()),
            password: Some(password.into()),
            email: None,
        }
    }
    fn server(mut self, server: &str) -> Case {
        self.server = Some(server.into());
        self
    }
    fn namespace(mut self, namespace: &str) -> Case {
        self.namespace = Some(namespace.into());
        self
    }
    fn email(mut self, email: &str) -> Case {
        self.email = Some(email.into());
        self
    }
}

/// What kubectl printed: stdout on success, stderr on failure.
fn kubectl(case: &Case, format: OutputFormat) -> Result<String, String> {
    let mut cmd = Command::new(KUBECTL);
    cmd.env("KUBECONFIG", "/dev/null")
        .args(["create", "secret", "docker-registry", &case.name]);
    let flags = [
        ("--docker-server", &case.server),
        ("--docker-username", &case.username),
        ("--docker-password", &case.password),
        ("--docker-email", &case.email),
        ("--namespace", &case.namespace),
    ];
    for (flag, value) in flags {
        if let Some(value) = value {
            // `--flag=value`, so that values starting with `-` stay values.
            cmd.arg(format!("{flag}={value}"));
        }
    }
    cmd.arg("--dry-run=client").arg("-o").arg(match format {
        OutputFormat::Json => "json",
        OutputFormat::Yaml => "yaml",
    });
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {KUBECTL}: {e}"));
    let text = |b: Vec<u8>| String::from_utf8(b).expect("kubectl prints UTF-8");
    if out.status.success() {
        Ok(text(out.stdout))
    } else {
        let stderr = text(out.stderr);
        // go-yaml names the line of the offending marker; regcred does not count lines.
        if stderr.starts_with("error: yaml: line ")
            && stderr.ends_with(": found unexpected document indicator\n")
        {
            return Err(DOCUMENT_INDICATOR.to_owned());
        }
        Err(stderr)
    }
}

/// regcred's answer, in kubectl's terms: the rendered text, or the error line kubectl would print.
fn ours(case: &Case, format: OutputFormat) -> Result<String, String> {
    let auth = DockerAuth::from_kubectl_flags(
        case.server.as_deref(),
        case.username.as_deref(),
        case.password.as_deref(),
        case.email.as_deref(),
    )
    .map_err(|e| format!("error: {e}\n"))?;
    secret(&case.name, case.namespace.as_deref(), &[auth], format).map_err(|e| match e {
        RenderError::YamlControlCharacter { .. } => {
            "error: yaml: control characters are not allowed\n".to_owned()
        }
        RenderError::YamlDocumentIndicator { .. } => DOCUMENT_INDICATOR.to_owned(),
        other => format!("unexpected: {other}"),
    })
}

fn check(case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    for format in [OutputFormat::Json, OutputFormat::Yaml] {
        let expected = kubectl(case, format);
        let got = ours(case, format);
        if got != expected {
            failures.push(format!(
                "{format:?} for {case:?}\n  kubectl: {expected:?}\n  regcred: {got:?}"
            ));
        }
    }
    failures
}

fn check_all(cases: &[Case]) {
    assert!(
        Path::new(KUBECTL).exists(),
        "{KUBECTL} is missing: kubectl is the reference for rendered Secrets and this test needs it \
         (the project's setup script installs it)"
    );
    // kubectl takes ~60 ms per run; a few threads keep the test short.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let chunk = cases.len().div_ceil(threads).max(1);
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().flat_map(check).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checker thread panicked"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} renderings differ from kubectl:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
}

#[test]
fn hand_picked_inputs_match_kubectl() {
    let long = "x".repeat(3000);
    let mut cases = vec![
        // Docker Hub is the default server.
        Case::new("hub", "u", "p"),
        Case::new("hub", "u", "p").email("e@x").namespace("ns"),
        Case::new("hub", "u", "p").email(""),
        Case::new("hub", "u", "p").namespace(""),
        Case::new("hub", "u", "p").server("https://index.docker.io/v1/"),
        Case::new("ghcr", "acme-deploy", "ghp_token").server("ghcr.io"),
        Case::new("quay", "org+robot", "tok")
            .server("quay.io/org")
            .namespace("team-a"),
        Case::new("local", "u", "p").server("localhost:5000"),
        Case::new("ipv6", "u", "p").server("[::1]:5000"),
        Case::new("url", "u", "p").server("https://registry.example.com/v2/"),
        // Go's JSON escaping, inside the base64 and in metadata.
        Case::new("html", "u<s>", "p&<>:x").email("a&b@<x>"),
        Case::new("quotes", "u\"'", "p\"q'\\r\\\\"),
        Case::new("controls", "u\tv", "p\r\nq\u{8}\u{c}\u{1}\u{1f}\u{7f}"),
        Case::new("seps", "u", "p\u{2028}q\u{2029}r\u{85}s\u{feff}"),
        Case::new("unicode", "ユーザー", "pässwörd😀🔑").email("é@ü.example"),
        Case::new("colons", "a:b", ":p:q:"),
        Case::new("long", &long, &long).server(&format!("{long}.example")),
        Case::new(
            "json-key",
            "_json_key",
            r#"{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}"#,
        ),
        Case::new("flagish", "-u", "--p=1").server("-s"),
        Case::new("a<b>&c", "u", "p").namespace("n<s>&\"q\""),
        // kubectl's validation.
        Case::new("v", "", "p"),
        Case::new("v", "u", ""),
        Case::new("v", "u", "p").server(""),
        Case {
            username: None,
            ..Case::new("v", "u", "p")
        },
        Case {
            password: None,
            username: None,
            ..Case::new("v", "u", "p").server("")
        },
        // Names kubectl's YAML printer refuses.
        Case::new("x", "u", "p").namespace("a\u{7f}b"),
        Case::new("c1\u{80}", "u", "p"),
        Case::new("x", "u", "p").namespace("a\u{85}--- b"),
        Case::new("x", "u", "p").namespace("a\u{85}...\u{85}b"),
        Case::new("x", "u", "p").namespace("a\u{85}\u{85}---"),
        Case::new("x", "u", "p").namespace("a\u{85} --- b"),
        Case::new("x", "u", "p").namespace("a\u{85}---b"),
    ];
    // Every YAML quoting rule, as name and as namespace.
    let yaml_traps = [
        "true",
        "True",
        "TRUE",
        "false",
        "yes",
        "Yes",
        "y",
        "Y",
        "n",
        "N",
        "no",
        "off",
        "on",
        "On",
        "null",
        "Null",
        "NULL",
        "~",
        "123",
        "1e3",
        "0x1f",
        "0o7",
        ".5",
        "1_000",
        "-1",
        "+1",
        "08",
        "0",
        "0x",
        "1e400",
        "1e-400",
        "2024-02-29",
        "2023-02-29",
        "2001-12-14",
        "2001-1-1",
        "20011-12-14",
        "2001-12-14T21:59:43.10Z",
        "2001-12-14t21:59:43+05:30",
        "2001-12-14 21:59:43.10",
        "2001-12-14  21:59:43",
        "2001-13-14",
        "2001-12-14T24:00:00Z",
        "1:20",
        "12:30:45",
        "1:60",
        "<<",
        "-",
        "---",
        "...",
        "-x",
        "a: b",
        "a #b",
        "a#b",
        "#a",
        "@a",
        "it's",
        "a\"b",
        " a",
        "a ",
        "é",
        "\u{a0}a",
        "😀",
        "a\tb",
        "a\rb",
        "a\nb",
        "a\n",
        "a\n\n",
        "\n",
        " a\nb",
        "a \nb",
        "a\n b",
        ".inf",
        ".nan",
        ".e5",
        ".5e999",
        ".5_5",
        "._5",
        "nan",
        "inf",
        "0b101",
        "-0b101",
        "0B1",
        "0b-1",
        "99999999999999999999",
        "0xffffffffffffffffffff",
        "-99999999999999999999",
        "+.inf",
        "1.",
        "1.5e+3",
        "a,b",
        "[a",
        "a[",
        "?a",
        "? a",
        ":a",
        "a:",
        "%a",
        "!a",
        "&a",
        "*a",
        "|a",
        ">a",
        "'a",
        "`a",
        "a b c",
        "\u{85}",
        "a\u{85}b",
        "a \u{85}\u{85} b",
        "\u{2028}x",
        "a\u{2029}b",
        "\u{feff}a",
        "a\u{feff}",
        "\u{e000}\u{fffd}",
        "0755",
        "089",
        "1.2.3",
        "1.5",
        "6e-7",
    ];
    // Name and namespace are written by the same code; names get a sample (kubectl would read a
    // name starting with `-` as a flag).
    for (i, trap) in yaml_traps.into_iter().enumerate() {
        cases.push(Case::new("x", "u", "p").namespace(trap));
        if i % 8 == 0 && !trap.starts_with('-') {
            cases.push(Case::new(trap, "u", "p"));
        }
    }
    // go-yaml folds long plain and quoted scalars at 80 columns.
    for words in [14, 15, 16, 30, 31] {
        let text = "word ".repeat(words);
        for value in [
            text.trim_end().to_owned(),
            format!("{text}x"),
            format!("'{text}x"),
            format!("{text}x\t"),
            format!("{}  {text}x", "w".repeat(70)),
            format!("{}\n{text}", "w".repeat(85)),
        ] {
            cases.push(Case::new("x", "u", "p").namespace(&value));
        }
    }
    cases.push(Case::new(&format!("{}x", "word ".repeat(30)), "u", "p"));
    check_all(&cases);
}

/// xorshift64*: a few lines instead of a dependency, and the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    /// A string of `1..=max` characters drawn from `alphabet`.
    fn text(&mut self, alphabet: &[char], max: usize) -> String {
        let len = 1 + self.below(max);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

#[test]
fn random_inputs_match_kubectl() {
    let dns: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789-.".chars().collect();
    let printable: Vec<char> = (' '..='~').collect();
    let mut wide: Vec<char> = printable.clone();
    wide.extend([
        '\t', '\n', '\r', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}', 'é', 'ß', 'Ω', 'ж',
        '中', 'ユ', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffd}', '😀', '🔑', '𝄞', ':', ' ', ' ',
        '#', '\'', '"', '\\', '&', '<', '>',
    ]);
    let tokens = [
        "true",
        "no",
        "on",
        "y",
        "Off",
        "null",
        "~",
        "1e3",
        "0x1f",
        "0o17",
        "0b1",
        "2024-02-29",
        "1_000",
        "12:30",
        ".5",
        ".inf",
        "-",
        "---",
        "...",
        "<<",
        "a: b",
        "#",
        " ",
        "'",
        "\"",
        "\n",
        "\u{85}",
    ];
    let servers = [
        "https://index.docker.io/v1/",
        "docker.io",
        "ghcr.io",
        "quay.io/org",
        "localhost:5000",
        "[::1]:5000",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "europe-docker.pkg.dev",
        "registry.example.com/team",
        "http://r.example:8080/v2/",
    ];

    let mut rng = Rng(0x5eed_2026_c0ff_ee01);
    let mut cases = Vec::new();
    while cases.len() < 200 {
        let name_like = |rng: &mut Rng| -> String {
            match rng.below(4) {
                0 => rng.text(&dns, 30),
                1 => rng.pick(&tokens).to_owned(),
                2 => format!("{}{}", rng.pick(&tokens), rng.text(&dns, 5)),
                _ if rng.chance(80) => rng.text(&wide, 40),
                _ => rng.text(&wide, 160), // long enough for go-yaml's 80-column folding
            }
        };
        let name = name_like(&mut rng);
        if name.starts_with('-') {
            continue; // kubectl would read it as a flag
        }
        let namespace = rng.chance(60).then(|| name_like(&mut rng));
        let server = match rng.below(4) {
            0 => None,
            1 => Some(rng.text(&wide, 30)),
            _ => Some(rng.pick(&servers).to_owned()),
        };
        let secretish = |rng: &mut Rng, max| {
            let mut s = rng.text(&wide, max);
            if rng.chance(10) {
                s.push_str(&rng.text(&printable, 2000));
            }
            s
        };
        let username = secretish(&mut rng, 20);
        let password = secretish(&mut rng, 60);
        let email = match rng.below(3) {
            0 => None,
            1 => Some(String::new()),
            _ => Some(rng.text(&wide, 20)),
        };
        cases.push(Case {
            name,
            namespace,
            server,
            username: Some(username),
            password: Some(password),
            email,
        });
    }
    check_all(&cases);
}

/// `.dockerconfigjson` documents as `docker login`, other tools and people write them.
fn dockerconfigjson_files() -> Vec<(&'static str, String)> {
    let auth = |user: &str, pass: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    };
    let many: String = (0..400)
        .map(|i| {
            format!(
                r#""registry-{i}.example.com:5000":{{"auth":"{}"}}"#,
                auth(&format!("user{i}"), &"p&<>".repeat(i % 50 + 1))
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    vec![
        ("compact", format!(r#"{{"auths":{{"ghcr.io":{{"auth":"{}"}}}}}}"#, auth("u", "p"))),
        (
            "docker-login",
            format!(
                "{{\n\t\"auths\": {{\n\t\t\"https://index.docker.io/v1/\": {{\n\t\t\t\"auth\": \"{}\"\n\t\t}}\n\t}}\n}}",
                auth("acme", "dckr_pat_x")
            ),
        ),
        (
            "trailing-newline-crlf",
            format!("{{\"auths\":{{\"quay.io/org\":{{\"auth\":\"{}\"}}}}}}\r\n", auth("org+robot", "T0K")),
        ),
        (
            "html-and-unicode",
            format!(
                r#"{{"auths":{{"ghcr.io":{{"username":"ユーザー<&>","password":"pässwörd😀\u2028<script>&amp;","email":"é@ü.example","auth":"{}"}}}}}}"#,
                auth("ユーザー<&>", "pässwörd😀\u{2028}<script>&amp;")
            ),
        ),
        (
            "raw-unicode-escapes",
            r#"{"auths":{"localhost:5000":{"username":"\u00fc\u003c","password":"\ud83d\ude00 \"q\" \\ \/"}}}"#.to_owned(),
        ),
        (
            "several-registries",
            format!(
                r#"{{"auths":{{"ghcr.io":{{"auth":"{}"}},"[::1]:5000":{{"auth":"{}"}},"123456789012.dkr.ecr.eu-west-1.amazonaws.com":{{"username":"AWS","password":"eyJwYXlsb2FkIjoi+/=="}},"europe-docker.pkg.dev":{{"auth":"{}"}}}},"credHelpers":{{"gcr.io":"gcloud"}},"HttpHeaders":{{"User-Agent":"Docker-Client"}}}}"#,
                auth("a", "b"),
                auth("dev", "dev"),
                auth("_json_key", r#"{"type":"service_account","private_key":"-----BEGIN-----\nx\n"}"#)
            ),
        ),
        ("large", format!(r#"{{"auths":{{{many}}}}}"#)),
    ]
}

/// `kubectl create secret generic NAME --from-file=.dockerconfigjson=FILE
/// --type=kubernetes.io/dockerconfigjson` is the reference for `k8s_secret::secret_from_file`.
#[test]
fn dockerconfigjson_files_match_kubectl_generic_from_file() {
    use regcred_core::k8s_secret::{secret_from_file, DockerConfigJson};

    assert!(Path::new(KUBECTL).exists(), "{KUBECTL} is missing");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    let mut compared = 0;
    for (label, text) in dockerconfigjson_files() {
        let file = dir.path().join(format!("{label}.json"));
        std::fs::write(&file, &text).expect("write");
        let document =
            DockerConfigJson::parse(&text).unwrap_or_else(|e| panic!("{label}: refused: {e}"));
        for (name, namespace) in [("pull", None), ("true", Some("a: b")), ("x", Some("ns-1"))] {
            for format in [OutputFormat::Json, OutputFormat::Yaml] {
                let mut cmd = Command::new(KUBECTL);
                cmd.env("KUBECONFIG", "/dev/null")
                    .args(["create", "secret", "generic", name])
                    .arg(format!("--from-file=.dockerconfigjson={}", file.display()))
                    .arg("--type=kubernetes.io/dockerconfigjson");
                if let Some(ns) = namespace {
                    cmd.arg(format!("--namespace={ns}"));
                }
                cmd.arg("--dry-run=client").arg("-o").arg(match format {
                    OutputFormat::Json => "json",
                    OutputFormat::Yaml => "yaml",
                });
                let out = cmd.output().expect("kubectl runs");
                assert!(
                    out.status.success(),
                    "{label}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let expected = String::from_utf8(out.stdout).expect("UTF-8");
                let ours = secret_from_file(name, namespace, &document, format)
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                compared += 1;
                if ours != expected {
                    failures.push(format!("{label} {name} {namespace:?} {format:?}\n  kubectl: {expected:?}\n  regcred: {ours:?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
