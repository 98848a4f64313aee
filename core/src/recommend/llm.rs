//! The language-model abstraction: one chat-completion call.

use crate::error::Result;
use crate::ids::UserId;
use crate::store::{user_cache_prefix, Store};
use crate::time::{Clock, SystemClock};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Who says a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The request (and, in our prompts, the data).
    User,
    /// The model's earlier answer.
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// A JSON schema the answer must follow (OpenAI's `response_format: json_schema`, strict).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonSchema {
    /// A name for the schema (letters, digits, `_`, `-`).
    pub name: String,
    /// The schema itself.
    pub schema: serde_json::Value,
}

/// A chat-completion request.
///
/// ```
/// use sociallens::recommend::{ChatRequest, Message, Role};
/// let req = ChatRequest::new(vec![Message::new(Role::User, "Say hi")]).max_tokens(20);
/// assert_eq!(req.max_tokens, Some(20));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// A schema for structured output, if any.
    pub schema: Option<JsonSchema>,
    /// Longest answer, in tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
}

impl ChatRequest {
    /// A request with these messages.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    /// Asks for an answer following `schema`.
    pub fn schema(mut self, schema: JsonSchema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Caps the answer's length.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It finished its answer.
    Stop,
    /// It ran out of tokens: the answer is cut off.
    Length,
    /// A content filter stopped it.
    ContentFilter,
    /// Anything else the server said.
    Other(String),
}

/// The model's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The answer's text (empty on a refusal).
    pub content: String,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// The model's refusal message, when it refused.
    pub refusal: Option<String>,
    /// The model that answered.
    pub model: String,
}

/// A chat-completion model.
#[async_trait]
pub trait Llm: Send + Sync {
    /// The model's name (part of cache keys).
    fn model(&self) -> &str;

    /// One completion.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse>;
}

/// Caches another [`Llm`]'s answers in a [`Store`], by model and a hash of the request, for
/// a time to live. Refusals and cut-off answers are not cached.
///
/// A request built from one user's data should be cached for that user
/// ([`for_user`](Self::for_user)): its answer is then filed under the user's
/// [`user_cache_prefix`], and [`Store::forget_user`] removes it with everything else of theirs.
/// The engine does this for every recommendation.
///
/// ```
/// # use sociallens::recommend::*;
/// # use sociallens::*;
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # fn make(llm: Arc<dyn Llm>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<()> {
/// let cached = CachingLlm::new(llm, store, Duration::from_secs(24 * 3600))
///     .clock(clock)
///     .for_user(&UserId::new("user-42")?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CachingLlm {
    inner: Arc<dyn Llm>,
    store: Arc<dyn Store>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    /// Key prefix: the user's, or the shared one.
    prefix: String,
}

impl CachingLlm {
    /// Wraps `inner`; answers live `ttl` in `store`, by the system clock, shared by all users.
    pub fn new(inner: Arc<dyn Llm>, store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            inner,
            store,
            ttl,
            clock: Arc::new(SystemClock),
            prefix: String::new(),
        }
    }

    /// Reads the time from `clock` (the engine's) for expiry.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Files answers under `user`, so that forgetting the user forgets them.
    pub fn for_user(mut self, user: &UserId) -> Self {
        self.prefix = user_cache_prefix(user);
        self
    }

    fn key(&self, request: &ChatRequest) -> Result<String> {
        let body = serde_json::to_vec(request)?;
        let mut h = Sha256::new();
        h.update(self.inner.model().as_bytes());
        h.update([0]);
        h.update(&body);
        Ok(format!("{}llm:{}", self.prefix, hex::encode(h.finalize())))
    }
}

#[async_trait]
impl Llm for CachingLlm {
    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let key = self.key(request)?;
        let now = self.clock.now();
        if let Some(hit) = self.store.cache_get(&key, now).await? {
            if let Ok(resp) = serde_json::from_str::<ChatResponse>(&hit) {
                return Ok(resp);
            }
        }
        let resp = self.inner.chat(request).await?;
        if resp.refusal.is_none() && resp.finish_reason == FinishReason::Stop {
            self.store
                .cache_put(
                    &key,
                    &serde_json::to_string(&resp)?,
                    now,
                    now.plus(self.ttl),
                )
                .await?;
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::time::{ManualClock, Timestamp};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts calls; answers at once (what is under test is the cache around it).
    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl Llm for Counting {
        fn model(&self) -> &str {
            "counting"
        }
        async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(ChatResponse {
                content: "{}".into(),
                finish_reason: FinishReason::Stop,
                refusal: None,
                model: "counting".into(),
            })
        }
    }

    #[tokio::test]
    async fn answers_expire_by_the_given_clock_and_go_with_their_user() {
        // A clock a year before the system's: expiry must follow it, not the wall clock.
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let inner = Arc::new(Counting::default());
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let ana = UserId::new("ana").unwrap();
        let llm = CachingLlm::new(inner.clone(), store.clone(), Duration::from_secs(3600))
            .clock(clock.clone())
            .for_user(&ana);
        let req = ChatRequest::new(vec![Message::new(Role::User, "ideas for a surfer")]);
        llm.chat(&req).await.unwrap();
        llm.chat(&req).await.unwrap();
        assert_eq!(
            inner.0.load(Ordering::SeqCst),
            1,
            "the second call is cached"
        );
        clock.advance(Duration::from_secs(3601));
        llm.chat(&req).await.unwrap();
        assert_eq!(
            inner.0.load(Ordering::SeqCst),
            2,
            "expired by the clock given"
        );
        // The answer is filed under ana: forgetting her removes it, and it is asked again.
        let report = store.forget_user(&ana).await.unwrap();
        assert_eq!(report.cached_answers, 1);
        llm.chat(&req).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 3);
    }
}
