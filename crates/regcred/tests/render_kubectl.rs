//! `regcred render k8s-secret` against the reference, `/usr/bin/kubectl create secret
//! docker-registry … --dry-run=client -o json|yaml` (with `KUBECONFIG` pointing at an empty file;
//! a missing kubectl fails these tests, it never skips them). Proves byte-identical stdout for
//! ~40 varied inputs (Docker Hub default, ports, IPv6, path-scoped servers, emails, namespaces,
//! passwords with `&<>"\'`, `:`, unicode, control characters), with the password given as
//! `--docker-password` (which warns on stderr only) and through `--password-stdin`; YAML quoting
//! and folding of names and namespaces; kubectl's error text for incomplete input; and that
//! `--from-pull-secret` of stored pull secrets renders what kubectl renders for the same
//! server key, username, password, email, name and namespace.

mod fixture;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use fixture::{kubectl, project_and_location, Cmd, Out, Server};

/// One set of `kubectl create secret docker-registry` inputs.
#[derive(Debug, Clone, Default)]
struct Case {
    name: String,
    server: Option<String>,
    username: String,
    password: String,
    email: Option<String>,
    namespace: Option<String>,
}

fn case(name: &str, server: Option<&str>, username: &str, password: &str) -> Case {
    Case {
        name: name.into(),
        server: server.map(Into::into),
        username: username.into(),
        password: password.into(),
        ..Case::default()
    }
}

impl Case {
    fn email(mut self, email: &str) -> Case {
        self.email = Some(email.into());
        self
    }

    fn ns(mut self, namespace: &str) -> Case {
        self.namespace = Some(namespace.into());
        self
    }

    /// The flags both tools share (`--flag=value`, so values starting with `-` stay values).
    fn flags(&self, password_flag: bool, format: &str) -> Vec<String> {
        let mut v = vec![self.name.clone()];
        if let Some(s) = &self.server {
            v.push(format!("--docker-server={s}"));
        }
        v.push(format!("--docker-username={}", self.username));
        if password_flag {
            v.push(format!("--docker-password={}", self.password));
        }
        if let Some(e) = &self.email {
            v.push(format!("--docker-email={e}"));
        }
        if let Some(n) = &self.namespace {
            v.push(format!("--namespace={n}"));
        }
        v.push("--dry-run=client".into());
        v.push("-o".into());
        v.push(format.to_owned());
        v
    }
}

fn kubectl_args(flags: Vec<String>) -> Vec<String> {
    let mut v: Vec<String> = ["create", "secret", "docker-registry"]
        .map(String::from)
        .to_vec();
    v.extend(flags);
    v
}

fn regcred_args(flags: Vec<String>) -> Vec<String> {
    let mut v: Vec<String> = ["render", "k8s-secret"].map(String::from).to_vec();
    v.extend(flags);
    v
}

/// Runs `f` over `items` on a few threads (kubectl is a heavy process; 8 at a time is plenty).
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().expect("results").push((i, r));
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Where two outputs first differ, for a readable failure.
fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n  kubectl: {e:?}\n  regcred: {a:?}", i + 1);
        }
    }
    format!(
        "lengths differ: kubectl {} lines/{} bytes, regcred {} lines/{} bytes (trailing newline?)",
        expected.lines().count(),
        expected.len(),
        actual.lines().count(),
        actual.len()
    )
}

