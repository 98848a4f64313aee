# Type stub of the native module. tests/test_stub.py checks it against the compiled module.
import builtins
from datetime import datetime
from os import PathLike
from typing import Literal, Sequence

__version__: str

class SocialLensError(Exception):
    """Base class of every error sociallens raises."""
    code: str

class InvalidInputError(SocialLensError, ValueError): ...
class ConflictError(SocialLensError, ValueError): ...
class NotFoundError(SocialLensError, LookupError): ...
class ConfigError(SocialLensError, ValueError): ...
class StorageError(SocialLensError, OSError): ...
class ModelError(SocialLensError, RuntimeError): ...
class UnsupportedError(SocialLensError, NotImplementedError): ...
class InternalError(SocialLensError, RuntimeError): ...

class RateLimitError(SocialLensError, RuntimeError):
    retry_after: float | None

class HttpError(SocialLensError, OSError):
    status: int
    request_id: str | None

class TimeoutError(SocialLensError, builtins.TimeoutError): ...

class Interest:
    """One interest of a user, weight decayed to when it was read."""
    @property
    def term(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def count(self) -> int: ...
    @property
    def last_seen(self) -> datetime: ...

class EventOutcome:
    """What recording an event did."""
    @property
    def event_id(self) -> str: ...
    @property
    def status(self) -> str:
        """"applied", "duplicate", "already_active" or "nothing_to_undo"."""
    @property
    def caption(self) -> str | None: ...
    @property
    def interests(self) -> list[str]: ...
    @property
    def deltas(self) -> list[tuple[str, float]]: ...

class ForgetReport:
    """Rows removed by forget_user."""
    @property
    def interests(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def active_signals(self) -> int: ...
    @property
    def posts(self) -> int: ...
    @property
    def captions(self) -> int: ...
    @property
    def total(self) -> int: ...

class Engine:
    """Turns likes and uploads into decaying interest profiles kept in a store."""
    def __init__(
        self,
        store: str,
        *,
        extractor: Literal["interests", "textblob", "none"] = "interests",
        half_life_days: float | None = 30.0,
        like_weight: float = 1.0,
        upload_weight: float = 2.0,
        click_weight: float = 0.5,
        impression_weight: float = 0.0,
    ) -> None: ...
    def record_like(
        self,
        user: str,
        post_id: str,
        image: bytes | bytearray | None = None,
        caption: str | None = None,
        interests: Sequence[str] | None = None,
        event_id: str | None = None,
        author: str | None = None,
        at: datetime | float | None = None,
    ) -> EventOutcome: ...
    def record_upload(
        self,
        user: str,
        post_id: str,
        image: bytes | bytearray | None = None,
        caption: str | None = None,
        interests: Sequence[str] | None = None,
        event_id: str | None = None,
        at: datetime | float | None = None,
    ) -> EventOutcome: ...
    def unlike(
        self,
        user: str,
        post_id: str,
        event_id: str | None = None,
        at: datetime | float | None = None,
    ) -> EventOutcome: ...
    def interests(self, user: str, k: int = 10) -> list[Interest]: ...
    def forget_user(self, user: str) -> ForgetReport: ...

def extract_interests(
    captions: Sequence[str],
    mode: Literal["interests", "textblob"] = "interests",
    nltk_model_dir: str | PathLike[str] | None = None,
) -> list[list[str]]:
    """The interests of each caption (batch; the GIL is released)."""

def _panic_for_tests(message: str) -> None: ...
def _raise_for_tests(code: str) -> None: ...
