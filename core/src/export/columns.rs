//! The datasets of format v1 and their columns (SPEC13), and the cell values rows carry
//! between the store and the file formats.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One dataset of an export directory.
///
/// ```
/// use sociallens::export::Dataset;
/// assert_eq!(Dataset::parse("ad_events")?, Dataset::AdEvents);
/// assert_eq!(Dataset::Events.as_str(), "events");
/// assert!(!Dataset::Interests.importable());
/// # Ok::<(), sociallens::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// Cached captions: image hash, model, caption, time.
    Captions,
    /// Posts with their captions and interests.
    Posts,
    /// Users' interests, weights decayed to the export time (export only: derived from events).
    Interests,
    /// Every event (likes, uploads, unlikes, clicks, impressions) with its term deltas.
    Events,
    /// Clicks and impressions of ads with the ad's category (export only, for warehouses).
    AdEvents,
    /// Products and ads.
    Catalog,
    /// Ad-category opt-outs.
    OptOuts,
    /// Precomputed neighbours, one row per (user, neighbour).
    Neighbours,
    /// Precomputed audiences, one row per (ad, member).
    Audiences,
}

impl Dataset {
    /// Every dataset, in the order an export writes and a whole-directory import applies
    /// them (the catalog before the events that name its ads).
    pub const ALL: [Dataset; 9] = [
        Dataset::Catalog,
        Dataset::Captions,
        Dataset::Posts,
        Dataset::Events,
        Dataset::AdEvents,
        Dataset::Interests,
        Dataset::OptOuts,
        Dataset::Neighbours,
        Dataset::Audiences,
    ];

    /// The snake_case name, used for files and in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::Captions => "captions",
            Dataset::Posts => "posts",
            Dataset::Interests => "interests",
            Dataset::Events => "events",
            Dataset::AdEvents => "ad_events",
            Dataset::Catalog => "catalog",
            Dataset::OptOuts => "opt_outs",
            Dataset::Neighbours => "neighbours",
            Dataset::Audiences => "audiences",
        }
    }

    /// Parses [`Dataset::as_str`] back.
    pub fn parse(s: &str) -> Result<Self> {
        Dataset::ALL
            .into_iter()
            .find(|d| d.as_str() == s.trim())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown dataset {s:?}: expected one of {}",
                    Dataset::ALL.map(|d| d.as_str()).join(", ")
                ))
            })
    }

    /// Whether files of this dataset can be imported (`interests` and `ad_events` are
    /// derived from events: export only).
    pub fn importable(self) -> bool {
        !matches!(self, Dataset::Interests | Dataset::AdEvents)
    }

    pub(crate) fn columns(self) -> &'static [Col] {
        use ColType::*;
        const fn c(name: &'static str, ty: ColType, nullable: bool) -> Col {
            Col { name, ty, nullable }
        }
        match self {
            Dataset::Captions => {
                const COLS: &[Col] = &[
                    c("image_sha256", Str, false),
                    c("model", Str, false),
                    c("caption", Str, false),
                    c("created_at", Ts, false),
                ];
                COLS
            }
            Dataset::Posts => {
                const COLS: &[Col] = &[
                    c("post_id", Str, false),
                    c("author", Str, true),
                    c("caption", Str, true),
                    c("image_sha256", Str, true),
                    c("interests", StrList, true),
                    c("created_at", Ts, false),
                ];
                COLS
            }
            Dataset::Interests => {
                const COLS: &[Col] = &[
                    c("user", Str, false),
                    c("term", Str, false),
                    c("weight", F64, false),
                    c("count", I64, false),
                    c("last_seen", Ts, false),
                    c("exported_at", Ts, false),
                ];
                COLS
            }
            Dataset::Events => {
                const COLS: &[Col] = &[
                    c("event_id", Str, false),
                    c("user", Str, false),
                    c("kind", Str, false),
                    c("post_id", Str, true),
                    c("item", Str, true),
                    c("at", Ts, false),
                    c("terms", StrList, false),
                    c("weights", F64List, false),
                ];
                COLS
            }
            Dataset::AdEvents => {
                const COLS: &[Col] = &[
                    c("event_id", Str, false),
                    c("user", Str, false),
                    c("kind", Str, false),
                    c("ad_id", Str, false),
                    c("category", Str, true),
                    c("at", Ts, false),
                ];
                COLS
            }
            Dataset::Catalog => {
                const COLS: &[Col] = &[
                    c("kind", Str, false),
                    c("item_id", Str, false),
                    c("category", Str, true),
                    c("body", Str, false),
                    c("updated_at", Ts, false),
                ];
                COLS
            }
            Dataset::OptOuts => {
                const COLS: &[Col] = &[
                    c("user", Str, false),
                    c("category", Str, false),
                    c("at", Ts, false),
                ];
                COLS
            }
            Dataset::Neighbours => {
                const COLS: &[Col] = &[
                    c("user", Str, false),
                    c("neighbour", Str, false),
                    c("rank", I32, false),
                    c("score", F64, false),
                    c("shared_terms", StrList, false),
                    c("computed_at", Ts, false),
                ];
                COLS
            }
            Dataset::Audiences => {
                const COLS: &[Col] = &[
                    c("ad_id", Str, false),
                    c("user", Str, false),
                    c("rank", I32, false),
                    c("score", F64, false),
                    c("computed_at", Ts, false),
                ];
                COLS
            }
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColType {
    Str,
    /// Milliseconds since the epoch, UTC.
    Ts,
    I64,
    I32,
    F64,
    StrList,
    F64List,
}

impl ColType {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ColType::Str => "a string",
            ColType::Ts => "a timestamp",
            ColType::I64 => "a 64-bit integer",
            ColType::I32 => "a 32-bit integer",
            ColType::F64 => "a floating-point number",
            ColType::StrList => "a list of strings",
            ColType::F64List => "a list of numbers",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Col {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
}

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Str(String),
    Ts(i64),
    I64(i64),
    I32(i32),
    F64(f64),
    StrList(Vec<String>),
    F64List(Vec<f64>),
}

impl Cell {
    pub(crate) fn opt_str(s: Option<impl Into<String>>) -> Cell {
        s.map_or(Cell::Null, |s| Cell::Str(s.into()))
    }
}

/// A row as read from a file: its cells in the dataset's column order, and where it came
/// from (for error messages).
pub(crate) struct Row<'a> {
    pub cells: Vec<Cell>,
    pub file: &'a str,
    pub line: u64,
    pub cols: &'static [Col],
}

