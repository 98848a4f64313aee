//! The nouns of sociallens: posts, events, interests and profiles.

use crate::ids::{EventId, PostId, UserId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A post a user liked or uploaded: an image and/or its caption, and optionally the
/// interests it carries.
///
/// Until an [`InterestExtractor`](crate::InterestExtractor) is configured on the engine,
/// interests must be given explicitly with [`Post::with_interests`]; the engine refuses a
/// post it cannot extract interests from rather than guessing.
///
/// ```
/// use sociallens::Post;
/// let post = Post::new("post-7")
///     .with_caption("a dog catching a frisbee in a park")
///     .with_interests(["dog", "frisbee", "park"])
///     .by("user-1");
/// assert_eq!(post.id, "post-7");
/// assert_eq!(post.interests.as_deref().unwrap().len(), 3);
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Post {
    /// The post's id (validated when the post reaches the engine).
    pub id: String,
    /// The user who uploaded it, if known.
    pub author: Option<String>,
    /// Encoded image bytes (JPEG, PNG, ...), to be captioned by the configured captioner.
    pub image: Option<Vec<u8>>,
    /// The caption, when the platform already has one.
    pub caption: Option<String>,
    /// Interests chosen by the caller; bypasses extraction when set.
    pub interests: Option<Vec<String>>,
}

impl fmt::Debug for Post {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Post")
            .field("id", &self.id)
            .field("author", &self.author)
            .field(
                "image",
                &self.image.as_ref().map(|b| format!("{} bytes", b.len())),
            )
            .field("caption", &self.caption)
            .field("interests", &self.interests)
            .finish()
    }
}

impl Post {
    /// A post with only an id: enough to like a post the store already knows.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Sets the caption text.
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// Sets the encoded image bytes.
    pub fn with_image(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.image = Some(bytes.into());
        self
    }

    /// Sets the interests explicitly.
    pub fn with_interests<I, S>(mut self, interests: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.interests = Some(interests.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the author.
    pub fn by(mut self, author: impl Into<String>) -> Self {
        self.author = Some(author.into());
        self
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The user liked a post.
    Like,
    /// The user uploaded a post.
    Upload,
    /// The user took back a like.
    Unlike,
    /// The user clicked an ad or a product.
    Click,
    /// The user was shown an ad or a product.
    Impression,
}

impl EventKind {
    /// The lowercase name used in storage and in the bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Like => "like",
            EventKind::Upload => "upload",
            EventKind::Unlike => "unlike",
            EventKind::Click => "click",
            EventKind::Impression => "impression",
        }
    }

    /// Parses [`EventKind::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "like" => EventKind::Like,
            "upload" => EventKind::Upload,
            "unlike" => EventKind::Unlike,
            "click" => EventKind::Click,
            "impression" => EventKind::Impression,
            _ => return None,
        })
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The weight one signal added to (or, for an unlike, removed from) one term.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TermDelta {
    /// The interest term.
    pub term: String,
    /// The weight added at the event's time (negative when removed).
    pub weight: f64,
}

/// An event as stored: who did what to which post, when, and what it added to the profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event's id; replaying it changes nothing.
    pub id: EventId,
    /// Who did it.
    pub user: UserId,
    /// What was done.
    pub kind: EventKind,
    /// The post it was done to, for likes, uploads and unlikes.
    pub post: Option<PostId>,
    /// The ad or product it was done to, for clicks and impressions.
    pub item: Option<String>,
    /// When it happened.
    pub at: Timestamp,
    /// What it added to the user's profile, term by term, at `at`.
    pub deltas: Vec<TermDelta>,
}

/// One interest of a user, with its weight decayed to the time it was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interest {
    /// The interest term ("dog", "teddy bear").
    pub term: String,
    /// Decayed weight at the time of reading.
    pub weight: f64,
    /// How many signals that still count touched this term.
    pub count: u64,
    /// The latest time a signal that still counts touched this term.
    pub last_seen: Timestamp,
}

/// A user's interests, strongest first, as of one moment.
///
/// ```
/// use sociallens::{Interest, InterestProfile, Timestamp, UserId};
/// let t = Timestamp::from_millis(0);
/// let p = InterestProfile::new(
///     UserId::new("u")?,
///     t,
///     vec![
///         Interest { term: "cat".into(), weight: 1.0, count: 1, last_seen: t },
///         Interest { term: "dog".into(), weight: 3.0, count: 3, last_seen: t },
///     ],
/// );
/// assert_eq!(p.top_k(1)[0].term, "dog");
/// assert_eq!(p.get("cat").unwrap().count, 1);
/// # Ok::<(), sociallens::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterestProfile {
    /// Whose profile.
    pub user: UserId,
    /// The moment weights were decayed to.
    pub as_of: Timestamp,
    /// Interests sorted by weight (descending), ties by term.
    pub interests: Vec<Interest>,
}

impl InterestProfile {
    /// Builds a profile, sorting the interests strongest first.
    pub fn new(user: UserId, as_of: Timestamp, mut interests: Vec<Interest>) -> Self {
        crate::profile::sort_strongest_first(&mut interests);
        Self {
            user,
            as_of,
            interests,
        }
    }

    /// The `k` strongest interests.
    pub fn top_k(&self, k: usize) -> &[Interest] {
        &self.interests[..k.min(self.interests.len())]
    }

    /// The interest with this term, if the user has it.
    pub fn get(&self, term: &str) -> Option<&Interest> {
        self.interests.iter().find(|i| i.term == term)
    }

    /// Whether the user has no interests.
    pub fn is_empty(&self) -> bool {
        self.interests.is_empty()
    }
}
