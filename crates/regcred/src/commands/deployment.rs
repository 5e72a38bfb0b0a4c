//! `regcred deployment …`: deploy an image with its pull secrets, from flags or from a file in
//! the shapes of the seed platforms — the deploy API's `{"name","image","pullSecret"}`, the
//! platform's service file (`version: v1`, `kind: Service`, `metadata.name`, `container.image`,
//! `container.pull_secret`) or its older form without version, kind and metadata — and read
//! deployments back.

use std::path::Path;

use anyhow::Context;
use regcred_core::api::{Deployment, DeploymentDeploy, DeploymentDeployed, Items};
use regcred_core::codes::ErrorCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cli::{DeployArgs, DeploymentCommand, UsageError};
use crate::client::{ApiFailure, Client};
use crate::output::{note, Printer, Table};

fn table(items: &[Deployment]) -> Table {
    let mut t = Table::new(vec![
        "NAME",
        "PROJECT",
        "LOCATION",
        "REV",
        "IMAGE",
        "PULL SECRETS",
        "RESOLUTION",
        "DELIVERED",
    ]);
    for d in items {
        let secrets: Vec<String> = d
            .spec
            .pull_secrets
            .iter()
            .map(|p| format!("{}@{}", p.name, p.revision))
            .collect();
        t.row(vec![
            d.name.clone(),
            d.project.clone(),
            d.location.clone(),
            d.revision.to_string(),
            d.spec.image.clone(),
            secrets.join(","),
            d.spec.resolution.as_str().to_owned(),
            super::pull_secret::deliveries(&d.deliveries),
        ]);
    }
    t
}

/// The deploy-file shapes: a pull secret or several, at the top or under `container`, with the
/// spellings the seed platforms use.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeployFile {
    name: Option<String>,
    image: Option<String>,
    #[serde(alias = "pull_secret")]
    pull_secret: Option<String>,
    #[serde(default, alias = "pull_secrets")]
    pull_secrets: Vec<String>,
    replicas: Option<u32>,
    container: Option<ContainerSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContainerSection {
    image: Option<String>,
    #[serde(alias = "pull_secret")]
    pull_secret: Option<StringOrList>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// The service file of the platform regcred follows, exactly: `version: v1`, `kind: Service`,
/// `metadata: {name}`, `container: {image, pull_secret}`. Nothing else is accepted at any level,
/// so that a field the platform would honour is never silently ignored here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    #[expect(dead_code, reason = "decoded to refuse other versions")]
    version: ServiceFileVersion,
    #[expect(dead_code, reason = "decoded to refuse other kinds")]
    kind: ServiceFileKind,
    metadata: ServiceMetadata,
    container: ServiceContainer,
}

#[derive(Debug, Deserialize)]
enum ServiceFileVersion {
    #[serde(rename = "v1")]
    V1,
}

#[derive(Debug, Deserialize)]
enum ServiceFileKind {
    Service,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceMetadata {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceContainer {
    image: String,
    #[serde(default)]
    pull_secret: Option<StringOrList>,
}

impl From<ServiceFile> for DeployFile {
    fn from(f: ServiceFile) -> DeployFile {
        DeployFile {
            name: Some(f.metadata.name),
            container: Some(ContainerSection {
                image: Some(f.container.image),
                pull_secret: f.container.pull_secret,
            }),
            ..DeployFile::default()
        }
    }
}

/// The keys that make a file a [`ServiceFile`]; the other shapes have none of them.
const SERVICE_FILE_KEYS: [&str; 3] = ["version", "kind", "metadata"];

fn read_file(path: &Path) -> anyhow::Result<DeployFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let invalid = |message: String| -> anyhow::Error {
        UsageError(format!("{}: not a deploy file: {message}", path.display())).into()
    };
    // YAML is a superset of JSON, so one parser reads both.
    let shape: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| invalid(redact_values(&e.to_string())))?;
    let is_service_file = shape
        .as_mapping()
        .is_some_and(|m| SERVICE_FILE_KEYS.iter().any(|k| m.contains_key(*k)));
    if is_service_file {
        decode::<ServiceFile>(&text)
            .map(DeployFile::from)
            .map_err(invalid)
    } else {
        decode::<DeployFile>(&text).map_err(invalid)
    }
}

/// Decodes `text` strictly; the error names the field (serde_yaml prefixes its path, and appends
/// the position) and never quotes a value from the file.
fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_yaml::from_str(text).map_err(|e| {
        let message = e.to_string();
        let position = message.rfind(" at line ").map_or("", |i| &message[i..]);
        for field in ["version", "kind"] {
            if message.starts_with(&format!("{field}: ")) {
                let wanted = match field {
                    "version" => "v1, the only version of the service file",
                    _ => "Service",
                };
                return format!("{field}: must be {wanted}{position}");
            }
        }
        redact_values(&message).replace(
            "data did not match any variant of untagged enum StringOrList",
            "`pull_secret` must be a pull-secret name or a list of them",
        )
    })
}

