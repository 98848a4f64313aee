//! GPT-2 (Radford et al., "Language Models are Unsupervised Multitask Learners", 2019) as a
//! caption decoder: Hugging Face's `GPT2LMHeadModel` with `add_cross_attention=True`.
//!
//! Weight names follow the checkpoint (`transformer.wte`, `transformer.h.{i}.attn.c_attn`,
//! `...crossattention.q_attn`, ...). GPT-2's `Conv1D` layers store weights `[in, out]`.
//! Unlike HF, the cross-attention keys/values of the encoder states are computed once per
//! image ([`Gpt2Decoder::cross_kv`]) and shared by every beam of that image at every step.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{layer_norm, LayerNorm, LayerNormConfig, VarBuilder};
use serde::Deserialize;

fn default_act() -> String {
    "gelu_new".into()
}
fn default_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

/// The fields of a `GPT2Config` (`config.json` -> `decoder`) the decoder needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Maximum number of positions.
    pub n_positions: usize,
    /// Width of the token states.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// MLP width; `None` means `4 * n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// MLP activation (`gelu_new` = tanh approximation).
    #[serde(default = "default_act")]
    pub activation_function: String,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Divide attention scores by `sqrt(head_dim)`.
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// Also divide attention scores by `layer_index + 1`.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Blocks carry cross-attention over encoder states.
    #[serde(default)]
    pub add_cross_attention: bool,
    /// The output head is the token embedding matrix (GPT-2's default).
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
}

impl Config {
    /// GPT-2 124M with cross-attention, the decoder of `nlpconnect/vit-gpt2-image-captioning`.
    pub fn gpt2_124m_cross() -> Self {
        Config {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            n_inner: None,
            activation_function: "gelu_new".into(),
            layer_norm_epsilon: 1e-5,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            add_cross_attention: true,
            tie_word_embeddings: true,
        }
    }
}

