//! The GPT-2 caption decoder on the CPU without tensors: the network of
//! [`super::gpt2::Gpt2Decoder`] (same weights, same arithmetic in another order: logits within 2e-5), written for
//! decoding.
//!
//! A decode step pushes one token per beam through every weight of the decoder, about
//! 550 MB in f32 for GPT-2 124M, so its speed is set by memory bandwidth. This
//! implementation streams each weight once per step from a panel layout
//! ([`super::kernels::PackedLinear`]), keeps the per-step work (layer norms, attention over
//! at most a few dozen cached tokens, the image's cross-attention) in plain loops, and
//! allocates nothing per operation. The candle decoder stays the reference and serves other
//! devices.

use super::generate::argmax_without;
use super::gpt2::Config;
use super::kernels::{self, add_assign, Norm, PackedLinear};
use super::team::Par;
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

fn vec_of(t: Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()
}

/// GPT-2's LayerNorm parameters under `vb`.
fn norm(d: usize, eps: f64, vb: VarBuilder) -> Result<Norm> {
    Ok(Norm {
        w: vec_of(vb.get(d, "weight")?)?,
        b: vec_of(vb.get(d, "bias")?)?,
        eps: eps as f32,
    })
}

/// GPT-2's `Conv1D` (`[in, out]` weight plus bias), packed.
fn conv1d(n_in: usize, n_out: usize, f16: bool, vb: VarBuilder) -> Result<PackedLinear> {
    let w = vec_of(vb.get((n_in, n_out), "weight")?)?;
    let b = vec_of(vb.get(n_out, "bias")?)?;
    Ok(half_if(
        PackedLinear::from_in_out(&w, n_in, n_out, Some(b)),
        f16,
    ))
}

fn half_if(p: PackedLinear, f16: bool) -> PackedLinear {
    if f16 {
        p.to_f16()
    } else {
        p
    }
}

struct Cross {
    ln: Norm,
    q: PackedLinear,
    kv: PackedLinear,
    proj: PackedLinear,
    scale: f32,
}

struct Block {
    ln_1: Norm,
    c_attn: PackedLinear,
    attn_proj: PackedLinear,
    scale: f32,
    cross: Option<Cross>,
    ln_2: Norm,
    fc: PackedLinear,
    mlp_proj: PackedLinear,
}

/// Per-layer cross-attention keys (`[B][H][dh][S]`, transposed so a query's scores are a
/// run of contiguous multiply-adds) and values (`[B][H][S][dh]`) of a batch of images.
#[derive(Clone)]
pub struct CrossKv {
    images: usize,
    len: usize,
    layers: Vec<(Vec<f32>, Vec<f32>)>,
}

impl CrossKv {
    /// Images in the batch.
    pub fn images(&self) -> usize {
        self.images
    }
}

