//! `cargo fuzz run decode_preprocess`: see `sociallens_fuzz::decode_preprocess` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sociallens_fuzz::decode_preprocess(data));
