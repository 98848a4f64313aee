//! Python bindings of sociallens: thin wrappers that convert types, release the GIL around
//! store work, and map core errors to Python exceptions.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use sociallens as core;
use sociallens::interests::NounExtractor;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
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
        "MODEL" => "ModelError",
        "UNSUPPORTED" => "UnsupportedError",
        "RATE_LIMITED" => "RateLimitError",
        "HTTP" => "HttpError",
        "TIMEOUT" => "TimeoutError",
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

fn to_datetime<'py>(py: Python<'py>, t: core::Timestamp) -> PyResult<Bound<'py, PyAny>> {
    let dt = py.import("datetime")?;
    let utc = dt.getattr("timezone")?.getattr("utc")?;
    dt.getattr("datetime")?
        .getattr("fromtimestamp")?
        .call1((t.as_secs_f64(), utc))
}

/// Accepts a `datetime` (naive ones are local time, as in Python) or epoch seconds.
fn from_time(at: Option<&Bound<'_, PyAny>>) -> PyResult<Option<core::Timestamp>> {
    let Some(at) = at else { return Ok(None) };
    let secs: f64 = if at.hasattr("timestamp")? {
        at.call_method0("timestamp")?.extract()?
    } else {
        at.extract().map_err(|_| {
            PyTypeError::new_err("`at` must be a datetime or seconds since the epoch")
        })?
    };
    core::Timestamp::from_secs_f64(secs)
        .map(Some)
        .ok_or_else(|| {
            to_py_err(core::Error::InvalidInput(format!(
                "`at` is out of range: {secs}"
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

/// Rows `forget_user` removed, per kind, and their `total`.
#[pyclass(module = "sociallens", frozen, get_all)]
struct ForgetReport {
    interests: u64,
    events: u64,
    active_signals: u64,
    posts: u64,
    captions: u64,
    total: u64,
}

#[pymethods]
impl ForgetReport {
    fn __repr__(&self) -> String {
        format!(
            "ForgetReport(interests={}, events={}, active_signals={}, posts={}, captions={})",
            self.interests, self.events, self.active_signals, self.posts, self.captions
        )
    }
}

// ---------------------------------------------------------------------------------------
// Engine

/// Turns likes and uploads into decaying interest profiles kept in a store.
///
/// `store` is a URL: `"sqlite:///path/to.db"` (embedded, persistent) or `"memory://"`.
/// A post's interests are taken from `interests=[...]` when given, else from the store (a
/// post seen before), else extracted from its caption by `extractor` ("interests", the
/// default; "textblob"; or "none" to require explicit interests). Every method releases the
/// GIL while it works.
#[pyclass(module = "sociallens", frozen)]
struct Engine {
    inner: core::Engine,
    store_url: String,
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
    #[pyo3(signature = (store, *, extractor="interests", half_life_days=30.0, like_weight=1.0, upload_weight=2.0, click_weight=0.5, impression_weight=0.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        store: &str,
        extractor: &str,
        half_life_days: Option<f64>,
        like_weight: f64,
        upload_weight: f64,
        click_weight: f64,
        impression_weight: f64,
    ) -> PyResult<Self> {
        let decay = match half_life_days {
            None => core::Decay::none(),
            Some(d) if d == f64::INFINITY => core::Decay::none(),
            Some(d) if d.is_finite() && d > 0.0 => {
                core::Decay::half_life(Duration::from_secs_f64(d * 86_400.0)).map_err(to_py_err)?
            }
            Some(d) => {
                return Err(to_py_err(core::Error::InvalidInput(format!(
                    "half_life_days must be > 0 (or None for no decay), got {d}"
                ))))
            }
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
            .decay(decay);
        builder = match extractor {
            "none" => builder.no_extractor(),
            mode => builder.extractor(NounExtractor::for_mode(mode, None).map_err(to_py_err)?),
        };
        let inner = builder.build().map_err(to_py_err)?;
        Ok(Self {
            inner,
            store_url: store.to_string(),
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
        let post = signal_post(post_id, image, caption, interests, author);
        let opts = core::EventOptions {
            id: event_id,
            at: from_time(at.as_ref())?,
        };
        let engine = self.inner.clone();
        run(py, async move {
            engine.record_like_with(&user, post, opts).await
        })
        .map(Into::into)
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
        let post = signal_post(post_id, image, caption, interests, None);
        let opts = core::EventOptions {
            id: event_id,
            at: from_time(at.as_ref())?,
        };
        let engine = self.inner.clone();
        run(py, async move {
            engine.record_upload_with(&user, post, opts).await
        })
        .map(Into::into)
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
        let opts = core::EventOptions {
            id: event_id,
            at: from_time(at.as_ref())?,
        };
        let engine = self.inner.clone();
        run(py, async move {
            engine.unlike_with(&user, &post_id, opts).await
        })
        .map(Into::into)
    }

    /// The user's `k` strongest interests, weights decayed to now.
    #[pyo3(signature = (user, k=10))]
    fn interests(&self, py: Python<'_>, user: String, k: usize) -> PyResult<Vec<Interest>> {
        let engine = self.inner.clone();
        let list = run(py, async move { engine.interests(&user, k).await })?;
        list.into_iter()
            .map(|i| Interest::from_core(py, i))
            .collect()
    }

    /// Erases every record of the user from the store.
    fn forget_user(&self, py: Python<'_>, user: String) -> PyResult<ForgetReport> {
        let engine = self.inner.clone();
        let r = run(py, async move { engine.forget_user(&user).await })?;
        Ok(ForgetReport {
            total: r.total(),
            interests: r.interests,
            events: r.events,
            active_signals: r.active_signals,
            posts: r.posts,
            captions: r.captions,
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
    let mode = mode.to_string();
    run(py, async move {
        let ex = NounExtractor::for_mode(&mode, nltk_model_dir.as_deref())?;
        Ok(ex.extract_batch(&captions))
    })
}

/// Raises the exception a core error of this code maps to (tests check the mapping).
#[pyfunction]
fn _raise_for_tests(code: &str) -> PyResult<()> {
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
}

/// Panics inside the native boundary; the tests use it to prove a panic arrives as
/// `InternalError` and the interpreter survives.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    run(py, async move {
        if !message.is_empty() {
            panic!("{message}");
        }
        Ok(())
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
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(_raise_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(extract_interests, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