/// Self-attention keys and values of the tokens seen so far: per layer, per row, `[pos][D]`.
#[derive(Clone, Default)]
pub struct KvCache {
    len: usize,
    layers: Vec<Vec<(Vec<f32>, Vec<f32>)>>,
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
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        for layer in self.layers.iter_mut() {
            let picked = rows
                .iter()
                .map(|&r| {
                    layer.get(r as usize).cloned().ok_or_else(|| {
                        candle_core::Error::Msg(format!(
                            "row {r} is not in a cache of {} rows",
                            layer.len()
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            *layer = picked;
        }
        Ok(())
    }
}

/// GPT-2 with cross-attention and its language-model head, on the CPU.
///
/// It takes the same checkpoint and gives the same logits as [`super::gpt2::Gpt2Decoder`];
/// [`super::model::VisionEncoderDecoder`] picks it on the CPU. Only the tanh GELU of GPT-2
/// (`gelu_new` and its aliases) is implemented.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use sociallens::caption::gpt2_cpu::KvCache;
/// use sociallens::caption::model::{Decoder, VisionEncoderDecoder};
/// use sociallens::caption::{Kernels, WeightFormat};
///
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
///     .join("../../shared/fixtures/vit-gpt2/tiny-vit-gpt2");
/// let model = VisionEncoderDecoder::from_dir_with_kernels(
///     &dir, WeightFormat::Safetensors, &Device::Cpu, Kernels::Cpu)?;
/// let Decoder::Cpu(decoder) = model.decoder() else { unreachable!() };
/// let side = model.config().encoder.image_size;
/// let pixels = Tensor::zeros((2, 3, side, side), DType::F32, &Device::Cpu)?;
/// let cross = decoder.cross_kv(&model.encode(&pixels)?)?;
/// // One decode step for two images: logits [2, V], row-major.
/// let mut cache = KvCache::default();
/// let logits = decoder.step(&[0, 0], 2, &cross, &mut cache)?;
/// assert_eq!(logits.len(), 2 * decoder.config().vocab_size);
/// assert_eq!(cache.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Gpt2Cpu {
    cfg: Config,
    /// Token embeddings `[V, D]`, kept only when the head is not tied to them.
    wte: Option<Vec<f32>>,
    wpe: Vec<f32>,
    blocks: Vec<Block>,
    ln_f: Norm,
    /// `D -> V`; when tied, embeddings are read back from its columns.
    head: PackedLinear,
    /// The head's f16 copy for greedy steps, made on first use.
    screen: std::sync::OnceLock<Screen>,
}

/// An f16 copy of the head and, per token, how far its logit can be from the f32 one per
/// unit of hidden-state norm: `|Δw|₂ + γ(2|w|₂ + |Δw|₂)` with `γ = n u / (1 - n u)`, the
/// rounding bound of an `n`-term f32 dot product (Cauchy-Schwarz on the weight error,
/// Higham's bound on both sums).
struct Screen {
    f16: PackedLinear,
    err: Vec<f32>,
}

impl Screen {
    fn of(head: &PackedLinear) -> Self {
        let f16 = head.to_f16();
        let (delta, norm) = head.f16_column_errors();
        let n = head.n_in() as f64;
        let u = f32::EPSILON as f64 / 2.0; // f32's unit roundoff, 2^-24
        let gamma = n * u / (1.0 - n * u);
        let err = delta
            .iter()
            .zip(&norm)
            .map(|(&dw, &w)| ((dw + gamma * (2.0 * w + dw)) * (1.0 + 1e-6)) as f32)
            .collect();
        Screen { f16, err }
    }
}

/// Whether [`Gpt2Cpu`] implements this configuration.
pub fn supports(cfg: &Config) -> bool {
    matches!(
        cfg.activation_function.as_str(),
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast"
    ) && cfg.n_head > 0
        && cfg.n_embd.is_multiple_of(cfg.n_head)
}

impl Gpt2Cpu {
    /// Loads the weights under `vb` (`decoder` in a VisionEncoderDecoder checkpoint), one
    /// tensor at a time, repacking each as it arrives.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        Self::new_with(cfg, vb, false)
    }

    /// Like [`Self::new`]; with `f16`, the weights of the blocks and of the head are stored
    /// as IEEE half (rounded to nearest), so a step streams half the bytes. Activations,
    /// products and sums stay f32; the logits move by about 1e-3 of their spread, which can
    /// change a near tie between two tokens, so this is not the token-exact mode.
    pub fn new_with(cfg: &Config, vb: VarBuilder, f16: bool) -> Result<Self> {
        if !supports(cfg) {
            candle_core::bail!(
                "the CPU decoder needs a tanh GELU and n_embd divisible by n_head \
                 (activation_function {:?}, n_embd {}, n_head {})",
                cfg.activation_function,
                cfg.n_embd,
                cfg.n_head
            );
        }
        let d = cfg.n_embd;
        let inner = cfg.n_inner.unwrap_or(4 * d);
        let t = vb.pp("transformer");
        let eps = cfg.layer_norm_epsilon;
        let head_scale = if cfg.scale_attn_weights {
            1.0 / ((d / cfg.n_head) as f64).sqrt()
        } else {
            1.0
        };
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let vb = t.pp(format!("h.{i}"));
            let mut scale = head_scale;
            if cfg.scale_attn_by_inverse_layer_idx {
                scale /= (i + 1) as f64;
            }
            let cross = if cfg.add_cross_attention {
                let c = vb.pp("crossattention");
                Some(Cross {
                    ln: norm(d, eps, vb.pp("ln_cross_attn"))?,
                    q: conv1d(d, d, f16, c.pp("q_attn"))?,
                    kv: conv1d(d, 2 * d, f16, c.pp("c_attn"))?,
                    proj: conv1d(d, d, f16, c.pp("c_proj"))?,
                    // HF's cross-attention is never scaled by the layer index.
                    scale: head_scale as f32,
                })
            } else {
                None
            };
            blocks.push(Block {
                ln_1: norm(d, eps, vb.pp("ln_1"))?,
                c_attn: conv1d(d, 3 * d, f16, vb.pp("attn.c_attn"))?,
                attn_proj: conv1d(d, d, f16, vb.pp("attn.c_proj"))?,
                scale: scale as f32,
                cross,
                ln_2: norm(d, eps, vb.pp("ln_2"))?,
                fc: conv1d(d, inner, f16, vb.pp("mlp.c_fc"))?,
                mlp_proj: conv1d(inner, d, f16, vb.pp("mlp.c_proj"))?,
            });
        }
        let wpe = vec_of(t.get((cfg.n_positions, d), "wpe.weight")?)?;
        let ln_f = norm(d, eps, t.pp("ln_f"))?;
        let wte = vec_of(t.get((cfg.vocab_size, d), "wte.weight")?)?;
        // Tied like HF's tie_weights(): the head *is* wte (a .bin may store a copy beside it,
        // which is never read).
        let (wte, head) = if cfg.tie_word_embeddings {
            let head = PackedLinear::from_out_in(&wte, cfg.vocab_size, d, None);
            (None, half_if(head, f16))
        } else {
            let w = vec_of(vb.get((cfg.vocab_size, d), "lm_head.weight")?)?;
            let head = PackedLinear::from_out_in(&w, cfg.vocab_size, d, None);
            (Some(wte), half_if(head, f16))
        };
        Ok(Gpt2Cpu {
            cfg: cfg.clone(),
            wte,
            wpe,
            blocks,
            ln_f,
            head,
            screen: std::sync::OnceLock::new(),
        })
    }

    /// The configuration the decoder was built with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Whether the weights are stored as f16.
    pub fn is_f16(&self) -> bool {
        self.head.is_f16()
    }

    /// Bytes of weights a decode step streams (the blocks' layers and the head).
    pub fn step_weight_bytes(&self) -> usize {
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| {
                let cross = b
                    .cross
                    .as_ref()
                    .map_or(0, |c| c.q.weight_bytes() + c.proj.weight_bytes());
                b.c_attn.weight_bytes()
                    + b.attn_proj.weight_bytes()
                    + b.fc.weight_bytes()
                    + b.mlp_proj.weight_bytes()
                    + cross
            })
            .sum();
        blocks + self.head.weight_bytes()
    }

    /// Cross-attention keys/values for encoder states `[B, S, D]`; compute once per batch.
    pub fn cross_kv(&self, encoder_states: &Tensor) -> Result<CrossKv> {
        let (b, s, d) = encoder_states.dims3()?;
        if d != self.cfg.n_embd {
            candle_core::bail!(
                "encoder states are {d} wide, the decoder takes {}",
                self.cfg.n_embd
            );
        }
        let x = vec_of(encoder_states.clone())?;
        let h = self.cfg.n_head;
        let dh = d / h;
        let mut kv = vec![0f32; b * s * 2 * d];
        let mut layers = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let Some(cross) = &block.cross else {
                candle_core::bail!("decoder has no cross-attention");
            };
            cross.kv.forward(&x, b * s, &mut kv);
            let mut k_t = vec![0f32; b * s * d];
            let mut v = vec![0f32; b * s * d];
            for img in 0..b {
                for si in 0..s {
                    let row = &kv[(img * s + si) * 2 * d..(img * s + si + 1) * 2 * d];
                    for hh in 0..h {
                        for e in 0..dh {
                            k_t[((img * h + hh) * dh + e) * s + si] = row[hh * dh + e];
                        }
                        let dst = ((img * h + hh) * s + si) * dh;
                        v[dst..dst + dh].copy_from_slice(&row[d + hh * dh..d + (hh + 1) * dh]);
                    }
                }
            }
            layers.push((k_t, v));
        }
        Ok(CrossKv {
            images: b,
            len: s,
            layers,
        })
    }

