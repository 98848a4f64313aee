//! Memory at scale (SPEC13, issue 13 §5): `click_report` over 1,000,000 events in a real
//! SQLite file aggregates while streaming pages, and exporting those events streams too.
//! Each measurement runs in a child process of its own, which reports the growth of its
//! peak resident set (`VmHWM` of /proc/self/status) across the call; the parent builds the
//! database and checks the figures against a bound far below holding the events.
//!
//! `SOCIALLENS_REPORT_EVENTS` changes the number of events (default 1,000,000). Run with
//! `--nocapture` to see the figures.

use sociallens::ads::Ad;
use sociallens::analytics::ReportQuery;
use sociallens::export::{Dataset, ExportOptions};
use sociallens::{Engine, ManualClock, SqliteStore, Store, Timestamp};
use sociallens_integration_tests::T0;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const CHILD_DB: &str = "SOCIALLENS_REPORT_CHILD_DB";
const CHILD_MODE: &str = "SOCIALLENS_REPORT_CHILD_MODE";
const ADS: usize = 20;
const MIB: u64 = 1024 * 1024;

fn events_wanted() -> usize {
    std::env::var("SOCIALLENS_REPORT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Peak resident set so far, in bytes.
fn vm_hwm() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn engine(path: &str) -> Engine {
    Engine::builder()
        .store(SqliteStore::open(path).unwrap())
        .clock(Arc::new(ManualClock::new(T0)))
        .build()
        .unwrap()
}

/// Writes `n` clicks and impressions straight into the file (one transaction: the engine's
/// one-transaction-per-event path would take far longer and is not what is measured).
async fn build(path: &Path, n: usize) {
    let e = engine(path.to_str().unwrap());
    let ads = (0..ADS)
        .map(|i| Ad::new(format!("ad-{i}"), "Acme", "Ad", format!("Cat{}", i % 5)))
        .collect();
    e.add_ads(ads).await.unwrap();
    drop(e);
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO events (event_id, user_id, kind, post_id, item_id, at, deltas)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5, '[]')",
            )
            .unwrap();
        for i in 0..n {
            let kind = if i % 10 == 0 { "click" } else { "impression" };
            // One event every 31 s: a million span about a year.
            let at = T0.as_millis() + (i as i64) * 31_000;
            stmt.execute(rusqlite::params![
                format!("ev-{i:08}"),
                format!("user-{}", i % 5000),
                kind,
                format!("ad:ad-{}", i % ADS),
                at
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// The body of the child processes: one measured call, its growth printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_memory_child() {
    let (Ok(path), Ok(mode)) = (std::env::var(CHILD_DB), std::env::var(CHILD_MODE)) else {
        return;
    };
    let e = engine(&path);
    let before = vm_hwm();
    let summary = match mode.as_str() {
        "report" => {
            let r = e
                .click_report(ReportQuery::by_category_and_hour())
                .await
                .unwrap();
            format!(
                "impressions={} clicks={} rows={}",
                r.impressions,
                r.clicks,
                r.rows.len()
            )
        }
        // The old way, for contrast: every event in one Vec.
        "vec" => {
            let v = e
                .store()
                .item_events(
                    Timestamp::from_millis(i64::MIN),
                    Timestamp::from_millis(i64::MAX),
                )
                .await
                .unwrap();
            format!("events={}", v.len())
        }
        "export" => {
            let dir = Path::new(&path).with_extension("export");
            let s = e
                .export(&ExportOptions::new(&dir).datasets([Dataset::Events, Dataset::AdEvents]))
                .await
                .unwrap();
            format!(
                "events={} ad_events={}",
                s.dataset(Dataset::Events).unwrap().rows,
                s.dataset(Dataset::AdEvents).unwrap().rows
            )
        }
        other => panic!("unknown mode {other}"),
    };
    let after = vm_hwm();
    println!(
        "MEASURED growth={} before={before} {summary}",
        after.saturating_sub(before)
    );
}

/// Runs one child; returns (peak RSS growth in bytes, its summary line).
fn measure(path: &Path, mode: &str) -> (u64, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "report_memory_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, path)
        .env(CHILD_MODE, mode)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{mode}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // libtest prints the line after the test's name, on the same line.
    let line = stdout
        .lines()
        .find_map(|l| l.find("MEASURED ").map(|i| l[i..].to_string()))
        .unwrap_or_else(|| panic!("{mode}: no figure in {stdout}"));
    let growth: u64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("growth="))
        .unwrap()
        .parse()
        .unwrap();
    (growth, line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_report_and_export_of_a_million_events_stay_in_bounded_memory() {
    let n = events_wanted();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("million.db");
    build(&path, n).await;

    let (report, line) = measure(&path, "report");
    eprintln!(
        "click_report over {n} events: peak RSS +{:.1} MiB ({line})",
        report as f64 / MIB as f64
    );
    assert!(
        line.contains(&format!(
            "impressions={} clicks={}",
            n - n.div_ceil(10),
            n.div_ceil(10)
        )),
        "{line}"
    );
    let (vec, line) = measure(&path, "vec");
    eprintln!(
        "item_events into one Vec, {n} events: peak RSS +{:.1} MiB ({line})",
        vec as f64 / MIB as f64
    );
    let (export, line) = measure(&path, "export");
    eprintln!(
        "export of events + ad_events, {n} events: peak RSS +{:.1} MiB ({line})",
        export as f64 / MIB as f64
    );

    // Bounded by the page (5,000 events), the report's rows and one row group (16,384 rows),
    // not by the million events (~200 bytes each held in memory).
    assert!(
        report < 48 * MIB,
        "click_report grew the peak RSS by {report} bytes"
    );
    assert!(
        export < 96 * MIB,
        "export grew the peak RSS by {export} bytes"
    );
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.scan_events(None, 1).await.unwrap().next.is_some());
}
