//! The main job: captions photos with ViT-GPT2, extracts each caption's interests, records the
//! likes and uploads into an embedded SQLite file, prints each user's interests, then each
//! user's most similar users and the ads of `data/ads.jsonl` picked for them, with why.
//!
//! ```sh
//! cargo run -p sociallens-examples --example quickstart                  # the sample photos
//! cargo run -p sociallens-examples --example quickstart -- a.jpg b.png   # your photos
//! cargo run -p sociallens-examples --example quickstart -- --model-dir DIR [PHOTO...]
//! ```
//!
//! Options: `--model-dir DIR` loads the model from a local folder (offline); `--db PATH`
//! chooses the SQLite file (default `target/sociallens-demo.db`, or
//! `target/sociallens-demo-captioned.db` when a model captions the photos).
//!
//! Without `--model-dir`, the first run downloads `nlpconnect/vit-gpt2-image-captioning`
//! (about 1 GB: the weights, the configs and the tokenizer) into the Hugging Face cache, with a
//! progress bar; later runs load it from there. If the model cannot be had (no network), the
//! job says so and goes on with the captions shipped in `data/likes.jsonl`.
//!
//! Without photos on the command line it replays `data/likes.jsonl`: likes, uploads and
//! unlikes of four users, three of them with a sample photo from `data/photos/`. `days_ago`
//! backdates each event so the decay shows; event ids come from the file, so running it twice
//! changes nothing.

use serde::Deserialize;
use sociallens::{days, Engine, EventOptions, Post, SqliteStore, VitGpt2};
use std::path::{Path, PathBuf};
use std::time::Instant;

const MODEL: &str = "nlpconnect/vit-gpt2-image-captioning";

#[derive(Deserialize)]
struct Line {
    user: String,
    event: String,
    post: String,
    days_ago: f64,
    /// A sample photo (relative to `data/`), captioned by the model when there is one.
    image: Option<String>,
    /// The caption to use when there is no model (or no photo).
    caption: Option<String>,
}

#[derive(Default)]
struct Args {
    photos: Vec<PathBuf>,
    model_dir: Option<PathBuf>,
    db: Option<String>,
}

const USAGE: &str = "usage: quickstart [--model-dir DIR] [--db PATH] [PHOTO...]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model-dir" => {
                args.model_dir = Some(it.next().ok_or("--model-dir needs a folder")?.into())
            }
            "--db" => args.db = Some(it.next().ok_or("--db needs a path")?),
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            _ => args.photos.push(a.into()),
        }
    }
    Ok(args)
}

