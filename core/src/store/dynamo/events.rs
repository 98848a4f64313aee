//! Events as transactions: the event semantics of `apply_event` (core/src/store/mod.rs),
//! written as conditional puts and blind additions, plus the other multi-item writes.

use super::codec::*;
use super::{DynamoStore, Reason, TxOutcome};
use crate::domain::{Event, EventKind, TermDelta};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::profile::{Decay, WeightPart};
use crate::store::{same_event, EventStatus, PostRecord, Recorded, Store};
use crate::time::Timestamp;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use std::collections::{HashMap, HashSet};

/// Items of a like besides its terms (event, user copy, active marker): a transaction holds
/// at most 100.
const FIXED_ITEMS: usize = 3;
/// The most interests one event may carry on this backend.
pub(crate) const MAX_TERMS: usize = 100 - FIXED_ITEMS;

type Values = HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;
type Names = HashMap<String, String>;

fn opt<T>(m: HashMap<String, T>) -> Option<HashMap<String, T>> {
    (!m.is_empty()).then_some(m)
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Internal(format!("building a DynamoDB request: {e}"))
}

fn put_tx(table: &str, item: Item, cond: Option<&str>) -> Result<TransactWriteItem> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if let Some(c) = cond {
        p = p
            .condition_expression(c)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    }
    Ok(TransactWriteItem::builder()
        .put(p.build().map_err(build_err)?)
        .build())
}

fn update_tx(
    table: &str,
    key: Item,
    expr: String,
    cond: Option<String>,
    names: Names,
    values: Values,
) -> Result<TransactWriteItem> {
    let u = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(expr)
        .set_condition_expression(cond)
        .set_expression_attribute_names(opt(names))
        .set_expression_attribute_values(opt(values))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().update(u).build())
}

fn delete_tx(
    table: &str,
    key: Item,
    cond: Option<String>,
    values: Values,
) -> Result<TransactWriteItem> {
    let d = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .set_condition_expression(cond)
        .set_expression_attribute_values(opt(values))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().delete(d).build())
}

fn check_tx(table: &str, key: Item, cond: &str, values: Values) -> Result<TransactWriteItem> {
    let c = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(cond)
        .set_expression_attribute_values(opt(values))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().condition_check(c).build())
}

/// The event's own item, put only if its id is new.
fn event_put(table: &str, e: &Event) -> Result<TransactWriteItem> {
    let mut item = event_attrs(e)?;
    item.extend(key(event_pk(&e.id), EVENT_SK));
    put_tx(table, item, Some("attribute_not_exists(pk)"))
}

/// The copy of the event in its user's partition (for per-user reads and `forget_user`);
/// clicks and impressions also enter the sharded time index.
fn user_copy_put(table: &str, e: &Event) -> Result<TransactWriteItem> {
    let mut item = event_attrs(e)?;
    item.extend(key(user_pk(&e.user), user_event_sk(e.at, &e.id)));
    if matches!(e.kind, EventKind::Click | EventKind::Impression) {
        let day = ts_key(Timestamp::from_millis(day_of(e.at)));
        item.insert(
            "g3pk".into(),
            s(format!("X#{day}#{}", shard_of(e.id.as_str()))),
        );
        item.insert("g3sk".into(), s(format!("{}#{}", ts_key(e.at), e.id)));
    }
    put_tx(table, item, None)
}

/// How an added signal moves `ls` (last seen).
#[derive(Clone, Copy)]
enum Seen {
    /// To `t` if that is later; the condition fails for an out-of-order event.
    Forward(Timestamp),
    /// Left alone, or `t` on a new row (the retry of an out-of-order event).
    IfMissing(Timestamp),
}

