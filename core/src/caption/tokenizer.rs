//! Ids to caption text the way the reference does it:
//! `tokenizer.batch_decode(ids, skip_special_tokens=True)`, the optional
//! `clean_up_tokenization_spaces` pass, then Python's `str.strip()`.

use crate::error::{Error, Result};
use std::path::Path;

/// A byte-level BPE tokenizer from `tokenizer.json`, decoding like `transformers`.
pub struct CaptionTokenizer {
    inner: tokenizers::Tokenizer,
    clean_up_tokenization_spaces: bool,
}

impl CaptionTokenizer {
    /// Loads `tokenizer.json`, or builds GPT-2's byte-level BPE from `vocab.json` +
    /// `merges.txt` when a (slow-tokenizer) model directory has no `tokenizer.json`; reads
    /// `clean_up_tokenization_spaces` from `tokenizer_config.json` when present.
    /// transformers ≥ 4.45 treats a missing key as `false`, and so does this crate.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() && dir.join("vocab.json").is_file() && dir.join("merges.txt").is_file() {
            return Self::from_vocab_and_merges(dir);
        }
        let inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| Error::Model(format!("cannot load {}: {e}", path.display())))?;
        Self::with_config(inner, dir)
    }

    /// GPT-2's tokenizer from `vocab.json` + `merges.txt` (the files of the slow
    /// `GPT2Tokenizer`), with the special tokens of `special_tokens_map.json`
    /// (`<|endoftext|>` when absent).
    pub fn from_vocab_and_merges(dir: &Path) -> Result<Self> {
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        let vocab = dir.join("vocab.json");
        let merges = dir.join("merges.txt");
        let bad = |e: &dyn std::fmt::Display| Error::Model(format!("cannot build the BPE: {e}"));
        let bpe = tokenizers::models::bpe::BPE::from_file(
            &vocab.to_string_lossy(),
            &merges.to_string_lossy(),
        )
        .build()
        .map_err(|e| bad(&e))?;
        let config = read_json(&dir.join("tokenizer_config.json"))?;
        let add_prefix_space = config
            .as_ref()
            .and_then(|c| c.get("add_prefix_space"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::new(add_prefix_space, true, true)));
        inner.with_decoder(Some(ByteLevel::default()));
        let mut specials: Vec<String> = Vec::new();
        if let Some(map) = read_json(&dir.join("special_tokens_map.json"))? {
            for (_, v) in map.as_object().into_iter().flatten() {
                let content = v.get("content").and_then(|c| c.as_str()).or(v.as_str());
                if let Some(c) = content {
                    if !specials.iter().any(|s| s == c) {
                        specials.push(c.to_string());
                    }
                }
            }
        }
        if specials.is_empty() {
            specials.push("<|endoftext|>".into());
        }
        let tokens: Vec<tokenizers::AddedToken> = specials
            .into_iter()
            .map(|s| tokenizers::AddedToken::from(s, true))
            .collect();
        inner.add_special_tokens(tokens).map_err(|e| bad(&e))?;
        Self::with_config(inner, dir)
    }

    fn with_config(inner: tokenizers::Tokenizer, dir: &Path) -> Result<Self> {
        let cfg_path = dir.join("tokenizer_config.json");
        let clean_up = if cfg_path.is_file() {
            let text = std::fs::read_to_string(&cfg_path)
                .map_err(|e| Error::Model(format!("cannot read {}: {e}", cfg_path.display())))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::Model(format!("bad tokenizer_config.json: {e}")))?;
            v.get("clean_up_tokenization_spaces")
                .and_then(|b| b.as_bool())
                .unwrap_or(false)
        } else {
            false
        };
        Ok(CaptionTokenizer {
            inner,
            clean_up_tokenization_spaces: clean_up,
        })
    }

    /// Whether the clean-up pass runs.
    pub fn clean_up_tokenization_spaces(&self) -> bool {
        self.clean_up_tokenization_spaces
    }

    /// Overrides the clean-up flag (transformers < 4.45 defaulted it to `true`).
    pub fn set_clean_up_tokenization_spaces(&mut self, on: bool) {
        self.clean_up_tokenization_spaces = on;
    }

    /// Token ids of `text` (no special tokens added, like GPT-2's tokenizer).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Model(format!("cannot encode text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decodes one id sequence, dropping special tokens, without stripping.
    pub fn decode_raw(&self, ids: &[u32]) -> Result<String> {
        let text = self
            .inner
            .decode(ids, true)
            .map_err(|e| Error::Model(format!("cannot decode ids: {e}")))?;
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    /// The caption for one id sequence: [`Self::decode_raw`] then [`python_strip`].
    pub fn caption(&self, ids: &[u32]) -> Result<String> {
        Ok(python_strip(&self.decode_raw(ids)?).to_string())
    }
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Model(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Model(format!("bad {}: {e}", path.display())))
}

/// transformers' `clean_up_tokenization`: plain replacements, in this order.
pub fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

/// Python's `str.isspace()` for one char: Unicode whitespace plus the separators
/// U+001C..U+001F, which Rust's `char::is_whitespace` does not include.
pub fn python_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no arguments.
pub fn python_strip(s: &str) -> &str {
    s.trim_matches(python_is_space)
}
