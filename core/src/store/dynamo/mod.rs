//! Amazon DynamoDB backend: one table, every record an item, every event one
//! `TransactWriteItems` (see `docs/dynamodb.md` for the keys, item shapes and access patterns).

mod codec;
mod events;
mod forget;
mod neighbours;
mod retry;
mod scan;

use self::codec::*;
use self::retry::{classify, Attempts, Backoff, Failure};
use super::{
    AudienceEntry, CachedCaption, CatalogRecord, ForgetReport, ItemCount, ItemKind, NeighbourList,
    OptOutRecord, Page, PostRecord, Recorded, Store, StoredAudience,
};
use crate::domain::{Event, EventKind};
use crate::error::{Error, Result};
use crate::ids::{EventId, PostId, UserId};
use crate::profile::{Decay, InterestRecord};
use crate::redact::redact_url;
use crate::time::Timestamp;
use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, DeleteRequest, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, PutRequest, ScalarAttributeType,
    TableStatus, TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Items one `BatchWriteItem` may carry.
const BATCH_WRITE: usize = 25;
/// Keys one `BatchGetItem` may carry.
const BATCH_GET: usize = 100;

/// Sociallens on one DynamoDB table (feature `dynamodb`).
///
/// Every event is one `TransactWriteItems`: a conditional put of the event id (a replay
/// changes nothing), the active-like marker, and one blind `ADD` per interest term of the
/// forward-decayed weight, so concurrent likes never read before they write and never lose
/// each other. Throttling, transaction conflicts, timeouts and lost connections are retried
/// with jittered backoff until the retry deadline, then end as [`Error::Unavailable`]; other
/// service errors are [`Error::Storage`]. Credentials come from the standard AWS chain
/// (environment, profile, web identity, container or instance role).
///
/// The SDK's configuration is loaded asynchronously, so the client is made on first use:
/// building a store (or [`open_store`](crate::open_store) with a `dynamodb://` URL) does no I/O.
///
/// ```no_run
/// use sociallens::{DynamoStore, Engine, Post};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = DynamoStore::builder()
///     .table("sociallens")
///     .region("eu-west-1")
///     .create_table_if_missing(true)
///     .build()?;
/// let engine = Engine::builder().store(store).build()?;
/// engine.record_like("u1", Post::new("p1").with_interests(["surfboard"])).await?;
/// # Ok::<(), sociallens::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct DynamoStore {
    inner: Arc<Inner>,
}

struct Inner {
    table: String,
    region: Option<String>,
    endpoint: Option<String>,
    create: bool,
    backoff: Backoff,
    attempt_timeout: Duration,
    connect_timeout: Duration,
    /// Caps the requests in flight at once, when configured.
    permits: Option<Arc<tokio::sync::Semaphore>>,
    client: OnceCell<Client>,
    table_ready: OnceCell<()>,
    /// Days this process has already entered in the click/impression day list.
    days_listed: Mutex<HashSet<i64>>,
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.inner.table)
            .field("region", &self.inner.region)
            .field("endpoint", &self.inner.endpoint.as_deref().map(redact_url))
            .finish()
    }
}

/// Configures a [`DynamoStore`]; from [`DynamoStore::builder`].
#[derive(Clone, Debug)]
pub struct DynamoStoreBuilder {
    table: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    create: bool,
    backoff: Backoff,
    attempt_timeout: Duration,
    connect_timeout: Duration,
    max_in_flight: Option<usize>,
}

impl Default for DynamoStoreBuilder {
    fn default() -> Self {
        Self {
            table: None,
            region: None,
            endpoint: None,
            create: false,
            backoff: Backoff {
                base: Duration::from_millis(10),
                cap: Duration::from_secs(1),
                deadline: Duration::from_secs(20),
            },
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            max_in_flight: None,
        }
    }
}

