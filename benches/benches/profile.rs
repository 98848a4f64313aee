//! Recording likes and reading profiles, on the memory and SQLite stores.
//!
//! `cargo bench -p sociallens-benches --bench profile`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sociallens::{Engine, MemoryStore, Post, SqliteStore};
use std::sync::atomic::{AtomicU64, Ordering};

fn engines(dir: &tempfile::TempDir) -> Vec<(&'static str, Engine)> {
    vec![
        (
            "memory",
            Engine::builder().store(MemoryStore::new()).build().unwrap(),
        ),
        (
            "sqlite",
            Engine::builder()
                .store(SqliteStore::open(dir.path().join("bench.db")).unwrap())
                .build()
                .unwrap(),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engines = engines(&dir);
    let counter = AtomicU64::new(0);

    let mut g = c.benchmark_group("record_like");
    g.throughput(Throughput::Elements(1));
    for (name, engine) in &engines {
        g.bench_with_input(BenchmarkId::from_parameter(name), engine, |b, engine| {
            b.to_async(&rt).iter(|| async {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let post = Post::new(format!("p{n}")).with_interests([
                    "dog".to_string(),
                    format!("t{}", n % 50),
                    "park".into(),
                ]);
                engine
                    .record_like(&format!("u{}", n % 1000), post)
                    .await
                    .unwrap()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("interests_top10_of_200");
    for (name, engine) in &engines {
        rt.block_on(async {
            for i in 0..200 {
                let post = Post::new(format!("heavy-{i}")).with_interests([format!("term-{i}")]);
                engine.record_like("heavy", post).await.unwrap();
            }
        });
        g.bench_with_input(BenchmarkId::from_parameter(name), engine, |b, engine| {
            b.to_async(&rt)
                .iter(|| async { engine.interests("heavy", 10).await.unwrap() })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
