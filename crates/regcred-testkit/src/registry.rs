//! The real distribution registry (`docker-registry serve`) on a loopback port.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_rustls::rustls;

use crate::binaries::{DOCKER_REGISTRY, HTPASSWD};
use crate::ca::TestCa;
use crate::probe;
use crate::token_server::{random_hex, TokenServer};

/// Response header carrying a per-process nonce, so the readiness check knows the server
/// answering on the port is the process this fixture started and not another test's registry
/// that grabbed the same port (ports are picked by binding `:0` and released before the
/// registry binds them; under nextest every test is its own process).
const INSTANCE_HEADER: &str = "X-Regcred-Testkit-Instance";

/// How long a registry may take to answer `GET /v2/` after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How the registry authenticates clients (`auth:` in its configuration).
#[derive(Debug, Clone)]
pub enum Auth {
    /// No authentication: anyone may pull and push.
    None,
    /// `auth.htpasswd`: Basic authentication against bcrypt entries made by `htpasswd -nbB`.
    Htpasswd { users: Vec<(String, String)> },
    /// `auth.token`: Bearer tokens from a token server, verified against `root_cert_pem`
    /// (`rootcertbundle`).
    Token {
        realm_url: String,
        service: String,
        issuer: String,
        root_cert_pem: String,
    },
}

impl Auth {
    /// htpasswd mode with these `(user, password)` pairs.
    pub fn htpasswd(users: &[(&str, &str)]) -> Auth {
        Auth::Htpasswd {
            users: users
                .iter()
                .map(|(user, password)| (user.to_string(), password.to_string()))
                .collect(),
        }
    }

    /// Token mode trusting `server`'s tokens, with its realm, service and issuer.
    pub fn token(server: &TokenServer) -> Auth {
        Auth::Token {
            realm_url: server.realm_url(),
            service: server.service().to_string(),
            issuer: server.issuer().to_string(),
            root_cert_pem: server.root_cert_pem().to_string(),
        }
    }
}

/// What to start: the authentication mode, and TLS with a server certificate from `tls`
/// (plain HTTP when `None`).
#[derive(Debug, Clone)]
pub struct RegistryOptions<'a> {
    pub auth: Auth,
    pub tls: Option<&'a TestCa>,
}

/// The real CNCF distribution registry 2.8 (`/usr/bin/docker-registry serve CONFIG`, Debian
/// package `docker-registry`) listening on `127.0.0.1:PORT` with filesystem storage in a
/// temporary directory, log level `warn`. [`Registry::start`] returns once `GET /v2/` answers.
/// Dropping it kills and reaps the process; [`Registry::stop`] does so early (the "registry is
/// down" scenario) and [`Registry::restart`] brings it back on the same port with the same
/// content.
#[derive(Debug)]
pub struct Registry {
    dir: TempDir,
    port: u16,
    /// Client TLS configuration trusting the registry's CA; `None` for plain HTTP.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The configuration without `http.addr` and the instance header, which change per spawn.
    base_config: Value,
    child: Option<Child>,
}

/// Why one attempt to spawn the registry did not produce a running registry.
enum SpawnError {
    /// Someone else holds the port.
    AddressInUse,
}

impl Registry {
    /// Writes the configuration (and the htpasswd file or token root bundle), starts the
    /// registry on a free port and waits until it answers.
    ///
    /// # Panics
    ///
    /// When `docker-registry` (or, for htpasswd mode, `htpasswd`) is not installed, or the
    /// registry exits or does not answer in time; the message includes the registry's output.
    pub async fn start(options: RegistryOptions<'_>) -> Registry {
        let registry_bin = DOCKER_REGISTRY.path();
        let dir = tempfile::Builder::new()
            .prefix("regcred-testkit-registry-")
            .tempdir()
            .expect("create registry temp dir");
        let root = dir.path();

        let auth = match &options.auth {
            Auth::None => Value::Null,
            Auth::Htpasswd { users } => {
                let path = root.join("htpasswd");
                let mut entries = String::new();
                for (user, password) in users {
                    entries.push_str(&bcrypt_entry(user, password).await);
                    entries.push('\n');
                }
                write(&path, &entries);
                json!({ "htpasswd": { "realm": "regcred-testkit", "path": path } })
            }
            Auth::Token {
                realm_url,
                service,
                issuer,
                root_cert_pem,
            } => {
                let path = root.join("token-root.pem");
                write(&path, root_cert_pem);
                json!({ "token": {
                    "realm": realm_url,
                    "service": service,
                    "issuer": issuer,
                    "rootcertbundle": path,
                } })
            }
        };

        let mut http = json!({ "secret": random_hex(16) });
        if let Some(ca) = options.tls {
            // Copies, so a restart works even if the CA fixture is gone by then.
            let cert = root.join("server.crt");
            let key = root.join("server.key");
            copy(&ca.server_cert_path(), &cert);
            copy(&ca.server_key_path(), &key);
            http["tls"] = json!({ "certificate": cert, "key": key });
        }

        let mut base_config = json!({
            "version": "0.1",
            "log": { "level": "warn", "accesslog": { "disabled": true } },
            "storage": {
                "filesystem": { "rootdirectory": root.join("storage") },
                "delete": { "enabled": true },
            },
            "http": http,
            "health": { "storagedriver": { "enabled": false } },
        });
        if !auth.is_null() {
            base_config["auth"] = auth;
        }

        let mut registry = Registry {
            port: 0,
            tls: options.tls.map(TestCa::rustls_client_config),
            base_config,
            child: None,
            dir,
        };
        for _ in 0..8 {
            let port = free_port();
            match registry.spawn(&registry_bin, port).await {
                Ok(child) => {
                    registry.port = port;
                    registry.child = Some(child);
                    return registry;
                }
                Err(SpawnError::AddressInUse) => continue,
            }
        }
        panic!("docker-registry: every port tried was already in use");
    }