impl DynamoStoreBuilder {
    /// The table (required).
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = Some(name.into());
        self
    }

    /// The AWS region; without one, the standard chain's (`AWS_REGION`, the profile).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Another endpoint than AWS's (a local DynamoDB-compatible server).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Creates the table (on-demand billing, its indexes, TTL) on first use if it is missing.
    pub fn create_table_if_missing(mut self, yes: bool) -> Self {
        self.create = yes;
        self
    }

    /// How long throttled, conflicting or unreachable calls are retried before
    /// [`Error::Unavailable`] (default 20 s).
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.backoff.deadline = deadline;
        self
    }

    /// The first and the longest pause between retries (defaults 10 ms and 1 s); each pause
    /// is drawn uniformly below `min(max, first · 2^n)`.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff.base = first;
        self.backoff.cap = max.max(first);
        self
    }

    /// The limit on one HTTP attempt (default 10 s) and on connecting (default 3 s).
    pub fn timeouts(mut self, attempt: Duration, connect: Duration) -> Self {
        self.attempt_timeout = attempt;
        self.connect_timeout = connect;
        self
    }

    /// At most `n` requests of this store in flight at once (default: no limit). Callers
    /// beyond it wait their turn instead of opening more connections: for a small server,
    /// or to bound a process's share of a table's capacity.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n.max(1));
        self
    }

    /// The store; no I/O happens until its first call.
    pub fn build(self) -> Result<DynamoStore> {
        let table = self
            .table
            .ok_or_else(|| Error::invalid("a DynamoDB store needs a table name"))?;
        check_table_name(&table)?;
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(Error::invalid(format!(
                    "DynamoDB endpoint {} is not an http(s) URL",
                    redact_url(e)
                )));
            }
        }
        if self.backoff.deadline.is_zero() && self.backoff.base.is_zero() {
            return Err(Error::invalid("retry backoff must be longer than zero"));
        }
        Ok(DynamoStore {
            inner: Arc::new(Inner {
                table,
                region: self.region,
                endpoint: self.endpoint,
                create: self.create,
                backoff: self.backoff,
                attempt_timeout: self.attempt_timeout,
                connect_timeout: self.connect_timeout,
                permits: self
                    .max_in_flight
                    .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
                client: OnceCell::new(),
                table_ready: OnceCell::new(),
                days_listed: Mutex::new(HashSet::new()),
            }),
        })
    }
}

fn check_table_name(t: &str) -> Result<()> {
    let ok = (3..=255).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{t:?} is not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ - .)"
        )))
    }
}

fn percent_decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| Error::invalid("bad percent escape in a dynamodb:// URL"))?;
                out.push(hex);
                i += 3;
            }
            b'%' => return Err(Error::invalid("bad percent escape in a dynamodb:// URL")),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("a dynamodb:// URL is not UTF-8"))
}

impl DynamoStore {
    /// A builder; [`DynamoStoreBuilder::table`] is required.
    pub fn builder() -> DynamoStoreBuilder {
        DynamoStoreBuilder::default()
    }

