//! The moto AWS emulator (`moto_server`, PyPI package `moto[server]`) on a loopback port: the
//! real ECR and STS APIs (as far as moto implements them) for the ECR provider's tests.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::probe;

/// Where `scripts/setup` creates the virtualenv unless `REGCRED_MOTO_VENV` says otherwise.
const DEFAULT_VENV: &str = "/var/tmp/regcred-moto-venv";

/// How long moto may take to answer after it was spawned (Python imports take a second or two).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Moto's actions that are let through unauthenticated before it starts enforcing IAM: exactly
/// the ones [`Moto::start_enforcing_iam`] makes to create its two users.
const IAM_SETUP_ACTIONS: u32 = 5;

/// An AWS access key pair made by moto's IAM.
#[derive(Clone)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// The two users of a moto that enforces IAM.
#[derive(Debug, Clone)]
struct IamUsers {
    allowed: AwsKeys,
    denied: AwsKeys,
}

/// `moto_server -H 127.0.0.1 -p PORT` from the virtualenv in `$REGCRED_MOTO_VENV` (default
/// `/var/tmp/regcred-moto-venv`, made by `scripts/setup`). [`Moto::start`] returns once it
/// answers. Dropping it kills and reaps the process; [`Moto::stop`] does so early (the "emulator
/// is down" scenario) and [`Moto::restart`] brings it back on the same port.
///
/// Moto keeps everything in memory: a restart starts from an empty account. By default moto
/// checks neither keys nor signatures, and any well-formed role ARN can be assumed (the
/// temporary keys then act in the role's account). What moto answers, as seen with moto 5.2:
/// every `GetAuthorizationToken` is `AWS:<account>-auth-token` expiring at 2015-01-01T00:00:00Z,
/// with `proxyEndpoint` `https://<account>.dkr.ecr.<region>.amazonaws.com` for any region
/// string; errors of JSON-protocol services come as an XML `ErrorResponse` without the
/// `x-amzn-errortype` header.
#[derive(Debug)]
pub struct Moto {
    dir: TempDir,
    port: u16,
    server: PathBuf,
    enforce_iam: bool,
    iam_users: Option<IamUsers>,
    child: Option<Child>,
}

/// Why one attempt to spawn moto did not produce a running moto.
enum SpawnError {
    /// Someone else holds the port.
    AddressInUse,
}

impl Moto {
    /// The account moto acts in for keys it does not know (every key, unless IAM is enforced).
    pub const ACCOUNT_ID: &'static str = "123456789012";

    /// Starts moto on a free port, checking no credentials.
    ///
    /// # Panics
    ///
    /// When the virtualenv has no `moto_server` (run `scripts/setup`), or moto exits or does not
    /// answer in time; the message includes moto's output.
    pub async fn start() -> Moto {
        Moto::launch(false).await
    }

    /// Starts moto enforcing IAM (`INITIAL_NO_AUTH_ACTION_COUNT`): unknown keys are refused with
    /// `InvalidClientTokenId`, a wrong secret with `SignatureDoesNotMatch`, and a user's keys
    /// only do what its policies allow. Two users are made first: [`Moto::allowed_keys`] may
    /// call `ecr:GetAuthorizationToken` and `sts:AssumeRole`, [`Moto::denied_keys`] nothing.
    /// [`Moto::create_repository`] does not work on such a moto.
    ///
    /// # Panics
    ///
    /// As [`Moto::start`], and when the users cannot be made.
    pub async fn start_enforcing_iam() -> Moto {
        Moto::launch(true).await
    }

