//! `regcred pullsecret create|list|get|delete|verify`. A pull secret is named by NAME (or
//! `--name`) with `--project` and `--location`, or by `--id`; a missing secret is asked for on a
//! terminal, and a delete is confirmed there first.

use regcred_core::api::{
    DeliveryState, Items, PullSecret, PullSecretCreated, PullSecretDeleted, PullSecretRef,
    Verification,
};
use regcred_core::credential::Kind;
use regcred_core::registry_host::RegistryServer;
use regcred_core::secret::Secret;
use serde_json::{json, Map, Value};

use super::{given_secret, need, read_secret_file, require_ok};
use crate::cli::{wire, PullSecretCommand, PullSecretCreateArgs, PullSecretTarget};
use crate::client::Client;
use crate::output::{note, Printer, Table};
use crate::prompt;

pub async fn run(
    client: &Client,
    printer: &Printer,
    command: PullSecretCommand,
) -> anyhow::Result<()> {
    match command {
        PullSecretCommand::Create(args) => create(client, printer, *args).await,
        PullSecretCommand::List {
            project,
            location,
            kind,
        } => {
            let list: Items<PullSecret> = client
                .call_pages(
                    "pullSecret.list",
                    json!({"project": project, "location": location, "kind": kind}),
                    None,
                )
                .await?;
            printer.print(&list, |l| table(&l.items))
        }
        PullSecretCommand::Get { target } => {
            let target = reference(target)?;
            let secret: PullSecret = client.call("pullSecret.get", &target).await?;
            printer.print(&secret, details)
        }
        PullSecretCommand::Delete { target, force, yes } => {
            let target = reference(target)?;
            if prompt::must_confirm(yes, prompt::interactive()) {
                prompt::confirm(&format!("Delete pull secret {}?", describe(&target)))?;
            }
            let mut body = serde_json::to_value(&target)?;
            body["force"] = json!(force);
            let deleted: PullSecretDeleted = client.call("pullSecret.delete", &body).await?;
            printer.print(&deleted, |d| {
                Table::fields(vec![
                    ("deleted", d.id.clone()),
                    ("forced", d.forced.to_string()),
                ])
            })
        }
        PullSecretCommand::Import(args) => super::import::run(client, printer, args).await,
        PullSecretCommand::Verify { target, image } => {
            let target = reference(target)?;
            let mut body = serde_json::to_value(&target)?;
            body["image"] = json!(image);
            let verified: Value = client.call("pullSecret.verify", &body).await?;
            let v: Verification = serde_json::from_value(verified["verification"].clone())?;
            printer.print(&verified, |_| verification_table(&v))?;
            require_ok(&v.outcome, &v.hint)
        }
    }
}

/// The pull secret a get, delete or verify names: by id, or by name (positional or `--name`)
/// with project and location.
fn reference(target: PullSecretTarget) -> anyhow::Result<PullSecretRef> {
    if target.id.is_some() {
        return Ok(PullSecretRef {
            id: target.id,
            ..Default::default()
        });
    }
    let name = need(target.name(), "NAME (or --name)")?.to_owned();
    need(target.project.as_ref(), "--project")?;
    need(target.location.as_ref(), "--location")?;
    Ok(PullSecretRef {
        id: None,
        project: target.project,
        location: target.location,
        name: Some(name),
    })
}

/// A pull secret as the confirmation question names it.
fn describe(target: &PullSecretRef) -> String {
    match (&target.id, &target.name, &target.project, &target.location) {
        (Some(id), ..) => id.clone(),
        (None, Some(name), Some(project), Some(location)) => {
            format!("{name} (project {project}, location {location})")
        }
        _ => "(unnamed)".to_owned(),
    }
}

/// A secret the person at a terminal can type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Typed {
    /// `spec.password` (what the kind calls a password).
    Password,
    /// `spec.password` (what the kind calls a token: ghcr, quay).
    Token,
    /// `spec.secretAccessKey` (ECR).
    SecretAccessKey,
}

