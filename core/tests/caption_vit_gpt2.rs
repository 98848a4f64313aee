//! `VitGpt2` end to end (bytes in, captions out) and inside the engine, on the tiny model.

mod common;

use common::{fixtures, image_bytes, reference, stem, IMAGES};
use sociallens::caption::{DecodeOptions, Kernels, VitGpt2, WeightFormat};
use sociallens::{Captioner, Engine, MemoryStore, Post};

fn tiny() -> std::path::PathBuf {
    fixtures().join("tiny-vit-gpt2")
}

fn parity_captioner(format: WeightFormat) -> VitGpt2 {
    // The reference loader does not apply EXIF orientation.
    VitGpt2::from_dir_with(tiny(), format)
        .unwrap()
        .with_decode_options(DecodeOptions {
            apply_exif_orientation: false,
            ..Default::default()
        })
}

#[test]
fn captions_from_bytes_match_reference_for_all_images() {
    let reference = reference();
    for format in [WeightFormat::Safetensors, WeightFormat::PytorchBin] {
        let c = parity_captioner(format);
        assert_eq!(c.generation().max_length, 16);
        assert_eq!(c.generation().num_beams, 4);
        let bytes: Vec<Vec<u8>> = IMAGES.iter().map(|f| image_bytes(f)).collect();
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        // One call with 11 images: split into batches of 8 and 3 internally.
        let captions = c.caption(&refs).unwrap();
        for (file, caption) in IMAGES.iter().zip(&captions) {
            let want = reference["images"][stem(file)]["beam_text"]
                .as_str()
                .unwrap();
            assert_eq!(caption, want, "{format:?} {file}");
        }
        // One image at a time gives the same captions as the batch.
        for (i, b) in refs.iter().enumerate().step_by(5) {
            assert_eq!(c.caption(&[b]).unwrap()[0], captions[i]);
        }
    }
}

#[test]
fn from_dir_prefers_safetensors_and_names_its_settings() {
    let c = VitGpt2::from_dir(tiny()).unwrap();
    let id = c.model_id();
    assert!(id.contains("tiny-vit-gpt2"), "{id}");
    assert!(
        id.contains("max_length=16") && id.contains("num_beams=4"),
        "{id}"
    );
    let greedy = VitGpt2::from_dir(tiny())
        .unwrap()
        .with_generation({
            let mut g = c.generation().clone();
            g.num_beams = 1;
            g
        })
        .unwrap();
    assert_ne!(greedy.model_id(), id, "settings are part of the cache key");
}

/// On the CPU the default is the CPU path in f32; f16 decoder weights are opt-in, and their
/// captions are cached apart from the exact ones.
#[test]
fn kernels_default_to_the_exact_cpu_path_and_f16_is_a_separate_cache_key() {
    let c = VitGpt2::from_dir(tiny()).unwrap();
    assert_eq!(c.model().decoder().kernels(), Kernels::Cpu);
    assert!(c.model().encoder().is_cpu_path());
    let f16 = VitGpt2::from_dir_with_kernels(tiny(), Kernels::CpuF16).unwrap();
    assert_eq!(f16.model().decoder().kernels(), Kernels::CpuF16);
    assert_eq!(f16.model_id(), format!("{}:f16", c.model_id()));
    let candle = VitGpt2::from_dir_with_kernels(tiny(), Kernels::Candle).unwrap();
    assert_eq!(candle.model().decoder().kernels(), Kernels::Candle);
    assert!(!candle.model().encoder().is_cpu_path());
    assert_eq!(
        candle.model_id(),
        c.model_id(),
        "the f32 paths give the same captions"
    );
    let photo = image_bytes(IMAGES[3]);
    let want = c.caption(&[&photo]).unwrap();
    assert_eq!(candle.caption(&[&photo]).unwrap(), want);
    assert_eq!(f16.caption(&[&photo]).unwrap(), want);
}

#[test]
fn missing_model_dir_is_a_model_error() {
    let err = VitGpt2::from_dir(fixtures().join("no-such-model"))
        .err()
        .unwrap();
    assert_eq!(err.code(), "MODEL");
}

#[test]
fn bad_image_is_invalid_input() {
    let c = VitGpt2::from_dir(tiny()).unwrap();
    let err = c.caption(&[b"not an image"]).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}

#[tokio::test]
async fn engine_captions_a_liked_image_with_the_tiny_model() {
    let reference = reference();
    let engine = Engine::builder()
        .store(MemoryStore::new())
        .captioner(VitGpt2::from_dir(tiny()).unwrap())
        .build()
        .unwrap();
    let file = "02_rgba_200x150.png";
    let outcome = engine
        .record_like(
            "user-1",
            Post::new("post-1")
                .with_image(image_bytes(file))
                .with_interests(["next"]),
        )
        .await
        .unwrap();
    let want = reference["images"][stem(file)]["beam_text"]
        .as_str()
        .unwrap();
    assert_eq!(outcome.caption.as_deref(), Some(want));
    let post = engine.post("post-1").await.unwrap().unwrap();
    assert_eq!(post.caption.as_deref(), Some(want));
}