/// GPT-2's `Conv1D`: `y = x @ W + b` with `W` stored `[in, out]`.
struct Conv1D {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1D {
    fn new(n_in: usize, n_out: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Conv1D {
            weight: vb.get((n_in, n_out), "weight")?,
            bias: vb.get(n_out, "bias")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, t, d) = x.dims3()?;
        x.reshape((n * t, d))?
            .matmul(&self.weight)?
            .broadcast_add(&self.bias)?
            .reshape((n, t, ()))
    }
}

fn ln(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    layer_norm(
        size,
        LayerNormConfig {
            eps,
            ..Default::default()
        },
        vb,
    )
}

/// `[N, T, D] -> [N, H, T, D/H]`.
fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (n, t, d) = x.dims3()?;
    x.reshape((n, t, heads, d / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// `[N, H, T, dh] -> [N, T, H*dh]`.
fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (n, h, t, dh) = x.dims4()?;
    x.transpose(1, 2)?.contiguous()?.reshape((n, t, h * dh))
}

struct SelfAttention {
    c_attn: Conv1D,
    c_proj: Conv1D,
    heads: usize,
    scale: f64,
}

impl SelfAttention {
    fn forward(
        &self,
        x: &Tensor,
        cache: &mut Option<(Tensor, Tensor)>,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let d = x.dim(D::Minus1)?;
        let qkv = self.c_attn.forward(x)?;
        let q = split_heads(&qkv.narrow(2, 0, d)?, self.heads)?;
        let mut k = split_heads(&qkv.narrow(2, d, d)?, self.heads)?;
        let mut v = split_heads(&qkv.narrow(2, 2 * d, d)?, self.heads)?;
        if let Some((pk, pv)) = cache.as_ref() {
            k = Tensor::cat(&[pk, &k], 2)?;
            v = Tensor::cat(&[pv, &v], 2)?;
        }
        *cache = Some((k.clone(), v.clone()));
        let mut scores = (q.matmul(&k.t()?)? * self.scale)?;
        if let Some(m) = mask {
            scores = scores.broadcast_add(m)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        self.c_proj.forward(&merge_heads(&probs.matmul(&v)?)?)
    }
}

struct CrossAttention {
    q_attn: Conv1D,
    c_attn: Conv1D,
    c_proj: Conv1D,
    heads: usize,
    scale: f64,
}

impl CrossAttention {
    /// Keys (already transposed, `[B, H, dh, S]`) and values (`[B, H, S, dh]`) of the
    /// encoder states; made once per image, so the transposition is paid once too.
    fn kv(&self, enc: &Tensor) -> Result<(Tensor, Tensor)> {
        let d = enc.dim(D::Minus1)?;
        let kv = self.c_attn.forward(enc)?;
        Ok((
            split_heads(&kv.narrow(2, 0, d)?, self.heads)?
                .t()?
                .contiguous()?,
            split_heads(&kv.narrow(2, d, d)?, self.heads)?,
        ))
    }

    /// `x` has `B * g` rows (g beams per image, image-major); `k_t`/`v` have `B` rows.
    fn forward(&self, x: &Tensor, k_t: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (n, t, d) = x.dims3()?;
        let b = k_t.dim(0)?;
        if b == 0 || n % b != 0 {
            candle_core::bail!("{n} decoder rows cannot share {b} encoder states");
        }
        let g = n / b;
        let dh = d / self.heads;
        // Fold the beams of one image into the query length so all of them attend to the
        // image's keys in one matmul, without copying the keys per beam.
        let q = self
            .q_attn
            .forward(x)?
            .reshape((b, g * t, self.heads, dh))?
            .transpose(1, 2)?
            .contiguous()?;
        let scores = (q.matmul(k_t)? * self.scale)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((n, t, d))?;
        self.c_proj.forward(&ctx)
    }
}

struct Mlp {
    c_fc: Conv1D,
    c_proj: Conv1D,
    tanh_gelu: bool,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.c_fc.forward(x)?;
        let h = if self.tanh_gelu {
            h.gelu()?
        } else {
            h.gelu_erf()?
        };
        self.c_proj.forward(&h)
    }
}

struct Block {
    ln_1: LayerNorm,
    attn: SelfAttention,
    cross: Option<(LayerNorm, CrossAttention)>,
    ln_2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn new(cfg: &Config, idx: usize, vb: VarBuilder) -> Result<Self> {
        let d = cfg.n_embd;
        let inner = cfg.n_inner.unwrap_or(4 * d);
        let mut scale = if cfg.scale_attn_weights {
            1.0 / ((d / cfg.n_head) as f64).sqrt()
        } else {
            1.0
        };
        if cfg.scale_attn_by_inverse_layer_idx {
            scale /= (idx + 1) as f64;
        }
        let eps = cfg.layer_norm_epsilon;
        let tanh_gelu = match cfg.activation_function.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => true,
            "gelu" => false,
            other => candle_core::bail!("unsupported activation_function {other}"),
        };
        let cross = if cfg.add_cross_attention {
            let c = vb.pp("crossattention");
            Some((
                ln(d, eps, vb.pp("ln_cross_attn"))?,
                CrossAttention {
                    q_attn: Conv1D::new(d, d, c.pp("q_attn"))?,
                    c_attn: Conv1D::new(d, 2 * d, c.pp("c_attn"))?,
                    c_proj: Conv1D::new(d, d, c.pp("c_proj"))?,
                    heads: cfg.n_head,
                    // HF's cross-attention is never scaled by the layer index.
                    scale: if cfg.scale_attn_weights {
                        1.0 / ((d / cfg.n_head) as f64).sqrt()
                    } else {
                        1.0
                    },
                },
            ))
        } else {
            None
        };
        Ok(Block {
            ln_1: ln(d, eps, vb.pp("ln_1"))?,
            attn: SelfAttention {
                c_attn: Conv1D::new(d, 3 * d, vb.pp("attn.c_attn"))?,
                c_proj: Conv1D::new(d, d, vb.pp("attn.c_proj"))?,
                heads: cfg.n_head,
                scale,
            },
            cross,
            ln_2: ln(d, eps, vb.pp("ln_2"))?,
            mlp: Mlp {
                c_fc: Conv1D::new(d, inner, vb.pp("mlp.c_fc"))?,
                c_proj: Conv1D::new(inner, d, vb.pp("mlp.c_proj"))?,
                tanh_gelu,
            },
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        cross_kv: Option<&(Tensor, Tensor)>,
        cache: &mut Option<(Tensor, Tensor)>,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let x = (x + self.attn.forward(&self.ln_1.forward(x)?, cache, mask)?)?;
        let x = match (&self.cross, cross_kv) {
            (Some((ln_c, cross)), Some((k, v))) => {
                (&x + cross.forward(&ln_c.forward(&x)?, k, v)?)?
            }
            (Some(_), None) => candle_core::bail!("cross-attention needs encoder states"),
            _ => x,
        };
        &x + self.mlp.forward(&self.ln_2.forward(&x)?)?
    }
}

/// Per-layer cross-attention keys and values of a batch of encoder states.
#[derive(Clone)]
pub struct CrossKv(Vec<(Tensor, Tensor)>);

/// Self-attention keys/values of the tokens seen so far, one entry per layer.
#[derive(Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Tokens already in the cache (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been decoded yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps, for every new row `i`, the cached row `rows[i]` (beam search reordering).
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(rows, 0)?;
            *v = v.index_select(rows, 0)?;
        }
        Ok(())
    }
}

