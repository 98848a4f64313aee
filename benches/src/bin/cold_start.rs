//! Time to the first `ads_for` in a new process: the in-memory index (built from the store on
//! first use) against stateless serving (ads inventory in memory, the rest read per request).
//!
//! ```text
//! # 1. A store of N users (SQLite: bulk-loaded interests; ads and clicks through the engine),
//! #    then the neighbour table written by Engine::build_neighbours(k), timed:
//! cargo run --release -p sociallens-benches --bin cold_start -- prepare \
//!     --db /tmp/cold.db --users 100000 [--ads 10000] [--k 50] [--seed 7]
//! # 2. Rounds of fresh processes, index and stateless interleaved, each timing its own
//! #    start, its first ads_for and the next ones:
//! cargo run --release -p sociallens-benches --bin cold_start -- run \
//!     --store sqlite:///tmp/cold.db [--rounds 5] [--queries 200]
//! ```
//!
//! `prepare --store URL` (instead of `--db`) writes any backend through the engine (one
//! `record_like_with` per like, 32 at a time): slow, but it reaches DynamoDB. `run` takes
//! any store URL; for `dynamodb://` build with `--features sociallens/dynamodb`. The world: a vocabulary of caption nouns and compounds of them, 200
//! topics with Zipf popularity, users who like 3-6 posts of 6-12 terms from their 2-3
//! topics over 60 days (about 30 interests each), ads of 3-8 terms of one topic, 5% of users
//! clicking 1-3 ads. The child process (`first`) prints one line of figures; `run` spawns
//! it and also times the whole child from spawn to exit.

use sociallens::ads::{Ad, FrequencyCap};
use sociallens::{
    Decay, Engine, EventOptions, InterestRecord, ManualClock, Post, Serving, SqliteStore, Timestamp,
};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOUNS: &[&str] = &[
    "man",
    "woman",
    "table",
    "street",
    "water",
    "field",
    "room",
    "building",
    "plate",
    "dog",
    "cat",
    "train",
    "car",
    "food",
    "bus",
    "grass",
    "snow",
    "beach",
    "kitchen",
    "bathroom",
    "pizza",
    "bed",
    "city",
    "tree",
    "sign",
    "road",
    "window",
    "boy",
    "girl",
    "child",
    "ball",
    "sky",
    "tennis",
    "baseball",
    "horse",
    "bird",
    "boat",
    "clock",
    "bench",
    "giraffe",
    "elephant",
    "zebra",
    "sheep",
    "cow",
    "bear",
    "wave",
    "surfboard",
    "skateboard",
    "frisbee",
    "kite",
    "umbrella",
    "phone",
    "laptop",
    "computer",
    "desk",
    "chair",
    "couch",
    "television",
    "toilet",
    "sink",
    "mirror",
    "refrigerator",
    "oven",
    "stove",
    "cake",
    "sandwich",
    "donut",
    "banana",
    "orange",
    "apple",
    "broccoli",
    "carrot",
    "bowl",
    "cup",
    "glass",
    "bottle",
    "wine",
    "coffee",
    "knife",
    "fork",
    "spoon",
    "vase",
    "flower",
    "book",
    "shelf",
    "lamp",
    "rug",
    "pillow",
    "blanket",
    "suitcase",
    "bag",
    "backpack",
    "hat",
    "shirt",
    "jacket",
    "helmet",
    "glove",
    "bat",
    "racket",
    "net",
    "court",
    "park",
    "mountain",
    "hill",
    "lake",
    "river",
    "bridge",
    "tower",
    "church",
    "market",
    "shop",
    "truck",
    "bike",
    "motorcycle",
    "airplane",
    "airport",
    "runway",
    "station",
    "platform",
    "track",
    "fence",
    "gate",
    "wall",
    "door",
    "roof",
    "garden",
    "yard",
    "pool",
    "boardwalk",
    "pier",
    "harbor",
    "ship",
    "island",
];

const CATEGORIES: &[&str] = &[
    "surf", "tennis", "pets", "food", "home", "travel", "outdoor", "fashion", "tech", "garden",
    "kitchen", "sports", "books", "cars", "music", "art", "baby", "beauty", "toys", "health",
];

