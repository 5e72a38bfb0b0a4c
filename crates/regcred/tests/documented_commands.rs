//! Every `regcred` command of README.md and docs/ runs as written (issue 10, item 19: the kubelet
//! guide's `token create` lacked its required `--name`). Each code block gets a fresh server —
//! started with the block's own `regcred serve` flags when it shows one — and runs its commands
//! in order through `sh -c`, in a sandbox: `regcred` on PATH, HOME and every absolute path
//! re-rooted under a temporary directory (so `/root/.docker/config.json` or `> /etc/…` never
//! touch the machine), the files the docs name (a kubeconfig on a scripted Kubernetes API, a
//! service-account key, a service file, a Docker config) in place. What a command refers to but
//! its block does not create (a project, location, pull secret, deployment or registry key) is
//! created just before it, so each example runs as the reader would run it. A registry check
//! against a public registry cannot succeed without the internet; it must still run and answer
//! `unreachable` (exit 8). Every documented command must also parse (`cli.rs`'s unit tests).

#[path = "fixture/doc_commands.rs"]
mod doc_commands;
mod fixture;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use doc_commands::{documented_commands, invocation, DocCommand, Segment};
use fixture::{base64, Cmd, Out, Server};
use regcred_testkit::{FakeKubeApi, FAKE_TOKEN};

/// The image a deployment is created with when a documented command needs one to exist.
const IMAGE: &str = "ghcr.io/acme/private-api:v1.2.3";

/// One code block's server and sandbox.
struct World {
    server: Server,
    kube: FakeKubeApi,
    sandbox: tempfile::TempDir,
}

impl World {
    fn new(block: &[DocCommand]) -> World {
        let serve = block.iter().find_map(|c| {
            invocation(&c.text).filter(|i| i.words.first().map(String::as_str) == Some("serve"))
        });
        let server = Server::start_with(&serve_flags(serve.as_ref()));
        let kube = FakeKubeApi::start();
        kube.create_namespace("acme", &[("regcred.dev/project", "acme")]);
        let sandbox = tempfile::tempdir().expect("sandbox");
        let world = World {
            server,
            kube,
            sandbox,
        };
        world.furnish();
        world
    }

    fn root(&self) -> PathBuf {
        self.sandbox.path().join("root")
    }

    fn home(&self) -> PathBuf {
        self.sandbox.path().join("home")
    }

    fn work(&self) -> PathBuf {
        self.sandbox.path().join("work")
    }

    fn bin(&self) -> PathBuf {
        self.sandbox.path().join("bin")
    }

    /// The files the docs name, where the re-rooted commands look for them.
    fn furnish(&self) {
        let write = |path: PathBuf, text: &str| {
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write fixture file");
        };
        std::fs::create_dir_all(self.bin()).expect("bin dir");
        std::os::unix::fs::symlink(fixture::BIN, self.bin().join("regcred")).expect("symlink");
        let kubeconfig = self.kube.kubeconfig_with_contexts(&[("prod", FAKE_TOKEN)]);
        write(
            self.root().join("etc/regcred/kubeconfig"),
            &std::fs::read_to_string(kubeconfig).expect("kubeconfig"),
        );
        write(
            self.home().join(".docker/config.json"),
            &serde_json::json!({"auths": {"localhost:5000": {"auth": base64(b"dev:dev-pw")}}})
                .to_string(),
        );
        write(
            self.work().join("dockerconfig.json"),
            &serde_json::json!({"auths": {"ghcr.io": {"auth": base64(b"u:pw")}}}).to_string(),
        );
        write(
            self.work().join("key.json"),
            r#"{"type":"service_account","client_email":"ci@acme.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"}"#,
        );
        write(
            self.work().join("service.yaml"),
            &format!("name: api\ncontainer:\n  image: {IMAGE}\n  pull_secret: ghcr\n"),
        );
    }

    /// `regcred ARGS` against this block's server, outside the sandbox's shell.
    fn regcred(&self, args: &[&str]) -> Out {
        self.server.run(args)
    }

    fn ensure_project(&self, project: &str) {
        if self.regcred(&["project", "get", project]).code == Some(4) {
            self.regcred(&["project", "create", project]).ok();
        }
    }

