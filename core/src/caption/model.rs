//! Hugging Face's `VisionEncoderDecoderModel` with a ViT encoder and a GPT-2 decoder,
//! loaded from a model directory (`config.json` + `model.safetensors` or
//! `pytorch_model.bin`).

use super::team::Par;
use super::{gpt2, gpt2_cpu, vit};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::Deserialize;
use std::path::Path;

/// `config.json` of a `VisionEncoderDecoderModel`.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// The ViT encoder's configuration.
    pub encoder: vit::Config,
    /// The GPT-2 decoder's configuration.
    pub decoder: gpt2::Config,
    /// First decoder token.
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
    /// Padding token.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// End-of-sequence token.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// Anything else (generation defaults of old checkpoints live here).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Config {
    /// Parses `config.json` text.
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: Config = serde_json::from_str(text)
            .map_err(|e| Error::Model(format!("bad config.json: {e}")))?;
        let model_type = cfg.extra.get("model_type").and_then(|v| v.as_str());
        if let Some(t) = model_type {
            if t != "vision-encoder-decoder" {
                return Err(Error::Model(format!(
                    "config.json model_type is {t:?}, expected \"vision-encoder-decoder\""
                )));
            }
        }
        Ok(cfg)
    }
}

pub(crate) fn model_err(e: candle_core::Error) -> Error {
    Error::Model(e.to_string())
}

/// Which weight file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `model.safetensors` (read tensor by tensor).
    Safetensors,
    /// `pytorch_model.bin` (a PyTorch pickle).
    PytorchBin,
}

impl WeightFormat {
    /// The conventional file name in a model directory.
    pub fn file_name(self) -> &'static str {
        match self {
            WeightFormat::Safetensors => "model.safetensors",
            WeightFormat::PytorchBin => "pytorch_model.bin",
        }
    }

    /// The format of an existing weight file in `dir`, safetensors first.
    pub fn detect(dir: &Path) -> Option<Self> {
        [WeightFormat::Safetensors, WeightFormat::PytorchBin]
            .into_iter()
            .find(|f| dir.join(f.file_name()).is_file())
    }

    /// [`Self::detect`], or a model error naming `dir` when it holds no weight file.
    pub(crate) fn detect_or_err(dir: &Path) -> Result<Self> {
        Self::detect(dir).ok_or_else(|| {
            Error::Model(format!(
                "{} holds neither model.safetensors nor pytorch_model.bin",
                dir.display()
            ))
        })
    }
}

/// Builds a [`VarBuilder`] over a weight file in f32 on `device`.
pub fn var_builder(
    path: &Path,
    format: WeightFormat,
    device: &Device,
) -> Result<VarBuilder<'static>> {
    let vb = match format {
        // Tensor by tensor with positioned reads: the file is never resident beside the model.
        WeightFormat::Safetensors => super::weights::SafetensorsFile::open(path)
            .map(|f| VarBuilder::from_backend(Box::new(f), DType::F32, device.clone())),
        // candle reads a pickle's tensors one by one from the zip, without mapping it.
        WeightFormat::PytorchBin => VarBuilder::from_pth(path, DType::F32, device),
    };
    vb.map_err(|e| Error::Model(format!("cannot read {}: {e}", path.display())))
}

/// Which implementation runs the network's blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// [`Kernels::Cpu`] when the model is on the CPU and its decoder is GPT-2 with the
    /// tanh GELU (every ViT-GPT2 checkpoint), [`Kernels::Candle`] otherwise.
    #[default]
    Auto,
    /// candle tensors on the model's device (CUDA, Metal, CPU): [`gpt2::Gpt2Decoder`] and
    /// the tensor path of [`vit::VitEncoder`]. The reference the CPU path is tested against.
    Candle,
    /// The CPU path: weights repacked into panels streamed by an AVX-512 kernel (plain
    /// Rust elsewhere), [`gpt2_cpu::Gpt2Cpu`] for the decoder.
    Cpu,
    /// [`Kernels::Cpu`] with the decoder's weights stored as f16: decoding streams half the
    /// bytes per token (about 1.6× faster here) and the decoder takes half the memory.
    /// Activations and sums stay f32 and the encoder is unchanged, but rounded weights move
    /// the logits slightly, so a caption can differ from the f32 reference where two tokens
    /// nearly tie. Opt-in; the default stays token-exact.
    CpuF16,
}

impl Kernels {
    /// The name [`Kernels::from_str`](std::str::FromStr) reads: `auto`, `candle`, `cpu`,
    /// `cpu-f16`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kernels::Auto => "auto",
            Kernels::Candle => "candle",
            Kernels::Cpu => "cpu",
            Kernels::CpuF16 => "cpu-f16",
        }
    }
}

impl std::str::FromStr for Kernels {
    type Err = Error;

