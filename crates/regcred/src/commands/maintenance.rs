//! `regcred admin`: work on the store itself rather than through the API — a consistent backup
//! of the SQLite store, the copy of it into PostgreSQL, and master-key rotation. Runs where the store is, with the
//! same `--data-dir` and `--database-url` as `regcred serve`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use regcred_store::copy::{sqlite_to_postgres, CopyError};
use regcred_store::vault::{MasterKey, Vault, VaultError};
use regcred_store::{AuditRecord, SqliteStore, StoreError};
use serde::Serialize;

use crate::cli::AdminCommand;
use crate::database::{self, DatabaseUrl};
use crate::output::{note, Printer, Table};
use crate::paths;

/// What the store refused to do because of what is already there (a non-empty target, an
/// existing backup file): exit code 6, like an API conflict.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

#[derive(Serialize)]
struct CopiedTable {
    table: &'static str,
    rows: i64,
}

#[derive(Serialize)]
struct Rotated {
    data_key: String,
    from: String,
    to: String,
}

#[derive(Serialize)]
struct Backup {
    file: String,
    bytes: u64,
}

pub async fn run(
    printer: &Printer,
    data_dir: Option<&Path>,
    command: AdminCommand,
) -> anyhow::Result<()> {
    let dir = paths::data_dir(data_dir);
    match command {
        AdminCommand::MigrateStore { to, database_url } => {
            let DatabaseUrl::Postgres(target_url) = &to else {
                anyhow::bail!("--to must be a PostgreSQL URL (postgres://…), not {to}");
            };
            let source = existing_sqlite(database_url.as_ref(), &dir, "migrate-store").await?;
            let target = database::open_postgres(target_url).await?;
            let report = match sqlite_to_postgres(&source, &target).await {
                Ok(report) => report,
                Err(e @ CopyError::TargetNotEmpty { .. }) => {
                    return Err(Refused(e.to_string()).into())
                }
                Err(e) => return Err(e).context(format!("copying the store to {to}")),
            };
            let copied: Vec<CopiedTable> = report
                .tables
                .iter()
                .map(|(table, rows)| CopiedTable { table, rows: *rows })
                .collect();
            note(&format!(
                "copied the store to {to}; every table's row count matches. Start regcred serve \
                 with --database-url and the same master key."
            ));
            printer.print(&copied, |rows| {
                let mut t = Table::new(vec!["TABLE", "ROWS"]);
                for r in rows {
                    t.row(vec![r.table.to_owned(), r.rows.to_string()]);
                }
                t
            })
        }
        AdminCommand::RotateMasterKey {
            new_key_file,
            master_key_file,
            database_url,
        } => {
            let store = database::open(&database::resolve(database_url.as_ref(), &dir)).await?;
            let current = current_master_key(master_key_file, &dir)?;
            let new = match MasterKey::load(&new_key_file)? {
                Some(key) => key,
                None => MasterKey::create(&new_key_file)?,
            };
            if new.id() == current.id() {
                return Err(Refused(format!(
                    "{} holds the current master key; give a new one",
                    new_key_file.display()
                ))
                .into());
            }
            let audit = AuditRecord {
                id: 0,
                time: regcred_server::clock::now_millis(),
                actor: "regcred admin".into(),
                channel: "cli".into(),
                action: "admin.rotate-master-key".into(),
                project: None,
                target: "vault.data_key".into(),
                outcome: "ok".into(),
                detail: serde_json::json!({ "from": current.id(), "to": new.id() }).to_string(),
            };
            let data_key =
                match Vault::rewrap(store.as_ref(), &current, &new, &audit).await {
                    Ok(id) => id,
                    Err(VaultError::Store(StoreError::Conflict { .. })) => return Err(Refused(
                        "the data key was re-wrapped by someone else meanwhile; nothing changed"
                            .to_owned(),
                    )
                    .into()),
                    Err(e) => return Err(e).context("re-wrapping the data key"),
                };
            note(&format!(
                "the data key is now wrapped by master key {}; give every server {} as its master \
                 key before it restarts: {} no longer opens this store",
                new.id(),
                new_key_file.display(),
                current.id()
            ));
            let rotated = Rotated {
                data_key,
                from: current.id(),
                to: new.id(),
            };
            printer.print(&rotated, |r| {
                Table::fields(vec![
                    ("DATA KEY", r.data_key.clone()),
                    ("FROM", r.from.clone()),
                    ("TO", r.to.clone()),
                ])
            })
        }
        AdminCommand::Backup { file, database_url } => {
            let source = existing_sqlite(database_url.as_ref(), &dir, "backup").await?;
            match source.backup_to(&file).await {
                Ok(()) => {}
                Err(StoreError::AlreadyExists { .. }) => {
                    return Err(Refused(format!(
                        "{} already exists; a backup never overwrites a file",
                        file.display()
                    ))
                    .into())
                }
                Err(e) => return Err(e).context(format!("backing up to {}", file.display())),
            }
            let bytes = std::fs::metadata(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            note("the backup holds sealed material; keep the master key apart from it");
            let backup = Backup {
                file: file.display().to_string(),
                bytes,
            };
            printer.print(&backup, |b| {
                Table::fields(vec![
                    ("FILE", b.file.clone()),
                    ("BYTES", b.bytes.to_string()),
                ])
            })
        }
    }
}

/// The master key the store is opened with now: `REGCRED_MASTER_KEY`, else the key file (by
/// default master.key in the data directory), which must exist.
fn current_master_key(file: Option<PathBuf>, dir: &Path) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var("REGCRED_MASTER_KEY") {
        return MasterKey::from_text(&text).context("REGCRED_MASTER_KEY");
    }
    let path = file.unwrap_or_else(|| dir.join(paths::MASTER_KEY_FILE));
    MasterKey::load(&path)?.with_context(|| {
        format!(
            "no master key at {}; give the current one with --master-key-file",
            path.display()
        )
    })
}

/// The configured store, which must be an existing SQLite file.
async fn existing_sqlite(
    given: Option<&DatabaseUrl>,
    dir: &Path,
    command: &str,
) -> anyhow::Result<SqliteStore> {
    match database::resolve(given, dir) {
        DatabaseUrl::Sqlite(path) => {
            if !path.is_file() {
                anyhow::bail!("no SQLite store at {}", path.display());
            }
            database::open_sqlite(&path).await
        }
        DatabaseUrl::Postgres(_) => anyhow::bail!(
            "admin {command} works on the SQLite store, and the configured store is PostgreSQL; \
             back PostgreSQL up with pg_dump (README, \"Backups\")"
        ),
    }
}
