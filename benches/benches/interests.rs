//! Noun extraction: one caption, a batch, and loading the embedded model.
//!
//! `cargo bench -p sociallens-benches --bench interests`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sociallens::interests::{NounExtractor, PerceptronTagger};

const CAPTIONS: &[&str] = &[
    "a man riding a wave on top of a surfboard",
    "a close up of a plate of food on a table",
    "two giraffes standing next to each other in a field",
    "a red fire hydrant sitting on the side of a road",
    "a man holding a cell phone holding a cell phone",
    "a teddy bear sitting on top of a bed",
    "a group of people standing around a kitchen",
    "a cat laying on top of a laptop computer",
];

fn bench(c: &mut Criterion) {
    let interests = NounExtractor::default();
    let textblob = NounExtractor::textblob();
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(CAPTIONS.len() as u64));
    g.bench_function("interests_mode_8_captions", |b| {
        b.iter(|| interests.extract_batch(CAPTIONS))
    });
    g.bench_function("textblob_mode_8_captions", |b| {
        b.iter(|| textblob.extract_batch(CAPTIONS))
    });
    g.finish();
    c.bench_function("load_embedded_tagger", |b| {
        b.iter(PerceptronTagger::embedded)
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
