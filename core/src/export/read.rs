//! Import: the files of each dataset checked whole (pass 1), then applied (pass 2).

use super::columns::{Cell, Dataset, Row};
use super::ndjson::NdjsonSource;
use super::parquet_io::{dataset_of, ParquetSource};
use super::{is_parquet, ImportOptions, ImportReport, Manifest, MANIFEST};
use crate::domain::{Event, EventKind, TermDelta};
use crate::error::{Error, Result};
use crate::ids::{EventId, PostId, UserId};
use crate::profile::Decay;
use crate::store::{
    same_event, AudienceEntry, CachedCaption, CatalogRecord, EventStatus, ItemKind, Neighbour,
    NeighbourList, OptOutRecord, PostRecord, Store,
};
use crate::time::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Lists handed to `put_neighbours` per call.
const LISTS_PER_CALL: usize = 100;

enum Source {
    Parquet(ParquetSource),
    Ndjson(NdjsonSource),
}

impl Source {
    fn open(path: &Path, d: Dataset) -> Result<Self> {
        Ok(if is_parquet(path)? {
            Source::Parquet(ParquetSource::open(path, d)?)
        } else {
            Source::Ndjson(NdjsonSource::open(path, d)?)
        })
    }
    fn next_row(&mut self) -> Option<Result<Vec<Cell>>> {
        match self {
            Source::Parquet(s) => s.next_row(),
            Source::Ndjson(s) => s.next_row(),
        }
    }
}

/// One imported record, as the store takes it.
enum Record {
    Caption(CachedCaption),
    Post(PostRecord),
    Event(Event),
    Catalog(CatalogRecord),
    OptOut(OptOutRecord),
    Neighbour {
        user: UserId,
        rank: i32,
        n: Neighbour,
        at: Timestamp,
    },
    Audience {
        ad: String,
        rank: i32,
        m: AudienceEntry,
        at: Timestamp,
    },
}

fn user(row: &Row<'_>, i: usize) -> Result<UserId> {
    UserId::new(row.str(i)?).map_err(|e| row.invalid(i, e))
}

/// The record a row stands for; any bad value is [`Error::InvalidInput`] naming the file,
/// row and column.
fn record(d: Dataset, row: &Row<'_>) -> Result<Record> {
    Ok(match d {
        Dataset::Captions => Record::Caption(CachedCaption {
            image_sha256: row.str(0)?,
            model: row.str(1)?,
            caption: row.str(2)?,
            created_at: row.ts(3)?,
        }),
        Dataset::Posts => Record::Post(PostRecord {
            id: PostId::new(row.str(0)?).map_err(|e| row.invalid(0, e))?,
            author: row
                .opt_str(1)?
                .map(UserId::new)
                .transpose()
                .map_err(|e| row.invalid(1, e))?,
            caption: row.opt_str(2)?,
            image_sha256: row.opt_str(3)?,
            interests: row.opt_str_list(4)?,
            created_at: row.ts(5)?,
        }),
        Dataset::Events => {
            let kind = EventKind::parse(&row.str(2)?).ok_or_else(|| {
                row.invalid(2, "expected like, upload, unlike, click or impression")
            })?;
            let terms = row.str_list(6)?;
            let weights = row.f64_list(7)?;
            if terms.len() != weights.len() {
                return Err(row.invalid(
                    7,
                    format!(
                        "{} weights for {} terms (the lists run in parallel)",
                        weights.len(),
                        terms.len()
                    ),
                ));
            }
            if let Some(w) = weights.iter().find(|w| !w.is_finite()) {
                return Err(row.invalid(7, format!("{w} is not a finite number")));
            }
            let post = row
                .opt_str(3)?
                .map(PostId::new)
                .transpose()
                .map_err(|e| row.invalid(3, e))?;
            if matches!(
                kind,
                EventKind::Like | EventKind::Upload | EventKind::Unlike
            ) && post.is_none()
            {
                return Err(row.invalid(3, format!("a {kind} needs a post")));
            }
            Record::Event(Event {
                id: EventId::new(row.str(0)?).map_err(|e| row.invalid(0, e))?,
                user: user(row, 1)?,
                kind,
                post,
                item: row.opt_str(4)?,
                at: row.ts(5)?,
                deltas: terms
                    .into_iter()
                    .zip(weights)
                    .map(|(term, weight)| TermDelta { term, weight })
                    .collect(),
            })
        }
        Dataset::Catalog => {
            let kind = match row.str(0)?.as_str() {
                "product" => ItemKind::Product,
                "ad" => ItemKind::Ad,
                other => return Err(row.invalid(0, format!("{other:?}: expected product or ad"))),
            };
            let body = serde_json::from_str(&row.str(3)?)
                .map_err(|e| row.invalid(3, format!("not JSON: {e}")))?;
            Record::Catalog(CatalogRecord {
                kind,
                id: row.str(1)?,
                category: row.opt_str(2)?,
                body,
                updated_at: row.ts(4)?,
            })
        }
        Dataset::OptOuts => Record::OptOut(OptOutRecord {
            user: user(row, 0)?,
            category: row.str(1)?,
            at: row.ts(2)?,
        }),
        Dataset::Neighbours => {
            let score = row.f64(3)?;
            if !(0.0..=1.0 + 1e-6).contains(&score) {
                return Err(row.invalid(3, format!("{score}: expected a cosine in 0..=1")));
            }
            let rank = i32::try_from(row.i64(2)?).map_err(|e| row.invalid(2, e))?;
            let owner = user(row, 0)?;
            if row.str(1)? == owner.as_str() {
                return Err(row.invalid(1, format!("{owner} is listed as their own neighbour")));
            }
            Record::Neighbour {
                user: owner,
                rank,
                n: Neighbour {
                    user: user(row, 1)?,
                    score,
                    shared_terms: row.str_list(4)?,
                },
                at: row.ts(5)?,
            }
        }
        Dataset::Audiences => Record::Audience {
            ad: row.str(0)?,
            rank: i32::try_from(row.i64(2)?).map_err(|e| row.invalid(2, e))?,
            m: AudienceEntry {
                user: user(row, 1)?,
                score: row.f64(3)?,
            },
            at: row.ts(4)?,
        },
        Dataset::Interests | Dataset::AdEvents => return Err(not_importable(d)),
    })
}

