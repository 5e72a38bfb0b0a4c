//! `regcred pullsecret create|list|get|delete`.

use regcred_core::api::{
    Items, PullSecret, PullSecretCreated, PullSecretDeleted, PullSecretRef, Verification,
};
use serde_json::{json, Map, Value};

use super::{need, read_secret, read_secret_file, require_ok};
use crate::cli::{PullSecretCommand, PullSecretCreateArgs};
use crate::client::Client;
use crate::output::{note, Printer, Table};

pub async fn run(
    client: &Client,
    printer: &Printer,
    command: PullSecretCommand,
) -> anyhow::Result<()> {
    match command {
        PullSecretCommand::Create(args) => create(client, printer, *args).await,
        PullSecretCommand::List { project, location } => {
            let list: Items<PullSecret> = client
                .call(
                    "pullSecret.list",
                    &json!({"project": project, "location": location}),
                )
                .await?;
            printer.print(&list, |l| table(&l.items))
        }
        PullSecretCommand::Get {
            name,
            project,
            location,
            id,
        } => {
            let target = reference(name, project, location, id)?;
            let secret: PullSecret = client.call("pullSecret.get", &target).await?;
            printer.print(&secret, details)
        }
        PullSecretCommand::Delete {
            name,
            project,
            location,
            id,
            force,
        } => {
            let target = reference(name, project, location, id)?;
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
        PullSecretCommand::Verify {
            name,
            project,
            location,
            id,
            image,
        } => {
            let target = reference(name, project, location, id)?;
            let mut body = serde_json::to_value(&target)?;
            body["image"] = json!(image);
            let verified: Value = client.call("pullSecret.verify", &body).await?;
            let v: Verification = serde_json::from_value(verified["verification"].clone())?;
            printer.print(&verified, |_| verification_table(&v))?;
            require_ok(&v.outcome, &v.hint)
        }
    }
}

fn reference(
    name: Option<String>,
    project: Option<String>,
    location: Option<String>,
    id: Option<String>,
) -> anyhow::Result<PullSecretRef> {
    if id.is_some() {
        return Ok(PullSecretRef {
            id,
            ..Default::default()
        });
    }
    need(&name, "NAME")?;
    need(&project, "--project")?;
    need(&location, "--location")?;
    Ok(PullSecretRef {
        id: None,
        project,
        location,
        name,
    })
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
    put("mode", &args.mode);
    if let Some(secret) = read_secret(&args.password, "REGCRED_PASSWORD")? {
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
        None => std::env::var("REGCRED_SECRET_ACCESS_KEY")
            .ok()
            .map(regcred_core::secret::Secret::new),
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
        "kind": args.kind,
        "spec": spec,
        "verify": args.verify,
        "image": args.image,
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
    let delivered = statuses.iter().filter(|d| d.state == "delivered").count();
    let mut out = format!("{delivered}/{} targets", statuses.len());
    for d in statuses.iter().filter(|d| d.state != "delivered") {
        out.push_str(&format!(
            "; {} {} {}",
            d.target,
            d.state,
            d.code.as_deref().unwrap_or("")
        ));
    }
    out
}
