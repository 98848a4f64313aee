//! Export: each dataset written while its store scan pages in, then the manifest.

use super::columns::{Cell, Dataset};
use super::ndjson::{rfc3339_ms, NdjsonSink};
use super::parquet_io::ParquetSink;
use super::{
    ExportOptions, ExportSummary, ExportedDataset, Format, Manifest, ManifestEntry, MANIFEST,
};
use crate::domain::EventKind;
use crate::error::{Error, Result};
use crate::profile::Decay;
use crate::store::{ItemKind, Store};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

enum Sink {
    Parquet(ParquetSink),
    Ndjson(NdjsonSink),
}

impl Sink {
    fn write(&mut self, row: Vec<Cell>) -> Result<()> {
        match self {
            Sink::Parquet(s) => s.write(row),
            Sink::Ndjson(s) => s.write(row),
        }
    }
    fn finish(self) -> Result<()> {
        match self {
            Sink::Parquet(s) => s.finish(),
            Sink::Ndjson(s) => s.finish(),
        }
    }
}

/// A dataset file being written: to `<name>.tmp`, renamed into place when complete.
struct Out {
    sink: Sink,
    tmp: PathBuf,
    path: PathBuf,
    rows: u64,
}

impl Out {
    fn create(dir: &Path, dataset: Dataset, format: Format) -> Result<Self> {
        let path = dir.join(format!("{}.{}", dataset.as_str(), format.extension()));
        let tmp = dir.join(format!(".{}.{}.tmp", dataset.as_str(), format.extension()));
        let sink = match format {
            Format::Parquet => Sink::Parquet(ParquetSink::create(&tmp, dataset)?),
            Format::Ndjson => Sink::Ndjson(NdjsonSink::create(&tmp, dataset)?),
        };
        Ok(Self {
            sink,
            tmp,
            path,
            rows: 0,
        })
    }

    fn row(&mut self, cells: Vec<Cell>) -> Result<()> {
        self.rows += 1;
        self.sink.write(cells)
    }

    fn finish(self) -> Result<(PathBuf, u64)> {
        self.sink.finish()?;
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|e| Error::storage(format!("renaming {}", self.tmp.display()), e))?;
        Ok((self.path, self.rows))
    }
}

fn ts(t: Timestamp) -> Cell {
    Cell::Ts(t.as_millis())
}

