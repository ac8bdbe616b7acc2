//! The SQLite schema: its history of migrations (`MIGRATIONS`) and the step that applies them
//! when a store opens.

use chrono::Utc;
use sqlx::{query, query_scalar};

use super::{SCHEMA_VERSION, SqliteStore, migration_err};
use crate::StoreError;
use crate::codec::ts;

/// One schema step. Steps are applied in order, each version once, inside one transaction.
pub(super) struct Migration {
    pub(super) version: i64,
    pub(super) description: &'static str,
    pub(super) statements: &'static [&'static str],
}

/// The schema's history. Append new steps; never edit a released one.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        statements: &[
            "CREATE TABLE pairs (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            pair_id TEXT NOT NULL,
            crm_id TEXT NOT NULL,
            crm_version TEXT NOT NULL,
            crm_fields TEXT NOT NULL,
            mailbox_id TEXT NOT NULL,
            mailbox_version TEXT NOT NULL,
            mailbox_fields TEXT NOT NULL,
            synced_at TEXT NOT NULL,
            tombstone TEXT,
            PRIMARY KEY (user_id, object, pair_id)
        )",
            "CREATE UNIQUE INDEX pairs_by_crm_id ON pairs (user_id, object, crm_id)",
            "CREATE UNIQUE INDEX pairs_by_mailbox_id ON pairs (user_id, object, mailbox_id)",
            "CREATE TABLE cursors (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT NOT NULL,
            cursor BLOB NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (user_id, object, side)
        )",
            "CREATE TABLE journal (
            seq INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            intent_key TEXT NOT NULL,
            object TEXT NOT NULL,
            target TEXT NOT NULL,
            operation TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (user_id, intent_key)
        )",
            "CREATE TABLE quarantine (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT NOT NULL,
            record_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            since TEXT NOT NULL,
            detail TEXT,
            PRIMARY KEY (user_id, object, side, record_id)
        )",
            "CREATE TABLE refetch (
            seq INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT NOT NULL,
            record_id TEXT NOT NULL,
            UNIQUE (user_id, object, side, record_id)
        )",
            "CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT,
            record_id TEXT,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT
        )",
            "CREATE INDEX audit_by_user_at ON audit (user_id, at)",
            "CREATE INDEX audit_by_at ON audit (at)",
            "CREATE TABLE status (
            user_id TEXT PRIMARY KEY NOT NULL,
            last_cycle_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            consecutive_failures INTEGER NOT NULL
        )",
        ],
    },
    Migration {
        version: 2,
        description: "live pair counts kept by triggers",
        statements: &[
            "CREATE TABLE pair_counts (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            live INTEGER NOT NULL,
            PRIMARY KEY (user_id, object)
        ) WITHOUT ROWID",
            "INSERT INTO pair_counts (user_id, object, live)
            SELECT user_id, object, COUNT(*) FROM pairs WHERE tombstone IS NULL
            GROUP BY user_id, object",
            // An upsert that updates an existing pair fires the update trigger, not this one.
            "CREATE TRIGGER pair_counts_on_insert AFTER INSERT ON pairs
            WHEN new.tombstone IS NULL
        BEGIN
            INSERT INTO pair_counts (user_id, object, live) VALUES (new.user_id, new.object, 1)
                ON CONFLICT (user_id, object) DO UPDATE SET live = live + 1;
        END",
            "CREATE TRIGGER pair_counts_on_delete AFTER DELETE ON pairs
            WHEN old.tombstone IS NULL
        BEGIN
            UPDATE pair_counts SET live = live - 1
                WHERE user_id = old.user_id AND object = old.object;
        END",
            // Only a change of liveness (or of owner, which Tandem never makes) moves a count, so
            // the common update of a live pair costs nothing here.
            "CREATE TRIGGER pair_counts_on_update AFTER UPDATE OF user_id, object, tombstone ON pairs
            WHEN (old.tombstone IS NULL) IS NOT (new.tombstone IS NULL)
                OR old.user_id IS NOT new.user_id OR old.object IS NOT new.object
        BEGIN
            UPDATE pair_counts SET live = live - 1
                WHERE old.tombstone IS NULL AND user_id = old.user_id AND object = old.object;
            INSERT INTO pair_counts (user_id, object, live)
                SELECT new.user_id, new.object, 1 WHERE new.tombstone IS NULL
                ON CONFLICT (user_id, object) DO UPDATE SET live = live + 1;
        END",
        ],
    },
    Migration {
        version: 3,
        description: "ambiguous matches waiting per user, in the status",
        statements: &["ALTER TABLE status ADD COLUMN ambiguous_matches INTEGER NOT NULL DEFAULT 0"],
    },
    Migration {
        version: 4,
        description: "unresolved items per user",
        statements: &["CREATE TABLE unresolved (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT NOT NULL,
            record_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            field TEXT,
            detail TEXT NOT NULL,
            since TEXT NOT NULL,
            checked_at TEXT,
            PRIMARY KEY (user_id, object, side, record_id, kind, subject)
        ) WITHOUT ROWID"],
    },
    Migration {
        version: 5,
        description: "cycle history per user; approval of quarantined (held) deletes",
        statements: &[
            "CREATE TABLE cycles (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            counts TEXT NOT NULL,
            operations TEXT NOT NULL,
            operations_omitted INTEGER NOT NULL DEFAULT 0
        )",
            "CREATE INDEX cycles_by_user ON cycles (user_id, id)",
            // Kept apart from `detail`, which every cycle that re-quarantines the entry replaces:
            // an approval made while a cycle runs survives that cycle's commit.
            "ALTER TABLE quarantine ADD COLUMN approved_by TEXT",
            "ALTER TABLE quarantine ADD COLUMN approved_at TEXT",
        ],
    },
    Migration {
        version: 6,
        description: "organization feeds: cursor and head, members, inbox",
        statements: &[
            "CREATE TABLE feeds (
            feed TEXT NOT NULL,
            object TEXT NOT NULL,
            cursor BLOB,
            head INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (feed, object)
        )",
            "CREATE TABLE feed_members (
            feed TEXT NOT NULL,
            object TEXT NOT NULL,
            member TEXT NOT NULL,
            PRIMARY KEY (feed, object, member)
        )",
            "CREATE TABLE feed_inbox (
            feed TEXT NOT NULL,
            object TEXT NOT NULL,
            member TEXT NOT NULL,
            record_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            change TEXT NOT NULL,
            PRIMARY KEY (feed, object, member, record_id)
        )",
            "CREATE INDEX feed_inbox_by_seq ON feed_inbox (feed, object, member, seq)",
        ],
    },
    Migration {
        version: 7,
        description: "organization feeds: when each member last joined or read its inbox",
        statements: &["ALTER TABLE feed_members ADD COLUMN last_read TEXT"],
    },
    Migration {
        version: 8,
        description: "field prints may be stored packed (`v2:` and base64); earlier JSON prints still read, \
                      and a pair's are packed when it is next committed",
        // No statement: the columns stay text. The version keeps an earlier Tandem, which
        // cannot read packed prints, from opening the database.
        statements: &[],
    },
    Migration {
        version: 9,
        description: "journal entries may hold the next state's field prints packed \
                      (`tandem_store::packed_prints`); earlier entries still read",
        // No statement: the journal's operations stay text the store does not read. The
        // version keeps an earlier Tandem, which would drop such an entry as unreadable instead
        // of settling its write, from opening the database.
        statements: &[],
    },
    Migration {
        version: 10,
        description: "a create's journal entry may leave out the record to create (recovery settles \
                      it by its key and next state); earlier entries still read",
        // No statement, as for version 9: the version keeps an earlier Tandem, which would drop
        // such an entry as unreadable (and could then create the record a second time), from
        // opening the database.
        statements: &[],
    },
    Migration {
        version: 11,
        description: "SQLite stores a pair's field prints as bytes (a BLOB, packed, no base64); \
                      text prints still read, and a pair's are written as bytes when it is next committed",
        // No statement: a BLOB is kept as it is in the `TEXT` columns. The version keeps an
        // earlier Tandem, which reads those columns as text only, from opening the database.
        statements: &[],
    },
];

impl SqliteStore {
    /// Brings the schema up to [`SCHEMA_VERSION`], in one transaction. A no-op when it is there.
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(migration_err("starting"))?;
        query(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )",
        )
        .execute(&mut *tx)
        .await
        .map_err(migration_err("creating schema_version"))?;
        let current: Option<i64> = query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(migration_err("reading schema_version"))?;
        let current = current.unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::Migration(format!(
                "the database is at schema version {current}, newer than version {SCHEMA_VERSION} that \
                 this build of Tandem understands; upgrade Tandem or use another database"
            )));
        }
        for step in MIGRATIONS.iter().filter(|m| m.version > current) {
            for statement in step.statements {
                query(*statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Migration(format!("applying version {}: {e}", step.version)))?;
            }
            query("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)")
                .bind(step.version)
                .bind(step.description)
                .bind(ts(&Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(migration_err("recording the version"))?;
            tracing::info!(version = step.version, description = step.description, "migrated the state store");
        }
        tx.commit().await.map_err(migration_err("committing"))?;
        Ok(())
    }
}