impl Row<'_> {
    fn bad(&self, i: usize, what: &str) -> Error {
        Error::invalid(format!(
            "{} row {}: column {}: {what}",
            self.file, self.line, self.cols[i].name
        ))
    }

    fn cell(&self, i: usize) -> &Cell {
        &self.cells[i]
    }

    pub(crate) fn str(&self, i: usize) -> Result<String> {
        match self.cell(i) {
            Cell::Str(s) => Ok(s.clone()),
            Cell::Null => Err(self.bad(i, "is null")),
            _ => Err(self.bad(i, "is not a string")),
        }
    }

    pub(crate) fn opt_str(&self, i: usize) -> Result<Option<String>> {
        match self.cell(i) {
            Cell::Null => Ok(None),
            _ => self.str(i).map(Some),
        }
    }

    pub(crate) fn ts(&self, i: usize) -> Result<crate::Timestamp> {
        match self.cell(i) {
            Cell::Ts(ms) => {
                crate::Timestamp::try_from_millis(*ms).map_err(|e| self.bad(i, &format!("{e}")))
            }
            Cell::Null => Err(self.bad(i, "is null")),
            _ => Err(self.bad(i, "is not a timestamp")),
        }
    }

    pub(crate) fn i64(&self, i: usize) -> Result<i64> {
        match self.cell(i) {
            Cell::I64(v) => Ok(*v),
            Cell::I32(v) => Ok(i64::from(*v)),
            Cell::Null => Err(self.bad(i, "is null")),
            _ => Err(self.bad(i, "is not an integer")),
        }
    }

    pub(crate) fn f64(&self, i: usize) -> Result<f64> {
        match self.cell(i) {
            Cell::F64(v) if v.is_finite() => Ok(*v),
            Cell::F64(v) => Err(self.bad(i, &format!("{v} is not a finite number"))),
            Cell::Null => Err(self.bad(i, "is null")),
            _ => Err(self.bad(i, "is not a number")),
        }
    }

    pub(crate) fn str_list(&self, i: usize) -> Result<Vec<String>> {
        match self.cell(i) {
            Cell::StrList(v) => Ok(v.clone()),
            Cell::Null => Ok(Vec::new()),
            _ => Err(self.bad(i, "is not a list of strings")),
        }
    }

    pub(crate) fn opt_str_list(&self, i: usize) -> Result<Option<Vec<String>>> {
        match self.cell(i) {
            Cell::Null => Ok(None),
            _ => self.str_list(i).map(Some),
        }
    }

    pub(crate) fn f64_list(&self, i: usize) -> Result<Vec<f64>> {
        match self.cell(i) {
            Cell::F64List(v) => Ok(v.clone()),
            Cell::Null => Ok(Vec::new()),
            _ => Err(self.bad(i, "is not a list of numbers")),
        }
    }

    /// Wraps a value error (a bad id, an unknown kind) with the file, row and column.
    pub(crate) fn invalid(&self, i: usize, e: impl fmt::Display) -> Error {
        self.bad(i, &e.to_string())
    }
}
