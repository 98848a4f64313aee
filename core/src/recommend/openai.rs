//! A client for any server speaking OpenAI's chat-completions protocol: OpenAI, Azure OpenAI,
//! Ollama, vLLM, llama.cpp's server, LM Studio.

use super::llm::{ChatRequest, ChatResponse, FinishReason, Llm, Role};
use crate::error::{Error, Result};
use crate::redact::redact_url;
use async_trait::async_trait;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A credential: shown as `***` by `Debug` and `Display`, so it never reaches a log or an
/// error message by accident.
///
/// ```
/// use sociallens::recommend::Secret;
/// let key = Secret::new("sk-live-123");
/// assert_eq!(format!("{key:?} {key}"), "*** ***");
/// assert_eq!(key.expose(), "sk-live-123");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Requests allowed per rolling minute, enforced on this side of the wire.
#[derive(Debug)]
struct Budget {
    per_minute: usize,
    sent: Mutex<VecDeque<Instant>>,
}

impl Budget {
    async fn acquire(&self, deadline: Instant) -> Result<()> {
        loop {
            let wait_until = {
                let mut sent = self.sent.lock().await;
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
                {
                    sent.pop_front();
                }
                if sent.len() < self.per_minute {
                    sent.push_back(now);
                    return Ok(());
                }
                sent[0] + Duration::from_secs(60)
            };
            if wait_until > deadline {
                return Err(Error::RateLimited {
                    message: format!(
                        "the client-side budget of {} requests per minute is spent until after the deadline",
                        self.per_minute
                    ),
                    retry_after: Some(wait_until - Instant::now()),
                });
            }
            tokio::time::sleep_until(wait_until).await;
        }
    }
}