    async fn launch(enforce_iam: bool) -> Moto {
        let server = moto_server(&venv());
        let dir = tempfile::Builder::new()
            .prefix("regcred-testkit-moto-")
            .tempdir()
            .expect("create moto temp dir");
        let mut moto = Moto {
            dir,
            port: 0,
            server,
            enforce_iam,
            iam_users: None,
            child: None,
        };
        for _ in 0..8 {
            let port = free_port();
            match moto.spawn(port).await {
                Ok(child) => {
                    moto.port = port;
                    moto.child = Some(child);
                    moto.set_up_iam().await;
                    return moto;
                }
                Err(SpawnError::AddressInUse) => continue,
            }
        }
        panic!("moto: every port tried was already in use");
    }

    /// `http://127.0.0.1:PORT`, the endpoint URL for every AWS service moto emulates.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Keys of the user allowed `ecr:GetAuthorizationToken` and `sts:AssumeRole`. They change
    /// on [`Moto::restart`].
    ///
    /// # Panics
    ///
    /// When this moto was not started with [`Moto::start_enforcing_iam`].
    pub fn allowed_keys(&self) -> &AwsKeys {
        &self.users().allowed
    }

    /// Keys of a user with no policy at all. They change on [`Moto::restart`].
    ///
    /// # Panics
    ///
    /// When this moto was not started with [`Moto::start_enforcing_iam`].
    pub fn denied_keys(&self) -> &AwsKeys {
        &self.users().denied
    }

    #[track_caller]
    fn users(&self) -> &IamUsers {
        self.iam_users
            .as_ref()
            .expect("IAM users exist only on a moto from Moto::start_enforcing_iam")
    }

