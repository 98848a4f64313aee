# Type stub of the native module. tests/test_stub.py checks it against the compiled module.
import builtins
from datetime import datetime
from os import PathLike
from typing import Any, Literal, Mapping, Sequence

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

class Captioner:
    """The ViT-GPT2 image captioner, token-identical to Hugging Face's pipeline."""
    @staticmethod
    def from_dir(path: str | PathLike[str]) -> Captioner: ...
    @staticmethod
    def from_hub(repo: str = "nlpconnect/vit-gpt2-image-captioning") -> Captioner: ...
    def caption(self, images: Sequence[bytes | bytearray | str | PathLike[str] | Any]) -> list[str]:
        """One caption per image: bytes, paths or PIL images (the GIL is released)."""

class MiniLmEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d unit vectors)."""
    @staticmethod
    def from_dir(path: str | PathLike[str]) -> MiniLmEmbedder: ...
    @staticmethod
    def from_hub(repo: str = "sentence-transformers/all-MiniLM-L6-v2") -> MiniLmEmbedder: ...
    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

class OpenAiCompatible:
    """A client for any OpenAI-compatible chat-completions server."""
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        headers: Sequence[tuple[str, str]] | None = None,
        request_timeout: float = 60.0,
        deadline: float = 180.0,
        max_retries: int = 4,
        requests_per_minute: int | None = None,
    ) -> None: ...
    @staticmethod
    def from_env() -> OpenAiCompatible: ...

class Product:
    """A product of the catalog."""
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def keywords(self) -> list[str]: ...
    @property
    def price(self) -> float | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def image_url(self) -> str | None: ...

class Recommendation:
    """One recommended product, with why."""
    @property
    def product(self) -> Product | None: ...
    @property
    def name(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def matched_interests(self) -> list[str]: ...
    @property
    def matched(self) -> list[str]: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def source(self) -> Literal["catalog", "llm"]: ...
    @property
    def in_catalog(self) -> bool: ...

class Engine:
    """Turns likes and uploads into decaying interest profiles kept in a store."""
    def __init__(
        self,
        store: str,
        *,
        captioner: Captioner | None = None,
        extractor: Literal["interests", "textblob", "none"] = "interests",
        llm: OpenAiCompatible | None = None,
        embedder: MiniLmEmbedder | None = None,
        llm_cache_ttl: float = 86400.0,
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
    def add_products(self, items: Sequence[Mapping[str, Any]] | str | PathLike[str]) -> int: ...
    def products(self) -> list[Product]: ...
    def remove_product(self, product_id: str) -> bool: ...
    def recommend_products(self, user: str, k: int = 5) -> list[Recommendation]: ...
    def forget_user(self, user: str) -> ForgetReport: ...

def extract_interests(
    captions: Sequence[str],
    mode: Literal["interests", "textblob"] = "interests",
    nltk_model_dir: str | PathLike[str] | None = None,
) -> list[list[str]]:
    """The interests of each caption (batch; the GIL is released)."""

def _panic_for_tests(message: str) -> None: ...
def _raise_for_tests(code: str) -> None: ...
