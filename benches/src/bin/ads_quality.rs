//! Quality of similar users and ads on synthetic users with known taste groups.
//!
//! `cargo run --release -p sociallens-benches --bin ads_quality [-- --users-per-group N]
//! [--seed S]`
//!
//! Eight taste groups (surfing, cooking, tennis, cats, trains, skiing, baseball, pizza), each
//! with a pool of image captions of the kind the captioner writes. Every user likes 15-30
//! posts (5-10 in the hardest setting), most from their group's pool and the rest (the noise
//! share: 15%, 30%, 45%) from other groups'; the engine's default extractor turns the
//! captions into interests. Each group has four ads in its two categories, and eight
//! distractor ads target words every group's captions share ("man", "table", "street"). Most
//! users click one to three ads, mostly of their own group, so the lookalike signal has data.
//! Printed: the share of each user's top-5 similar users in the same group, and the share of
//! their top-3 ads in the group's categories, with and without the lookalike weight (and with
//! MiniLM semantic matching when `SOCIALLENS_MINILM_DIR` names the model directory).
//! Everything is seeded: the same seed prints the same table.

use sociallens::ads::{Ad, AdsConfig};
use sociallens::recommend::MiniLmEmbedder;
use sociallens::{Engine, EventOptions, ManualClock, MemoryStore, Post, Store, Timestamp};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// An ad's title and targeting terms.
type AdSpec = (&'static str, &'static [&'static str]);

/// One taste group: its captions, its two ad categories and its ads' targeting.
struct Group {
    name: &'static str,
    captions: &'static [&'static str],
    /// (category, its two ads)
    ads: [(&'static str, [AdSpec; 2]); 2],
}

const GROUPS: &[Group] = &[
    Group {
        name: "surfing",
        captions: &[
            "a man riding a wave on top of a surfboard",
            "a woman sitting on a beach with a surfboard",
            "a man in a wet suit riding a wave",
            "a surfer riding a wave on a surfboard",
            "a man carrying a surfboard on the beach",
            "a surfer paddling out to the waves",
            "a group of surfers sitting on their boards in the ocean",
            "a woman carrying a surfboard into the ocean",
            "a surfboard standing in the sand on a beach",
            "a young man surfing a large wave",
            "a person riding a surf board on a wave",
            "two surfers walking along the beach at sunset",
            "a row of surfboards leaning against a wall",
            "a surfer wiping out on a big wave",
            "a man holding a surfboard next to the ocean",
            "a surfer catching a wave near the shore",
        ],
        ads: [
            (
                "surf",
                [
                    ("Boards for every wave", &["surfboards", "wave", "surfer"]),
                    ("Wetsuits that last", &["wetsuit", "surfing", "ocean"]),
                ],
            ),
            (
                "beachwear",
                [
                    ("Beach towels", &["beach towel", "beach", "sand"]),
                    ("Board shorts", &["board shorts", "surf", "beach"]),
                ],
            ),
        ],
    },
    Group {
        name: "cooking",
        captions: &[
            "a kitchen with a stove and a refrigerator",
            "a kitchen filled with lots of pots and pans",
            "a person cutting up vegetables on a cutting board",
            "a woman cooking food on a stove",
            "a pot of soup cooking on a stove",
            "a kitchen with wooden cabinets and a white refrigerator",
            "a man chopping onions on a cutting board",
            "a frying pan with eggs on a stove",
            "a chef preparing food in a kitchen",
            "a bowl of pasta with a wooden spoon",
            "a knife and a cutting board with tomatoes",
            "a woman stirring a pot in a kitchen",
            "an oven with a tray of cookies",
            "a kitchen counter with a mixer and a bowl of dough",
            "a man cooking vegetables in a wok",
            "a set of knives on a magnetic strip in a kitchen",
        ],
        ads: [
            (
                "cookware",
                [
                    ("Pans that never stick", &["frying pan", "stove", "pots"]),
                    ("Chef knives", &["kitchen knife", "cutting board", "chef"]),
                ],
            ),
            (
                "kitchen appliances",
                [
                    ("Stand mixers", &["mixer", "dough", "oven"]),
                    (
                        "Quiet refrigerators",
                        &["refrigerator", "kitchen", "cabinets"],
                    ),
                ],
            ),
        ],
    },
    Group {
        name: "tennis",
        captions: &[
            "a man holding a tennis racquet on a tennis court",
            "a woman holding a tennis racket on a tennis court",
            "a tennis player hitting a ball with a racquet",
            "a woman swinging a tennis racket at a ball",
            "a man serving a tennis ball on a clay court",
            "a tennis player jumping to hit the ball",
            "two people playing tennis on a court",
            "a young girl holding a tennis racket",
            "a tennis ball on a court next to a net",
            "a man running across a tennis court",
            "a tennis player waiting for a serve",
            "a woman playing tennis in a white dress",
            "a tennis court with a net and a fence",
            "a boy hitting a tennis ball with a backhand",
            "a bag of tennis balls next to a racket",
            "a crowd watching a tennis match",
        ],
        ads: [
            (
                "tennis",
                [
                    (
                        "Rackets for every level",
                        &["tennis rackets", "tennis", "racquet"],
                    ),
                    ("Tennis balls in bulk", &["tennis balls", "court", "serve"]),
                ],
            ),
            (
                "tennis lessons",
                [
                    (
                        "Learn to serve",
                        &["tennis lesson", "serve", "tennis court"],
                    ),
                    ("Court booking", &["tennis court", "net", "match"]),
                ],
            ),
        ],
    },
    Group {
        name: "cats",
        captions: &[
            "a close up of a cat laying on a bed",
            "a cat laying on top of a laptop computer",
            "a cat sitting in front of a television",
            "a black cat sitting on a window sill",
            "a cat sleeping on a couch",
            "a kitten playing with a ball of yarn",
            "a cat sitting in a cardboard box",
            "an orange cat laying in the sun",
            "a cat drinking water from a bowl",
            "two cats sleeping next to each other",
            "a cat looking out of a window",
            "a white cat sitting on a chair",
            "a cat curled up on a blanket",
            "a kitten sitting in a basket",
            "a gray cat laying on a rug",
            "a cat eating food from a bowl",
        ],
        ads: [
            (
                "pet supplies",
                [
                    ("Scratching posts", &["cats", "kitten", "scratching post"]),
                    ("Cosy pet beds", &["cat bed", "blanket", "cat"]),
                ],
            ),
            (
                "pet food",
                [
                    ("Grain-free cat food", &["cat food", "kitten", "bowl"]),
                    ("Treats cats love", &["cat treats", "cats"]),
                ],
            ),
        ],
    },
    Group {
        name: "trains",
        captions: &[
            "a train traveling down train tracks next to a forest",
            "a train is pulling into a train station",
            "a red train on the tracks near a platform",
            "a steam locomotive pulling a passenger train",
            "a freight train crossing a bridge",
            "a train station with people waiting on the platform",
            "an old train parked on the tracks",
            "a high speed train at a station",
            "a train traveling through a snowy landscape",
            "a subway train pulling into a station",
            "a yellow and blue train on the railroad tracks",
            "a locomotive engine at a rail yard",
            "a train going through a tunnel",
            "a long freight train passing a field",
            "a passenger train crossing a river",
            "a train conductor standing next to a train",
        ],
        ads: [
            (
                "rail travel",
                [
                    ("Rail passes", &["train", "train station", "railway"]),
                    (
                        "Scenic rail journeys",
                        &["passenger train", "railroad", "tracks"],
                    ),
                ],
            ),
            (
                "model trains",
                [
                    ("Model locomotives", &["model train", "locomotive", "steam"]),
                    ("Track sets", &["train tracks", "trains", "rail"]),
                ],
            ),
        ],
    },
    Group {
        name: "skiing",
        captions: &[
            "a man riding skis down a snow covered slope",
            "a person on skis standing in the snow",
            "a group of people on skis in the snow",
            "a skier going down a steep hill",
            "a woman skiing down a mountain",
            "a man on a snowboard going down a hill",
            "a ski lift going up a snowy mountain",
            "a skier jumping in the air",
            "a couple of skiers standing at the top of a slope",
            "a child learning to ski on a slope",
            "a snowboarder doing a trick in the snow",
            "a man cross country skiing through the woods",
            "skis and poles stuck in the snow",
            "a ski resort with snow covered mountains",
            "a skier in a red jacket on the slopes",
            "a group of skiers riding a ski lift",
        ],
        ads: [
            (
                "ski",
                [
                    ("All-mountain skis", &["skis", "skier", "slope"]),
                    ("Snowboards", &["snowboards", "snowboarder", "snow"]),
                ],
            ),
            (
                "winter travel",
                [
                    (
                        "Ski resort weekends",
                        &["ski resort", "mountains", "ski lift"],
                    ),
                    ("Lift passes", &["ski lift", "skiing", "mountain"]),
                ],
            ),
        ],
    },
    Group {
        name: "baseball",
        captions: &[
            "a baseball player swinging a bat at a ball",
            "a baseball player holding a bat on a field",
            "a pitcher throwing a ball on a baseball field",
            "a man in a baseball uniform throwing a ball",
            "a catcher and an umpire behind home plate",
            "a batter hitting a ball at a baseball game",
            "a baseball player sliding into a base",
            "a crowd watching a baseball game in a stadium",
            "a young boy holding a baseball bat",
            "a pitcher on the mound at a baseball game",
            "a baseball glove and a ball on the grass",
            "a baseball team standing in the dugout",
            "a player running to first base",
            "a little league team playing baseball",
            "a catcher holding a glove up",
            "a baseball stadium full of fans",
        ],
        ads: [
            (
                "baseball",
                [
                    (
                        "Bats and gloves",
                        &["baseball bat", "baseball glove", "baseball"],
                    ),
                    (
                        "Team jerseys",
                        &["baseball uniform", "team", "baseball player"],
                    ),
                ],
            ),
            (
                "sports tickets",
                [
                    (
                        "Tickets for the home game",
                        &["baseball game", "stadium", "fans"],
                    ),
                    ("Season tickets", &["baseball", "game", "stadium"]),
                ],
            ),
        ],
    },
    Group {
        name: "pizza",
        captions: &[
            "a slice of pizza on a paper plate",
            "a pizza sitting on top of a wooden table",
            "a large pizza with cheese and pepperoni on it",
            "a pizza with mushrooms and olives",
            "a person cutting a pizza with a knife",
            "a pizza in a box on a table",
            "a pizza being taken out of an oven",
            "a man eating a slice of pizza",
            "two pizzas on a table at a restaurant",
            "a pizza with tomatoes and basil",
            "a woman holding a slice of pizza",
            "a pepperoni pizza on a pan",
            "a pizza with lots of cheese",
            "a group of friends sharing a pizza",
            "a pizza topped with sausage and peppers",
            "a chef making a pizza in a restaurant",
        ],
        ads: [
            (
                "pizza delivery",
                [
                    ("Pizza in 30 minutes", &["pizza", "pepperoni", "cheese"]),
                    ("Two for one pizzas", &["pizzas", "pizza box", "slice"]),
                ],
            ),
            (
                "restaurants",
                [
                    (
                        "Wood-fired pizzeria",
                        &["pizza oven", "restaurant", "pizza"],
                    ),
                    (
                        "Italian dinner deals",
                        &["restaurant", "mushrooms", "olives"],
                    ),
                ],
            ),
        ],
    },
];

/// Ads anyone might match: their targeting is words every group's captions use.
const DISTRACTORS: &[(&str, &str, &[&str])] = &[
    (
        "insurance",
        "Life cover for the family",
        &["man", "woman", "people"],
    ),
    (
        "phones",
        "A phone with a great camera",
        &["man", "person", "picture"],
    ),
    (
        "cars",
        "Test drive the new hatchback",
        &["street", "car", "road"],
    ),
    (
        "furniture",
        "Tables for every room",
        &["table", "chair", "room"],
    ),
    (
        "fashion",
        "Summer collection",
        &["woman", "dress", "jacket"],
    ),
    (
        "banking",
        "Open an account in minutes",
        &["people", "group", "man"],
    ),
    (
        "home decor",
        "Rugs and blankets",
        &["room", "window", "couch"],
    ),
    ("travel", "City breaks", &["city", "top", "water"]),
];

/// SplitMix64: small, fast and the same on every platform.
struct Rng(u64);

impl Rng {
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
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct World {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    /// Each user's group, by user index (`u{index}`).
    groups: Vec<usize>,
    likes: usize,
    clicks: usize,
}

fn user_id(i: usize) -> String {
    format!("u{i:05}")
}

fn all_ads() -> Vec<Ad> {
    let mut ads = Vec::new();
    for (g, group) in GROUPS.iter().enumerate() {
        for (c, (category, list)) in group.ads.iter().enumerate() {
            for (a, (title, terms)) in list.iter().enumerate() {
                ads.push(
                    Ad::new(
                        format!("{}-{c}{a}", group.name),
                        format!("advertiser-{g}"),
                        *title,
                        *category,
                    )
                    .interests(terms.iter().copied()),
                );
            }
        }
    }
    for (i, (category, title, terms)) in DISTRACTORS.iter().enumerate() {
        ads.push(
            Ad::new(format!("other-{i}"), "others", *title, *category)
                .interests(terms.iter().copied()),
        );
    }
    ads
}

/// Records likes and clicks through the engine, with a fixed clock and event times.
async fn build_world(
    per_group: usize,
    likes_range: (usize, usize),
    noise: f64,
    seed: u64,
) -> sociallens::Result<World> {
    let start = Timestamp::from_millis(1_767_225_600_000); // 2026-01-01
    let clock = Arc::new(ManualClock::new(start));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .shared_store(store.clone())
        .clock(clock.clone())
        .build()?;
    let ads = all_ads();
    engine.add_ads(ads.clone()).await?;
    let mut rng = Rng(seed);
    let n = per_group * GROUPS.len();
    let groups: Vec<usize> = (0..n).map(|i| i % GROUPS.len()).collect();
    let (mut likes, mut clicks) = (0, 0);
    let day = 24 * 3600 * 1000;
    for (i, &g) in groups.iter().enumerate() {
        let user = user_id(i);
        let count = likes_range.0 + rng.below(likes_range.1 - likes_range.0 + 1);
        for _ in 0..count {
            let from = if rng.unit() < noise {
                (g + 1 + rng.below(GROUPS.len() - 1)) % GROUPS.len()
            } else {
                g
            };
            let pool = GROUPS[from].captions;
            let c = rng.below(pool.len());
            // Events over the 30 days before the clock's time: decay weighs them.
            let at = Timestamp::from_millis(start.as_millis() - rng.below(30 * day) as i64);
            let post = Post::new(format!("{}-{c}", GROUPS[from].name)).with_caption(pool[c]);
            engine
                .record_like_with(&user, post, EventOptions::default().at(at))
                .await?;
            likes += 1;
        }
        // Most users click one to three ads, 85% of them of their own group.
        if rng.unit() < 0.7 {
            for _ in 0..1 + rng.below(3) {
                let ad = if rng.unit() < 0.85 {
                    &ads[g * 4 + rng.below(4)]
                } else {
                    &ads[rng.below(ads.len())]
                };
                let at = Timestamp::from_millis(start.as_millis() - rng.below(7 * day) as i64);
                engine
                    .record_click_with(&user, &ad.id, EventOptions::default().at(at))
                    .await?;
                clicks += 1;
            }
        }
    }
    Ok(World {
        store,
        clock,
        groups,
        likes,
        clicks,
    })
}

#[derive(Default)]
struct Scores {
    similar_same: f64,
    ads_in_group: f64,
    /// Users with no ad or fewer than 3.
    short: usize,
    ms: f64,
}

async fn evaluate(
    world: &World,
    cfg: AdsConfig,
    embedder: Option<Arc<MiniLmEmbedder>>,
) -> sociallens::Result<Scores> {
    let mut b = Engine::builder()
        .shared_store(world.store.clone())
        .clock(world.clock.clone())
        .ads_config(cfg);
    if let Some(e) = embedder {
        b = b.shared_embedder(e);
    }
    let engine = b.build()?;
    engine.refresh_index().await?;
    let t = Instant::now();
    let (mut same, mut in_group, mut short) = (0usize, 0usize, 0usize);
    for (i, &g) in world.groups.iter().enumerate() {
        let user = user_id(i);
        let peers = engine.similar_users(&user, 5).await?;
        same += peers
            .iter()
            .filter(|p| {
                let j: usize = p.user.as_str()[1..].parse().unwrap_or(usize::MAX);
                world.groups.get(j) == Some(&g)
            })
            .count();
        let cats: HashSet<&str> = GROUPS[g].ads.iter().map(|a| a.0).collect();
        let ads = engine.ads_for(&user, 3).await?;
        if ads.len() < 3 {
            short += 1;
        }
        in_group += ads
            .iter()
            .filter(|m| cats.contains(m.ad.category.as_str()))
            .count();
    }
    let n = world.groups.len() as f64;
    Ok(Scores {
        similar_same: same as f64 / (5.0 * n),
        ads_in_group: in_group as f64 / (3.0 * n),
        short,
        ms: t.elapsed().as_secs_f64() * 1000.0,
    })
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let per_group: usize = arg("--users-per-group").map_or(Ok(100), |s| s.parse())?;
    let seed: u64 = arg("--seed").map_or(Ok(42), |s| s.parse())?;
    let embedder = match std::env::var_os("SOCIALLENS_MINILM_DIR") {
        Some(dir) => Some(Arc::new(MiniLmEmbedder::from_dir(dir)?)),
        None => None,
    };
    let interest_only = AdsConfig {
        lookalike_weight: 0.0,
        ..AdsConfig::default()
    };
    let lookalike_only = AdsConfig {
        interest_weight: 0.0,
        ..AdsConfig::default()
    };
    let mut configs: Vec<(&str, AdsConfig, bool)> = vec![
        ("interest only (lookalike 0)", interest_only, false),
        ("default (lookalike 0.5)", AdsConfig::default(), false),
        ("lookalike only (interest 0)", lookalike_only, false),
    ];
    if embedder.is_some() {
        configs.push(("MiniLM, lookalike 0", interest_only, true));
        configs.push(("MiniLM, lookalike 0.5", AdsConfig::default(), true));
    }
    println!(
        "ads_quality: {} groups x {per_group} users, seed {seed}",
        GROUPS.len()
    );
    println!(
        "ads: {} per group in 2 categories + {} distractors; clicks: 70% of users, 1-3 each, 85% own group",
        4,
        DISTRACTORS.len()
    );
    if embedder.is_none() {
        println!("(set SOCIALLENS_MINILM_DIR to add the MiniLM rows)");
    }
    println!();
    println!(
        "| likes | noise | ranking | similar@5 same group | top-3 ads in group categories | users with <3 ads | eval ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    // The setting (15-30 likes, 15% noise), then harder ones.
    for (likes, noise) in [((15, 30), 0.15), ((15, 30), 0.30), ((5, 10), 0.45)] {
        let t = Instant::now();
        let world = build_world(per_group, likes, noise, seed).await?;
        eprintln!(
            "noise {noise}: {} users, {} likes, {} clicks recorded in {:.1} s",
            world.groups.len(),
            world.likes,
            world.clicks,
            t.elapsed().as_secs_f64()
        );
        for (name, cfg, semantic) in &configs {
            let e = if *semantic { embedder.clone() } else { None };
            let s = evaluate(&world, *cfg, e).await?;
            println!(
                "| {}-{} | {:.0}% | {name} | {:.3} | {:.3} | {} | {:.0} |",
                likes.0,
                likes.1,
                noise * 100.0,
                s.similar_same,
                s.ads_in_group,
                s.short,
                s.ms
            );
        }
    }
    Ok(())
}