/// Compares every case in each of `formats`, with the password from stdin and (when `flag_too`)
/// from `--docker-password`; returns the mismatches.
fn compare(
    cases: &[Case],
    kubeconfig: &Path,
    formats: &[&'static str],
    flag_too: bool,
) -> Vec<String> {
    let jobs: Vec<(Case, &str)> = cases
        .iter()
        .flat_map(|c| formats.iter().map(|f| (c.clone(), *f)))
        .collect();
    let problems = parallel(&jobs, |(case, format)| {
        let mut problems = Vec::new();
        let reference = kubectl(&kubectl_args(case.flags(true, format)), kubeconfig).run();
        reference.ok();
        assert!(
            reference.stdout.starts_with(['{', 'a']),
            "{}",
            reference.stdout
        );
        let by_stdin = Cmd::new(&regcred_args(case.flags(false, format)))
            .arg("--password-stdin")
            .stdin(case.password.as_str())
            .run();
        let mut runs = vec![("--password-stdin", by_stdin)];
        if flag_too {
            runs.push((
                "--docker-password",
                Cmd::new(&regcred_args(case.flags(true, format))).run(),
            ));
        }
        for (how, out) in &runs {
            if out.code != Some(0) {
                problems.push(format!(
                    "{case:?} -o {format} via {how}: exit {:?}: {}",
                    out.code, out.stderr
                ));
                continue;
            }
            if out.stdout != reference.stdout {
                problems.push(format!(
                    "{case:?} -o {format} via {how}: {}",
                    first_difference(&reference.stdout, &out.stdout)
                ));
            }
            let warned = out.stderr.contains("warning");
            match *how {
                "--docker-password" if !warned => problems.push(format!(
                    "{case:?}: --docker-password did not warn on stderr"
                )),
                "--password-stdin" if !out.stderr.is_empty() => problems.push(format!(
                    "{case:?}: --password-stdin wrote to stderr: {}",
                    out.stderr
                )),
                _ => {}
            }
        }
        problems
    });
    problems.into_iter().flatten().collect()
}

fn empty_kubeconfig() -> tempfile::NamedTempFile {
    tempfile::NamedTempFile::new().expect("temp kubeconfig")
}

#[track_caller]
fn assert_no_problems(problems: &[String], total: usize) {
    assert!(
        problems.is_empty(),
        "{} of {total} renderings differ from kubectl:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn offline_render_is_byte_identical_to_kubectl() {
    let gcr_key = r#"{
  "type": "service_account",
  "project_id": "acme-prod",
  "private_key_id": "0123abcd",
  "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEv&<>==\n-----END PRIVATE KEY-----\n",
  "client_email": "puller@acme-prod.iam.gserviceaccount.com"
}"#;
    let long = "x9/+".repeat(300);
    let cases = vec![
        case("regcred", None, "u", "p"),
        case(
            "hub",
            Some("https://index.docker.io/v1/"),
            "acme",
            "dckr_pat_abc",
        ),
        case("hub2", Some("docker.io"), "acme", "pw"),
        case("hub3", Some("index.docker.io"), "acme", "pw"),
        case(
            "ghcr",
            Some("ghcr.io"),
            "acme-deploy",
            "ghp_0123456789abcdef",
        ),
        case("port", Some("localhost:5000"), "dev", "dev"),
        case("ipv4", Some("127.0.0.1:5000"), "dev", "dev"),
        case("ipv6", Some("[::1]:5000"), "dev", "dev"),
        case("ipv6-bare", Some("[fe80::1]"), "dev", "dev"),
        case("scoped", Some("registry.example.com/team"), "team", "pw"),
        case(
            "scoped-deep",
            Some("quay.io/org/repo"),
            "org+robot",
            "ROBOTTOKEN123",
        ),
        case("url", Some("https://registry.example.com:8443/"), "u", "p"),
        case("url-v2", Some("https://ghcr.io/v2/"), "u", "p"),
        case("insecure", Some("http://insecure.example:8080"), "u", "p"),
        case("upper", Some("GHCR.IO"), "U", "P"),
        case("spaces", Some("my registry"), "u", "p"),
        case("email", Some("ghcr.io"), "u", "p").email("ops@example.com"),
        case("email-empty", Some("ghcr.io"), "u", "p").email(""),
        case("email-html", None, "u", "p").email("a<b>&c@example.com"),
        case("email-unicode", None, "u", "p").email("jürgen@exämple.de"),
        case("ns", Some("ghcr.io"), "u", "p").ns("acme"),
        case("ns-all", Some("localhost:5000"), "u", "p")
            .ns("kube-system")
            .email("x@y.z"),
        case("html", None, "u", r#"p&<>"\'x"#),
        case("kubectl-notes", None, "u", "p&<>:x"),
        case("colons", Some("ghcr.io"), "u", "a:b::c:"),
        case("user-colon", Some("ghcr.io"), "us:er", "pw"),
        case("unicode", None, "ünïcødé", "pässwörd–密码🔑"),
        case("line-separators", None, "u", "a\u{2028}b\u{2029}c"),
        case("newline-inside", None, "u", "line1\nline2"),
        case("controls", None, "u", "tab\there\rcr\u{1}\u{1f}\u{7f}"),
        case("backslashes", None, "u", r"C:\path\to\x"),
        case("shell", None, "u", "$(whoami) `id` %s %n ${HOME}"),
        case("quotes", None, "u", r#"it's "quoted" 'twice'"#),
        case("spaces-only", None, "u", "   "),
        case("dash", None, "-u", "-p"),
        case("long", Some("ghcr.io"), "u", &long),
        case("gcr-json-key", Some("gcr.io"), "_json_key", gcr_key),
        case(
            "ecr",
            Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            "AWS",
            "eyJwYXlsb2FkIjoi+/==",
        ),
        case(
            "acr",
            Some("acme.azurecr.io"),
            "00000000-0000-0000-0000-000000000000",
            "refresh.token.x",
        ),
        case(
            "gitlab",
            Some("registry.gitlab.com"),
            "gitlab+deploy-token-42",
            "gldt-abc",
        ),
        case("json-in-user", None, r#"{"a":"b"}"#, "p"),
        case("html-name&<a>", None, "u", "p").ns("ns&<b>\u{2028}"),
    ];
    assert!(cases.len() >= 40);
    let kubeconfig = empty_kubeconfig();
    let problems = compare(&cases, kubeconfig.path(), &["json", "yaml"], true);
    assert_no_problems(&problems, cases.len() * 4);
}

/// Names and namespaces go through go-yaml's quoting (`"true"`, `'a: b'`, `'''q'''`, …). kubectl
/// accepts all of these with `--dry-run=client`. (Go's JSON escaping of names is checked above.)
#[test]
fn yaml_quoting_of_names_and_namespaces_matches_kubectl() {
    let odd = [
        "true",
        "null",
        "~",
        "yes",
        "y",
        "1e3",
        "012",
        "0x1f",
        "+1",
        ".5",
        "-",
        "@at",
        "#h",
        "a#b",
        "a\"b",
        "'q'",
        "[l]",
        "{m}",
        "*s",
        "&a",
        "!t",
        "%p",
        "|",
        ">",
        "ünï",
        "a b",
        " lead",
        "trail ",
        "a: b",
        "key:value",
        "1:2",
        "2001-12-14",
        "?",
        "0o17",
        "0b101",
        ".inf",
        ".NaN",
        "1_000",
        "1:20",
        "Yes",
        "ON",
        "off",
        "NULL",
        "<<",
        "=",
        "a\tb",
        "a\nb",
        "a #b",
        ": a",
        "x,y",
        "😀",
        "\u{2028}",
        "\\",
        "1.0e+3",
        "0.",
        "+",
        ".",
    ];
    let cases: Vec<Case> = odd.iter().map(|n| case(n, None, "u", "p").ns(n)).collect();
    let kubeconfig = empty_kubeconfig();
    let problems = compare(&cases, kubeconfig.path(), &["yaml"], false);
    assert_no_problems(&problems, cases.len());
}

/// go-yaml folds plain and single-quoted scalars with spaces at 80 columns; kubectl's output
/// shows it for long names and namespaces.
#[test]
fn yaml_folds_long_names_like_kubectl() {
    let words = "word ".repeat(25);
    let cases = vec![
        case(&words, None, "u", "p"),
        case("n", None, "u", "p").ns(&words),
        case(&format!("'{}'", "quoted word ".repeat(10)), None, "u", "p"),
    ];
    let kubeconfig = empty_kubeconfig();
    let problems = compare(&cases, kubeconfig.path(), &["yaml"], false);
    assert_no_problems(&problems, cases.len());
}

/// The text after `error: ` on stderr, first line.
fn message(out: &Out) -> String {
    out.error_message()
        .unwrap_or_else(|| panic!("no `error:` line from `{}`:\n{}", out.label, out.stderr))
        .to_owned()
}

#[test]
fn incomplete_input_fails_with_kubectls_message() {
    let kubeconfig = empty_kubeconfig();
    let base = ["x", "--dry-run=client", "-o", "yaml"];
    let variants: Vec<Vec<&str>> = vec![
        vec!["--docker-password=p"],
        vec!["--docker-username=u"],
        vec![],
        vec!["--docker-username=", "--docker-password=p"],
        vec!["--docker-username=u", "--docker-password="],
        vec![
            "--docker-server=",
            "--docker-username=u",
            "--docker-password=p",
        ],
        vec![
            "--docker-server=",
            "--docker-password=p",
            "--docker-email=e@x",
        ],
    ];
    for extra in variants {
        let flags: Vec<String> = base.iter().chain(&extra).map(ToString::to_string).collect();
        let reference = kubectl(&kubectl_args(flags.clone()), kubeconfig.path()).run();
        assert_ne!(reference.code, Some(0), "kubectl accepted {extra:?}");
        let ours = Cmd::new(&regcred_args(flags)).run();
        assert_ne!(
            ours.code,
            Some(0),
            "regcred accepted {extra:?}: {}",
            ours.stdout
        );
        assert!(ours.stdout.is_empty(), "{extra:?}: {}", ours.stdout);
        assert_eq!(message(&ours), message(&reference), "{extra:?}");
    }
}

/// kubectl: `error: name must be specified` for an empty NAME.
#[test]
fn empty_name_is_refused_like_kubectl() {
    let kubeconfig = empty_kubeconfig();
    for format in ["json", "yaml"] {
        let flags: Vec<String> = [
            "",
            "--docker-username=u",
            "--docker-password=p",
            "--dry-run=client",
            "-o",
            format,
        ]
        .map(String::from)
        .to_vec();
        let reference = kubectl(&kubectl_args(flags.clone()), kubeconfig.path()).run();
        assert_ne!(reference.code, Some(0));
        let ours = Cmd::new(&regcred_args(flags)).run();
        assert_ne!(
            ours.code,
            Some(0),
            "regcred rendered a Secret without a name:\n{}",
            ours.stdout
        );
        assert_eq!(message(&ours), message(&reference));
    }
}

/// A stored pull secret and the kubectl flags that describe the same login.
struct Stored {
    name: &'static str,
    create: Vec<&'static str>,
    /// `None`: Docker Hub, kubectl's default server.
    key: Option<&'static str>,
    username: &'static str,
    email: Option<&'static str>,
}

#[test]
fn from_pull_secret_matches_kubectl() {
    let server = Server::start();
    // Two of these pull secrets are for Docker Hub, which a docker location (one login per
    // server) refuses: a manifests location gives each its own file.
    let gitops = server.scratch("gitops").display().to_string();
    server
        .run(&[
            "location",
            "create",
            "local",
            "--kind",
            "manifests",
            "--directory",
            &gitops,
            "--allow-plaintext",
        ])
        .ok();
    project_and_location(&server, "acme", "local");
    let password = "s3cr&t<>\"'\\:😀";
    let stored = [
        Stored {
            name: "hub",
            create: vec!["--username", "acme"],
            key: None,
            username: "acme",
            email: None,
        },
        Stored {
            name: "hub-url",
            create: vec![
                "--server",
                "https://index.docker.io/v1/",
                "--username",
                "acme",
                "--email",
                "ops@example.com",
            ],
            key: None,
            username: "acme",
            email: Some("ops@example.com"),
        },
        Stored {
            name: "ghcr",
            create: vec!["--server", "ghcr.io", "--username", "acme-deploy"],
            key: Some("ghcr.io"),
            username: "acme-deploy",
            email: None,
        },
        Stored {
            name: "local",
            create: vec![
                "--server",
                "localhost:5000",
                "--username",
                "dev",
                "--email",
                "dev@example.com",
            ],
            key: Some("localhost:5000"),
            username: "dev",
            email: Some("dev@example.com"),
        },
        Stored {
            name: "ipv6",
            create: vec!["--server", "[::1]:5000", "--username", "dev"],
            key: Some("[::1]:5000"),
            username: "dev",
            email: None,
        },
        Stored {
            name: "team",
            create: vec![
                "--server",
                "registry.example.com/team",
                "--username",
                "team",
            ],
            key: Some("registry.example.com/team"),
            username: "team",
            email: None,
        },
    ];
    for s in &stored {
        let mut args = vec![
            "pullsecret",
            "create",
            "--project",
            "acme",
            "--location",
            "local",
            "--name",
            s.name,
        ];
        args.extend(&s.create);
        args.push("--password-stdin");
        server.cli(&args).stdin(password).run().ok();
    }
    let kubeconfig = empty_kubeconfig();
    let mut jobs = Vec::new();
    for s in &stored {
        for (secret_name, namespace) in [
            (None, None),
            (Some("pull-creds"), Some("apps")),
            (Some("x"), None),
        ] {
            for format in ["json", "yaml"] {
                jobs.push((s, secret_name, namespace, format));
            }
        }
    }
    let problems: Vec<String> = parallel(&jobs, |&(s, secret_name, namespace, format)| {
        let mut ours = vec!["render", "k8s-secret"];
        ours.extend(secret_name);
        ours.extend([
            "--from-pull-secret",
            s.name,
            "--project",
            "acme",
            "--location",
            "local",
            "-o",
            format,
        ]);
        if let Some(ns) = namespace {
            ours.extend(["-n", ns]);
        }
        let ours = server.run(&ours);
        let mut reference = vec![
            secret_name.unwrap_or(s.name).to_owned(),
            format!("--docker-username={}", s.username),
            format!("--docker-password={password}"),
        ];
        if let Some(key) = s.key {
            reference.push(format!("--docker-server={key}"));
        }
        if let Some(email) = s.email {
            reference.push(format!("--docker-email={email}"));
        }
        if let Some(ns) = namespace {
            reference.push(format!("--namespace={ns}"));
        }
        reference.extend(["--dry-run=client".into(), "-o".into(), format.into()]);
        let reference = kubectl(&kubectl_args(reference), kubeconfig.path()).run();
        reference.ok();
        let what = format!("{} {secret_name:?} {namespace:?} -o {format}", s.name);
        if ours.code != Some(0) {
            Some(format!("{what}: {}", ours.stderr))
        } else if ours.stdout != reference.stdout {
            Some(format!(
                "{what}: {}",
                first_difference(&reference.stdout, &ours.stdout)
            ))
        } else {
            None
        }
    })
    .into_iter()
    .flatten()
    .collect();
    assert_no_problems(&problems, jobs.len());
}

/// `.dockerconfigjson` files for `--from-file`: what `docker login` writes, Go-escaped and raw
/// unicode, `<>&`, several registries with other settings beside them, and a large one.
fn dockerconfigjson_files() -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let auth = |user: &str, pass: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    };
    let many: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                r#""r{i}.example.com":{{"auth":"{}","email":"ops{i}@example.com"}}"#,
                auth("robot", &format!("{FROM_FILE_PASSWORD}-{i}"))
            )
        })
        .collect();
    vec![
        (
            "docker-login",
            format!(
                "{{\n\t\"auths\": {{\n\t\t\"ghcr.io\": {{\n\t\t\t\"auth\": \"{}\"\n\t\t}}\n\t}}\n}}",
                auth("acme-deploy", FROM_FILE_PASSWORD)
            ),
        ),
        (
            "unicode-html",
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"username":"ünï<&>","password":"{FROM_FILE_PASSWORD}😀<>&\u2028","email":"jürgen@exämple.de"}}}}}}"#
            ),
        ),
        (
            "escaped",
            format!(
                r#"{{"auths":{{"localhost:5000":{{"username":"\u00fc","password":"\u003c{FROM_FILE_PASSWORD}\u0026 \"\\ \/"}}}}}}"#
            ),
        ),
        (
            "several",
            format!(
                r#"{{"auths":{{"ghcr.io":{{"auth":"{}"}},"quay.io/org":{{"auth":"{}"}},"[::1]:5000":{{"username":"dev","password":"{FROM_FILE_PASSWORD}"}}}},"credHelpers":{{"gcr.io":"gcloud"}},"psFormat":"table"}}"#,
                auth("a", FROM_FILE_PASSWORD),
                auth("org+robot", FROM_FILE_PASSWORD)
            ),
        ),
        ("large", format!("{{\"auths\":{{{}}}}}\n", many.join(","))),
    ]
}

