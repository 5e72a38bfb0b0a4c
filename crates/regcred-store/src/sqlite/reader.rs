//! The SQLite store's read path: synchronous rusqlite connections opened read-only on the
//! store's file and kept in a small pool. It serves the reads every API request makes — the
//! caller's token, the project and location it names, a pull secret or a page of them and what
//! their views show (referrers, deliveries, minted state), the resolution index's generation —
//! each on the calling thread, and a delivery pass's whole-location reads on a blocking thread.
//!
//! sqlx's SQLite driver runs every connection on a thread of its own and hands each statement
//! and each row across threads; a blocking thread per read (`spawn_blocking`) hands off once
//! per read. On the request reads the hand-off, not SQLite, was most of a request's cost: the
//! thread switches took over half of the CPU under load (README "Performance"). Each of those
//! reads is one statement an index answers, bounded by a page (at most 1000 items, read in
//! chunks of 500), which SQLite serves from its page cache in microseconds — less than one
//! hand-off — so it runs on the async worker that asked. A read as long as what is stored costs
//! one hand-off, and its rows are decoded straight into records instead of into sqlx's rows
//! first. Every write stays on sqlx. In WAL mode these readers never wait for the writer (only
//! a database recovering from a crash makes a reader wait, once), and a statement sees every
//! transaction committed before it started.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteRow;
use sqlx::Sqlite;

use crate::Result;

/// Idle connections kept for the next read, of each kind: one per async worker is what
/// requests need.
const IDLE: usize = 8;

/// Prepared statements kept per connection (rusqlite keeps 16 by default).
const STATEMENTS: usize = 128;

/// How much of the file a request's connection maps (address space, not memory).
const MAPPED: i64 = 1 << 30;

/// Read-only connections to one database file.
///
/// A request's reads go through connections that map the file: SQLite then reads a page by
/// pointer from the operating system's cache instead of copying it into a page cache of its
/// own, which every write of another connection empties (the lease is renewed every 2 s). With
/// 100,000 pull secrets a list page reads about a hundred scattered pages, and mapped reads made
/// it a third faster (README "Performance"). Whole-location reads take connections that do not
/// map: a full pass reads every page of a location once, and mapped, those pages would stay in
/// the server's resident memory.
pub(super) struct Reader {
    path: PathBuf,
    /// Idle connections of requests (mapped) and of whole-location reads (not mapped).
    mapped: Mutex<Vec<Connection>>,
    unmapped: Mutex<Vec<Connection>>,
}

impl Reader {
    pub(super) fn new(path: PathBuf) -> Arc<Reader> {
        Arc::new(Reader {
            path,
            mapped: Mutex::new(Vec::new()),
            unmapped: Mutex::new(Vec::new()),
        })
    }

    /// Runs `read` on a pooled connection, on the calling thread.
    pub(super) fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.read_on(true, read)
    }

    fn read_on<T>(&self, mapped: bool, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pool = match mapped {
            true => &self.mapped,
            false => &self.unmapped,
        };
        let connection = match lock(pool).pop() {
            Some(connection) => connection,
            None => self.open(mapped)?,
        };
        let answer = read(&connection);
        // A connection a failed read left inside a transaction would keep its snapshot: it is
        // closed (which ends the transaction) rather than pooled.
        let mut idle = lock(pool);
        if idle.len() < IDLE && connection.is_autocommit() {
            idle.push(connection);
        }
        answer
    }

    /// Runs `read` on a pooled connection on a blocking thread: for reads as long as what is
    /// stored (a whole location, for a delivery pass), which must not hold an async worker.
    ///
    /// On a current-thread runtime the read runs on its thread instead: such a runtime has no
    /// other worker to keep answering, and `regcred serve` runs delivery passes on one of its
    /// own. The rows are then made and dropped on one thread, whose allocator gives their memory
    /// back when the pass ends (`after_full_pass`); made on a blocking thread, they would stay
    /// resident after the pass dropped them, until that thread allocated again or ended.
    pub(super) async fn read_blocking<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
        if matches!(flavor, Ok(tokio::runtime::RuntimeFlavor::CurrentThread)) {
            return self.read_on(false, read);
        }
        let reader = Arc::clone(self);
        tokio::task::spawn_blocking(move || reader.read_on(false, read))
            .await
            .map_err(|e| crate::StoreError::Schema(format!("a store read stopped: {e}")))?
    }

    fn open(&self, mapped: bool) -> Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::from_secs(10))?;
        // Every statement of the read path stays prepared: a page's batch reads come in one
        // shape per page length, beside the point reads.
        connection.set_prepared_statement_cache_capacity(STATEMENTS);
        if mapped {
            connection.pragma_update(None, "mmap_size", MAPPED)?;
        }
        Ok(connection)
    }
}

