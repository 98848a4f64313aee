//! Replays every saved fuzz input under `tests/data/fuzz/<target>/` through the code its
//! `cargo fuzz` target runs (the same file, `fuzz/src/lib.rs`), with the same invariants:
//! minimised crashes stay fixed, and the hand-picked edge cases keep passing. A new crash
//! goes in the folder of its target, named for what it exercises.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Runs `target` on every file of its folder; fails naming each input that panics.
fn replay(target: &str) {
    let (_, run) = fuzz_checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(failed.is_empty(), "{target} panics on {failed:?}");
}

#[test]
fn decode_preprocess_inputs() {
    replay("decode_preprocess");
}

#[test]
fn extract_nouns_inputs() {
    replay("extract_nouns");
}

#[test]
fn catalog_load_inputs() {
    replay("catalog_load");
}

#[test]
fn ads_load_inputs() {
    replay("ads_load");
}

/// Every target has a folder, so that a future crash has a home.
#[test]
fn every_target_has_inputs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    for (name, _) in fuzz_checks::TARGETS {
        assert!(root.join(name).is_dir(), "missing tests/data/fuzz/{name}");
    }
}
