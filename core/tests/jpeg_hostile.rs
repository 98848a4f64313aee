//! Hostile JPEGs against the libjpeg-exact decoder, built from bytes here (no large
//! files committed): each must fail with a typed error from a check made before any
//! per-block work, or decode within the documented limits.

use sociallens::caption::{decode_rgb, DecodeOptions};
use sociallens::Error;

/// A progressive file: `n` components (1x1 sampling), a DC first scan of all of them,
/// then `refinements` AC refinement scans of component 1, every scan without
/// entropy-coded data (10 bytes per scan). The Huffman tables hold one 1-bit code.
fn progressive_header(width: u16, height: u16, n: u8, refinements: usize) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8];
    b.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    b.extend_from_slice(&[1u8; 64]);
    b.extend_from_slice(&[0xFF, 0xC2, 0x00, 8 + 3 * n, 8]);
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&width.to_be_bytes());
    b.push(n);
    for id in 1..=n {
        b.extend_from_slice(&[id, 0x11, 0]);
    }
    for class in [0x00, 0x10] {
        b.extend_from_slice(&[0xFF, 0xC4, 0x00, 20, class, 1]);
        b.extend_from_slice(&[0u8; 15]);
        b.push(0x00);
    }
    b.extend_from_slice(&[0xFF, 0xDA, 0x00, 6 + 2 * n, n]);
    for id in 1..=n {
        b.extend_from_slice(&[id, 0x00]);
    }
    b.extend_from_slice(&[0, 0, 0]);
    for _ in 0..refinements {
        b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 1, 63, 0x10]);
    }
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

fn scan_limit_error(file: &[u8]) -> bool {
    matches!(
        decode_rgb(file, &DecodeOptions::default()),
        Err(Error::InvalidInput(m)) if m.contains("more than 500 scans")
    )
}

/// The 100 KB file of issue 11: an 8000x8000 progressive header (64 megapixels, inside
/// the default pixel limit) and 10,000 empty refinement scans. The scans are counted
/// over the whole file before the decoder allocates or decodes anything, so it fails at
/// once; before the cap each scan walked all million blocks.
#[test]
fn thousands_of_empty_scans_fail_before_any_block() {
    // At the cap (500 scans) a small image still decodes; one scan more is refused.
    assert!(decode_rgb(
        &progressive_header(64, 64, 1, 499),
        &DecodeOptions::default()
    )
    .is_ok());
    assert!(scan_limit_error(&progressive_header(64, 64, 1, 500)));

    let file = progressive_header(8000, 8000, 1, 10_000);
    assert!((100_000..110_000).contains(&file.len()), "{}", file.len());
    let started = std::time::Instant::now();
    assert!(scan_limit_error(&file));
    // Reported, not asserted: see `cargo test --release --test jpeg_hostile -- --nocapture`.
    eprintln!(
        "8000x8000 progressive header + 10,000 empty scans ({} bytes): refused in {:?}",
        file.len(),
        started.elapsed()
    );
}

/// libjpeg stops decoding a scan once its data runs out; an empty scan then costs one
/// block, so 500 of them over 8000x8000 grey decode (to flat grey) without walking the
/// image 500 times.
#[test]
fn empty_scans_under_the_cap_decode_to_grey() {
    let file = progressive_header(2048, 2048, 1, 499);
    let img = decode_rgb(&file, &DecodeOptions::default()).unwrap();
    assert_eq!((img.width, img.height), (2048, 2048));
    assert!(img.data.iter().all(|&v| v == 128));
}