/// The GPT-2 decoder with its language-model head (`wte` itself when
/// `tie_word_embeddings`, GPT-2's default; `lm_head.weight` otherwise).
pub struct Gpt2Decoder {
    /// Token embeddings `[V, D]`, kept only when the head is not tied to them.
    wte: Option<Tensor>,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// The head stored `[D, V]`: a beam step's few rows multiply it about twice as fast as
    /// the transposed view of a `[V, D]` matrix. When tied, embeddings are gathered from it.
    head_t: Tensor,
    cfg: Config,
}

impl Gpt2Decoder {
    /// Loads the weights under `vb` (`decoder` in a VisionEncoderDecoder checkpoint).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        if cfg.n_head == 0 || !cfg.n_embd.is_multiple_of(cfg.n_head) {
            candle_core::bail!("n_embd must be a multiple of n_head");
        }
        let t = vb.pp("transformer");
        let wte = t.get((cfg.vocab_size, cfg.n_embd), "wte.weight")?;
        let wpe = t.get((cfg.n_positions, cfg.n_embd), "wpe.weight")?;
        let blocks = (0..cfg.n_layer)
            .map(|i| Block::new(cfg, i, t.pp(format!("h.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let ln_f = ln(cfg.n_embd, cfg.layer_norm_epsilon, t.pp("ln_f"))?;
        // Tied like HF's tie_weights(): the head *is* wte, whatever a .bin stores beside it
        // (safetensors checkpoints omit it), and its copy is never loaded.
        let (wte, head_t) = if cfg.tie_word_embeddings {
            (None, wte.t()?.contiguous()?)
        } else {
            let head = vb.get((cfg.vocab_size, cfg.n_embd), "lm_head.weight")?;
            (Some(wte), head.t()?.contiguous()?)
        };
        Ok(Gpt2Decoder {
            wte,
            wpe,
            blocks,
            ln_f,
            head_t,
            cfg: cfg.clone(),
        })
    }

    /// The configuration the decoder was built with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Cross-attention keys/values for encoder states `[B, S, D]`; compute once per batch.
    pub fn cross_kv(&self, encoder_states: &Tensor) -> Result<CrossKv> {
        let kv = self
            .blocks
            .iter()
            .map(|b| match &b.cross {
                Some((_, c)) => c.kv(encoder_states),
                None => candle_core::bail!("decoder has no cross-attention"),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CrossKv(kv))
    }

    /// Final hidden states (after `ln_f`) for `ids [N, T]` following the cached tokens.
    /// `N` must be a multiple of the number of images in `cross` (beams are image-major).
    pub fn forward_hidden(
        &self,
        ids: &Tensor,
        cross: &CrossKv,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let (_n, t) = ids.dims2()?;
        let past = cache.len;
        if past + t > self.cfg.n_positions {
            candle_core::bail!(
                "sequence of {} tokens exceeds n_positions {}",
                past + t,
                self.cfg.n_positions
            );
        }
        let flat = ids.flatten_all()?;
        let tok = match &self.wte {
            Some(wte) => wte.embedding(&flat)?,
            None => self.head_t.index_select(&flat, 1)?.t()?.contiguous()?,
        };
        let pos = self.wpe.narrow(0, past, t)?;
        let mut h = tok
            .reshape((ids.dim(0)?, t, self.cfg.n_embd))?
            .broadcast_add(&pos)?;
        let mask = if t > 1 {
            Some(causal_mask(t, past, h.device())?)
        } else {
            None
        };
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![None; self.blocks.len()];
        }
        for (i, block) in self.blocks.iter().enumerate() {
            h = block.forward(&h, cross.0.get(i), &mut cache.layers[i], mask.as_ref())?;
        }
        cache.len = past + t;
        self.ln_f.forward(&h)
    }

    /// Logits `[N, T, V]` for every position of `ids`.
    pub fn forward(&self, ids: &Tensor, cross: &CrossKv, cache: &mut KvCache) -> Result<Tensor> {
        let h = self.forward_hidden(ids, cross, cache)?;
        let (n, t, d) = h.dims3()?;
        h.reshape((n * t, d))?
            .matmul(&self.head_t)?
            .reshape((n, t, ()))
    }

    /// Logits `[N, V]` of the last position only: the head is the costliest matmul of a step.
    pub fn forward_last(
        &self,
        ids: &Tensor,
        cross: &CrossKv,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let h = self.forward_hidden(ids, cross, cache)?;
        let t = h.dim(1)?;
        h.narrow(1, t - 1, 1)?
            .squeeze(1)?
            .contiguous()?
            .matmul(&self.head_t)
    }
}

/// `[T, past+T]` additive mask: query `i` sees keys up to `past + i`.
fn causal_mask(t: usize, past: usize, dev: &candle_core::Device) -> Result<Tensor> {
    let total = past + t;
    let data: Vec<f32> = (0..t)
        .flat_map(|i| (0..total).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(data, (t, total), dev)?.to_dtype(DType::F32)
}