/// serde quotes the offending value in type and value errors (`invalid type: string "x",
/// expected u32`); only its kind is kept. The value comes before the last `, expected`.
fn redact_values(message: &str) -> String {
    for marker in ["invalid type: ", "invalid value: ", "unknown variant "] {
        if let Some(at) = message.find(marker) {
            let (head, rest) = message.split_at(at + marker.len());
            let tail = rest.rfind(", expected").map_or("", |i| &rest[i..]);
            return match marker {
                "unknown variant " => format!("{}{tail}", head.trim_end()),
                _ => {
                    let kind = rest.split([' ', ',']).next().unwrap_or("");
                    format!("{head}{kind}{tail}")
                }
            };
        }
    }
    message.to_owned()
}

/// The request: flags override the file.
fn request(args: DeployArgs) -> anyhow::Result<DeploymentDeploy> {
    let file = match &args.file {
        Some(path) => read_file(path)?,
        None => DeployFile::default(),
    };
    let container = file.container.unwrap_or_default();
    let name = args
        .name
        .or(file.name)
        .ok_or_else(|| UsageError("--name is required (or name in the file)".into()))?;
    let image = args
        .image
        .or(container.image)
        .or(file.image)
        .ok_or_else(|| {
            UsageError("--image is required (or image / container.image in the file)".into())
        })?;
    let mut pull_secrets = args.pull_secrets;
    if pull_secrets.is_empty() {
        pull_secrets.extend(file.pull_secret);
        pull_secrets.extend(file.pull_secrets);
        match container.pull_secret {
            Some(StringOrList::One(s)) => pull_secrets.push(s),
            Some(StringOrList::Many(list)) => pull_secrets.extend(list),
            None => {}
        }
    }
    Ok(DeploymentDeploy {
        project: args.project,
        location: args.location,
        name,
        image,
        pull_secret: None,
        pull_secrets,
        replicas: args.replicas.or(file.replicas),
        no_verify: args.no_verify,
    })
}

