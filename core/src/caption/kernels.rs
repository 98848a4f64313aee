//! CPU kernels of the decoder's fast path ([`super::gpt2_cpu`]).
//!
//! A decode step multiplies a handful of rows (one per beam) by every decoder weight, so it
//! is bound by how fast the weights stream from memory, not by arithmetic. Each weight is
//! therefore repacked once, at load, into column panels that are read front to back, and the
//! few rows of a step are multiplied against a panel while it is in cache. The same kernel
//! serves the bigger products (cross-attention keys/values of the encoder states) with rows
//! taken six at a time.

use super::team::{Par, SendPtr};
use rayon::prelude::*;

/// Columns per panel: four 16-lane AVX-512 registers.
pub(crate) const PANEL: usize = 64;
/// Rows multiplied against a panel at once (6 rows × 4 registers of accumulators).
const ROWS: usize = 6;

/// A dense layer `y = x · W + b` with `W` repacked into column panels of [`PANEL`] columns,
/// each stored `[n_in][PANEL]` contiguously (the last one zero-padded).
pub(crate) struct PackedLinear {
    n_in: usize,
    n_out: usize,
    w: Panels,
    bias: Option<Vec<f32>>,
}

/// The panel storage: f32, or IEEE half (half the bytes to stream; widened to f32 on load,
/// so products and sums stay f32).
enum Panels {
    F32(Vec<f32>),
    F16(Vec<u16>),
}

impl PackedLinear {
    /// From a row-major `[n_in, n_out]` weight (GPT-2's `Conv1D` layout).
    pub(crate) fn from_in_out(
        w: &[f32],
        n_in: usize,
        n_out: usize,
        bias: Option<Vec<f32>>,
    ) -> Self {
        Self::pack(n_in, n_out, bias, |i, j| w[i * n_out + j])
    }

    /// From a row-major `[n_out, n_in]` weight (`nn.Linear`, or an embedding used as a head).
    pub(crate) fn from_out_in(
        w: &[f32],
        n_out: usize,
        n_in: usize,
        bias: Option<Vec<f32>>,
    ) -> Self {
        Self::pack(n_in, n_out, bias, |i, j| w[j * n_in + i])
    }

    fn pack(
        n_in: usize,
        n_out: usize,
        bias: Option<Vec<f32>>,
        at: impl Fn(usize, usize) -> f32,
    ) -> Self {
        let panels = n_out.div_ceil(PANEL);
        let mut w = vec![0f32; panels * n_in * PANEL];
        for (p, panel) in w.chunks_exact_mut(n_in * PANEL).enumerate() {
            let cols = (n_out - p * PANEL).min(PANEL);
            for i in 0..n_in {
                for c in 0..cols {
                    panel[i * PANEL + c] = at(i, p * PANEL + c);
                }
            }
        }
        PackedLinear {
            n_in,
            n_out,
            w: Panels::F32(w),
            bias,
        }
    }

    pub(crate) fn n_in(&self) -> usize {
        self.n_in
    }

    /// The layer with its weights rounded to f16 (round to nearest even); a copy when it
    /// already is f16.
    pub(crate) fn to_f16(&self) -> Self {
        let w = match &self.w {
            Panels::F32(w) => Panels::F16(
                w.iter()
                    .map(|&x| half::f16::from_f32(x).to_bits())
                    .collect(),
            ),
            Panels::F16(w) => Panels::F16(w.clone()),
        };
        PackedLinear {
            n_in: self.n_in,
            n_out: self.n_out,
            w,
            bias: self.bias.clone(),
        }
    }

    /// Per output column `j`: `(|w_j - f16(w_j)|₂, |w_j|₂)`, in f64.
    pub(crate) fn f16_column_errors(&self) -> (Vec<f64>, Vec<f64>) {
        let mut delta = vec![0f64; self.n_out];
        let mut norm = vec![0f64; self.n_out];
        if let Panels::F32(w) = &self.w {
            for (p, panel) in w.chunks_exact(self.n_in * PANEL).enumerate() {
                let cols = (self.n_out - p * PANEL).min(PANEL);
                for row in panel.chunks_exact(PANEL) {
                    for c in 0..cols {
                        let x = row[c];
                        let e = x as f64 - half::f16::from_f32(x).to_f32() as f64;
                        delta[p * PANEL + c] += e * e;
                        norm[p * PANEL + c] += (x as f64) * (x as f64);
                    }
                }
            }
        }
        (
            delta.into_iter().map(f64::sqrt).collect(),
            norm.into_iter().map(f64::sqrt).collect(),
        )
    }