const TOPICS: usize = 200;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// 2026-01-01: the world's "now".
const NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Rng(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn zipf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|r| {
            acc += 1.0 / (r as f64).powf(s);
            acc
        })
        .collect();
    cdf.iter_mut().for_each(|c| *c /= acc);
    cdf
}

fn draw(cdf: &[f64], rng: &mut Rng) -> usize {
    let u = rng.unit();
    cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
}

/// Topics (their terms, most typical first), posts (terms) per topic, all from the seed.
struct World {
    topics: Vec<Vec<String>>,
    term_cdf: Vec<f64>,
    topic_cdf: Vec<f64>,
    posts: Vec<Vec<Vec<String>>>,
    seed: u64,
}

impl World {
    fn new(users: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed, 1);
        let topics: Vec<Vec<String>> = (0..TOPICS)
            .map(|_| {
                let mut terms: Vec<String> = Vec::new();
                while terms.len() < 8 {
                    let n = NOUNS[20 + rng.below(NOUNS.len() - 20)].to_string();
                    if !terms.contains(&n) {
                        terms.push(n);
                    }
                }
                while terms.len() < 30 {
                    let c = format!("{} {}", terms[rng.below(8)], NOUNS[rng.below(NOUNS.len())]);
                    if !terms.contains(&c) {
                        terms.push(c);
                    }
                }
                terms
            })
            .collect();
        let term_cdf = zipf(30, 0.9);
        let per_topic = (users / TOPICS / 4).max(20);
        let mut rng = Rng::new(seed, 2);
        let posts = topics
            .iter()
            .map(|terms| {
                (0..per_topic)
                    .map(|_| {
                        let n = rng.range(6, 12);
                        let mut p: Vec<String> = Vec::new();
                        for _ in 0..n * 4 {
                            let t = &terms[draw(&term_cdf, &mut rng)];
                            if !p.contains(t) {
                                p.push(t.clone());
                            }
                            if p.len() == n {
                                break;
                            }
                        }
                        p
                    })
                    .collect()
            })
            .collect();
        World {
            topics,
            term_cdf,
            topic_cdf: zipf(TOPICS, 0.8),
            posts,
            seed,
        }
    }

    /// User `i`'s topics and likes: (topic, post, time).
    fn user(&self, i: usize) -> (Vec<usize>, Vec<(usize, usize, Timestamp)>) {
        let mut rng = Rng::new(self.seed, 1_000 + i as u64);
        let mut topics: Vec<usize> = Vec::new();
        let n = rng.range(2, 3);
        while topics.len() < n {
            let t = draw(&self.topic_cdf, &mut rng);
            if !topics.contains(&t) {
                topics.push(t);
            }
        }
        let likes = (0..rng.range(3, 6))
            .map(|k| {
                let t = if k == 0 || rng.unit() < 0.5 {
                    topics[0]
                } else {
                    topics[1 + rng.below(topics.len() - 1)]
                };
                let post = rng.below(self.posts[t].len());
                let at = NOW.as_millis() - rng.below((60 * DAY_MS) as usize) as i64;
                (t, post, Timestamp::from_millis(at))
            })
            .collect();
        (topics, likes)
    }

    fn ads(&self, n: usize) -> (Vec<Ad>, Vec<Vec<usize>>) {
        let mut rng = Rng::new(self.seed, 3);
        let mut by_topic = vec![Vec::new(); TOPICS];
        let ads = (0..n)
            .map(|i| {
                let t = draw(&self.topic_cdf, &mut rng);
                by_topic[t].push(i);
                let terms: Vec<String> = (0..rng.range(3, 8))
                    .map(|_| self.topics[t][draw(&self.term_cdf, &mut rng)].clone())
                    .collect();
                let mut ad = Ad::new(
                    format!("ad{i:06}"),
                    format!("advertiser{}", i % 500),
                    format!("Offer {i}"),
                    CATEGORIES[t % CATEGORIES.len()],
                )
                .interests(terms);
                if rng.unit() < 0.1 {
                    ad = ad.frequency_cap(FrequencyCap::per_day(3));
                }
                ad
            })
            .collect();
        (ads, by_topic)
    }
}

fn user_id(i: usize) -> String {
    format!("u{i:07}")
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: usize) -> Result<usize, Box<dyn std::error::Error>> {
    Ok(arg(name).map_or(Ok(default), |s| s.parse())?)
}

