//! Captioning: turning image bytes into a caption.
//!
//! The engine accepts any [`Captioner`]; [`VitGpt2`] is the built-in one, a port of
//! Hugging Face's `nlpconnect/vit-gpt2-image-captioning` pipeline (Pillow decoding and
//! resizing, `ViTImageProcessor`, ViT + GPT-2 `generate`, `batch_decode`) that gives the same
//! tokens. Captions are cached by [`image_sha256`] of the encoded bytes, so an image liked by
//! many users is captioned once.

pub mod decode;
pub mod generate;
pub mod gpt2;
pub mod gpt2_cpu;
pub(crate) mod hub;
mod jpeg;
mod kernels;
pub mod model;
pub mod preprocess;
mod team;
pub mod tokenizer;
pub mod vit;
mod vit_gpt2;
mod weights;

pub use decode::{decode_rgb, DecodeOptions, ImageLimits, RgbImage};
pub use generate::{EarlyStopping, GenerationConfig};
pub use hub::HubOptions;
pub use model::{Kernels, WeightFormat};
pub use preprocess::PreprocessorConfig;
pub use vit_gpt2::VitGpt2;

use crate::error::Result;
use sha2::{Digest, Sha256};

/// Something that captions encoded images (JPEG, PNG, ...).
///
/// Implementations are called off the async threads and may batch: `caption` receives
/// several images and returns one caption per image, in order.
///
/// ```
/// use sociallens::{Captioner, Result};
///
/// /// A captioner for platforms whose users write alt text: reads it from a side table.
/// struct AltText(std::collections::HashMap<Vec<u8>, String>);
///
/// impl Captioner for AltText {
///     fn model_id(&self) -> String { "alt-text".into() }
///     fn caption(&self, images: &[&[u8]]) -> Result<Vec<String>> {
///         Ok(images.iter().map(|b| self.0.get(*b).cloned().unwrap_or_default()).collect())
///     }
/// }
/// let c = AltText([(vec![1u8], "a cat on a sofa".to_string())].into());
/// assert_eq!(c.caption(&[&[1u8]])?, ["a cat on a sofa"]);
/// # Ok::<(), sociallens::Error>(())
/// ```
pub trait Captioner: Send + Sync {
    /// Names the model and its generation settings; a cached caption from another model id
    /// is not reused.
    fn model_id(&self) -> String;

    /// One caption per image, in order.
    fn caption(&self, images: &[&[u8]]) -> Result<Vec<String>>;
}

/// Lowercase hex SHA-256 of the encoded image bytes: the caption cache key.
///
/// ```
/// assert_eq!(
///     sociallens::caption::image_sha256(b""),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// ```
pub fn image_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
