//! Latency and memory of `ads_for` and `similar_users` at scale, in process.
//!
//! ```text
//! cargo run --release -p sociallens-benches --bin ads_scale -- \
//!     --backend memory|sqlite --users 1000000 [--ads 100000] [--queries 2000] \
//!     [--recall 200] [--budget 20000] [--seed 7] [--db PATH]
//! ```
//!
//! Synthetic but shaped like real data: a vocabulary of a few thousand terms (caption nouns
//! and compounds of them), 200 topics with Zipf-distributed popularity and terms, posts of
//! 6-12 terms drawn mostly from one topic, and users who like 3-6 posts of their 2-3 topics
//! over 60 days (about 30 distinct, decayed interests each). Ads: 3-8 targeting terms from
//! one topic (and some from everywhere), a category per topic, 10% with frequency caps, some
//! paused, ended or with excluded categories. 5% of users click 1-3 ads, mostly of their
//! topics.
//!
//! Loading: with `memory`, every like goes through `Engine::record_like_with` (explicit
//! interests, explicit times). With `sqlite`, one event at a time would take hours at a
//! million users, so the `interests` table is bulk-loaded in one transaction with rusqlite,
//! rows computed from the same likes with the core's `InterestRecord::add_signal` (what
//! `record_like` stores);
//! the likes' event rows are not written. Ads (`add_ads`) and clicks (`record_click_with`) go
//! through the engine on both backends.
//!
//! Then: `refresh_index` timed (the index build), RSS before and after it, and `ads_for(u, 5)`
//! and `similar_users(u, 50)` for `--queries` random users each (after a warm-up): p50, p99,
//! max. `--recall N` also compares `similar_users(u, 50)` with a brute-force exact top 50 for
//! N users. Run one backend per process so that the memory figures are its own.

