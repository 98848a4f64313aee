//! The default backend: one embedded SQLite file in WAL mode.

use super::{
    apply_event, check_audience, check_neighbour_lists, decode_cursor, merge_post,
    user_cache_prefix, AudienceEntry, CachedCaption, CatalogRecord, EventTxn, ForgetReport,
    InterestAdd, ItemCount, ItemKind, Neighbour, NeighbourList, OptOutRecord, Page, PostRecord,
    Recorded, Store, StoredAudience,
};
use crate::domain::{Event, EventKind, TermDelta};
use crate::error::{Error, Result};
use crate::ids::{EventId, PostId, UserId};
use crate::profile::{Decay, InterestRecord, WeightPart};
use crate::time::Timestamp;
use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Append new steps; never edit a released one.
const MIGRATIONS: &[&str] = &[
    // 1: profiles, events, likes, posts, caption cache, catalog.
    "CREATE TABLE interests (
        user_id    TEXT NOT NULL,
        term       TEXT NOT NULL,
        weight     REAL NOT NULL,
        updated_at INTEGER NOT NULL,
        count      INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (user_id, term)
     ) WITHOUT ROWID;
     CREATE TABLE events (
        event_id TEXT PRIMARY KEY,
        user_id  TEXT NOT NULL,
        kind     TEXT NOT NULL,
        post_id  TEXT,
        item_id  TEXT,
        at       INTEGER NOT NULL,
        deltas   TEXT NOT NULL
     );
     CREATE INDEX events_by_user ON events (user_id, at);
     CREATE INDEX events_by_kind ON events (kind, at);
     CREATE TABLE active_signals (
        user_id  TEXT NOT NULL,
        kind     TEXT NOT NULL,
        post_id  TEXT NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (user_id, kind, post_id)
     ) WITHOUT ROWID;
     CREATE TABLE posts (
        post_id      TEXT PRIMARY KEY,
        author_id    TEXT,
        caption      TEXT,
        image_sha256 TEXT,
        interests    TEXT,
        created_at   INTEGER NOT NULL
     );
     CREATE INDEX posts_by_author ON posts (author_id);
     CREATE INDEX posts_by_image ON posts (image_sha256);
     CREATE TABLE caption_cache (
        image_sha256 TEXT PRIMARY KEY,
        caption      TEXT NOT NULL,
        model        TEXT NOT NULL,
        created_at   INTEGER NOT NULL
     );
     CREATE TABLE catalog (
        kind       TEXT NOT NULL,
        item_id    TEXT NOT NULL,
        category   TEXT,
        body       TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (kind, item_id)
     );",
    // 2: cached responses of remote services (LLM answers), with an expiry.
    "CREATE TABLE response_cache (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        expires_at INTEGER NOT NULL
     );
     CREATE INDEX response_cache_by_expiry ON response_cache (expires_at);",
    // 3: ad category opt-outs; impressions and clicks counted per user and item.
    "CREATE TABLE opt_outs (
        user_id  TEXT NOT NULL,
        category TEXT NOT NULL,
        at       INTEGER NOT NULL,
        PRIMARY KEY (user_id, category)
     ) WITHOUT ROWID;
     CREATE INDEX opt_outs_by_category ON opt_outs (category);
     CREATE INDEX events_by_user_item ON events (user_id, kind, item_id) WHERE item_id IS NOT NULL;",
    // 4: forward-decayed weights. A weight is the sum of parts, each scaled to its anchor, so a
    // signal is a blind addition. A row of the old shape (weight as of updated_at) becomes one
    // part anchored at updated_at, which reads exactly as before at any later time.
    "CREATE TABLE interest_parts (
        user_id TEXT NOT NULL,
        term    TEXT NOT NULL,
        anchor  INTEGER NOT NULL,
        value   REAL NOT NULL,
        PRIMARY KEY (user_id, term, anchor)
     ) WITHOUT ROWID;
     INSERT INTO interest_parts (user_id, term, anchor, value)
          SELECT user_id, term, updated_at, weight FROM interests;
     CREATE TABLE interests_v4 (
        user_id   TEXT NOT NULL,
        term      TEXT NOT NULL,
        count     INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (user_id, term)
     ) WITHOUT ROWID;
     INSERT INTO interests_v4 (user_id, term, count, last_seen)
          SELECT user_id, term, count, last_seen FROM interests;
     DROP TABLE interests;
     ALTER TABLE interests_v4 RENAME TO interests;",
    // 5: precomputed neighbours for stateless serving, one row per (user, position); the
    // term -> users lookup behind audiences without a scan.
    "CREATE TABLE neighbours (
        user_id      TEXT NOT NULL,
        pos          INTEGER NOT NULL,
        neighbour_id TEXT NOT NULL,
        score        REAL NOT NULL,
        shared_terms TEXT NOT NULL,
        computed_at  INTEGER NOT NULL,
        PRIMARY KEY (user_id, pos)
     ) WITHOUT ROWID;
     CREATE INDEX neighbours_by_neighbour ON neighbours (neighbour_id);
     CREATE INDEX interests_by_term ON interests (term, user_id);",
    // 6: precomputed audiences of ads (written by a batch job), one row per (ad, rank); the
    // index finds a forgotten user's entries.
    "CREATE TABLE audiences (
        ad_id       TEXT NOT NULL,
        pos         INTEGER NOT NULL,
        user_id     TEXT NOT NULL,
        score       REAL NOT NULL,
        computed_at INTEGER NOT NULL,
        PRIMARY KEY (ad_id, pos)
     ) WITHOUT ROWID;
     CREATE INDEX audiences_by_user ON audiences (user_id);",
];

