//! `regcred pullsecret import`: one pull secret per login of a Docker `config.json` or
//! containers `auth.json` — the `auths` entries, and the logins kept by the credential helpers
//! the file names (`credsStore`, `credHelpers`; read by running them, see `credential_store`),
//! unless `--no-credential-helpers`. Logins regcred cannot use are listed as not importable,
//! with the reason; entries the server refuses and helpers that fail are reported and make the
//! command fail. The project and location are checked first, so a wrong one is one not-found
//! error (exit 4), before any helper runs.

use std::collections::BTreeSet;

use anyhow::Context;
use regcred_core::api::PullSecretCreated;
use regcred_core::auth_file::parse_auth_file;
use serde::Serialize;
use serde_json::{json, Value};

use super::credential_store::{self, Lookup};
use crate::cli::ImportArgs;
use crate::client::{ApiFailure, Client};
use crate::output::{Printer, Table};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    entry: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_secret: Option<String>,
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// A pull-secret name for an auths key: `ghcr.io` → `ghcr-io`, Docker Hub → `docker-hub`.
pub fn name_for(key: &str, taken: &mut BTreeSet<String>) -> String {
    let bare = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .trim_end_matches("/v2");
    let base = match bare {
        "index.docker.io" | "docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker-hub".to_owned()
        }
        other => {
            let mut out = String::new();
            for c in other.chars() {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    out.push(c);
                } else if !out.ends_with('-') {
                    out.push('-');
                }
            }
            let trimmed: String = out.trim_matches('-').chars().take(56).collect();
            let trimmed = trimmed.trim_end_matches('-').to_owned();
            if trimmed.is_empty() {
                "registry".to_owned()
            } else {
                trimmed
            }
        }
    };
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

pub async fn run(client: &Client, printer: &Printer, args: ImportArgs) -> anyhow::Result<()> {
    let path = match &args.file {
        Some(p) => p.clone(),
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set; give --file")?;
            std::path::PathBuf::from(home).join(".docker/config.json")
        }
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut parsed =
        parse_auth_file(&text).with_context(|| format!("reading {}", path.display()))?;
    // Every entry would fail the same way in a project or location that does not exist; one
    // question first answers not found (exit 4) before anything is tried.
    client
        .call::<_, Value>("project.get", &json!({"name": args.scope.project}))
        .await?;
    client
        .call::<_, Value>("location.get", &json!({"name": args.scope.location}))
        .await?;

    let mut outcomes = Vec::new();
    let mut failures = 0;
    if !args.no_credential_helpers {
        let entries = credential_store::read_helpers(&mut parsed.not_importable);
        for entry in entries {
            match entry.lookup {
                Lookup::Found(cred) => parsed.importable.push(cred),
                Lookup::NotImportable(reason) => outcomes.push(Outcome {
                    entry: entry.server,
                    pull_secret: None,
                    result: "not importable",
                    reason: Some(reason),
                }),
                Lookup::Failed(reason) => {
                    failures += 1;
                    outcomes.push(Outcome {
                        entry: entry.server,
                        pull_secret: None,
                        result: "failed",
                        reason: Some(reason),
                    });
                }
            }
        }
    }
    let helper_outcomes = std::mem::take(&mut outcomes);
    let helper_failures = failures;
    let mut taken = BTreeSet::new();
    for cred in &parsed.importable {
        let name = name_for(&cred.server, &mut taken);
        if args.dry_run {
            outcomes.push(Outcome {
                entry: cred.server.clone(),
                pull_secret: Some(name),
                result: "would import",
                reason: None,
            });
            continue;
        }
        let body = json!({
            "project": args.scope.project,
            "location": args.scope.location,
            "name": name,
            "spec": {
                "server": cred.server,
                "username": cred.username,
                "password": cred.password.expose(),
                "email": cred.email,
            },
        });
        match client
            .call::<_, PullSecretCreated>("pullSecret.create", &body)
            .await
        {
            Ok(created) => outcomes.push(Outcome {
                entry: cred.server.clone(),
                pull_secret: Some(name),
                result: if created.created {
                    "created"
                } else {
                    "rotated"
                },
                reason: None,
            }),
            Err(e) => match e.downcast::<ApiFailure>() {
                Ok(api) => {
                    failures += 1;
                    outcomes.push(Outcome {
                        entry: cred.server.clone(),
                        pull_secret: Some(name),
                        result: "failed",
                        reason: Some(api.to_string()),
                    });
                }
                Err(other) => return Err(other),
            },
        }
    }
    outcomes.extend(helper_outcomes);
    for skipped in &parsed.not_importable {
        outcomes.push(Outcome {
            entry: skipped
                .server
                .clone()
                .unwrap_or_else(|| "credsStore".to_owned()),
            pull_secret: None,
            result: "not importable",
            reason: Some(skipped.reason.to_string()),
        });
    }
    printer.print(&outcomes, |rows| {
        let mut t = Table::new(vec!["ENTRY", "PULL SECRET", "RESULT", "REASON"]);
        for o in rows {
            t.row(vec![
                o.entry.clone(),
                o.pull_secret.clone().unwrap_or_else(|| "-".into()),
                o.result.to_owned(),
                o.reason.clone().unwrap_or_default(),
            ]);
        }
        t
    })?;
    if failures > 0 {
        anyhow::bail!(
            "{failures} of {} entries could not be imported",
            parsed.importable.len() + helper_failures
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_server() {
        let mut taken = BTreeSet::new();
        for (key, name) in [
            ("https://index.docker.io/v1/", "docker-hub"),
            ("ghcr.io", "ghcr-io"),
            ("localhost:5000", "localhost-5000"),
            ("quay.io/Org/Repo", "quay-io-org-repo"),
            ("ghcr.io", "ghcr-io-2"),
        ] {
            assert_eq!(name_for(key, &mut taken), name);
        }
    }
}