    pub(crate) fn is_f16(&self) -> bool {
        matches!(self.w, Panels::F16(_))
    }

    /// Bytes of weight storage.
    pub(crate) fn weight_bytes(&self) -> usize {
        match &self.w {
            Panels::F32(w) => w.len() * 4,
            Panels::F16(w) => w.len() * 2,
        }
    }

    pub(crate) fn n_out(&self) -> usize {
        self.n_out
    }

    /// Column `j` of `W` (for a head tied to the embeddings: the embedding of token `j`).
    pub(crate) fn column_into(&self, j: usize, out: &mut [f32]) {
        let (p, c) = (j / PANEL, j % PANEL);
        let span = p * self.n_in * PANEL..(p + 1) * self.n_in * PANEL;
        for (i, o) in out[..self.n_in].iter_mut().enumerate() {
            *o = match &self.w {
                Panels::F32(w) => w[span.start + i * PANEL + c],
                Panels::F16(w) => half::f16::from_bits(w[span.start + i * PANEL + c]).to_f32(),
            };
        }
    }

    /// `y[rows, n_out] = x[rows, n_in] · W + b`, split by panels over the rayon pool.
    pub(crate) fn forward(&self, x: &[f32], rows: usize, y: &mut [f32]) {
        self.forward_in(Par::Rayon, x, rows, y)
    }

    /// [`Self::forward`] on the threads of `par`.
    pub(crate) fn forward_in(&self, par: Par<'_>, x: &[f32], rows: usize, y: &mut [f32]) {
        assert_eq!(x.len(), rows * self.n_in, "input is not rows × n_in");
        assert_eq!(y.len(), rows * self.n_out, "output is not rows × n_out");
        let panels = self.n_out.div_ceil(PANEL);
        let out = SendPtr(y.as_mut_ptr());
        let work = |range: std::ops::Range<usize>| {
            for p in range {
                // SAFETY: every panel writes only its own columns of `y`, so the ranges
                // handed to different threads never touch the same element.
                unsafe { self.panel(p, x, rows, &out) };
            }
        };
        let threads = rayon::current_num_threads().max(1);
        // Small products are not worth a hand-off.
        if threads == 1 || rows * self.n_in * self.n_out < 1 << 16 {
            work(0..panels);
            return;
        }
        // A few chunks per thread: equal shares of a memory-bound product, with some slack
        // for a thread that starts late.
        let chunks = (threads * 2).min(panels);
        let per = panels.div_ceil(chunks);
        par.for_each(panels.div_ceil(per), &|c| {
            work(c * per..((c + 1) * per).min(panels))
        });
    }

    /// Multiplies every row of `x` by panel `p` and writes columns `p*PANEL..` of `y`.
    ///
    /// # Safety
    /// `y` must point to `rows * n_out` floats that no other thread writes in these columns.
    unsafe fn panel(&self, p: usize, x: &[f32], rows: usize, y: &SendPtr<f32>) {
        let span = p * self.n_in * PANEL..(p + 1) * self.n_in * PANEL;
        let col0 = p * PANEL;
        let cols = (self.n_out - col0).min(PANEL);
        let mut acc = [[0f32; PANEL]; ROWS];
        let mut r0 = 0;
        while r0 < rows {
            let r = (rows - r0).min(ROWS);
            let xs = &x[r0 * self.n_in..(r0 + r) * self.n_in];
            match &self.w {
                Panels::F32(w) => panel_rows(&w[span.clone()], self.n_in, xs, r, &mut acc[..r]),
                Panels::F16(w) => panel_rows_f16(&w[span.clone()], self.n_in, xs, r, &mut acc[..r]),
            }
            for (k, a) in acc[..r].iter().enumerate() {
                // SAFETY: row r0+k, columns col0..col0+cols are inside y and owned by panel p.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(y.get().add((r0 + k) * self.n_out + col0), cols)
                };
                match &self.bias {
                    Some(b) => {
                        for ((d, &v), &bb) in dst.iter_mut().zip(a).zip(&b[col0..col0 + cols]) {
                            *d = v + bb;
                        }
                    }
                    None => dst.copy_from_slice(&a[..cols]),
                }
            }
            r0 += r;
        }
    }
}

