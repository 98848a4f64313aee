//! Benchmarks of sociallens: `cargo bench -p sociallens-benches`.