    /// Kills and reaps moto; its port then refuses connections. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Both fail only when the process is already gone, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts moto again on the same port. Its state is gone (moto keeps it in memory); a moto
    /// that enforces IAM gets its two users again, with new keys.
    ///
    /// # Panics
    ///
    /// When it does not come up, e.g. because another process took the port meanwhile.
    pub async fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn(self.port).await {
                Ok(child) => {
                    self.child = Some(child);
                    self.set_up_iam().await;
                    return;
                }
                Err(SpawnError::AddressInUse) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(SpawnError::AddressInUse) => {
                    panic!("moto: port {} was taken while moto was stopped", self.port)
                }
            }
        }
    }

    /// Moto's output (stdout and stderr, one line per request) of its current or last run.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// How many AWS API calls moto answered with 200 in its current or last run (every AWS
    /// JSON call, such as `GetAuthorizationToken`, is a `POST /`).
    pub fn answered_calls(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("\"POST / HTTP/1.1\" 200"))
            .count()
    }

    /// Creates the ECR repository `name` in `region` of [`Moto::ACCOUNT_ID`] and returns its
    /// `repositoryUri` (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`).
    ///
    /// # Panics
    ///
    /// When moto refuses (the repository exists, or moto enforces IAM).
    pub async fn create_repository(&self, region: &str, name: &str) -> String {
        let response = reqwest::Client::new()
            .post(self.endpoint_url())
            .header("Authorization", unsigned_authorization(region, "ecr"))
            .header(
                "X-Amz-Target",
                "AmazonEC2ContainerRegistry_V20150921.CreateRepository",
            )
            .header("Content-Type", "application/x-amz-json-1.1")
            .body(serde_json::json!({ "repositoryName": name }).to_string())
            .send()
            .await
            .unwrap_or_else(|err| panic!("moto CreateRepository {name}: {err}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "moto CreateRepository {name}: HTTP {status}: {body}"
        );
        let answer: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|err| panic!("moto CreateRepository {name}: {err}: {body}"));
        answer["repository"]["repositoryUri"]
            .as_str()
            .unwrap_or_else(|| panic!("moto CreateRepository {name}: no repositoryUri: {body}"))
            .to_string()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("moto.log")
    }

    /// One start on `port`: spawn, then poll until moto answers on a socket it owns.
    async fn spawn(&self, port: u16) -> Result<Child, SpawnError> {
        let log = File::create(self.log_path()).expect("create moto log");
        let log_err = log.try_clone().expect("clone moto log handle");
        let mut command = Command::new(&self.server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // No AWS_* or MOTO_* settings from the test's environment.
            .env_clear()
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if self.enforce_iam {
            command.env(
                "INITIAL_NO_AUTH_ACTION_COUNT",
                IAM_SETUP_ACTIONS.to_string(),
            );
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {}: {err}", self.server.display()));

        let deadline = Instant::now() + START_TIMEOUT;
        let mut foreign_answer = false;
        loop {
            if let Some(status) = child.try_wait().expect("poll moto_server") {
                let log = self.log();
                if log.contains("Address already in use") || log.contains("is in use by another") {
                    return Err(SpawnError::AddressInUse);
                }
                panic!("moto_server exited ({status}) before answering:\n{log}");
            }
            // Moto cannot be told to send a marker header, so "it is ours" is checked by asking
            // the kernel who owns the listening socket: ports are picked by binding `:0` and
            // releasing them, and another test's server may have taken this one meanwhile.
            if probe::get(port, "/moto-api/", None).await.is_some() {
                if listens_on(child.id(), port) {
                    return Ok(child);
                }
                foreign_answer = true;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                if foreign_answer {
                    return Err(SpawnError::AddressInUse);
                }
                panic!(
                    "moto_server did not answer on port {port} within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes the two IAM users of a moto that enforces IAM, using up exactly its
    /// [`IAM_SETUP_ACTIONS`] unauthenticated actions.
    async fn set_up_iam(&mut self) {
        if !self.enforce_iam {
            return;
        }
        let allowed_policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken", "sts:AssumeRole"],
                "Resource": "*",
            }],
        })
        .to_string();
        self.iam(&[("Action", "CreateUser"), ("UserName", "regcred-allowed")])
            .await;
        let allowed = access_key(
            &self
                .iam(&[
                    ("Action", "CreateAccessKey"),
                    ("UserName", "regcred-allowed"),
                ])
                .await,
        );
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "regcred-allowed"),
            ("PolicyName", "pull-from-ecr"),
            ("PolicyDocument", &allowed_policy),
        ])
        .await;
        self.iam(&[("Action", "CreateUser"), ("UserName", "regcred-denied")])
            .await;
        let denied = access_key(
            &self
                .iam(&[
                    ("Action", "CreateAccessKey"),
                    ("UserName", "regcred-denied"),
                ])
                .await,
        );
        self.iam_users = Some(IamUsers { allowed, denied });
    }

    /// One unauthenticated IAM Query API call; the answer's XML.
    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut form: Vec<(&str, &str)> = vec![("Version", "2010-05-08")];
        form.extend_from_slice(params);
        let response = reqwest::Client::new()
            .post(self.endpoint_url())
            .header("Authorization", unsigned_authorization("us-east-1", "iam"))
            .form(&form)
            .send()
            .await
            .unwrap_or_else(|err| panic!("moto IAM {params:?}: {err}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "moto IAM {params:?}: HTTP {status}: {body}"
        );
        body
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An `Authorization` header with a signature moto does not check while it does not enforce
/// IAM: moto routes requests to a service by the credential scope.
fn unsigned_authorization(region: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=regcred-testkit/20150101/{region}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

/// The key pair in a `CreateAccessKey` answer.
#[track_caller]
fn access_key(xml: &str) -> AwsKeys {
    let element = |tag: &str| {
        let open = format!("<{tag}>");
        let start = xml
            .find(&open)
            .unwrap_or_else(|| panic!("no <{tag}> in moto's CreateAccessKey answer: {xml}"))
            + open.len();
        let len = xml[start..]
            .find(&format!("</{tag}>"))
            .unwrap_or_else(|| panic!("unclosed <{tag}> in moto's CreateAccessKey answer"));
        xml[start..start + len].to_string()
    };
    AwsKeys {
        access_key_id: element("AccessKeyId"),
        secret_access_key: element("SecretAccessKey"),
    }
}

/// The virtualenv holding moto: `$REGCRED_MOTO_VENV`, else `/var/tmp/regcred-moto-venv`.
fn venv() -> PathBuf {
    std::env::var_os("REGCRED_MOTO_VENV")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_VENV))
}