pub async fn run(
    client: &Client,
    printer: &Printer,
    command: DeploymentCommand,
) -> anyhow::Result<()> {
    match command {
        DeploymentCommand::Deploy(args) => {
            let body = request(args)?;
            let deployed: DeploymentDeployed = match client.call("deployment.deploy", &body).await {
                Ok(d) => d,
                Err(e) => {
                    // A failed pre-flight check exits like every other failed registry check.
                    if let Some(api) = e.downcast_ref::<ApiFailure>() {
                        if api.error.code == ErrorCode::PreflightFailed.as_str() {
                            return Err(super::CheckFailed {
                                outcome: ErrorCode::PreflightFailed.to_string(),
                                hint: api.to_string(),
                            }
                            .into());
                        }
                    }
                    return Err(e);
                }
            };
            for w in &deployed.warnings {
                note(&format!("warning: {w}"));
            }
            printer.print(&deployed, |d| table(std::slice::from_ref(&d.deployment)))
        }
        DeploymentCommand::List { project, location } => {
            let l: Items<Deployment> = client
                .call_pages(
                    "deployment.list",
                    json!({"project": project, "location": location}),
                    None,
                )
                .await?;
            printer.print(&l, |l| table(&l.items))
        }
        DeploymentCommand::Get {
            name,
            project,
            location,
        } => {
            let d: Deployment = client
                .call(
                    "deployment.get",
                    &json!({"project": project, "location": location, "name": name}),
                )
                .await?;
            printer.print(&d, |d| table(std::slice::from_ref(d)))
        }
        DeploymentCommand::Delete {
            name,
            project,
            location,
        } => {
            let v: Value = client
                .call(
                    "deployment.delete",
                    &json!({"project": project, "location": location, "name": name}),
                )
                .await?;
            printer.print(&v, |_| Table::fields(vec![("deleted", name.clone())]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(file: &Path) -> DeployArgs {
        DeployArgs {
            project: "acme".into(),
            location: "gke".into(),
            name: None,
            image: None,
            pull_secrets: Vec::new(),
            replicas: None,
            file: Some(file.to_owned()),
            no_verify: false,
        }
    }

    fn check(text: &str, expected: (&str, &str, &[&str])) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.yaml");
        std::fs::write(&path, text).unwrap();
        let r = request(args(&path)).unwrap();
        assert_eq!(
            (r.name.as_str(), r.image.as_str()),
            (expected.0, expected.1)
        );
        assert_eq!(r.pull_secrets, expected.2);
    }

    #[test]
    fn deploy_files_in_the_seed_platforms_shapes() {
        check(
            r#"{"name":"api","image":"ghcr.io/acme/api:v1","pullSecret":"ghcr"}"#,
            ("api", "ghcr.io/acme/api:v1", &["ghcr"]),
        );
        check(
            "name: api\ncontainer:\n  image: ghcr.io/acme/api:v1\n  pull_secret: ghcr\n",
            ("api", "ghcr.io/acme/api:v1", &["ghcr"]),
        );
        check(
            "name: api\ncontainer:\n  image: ghcr.io/acme/api:v1\n  pull_secret: [ghcr, ps_00ff]\n",
            ("api", "ghcr.io/acme/api:v1", &["ghcr", "ps_00ff"]),
        );
    }

    #[test]
    fn service_file_with_version_kind_and_metadata_is_accepted() {
        let service = |pull_secret: &str| {
            format!("version: v1\nkind: Service\nmetadata:\n  name: api\ncontainer:\n  image: ghcr.io/acme/api:v1\n{pull_secret}")
        };
        check(
            &service("  pull_secret: ghcr\n"),
            ("api", "ghcr.io/acme/api:v1", &["ghcr"]),
        );
        check(
            &service("  pull_secret: [ghcr, ps_00ff]\n"),
            ("api", "ghcr.io/acme/api:v1", &["ghcr", "ps_00ff"]),
        );
        check(&service(""), ("api", "ghcr.io/acme/api:v1", &[]));
        check(
            r#"{"version":"v1","kind":"Service","metadata":{"name":"api"},"container":{"image":"nginx:1.27","pull_secret":"hub"}}"#,
            ("api", "nginx:1.27", &["hub"]),
        );
    }

    /// The error for `text`: it names `field` and shows nothing of the planted value.
    fn refused(text: &str, field: &str) {
        const PLANTED: &str = "hunter2-canary";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.yaml");
        std::fs::write(&path, text).unwrap();
        let e = request(args(&path)).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
        let e = e.to_string();
        assert!(e.contains(field), "{text}: {e}");
        assert!(!e.contains(PLANTED), "{text}: {e}");
    }

    #[test]
    fn service_file_refuses_what_it_does_not_know_without_echoing_values() {
        let base = |top: &str, metadata: &str, container: &str| {
            format!("{top}metadata:\n  name: api\n{metadata}container:\n  image: nginx\n  pull_secret: hub\n{container}")
        };
        let v1 = "version: v1\nkind: Service\n";
        refused(
            &base(&format!("{v1}replicas: hunter2-canary\n"), "", ""),
            "replicas",
        );
        refused(
            &base(v1, "  labels: hunter2-canary\n", ""),
            "metadata: unknown field `labels`",
        );
        refused(
            &base(v1, "", "  env: hunter2-canary\n"),
            "container: unknown field `env`",
        );
        refused(
            &base("version: hunter2-canary\nkind: Service\n", "", ""),
            "version: must be v1",
        );
        refused(
            &base("version: 1\nkind: Service\n", "", ""),
            "version: must be v1",
        );
        refused(
            &base("version: v1\nkind: hunter2-canary\n", "", ""),
            "kind: must be Service",
        );
        refused(
            &base("version: v1\nkind: [hunter2-canary]\n", "", ""),
            "kind: must be Service",
        );
        refused(&base("kind: Service\n", "", ""), "missing field `version`");
        refused(&base("version: v1\n", "", ""), "missing field `kind`");
        refused(
            "version: v1\nkind: Service\nmetadata:\n  name: api\ncontainer:\n  pull_secret: hunter2-canary\n",
            "missing field `image`",
        );
        refused(
            "version: v1\nkind: Service\nmetadata: {}\ncontainer:\n  image: nginx\n",
            "missing field `name`",
        );
        refused(
            "version: v1\nkind: Service\nmetadata:\n  name: api\ncontainer:\n  image: nginx\n  pull_secret: {a: hunter2-canary}\n",
            "container: `pull_secret` must be a pull-secret name or a list",
        );
        // The older shape's errors do not echo values either, even one that looks like the end
        // of serde's message.
        refused(
            "name: api\nimage: nginx\nreplicas: \"hunter2-canary, expected u32\"\n",
            "replicas: invalid type: string, expected u32",
        );
        // A camelCase spelling is another field in this shape.
        refused(
            &base(v1, "", "  pullSecret: hunter2-canary\n"),
            "container: unknown field `pullSecret`",
        );
    }

    #[test]
    fn unknown_fields_in_a_deploy_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.yaml");
        std::fs::write(&path, "name: api\nimage: x\npullsecret: typo\n").unwrap();
        let e = request(args(&path)).unwrap_err();
        assert!(e.to_string().contains("pullsecret"), "{e}");
    }
}
