//! Parquet files of format v1 through the `parquet` crate's low-level column writer and
//! record reader (no arrow): SNAPPY, TIMESTAMP(MILLIS, UTC), standard 3-level lists.

use super::columns::{Cell, Col, ColType, Dataset};
use crate::error::{Error, Result};
use parquet::basic::{Compression, ConvertedType, LogicalType, TimeUnit, Type as Physical};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::reader::RowIter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Rows buffered per row group (SPEC13 allows up to 65,536): bounded memory while writing.
pub(crate) const ROW_GROUP_ROWS: usize = 16_384;

/// The key-value metadata keys every file carries.
pub(crate) const KV_DATASET: &str = "sociallens.dataset";
pub(crate) const KV_VERSION: &str = "sociallens.format_version";

fn pq_err(what: &str, e: parquet::errors::ParquetError) -> Error {
    Error::Storage {
        message: format!("{what}: {e}"),
        source: None,
    }
}

fn message_type(dataset: Dataset) -> String {
    let mut fields = String::new();
    for c in dataset.columns() {
        let rep = if c.nullable { "optional" } else { "required" };
        let n = c.name;
        let f = match c.ty {
            ColType::Str => format!("{rep} binary {n} (STRING);"),
            ColType::Ts => format!("{rep} int64 {n} (TIMESTAMP(MILLIS,true));"),
            ColType::I64 => format!("{rep} int64 {n};"),
            ColType::I32 => format!("{rep} int32 {n};"),
            ColType::F64 => format!("{rep} double {n};"),
            ColType::StrList => format!(
                "{rep} group {n} (LIST) {{ repeated group list {{ required binary element (STRING); }} }}"
            ),
            ColType::F64List => format!(
                "{rep} group {n} (LIST) {{ repeated group list {{ required double element; }} }}"
            ),
        };
        fields.push_str(&f);
        fields.push('\n');
    }
    format!("message {} {{\n{fields}}}", dataset.as_str())
}

/// Writes one dataset's rows to a Parquet file, a row group at a time.
pub(crate) struct ParquetSink {
    writer: SerializedFileWriter<File>,
    cols: &'static [Col],
    rows: Vec<Vec<Cell>>,
}

impl ParquetSink {
    pub(crate) fn create(path: &Path, dataset: Dataset) -> Result<Self> {
        let schema =
            parse_message_type(&message_type(dataset)).map_err(|e| pq_err("parquet schema", e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("sociallens {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(KV_DATASET.to_string(), dataset.as_str().to_string()),
                KeyValue::new(KV_VERSION.to_string(), "1".to_string()),
            ]))
            .build();
        let file = File::create(path)
            .map_err(|e| Error::storage(format!("creating {}", path.display()), e))?;
        let writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props))
            .map_err(|e| pq_err("parquet writer", e))?;
        Ok(Self {
            writer,
            cols: dataset.columns(),
            rows: Vec::with_capacity(ROW_GROUP_ROWS),
        })
    }

    pub(crate) fn write(&mut self, row: Vec<Cell>) -> Result<()> {
        debug_assert_eq!(row.len(), self.cols.len());
        self.rows.push(row);
        if self.rows.len() >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut rg = self
            .writer
            .next_row_group()
            .map_err(|e| pq_err("parquet row group", e))?;
        let mut i = 0;
        while let Some(mut col) = rg.next_column().map_err(|e| pq_err("parquet column", e))? {
            let spec = self.cols[i];
            write_column(col.untyped(), spec, &self.rows, i)?;
            col.close().map_err(|e| pq_err("parquet column", e))?;
            i += 1;
        }
        rg.close().map_err(|e| pq_err("parquet row group", e))?;
        self.rows.clear();
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.writer
            .close()
            .map_err(|e| pq_err("closing parquet file", e))?;
        Ok(())
    }
}

/// Definition and repetition levels plus values of one column over the buffered rows.
struct Levels<T> {
    vals: Vec<T>,
    def: Vec<i16>,
    rep: Vec<i16>,
}

impl<T> Levels<T> {
    fn new() -> Self {
        Self {
            vals: Vec::new(),
            def: Vec::new(),
            rep: Vec::new(),
        }
    }
}