    /// ```
    /// use sociallens::caption::Kernels;
    /// assert_eq!("cpu-f16".parse::<Kernels>()?, Kernels::CpuF16);
    /// assert_eq!("bf16".parse::<Kernels>().unwrap_err().code(), "INVALID_INPUT");
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        [
            Kernels::Auto,
            Kernels::Candle,
            Kernels::Cpu,
            Kernels::CpuF16,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            Error::invalid(format!(
                "kernels must be auto, candle, cpu or cpu-f16, not {s:?}"
            ))
        })
    }
}

/// The decoder a [`VisionEncoderDecoder`] runs.
pub enum Decoder {
    /// candle tensors on the model's device.
    Candle(gpt2::Gpt2Decoder),
    /// The CPU fast path (boxed: it is much bigger than the candle one).
    Cpu(Box<gpt2_cpu::Gpt2Cpu>),
}

impl Decoder {
    /// The decoder's configuration.
    pub fn config(&self) -> &gpt2::Config {
        match self {
            Decoder::Candle(d) => d.config(),
            Decoder::Cpu(d) => d.config(),
        }
    }

    /// Which implementation this is ([`Kernels::Candle`], [`Kernels::Cpu`] or
    /// [`Kernels::CpuF16`]).
    pub fn kernels(&self) -> Kernels {
        match self {
            Decoder::Candle(_) => Kernels::Candle,
            Decoder::Cpu(d) if d.is_f16() => Kernels::CpuF16,
            Decoder::Cpu(_) => Kernels::Cpu,
        }
    }
}

/// The captioning network: [`vit::VitEncoder`] + a GPT-2 [`Decoder`].
pub struct VisionEncoderDecoder {
    encoder: vit::VitEncoder,
    /// Present only when encoder and decoder widths differ.
    enc_to_dec_proj: Option<Linear>,
    decoder: Decoder,
    cfg: Config,
    spin_team: bool,
}

impl VisionEncoderDecoder {
    /// Loads the weights (`encoder.*`, `decoder.*`) from `vb`, with [`Kernels::Auto`].
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        Self::new_with(cfg, vb, Kernels::Auto)
    }

    /// Loads the weights from `vb` with the implementation `kind`.
    pub fn new_with(cfg: &Config, vb: VarBuilder, kind: Kernels) -> Result<Self> {
        let kind = match kind {
            Kernels::Auto if vb.device().is_cpu() && gpt2_cpu::supports(&cfg.decoder) => {
                Kernels::Cpu
            }
            Kernels::Auto => Kernels::Candle,
            k => k,
        };
        let encoder =
            vit::VitEncoder::new_with(&cfg.encoder, vb.pp("encoder"), kind != Kernels::Candle)
                .map_err(model_err)?;
        let dvb = vb.pp("decoder");
        let decoder = match kind {
            Kernels::Cpu | Kernels::CpuF16 => Decoder::Cpu(Box::new(
                gpt2_cpu::Gpt2Cpu::new_with(&cfg.decoder, dvb, kind == Kernels::CpuF16)
                    .map_err(model_err)?,
            )),
            _ => Decoder::Candle(gpt2::Gpt2Decoder::new(&cfg.decoder, dvb).map_err(model_err)?),
        };
        let enc_to_dec_proj = if cfg.encoder.hidden_size != cfg.decoder.n_embd {
            Some(
                candle_nn::linear(
                    cfg.encoder.hidden_size,
                    cfg.decoder.n_embd,
                    vb.pp("enc_to_dec_proj"),
                )
                .map_err(model_err)?,
            )
        } else {
            None
        };
        Ok(VisionEncoderDecoder {
            encoder,
            enc_to_dec_proj,
            decoder,
            cfg: cfg.clone(),
            spin_team: super::team::spin_by_default(),
        })
    }

    /// Reads `config.json` and the weights (`model.safetensors`, else `pytorch_model.bin`)
    /// from a model directory.
    pub fn from_dir(dir: &Path, device: &Device) -> Result<Self> {
        let format = WeightFormat::detect_or_err(dir)?;
        Self::from_dir_with(dir, format, device)
    }

    /// Like [`Self::from_dir`] with an explicit weight file format.
    pub fn from_dir_with(dir: &Path, format: WeightFormat, device: &Device) -> Result<Self> {
        Self::from_dir_with_kernels(dir, format, device, Kernels::Auto)
    }

    /// Like [`Self::from_dir_with`] with an explicit implementation.
    pub fn from_dir_with_kernels(
        dir: &Path,
        format: WeightFormat,
        device: &Device,
        kind: Kernels,
    ) -> Result<Self> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path)
            .map_err(|e| Error::Model(format!("cannot read {}: {e}", cfg_path.display())))?;
        let cfg = Config::from_json(&text)?;
        let vb = var_builder(&dir.join(format.file_name()), format, device)?;
        Self::new_with(&cfg, vb, kind)
    }

    /// The model configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The encoder.
    pub fn encoder(&self) -> &vit::VitEncoder {
        &self.encoder
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Whether the CPU decoder runs its parallel products on a team of spinning helper
    /// threads, one per other thread of the rayon pool, for each `generate` call (the
    /// default), or on rayon's pool alone (`false`). The team decodes faster on cores of
    /// its own; its helpers keep their cores busy for the whole call, which a host that
    /// shares its cores may not want. Captions are the same either way. The default is
    /// `true` unless the environment variable `SOCIALLENS_SPIN_TEAM` is `0`, `false`, `off`
    /// or `no` (read once per process), which also reaches the Python and Node bindings.
    ///
    /// An option of the model rather than a process-wide setting: two captioners in one
    /// process can differ, and it travels with the model that `generate` is given.
    ///
    /// ```no_run
    /// use sociallens::caption::model::VisionEncoderDecoder;
    /// let model = VisionEncoderDecoder::from_dir(
    ///     "models/vit-gpt2".as_ref(),
    ///     &candle_core::Device::Cpu,
    /// )?
    /// .with_spin_team(false);
    /// assert!(!model.spin_team());
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn with_spin_team(mut self, on: bool) -> Self {
        self.spin_team = on;
        self
    }

    /// Whether decoding uses the spinning team (see [`Self::with_spin_team`]).
    pub fn spin_team(&self) -> bool {
        self.spin_team
    }

    /// Encoder states `[N, 1+P, D]` for pixel values `[N, 3, H, W]`, projected to the
    /// decoder width if needed.
    pub fn encode(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let h = self.encoder.forward(pixel_values).map_err(model_err)?;
        match &self.enc_to_dec_proj {
            Some(p) => p.forward(&h).map_err(model_err),
            None => Ok(h),
        }
    }
}