/// The blind addition of one signal to a (user, term) row: `ADD` of the count and of the
/// scaled part (named after its anchor), the index keys set, parts two or more eras older
/// removed.
fn signal_update(
    table: &str,
    user: &UserId,
    term: &str,
    part: WeightPart,
    seen: Seen,
    decay: Decay,
) -> Result<TransactWriteItem> {
    let mut names: Names = HashMap::new();
    let mut values: Values = HashMap::from([
        (":one".to_string(), n_i64(1)),
        (":term".to_string(), s(term)),
        (":u".to_string(), s(user.as_str())),
        (
            ":g1".to_string(),
            s(format!("T#{term}#{}", shard_of(user.as_str()))),
        ),
        (
            ":g2".to_string(),
            s(format!("UI#{}", shard_of(user.as_str()))),
        ),
    ]);
    let mut add = "ADD c :one".to_string();
    if !negligible(part.value) {
        names.insert("#p".into(), part_attr(part.anchor));
        values.insert(":v".into(), n_f64(part.value));
        add.push_str(", #p :v");
    }
    let mut set =
        "SET term = :term, u = :u, g1pk = :g1, g1sk = :u, g2pk = :g2, g2sk = :u".to_string();
    let cond = match seen {
        Seen::Forward(t) => {
            values.insert(":t".into(), n_i64(t.as_millis()));
            values.insert(":zero".into(), n_i64(0));
            set.push_str(", ls = :t");
            // A row whose count fell to zero holds no signal: its last_seen goes too.
            Some("attribute_not_exists(ls) OR ls <= :t OR c <= :zero".to_string())
        }
        Seen::IfMissing(t) => {
            values.insert(":t".into(), n_i64(t.as_millis()));
            set.push_str(", ls = if_not_exists(ls, :t)");
            None
        }
    };
    let mut expr = format!("{add} {set}");
    if decay.half_life_duration().is_some() {
        let era = decay.era_len_ms();
        let stale: Vec<String> = (2..=4)
            .filter_map(|k: i64| {
                part.anchor
                    .as_millis()
                    .checked_sub(era.checked_mul(k)?)
                    .map(|a| part_attr(Timestamp::from_millis(a)))
            })
            .collect();
        if !stale.is_empty() {
            let mut rm = Vec::new();
            for (i, a) in stale.into_iter().enumerate() {
                names.insert(format!("#r{i}"), a);
                rm.push(format!("#r{i}"));
            }
            expr.push_str(&format!(" REMOVE {}", rm.join(", ")));
        }
    }
    update_tx(
        table,
        key(user_pk(user), interest_sk(term)),
        expr,
        cond,
        names,
        values,
    )
}

/// A replay (the same event) or a reuse of its id (another event): what `apply_event` says.
async fn seen_before(store: &DynamoStore, event: &Event, reason: &Reason) -> Result<Recorded> {
    let stored = match &reason.item {
        Some(item) => Some(event_from_item(item)?),
        None => store.event(&event.id).await?,
    };
    let Some(seen) = stored else {
        return Err(Error::Storage {
            message: format!(
                "event {} was refused as seen before but cannot be read",
                event.id
            ),
            source: None,
        });
    };
    if !same_event(&seen, event) {
        return Err(Error::Conflict(format!(
            "event id {} was already used for a {} by {} ",
            event.id, seen.kind, seen.user
        )));
    }
    Ok(Recorded {
        status: EventStatus::Duplicate,
        deltas: Vec::new(),
    })
}

fn too_many_terms(event: &Event) -> Result<()> {
    if event.deltas.len() > MAX_TERMS {
        return Err(Error::invalid(format!(
            "a {} with {} interests: the DynamoDB backend writes an event in one transaction, \
             which holds at most {MAX_TERMS} interests",
            event.kind,
            event.deltas.len()
        )));
    }
    Ok(())
}

/// Records an event with `apply_event`'s semantics.
pub(super) async fn record(
    store: &DynamoStore,
    mut event: Event,
    decay: Decay,
) -> Result<Recorded> {
    event.deltas.retain(|d| d.weight != 0.0);
    too_many_terms(&event)?;
    match event.kind {
        EventKind::Like | EventKind::Upload => add_signal(store, event, decay).await,
        EventKind::Click | EventKind::Impression => {
            store.list_day(day_of(event.at)).await?;
            add_signal(store, event, decay).await
        }
        EventKind::Unlike => unlike(store, event, decay).await,
    }
}

