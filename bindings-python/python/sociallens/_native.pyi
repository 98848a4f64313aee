# Type stub of the native module. tests/test_stub.py checks it against the compiled module.
import builtins
import pathlib
from datetime import date, datetime, timedelta
from os import PathLike
from typing import Any, Literal, Mapping, Sequence, TypedDict

__version__: str

ExportDataset = Literal[
    "captions", "posts", "interests", "events", "ad_events", "catalog", "opt_outs", "neighbours", "audiences"
]
# What import_files did for one dataset (a plain dict at run time).
ImportReport = TypedDict(
    "ImportReport",
    {"dataset": str, "rows": int, "applied": int, "unchanged": int, "conflicts": int},
)

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
class PrivacyError(SocialLensError, PermissionError):
    """Refused to protect users' privacy (an audience size below the minimum)."""

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
    def opt_outs(self) -> int: ...
    @property
    def cached_answers(self) -> int: ...
    @property
    def audiences(self) -> int: ...
    @property
    def neighbours(self) -> int: ...
    @property
    def total(self) -> int: ...

class Captioner:
    """The ViT-GPT2 image captioner, token-identical to Hugging Face's pipeline."""
    @staticmethod
    def from_dir(path: str | PathLike[str], *, kernels: str = "auto") -> Captioner:
        """kernels: "auto" (token-exact CPU path on the CPU), "cpu", "candle", or "cpu-f16"
        (f16 decoder weights: faster decoding, not guaranteed token-exact)."""
    @staticmethod
    def from_hub(
        repo: str = "nlpconnect/vit-gpt2-image-captioning", *, kernels: str = "auto"
    ) -> Captioner: ...
    @property
    def kernels(self) -> str:
        """How the model runs: "cpu", "cpu-f16" or "candle"."""
    @property
    def model_id(self) -> str:
        """The model and generation settings that the caption cache keys captions by."""
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

class ManualClock:
    """A clock that moves only when told to: the engine's "now" in simulations and tests."""
    def __init__(self, at: datetime | float) -> None: ...
    def now(self) -> datetime: ...
    def set(self, at: datetime | float) -> None: ...
    def advance(self, by: timedelta | float) -> None: ...

class AdsConfig:
    """Tuning of ad selection and audiences."""
    def __init__(
        self,
        *,
        interest_weight: float = 1.0,
        lookalike_weight: float = 0.5,
        lookalike_neighbors: int = 30,
        min_audience_size: int = 50,
        semantic_threshold: float = 0.6,
        candidate_budget: int = 20000,
        audience_min_score: float = 0.05,
    ) -> None: ...
    @property
    def interest_weight(self) -> float: ...
    @property
    def lookalike_weight(self) -> float: ...
    @property
    def lookalike_neighbors(self) -> int: ...
    @property
    def min_audience_size(self) -> int: ...
    @property
    def semantic_threshold(self) -> float: ...
    @property
    def candidate_budget(self) -> int: ...
    @property
    def audience_min_score(self) -> float: ...

AdStatus = Literal["active", "paused", "removed"]

