//! Validated identifiers of users, posts and events.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id accepted, in bytes. Ids are keys in every backend; DynamoDB caps keys at 1 KiB
/// and we prefix them.
pub const MAX_ID_BYTES: usize = 256;

fn validate(kind: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid(format!("{kind} id is empty")));
    }
    if s.len() > MAX_ID_BYTES {
        return Err(Error::invalid(format!(
            "{kind} id is {} bytes long (at most {MAX_ID_BYTES})",
            s.len()
        )));
    }
    if s.trim() != s {
        return Err(Error::invalid(format!(
            "{kind} id {s:?} has leading or trailing whitespace"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{kind} id {s:?} contains control characters"
        )));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id: non-empty, at most [`MAX_ID_BYTES`] bytes,
            /// no control characters, no surrounding whitespace.
            pub fn new(id: impl Into<String>) -> Result<Self> {
                let id = id.into();
                validate($kind, &id)?;
                Ok(Self(id))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// A user of the platform.
    ///
    /// ```
    /// let user = sociallens::UserId::new("user-42")?;
    /// assert_eq!(user.as_str(), "user-42");
    /// assert!(sociallens::UserId::new(" padded ").is_err());
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    UserId,
    "user"
);
id_type!(
    /// A post (an image with its caption) on the platform.
    ///
    /// ```
    /// let post = sociallens::PostId::new("post-7")?;
    /// assert_eq!(post.to_string(), "post-7");
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    PostId,
    "post"
);
id_type!(
    /// One event (like, upload, unlike, click, impression). Replaying an event id is a no-op.
    ///
    /// ```
    /// let id = sociallens::EventId::new("like-123")?;
    /// assert_eq!(id.as_str(), "like-123");
    /// let fresh = sociallens::EventId::generate();
    /// assert_ne!(fresh, sociallens::EventId::generate());
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    EventId,
    "event"
);

impl UserId {
    /// The empty id of a freed index slot: never valid, never stored, names nobody.
    pub(crate) fn vacant() -> Self {
        Self(String::new())
    }
}

impl EventId {
    /// A fresh random id (UUID v4) for events the caller did not name.
    pub fn generate() -> Self {
        Self(format!("ev-{}", uuid::Uuid::new_v4().simple()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_ids() {
        assert!(UserId::new("").is_err());
        assert!(UserId::new("a\nb").is_err());
        assert!(UserId::new("x".repeat(MAX_ID_BYTES + 1)).is_err());
        assert!(UserId::new("x".repeat(MAX_ID_BYTES)).is_ok());
        assert!(PostId::new("ünïcode-ok").is_ok());
    }

    #[test]
    fn serde_validates() {
        let ok: UserId = serde_json::from_str("\"u1\"").unwrap();
        assert_eq!(ok.as_str(), "u1");
        assert!(serde_json::from_str::<UserId>("\"\"").is_err());
    }
}
