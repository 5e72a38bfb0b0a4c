//! The real `kubectl` as the reference for the Secrets regcred renders and delivers:
//! `kubectl create secret docker-registry … --dry-run=client -o json`, offline (no cluster is
//! contacted with `--dry-run=client`; `KUBECONFIG` points at an empty file).

use std::process::Command;

use serde_json::Value;

use crate::binaries::KUBECTL;

/// The Secret kubectl renders for one login in `namespace`; `server` `None` is kubectl's default
/// (Docker Hub, `https://index.docker.io/v1/`).
///
/// # Panics
///
/// When kubectl is missing or refuses the input (its message included).
#[track_caller]
pub fn kubectl_secret(
    name: &str,
    namespace: &str,
    server: Option<&str>,
    username: &str,
    password: &str,
) -> Value {
    let mut args = vec![
        "create".to_owned(),
        "secret".into(),
        "docker-registry".into(),
        name.into(),
        "-n".into(),
        namespace.into(),
    ];
    if let Some(server) = server {
        args.push(format!("--docker-server={server}"));
    }
    args.extend([
        format!("--docker-username={username}"),
        format!("--docker-password={password}"),
        "--dry-run=client".into(),
        "-o".into(),
        "json".into(),
    ]);
    let out = Command::new(KUBECTL.path())
        .args(&args)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl prints JSON")
}