fn lock(pool: &Mutex<Vec<Connection>>) -> std::sync::MutexGuard<'_, Vec<Connection>> {
    pool.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A value of a column that both drivers decode.
pub(super) trait Column:
    for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + rusqlite::types::FromSql
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + rusqlite::types::FromSql
{
}

/// A row read by column name, from either driver, so that each record has one decoder.
pub(super) trait Columns {
    fn col<T: Column>(&self, name: &str) -> Result<T>;
}

impl Columns for SqliteRow {
    fn col<T: Column>(&self, name: &str) -> Result<T> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}

/// A rusqlite row with its statement's column names, read once per statement: rusqlite finds a
/// column by name through SQLite on every call, which was a quarter of a page's cost.
pub(super) struct Row<'r> {
    row: &'r rusqlite::Row<'r>,
    names: &'r [String],
}

impl Columns for Row<'_> {
    fn col<T: Column>(&self, name: &str) -> Result<T> {
        match self.names.iter().position(|n| n == name) {
            Some(index) => Ok(self.row.get(index)?),
            None => Err(rusqlite::Error::InvalidColumnName(name.to_owned()).into()),
        }
    }
}

/// Runs `sql` with `binds` and decodes every row.
pub(super) fn rows<T, B: rusqlite::ToSql>(
    connection: &Connection,
    sql: &str,
    binds: &[B],
    decode: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.query(rusqlite::params_from_iter(binds))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        // A delivery pass reads whole locations through here, on a paced thread.
        regcred_core::pace::point();
        out.push(decode(&Row { row, names: &names })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::thread::{current, ThreadId};

    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        (dir, path)
    }

    /// A connection is pooled again after a read, unless the read left it inside a transaction.
    #[test]
    fn a_connection_left_in_a_transaction_is_not_pooled() {
        let (_dir, path) = database();
        let reader = Reader::new(path);
        reader.read(|c| Ok(c.execute_batch("SELECT 1")?)).unwrap();
        assert_eq!(lock(&reader.mapped).len(), 1);
        let failed = reader.read(|c| {
            c.execute_batch("BEGIN; SELECT COUNT(*) FROM t")?;
            Err::<(), _>(crate::StoreError::Schema("failed inside".into()))
        });
        assert!(failed.is_err());
        assert_eq!(lock(&reader.mapped).len(), 0);
    }

    async fn thread_of_a_whole_location_read() -> (ThreadId, ThreadId) {
        let (_dir, path) = database();
        let read = Reader::new(path)
            .read_blocking(|c| {
                c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?;
                Ok(current().id())
            })
            .await
            .unwrap();
        (current().id(), read)
    }

    /// On a current-thread runtime (delivery's, in `regcred serve`) a whole-location read runs
    /// on the runtime's thread, which then also frees what it read.
    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_reads_on_its_thread() {
        let (here, read) = thread_of_a_whole_location_read().await;
        assert_eq!(here, read);
    }

    /// Elsewhere it runs on a blocking thread, never on an async worker.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_multi_thread_runtime_reads_on_a_blocking_thread() {
        let (here, read) = thread_of_a_whole_location_read().await;
        assert_ne!(here, read);
    }
}