/// A chat-completions client with retries, rate-limit handling, timeouts and a budget.
///
/// - 429 answers wait for `Retry-After` (seconds or an HTTP date) or the
///   `x-ratelimit-reset-requests`/`-tokens` headers; 5xx answers, timeouts and dropped
///   connections back off exponentially with full jitter; at most `max_retries` retries.
/// - Each request has its own timeout; all attempts together have a deadline.
/// - An optional client-side requests-per-minute budget.
/// - The API key (and any header value) is a [`Secret`]: never logged, never in errors.
///
/// ```
/// use sociallens::recommend::OpenAiCompatible;
/// use std::time::Duration;
/// let llm = OpenAiCompatible::new("http://127.0.0.1:11434/v1", "llama3.2")?
///     .api_key("ollama")
///     .request_timeout(Duration::from_secs(30))
///     .deadline(Duration::from_secs(90))
///     .requests_per_minute(60);
/// assert!(format!("{llm:?}").contains("llama3.2"));
/// assert!(!format!("{llm:?}").contains("ollama\""));
/// # Ok::<(), sociallens::Error>(())
/// ```
pub struct OpenAiCompatible {
    url: String,
    model: String,
    api_key: Option<Secret>,
    headers: Vec<(String, Secret)>,
    request_timeout: Duration,
    deadline: Duration,
    max_retries: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    budget: Option<Budget>,
    client: reqwest::Client,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("url", &redact_url(&self.url))
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("request_timeout", &self.request_timeout)
            .field("deadline", &self.deadline)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl OpenAiCompatible {
    /// A client for `base_url` (for example `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1`); requests go to `{base_url}/chat/completions`.
    pub fn new(base_url: &str, model: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/');
        Self::with_url(&format!("{base}/chat/completions"), model)
    }

    /// A client for Azure OpenAI: `endpoint` like `https://NAME.openai.azure.com`, the
    /// deployment name, an API version and the key (sent as the `api-key` header).
    pub fn azure(endpoint: &str, deployment: &str, api_version: &str, key: &str) -> Result<Self> {
        let base = endpoint.trim_end_matches('/');
        let url = format!(
            "{base}/openai/deployments/{deployment}/chat/completions?api-version={api_version}"
        );
        Ok(Self::with_url(&url, deployment)?.header("api-key", key))
    }

    fn with_url(url: &str, model: &str) -> Result<Self> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::invalid(format!("bad LLM URL {:?}: {e}", redact_url(url))))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid("the LLM URL must be http or https"));
        }
        if model.trim().is_empty() {
            return Err(Error::invalid("the LLM model name is empty"));
        }
        let client = reqwest::Client::builder().build().map_err(|e| {
            Error::Config(format!("cannot build the HTTP client: {}", e.without_url()))
        })?;
        Ok(Self {
            url: url.to_string(),
            model: model.to_string(),
            api_key: None,
            headers: Vec::new(),
            request_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(180),
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(8),
            budget: None,
            client,
        })
    }

    /// Configured from the environment: `OPENAI_BASE_URL` (default
    /// `https://api.openai.com/v1`), `OPENAI_API_KEY` (optional for local servers) and
    /// `SOCIALLENS_LLM_MODEL` (default `gpt-4o-mini`).
    pub fn from_env() -> Result<Self> {
        let base =
            std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".into());
        let model = std::env::var("SOCIALLENS_LLM_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into());
        let mut llm = Self::new(&base, &model)?;
        if let Ok(key) = std::env::var("OPENAI_API_KEY") {
            if !key.is_empty() {
                llm = llm.api_key(&key);
            }
        }
        Ok(llm)
    }

    /// Sends `Authorization: Bearer KEY`.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(Secret::new(key));
        self
    }

    /// Adds a header to every request (its value is treated as a secret).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), Secret::new(value)));
        self
    }

    /// Longest wait for one request (default 60 s; at most [`MAX_TIMEOUT`](Self::MAX_TIMEOUT),
    /// longer is taken as that).
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t.min(Self::MAX_TIMEOUT);
        self
    }

    /// Longest wait for a whole call, retries included (default 180 s; at most
    /// [`MAX_TIMEOUT`](Self::MAX_TIMEOUT), longer is taken as that).
    pub fn deadline(mut self, t: Duration) -> Self {
        self.deadline = t.min(Self::MAX_TIMEOUT);
        self
    }

    /// Retries after the first attempt (default 4; at most
    /// [`MAX_RETRIES`](Self::MAX_RETRIES), more is taken as that).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n.min(Self::MAX_RETRIES);
        self
    }

    /// The longest request timeout and deadline: one day.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

    /// The most retries after the first attempt.
    pub const MAX_RETRIES: u32 = 100;

    /// Sets the timeouts (seconds), retries and budget from numbers a caller gave (what the
    /// Python and Node bindings take), checking each: timeouts finite, above zero and at
    /// most [`MAX_TIMEOUT`](Self::MAX_TIMEOUT); retries at most
    /// [`MAX_RETRIES`](Self::MAX_RETRIES); a budget of at least one request per minute.
    /// Anything else is [`Error::InvalidInput`]; `None` keeps the current setting.
    ///
    /// ```
    /// use sociallens::recommend::OpenAiCompatible;
    /// let c = OpenAiCompatible::new("http://127.0.0.1:11434/v1", "llama3.2")?;
    /// let c = c.limits(Some(30.0), Some(90.0), Some(2), Some(60))?;
    /// assert!(format!("{c:?}").contains("max_retries: 2"));
    /// let c = OpenAiCompatible::new("http://127.0.0.1:11434/v1", "llama3.2")?;
    /// assert!(c.limits(Some(f64::NAN), None, None, None).is_err());
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn limits(
        mut self,
        request_timeout_secs: Option<f64>,
        deadline_secs: Option<f64>,
        max_retries: Option<u64>,
        requests_per_minute: Option<u64>,
    ) -> Result<Self> {
        let timeout = |what: &str, secs: f64| -> Result<Duration> {
            let max = Self::MAX_TIMEOUT.as_secs_f64();
            if !(secs > 0.0 && secs <= max) {
                return Err(Error::invalid(format!(
                    "{what} must be above 0 and at most {max} seconds, got {secs}"
                )));
            }
            crate::duration_from_secs(what, secs)
        };
        if let Some(s) = request_timeout_secs {
            self.request_timeout = timeout("request_timeout", s)?;
        }
        if let Some(s) = deadline_secs {
            self.deadline = timeout("deadline", s)?;
        }
        if let Some(n) = max_retries {
            if n > u64::from(Self::MAX_RETRIES) {
                return Err(Error::invalid(format!(
                    "max_retries must be at most {}, got {n}",
                    Self::MAX_RETRIES
                )));
            }
            self.max_retries = n as u32;
        }
        if let Some(n) = requests_per_minute {
            if n == 0 {
                return Err(Error::invalid(
                    "requests_per_minute must be at least 1 (leave it out for no budget)",
                ));
            }
            self = self.requests_per_minute(usize::try_from(n).unwrap_or(usize::MAX));
        }
        Ok(self)
    }

    /// First backoff and its cap (defaults 0.5 s and 8 s); each retry doubles the window and
    /// waits a random time within it.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_cap = cap;
        self
    }

    /// At most `n` requests per rolling minute from this client.
    pub fn requests_per_minute(mut self, n: usize) -> Self {
        self.budget = Some(Budget {
            per_minute: n.max(1),
            sent: Mutex::new(VecDeque::new()),
        });
        self
    }

    fn body(&self, req: &ChatRequest) -> Value {
        let messages: Vec<Value> = req
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                json!({"role": role, "content": m.content})
            })
            .collect();
        let mut body = json!({"model": self.model, "messages": messages});
        if let Some(schema) = &req.schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": schema.name, "schema": schema.schema, "strict": true}
            });
        }
        if let Some(n) = req.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        body
    }

    fn backoff_for(&self, attempt: u32) -> Duration {
        let window = self
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.backoff_cap);
        let ms = window.as_millis() as u64;
        Duration::from_millis(if ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=ms)
        })
    }

    /// One HTTP exchange: Ok(response) or a classified failure.
    async fn attempt(&self, body: &Value, timeout: Duration) -> Attempt {
        let mut rb = self.client.post(&self.url).json(body).timeout(timeout);
        if let Some(key) = &self.api_key {
            rb = rb.bearer_auth(key.expose());
        }
        for (k, v) in &self.headers {
            rb = rb.header(k.as_str(), v.expose());
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry(
                    Error::Timeout(format!("no answer within {timeout:?}")),
                    None,
                )
            }
            Err(e) => {
                return Attempt::Retry(
                    Error::Http {
                        status: 0,
                        message: format!("request failed: {}", e.without_url()),
                        request_id: None,
                    },
                    None,
                )
            }
        };
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let retry_after = retry_after(resp.headers());
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry(
                    Error::Timeout(format!("the answer did not finish within {timeout:?}")),
                    None,
                )
            }
            Err(e) => {
                return Attempt::Retry(
                    Error::Http {
                        status,
                        message: format!("reading the answer failed: {}", e.without_url()),
                        request_id,
                    },
                    None,
                )
            }
        };
        if status == 200 {
            return match parse_response(&text, &self.model) {
                Ok(r) => Attempt::Done(r),
                Err(e) => Attempt::Fail(e),
            };
        }
        let message = error_message(&text);
        match status {
            429 => Attempt::Retry(
                Error::RateLimited {
                    message,
                    retry_after,
                },
                retry_after,
            ),
            408 | 409 | 500..=599 => Attempt::Retry(
                Error::Http {
                    status,
                    message,
                    request_id,
                },
                retry_after,
            ),
            _ => Attempt::Fail(Error::Http {
                status,
                message,
                request_id,
            }),
        }
    }
}

