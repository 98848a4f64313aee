//! Noun extraction: the prototype's TextBlob behaviour as a mode, and a better default.

use super::tagger::PerceptronTagger;
use super::tokenize::{sentences, word_tokenize};
use super::wordnet::WordNet;
use super::{work, InterestExtractor};
use crate::error::Result;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

/// Structural and filler nouns: they say how a picture is framed, not what it is about.
pub const STRUCTURAL_NOUNS: &[&str] = &[
    "top",
    "side",
    "front",
    "middle",
    "back",
    "edge",
    "couple",
    "group",
    "lot",
    "lots",
    "bunch",
    "pair",
    "piece",
    "picture",
    "photo",
    "photograph",
    "image",
    "view",
    "shot",
    "close-up",
    "closeup",
    "half",
    "way",
    "area",
    "kind",
    "type",
    "bottom",
    "background",
    "corner",
    "row",
    "line",
    "variety",
    "number",
    "dozen",
    "bunches",
    "close",
    "something",
    "thing",
    "things",
];

/// Nouns that only say who is in the picture. They drive no recommendation, and storing
/// them would amount to guessing demographics. Roles and life stages that do signal
/// interests (baby, bride, chef, surfer, skier, player) are not here.
pub const PERSON_NOUNS: &[&str] = &[
    "man",
    "woman",
    "person",
    "people",
    "boy",
    "girl",
    "child",
    "children",
    "kid",
    "guy",
    "lady",
    "gentleman",
    "adult",
    "men",
    "women",
    "family",
    "friend",
    "crowd",
    "someone",
    "somebody",
    "individual",
    "he",
    "she",
];

/// Nouns that only say what lies in the background.
pub const BACKGROUND_NOUNS: &[&str] = &[
    "sky", "grass", "ground", "street", "wall", "road", "field", "floor", "air", "day", "night",
    "dirt", "sun", "daytime", "middle", "distance", "water",
];

/// Compounds WordNet 3.0 lacks that captions use (WordNet's own compounds are also kept).
pub const EXTRA_COMPOUNDS: &[&str] = &[
    "window sill",
    "ceiling fan",
    "potted plant",
    "high chair",
    "flower pot",
    "water bottle",
    "cell phone",
    "stop sign",
    "wine glass",
    "pizza box",
    "stuffed animal",
    "motor bike",
    "skate park",
    "surf board",
    "bath tub",
    "tooth brush",
    "flat screen tv",
    "tv stand",
    "dirt bike",
    "ski pole",
    "bike rack",
    "train track",
    "street light",
    "computer desk",
    "office chair",
    "kitchen counter",
    "kitchen sink",
    "bathroom sink",
    "cake stand",
    "double decker bus",
    "city bus",
    "school bus",
    "passenger jet",
    "kite surfer",
    "video game",
    "game controller",
    "wii remote",
    "wii controller",
    "tennis racquet",
    "baseball game",
    "tennis match",
    "soccer game",
    "frisbee game",
    "birthday cake",
    "wedding cake",
    "hot tub",
    "dog bed",
    "cat food",
    "bed room",
    "toilet bowl",
    "fruit stand",
    "vegetable stand",
    "computer keyboard",
    "computer screen",
    "laptop screen",
    "cutting board",
    "snow board",
    "ski resort",
    "ski lodge",
    "parking lot",
    "bus station",
    "stuffed bear",
    "stuffed animals",
];

/// Nouns whose plural is a different thing, or that have no singular: kept as written.
pub const PLURAL_ONLY: &[&str] = &[
    "glasses",
    "sunglasses",
    "eyeglasses",
    "goggles",
    "binoculars",
    "scissors",
    "pliers",
    "tongs",
    "tweezers",
    "jeans",
    "pants",
    "trousers",
    "shorts",
    "leggings",
    "tights",
    "pajamas",
    "overalls",
    "suspenders",
    "clothes",
    "headphones",
    "earphones",
    "earbuds",
    "people",
    "police",
    "cattle",
    "species",
    "series",
    "news",
    "goods",
    "belongings",
    "surroundings",
    "electronics",
    "sheep",
    "deer",
    "fish",
    "moose",
    "french fries",
    "stairs",
];

/// Tags before an `-ing` word that make it a noun ("a building", "the frosting").
const DETERMINER_LIKE: &[&str] = &[
    "DT", "PDT", "PRP$", "POS", "JJ", "JJR", "JJS", "IN", "CD", "CC", "TO", "WDT", "",
];

