"""sociallens: image likes and uploads to user interests, recommendations and ads.

The work happens in a Rust core (``sociallens._native``); this package re-exports it.

>>> import sociallens
>>> engine = sociallens.Engine("memory://")
>>> _ = engine.record_like("user-42", "post-7", interests=["giraffe", "zoo"])
>>> [i.term for i in engine.interests("user-42")]
['giraffe', 'zoo']
"""

from ._native import (
    ConfigError,
    ConflictError,
    Engine,
    EventOutcome,
    ForgetReport,
    Interest,
    InternalError,
    InvalidInputError,
    ModelError,
    NotFoundError,
    SocialLensError,
    StorageError,
    UnsupportedError,
    __version__,
)

__all__ = [
    "ConfigError",
    "ConflictError",
    "Engine",
    "EventOutcome",
    "ForgetReport",
    "Interest",
    "InternalError",
    "InvalidInputError",
    "ModelError",
    "NotFoundError",
    "SocialLensError",
    "StorageError",
    "UnsupportedError",
    "__version__",
]