/// Levels of a scalar column: `def` 1 for a value of an optional column, 0 for a null.
fn scalar<T>(
    rows: &[Vec<Cell>],
    i: usize,
    col: Col,
    get: impl Fn(&Cell) -> Option<T>,
) -> Levels<T> {
    let mut l = Levels::new();
    for r in rows {
        match get(&r[i]) {
            Some(v) => {
                l.vals.push(v);
                l.def.push(1);
            }
            None => {
                debug_assert!(col.nullable, "null in required column {}", col.name);
                l.def.push(0);
            }
        }
    }
    l
}

/// Levels of a list column (optional list: null 0, empty 1, element 2; required list: empty
/// 0, element 1; repetition 0 starts a row's list, 1 continues it).
fn list<T: Clone>(
    rows: &[Vec<Cell>],
    i: usize,
    col: Col,
    get: impl Fn(&Cell) -> Option<&[T]>,
) -> Levels<T> {
    let base = i16::from(col.nullable);
    let mut l = Levels::new();
    for r in rows {
        match get(&r[i]) {
            None => {
                l.def.push(0);
                l.rep.push(0);
            }
            Some([]) => {
                l.def.push(base);
                l.rep.push(0);
            }
            Some(items) => {
                for (j, v) in items.iter().enumerate() {
                    l.vals.push(v.clone());
                    l.def.push(base + 1);
                    l.rep.push(i16::from(j > 0));
                }
            }
        }
    }
    l
}

fn write_column(w: &mut ColumnWriter<'_>, col: Col, rows: &[Vec<Cell>], i: usize) -> Result<()> {
    let err = |e| pq_err(&format!("writing column {}", col.name), e);
    let def = |l: &[i16]| if col.nullable { Some(l.to_vec()) } else { None };
    match (col.ty, w) {
        (ColType::Str, ColumnWriter::ByteArrayColumnWriter(w)) => {
            let l = scalar(rows, i, col, |c| match c {
                Cell::Str(s) => Some(ByteArray::from(s.as_str())),
                _ => None,
            });
            w.write_batch(&l.vals, def(&l.def).as_deref(), None)
                .map_err(err)?;
        }
        (ColType::Ts | ColType::I64, ColumnWriter::Int64ColumnWriter(w)) => {
            let l = scalar(rows, i, col, |c| match c {
                Cell::Ts(v) | Cell::I64(v) => Some(*v),
                _ => None,
            });
            w.write_batch(&l.vals, def(&l.def).as_deref(), None)
                .map_err(err)?;
        }
        (ColType::I32, ColumnWriter::Int32ColumnWriter(w)) => {
            let l = scalar(rows, i, col, |c| match c {
                Cell::I32(v) => Some(*v),
                _ => None,
            });
            w.write_batch(&l.vals, def(&l.def).as_deref(), None)
                .map_err(err)?;
        }
        (ColType::F64, ColumnWriter::DoubleColumnWriter(w)) => {
            let l = scalar(rows, i, col, |c| match c {
                Cell::F64(v) => Some(*v),
                _ => None,
            });
            w.write_batch(&l.vals, def(&l.def).as_deref(), None)
                .map_err(err)?;
        }
        (ColType::StrList, ColumnWriter::ByteArrayColumnWriter(w)) => {
            let owned: Vec<Option<Vec<ByteArray>>> = rows
                .iter()
                .map(|r| match &r[i] {
                    Cell::StrList(v) => {
                        Some(v.iter().map(|s| ByteArray::from(s.as_str())).collect())
                    }
                    _ => None,
                })
                .collect();
            let l = list_of(&owned, col);
            w.write_batch(&l.vals, Some(&l.def), Some(&l.rep))
                .map_err(err)?;
        }
        (ColType::F64List, ColumnWriter::DoubleColumnWriter(w)) => {
            let l = list(rows, i, col, |c| match c {
                Cell::F64List(v) => Some(v.as_slice()),
                _ => None,
            });
            w.write_batch(&l.vals, Some(&l.def), Some(&l.rep))
                .map_err(err)?;
        }
        _ => {
            return Err(Error::Storage {
                message: format!(
                    "parquet column {} has an unexpected physical type",
                    col.name
                ),
                source: None,
            })
        }
    }
    Ok(())
}

