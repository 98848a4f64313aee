//! `cargo fuzz run extract_nouns`: see `sociallens_fuzz::extract_nouns` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sociallens_fuzz::extract_nouns(data));