fn not_importable(d: Dataset) -> Error {
    match d {
        Dataset::Interests => Error::invalid(
            "the interests dataset cannot be imported: weights are derived from events; \
             import the events dataset instead (replaying it rebuilds the weights)",
        ),
        _ => Error::invalid(format!(
            "the {d} dataset is export-only (derived from events): import the events dataset instead"
        )),
    }
}

/// Every row of a dataset's files as records, a batch at a time (one file open at once).
struct Batches<'a> {
    d: Dataset,
    files: std::slice::Iter<'a, PathBuf>,
    current: Option<(String, Source, u64)>,
    batch: usize,
    rows: u64,
}

impl<'a> Batches<'a> {
    fn new(d: Dataset, files: &'a [PathBuf], batch: usize) -> Self {
        Self {
            d,
            files: files.iter(),
            current: None,
            batch,
            rows: 0,
        }
    }

    /// The next batch (never empty), or `None` after the last file.
    fn next_batch(&mut self) -> Result<Option<Vec<Record>>> {
        let mut buf = Vec::with_capacity(self.batch);
        while buf.len() < self.batch {
            if self.current.is_none() {
                let Some(path) = self.files.next() else {
                    break;
                };
                self.current = Some((path.display().to_string(), Source::open(path, self.d)?, 0));
            }
            let (name, src, line) = self.current.as_mut().expect("opened above");
            match src.next_row() {
                Some(cells) => {
                    *line += 1;
                    let row = Row {
                        cells: cells?,
                        file: name,
                        line: *line,
                        cols: self.d.columns(),
                    };
                    buf.push(record(self.d, &row)?);
                }
                None => self.current = None,
            }
        }
        self.rows += buf.len() as u64;
        Ok((!buf.is_empty()).then_some(buf))
    }
}

/// The datasets and files an import path stands for.
fn targets(opts: &ImportOptions) -> Result<Vec<(Dataset, Vec<PathBuf>)>> {
    let path = &opts.path;
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() && path.join(MANIFEST).is_file() {
        let text = std::fs::read_to_string(path.join(MANIFEST))
            .map_err(|e| Error::storage(format!("reading {}", path.join(MANIFEST).display()), e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(format!(
                "{}: not a sociallens manifest: {e}",
                path.join(MANIFEST).display()
            ))
        })?;
        if m.format != "sociallens-export" || m.format_version != 1 {
            return Err(Error::invalid(format!(
                "{}: format {} version {} (this sociallens reads sociallens-export version 1)",
                path.join(MANIFEST).display(),
                m.format,
                m.format_version
            )));
        }
        let mut out = Vec::new();
        for d in Dataset::ALL {
            let Some(entry) = m.datasets.get(d.as_str()) else {
                continue;
            };
            if opts.dataset.is_some_and(|want| want != d) {
                continue;
            }
            // Derived datasets in a whole export are skipped; asked for by name, refused.
            if !d.importable() {
                if opts.dataset == Some(d) {
                    return Err(not_importable(d));
                }
                continue;
            }
            let files: Vec<PathBuf> = entry.files.iter().map(|f| path.join(f)).collect();
            if let Some(missing) = files.iter().find(|f| !f.is_file()) {
                return Err(Error::invalid(format!(
                    "{} lists {}, which is missing: the export is incomplete",
                    path.join(MANIFEST).display(),
                    missing.display()
                )));
            }
            out.push((d, files));
        }
        return Ok(out);
    }
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::storage(format!("listing {}", path.display()), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_part_file(p))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid(format!(
                "{} has neither manifest.json nor data files (.parquet, .ndjson, .jsonl, .json)",
                path.display()
            )));
        }
        files
    } else {
        vec![path.clone()]
    };
    let dataset = match opts.dataset {
        Some(d) => d,
        None => infer_dataset(path, &files[0])?,
    };
    if !dataset.importable() {
        return Err(not_importable(dataset));
    }
    Ok(vec![(dataset, files)])
}