/// [`list`] over values already converted (byte arrays of strings).
fn list_of<T: Clone>(rows: &[Option<Vec<T>>], col: Col) -> Levels<T> {
    let base = i16::from(col.nullable);
    let mut l = Levels::new();
    for r in rows {
        match r.as_deref() {
            None => {
                l.def.push(0);
                l.rep.push(0);
            }
            Some([]) => {
                l.def.push(base);
                l.rep.push(0);
            }
            Some(items) => {
                for (j, v) in items.iter().enumerate() {
                    l.vals.push(v.clone());
                    l.def.push(base + 1);
                    l.rep.push(i16::from(j > 0));
                }
            }
        }
    }
    l
}

/// How a file's column is read into a [`Cell`] of the dataset's type.
#[derive(Clone, Copy, Debug)]
enum Reading {
    /// Plain values of the expected kind.
    Plain,
    /// Integers of a timestamp column in this many units per millisecond (1, 1000, 10^6),
    /// or seconds (0).
    TsUnits(i64),
}

/// A Parquet file opened for import: its schema checked against the dataset's columns,
/// then read row by row (a row group at a time, whatever the file's size).
pub(crate) struct ParquetSource {
    rows: RowIter<'static>,
    /// For each dataset column: the file's field name and how to read it.
    plan: Vec<Option<Reading>>,
    cols: &'static [Col],
    name: String,
}

/// The `sociallens.dataset` key of a Parquet file, if it has one.
pub(crate) fn dataset_of(path: &Path) -> Result<Option<String>> {
    let reader = open(path)?;
    let kv = reader.metadata().file_metadata().key_value_metadata();
    Ok(kv.and_then(|kv| {
        kv.iter()
            .find(|k| k.key == KV_DATASET)
            .and_then(|k| k.value.clone())
    }))
}

fn open(path: &Path) -> Result<SerializedFileReader<File>> {
    let file =
        File::open(path).map_err(|e| Error::storage(format!("opening {}", path.display()), e))?;
    SerializedFileReader::new(file).map_err(|e| {
        Error::invalid(format!(
            "{} is not a readable Parquet file: {e}",
            path.display()
        ))
    })
}

impl ParquetSource {
    pub(crate) fn open(path: &Path, dataset: Dataset) -> Result<Self> {
        let reader = open(path)?;
        let name = path.display().to_string();
        let cols = dataset.columns();
        let root = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema_ptr();
        let fields = root.get_fields();
        let mut plan = Vec::with_capacity(cols.len());
        for c in cols {
            let Some(f) = fields.iter().find(|f| f.name() == c.name) else {
                if c.nullable {
                    plan.push(None);
                    continue;
                }
                return Err(Error::invalid(format!(
                    "{name}: column {} is missing (dataset {dataset} needs it)",
                    c.name
                )));
            };
            let reading = check_type(f, c.ty).ok_or_else(|| {
                Error::invalid(format!(
                    "{name}: column {} has the wrong type: expected {}",
                    c.name,
                    c.ty.describe()
                ))
            })?;
            plan.push(Some(reading));
        }
        Ok(Self {
            rows: reader.into_iter(),
            plan,
            cols,
            name,
        })
    }

    /// The next row's cells in the dataset's column order.
    pub(crate) fn next_row(&mut self) -> Option<Result<Vec<Cell>>> {
        let row = match self.rows.next()? {
            Ok(r) => r,
            Err(e) => {
                return Some(Err(Error::invalid(format!(
                    "{}: unreadable row: {e}",
                    self.name
                ))))
            }
        };
        let mut cells = vec![Cell::Null; self.cols.len()];
        for (name, field) in row.get_column_iter() {
            let Some(i) = self.cols.iter().position(|c| c.name == name) else {
                continue;
            };
            let Some(reading) = self.plan[i] else {
                continue;
            };
            match to_cell(field, self.cols[i].ty, reading) {
                Some(c) => cells[i] = c,
                None => {
                    return Some(Err(Error::invalid(format!(
                        "{}: column {}: value {field} is not {}",
                        self.name,
                        self.cols[i].name,
                        self.cols[i].ty.describe()
                    ))))
                }
            }
        }
        Some(Ok(cells))
    }
}

