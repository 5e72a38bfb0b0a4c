//! A database of its own on the PostgreSQL server the tests use, for each test that needs one:
//! created with a random name, dropped (with any connections still open to it) when the fixture
//! is dropped — also when the test panics.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};

/// The variable naming the server (a URL of any database on it, used to create and drop).
pub const POSTGRES_URL_VAR: &str = "REGCRED_TEST_POSTGRES_URL";
/// The server `scripts/setup` provides: loopback, trust authentication.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The prefix of every database made here: a crashed run's leftovers are recognisable.
const PREFIX: &str = "regcred_test_";

/// The server URL: `REGCRED_TEST_POSTGRES_URL`, else [`DEFAULT_POSTGRES_URL`].
pub fn postgres_server_url() -> String {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// `url` with its database replaced by `database` (query parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// A fresh, empty database; see the module docs.
#[derive(Debug)]
pub struct PostgresDb {
    server: String,
    name: String,
    url: String,
}

impl PostgresDb {
    /// Creates the database on [`postgres_server_url`]. Panics, naming the URL and what
    /// `scripts/setup` provides, when the server cannot be reached.
    pub async fn create() -> PostgresDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let server = postgres_server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "{PREFIX}{}_{}_{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach PostgreSQL at {server} ({e}); scripts/setup installs and starts \
                 it on 127.0.0.1:5432 with trust authentication, or set {POSTGRES_URL_VAR}"
            )
        });
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating database {name} on {server}: {e}"));
        let _ = admin.close().await;
        let url = with_database(&server, &name);
        PostgresDb { server, name, url }
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop may run on a runtime's thread, which must not block on another runtime: a thread
        // of its own with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(async {
                    let mut admin = PgConnection::connect(&server).await?;
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await?;
                    admin.close().await
                })
                .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_database() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            ("postgres://h:5432", "postgres://h:5432/x"),
        ] {
            assert_eq!(with_database(url, "x"), expected);
        }
    }
}