enum Attempt {
    Done(ChatResponse),
    /// Worth retrying; with the wait the server asked for, if any.
    Retry(Error, Option<Duration>),
    Fail(Error),
}

/// How long a 429 (or 503) asks to wait: `Retry-After` (seconds or an HTTP date), else the
/// longest of OpenAI's `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens`.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(v) = get("retry-after") {
        let v = v.trim();
        if let Ok(secs) = v.parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Some(Duration::from_secs_f64(secs.min(3600.0)));
            }
        }
        if let Ok(when) = httpdate::parse_http_date(v) {
            return Some(
                when.duration_since(std::time::SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            );
        }
    }
    ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
        .iter()
        .filter_map(|h| get(h).and_then(parse_go_duration))
        .max()
}

/// Parses durations like `1s`, `6m0s`, `20ms`, `1h2m3.5s`.
fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let mut total = 0f64;
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let (unit, len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else {
            return None;
        };
        total += value * unit;
        rest = &rest[len..];
        any = true;
    }
    (any && total.is_finite()).then(|| Duration::from_secs_f64(total.min(3600.0)))
}

/// The server's error message (`{"error": {"message": ...}}`), or the start of the body.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    if let Some(msg) = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(|e| e.get("message").or(Some(e)))
        .and_then(|m| m.as_str())
    {
        return msg.chars().take(500).collect();
    }
    let snippet: String = body.chars().take(200).collect();
    if snippet.is_empty() {
        "(empty body)".into()
    } else {
        snippet
    }
}

