//! Arbitrary bytes through image decoding and the ViT preprocessing with the default
//! limits: every outcome must be an image or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sociallens::caption::{decode_rgb, DecodeOptions, PreprocessorConfig};
use std::sync::OnceLock;

fn processor() -> &'static PreprocessorConfig {
    static P: OnceLock<PreprocessorConfig> = OnceLock::new();
    // ViTImageProcessor() defaults (224x224 bilinear), as the full-size model uses.
    P.get_or_init(|| {
        PreprocessorConfig::from_json(
            r#"{"do_convert_rgb": null, "do_normalize": true, "do_rescale": true,
                "do_resize": true, "image_mean": [0.5, 0.5, 0.5],
                "image_processor_type": "ViTImageProcessor", "image_std": [0.5, 0.5, 0.5],
                "resample": 2, "rescale_factor": 0.00392156862745098,
                "size": {"height": 224, "width": 224}}"#,
        )
        .expect("valid processor config")
    })
}

fuzz_target!(|data: &[u8]| {
    // Both orientation settings: the engine applies EXIF, the parity path does not.
    for exif in [true, false] {
        let opts = DecodeOptions {
            apply_exif_orientation: exif,
            ..DecodeOptions::default()
        };
        if let Ok(img) = decode_rgb(data, &opts) {
            let px = processor()
                .pixel_values(&img)
                .expect("a decoded image always preprocesses");
            assert_eq!(px.len(), 3 * 224 * 224);
            assert!(px.iter().all(|v| v.abs() <= 1.0 + 1e-6));
        }
    }
});