/// Adjectives that describe rather than name: they never start a compound ("a brown bear"
/// is a bear, "a young man" a man) and are adjectives before a noun ("the blue sky").
const COLOUR_SIZE: &[&str] = &[
    "red", "white", "black", "brown", "blue", "green", "yellow", "orange", "pink", "purple",
    "gray", "grey", "silver", "gold", "golden", "young", "old", "little", "small", "large", "big",
    "tall", "giant", "huge", "tiny", "long", "short", "new", "empty", "full", "dark", "bright",
    "colorful", "wooden", "metal", "plastic", "clean", "dirty", "sunny", "snowy", "grassy",
];

/// Verbs whose past participle is spelled like the noun ("a sandwich cut in half").
const SAME_FORM_PARTICIPLES: &[&str] = &["cut", "set", "put", "spread", "split", "shut", "hit"];

/// Words that never start a compound: WordNet's "brown bear", "young man" or "red fire" are
/// a bear, a man and not a fire hydrant in a caption. ("orange" may: "orange juice".)
fn not_compound_start(word: &str) -> bool {
    word != "orange" && COLOUR_SIZE.contains(&word)
}

/// How nouns are extracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Lemmas, whole compounds, no filler, lowercase, each interest once (the default).
    Interests,
    /// Exactly what `[w for (w, pos) in TextBlob(text).pos_tags if pos[0] == 'N']` gives:
    /// surface forms, in order, with repeats. Exact with NLTK's own tagger model
    /// ([`PerceptronTagger::from_nltk_json`]); with the embedded model it is the same
    /// algorithm with textblob-aptagger's weights.
    TextBlob,
}

impl std::str::FromStr for Mode {
    type Err = crate::Error;

    /// `"interests"` or `"textblob"`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "interests" => Ok(Mode::Interests),
            "textblob" => Ok(Mode::TextBlob),
            other => Err(crate::Error::InvalidInput(format!(
                "unknown extraction mode {other:?}: expected \"interests\" or \"textblob\""
            ))),
        }
    }
}

/// One tagged token, as TextBlob's `pos_tags` lists it (punctuation dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedWord {
    /// The token.
    pub word: String,
    /// Its Penn Treebank tag.
    pub tag: &'static str,
    /// Byte span in the text, when the token appears there verbatim.
    pub span: Option<(usize, usize)>,
}

/// One extracted noun or interest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Noun {
    /// The interest: a lowercase lemma or compound ("giraffe", "teddy bear"); in TextBlob
    /// mode, the token as written.
    pub term: String,
    /// The words as written in the text ("Teddy Bears").
    pub surface: String,
    /// Byte span of `surface` in the text, when it appears there verbatim.
    pub span: Option<(usize, usize)>,
}

fn cached_nltk_tagger(dir: &std::path::Path) -> Result<Arc<PerceptronTagger>> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<PerceptronTagger>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    if let Some(t) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(t.clone());
    }
    let tagger = Arc::new(PerceptronTagger::from_nltk_json(dir)?);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, tagger.clone());
    Ok(tagger)
}

struct Shared {
    tagger: Arc<PerceptronTagger>,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| Shared {
        tagger: Arc::new(PerceptronTagger::embedded()),
    })
}

/// Extracts nouns from captions: the interests of the user who liked or uploaded the image.
///
/// The default mode ([`Mode::Interests`]) tags the caption with the embedded
/// averaged-perceptron tagger, corrects it where WordNet knows better, joins compounds
/// ("teddy bear", "fire hydrant"), lemmatises ("giraffes" → "giraffe", "knives" → "knife",
/// "glasses" stays), and drops structural, person and background nouns (see
/// [`STRUCTURAL_NOUNS`], [`PERSON_NOUNS`], [`BACKGROUND_NOUNS`]; override with
/// [`NounExtractor::with_stoplist`]).
///
/// ```
/// use sociallens::interests::NounExtractor;
/// let ex = NounExtractor::default();
/// let terms = ex.terms("a man holding a cell phone holding a cell phone next to two giraffes");
/// assert_eq!(terms, ["cell phone", "giraffe"]);
///
/// let blob = NounExtractor::textblob();
/// assert_eq!(blob.terms("a man riding a wave on top of a surfboard"), ["man", "wave", "top", "surfboard"]);
/// ```
#[derive(Clone)]
pub struct NounExtractor {
    mode: Mode,
    tagger: Arc<PerceptronTagger>,
    wordnet: &'static WordNet,
    stoplist: Arc<HashSet<String>>,
    compounds: Arc<HashSet<String>>,
}