const FROM_FILE_PASSWORD: &str = "ff-hunter2:&<>";

/// `render k8s-secret NAME --from-file FILE` against kubectl's `create secret generic NAME
/// --from-file=.dockerconfigjson=FILE`: byte-identical to it with
/// `--type=kubernetes.io/dockerconfigjson` (and to `create secret docker-registry NAME
/// --from-file=.dockerconfigjson=FILE`, which prints the same), and different from the untyped
/// form only in the `type` line, which an image pull Secret must have.
#[test]
fn from_file_is_byte_identical_to_kubectl() {
    let kubeconfig = empty_kubeconfig();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut jobs = Vec::new();
    for (label, text) in dockerconfigjson_files() {
        let file = dir.path().join(format!("{label}.json"));
        std::fs::write(&file, text).expect("write");
        for (name, namespace) in [("pull", None), ("yes", Some("a #b")), ("x", Some("team-a"))] {
            for format in ["json", "yaml"] {
                jobs.push((label, file.clone(), name, namespace, format));
            }
        }
    }
    let problems: Vec<String> = parallel(&jobs, |(label, file, name, namespace, format)| {
        let mut problems = Vec::new();
        let from_file = format!("--from-file=.dockerconfigjson={}", file.display());
        let tail = |mut v: Vec<String>| {
            if let Some(ns) = namespace {
                v.push(format!("--namespace={ns}"));
            }
            v.extend(["--dry-run=client".into(), "-o".into(), format.to_string()]);
            v
        };
        let reference = |args: Vec<String>| {
            let out = kubectl(&tail(args), kubeconfig.path()).run();
            out.ok();
            out.stdout
        };
        let generic = |typed: bool| {
            let mut v: Vec<String> = ["create", "secret", "generic", name, &from_file]
                .map(String::from)
                .to_vec();
            if typed {
                v.push("--type=kubernetes.io/dockerconfigjson".into());
            }
            reference(v)
        };
        let typed = generic(true);
        let untyped = generic(false);
        let docker_registry = reference(
            ["create", "secret", "docker-registry", name, &from_file]
                .map(String::from)
                .to_vec(),
        );
        let what = format!("{label} {name} {namespace:?} -o {format}");
        for (spelling, arg) in [
            (
                "--from-file FILE",
                vec!["--from-file".to_owned(), file.display().to_string()],
            ),
            ("kubectl's spelling", vec![from_file.clone()]),
        ] {
            let mut args: Vec<String> = ["render", "k8s-secret", name].map(String::from).to_vec();
            args.extend(arg);
            let ours = Cmd::new(&tail(args)).run();
            if ours.code != Some(0) {
                problems.push(format!("{what} ({spelling}): {}", ours.stderr));
                continue;
            }
            if ours.stdout != typed {
                problems.push(format!(
                    "{what} ({spelling}): {}",
                    first_difference(&typed, &ours.stdout)
                ));
            }
        }
        if docker_registry != typed {
            problems.push(format!(
                "{what}: kubectl's docker-registry --from-file differs from generic --type: {}",
                first_difference(&typed, &docker_registry)
            ));
        }
        let without_type = match *format {
            "json" => typed.replace(
                "\n    },\n    \"type\": \"kubernetes.io/dockerconfigjson\"\n}",
                "\n    }\n}",
            ),
            _ => typed.replace("type: kubernetes.io/dockerconfigjson\n", ""),
        };
        if without_type == typed || without_type != untyped {
            problems.push(format!(
                "{what}: untyped generic is not the typed one without `type`: {}",
                first_difference(&untyped, &without_type)
            ));
        }
        problems
    })
    .into_iter()
    .flatten()
    .collect();
    assert_no_problems(&problems, jobs.len());
}

