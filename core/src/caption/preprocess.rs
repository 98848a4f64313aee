//! `ViTImageProcessor` re-done bit for bit: Pillow's fixed-point resampling to the model's
//! size, then ×`rescale_factor` in f64 rounded to f32, then `(x - mean) / std` in f32.

use super::decode::RgbImage;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// `size` in `preprocessor_config.json`: `{"height": h, "width": w}` today, a bare integer in
/// the legacy `ViTFeatureExtractor` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SizeSpec {
    /// Explicit height and width.
    HeightWidth {
        /// Output height.
        height: u32,
        /// Output width.
        width: u32,
    },
    /// Square output of this side.
    Square(u32),
}

impl SizeSpec {
    /// `(width, height)`.
    pub fn width_height(&self) -> (u32, u32) {
        match *self {
            SizeSpec::HeightWidth { height, width } => (width, height),
            SizeSpec::Square(s) => (s, s),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_size() -> SizeSpec {
    SizeSpec::Square(224)
}
fn default_resample() -> u32 {
    2
}
fn default_rescale() -> f64 {
    1.0 / 255.0
}
fn default_half() -> Vec<f32> {
    vec![0.5; 3]
}

/// The fields of `preprocessor_config.json` that `ViTImageProcessor` uses, with its defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreprocessorConfig {
    /// Resize to [`Self::size`].
    #[serde(default = "yes")]
    pub do_resize: bool,
    /// Output size.
    #[serde(default = "default_size")]
    pub size: SizeSpec,
    /// Pillow resampling filter id (2 = bilinear).
    #[serde(default = "default_resample")]
    pub resample: u32,
    /// Multiply by [`Self::rescale_factor`].
    #[serde(default = "yes")]
    pub do_rescale: bool,
    /// Usually 1/255.
    #[serde(default = "default_rescale")]
    pub rescale_factor: f64,
    /// Subtract the mean and divide by the std.
    #[serde(default = "yes")]
    pub do_normalize: bool,
    /// Per-channel mean.
    #[serde(default = "default_half")]
    pub image_mean: Vec<f32>,
    /// Per-channel standard deviation.
    #[serde(default = "default_half")]
    pub image_std: Vec<f32>,
}

impl Default for PreprocessorConfig {
    fn default() -> Self {
        PreprocessorConfig {
            do_resize: true,
            size: default_size(),
            resample: 2,
            do_rescale: true,
            rescale_factor: default_rescale(),
            do_normalize: true,
            image_mean: default_half(),
            image_std: default_half(),
        }
    }
}

impl PreprocessorConfig {
    /// Parses and checks a `preprocessor_config.json` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Model(format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&text)
    }

    /// Parses and checks `preprocessor_config.json` text.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut cfg: PreprocessorConfig = serde_json::from_str(text)
            .map_err(|e| Error::Model(format!("bad preprocessor_config.json: {e}")))?;
        // One canonical form, so that the legacy layout compares equal to the current one.
        let (width, height) = cfg.size.width_height();
        cfg.size = SizeSpec::HeightWidth { height, width };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let (w, h) = self.size.width_height();
        if w == 0 || h == 0 || w > 4096 || h > 4096 {
            return Err(Error::Model(format!("bad processor size {w}x{h}")));
        }
        if self.image_mean.len() != 3 || self.image_std.len() != 3 {
            return Err(Error::Model(
                "image_mean and image_std need 3 values".into(),
            ));
        }
        if self.image_std.contains(&0.0) {
            return Err(Error::Model("image_std contains 0".into()));
        }
        Filter::from_pil(self.resample)?;
        Ok(())
    }

    /// Output `(width, height)`.
    pub fn width_height(&self) -> (u32, u32) {
        self.size.width_height()
    }

    /// The processor's output for one image, channels first: `3 * H * W` floats
    /// (`[3, H, W]`). Without `do_resize` the image must already have the configured size.
    pub fn pixel_values(&self, img: &RgbImage) -> Result<Vec<f32>> {
        img.check()?;
        let (w, h) = self.width_height();
        let resized;
        let src = if self.do_resize {
            resized = resize(img, w, h, Filter::from_pil(self.resample)?)?;
            &resized
        } else {
            img
        };
        if (src.width, src.height) != (w, h) {
            return Err(Error::invalid(format!(
                "image is {}x{} but the model takes {w}x{h}",
                src.width, src.height
            )));
        }
        Ok(self.normalize(src))
    }

    fn normalize(&self, img: &RgbImage) -> Vec<f32> {
        let plane = img.width as usize * img.height as usize;
        let mut out = vec![0f32; plane * 3];
        for (i, px) in img.data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                // numpy: uint8 -> float64 * factor -> float32, then float32 arithmetic.
                let mut x = if self.do_rescale {
                    (px[c] as f64 * self.rescale_factor) as f32
                } else {
                    px[c] as f32
                };
                if self.do_normalize {
                    x = (x - self.image_mean[c]) / self.image_std[c];
                }
                out[c * plane + i] = x;
            }
        }
        out
    }
}

