//! Schema migrations: an ordered list of SQL files compiled into the binary, applied once each
//! inside a transaction and recorded in `schema_migrations` with a checksum of their SQL. A
//! database migrated by a newer regcred is refused rather than misread, and so is one whose
//! applied migrations differ from this binary's (an edited migration would otherwise go
//! unnoticed: the database would not have the schema the code expects).

use sha2::{Digest, Sha256};

/// One migration: its version, name and SQL.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 of the SQL, hex: what `schema_migrations.checksum` records.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// The SQLite migrations, in order.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "verification",
        sql: include_str!("../migrations/sqlite/0002_verification.sql"),
    },
    Migration {
        version: 3,
        name: "registry_keys",
        sql: include_str!("../migrations/sqlite/0003_registry_keys.sql"),
    },
    Migration {
        version: 4,
        name: "minted_credentials",
        sql: include_str!("../migrations/sqlite/0004_minted_credentials.sql"),
    },
    Migration {
        version: 5,
        name: "delivery",
        sql: include_str!("../migrations/sqlite/0005_delivery.sql"),
    },
    Migration {
        version: 6,
        name: "lineage_and_locations",
        sql: include_str!("../migrations/sqlite/0006_lineage_and_locations.sql"),
    },
    Migration {
        version: 7,
        name: "forget_peer_text",
        sql: include_str!("../migrations/sqlite/0007_forget_peer_text.sql"),
    },
    Migration {
        version: 8,
        name: "metric_indexes",
        sql: include_str!("../migrations/sqlite/0008_metric_indexes.sql"),
    },
    Migration {
        version: 9,
        name: "list_indexes",
        sql: include_str!("../migrations/sqlite/0009_list_indexes.sql"),
    },
    Migration {
        version: 10,
        name: "changes",
        sql: include_str!("../migrations/sqlite/0010_changes.sql"),
    },
    Migration {
        version: 11,
        name: "console_sessions",
        sql: include_str!("../migrations/sqlite/0011_console_sessions.sql"),
    },
    Migration {
        version: 12,
        name: "leases",
        sql: include_str!("../migrations/sqlite/0012_leases.sql"),
    },
    Migration {
        version: 13,
        name: "location_id_index",
        sql: include_str!("../migrations/sqlite/0013_location_id_index.sql"),
    },
];

/// The PostgreSQL migrations, in order. Version 1 is the schema the SQLite migrations 1 to 9 arrive
/// at; later versions follow the SQLite ones that change the schema (2 is SQLite's 10).
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "changes",
        sql: include_str!("../migrations/postgres/0002_changes.sql"),
    },
    Migration {
        version: 3,
        name: "console_sessions",
        sql: include_str!("../migrations/postgres/0003_console_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "leases",
        sql: include_str!("../migrations/postgres/0004_leases.sql"),
    },
    Migration {
        version: 5,
        name: "location_id_index",
        sql: include_str!("../migrations/postgres/0005_location_id_index.sql"),
    },
    Migration {
        version: 6,
        name: "token_notify",
        sql: include_str!("../migrations/postgres/0006_token_notify.sql"),
    },
    Migration {
        version: 7,
        name: "pull_secret_notify",
        sql: include_str!("../migrations/postgres/0007_pull_secret_notify.sql"),
    },
    Migration {
        version: 8,
        name: "scope_notify",
        sql: include_str!("../migrations/postgres/0008_scope_notify.sql"),
    },
];

/// The SQL creating the bookkeeping table, valid on every backend. Databases made before
/// checksums were kept get the `checksum` column added ([`ADD_CHECKSUM`]) and filled with the
/// checksums of this binary's migrations the first time they are opened.
pub const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    checksum   TEXT
)";

/// Adds the checksum column to a bookkeeping table that predates it.
pub const ADD_CHECKSUM: &str = "ALTER TABLE schema_migrations ADD COLUMN checksum TEXT";

/// Why the applied migration `version` does not match this binary's, if it does not.
pub fn mismatch(migration: &Migration, recorded: Option<&str>) -> Option<String> {
    let expected = migration.checksum();
    match recorded {
        Some(got) if got != expected => Some(format!(
            "migration {} ({}) was applied with different SQL (checksum {got}) than this regcred \
             has (checksum {expected}); a migration must never be edited once released — restore \
             the database from a backup made by a regcred with matching migrations",
            migration.version, migration.name
        )),
        _ => None,
    }
}
