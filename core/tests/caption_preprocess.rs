//! Decoding and preprocessing against Pillow + `ViTImageProcessor` outputs in the fixtures.

mod common;

use common::{fixtures, image_bytes, load_tensors, stem, IMAGES};
use sociallens::caption::{decode_rgb, preprocess, DecodeOptions, PreprocessorConfig};
use sociallens::Error;

fn parity_opts() -> DecodeOptions {
    DecodeOptions {
        apply_exif_orientation: false,
        ..Default::default()
    }
}

#[test]
fn decoded_rgb_matches_pillow() {
    let refs = load_tensors("preprocess/decoded_rgb_u8.safetensors");
    let mut checked = 0;
    let mut mismatched = Vec::new();
    for file in IMAGES {
        let Some(want) = refs.get(stem(file)) else {
            continue;
        };
        let want: Vec<u8> = want.flatten_all().unwrap().to_vec1().unwrap();
        let got = decode_rgb(&image_bytes(file), &parity_opts()).unwrap();
        let dims = refs[stem(file)].dims().to_vec();
        assert_eq!(
            [got.height as usize, got.width as usize, 3],
            dims[..],
            "{file}"
        );
        let diff = got
            .data
            .iter()
            .zip(&want)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        if diff != 0 {
            mismatched.push(format!("{file}: max diff {diff}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 10);
    assert!(mismatched.is_empty(), "{mismatched:?}");
}

fn check_pixel_values(rel: &str, cfg: &PreprocessorConfig) {
    let refs = load_tensors(rel);
    let (w, h) = cfg.width_height();
    let mut mismatched = Vec::new();
    for file in IMAGES {
        let img = decode_rgb(&image_bytes(file), &parity_opts()).unwrap();
        let resized = preprocess::resize(
            &img,
            w,
            h,
            preprocess::Filter::from_pil(cfg.resample).unwrap(),
        )
        .unwrap();
        let want_u8: Vec<u8> = refs[&format!("{}.resized_u8", stem(file))]
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        if resized.data != want_u8 {
            mismatched.push(format!("{file}: resized u8 differs"));
            continue;
        }
        let pv = cfg.pixel_values(&img).unwrap();
        let want: Vec<f32> = refs[stem(file)].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(pv.len(), want.len());
        if pv
            .iter()
            .zip(&want)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            mismatched.push(format!("{file}: pixel_values differ"));
        }
    }
    assert!(mismatched.is_empty(), "{mismatched:?}");
}

#[test]
fn pixel_values_224_bit_exact() {
    let cfg = PreprocessorConfig::from_file(
        &fixtures().join("full_size_config/preprocessor_config.json"),
    )
    .unwrap();
    assert_eq!(cfg.width_height(), (224, 224));
    check_pixel_values("preprocess/pixel_values_224.safetensors", &cfg);
}

#[test]
fn pixel_values_32_bit_exact() {
    let cfg =
        PreprocessorConfig::from_file(&fixtures().join("tiny-vit-gpt2/preprocessor_config.json"))
            .unwrap();
    assert_eq!(cfg.width_height(), (32, 32));
    check_pixel_values("preprocess/pixel_values_32.safetensors", &cfg);
}

#[test]
fn legacy_preprocessor_config_loads_identically() {
    let dir = fixtures().join("full_size_config");
    let current = PreprocessorConfig::from_file(&dir.join("preprocessor_config.json")).unwrap();
    let legacy =
        PreprocessorConfig::from_file(&dir.join("preprocessor_config.legacy_example.json"))
            .unwrap();
    assert_eq!(current, legacy);
}

#[test]
fn exif_orientation_matches_pipeline_loader() {
    let file = "10_exif_orient6_120x80.jpg";
    let img = decode_rgb(&image_bytes(file), &DecodeOptions::default()).unwrap();
    assert_eq!((img.width, img.height), (80, 120));
    for (rel, cfg) in [
        (
            "preprocess/pixel_values_224.safetensors",
            "full_size_config/preprocessor_config.json",
        ),
        (
            "preprocess/pixel_values_32.safetensors",
            "tiny-vit-gpt2/preprocessor_config.json",
        ),
    ] {
        let cfg = PreprocessorConfig::from_file(&fixtures().join(cfg)).unwrap();
        let refs = load_tensors(rel);
        let want: Vec<f32> = refs[&format!("{}.exif_transposed", stem(file))]
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let got = cfg.pixel_values(&img).unwrap();
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{rel}"
        );
    }
}

fn png_header(width: u32, height: u32) -> Vec<u8> {
    // Signature + IHDR (8-bit RGB) with a correct CRC, no image data.
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn bad_inputs_are_typed_errors() {
    let jpeg = image_bytes("04_photo_640x480.jpg");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("zero bytes", Vec::new()),
        ("truncated jpeg", jpeg[..jpeg.len() / 3].to_vec()),
        ("jpeg header only", jpeg[..200].to_vec()),
        ("text", b"a cat sitting on a sofa\n".to_vec()),
        ("huge png header", png_header(100_000, 100_000)),
        ("png header without data", png_header(16, 16)),
        ("png signature only", b"\x89PNG\r\n\x1a\n".to_vec()),
    ];
    for (what, bytes) in cases {
        match decode_rgb(&bytes, &DecodeOptions::default()) {
            Err(Error::InvalidInput(msg)) => assert!(!msg.is_empty(), "{what}"),
            other => panic!("{what}: expected InvalidInput, got {other:?}"),
        }
    }
}

#[test]
fn byte_limit_is_checked_first() {
    let mut opts = DecodeOptions::default();
    opts.limits.max_bytes = 100;
    let err = decode_rgb(&image_bytes("01_rgb_320x240.png"), &opts).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(m) if m.contains("over the limit")));
    let mut opts = DecodeOptions::default();
    opts.limits.max_pixels = 1000;
    let err = decode_rgb(&image_bytes("01_rgb_320x240.png"), &opts).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(m) if m.contains("320x240")));
}

