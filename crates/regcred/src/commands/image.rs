//! `regcred image resolve`.

use regcred_core::api::ImageResolved;
use serde_json::json;

use crate::cli::ImageCommand;
use crate::client::Client;
use crate::output::{note, Printer, Table};

pub async fn run(client: &Client, printer: &Printer, command: ImageCommand) -> anyhow::Result<()> {
    let ImageCommand::Resolve {
        image,
        scope,
        rules,
    } = command;
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
