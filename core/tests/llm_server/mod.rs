//! A test server on 127.0.0.1 that speaks OpenAI's chat-completions protocol. The real API
//! cannot be reached from here; this server is a scripted stand-in for it, nothing more: each
//! test queues the answers it should give, and reads back the requests it got.
#![allow(dead_code)]

use serde_json::{json, Value};
use sociallens::recommend::OpenAiCompatible;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const KEY: &str = "sk-test-SECRET-0123456789";

pub enum Reply {
    Http {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Accept the request and never answer (until the client gives up).
    Stall,
}

pub fn ok(content: &str) -> Reply {
    completion(json!({"role": "assistant", "content": content}), "stop")
}

pub fn completion(message: Value, finish: &str) -> Reply {
    Reply::Http {
        status: 200,
        headers: vec![],
        body: json!({
            "id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]
        })
        .to_string(),
    }
}

pub fn status(code: u16, headers: Vec<(&'static str, String)>) -> Reply {
    Reply::Http {
        status: code,
        headers,
        body: json!({"error": {"message": format!("scripted {code}"), "type": "test"}}).to_string(),
    }
}

/// One request as the server saw it: path, header lines, JSON body.
pub type Recorded = (String, Vec<String>, Value);

/// The scripted chat-completions test server.
pub struct TestServer {
    pub base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl TestServer {
    pub async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let script = script.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let path = lines
                        .next()
                        .unwrap_or("")
                        .split(' ')
                        .nth(1)
                        .unwrap_or("")
                        .to_string();
                    let headers: Vec<String> =
                        lines.filter(|l| !l.is_empty()).map(String::from).collect();
                    let len: usize = headers
                        .iter()
                        .find_map(|h| {
                            h.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body: Value =
                        serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
                    recorded.lock().unwrap().push((path, headers, body));
                    let reply = script.lock().unwrap().pop_front();
                    match reply {
                        Some(Reply::Stall) => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        Some(Reply::Http {
                            status,
                            headers,
                            body,
                        }) => {
                            let mut out = format!("HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
                            for (k, v) in headers {
                                out.push_str(&format!("{k}: {v}\r\n"));
                            }
                            out.push_str("\r\n");
                            out.push_str(&body);
                            let _ = sock.write_all(out.as_bytes()).await;
                        }
                        None => {
                            let body = r#"{"error":{"message":"script exhausted"}}"#;
                            let _ = sock
                                .write_all(format!("HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes())
                                .await;
                        }
                    }
                });
            }
        });
        Self { base_url, requests }
    }

    pub fn client(&self) -> OpenAiCompatible {
        OpenAiCompatible::new(&self.base_url, "test-model")
            .unwrap()
            .api_key(KEY)
            .backoff(Duration::from_millis(10), Duration::from_millis(50))
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn request(&self, i: usize) -> Recorded {
        self.requests.lock().unwrap()[i].clone()
    }
}