/// A file the kubelet could not pull with is refused with exit 2, and neither the refusal nor
/// anything else shows what is in the file.
#[test]
fn from_file_refuses_what_is_not_a_dockerconfigjson_without_showing_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let planted = "hunter2-canary";
    for (label, text, why) in [
        ("not-json", format!("auths: {planted}"), "not valid JSON"),
        (
            "truncated",
            format!(r#"{{"auths":{{"ghcr.io":{{"password":"{planted}"#),
            "not valid JSON",
        ),
        (
            "no-auths",
            format!(r#"{{"ghcr.io":{{"password":"{planted}"}}}}"#),
            "no `auths` object",
        ),
        (
            "auths-not-object",
            format!(r#"{{"auths":["{planted}"]}}"#),
            "no `auths` object",
        ),
        (
            "empty-auths",
            r#"{"auths":{}}"#.to_owned(),
            "no entry of `auths`",
        ),
        (
            "creds-store",
            r#"{"auths":{"ghcr.io":{}},"credsStore":"desktop"}"#.to_owned(),
            "no entry of `auths`",
        ),
        (
            "password-only",
            format!(r#"{{"auths":{{"ghcr.io":{{"password":"{planted}"}}}}}}"#),
            "no entry of `auths`",
        ),
        (
            "bad-auth",
            format!(r#"{{"auths":{{"ghcr.io":{{"auth":"{planted}!"}}}}}}"#),
            "not valid base64",
        ),
        (
            "entry-not-object",
            format!(r#"{{"auths":{{"ghcr.io":"{planted}"}}}}"#),
            "`auths.ghcr.io` must be",
        ),
        (
            "docker-config-auth-json",
            format!(r#"{{"auth":"{planted}"}}"#),
            "no `auths` object",
        ),
    ] {
        let file = dir.path().join(format!("{label}.json"));
        std::fs::write(&file, &text).expect("write");
        let out = Cmd::new(&["render", "k8s-secret", "x", "--from-file"])
            .arg(&file.display().to_string())
            .run();
        out.code(2);
        assert!(out.stdout.is_empty(), "{label}: {out:?}");
        let message = message(&out);
        assert!(message.contains(why), "{label}: {message}");
        assert!(
            !out.stderr.contains("hunter2") && !out.stderr.contains("canary"),
            "{label}: {out:?}"
        );
    }
    // An entry the kubelet cannot use is kept, and named on stderr.
    let file = dir.path().join("partly.json");
    let text =
        r#"{"auths":{"ghcr.io":{"auth":"dTpw"},"quay.io":{"identitytoken":"hunter2-canary"}}}"#;
    std::fs::write(&file, text).expect("write");
    let out = Cmd::new(&["render", "k8s-secret", "x", "-o", "json", "--from-file"])
        .arg(&file.display().to_string())
        .run();
    out.ok();
    assert!(
        out.stderr.contains("quay.io") && out.stderr.contains("identity token"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("hunter2"), "{out:?}");
    // Flags that describe another source of credentials are refused.
    for other in [
        vec!["--docker-username=u"],
        vec!["--docker-server=ghcr.io"],
        vec!["--password-stdin"],
        vec!["--from-pull-secret=ghcr"],
    ] {
        let path = file.display().to_string();
        let mut args = vec!["render", "k8s-secret", "x", "--from-file", &path];
        args.extend(other.iter().copied());
        Cmd::new(&args).run().code(2);
    }
    Cmd::new(&["render", "docker-config", "--from-file"])
        .arg(&file.display().to_string())
        .run()
        .code(2);
}
