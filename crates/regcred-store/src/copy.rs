//! The copy of a SQLite store into an empty PostgreSQL store (`regcred admin migrate-store`):
//! every table row for row, sealed material as the bytes it is (nothing is decrypted), ids,
//! revisions and the audit log as they are.
//!
//! The source is read in one read transaction, a consistent snapshot even while a server writes
//! to it; the target is written in one transaction that is committed only when every table of the
//! target holds as many rows as the snapshot did. A target with any row is refused, and so is a
//! source with a table this copy does not know (a newer schema would otherwise lose data).

use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Row};

use crate::{PostgresStore, SqliteStore, StoreError};

/// How a column is read from SQLite and bound for PostgreSQL.
#[derive(Clone, Copy)]
enum Col {
    Text,
    Int,
    Blob,
}

/// Every table of the schema, parents before children, with its columns.
const TABLES: &[(&str, &[(&str, Col)])] = &[
    ("meta", &[("key", Col::Text), ("value", Col::Text)]),
    (
        "leases",
        &[
            ("name", Col::Text),
            ("holder", Col::Text),
            ("epoch", Col::Int),
            ("expires_at", Col::Int),
            ("url", Col::Text),
        ],
    ),
    (
        "console_sessions",
        &[
            ("id_hash", Col::Blob),
            ("token_id", Col::Text),
            ("csrf", Col::Blob),
            ("created_at", Col::Int),
            ("expires_at", Col::Int),
        ],
    ),
    (
        "projects",
        &[
            ("name", Col::Text),
            ("description", Col::Text),
            ("created_at", Col::Int),
            ("created_by", Col::Text),
        ],
    ),
    (
        "locations",
        &[
            ("name", Col::Text),
            ("kind", Col::Text),
            ("spec", Col::Text),
            ("created_at", Col::Int),
            ("created_by", Col::Text),
        ],
    ),
    (
        "pull_secrets",
        &[
            ("id", Col::Text),
            ("project", Col::Text),
            ("location", Col::Text),
            ("name", Col::Text),
            ("kind", Col::Text),
            ("server", Col::Text),
            ("username", Col::Text),
            ("email", Col::Text),
            ("params", Col::Text),
            ("fingerprint", Col::Text),
            ("revision", Col::Int),
            ("key_id", Col::Text),
            ("nonce", Col::Blob),
            ("ciphertext", Col::Blob),
            ("created_at", Col::Int),
            ("created_by", Col::Text),
            ("updated_at", Col::Int),
            ("updated_by", Col::Text),
            ("verification", Col::Text),
        ],
    ),
    (
        "pull_secret_refs",
        &[
            ("pull_secret_id", Col::Text),
            ("referrer_kind", Col::Text),
            ("referrer_name", Col::Text),
        ],
    ),
    (
        "tokens",
        &[
            ("id", Col::Text),
            ("name", Col::Text),
            ("project", Col::Text),
            ("role", Col::Text),
            ("hash", Col::Blob),
            ("created_at", Col::Int),
            ("created_by", Col::Text),
            ("expires_at", Col::Int),
            ("revoked_at", Col::Int),
        ],
    ),
    (
        "audit_events",
        &[
            ("id", Col::Int),
            ("time", Col::Int),
            ("actor", Col::Text),
            ("channel", Col::Text),
            ("action", Col::Text),
            ("project", Col::Text),
            ("target", Col::Text),
            ("outcome", Col::Text),
            ("detail", Col::Text),
        ],
    ),
    (
        "registry_keys",
        &[
            ("id", Col::Text),
            ("project", Col::Text),
            ("name", Col::Text),
            ("access", Col::Text),
            ("hash", Col::Blob),
            ("created_at", Col::Int),
            ("created_by", Col::Text),
            ("expires_at", Col::Int),
            ("revoked_at", Col::Int),
        ],
    ),
    (
        "minted_credentials",
        &[
            ("pull_secret_id", Col::Text),
            ("revision", Col::Int),
            ("username", Col::Text),
            ("endpoint", Col::Text),
            ("key_id", Col::Text),
            ("nonce", Col::Blob),
            ("ciphertext", Col::Blob),
            ("expires_at", Col::Int),
            ("refreshed_at", Col::Int),
            ("attempted_at", Col::Int),
            ("failures", Col::Int),
            ("last_error", Col::Text),
            ("next_refresh_at", Col::Int),
        ],
    ),
    (
        "deployments",
        &[
            ("id", Col::Text),
            ("project", Col::Text),
            ("location", Col::Text),
            ("name", Col::Text),
            ("revision", Col::Int),
            ("spec", Col::Text),
            ("created_at", Col::Int),
            ("created_by", Col::Text),
            ("updated_at", Col::Int),
            ("updated_by", Col::Text),
        ],
    ),
    (
        "deployment_revisions",
        &[
            ("deployment_id", Col::Text),
            ("revision", Col::Int),
            ("spec", Col::Text),
            ("created_at", Col::Int),
            ("created_by", Col::Text),
        ],
    ),
    (
        "deliveries",
        &[
            ("location", Col::Text),
            ("target", Col::Text),
            ("owner_id", Col::Text),
            ("state", Col::Text),
            ("revision", Col::Int),
            ("digest", Col::Text),
            ("code", Col::Text),
            ("message", Col::Text),
            ("updated_at", Col::Int),
        ],
    ),
    (
        "changes",
        &[
            ("seq", Col::Int),
            ("location", Col::Text),
            ("project", Col::Text),
            ("owner_id", Col::Text),
            ("kind", Col::Text),
        ],
    ),
    (
        "pull_secret_generations",
        &[
            ("project", Col::Text),
            ("location", Col::Text),
            ("generation", Col::Int),
        ],
    ),
];

