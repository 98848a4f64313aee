//! `VitGpt2::from_hub` against a local server that speaks the Hub's file protocol
//! (`/{repo}/resolve/{revision}/{file}`, range requests, `ETag` and `X-Repo-Commit`).
//! One test function: it sets process-wide environment variables.

mod common;

use common::{fixtures, image_bytes, reference};
use sha2::{Digest, Sha256};
use sociallens::recommend::{Embedder, MiniLmEmbedder};
use sociallens::{Captioner, VitGpt2};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves the tiny fixture as two repositories; records every requested path.
fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut range: Option<(usize, Option<usize>)> = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("range: bytes=") {
                    let (a, b) = v.trim().split_once('-').unwrap();
                    range = Some((a.parse().unwrap(), b.parse().ok()));
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            seen.lock().unwrap().push(path.clone());
            let body = file_for(&path);
            let response = match body {
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
                Some(data) => {
                    let etag = hex::encode(Sha256::digest(&data));
                    let size = data.len();
                    let (start, end) = match range {
                        Some((a, b)) => (a.min(size), b.map(|b| b + 1).unwrap_or(size).min(size)),
                        None => (0, size),
                    };
                    let mut head = format!(
                        "HTTP/1.1 {}\r\nContent-Length: {}\r\nETag: \"{etag}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n",
                        if range.is_some() { "206 Partial Content" } else { "200 OK" },
                        end - start
                    );
                    if range.is_some() {
                        head.push_str(&format!(
                            "Content-Range: bytes {start}-{}/{size}\r\n",
                            end.saturating_sub(1)
                        ));
                    }
                    head.push_str("\r\n");
                    let mut out = head.into_bytes();
                    out.extend_from_slice(&data[start..end]);
                    out
                }
            };
            let _ = stream.write_all(&response);
        }
    });
    (format!("http://{addr}"), log)
}

fn file_for(path: &str) -> Option<Vec<u8>> {
    let rest = path.strip_prefix("/test-org/")?;
    let (repo, rest) = rest.split_once("/resolve/main/")?;
    let file = rest;
    if file.contains('/') || file.contains("..") {
        return None;
    }
    if repo == "minilm" {
        // The real all-MiniLM-L6-v2 folder, when the test run has it (scripts/test.sh does).
        let dir = std::env::var("SOCIALLENS_MINILM_DIR").ok()?;
        return std::fs::read(std::path::Path::new(&dir).join(file)).ok();
    }
    match repo {
        "tiny-vit-gpt2" => {}
        // The layout of old checkpoints: PyTorch weights and the slow tokenizer's files only.
        "tiny-bin-only" if file != "model.safetensors" && file != "tokenizer.json" => {}
        _ => return None,
    }
    std::fs::read(fixtures().join("tiny-vit-gpt2").join(file)).ok()
}

#[test]
fn downloads_caches_and_loads_offline() {
    let (endpoint, log) = serve();
    let home = tempfile::tempdir().unwrap();
    std::env::set_var("HF_ENDPOINT", &endpoint);
    std::env::set_var("HF_HOME", home.path());
    std::env::remove_var("HF_HUB_OFFLINE");
    let reference = reference();
    let image = image_bytes("02_rgba_200x150.png");
    let want = reference["images"]["02_rgba_200x150"]["beam_text"]
        .as_str()
        .unwrap();

    let c = VitGpt2::from_hub("test-org/tiny-vit-gpt2").unwrap();
    assert_eq!(c.caption(&[&image]).unwrap()[0], want);
    assert!(c.model_id().contains("test-org/tiny-vit-gpt2"));
    let requests = log.lock().unwrap().clone();
    assert!(requests.iter().any(|p| p.ends_with("/model.safetensors")));
    assert!(!requests.iter().any(|p| p.ends_with("/pytorch_model.bin")));
    assert!(home
        .path()
        .join("hub/models--test-org--tiny-vit-gpt2/snapshots")
        .join(COMMIT)
        .join("config.json")
        .exists());

    // Cached: a second load sends nothing.
    let n = log.lock().unwrap().len();
    VitGpt2::from_hub("test-org/tiny-vit-gpt2").unwrap();
    assert_eq!(log.lock().unwrap().len(), n);

    // Offline: cache only.
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let c = VitGpt2::from_hub("test-org/tiny-vit-gpt2").unwrap();
    assert_eq!(c.caption(&[&image]).unwrap()[0], want);
    assert_eq!(log.lock().unwrap().len(), n);
    let err = VitGpt2::from_hub("test-org/tiny-bin-only").err().unwrap();
    assert_eq!(err.code(), "MODEL");
    assert!(err.to_string().contains("offline"), "{err}");
    std::env::remove_var("HF_HUB_OFFLINE");

    // No safetensors and no tokenizer.json in the repository: pytorch_model.bin and
    // vocab.json + merges.txt instead.
    let c = VitGpt2::from_hub("test-org/tiny-bin-only").unwrap();
    assert_eq!(c.caption(&[&image]).unwrap()[0], want);
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|p| p == "/test-org/tiny-bin-only/resolve/main/pytorch_model.bin"));
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|p| p == "/test-org/tiny-bin-only/resolve/main/merges.txt"));

    // An unknown repository is a model error, not a panic.
    let err = VitGpt2::from_hub("test-org/missing").err().unwrap();
    assert_eq!(err.code(), "MODEL");

    // The sentence-embedding model comes through the same path (here from the PyPI copy of
    // all-MiniLM-L6-v2 that scripts/test.sh installs), and gives the same vectors.
    if let Ok(dir) = std::env::var("SOCIALLENS_MINILM_DIR") {
        let hubbed = MiniLmEmbedder::from_hub("test-org/minilm").unwrap();
        let local = MiniLmEmbedder::from_dir(&dir).unwrap();
        let texts = ["a surfer riding a wave", "a dog on a couch"];
        assert_eq!(hubbed.embed(&texts).unwrap(), local.embed(&texts).unwrap());
        assert!(log
            .lock()
            .unwrap()
            .iter()
            .any(|p| p == "/test-org/minilm/resolve/main/model.safetensors"));
        assert_eq!(hubbed.model_id(), "minilm:test-org/minilm");
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must provide SOCIALLENS_MINILM_DIR"
        );
    }
}
