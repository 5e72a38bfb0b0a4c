//! `regcred admin`: work on the store itself rather than through the API — a consistent backup
//! of the SQLite store, and the copy of it into PostgreSQL. Runs where the store is, with the
//! same `--data-dir` and `--database-url` as `regcred serve`.

use std::path::Path;

use anyhow::Context;
use regcred_store::copy::{sqlite_to_postgres, CopyError};
use regcred_store::{SqliteStore, StoreError};
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
