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
    /// Loads `tokenizer.json`; reads `clean_up_tokenization_spaces` from
    /// `tokenizer_config.json` when present. transformers ≥ 4.45 treats a missing key as
    /// `false`, and so does this crate.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| Error::Model(format!("cannot load {}: {e}", path.display())))?;
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
