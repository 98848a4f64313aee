//! Recommendations: language models behind the [`Llm`] trait (any OpenAI-compatible server
//! through [`OpenAiCompatible`]), sentence embeddings behind the [`Embedder`] trait, the
//! platform's [`CatalogItem`]s, and product recommendations that explain themselves.

pub(crate) mod catalog;
mod embed;
mod ideas;
mod llm;
mod minilm;
mod openai;
mod rank;

pub use catalog::CatalogItem;
pub use embed::{cosine, Embedder};
pub use ideas::{ideas_schema, parse_comma_list, parse_ideas, product_ideas, ProductIdea};
pub use llm::{
    CachingLlm, ChatRequest, ChatResponse, FinishReason, JsonSchema, Llm, Message, Role,
};
pub use minilm::{MiniLmEmbedder, MAX_TOKENS as MINILM_MAX_TOKENS};
pub use openai::{OpenAiCompatible, Secret};
pub(crate) use rank::{ground, rank, Semantic};
pub use rank::{Recommendation, Source};