    /// A store from `dynamodb://TABLE?region=R&endpoint=URL&create=true&deadline=SECS` (every parameter
    /// optional; values percent-decoded).
    ///
    /// ```
    /// let store = sociallens::DynamoStore::from_url(
    ///     "dynamodb://events?region=eu-west-1&endpoint=http://127.0.0.1:5000&create=true",
    /// )?;
    /// assert_eq!(store.table(), "events");
    /// assert!(sociallens::DynamoStore::from_url("dynamodb://x?colour=red").is_err());
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("dynamodb://")
            .ok_or_else(|| Error::invalid("a DynamoDB URL starts with dynamodb://"))?;
        let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
        let table = table.trim_end_matches('/');
        let mut b = Self::builder().table(percent_decode(table)?);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v)?;
            b = match k {
                "region" => b.region(v),
                "endpoint" => b.endpoint(v),
                // Seconds; a serverless function sets it below its own timeout.
                "deadline" => {
                    let secs: f64 = v.parse().map_err(|_| {
                        Error::invalid("deadline= in a dynamodb:// URL is a number of seconds")
                    })?;
                    b.retry_deadline(crate::engine::duration_from_secs("deadline", secs)?)
                }
                "create" => match v.as_str() {
                    "true" | "1" | "yes" => b.create_table_if_missing(true),
                    "false" | "0" | "no" => b.create_table_if_missing(false),
                    _ => return Err(Error::invalid("create= in a dynamodb:// URL is true or false")),
                },
                // Only the parameter's name: its value may be anything, a secret included.
                _ => {
                    return Err(Error::invalid(format!(
                        "unknown parameter {k:?} in a dynamodb:// URL (expected region, endpoint, create, deadline)"
                    )))
                }
            };
        }
        b.build()
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    async fn client(&self) -> Result<&Client> {
        let inner = &self.inner;
        let client = inner
            .client
            .get_or_try_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(r) = &inner.region {
                    loader = loader.region(aws_sdk_dynamodb::config::Region::new(r.clone()));
                }
                if let Some(e) = &inner.endpoint {
                    loader = loader.endpoint_url(e.clone());
                }
                let sdk = loader.load().await;
                if sdk.region().is_none() {
                    return Err(Error::Config(
                        "no AWS region: give region= in the dynamodb:// URL, or set AWS_REGION"
                            .into(),
                    ));
                }
                // Retries are ours (one deadline for throttling, conflicts and lost
                // connections alike), so the SDK's own are off.
                let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
                    .timeout_config(
                        aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                            .operation_attempt_timeout(inner.attempt_timeout)
                            .connect_timeout(inner.connect_timeout)
                            .build(),
                    )
                    .build();
                Ok::<_, Error>(Client::from_conf(conf))
            })
            .await?;
        if inner.create {
            inner
                .table_ready
                .get_or_try_init(|| self.create_table_with(client))
                .await?;
        }
        Ok(client)
    }

    /// Creates the table if it does not exist: on-demand billing, the three indexes
    /// (`terms`, `users`, `clicks`, all projecting every attribute) and TTL on the cached
    /// answers' `ttl` attribute. Waits until the table is active. Safe to call from several
    /// processes at once.
    pub async fn create_table(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.create {
            self.client().await?;
            return Ok(());
        }
        let client = self.client().await?;
        self.create_table_with(client).await
    }

    async fn create_table_with(&self, client: &Client) -> Result<()> {
        let table = &self.inner.table;
        let exists = match client.describe_table().table_name(table).send().await {
            Ok(_) => true,
            Err(e) if e.code() == Some("ResourceNotFoundException") => false,
            Err(e) => return Err(classify(&e).into_error("describing the table")),
        };
        if !exists {
            let attr = |name: &str| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_err)
            };
            let ks = |name: &str, t: KeyType| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(t)
                    .build()
                    .map_err(build_err)
            };
            let gsi = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex> {
                GlobalSecondaryIndex::builder()
                    .index_name(name)
                    .key_schema(ks(pk, KeyType::Hash)?)
                    .key_schema(ks(sk, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_err)
            };
            let mut req = client
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(ks(PK, KeyType::Hash)?)
                .key_schema(ks(SK, KeyType::Range)?)
                .global_secondary_indexes(gsi(GSI_TERMS, "g1pk", "g1sk")?)
                .global_secondary_indexes(gsi(GSI_USERS, "g2pk", "g2sk")?)
                .global_secondary_indexes(gsi(GSI_CLICKS, "g3pk", "g3sk")?);
            for a in [PK, SK, "g1pk", "g1sk", "g2pk", "g2sk", "g3pk", "g3sk"] {
                req = req.attribute_definitions(attr(a)?);
            }
            match req.send().await {
                Ok(_) => {}
                // Another process created it first.
                Err(e) if e.code() == Some("ResourceInUseException") => {}
                Err(e) => return Err(classify(&e).into_error("creating the table")),
            }
        }
        let mut attempts = Attempts::new(Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(2),
            deadline: Duration::from_secs(120),
        });
        loop {
            let out = client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| classify(&e).into_error("describing the table"))?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            if !attempts.wait().await {
                return Err(Error::Unavailable(format!(
                    "DynamoDB table {table} did not become active"
                )));
            }
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTR)
            .enabled(true)
            .build()
            .map_err(build_err)?;
        match client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already enabled (a second process, or a second call).
            Err(e) if e.code() == Some("ValidationException") => Ok(()),
            Err(e) => Err(classify(&e).into_error("enabling TTL")),
        }
    }

    async fn permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match &self.inner.permits {
            // The semaphore is never closed.
            Some(p) => p.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// Runs one call, retrying transient failures with backoff until the deadline.
    async fn call<T, E, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut attempts = Attempts::new(self.inner.backoff);
        loop {
            let permit = self.permit().await;
            let res = f().await;
            drop(permit);
            match res {
                Ok(v) => return Ok(v),
                Err(e) => match classify(&e) {
                    Failure::Transient(m) => {
                        if !attempts.wait().await {
                            return Err(Failure::Transient(m).into_error(what));
                        }
                    }
                    p => return Err(p.into_error(what)),
                },
            }
        }
    }

    async fn get(&self, key: Item) -> Result<Option<Item>> {
        let client = self.client().await?;
        let out = self
            .call("GetItem", || {
                client
                    .get_item()
                    .table_name(&self.inner.table)
                    .set_key(Some(key.clone()))
                    .consistent_read(true)
                    .send()
            })
            .await?;
        Ok(out.item)
    }

    async fn put(&self, item: Item) -> Result<()> {
        let client = self.client().await?;
        self.call("PutItem", || {
            client
                .put_item()
                .table_name(&self.inner.table)
                .set_item(Some(item.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Every item a query returns, page after page, stopping once `max` are in hand.
    async fn query(&self, what: &str, q: QueryFluentBuilder, max: usize) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .call(what, || {
                    q.clone()
                        .table_name(&self.inner.table)
                        .set_exclusive_start_key(start.clone())
                        .send()
                })
                .await?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || out.len() >= max {
                return Ok(out);
            }
        }
    }

    /// Every item of one partition whose sort key starts with `prefix`, read consistently.
    async fn partition(&self, pk: &str, prefix: &str) -> Result<Vec<Item>> {
        let client = self.client().await?;
        let mut q = client
            .query()
            .consistent_read(true)
            .expression_attribute_values(":pk", s(pk));
        // An empty string is not a valid key value, not even as a prefix.
        q = if prefix.is_empty() {
            q.key_condition_expression("pk = :pk")
        } else {
            q.key_condition_expression("pk = :pk AND begins_with(sk, :pre)")
                .expression_attribute_values(":pre", s(prefix))
        };
        self.query("Query", q, usize::MAX).await
    }

    /// Consistent reads of many keys, 100 per call, unprocessed keys asked again.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let client = self.client().await?;
        let table = &self.inner.table;
        let mut out = Vec::new();
        for chunk in keys.chunks(BATCH_GET) {
            let mut pending: Vec<Item> = chunk.to_vec();
            let mut attempts = Attempts::new(self.inner.backoff);
            while !pending.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(build_err)?;
                let res = self
                    .call("BatchGetItem", || {
                        client
                            .batch_get_item()
                            .request_items(table, ka.clone())
                            .send()
                    })
                    .await?;
                if let Some(mut r) = res.responses {
                    out.extend(r.remove(table).unwrap_or_default());
                }
                pending = res
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() && !attempts.wait().await {
                    return Err(Error::Unavailable(
                        "DynamoDB BatchGetItem: keys still unprocessed at the retry deadline"
                            .into(),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Puts and deletes, 25 per call, unprocessed items sent again.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<()> {
        let client = self.client().await?;
        let table = &self.inner.table;
        for chunk in requests.chunks(BATCH_WRITE) {
            let mut pending: Vec<WriteRequest> = chunk.to_vec();
            let mut attempts = Attempts::new(self.inner.backoff);
            while !pending.is_empty() {
                let res = self
                    .call("BatchWriteItem", || {
                        client
                            .batch_write_item()
                            .request_items(table, pending.clone())
                            .send()
                    })
                    .await?;
                pending = res
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
                if !pending.is_empty() && !attempts.wait().await {
                    return Err(Error::Unavailable(
                        "DynamoDB BatchWriteItem: items still unprocessed at the retry deadline"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn delete_keys(&self, keys: Vec<Item>) -> Result<()> {
        let reqs = keys
            .into_iter()
            .map(|k| {
                DeleteRequest::builder()
                    .set_key(Some(k))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(build_err)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(reqs).await
    }

    async fn put_items_batch(&self, items: Vec<Item>) -> Result<()> {
        let reqs = items
            .into_iter()
            .map(|i| {
                PutRequest::builder()
                    .set_item(Some(i))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(build_err)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(reqs).await
    }

    /// One transaction; transaction conflicts and throttling are retried with backoff.
    /// A transaction cancelled by a condition comes back as the per-item reasons.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<TxOutcome> {
        let client = self.client().await?;
        let mut attempts = Attempts::new(self.inner.backoff);
        // The same token on a resend after a lost answer: DynamoDB then reports success
        // without applying the transaction twice.
        let mut token = uuid::Uuid::new_v4().to_string();
        loop {
            let permit = self.permit().await;
            let res = client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            drop(permit);
            let err = match res {
                Ok(_) => return Ok(TxOutcome::Committed),
                Err(e) => e,
            };
            if let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) =
                err.as_service_error()
            {
                let reasons: Vec<Reason> = c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| Reason {
                        code: r.code().unwrap_or("None").to_string(),
                        item: r.item().cloned(),
                    })
                    .collect();
                if reasons.iter().any(|r| r.code == "ConditionalCheckFailed") {
                    return Ok(TxOutcome::Cancelled(reasons));
                }
                let transient = reasons.iter().all(|r| {
                    matches!(
                        r.code.as_str(),
                        "None" | "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                });
                let codes: Vec<&str> = reasons
                    .iter()
                    .map(|r| r.code.as_str())
                    .filter(|c| *c != "None")
                    .collect();
                if !transient {
                    return Err(Error::Storage {
                        message: format!("DynamoDB TransactWriteItems cancelled: {codes:?}"),
                        source: None,
                    });
                }
                if !attempts.wait().await {
                    return Err(Error::Unavailable(format!(
                        "DynamoDB TransactWriteItems still cancelled at the retry deadline: {codes:?}"
                    )));
                }
                // Not applied: a fresh token for the next try.
                token = uuid::Uuid::new_v4().to_string();
                continue;
            }
            match classify(&err) {
                Failure::Transient(m) => {
                    if !attempts.wait().await {
                        return Err(Failure::Transient(m).into_error("TransactWriteItems"));
                    }
                }
                p => return Err(p.into_error("TransactWriteItems")),
            }
        }
    }

    /// Enters the day of a click or impression in the day list, once per process and day:
    /// the list is how [`Store::item_events`] knows which time buckets exist.
    async fn list_day(&self, day: i64) -> Result<()> {
        {
            let listed = self
                .inner
                .days_listed
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if listed.contains(&day) {
                return Ok(());
            }
        }
        self.put(key(DAYS_PK, ts_key(Timestamp::from_millis(day))))
            .await?;
        self.inner
            .days_listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(day);
        Ok(())
    }

    /// Up to `per_shard` items of each shard of a sharded index whose sort key is after
    /// `after`, read in parallel and merged.
    async fn sharded_query(
        &self,
        index: &str,
        pk_attr: &str,
        sk_attr: &str,
        pk_of: impl Fn(u32) -> String,
        after: Option<&str>,
        stop: impl Fn(&[Item]) -> bool + Sync,
    ) -> Result<Vec<Item>> {
        let client = self.client().await?;
        let cond = match after {
            Some(_) => format!("{pk_attr} = :pk AND {sk_attr} > :after"),
            None => format!("{pk_attr} = :pk"),
        };
        let reads = (0..SHARDS).map(|shard| {
            let mut q = client
                .query()
                .index_name(index)
                .key_condition_expression(cond.as_str())
                .expression_attribute_values(":pk", s(pk_of(shard)));
            if let Some(a) = after {
                q = q.expression_attribute_values(":after", s(a));
            }
            let stop = &stop;
            async move {
                let mut out = Vec::new();
                let mut start: Option<Item> = None;
                loop {
                    let page = self
                        .call("Query", || {
                            q.clone()
                                .table_name(&self.inner.table)
                                .set_exclusive_start_key(start.clone())
                                .send()
                        })
                        .await?;
                    out.extend(page.items.unwrap_or_default());
                    start = page.last_evaluated_key.filter(|k| !k.is_empty());
                    if start.is_none() || stop(&out) {
                        return Ok::<_, Error>(out);
                    }
                }
            }
        });
        let pages = futures_join_all(reads).await;
        let mut all = Vec::new();
        for p in pages {
            all.extend(p?);
        }
        Ok(all)
    }
}

/// Awaits every future (in parallel on the current task).
async fn futures_join_all<F: Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// How a transaction ended when it did not fail.
#[derive(Debug)]
pub(crate) enum TxOutcome {
    Committed,
    /// Cancelled by at least one condition; one reason per item, in order.
    Cancelled(Vec<Reason>),
}

#[derive(Debug)]
pub(crate) struct Reason {
    pub code: String,
    /// The item as it was, for conditions asked to return it.
    pub item: Option<Item>,
}

impl Reason {
    pub(crate) fn failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Internal(format!("building a DynamoDB request: {e}"))
}

/// Users and their live interest rows from index items, grouped and in user order.
fn group_by_user(items: &[Item]) -> Result<BTreeMap<String, Vec<InterestRecord>>> {
    let mut by_user: BTreeMap<String, Vec<InterestRecord>> = BTreeMap::new();
    for it in items {
        if let Some(rec) = interest_from_item(it)? {
            by_user
                .entry(get_s(it, "u")?.to_string())
                .or_default()
                .push(rec);
        }
    }
    for recs in by_user.values_mut() {
        recs.sort_by(|a, b| a.term.cmp(&b.term));
    }
    Ok(by_user)
}

#[async_trait]
impl Store for DynamoStore {
    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    async fn record_event(&self, event: Event, decay: Decay) -> Result<Recorded> {
        events::record(self, event, decay).await
    }

    async fn interests(&self, user: &UserId) -> Result<Vec<InterestRecord>> {
        let items = self.partition(&user_pk(user), "I#").await?;
        let mut out = Vec::new();
        for it in &items {
            out.extend(interest_from_item(it)?);
        }
        Ok(out)
    }

    async fn event(&self, id: &EventId) -> Result<Option<Event>> {
        self.get(key(event_pk(id), EVENT_SK))
            .await?
            .map(|i| event_from_item(&i))
            .transpose()
    }

    async fn user_events(&self, user: &UserId, limit: usize) -> Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let q = client
            .query()
            .consistent_read(true)
            .scan_index_forward(false)
            .limit(limit.min(1000) as i32)
            .key_condition_expression("pk = :pk AND begins_with(sk, :pre)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":pre", s("E#"));
        let items = self.query("Query", q, limit).await?;
        items.iter().take(limit).map(event_from_item).collect()
    }

    async fn put_post(&self, post: &PostRecord) -> Result<()> {
        events::put_post(self, post).await
    }

    async fn post(&self, id: &PostId) -> Result<Option<PostRecord>> {
        self.get(key(post_pk(id), POST_SK))
            .await?
            .map(|i| post_from_item(&i))
            .transpose()
    }

    async fn cached_caption(&self, image_sha256: &str) -> Result<Option<CachedCaption>> {
        self.get(key(caption_pk(image_sha256), CAPTION_SK))
            .await?
            .map(|i| caption_from_item(&i))
            .transpose()
    }

    async fn put_cached_caption(&self, entry: &CachedCaption) -> Result<()> {
        self.put(caption_item(entry)).await
    }

    async fn put_items(&self, items: &[CatalogRecord]) -> Result<()> {
        // The last write of an id wins, as with the other backends; one batch may not
        // name a key twice.
        let mut last: HashMap<(&'static str, &str), &CatalogRecord> = HashMap::new();
        for i in items {
            last.insert((i.kind.as_str(), i.id.as_str()), i);
        }
        let items = last
            .into_values()
            .map(catalog_item)
            .collect::<Result<Vec<_>>>()?;
        self.put_items_batch(items).await
    }

    async fn items(&self, kind: ItemKind) -> Result<Vec<CatalogRecord>> {
        let items = self.partition(&catalog_pk(kind), "").await?;
        items.iter().map(|i| catalog_from_item(kind, i)).collect()
    }

    async fn remove_item(&self, kind: ItemKind, id: &str) -> Result<bool> {
        let client = self.client().await?;
        let k = key(catalog_pk(kind), id);
        let out = self
            .call("DeleteItem", || {
                client
                    .delete_item()
                    .table_name(&self.inner.table)
                    .set_key(Some(k.clone()))
                    .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                    .send()
            })
            .await?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn cache_get(&self, key_: &str, now: Timestamp) -> Result<Option<String>> {
        let Some(item) = self.get(key(cache_pk(key_), key_)).await? else {
            return Ok(None);
        };
        if get_ts(&item, "ex")? < now {
            return Ok(None);
        }
        Ok(Some(get_s(&item, "v")?.to_string()))
    }

    async fn cache_put(
        &self,
        key_: &str,
        value: &str,
        _now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let mut item = key(cache_pk(key_), key_);
        item.insert("v".into(), s(value));
        item.insert("ex".into(), n_i64(expires_at.as_millis()));
        // DynamoDB's TTL deletes by the wall clock, within about two days; reads go by the
        // caller's clock (`ex`), so TTL only keeps the table from growing.
        item.insert(
            TTL_ATTR.into(),
            n_i64(expires_at.as_millis().div_euclid(1000).saturating_add(1)),
        );
        self.put(item).await
    }

    async fn forget_user(&self, user: &UserId) -> Result<ForgetReport> {
        forget::forget_user(self, user).await
    }

    async fn scan_interests(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, Vec<InterestRecord>)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Each shard is read until it has shown more than `limit` users with live rows
        // (the last one may be cut short, so it is dropped unless the shard ended).
        let enough = |items: &[Item]| {
            let mut users = HashSet::new();
            for i in items {
                if get_i64(i, "c").unwrap_or(0) > 0 {
                    if let Ok(u) = get_s(i, "u") {
                        users.insert(u);
                    }
                }
            }
            users.len() > limit
        };
        let items = self
            .sharded_query(
                GSI_USERS,
                "g2pk",
                "g2sk",
                |shard| format!("UI#{shard}"),
                after.map(|u| u.as_str()),
                enough,
            )
            .await?;
        // A user cut short in one shard is complete in no other (a user lives in one
        // shard), so drop, per shard, users past the first `limit`: done by taking the
        // `limit` smallest users overall, each of whom precedes some complete user.
        let mut by_shard: HashMap<u32, BTreeMap<String, Vec<InterestRecord>>> = HashMap::new();
        for (u, recs) in group_by_user(&items)? {
            by_shard.entry(shard_of(&u)).or_default().insert(u, recs);
        }
        let mut all: BTreeMap<String, Vec<InterestRecord>> = BTreeMap::new();
        for (_, users) in by_shard {
            let complete = users.len().min(limit);
            all.extend(users.into_iter().take(complete));
        }
        all.into_iter()
            .take(limit)
            .map(|(u, recs)| Ok((UserId::new(u)?, recs)))
            .collect()
    }

    async fn item_events(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        if to <= from {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let last = Timestamp::from_millis(to.as_millis() - 1);
        let q = client
            .query()
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
            .expression_attribute_values(":pk", s(DAYS_PK))
            .expression_attribute_values(":a", s(ts_key(Timestamp::from_millis(day_of(from)))))
            .expression_attribute_values(":b", s(ts_key(Timestamp::from_millis(day_of(last)))));
        let days = self.query("Query", q, usize::MAX).await?;
        let mut out = Vec::new();
        for d in &days {
            let day = get_s(d, SK)?.to_string();
            for shard in 0..SHARDS {
                let q = client
                    .query()
                    .index_name(GSI_CLICKS)
                    .key_condition_expression("g3pk = :pk AND g3sk BETWEEN :a AND :b")
                    .expression_attribute_values(":pk", s(format!("X#{day}#{shard}")))
                    .expression_attribute_values(":a", s(ts_key(from)))
                    // Every event id sorts before U+10FFFF.
                    .expression_attribute_values(":b", s(format!("{}#\u{10FFFF}", ts_key(last))));
                for it in self.query("Query", q, usize::MAX).await? {
                    let e = event_from_item(&it)?;
                    if e.at >= from && e.at < to {
                        out.push(e);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn user_item_counts(
        &self,
        user: &UserId,
        kind: EventKind,
        since: Timestamp,
    ) -> Result<Vec<ItemCount>> {
        let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for it in self.partition(&user_pk(user), "E#").await? {
            if get_s(&it, "k")? != kind.as_str() {
                continue;
            }
            if let Some(item) = opt_s(&it, "it") {
                let c = counts.entry(item).or_default();
                c.1 += 1;
                if get_ts(&it, "at")? >= since {
                    c.0 += 1;
                }
            }
        }
        Ok(counts
            .into_iter()
            .map(|(item, (recent, total))| ItemCount {
                item,
                recent,
                total,
            })
            .collect())
    }

    async fn set_opt_out(
        &self,
        user: &UserId,
        category: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<()> {
        events::set_opt_out(self, user, category, opted_out, at).await
    }

    async fn opt_outs(&self, user: &UserId) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .partition(&user_pk(user), "O#")
            .await?
            .iter()
            .map(|i| Ok(get_s(i, SK)?["O#".len()..].to_string()))
            .collect::<Result<_>>()?;
        out.sort();
        Ok(out)
    }

    async fn opted_out_users(&self, category: &str) -> Result<Vec<UserId>> {
        self.partition(&category_pk(category), "")
            .await?
            .iter()
            .map(|i| UserId::new(get_s(i, SK)?))
            .collect()
    }

    async fn put_neighbours(&self, lists: &[NeighbourList]) -> Result<()> {
        self.put_neighbour_lists(lists).await
    }

    async fn neighbours(&self, users: &[UserId]) -> Result<Vec<NeighbourList>> {
        self.neighbour_lists(users).await
    }

    async fn users_with_term(
        &self,
        term: &str,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, InterestRecord)>> {
        self.term_users(term, after, limit).await
    }

    async fn scan_captions(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<CachedCaption>> {
        self.scan_caption_items(cursor, limit).await
    }

    async fn scan_posts(&self, cursor: Option<&str>, limit: usize) -> Result<Page<PostRecord>> {
        self.scan_post_items(cursor, limit).await
    }

    async fn scan_events(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Event>> {
        self.scan_event_items(cursor, limit).await
    }

    async fn item_events_page(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Event>> {
        self.item_events_paged(from, to, cursor, limit).await
    }

    async fn scan_opt_outs(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<OptOutRecord>> {
        self.scan_opt_out_items(cursor, limit).await
    }

    async fn scan_neighbours(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<NeighbourList>> {
        self.scan_neighbour_items(cursor, limit).await
    }

    async fn put_audience(
        &self,
        ad_id: &str,
        members: &[AudienceEntry],
        computed_at: Timestamp,
    ) -> Result<()> {
        self.write_audience(ad_id, members, computed_at).await
    }

    async fn audience(&self, ad_id: &str, limit: usize) -> Result<Option<StoredAudience>> {
        self.stored_audience(ad_id, limit).await
    }

    async fn scan_audiences(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<StoredAudience>> {
        self.scan_audience_items(cursor, limit).await
    }
}