use sociallens::ads::{Ad, FrequencyCap};
use sociallens::{
    Decay, Engine, EventOptions, InterestRecord, ManualClock, MemoryStore, Post, SqliteStore,
    Store, Timestamp, UserId,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Caption nouns, the most common first (their order is their global Zipf rank).
const NOUNS: &[&str] = &[
    "man",
    "woman",
    "people",
    "table",
    "street",
    "person",
    "group",
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
    "vegetables",
    "fruit",
    "bowl",
    "cup",
    "glass",
    "wine",
    "bottle",
    "coffee",
    "fork",
    "knife",
    "spoon",
    "vase",
    "flowers",
    "plant",
    "book",
    "teddy",
    "suitcase",
    "luggage",
    "airplane",
    "airport",
    "jet",
    "runway",
    "truck",
    "motorcycle",
    "bike",
    "bicycle",
    "traffic",
    "light",
    "pole",
    "hydrant",
    "parking",
    "meter",
    "station",
    "tracks",
    "platform",
    "bridge",
    "river",
    "lake",
    "ocean",
    "mountain",
    "hill",
    "slope",
    "skis",
    "skier",
    "snowboard",
    "racket",
    "racquet",
    "court",
    "player",
    "bat",
    "glove",
    "uniform",
    "pitcher",
    "game",
    "stadium",
    "crowd",
    "team",
    "fans",
    "park",
    "tower",
    "church",
    "house",
    "fence",
    "wall",
    "door",
    "floor",
    "lamp",
    "rug",
    "blanket",
    "pillow",
    "towel",
    "shower",
    "tub",
    "soap",
    "toothbrush",
    "hair",
    "dryer",
    "scissors",
    "keyboard",
    "mouse",
    "monitor",
    "screen",
    "remote",
    "controller",
    "video",
    "camera",
    "picture",
    "photo",
    "painting",
    "shelf",
    "box",
    "basket",
    "bag",
    "backpack",
    "hat",
    "jacket",
    "shirt",
    "dress",
    "suit",
    "tie",
    "shoes",
    "sunglasses",
    "helmet",
    "cheese",
    "pepperoni",
    "tomato",
    "onion",
    "pepper",
    "mushroom",
    "olive",
    "sausage",
    "meat",
    "chicken",
    "fish",
    "rice",
    "pasta",
    "soup",
    "salad",
    "bread",
    "egg",
    "breakfast",
    "dinner",
    "lunch",
    "dessert",
    "ice",
    "cream",
    "chocolate",
    "candle",
    "birthday",
    "party",
    "wedding",
    "bride",
    "flower",
    "garden",
    "farm",
    "barn",
    "tractor",
    "cattle",
    "herd",
    "flock",
    "dock",
    "harbor",
    "ship",
    "sail",
    "kayak",
    "canoe",
    "paddle",
    "surfer",
    "wetsuit",
    "sand",
    "shore",
    "sunset",
    "cloud",
    "rain",
    "storm",
    "forest",
    "trail",
    "rock",
    "cliff",
    "valley",
    "desert",
    "market",
    "shop",
    "store",
    "restaurant",
    "cafe",
    "bar",
    "counter",
    "menu",
    "chef",
    "waiter",
    "tray",
    "pan",
    "pot",
    "grill",
    "barbecue",
    "burger",
    "fries",
    "hotdog",
    "ketchup",
    "mustard",
    "bun",
    "doughnut",
    "muffin",
    "cookie",
    "pie",
    "tea",
    "juice",
    "milk",
    "beer",
    "puppy",
    "kitten",
    "collar",
    "leash",
    "toy",
    "yarn",
    "scratching",
    "aquarium",
    "parrot",
    "duck",
    "goose",
    "swan",
    "pond",
    "fountain",
    "statue",
    "monument",
    "museum",
    "library",
    "school",
    "classroom",
    "office",
    "meeting",
    "conference",
    "stage",
    "concert",
    "guitar",
    "piano",
    "drum",
    "microphone",
    "singer",
    "dancer",
    "costume",
    "mask",
    "parade",
    "festival",
    "carnival",
    "ride",
    "wheel",
    "tent",
    "camp",
    "fire",
    "lantern",
    "map",
    "compass",
    "locomotive",
    "steam",
    "subway",
    "tram",
    "rail",
    "conductor",
    "ticket",
    "passenger",
    "cabin",
    "lift",
    "resort",
    "lodge",
    "chalet",
    "sled",
    "skate",
    "rink",
    "hockey",
    "puck",
    "goal",
    "net",
    "soccer",
    "football",
    "basketball",
    "hoop",
    "volleyball",
    "golf",
    "club",
    "course",
    "swimming",
    "pool",
    "diver",
    "yoga",
    "mat",
    "gym",
    "weights",
    "runner",
    "marathon",
];

const CATEGORIES: &[&str] = &[
    "sports",
    "outdoor",
    "travel",
    "food delivery",
    "restaurants",
    "kitchen",
    "home",
    "garden",
    "pets",
    "fashion",
    "beauty",
    "electronics",
    "phones",
    "gaming",
    "music",
    "books",
    "toys",
    "kids",
    "automotive",
    "insurance",
    "banking",
    "real estate",
    "events",
    "fitness",
    "health",
    "education",
    "office",
    "photography",
    "art",
    "crafts",
];

/// SplitMix64: small, fast and the same on every platform.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next();
        r
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
    fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Cumulative Zipf weights over `n` ranks.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|r| {
            acc += 1.0 / (r as f64).powf(s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

fn draw(cdf: &[f64], rng: &mut Rng) -> usize {
    let u = rng.unit();
    cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
}

struct Topic {
    /// Vocabulary ids, the topic's most typical first.
    terms: Vec<u32>,
    cdf: Vec<f64>,
    category: &'static str,
    /// Its posts: `first_post .. first_post + posts_per_topic`.
    first_post: usize,
}

/// The synthetic world, generated from the seed; users are generated on demand.
struct World {
    vocab: Vec<String>,
    global: Vec<f64>,
    topics: Vec<Topic>,
    topic_cdf: Vec<f64>,
    posts: Vec<Vec<u32>>,
    posts_per_topic: usize,
    seed: u64,
    now: Timestamp,
}

const TOPICS: usize = 200;
const DAY_MS: i64 = 24 * 3600 * 1000;

impl World {
    fn new(users: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed, 1);
        let mut vocab: Vec<String> = NOUNS.iter().map(|s| s.to_string()).collect();
        let mut ids: HashMap<String, u32> = vocab
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut topics = Vec::with_capacity(TOPICS);
        let posts_per_topic = (users / TOPICS / 4).max(20);
        for t in 0..TOPICS {
            // Eight nouns past the most generic ones, then compounds of them.
            let mut nouns: Vec<u32> = Vec::new();
            while nouns.len() < 8 {
                let n = 25 + rng.below(NOUNS.len() - 25);
                if !nouns.contains(&(n as u32)) {
                    nouns.push(n as u32);
                }
            }
            let mut terms = nouns.clone();
            while terms.len() < 30 {
                let a = NOUNS[nouns[rng.below(nouns.len())] as usize];
                let b = NOUNS[rng.below(NOUNS.len())];
                if a == b {
                    continue;
                }
                let c = if rng.unit() < 0.5 {
                    format!("{a} {b}")
                } else {
                    format!("{b} {a}")
                };
                let id = *ids.entry(c.clone()).or_insert_with(|| {
                    vocab.push(c);
                    (vocab.len() - 1) as u32
                });
                if !terms.contains(&id) {
                    terms.push(id);
                }
            }
            let cdf = zipf_cdf(terms.len(), 0.9);
            topics.push(Topic {
                terms,
                cdf,
                category: CATEGORIES[t % CATEGORIES.len()],
                first_post: t * posts_per_topic,
            });
        }
        // The global ranking: nouns in their order, then the compounds as they were made.
        let global = zipf_cdf(vocab.len(), 1.0);
        let mut w = World {
            vocab,
            global,
            topics,
            topic_cdf: zipf_cdf(TOPICS, 0.8),
            posts: Vec::new(),
            posts_per_topic,
            seed,
            now: Timestamp::from_millis(1_767_225_600_000), // 2026-01-01
        };
        let mut rng = Rng::new(seed, 2);
        for t in 0..TOPICS {
            for _ in 0..posts_per_topic {
                let n = rng.range(6, 12);
                let terms = w.terms(t, n, 0.25, &mut rng);
                w.posts.push(terms);
            }
        }
        w
    }

    /// `n` distinct terms: from topic `t`'s distribution, or with probability `noise` from
    /// the global one.
    fn terms(&self, t: usize, n: usize, noise: f64, rng: &mut Rng) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::with_capacity(n);
        let mut tries = 0;
        while out.len() < n && tries < n * 20 {
            tries += 1;
            let id = if rng.unit() < noise {
                draw(&self.global, rng) as u32
            } else {
                let topic = &self.topics[t];
                topic.terms[draw(&topic.cdf, rng)]
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    fn user_topics(&self, rng: &mut Rng) -> Vec<usize> {
        let n = rng.range(2, 3);
        let mut t: Vec<usize> = Vec::new();
        while t.len() < n {
            let x = draw(&self.topic_cdf, rng);
            if !t.contains(&x) {
                t.push(x);
            }
        }
        t
    }

    /// User `i`'s topics and likes (post, time), the same on every run with the seed.
    fn user(&self, i: usize) -> (Vec<usize>, Vec<(usize, Timestamp)>) {
        let mut rng = Rng::new(self.seed, 1_000 + i as u64);
        let topics = self.user_topics(&mut rng);
        let likes = (0..rng.range(3, 6))
            .map(|k| {
                // The first topic is the user's main one.
                let t = if k == 0 || rng.unit() < 0.5 {
                    topics[0]
                } else {
                    topics[1 + rng.below(topics.len() - 1)]
                };
                let post = self.topics[t].first_post + rng.below(self.posts_per_topic);
                let at = self.now.as_millis() - rng.below((60 * DAY_MS) as usize) as i64;
                (post, Timestamp::from_millis(at))
            })
            .collect();
        (topics, likes)
    }

    fn ads(&self, n: usize) -> (Vec<Ad>, Vec<Vec<usize>>) {
        let mut rng = Rng::new(self.seed, 3);
        let mut by_topic: Vec<Vec<usize>> = vec![Vec::new(); TOPICS];
        let ads = (0..n)
            .map(|i| {
                let t = draw(&self.topic_cdf, &mut rng);
                by_topic[t].push(i);
                let k = rng.range(3, 8);
                let terms: Vec<&str> = self
                    .terms(t, k, 0.15, &mut rng)
                    .into_iter()
                    .map(|id| self.vocab[id as usize].as_str())
                    .collect();
                let mut ad = Ad::new(
                    format!("ad{i:06}"),
                    format!("advertiser{}", i % 5_000),
                    format!("Offer {i}"),
                    self.topics[t].category,
                )
                .interests(terms)
                .landing_url(format!("https://shop.example/{i}"));
                let r = rng.unit();
                if r < 0.10 {
                    ad = ad.frequency_cap(FrequencyCap::per_day(3));
                } else if r < 0.13 {
                    ad = ad.status(sociallens::ads::AdStatus::Paused);
                } else if r < 0.18 {
                    ad = ad.between(
                        None,
                        Some(Timestamp::from_millis(self.now.as_millis() - DAY_MS)),
                    );
                } else if r < 0.23 {
                    ad = ad.excluded_categories([CATEGORIES[rng.below(CATEGORIES.len())]]);
                }
                ad
            })
            .collect();
        (ads, by_topic)
    }

    /// Clicks of user `i` (ad index, time): 5% of users click 1-3 ads, 85% of their topics.
    fn clicks(
        &self,
        i: usize,
        topics: &[usize],
        by_topic: &[Vec<usize>],
        ads: usize,
    ) -> Vec<(usize, Timestamp)> {
        let mut rng = Rng::new(self.seed, 5_000_000_000 + i as u64);
        if rng.unit() >= 0.05 {
            return Vec::new();
        }
        (0..rng.range(1, 3))
            .map(|_| {
                let t = topics[rng.below(topics.len())];
                let ad = if rng.unit() < 0.85 && !by_topic[t].is_empty() {
                    by_topic[t][rng.below(by_topic[t].len())]
                } else {
                    rng.below(ads)
                };
                let at = self.now.as_millis() - rng.below((7 * DAY_MS) as usize) as i64;
                (ad, Timestamp::from_millis(at))
            })
            .collect()
    }
}

fn user_id(i: usize) -> String {
    format!("u{i:07}")
}

/// (VmRSS, VmHWM) in MiB.
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

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(name: &str, mut d: Vec<Duration>) -> String {
    d.sort_unstable();
    let mean = d.iter().map(Duration::as_secs_f64).sum::<f64>() / d.len() as f64 * 1000.0;
    format!(
        "{name}: n={} mean {mean:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        d.len(),
        pct(&d, 0.50),
        pct(&d, 0.99),
        d.last().map_or(0.0, |x| x.as_secs_f64() * 1000.0)
    )
}

/// Loads the users' interests into a SQLite file in one transaction, as the store would
/// have them after the likes.
fn bulk_load_sqlite(
    path: &std::path::Path,
    world: &World,
    users: usize,
) -> rusqlite::Result<usize> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    let mut rows = 0;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO interests (user_id, term, count, last_seen) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut parts = tx.prepare(
            "INSERT INTO interest_parts (user_id, term, anchor, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let like = sociallens::SignalWeights::default().like;
        let decay = Decay::default();
        for i in 0..users {
            let (_, likes) = world.user(i);
            let mut recs: HashMap<u32, InterestRecord> = HashMap::new();
            // A post liked twice counts once, as record_like does (the second is a no-op).
            let mut seen = std::collections::HashSet::new();
            for (post, at) in likes {
                if !seen.insert(post) {
                    continue;
                }
                for &t in &world.posts[post] {
                    let term = &world.vocab[t as usize];
                    recs.entry(t)
                        .and_modify(|r| r.add_signal(like, at, 1, decay))
                        .or_insert_with(|| InterestRecord::single(term, like, at, decay));
                }
            }
            let id = user_id(i);
            for r in recs.values() {
                stmt.execute(rusqlite::params![
                    id,
                    r.term,
                    r.count,
                    r.last_seen.as_millis()
                ])?;
                for p in &r.parts {
                    parts.execute(rusqlite::params![id, r.term, p.anchor.as_millis(), p.value])?;
                }
                rows += 1;
            }
        }
    }
    tx.commit()?;
    Ok(rows)
}

/// Exact top-k by brute force over every user, against what `similar_users` returns.
async fn recall(
    engine: &Engine,
    store: &Arc<dyn Store>,
    world: &World,
    users: usize,
    sample: usize,
    k: usize,
) -> sociallens::Result<(f64, f64)> {
    // Every user's unit vector, decayed to now, as the index makes it.
    let decay = Decay::default();
    let mut ids: Vec<String> = Vec::with_capacity(users);
    let mut term_ids: HashMap<String, u32> = HashMap::new();
    let mut postings: Vec<Vec<(u32, f32)>> = Vec::new();
    let mut vecs: Vec<Vec<(u32, f32)>> = Vec::with_capacity(users);
    let mut after: Option<UserId> = None;
    loop {
        let page = store.scan_interests(after.as_ref(), 10_000).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (user, recs) in &page {
            let slot = ids.len() as u32;
            ids.push(user.as_str().to_string());
            let pairs: Vec<(u32, f64)> = recs
                .iter()
                .map(|r| (r.term.clone(), r.weight_at(world.now, decay)))
                .filter(|(_, w)| w.is_finite() && *w > 0.0)
                .map(|(t, w)| {
                    let n = term_ids.len() as u32;
                    (*term_ids.entry(t).or_insert(n), w)
                })
                .collect();
            let norm = pairs.iter().map(|p| p.1 * p.1).sum::<f64>().sqrt();
            let v: Vec<(u32, f32)> = pairs.iter().map(|p| (p.0, (p.1 / norm) as f32)).collect();
            for &(t, w) in &v {
                if postings.len() <= t as usize {
                    postings.resize_with(t as usize + 1, Vec::new);
                }
                postings[t as usize].push((slot, w));
            }
            vecs.push(v);
        }
        if page.len() < 10_000 {
            break;
        }
    }
    let slot_of: HashMap<&str, u32> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let mut rng = Rng::new(world.seed, 77);
    let mut acc = vec![0f32; ids.len()];
    let (mut hits, mut total, mut strict_hits) = (0usize, 0usize, 0usize);
    for _ in 0..sample {
        let me = rng.below(users);
        let Some(&slot) = slot_of.get(user_id(me).as_str()) else {
            continue;
        };
        for &(t, qw) in &vecs[slot as usize] {
            for &(u, w) in &postings[t as usize] {
                acc[u as usize] += qw * w;
            }
        }
        let mut exact: Vec<(u32, f32)> = acc
            .iter()
            .enumerate()
            .filter(|(u, s)| *u as u32 != slot && **s > 0.0)
            .map(|(u, s)| (u as u32, *s))
            .collect();
        acc.iter_mut().for_each(|a| *a = 0.0);
        exact.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        exact.truncate(k);
        if exact.is_empty() {
            continue;
        }
        let kth = exact.last().map_or(0.0, |e| e.1);
        let exact_set: std::collections::HashSet<u32> = exact.iter().map(|e| e.0).collect();
        let got = engine.similar_users(&user_id(me), k).await?;
        total += exact.len();
        for g in &got {
            let s = slot_of[g.user.as_str()];
            if exact_set.contains(&s) {
                strict_hits += 1;
                hits += 1;
            } else if g.score as f32 >= kth - 1e-6 {
                // Tied with the k-th exact score: an equally good answer.
                hits += 1;
            }
        }
    }
    Ok((
        hits as f64 / total as f64,
        strict_hits as f64 / total as f64,
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = arg("--backend").unwrap_or_else(|| "memory".into());
    let users: usize = arg("--users").map_or(Ok(100_000), |s| s.parse())?;
    let n_ads: usize = arg("--ads").map_or(Ok(100_000), |s| s.parse())?;
    let queries: usize = arg("--queries").map_or(Ok(2_000), |s| s.parse())?;
    let recall_n: usize = arg("--recall").map_or(Ok(0), |s| s.parse())?;
    let seed: u64 = arg("--seed").map_or(Ok(7), |s| s.parse())?;
    // Time only one of the two calls (for profiling).
    let only = arg("--only").unwrap_or_default();
    let mut ads_config = sociallens::ads::AdsConfig::default();
    if let Some(b) = arg("--budget") {
        ads_config.candidate_budget = b.parse()?;
    }
    let t0 = Instant::now();
    let world = World::new(users, seed);
    let clock = Arc::new(ManualClock::new(world.now));
    let (ads, by_topic) = world.ads(n_ads);
    println!(
        "ads_scale: backend {backend}, {users} users, {n_ads} ads, {} terms, {} posts, seed {seed}",
        world.vocab.len(),
        world.posts.len()
    );
    let tmp = tempfile::tempdir()?;
    let store: Arc<dyn Store> = match backend.as_str() {
        "memory" => Arc::new(MemoryStore::new()),
        "sqlite" => {
            let path = arg("--db").map_or_else(|| tmp.path().join("scale.db"), Into::into);
            let store = SqliteStore::open(&path)?;
            let t = Instant::now();
            let rows = bulk_load_sqlite(&path, &world, users)?;
            println!(
                "load: bulk insert of {rows} interest rows ({:.1} per user) into {} in one rusqlite transaction: {:.1} s (not through the engine)",
                rows as f64 / users as f64,
                path.display(),
                t.elapsed().as_secs_f64()
            );
            Arc::new(store)
        }
        other => return Err(format!("unknown backend {other}: memory or sqlite").into()),
    };
    let engine = Engine::builder()
        .shared_store(store.clone())
        .clock(clock.clone())
        .ads_config(ads_config)
        .build()?;
    let t = Instant::now();
    engine.add_ads(ads.clone()).await?;
    println!(
        "load: add_ads of {n_ads} ads: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if backend == "memory" {
        let t = Instant::now();
        let mut likes = 0usize;
        for i in 0..users {
            let (_, user_likes) = world.user(i);
            let id = user_id(i);
            for (post, at) in user_likes {
                let terms = world.posts[post]
                    .iter()
                    .map(|&t| world.vocab[t as usize].as_str());
                engine
                    .record_like_with(
                        &id,
                        Post::new(format!("p{post}")).with_interests(terms),
                        EventOptions::default().at(at),
                    )
                    .await?;
                likes += 1;
            }
        }
        println!(
            "load: {likes} likes through Engine::record_like_with (explicit interests): {:.1} s ({:.1} us/like)",
            t.elapsed().as_secs_f64(),
            t.elapsed().as_secs_f64() * 1e6 / likes as f64
        );
    }
    let (rss_before, _) = rss();
    let t = Instant::now();
    let stats = engine.refresh_index().await?;
    let build = t.elapsed();
    let (rss_after, _) = rss();
    println!(
        "index: refresh_index {:.2} s: {} users, {} ads, {} terms; RSS {:.0} MiB -> {:.0} MiB (+{:.0} MiB)",
        build.as_secs_f64(),
        stats.users,
        stats.ads,
        stats.terms,
        rss_before,
        rss_after,
        rss_after - rss_before
    );
    let t = Instant::now();
    let mut clicks = 0usize;
    for i in 0..users {
        let (topics, _) = world.user(i);
        for (ad, at) in world.clicks(i, &topics, &by_topic, n_ads) {
            engine
                .record_click_with(&user_id(i), &ads[ad].id, EventOptions::default().at(at))
                .await?;
            clicks += 1;
        }
    }
    println!(
        "load: {clicks} clicks through Engine::record_click_with (index kept current): {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut rng = Rng::new(seed, 99);
    let sample: Vec<String> = (0..queries + 200)
        .map(|_| user_id(rng.below(users)))
        .collect();
    let (mut ads_t, mut sim_t) = (Vec::new(), Vec::new());
    let (mut ads_n, mut sim_n) = (0usize, 0usize);
    let (run_ads, run_similar) = (only != "similar", only != "ads");
    for (q, u) in sample.iter().enumerate() {
        // The first 200 calls warm up; a call --only left out is neither run nor reported.
        if run_ads {
            let t = Instant::now();
            let a = engine.ads_for(u, 5).await?;
            if q >= 200 {
                ads_t.push(t.elapsed());
                ads_n += a.len();
            }
        }
        if run_similar {
            let t = Instant::now();
            let s = engine.similar_users(u, 50).await?;
            if q >= 200 {
                sim_t.push(t.elapsed());
                sim_n += s.len();
            }
        }
    }
    if run_ads {
        println!(
            "{} (avg {:.2} ads returned)",
            summary("ads_for(u, 5)", ads_t),
            ads_n as f64 / queries as f64
        );
    }
    if run_similar {
        println!(
            "{} (avg {:.1} users returned)",
            summary("similar_users(u, 50)", sim_t),
            sim_n as f64 / queries as f64
        );
    }
    if recall_n > 0 {
        let t = Instant::now();
        let (r, strict) = recall(&engine, &store, &world, users, recall_n, 50).await?;
        println!(
            "recall of similar_users(u, 50) against brute-force exact top 50 over {recall_n} users: {r:.4} ({strict:.4} counting only the same ids, not ties) [{:.1} s]",
            t.elapsed().as_secs_f64()
        );
    }
    let (rss_end, hwm) = rss();
    println!(
        "memory: RSS at end {rss_end:.0} MiB, peak (VmHWM) {hwm:.0} MiB; total {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine load (1/5/15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}