class Ad:
    """An ad: advertiser, creative, landing page, category, targeting, dates, caps, status."""
    def __init__(
        self,
        id: str,
        advertiser: str,
        title: str,
        category: str,
        *,
        interests: Sequence[str] | None = None,
        excluded_categories: Sequence[str] | None = None,
        creative_url: str | None = None,
        landing_url: str | None = None,
        start: datetime | float | None = None,
        end: datetime | float | None = None,
        cap_per_day: int | None = None,
        cap_lifetime: int | None = None,
        status: AdStatus = "active",
    ) -> None: ...
    @property
    def id(self) -> str: ...
    @property
    def advertiser(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def interests(self) -> list[str]: ...
    @property
    def excluded_categories(self) -> list[str]: ...
    @property
    def creative_url(self) -> str | None: ...
    @property
    def landing_url(self) -> str | None: ...
    @property
    def start(self) -> datetime | None: ...
    @property
    def end(self) -> datetime | None: ...
    @property
    def cap_per_day(self) -> int | None: ...
    @property
    def cap_lifetime(self) -> int | None: ...
    @property
    def status(self) -> AdStatus: ...
    def to_dict(self) -> dict[str, Any]:
        """The ad as a dict with the constructor's keys."""

class MatchedInterest:
    """One interest of the user that matched one targeting term of an ad."""
    @property
    def interest(self) -> str: ...
    @property
    def ad_term(self) -> str: ...
    @property
    def kind(self) -> Literal["exact", "lemma", "compound", "semantic"]: ...
    @property
    def strength(self) -> float: ...
    @property
    def weight(self) -> float: ...

class AdMatch:
    """An ad chosen for a user, with why."""
    @property
    def ad(self) -> Ad: ...
    @property
    def score(self) -> float: ...
    @property
    def interest_score(self) -> float: ...
    @property
    def lookalike_score(self) -> float: ...
    @property
    def matched(self) -> list[MatchedInterest]: ...
    @property
    def similar_users_engaged(self) -> int: ...
    @property
    def neighbours_computed_at(self) -> datetime | None: ...

class SimilarUser:
    """Another user whose interests resemble the user's."""
    @property
    def user(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def shared(self) -> list[str]: ...
    @property
    def computed_at(self) -> datetime | None: ...

class AudienceMember:
    """One user of an audience."""
    @property
    def user(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def matched(self) -> list[str]: ...

class IndexStats:
    """What the in-memory ads index holds."""
    @property
    def users(self) -> int: ...
    @property
    def ads(self) -> int: ...
    @property
    def terms(self) -> int: ...

class NeighbourStats:
    """What build_neighbours wrote."""
    @property
    def users(self) -> int: ...
    @property
    def neighbours(self) -> int: ...
    @property
    def computed_at(self) -> datetime: ...

Dimension = Literal["category", "ad", "hour", "day_of_week", "date"]

class ReportRow:
    """One group of a click report; dimensions it was not grouped by are None."""
    @property
    def category(self) -> str | None: ...
    @property
    def ad(self) -> str | None: ...
    @property
    def hour(self) -> int | None: ...
    @property
    def day_of_week(self) -> int | None: ...
    @property
    def date(self) -> date | None: ...
    @property
    def impressions(self) -> int: ...
    @property
    def clicks(self) -> int: ...
    @property
    def ctr(self) -> float | None: ...

class Report:
    """A click report: rows, totals, and what it covers."""
    @property
    def rows(self) -> list[ReportRow]: ...
    @property
    def impressions(self) -> int: ...
    @property
    def clicks(self) -> int: ...
    @property
    def ctr(self) -> float | None: ...
    @property
    def group_by(self) -> tuple[Dimension, ...]: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def start(self) -> datetime | None: ...
    @property
    def end(self) -> datetime | None: ...
    def to_dicts(self) -> list[dict[str, Any]]: ...
    def to_csv(self) -> str: ...
    def to_pandas(self) -> Any:
        """A pandas DataFrame; needs pandas (`pip install 'sociallens[plots]'`)."""
    def __len__(self) -> int: ...

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
        ads_config: AdsConfig | None = None,
        clock: ManualClock | None = None,
        serving: Literal["index", "stateless"] = "index",
        inventory_ttl: float = 60.0,
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
    def add_ads(self, ads: Sequence[Ad | Mapping[str, Any]] | str | PathLike[str]) -> int: ...
    def ads(self) -> list[Ad]: ...
    def ad(self, ad_id: str) -> Ad | None: ...
    def pause_ad(self, ad_id: str) -> None: ...
    def resume_ad(self, ad_id: str) -> None: ...
    def remove_ad(self, ad_id: str) -> bool: ...
    def similar_users(self, user: str, k: int = 10) -> list[SimilarUser]: ...
    def ads_for(self, user: str, k: int = 5) -> list[AdMatch]: ...
    def audience(
        self,
        interests: Sequence[str] | None = None,
        ad: str | None = None,
        limit: int = 100,
    ) -> list[AudienceMember]:
        """Raises PrivacyError below AdsConfig.min_audience_size."""
    def audience_bypassing_privacy_minimum(
        self,
        interests: Sequence[str] | None = None,
        ad: str | None = None,
        limit: int = 100,
    ) -> list[AudienceMember]:
        """audience() without the privacy minimum: for the platform's trusted jobs only."""
    def audience_size(self, interests: Sequence[str] | None = None, ad: str | None = None) -> int:
        """Raises PrivacyError below AdsConfig.min_audience_size."""
    def record_impression(
        self,
        user: str,
        ad: str,
        event_id: str | None = None,
        at: datetime | float | None = None,
    ) -> EventOutcome: ...
    def record_click(
        self,
        user: str,
        ad: str,
        event_id: str | None = None,
        at: datetime | float | None = None,
    ) -> EventOutcome: ...
    def set_opt_out(self, user: str, category: str, opted_out: bool = True) -> None: ...
    def opt_outs(self, user: str) -> list[str]: ...
    def click_report(
        self,
        group_by: Dimension | Sequence[Dimension] = ("category", "hour"),
        start: datetime | float | None = None,
        end: datetime | float | None = None,
        time_zone: str = "UTC",
    ) -> Report: ...
    def refresh_index(self) -> IndexStats: ...
    def build_neighbours(self, k: int = 50) -> NeighbourStats: ...
    def forget_user(self, user: str) -> ForgetReport: ...
    def export(
        self,
        dir: str | PathLike[str],
        datasets: Sequence[ExportDataset] | None = None,
        format: Literal["parquet", "ndjson"] = "parquet",
    ) -> dict[str, pathlib.Path]:
        """Writes the store's records to `dir` (one file per dataset, manifest.json last);
        returns each dataset's file."""
    def import_files(
        self, path: str | PathLike[str], dataset: ExportDataset | None = None
    ) -> list[ImportReport]:
        """Reads export files (a manifest dir, a file, or Spark part files) back into the
        store, each file checked before any row is applied."""

def extract_interests(
    captions: Sequence[str],
    mode: Literal["interests", "textblob"] = "interests",
    nltk_model_dir: str | PathLike[str] | None = None,
) -> list[list[str]]:
    """The interests of each caption (batch; the GIL is released)."""

def _panic_for_tests(message: str) -> None: ...
def _raise_for_tests(code: str) -> None: ...
