//! Decoding encoded images into 8-bit RGB, the way Pillow's `Image.open(..).convert("RGB")`
//! does, with limits checked before any pixel buffer is allocated.

use crate::error::{Error, Result};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use std::io::Cursor;

/// Bounds on what [`decode_rgb`] accepts, against decompression bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest encoded input, in bytes.
    pub max_bytes: usize,
    /// Largest decoded image, in pixels (width × height), checked from the header.
    pub max_pixels: u64,
    /// Largest width or height, in pixels.
    pub max_side: u32,
}

impl Default for ImageLimits {
    /// 64 MiB encoded, 64 megapixels, 32768 pixels a side: any real photo fits.
    fn default() -> Self {
        ImageLimits {
            max_bytes: 64 << 20,
            max_pixels: 64_000_000,
            max_side: 32_768,
        }
    }
}

/// How to turn encoded bytes into pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Size limits.
    pub limits: ImageLimits,
    /// Rotate/flip by the EXIF orientation tag (what HF's `pipeline` loader does).
    /// The reference `Image.open(..).convert("RGB")` path does not.
    pub apply_exif_orientation: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            limits: ImageLimits::default(),
            apply_exif_orientation: true,
        }
    }
}

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (`[H, W, 3]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Checks that `data` holds exactly `width * height` RGB pixels (the fields are public,
    /// so an image can be built inconsistent by hand).
    pub fn check(&self) -> Result<()> {
        if self.width == 0
            || self.height == 0
            || self.data.len() as u64 != self.width as u64 * self.height as u64 * 3
        {
            return Err(Error::invalid(format!(
                "RGB buffer of {} bytes does not hold a {}x{} image",
                self.data.len(),
                self.width,
                self.height
            )));
        }
        Ok(())
    }

    /// An image from interleaved RGB bytes; fails if the length does not match.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        let img = RgbImage {
            width,
            height,
            data,
        };
        img.check()?;
        Ok(img)
    }
}

const SUPPORTED: [ImageFormat; 5] = [
    ImageFormat::Png,
    ImageFormat::Jpeg,
    ImageFormat::WebP,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];

fn decode_error(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(l) => Error::invalid(format!("image exceeds limits: {l}")),
        image::ImageError::Unsupported(u) => Error::invalid(format!("unsupported image: {u}")),
        other => Error::invalid(format!("cannot decode image: {other}")),
    }
}

/// Decodes PNG, JPEG, WebP, GIF (first frame) or BMP bytes into RGB as Pillow's
/// `convert("RGB")` would: alpha dropped (not composited), grey replicated, palette looked
/// up, CMYK as `round((255-C)(255-K)/255)`, 16-bit grey clipped at 255 and 16-bit colour
/// reduced to its high byte.
///
/// Every failure, including a header that promises more pixels than
/// [`ImageLimits::max_pixels`], is an [`Error::InvalidInput`]; nothing is allocated for the
/// pixels before the dimensions pass the limits. Decoder buffers count against
/// `max_pixels * 8` bytes plus 64 MiB, and a JPEG with more than 500 scans (a
/// progressive-scan bomb) is refused before any of it is decoded.
pub fn decode_rgb(bytes: &[u8], opts: &DecodeOptions) -> Result<RgbImage> {
    let limits = opts.limits;
    if bytes.is_empty() {
        return Err(Error::invalid("image is empty (0 bytes)"));
    }
    if bytes.len() > limits.max_bytes {
        return Err(Error::invalid(format!(
            "image is {} bytes, over the limit of {}",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let format = image::guess_format(bytes)
        .map_err(|_| Error::invalid("not a recognised image format (PNG, JPEG, WebP, GIF, BMP)"))?;
    if !SUPPORTED.contains(&format) {
        return Err(Error::invalid(format!(
            "unsupported image format {format:?}"
        )));
    }
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(bytes)?;
    }
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(decode_error)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::invalid(format!("image has no pixels ({w}x{h})")));
    }
    if w > limits.max_side || h > limits.max_side || w as u64 * h as u64 > limits.max_pixels {
        return Err(Error::invalid(format!(
            "image is {w}x{h}, over the limit of {} pixels or {} a side",
            limits.max_pixels, limits.max_side
        )));
    }
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(limits.max_side);
    lim.max_image_height = Some(limits.max_side);
    // Room for the largest decoded layout (RGBA16) plus the decoder's own buffers; the
    // libjpeg-exact decoder counts all of its buffers against the same limit.
    let max_alloc = limits.max_pixels.saturating_mul(8).saturating_add(64 << 20);
    lim.max_alloc = Some(max_alloc);
    decoder.set_limits(lim).map_err(decode_error)?;
    let orientation = if opts.apply_exif_orientation {
        // A malformed EXIF block is no reason to reject the picture.
        decoder.orientation().ok()
    } else {
        None
    };
    // Most JPEGs go through the libjpeg-exact decoder; the rest through `image`.
    let exact = if format == ImageFormat::Jpeg {
        super::jpeg::decode(bytes, max_alloc)?
    } else {
        None
    };
    let mut rgb = match exact {
        Some(rgb) => rgb,
        None => to_rgb_like_pillow(DynamicImage::from_decoder(decoder).map_err(decode_error)?)?,
    };
    if let Some(o) = orientation {
        rgb = orient(rgb, o)?;
    }
    Ok(rgb)
}

/// Walks the JPEG marker structure up to EOI. The decoder fills a truncated file with grey
/// where Pillow (libjpeg) refuses it, so a missing EOI is an error here too.
fn check_jpeg_complete(b: &[u8]) -> Result<()> {
    let truncated = || Error::invalid("JPEG is truncated (no end-of-image marker)");
    let mut i = 2; // past SOI, which guess_format checked
    loop {
        // Markers may be preceded by fill bytes 0xFF.
        while i < b.len() && b[i] == 0xFF && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if i + 1 >= b.len() {
            return Err(truncated());
        }
        if b[i] != 0xFF {
            return Err(Error::invalid("corrupt JPEG: expected a marker"));
        }
        let marker = b[i + 1];
        i += 2;
        match marker {
            0xD9 => return Ok(()),
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        if i + 2 > b.len() {
            return Err(truncated());
        }
        let len = u16::from_be_bytes([b[i], b[i + 1]]) as usize;
        if len < 2 {
            return Err(Error::invalid("corrupt JPEG: bad segment length"));
        }
        i += len;
        if i > b.len() {
            return Err(truncated());
        }
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or
            // a restart marker.
            loop {
                match b.get(i..i + 2) {
                    None => return Err(truncated()),
                    Some([0xFF, 0x00]) | Some([0xFF, 0xD0..=0xD7]) => i += 2,
                    Some([0xFF, _]) => break,
                    Some(_) => i += 1,
                }
            }
        }
    }
}

fn to_rgb_like_pillow(img: DynamicImage) -> Result<RgbImage> {
    let (w, h) = (img.width(), img.height());
    let n = w as usize * h as usize;
    let mut out = Vec::with_capacity(n * 3);
    match img {
        DynamicImage::ImageRgb8(b) => out = b.into_raw(),
        DynamicImage::ImageRgba8(b) => {
            for p in b.into_raw().chunks_exact(4) {
                out.extend_from_slice(&p[..3]);
            }
        }
        DynamicImage::ImageLuma8(b) => {
            for &v in b.as_raw() {
                out.extend_from_slice(&[v, v, v]);
            }
        }
        DynamicImage::ImageLumaA8(b) => {
            for p in b.as_raw().chunks_exact(2) {
                out.extend_from_slice(&[p[0], p[0], p[0]]);
            }
        }
        // Pillow opens 16-bit grey as mode I;16 and its RGB conversion clips, not scales.
        DynamicImage::ImageLuma16(b) => {
            for &v in b.as_raw() {
                let v = v.min(255) as u8;
                out.extend_from_slice(&[v, v, v]);
            }
        }
        // 16-bit LA/RGB/RGBA are unpacked by Pillow to 8 bits by keeping the high byte.
        DynamicImage::ImageLumaA16(b) => {
            for p in b.as_raw().chunks_exact(2) {
                let v = (p[0] >> 8) as u8;
                out.extend_from_slice(&[v, v, v]);
            }
        }
        DynamicImage::ImageRgb16(b) => out.extend(b.as_raw().iter().map(|&v| (v >> 8) as u8)),
        DynamicImage::ImageRgba16(b) => {
            for p in b.as_raw().chunks_exact(4) {
                out.extend(p[..3].iter().map(|&v| (v >> 8) as u8));
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "unsupported pixel layout {:?}",
                other.color()
            )))
        }
    }
    RgbImage::new(w, h, out)
}

fn orient(img: RgbImage, o: image::metadata::Orientation) -> Result<RgbImage> {
    if o == image::metadata::Orientation::NoTransforms {
        return Ok(img);
    }
    let buf = image::RgbImage::from_raw(img.width, img.height, img.data)
        .ok_or_else(|| Error::Internal("RGB buffer does not match its size".into()))?;
    let mut dynamic = DynamicImage::ImageRgb8(buf);
    dynamic.apply_orientation(o);
    let rgb = dynamic.into_rgb8();
    RgbImage::new(rgb.width(), rgb.height(), rgb.into_raw())
}
