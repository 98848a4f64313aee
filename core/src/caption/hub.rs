//! Fetching a model directory from the Hugging Face Hub into the shared HF cache.

use super::model::Kernels;
use super::model::WeightFormat;
use super::vit_gpt2::VitGpt2;
use crate::error::{Error, Result};
use crate::redact::{redact_url, redact_urls_in};
use hf_hub::api::sync::{ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Where and how [`VitGpt2::from_hub_with`] fetches a model.
#[derive(Clone, Default)]
pub struct HubOptions {
    /// Branch, tag or commit; `main` when `None`.
    pub revision: Option<String>,
    /// Hub URL; `HF_ENDPOINT` or the public Hub when `None`.
    pub endpoint: Option<String>,
    /// Cache folder (`.../hub`); `$HF_HOME/hub` or `~/.cache/huggingface/hub` when `None`.
    pub cache_dir: Option<PathBuf>,
    /// Use only cached files; `HF_HUB_OFFLINE=1` turns it on too.
    pub offline: bool,
    /// Show a progress bar while downloading (only on a terminal); default true.
    pub progress: Option<bool>,
    /// How the loaded model runs ([`Kernels::Auto`] unless set).
    pub kernels: Kernels,
}

impl std::fmt::Debug for HubOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // An endpoint may carry credentials (`https://user:token@mirror/`).
        f.debug_struct("HubOptions")
            .field("revision", &self.revision)
            .field("endpoint", &self.endpoint.as_deref().map(redact_url))
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("progress", &self.progress)
            .field("kernels", &self.kernels)
            .finish()
    }
}

const REQUIRED: [&str; 2] = ["config.json", "preprocessor_config.json"];
const OPTIONAL: [&str; 2] = ["generation_config.json", "tokenizer_config.json"];

fn env_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

fn is_not_found(e: &ApiError) -> bool {
    matches!(e, ApiError::RequestError(inner) if matches!(**inner, ureq::Error::StatusCode(404)))
}

enum Source {
    Online(Box<ApiRepo>),
    Offline(hf_hub::CacheRepo),
}

impl Source {
    /// `Ok(None)` when the repository has no such file.
    fn fetch(&self, file: &str, repo: &str) -> Result<Option<PathBuf>> {
        match self {
            Source::Online(api) => match api.get(file) {
                Ok(p) => Ok(Some(p)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(Error::Model(redact_urls_in(&format!(
                    "cannot fetch {file} of {repo}: {e}"
                )))),
            },
            Source::Offline(cache) => Ok(cache.get(file)),
        }
    }
}

/// A repository to fetch files from: online through hf-hub (into the shared cache), or the
/// cache alone when offline.
pub(crate) struct Hub {
    source: Source,
    repo_id: String,
    revision: String,
    offline: bool,
}

impl Hub {
    pub(crate) fn open(repo_id: &str, opts: &HubOptions) -> Result<Self> {
        if repo_id.is_empty() || repo_id.contains("..") {
            return Err(Error::invalid(format!(
                "bad model repository id {repo_id:?}"
            )));
        }
        let revision = opts.revision.clone().unwrap_or_else(|| "main".into());
        let repo = Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.clone());
        let offline = opts.offline || env_offline();
        let source = if offline {
            let cache = match &opts.cache_dir {
                Some(dir) => Cache::new(dir.clone()),
                None => Cache::from_env(),
            };
            Source::Offline(cache.repo(repo))
        } else {
            let mut builder = ApiBuilder::from_env()
                .with_progress(opts.progress.unwrap_or(true) && std::io::stderr().is_terminal());
            if let Some(dir) = &opts.cache_dir {
                builder = builder.with_cache_dir(dir.clone());
            }
            if let Some(endpoint) = &opts.endpoint {
                builder = builder.with_endpoint(endpoint.clone());
            }
            let api = builder.build().map_err(|e| {
                Error::Model(redact_urls_in(&format!(
                    "cannot set up the Hub client: {e}"
                )))
            })?;
            Source::Online(Box::new(api.repo(repo)))
        };
        Ok(Self {
            source,
            repo_id: repo_id.to_string(),
            revision,
            offline,
        })
    }

    /// The local path of a file, `None` if the repository has no such file.
    pub(crate) fn fetch(&self, file: &str) -> Result<Option<PathBuf>> {
        self.source.fetch(file, &self.repo_id)
    }

    /// The local path of a file the model cannot do without.
    pub(crate) fn require(&self, file: &str) -> Result<PathBuf> {
        self.fetch(file)?.ok_or_else(|| self.missing(file))
    }

    /// The error for a file the repository (or, offline, the cache) lacks.
    pub(crate) fn missing(&self, file: &str) -> Error {
        Error::Model(if self.offline {
            format!(
                "{file} of {}@{} is not in the cache (offline mode)",
                self.repo_id, self.revision
            )
        } else {
            format!("{}@{} has no {file}", self.repo_id, self.revision)
        })
    }
}

pub(crate) fn load(repo_id: &str, opts: &HubOptions) -> Result<VitGpt2> {
    let hub = Hub::open(repo_id, opts)?;
    let mut dir: Option<PathBuf> = None;
    for file in REQUIRED {
        let path = hub.require(file)?;
        dir.get_or_insert_with(|| path.parent().map(PathBuf::from).unwrap_or_default());
    }
    for file in OPTIONAL {
        hub.fetch(file)?;
    }
    // Repositories saved with only the slow tokenizer carry vocab.json + merges.txt.
    if hub.fetch("tokenizer.json")?.is_none() {
        for file in ["vocab.json", "merges.txt"] {
            hub.require(file)?;
        }
        hub.fetch("special_tokens_map.json")?;
    }
    let mut format = None;
    for f in [WeightFormat::Safetensors, WeightFormat::PytorchBin] {
        if hub.fetch(f.file_name())?.is_some() {
            format = Some(f);
            break;
        }
    }
    let format = format.ok_or_else(|| hub.missing("model.safetensors or pytorch_model.bin"))?;
    let dir = dir.ok_or_else(|| hub.missing("config.json"))?;
    let name = if hub.revision == "main" {
        repo_id.to_string()
    } else {
        format!("{repo_id}@{}", hub.revision)
    };
    VitGpt2::load(&dir, format, name, opts.kernels)
}

#[cfg(test)]
mod tests {
    use super::HubOptions;

    #[test]
    fn debug_hides_endpoint_credentials() {
        let opts = HubOptions {
            endpoint: Some("https://me:hf_T0KEN@mirror.example/".into()),
            ..HubOptions::default()
        };
        let dbg = format!("{opts:?}");
        assert!(!dbg.contains("hf_T0KEN") && !dbg.contains("me:"), "{dbg}");
        assert!(dbg.contains("mirror.example"), "{dbg}");
    }
}