    fn embed(&self, token: u32, out: &mut [f32]) {
        let d = self.cfg.n_embd;
        match &self.wte {
            Some(wte) => {
                let t = token as usize;
                out.copy_from_slice(&wte[t * d..(t + 1) * d]);
            }
            None => self.head.column_into(token as usize, out),
        }
    }

    /// Final hidden states (after `ln_f`), `[N*T, D]` row-major, for `ids` (`N` rows of `T`
    /// tokens, row-major) following the cached tokens. `N` must be a multiple of the number
    /// of images in `cross` (beams are image-major).
    pub fn forward_hidden_raw(
        &self,
        ids: &[u32],
        n: usize,
        cross: &CrossKv,
        cache: &mut KvCache,
    ) -> Result<Vec<f32>> {
        self.hidden_in(Par::Rayon, ids, n, cross, cache)
    }

    fn hidden_in(
        &self,
        par: Par<'_>,
        ids: &[u32],
        n: usize,
        cross: &CrossKv,
        cache: &mut KvCache,
    ) -> Result<Vec<f32>> {
        let cfg = &self.cfg;
        let (d, heads) = (cfg.n_embd, cfg.n_head);
        let dh = d / heads;
        if n == 0 || !ids.len().is_multiple_of(n) || ids.is_empty() {
            candle_core::bail!("{} ids do not make {n} equal rows", ids.len());
        }
        let t = ids.len() / n;
        let past = cache.len;
        if past + t > cfg.n_positions {
            candle_core::bail!(
                "sequence of {} tokens exceeds n_positions {}",
                past + t,
                cfg.n_positions
            );
        }
        if cross.images == 0 || !n.is_multiple_of(cross.images) {
            candle_core::bail!(
                "{n} decoder rows cannot share {} encoder states",
                cross.images
            );
        }
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= cfg.vocab_size) {
            candle_core::bail!(
                "token id {bad} is outside the vocabulary of {}",
                cfg.vocab_size
            );
        }
        if cache.layers.is_empty() {
            cache.layers = vec![vec![(Vec::new(), Vec::new()); n]; self.blocks.len()];
        } else if cache.layers.iter().any(|l| l.len() != n) {
            candle_core::bail!("the cache holds a different number of rows than {n}");
        }
        let group = n / cross.images;
        let rows = n * t;
        let inner = self.blocks.first().map_or(4 * d, |b| b.fc.n_out());
        let mut h = vec![0f32; rows * d];
        for (r, (&tok, hr)) in ids.iter().zip(h.chunks_exact_mut(d)).enumerate() {
            self.embed(tok, hr);
            let pos = past + r % t;
            for (x, &p) in hr.iter_mut().zip(&self.wpe[pos * d..(pos + 1) * d]) {
                *x += p;
            }
        }
        let mut a = vec![0f32; rows * d];
        let mut qkv = vec![0f32; rows * 3 * d];
        let mut ctx = vec![0f32; rows * d];
        let mut tmp = vec![0f32; rows * d];
        let mut ff = vec![0f32; rows * inner];
        let mut scores = vec![0f32; (past + t).max(cross.len)];
        for (l, block) in self.blocks.iter().enumerate() {
            // Self-attention over the cache plus the new tokens (causal within them).
            block.ln_1.apply(&h, &mut a);
            block.c_attn.forward_in(par, &a, rows, &mut qkv);
            for row in 0..n {
                let (kc, vc) = &mut cache.layers[l][row];
                for j in 0..t {
                    let base = (row * t + j) * 3 * d;
                    kc.extend_from_slice(&qkv[base + d..base + 2 * d]);
                    vc.extend_from_slice(&qkv[base + 2 * d..base + 3 * d]);
                }
                for j in 0..t {
                    let total = past + j + 1;
                    let q = &qkv[(row * t + j) * 3 * d..];
                    for hh in 0..heads {
                        let qh = &q[hh * dh..(hh + 1) * dh];
                        let sc = &mut scores[..total];
                        for (s, v) in sc.iter_mut().enumerate() {
                            *v = kernels::dot(qh, &kc[s * d + hh * dh..s * d + (hh + 1) * dh])
                                * block.scale;
                        }
                        kernels::softmax(sc);
                        let out = &mut ctx[(row * t + j) * d + hh * dh..][..dh];
                        out.fill(0.0);
                        for (s, &p) in sc.iter().enumerate() {
                            kernels::axpy(p, &vc[s * d + hh * dh..s * d + (hh + 1) * dh], out);
                        }
                    }
                }
            }
            block.attn_proj.forward_in(par, &ctx, rows, &mut tmp);
            add_assign(&mut h, &tmp);
            // Cross-attention: every beam of an image reads that image's keys and values.
            if let Some(c) = &block.cross {
                let (k_t, v) = &cross.layers[l];
                let s_len = cross.len;
                c.ln.apply(&h, &mut a);
                c.q.forward_in(par, &a, rows, &mut qkv[..rows * d]);
                let q = &qkv[..rows * d];
                // One task per (row, head); ctx splits into matching dh-wide pieces.
                par.for_each_chunk(&mut ctx, dh, &|task, out| {
                    let (r, hh) = (task / heads, task % heads);
                    let img = r / t / group;
                    let kh = &k_t[(img * heads + hh) * dh * s_len..][..dh * s_len];
                    let vh = &v[(img * heads + hh) * s_len * dh..][..s_len * dh];
                    let qh = &q[r * d + hh * dh..][..dh];
                    kernels::attend_transposed(qh, kh, vh, c.scale, out);
                });
                c.proj.forward_in(par, &ctx, rows, &mut tmp);
                add_assign(&mut h, &tmp);
            }
            block.ln_2.apply(&h, &mut a);
            block.fc.forward_in(par, &a, rows, &mut ff);
            kernels::gelu_tanh(&mut ff);
            block.mlp_proj.forward_in(par, &ff, rows, &mut tmp);
            add_assign(&mut h, &tmp);
        }
        cache.len = past + t;
        self.ln_f.apply(&h, &mut a);
        Ok(a)
    }

    /// Logits `[N, V]` (row-major) of the last position of each row: one decode step.
    pub fn step(
        &self,
        ids: &[u32],
        n: usize,
        cross: &CrossKv,
        cache: &mut KvCache,
    ) -> Result<Vec<f32>> {
        self.step_in(Par::Rayon, ids, n, cross, cache)
    }

    pub(crate) fn step_in(
        &self,
        par: Par<'_>,
        ids: &[u32],
        n: usize,
        cross: &CrossKv,
        cache: &mut KvCache,
    ) -> Result<Vec<f32>> {
        let last = self.last_hidden(par, ids, n, cross, cache)?;
        let mut logits = vec![0f32; n * self.cfg.vocab_size];
        self.head.forward_in(par, &last, n, &mut logits);
        Ok(logits)
    }

    /// Hidden states `[N, D]` of the last position of each row.
    fn last_hidden(
        &self,
        par: Par<'_>,
        ids: &[u32],
        n: usize,
        cross: &CrossKv,
        cache: &mut KvCache,
    ) -> Result<Vec<f32>> {
        let h = self.hidden_in(par, ids, n, cross, cache)?;
        let d = self.cfg.n_embd;
        let t = ids.len() / n;
        Ok(if t == 1 {
            h
        } else {
            h.chunks_exact(d)
                .skip(t - 1)
                .step_by(t)
                .flatten()
                .copied()
                .collect()
        })
    }

    /// One greedy step: for each row, the first index of the largest logit once the tokens
    /// of `banned[row]` are removed (HF's argmax after its masking processors), exactly as
    /// [`Self::step`] followed by an argmax would give it.
    ///
    /// It reads an f16 copy of the head (half the bytes of the biggest matrix of a step),
    /// bounds each logit's distance to its f32 value, and computes in f32 only the tokens
    /// that could still be the largest, with the same operations in the same order as the
    /// full head (so the same bits). The copy is made on the first call.
    pub fn step_greedy(
        &self,
        ids: &[u32],
        n: usize,
        cross: &CrossKv,
        cache: &mut KvCache,
        banned: &[Vec<u32>],
    ) -> Result<Vec<u32>> {
        self.step_greedy_in(Par::Rayon, ids, n, cross, cache, banned)
    }

    pub(crate) fn step_greedy_in(
        &self,
        par: Par<'_>,
        ids: &[u32],
        n: usize,
        cross: &CrossKv,
        cache: &mut KvCache,
        banned: &[Vec<u32>],
    ) -> Result<Vec<u32>> {
        let v = self.cfg.vocab_size;
        if self.head.is_f16() {
            // The head is already the f16 one: nothing cheaper to screen with.
            let mut logits = self.step_in(par, ids, n, cross, cache)?;
            return Ok(logits
                .chunks_exact_mut(v)
                .zip(banned)
                .map(|(row, ban)| argmax_without(row, ban))
                .collect());
        }
        let h = self.last_hidden(par, ids, n, cross, cache)?;
        let approx = self.screen.get_or_init(|| Screen::of(&self.head));
        let mut a = vec![0f32; n * v];
        approx.f16.forward_in(par, &h, n, &mut a);
        let d = self.cfg.n_embd;
        let mut w = vec![0f32; d];
        let mut out = Vec::with_capacity(n);
        for (r, row) in a.chunks_exact_mut(v).enumerate() {
            let hr = &h[r * d..(r + 1) * d];
            let h_norm = hr
                .iter()
                .map(|&x| (x as f64) * (x as f64))
                .sum::<f64>()
                .sqrt();
            let h_norm = h_norm * (1.0 + 1e-6) + 1e-30;
            for &t in banned.get(r).map_or(&[][..], |b| b.as_slice()) {
                if let Some(x) = row.get_mut(t as usize) {
                    *x = f32::NEG_INFINITY;
                }
            }
            let radius = |j: usize| {
                let e = approx.err[j] as f64;
                if e.is_finite() {
                    h_norm * e
                } else {
                    f64::INFINITY
                }
            };
            // No logit can beat the best lower bound unless its upper bound reaches it.
            let floor = row
                .iter()
                .enumerate()
                .filter(|(_, &x)| x != f32::NEG_INFINITY)
                .map(|(j, &x)| x as f64 - radius(j))
                .fold(f64::NEG_INFINITY, f64::max);
            let mut best: Option<(f32, usize)> = None;
            for (j, &x) in row.iter().enumerate() {
                if x == f32::NEG_INFINITY || (x as f64 + radius(j)) < floor {
                    continue;
                }
                self.head.column_into(j, &mut w);
                let exact = kernels::dot_in_order(hr, &w);
                if best.is_none_or(|(b, _)| exact > b) {
                    best = Some((exact, j));
                }
            }
            out.push(best.map_or(0, |(_, j)| j as u32));
        }
        Ok(out)
    }

    /// Logits `[N, T, V]` for every position of `ids [N, T]`.
    pub fn forward(&self, ids: &Tensor, cross: &CrossKv, cache: &mut KvCache) -> Result<Tensor> {
        let (n, t) = ids.dims2()?;
        let flat = ids.flatten_all()?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        let h = self.forward_hidden_raw(&flat, n, cross, cache)?;
        let mut logits = vec![0f32; n * t * self.cfg.vocab_size];
        self.head.forward(&h, n * t, &mut logits);
        Tensor::from_vec(logits, (n, t, self.cfg.vocab_size), &Device::Cpu)
    }

    /// Logits `[N, V]` of the last position of `ids [N, T]`.
    pub fn forward_last(
        &self,
        ids: &Tensor,
        cross: &CrossKv,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let n = ids.dim(0)?;
        let flat = ids.flatten_all()?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        let logits = self.step(&flat, n, cross, cache)?;
        Tensor::from_vec(logits, (n, self.cfg.vocab_size), &Device::Cpu)
    }
}