impl std::fmt::Debug for NounExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NounExtractor")
            .field("mode", &self.mode)
            .field("stoplist", &self.stoplist.len())
            .finish()
    }
}

impl Default for NounExtractor {
    fn default() -> Self {
        Self::interests()
    }
}

/// The default stoplist: structural, person and background nouns.
pub fn default_stoplist() -> HashSet<String> {
    STRUCTURAL_NOUNS
        .iter()
        .chain(PERSON_NOUNS)
        .chain(BACKGROUND_NOUNS)
        .map(|s| s.to_string())
        .collect()
}

/// Lowercases and removes the accents of Latin letters, for WordNet look-ups.
fn fold(word: &str) -> String {
    if word
        .bytes()
        .all(|b| b.is_ascii_lowercase() || !b.is_ascii_alphabetic() && b.is_ascii())
    {
        return word.to_string();
    }
    word.to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            other => other,
        })
        .collect()
}

fn is_noun_tag(tag: &str) -> bool {
    tag.starts_with('N')
}

/// TextBlob drops tokens whose tag starts with an ASCII punctuation character.
fn is_punct_tag(tag: &str) -> bool {
    tag.chars().next().is_some_and(|c| c.is_ascii_punctuation())
}

/// Tags a compound modifier may carry ("hot" JJ, "cutting" VBG, "tennis" NN).
fn can_modify(tag: &str) -> bool {
    tag.starts_with('N') || tag.starts_with('J') || tag == "VBG" || tag == "VBN" || tag == "VB"
}