/// Data files of a part directory: not Spark's `_SUCCESS`, `.crc` checksums or hidden files.
fn is_part_file(p: &Path) -> bool {
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !(name.starts_with('_') || name.starts_with('.') || name.ends_with(".crc"))
        && [".parquet", ".ndjson", ".jsonl", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

fn infer_dataset(path: &Path, first: &Path) -> Result<Dataset> {
    if is_parquet(first)? {
        if let Some(name) = dataset_of(first)? {
            return Dataset::parse(&name);
        }
    }
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.split('.').next().unwrap_or(n))
        .unwrap_or_default();
    Dataset::parse(stem).map_err(|_| {
        Error::invalid(format!(
            "cannot tell which dataset {} holds (no sociallens.dataset metadata, and the name \
             is not a dataset's): say which",
            path.display()
        ))
    })
}

/// Imports what `opts` names into `store`: every file is checked first, then applied.
pub(crate) async fn import_into(
    store: &dyn Store,
    decay: Decay,
    opts: &ImportOptions,
) -> Result<Vec<ImportReport>> {
    let batch = opts.page_size.max(1);
    let targets = targets(opts)?;
    // Pass 1: every file of every dataset read whole and converted; nothing is applied.
    for (d, files) in &targets {
        let mut b = Batches::new(*d, files, batch);
        while b.next_batch()?.is_some() {}
    }
    // Pass 2: applied.
    let mut reports = Vec::new();
    for (d, files) in &targets {
        let mut r = ImportReport {
            dataset: *d,
            rows: 0,
            applied: 0,
            unchanged: 0,
            conflicts: 0,
        };
        match d {
            Dataset::Neighbours | Dataset::Audiences => {
                r.rows = apply_grouped(store, *d, files, batch, &mut r).await?;
            }
            _ => {
                let mut catalog: Option<HashMap<(ItemKind, String), CatalogRecord>> = None;
                let mut b = Batches::new(*d, files, batch);
                while let Some(recs) = b.next_batch()? {
                    let (a, u, c) = apply_batch(store, decay, recs, &mut catalog).await?;
                    r.applied += a;
                    r.unchanged += u;
                    r.conflicts += c;
                }
                r.rows = b.rows;
            }
        }
        reports.push(r);
    }
    Ok(reports)
}

/// Applies one batch of records of a row-by-row dataset; returns (applied, unchanged,
/// conflicts).
async fn apply_batch(
    store: &dyn Store,
    decay: Decay,
    mut recs: Vec<Record>,
    catalog: &mut Option<HashMap<(ItemKind, String), CatalogRecord>>,
) -> Result<(u64, u64, u64)> {
    let (mut applied, mut unchanged, mut conflicts) = (0, 0, 0);
    // Events replay in time order within the batch (a like before its unlike).
    recs.sort_by_key(|r| match r {
        Record::Event(e) => e.at,
        _ => Timestamp::EPOCH,
    });
    let mut items = Vec::new();
    for rec in recs {
        match rec {
            Record::Caption(c) => {
                if store.cached_caption(&c.image_sha256).await?.as_ref() == Some(&c) {
                    unchanged += 1;
                } else {
                    store.put_cached_caption(&c).await?;
                    applied += 1;
                }
            }
            Record::Post(p) => {
                let stored = store.post(&p.id).await?;
                let merged = crate::store::merge_post(stored.clone(), &p);
                if stored.as_ref() == Some(&merged) {
                    unchanged += 1;
                } else {
                    store.put_post(&p).await?;
                    applied += 1;
                }
            }
            Record::Event(e) => match store.event(&e.id).await? {
                Some(seen) if same_event(&seen, &e) && seen.at == e.at => unchanged += 1,
                Some(_) => conflicts += 1,
                None => match store.record_event(e, decay).await {
                    Ok(rec) if rec.status == EventStatus::Duplicate => unchanged += 1,
                    Ok(_) => applied += 1,
                    Err(Error::Conflict(_)) => conflicts += 1,
                    Err(e) => return Err(e),
                },
            },
            Record::Catalog(c) => {
                if catalog.is_none() {
                    let mut m = HashMap::new();
                    for kind in [ItemKind::Product, ItemKind::Ad] {
                        for r in store.items(kind).await? {
                            m.insert((kind, r.id.clone()), r);
                        }
                    }
                    *catalog = Some(m);
                }
                let known = catalog.as_mut().expect("loaded above");
                if known.get(&(c.kind, c.id.clone())) == Some(&c) {
                    unchanged += 1;
                } else {
                    known.insert((c.kind, c.id.clone()), c.clone());
                    items.push(c);
                    applied += 1;
                }
            }
            Record::OptOut(o) => {
                if store.opt_outs(&o.user).await?.contains(&o.category) {
                    unchanged += 1;
                } else {
                    store.set_opt_out(&o.user, &o.category, true, o.at).await?;
                    applied += 1;
                }
            }
            Record::Neighbour { .. } | Record::Audience { .. } => {
                unreachable!("grouped datasets are applied by apply_grouped")
            }
        }
    }
    if !items.is_empty() {
        store.put_items(&items).await?;
    }
    Ok((applied, unchanged, conflicts))
}

/// Neighbours and audiences: rows grouped by user (or ad) across every file of the dataset,
/// ordered by rank, each group stored whole. Memory grows with the dataset's rows (the
/// groups must be complete before a list is replaced).
async fn apply_grouped(
    store: &dyn Store,
    d: Dataset,
    files: &[PathBuf],
    batch: usize,
    r: &mut ImportReport,
) -> Result<u64> {
    let mut lists = BTreeMap::<String, (Timestamp, Vec<(i32, Record)>)>::new();
    let mut b = Batches::new(d, files, batch);
    while let Some(recs) = b.next_batch()? {
        for rec in recs {
            let (key, at, rank) = match &rec {
                Record::Neighbour { user, at, rank, .. } => (user.as_str().to_string(), *at, *rank),
                Record::Audience { ad, at, rank, .. } => (ad.clone(), *at, *rank),
                _ => unreachable!("only grouped records here"),
            };
            let e = lists.entry(key).or_insert((at, Vec::new()));
            e.0 = e.0.max(at);
            e.1.push((rank, rec));
        }
    }
    let rows = b.rows;
    let mut pending: Vec<(NeighbourList, u64)> = Vec::new();
    for (key, (at, mut members)) in lists {
        members.sort_by_key(|m| m.0);
        let n = members.len() as u64;
        match d {
            Dataset::Neighbours => {
                let user = UserId::new(key)?;
                let neighbours: Vec<Neighbour> = members
                    .into_iter()
                    .filter_map(|(_, rec)| match rec {
                        Record::Neighbour { n, .. } => Some(n),
                        _ => None,
                    })
                    .collect();
                let list = NeighbourList {
                    user,
                    neighbours,
                    computed_at: at,
                };
                let stored = store.neighbours(std::slice::from_ref(&list.user)).await?;
                if stored.first() == Some(&list) {
                    r.unchanged += n;
                } else {
                    pending.push((list, n));
                    if pending.len() >= LISTS_PER_CALL {
                        flush_lists(store, &mut pending, r).await?;
                    }
                }
            }
            _ => {
                let entries: Vec<AudienceEntry> = members
                    .into_iter()
                    .filter_map(|(_, rec)| match rec {
                        Record::Audience { m, .. } => Some(m),
                        _ => None,
                    })
                    .collect();
                let stored = store.audience(&key, usize::MAX).await?;
                if stored
                    .as_ref()
                    .is_some_and(|s| s.members == entries && s.computed_at == at)
                {
                    r.unchanged += n;
                } else {
                    store.put_audience(&key, &entries, at).await?;
                    r.applied += n;
                }
            }
        }
    }
    flush_lists(store, &mut pending, r).await?;
    Ok(rows)
}

async fn flush_lists(
    store: &dyn Store,
    pending: &mut Vec<(NeighbourList, u64)>,
    r: &mut ImportReport,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let lists: Vec<NeighbourList> = pending.iter().map(|p| p.0.clone()).collect();
    store.put_neighbours(&lists).await?;
    r.applied += pending.iter().map(|p| p.1).sum::<u64>();
    pending.clear();
    Ok(())
}