/// A like, upload, click or impression: one transaction of the event, its user copy, the
/// active marker (likes and uploads) and one blind addition per term.
async fn add_signal(store: &DynamoStore, event: Event, decay: Decay) -> Result<Recorded> {
    let table = store.table();
    let active = match event.kind {
        EventKind::Like | EventKind::Upload => {
            let post = event
                .post
                .clone()
                .ok_or_else(|| Error::invalid(format!("a {} needs a post", event.kind)))?;
            Some(key(user_pk(&event.user), active_sk(event.kind, &post)))
        }
        _ => None,
    };
    // Terms whose last_seen is already later than this event (an out-of-order event).
    let mut late: HashSet<usize> = HashSet::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut items = vec![event_put(table, &event)?, user_copy_put(table, &event)?];
        if let Some(k) = &active {
            let mut marker = k.clone();
            marker.insert("ev".into(), s(event.id.as_str()));
            marker.insert("at".into(), n_i64(event.at.as_millis()));
            items.push(put_tx(table, marker, Some("attribute_not_exists(pk)"))?);
        }
        let first_term = items.len();
        for (i, d) in event.deltas.iter().enumerate() {
            let seen = if late.contains(&i) {
                Seen::IfMissing(event.at)
            } else {
                Seen::Forward(event.at)
            };
            let part = decay.scale(d.weight, event.at);
            items.push(signal_update(
                table,
                &event.user,
                &d.term,
                part,
                seen,
                decay,
            )?);
        }
        let reasons = match store.transact(items).await? {
            TxOutcome::Committed => {
                return Ok(Recorded {
                    status: EventStatus::Applied,
                    deltas: event.deltas,
                })
            }
            TxOutcome::Cancelled(r) => r,
        };
        if reasons.first().is_some_and(Reason::failed) {
            return seen_before(store, &event, &reasons[0]).await;
        }
        if active.is_some() && reasons.get(2).is_some_and(Reason::failed) {
            match record_noop(store, &event, EventStatus::AlreadyActive, active.clone()).await? {
                Some(r) => return Ok(r),
                // Unliked in between: try the like again.
                None => continue,
            }
        }
        let newly_late: Vec<usize> = reasons
            .iter()
            .enumerate()
            .skip(first_term)
            .filter(|(_, r)| r.failed())
            .map(|(i, _)| i - first_term)
            .filter(|i| !late.contains(i))
            .collect();
        if newly_late.is_empty() || rounds > MAX_TERMS + 2 {
            return Err(Error::Storage {
                message: format!(
                    "DynamoDB refused event {} for an unexpected condition",
                    event.id
                ),
                source: None,
            });
        }
        late.extend(newly_late);
    }
}

/// Stores an event that changes nothing (already active, nothing to undo) with empty
/// deltas, provided the marker is still as it was read (`active`: present for
/// AlreadyActive, absent for NothingToUndo). `None` when the marker changed meanwhile.
async fn record_noop(
    store: &DynamoStore,
    event: &Event,
    status: EventStatus,
    active: Option<Item>,
) -> Result<Option<Recorded>> {
    let table = store.table();
    let mut e = event.clone();
    e.deltas.clear();
    let mut items = vec![event_put(table, &e)?, user_copy_put(table, &e)?];
    if let Some(k) = active {
        let cond = if status == EventStatus::AlreadyActive {
            "attribute_exists(pk)"
        } else {
            "attribute_not_exists(pk)"
        };
        items.push(check_tx(table, k, cond, HashMap::new())?);
    }
    match store.transact(items).await? {
        TxOutcome::Committed => Ok(Some(Recorded {
            status,
            deltas: Vec::new(),
        })),
        TxOutcome::Cancelled(r) if r.first().is_some_and(Reason::failed) => {
            seen_before(store, event, &r[0]).await.map(Some)
        }
        TxOutcome::Cancelled(_) => Ok(None),
    }
}

