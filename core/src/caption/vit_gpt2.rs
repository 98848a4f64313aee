//! [`VitGpt2`]: the `nlpconnect/vit-gpt2-image-captioning` captioner behind [`Captioner`].

use super::decode::{decode_rgb, DecodeOptions};
use super::generate::{generate, GenerationConfig, Ids};
use super::hub::HubOptions;
use super::model::{model_err, Kernels, VisionEncoderDecoder, WeightFormat};
use super::preprocess::PreprocessorConfig;
use super::tokenizer::CaptionTokenizer;
use super::Captioner;
use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

/// ViT-GPT2 image captioning (on the CPU unless a `cuda`/`metal` feature finds a GPU), with the reference's settings
/// (`max_length=16`, `num_beams=4`) unless changed with [`VitGpt2::with_generation`].
///
/// A model directory holds `config.json`, `model.safetensors` or `pytorch_model.bin`,
/// `preprocessor_config.json`, `tokenizer.json` (or `vocab.json` + `merges.txt`) and
/// optionally `generation_config.json` and `tokenizer_config.json` (the Hub layout).
/// Images are decoded with EXIF orientation applied (see [`VitGpt2::with_decode_options`]
/// to turn it off, as the reference `Image.open` path does).
///
/// ```no_run
/// use sociallens::{Captioner, VitGpt2};
/// let captioner = VitGpt2::from_dir("models/vit-gpt2-image-captioning")?;
/// let photo = std::fs::read("photo.jpg").unwrap();
/// println!("{}", captioner.caption(&[&photo])?[0]);
/// # Ok::<(), sociallens::Error>(())
/// ```
pub struct VitGpt2 {
    model: VisionEncoderDecoder,
    processor: PreprocessorConfig,
    tokenizer: CaptionTokenizer,
    generation: GenerationConfig,
    decode: DecodeOptions,
    device: Device,
    name: String,
    max_batch: usize,
}