impl NounExtractor {
    /// The default mode: interests (lemmas, compounds, no filler).
    pub fn interests() -> Self {
        Self {
            mode: Mode::Interests,
            tagger: shared().tagger.clone(),
            wordnet: WordNet::embedded(),
            stoplist: Arc::new(default_stoplist()),
            compounds: Arc::new(EXTRA_COMPOUNDS.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// The prototype's behaviour: TextBlob's nouns, surface forms, repeats kept.
    pub fn textblob() -> Self {
        Self {
            mode: Mode::TextBlob,
            ..Self::interests()
        }
    }

    /// An extractor for a mode name (`"interests"` or `"textblob"`), optionally with NLTK's
    /// tagger model exported as JSON (see [`PerceptronTagger::from_nltk_json`]); models read
    /// from a folder are cached for the life of the process. This is what the Python and Node
    /// bindings call.
    pub fn for_mode(mode: &str, nltk_model_dir: Option<&std::path::Path>) -> Result<Self> {
        let mode: Mode = mode.parse()?;
        let mut ex = match mode {
            Mode::Interests => Self::interests(),
            Mode::TextBlob => Self::textblob(),
        };
        if let Some(dir) = nltk_model_dir {
            ex = ex.with_tagger(cached_nltk_tagger(dir)?);
        }
        Ok(ex)
    }

    /// Uses another tagger model (for example NLTK's, for exact TextBlob parity).
    pub fn with_tagger(mut self, tagger: Arc<PerceptronTagger>) -> Self {
        self.tagger = tagger;
        self
    }

    /// Replaces the stoplist (lowercase lemmas never returned as interests).
    pub fn with_stoplist<I, S>(mut self, words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stoplist = Arc::new(words.into_iter().map(Into::into).collect());
        self
    }

    /// Adds compounds to keep whole, beyond WordNet's and [`EXTRA_COMPOUNDS`].
    pub fn with_compounds<I, S>(mut self, compounds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = (*self.compounds).clone();
        set.extend(compounds.into_iter().map(|s| s.into().to_lowercase()));
        self.compounds = Arc::new(set);
        self
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The stoplist in use.
    pub fn stoplist(&self) -> &HashSet<String> {
        &self.stoplist
    }

    /// Part-of-speech tags as TextBlob's `pos_tags` gives them: sentence by sentence,
    /// punctuation tokens dropped after tagging.
    pub fn pos_tags(&self, text: &str) -> Vec<TaggedWord> {
        let mut out = Vec::new();
        for (s, e) in sentences(text) {
            let tokens = word_tokenize(&text[s..e]);
            let words: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
            work::add(words.iter().map(|w| w.len() + 1).sum());
            let tags = self.tagger.tag(&words);
            for (t, tag) in tokens.into_iter().zip(tags) {
                if !is_punct_tag(tag) {
                    out.push(TaggedWord {
                        span: t.span.map(|(a, b)| (a + s, b + s)),
                        word: t.text,
                        tag,
                    });
                }
            }
        }
        out
    }

    /// The nouns (or interests) of one text.
    pub fn extract(&self, text: &str) -> Vec<Noun> {
        match self.mode {
            Mode::TextBlob => self
                .pos_tags(text)
                .into_iter()
                .filter(|t| is_noun_tag(t.tag))
                .map(|t| Noun {
                    term: t.word.clone(),
                    surface: t.word,
                    span: t.span,
                })
                .collect(),
            Mode::Interests => self.interests_of(text, true),
        }
    }

    /// Only the terms of [`extract`](Self::extract).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let nouns = match self.mode {
            Mode::Interests => self.interests_of(text, false),
            Mode::TextBlob => self.extract(text),
        };
        nouns.into_iter().map(|n| n.term).collect()
    }

    /// Many texts at once, spread over the machine's cores when the batch is large enough to
    /// be worth it; results in input order. The thread count is rayon's, so that
    /// `RAYON_NUM_THREADS` (which a Spark task sets from `spark.task.cpus`) bounds it.
    pub fn extract_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Vec<String>> {
        const MIN_PER_THREAD: usize = 256;
        let threads = rayon::current_num_threads()
            .min(texts.len() / MIN_PER_THREAD)
            .max(1);
        if threads == 1 {
            return texts.iter().map(|t| self.terms(t.as_ref())).collect();
        }
        let chunk = texts.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = texts
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|t| self.terms(t.as_ref()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }

    fn is_compound(&self, phrase: &str) -> bool {
        self.wordnet.is_noun(phrase) || self.compounds.contains(phrase)
    }

    /// The interest term of a noun (or of a compound ending in it): its singular when the
    /// tagger says it is plural, the word itself otherwise.
    fn lemma(&self, lower: &str, tag: &str) -> String {
        if tag == "NNS" || tag == "NNPS" {
            let keep = |w: &str| {
                PLURAL_ONLY.contains(&w) || PLURAL_ONLY.contains(&w.rsplit(' ').next().unwrap_or(w))
            };
            if let Some(s) = self.wordnet.singular(lower, &keep) {
                return s;
            }
        } else if let Some(base) = self.wordnet.lemma(lower) {
            // Irregular plurals the tagger calls singular ("people", "mice").
            return base;
        }
        lower.to_string()
    }

    /// The longest compound starting at `i` (up to three words, ending in a noun), with the
    /// term it stands for.
    fn compound_at(
        &self,
        words: &[TaggedWord],
        lower: &[String],
        i: usize,
    ) -> Option<(usize, String)> {
        if !can_modify(words[i].tag) || not_compound_start(&lower[i]) {
            return None;
        }
        // A compound ends in a noun one or two words on.
        let noun_at = |k: usize| words.get(k).is_some_and(|w| is_noun_tag(w.tag));
        if !noun_at(i + 1) && !noun_at(i + 2) {
            return None;
        }
        for len in [3usize, 2] {
            let end = i + len - 1;
            if end >= words.len() || !is_noun_tag(words[end].tag) {
                continue;
            }
            let parts_ok = (i..end).all(|k| {
                can_modify(words[k].tag) && lower[k].chars().all(|c| c.is_alphabetic() || c == '-')
            });
            if !parts_ok {
                continue;
            }
            let modifiers = lower[i..end].join(" ");
            let head = self.lemma(&lower[end], words[end].tag);
            let as_lemma = format!("{modifiers} {head}");
            if self.is_compound(&as_lemma) {
                return Some((end, as_lemma));
            }
            let as_written = format!("{modifiers} {}", lower[end]);
            if self.is_compound(&as_written) {
                return Some((end, as_written));
            }
            // "wine glasses" is the plural of "wine glass" even though "glasses" alone stays.
            if let Some(single) = self.wordnet.singular(&lower[end], &|_| false) {
                let as_singular = format!("{modifiers} {single}");
                if self.is_compound(&as_singular) {
                    return Some((end, as_singular));
                }
            }
        }
        None
    }

    /// [`pos_tags`](Self::pos_tags) with the default mode's corrections applied (what it
    /// considers a noun); in TextBlob mode, the tags unchanged.
    pub fn corrected_tags(&self, text: &str) -> Vec<TaggedWord> {
        let mut words = self.pos_tags(text);
        if self.mode == Mode::Interests {
            let folded: Vec<String> = words.iter().map(|w| fold(&w.word)).collect();
            self.correct_tags(&mut words, &folded);
        }
        words
    }

    fn interests_of(&self, text: &str, with_surface: bool) -> Vec<Noun> {
        let mut words = self.pos_tags(text);
        // WordNet is unaccented: look words up folded ("café" → "cafe"), but return them as
        // written unless lemmatisation changed them.
        let folded: Vec<String> = words.iter().map(|w| fold(&w.word)).collect();
        let accented = !text.is_ascii();
        let lower: Vec<String> = if accented {
            words.iter().map(|w| w.word.to_lowercase()).collect()
        } else {
            Vec::new()
        };
        let lower = |i: usize| if accented { &lower[i] } else { &folded[i] };
        self.correct_tags(&mut words, &folded);
        work::add(words.len());
        let mut out: Vec<Noun> = Vec::new();
        // The standard hasher: these terms come from the caller's text, and a fixed hash
        // would let crafted words collide.
        let mut seen: HashSet<String> = HashSet::new();
        let mut i = 0;
        while i < words.len() {
            let (end, term) = match self.compound_at(&words, &folded, i) {
                Some(found) => found,
                None if is_noun_tag(words[i].tag) && lower(i).chars().any(char::is_alphabetic) => {
                    (i, self.lemma(&folded[i], words[i].tag))
                }

                None => {
                    i += 1;
                    continue;
                }
            };
            let first = i;
            i = end + 1;
            let term = if accented {
                let written = (first..=end)
                    .map(lower)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ");
                if fold(&written) == term {
                    written
                } else {
                    term
                }
            } else {
                term
            };
            if self.stoplist.contains(&term) || !seen.insert(term.clone()) {
                continue;
            }
            let span = match (words[first].span, words[end].span) {
                (Some((s, _)), Some((_, e))) => Some((s, e)),
                _ => None,
            };
            let surface = match span {
                _ if !with_surface => String::new(),
                Some((s, e)) => text[s..e].to_string(),
                None => words[first..=end]
                    .iter()
                    .map(|w| w.word.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            out.push(Noun {
                term,
                surface,
                span,
            });
        }
        out
    }

    /// Where WordNet and the caption's shape know better than the tagger.
    fn correct_tags(&self, words: &mut [TaggedWord], lower: &[String]) {
        let wn = self.wordnet;
        let n = words.len();
        for i in 0..n {
            let w = lower[i].as_str();
            let tag = words[i].tag;
            let prev = if i > 0 { words[i - 1].tag } else { "" };
            let next = words.get(i + 1).map_or("", |t| t.tag);
            let alphabetic = w.chars().all(char::is_alphabetic);
            let open_class = tag.starts_with('J') || tag.starts_with('V') || tag.starts_with('R');
            // Only -ing/-ed words can be verb forms; the check allocates, so do it lazily.
            let verb_form = (w.ends_with("ing") || w.ends_with("ed")) && wn.is_verb_form(w);
            let new_tag: Option<&str> =
                if w == "close" && lower.get(i + 1).is_some_and(|x| x == "up") {
                    // "a close up of ...": an adverb, not the noun "close".
                    Some("RB")
                } else if w.ends_with("ing")
                    && verb_form
                    && is_noun_tag(tag)
                    && !DETERMINER_LIKE.contains(&prev)
                {
                    // "a man riding a wave", "a soldier standing next to": a verb after its subject.
                    (!(next.starts_with('N') && self.is_compound(&format!("{w} {}", lower[i + 1]))))
                        .then_some("VBG")
                } else if open_class && !verb_form && wn.only_noun(w) {
                    // "teddy" in "teddy bear": WordNet has it only as a noun.
                    Some("NN")
                } else if open_class && !verb_form && alphabetic && !wn.is_noun(w) {
                    match wn.singular(w, &|_| false) {
                        Some(base) if base != w && wn.only_noun(&base) => Some("NNS"),
                        _ => None,
                    }
                } else {
                    None
                };
            if let Some(t) = new_tag {
                words[i].tag = t;
                continue;
            }
            let next_is_noun = next.starts_with('N');
            if is_noun_tag(tag) && wn.never_noun(w) {
                words[i].tag = "JJ";
            } else if tag == "NN"
                && (next_is_noun || next == "CC")
                && wn.is_adjective(w)
                && COLOUR_SIZE.contains(&w)
            {
                // "the blue sky", "an orange cat", "a black and white photo": adjectives.
                words[i].tag = "JJ";
            } else if tag == "VB"
                && prev == "TO"
                && i >= 2
                && lower[i - 2] == "next"
                && wn.is_noun(w)
            {
                // "next to bread": a place, not an infinitive.
                words[i].tag = "NN";
            } else if tag == "NN"
                && SAME_FORM_PARTICIPLES.contains(&w)
                && is_noun_tag(prev)
                && next == "IN"
            {
                // "a sandwich cut in half": a participle after its noun.
                words[i].tag = "VBN";
            } else if (tag == "VB" || tag == "VBP")
                && prev == "CC"
                && i >= 2
                && is_noun_tag(words[i - 2].tag)
                && wn.is_noun(w)
            {
                // "a suit and tie", "onions and relish": the second of two nouns.
                words[i].tag = "NN";
            } else if tag.starts_with('J')
                && (prev == "DT" || prev == "PRP$")
                && !next_is_noun
                && (!next.starts_with('J') || lower.get(i + 1).is_some_and(|x| x == "next"))
                && !wn.is_adjective(w)
                && wn.is_noun(w)
                && !verb_form
            {
                // "on a pole next to": an adjective with nothing to describe is a noun.
                words[i].tag = "NN";
            } else if tag.starts_with('J')
                && next_is_noun
                && alphabetic
                && !wn.is_adjective(w)
                && !verb_form
                && (wn.is_noun(w) || !wn.never_noun(w))
                && !w.ends_with("ed")
                && !w.ends_with("ing")
                && !w.ends_with("ous")
                && !w.ends_with("ful")
            {
                // "a tree branch", "a nintendo controller": a noun modifying a noun.
                words[i].tag = "NN";
            }
        }
    }
}

impl InterestExtractor for NounExtractor {
    fn extract(&self, caption: &str) -> Result<Vec<String>> {
        Ok(self.terms(caption))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `unit` repeated to about `bytes` bytes.
    fn fill(unit: &str, bytes: usize) -> String {
        unit.repeat(bytes.div_ceil(unit.len()))
    }

    /// Texts of one shape at 128 KiB and 1 MiB: shapes that stress each pass of the
    /// extractor (sentence splitting, the tokenizer's rules and alignment, tagging).
    fn shapes(bytes: usize) -> Vec<(&'static str, String)> {
        let half = bytes / 2;
        vec![
            (
                "plain prose",
                fill("a dog catching a frisbee in a park ", bytes),
            ),
            ("many sentences", fill("A man, riding a wave. ", bytes)),
            ("one long sentence", fill("a dog, a cat; the bird ", bytes)),
            ("spaces then quotes", " ".repeat(half) + &"\"".repeat(half)),
            ("one long word", "a".repeat(bytes)),
            ("dots without spaces", fill("a.", bytes)),
            ("apostrophes", fill("'x o'clock ", bytes)),
            ("numbers that continue", fill("1. a ", bytes)),
            ("accents", fill("un café près du pont ", bytes)),
        ]
    }

    #[test]
    fn extraction_of_a_megabyte_is_linear() {
        let ex = NounExtractor::default();
        let (small, large) = (shapes(128 * 1024), shapes(1024 * 1024));
        for ((name, s), (_, l)) in small.iter().zip(&large) {
            work::take();
            let few = ex.extract(s).len();
            let w1 = work::take();
            let many = ex.extract(l).len();
            let w8 = work::take();
            assert!(w1 >= s.len() as u64, "{name}: the counter counts ({w1})");
            // 8x the text, about 8x the work; a pass that rescans would do about 64x.
            assert!(
                w8 <= 10 * w1,
                "{name}: 8x the text took {w8} units against {w1}"
            );
            assert!(many >= few, "{name}");
        }
    }
}
