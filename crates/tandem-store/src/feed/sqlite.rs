//! [`FeedInbox`] on SQLite. Writes take the write lock up front (`BEGIN IMMEDIATE`), which is
//! what serialises a member joining with a page committing.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock};

use sqlx::{AssertSqlSafe, Row, SqliteConnection, query, query_scalar};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor};

use super::{FeedInbox, FeedPage, FeedState, InboxConsumed, InboxItem, Recipients};
use crate::StoreError;
use crate::codec::ts;
use crate::sqlite::{BATCH_ROWS, SqliteQuery, SqliteStore, batch_sql, db};

const INBOX_HEAD: &str = "INSERT INTO feed_inbox (feed, object, member, record_id, seq, change) VALUES ";
const INBOX_TAIL: &str =
    " ON CONFLICT (feed, object, member, record_id) DO UPDATE SET seq = excluded.seq, change = excluded.change";

/// Drops the member's rows up to `consumed.upto` and marks it alive: two statements in one
/// request to the connection's thread. Inside the caller's transaction when there is one
/// (`commit_cycle`).
pub(crate) async fn prune_inbox(
    conn: &mut SqliteConnection,
    object: ObjectKind,
    consumed: &InboxConsumed,
) -> Result<(), StoreError> {
    let InboxConsumed { feed, member, upto } = consumed;
    query(
        "DELETE FROM feed_inbox WHERE feed = ? AND object = ? AND member = ? AND seq <= ?; \
         UPDATE feed_members SET last_read = ? WHERE feed = ? AND object = ? AND member = ?",
    )
    .bind(feed.as_str())
    .bind(object.as_str())
    .bind(member.as_str())
    .bind(i64::try_from(*upto).unwrap_or(i64::MAX))
    .bind(ts(&Utc::now()))
    .bind(feed.as_str())
    .bind(object.as_str())
    .bind(member.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db("pruning the feed inbox"))?;
    Ok(())
}

/// Creates the feed's row when missing and returns its head.
async fn ensure_feed(tx: &mut SqliteConnection, feed: &str, object: ObjectKind) -> Result<u64, StoreError> {
    query(
        "INSERT INTO feeds (feed, object, cursor, head) VALUES (?, ?, NULL, 0) ON CONFLICT (feed, object) DO NOTHING",
    )
    .bind(feed)
    .bind(object.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db("feed: create"))?;
    let head: i64 = query_scalar("SELECT head FROM feeds WHERE feed = ? AND object = ?")
        .bind(feed)
        .bind(object.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db("feed: head"))?;
    Ok(u64::try_from(head).unwrap_or(0))
}

pub(crate) fn encode_change(change: &Change) -> Result<String, StoreError> {
    serde_json::to_string(change).map_err(|e| StoreError::Invalid(format!("feed change: {e}")))
}

pub(crate) fn decode_change(text: &str) -> Result<Change, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { what: "feed inbox row".into(), detail: e.to_string() })
}

/// A page's inbox rows: (member, record) → the encoded change, the last change of a record on
/// the page winning (the feed reads in modification order).
pub(crate) fn inbox_rows<'a>(
    page: &'a FeedPage,
    members: &'a HashSet<String>,
) -> Result<BTreeMap<(&'a str, &'a str), String>, StoreError> {
    let mut rows = BTreeMap::new();
    for delivery in &page.deliveries {
        let to = recipients(&delivery.to, members);
        if to.is_empty() {
            continue;
        }
        let change = encode_change(&delivery.change)?;
        for member in to {
            rows.insert((member, delivery.change.id.as_str()), change.clone());
        }
    }
    Ok(rows)
}

