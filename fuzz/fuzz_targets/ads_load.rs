//! `cargo fuzz run ads_load`: see `sociallens_fuzz::ads_load` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sociallens_fuzz::ads_load(data));
