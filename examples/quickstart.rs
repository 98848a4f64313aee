//! The main job, for now: records the likes, uploads and unlikes of `data/likes.jsonl` into an
//! embedded SQLite file and prints each user's interests.
//!
//! ```sh
//! cargo run -p sociallens-examples --example quickstart -- [path/to/sociallens.db]
//! ```
//!
//! Each line is one event; `days_ago` backdates it so the decay shows. The engine extracts
//! each caption's interests (lemmas, compounds, no filler); a post liked again needs only its
//! id. Pass captions only: image captioning plugs in through the `Captioner` trait.

use serde::Deserialize;
use sociallens::{days, Engine, EventOptions, Post, SqliteStore};

#[derive(Deserialize)]
struct Line {
    user: String,
    event: String,
    post: String,
    days_ago: f64,
    caption: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/sociallens-demo.db".to_string());
    if let Some(dir) = std::path::Path::new(&db).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let engine = Engine::builder().store(SqliteStore::open(&db)?).build()?;
    let now = engine.now();

    let data = include_str!("data/likes.jsonl");
    let mut users = Vec::new();
    for (n, raw) in data.lines().enumerate() {
        let line: Line = serde_json::from_str(raw)?;
        // Event ids from the file: running the example twice changes nothing.
        let opts = EventOptions::id(format!("demo-{n}")).at(now.minus(days(line.days_ago)));
        let mut post = Post::new(&line.post);
        post.caption = line.caption;
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
        if !users.contains(&line.user) {
            users.push(line.user);
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
    Ok(())
}
