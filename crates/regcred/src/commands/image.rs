//! `regcred image resolve|check`.

use regcred_core::api::{ImageChecked, ImageResolved};
use serde_json::json;

use crate::cli::{wire, ImageCommand, Scope};
use crate::client::Client;
use crate::output::{note, Printer, Table};

pub async fn run(client: &Client, printer: &Printer, command: ImageCommand) -> anyhow::Result<()> {
    let (image, scope, rules) = match command {
        ImageCommand::Resolve {
            image,
            scope,
            rules,
        } => (image, scope, rules),
        ImageCommand::Check { image, scope } => return check(client, printer, image, scope).await,
    };
    let rules = rules.map(|r| wire(&r));
    let body = json!({"image": image, "project": scope.project, "location": scope.location, "rules": rules});
    let resolved: ImageResolved = client.call("image.resolve", &body).await?;
    for w in &resolved.warnings {
        note(&format!("warning: {w}"));
    }
    printer.print(&resolved, |r| {
        let mut t = Table::new(vec!["ORDER", "PULL SECRET", "SERVER", "MATCHED KEY"]);
        for (i, s) in r.pull_secrets.iter().enumerate() {
            t.row(vec![
                (i + 1).to_string(),
                s.name.clone(),
                s.server.clone(),
                s.matched_key.clone(),
            ]);
        }
        if r.pull_secrets.is_empty() {
            t.row(vec![
                "-".into(),
                "(none: pulled anonymously)".into(),
                r.registry.clone(),
                "-".into(),
            ]);
        }
        t
    })
}

async fn check(
    client: &Client,
    printer: &Printer,
    image: String,
    scope: Scope,
) -> anyhow::Result<()> {
    let body = json!({"image": image, "project": scope.project, "location": scope.location});
    let checked: ImageChecked = client.call("image.check", &body).await?;
    for w in &checked.warnings {
        note(&format!("warning: {w}"));
    }
    printer.print(&checked, |c| {
        let mut t = Table::new(vec![
            "PULL SECRET",
            "OUTCOME",
            "HINT",
            "ROUND TRIPS",
            "ELAPSED",
        ]);
        for a in &c.attempts {
            t.row(vec![
                a.pull_secret
                    .clone()
                    .unwrap_or_else(|| "(anonymous)".into()),
                a.verification.outcome.clone(),
                a.verification.hint.clone(),
                a.verification.round_trips.to_string(),
                format!("{} ms", a.verification.elapsed_ms),
            ]);
        }
        t
    })?;
    super::require_ok(&checked.outcome, &checked.hint)
}