impl Typed {
    /// The secret field of a kind's field table, when it is one to type (a service-account key
    /// is a JSON document that comes from a file).
    fn of_field(name: &str) -> Option<Typed> {
        match name {
            "password" => Some(Typed::Password),
            "token" => Some(Typed::Token),
            "secretAccessKey" => Some(Typed::SecretAccessKey),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Typed::Password => "Password",
            Typed::Token => "Token",
            Typed::SecretAccessKey => "Secret access key",
        }
    }
}

/// The secret a terminal is asked for when no source gave one: the required secret field of
/// the kind (given, or inferred from the server as the server will infer it). `None` for kinds
/// without a secret to type and for servers the API will refuse anyway.
fn secret_to_ask(args: &PullSecretCreateArgs) -> Option<Typed> {
    let kind = match args.kind {
        Some(kind) => Kind::from(kind),
        None => {
            Kind::infer(&RegistryServer::parse(args.server.as_deref().unwrap_or("docker.io")).ok()?)
        }
    };
    kind.info()
        .fields
        .iter()
        .find(|f| f.required && f.secret)
        .and_then(|f| Typed::of_field(f.name))
}

/// Builds the `spec` object from the flags that were given.
fn spec(args: &PullSecretCreateArgs) -> anyhow::Result<Value> {
    let mut spec = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            spec.insert(k.to_owned(), json!(v));
        }
    };
    put("server", &args.server);
    put("username", &args.username);
    put("email", &args.email);
    put("region", &args.region);
    put("accessKeyId", &args.access_key_id);
    put("registryId", &args.registry_id);
    put("roleArn", &args.role_arn);
    put("mode", &args.mode.as_ref().map(wire));
    put("tenant", &args.tenant);
    let ask = secret_to_ask(args).filter(|_| prompt::interactive() && !args.keep_secret);
    let password = match given_secret(&args.password, "REGCRED_PASSWORD")? {
        Some(secret) => Some(secret),
        None => match ask {
            Some(typed @ (Typed::Password | Typed::Token)) => Some(prompt::secret(typed.label())?),
            _ => None,
        },
    };
    if let Some(secret) = password {
        spec.insert("password".into(), json!(secret.expose()));
    }
    if let Some(path) = &args.service_account_key_file {
        spec.insert(
            "serviceAccountKey".into(),
            json!(read_secret_file(path)?.expose()),
        );
    }
    let secret_key = match &args.secret_access_key_file {
        Some(path) => Some(read_secret_file(path)?),
        None => match std::env::var("REGCRED_SECRET_ACCESS_KEY") {
            Ok(key) => Some(Secret::new(key)),
            Err(_) if ask == Some(Typed::SecretAccessKey) => {
                Some(prompt::secret(Typed::SecretAccessKey.label())?)
            }
            Err(_) => None,
        },
    };
    if let Some(s) = secret_key {
        spec.insert("secretAccessKey".into(), json!(s.expose()));
    }
    Ok(Value::Object(spec))
}

async fn create(
    client: &Client,
    printer: &Printer,
    args: PullSecretCreateArgs,
) -> anyhow::Result<()> {
    let spec = spec(&args)?;
    let body = json!({
        "project": args.scope.project,
        "location": args.scope.location,
        "name": args.name,
        "kind": args.kind.map(Kind::from),
        "spec": spec,
        "verify": args.verify,
        "image": args.image,
        "keepSecret": args.keep_secret,
    });
    let created: PullSecretCreated = client.call("pullSecret.create", &body).await?;
    for n in &created.notes {
        note(&format!("note: {n}"));
    }
    printer.print(&created, |c| details(&c.pull_secret))?;
    match &created.verification {
        Some(v) => require_ok(&v.outcome, &v.hint),
        None => Ok(()),
    }
}