impl VitGpt2 {
    /// Loads a model directory, preferring `model.safetensors` over `pytorch_model.bin`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let format = WeightFormat::detect_or_err(dir)?;
        Self::from_dir_with(dir, format)
    }

    /// Loads a model directory with the given weight file.
    pub fn from_dir_with(dir: impl AsRef<Path>, format: WeightFormat) -> Result<Self> {
        let dir = dir.as_ref();
        Self::load(dir, format, dir_name(dir), Kernels::Auto)
    }

    /// Like [`Self::from_dir`] with an explicit implementation: [`Kernels::CpuF16`] trades
    /// token-exactness for about 1.6× faster decoding.
    ///
    /// ```no_run
    /// use sociallens::caption::Kernels;
    /// use sociallens::{Captioner, VitGpt2};
    /// let fast = VitGpt2::from_dir_with_kernels("models/vit-gpt2", Kernels::CpuF16)?;
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn from_dir_with_kernels(dir: impl AsRef<Path>, kernels: Kernels) -> Result<Self> {
        let dir = dir.as_ref();
        let format = WeightFormat::detect_or_err(dir)?;
        Self::load(dir, format, dir_name(dir), kernels)
    }

    /// Downloads (once, into the shared Hugging Face cache) and loads a model repository,
    /// e.g. `nlpconnect/vit-gpt2-image-captioning`. Honours `HF_ENDPOINT`, `HF_HOME` and
    /// `HF_HUB_OFFLINE=1` (cache only); shows a progress bar on a terminal. Prefers
    /// `model.safetensors`, falls back to `pytorch_model.bin`.
    pub fn from_hub(repo: &str) -> Result<Self> {
        Self::from_hub_with(repo, &HubOptions::default())
    }

    /// [`Self::from_hub`] with an explicit revision, endpoint, cache folder or offline mode.
    pub fn from_hub_with(repo: &str, options: &HubOptions) -> Result<Self> {
        super::hub::load(repo, options)
    }

    /// Like [`Self::from_dir`] on a given device (e.g. `Device::new_cuda(1)` with the `cuda`
    /// feature). The default is the first GPU of an enabled `cuda`/`metal` feature, else the
    /// CPU.
    pub fn from_dir_on(dir: impl AsRef<Path>, device: Device) -> Result<Self> {
        let dir = dir.as_ref();
        let format = WeightFormat::detect_or_err(dir)?;
        Self::load_on(dir, format, dir_name(dir), device, Kernels::Auto)
    }

    pub(crate) fn load(
        dir: &Path,
        format: WeightFormat,
        name: String,
        kernels: Kernels,
    ) -> Result<Self> {
        Self::load_on(dir, format, name, default_device(), kernels)
    }

    fn load_on(
        dir: &Path,
        format: WeightFormat,
        name: String,
        device: Device,
        kernels: Kernels,
    ) -> Result<Self> {
        let model = VisionEncoderDecoder::from_dir_with_kernels(dir, format, &device, kernels)?;
        let processor = PreprocessorConfig::from_file(&dir.join("preprocessor_config.json"))?;
        let (w, h) = processor.width_height();
        let side = model.config().encoder.image_size as u32;
        if (w, h) != (side, side) {
            return Err(Error::Model(format!(
                "processor size {w}x{h} does not match the encoder's {side}x{side}"
            )));
        }
        let tokenizer = CaptionTokenizer::from_dir(dir)?;
        let config_text = read(&dir.join("config.json"))?;
        let gen_path = dir.join("generation_config.json");
        let gen_text = if gen_path.is_file() {
            Some(read(&gen_path)?)
        } else {
            None
        };
        let mut generation = GenerationConfig::from_json(gen_text.as_deref(), &config_text)?;
        generation.max_length = 16;
        generation.num_beams = 4;
        Ok(VitGpt2 {
            model,
            processor,
            tokenizer,
            generation,
            decode: DecodeOptions::default(),
            device,
            name,
            max_batch: 8,
        })
    }

    /// Replaces the decoding settings (the defaults are the model's, with
    /// `max_length = 16` and `num_beams = 4`).
    pub fn with_generation(mut self, generation: GenerationConfig) -> Result<Self> {
        generation.validate()?;
        self.generation = generation;
        Ok(self)
    }

    /// Replaces the image decoding options (limits, EXIF orientation; on by default).
    pub fn with_decode_options(mut self, decode: DecodeOptions) -> Self {
        self.decode = decode;
        self
    }

    /// Images per forward pass (default 8); larger batches are split.
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Whether decoding runs on a team of spinning helper threads (the default) or on
    /// rayon's pool alone; see [`VisionEncoderDecoder::with_spin_team`]. Turn it off on a
    /// host that shares its cores (or set `SOCIALLENS_SPIN_TEAM=0`); captions do not change.
    ///
    /// ```
    /// use sociallens::{Captioner, VitGpt2};
    /// let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
    ///     .join("../../shared/fixtures/vit-gpt2");
    /// let photo = std::fs::read(fixtures.join("images/04_photo_640x480.jpg")).unwrap();
    /// let team = VitGpt2::from_dir(fixtures.join("tiny-vit-gpt2"))?.with_spin_team(true);
    /// let shared_host = VitGpt2::from_dir(fixtures.join("tiny-vit-gpt2"))?.with_spin_team(false);
    /// assert!(!shared_host.model().spin_team());
    /// assert_eq!(shared_host.caption(&[&photo])?, team.caption(&[&photo])?);
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn with_spin_team(mut self, on: bool) -> Self {
        self.model = self.model.with_spin_team(on);
        self
    }

    /// The decoding settings in use.
    pub fn generation(&self) -> &GenerationConfig {
        &self.generation
    }

    /// The network.
    pub fn model(&self) -> &VisionEncoderDecoder {
        &self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &CaptionTokenizer {
        &self.tokenizer
    }

    /// Decodes and preprocesses encoded images into pixel values `[N, 3, H, W]`.
    pub fn pixel_values(&self, images: &[&[u8]]) -> Result<Tensor> {
        let (w, h) = self.processor.width_height();
        let mut data = Vec::with_capacity(images.len() * 3 * (w * h) as usize);
        for bytes in images {
            let rgb = decode_rgb(bytes, &self.decode)?;
            data.extend(self.processor.pixel_values(&rgb)?);
        }
        Tensor::from_vec(
            data,
            (images.len(), 3, h as usize, w as usize),
            &self.device,
        )
        .map_err(model_err)
    }

    /// Token ids (HF's `generate` output) for pixel values `[N, 3, H, W]`.
    pub fn generate_ids(&self, pixel_values: &Tensor) -> Result<Vec<Ids>> {
        generate(&self.model, pixel_values, &self.generation)
    }
}

/// The first GPU of an enabled `cuda` or `metal` feature, else the CPU.
fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return d;
    }
    #[cfg(feature = "metal")]
    if let Ok(d) = Device::new_metal(0) {
        return d;
    }
    Device::Cpu
}

/// The model's name in [`Captioner::model_id`]: the directory's last component.
fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Model(format!("cannot read {}: {e}", path.display())))
}

impl Captioner for VitGpt2 {
    fn model_id(&self) -> String {
        let g = &self.generation;
        format!(
            "vit-gpt2:{}:max_length={}:num_beams={}:length_penalty={}:early_stopping={:?}:\
             min_length={}:no_repeat_ngram_size={}:repetition_penalty={}:exif={}{}",
            self.name,
            g.max_length,
            g.num_beams,
            g.length_penalty,
            g.early_stopping,
            g.min_length,
            g.no_repeat_ngram_size,
            g.repetition_penalty,
            self.decode.apply_exif_orientation,
            // f16 weights may caption differently: their captions are cached apart.
            if self.model.decoder().kernels() == Kernels::CpuF16 {
                ":f16"
            } else {
                ""
            }
        )
    }

    fn caption(&self, images: &[&[u8]]) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.max_batch) {
            let pv = self.pixel_values(chunk)?;
            for ids in self.generate_ids(&pv)? {
                out.push(self.tokenizer.caption(&ids)?);
            }
        }
        Ok(out)
    }
}
