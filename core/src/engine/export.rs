//! [`Engine::export`] and [`Engine::import`]: the engine's store, decay and clock handed to
//! the export module.

use super::Engine;
use crate::error::Result;
use crate::export::{ExportOptions, ExportSummary, ImportOptions, ImportReport};

impl Engine {
    /// Writes the store's records to an export directory (Parquet or NDJSON, format v1;
    /// see [`crate::export`]), reading the store page by page: memory stays bounded by the
    /// page size and one row group, whatever the store holds. Interest weights are decayed
    /// to the engine's clock, which the manifest records as `exported_at`.
    ///
    /// ```
    /// use sociallens::export::{Dataset, ExportOptions, Format};
    /// use sociallens::{Engine, Post};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let engine = Engine::builder().store_url("memory://").build()?;
    /// engine.record_like("ana", Post::new("p1").with_interests(["wave"])).await?;
    /// let opts = ExportOptions::new(dir.path()).format(Format::Ndjson);
    /// let summary = engine.export(&opts).await?;
    /// let interests = summary.dataset(Dataset::Interests).unwrap();
    /// assert_eq!(interests.rows, 1);
    /// let text = std::fs::read_to_string(&interests.files[0]).unwrap();
    /// assert!(text.contains("\"term\":\"wave\""));
    /// assert!(dir.path().join("manifest.json").is_file());
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn export(&self, opts: &ExportOptions) -> Result<ExportSummary> {
        crate::export::export_store(
            self.inner.store.as_ref(),
            self.inner.decay,
            self.now(),
            opts,
        )
        .await
    }

    /// Reads export files back into the store: a whole export directory, one dataset file,
    /// or a directory of part files (Spark's output). Every file is checked before any row
    /// is applied, so a bad file is [`Error::InvalidInput`](crate::Error::InvalidInput) and
    /// changes nothing; events are replayed through the store's own event logic, so
    /// importing the same files twice changes nothing (every row `unchanged`).
    ///
    /// ```
    /// use sociallens::export::{Dataset, ExportOptions, ImportOptions};
    /// use sociallens::{Engine, Post};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let a = Engine::builder().store_url("memory://").build()?;
    /// a.record_like("ana", Post::new("p1").with_interests(["wave"])).await?;
    /// a.export(&ExportOptions::new(dir.path()).datasets([Dataset::Events])).await?;
    /// let b = Engine::builder().store_url("memory://").build()?;
    /// let file = dir.path().join("events.parquet");
    /// let first = b.import(&ImportOptions::new(&file)).await?;
    /// assert_eq!(first[0].applied, 1);
    /// let again = b.import(&ImportOptions::new(&file)).await?;
    /// assert_eq!((again[0].applied, again[0].unchanged), (0, 1));
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn import(&self, opts: &ImportOptions) -> Result<Vec<ImportReport>> {
        let reports =
            crate::export::import_into(self.inner.store.as_ref(), self.inner.decay, opts).await?;
        if reports.iter().any(|r| r.applied > 0) {
            self.imported().await?;
        }
        Ok(reports)
    }
}