/// One check, as a table.
pub fn verification_table(v: &Verification) -> Table {
    Table::fields(vec![
        ("outcome", v.outcome.clone()),
        ("hint", v.hint.clone()),
        ("detail", v.detail.summary()),
        (
            "image",
            v.image.clone().unwrap_or_else(|| "(registry login)".into()),
        ),
        ("revision", v.revision.to_string()),
        ("checked", v.checked_at.clone()),
        ("round trips", v.round_trips.to_string()),
        ("elapsed", format!("{} ms", v.elapsed_ms)),
    ])
}

pub fn table(items: &[PullSecret]) -> Table {
    let mut t = Table::new(vec![
        "PROJECT", "LOCATION", "NAME", "KIND", "SERVER", "USERNAME", "REVISION", "UPDATED",
    ]);
    for s in items {
        t.row(vec![
            s.project.clone(),
            s.location.clone(),
            s.name.clone(),
            s.kind.as_str().to_owned(),
            s.server.clone(),
            s.username.clone().unwrap_or_default(),
            s.revision.to_string(),
            s.updated_at.clone(),
        ]);
    }
    t
}

pub fn details(s: &PullSecret) -> Table {
    let used = s
        .used_by
        .iter()
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect::<Vec<_>>()
        .join(", ");
    Table::fields(vec![
        ("id", s.id.clone()),
        ("project", s.project.clone()),
        ("location", s.location.clone()),
        ("name", s.name.clone()),
        ("kind", s.kind.as_str().to_owned()),
        ("server", s.server.clone()),
        ("username", s.username.clone().unwrap_or_default()),
        ("fingerprint", s.fingerprint.clone()),
        ("revision", s.revision.to_string()),
        ("created", format!("{} by {}", s.created_at, s.created_by)),
        ("updated", format!("{} by {}", s.updated_at, s.updated_by)),
        ("used by", if used.is_empty() { "-".into() } else { used }),
        ("delivered", deliveries(&s.deliveries)),
        (
            "verified",
            s.verification.as_ref().map_or_else(
                || "never".into(),
                |v| {
                    format!(
                        "{} at {} (revision {}): {}",
                        v.outcome, v.checked_at, v.revision, v.hint
                    )
                },
            ),
        ),
    ])
}

/// Delivery states in one cell: counts, then every target that is not delivered, with why.
pub fn deliveries(statuses: &[regcred_core::api::DeliveryStatus]) -> String {
    if statuses.is_empty() {
        return "-".into();
    }
    let delivered = statuses
        .iter()
        .filter(|d| d.state == DeliveryState::Delivered)
        .count();
    let mut out = format!("{delivered}/{} targets", statuses.len());
    for d in statuses
        .iter()
        .filter(|d| d.state != DeliveryState::Delivered)
    {
        out.push_str(&format!(
            "; {} {} {}",
            d.target,
            d.state.as_str(),
            d.code.as_deref().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn create_args(words: &[&str]) -> PullSecretCreateArgs {
        let cli = Cli::try_parse_from(
            [
                "regcred",
                "pullsecret",
                "create",
                "--project",
                "p",
                "--location",
                "l",
                "--name",
                "n",
            ]
            .iter()
            .chain(words),
        )
        .expect("parses");
        match cli.command {
            Command::PullSecret {
                command: PullSecretCommand::Create(args),
            } => *args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_kinds_secret_is_asked_for() {
        for (words, expected) in [
            (&[][..], Some(Typed::Password)),
            (&["--server", "localhost:5000"][..], Some(Typed::Password)),
            (&["--server", "ghcr.io"][..], Some(Typed::Token)),
            (&["--kind", "quay"][..], Some(Typed::Token)),
            (
                &["--server", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"][..],
                Some(Typed::SecretAccessKey),
            ),
            (&["--server", "europe-west1-docker.pkg.dev"][..], None),
            (&["--kind", "public", "--server", "mirror.gcr.io"][..], None),
            (&["--server", "myregistry"][..], None),
        ] {
            assert_eq!(secret_to_ask(&create_args(words)), expected, "{words:?}");
        }
    }
}
