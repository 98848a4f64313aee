//! NDJSON files of format v1: one JSON object per line, timestamps as RFC 3339 with
//! milliseconds and `Z`, lists as arrays, nulls as null.

use super::columns::{Cell, Col, ColType, Dataset};
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

/// `2026-01-01T00:00:00.000Z`: milliseconds always shown, so every reader parses one shape.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => format!("{}", t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")),
        Err(_) => ms.to_string(),
    }
}

pub(crate) struct NdjsonSink {
    out: BufWriter<File>,
    cols: &'static [Col],
}

impl NdjsonSink {
    pub(crate) fn create(path: &Path, dataset: Dataset) -> Result<Self> {
        let file = File::create(path)
            .map_err(|e| Error::storage(format!("creating {}", path.display()), e))?;
        Ok(Self {
            out: BufWriter::new(file),
            cols: dataset.columns(),
        })
    }

    pub(crate) fn write(&mut self, row: Vec<Cell>) -> Result<()> {
        let mut obj = Map::with_capacity(row.len());
        for (c, cell) in self.cols.iter().zip(row) {
            let v = match cell {
                Cell::Null => Value::Null,
                Cell::Str(s) => Value::String(s),
                Cell::Ts(ms) => Value::String(rfc3339_ms(ms)),
                Cell::I64(v) => Value::from(v),
                Cell::I32(v) => Value::from(v),
                Cell::F64(v) => Value::from(v),
                Cell::StrList(v) => Value::from(v),
                Cell::F64List(v) => Value::from(v),
            };
            obj.insert(c.name.to_string(), v);
        }
        serde_json::to_writer(&mut self.out, &Value::Object(obj))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| Error::storage("writing NDJSON", e))
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| Error::storage("writing NDJSON", e))
    }
}

pub(crate) struct NdjsonSource {
    lines: std::io::Lines<BufReader<File>>,
    cols: &'static [Col],
    name: String,
    line: u64,
}

impl NdjsonSource {
    pub(crate) fn open(path: &Path, dataset: Dataset) -> Result<Self> {
        let file = File::open(path)
            .map_err(|e| Error::storage(format!("opening {}", path.display()), e))?;
        Ok(Self {
            lines: BufReader::new(file).lines(),
            cols: dataset.columns(),
            name: path.display().to_string(),
            line: 0,
        })
    }

    pub(crate) fn next_row(&mut self) -> Option<Result<Vec<Cell>>> {
        loop {
            self.line += 1;
            let line = match self.lines.next()? {
                Ok(l) => l,
                Err(e) => {
                    return Some(Err(Error::invalid(format!(
                        "{} line {}: not UTF-8 text: {e}",
                        self.name, self.line
                    ))))
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            return Some(self.parse(&line));
        }
    }

    fn parse(&self, line: &str) -> Result<Vec<Cell>> {
        let bad =
            |what: String| Error::invalid(format!("{} line {}: {what}", self.name, self.line));
        let Value::Object(obj) =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?
        else {
            return Err(bad("not a JSON object".into()));
        };
        self.cols
            .iter()
            .map(|c| {
                let v = obj.get(c.name).unwrap_or(&Value::Null);
                if v.is_null()
                    && !c.nullable
                    && !matches!(c.ty, ColType::StrList | ColType::F64List)
                {
                    return Err(bad(format!("column {} is missing or null", c.name)));
                }
                cell_of(v, c.ty).ok_or_else(|| {
                    bad(format!("column {}: {v} is not {}", c.name, c.ty.describe()))
                })
            })
            .collect()
    }
}

fn cell_of(v: &Value, ty: ColType) -> Option<Cell> {
    if v.is_null() {
        return Some(Cell::Null);
    }
    Some(match ty {
        ColType::Str => Cell::Str(v.as_str()?.to_string()),
        ColType::Ts => Cell::Ts(match v {
            // Integers count milliseconds since the epoch.
            Value::Number(n) => n.as_i64()?,
            Value::String(s) => s
                .parse::<jiff::Timestamp>()
                .ok()
                .map(|t| t.as_millisecond())?,
            _ => return None,
        }),
        ColType::I64 => Cell::I64(v.as_i64()?),
        ColType::I32 => Cell::I32(i32::try_from(v.as_i64()?).ok()?),
        ColType::F64 => Cell::F64(v.as_f64()?),
        ColType::StrList => Cell::StrList(
            v.as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
        ),
        ColType::F64List => Cell::F64List(
            v.as_array()?
                .iter()
                .map(Value::as_f64)
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_show_milliseconds_and_z() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(
            cell_of(&Value::from("2026-01-01T00:00:00.123Z"), ColType::Ts),
            Some(Cell::Ts(1_767_225_600_123))
        );
        assert_eq!(
            cell_of(&Value::from("2026-01-01T01:00:00+01:00"), ColType::Ts),
            Some(Cell::Ts(1_767_225_600_000))
        );
    }
}
