//! Shared helpers for the caption fixture tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/fixtures/vit-gpt2` next to the repository; fails loudly if it is missing so
/// that a checkout without fixtures never passes silently.
pub fn fixtures() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/vit-gpt2");
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "ViT-GPT2 fixtures not found at {} (expected ../shared/fixtures/vit-gpt2 beside the repo)",
        dir.display()
    );
    dir
}

/// The 11 fixture image stems, in order.
pub const IMAGES: [&str; 11] = [
    "01_rgb_320x240.png",
    "02_rgba_200x150.png",
    "03_gray_150x150.png",
    "04_photo_640x480.jpg",
    "05_wide_300x100.png",
    "06_tiny_7x5.png",
    "07_large_1024x768.png",
    "08_cmyk_160x120.jpg",
    "09_palette_128x96.png",
    "10_exif_orient6_120x80.jpg",
    "11_gray16_64x48.png",
];

pub fn stem(file: &str) -> &str {
    file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file)
}

pub fn image_bytes(file: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("images").join(file)).expect("read fixture image")
}

pub fn load_tensors(rel: &str) -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(fixtures().join(rel), &candle_core::Device::Cpu)
        .expect("load fixture safetensors")
}

pub fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("parse reference.json")
}
