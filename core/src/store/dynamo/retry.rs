//! Which DynamoDB failures are worth retrying, the jittered backoff between tries, and the
//! typed errors they end as.

use crate::error::Error;
use crate::redact::redact_urls_in;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use rand::Rng;
use std::time::{Duration, Instant};

/// Error codes DynamoDB answers when it wants the caller to slow down or try again.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
];

/// One failed call, sorted into what the retry loop needs to know.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Throttling, a transaction conflict, a 5xx, a timeout or a lost connection: try again
    /// until the deadline, then [`Error::Unavailable`].
    Transient(String),
    /// Anything else the service or the SDK said: [`Error::Storage`] at once.
    Permanent(String),
}

impl Failure {
    pub(crate) fn into_error(self, what: &str) -> Error {
        match self {
            Failure::Transient(m) => Error::Unavailable(format!("DynamoDB {what}: {m}")),
            Failure::Permanent(m) => Error::Storage {
                message: format!("DynamoDB {what}: {m}"),
                source: None,
            },
        }
    }
}

/// Sorts an SDK error. The message is the SDK's whole error chain with every URL in it
/// redacted; the error itself is not kept as a source, so no endpoint query string or
/// credential can reach a log through `full_message`.
pub(crate) fn classify<E>(
    err: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    // A service error's code and message say what went wrong; the SDK's full context
    // (request and response dumps) says too much.
    let message = match err {
        SdkError::ServiceError(_) => format!(
            "{}: {}",
            err.code().unwrap_or("service error"),
            err.message().unwrap_or_default()
        ),
        _ => format!("{}", DisplayErrorContext(err)),
    };
    let message = redact_urls_in(&message);
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Transient(message)
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = err.code().unwrap_or_default();
            if RETRYABLE_CODES.contains(&code) || status >= 500 {
                Failure::Transient(message)
            } else {
                Failure::Permanent(message)
            }
        }
        _ => Failure::Permanent(message),
    }
}

/// Full-jitter exponential backoff until a deadline: the n-th wait is uniform in
/// `[0, min(cap, base · 2^n)]`, so many writers that collided spread out instead of colliding
/// again in step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub deadline: Duration,
}

/// One retry loop's state.
pub(crate) struct Attempts {
    policy: Backoff,
    started: Instant,
    tries: u32,
}

impl Attempts {
    pub(crate) fn new(policy: Backoff) -> Self {
        Self {
            policy,
            started: Instant::now(),
            tries: 0,
        }
    }

    /// Waits before the next try; `false` when the deadline leaves no time for one.
    pub(crate) async fn wait(&mut self) -> bool {
        let elapsed = self.started.elapsed();
        if elapsed >= self.policy.deadline {
            return false;
        }
        let exp = self.policy.base.saturating_mul(1u32 << self.tries.min(16));
        let ceiling = exp.min(self.policy.cap);
        self.tries = self.tries.saturating_add(1);
        let jitter = rand::rng().random_range(0.0..=1.0);
        let pause = ceiling.mul_f64(jitter).min(self.policy.deadline - elapsed);
        tokio::time::sleep(pause).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_ends_the_waits() {
        let mut a = Attempts::new(Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            deadline: Duration::ZERO,
        });
        assert!(!a.wait().await);
        let mut b = Attempts::new(Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            deadline: Duration::from_secs(60),
        });
        for _ in 0..3 {
            assert!(b.wait().await);
        }
    }
}
