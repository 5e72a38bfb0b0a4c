//! `regcred project|location|token|audit|registry|registrykey …`: the administrative resources.
//! Deleting a project or location asks first on a terminal, as deleting a pull secret does.

use regcred_core::api::{
    AuditEvent, Items, Location, Project, RegistryCert, RegistryKey, RegistryKeyCreated, Role,
    SyncReport, Token, TokenCreated,
};
use serde_json::{json, Map, Value};

use crate::cli::{
    wire, AuditCommand, LocationCommand, LocationCreateArgs, ProjectCommand, RegistryCommand,
    RegistryKeyCommand, TokenCommand,
};
use crate::client::Client;
use crate::output::{note, Printer, Table};
use crate::prompt;

fn project_table(items: &[Project]) -> Table {
    let mut t = Table::new(vec!["NAME", "DESCRIPTION", "CREATED", "BY"]);
    for p in items {
        t.row(vec![
            p.name.clone(),
            p.description.clone().unwrap_or_default(),
            p.created_at.clone(),
            p.created_by.clone(),
        ]);
    }
    t
}

pub async fn project(
    client: &Client,
    printer: &Printer,
    command: ProjectCommand,
) -> anyhow::Result<()> {
    match command {
        ProjectCommand::Create { name, description } => {
            let p: Project = client
                .call(
                    "project.create",
                    &json!({"name": name, "description": description}),
                )
                .await?;
            printer.print(&p, |p| project_table(std::slice::from_ref(p)))
        }
        ProjectCommand::List => {
            let l: Items<Project> = client.call("project.list", &json!({})).await?;
            printer.print(&l, |l| project_table(&l.items))
        }
        ProjectCommand::Get { name } => {
            let p: Project = client.call("project.get", &json!({"name": name})).await?;
            printer.print(&p, |p| project_table(std::slice::from_ref(p)))
        }
        ProjectCommand::Delete { name, yes } => {
            if prompt::must_confirm(yes, prompt::interactive()) {
                prompt::confirm(&format!("Delete project {name}?"))?;
            }
            let v: Value = client
                .call("project.delete", &json!({"name": name}))
                .await?;
            printer.print(&v, |_| Table::fields(vec![("deleted", name.clone())]))
        }
    }
}

fn location_table(items: &[Location]) -> Table {
    let mut t = Table::new(vec!["NAME", "KIND", "SPEC", "CREATED"]);
    for l in items {
        t.row(vec![
            l.name.clone(),
            l.kind.as_str().to_owned(),
            l.spec.to_string(),
            l.created_at.clone(),
        ]);
    }
    t
}

fn location_spec(args: &LocationCreateArgs) -> Value {
    let mut spec = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            spec.insert(k.to_owned(), json!(v));
        }
    };
    put("kubeconfig", &args.kubeconfig);
    put("context", &args.context);
    put("namespaceTemplate", &args.namespace_template);
    put("path", &args.path);
    put("format", &args.format.map(|f| wire(&f)));
    put("directory", &args.directory);
    put("namespaceSelector", &args.namespace_selector);
    put("sealingCertFile", &args.sealing_cert_file);
    if args.in_cluster {
        spec.insert("inCluster".into(), json!(true));
    }
    if !args.service_accounts.is_empty() {
        spec.insert("serviceAccounts".into(), json!(args.service_accounts));
    }
    if args.allow_plaintext {
        spec.insert("allowPlaintext".into(), json!(true));
    }
    Value::Object(spec)
}

pub async fn location(
    client: &Client,
    printer: &Printer,
    command: LocationCommand,
) -> anyhow::Result<()> {
    match command {
        LocationCommand::Create(args) => {
            let body =
                json!({"name": args.name, "kind": wire(&args.kind), "spec": location_spec(&args)});
            let l: Location = client.call("location.create", &body).await?;
            printer.print(&l, |l| location_table(std::slice::from_ref(l)))
        }
        LocationCommand::List => {
            let l: Items<Location> = client.call("location.list", &json!({})).await?;
            printer.print(&l, |l| location_table(&l.items))
        }
        LocationCommand::Get { name } => {
            let l: Location = client.call("location.get", &json!({"name": name})).await?;
            printer.print(&l, |l| location_table(std::slice::from_ref(l)))
        }
        LocationCommand::Delete { name, yes } => {
            if prompt::must_confirm(yes, prompt::interactive()) {
                prompt::confirm(&format!("Delete location {name}?"))?;
            }
            let v: Value = client
                .call("location.delete", &json!({"name": name}))
                .await?;
            printer.print(&v, |_| Table::fields(vec![("deleted", name.clone())]))
        }
        LocationCommand::Sync { name } => {
            let r: SyncReport = client.call("location.sync", &json!({"name": name})).await?;
            printer.print(&r, |r| {
                Table::fields(vec![
                    ("location", r.location.clone()),
                    ("applied", r.applied.to_string()),
                    ("deleted", r.deleted.to_string()),
                    ("up to date", r.up_to_date.to_string()),
                    ("pending", r.pending.to_string()),
                    ("errors", r.errors.to_string()),
                ])
            })?;
            if r.errors > 0 {
                return Err(super::DeliveryFailed {
                    location: r.location,
                    errors: r.errors,
                }
                .into());
            }
            Ok(())
        }
    }
}

