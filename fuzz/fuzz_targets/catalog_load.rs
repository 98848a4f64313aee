//! `cargo fuzz run catalog_load`: see `sociallens_fuzz::catalog_load` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sociallens_fuzz::catalog_load(data));
