//! Which store `regcred serve` and `regcred admin` use: `--database-url` (`REGCRED_DATABASE_URL`),
//! parsed without IO, then opened. SQLite in the data directory stays the zero-configuration
//! default; `sqlite:PATH` or a plain path names another SQLite file, `postgres://…` a PostgreSQL
//! database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use regcred_store::postgres::redact_url;
use regcred_store::vault::write_private_new;
use regcred_store::{PostgresStore, SqliteStore, Store, StoreError};

use crate::paths;

/// A `--database-url`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    /// The URL as given, password included: shown only through [`redact_url`].
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(s.to_owned()));
        }
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .unwrap_or(s);
        if path.is_empty() {
            return Err("an empty path; give sqlite:PATH, a path, or postgres://…".to_owned());
        }
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(format!(
                "unsupported database scheme {scheme:?}; use sqlite:PATH or postgres://…"
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }
}

/// Where the store is: `given`, else the SQLite file in the data directory `dir`.
pub fn resolve(given: Option<&DatabaseUrl>, dir: &Path) -> DatabaseUrl {
    given
        .cloned()
        .unwrap_or_else(|| DatabaseUrl::Sqlite(dir.join(paths::DATABASE_FILE)))
}

/// Opens (creating and migrating as needed) the SQLite store at `path`.
pub async fn open_sqlite(path: &Path) -> anyhow::Result<SqliteStore> {
    // SQLite gives the -wal and -shm files the database file's mode: create it private.
    match write_private_new(path, b"") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    SqliteStore::open(path)
        .await
        .with_context(|| format!("opening database {}", path.display()))
}

/// Connects to the PostgreSQL store at `url`.
pub async fn open_postgres(url: &str) -> anyhow::Result<PostgresStore> {
    PostgresStore::connect(url)
        .await
        .map_err(unavailable_or)
        .context("opening the PostgreSQL store")
}

/// Opens the store `url` names.
pub async fn open(url: &DatabaseUrl) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => Arc::new(open_sqlite(path).await?),
        DatabaseUrl::Postgres(url) => Arc::new(open_postgres(url).await?),
    })
}

/// A database that cannot be reached, as an error `main` maps to its own exit code.
#[derive(Debug, thiserror::Error)]
#[error("{0} (unavailable)")]
pub struct DatabaseUnavailable(StoreError);

fn unavailable_or(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Unavailable { .. } => DatabaseUnavailable(e).into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_and_never_show_a_password() {
        for (given, parsed, shown) in [
            (
                "sqlite:/var/lib/regcred/regcred.db",
                Ok(DatabaseUrl::Sqlite("/var/lib/regcred/regcred.db".into())),
                "sqlite:/var/lib/regcred/regcred.db",
            ),
            (
                "sqlite:///tmp/x.db",
                Ok(DatabaseUrl::Sqlite("/tmp/x.db".into())),
                "sqlite:/tmp/x.db",
            ),
            (
                "data/regcred.db",
                Ok(DatabaseUrl::Sqlite("data/regcred.db".into())),
                "sqlite:data/regcred.db",
            ),
            (
                "postgres://app:s3cret@db:5432/regcred",
                Ok(DatabaseUrl::Postgres(
                    "postgres://app:s3cret@db:5432/regcred".into(),
                )),
                "postgres://app:***@db:5432/regcred",
            ),
            (
                "postgresql://db/regcred",
                Ok(DatabaseUrl::Postgres("postgresql://db/regcred".into())),
                "postgresql://db/regcred",
            ),
            ("mysql://db/regcred", Err(()), ""),
            ("sqlite:", Err(()), ""),
        ] {
            let got: Result<DatabaseUrl, String> = given.parse();
            assert_eq!(got.clone().map_err(|_| ()), parsed, "{given}");
            if let Ok(url) = got {
                assert_eq!(url.to_string(), shown);
                assert_eq!(format!("{url:?}"), shown);
            }
        }
    }
}
