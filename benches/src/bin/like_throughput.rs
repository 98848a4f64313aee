//! Likes per second, each with its interest updates (3 terms), from 1 and 16 concurrent
//! writers, on the memory store, SQLite and (built with `--features dynamodb`, and with
//! SOCIALLENS_DYNAMODB_ENDPOINT set) a DynamoDB-compatible server such as moto. Prints a
//! table; there are no targets.
//!
//! `like_throughput [LIKES_MEMORY] [LIKES_SQLITE] [LIKES_DYNAMODB]` (defaults 20000, 4000, 1000)

use sociallens::{Engine, MemoryStore, Post, SqliteStore, Store};
use std::sync::Arc;
use std::time::Instant;

/// Runs `likes` likes split over `writers` tasks (each its own user, distinct posts, terms
/// drawn from a pool of 50) and returns the seconds taken.
async fn run(
    store: Arc<dyn Store>,
    writers: usize,
    likes: usize,
) -> Result<f64, sociallens::Error> {
    let engine = Engine::builder().shared_store(store).build()?;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut i = w;
                while i < likes {
                    let terms = [0, 17, 31].map(|k| format!("term-{}", (i + k) % 50));
                    let post = Post::new(format!("post-{i}")).with_interests(terms);
                    engine.record_like(&format!("writer-{w}"), post).await?;
                    i += writers;
                }
                Ok::<_, sociallens::Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.map_err(sociallens::Error::from)??;
    }
    Ok(start.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, d: usize| -> usize {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let (n_mem, n_sqlite) = (arg(1, 20_000), arg(2, 4_000));
    #[cfg(feature = "dynamodb")]
    let n_dynamo = arg(3, 1_000);
    let dir = tempfile::tempdir()?;
    println!("| backend | writers | likes | seconds | likes/s |");
    println!("|---|---:|---:|---:|---:|");
    for writers in [1, 16] {
        #[cfg_attr(not(feature = "dynamodb"), allow(unused_mut))]
        let mut rows: Vec<(&str, Arc<dyn Store>, usize)> = vec![
            ("memory", Arc::new(MemoryStore::new()), n_mem),
            (
                "sqlite",
                Arc::new(SqliteStore::open(
                    dir.path().join(format!("w{writers}.db")),
                )?),
                n_sqlite,
            ),
        ];
        #[cfg(feature = "dynamodb")]
        if let Ok(endpoint) = std::env::var("SOCIALLENS_DYNAMODB_ENDPOINT") {
            let table = format!("like-throughput-{}-{writers}", std::process::id());
            let store = sociallens::DynamoStore::builder()
                .table(table)
                .region("us-east-1")
                .endpoint(endpoint)
                .create_table_if_missing(true)
                .retry_deadline(std::time::Duration::from_secs(120))
                .timeouts(
                    std::time::Duration::from_secs(60),
                    std::time::Duration::from_secs(10),
                )
                .build()?;
            // The table is made before the clock starts.
            store.create_table().await?;
            rows.push(("dynamodb (moto)", Arc::new(store), n_dynamo));
        }
        for (name, store, likes) in rows {
            let secs = run(store, writers, likes).await?;
            println!(
                "| {name} | {writers} | {likes} | {secs:.2} | {:.0} |",
                likes as f64 / secs
            );
        }
    }
    Ok(())
}
