//! # sociallens
//!
//! Turns what people do on a social platform (liking and uploading images) into interest
//! profiles, and later into product recommendations and ads.
//!
//! ```
//! use sociallens::{Engine, Post, SqliteStore};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("sociallens.db");
//! let engine = Engine::builder().store(SqliteStore::open(&path)?).build()?;
//! engine
//!     .record_like(
//!         "user-42",
//!         Post::new("post-7")
//!             .with_caption("a teddy bear sitting on a bed")
//!             .with_interests(["teddy bear", "bed"]),
//!     )
//!     .await?;
//! for interest in engine.interests("user-42", 10).await? {
//!     println!("{} {:.2}", interest.term, interest.weight);
//! }
//! # Ok::<(), sociallens::Error>(()) }).unwrap();
//! ```
#![warn(missing_docs)]

pub mod ads;
pub mod analytics;
pub mod caption;
mod domain;
mod engine;
mod error;
pub mod export;
mod ids;
pub mod interests;
pub mod profile;
pub mod recommend;
mod redact;
pub mod store;
mod time;

pub use caption::{Captioner, VitGpt2};
pub use domain::{Event, EventKind, Interest, InterestProfile, Post, TermDelta};
pub use engine::{
    days, duration_from_secs, half_life_days, try_days, Engine, EngineBuilder, EventOptions,
    EventOutcome, IndexStats, NeighbourStats, Serving, MAX_LLM_CACHE_TTL, MAX_SIGNAL_WEIGHT,
};
pub use error::{Error, Result};
pub use ids::{EventId, PostId, UserId, MAX_ID_BYTES};
pub use interests::InterestExtractor;
pub use profile::{Decay, InterestRecord, SignalWeights, WeightPart};
pub use store::{
    open_store, AudienceEntry, CachedCaption, CatalogRecord, EventStatus, ForgetReport, ItemCount,
    ItemKind, MemoryStore, Neighbour, NeighbourList, OptOutRecord, Page, PostRecord, Recorded,
    SqliteStore, Store, StoredAudience,
};
#[cfg(feature = "dynamodb")]
pub use store::{DynamoStore, DynamoStoreBuilder};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