    /// `127.0.0.1:PORT`, the registry host as it appears in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the registry serves TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `HOST/REPOSITORY:TAG`, an image reference on this registry.
    pub fn image(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.host())
    }

    /// Kills and reaps the registry; its port then refuses connections. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Both fail only when the process is already gone, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the registry again on the same port, with the same configuration and content.
    ///
    /// # Panics
    ///
    /// When it does not come up, e.g. because another process took the port meanwhile.
    pub async fn restart(&mut self) {
        self.stop();
        let registry_bin = DOCKER_REGISTRY.path();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn(&registry_bin, self.port).await {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(SpawnError::AddressInUse) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(SpawnError::AddressInUse) => {
                    panic!(
                        "docker-registry: port {} was taken while the registry was stopped",
                        self.port
                    )
                }
            }
        }
    }

    /// The registry's output (stdout and stderr) of its current or last run.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// One start on `port`: spawn, then poll `GET /v2/` until our instance answers.
    async fn spawn(&self, registry_bin: &Path, port: u16) -> Result<Child, SpawnError> {
        let instance = random_hex(16);
        let mut config = self.base_config.clone();
        config["http"]["addr"] = json!(format!("127.0.0.1:{port}"));
        config["http"]["headers"] = json!({ INSTANCE_HEADER: [instance] });
        // YAML is a superset of JSON; serde_json quotes paths correctly.
        let config_path = self.dir.path().join("config.yml");
        write(
            &config_path,
            &serde_json::to_string_pretty(&config).expect("config serializes"),
        );

        let log = File::create(self.log_path()).expect("create registry log");
        let log_err = log.try_clone().expect("clone registry log handle");
        let mut child = Command::new(registry_bin)
            .arg("serve")
            .arg(&config_path)
            // `REGISTRY_*` variables would override the configuration.
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {}: {err}", registry_bin.display()));

        let deadline = Instant::now() + START_TIMEOUT;
        let mut foreign_answer = false;
        loop {
            if let Some(status) = child.try_wait().expect("poll docker-registry") {
                let log = self.log();
                if log.contains("address already in use") {
                    return Err(SpawnError::AddressInUse);
                }
                panic!("docker-registry exited ({status}) before answering GET /v2/:\n{log}");
            }
            if let Some(head) = probe::get(port, "/v2/", self.tls.clone()).await {
                if head.header(INSTANCE_HEADER) == Some(instance.as_str()) {
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
                    "docker-registry did not answer GET /v2/ on port {port} within {:?}:\n{}",
                    START_TIMEOUT,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago: bind `127.0.0.1:0`, read the port, release it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral loopback port")
}

/// One `user:$2y$…` line from `htpasswd -nbB` (bcrypt: distribution silently rejects MD5).
async fn bcrypt_entry(user: &str, password: &str) -> String {
    let output = tokio::process::Command::new(HTPASSWD.path())
        .args(["-nbB", user, password])
        .env_clear()
        .output()
        .await
        .expect("run htpasswd");
    assert!(
        output.status.success(),
        "htpasswd -nbB {user} … failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("htpasswd prints ASCII")
        .trim()
        .to_string()
}

#[track_caller]
fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
}

#[track_caller]
fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|err| panic!("copy {} to {}: {err}", from.display(), to.display()));
}
