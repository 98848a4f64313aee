//! Reading `model.safetensors` one tensor at a time with positioned reads.
//!
//! Memory-mapping the file (candle's `from_mmaped_safetensors`) leaves every page that was
//! copied into a tensor resident in the process as well, so loading peaks at the file size on
//! top of the model. Here each tensor's bytes are read straight into the buffer the tensor
//! keeps: the file is never mapped and loading costs the model's own size plus one tensor.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

struct Info {
    dtype: DType,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    start: u64,
    len: usize,
}

/// A safetensors file whose header has been parsed; tensors are read on request.
pub(crate) struct SafetensorsFile {
    file: File,
    tensors: HashMap<String, Info>,
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {msg}", path.display()))
}

fn dtype_of(name: &str) -> Option<DType> {
    Some(match name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "U8" => DType::U8,
        "U32" => DType::U32,
        "I64" => DType::I64,
        _ => return None,
    })
}

impl SafetensorsFile {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        let mut n = [0u8; 8];
        file.read_exact_at(&mut n, 0)?;
        let n = u64::from_le_bytes(n);
        // The header is JSON text; 100 MB is far beyond any real one.
        if n > 100_000_000 || 8 + n > size {
            return Err(bad(path, format!("bad safetensors header length {n}")));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact_at(&mut header, 8)?;
        let raw: HashMap<String, serde_json::Value> = serde_json::from_slice(&header)
            .map_err(|e| bad(path, format!("bad safetensors header: {e}")))?;
        let data_start = 8 + n;
        let mut tensors = HashMap::with_capacity(raw.len());
        for (name, value) in raw {
            if name == "__metadata__" {
                continue;
            }
            let e: Entry = serde_json::from_value(value)
                .map_err(|e| bad(path, format!("bad entry {name}: {e}")))?;
            let dtype = dtype_of(&e.dtype)
                .ok_or_else(|| bad(path, format!("{name} has unsupported dtype {}", e.dtype)))?;
            let (begin, end) = e.data_offsets;
            let elems = e.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let bytes = elems.and_then(|n| n.checked_mul(dtype.size_in_bytes()));
            if end < begin
                || data_start.checked_add(end).is_none_or(|e| e > size)
                || bytes != usize::try_from(end - begin).ok()
            {
                return Err(bad(
                    path,
                    format!("{name}: data offsets do not fit its shape"),
                ));
            }
            tensors.insert(
                name,
                Info {
                    dtype,
                    shape: e.shape,
                    start: data_start + begin,
                    len: (end - begin) as usize,
                },
            );
        }
        Ok(SafetensorsFile { file, tensors })
    }

    fn read(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        let info = self.tensors.get(name).ok_or_else(|| {
            candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            }
            .bt()
        })?;
        let shape = Shape::from(info.shape.clone());
        #[cfg(target_endian = "little")]
        if info.dtype == DType::F32 {
            // Read the little-endian f32 bytes straight into the tensor's own buffer.
            let mut data = vec![0f32; info.len / 4];
            // SAFETY: any bit pattern is a valid f32, the slice covers exactly `data`, and
            // u8 has no alignment requirement.
            let bytes =
                unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), info.len) };
            self.file.read_exact_at(bytes, info.start)?;
            return Tensor::from_vec(data, shape, dev)?.to_dtype(dtype);
        }
        let mut bytes = vec![0u8; info.len];
        self.file.read_exact_at(&mut bytes, info.start)?;
        Tensor::from_raw_buffer(&bytes, info.dtype, &info.shape, dev)?.to_dtype(dtype)
    }
}

impl SimpleBackend for SafetensorsFile {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        let t = self.read(name, dtype, dev)?;
        if t.shape() != &s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: t.shape().clone(),
            }
            .bt());
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.read(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/vit-gpt2/tiny-vit-gpt2/model.safetensors")
    }

    #[test]
    fn every_tensor_equals_candles_reader() {
        let file = SafetensorsFile::open(&tiny()).unwrap();
        let reference = candle_core::safetensors::load(tiny(), &Device::Cpu).unwrap();
        assert_eq!(file.tensors.len(), reference.len());
        for (name, want) in reference {
            let got = file.read(&name, want.dtype(), &Device::Cpu).unwrap();
            assert_eq!(got.shape(), want.shape(), "{name}");
            let diff = (got.to_dtype(DType::F64).unwrap() - want.to_dtype(DType::F64).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert_eq!(diff, 0.0, "{name}");
        }
        let err = file.read("nope", DType::F32, &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = std::fs::read(tiny()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        for cut in [0, 7, 8, 100, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(SafetensorsFile::open(&path).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        assert!(SafetensorsFile::open(&path).is_err());
    }
}
