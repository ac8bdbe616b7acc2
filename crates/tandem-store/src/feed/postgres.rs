//! [`FeedInbox`] on PostgreSQL. A member joining and a page committing both lock the feed's row
//! (`SELECT … FOR UPDATE`), so a page either commits before the join (its number is at or below
//! the head the join returns) or sees the member (and delivers to it).

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row, query, query_scalar};
use tandem_core::model::ObjectKind;
use tandem_core::state::Cursor;

use super::sqlite::{decode_change, inbox_rows};
use super::{FeedInbox, FeedPage, FeedState, InboxConsumed, InboxItem};
use crate::StoreError;
use crate::codec::ts;
use crate::postgres::{PgStore, db};

/// Drops the member's rows up to `consumed.upto` and marks it alive; inside the caller's
/// transaction when there is one (`commit_cycle`).
pub(crate) async fn prune_inbox(
    conn: &mut PgConnection,
    object: ObjectKind,
    consumed: &InboxConsumed,
) -> Result<(), StoreError> {
    let InboxConsumed { feed, member, upto } = consumed;
    query("DELETE FROM feed_inbox WHERE feed = $1 AND object = $2 AND member = $3 AND seq <= $4")
        .bind(feed)
        .bind(object.as_str())
        .bind(member)
        .bind(i64::try_from(*upto).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map_err(db("pruning the feed inbox"))?;
    query("UPDATE feed_members SET last_read = $1 WHERE feed = $2 AND object = $3 AND member = $4")
        .bind(ts(&Utc::now()))
        .bind(feed)
        .bind(object.as_str())
        .bind(member)
        .execute(&mut *conn)
        .await
        .map_err(db("pruning the feed inbox: last read"))?;
    Ok(())
}

/// Creates the feed's row when missing, locks it, and returns its head.
async fn lock_feed(tx: &mut PgConnection, feed: &str, object: ObjectKind) -> Result<u64, StoreError> {
    query(
        "INSERT INTO feeds (feed, object, cursor, head) VALUES ($1, $2, NULL, 0) ON CONFLICT (feed, object) DO NOTHING",
    )
    .bind(feed)
    .bind(object.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db("feed: create"))?;
    let head: i64 = query_scalar("SELECT head FROM feeds WHERE feed = $1 AND object = $2 FOR UPDATE")
        .bind(feed)
        .bind(object.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db("feed: lock"))?;
    Ok(u64::try_from(head).unwrap_or(0))
}

#[async_trait]
impl FeedInbox for PgStore {
    async fn feed_state(&self, feed: &str, object: ObjectKind) -> Result<FeedState, StoreError> {
        let row = query("SELECT cursor, head FROM feeds WHERE feed = $1 AND object = $2")
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
        let mut tx = self.pool.begin().await.map_err(db("commit_feed_page: begin"))?;
        let head = lock_feed(&mut tx, feed, object).await?;
        if page.restart {
            for sql in [
                "DELETE FROM feed_inbox WHERE feed = $1 AND object = $2",
                "DELETE FROM feed_members WHERE feed = $1 AND object = $2",
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
        query("UPDATE feeds SET cursor = $1, head = $2 WHERE feed = $3 AND object = $4")
            .bind(page.cursor.0.as_slice())
            .bind(seq_sql)
            .bind(feed)
            .bind(object.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db("commit_feed_page: cursor"))?;
        if !page.deliveries.is_empty() {
            let members: HashSet<String> =
                query_scalar("SELECT member FROM feed_members WHERE feed = $1 AND object = $2")
                    .bind(feed)
                    .bind(object.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("commit_feed_page: members"))?
                    .into_iter()
                    .collect();
            // One statement per page: the rows as parallel arrays, unnested.
            let latest = inbox_rows(page, &members)?;
            if !latest.is_empty() {
                let mut member_col = Vec::with_capacity(latest.len());
                let mut record_col = Vec::with_capacity(latest.len());
                let mut change_col = Vec::with_capacity(latest.len());
                for ((member, record), change) in latest {
                    member_col.push(member.to_owned());
                    record_col.push(record.to_owned());
                    change_col.push(change);
                }
                query(
                    "INSERT INTO feed_inbox (feed, object, member, record_id, seq, change) \
                     SELECT $1, $2, m, r, $3, c::json FROM UNNEST($4::text[], $5::text[], $6::text[]) AS t(m, r, c) \
                     ON CONFLICT (feed, object, member, record_id) DO UPDATE SET seq = excluded.seq, change = excluded.change",
                )
                .bind(feed)
                .bind(object.as_str())
                .bind(seq_sql)
                .bind(&member_col)
                .bind(&record_col)
                .bind(&change_col)
                .execute(&mut *tx)
                .await
                .map_err(db("commit_feed_page: deliver"))?;
            }
        }
        tx.commit().await.map_err(db("commit_feed_page: commit"))?;
        Ok(seq)
    }

    async fn join_feed(&self, feed: &str, object: ObjectKind, member: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("join_feed: begin"))?;
        let head = lock_feed(&mut tx, feed, object).await?;
        query(
            "INSERT INTO feed_members (feed, object, member, last_read) VALUES ($1, $2, $3, $4) \
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
        // REPEATABLE READ: membership and rows from one snapshot.
        let mut tx = self.pool.begin().await.map_err(db("feed_inbox: begin"))?;
        query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db("feed_inbox: isolation"))?;
        let joined: Option<i32> =
            query_scalar("SELECT 1 FROM feed_members WHERE feed = $1 AND object = $2 AND member = $3")
                .bind(feed)
                .bind(object.as_str())
                .bind(member)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("feed_inbox: member"))?;
        if joined.is_none() {
            return Ok(None);
        }
        let rows = query(
            "SELECT seq, change::text AS change FROM feed_inbox \
             WHERE feed = $1 AND object = $2 AND member = $3 AND seq > $4 ORDER BY seq, record_id",
        )
        .bind(feed)
        .bind(object.as_str())
        .bind(member)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
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
        let mut conn = self.pool.acquire().await.map_err(db("prune_feed_inbox: connection"))?;
        prune_inbox(&mut conn, object, &InboxConsumed { feed: feed.to_owned(), member: member.to_owned(), upto }).await
    }

    async fn leave_feed(&self, feed: &str, object: ObjectKind, member: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("leave_feed: begin"))?;
        for sql in [
            "DELETE FROM feed_inbox WHERE feed = $1 AND object = $2 AND member = $3",
            "DELETE FROM feed_members WHERE feed = $1 AND object = $2 AND member = $3",
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
        let mut tx = self.pool.begin().await.map_err(db("evict_idle_feed_members: begin"))?;
        // Under the feed's row lock, as joins and pages: a member joining now is not evicted
        // half-way.
        lock_feed(&mut tx, feed, object).await?;
        let idle = ts(&idle_since);
        query(
            "DELETE FROM feed_inbox WHERE feed = $1 AND object = $2 AND member IN \
             (SELECT member FROM feed_members WHERE feed = $1 AND object = $2 AND (last_read IS NULL OR last_read < $3))",
        )
        .bind(feed)
        .bind(object.as_str())
        .bind(&idle)
        .execute(&mut *tx)
        .await
        .map_err(db("evict_idle_feed_members: rows"))?;
        let gone =
            query("DELETE FROM feed_members WHERE feed = $1 AND object = $2 AND (last_read IS NULL OR last_read < $3)")
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
