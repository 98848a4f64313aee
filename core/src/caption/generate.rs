//! Greedy and beam-search decoding with the semantics of transformers 4.49's
//! `generate()` for encoder-decoder models (no sampling, no n-gram or repetition penalties).
//!
//! Differences from HF are in cost only: the encoder runs once per batch, cross-attention
//! keys/values once per image, the first step once per image (not once per beam).

use super::model::{model_err, Decoder, Stepper, VisionEncoderDecoder};
use super::team::{with_team, Par};
use crate::error::{Error, Result};
use candle_core::Tensor;
use serde::Deserialize;

/// When beam search stops (`early_stopping` in HF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// `False`: stop once no live beam can beat the worst finished one, judged at the
    /// current length (HF's default heuristic).
    #[default]
    Heuristic,
    /// `True`: stop as soon as `num_beams` hypotheses are finished.
    Immediate,
    /// `"never"`: judge the best attainable score at `max_length`.
    Never,
}

/// Decoding settings, as in `generation_config.json` plus the arguments of `generate()`.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Maximum sequence length, counting the decoder start token.
    pub max_length: usize,
    /// No EOS before this many tokens (counting the start token).
    pub min_length: usize,
    /// Forbid repeating any n-gram of this size (0 = off).
    pub no_repeat_ngram_size: usize,
    /// CTRL-style penalty on tokens already in the sequence (1.0 = off).
    pub repetition_penalty: f32,
    /// 1 = greedy.
    pub num_beams: usize,
    /// Beam search stopping rule.
    pub early_stopping: EarlyStopping,
    /// Finished hypotheses score `sum_logprobs / generated_len^length_penalty`.
    pub length_penalty: f64,
    /// First decoder token.
    pub decoder_start_token_id: u32,
    /// End of sequence.
    pub eos_token_id: u32,
    /// Fills finished rows of a batch.
    pub pad_token_id: u32,
}

#[derive(Deserialize, Default, Clone)]
struct RawGen {
    max_length: Option<usize>,
    min_length: Option<usize>,
    num_beams: Option<usize>,
    early_stopping: Option<serde_json::Value>,
    length_penalty: Option<f64>,
    decoder_start_token_id: Option<u32>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<serde_json::Value>,
    pad_token_id: Option<u32>,
    do_sample: Option<bool>,
    no_repeat_ngram_size: Option<usize>,
    repetition_penalty: Option<f64>,
    num_beam_groups: Option<usize>,
}

/// `value` unless it is missing or HF's default, in which case the decoder's setting.
fn or_decoder<T: PartialEq>(value: Option<T>, decoder: Option<T>, default: T) -> Option<T> {
    match value {
        Some(v) if v != default => Some(v),
        other => decoder.or(other),
    }
}

impl RawGen {
    /// HF's `GenerationConfig.from_model_config`: settings still at their default on the
    /// top level are taken from the `decoder` section of an encoder-decoder config.
    fn with_decoder_fallback(self, dec: RawGen) -> RawGen {
        RawGen {
            max_length: or_decoder(self.max_length, dec.max_length, 20),
            min_length: or_decoder(self.min_length, dec.min_length, 0),
            num_beams: or_decoder(self.num_beams, dec.num_beams, 1),
            early_stopping: or_decoder(
                self.early_stopping,
                dec.early_stopping,
                serde_json::Value::Bool(false),
            ),
            length_penalty: or_decoder(self.length_penalty, dec.length_penalty, 1.0),
            decoder_start_token_id: self.decoder_start_token_id.or(dec.decoder_start_token_id),
            bos_token_id: self.bos_token_id.or(dec.bos_token_id),
            eos_token_id: or_decoder(self.eos_token_id, dec.eos_token_id, serde_json::Value::Null),
            pad_token_id: self.pad_token_id.or(dec.pad_token_id),
            do_sample: or_decoder(self.do_sample, dec.do_sample, false),
            no_repeat_ngram_size: or_decoder(
                self.no_repeat_ngram_size,
                dec.no_repeat_ngram_size,
                0,
            ),
            repetition_penalty: or_decoder(self.repetition_penalty, dec.repetition_penalty, 1.0),
            num_beam_groups: or_decoder(self.num_beam_groups, dec.num_beam_groups, 1),
        }
    }
}