/// The members a delivery goes to, among those registered.
pub(crate) fn recipients<'a>(to: &'a Recipients, members: &'a HashSet<String>) -> Vec<&'a str> {
    match to {
        Recipients::Everyone => members.iter().map(String::as_str).collect(),
        Recipients::Members(list) => {
            let mut out: Vec<&str> = list.iter().map(String::as_str).filter(|m| members.contains(*m)).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

#[async_trait]
impl FeedInbox for SqliteStore {
    async fn feed_state(&self, feed: &str, object: ObjectKind) -> Result<FeedState, StoreError> {
        let row = query("SELECT cursor, head FROM feeds WHERE feed = ? AND object = ?")
            .bind(feed)
            .bind(object.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("feed_state"))?;
        Ok(match row {
            None => FeedState::default(),
            Some(row) => {
                let cursor: Option<Vec<u8>> = row.try_get("cursor").map_err(db("feed_state: cursor"))?;
                let head: i64 = row.try_get("head").map_err(db("feed_state: head"))?;
                FeedState { cursor: cursor.map(Cursor), head: u64::try_from(head).unwrap_or(0) }
            }
        })
    }

    async fn commit_feed_page(&self, feed: &str, object: ObjectKind, page: &FeedPage) -> Result<u64, StoreError> {
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("commit_feed_page: begin"))?;
        let head = ensure_feed(&mut tx, feed, object).await?;
        if page.restart {
            for sql in [
                "DELETE FROM feed_inbox WHERE feed = ? AND object = ?",
                "DELETE FROM feed_members WHERE feed = ? AND object = ?",
            ] {
                query(sql)
                    .bind(feed)
                    .bind(object.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db("commit_feed_page: restart"))?;
            }
        }
        let seq = head + 1;
        let seq_sql = i64::try_from(seq).map_err(|_| StoreError::Invalid("feed sequence overflow".into()))?;
        query("UPDATE feeds SET cursor = ?, head = ? WHERE feed = ? AND object = ?")
            .bind(page.cursor.0.as_slice())
            .bind(seq_sql)
            .bind(feed)
            .bind(object.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db("commit_feed_page: cursor"))?;
        if !page.deliveries.is_empty() {
            let members: HashSet<String> =
                query_scalar("SELECT member FROM feed_members WHERE feed = ? AND object = ?")
                    .bind(feed)
                    .bind(object.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("commit_feed_page: members"))?
                    .into_iter()
                    .collect();
            // Written BATCH_ROWS per statement, like pairs and intents.
            static FULL: OnceLock<Arc<str>> = OnceLock::new();
            let rows: Vec<_> = inbox_rows(page, &members)?.into_iter().collect();
            for chunk in rows.chunks(BATCH_ROWS) {
                let sql = batch_sql(&FULL, chunk.len(), INBOX_HEAD, "(?, ?, ?, ?, ?, ?)", INBOX_TAIL);
                let q = chunk.iter().fold(query(AssertSqlSafe(sql)), |q: SqliteQuery, ((member, record), change)| {
                    q.bind(feed.to_owned())
                        .bind(object.as_str())
                        .bind((*member).to_owned())
                        .bind((*record).to_owned())
                        .bind(seq_sql)
                        .bind(change.clone())
                });
                q.execute(&mut *tx).await.map_err(db("commit_feed_page: deliver"))?;
            }
        }
        tx.commit().await.map_err(db("commit_feed_page: commit"))?;
        Ok(seq)
    }

    async fn join_feed(&self, feed: &str, object: ObjectKind, member: &str) -> Result<u64, StoreError> {
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("join_feed: begin"))?;
        let head = ensure_feed(&mut tx, feed, object).await?;
        query(
            "INSERT INTO feed_members (feed, object, member, last_read) VALUES (?, ?, ?, ?) \
             ON CONFLICT (feed, object, member) DO UPDATE SET last_read = excluded.last_read",
        )
        .bind(feed)
        .bind(object.as_str())
        .bind(member)
        .bind(ts(&Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(db("join_feed"))?;
        tx.commit().await.map_err(db("join_feed: commit"))?;
        Ok(head)
    }

    async fn feed_inbox(
        &self,
        feed: &str,
        object: ObjectKind,
        member: &str,
        after: u64,
    ) -> Result<Option<Vec<InboxItem>>, StoreError> {
        // One read transaction, so membership and rows are seen at the same moment.
        let mut tx = self.pool.begin().await.map_err(db("feed_inbox: begin"))?;
        let joined: Option<i64> =
            query_scalar("SELECT 1 FROM feed_members WHERE feed = ? AND object = ? AND member = ?")
                .bind(feed)
                .bind(object.as_str())
                .bind(member)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("feed_inbox: member"))?;
        if joined.is_none() {
            return Ok(None);
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = query(
            "SELECT seq, change FROM feed_inbox WHERE feed = ? AND object = ? AND member = ? AND seq > ? ORDER BY seq, record_id",
        )
        .bind(feed)
        .bind(object.as_str())
        .bind(member)
        .bind(after)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("feed_inbox"))?;
        tx.commit().await.map_err(db("feed_inbox: end"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get("seq").map_err(db("feed_inbox: seq"))?;
            let change: String = row.try_get("change").map_err(db("feed_inbox: change"))?;
            out.push(InboxItem { seq: u64::try_from(seq).unwrap_or(0), change: decode_change(&change)? });
        }
        Ok(Some(out))
    }

    async fn prune_feed_inbox(
        &self,
        feed: &str,
        object: ObjectKind,
        member: &str,
        upto: u64,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turns.wait().await;
        let mut conn = self.pool.acquire().await.map_err(db("prune_feed_inbox: connection"))?;
        // Outside a transaction each statement is its own, and either may be repeated.
        prune_inbox(&mut conn, object, &InboxConsumed { feed: feed.to_owned(), member: member.to_owned(), upto }).await
    }

    async fn leave_feed(&self, feed: &str, object: ObjectKind, member: &str) -> Result<(), StoreError> {
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("leave_feed: begin"))?;
        for sql in [
            "DELETE FROM feed_inbox WHERE feed = ? AND object = ? AND member = ?",
            "DELETE FROM feed_members WHERE feed = ? AND object = ? AND member = ?",
        ] {
            query(sql)
                .bind(feed)
                .bind(object.as_str())
                .bind(member)
                .execute(&mut *tx)
                .await
                .map_err(db("leave_feed"))?;
        }
        tx.commit().await.map_err(db("leave_feed: commit"))?;
        Ok(())
    }

    async fn evict_idle_feed_members(
        &self,
        feed: &str,
        object: ObjectKind,
        idle_since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("evict_idle_feed_members: begin"))?;
        let idle = ts(&idle_since);
        query(
            "DELETE FROM feed_inbox WHERE feed = ? AND object = ? AND member IN \
             (SELECT member FROM feed_members WHERE feed = ? AND object = ? AND (last_read IS NULL OR last_read < ?))",
        )
        .bind(feed)
        .bind(object.as_str())
        .bind(feed)
        .bind(object.as_str())
        .bind(&idle)
        .execute(&mut *tx)
        .await
        .map_err(db("evict_idle_feed_members: rows"))?;
        let gone =
            query("DELETE FROM feed_members WHERE feed = ? AND object = ? AND (last_read IS NULL OR last_read < ?)")
                .bind(feed)
                .bind(object.as_str())
                .bind(&idle)
                .execute(&mut *tx)
                .await
                .map_err(db("evict_idle_feed_members"))?
                .rows_affected();
        tx.commit().await.map_err(db("evict_idle_feed_members: commit"))?;
        Ok(gone)
    }
}