/// VmRSS and VmHWM in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// The interest rows user `i` has after their likes (a post liked twice counts once).
fn user_rows(world: &World, i: usize) -> Vec<InterestRecord> {
    let like = sociallens::SignalWeights::default().like;
    let decay = Decay::default();
    let (_, likes) = world.user(i);
    let mut recs: HashMap<&str, InterestRecord> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for (t, post, at) in likes {
        if !seen.insert((t, post)) {
            continue;
        }
        for term in &world.posts[t][post] {
            recs.entry(term.as_str())
                .and_modify(|r| r.add_signal(like, at, 1, decay))
                .or_insert_with(|| InterestRecord::single(term, like, at, decay));
        }
    }
    recs.into_values().collect()
}

/// Bulk-loads every user's interest rows into a SQLite file in one transaction.
fn bulk_load(path: &str, world: &World, users: usize) -> rusqlite::Result<usize> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    let mut rows = 0;
    {
        let mut row = tx.prepare(
            "INSERT INTO interests (user_id, term, count, last_seen) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut part = tx.prepare(
            "INSERT INTO interest_parts (user_id, term, anchor, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for i in 0..users {
            let id = user_id(i);
            for r in user_rows(world, i) {
                row.execute(rusqlite::params![
                    id,
                    r.term,
                    r.count,
                    r.last_seen.as_millis()
                ])?;
                for p in &r.parts {
                    part.execute(rusqlite::params![id, r.term, p.anchor.as_millis(), p.value])?;
                }
                rows += 1;
            }
        }
    }
    tx.commit()?;
    Ok(rows)
}

