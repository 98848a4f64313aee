//! ViT encoder (Dosovitskiy et al., "An Image is Worth 16x16 Words", arXiv:2010.11929) as
//! used by Hugging Face's `ViTModel`: pre-LayerNorm blocks over a CLS token plus patches.
//! Weight names follow the checkpoint (`embeddings.*`, `encoder.layer.{i}.*`, `layernorm.*`).

use super::kernels::{self, add_assign, Norm, PackedLinear};
use candle_core::{Module, Result, Tensor};
use candle_nn::{layer_norm, LayerNorm, LayerNormConfig, VarBuilder};
use rayon::prelude::*;
use serde::Deserialize;

fn default_eps() -> f64 {
    1e-12
}
fn default_true() -> bool {
    true
}
fn default_act() -> String {
    "gelu".into()
}
fn default_channels() -> usize {
    3
}

/// The fields of a `ViTConfig` (`config.json` -> `encoder`) the encoder needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Width of the token states.
    pub hidden_size: usize,
    /// Number of transformer blocks.
    pub num_hidden_layers: usize,
    /// Attention heads per block.
    pub num_attention_heads: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// MLP activation (`gelu` = exact erf GELU).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Input side in pixels.
    pub image_size: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Input channels.
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    /// Whether q/k/v projections have biases.
    #[serde(default = "default_true")]
    pub qkv_bias: bool,
}

impl Config {
    /// ViT-base/16 at 224×224, the encoder of `nlpconnect/vit-gpt2-image-captioning`.
    pub fn vit_base_patch16_224() -> Self {
        Config {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-12,
            image_size: 224,
            patch_size: 16,
            num_channels: 3,
            qkv_bias: true,
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

#[derive(Debug, Clone, Copy)]
enum Act {
    GeluErf,
    GeluTanh,
    Relu,
}

impl Act {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "gelu" => Ok(Act::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Act::GeluTanh),
            "relu" => Ok(Act::Relu),
            other => candle_core::bail!("unsupported activation {other}"),
        }
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Act::GeluErf => x.gelu_erf(),
            Act::GeluTanh => x.gelu(),
            Act::Relu => x.relu(),
        }
    }