/// Pillow's convolution resampling filters (`Image.Resampling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `BOX` (4).
    Box,
    /// `BILINEAR` (2), triangle kernel.
    Bilinear,
    /// `HAMMING` (5).
    Hamming,
    /// `BICUBIC` (3), a = -0.5.
    Bicubic,
    /// `LANCZOS` (1), 3 lobes.
    Lanczos,
}

impl Filter {
    /// The filter for a Pillow resample id; `NEAREST` (0) is not a convolution and is refused.
    pub fn from_pil(id: u32) -> Result<Self> {
        Ok(match id {
            1 => Filter::Lanczos,
            2 => Filter::Bilinear,
            3 => Filter::Bicubic,
            4 => Filter::Box,
            5 => Filter::Hamming,
            _ => return Err(Error::Unsupported(format!("resample filter {id}"))),
        })
    }

    fn support(self) -> f64 {
        match self {
            Filter::Box => 0.5,
            Filter::Bilinear | Filter::Hamming => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        fn sinc(x: f64) -> f64 {
            if x == 0.0 {
                return 1.0;
            }
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
        match self {
            Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    // Pillow writes these constants as C floats.
                    x.sin() / x * (0.54f32 as f64 + 0.46f32 as f64 * x.cos())
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

/// Pillow keeps 8-bit coefficients as fixed point with this many fraction bits.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: first input index, tap count, and `ksize` fixed-point weights.
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for a full-image box.
fn coeffs(in_size: u32, out_size: u32, filter: Filter) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size as usize);
    let mut weights = vec![0i32; out_size as usize * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size as usize {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C casts truncate toward zero; negatives are clamped to 0 right after.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = filter.eval(((x + xmin) as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..(xx + 1) * ksize];
        for x in 0..n {
            let v = if ww != 0.0 { k[x] / ww } else { k[x] };
            let f = v * (1u32 << PRECISION_BITS) as f64;
            row[x] = if v < 0.0 {
                (-0.5 + f) as i32
            } else {
                (0.5 + f) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Coeffs {
        ksize,
        bounds,
        weights,
    }
}

#[inline]
fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `PIL.Image.resize((width, height), filter)` on an RGB image, bit-exact with Pillow:
/// a horizontal pass then a vertical pass, each rounding to u8, with the kernel widened by
/// the scale factor when shrinking (antialiasing).
pub fn resize(img: &RgbImage, width: u32, height: u32, filter: Filter) -> Result<RgbImage> {
    img.check()?;
    if width == 0 || height == 0 {
        return Err(Error::invalid("resize to an empty size"));
    }
    let (iw, ih) = (img.width, img.height);
    if (iw, ih) == (width, height) {
        return Ok(img.clone());
    }
    let half = 1i32 << (PRECISION_BITS - 1);
    let vert = coeffs(ih, height, filter);
    // Only the source rows the vertical pass reads go through the horizontal pass.
    let first = vert.bounds[0].0;
    let last = vert.bounds.last().map(|b| b.0 + b.1).unwrap_or(first);
    let (tmp, tmp_w, row0) = if width != iw {
        let hor = coeffs(iw, width, filter);
        let rows = last - first;
        let mut out = vec![0u8; rows * width as usize * 3];
        let stride = iw as usize * 3;
        for y in 0..rows {
            let src = &img.data[(y + first) * stride..(y + first + 1) * stride];
            let dst = &mut out[y * width as usize * 3..(y + 1) * width as usize * 3];
            for (xx, &(xmin, n)) in hor.bounds.iter().enumerate() {
                let k = &hor.weights[xx * hor.ksize..xx * hor.ksize + n];
                let mut ss = [half; 3];
                for (x, &kx) in k.iter().enumerate() {
                    let p = &src[(x + xmin) * 3..(x + xmin) * 3 + 3];
                    for c in 0..3 {
                        ss[c] += p[c] as i32 * kx;
                    }
                }
                for c in 0..3 {
                    dst[xx * 3 + c] = clip8(ss[c]);
                }
            }
        }
        (std::borrow::Cow::Owned(out), width, first)
    } else {
        (std::borrow::Cow::Borrowed(&img.data[..]), iw, 0)
    };
    if height == ih {
        return RgbImage::new(width, height, tmp.into_owned());
    }
    let stride = tmp_w as usize * 3;
    let mut out = vec![0u8; height as usize * stride];
    for (yy, &(ymin, n)) in vert.bounds.iter().enumerate() {
        let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + n];
        let dst = &mut out[yy * stride..(yy + 1) * stride];
        for (xi, d) in dst.iter_mut().enumerate() {
            let mut ss = half;
            for (y, &ky) in k.iter().enumerate() {
                ss += tmp[(y + ymin - row0) * stride + xi] as i32 * ky;
            }
            *d = clip8(ss);
        }
    }
    RgbImage::new(width, height, out)
}