/// JPEG variants written and decoded by Pillow 13 (`tests/data/jpeg/make_cases.py`):
/// chroma sampling 4:4:4/4:2:2/4:2:0, grey, 1-3 pixel wide images, odd sizes, quality 5
/// and 100, restart markers, progressive (spectral selection and successive
/// approximation, as libjpeg writes them).
#[test]
fn jpeg_variants_decode_like_pillow() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jpeg");
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(format!("{name}.jpg"))).unwrap();
        let want = std::fs::read(dir.join(format!("{name}.rgb"))).unwrap();
        let got = decode_rgb(&bytes, &parity_opts()).unwrap();
        assert_eq!(
            (got.width as u64, got.height as u64),
            (
                case["width"].as_u64().unwrap(),
                case["height"].as_u64().unwrap()
            ),
            "{name}"
        );
        let diff = got
            .data
            .iter()
            .zip(&want)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert_eq!(diff, 0, "{name}");
    }
}

/// Files encoders do not write but libjpeg decodes, cut from Pillow-encoded ones and
/// decoded by Pillow 13 (`tests/data/jpeg_scans/make_cases.py`): sequential scans whose
/// headers list the components in another order than the frame, and progressive files
/// with a DQT between scans (the table latched at each component's first scan wins).
/// A file Pillow refuses must be refused too.
#[test]
fn jpeg_scan_order_and_latched_tables_decode_like_pillow() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jpeg_scans");
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(format!("{name}.jpg"))).unwrap();
        if case["pillow_error"].as_bool() == Some(true) {
            let err = decode_rgb(&bytes, &parity_opts()).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{name}: {err}");
            continue;
        }
        let want = std::fs::read(dir.join(format!("{name}.rgb"))).unwrap();
        let got = decode_rgb(&bytes, &parity_opts()).unwrap();
        assert_eq!(
            (got.width as u64, got.height as u64),
            (
                case["width"].as_u64().unwrap(),
                case["height"].as_u64().unwrap()
            ),
            "{name}"
        );
        assert_eq!(got.data.len(), want.len(), "{name}");
        let diff = got
            .data
            .iter()
            .zip(&want)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert_eq!(diff, 0, "{name}");
    }
}

/// A deterministic mutation loop over small valid files (JPEG through the exact decoder,
/// PNG, GIF): every mutant decodes or fails with a typed error, and nothing panics.
#[test]
fn mutated_images_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jpeg");
    let mut seeds: Vec<Vec<u8>> = [
        "s420_33x17",
        "s422_3x40",
        "gray_29x21",
        "s420_restart_64x48",
        "s420_progressive_restart_64x48",
        "s444_progressive_33x17",
        "../jpeg_scans/seq_multiscan_y_crcb_444_33x17",
        "../jpeg_scans/prog_dqt_between_scans_420_32x24",
    ]
    .iter()
    .map(|n| std::fs::read(dir.join(format!("{n}.jpg"))).unwrap())
    .collect();
    seeds.push(image_bytes("06_tiny_7x5.png"));
    seeds.push(image_bytes("09_palette_128x96.png"));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut ok = 0;
    for round in 0..20_000 {
        let mut b = seeds[round % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % b.len();
            match next() % 4 {
                0 => b[at] = next() as u8,
                1 => b[at] ^= 1 << (next() % 8),
                2 => b.truncate(at.max(3)),
                _ => b.insert(at, next() as u8),
            }
        }
        match decode_rgb(&b, &DecodeOptions::default()) {
            Ok(img) => {
                assert_eq!(img.data.len(), img.width as usize * img.height as usize * 3);
                ok += 1;
            }
            Err(e) => assert_eq!(e.code(), "INVALID_INPUT", "{e}"),
        }
    }
    assert!(ok > 0, "some mutants should still decode");
}

/// GIF (single, transparent index, animated), BMP, WebP (lossless, lossy, lossy with alpha)
/// and PNG layouts (16-bit colour/grey/LA, LA, 1-bit, palette with tRNS), written and
/// decoded by Pillow 13 (`tests/data/formats/make_cases.py`).
#[test]
fn other_formats_decode_like_pillow() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats");
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let mut bad = Vec::new();
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(case["file"].as_str().unwrap())).unwrap();
        let want = std::fs::read(dir.join(format!("{name}.rgb"))).unwrap();
        match decode_rgb(&bytes, &parity_opts()) {
            Ok(got) => {
                let diff = got
                    .data
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| a.abs_diff(*b))
                    .max()
                    .unwrap_or(255);
                if got.data.len() != want.len() || diff != 0 {
                    bad.push(format!("{name}: max diff {diff}"));
                }
            }
            Err(e) => bad.push(format!("{name}: {e}")),
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn inconsistent_rgb_image_is_an_error_not_a_panic() {
    let img = sociallens::caption::RgbImage {
        width: 10,
        height: 10,
        data: vec![0; 5],
    };
    let cfg = PreprocessorConfig::default();
    assert_eq!(cfg.pixel_values(&img).unwrap_err().code(), "INVALID_INPUT");
    let err = preprocess::resize(&img, 4, 4, preprocess::Filter::Bilinear).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}