/// How long a writer waits for another process holding the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

/// Embedded SQLite storage in one file (WAL mode), safe to share between threads and
/// between processes.
///
/// In-process writes go through one connection; every event is one `BEGIN IMMEDIATE`
/// transaction, so concurrent events, from this process or another, are serialised by
/// SQLite and none is lost. Reads use a small pool of their own connections.
///
/// ```
/// use sociallens::{Engine, Post, SqliteStore};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("sociallens.db");
/// let engine = Engine::builder().store(SqliteStore::open(&path)?).build()?;
/// engine.record_like("u1", Post::new("p1").with_interests(["surfboard"])).await?;
/// drop(engine);
/// let engine = Engine::builder().store(SqliteStore::open(&path)?).build()?;
/// assert_eq!(engine.interests("u1", 5).await?[0].term, "surfboard");
/// # Ok::<(), sociallens::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Storage {
            message: format!(
                "database schema version {version} is newer than this sociallens ({known}); upgrade sociallens"
            ),
            source: None,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)
            .map_err(|e| Error::storage(format!("schema migration {}", i + 1), e))?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = Connection::open(&path)
            .map_err(|e| Error::storage(format!("opening {}", path.display()), e))?;
        configure(&writer)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Storage {
                message: format!("{} cannot use WAL mode (got {mode})", path.display()),
                source: None,
            });
        }
        migrate(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in one immediate (write-locking) transaction, off the async threads.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` on a pooled read connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &inner.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.busy_timeout(BUSY_TIMEOUT)?;
                    c
                }
            };
            let out = f(&conn);
            let mut pool = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
            out
        })
        .await
    }
}

/// Runs blocking SQLite work on tokio's blocking pool when there is a runtime, inline otherwise.
async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await?,
        Err(_) => f(),
    }
}

/// An events row as read, before validation.
type EventRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    String,
);
/// A posts row as read, before validation.
type PostRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

fn read_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn event_from_row(r: EventRow) -> Result<Event> {
    let (id, user, kind, post, item, at, deltas) = r;
    let corrupt = |what: &str| Error::Storage {
        message: format!("corrupt event {id}: {what}"),
        source: None,
    };
    Ok(Event {
        id: EventId::new(id.clone()).map_err(|_| corrupt("id"))?,
        user: UserId::new(user).map_err(|_| corrupt("user"))?,
        kind: EventKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        post: post
            .map(PostId::new)
            .transpose()
            .map_err(|_| corrupt("post"))?,
        item,
        at: Timestamp::from_millis(at),
        deltas: serde_json::from_str::<Vec<TermDelta>>(&deltas)?,
    })
}

const EVENT_COLUMNS: &str = "event_id, user_id, kind, post_id, item_id, at, deltas";

/// Interest rows with their parts, as one join ordered by user and term.
const INTEREST_JOIN: &str = "SELECT i.user_id, i.term, i.count, i.last_seen, p.anchor, p.value
       FROM interests i
  LEFT JOIN interest_parts p ON p.user_id = i.user_id AND p.term = i.term";

/// Groups rows of [`INTEREST_JOIN`] (user, term, count, last_seen, anchor, value) by user and
/// term, in the order they come.
fn collect_interests(rows: &mut rusqlite::Rows<'_>) -> Result<Vec<(UserId, Vec<InterestRecord>)>> {
    let mut out: Vec<(UserId, Vec<InterestRecord>)> = Vec::new();
    while let Some(row) = rows.next()? {
        let user: String = row.get(0)?;
        let term: String = row.get(1)?;
        let part = match (row.get::<_, Option<i64>>(4)?, row.get::<_, Option<f64>>(5)?) {
            (Some(anchor), Some(value)) => Some(WeightPart {
                anchor: Timestamp::from_millis(anchor),
                value,
            }),
            _ => None,
        };
        if !matches!(out.last(), Some((u, _)) if u.as_str() == user) {
            let id = UserId::new(user).map_err(|_| Error::Storage {
                message: "corrupt interest row: user id".into(),
                source: None,
            })?;
            out.push((id, Vec::new()));
        }
        let recs = &mut out.last_mut().expect("pushed above").1;
        if !matches!(recs.last(), Some(r) if r.term == term) {
            recs.push(InterestRecord {
                term,
                parts: Vec::new(),
                count: row.get(2)?,
                last_seen: Timestamp::from_millis(row.get(3)?),
            });
        }
        if let Some(part) = part {
            recs.last_mut().expect("pushed above").parts.push(part);
        }
    }
    Ok(out)
}

fn user_interests(
    conn: &Connection,
    user: &str,
    term: Option<&str>,
) -> Result<Vec<InterestRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{INTEREST_JOIN} WHERE i.user_id = ?1 AND (?2 IS NULL OR i.term = ?2) ORDER BY i.term, p.anchor"
    ))?;
    let mut rows = stmt.query(params![user, term])?;
    Ok(collect_interests(&mut rows)?
        .pop()
        .map(|(_, recs)| recs)
        .unwrap_or_default())
}

struct Txn<'a, 'c> {
    tx: &'a rusqlite::Transaction<'c>,
}

impl EventTxn for Txn<'_, '_> {
    fn event(&mut self, id: &EventId) -> Result<Option<Event>> {
        let row = self
            .tx
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1"
            ))?
            .query_row([id.as_str()], read_event)
            .optional()?;
        row.map(event_from_row).transpose()
    }

    fn insert_event(&mut self, e: &Event) -> Result<()> {
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![
                e.id.as_str(),
                e.user.as_str(),
                e.kind.as_str(),
                e.post.as_ref().map(|p| p.as_str()),
                e.item,
                e.at.as_millis(),
                serde_json::to_string(&e.deltas)?,
            ])?;
        Ok(())
    }

    fn active(&mut self, user: &UserId, kind: EventKind, post: &PostId) -> Result<Option<EventId>> {
        let id: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT event_id FROM active_signals WHERE user_id = ?1 AND kind = ?2 AND post_id = ?3",
            )?
            .query_row(params![user.as_str(), kind.as_str(), post.as_str()], |r| r.get(0))
            .optional()?;
        id.map(EventId::new).transpose()
    }

    fn set_active(
        &mut self,
        user: &UserId,
        kind: EventKind,
        post: &PostId,
        event: Option<&EventId>,
    ) -> Result<()> {
        match event {
            Some(id) => self
                .tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO active_signals (user_id, kind, post_id, event_id) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![user.as_str(), kind.as_str(), post.as_str(), id.as_str()])?,
            None => self
                .tx
                .prepare_cached(
                    "DELETE FROM active_signals WHERE user_id = ?1 AND kind = ?2 AND post_id = ?3",
                )?
                .execute(params![user.as_str(), kind.as_str(), post.as_str()])?,
        };
        Ok(())
    }

    fn add_interest(&mut self, user: &UserId, term: &str, add: &InterestAdd) -> Result<()> {
        let u = user.as_str();
        self.tx
            .prepare_cached(
                "INSERT INTO interests (user_id, term, count, last_seen) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id, term) DO UPDATE SET
                    count = count + excluded.count,
                    last_seen = CASE WHEN ?5 THEN max(last_seen, excluded.last_seen) ELSE last_seen END",
            )?
            .execute(params![
                u,
                term,
                add.count_change,
                add.seen.unwrap_or(add.part.anchor).as_millis(),
                add.seen.is_some(),
            ])?;
        if add.drop_before.as_millis() > i64::MIN {
            self.tx
                .prepare_cached(
                    "DELETE FROM interest_parts WHERE user_id = ?1 AND term = ?2 AND anchor < ?3",
                )?
                .execute(params![u, term, add.drop_before.as_millis()])?;
        }
        self.tx
            .prepare_cached(
                "INSERT INTO interest_parts (user_id, term, anchor, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id, term, anchor) DO UPDATE SET value = value + excluded.value",
            )?
            .execute(params![
                u,
                term,
                add.part.anchor.as_millis(),
                add.part.value
            ])?;
        Ok(())
    }

    fn settle_interest(&mut self, user: &UserId, term: &str) -> Result<Option<InterestRecord>> {
        let rec = user_interests(self.tx, user.as_str(), Some(term))?.pop();
        match rec {
            Some(r) if r.count > 0 => Ok(Some(r)),
            Some(_) => {
                for sql in [
                    "DELETE FROM interests WHERE user_id = ?1 AND term = ?2",
                    "DELETE FROM interest_parts WHERE user_id = ?1 AND term = ?2",
                ] {
                    self.tx
                        .prepare_cached(sql)?
                        .execute(params![user.as_str(), term])?;
                }
                Ok(None)
            }
            None => Ok(None),
        }
    }

    fn set_last_seen(&mut self, user: &UserId, term: &str, at: Timestamp) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE interests SET last_seen = ?3 WHERE user_id = ?1 AND term = ?2")?
            .execute(params![user.as_str(), term, at.as_millis()])?;
        Ok(())
    }

    fn counting_events(&mut self, user: &UserId) -> Result<Vec<Event>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE user_id = ?1 AND kind IN ('click', 'impression')
             UNION ALL
             SELECT e.event_id, e.user_id, e.kind, e.post_id, e.item_id, e.at, e.deltas
               FROM active_signals a JOIN events e ON e.event_id = a.event_id
              WHERE a.user_id = ?1"
        ))?;
        let rows = stmt
            .query_map([user.as_str()], read_event)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(event_from_row).collect()
    }
}

fn post_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PostRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn load_post(conn: &Connection, id: &str) -> Result<Option<PostRecord>> {
    let row = conn
        .prepare_cached(
            "SELECT post_id, author_id, caption, image_sha256, interests, created_at FROM posts WHERE post_id = ?1",
        )?
        .query_row([id], post_from_row)
        .optional()?;
    let Some((id, author, caption, image_sha256, interests, created_at)) = row else {
        return Ok(None);
    };
    Ok(Some(PostRecord {
        id: PostId::new(id)?,
        author: author.map(UserId::new).transpose()?,
        caption,
        image_sha256,
        interests: interests.map(|s| serde_json::from_str(&s)).transpose()?,
        created_at: Timestamp::from_millis(created_at),
    }))
}

/// The stored neighbour lists of those of `users` that have one, in the order given.
fn read_neighbour_lists(conn: &Connection, users: Vec<UserId>) -> Result<Vec<NeighbourList>> {
    let mut stmt = conn.prepare_cached(
        "SELECT neighbour_id, score, shared_terms, computed_at FROM neighbours
          WHERE user_id = ?1 ORDER BY pos",
    )?;
    let mut out = Vec::new();
    for user in users {
        let rows = stmt
            .query_map([user.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, f64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let Some(computed_at) = rows.first().map(|r| r.3) else {
            continue;
        };
        let neighbours = rows
            .into_iter()
            .map(|(id, score, shared, _)| {
                Ok(Neighbour {
                    user: UserId::new(id).map_err(|_| Error::Storage {
                        message: format!("corrupt neighbour row of {user}: user id"),
                        source: None,
                    })?,
                    score,
                    shared_terms: serde_json::from_str(&shared)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(NeighbourList {
            user,
            neighbours,
            computed_at: Timestamp::from_millis(computed_at),
        });
    }
    Ok(out)
}

/// An ad's stored audience, its best `limit` members.
fn read_audience(conn: &Connection, ad_id: &str, limit: usize) -> Result<Option<StoredAudience>> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let rows = conn
        .prepare_cached(
            "SELECT user_id, score, computed_at FROM audiences WHERE ad_id = ?1 ORDER BY pos LIMIT ?2",
        )?
        .query_map(params![ad_id, limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?, r.get::<_, i64>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let computed_at = match rows.first() {
        Some(r) => r.2,
        None => {
            // A limit of 0 still tells whether an audience is stored.
            let any: Option<i64> = conn
                .prepare_cached("SELECT computed_at FROM audiences WHERE ad_id = ?1 LIMIT 1")?
                .query_row([ad_id], |r| r.get(0))
                .optional()?;
            match any {
                Some(at) => at,
                None => return Ok(None),
            }
        }
    };
    let members = rows
        .into_iter()
        .map(|(u, score, _)| {
            Ok(AudienceEntry {
                user: UserId::new(u).map_err(|_| Error::Storage {
                    message: format!("corrupt audience row of ad {ad_id}: user id"),
                    source: None,
                })?,
                score,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(StoredAudience {
        ad_id: ad_id.to_string(),
        members,
        computed_at: Timestamp::from_millis(computed_at),
    }))
}

/// Removes a forgotten user from every stored audience, closing the gaps in the ranks so
/// that positions stay 0..n; returns the entries removed.
fn forget_audience_member(tx: &rusqlite::Transaction<'_>, user: &str) -> Result<u64> {
    let ads: Vec<String> = tx
        .prepare_cached("SELECT DISTINCT ad_id FROM audiences WHERE user_id = ?1")?
        .query_map([user], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut removed = 0;
    for ad in ads {
        let Some(a) = read_audience(tx, &ad, usize::MAX)? else {
            continue;
        };
        let before = a.members.len();
        let kept: Vec<AudienceEntry> = a
            .members
            .into_iter()
            .filter(|m| m.user.as_str() != user)
            .collect();
        removed += (before - kept.len()) as u64;
        write_audience(tx, &ad, &kept, a.computed_at)?;
    }
    Ok(removed)
}

fn write_audience(
    tx: &rusqlite::Transaction<'_>,
    ad_id: &str,
    members: &[AudienceEntry],
    computed_at: Timestamp,
) -> Result<()> {
    tx.prepare_cached("DELETE FROM audiences WHERE ad_id = ?1")?
        .execute([ad_id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO audiences (ad_id, pos, user_id, score, computed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (pos, m) in members.iter().enumerate() {
        insert.execute(params![
            ad_id,
            pos as i64,
            m.user.as_str(),
            m.score,
            computed_at.as_millis()
        ])?;
    }
    Ok(())
}

/// Where [`Store::item_events_page`] stands: the kind being read (clicks, then impressions:
/// each is one range of the `events_by_kind` index) and the last (at, rowid) read of it.
#[derive(serde::Serialize, serde::Deserialize)]
struct ItemCursor {
    kind: usize,
    at: i64,
    rowid: i64,
}

const ITEM_KINDS: [&str; 2] = ["click", "impression"];

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn record_event(&self, event: Event, decay: Decay) -> Result<Recorded> {
        self.write(move |tx| apply_event(&mut Txn { tx }, event, decay))
            .await
    }

    async fn interests(&self, user: &UserId) -> Result<Vec<InterestRecord>> {
        let user = user.clone();
        self.read(move |conn| user_interests(conn, user.as_str(), None))
            .await
    }

    async fn event(&self, id: &EventId) -> Result<Option<Event>> {
        let id = id.clone();
        self.read(move |conn| {
            let row = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1"
                ))?
                .query_row([id.as_str()], read_event)
                .optional()?;
            row.map(event_from_row).transpose()
        })
        .await
    }

    async fn user_events(&self, user: &UserId, limit: usize) -> Result<Vec<Event>> {
        let user = user.clone();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE user_id = ?1 ORDER BY at DESC, event_id DESC LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![user.as_str(), limit], read_event)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(event_from_row).collect()
        })
        .await
    }

    async fn put_post(&self, post: &PostRecord) -> Result<()> {
        let post = post.clone();
        self.write(move |tx| {
            let merged = merge_post(load_post(tx, post.id.as_str())?, &post);
            tx.prepare_cached(
                "INSERT OR REPLACE INTO posts (post_id, author_id, caption, image_sha256, interests, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                merged.id.as_str(),
                merged.author.as_ref().map(|a| a.as_str()),
                merged.caption,
                merged.image_sha256,
                merged.interests.as_ref().map(serde_json::to_string).transpose()?,
                merged.created_at.as_millis(),
            ])?;
            Ok(())
        })
        .await
    }

    async fn post(&self, id: &PostId) -> Result<Option<PostRecord>> {
        let id = id.clone();
        self.read(move |conn| load_post(conn, id.as_str())).await
    }

    async fn cached_caption(&self, image_sha256: &str) -> Result<Option<CachedCaption>> {
        let hash = image_sha256.to_string();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT image_sha256, caption, model, created_at FROM caption_cache WHERE image_sha256 = ?1",
                )?
                .query_row([hash], |r| {
                    Ok(CachedCaption {
                        image_sha256: r.get(0)?,
                        caption: r.get(1)?,
                        model: r.get(2)?,
                        created_at: Timestamp::from_millis(r.get(3)?),
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn put_cached_caption(&self, entry: &CachedCaption) -> Result<()> {
        let e = entry.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO caption_cache (image_sha256, caption, model, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![e.image_sha256, e.caption, e.model, e.created_at.as_millis()])?;
            Ok(())
        })
        .await
    }

    async fn put_items(&self, items: &[CatalogRecord]) -> Result<()> {
        let items = items.to_vec();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO catalog (kind, item_id, category, body, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for i in &items {
                stmt.execute(params![
                    i.kind.as_str(),
                    i.id,
                    i.category,
                    serde_json::to_string(&i.body)?,
                    i.updated_at.as_millis()
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn items(&self, kind: ItemKind) -> Result<Vec<CatalogRecord>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT item_id, category, body, updated_at FROM catalog WHERE kind = ?1 ORDER BY item_id",
            )?;
            let rows = stmt
                .query_map([kind.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(id, category, body, at)| {
                    Ok(CatalogRecord {
                        kind,
                        id,
                        category,
                        body: serde_json::from_str(&body)?,
                        updated_at: Timestamp::from_millis(at),
                    })
                })
                .collect()
        })
        .await
    }

    async fn remove_item(&self, kind: ItemKind, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM catalog WHERE kind = ?1 AND item_id = ?2",
                params![kind.as_str(), id],
            )? > 0)
        })
        .await
    }

    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>> {
        let key = key.to_string();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT value FROM response_cache WHERE key = ?1 AND expires_at >= ?2",
                )?
                .query_row(params![key, now.as_millis()], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |tx| {
            // Expired entries go whenever something new comes in: the table stays small.
            tx.prepare_cached("DELETE FROM response_cache WHERE expires_at < ?1")?
                .execute([now.as_millis()])?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO response_cache (key, value, expires_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![key, value, expires_at.as_millis()])?;
            Ok(())
        })
        .await
    }

    async fn forget_user(&self, user: &UserId) -> Result<ForgetReport> {
        let user = user.clone();
        self.write(move |tx| {
            let u = user.as_str();
            let mut r = ForgetReport {
                // The parts belong to the interest rows counted here.
                interests: {
                    tx.execute("DELETE FROM interest_parts WHERE user_id = ?1", [u])?;
                    tx.execute("DELETE FROM interests WHERE user_id = ?1", [u])? as u64
                },
                events: tx.execute("DELETE FROM events WHERE user_id = ?1", [u])? as u64,
                active_signals: tx.execute("DELETE FROM active_signals WHERE user_id = ?1", [u])?
                    as u64,
                ..ForgetReport::default()
            };
            let hashes: Vec<String> = tx
                .prepare("SELECT DISTINCT image_sha256 FROM posts WHERE author_id = ?1 AND image_sha256 IS NOT NULL")?
                .query_map([u], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            r.posts = tx.execute("DELETE FROM posts WHERE author_id = ?1", [u])? as u64;
            r.opt_outs = tx.execute("DELETE FROM opt_outs WHERE user_id = ?1", [u])? as u64;
            // The user's own list counts once, however many rows it had.
            let own = tx.execute("DELETE FROM neighbours WHERE user_id = ?1", [u])? > 0;
            r.neighbours = u64::from(own)
                + tx.execute("DELETE FROM neighbours WHERE neighbour_id = ?1", [u])? as u64;
            r.audiences = forget_audience_member(tx, u)?;
            // Keys under the prefix sort between it and the prefix with its ':' bumped to ';'.
            let prefix = user_cache_prefix(&user);
            let end = format!("{};", &prefix[..prefix.len() - 1]);
            r.cached_answers = tx.execute(
                "DELETE FROM response_cache WHERE key >= ?1 AND key < ?2",
                params![prefix, end],
            )? as u64;
            for h in hashes {
                r.captions += tx.execute(
                    "DELETE FROM caption_cache WHERE image_sha256 = ?1
                       AND NOT EXISTS (SELECT 1 FROM posts WHERE image_sha256 = ?1)",
                    [h],
                )? as u64;
            }
            Ok(r)
        })
        .await
    }

    async fn scan_interests(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, Vec<InterestRecord>)>> {
        let after = after.map(|a| a.as_str().to_string()).unwrap_or_default();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            let users: Vec<String> = conn
                .prepare_cached(
                    "SELECT DISTINCT user_id FROM interests WHERE user_id > ?1 ORDER BY user_id LIMIT ?2",
                )?
                .query_map(params![after, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let (Some(first), Some(last)) = (users.first(), users.last()) else {
                return Ok(Vec::new());
            };
            let mut stmt = conn.prepare_cached(&format!(
                "{INTEREST_JOIN} WHERE i.user_id >= ?1 AND i.user_id <= ?2
                  ORDER BY i.user_id, i.term, p.anchor"
            ))?;
            let mut rows = stmt.query(params![first, last])?;
            collect_interests(&mut rows)
        })
        .await
    }

    async fn item_events(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events
                  WHERE kind IN ('click', 'impression') AND at >= ?1 AND at < ?2
                  ORDER BY at, event_id"
            ))?;
            let rows = stmt
                .query_map(params![from.as_millis(), to.as_millis()], read_event)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(event_from_row).collect()
        })
        .await
    }

    async fn user_item_counts(
        &self,
        user: &UserId,
        kind: EventKind,
        since: Timestamp,
    ) -> Result<Vec<ItemCount>> {
        let user = user.clone();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT item_id, SUM(at >= ?3), COUNT(*) FROM events
                  WHERE user_id = ?1 AND kind = ?2 AND item_id IS NOT NULL
                  GROUP BY item_id ORDER BY item_id",
            )?;
            let rows = stmt
                .query_map(
                    params![user.as_str(), kind.as_str(), since.as_millis()],
                    |r| {
                        Ok(ItemCount {
                            item: r.get(0)?,
                            recent: r.get::<_, i64>(1)?.max(0) as u64,
                            total: r.get::<_, i64>(2)?.max(0) as u64,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn set_opt_out(
        &self,
        user: &UserId,
        category: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<()> {
        let (user, category) = (user.clone(), category.to_string());
        self.write(move |tx| {
            if opted_out {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO opt_outs (user_id, category, at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![user.as_str(), category, at.as_millis()])?;
            } else {
                tx.prepare_cached("DELETE FROM opt_outs WHERE user_id = ?1 AND category = ?2")?
                    .execute(params![user.as_str(), category])?;
            }
            Ok(())
        })
        .await
    }

    async fn opt_outs(&self, user: &UserId) -> Result<Vec<String>> {
        let user = user.clone();
        self.read(move |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT category FROM opt_outs WHERE user_id = ?1 ORDER BY category",
                )?
                .query_map([user.as_str()], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn opted_out_users(&self, category: &str) -> Result<Vec<UserId>> {
        let category = category.to_string();
        self.read(move |conn| {
            let rows = conn
                .prepare_cached("SELECT user_id FROM opt_outs WHERE category = ?1")?
                .query_map([category], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            rows.into_iter()
                .map(|u| {
                    UserId::new(u).map_err(|_| Error::Storage {
                        message: "corrupt opt-out row: user id".into(),
                        source: None,
                    })
                })
                .collect()
        })
        .await
    }

    async fn put_neighbours(&self, lists: &[NeighbourList]) -> Result<()> {
        check_neighbour_lists(lists)?;
        let lists = lists.to_vec();
        self.write(move |tx| {
            let mut clear = tx.prepare_cached("DELETE FROM neighbours WHERE user_id = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO neighbours (user_id, pos, neighbour_id, score, shared_terms, computed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for list in &lists {
                clear.execute([list.user.as_str()])?;
                for (pos, n) in list.neighbours.iter().enumerate() {
                    insert.execute(params![
                        list.user.as_str(),
                        pos as i64,
                        n.user.as_str(),
                        n.score,
                        serde_json::to_string(&n.shared_terms)?,
                        list.computed_at.as_millis(),
                    ])?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn neighbours(&self, users: &[UserId]) -> Result<Vec<NeighbourList>> {
        let users = users.to_vec();
        self.read(move |conn| read_neighbour_lists(conn, users))
            .await
    }

    async fn users_with_term(
        &self,
        term: &str,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, InterestRecord)>> {
        let term = term.to_string();
        let after = after.map(|a| a.as_str().to_string()).unwrap_or_default();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            // Served by the interests_by_term index: a range of (term, user_id).
            let users: Vec<String> = conn
                .prepare_cached(
                    "SELECT user_id FROM interests WHERE term = ?1 AND user_id > ?2
                      ORDER BY user_id LIMIT ?3",
                )?
                .query_map(params![term, after, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let Some(last) = users.last() else {
                return Ok(Vec::new());
            };
            let mut stmt = conn.prepare_cached(&format!(
                "{INTEREST_JOIN} WHERE i.term = ?1 AND i.user_id > ?2 AND i.user_id <= ?3
                  ORDER BY i.user_id, p.anchor"
            ))?;
            let mut rows = stmt.query(params![term, after, last])?;
            Ok(collect_interests(&mut rows)?
                .into_iter()
                .filter_map(|(u, mut recs)| recs.pop().map(|r| (u, r)))
                .collect())
        })
        .await
    }

    async fn scan_captions(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<CachedCaption>> {
        let after: String = cursor.map(decode_cursor).transpose()?.unwrap_or_default();
        let n = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            let items = conn
                .prepare_cached(
                    "SELECT image_sha256, caption, model, created_at FROM caption_cache
                      WHERE image_sha256 > ?1 ORDER BY image_sha256 LIMIT ?2",
                )?
                .query_map(params![after, n], |r| {
                    Ok(CachedCaption {
                        image_sha256: r.get(0)?,
                        caption: r.get(1)?,
                        model: r.get(2)?,
                        created_at: Timestamp::from_millis(r.get(3)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Page::after_last(items, limit, |c| c.image_sha256.clone())
        })
        .await
    }

    async fn scan_posts(&self, cursor: Option<&str>, limit: usize) -> Result<Page<PostRecord>> {
        let after: String = cursor.map(decode_cursor).transpose()?.unwrap_or_default();
        let n = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT post_id, author_id, caption, image_sha256, interests, created_at
                       FROM posts WHERE post_id > ?1 ORDER BY post_id LIMIT ?2",
                )?
                .query_map(params![after, n], post_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let items = rows
                .into_iter()
                .map(
                    |(id, author, caption, image_sha256, interests, created_at)| {
                        Ok(PostRecord {
                            id: PostId::new(id)?,
                            author: author.map(UserId::new).transpose()?,
                            caption,
                            image_sha256,
                            interests: interests.map(|s| serde_json::from_str(&s)).transpose()?,
                            created_at: Timestamp::from_millis(created_at),
                        })
                    },
                )
                .collect::<Result<Vec<_>>>()?;
            Page::after_last(items, limit, |p| p.id.as_str().to_string())
        })
        .await
    }

    async fn scan_events(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Event>> {
        let after: i64 = cursor.map(decode_cursor).transpose()?.unwrap_or(i64::MIN);
        let n = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            // Rowid order: the table's own order, so each page is one range read.
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS}, rowid FROM events WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![after, n], |r| {
                    Ok((read_event(r)?, r.get::<_, i64>(7)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let last = rows.last().map(|r| r.1);
            let items = rows
                .into_iter()
                .map(|(r, _)| event_from_row(r))
                .collect::<Result<Vec<_>>>()?;
            Page::after_last(items, limit, |_| last)
        })
        .await
    }

    async fn item_events_page(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Event>> {
        let start: ItemCursor = match cursor {
            Some(c) => decode_cursor(c)?,
            None => ItemCursor {
                kind: 0,
                at: from.as_millis(),
                rowid: i64::MIN,
            },
        };
        if start.kind >= ITEM_KINDS.len() {
            return Err(crate::Error::invalid("not a cursor of this store's scans"));
        }
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS}, rowid FROM events
                  WHERE kind = ?1 AND (at, rowid) > (?2, ?3) AND at >= ?4 AND at < ?5
                  ORDER BY at, rowid LIMIT ?6"
            ))?;
            let mut items = Vec::new();
            let mut pos = start;
            while pos.kind < ITEM_KINDS.len() && items.len() < limit {
                let want = (limit - items.len()).min(i64::MAX as usize) as i64;
                let rows = stmt
                    .query_map(
                        params![
                            ITEM_KINDS[pos.kind],
                            pos.at,
                            pos.rowid,
                            from.as_millis(),
                            to.as_millis(),
                            want
                        ],
                        |r| Ok((read_event(r)?, r.get::<_, i64>(7)?)),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let short = (rows.len() as i64) < want;
                for (row, rowid) in rows {
                    pos.at = row.5;
                    pos.rowid = rowid;
                    items.push(event_from_row(row)?);
                }
                if short {
                    pos = ItemCursor {
                        kind: pos.kind + 1,
                        at: from.as_millis(),
                        rowid: i64::MIN,
                    };
                }
            }
            let next = if pos.kind < ITEM_KINDS.len() {
                Some(super::encode_cursor(&pos)?)
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn scan_opt_outs(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<OptOutRecord>> {
        let (after_user, after_cat): (String, String) =
            cursor.map(decode_cursor).transpose()?.unwrap_or_default();
        let n = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT user_id, category, at FROM opt_outs
                      WHERE (user_id, category) > (?1, ?2) ORDER BY user_id, category LIMIT ?3",
                )?
                .query_map(params![after_user, after_cat, n], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let items = rows
                .into_iter()
                .map(|(u, category, at)| {
                    Ok(OptOutRecord {
                        user: UserId::new(u)?,
                        category,
                        at: Timestamp::from_millis(at),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Page::after_last(items, limit, |o| {
                (o.user.as_str().to_string(), o.category.clone())
            })
        })
        .await
    }

    async fn scan_neighbours(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<NeighbourList>> {
        let after: String = cursor.map(decode_cursor).transpose()?.unwrap_or_default();
        let n = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            let users: Vec<String> = conn
                .prepare_cached(
                    "SELECT DISTINCT user_id FROM neighbours WHERE user_id > ?1 ORDER BY user_id LIMIT ?2",
                )?
                .query_map(params![after, n], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let users = users
                .into_iter()
                .map(UserId::new)
                .collect::<Result<Vec<_>>>()?;
            let items = read_neighbour_lists(conn, users)?;
            Page::after_last(items, limit, |l| l.user.as_str().to_string())
        })
        .await
    }

    async fn put_audience(
        &self,
        ad_id: &str,
        members: &[AudienceEntry],
        computed_at: Timestamp,
    ) -> Result<()> {
        check_audience(ad_id, members)?;
        let (ad_id, members) = (ad_id.to_string(), members.to_vec());
        self.write(move |tx| write_audience(tx, &ad_id, &members, computed_at))
            .await
    }

    async fn audience(&self, ad_id: &str, limit: usize) -> Result<Option<StoredAudience>> {
        let ad_id = ad_id.to_string();
        self.read(move |conn| read_audience(conn, &ad_id, limit))
            .await
    }

    async fn scan_audiences(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<StoredAudience>> {
        let after: String = cursor.map(decode_cursor).transpose()?.unwrap_or_default();
        let n = limit.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            let ads: Vec<String> = conn
                .prepare_cached(
                    "SELECT DISTINCT ad_id FROM audiences WHERE ad_id > ?1 ORDER BY ad_id LIMIT ?2",
                )?
                .query_map(params![after, n], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut items = Vec::new();
            for ad in ads {
                items.extend(read_audience(conn, &ad, usize::MAX)?);
            }
            Page::after_last(items, limit, |a| a.ad_id.clone())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opt_outs_are_dated_by_the_callers_clock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(&path).unwrap();
        let at = Timestamp::from_millis(1_000_000_000_000);
        let user = UserId::new("ana").unwrap();
        store.set_opt_out(&user, "surf", true, at).await.unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let stored: i64 = conn
            .query_row("SELECT at FROM opt_outs WHERE user_id = 'ana'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored, at.as_millis());
    }
}
