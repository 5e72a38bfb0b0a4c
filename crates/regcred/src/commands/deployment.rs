//! `regcred deployment …`: deploy an image with its pull secrets, from flags or from a file in
//! the shapes of the seed platforms — the deploy API's `{"name","image","pullSecret"}` or a
//! service file with `container.image` and `container.pull_secret` — and read deployments back.

use std::path::Path;

use anyhow::Context;
use regcred_core::api::{Deployment, DeploymentDeploy, DeploymentDeployed, Items};
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
            d.spec.resolution.clone(),
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

fn read_file(path: &Path) -> anyhow::Result<DeployFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // YAML is a superset of JSON, so one parser reads both.
    serde_yaml::from_str(&text)
        .map_err(|e| UsageError(format!("{}: not a deploy file: {e}", path.display())).into())
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
                        if api.error.code == "preflight_failed" {
                            return Err(super::CheckFailed {
                                outcome: "preflight_failed".into(),
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
                .call(
                    "deployment.list",
                    &json!({"project": project, "location": location}),
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
    fn unknown_fields_in_a_deploy_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.yaml");
        std::fs::write(&path, "name: api\nimage: x\npullsecret: typo\n").unwrap();
        let e = request(args(&path)).unwrap_err();
        assert!(e.to_string().contains("pullsecret"), "{e}");
    }
}