/// The captioner, or why there is none.
fn load_captioner(model_dir: Option<&Path>) -> Result<VitGpt2, String> {
    let t = Instant::now();
    let model = match model_dir {
        Some(dir) => {
            println!("Loading the captioning model from {}", dir.display());
            VitGpt2::from_dir(dir)
        }
        None => {
            println!(
                "Loading {MODEL}: the first run downloads about 1 GB (weights, configs, \
                 tokenizer) into the Hugging Face cache; later runs read it from there."
            );
            VitGpt2::from_hub(MODEL)
        }
    }
    .map_err(|e| e.to_string())?;
    println!("Model ready in {:.1} s.\n", t.elapsed().as_secs_f64());
    Ok(model)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let photos = args
        .photos
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map(|b| (p, b))
                .map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let captioner = match load_captioner(args.model_dir.as_deref()) {
        Ok(c) => Some(c),
        Err(e) => {
            println!("Captioning is not available: {e}");
            if args.model_dir.is_none() {
                println!(
                    "(Could not download the model. Copy a model folder here and pass \
                     --model-dir DIR, or set HF_ENDPOINT to a mirror.)"
                );
            }
            if args.photos.is_empty() {
                println!("Going on with the captions shipped in examples/data/likes.jsonl.\n");
            }
            None
        }
    };
    if !args.photos.is_empty() && captioner.is_none() {
        return Err("no captioning model: the photos cannot be captioned".into());
    }

    let db = args.db.clone().unwrap_or_else(|| {
        if captioner.is_some() {
            "target/sociallens-demo-captioned.db".into()
        } else {
            "target/sociallens-demo.db".into()
        }
    });
    if let Some(dir) = Path::new(&db).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let with_model = captioner.is_some();
    let mut builder = Engine::builder().store(SqliteStore::open(&db)?);
    if let Some(c) = captioner {
        builder = builder.captioner(c);
    }
    let engine = builder.build()?;
    let now = engine.now();
    let mut users = Vec::new();

    if !args.photos.is_empty() {
        // Your photos, uploaded by "you"; the event id is the image hash, so a rerun is a no-op.
        for (path, bytes) in photos {
            let hash = sociallens::caption::image_sha256(&bytes);
            let post = Post::new(format!("photo-{}", &hash[..16])).with_image(bytes);
            let t = Instant::now();
            let out = engine
                .record_upload_with("you", post, EventOptions::id(format!("upload-{hash}")))
                .await?;
            println!("{}", path.display());
            println!(
                "  caption:   {}  ({:.2} s)",
                out.caption.unwrap_or_default(),
                t.elapsed().as_secs_f64()
            );
            println!("  interests: {}", out.interests.join(", "));
        }
        users.push("you".to_string());
    } else {
        let text = std::fs::read_to_string(data.join("likes.jsonl"))?;
        for (n, raw) in text.lines().enumerate() {
            let line: Line = serde_json::from_str(raw)?;
            // Event ids from the file: running the example twice changes nothing.
            let opts = EventOptions::id(format!("demo-{n}")).at(now.minus(days(line.days_ago)));
            let mut post = Post::new(&line.post);
            let mut source = "";
            match (&line.image, with_model) {
                (Some(image), true) => {
                    post = post.with_image(std::fs::read(data.join(image))?);
                    source = image;
                }
                _ => post.caption = line.caption,
            }
            let outcome = match line.event.as_str() {
                "like" => engine.record_like_with(&line.user, post, opts).await?,
                "upload" => engine.record_upload_with(&line.user, post, opts).await?,
                "unlike" => engine.unlike_with(&line.user, &line.post, opts).await?,
                other => return Err(format!("line {}: unknown event {other:?}", n + 1).into()),
            };
            println!(
                "{:>6} {:<5} {:<4} {:<15} {:<48} -> {}",
                line.event,
                line.user,
                line.post,
                outcome.status.as_str(),
                outcome.caption.unwrap_or_default(),
                outcome.interests.join(", ")
            );
            if !source.is_empty() {
                println!("{:>37}(captioned from data/{source})", "");
            }
            if !users.contains(&line.user) {
                users.push(line.user);
            }
        }
    }

    println!("\nInterests in {db} (weights decay with a 30-day half-life):");
    for user in &users {
        let top = engine.interests(user, 5).await?;
        let list: Vec<String> = top
            .iter()
            .map(|i| format!("{} {:.2}", i.term, i.weight))
            .collect();
        println!("  {user:<5} {}", list.join(", "));
    }

    // Ads for users with similar interests, each explained by what matched.
    engine.add_ads_from_path(data.join("ads.jsonl")).await?;
    println!("\nSimilar users and ads (from data/ads.jsonl):");
    for user in &users {
        let peers: Vec<String> = engine
            .similar_users(user, 2)
            .await?
            .iter()
            .map(|p| format!("{} {:.2} ({})", p.user, p.score, p.shared.join(", ")))
            .collect();
        let peers = if peers.is_empty() {
            "(nobody shares an interest)".to_string()
        } else {
            peers.join("; ")
        };
        println!("  {user:<5} similar: {peers}");
        for m in engine.ads_for(user, 2).await? {
            let why: Vec<String> = m
                .matched
                .iter()
                .map(|x| format!("{} ~ {} ({})", x.interest, x.ad_term, x.kind.as_str()))
                .collect();
            println!(
                "        ad {:<11} {:.2}  {:<30} because {}",
                m.ad.id,
                m.score,
                m.ad.title,
                why.join(", ")
            );
        }
    }
    Ok(())
}