/// The tables whose triggers record changes: off while their rows are copied (the changes and
/// generations are copied as they are), on again before the copy commits.
const TRIGGERED: &[&str] = &["pull_secrets", "deployments", "minted_credentials"];

/// Tables with a generated key (column) that only grows: the target's sequence continues after
/// the highest value the source ever gave out.
const SEQUENCES: &[(&str, &str)] = &[("audit_events", "id"), ("changes", "seq")];

/// Rows read from SQLite per statement.
const READ_BATCH: i64 = 500;
/// Bound parameters per insert: below PostgreSQL's limit of 65535.
const MAX_PARAMS: usize = 30_000;

/// Why a copy did not happen; nothing was written to the target in any case.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target already holds data; a copy only goes into an empty store.
    #[error("the target database is not empty: table {table} has {rows} rows; copy into a new, empty database")]
    TargetNotEmpty { table: &'static str, rows: i64 },
    /// The source has a table this regcred cannot copy.
    #[error("the SQLite store has table {0:?}, which this regcred does not know how to copy")]
    UnknownTable(String),
    /// What was written does not add up to what was read.
    #[error("table {table}: {source_rows} rows in the source, {target_rows} in the target")]
    CountMismatch {
        table: &'static str,
        source_rows: i64,
        target_rows: i64,
    },
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Store(e.into())
    }
}

/// The rows of each table that were copied, in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(&'static str, i64)>,
}

/// One value read from SQLite.
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Blob(Option<Vec<u8>>),
}

fn read_value(row: &SqliteRow, name: &str, col: Col) -> Result<Value, sqlx::Error> {
    Ok(match col {
        Col::Text => Value::Text(row.try_get(name)?),
        Col::Int => Value::Int(row.try_get(name)?),
        Col::Blob => Value::Blob(row.try_get(name)?),
    })
}