async fn prepare() -> Result<(), Box<dyn std::error::Error>> {
    let users = num("--users", 100_000)?;
    let n_ads = num("--ads", 10_000)?;
    let k = num("--k", 50)?;
    let seed = num("--seed", 7)? as u64;
    let world = World::new(users, seed);
    let clock = Arc::new(ManualClock::new(NOW));
    let url = match (arg("--db"), arg("--store")) {
        (Some(db), None) => format!("sqlite://{db}"),
        (None, Some(url)) => url,
        _ => return Err("give --db PATH (SQLite, bulk-loaded) or --store URL".into()),
    };
    let store = sociallens::open_store(&url)?;
    let engine = Engine::builder()
        .shared_store(store.clone())
        .clock(clock.clone())
        .build()?;
    let t = Instant::now();
    if let Some(db) = arg("--db") {
        drop(SqliteStore::open(&db)?); // creates the schema
        let rows = bulk_load(&db, &world, users)?;
        println!(
            "prepare: {users} users, {rows} interest rows bulk-loaded into {db}: {:.1} s",
            t.elapsed().as_secs_f64()
        );
    } else {
        let mut likes = 0usize;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..users {
            let (_, user_likes) = world.user(i);
            for (topic, post, at) in user_likes {
                let engine = engine.clone();
                let terms = world.posts[topic][post].clone();
                tasks.spawn(async move {
                    engine
                        .record_like_with(
                            &user_id(i),
                            Post::new(format!("p{topic}-{post}")).with_interests(terms),
                            EventOptions::default().at(at),
                        )
                        .await
                });
                likes += 1;
                while tasks.len() >= 32 {
                    tasks.join_next().await.expect("a task")??;
                }
            }
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        println!(
            "prepare: {users} users, {likes} likes through record_like_with into {url}: {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let (ads, by_topic) = world.ads(n_ads);
    engine.add_ads(ads.clone()).await?;
    let t = Instant::now();
    let mut clicks = 0;
    for i in 0..users {
        let mut rng = Rng::new(seed, 5_000_000 + i as u64);
        if rng.unit() >= 0.05 {
            continue;
        }
        let (topics, _) = world.user(i);
        for _ in 0..rng.range(1, 3) {
            let t = topics[rng.below(topics.len())];
            let ad = match by_topic[t].len() {
                0 => rng.below(n_ads),
                n => by_topic[t][rng.below(n)],
            };
            let at = Timestamp::from_millis(NOW.as_millis() - rng.below(DAY_MS as usize) as i64);
            engine
                .record_click_with(&user_id(i), &ads[ad].id, EventOptions::default().at(at))
                .await?;
            clicks += 1;
        }
    }
    println!(
        "prepare: {n_ads} ads, {clicks} clicks through the engine: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let stats = engine.build_neighbours(k).await?;
    let (_, hwm) = rss();
    println!(
        "prepare: build_neighbours({k}): {} lists, {} entries in {:.1} s (peak RSS {hwm:.0} MiB)",
        stats.users,
        stats.neighbours,
        t.elapsed().as_secs_f64()
    );
    if let Some(db) = arg("--db") {
        // Fold the write-ahead log into the file: otherwise every new process pays for
        // indexing a WAL of hundreds of MB when it opens the store.
        drop((engine, store));
        let conn = rusqlite::Connection::open(&db)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// One fresh process: open the store, build the engine, time the first `ads_for` and the
/// next `--queries` ones (other users), print one line.
async fn first() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let url = arg("--store").ok_or("--store URL")?;
    let users = num("--users", 100_000)?;
    let queries = num("--queries", 200)?;
    let serving = match arg("--mode").as_deref() {
        Some("index") => Serving::InMemoryIndex,
        Some("stateless") => Serving::stateless(),
        _ => return Err("--mode index|stateless".into()),
    };
    let engine = Engine::builder()
        .store_url(&url)
        .clock(Arc::new(ManualClock::new(
            NOW.plus(Duration::from_secs(3600)),
        )))
        .serving(serving)
        .build()?;
    let opened = t0.elapsed();
    let mut rng = Rng::new(num("--seed", 7)? as u64 + 17, 99);
    let t = Instant::now();
    let ads = engine.ads_for(&user_id(rng.below(users)), 5).await?;
    let first = t.elapsed();
    let mut rest = Vec::with_capacity(queries);
    let mut returned = ads.len();
    for _ in 0..queries {
        let t = Instant::now();
        returned += engine.ads_for(&user_id(rng.below(users)), 5).await?.len();
        rest.push(t.elapsed());
    }
    rest.sort();
    let p = |q: f64| {
        rest.get(((rest.len() as f64 * q) as usize).min(rest.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let (rss_now, hwm) = rss();
    println!(
        "first: mode {:<9} open {:>7.1} ms | first ads_for {:>9.1} ms | then p50 {:.2} ms p99 {:.2} ms ({} calls, {:.1} ads each) | RSS {rss_now:.0} MiB, peak {hwm:.0} MiB",
        if serving.is_stateless() { "stateless" } else { "index" },
        opened.as_secs_f64() * 1000.0,
        first.as_secs_f64() * 1000.0,
        p(0.5),
        p(0.99),
        rest.len(),
        returned as f64 / (rest.len() + 1) as f64,
    );
    Ok(())
}

/// Rounds of child processes, the two modes interleaved.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = arg("--store").ok_or("--store URL")?;
    let rounds = num("--rounds", 5)?;
    let exe = std::env::current_exe()?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("run: {url}, {rounds} rounds; load average {}", load.trim());
    let mut walls: HashMap<&str, Vec<f64>> = HashMap::new();
    for round in 0..rounds {
        for mode in ["index", "stateless"] {
            let mut cmd = Command::new(&exe);
            cmd.args(["first", "--store", &url, "--mode", mode]);
            for flag in ["--users", "--queries", "--seed"] {
                if let Some(v) = arg(flag) {
                    cmd.args([flag, &v]);
                }
            }
            let t = Instant::now();
            let out = cmd.output()?;
            let wall = t.elapsed().as_secs_f64() * 1000.0;
            if !out.status.success() {
                return Err(
                    format!("child failed: {}", String::from_utf8_lossy(&out.stderr)).into(),
                );
            }
            print!(
                "round {round}: process {wall:>8.1} ms | {}",
                String::from_utf8_lossy(&out.stdout)
            );
            walls.entry(mode).or_default().push(wall);
        }
    }
    for mode in ["index", "stateless"] {
        let mut w = walls.remove(mode).unwrap_or_default();
        w.sort_by(f64::total_cmp);
        println!(
            "summary: {mode:<9} whole process (spawn to exit, incl. {} more ads_for) median {:.1} ms, min {:.1} ms",
            arg("--queries").unwrap_or_else(|| "200".into()),
            w[w.len() / 2],
            w[0]
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("prepare") => prepare().await,
        Some("first") => first().await,
        Some("run") => run(),
        _ => Err("usage: cold_start prepare|run|first ... (see the file's header)".into()),
    }
}
