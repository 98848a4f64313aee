//! Word tokenization exactly as NLTK's `word_tokenize` (the Treebank rules of
//! `NLTKWordTokenizer`, NLTK 3.8), which is what TextBlob feeds its tagger.
//!
//! Plain caption text (letters, digits, spaces) takes a fast path that gives the same
//! tokens without running the regular expressions; anything else runs the rule list.

use super::work;
use fancy_regex::Regex;
use std::sync::OnceLock;

/// One token and where it came from in the input (byte offsets; `None` for tokens the
/// rules synthesise, such as the `` `` `` that replaces an opening `"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The token text.
    pub text: String,
    /// Byte span in the tokenized text, when the token appears there verbatim.
    pub span: Option<(usize, usize)>,
}

struct Rules {
    starting_quotes: Vec<(Regex, &'static str)>,
    punctuation: Vec<(Regex, &'static str)>,
    parens: (Regex, &'static str),
    double_dashes: (Regex, &'static str),
    ending_quotes: Vec<(Regex, &'static str)>,
    contractions: Vec<Regex>,
}

fn re(p: &str) -> Regex {
    // fancy-regex counts every start position it tries as a backtrack, and its default
    // limit (a million) made `replace_all` panic on a long stretch of text without a match.
    // No rule here nests quantifiers, so the work per start position is bounded and a
    // search stays linear without the limit.
    fancy_regex::RegexBuilder::new(p)
        .backtrack_limit(usize::MAX)
        .build()
        .expect("tokenizer rule compiles")
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules {
        starting_quotes: vec![
            (re(r"([«“‘„]|[`]+)"), " $1 "),
            (re(r#"^""#), "``"),
            (re(r"(``)"), " $1 "),
            (re(r#"([ \(\[{<])("|'{2})"#), "$1 `` "),
            (re(r"(?i)(')(?!re|ve|ll|m|t|s|d|n)(\w)\b"), "$1 $2"),
        ],
        punctuation: vec![
            (re(r#"([^\.])(\.)([\]\)}>"'»”’ ]*)\s*$"#), "$1 $2 $3 "),
            (re(r"([:,])([^\d])"), " $1 $2"),
            (re(r"([:,])$"), " $1 "),
            (re(r"\.{2,}"), " $0 "),
            (re(r"[;@#$%&]"), " $0 "),
            (re(r#"([^\.])(\.)([\]\)}>"']*)\s*$"#), "$1 $2$3 "),
            (re(r"[?!]"), " $0 "),
            (re(r"([^'])' "), "$1 ' "),
            (re(r"[*]"), " $0 "),
        ],
        parens: (re(r"[\]\[\(\)\{\}\<\>]"), " $0 "),
        double_dashes: (re(r"--"), " -- "),
        ending_quotes: vec![
            (re(r"([»”’])"), " $1 "),
            (re(r"''"), " '' "),
            (re(r#"""#), " '' "),
            (re(r"([^' ])('[sS]|'[mM]|'[dD]|') "), "$1 $2 "),
            (re(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), "$1 $2 "),
        ],
        contractions: [
            r"(?i)\b(can)(not)\b",
            r"(?i)\b(d)('ye)\b",
            r"(?i)\b(gim)(me)\b",
            r"(?i)\b(gon)(na)\b",
            r"(?i)\b(got)(ta)\b",
            r"(?i)\b(lem)(me)\b",
            r"(?i)\b(more)('n)\b",
            r"(?i)\b(wan)(na)(?=\s)",
            r"(?i) ('t)(is)\b",
            r"(?i) ('t)(was)\b",
        ]
        .iter()
        .map(|p| re(p))
        .collect(),
    })
}

/// Python's `str.isspace` for one character (wider than Rust's: includes U+001C..U+001F).
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn replace_all(text: String, rule: &(Regex, &str)) -> String {
    work::add(text.len());
    match rule.0.replace_all(&text, rule.1) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(s) => s,
    }
}

/// Words that the contraction rules split even in plain text ("cannot" → "can not").
fn split_contraction(word: &str) -> Option<(&str, &str)> {
    let at = match word.len() {
        5 if word.eq_ignore_ascii_case("gonna")
            || word.eq_ignore_ascii_case("gotta")
            || word.eq_ignore_ascii_case("gimme")
            || word.eq_ignore_ascii_case("lemme")
            || word.eq_ignore_ascii_case("wanna") =>
        {
            3
        }
        6 if word.eq_ignore_ascii_case("cannot") => 3,
        _ => return None,
    };
    Some((&word[..at], &word[at..]))
}

/// Whether the fast path gives the same tokens as the rules: only ASCII letters, digits and
/// spaces, so no rule but the contractions can fire.
fn is_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'\t' || b == b'\n')
}

/// Tokenizes one sentence as `NLTKWordTokenizer().tokenize` does.
///
/// ```
/// use sociallens::interests::tokenize::word_tokenize;
/// let words: Vec<String> = word_tokenize("a man's dog (sitting) on a bench.")
///     .into_iter()
///     .map(|t| t.text)
///     .collect();
/// assert_eq!(words, ["a", "man", "'s", "dog", "(", "sitting", ")", "on", "a", "bench", "."]);
/// ```
pub fn word_tokenize(text: &str) -> Vec<Token> {
    work::add(text.len());
    if is_plain(text) {
        let mut out = Vec::new();
        for (start, word) in split_py_whitespace(text) {
            match split_contraction(word) {
                Some((a, b)) => {
                    out.push(Token {
                        text: a.to_string(),
                        span: Some((start, start + a.len())),
                    });
                    out.push(Token {
                        text: b.to_string(),
                        span: Some((start + a.len(), start + word.len())),
                    });
                }
                None => out.push(Token {
                    text: word.to_string(),
                    span: Some((start, start + word.len())),
                }),
            }
        }
        return out;
    }
    let r = rules();
    let mut s = text.to_string();
    for rule in &r.starting_quotes {
        s = replace_all(s, rule);
    }
    for rule in &r.punctuation {
        s = replace_all(s, rule);
    }
    s = replace_all(s, &r.parens);
    s = replace_all(s, &r.double_dashes);
    s = format!(" {s} ");
    for rule in &r.ending_quotes {
        s = replace_all(s, rule);
    }
    for c in &r.contractions {
        s = replace_all(s, &(c.clone(), " $1 $2 "));
    }
    align(text, split_py_whitespace(&s).map(|(_, w)| w.to_string()))
}

/// Splits on Python's whitespace, with byte offsets.
fn split_py_whitespace(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let ascii = s.is_ascii();
    let mut rest = 0;
    std::iter::from_fn(move || {
        let (start, end) = if ascii {
            // ASCII whitespace as Python sees it: \t \n \x0b \x0c \r \x1c-\x1f and space.
            let sp = |b: &u8| matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' ');
            let b = s.as_bytes();
            let start = rest + b[rest..].iter().position(|c| !sp(c))?;
            let end = start + b[start..].iter().position(sp).unwrap_or(b.len() - start);
            (start, end)
        } else {
            let start = rest + s[rest..].find(|c| !is_py_space(c))?;
            let len = s[start..].find(is_py_space).unwrap_or(s.len() - start);
            (start, start + len)
        };
        rest = end;
        Some((start, &s[start..end]))
    })
}

/// Finds each token in the original text, in order, to give it a span. The rules only add
/// spaces and rewrite quotes, so a token sits just after the previous one: searching a short
/// window keeps this linear even when many tokens (rewritten quotes) are not found.
fn align(original: &str, tokens: impl Iterator<Item = String>) -> Vec<Token> {
    const SLACK: usize = 8;
    let mut cursor = 0;
    tokens
        .map(|text| {
            let from = original[cursor..]
                .find(|c| !is_py_space(c))
                .map_or(original.len(), |i| cursor + i);
            work::add(from - cursor);
            // The skipped whitespace holds no token: step over it for good, or every token
            // not found after a long run of spaces would scan the run again.
            cursor = from;
            let mut to = (from + text.len() + SLACK).min(original.len());
            while !original.is_char_boundary(to) {
                to += 1;
            }
            work::add(to - from);
            let span = original[from..to].find(&text).map(|i| {
                let start = from + i;
                cursor = start + text.len();
                (start, cursor)
            });
            Token { text, span }
        })
        .collect()
}

/// Splits text into sentences the way an untrained Punkt splitter does for ordinary prose:
/// after `.`, `?` or `!` (and closing quotes/brackets) followed by whitespace, except after
/// an ellipsis, a single-letter initial or a number that the next lowercase word continues.
/// Returns byte ranges.
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(b, b'.' | b'?' | b'!') {
            let mut j = i + 1;
            while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b')' | b']' | b'}') {
                j += 1;
            }
            let ws_end = text[j..]
                .find(|c| !is_py_space(c))
                .map(|k| j + k)
                .unwrap_or(bytes.len());
            work::add(ws_end - i);
            let followed_by_space = ws_end > j && ws_end < bytes.len();
            if followed_by_space && !keeps_sentence(text, start, i, ws_end) {
                out.push((start, j));
                start = ws_end;
                i = ws_end;
                continue;
            }
        }
        i += 1;
    }
    work::add(bytes.len());
    if text[start..].chars().any(|c| !is_py_space(c)) || out.is_empty() {
        out.push((start, bytes.len()));
    }
    out
}

/// Punkt's reasons not to break after the punctuation at `at`.
fn keeps_sentence(text: &str, sent_start: usize, at: usize, next: usize) -> bool {
    let bytes = text.as_bytes();
    if bytes[at] == b'.' {
        // An ellipsis never ends a sentence for an untrained model.
        if at > 0 && bytes[at - 1] == b'.' {
            return true;
        }
        let word_start = text[sent_start..at]
            .rfind(is_py_space)
            .map(|k| sent_start + k + 1)
            .unwrap_or(sent_start);
        work::add(at - word_start);
        let word = &text[word_start..at];
        let next_lower = text[next..].chars().next().is_some_and(char::is_lowercase);
        let initial = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
        let number = !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '.');
        if initial || (number && next_lower) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        word_tokenize(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn treebank_rules() {
        assert_eq!(toks("it's a cat"), ["it", "'s", "a", "cat"]);
        assert_eq!(toks("two dogs, a cat"), ["two", "dogs", ",", "a", "cat"]);
        assert_eq!(
            toks("a dog \"sitting\" here"),
            ["a", "dog", "``", "sitting", "''", "here"]
        );
        assert_eq!(toks("I cannot go"), ["I", "can", "not", "go"]);
        assert_eq!(toks("I CANNOT, go"), ["I", "CAN", "NOT", ",", "go"]);
        assert_eq!(toks("grass ..."), ["grass", "..."]);
        assert_eq!(toks("costs $3.88 now"), ["costs", "$", "3.88", "now"]);
        assert_eq!(toks("a road."), ["a", "road", "."]);
        assert_eq!(toks("wanna go"), ["wan", "na", "go"]);
        assert!(toks("").is_empty());
        assert!(toks(" \u{1c} ").is_empty());
    }

    #[test]
    fn spans_point_into_the_text() {
        let text = "a man's (red) café";
        for t in word_tokenize(text) {
            if let Some((s, e)) = t.span {
                assert_eq!(&text[s..e], t.text);
            }
        }
    }

    #[test]
    fn sentence_splitting() {
        let t = "A dog runs. A cat sleeps! ok... fine";
        let s: Vec<&str> = sentences(t).into_iter().map(|(a, b)| &t[a..b]).collect();
        assert_eq!(s, ["A dog runs.", "A cat sleeps!", "ok... fine"]);
        assert_eq!(sentences("").len(), 1);
        let t = "J. Smith has 3. apples";
        assert_eq!(sentences(t).len(), 1);
    }
}