/// An unlike: reads the active like and its rows, then one transaction stores the unlike,
/// clears the marker (only if it still names that like) and subtracts the like's parts.
/// Rows that would fall to zero are deleted, and rows whose last_seen was the like's time
/// get the latest remaining signal's time, each under a condition on the count read, so a
/// concurrent signal on that term makes the transaction start over rather than be lost.
async fn unlike(store: &DynamoStore, mut event: Event, decay: Decay) -> Result<Recorded> {
    let table = store.table();
    let post = event
        .post
        .clone()
        .ok_or_else(|| Error::invalid("an unlike needs a post"))?;
    let user = event.user.clone();
    let marker_key = key(user_pk(&user), active_sk(EventKind::Like, &post));
    let mut attempts = super::Attempts::new(store.inner.backoff);
    loop {
        let Some(marker) = store.get(marker_key.clone()).await? else {
            match record_noop(
                store,
                &event,
                EventStatus::NothingToUndo,
                Some(marker_key.clone()),
            )
            .await?
            {
                Some(r) => return Ok(r),
                None => continue,
            }
        };
        // A replay of this unlike is a duplicate even while another like is active.
        if let Some(seen) = store.event(&event.id).await? {
            return seen_before_event(&seen, &event);
        }
        let like_id = crate::ids::EventId::new(get_s(&marker, "ev")?)?;
        let like = store.event(&like_id).await?.ok_or_else(|| Error::Storage {
            message: format!("active like {like_id} has no event record"),
            source: None,
        })?;
        let row_keys: Vec<Item> = like
            .deltas
            .iter()
            .map(|d| key(user_pk(&user), interest_sk(&d.term)))
            .collect();
        let mut rows: HashMap<String, Item> = HashMap::new();
        for it in store.batch_get(row_keys).await? {
            rows.insert(get_s(&it, SK)?["I#".len()..].to_string(), it);
        }
        // Rows whose last_seen may have to move back: the latest other signal of the term.
        let needs_latest = like.deltas.iter().any(|d| {
            rows.get(&d.term).is_some_and(|r| {
                get_i64(r, "c").unwrap_or(0) > 1 && get_ts(r, "ls").ok() == Some(like.at)
            })
        });
        let counting = if needs_latest {
            counting_events(store, &user).await?
        } else {
            Vec::new()
        };

        event.deltas = like
            .deltas
            .iter()
            .map(|d| TermDelta {
                term: d.term.clone(),
                weight: -d.weight,
            })
            .collect();
        let mut items = vec![
            event_put(table, &event)?,
            user_copy_put(table, &event)?,
            delete_tx(
                table,
                marker_key.clone(),
                Some("ev = :like".into()),
                HashMap::from([(":like".to_string(), s(like_id.as_str()))]),
            )?,
        ];
        let mut blind = Vec::new();
        for d in &like.deltas {
            let k = key(user_pk(&user), interest_sk(&d.term));
            let Some(row) = rows.get(&d.term) else {
                // Nothing to subtract from; the row must still be absent at commit.
                items.push(check_tx(
                    table,
                    k,
                    "attribute_not_exists(pk)",
                    HashMap::new(),
                )?);
                continue;
            };
            let c_read = get_i64(row, "c")?;
            if c_read <= 1 {
                items.push(delete_tx(
                    table,
                    k,
                    Some("c = :c".into()),
                    HashMap::from([(":c".to_string(), n_i64(c_read))]),
                )?);
                continue;
            }
            let part = decay.scale(-d.weight, like.at);
            let mut names: Names = HashMap::new();
            let mut values: Values = HashMap::from([(":m".to_string(), n_i64(-1))]);
            let mut expr = "ADD c :m".to_string();
            if !negligible(part.value) {
                names.insert("#p".into(), part_attr(part.anchor));
                values.insert(":v".into(), n_f64(part.value));
                expr.push_str(", #p :v");
            }
            let latest = (get_ts(row, "ls")? == like.at)
                .then(|| {
                    counting
                        .iter()
                        .filter(|e| e.id != like.id && e.deltas.iter().any(|x| x.term == d.term))
                        .map(|e| e.at)
                        .max()
                })
                .flatten();
            let cond = match latest {
                Some(t) => {
                    expr.push_str(" SET ls = :ls");
                    values.insert(":ls".into(), n_i64(t.as_millis()));
                    values.insert(":c".into(), n_i64(c_read));
                    values.insert(":was".into(), n_i64(like.at.as_millis()));
                    "c = :c AND ls = :was".to_string()
                }
                None => {
                    blind.push(d.term.clone());
                    "attribute_exists(pk)".to_string()
                }
            };
            items.push(update_tx(table, k, expr, Some(cond), names, values)?);
        }
        match store.transact(items).await? {
            TxOutcome::Committed => {
                settle(store, &user, &blind).await?;
                return Ok(Recorded {
                    status: EventStatus::Applied,
                    deltas: event.deltas,
                });
            }
            TxOutcome::Cancelled(r) if r.first().is_some_and(Reason::failed) => {
                return seen_before(store, &event, &r[0]).await;
            }
            // The marker or a row changed since it was read: read again.
            TxOutcome::Cancelled(_) => {
                if !attempts.wait().await {
                    return Err(Error::Unavailable(format!(
                        "unlike {}: the user's rows kept changing until the retry deadline",
                        event.id
                    )));
                }
            }
        }
    }
}

fn seen_before_event(seen: &Event, event: &Event) -> Result<Recorded> {
    if !same_event(seen, event) {
        return Err(Error::Conflict(format!(
            "event id {} was already used for a {} by {} ",
            event.id, seen.kind, seen.user
        )));
    }
    Ok(Recorded {
        status: EventStatus::Duplicate,
        deltas: Vec::new(),
    })
}

/// Deletes rows that concurrent unlikes took to a count of zero (reads never show them;
/// this keeps the table clean). The condition keeps a row a like revived meanwhile.
async fn settle(store: &DynamoStore, user: &UserId, terms: &[String]) -> Result<()> {
    if terms.is_empty() {
        return Ok(());
    }
    let keys = terms
        .iter()
        .map(|t| key(user_pk(user), interest_sk(t)))
        .collect();
    let client = store.client().await?;
    for it in store.batch_get(keys).await? {
        if get_i64(&it, "c")? > 0 {
            continue;
        }
        let k = key(get_s(&it, PK)?, get_s(&it, SK)?);
        let res = client
            .delete_item()
            .table_name(store.table())
            .set_key(Some(k))
            .condition_expression("c <= :zero")
            .expression_attribute_values(":zero", n_i64(0))
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e) if e.code_is_condition_failed() => {}
            Err(e) => return Err(super::classify(&e).into_error("DeleteItem")),
        }
    }
    Ok(())
}