    /// The same functions on a slice, in place.
    fn apply_raw(self, xs: &mut [f32]) {
        match self {
            Act::GeluErf => kernels::gelu_erf(xs),
            Act::GeluTanh => kernels::gelu_tanh(xs),
            Act::Relu => {
                for x in xs.iter_mut() {
                    *x = x.max(0.0);
                }
            }
        }
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

struct Embeddings {
    cls_token: Tensor,
    position_embeddings: Tensor,
    /// Conv weight flattened to `[3*p*p, D]` so patches embed with one matmul.
    patch_weight: Tensor,
    patch_bias: Tensor,
    patch_size: usize,
    grid: usize,
    channels: usize,
}

impl Embeddings {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        let p = cfg.patch_size;
        let n = cfg.grid() * cfg.grid();
        let cls_token = vb.get((1, 1, d), "cls_token")?;
        let position_embeddings = vb.get((1, n + 1, d), "position_embeddings")?;
        let pvb = vb.pp("patch_embeddings.projection");
        let w = pvb.get((d, cfg.num_channels, p, p), "weight")?;
        let patch_weight = w
            .reshape((d, cfg.num_channels * p * p))?
            .t()?
            .contiguous()?;
        let patch_bias = pvb.get(d, "bias")?;
        Ok(Embeddings {
            cls_token,
            position_embeddings,
            patch_weight,
            patch_bias,
            patch_size: p,
            grid: cfg.grid(),
            channels: cfg.num_channels,
        })
    }

    fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = pixels.dims4()?;
        let (p, g) = (self.patch_size, self.grid);
        if c != self.channels || h != g * p || w != g * p {
            candle_core::bail!(
                "pixel values are {b}x{c}x{h}x{w}, the encoder takes Nx{}x{}x{}",
                self.channels,
                g * p,
                g * p
            );
        }
        // A stride-p convolution with a p×p kernel is a matmul over flattened patches.
        let patches = pixels
            .reshape((b, c, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((b * g * g, c * p * p))?;
        let emb = patches
            .matmul(&self.patch_weight)?
            .broadcast_add(&self.patch_bias)?
            .reshape((b, g * g, ()))?;
        let d = emb.dim(2)?;
        let cls = self.cls_token.broadcast_as((b, 1, d))?;
        Tensor::cat(&[&cls, &emb], 1)?.broadcast_add(&self.position_embeddings)
    }
}

/// An `nn.Linear` applied as one 2-D product over all tokens of the batch, instead of one
/// matmul per image: on the CPU through [`PackedLinear`] (panels streamed once per six
/// tokens), elsewhere as a transposed candle tensor.
enum Dense {
    Tensor {
        weight_t: Tensor,
        bias: Option<Tensor>,
    },
    Packed(PackedLinear),
}

impl Dense {
    fn load(
        n_in: usize,
        n_out: usize,
        bias: bool,
        vb: VarBuilder,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let w = vb.get((n_out, n_in), "weight")?;
        let b = if bias {
            Some(vb.get(n_out, "bias")?)
        } else {
            None
        };
        Ok((w, b))
    }

    fn new(n_in: usize, n_out: usize, bias: bool, cpu: bool, vb: VarBuilder) -> Result<Self> {
        let (w, b) = Self::load(n_in, n_out, bias, vb)?;
        Self::from_weight(w, b, cpu)
    }

    /// From an `[out, in]` weight.
    fn from_weight(w: Tensor, bias: Option<Tensor>, cpu: bool) -> Result<Self> {
        if cpu {
            let (n_out, n_in) = w.dims2()?;
            let wv = w.flatten_all()?.to_vec1::<f32>()?;
            let bv = bias.map(|b| b.to_vec1::<f32>()).transpose()?;
            return Ok(Dense::Packed(PackedLinear::from_out_in(
                &wv, n_out, n_in, bv,
            )));
        }
        Ok(Dense::Tensor {
            weight_t: w.t()?.contiguous()?,
            bias,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        match self {
            Dense::Packed(p) => {
                let xv = x.flatten_all()?.to_vec1::<f32>()?;
                let mut y = vec![0f32; b * n * p.n_out()];
                p.forward(&xv, b * n, &mut y);
                Tensor::from_vec(y, (b, n, p.n_out()), x.device())
            }
            Dense::Tensor { weight_t, bias } => {
                let y = x.reshape((b * n, d))?.matmul(weight_t)?;
                let y = match bias {
                    Some(bias) => y.broadcast_add(bias)?,
                    None => y,
                };
                y.reshape((b, n, ()))
            }
        }
    }
}

struct SelfAttention {
    /// query|key|value fused into one `[D, 3D]` projection.
    qkv: Dense,
    output: Dense,
    heads: usize,
}

impl SelfAttention {
    fn new(cfg: &Config, cpu: bool, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        let a = vb.pp("attention");
        let parts = ["query", "key", "value"]
            .into_iter()
            .map(|n| Dense::load(d, d, cfg.qkv_bias, a.pp(n)))
            .collect::<Result<Vec<_>>>()?;
        let w = Tensor::cat(&[&parts[0].0, &parts[1].0, &parts[2].0], 0)?;
        let bias = if cfg.qkv_bias {
            let b: Vec<&Tensor> = parts.iter().filter_map(|p| p.1.as_ref()).collect();
            Some(Tensor::cat(&b, 0)?)
        } else {
            None
        };
        Ok(SelfAttention {
            qkv: Dense::from_weight(w, bias, cpu)?,
            output: Dense::new(d, d, true, cpu, vb.pp("output.dense"))?,
            heads: cfg.num_attention_heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let dh = d / self.heads;
        let qkv = self.qkv.forward(x)?;
        let split = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i * d, d)?
                .reshape((b, n, self.heads, dh))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let scores = (q.matmul(&k.t()?)? / (dh as f64).sqrt())?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, n, d))?;
        self.output.forward(&ctx)
    }
}

/// A candle LayerNorm's parameters as vectors, for the CPU path.
fn raw_norm(ln: &LayerNorm, eps: f64) -> Result<Norm> {
    let w = ln.weight().to_vec1::<f32>()?;
    let b = match ln.bias() {
        Some(b) => b.to_vec1::<f32>()?,
        None => vec![0.0; w.len()],
    };
    Ok(Norm {
        w,
        b,
        eps: eps as f32,
    })
}

/// Scratch space of the CPU path, allocated once per forward and reused by every layer.
struct Scratch {
    a: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
}

struct Layer {
    layernorm_before: LayerNorm,
    attention: SelfAttention,
    layernorm_after: LayerNorm,
    intermediate: Dense,
    output: Dense,
    act: Act,
    /// `(layernorm_before, layernorm_after)` as vectors when the layer runs on the CPU path.
    raw: Option<(Norm, Norm)>,
}

impl Layer {
    fn new(cfg: &Config, cpu: bool, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let layernorm_before = ln(d, eps, vb.pp("layernorm_before"))?;
        let layernorm_after = ln(d, eps, vb.pp("layernorm_after"))?;
        let raw = if cpu {
            Some((
                raw_norm(&layernorm_before, eps)?,
                raw_norm(&layernorm_after, eps)?,
            ))
        } else {
            None
        };
        Ok(Layer {
            layernorm_before,
            attention: SelfAttention::new(cfg, cpu, vb.pp("attention"))?,
            layernorm_after,
            intermediate: Dense::new(
                d,
                cfg.intermediate_size,
                true,
                cpu,
                vb.pp("intermediate.dense"),
            )?,
            output: Dense::new(cfg.intermediate_size, d, true, cpu, vb.pp("output.dense"))?,
            act: Act::parse(&cfg.hidden_act)?,
            raw,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = (x + self.attention.forward(&self.layernorm_before.forward(x)?)?)?;
        let h = self
            .intermediate
            .forward(&self.layernorm_after.forward(&x)?)?;
        let h = self.output.forward(&self.act.apply(&h)?)?;
        x + h
    }

    /// The same block on plain vectors: `x` is `[b * n, D]` and is updated in place.
    fn forward_cpu(&self, x: &mut [f32], b: usize, n: usize, s: &mut Scratch) -> Result<()> {
        let (
            Some((ln_1, ln_2)),
            Dense::Packed(qkv),
            Dense::Packed(proj),
            Dense::Packed(fc),
            Dense::Packed(out),
        ) = (
            &self.raw,
            &self.attention.qkv,
            &self.attention.output,
            &self.intermediate,
            &self.output,
        )
        else {
            candle_core::bail!("the layer was not loaded for the CPU path");
        };
        let rows = b * n;
        let d = proj.n_out();
        let heads = self.attention.heads;
        let dh = d / heads;
        ln_1.apply(x, &mut s.a);
        qkv.forward(&s.a, rows, &mut s.qkv);
        // One task per (image, head): scores = q k^T / sqrt(dh), softmax, then times v, each
        // product through the packed kernel (k^T and v repacked per head: n * dh floats).
        let qkv_out = &s.qkv;
        let div = (dh as f32).sqrt();
        let heads_out: Vec<Vec<f32>> = (0..b * heads)
            .into_par_iter()
            .map(|task| {
                let (img, h) = (task / heads, task % heads);
                let part = |which: usize| -> Vec<f32> {
                    (0..n)
                        .flat_map(|i| {
                            let at = (img * n + i) * 3 * d + which * d + h * dh;
                            qkv_out[at..at + dh].iter().copied()
                        })
                        .collect()
                };
                let (q, k, v) = (part(0), part(1), part(2));
                let mut scores = vec![0f32; n * n];
                PackedLinear::from_out_in(&k, n, dh, None).forward(&q, n, &mut scores);
                for row in scores.chunks_exact_mut(n) {
                    for v in row.iter_mut() {
                        *v /= div;
                    }
                    kernels::softmax(row);
                }
                let mut ctx = vec![0f32; n * dh];
                PackedLinear::from_in_out(&v, n, dh, None).forward(&scores, n, &mut ctx);
                ctx
            })
            .collect();
        for (task, ctx) in heads_out.iter().enumerate() {
            let (img, h) = (task / heads, task % heads);
            for (i, c) in ctx.chunks_exact(dh).enumerate() {
                let at = (img * n + i) * d + h * dh;
                s.ctx[at..at + dh].copy_from_slice(c);
            }
        }
        proj.forward(&s.ctx, rows, &mut s.tmp);
        add_assign(x, &s.tmp);
        ln_2.apply(x, &mut s.a);
        fc.forward(&s.a, rows, &mut s.ff);
        let act = self.act;
        s.ff.par_chunks_mut(1 << 14).for_each(|c| act.apply_raw(c));
        out.forward(&s.ff, rows, &mut s.tmp);
        add_assign(x, &s.tmp);
        Ok(())
    }
}

/// The ViT encoder: `forward(pixel_values [N,3,H,W]) -> last_hidden_state [N, 1+P, D]`.
///
/// Loaded for the CPU ([`VitEncoder::new_with`] with `cpu = true`, what a CPU model gets),
/// its blocks run on plain vectors with the packed kernel of the decoder; otherwise on candle
/// tensors.
pub struct VitEncoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    layernorm: LayerNorm,
    raw_layernorm: Option<Norm>,
    cfg: Config,
}

impl VitEncoder {
    /// Loads the weights under `vb` (`encoder` in a VisionEncoderDecoder checkpoint), for
    /// the CPU path when `vb` is on the CPU.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let cpu = vb.device().is_cpu();
        Self::new_with(cfg, vb, cpu)
    }

    /// Like [`Self::new`], choosing the path: `cpu = false` keeps candle tensors (any
    /// device; the reference the CPU path is tested against).
    pub fn new_with(cfg: &Config, vb: VarBuilder, cpu: bool) -> Result<Self> {
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            candle_core::bail!("hidden_size must be a multiple of num_attention_heads");
        }
        if cfg.patch_size == 0 || !cfg.image_size.is_multiple_of(cfg.patch_size) {
            candle_core::bail!("image_size must be a multiple of patch_size");
        }
        let cpu = cpu && vb.device().is_cpu();
        let embeddings = Embeddings::new(cfg, vb.pp("embeddings"))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, cpu, vb.pp(format!("encoder.layer.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let layernorm = ln(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("layernorm"))?;
        let raw_layernorm = if cpu {
            Some(raw_norm(&layernorm, cfg.layer_norm_eps)?)
        } else {
            None
        };
        Ok(VitEncoder {
            embeddings,
            layers,
            layernorm,
            raw_layernorm,
            cfg: cfg.clone(),
        })
    }

    /// The configuration the encoder was built with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Whether the blocks run on the CPU path.
    pub fn is_cpu_path(&self) -> bool {
        self.raw_layernorm.is_some()
    }

    /// `last_hidden_state` after the final LayerNorm.
    pub fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
        Ok(self.run(pixel_values, false)?.0)
    }

    /// Like HF's `output_hidden_states=True`: the embeddings, then the state after each
    /// block (before the final LayerNorm), then `last_hidden_state`.
    pub fn forward_with_hidden_states(
        &self,
        pixel_values: &Tensor,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        self.run(pixel_values, true)
    }

    fn run(&self, pixel_values: &Tensor, keep: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let mut x = self.embeddings.forward(pixel_values)?;
        let mut states = Vec::new();
        if keep {
            states.push(x.clone());
        }
        let Some(final_ln) = &self.raw_layernorm else {
            for layer in &self.layers {
                x = layer.forward(&x)?;
                if keep {
                    states.push(x.clone());
                }
            }
            return Ok((self.layernorm.forward(&x)?, states));
        };
        let (b, n, d) = x.dims3()?;
        let dev = x.device().clone();
        let rows = b * n;
        let inner = self.cfg.intermediate_size;
        let mut v = x.flatten_all()?.to_vec1::<f32>()?;
        let mut s = Scratch {
            a: vec![0f32; rows * d],
            qkv: vec![0f32; rows * 3 * d],
            ctx: vec![0f32; rows * d],
            tmp: vec![0f32; rows * d],
            ff: vec![0f32; rows * inner],
        };
        for layer in &self.layers {
            layer.forward_cpu(&mut v, b, n, &mut s)?;
            if keep {
                states.push(Tensor::from_slice(&v, (b, n, d), &dev)?);
            }
        }
        final_ln.apply(&v, &mut s.a);
        s.a.truncate(rows * d);
        Ok((Tensor::from_vec(s.a, (b, n, d), &dev)?, states))
    }
}