fn token_table(items: &[Token]) -> Table {
    let mut t = Table::new(vec![
        "ID", "NAME", "PROJECT", "ROLE", "CREATED", "EXPIRES", "REVOKED",
    ]);
    for k in items {
        t.row(vec![
            k.id.clone(),
            k.name.clone(),
            k.project.clone().unwrap_or_else(|| "*".into()),
            k.role.as_str().to_owned(),
            k.created_at.clone(),
            k.expires_at.clone().unwrap_or_else(|| "-".into()),
            k.revoked_at.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}

pub async fn token(
    client: &Client,
    printer: &Printer,
    command: TokenCommand,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            name,
            role,
            project,
            ttl_seconds,
        } => {
            let body = json!({"name": name, "role": Role::from(role), "project": project, "ttlSeconds": ttl_seconds});
            let created: TokenCreated = client.call("token.create", &body).await?;
            note("the token secret is shown this once; store it now");
            printer.print(&created, |c| {
                let mut t = token_table(std::slice::from_ref(&c.token));
                t.headers.push("SECRET");
                if let Some(row) = t.rows.first_mut() {
                    row.push(c.secret.clone());
                }
                t
            })
        }
        TokenCommand::List { project } => {
            let l: Items<Token> = client
                .call("token.list", &json!({"project": project}))
                .await?;
            printer.print(&l, |l| token_table(&l.items))
        }
        TokenCommand::Revoke { id } => {
            let t: Token = client.call("token.revoke", &json!({"id": id})).await?;
            printer.print(&t, |t| token_table(std::slice::from_ref(t)))
        }
    }
}

pub async fn audit(
    client: &Client,
    printer: &Printer,
    command: AuditCommand,
) -> anyhow::Result<()> {
    let AuditCommand::List {
        project,
        limit,
        before,
        action,
        outcome,
        actor,
    } = command;
    // The newest `limit` events (100 unless given, as the server's default page), however many
    // pages that takes.
    let at_most = limit.map_or(100, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let l: Items<AuditEvent> = client
        .call_pages(
            "audit.list",
            json!({"project": project, "before": before, "action": action,
                   "outcome": outcome, "actor": actor}),
            Some(at_most),
        )
        .await?;
    printer.print(&l, |l| {
        let mut t = Table::new(vec![
            "ID", "TIME", "ACTOR", "CHANNEL", "ACTION", "TARGET", "OUTCOME",
        ]);
        for e in &l.items {
            t.row(vec![
                e.id.to_string(),
                e.time.clone(),
                e.actor.clone(),
                e.channel.clone(),
                e.action.clone(),
                e.target.clone(),
                e.outcome.clone(),
            ]);
        }
        t
    })
}

fn registry_key_table(items: &[RegistryKey]) -> Table {
    let mut t = Table::new(vec![
        "ID", "PROJECT", "NAME", "ACCESS", "USERNAME", "CREATED", "EXPIRES", "REVOKED",
    ]);
    for k in items {
        t.row(vec![
            k.id.clone(),
            k.project.clone(),
            k.name.clone(),
            k.access.clone(),
            k.username.clone(),
            k.created_at.clone(),
            k.expires_at.clone().unwrap_or_else(|| "-".into()),
            k.revoked_at.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}

pub async fn registry_key(
    client: &Client,
    printer: &Printer,
    command: RegistryKeyCommand,
) -> anyhow::Result<()> {
    match command {
        RegistryKeyCommand::Create {
            project,
            name,
            access,
            ttl_seconds,
        } => {
            let body = json!({"project": project, "name": name, "access": wire(&access), "ttlSeconds": ttl_seconds});
            let created: RegistryKeyCreated = client.call("registryKey.create", &body).await?;
            note(&format!(
                "the key's secret is shown this once; log in to {} as {} with it",
                created.server, created.key.username
            ));
            printer.print(&created, |c| {
                let mut t = registry_key_table(std::slice::from_ref(&c.key));
                t.headers.push("SECRET");
                if let Some(row) = t.rows.first_mut() {
                    row.push(c.secret.clone());
                }
                t
            })
        }
        RegistryKeyCommand::List { project } => {
            let l: Items<RegistryKey> = client
                .call("registryKey.list", &json!({"project": project}))
                .await?;
            printer.print(&l, |l| registry_key_table(&l.items))
        }
        RegistryKeyCommand::Revoke { name, project } => {
            let k: RegistryKey = client
                .call(
                    "registryKey.revoke",
                    &json!({"project": project, "name": name}),
                )
                .await?;
            printer.print(&k, |k| registry_key_table(std::slice::from_ref(k)))
        }
    }
}

pub async fn registry(
    client: &Client,
    printer: &Printer,
    command: RegistryCommand,
) -> anyhow::Result<()> {
    if let RegistryCommand::Cert = command {
        let cert: RegistryCert = client.call("registry.cert", &json!({})).await?;
        // Plain PEM, ready for `> root.crt`, unless JSON or YAML was asked for.
        return match printer.structured_requested() {
            true => printer.print(&cert, |_| Table::new(vec![])),
            false => crate::output::write_stdout(&cert.certificate),
        };
    }
    let l: Items<Value> = client.call("registry.kinds", &json!({})).await?;
    printer.print(&l, |l| {
        let mut t = Table::new(vec!["KIND", "TITLE", "SERVER", "AUTH", "FIELDS"]);
        for k in &l.items {
            let fields = k["fields"]
                .as_array()
                .map(|fs| {
                    fs.iter()
                        .map(|f| {
                            let name = f["name"].as_str().unwrap_or_default();
                            if f["required"].as_bool() == Some(true) {
                                name.to_owned()
                            } else {
                                format!("[{name}]")
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            t.row(vec![
                s(&k["kind"]),
                s(&k["title"]),
                s(&k["serverPattern"]),
                s(&k["auth"]),
                fields,
            ]);
        }
        t
    })
}
