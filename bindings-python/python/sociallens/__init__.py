"""sociallens: image likes and uploads to user interests, recommendations and ads.

The work happens in a Rust core (``sociallens._native``); this package re-exports it.
Plotly figures of click reports are in ``sociallens.plots`` (``pip install 'sociallens[plots]'``).

>>> import sociallens
>>> engine = sociallens.Engine("memory://")
>>> _ = engine.record_like("user-42", "post-7", caption="two giraffes standing in a zoo")
>>> [i.term for i in engine.interests("user-42")]
['giraffe', 'zoo']
>>> sociallens.extract_interests(["a man holding a cell phone next to a teddy bear"])
[['cell phone', 'teddy bear']]
"""

from ._native import (
    Ad,
    AdMatch,
    AdsConfig,
    AudienceMember,
    Captioner,
    ConfigError,
    ConflictError,
    Engine,
    EventOutcome,
    ForgetReport,
    HttpError,
    IndexStats,
    NeighbourStats,
    Interest,
    InternalError,
    InvalidInputError,
    ManualClock,
    MatchedInterest,
    MiniLmEmbedder,
    ModelError,
    NotFoundError,
    OpenAiCompatible,
    PrivacyError,
    Product,
    RateLimitError,
    Recommendation,
    Report,
    ReportRow,
    SimilarUser,
    SocialLensError,
    StorageError,
    TimeoutError,
    UnsupportedError,
    __version__,
    extract_interests,
)

__all__ = [
    "Ad",
    "AdMatch",
    "AdsConfig",
    "AudienceMember",
    "Captioner",
    "ConfigError",
    "ConflictError",
    "Engine",
    "EventOutcome",
    "ForgetReport",
    "HttpError",
    "IndexStats",
    "NeighbourStats",
    "Interest",
    "InternalError",
    "InvalidInputError",
    "ManualClock",
    "MatchedInterest",
    "MiniLmEmbedder",
    "ModelError",
    "NotFoundError",
    "OpenAiCompatible",
    "PrivacyError",
    "Product",
    "RateLimitError",
    "Recommendation",
    "Report",
    "ReportRow",
    "SimilarUser",
    "SocialLensError",
    "StorageError",
    "TimeoutError",
    "UnsupportedError",
    "__version__",
    "extract_interests",
]