fn first_id(v: &serde_json::Value) -> Option<u32> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::Array(a) => a.first().and_then(first_id),
        _ => None,
    }
}

impl GenerationConfig {
    /// Reads HF's effective settings: `generation_config.json` when given, else the
    /// generation fields of `config.json` (old checkpoints; settings left at their default
    /// on the top level come from its `decoder` section, as in HF), with HF's defaults
    /// (max_length 20, greedy, early_stopping false, length_penalty 1).
    ///
    /// Settings this crate does not implement (sampling, diverse beams) are refused rather
    /// than silently ignored.
    pub fn from_json(generation_config: Option<&str>, config: &str) -> Result<Self> {
        let bad = |e: serde_json::Error| Error::Model(format!("bad generation settings: {e}"));
        let top: RawGen = serde_json::from_str(config).map_err(bad)?;
        let raw: RawGen = match generation_config {
            Some(text) => serde_json::from_str(text).map_err(bad)?,
            None => {
                let whole: serde_json::Value = serde_json::from_str(config).map_err(bad)?;
                let dec: RawGen = match whole.get("decoder") {
                    Some(d) => serde_json::from_value(d.clone()).map_err(bad)?,
                    None => RawGen::default(),
                };
                top.clone().with_decoder_fallback(dec)
            }
        };
        if raw.do_sample == Some(true) {
            return Err(Error::Unsupported("sampling (do_sample=true)".into()));
        }
        if raw.num_beam_groups.unwrap_or(1) != 1 {
            return Err(Error::Unsupported("diverse beam search".into()));
        }
        let early_stopping = match raw.early_stopping {
            None | Some(serde_json::Value::Bool(false)) => EarlyStopping::Heuristic,
            Some(serde_json::Value::Bool(true)) => EarlyStopping::Immediate,
            Some(serde_json::Value::String(s)) if s == "never" => EarlyStopping::Never,
            Some(other) => {
                return Err(Error::Model(format!("bad early_stopping {other}")));
            }
        };
        let eos = raw
            .eos_token_id
            .as_ref()
            .and_then(first_id)
            .or_else(|| top.eos_token_id.as_ref().and_then(first_id))
            .ok_or_else(|| Error::Model("no eos_token_id in the model config".into()))?;
        let start = raw
            .decoder_start_token_id
            .or(top.decoder_start_token_id)
            .or(raw.bos_token_id)
            .or(top.bos_token_id)
            .ok_or_else(|| Error::Model("no decoder_start_token_id in the model config".into()))?;
        let cfg = GenerationConfig {
            max_length: raw.max_length.unwrap_or(20),
            min_length: raw.min_length.unwrap_or(0),
            no_repeat_ngram_size: raw.no_repeat_ngram_size.unwrap_or(0),
            repetition_penalty: raw.repetition_penalty.unwrap_or(1.0) as f32,
            num_beams: raw.num_beams.unwrap_or(1),
            early_stopping,
            length_penalty: raw.length_penalty.unwrap_or(1.0),
            decoder_start_token_id: start,
            eos_token_id: eos,
            // HF falls back to EOS when no pad token is set.
            pad_token_id: raw.pad_token_id.or(top.pad_token_id).unwrap_or(eos),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the settings are usable.
    pub fn validate(&self) -> Result<()> {
        if self.num_beams == 0 {
            return Err(Error::invalid("num_beams must be at least 1"));
        }
        if self.max_length < 2 {
            return Err(Error::invalid("max_length must leave room for a token"));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(Error::invalid("repetition_penalty must be positive"));
        }
        if !self.length_penalty.is_finite() {
            return Err(Error::invalid("length_penalty must be finite"));
        }
        Ok(())
    }
}

/// One image's decoded ids, including the start token (and EOS/pad like HF's output).
pub type Ids = Vec<u32>;

/// Captions a batch: pixel values `[B, 3, H, W]` to `B` id rows, padded to a common length
/// exactly like HF's `generate` output.
pub fn generate(
    model: &VisionEncoderDecoder,
    pixel_values: &Tensor,
    cfg: &GenerationConfig,
) -> Result<Vec<Ids>> {
    cfg.validate()?;
    let n_pos = model.decoder().config().n_positions;
    if cfg.max_length > n_pos {
        return Err(Error::invalid(format!(
            "max_length {} exceeds the decoder's {n_pos} positions",
            cfg.max_length
        )));
    }
    let enc = model.encode(pixel_values)?;
    let b = enc.dim(0).map_err(model_err)?;
    let run = |par: Par<'_>| {
        let mut stepper = model.stepper(&enc, par)?;
        if cfg.num_beams == 1 {
            greedy(&mut *stepper, b, cfg)
        } else {
            beam(&mut *stepper, b, cfg, par)
        }
    };
    // The CPU decoder's many short parallel products go to a spinning team unless the model
    // says not to; a GPU decoder leaves the CPU alone.
    match model.decoder() {
        Decoder::Cpu(_) => with_team(model.spin_team(), run)?,
        Decoder::Candle(_) => run(Par::Rayon),
    }
}

/// HF's logits processors for these settings, in HF's order: repetition penalty,
/// n-gram blocking, minimum length. `seq` is the row's ids so far, start token included.
fn process(scores: &mut [f32], seq: &[u32], cfg: &GenerationConfig) {
    if cfg.repetition_penalty != 1.0 {
        let p = cfg.repetition_penalty;
        let mut seen = std::collections::HashSet::new();
        for &t in seq {
            if seen.insert(t) {
                if let Some(s) = scores.get_mut(t as usize) {
                    *s = if *s < 0.0 { *s * p } else { *s / p };
                }
            }
        }
    }
    for t in banned(seq, cfg) {
        if let Some(s) = scores.get_mut(t as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// The tokens the processors after the repetition penalty set to -inf: those that would
/// repeat an n-gram, and EOS before `min_length`.
fn banned(seq: &[u32], cfg: &GenerationConfig) -> Vec<u32> {
    let mut out = Vec::new();
    let n = cfg.no_repeat_ngram_size;
    if n > 0 && seq.len() + 1 >= n {
        let prefix = &seq[seq.len() + 1 - n..];
        for w in seq.windows(n) {
            if &w[..n - 1] == prefix {
                out.push(w[n - 1]);
            }
        }
    }
    if seq.len() < cfg.min_length {
        out.push(cfg.eos_token_id);
    }
    out
}

/// [`argmax`] once the tokens of `ban` are set to -inf (in `row`).
pub(crate) fn argmax_without(row: &mut [f32], ban: &[u32]) -> u32 {
    for &t in ban {
        if let Some(x) = row.get_mut(t as usize) {
            *x = f32::NEG_INFINITY;
        }
    }
    argmax(row)
}

/// First index of the maximum, like `torch.argmax`.
pub(crate) fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best as u32
}

fn greedy(stepper: &mut dyn Stepper, b: usize, cfg: &GenerationConfig) -> Result<Vec<Ids>> {
    let mut seqs: Vec<Ids> = vec![vec![cfg.decoder_start_token_id]; b];
    let mut unfinished = vec![true; b];
    let mut cur_len = 1;
    while cur_len < cfg.max_length {
        let last: Vec<u32> = seqs.iter().map(|s| s[s.len() - 1]).collect();
        // Without a repetition penalty the processors only remove tokens, so the stepper
        // can pick each row's best token without handing over every logit.
        let picked: Vec<u32> = if cfg.repetition_penalty == 1.0 {
            let bans: Vec<Vec<u32>> = seqs.iter().map(|s| banned(s, cfg)).collect();
            stepper.step_greedy(&last, &bans)?
        } else {
            let mut logits = stepper.step(&last)?;
            let vocab = logits.len() / b;
            logits
                .chunks_exact_mut(vocab)
                .zip(&seqs)
                .map(|(row, seq)| {
                    process(row, seq, cfg);
                    argmax(row)
                })
                .collect()
        };
        for (i, tok) in picked.into_iter().enumerate() {
            let tok = if unfinished[i] { tok } else { cfg.pad_token_id };
            seqs[i].push(tok);
            if tok == cfg.eos_token_id {
                unfinished[i] = false;
            }
        }
        cur_len += 1;
        if !unfinished.iter().any(|&u| u) {
            break;
        }
    }
    Ok(seqs)
}

/// `log_softmax` of one row in f32, as PyTorch computes it (the sum accumulated in f64).
fn log_softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = row.iter().map(|&x| (x - max).exp() as f64).sum();
    let lse = max + sum.ln() as f32;
    for x in row.iter_mut() {
        *x -= lse;
    }
}

/// HF's `BeamHypotheses`: the best `num_beams` finished sequences of one image.
struct Hypotheses {
    beams: Vec<(f64, Ids)>,
    worst: f64,
    n: usize,
}

impl Hypotheses {
    fn new(n: usize) -> Self {
        Hypotheses {
            beams: Vec::new(),
            worst: 1e9,
            n,
        }
    }

    fn add(&mut self, ids: Ids, sum_logprobs: f64, generated_len: usize, lp: f64) {
        let score = sum_logprobs / (generated_len as f64).powf(lp);
        if self.beams.len() < self.n || score > self.worst {
            self.beams.push((score, ids));
            if self.beams.len() > self.n {
                // Python sorts (score, index) pairs: equal scores drop the earliest.
                let mut order: Vec<usize> = (0..self.beams.len()).collect();
                order.sort_by(|&a, &b| self.beams[a].0.total_cmp(&self.beams[b].0).then(a.cmp(&b)));
                self.worst = self.beams[order[1]].0;
                self.beams.remove(order[0]);
            } else {
                self.worst = self.worst.min(score);
            }
        }
    }

    fn is_done(&self, best: f64, cur_len: usize, cfg: &GenerationConfig) -> bool {
        if self.beams.len() < self.n {
            return false;
        }
        let lp = cfg.length_penalty;
        let attainable = match cfg.early_stopping {
            EarlyStopping::Immediate => return true,
            EarlyStopping::Heuristic => best / (cur_len as f64).powf(lp),
            EarlyStopping::Never if lp > 0.0 => best / ((cfg.max_length - 1) as f64).powf(lp),
            EarlyStopping::Never => best / (cur_len as f64).powf(lp),
        };
        self.worst >= attainable
    }

    /// The best hypothesis; among equal scores the one added last (Python's stable sort).
    fn best(self) -> Option<Ids> {
        let mut best: Option<(f64, Ids)> = None;
        for (s, ids) in self.beams {
            if best.as_ref().is_none_or(|(bs, _)| s >= *bs) {
                best = Some((s, ids));
            }
        }
        best.map(|(_, ids)| ids)
    }
}

/// `(score, flat index)` pairs, best first.
type Candidates = Vec<(f32, usize)>;

/// The `k` best `(score, flat index)` of a row, best first, lower index first on ties.
fn top_k_into(row: &[f32], offset: usize, k: usize, out: &mut Vec<(f32, usize)>) {
    let start = out.len();
    for (i, &s) in row.iter().enumerate() {
        let seg = &out[start..];
        if seg.len() == k && s.partial_cmp(&seg[k - 1].0) != Some(std::cmp::Ordering::Greater) {
            continue;
        }
        let pos = start + seg.partition_point(|&(t, _)| t >= s);
        out.insert(pos, (s, offset + i));
        if out.len() - start > k {
            out.pop();
        }
    }
}

fn beam(
    stepper: &mut dyn Stepper,
    b: usize,
    cfg: &GenerationConfig,
    par: Par<'_>,
) -> Result<Vec<Ids>> {
    let nb = cfg.num_beams;
    let n = b * nb;
    let eos = cfg.eos_token_id;
    // The first step is the same for every beam of an image: run it once per image and
    // copy the cache rows, instead of running `num_beams` identical rows like HF.
    let first = stepper.step(&vec![cfg.decoder_start_token_id; b])?;
    let vocab = first.len() / b;
    let expand: Vec<u32> = (0..n).map(|r| (r / nb) as u32).collect();
    stepper.select_rows(&expand)?;
    let mut logits: Vec<f32> = (0..n)
        .flat_map(|r| first[r / nb * vocab..(r / nb + 1) * vocab].iter().copied())
        .collect();

    let mut seqs: Vec<Ids> = vec![vec![cfg.decoder_start_token_id]; n];
    let mut scores: Vec<f32> = (0..n)
        .map(|r| if r % nb == 0 { 0.0 } else { -1e9 })
        .collect();
    let mut hyps: Vec<Hypotheses> = (0..b).map(|_| Hypotheses::new(nb)).collect();
    let mut done = vec![false; b];
    loop {
        let cur_len = seqs[0].len();
        let mut next_tokens = vec![cfg.pad_token_id; n];
        let mut next_scores = vec![0f32; n];
        let mut next_src: Vec<u32> = (0..n as u32).collect();
        // Each row's scores and best 2 * num_beams candidates, the rows spread over threads.
        let mut work: Vec<(&mut [f32], Candidates)> = logits
            .chunks_exact_mut(vocab)
            .map(|row| (row, Vec::with_capacity(2 * nb)))
            .collect();
        par.for_each_chunk(&mut work, 1, &|r, item| {
            let (row, best) = &mut item[0];
            if done[r / nb] {
                return;
            }
            log_softmax(row);
            process(row, &seqs[r], cfg);
            let s = scores[r];
            for x in row.iter_mut() {
                *x += s;
            }
            top_k_into(row, (r % nb) * vocab, 2 * nb, best);
        });
        let per_row: Vec<Vec<(f32, usize)>> = work.into_iter().map(|(_, best)| best).collect();
        for img in 0..b {
            if done[img] {
                continue;
            }
            let mut cand: Vec<(f32, usize)> = per_row[img * nb..(img + 1) * nb].concat();
            cand.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            cand.truncate(2 * nb);
            let mut taken = 0;
            for (rank, &(s, flat)) in cand.iter().enumerate() {
                let (j, tok) = (flat / vocab, (flat % vocab) as u32);
                let src = img * nb + j;
                if tok == eos {
                    if rank >= nb {
                        continue;
                    }
                    hyps[img].add(seqs[src].clone(), s as f64, cur_len, cfg.length_penalty);
                } else {
                    let dst = img * nb + taken;
                    next_tokens[dst] = tok;
                    next_scores[dst] = s;
                    next_src[dst] = src as u32;
                    taken += 1;
                }
                if taken == nb {
                    break;
                }
            }
            if taken < nb {
                return Err(Error::Model(format!(
                    "beam search found only {taken} continuations for {nb} beams"
                )));
            }
            let best = cand
                .first()
                .map(|c| c.0 as f64)
                .unwrap_or(f64::NEG_INFINITY);
            done[img] = hyps[img].is_done(best, cur_len, cfg);
        }
        seqs = (0..n)
            .map(|r| {
                let mut s = seqs[next_src[r] as usize].clone();
                s.push(next_tokens[r]);
                s
            })
            .collect();
        scores = next_scores;
        if done.iter().all(|&d| d) || seqs[0].len() >= cfg.max_length {
            break;
        }
        stepper.select_rows(&next_src)?;
        logits = stepper.step(&next_tokens)?;
    }
    // Beams still alive at max_length compete with the finished ones, without an EOS.
    let mut best: Vec<Ids> = Vec::with_capacity(b);
    for (img, mut h) in hyps.into_iter().enumerate() {
        if !done[img] {
            for j in 0..nb {
                let r = img * nb + j;
                let len = seqs[r].len() - 1;
                h.add(seqs[r].clone(), scores[r] as f64, len, cfg.length_penalty);
            }
        }
        best.push(
            h.best()
                .ok_or_else(|| Error::Model("beam search finished without a hypothesis".into()))?,
        );
    }
    let longest = best.iter().map(Vec::len).max().unwrap_or(1);
    let width = (longest + 1).min(cfg.max_length);
    Ok(best
        .into_iter()
        .map(|mut ids| {
            if ids.len() < width {
                ids.push(eos);
            }
            ids.resize(width, cfg.pad_token_id);
            ids
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: &str = r#"{"decoder_start_token_id": 7, "eos_token_id": 9, "pad_token_id": 9,
        "decoder": {"eos_token_id": 9, "bos_token_id": 8, "length_penalty": 2.0,
                    "early_stopping": true, "max_length": 20}}"#;

    #[test]
    fn config_json_falls_back_to_the_decoder_section() {
        let g = GenerationConfig::from_json(None, TOP).unwrap();
        assert_eq!(g.length_penalty, 2.0);
        assert_eq!(g.early_stopping, EarlyStopping::Immediate);
        assert_eq!(
            (g.decoder_start_token_id, g.eos_token_id, g.pad_token_id),
            (7, 9, 9)
        );
        // generation_config.json wins when present.
        let g = GenerationConfig::from_json(Some(r#"{"eos_token_id": [9, 10]}"#), TOP).unwrap();
        assert_eq!(g.length_penalty, 1.0);
        assert_eq!(g.early_stopping, EarlyStopping::Heuristic);
        assert_eq!(g.decoder_start_token_id, 7);
    }

    #[test]
    fn unsupported_settings_are_refused() {
        let cfg = r#"{"decoder_start_token_id": 7, "eos_token_id": 9,
            "decoder": {"no_repeat_ngram_size": 3, "num_beam_groups": 2}}"#;
        let err = GenerationConfig::from_json(None, cfg).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)));
        let err = GenerationConfig::from_json(Some(r#"{"do_sample": true}"#), TOP).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)));
    }

    #[test]
    fn logits_processors_follow_hf() {
        let base = GenerationConfig::from_json(None, TOP).unwrap();
        // Repetition penalty: seen tokens (start token included) shrink towards -inf.
        let cfg = GenerationConfig {
            repetition_penalty: 2.0,
            ..base.clone()
        };
        let mut s = vec![4.0, -4.0, 4.0, 1.0];
        process(&mut s, &[0, 1, 1], &cfg);
        assert_eq!(s, [2.0, -8.0, 4.0, 1.0]);
        // 2-gram blocking: after "... 3", every token that followed a 3 is banned.
        let cfg = GenerationConfig {
            no_repeat_ngram_size: 2,
            ..base.clone()
        };
        let mut s = vec![0.0; 6];
        process(&mut s, &[7, 3, 4, 3, 5, 3], &cfg);
        assert_eq!(s.iter().filter(|x| x.is_infinite()).count(), 2);
        assert!(s[4].is_infinite() && s[5].is_infinite());
        // 3-grams need a 2-token prefix seen before.
        let cfg = GenerationConfig {
            no_repeat_ngram_size: 3,
            ..base.clone()
        };
        let mut s = vec![0.0; 6];
        process(&mut s, &[1, 2, 3, 1, 2], &cfg);
        assert!(s[3].is_infinite() && s.iter().filter(|x| x.is_infinite()).count() == 1);
        // Minimum length counts the start token.
        let cfg = GenerationConfig {
            min_length: 3,
            ..base
        };
        let mut s = vec![0.0; 10];
        process(&mut s, &[7, 1], &cfg);
        assert!(s[9].is_infinite());
        let mut s = vec![0.0; 10];
        process(&mut s, &[7, 1, 2], &cfg);
        assert!(s[9].is_finite());
    }

    #[test]
    fn top_k_orders_by_score_then_index() {
        let mut out = Vec::new();
        top_k_into(&[1.0, 3.0, 3.0, f32::NAN, 2.0, 3.0], 10, 3, &mut out);
        assert_eq!(out, [(3.0, 11), (3.0, 12), (3.0, 15)]);
    }

    #[test]
    fn hypotheses_keep_the_best_and_track_the_worst() {
        let mut h = Hypotheses::new(2);
        h.add(vec![1], -3.0, 1, 1.0);
        h.add(vec![2], -4.0, 2, 1.0); // -2.0
        assert_eq!(h.worst, -3.0);
        h.add(vec![3], -1.0, 1, 1.0); // drops -3.0
        assert_eq!(h.worst, -2.0);
        h.add(vec![4], -10.0, 1, 1.0); // worse than the worst: ignored
        assert_eq!(h.beams.len(), 2);
        let cfg = GenerationConfig {
            max_length: 16,
            min_length: 0,
            no_repeat_ngram_size: 0,
            repetition_penalty: 1.0,
            num_beams: 2,
            early_stopping: EarlyStopping::Heuristic,
            length_penalty: 1.0,
            decoder_start_token_id: 0,
            eos_token_id: 1,
            pad_token_id: 1,
        };
        // worst (-2.0) >= best attainable (-8.0 / 4): done; (-7.0 / 4) is not.
        assert!(h.is_done(-8.0, 4, &cfg));
        assert!(!h.is_done(-7.0, 4, &cfg));
        assert_eq!(h.best(), Some(vec![3]));
    }
}
