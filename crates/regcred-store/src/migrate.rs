//! Schema migrations: an ordered list of SQL files compiled into the binary, applied once each
//! inside a transaction and recorded in `schema_migrations`. A database migrated by a newer
//! regcred is refused rather than misread.

/// One migration: its version, name and SQL.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
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
];

/// The SQL creating the bookkeeping table, valid on every backend.
pub const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";