/// Counts the images that reach the model.
struct Counting(VitGpt2, std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Captioner for Counting {
    fn model_id(&self) -> String {
        self.0.model_id()
    }
    fn caption(&self, images: &[&[u8]]) -> sociallens::Result<Vec<String>> {
        self.1
            .fetch_add(images.len(), std::sync::atomic::Ordering::SeqCst);
        self.0.caption(images)
    }
}

#[tokio::test]
async fn engine_captions_one_image_once_for_many_users() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let engine = Engine::builder()
        .store(MemoryStore::new())
        .captioner(Counting(VitGpt2::from_dir(tiny()).unwrap(), calls.clone()))
        .build()
        .unwrap();
    let image = image_bytes("09_palette_128x96.png");
    let users: Vec<String> = (0..20).map(|i| format!("user-{i}")).collect();
    let likes = users.iter().enumerate().map(|(i, user)| {
        engine.record_like(
            user,
            Post::new(format!("post-{i}"))
                .with_image(image.clone())
                .with_interests(["x"]),
        )
    });
    let outcomes = futures::future::join_all(likes).await;
    let want = reference()["images"]["09_palette_128x96"]["beam_text"]
        .as_str()
        .unwrap()
        .to_string();
    for o in outcomes {
        assert_eq!(o.unwrap().caption.as_deref(), Some(want.as_str()));
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Captioning from several threads at once (one of them gets the decoding team, the others
/// rayon) gives every thread the captions of a lone call.
#[test]
fn concurrent_captioning_gives_the_same_captions() {
    let c = parity_captioner(WeightFormat::Safetensors);
    let bytes: Vec<Vec<u8>> = IMAGES[..4].iter().map(|f| image_bytes(f)).collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let want = c.caption(&refs).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..3)
                        .map(|_| c.caption(&refs).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for got in h.join().unwrap() {
                assert_eq!(got, want);
            }
        }
    });
}

/// With the spinning team turned off, decoding runs on rayon alone and gives the same
/// captions (greedy and beam search).
#[test]
fn captions_are_the_same_with_the_spin_team_off() {
    let reference = reference();
    let on = parity_captioner(WeightFormat::Safetensors).with_spin_team(true);
    let off = parity_captioner(WeightFormat::Safetensors).with_spin_team(false);
    assert!(on.model().spin_team() && !off.model().spin_team());
    assert_eq!(
        on.model_id(),
        off.model_id(),
        "same captions, same cache key"
    );
    let bytes: Vec<Vec<u8>> = IMAGES.iter().map(|f| image_bytes(f)).collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let captions = off.caption(&refs).unwrap();
    for (file, caption) in IMAGES.iter().zip(&captions) {
        let want = reference["images"][stem(file)]["beam_text"]
            .as_str()
            .unwrap();
        assert_eq!(caption, want, "{file}");
    }
    let greedy = |c: VitGpt2| {
        let mut g = c.generation().clone();
        g.num_beams = 1;
        c.with_generation(g).unwrap()
    };
    let (on, off) = (greedy(on), greedy(off));
    assert_eq!(off.caption(&refs).unwrap(), on.caption(&refs).unwrap());
}

/// Run by `spin_team_env_var_turns_the_team_off` in a child process with the variable set.
#[test]
#[ignore = "run in a child process by spin_team_env_var_turns_the_team_off"]
fn child_spin_team_default_follows_env() {
    let Ok(expect) = std::env::var("EXPECT_SPIN_TEAM") else {
        return; // run directly (e.g. with --include-ignored): nothing to check
    };
    let want = expect == "on";
    let c = VitGpt2::from_dir(tiny()).unwrap();
    assert_eq!(c.model().spin_team(), want);
    // The builder still overrides the variable.
    assert!(VitGpt2::from_dir(tiny())
        .unwrap()
        .with_spin_team(true)
        .model()
        .spin_team());
}

/// `SOCIALLENS_SPIN_TEAM=0` (read once, at the first model load) makes models default to
/// rayon; unset, they default to the team. Each case runs in a fresh process of this test
/// binary, since the variable is read once per process.
#[test]
fn spin_team_env_var_turns_the_team_off() {
    for (value, expect) in [(Some("0"), "off"), (Some("off"), "off"), (None, "on")] {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "child_spin_team_default_follows_env",
            "--ignored",
            "--test-threads=1",
        ])
        .env("EXPECT_SPIN_TEAM", expect);
        match value {
            Some(v) => cmd.env("SOCIALLENS_SPIN_TEAM", v),
            None => cmd.env_remove("SOCIALLENS_SPIN_TEAM"),
        };
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "SOCIALLENS_SPIN_TEAM={value:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