/// Whether a file's field can be read as `want`, and how.
fn check_type(f: &Type, want: ColType) -> Option<Reading> {
    if !f.is_primitive() {
        // A list: a group with one repeated child (3-level, or the legacy 2-level form)
        // whose leaf is of the element type.
        let is_list = matches!(
            f.get_basic_info().logical_type_ref(),
            Some(LogicalType::List)
        ) || f.get_basic_info().converted_type() == ConvertedType::LIST;
        if !is_list {
            return None;
        }
        let mut leaf = f;
        while !leaf.is_primitive() {
            let kids = leaf.get_fields();
            if kids.len() != 1 {
                return None;
            }
            leaf = &kids[0];
        }
        let ok = match want {
            ColType::StrList => leaf.get_physical_type() == Physical::BYTE_ARRAY,
            ColType::F64List => {
                matches!(leaf.get_physical_type(), Physical::DOUBLE | Physical::FLOAT)
            }
            _ => false,
        };
        return ok.then_some(Reading::Plain);
    }
    let phys = f.get_physical_type();
    let info = f.get_basic_info();
    match want {
        ColType::Str => (phys == Physical::BYTE_ARRAY).then_some(Reading::Plain),
        ColType::Ts => match phys {
            Physical::INT96 => Some(Reading::Plain),
            Physical::INT64 => Some(match info.logical_type_ref() {
                Some(LogicalType::Timestamp(t)) => Reading::TsUnits(match t.unit {
                    TimeUnit::MILLIS => 1,
                    TimeUnit::MICROS => 1_000,
                    TimeUnit::NANOS => 1_000_000,
                }),
                // An untyped integer counts milliseconds.
                _ => Reading::TsUnits(1),
            }),
            // Integer seconds (as some writers store epoch times).
            Physical::INT32 => Some(Reading::TsUnits(0)),
            _ => None,
        },
        ColType::I64 | ColType::I32 => {
            matches!(phys, Physical::INT64 | Physical::INT32).then_some(Reading::Plain)
        }
        ColType::F64 => {
            matches!(phys, Physical::DOUBLE | Physical::FLOAT).then_some(Reading::Plain)
        }
        ColType::StrList | ColType::F64List => None,
    }
}

fn int_of(f: &Field) -> Option<i64> {
    Some(match *f {
        Field::Byte(v) => i64::from(v),
        Field::Short(v) => i64::from(v),
        Field::Int(v) => i64::from(v),
        Field::Long(v) => v,
        Field::UByte(v) => i64::from(v),
        Field::UShort(v) => i64::from(v),
        Field::UInt(v) => i64::from(v),
        Field::ULong(v) => i64::try_from(v).ok()?,
        _ => return None,
    })
}

fn f64_of(f: &Field) -> Option<f64> {
    match *f {
        Field::Double(v) => Some(v),
        Field::Float(v) => Some(f64::from(v)),
        _ => None,
    }
}

fn str_of(f: &Field) -> Option<String> {
    match f {
        Field::Str(s) => Some(s.clone()),
        Field::Bytes(b) => std::str::from_utf8(b.data()).ok().map(str::to_string),
        _ => None,
    }
}

fn to_cell(f: &Field, ty: ColType, reading: Reading) -> Option<Cell> {
    if matches!(f, Field::Null) {
        return Some(Cell::Null);
    }
    Some(match ty {
        ColType::Str => Cell::Str(str_of(f)?),
        ColType::Ts => Cell::Ts(match (f, reading) {
            (Field::TimestampMillis(v), _) => *v,
            (Field::TimestampMicros(v), _) => v.div_euclid(1_000),
            (_, Reading::TsUnits(0)) => int_of(f)?.checked_mul(1_000)?,
            (_, Reading::TsUnits(u)) => int_of(f)?.div_euclid(u),
            _ => int_of(f)?,
        }),
        ColType::I64 => Cell::I64(int_of(f)?),
        ColType::I32 => Cell::I32(i32::try_from(int_of(f)?).ok()?),
        ColType::F64 => Cell::F64(f64_of(f)?),
        ColType::StrList | ColType::F64List => {
            let Field::ListInternal(list) = f else {
                return None;
            };
            if ty == ColType::StrList {
                Cell::StrList(list.elements().iter().map(str_of).collect::<Option<_>>()?)
            } else {
                Cell::F64List(list.elements().iter().map(f64_of).collect::<Option<_>>()?)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_schema_parses() {
        for d in Dataset::ALL {
            parse_message_type(&message_type(d)).unwrap();
        }
    }
}
