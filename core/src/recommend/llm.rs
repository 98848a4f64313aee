//! The language-model abstraction: one chat-completion call.

use crate::error::Result;
use crate::store::Store;
use crate::time::Timestamp;
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
/// ```
/// # use sociallens::recommend::*;
/// # use sociallens::*;
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # fn make(llm: Arc<dyn Llm>, store: Arc<dyn Store>) {
/// let cached = CachingLlm::new(llm, store, Duration::from_secs(24 * 3600));
/// # }
/// ```
pub struct CachingLlm {
    inner: Arc<dyn Llm>,
    store: Arc<dyn Store>,
    ttl: Duration,
}

impl CachingLlm {
    /// Wraps `inner`; answers live `ttl` in `store`.
    pub fn new(inner: Arc<dyn Llm>, store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self { inner, store, ttl }
    }

    fn key(&self, request: &ChatRequest) -> Result<String> {
        let body = serde_json::to_vec(request)?;
        let mut h = Sha256::new();
        h.update(self.inner.model().as_bytes());
        h.update([0]);
        h.update(&body);
        Ok(format!("llm:{}", hex::encode(h.finalize())))
    }
}

#[async_trait]
impl Llm for CachingLlm {
    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let key = self.key(request)?;
        let now = Timestamp::now();
        if let Some(hit) = self.store.cache_get(&key, now).await? {
            if let Ok(resp) = serde_json::from_str::<ChatResponse>(&hit) {
                return Ok(resp);
            }
        }
        let resp = self.inner.chat(request).await?;
        if resp.refusal.is_none() && resp.finish_reason == FinishReason::Stop {
            self.store
                .cache_put(&key, &serde_json::to_string(&resp)?, now.plus(self.ttl))
                .await?;
        }
        Ok(resp)
    }
}