/// `VENV/bin/moto_server`.
///
/// # Panics
///
/// When it is not there, saying how to install it.
#[track_caller]
fn moto_server(venv: &Path) -> PathBuf {
    let server = venv.join("bin").join("moto_server");
    if !server.is_file() {
        panic!(
            "moto is not installed: {} does not exist. Run scripts/setup (it creates the \
             virtualenv {} and installs moto[server] into it), or point REGCRED_MOTO_VENV at a \
             virtualenv that has it; regcred's tests need the real emulator and never skip",
            server.display(),
            venv.display()
        );
    }
    server
}

/// A port that was free a moment ago: bind `127.0.0.1:0`, read the port, release it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral loopback port")
}

/// Whether process `pid` holds the IPv4 socket listening on `port` (Linux `/proc`).
fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let Some(inode) = listening_inode(&table, port) else {
        return false;
    };
    let target = format!("socket:[{inode}]");
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .map(|link| link.as_os_str() == target.as_str())
            .unwrap_or(false)
    })
}

/// The inode of the socket in state LISTEN (`0A`) on `port` in a `/proc/net/tcp` table.
fn listening_inode(table: &str, port: u16) -> Option<u64> {
    let port_suffix = format!(":{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
        (local.ends_with(&port_suffix) && *state == "0A")
            .then(|| inode.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(
        expected = "moto is not installed: /nonexistent/regcred-venv/bin/moto_server \
                               does not exist. Run scripts/setup"
    )]
    fn a_missing_virtualenv_fails_saying_how_to_install_it() {
        moto_server(Path::new("/nonexistent/regcred-venv"));
    }

    #[test]
    fn listening_sockets_are_found_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
";
        assert_eq!(listening_inode(table, 8080), Some(4242));
        assert_eq!(listening_inode(table, 80), Some(4444));
        assert_eq!(listening_inode(table, 50000), None);
    }

    #[test]
    fn a_listener_of_this_process_is_recognized() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listens_on(std::process::id(), port));
        drop(listener);
        assert!(!listens_on(std::process::id(), port));
    }

    #[test]
    fn keys_debug_hides_the_secret() {
        let keys = AwsKeys {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "very-secret-value".into(),
        };
        let shown = format!("{keys:?}");
        assert!(shown.contains("AKIAEXAMPLE"));
        assert!(!shown.contains("very-secret-value"), "{shown}");
    }

    #[tokio::test]
    async fn moto_answers_ecr_and_comes_back_after_a_restart() {
        let mut moto = Moto::start().await;
        let uri = moto.create_repository("eu-west-1", "team/api").await;
        assert_eq!(uri, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api");

        moto.stop();
        assert!(probe::get(moto.port(), "/moto-api/", None).await.is_none());
        moto.restart().await;
        // State is gone after a restart, so the same repository can be made again.
        moto.create_repository("eu-west-1", "team/api").await;
    }

    #[tokio::test]
    async fn an_enforcing_moto_hands_out_working_keys_and_refuses_unsigned_calls() {
        let mut moto = Moto::start_enforcing_iam().await;
        let first = moto.allowed_keys().clone();
        assert!(first.access_key_id.starts_with("AKIA"), "{first:?}");
        assert_ne!(moto.denied_keys().access_key_id, first.access_key_id);

        // The setup used up the unauthenticated actions: this one is refused.
        let refused = reqwest::Client::new()
            .post(moto.endpoint_url())
            .header("Authorization", unsigned_authorization("us-east-1", "iam"))
            .form(&[("Action", "ListUsers"), ("Version", "2010-05-08")])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);

        moto.restart().await;
        assert_ne!(moto.allowed_keys().access_key_id, first.access_key_id);
    }
}