    /// A kubernetes location on the scripted API when a deployment needs it, else a docker one.
    fn ensure_location(&self, location: &str, kubernetes: bool) {
        if self.regcred(&["location", "get", location]).code != Some(4) {
            return;
        }
        let kubeconfig = self.kube.kubeconfig_path().display().to_string();
        let path = self
            .sandbox
            .path()
            .join(format!("{location}-config.json"))
            .display()
            .to_string();
        let spec: Vec<&str> = if kubernetes {
            vec!["--kind", "kubernetes", "--kubeconfig", &kubeconfig]
        } else {
            vec!["--kind", "docker", "--path", &path]
        };
        let mut args = vec!["location", "create", location];
        args.extend(spec);
        self.regcred(&args).ok();
    }

    fn ensure_pull_secret(&self, project: &str, location: &str, name: &str) {
        let scope = ["--project", project, "--location", location];
        let mut get = vec!["pullsecret", "get", name];
        get.extend(scope);
        if self.regcred(&get).code != Some(4) {
            return;
        }
        let mut create = vec!["pullsecret", "create", "--name", name];
        create.extend(scope);
        create.extend(["--server", "ghcr.io", "--username", "u", "--password-stdin"]);
        self.server.cli(&create).stdin("pw").run().ok();
    }

    fn ensure_deployment(&self, project: &str, location: &str, name: &str) {
        let scope = ["--project", project, "--location", location];
        let mut get = vec!["deployment", "get", name];
        get.extend(scope);
        if self.regcred(&get).code != Some(4) {
            return;
        }
        let mut deploy = vec!["deployment", "deploy", "--name", name, "--image", IMAGE];
        deploy.extend(scope);
        deploy.push("--no-verify");
        self.regcred(&deploy).ok();
    }

    fn ensure_registry_key(&self, project: &str, name: &str) {
        let keys = self
            .regcred(&["registrykey", "list", "--project", project])
            .ok()
            .json();
        let exists = keys["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|k| k["name"] == name));
        if !exists {
            self.regcred(&[
                "registrykey",
                "create",
                "--project",
                project,
                "--name",
                name,
            ])
            .ok();
        }
    }

    /// Creates what `args` refers to and its block did not create before it.
    fn prepare(&self, args: &[String]) {
        let word = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
        let flag = |name: &str| -> Vec<&str> {
            args.windows(2)
                .filter(|w| w[0] == name)
                .map(|w| w[1].as_str())
                .collect()
        };
        let one = |name: &str| flag(name).first().copied();
        let positional = Some(word(2)).filter(|w| !w.is_empty() && !w.starts_with('-'));
        let (resource, verb) = (word(0), word(1));
        let project = one("--project");
        let location = one("--location");
        let deploying = resource == "deployment";
        match (resource, verb) {
            ("project", "create") | ("location", "create") => {}
            ("project", _) => positional.into_iter().for_each(|p| self.ensure_project(p)),
            ("location", _) => positional
                .into_iter()
                .for_each(|l| self.ensure_location(l, false)),
            _ => {}
        }
        if resource != "project" {
            project.into_iter().for_each(|p| self.ensure_project(p));
        }
        if resource != "location" {
            location
                .into_iter()
                .for_each(|l| self.ensure_location(l, deploying));
        }
        let (Some(project), Some(location)) = (project, location) else {
            if let (Some(project), "registrykey", "revoke") = (project, resource, verb) {
                positional
                    .into_iter()
                    .for_each(|k| self.ensure_registry_key(project, k));
            }
            return;
        };
        let mut pull_secrets = flag("--pull-secret");
        pull_secrets.extend(flag("--from-pull-secret"));
        if matches!(resource, "pullsecret" | "pull-secret" | "ps")
            && matches!(verb, "get" | "verify" | "delete")
        {
            pull_secrets.extend(positional.or(one("--name")));
        }
        for name in pull_secrets {
            self.ensure_pull_secret(project, location, name);
        }
        if deploying && matches!(verb, "get" | "delete") {
            positional
                .into_iter()
                .for_each(|d| self.ensure_deployment(project, location, d));
        }
    }

    /// Runs the documented line through `sh -c`, re-rooted, in the sandbox.
    fn run(&self, command: &DocCommand) -> Out {
        let (text, paths) = reroot(&command.text, &self.root());
        for path in paths {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir for a documented path");
            }
        }
        let path = format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Cmd::program("sh", &["-c", &text])
            .current_dir(&self.work())
            .env("PATH", path)
            .env("HOME", self.home())
            .env("REGCRED_DATA_DIR", &self.server.data_dir)
            .env("GHCR_TOKEN", "doc-ghcr-token")
            .env("SP_SECRET", "doc-sp-secret")
            .env("TOKEN", "doc-token")
            .stdin("doc-password")
            .run()
    }
}