/// Copies every row of `source` into `target`, which must be empty; see the module docs.
pub async fn sqlite_to_postgres(
    source: &SqliteStore,
    target: &PostgresStore,
) -> Result<CopyReport, CopyError> {
    let mut read = source.pool().begin().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name",
    )
    .fetch_all(&mut *read)
    .await?;
    if let Some(unknown) = tables
        .iter()
        .find(|t| !TABLES.iter().any(|(known, _)| known == t))
    {
        return Err(CopyError::UnknownTable(unknown.clone()));
    }
    // AUTOINCREMENT never reuses a value, even of rows deleted since: neither will the target.
    let mut highest = Vec::new();
    for (table, _) in SEQUENCES {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
                .bind(table)
                .fetch_optional(&mut *read)
                .await?;
        highest.push(seq.unwrap_or(0));
    }

    let mut write = crate::postgres::begin_on(target.pool()).await?;
    for (table, _) in TABLES {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *write)
            .await?;
        if rows > 0 {
            return Err(CopyError::TargetNotEmpty { table, rows });
        }
    }
    for table in TRIGGERED {
        sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
            .execute(&mut *write)
            .await?;
    }
    let mut report = CopyReport { tables: Vec::new() };
    for (table, columns) in TABLES {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let select = format!(
            "SELECT rowid AS regcred_rowid, {} FROM {table} WHERE rowid > $1 ORDER BY rowid LIMIT {READ_BATCH}",
            names.join(", ")
        );
        let per_insert = (MAX_PARAMS / columns.len()).max(1);
        let mut after = i64::MIN;
        let mut copied = 0_i64;
        loop {
            let rows = sqlx::query(&select)
                .bind(after)
                .fetch_all(&mut *read)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("regcred_rowid")?;
            for chunk in rows.chunks(per_insert) {
                insert_rows(&mut write, table, columns, chunk).await?;
            }
            copied += rows.len() as i64;
        }
        let source_rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *read)
            .await?;
        let target_rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *write)
            .await?;
        if source_rows != copied || target_rows != copied {
            return Err(CopyError::CountMismatch {
                table,
                source_rows,
                target_rows,
            });
        }
        report.tables.push((table, copied));
    }
    for table in TRIGGERED {
        sqlx::query(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
            .execute(&mut *write)
            .await?;
    }
    for ((table, column), source_high) in SEQUENCES.iter().zip(highest) {
        let copied_high: Option<i64> =
            sqlx::query_scalar(&format!("SELECT MAX({column}) FROM {table}"))
                .fetch_one(&mut *write)
                .await?;
        let high = source_high.max(copied_high.unwrap_or(0));
        if high > 0 {
            sqlx::query("SELECT setval(pg_get_serial_sequence($1, $2), $3)")
                .bind(table)
                .bind(column)
                .bind(high)
                .execute(&mut *write)
                .await?;
        }
    }
    write.commit().await?;
    read.rollback().await?;
    // A bulk load leaves the planner without statistics until autovacuum gets to the tables,
    // and without them it picks a wrong index: a one-row `pullSecret.get` walked all 100,000
    // rows of a project (a 40 ms statement) until the first ANALYZE.
    sqlx::query("ANALYZE").execute(target.pool()).await?;
    Ok(report)
}

/// Inserts `rows` into `table` of the target with one statement.
async fn insert_rows(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    table: &str,
    columns: &[(&str, Col)],
    rows: &[SqliteRow],
) -> Result<(), CopyError> {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let mut tuples = Vec::with_capacity(rows.len());
    for r in 0..rows.len() {
        let marks: Vec<String> = (0..columns.len())
            .map(|c| format!("${}", r * columns.len() + c + 1))
            .collect();
        tuples.push(format!("({})", marks.join(", ")));
    }
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        names.join(", "),
        tuples.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        for (name, col) in columns {
            query = match read_value(row, name, *col)? {
                Value::Text(v) => query.bind(v),
                Value::Int(v) => query.bind(v),
                Value::Blob(v) => query.bind(v),
            };
        }
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copy knows every table the SQLite migrations make, and each with all its columns: a
    /// table or column added by a later migration fails here before it is silently left behind.
    #[tokio::test]
    async fn copy_covers_every_sqlite_table_and_column() {
        let store = SqliteStore::temporary().await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let mut known: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
        known.sort_unstable();
        assert_eq!(tables, known);
        for (table, columns) in TABLES {
            let mut actual: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
            actual.sort_unstable();
            let mut copied: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
            copied.sort_unstable();
            assert_eq!(actual, copied, "{table}");
        }
    }
}
