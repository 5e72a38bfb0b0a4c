//! The real `skopeo`, as a reference registry client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::binaries::SKOPEO;
use crate::ca::TestCa;

/// How long one skopeo invocation may take before the test fails.
const SKOPEO_TIMEOUT: Duration = Duration::from_secs(120);

/// How a client talks to the registry's transport.
#[derive(Debug, Clone, Copy)]
pub enum TlsMode<'a> {
    /// `--tls-verify=false`: plain HTTP (skopeo falls back to it), or TLS without verification.
    Insecure,
    /// TLS verified against this CA (`--cert-dir` holding its `ca.crt`).
    Ca(&'a TestCa),
    /// TLS verified against the system roots only, which trust no test CA.
    SystemRoots,
}

/// Which credentials skopeo uses.
#[derive(Debug, Clone, Copy)]
pub enum SkopeoAuth<'a> {
    /// `--no-creds`.
    Anonymous,
    /// `--creds USER:PASSWORD`.
    Creds(&'a str, &'a str),
    /// `--authfile FILE`: a containers `auth.json` or Docker `config.json`.
    AuthFile(&'a Path),
}

/// The result of one skopeo run.
#[derive(Debug, Clone)]
pub struct SkopeoOutput {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl SkopeoOutput {
    /// `sha256:…` of stdout: for `inspect --raw`, the manifest digest.
    pub fn stdout_digest(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(&self.stdout)))
    }
}

/// The real `skopeo` (Debian package `skopeo`) run hermetically: `HOME`, `XDG_RUNTIME_DIR`,
/// `XDG_CONFIG_HOME` and `TMPDIR` point into a temporary directory, the environment is otherwise
/// cleared (so `REGISTRY_AUTH_FILE` and the machine's `auth.json`/`config.json` are never read),
/// `registries.conf` is an empty file, and the signature policy is not consulted. Credentials
/// come only from the flags of each call.
#[derive(Debug)]
pub struct Skopeo {
    bin: PathBuf,
    home: TempDir,
    /// Directories searched before the system ones (for `docker-credential-*` helpers).
    path_prefix: Vec<PathBuf>,
    /// Environment passed on to skopeo and the helpers it runs.
    env: Vec<(String, String)>,
}

impl Skopeo {
    /// # Panics
    ///
    /// When skopeo is not installed (naming the package), or the temporary home cannot be made.
    #[track_caller]
    pub fn new() -> Skopeo {
        let bin = SKOPEO.path();
        let home = tempfile::Builder::new()
            .prefix("regcred-testkit-skopeo-")
            .tempdir()
            .expect("create skopeo home");
        for dir in ["run", "config", "tmp", "registries.d"] {
            std::fs::create_dir(home.path().join(dir)).expect("create skopeo home subdirectory");
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                home.path().join("run"),
                std::fs::Permissions::from_mode(0o700),
            )
            .expect("chmod XDG_RUNTIME_DIR");
        }
        std::fs::write(home.path().join("registries.conf"), "").expect("write registries.conf");
        Skopeo {
            bin,
            home,
            path_prefix: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Searches `dir` first for programs skopeo runs, such as `docker-credential-NAME` helpers.
    pub fn with_path(mut self, dir: &Path) -> Skopeo {
        self.path_prefix.push(dir.to_owned());
        self
    }

    /// Passes `key=value` to skopeo and the helpers it runs.
    pub fn with_env(mut self, key: &str, value: &str) -> Skopeo {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `skopeo inspect --raw docker://IMAGE` (IMAGE = `HOST/REPOSITORY:TAG` or `@DIGEST`): the
    /// manifest on stdout when the credentials may pull it.
    pub async fn inspect_raw(
        &self,
        image: &str,
        auth: SkopeoAuth<'_>,
        tls: TlsMode<'_>,
    ) -> SkopeoOutput {
        let mut args: Vec<String> = vec!["inspect".into(), "--raw".into()];
        args.extend(auth_args(auth, ""));
        args.extend(tls_args(tls, ""));
        args.push(format!("docker://{image}"));
        self.run(&args).await
    }

    /// Runs `skopeo GLOBAL-FLAGS ARGS…` hermetically and collects its output.
    ///
    /// # Panics
    ///
    /// When skopeo cannot be run or takes longer than two minutes.
    pub async fn run(&self, args: &[String]) -> SkopeoOutput {
        let home = self.home.path();
        let mut command = tokio::process::Command::new(&self.bin);
        command
            .arg("--insecure-policy")
            .arg("--registries.d")
            .arg(home.join("registries.d"))
            .arg("--tmpdir")
            .arg(home.join("tmp"))
            .args(args)
            .env_clear()
            .env("PATH", search_path(&self.path_prefix))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("HOME", home)
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("TMPDIR", home.join("tmp"))
            .env("CONTAINERS_REGISTRIES_CONF", home.join("registries.conf"))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(SKOPEO_TIMEOUT, command.output())
            .await
            .unwrap_or_else(|_| panic!("skopeo {args:?} took longer than {SKOPEO_TIMEOUT:?}"))
            .unwrap_or_else(|err| panic!("run {}: {err}", self.bin.display()));
        SkopeoOutput {
            success: output.status.success(),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Default for Skopeo {
    fn default() -> Skopeo {
        Skopeo::new()
    }
}

/// Credential flags; `prefix` is `""` for inspect, `"dest-"` for the target of a copy.
pub(crate) fn auth_args(auth: SkopeoAuth<'_>, prefix: &str) -> Vec<String> {
    match auth {
        SkopeoAuth::Anonymous => vec![format!("--{prefix}no-creds")],
        SkopeoAuth::Creds(user, password) => {
            vec![format!("--{prefix}creds"), format!("{user}:{password}")]
        }
        SkopeoAuth::AuthFile(path) => {
            vec![format!("--{prefix}authfile"), path.display().to_string()]
        }
    }
}

/// Transport flags; `prefix` as in [`auth_args`].
pub(crate) fn tls_args(tls: TlsMode<'_>, prefix: &str) -> Vec<String> {
    match tls {
        TlsMode::Insecure => vec![format!("--{prefix}tls-verify=false")],
        TlsMode::Ca(ca) => vec![
            format!("--{prefix}tls-verify=true"),
            format!("--{prefix}cert-dir"),
            ca.cert_dir().display().to_string(),
        ],
        TlsMode::SystemRoots => vec![format!("--{prefix}tls-verify=true")],
    }
}

/// `PATH` with `prefix` before the system directories.
fn search_path(prefix: &[PathBuf]) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = prefix.to_vec();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from));
    std::env::join_paths(dirs).unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
}