/// One decoding session over a batch of encoded images: feeds one token per row and returns
/// the next-token logits, keeping the keys/values of what it has seen.
pub(crate) trait Stepper {
    /// Logits `[rows, V]`, row-major, for one new token per row.
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>>;
    /// Keeps, for every new row `i`, the state of row `rows[i]`.
    fn select_rows(&mut self, rows: &[u32]) -> Result<()>;

    /// The greedy choice of each row: the first index of the largest logit, the tokens of
    /// `banned[row]` left out.
    fn step_greedy(&mut self, tokens: &[u32], banned: &[Vec<u32>]) -> Result<Vec<u32>> {
        let mut logits = self.step(tokens)?;
        let vocab = logits.len() / tokens.len().max(1);
        Ok(logits
            .chunks_exact_mut(vocab.max(1))
            .zip(banned)
            .map(|(row, ban)| super::generate::argmax_without(row, ban))
            .collect())
    }
}

struct CandleStepper<'a> {
    decoder: &'a gpt2::Gpt2Decoder,
    cross: gpt2::CrossKv,
    cache: gpt2::KvCache,
    device: Device,
}

impl Stepper for CandleStepper<'_> {
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let ids = Tensor::from_vec(tokens.to_vec(), (tokens.len(), 1), &self.device)
            .map_err(model_err)?;
        self.decoder
            .forward_last(&ids, &self.cross, &mut self.cache)
            .and_then(|l| l.flatten_all()?.to_vec1::<f32>())
            .map_err(model_err)
    }

    fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        let rows = Tensor::new(rows, &self.device).map_err(model_err)?;
        self.cache.select_rows(&rows).map_err(model_err)
    }
}

struct CpuStepper<'a> {
    decoder: &'a gpt2_cpu::Gpt2Cpu,
    cross: gpt2_cpu::CrossKv,
    cache: gpt2_cpu::KvCache,
    par: Par<'a>,
}

impl Stepper for CpuStepper<'_> {
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.decoder
            .step_in(self.par, tokens, tokens.len(), &self.cross, &mut self.cache)
            .map_err(model_err)
    }

    fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        self.cache.select_rows(rows).map_err(model_err)
    }

    fn step_greedy(&mut self, tokens: &[u32], banned: &[Vec<u32>]) -> Result<Vec<u32>> {
        self.decoder
            .step_greedy_in(
                self.par,
                tokens,
                tokens.len(),
                &self.cross,
                &mut self.cache,
                banned,
            )
            .map_err(model_err)
    }
}

impl VisionEncoderDecoder {
    /// A decoding session over encoder states `[B, S, D]` (cross-attention keys/values are
    /// computed here, once); the CPU decoder runs its parallel parts on `par`.
    pub(crate) fn stepper<'a>(
        &'a self,
        encoder_states: &Tensor,
        par: Par<'a>,
    ) -> Result<Box<dyn Stepper + 'a>> {
        Ok(match &self.decoder {
            Decoder::Candle(d) => Box::new(CandleStepper {
                decoder: d,
                cross: d.cross_kv(encoder_states).map_err(model_err)?,
                cache: gpt2::KvCache::default(),
                device: encoder_states.device().clone(),
            }),
            Decoder::Cpu(d) => Box::new(CpuStepper {
                decoder: d,
                cross: d.cross_kv(encoder_states).map_err(model_err)?,
                cache: gpt2_cpu::KvCache::default(),
                par,
            }),
        })
    }
}
