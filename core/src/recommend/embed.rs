//! Sentence embeddings, for semantic matching of interests and catalog items.

use crate::error::Result;

/// Turns texts into L2-normalised vectors whose dot product is their cosine similarity.
///
/// ```
/// use sociallens::recommend::Embedder;
/// /// A toy embedder for the example: letter counts, normalised.
/// struct Letters;
/// impl Embedder for Letters {
///     fn model_id(&self) -> String { "letters".into() }
///     fn embed(&self, texts: &[&str]) -> sociallens::Result<Vec<Vec<f32>>> {
///         Ok(texts.iter().map(|t| {
///             let mut v = vec![0f32; 26];
///             for b in t.bytes().filter(u8::is_ascii_lowercase) { v[(b - b'a') as usize] += 1.0; }
///             let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
///             v.iter().map(|x| x / n).collect()
///         }).collect())
///     }
/// }
/// let v = Letters.embed(&["abc"])?;
/// assert!((v[0].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-6);
/// # Ok::<(), sociallens::Error>(())
/// ```
pub trait Embedder: Send + Sync {
    /// Names the model; embeddings are cached under it.
    fn model_id(&self) -> String;

    /// One unit vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

/// Dot product of two unit vectors: their cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