fn parse_response(body: &str, requested_model: &str) -> Result<ChatResponse> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| Error::Model(format!("the LLM server answered with invalid JSON: {e}")))?;
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| Error::Model("the LLM server answered with no choices".into()))?;
    let message = choice.get("message").cloned().unwrap_or(Value::Null);
    let content = message
        .get("content")
        .and_then(|c| c.as_str())
        .unwrap_or_default()
        .to_string();
    let refusal = message
        .get("refusal")
        .and_then(|r| r.as_str())
        .filter(|r| !r.is_empty())
        .map(String::from);
    let finish_reason = match choice.get("finish_reason").and_then(|f| f.as_str()) {
        Some("stop") | None => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_string()),
    };
    Ok(ChatResponse {
        content,
        finish_reason,
        refusal,
        model: v
            .get("model")
            .and_then(|m| m.as_str())
            .unwrap_or(requested_model)
            .to_string(),
    })
}

#[async_trait]
impl Llm for OpenAiCompatible {
    fn model(&self) -> &str {
        &self.model
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let body = self.body(request);
        let now = Instant::now();
        // The deadline is at most a day (see MAX_TIMEOUT); checked all the same.
        let deadline = now
            .checked_add(self.deadline)
            .unwrap_or_else(|| now + Self::MAX_TIMEOUT);
        let url = redact_url(&self.url);
        let mut attempt = 0u32;
        loop {
            if let Some(budget) = &self.budget {
                budget.acquire(deadline).await?;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::Timeout(format!(
                    "the {:?} deadline passed",
                    self.deadline
                )));
            }
            let timeout = self.request_timeout.min(remaining);
            tracing::debug!(model = %self.model, url = %url, attempt, "chat completion request");
            let outcome = match tokio::time::timeout(
                timeout + Duration::from_millis(50),
                self.attempt(&body, timeout),
            )
            .await
            {
                Ok(o) => o,
                Err(_) => Attempt::Retry(
                    Error::Timeout(format!("no answer within {timeout:?}")),
                    None,
                ),
            };
            let (err, asked) = match outcome {
                Attempt::Done(r) => return Ok(r),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e, asked) => (e, asked),
            };
            if attempt >= self.max_retries {
                tracing::warn!(model = %self.model, attempts = attempt + 1, error = %err, "giving up");
                return Err(err);
            }
            let wait = asked.unwrap_or_else(|| self.backoff_for(attempt));
            let left = deadline.saturating_duration_since(Instant::now());
            if wait >= left {
                tracing::warn!(model = %self.model, ?wait, "retry would pass the deadline");
                return Err(match err {
                    Error::RateLimited { .. } | Error::Timeout(_) => err,
                    other => Error::Timeout(format!(
                        "deadline of {:?} passed after: {other}",
                        self.deadline
                    )),
                });
            }
            tracing::warn!(model = %self.model, attempt, ?wait, error = %err, "retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            parse_go_duration("1m2.5s"),
            Some(Duration::from_secs_f64(62.5))
        );
        // Waits are capped at an hour.
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn urls_are_redacted() {
        let llm =
            OpenAiCompatible::azure("https://n.openai.azure.com/", "gpt", "2024-06-01", "K3Y")
                .unwrap();
        let dbg = format!("{llm:?}");
        assert!(!dbg.contains("K3Y") && !dbg.contains("2024-06-01"), "{dbg}");
        let llm = OpenAiCompatible::new("https://me:s3cret@llm.example/v1", "m").unwrap();
        let dbg = format!("{llm:?}");
        assert!(
            !dbg.contains("s3cret") && dbg.contains("llm.example"),
            "{dbg}"
        );
        assert!(OpenAiCompatible::new("ftp://x", "m").is_err());
        assert!(OpenAiCompatible::new("http://x", " ").is_err());
    }

    #[test]
    fn responses_parse_leniently() {
        let r = parse_response(
            r#"{"choices":[{"message":{"content":null,"refusal":"no"},"finish_reason":"stop"}]}"#,
            "m",
        )
        .unwrap();
        assert_eq!(
            (r.content.as_str(), r.refusal.as_deref(), r.model.as_str()),
            ("", Some("no"), "m")
        );
        assert!(parse_response("{}", "m").is_err());
        assert!(parse_response("not json", "m").is_err());
    }
}