trait ConditionFailed {
    fn code_is_condition_failed(&self) -> bool;
}

impl<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R> ConditionFailed
    for aws_sdk_dynamodb::error::SdkError<E, R>
{
    fn code_is_condition_failed(&self) -> bool {
        use aws_sdk_dynamodb::error::ProvideErrorMetadata;
        self.code() == Some("ConditionalCheckFailedException")
    }
}

/// The user's events that still count: clicks, impressions, and likes and uploads whose
/// marker still names them.
async fn counting_events(store: &DynamoStore, user: &UserId) -> Result<Vec<Event>> {
    let markers = store.partition(&user_pk(user), "A#").await?;
    let mut active: HashSet<String> = HashSet::new();
    for m in &markers {
        active.insert(get_s(m, "ev")?.to_string());
    }
    let mut out = Vec::new();
    for it in store.partition(&user_pk(user), "E#").await? {
        let e = event_from_item(&it)?;
        let counts = match e.kind {
            EventKind::Click | EventKind::Impression => true,
            EventKind::Like | EventKind::Upload => active.contains(e.id.as_str()),
            EventKind::Unlike => false,
        };
        if counts {
            out.push(e);
        }
    }
    Ok(out)
}

/// A post written as one update that keeps what it does not give (`merge_post`'s rule),
/// with the author's and the image's markers in the same transaction.
pub(super) async fn put_post(store: &DynamoStore, post: &PostRecord) -> Result<()> {
    let table = store.table();
    let mut sets = vec!["ca = if_not_exists(ca, :ca)".to_string()];
    let mut values: Values =
        HashMap::from([(":ca".to_string(), n_i64(post.created_at.as_millis()))]);
    if let Some(a) = &post.author {
        sets.push("au = :au".into());
        values.insert(":au".into(), s(a.as_str()));
    }
    if let Some(c) = &post.caption {
        sets.push("cap = :cap".into());
        values.insert(":cap".into(), s(c.as_str()));
    }
    if let Some(i) = &post.image_sha256 {
        sets.push("img = :img".into());
        values.insert(":img".into(), s(i.as_str()));
    }
    if let Some(i) = &post.interests {
        sets.push("ints = :ints".into());
        values.insert(":ints".into(), s(serde_json::to_string(i)?));
    }
    let mut items = vec![update_tx(
        table,
        key(post_pk(&post.id), POST_SK),
        format!("SET {}", sets.join(", ")),
        None,
        HashMap::new(),
        values,
    )?];
    if let Some(a) = &post.author {
        items.push(put_tx(table, key(user_pk(a), authored_sk(&post.id)), None)?);
    }
    if let Some(i) = &post.image_sha256 {
        items.push(put_tx(
            table,
            key(caption_pk(i), image_use_sk(&post.id)),
            None,
        )?);
    }
    match store.transact(items).await? {
        TxOutcome::Committed => Ok(()),
        TxOutcome::Cancelled(_) => Err(Error::Storage {
            message: "DynamoDB refused a post write for an unexpected condition".into(),
            source: None,
        }),
    }
}

/// An opt-out and its entry in the category's list, written (or removed) together.
pub(super) async fn set_opt_out(
    store: &DynamoStore,
    user: &UserId,
    category: &str,
    opted_out: bool,
    at: Timestamp,
) -> Result<()> {
    let table = store.table();
    let mine = key(user_pk(user), opt_out_sk(category));
    let listed = key(category_pk(category), user.as_str());
    let items = if opted_out {
        let mut mine_item = mine;
        mine_item.insert("at".into(), n_i64(at.as_millis()));
        let mut listed_item = listed;
        listed_item.insert("at".into(), n_i64(at.as_millis()));
        // The first opt-out's time stays (as in the other backends).
        vec![
            put_tx(table, mine_item, Some("attribute_not_exists(pk)"))?,
            put_tx(table, listed_item, None)?,
        ]
    } else {
        vec![
            delete_tx(table, mine, None, HashMap::new())?,
            delete_tx(table, listed, None, HashMap::new())?,
        ]
    };
    match store.transact(items).await? {
        // Already opted out: nothing to change.
        TxOutcome::Committed | TxOutcome::Cancelled(_) => Ok(()),
    }
}
