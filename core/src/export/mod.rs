//! Warehouse export and import: every store's records as Parquet or NDJSON files (format
//! v1), written while scanning the store page by page, and read back into any store.
//!
//! An export directory holds one file per dataset (`DIR/<dataset>.parquet` or `.ndjson`) and
//! `DIR/manifest.json`, written last, so a reader that sees the manifest knows the export is
//! complete. Import accepts such a directory, one dataset file, or a directory of part files
//! as Spark writes them (`part-*.parquet`, `_SUCCESS` and `.crc` files ignored).
//!
//! Every file is checked whole (schema and every value) before any of its rows is applied:
//! a bad file is [`Error::InvalidInput`] naming the file and column, and nothing of it (nor
//! of the other files of the same import) reaches the store. Importing the same files again
//! changes nothing: every row is reported `unchanged`.
//!
//! ```
//! use sociallens::export::{Dataset, ExportOptions, ImportOptions};
//! use sociallens::{Engine, Post};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let source = Engine::builder().store_url("memory://").build()?;
//! source.record_like("ana", Post::new("p1").with_interests(["surfboard"])).await?;
//! let summary = source.export(&ExportOptions::new(dir.path().join("out"))).await?;
//! assert_eq!(summary.dataset(Dataset::Events).unwrap().rows, 1);
//!
//! let restored = Engine::builder().store_url("memory://").build()?;
//! let reports = restored.import(&ImportOptions::new(dir.path().join("out"))).await?;
//! let events = reports.iter().find(|r| r.dataset == Dataset::Events).unwrap();
//! assert_eq!((events.rows, events.applied), (1, 1));
//! assert_eq!(restored.interests("ana", 5).await?[0].term, "surfboard");
//! # Ok::<(), sociallens::Error>(()) }).unwrap();
//! ```

mod columns;
mod ndjson;
mod parquet_io;
mod read;
mod write;

pub use columns::Dataset;
pub(crate) use read::import_into;
pub(crate) use write::export_store;

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file format of an export.
///
/// ```
/// use sociallens::export::Format;
/// assert_eq!(Format::parse("NDJSON")?, Format::Ndjson);
/// assert_eq!(Format::default().extension(), "parquet");
/// # Ok::<(), sociallens::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Apache Parquet, SNAPPY-compressed (the default).
    #[default]
    Parquet,
    /// Newline-delimited JSON.
    Ndjson,
}

impl Format {
    /// The file extension (`parquet`, `ndjson`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Ndjson => "ndjson",
        }
    }

    /// Parses `parquet` or `ndjson` (also `jsonl`).
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "parquet" => Ok(Format::Parquet),
            "ndjson" | "jsonl" | "json" => Ok(Format::Ndjson),
            other => Err(crate::Error::invalid(format!(
                "unknown export format {other:?}: use parquet or ndjson"
            ))),
        }
    }
}

/// Records read from the store per page while exporting (and rows applied per batch while
/// importing), unless the options say otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// What [`Engine::export`](crate::Engine::export) writes.
///
/// ```
/// use sociallens::export::{Dataset, ExportOptions, Format};
/// let opts = ExportOptions::new("/tmp/export")
///     .datasets([Dataset::Captions, Dataset::Events])
///     .format(Format::Ndjson);
/// assert_eq!(opts.page_size, 1000);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    /// The export directory (created if missing; files of the same names are replaced).
    pub dir: PathBuf,
    /// The datasets to write; `None`: all of them.
    pub datasets: Option<Vec<Dataset>>,
    /// Parquet or NDJSON.
    pub format: Format,
    /// Records read from the store per page.
    pub page_size: usize,
}

impl ExportOptions {
    /// Every dataset, as Parquet, into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            datasets: None,
            format: Format::Parquet,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Only these datasets.
    pub fn datasets(mut self, datasets: impl IntoIterator<Item = Dataset>) -> Self {
        self.datasets = Some(datasets.into_iter().collect());
        self
    }

    /// The file format.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Records per store page.
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }
}

/// One dataset of an export.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExportedDataset {
    /// Which.
    pub dataset: Dataset,
    /// Its files, in order.
    pub files: Vec<PathBuf>,
    /// Rows written.
    pub rows: u64,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExportSummary {
    /// The export directory.
    pub dir: PathBuf,
    /// The manifest (written last).
    pub manifest: PathBuf,
    /// The time weights were decayed to and the manifest carries (the engine's clock).
    pub exported_at: Timestamp,
    /// The format.
    pub format: Format,
    /// Each dataset written, in the order written.
    pub datasets: Vec<ExportedDataset>,
}

impl ExportSummary {
    /// The entry of one dataset, if it was exported.
    pub fn dataset(&self, d: Dataset) -> Option<&ExportedDataset> {
        self.datasets.iter().find(|x| x.dataset == d)
    }
}

/// What [`Engine::import`](crate::Engine::import) reads.
///
/// ```
/// use sociallens::export::{Dataset, ImportOptions};
/// let whole = ImportOptions::new("/tmp/export");
/// let spark = ImportOptions::new("/tmp/spark-out/captions").dataset(Dataset::Captions);
/// assert_eq!(spark.dataset, Some(Dataset::Captions));
/// # let _ = whole;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ImportOptions {
    /// A directory with `manifest.json` (every importable dataset of it), a dataset file, or
    /// a directory of part files of one dataset.
    pub path: PathBuf,
    /// The dataset of a file or part directory; `None`: from the file's key-value metadata
    /// (`sociallens.dataset`), else from the file's (or directory's) name.
    pub dataset: Option<Dataset>,
    /// Rows applied per batch (events are replayed in time order within a batch).
    pub page_size: usize,
}

impl ImportOptions {
    /// Imports `path`, the dataset inferred.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            dataset: None,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// The dataset of the file or part directory.
    pub fn dataset(mut self, d: Dataset) -> Self {
        self.dataset = Some(d);
        self
    }
}

/// What importing one dataset did, row by row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The dataset.
    pub dataset: Dataset,
    /// Rows read.
    pub rows: u64,
    /// Rows that changed the store.
    pub applied: u64,
    /// Rows the store already held as they are (a re-import: all of them).
    pub unchanged: u64,
    /// Events whose id the store holds for a different event: counted, not applied.
    pub conflicts: u64,
}

pub(crate) const MANIFEST: &str = "manifest.json";

/// The manifest of an export directory.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub exported_at: String,
    pub store: String,
    pub datasets: std::collections::BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    pub files: Vec<String>,
    pub rows: u64,
}

/// Whether a file is Parquet (by its magic bytes, whatever its name).
pub(crate) fn is_parquet(path: &Path) -> crate::Result<bool> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)
        .map_err(|e| crate::Error::storage(format!("opening {}", path.display()), e))?;
    let mut magic = [0u8; 4];
    Ok(f.read_exact(&mut magic).is_ok() && &magic == b"PAR1")
}
