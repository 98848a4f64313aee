//! Recommendations: language models behind the [`Llm`] trait (any OpenAI-compatible server
//! through [`OpenAiCompatible`]), and product ideas from a user's interests.

mod ideas;
mod llm;
mod openai;

pub use ideas::{ideas_schema, parse_comma_list, parse_ideas, product_ideas, ProductIdea};
pub use llm::{
    CachingLlm, ChatRequest, ChatResponse, FinishReason, JsonSchema, Llm, Message, Role,
};
pub use openai::{OpenAiCompatible, Secret};