/// Writes the export directory `opts` asks for from `store`, weights decayed to `now`.
pub(crate) async fn export_store(
    store: &dyn Store,
    decay: Decay,
    now: Timestamp,
    opts: &ExportOptions,
) -> Result<ExportSummary> {
    if opts.page_size == 0 {
        return Err(Error::invalid("export page size must be at least 1"));
    }
    let dir = &opts.dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::storage(format!("creating {}", dir.display()), e))?;
    // A manifest left by an earlier export would vouch for files about to be replaced.
    let manifest_path = dir.join(MANIFEST);
    match std::fs::remove_file(&manifest_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::storage(
                format!("removing {}", manifest_path.display()),
                e,
            ))
        }
    }
    let wanted: Vec<Dataset> = match &opts.datasets {
        None => Dataset::ALL.to_vec(),
        Some(list) => Dataset::ALL
            .into_iter()
            .filter(|d| list.contains(d))
            .collect(),
    };
    let mut datasets = Vec::new();
    for d in wanted {
        let mut out = Out::create(dir, d, opts.format)?;
        let tmp = out.tmp.clone();
        let written = match write_dataset(store, decay, now, opts.page_size, d, &mut out).await {
            Ok(()) => out.finish(),
            Err(e) => Err(e),
        };
        let (path, rows) = match written {
            Ok(w) => w,
            Err(e) => {
                // No half-written file is left behind (the manifest was removed above).
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        datasets.push(ExportedDataset {
            dataset: d,
            files: vec![path],
            rows,
        });
    }
    let manifest = Manifest {
        format: "sociallens-export".into(),
        format_version: 1,
        exported_at: rfc3339_ms(now.as_millis()),
        store: store.backend().to_string(),
        datasets: datasets
            .iter()
            .map(|d| {
                let files = d
                    .files
                    .iter()
                    .map(|f| {
                        f.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    })
                    .collect();
                (
                    d.dataset.as_str().to_string(),
                    ManifestEntry {
                        files,
                        rows: d.rows,
                    },
                )
            })
            .collect(),
    };
    let tmp = dir.join(".manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)
        .map_err(|e| Error::storage(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &manifest_path)
        .map_err(|e| Error::storage(format!("writing {}", manifest_path.display()), e))?;
    Ok(ExportSummary {
        dir: dir.clone(),
        manifest: manifest_path,
        exported_at: now,
        format: opts.format,
        datasets,
    })
}

async fn write_dataset(
    store: &dyn Store,
    decay: Decay,
    now: Timestamp,
    page: usize,
    d: Dataset,
    out: &mut Out,
) -> Result<()> {
    let mut cursor: Option<String> = None;
    macro_rules! pages {
        ($scan:ident, |$rec:ident| $row:expr) => {
            loop {
                let p = store.$scan(cursor.as_deref(), page).await?;
                for $rec in p.items {
                    out.row($row)?;
                }
                match p.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        };
    }
    match d {
        Dataset::Captions => pages!(scan_captions, |c| vec![
            Cell::Str(c.image_sha256),
            Cell::Str(c.model),
            Cell::Str(c.caption),
            ts(c.created_at),
        ]),
        Dataset::Posts => pages!(scan_posts, |p| vec![
            Cell::Str(p.id.as_str().to_string()),
            Cell::opt_str(p.author.map(|a| a.as_str().to_string())),
            Cell::opt_str(p.caption),
            Cell::opt_str(p.image_sha256),
            p.interests.map_or(Cell::Null, Cell::StrList),
            ts(p.created_at),
        ]),
        Dataset::Events => pages!(scan_events, |e| {
            let (terms, weights) = e.deltas.into_iter().map(|d| (d.term, d.weight)).unzip();
            vec![
                Cell::Str(e.id.as_str().to_string()),
                Cell::Str(e.user.as_str().to_string()),
                Cell::Str(e.kind.as_str().to_string()),
                Cell::opt_str(e.post.map(|p| p.as_str().to_string())),
                Cell::opt_str(e.item),
                ts(e.at),
                Cell::StrList(terms),
                Cell::F64List(weights),
            ]
        }),
        Dataset::AdEvents => {
            // The catalog is small; its categories are read once, as click_report does.
            let categories: HashMap<String, Option<String>> = store
                .items(ItemKind::Ad)
                .await?
                .into_iter()
                .map(|r| (r.id, r.category))
                .collect();
            loop {
                let p = store.scan_events(cursor.as_deref(), page).await?;
                for e in p.items {
                    if !matches!(e.kind, EventKind::Click | EventKind::Impression) {
                        continue;
                    }
                    let Some(ad) = e.item.as_deref().and_then(|i| i.strip_prefix("ad:")) else {
                        continue;
                    };
                    out.row(vec![
                        Cell::Str(e.id.as_str().to_string()),
                        Cell::Str(e.user.as_str().to_string()),
                        Cell::Str(e.kind.as_str().to_string()),
                        Cell::Str(ad.to_string()),
                        Cell::opt_str(categories.get(ad).cloned().flatten()),
                        ts(e.at),
                    ])?;
                }
                match p.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        }
        Dataset::Interests => {
            let mut after = None;
            loop {
                let users = store.scan_interests(after.as_ref(), page).await?;
                let Some((last, _)) = users.last() else {
                    break;
                };
                after = Some(last.clone());
                let full = users.len() >= page;
                for (user, recs) in users {
                    for r in recs {
                        if r.count <= 0 {
                            continue;
                        }
                        out.row(vec![
                            Cell::Str(user.as_str().to_string()),
                            Cell::Str(r.term.clone()),
                            Cell::F64(r.weight_at(now, decay)),
                            Cell::I64(r.count),
                            ts(r.last_seen),
                            ts(now),
                        ])?;
                    }
                }
                if !full {
                    break;
                }
            }
        }
        Dataset::Catalog => {
            for kind in [ItemKind::Product, ItemKind::Ad] {
                for r in store.items(kind).await? {
                    out.row(vec![
                        Cell::Str(kind.as_str().to_string()),
                        Cell::Str(r.id),
                        Cell::opt_str(r.category),
                        Cell::Str(serde_json::to_string(&r.body)?),
                        ts(r.updated_at),
                    ])?;
                }
            }
        }
        Dataset::OptOuts => pages!(scan_opt_outs, |o| vec![
            Cell::Str(o.user.as_str().to_string()),
            Cell::Str(o.category),
            ts(o.at),
        ]),
        Dataset::Neighbours => loop {
            let p = store.scan_neighbours(cursor.as_deref(), page).await?;
            for list in p.items {
                for (rank, n) in list.neighbours.into_iter().enumerate() {
                    out.row(vec![
                        Cell::Str(list.user.as_str().to_string()),
                        Cell::Str(n.user.as_str().to_string()),
                        Cell::I32(rank as i32),
                        Cell::F64(n.score),
                        Cell::StrList(n.shared_terms),
                        ts(list.computed_at),
                    ])?;
                }
            }
            match p.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        },
        Dataset::Audiences => loop {
            let p = store.scan_audiences(cursor.as_deref(), page).await?;
            for a in p.items {
                for (rank, m) in a.members.into_iter().enumerate() {
                    out.row(vec![
                        Cell::Str(a.ad_id.clone()),
                        Cell::Str(m.user.as_str().to_string()),
                        Cell::I32(rank as i32),
                        Cell::F64(m.score),
                        ts(a.computed_at),
                    ])?;
                }
            }
            match p.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        },
    }
    Ok(())
}
