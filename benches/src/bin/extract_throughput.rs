//! Captions per second of noun extraction, for `benches/interests_vs_textblob.py`.
//!
//! `extract_throughput CAPTIONS_FILE [interests|textblob] [NLTK_MODEL_DIR]` reads one caption
//! per line and prints one JSON line: model load time and captions/s (best of 5 passes).

use sociallens::interests::NounExtractor;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: extract_throughput CAPTIONS_FILE [MODE] [NLTK_DIR]")?;
    let mode = args.next().unwrap_or_else(|| "interests".into());
    let nltk = args.next();
    let captions: Vec<String> = std::fs::read_to_string(path)?
        .lines()
        .map(String::from)
        .collect();
    let start = Instant::now();
    let ex = NounExtractor::for_mode(&mode, nltk.as_deref().map(std::path::Path::new))?;
    // The first call also parses the embedded WordNet data: part of loading.
    std::hint::black_box(ex.terms("a dog"));
    let load = start.elapsed();
    let mut best = f64::INFINITY;
    let mut nouns = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = ex.extract_batch(&captions);
        best = best.min(t.elapsed().as_secs_f64());
        nouns = out.iter().map(Vec::len).sum::<usize>();
    }
    println!(
        "{{\"mode\": \"{mode}\", \"load_ms\": {:.1}, \"captions\": {}, \"nouns\": {nouns}, \"captions_per_s\": {:.0}}}",
        load.as_secs_f64() * 1000.0,
        captions.len(),
        captions.len() as f64 / best
    );
    Ok(())
}