/// The block server's flags: those of the documented `regcred serve`, except the address, which
/// is the fixture's (an ephemeral loopback port).
fn serve_flags(serve: Option<&Segment>) -> Vec<&str> {
    let Some(serve) = serve else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut words = serve.words.iter().skip(1);
    while let Some(word) = words.next() {
        if word == "--listen" {
            words.next();
        } else if !word.starts_with("--listen=") {
            out.push(word.as_str());
        }
    }
    out
}

/// Puts every absolute path of a shell line (a word, or a flag value after `=`, starting with
/// `/`) under `root`, and returns the line and those paths.
fn reroot(text: &str, root: &Path) -> (String, Vec<PathBuf>) {
    let root = root.display().to_string();
    let mut out = String::new();
    let mut paths = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_word =
            i == 0 || matches!(chars[i - 1], ' ' | '\t' | '=' | '>' | '<' | '\'' | '"');
        if chars[i] == '/' && starts_word && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric()) {
            let end = (i..chars.len())
                .find(|&j| matches!(chars[j], ' ' | '\t' | '\'' | '"' | ';' | '|' | '>'))
                .unwrap_or(chars.len());
            let path: String = chars[i..end].iter().collect();
            paths.push(PathBuf::from(format!("{root}{path}")));
            out.push_str(&root);
            out.push_str(&path);
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    (out, paths)
}

/// Whether a documented command did what it shows: success, or — for a check that needs a
/// public registry — a check that ran and found the registry unreachable.
fn judge(out: &Out) -> Result<&'static str, String> {
    match out.code {
        Some(0) => Ok("ran"),
        Some(8) if (out.stdout.contains("unreachable") || out.stderr.contains("unreachable")) => {
            Ok("checked (registry unreachable offline)")
        }
        other => Err(format!(
            "exit {other:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout, out.stderr
        )),
    }
}

#[test]
fn every_documented_command_runs_as_written() {
    let commands = documented_commands();
    let mut blocks: BTreeMap<(String, usize), Vec<DocCommand>> = BTreeMap::new();
    for c in commands {
        blocks.entry((c.file.clone(), c.block)).or_default().push(c);
    }
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for block in blocks.values() {
        let world = World::new(block);
        for command in block {
            let Some(invocation) = invocation(&command.text) else {
                continue;
            };
            if invocation.words.first().map(String::as_str) == Some("serve") {
                // It started this block's server.
                ran.push(format!("served: {}", command.place()));
                continue;
            }
            world.prepare(&invocation.words);
            let out = world.run(command);
            match judge(&out) {
                Ok(how) => ran.push(format!("{how}: {}", command.place())),
                Err(why) => failures.push(format!("{}\n{why}", command.place())),
            }
        }
    }
    eprintln!("{}", ran.join("\n"));
    assert!(
        failures.is_empty(),
        "documented commands that do not run as written:\n\n{}",
        failures.join("\n\n")
    );
    // The extraction itself must keep finding the docs' commands.
    assert!(
        ran.len() >= 30
            && ran
                .iter()
                .any(|r| r.contains("docs/credential-provider-config.yaml")),
        "too few documented commands found:\n{}",
        ran.join("\n")
    );
}

#[test]
fn rerooting_keeps_urls_and_relative_paths() {
    let (text, paths) = reroot(
        "regcred location create x --path /root/.docker/config.json --realm http://a/b x/y > /etc/c.crt --f=/srv/d '/srv/e f'",
        Path::new("/tmp/s"),
    );
    assert_eq!(
        text,
        "regcred location create x --path /tmp/s/root/.docker/config.json --realm http://a/b x/y > /tmp/s/etc/c.crt --f=/tmp/s/srv/d '/tmp/s/srv/e f'"
    );
    assert_eq!(paths.len(), 4);
}