/// `acc[k] = xs[k] · panel` for `acc.len()` (at most [`ROWS`]) rows of `n_in` inputs.
fn panel_rows(panel: &[f32], n_in: usize, xs: &[f32], rows: usize, acc: &mut [[f32; PANEL]]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above); slices are sized by the caller.
            unsafe {
                match rows {
                    1 => avx512::rows::<1>(panel, n_in, xs, acc),
                    2 => avx512::rows::<2>(panel, n_in, xs, acc),
                    3 => avx512::rows::<3>(panel, n_in, xs, acc),
                    4 => avx512::rows::<4>(panel, n_in, xs, acc),
                    5 => avx512::rows::<5>(panel, n_in, xs, acc),
                    _ => avx512::rows::<6>(panel, n_in, xs, acc),
                }
            }
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { portable_avx2(panel, n_in, xs, rows, acc) };
            return;
        }
    }
    portable(panel, n_in, xs, rows, acc);
}

/// [`panel_rows`] for an f16 panel.
fn panel_rows_f16(panel: &[u16], n_in: usize, xs: &[f32], rows: usize, acc: &mut [[f32; PANEL]]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above); slices are sized by the caller.
            unsafe {
                match rows {
                    1 => avx512::rows_f16::<1>(panel, n_in, xs, acc),
                    2 => avx512::rows_f16::<2>(panel, n_in, xs, acc),
                    3 => avx512::rows_f16::<3>(panel, n_in, xs, acc),
                    4 => avx512::rows_f16::<4>(panel, n_in, xs, acc),
                    5 => avx512::rows_f16::<5>(panel, n_in, xs, acc),
                    _ => avx512::rows_f16::<6>(panel, n_in, xs, acc),
                }
            }
            return;
        }
    }
    for a in acc[..rows].iter_mut() {
        *a = [0.0; PANEL];
    }
    let mut w = [0f32; PANEL];
    for (i, wh) in panel.chunks_exact(PANEL).enumerate().take(n_in) {
        for (w, &h) in w.iter_mut().zip(wh) {
            *w = half::f16::from_bits(h).to_f32();
        }
        for (k, a) in acc[..rows].iter_mut().enumerate() {
            let xv = xs[k * n_in + i];
            for (a, &w) in a.iter_mut().zip(&w) {
                *a = xv.mul_add(w, *a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn portable_avx2(
    panel: &[f32],
    n_in: usize,
    xs: &[f32],
    rows: usize,
    acc: &mut [[f32; PANEL]],
) {
    portable(panel, n_in, xs, rows, acc)
}

/// The same product in plain Rust (the compiler vectorises the 64 independent lanes).
#[inline(always)]
fn portable(panel: &[f32], n_in: usize, xs: &[f32], rows: usize, acc: &mut [[f32; PANEL]]) {
    for a in acc[..rows].iter_mut() {
        *a = [0.0; PANEL];
    }
    for (i, w) in panel.chunks_exact(PANEL).enumerate().take(n_in) {
        for (k, a) in acc[..rows].iter_mut().enumerate() {
            let xv = xs[k * n_in + i];
            for (a, &w) in a.iter_mut().zip(w) {
                *a = xv.mul_add(w, *a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::PANEL;
    use std::arch::x86_64::*;

    /// Defines an `R`-row kernel over panels of `$elem`, loading 16 lanes of a panel row
    /// with `$load(row_pointer, lane_offset)`; 4 × R accumulators stay in registers.
    macro_rules! rows_kernel {
        ($(#[$doc:meta])* $name:ident, $elem:ty, $load:expr) => {
            $(#[$doc])*
            #[target_feature(enable = "avx512f")]
            pub(super) unsafe fn $name<const R: usize>(
                panel: &[$elem],
                n_in: usize,
                xs: &[f32],
                acc: &mut [[f32; PANEL]],
            ) {
                debug_assert!(
                    panel.len() >= n_in * PANEL && xs.len() >= R * n_in && acc.len() >= R
                );
                let mut a = [[_mm512_setzero_ps(); 4]; R];
                let wp = panel.as_ptr();
                let xp = xs.as_ptr();
                // Cache lines in one panel row (4 in f32, 2 in f16).
                const LINES: usize = (PANEL * std::mem::size_of::<$elem>()).div_ceil(64);
                for i in 0..n_in {
                    // SAFETY: i < n_in, so the panel row and the x elements are in bounds.
                    let w = wp.add(i * PANEL);
                    // Ask for the panel 64 rows ahead: the loads then find it in L1 while
                    // this row's multiply-adds run (prefetches past the end are harmless).
                    let ahead = w.wrapping_add(64 * PANEL) as *const i8;
                    for line in 0..LINES {
                        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line));
                    }
                    let w0 = $load(w, 0);
                    let w1 = $load(w, 16);
                    let w2 = $load(w, 32);
                    let w3 = $load(w, 48);
                    for (k, ak) in a.iter_mut().enumerate() {
                        let xv = _mm512_set1_ps(*xp.add(k * n_in + i));
                        ak[0] = _mm512_fmadd_ps(xv, w0, ak[0]);
                        ak[1] = _mm512_fmadd_ps(xv, w1, ak[1]);
                        ak[2] = _mm512_fmadd_ps(xv, w2, ak[2]);
                        ak[3] = _mm512_fmadd_ps(xv, w3, ak[3]);
                    }
                }
                for (k, ak) in a.iter().enumerate() {
                    let o = acc[k].as_mut_ptr();
                    for (q, v) in ak.iter().enumerate() {
                        _mm512_storeu_ps(o.add(16 * q), *v);
                    }
                }
            }
        };
    }

    /// Loads 16 f32 lanes of a panel row.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_f32(row: *const f32, at: usize) -> __m512 {
        _mm512_loadu_ps(row.add(at))
    }

    /// Loads 16 f16 lanes of a panel row, widened to f32.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_f16(row: *const u16, at: usize) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(row.add(at) as *const __m256i))
    }

    rows_kernel!(
        /// `R` rows against one f32 panel.
        rows,
        f32,
        load_f32
    );
    rows_kernel!(
        /// `R` rows against one f16 panel, widened to f32 as it is loaded.
        rows_f16,
        u16,
        load_f16
    );
}

/// `Σ a[i] b[i]` over eight independent lanes (vectorisable without reassociation).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut lanes = [0f32; 8];
    let (ac, bc) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    let mut s = lanes.iter().sum::<f32>();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// One query's attention over `S` keys given transposed (`k_t`: `[dh][S]`) and values
/// (`v`: `[S][dh]`): `out = softmax(q · k_t * scale) · v`.
pub(crate) fn attend_transposed(q: &[f32], k_t: &[f32], v: &[f32], scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { attend_transposed_avx2(q, k_t, v, scale, out) };
            return;
        }
    }
    attend_transposed_any(q, k_t, v, scale, out)
}

/// The same code compiled for AVX2: its loops vectorise eight lanes wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn attend_transposed_avx2(q: &[f32], k_t: &[f32], v: &[f32], scale: f32, out: &mut [f32]) {
    attend_transposed_any(q, k_t, v, scale, out)
}

#[inline(always)]
fn attend_transposed_any(q: &[f32], k_t: &[f32], v: &[f32], scale: f32, out: &mut [f32]) {
    let dh = q.len();
    let s_len = k_t.len() / dh.max(1);
    let mut scores = vec![0f32; s_len];
    for (&qe, ke) in q.iter().zip(k_t.chunks_exact(s_len)) {
        axpy(qe, ke, &mut scores);
    }
    for x in scores.iter_mut() {
        *x *= scale;
    }
    softmax(&mut scores);
    out.fill(0.0);
    for (&p, vs) in scores.iter().zip(v.chunks_exact(dh)) {
        axpy(p, vs, out);
    }
}

/// `Σ x_i w_i` with one fused multiply-add per term in input order: the operations of one
/// column of [`PackedLinear::forward`] (f32 panels), so the same bits.
pub(crate) fn dot_in_order(x: &[f32], w: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked above).
            return unsafe { dot_in_order_fma(x, w) };
        }
    }
    dot_in_order_any(x, w)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn dot_in_order_fma(x: &[f32], w: &[f32]) -> f32 {
    dot_in_order_any(x, w)
}

#[inline(always)]
fn dot_in_order_any(x: &[f32], w: &[f32]) -> f32 {
    let mut acc = 0f32;
    for (&a, &b) in x.iter().zip(w) {
        acc = a.mul_add(b, acc);
    }
    acc
}

/// `y += alpha * x`.
#[inline]
pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// `e^y` in plain arithmetic that vectorises (the standard library's `exp` is a scalar call):
/// `2^n · e^r` with `n = round(y / ln 2)`, `r` reduced in two parts, and a degree-6
/// polynomial for `e^r` on `|r| <= ln2 / 2`. Relative error below 2e-7 for `y` in
/// `[-87, 88]`; 0 below, +inf above.
#[inline(always)]
pub(crate) fn exp_f32(y: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let y = y.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5 * 2^23: plain arithmetic, unlike a
    // rounding call, which baseline x86-64 cannot vectorise.
    const SHIFT: f32 = 12_582_912.0;
    let n = (y * LOG2E + SHIFT) - SHIFT;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n through the exponent bits (n is in [-126, 127] after the clamp).
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// `erf(x)`, branch-free so that a slice of it vectorises: its Maclaurin series below
/// `|x| = 0.5` (truncation under 2e-8), Abramowitz & Stegun 7.1.26 above (absolute error
/// under 1.5e-7). Within 4e-7 of the exact value in f32.
#[inline(always)]
pub(crate) fn erf_f32(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let far = (1.0 - poly * exp_f32(-a * a)).copysign(x);
    let x2 = x * x;
    let near = std::f32::consts::FRAC_2_SQRT_PI
        * x
        * (1.0
            + x2 * (-1.0 / 3.0
                + x2 * (1.0 / 10.0
                    + x2 * (-1.0 / 42.0 + x2 * (1.0 / 216.0 + x2 * (-1.0 / 1320.0))))));
    if a < 0.5 {
        near
    } else {
        far
    }
}

/// The exact (erf) GELU, `0.5 v (1 + erf(v / sqrt 2))`, in place.
pub(crate) fn gelu_erf(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { gelu_erf_avx2(xs) };
            return;
        }
    }
    gelu_erf_any(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_erf_avx2(xs: &mut [f32]) {
    gelu_erf_any(xs)
}

#[inline(always)]
fn gelu_erf_any(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        let v = *x;
        *x = 0.5 * v * (1.0 + erf_f32(v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Softmax in place (max-subtracted, as PyTorch does).
#[inline]
pub(crate) fn softmax(xs: &mut [f32]) {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for x in xs.iter_mut() {
        *x = exp_f32(*x - max);
    }
    let sum: f32 = xs.iter().sum();
    let inv = 1.0 / sum;
    for x in xs.iter_mut() {
        *x *= inv;
    }
}

/// LayerNorm parameters as plain vectors.
pub(crate) struct Norm {
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
    pub(crate) eps: f32,
}

impl Norm {
    /// LayerNorm of each `d`-wide row of `x` into `out`; many rows are split over rayon.
    pub(crate) fn apply(&self, x: &[f32], out: &mut [f32]) {
        let d = self.w.len();
        if x.len() < d * 64 {
            return layer_norm(x, &self.w, &self.b, self.eps, out);
        }
        x.par_chunks(d * 32)
            .zip(out.par_chunks_mut(d * 32))
            .for_each(|(x, o)| layer_norm(x, &self.w, &self.b, self.eps, o));
    }
}

/// `x += y`, element by element (a residual connection).
pub(crate) fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// LayerNorm over the last axis of `x` (`rows × d`), written to `out`.
fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32, out: &mut [f32]) {
    let d = w.len();
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let mean = xr.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
        let var = xr
            .iter()
            .map(|&v| {
                let c = v as f64 - mean;
                c * c
            })
            .sum::<f64>()
            / d as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for (((o, &v), &w), &b) in or.iter_mut().zip(xr).zip(w).zip(b) {
            *o = ((v as f64 - mean) * inv) as f32 * w + b;
        }
    }
}

/// GPT-2's `gelu_new`, `0.5 v (1 + tanh(u))` with `u = sqrt(2/pi) (v + 0.044715 v^3)`, in
/// place, computed as the equal `v / (1 + exp(-2u))`: one `exp` instead of a `tanh`, and no
/// cancellation in `1 + tanh(u)` for negative `u`.
pub(crate) fn gelu_tanh(xs: &mut [f32]) {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    for x in xs.iter_mut() {
        let v = *x;
        let u = C * (v + 0.044715 * v * v * v);
        *x = v / (1.0 + (-2.0 * u).exp());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(w: &[f32], n_in: usize, n_out: usize, x: &[f32], rows: usize, b: &[f32]) -> Vec<f32> {
        let mut y = vec![0f32; rows * n_out];
        for r in 0..rows {
            for j in 0..n_out {
                let mut s = b[j] as f64;
                for i in 0..n_in {
                    s += x[r * n_in + i] as f64 * w[i * n_out + j] as f64;
                }
                y[r * n_out + j] = s as f32;
            }
        }
        y
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn packed_linear_equals_the_naive_product_for_every_row_count_and_ragged_widths() {
        for &(n_in, n_out) in &[(5usize, 3usize), (64, 64), (100, 130), (768, 200)] {
            let w = pseudo(n_in * n_out, 1);
            let b = pseudo(n_out, 2);
            let lin = PackedLinear::from_in_out(&w, n_in, n_out, Some(b.clone()));
            for rows in [1usize, 2, 4, 6, 7, 13, 40] {
                let x = pseudo(rows * n_in, rows as u32 + 3);
                let mut y = vec![f32::NAN; rows * n_out];
                lin.forward(&x, rows, &mut y);
                let want = naive(&w, n_in, n_out, &x, rows, &b);
                for (a, e) in y.iter().zip(&want) {
                    assert!(
                        (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
                        "{n_in}x{n_out} rows {rows}: {a} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn f16_panels_compute_with_the_rounded_weights() {
        let (n_in, n_out) = (100, 130);
        let w = pseudo(n_in * n_out, 7);
        let b = pseudo(n_out, 8);
        let rounded: Vec<f32> = w.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect();
        let lin = PackedLinear::from_in_out(&w, n_in, n_out, Some(b.clone())).to_f16();
        assert_eq!(lin.weight_bytes(), 3 * PANEL * n_in * 2);
        for rows in [1usize, 4, 9] {
            let x = pseudo(rows * n_in, 9);
            let mut y = vec![0f32; rows * n_out];
            lin.forward(&x, rows, &mut y);
            let want = naive(&rounded, n_in, n_out, &x, rows, &b);
            for (a, e) in y.iter().zip(&want) {
                assert!(
                    (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "rows {rows}: {a} vs {e}"
                );
            }
        }
        let mut col = vec![0f32; n_in];
        lin.column_into(129, &mut col);
        let want: Vec<f32> = (0..n_in).map(|i| rounded[i * n_out + 129]).collect();
        assert_eq!(col, want);
    }

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -8700..=8800 {
            let y = i as f32 / 100.0;
            let (got, want) = (exp_f32(y) as f64, (y as f64).exp());
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({y}) = {got}, want {want}"
            );
        }
        assert!(exp_f32(-1000.0) < 1e-37);
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let want = candle_core::cpu::erf::erf_f64(x as f64);
            let got = erf_f32(x) as f64;
            assert!((got - want).abs() < 4e-7, "erf({x}) = {got}, want {want}");
            if x.abs() < 0.5 {
                assert!(
                    ((got - want) / want.abs().max(1e-30)).abs() < 1e-6,
                    "erf({x}) relative"
                );
            }
        }
        let mut g = vec![-3.0f32, -0.5, 0.0, 0.5, 3.0];
        gelu_erf(&mut g);
        for (&v, &x) in g.iter().zip(&[-3.0f64, -0.5, 0.0, 0.5, 3.0]) {
            let want = 0.5 * x * (1.0 + candle_core::cpu::erf::erf_f64(x / 2f64.sqrt()));
            assert!((v as f64 - want).abs() < 1e-6);
        }
    }

    #[test]
    fn dot_in_order_gives_the_bits_of_a_packed_column() {
        let (n_in, n_out) = (768, 130);
        let w = pseudo(n_in * n_out, 11);
        let lin = PackedLinear::from_in_out(&w, n_in, n_out, None);
        let x = pseudo(n_in, 12);
        let mut y = vec![0f32; n_out];
        lin.forward(&x, 1, &mut y);
        let mut col = vec![0f32; n_in];
        for (j, want) in y.iter().enumerate() {
            lin.column_into(j, &mut col);
            assert_eq!(
                dot_in_order(&x, &col).to_bits(),
                want.to_bits(),
                "column {j}"
            );
        }
    }

    #[test]
    fn gelu_tanh_equals_the_tanh_formula() {
        let mut xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 / 400.0).collect();
        xs.extend([-100.0, -30.0, 30.0, 100.0, 0.0]);
        let want: Vec<f64> = xs
            .iter()
            .map(|&v| {
                let v = v as f64;
                0.5 * v * (1.0 + (0.7978845608028654 * (v + 0.044715 * v * v * v)).tanh())
            })
            .collect();
        gelu_tanh(&mut xs);
        for (g, w) in xs.iter().zip(&want) {
            assert!(
                (*g as f64 - w).abs() <= 1e-6 * (1.0 + w.abs()),
                "{g} vs {w}"
            );
        }
    }

    #[test]
    fn attention_over_transposed_keys_matches_the_definition() {
        let (dh, s_len) = (8, 13);
        let q = pseudo(dh, 1);
        let k = pseudo(s_len * dh, 2); // [S][dh]
        let v = pseudo(s_len * dh, 3);
        let mut k_t = vec![0f32; dh * s_len];
        for si in 0..s_len {
            for e in 0..dh {
                k_t[e * s_len + si] = k[si * dh + e];
            }
        }
        let mut out = vec![0f32; dh];
        attend_transposed(&q, &k_t, &v, 0.5, &mut out);
        let scores: Vec<f64> = (0..s_len)
            .map(|si| 0.5 * (0..dh).map(|e| (q[e] * k[si * dh + e]) as f64).sum::<f64>())
            .collect();
        let m = scores.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = scores.iter().map(|s| (s - m).exp()).sum();
        for e in 0..dh {
            let want: f64 = (0..s_len)
                .map(|si| (scores[si] - m).exp() / z * v[si * dh + e] as f64)
                .sum();
            assert!((out[e] as f64 - want).abs() < 1e-6);
        }
    }

    #[test]
    fn transposed_packing_and_columns_read_back_the_weight() {
        let (n_out, n_in) = (70, 9);
        let w = pseudo(n_out * n_in, 5);
        let lin = PackedLinear::from_out_in(&w, n_out, n_in, None);
        let mut col = vec![0f32; n_in];
        for j in [0, 1, 63, 64, 69] {
            lin.column_into(j, &mut col);
            assert_eq!(col, &w[j * n_in..(j + 1) * n_in]);
        }
        let x = pseudo(n_in, 6);
        let mut y = vec![0f32; n_out];
        lin.forward(&x, 1, &mut y);
        for j in 0..n_out {
            let e = dot(&x, &w[j * n_in..(j + 1) * n_in]);
            assert!((y[j] - e).abs() < 1e-5);
        }
    }
}
