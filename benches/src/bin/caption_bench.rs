//! sociallens side of `benches/caption_vs_transformers.py`.
//!
//! `caption_bench MODEL_DIR REPS REPS_BATCH8 IMAGE...` (8 images) loads the model, runs the
//! benchmark cases on pixel values computed once (encoder batch 1 and 8, greedy batch 1,
//! beam-4 batch 1 and 8, always 15 new tokens) and prints one JSON object: the best time of
//! each case in seconds, the greedy batch-1 ids, the peak RSS (VmHWM) and whether decoding
//! ran on the spinning team (`CAPTION_BENCH_TEAM=on|off`; the library's default otherwise).

use sociallens::caption::{DecodeOptions, GenerationConfig, Kernels};
use sociallens::VitGpt2;
use std::time::Instant;

/// Best of `reps` runs; one untimed warm-up run first when `warm_up` (cheap cases only,
/// mirroring the Python side).
fn best<T>(
    reps: usize,
    warm_up: bool,
    mut f: impl FnMut() -> sociallens::Result<T>,
) -> sociallens::Result<(f64, T)> {
    if warm_up {
        f()?;
    }
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    Ok((best, out.expect("at least one run")))
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: caption_bench MODEL_DIR REPS REPS_BATCH8 IMAGE...".into());
    }
    let reps: usize = args[1].parse()?;
    let reps8: usize = args[2].parse()?;
    let images: Vec<Vec<u8>> = args[3..]
        .iter()
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    // The reference opens images without EXIF orientation.
    // CAPTION_BENCH_KERNELS=cpu-f16 (or candle, cpu) picks the implementation; auto otherwise.
    let kernels: Kernels = std::env::var("CAPTION_BENCH_KERNELS")
        .as_deref()
        .unwrap_or("auto")
        .parse()?;
    let base =
        VitGpt2::from_dir_with_kernels(&args[0], kernels)?.with_decode_options(DecodeOptions {
            apply_exif_orientation: false,
            ..DecodeOptions::default()
        });
    let load_s = t.elapsed().as_secs_f64();
    // CAPTION_BENCH_TEAM=off decodes on rayon's pool alone, =on on the spinning team; unset,
    // the library's default (on unless SOCIALLENS_SPIN_TEAM turns it off).
    let base = match std::env::var("CAPTION_BENCH_TEAM").as_deref() {
        Err(_) => base,
        Ok("on") => base.with_spin_team(true),
        Ok("off") => base.with_spin_team(false),
        Ok(other) => {
            return Err(format!("CAPTION_BENCH_TEAM must be on or off, not {other:?}").into())
        }
    };
    let spin_team = base.model().spin_team();
    // min_length = max_length keeps EOS masked at every step, so every case generates
    // exactly 15 tokens after the start token, as on the Python side.
    let with = |beams: usize, base: VitGpt2| -> sociallens::Result<VitGpt2> {
        let g = GenerationConfig {
            max_length: 16,
            min_length: 16,
            num_beams: beams,
            ..base.generation().clone()
        };
        base.with_generation(g)
    };
    let all: Vec<&[u8]> = images.iter().map(|v| v.as_slice()).collect();
    // CAPTION_BENCH_ONLY=CASE runs just that case, `reps` times, for profiling.
    if let Ok(case) = std::env::var("CAPTION_BENCH_ONLY") {
        let pv = base.pixel_values(if case.ends_with("b8") {
            &all
        } else {
            &all[..1]
        })?;
        let beams = if case.starts_with("greedy") { 1 } else { 4 };
        let model = with(beams, base)?;
        let t = Instant::now();
        for _ in 0..reps.max(1) {
            if case.starts_with("encoder") {
                model.model().encode(&pv)?;
            } else {
                model.generate_ids(&pv)?;
            }
        }
        println!(
            "{{\"{case}\": {}, \"spin_team\": {spin_team}}}",
            t.elapsed().as_secs_f64() / reps.max(1) as f64
        );
        return Ok(());
    }
    let (pre8_s, pv8) = best(reps8, false, || base.pixel_values(&all))?;
    let pv1 = base.pixel_values(&all[..1])?;
    let (enc1, _) = best(reps, true, || base.model().encode(&pv1))?;
    let (enc8, _) = best(reps8, false, || base.model().encode(&pv8))?;
    let greedy = with(1, base)?;
    let (greedy1, greedy_ids) = best(reps, true, || greedy.generate_ids(&pv1))?;
    let beam = with(4, greedy)?;
    let (beam1, beam1_ids) = best(reps, true, || beam.generate_ids(&pv1))?;
    let (beam8, beam8_ids) = best(reps8, false, || beam.generate_ids(&pv8))?;
    for ids in greedy_ids.iter().chain(&beam1_ids).chain(&beam8_ids) {
        if ids.len() != 16 {
            return Err(format!("expected 16 ids, got {}", ids.len()).into());
        }
    }
    let fmt_ids = |ids: &[u32]| {
        ids.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "{{\"load_s\": {load_s}, \"preprocess_b8\": {pre8_s}, \"encoder_b1\": {enc1}, \
         \"encoder_b8\": {enc8}, \"greedy_b1\": {greedy1}, \"beam4_b1\": {beam1}, \
         \"beam4_b8\": {beam8}, \"greedy_b1_ids\": [{}], \"beam4_b1_ids\": [{}], \
         \"vm_hwm_kb\": {}, \"spin_team\": {spin_team}}}",
        fmt_ids(&greedy_ids[0]),
        fmt_ids(&beam1_ids[0]),
        vm_hwm_kb()
    );
    Ok(())
}
