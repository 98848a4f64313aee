//! The platform's catalog of products: what recommendations are grounded in.

use crate::error::{Error, Result};
use crate::store::{CatalogRecord, ItemKind};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// A product of the platform's catalog.
///
/// ```
/// use sociallens::recommend::CatalogItem;
/// let item = CatalogItem::new("sku-1", "Surfboard wax")
///     .category("surf")
///     .keywords(["surfboard", "wax"]);
/// assert_eq!(item.keywords, ["surfboard", "wax"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    /// Unique id.
    pub id: String,
    /// Title shown to users.
    pub title: String,
    /// Longer description.
    #[serde(default)]
    pub description: String,
    /// Category ("surf", "kitchen").
    #[serde(default)]
    pub category: Option<String>,
    /// Keywords that say what it is for ("surfboard", "beach").
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Price, in the platform's currency.
    #[serde(default)]
    pub price: Option<f64>,
    /// Product page.
    #[serde(default)]
    pub url: Option<String>,
    /// Picture.
    #[serde(default)]
    pub image_url: Option<String>,
}

impl CatalogItem {
    /// An item with an id and a title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            category: None,
            keywords: Vec::new(),
            price: None,
            url: None,
            image_url: None,
        }
    }

    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    /// Sets the category.
    pub fn category(mut self, c: impl Into<String>) -> Self {
        self.category = Some(c.into());
        self
    }

    /// Sets the keywords.
    pub fn keywords<I, S>(mut self, k: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keywords = k.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the price.
    pub fn price(mut self, p: f64) -> Self {
        self.price = Some(p);
        self
    }

    /// Checks the item and normalises keywords (trimmed, lowercase, no empties).
    pub fn validate(mut self) -> Result<Self> {
        self.id = self.id.trim().to_string();
        self.title = self.title.trim().to_string();
        if self.id.is_empty() || self.id.len() > crate::MAX_ID_BYTES {
            return Err(Error::invalid(format!(
                "catalog item id {:?} is empty or too long",
                self.id
            )));
        }
        if self.title.is_empty() {
            return Err(Error::invalid(format!(
                "catalog item {} has no title",
                self.id
            )));
        }
        if let Some(p) = self.price {
            if !p.is_finite() || p < 0.0 {
                return Err(Error::invalid(format!(
                    "catalog item {} has price {p}",
                    self.id
                )));
            }
        }
        self.keywords = self
            .keywords
            .iter()
            .map(|k| k.trim().to_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        self.category = self
            .category
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        Ok(self)
    }

    /// The text an embedding model reads for this item.
    pub fn embedding_text(&self) -> String {
        let mut t = self.title.clone();
        if let Some(c) = &self.category {
            t.push_str(". ");
            t.push_str(c);
        }
        if !self.keywords.is_empty() {
            t.push_str(". ");
            t.push_str(&self.keywords.join(", "));
        }
        if !self.description.is_empty() {
            t.push_str(". ");
            t.push_str(&self.description);
        }
        t
    }

    pub(crate) fn to_record(&self, now: Timestamp) -> Result<CatalogRecord> {
        Ok(CatalogRecord {
            kind: ItemKind::Product,
            id: self.id.clone(),
            category: self.category.clone(),
            body: serde_json::to_value(self)?,
            updated_at: now,
        })
    }

    pub(crate) fn from_record(r: &CatalogRecord) -> Result<Self> {
        Ok(serde_json::from_value(r.body.clone())?)
    }

    /// Reads items from JSON Lines: one object per line with the fields of this type
    /// (`keywords` a list or a comma-separated string). Blank lines are skipped; errors name
    /// the line.
    pub fn from_jsonl(reader: impl Read) -> Result<Vec<Self>> {
        let mut text = String::new();
        std::io::BufReader::new(reader)
            .read_to_string(&mut text)
            .map_err(|e| Error::invalid(format!("cannot read catalog: {e}")))?;
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| Error::invalid(format!("catalog line {}: {e}", n + 1)))?;
            if let Some(k) = v.get("keywords").and_then(|k| k.as_str()).map(String::from) {
                v["keywords"] = serde_json::json!(split_keywords(&k));
            }
            let item: Self = serde_json::from_value(v)
                .map_err(|e| Error::invalid(format!("catalog line {}: {e}", n + 1)))?;
            out.push(
                item.validate()
                    .map_err(|e| Error::invalid(format!("catalog line {}: {e}", n + 1)))?,
            );
        }
        Ok(out)
    }

    /// Reads items from CSV with a header row: `id,title` required, `description`,
    /// `category`, `keywords` (separated by `;`, `|` or `,`), `price`, `url`, `image_url`
    /// optional.
    pub fn from_csv(reader: impl Read) -> Result<Vec<Self>> {
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| Error::invalid(format!("catalog CSV header: {e}")))?
            .iter()
            .map(|h| h.trim().to_lowercase())
            .collect();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let (id, title) = match (col("id"), col("title")) {
            (Some(i), Some(t)) => (i, t),
            _ => return Err(Error::invalid("catalog CSV needs id and title columns")),
        };
        let mut out = Vec::new();
        for (n, rec) in rdr.records().enumerate() {
            let line = n + 2;
            let rec = rec.map_err(|e| Error::invalid(format!("catalog CSV line {line}: {e}")))?;
            let get = |c: Option<usize>| {
                c.and_then(|i| rec.get(i))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
            };
            let price = match get(col("price")) {
                Some(p) => Some(p.parse::<f64>().map_err(|_| {
                    Error::invalid(format!(
                        "catalog CSV line {line}: price {p:?} is not a number"
                    ))
                })?),
                None => None,
            };
            let item = Self {
                id: get(Some(id)).unwrap_or_default(),
                title: get(Some(title)).unwrap_or_default(),
                description: get(col("description")).unwrap_or_default(),
                category: get(col("category")),
                keywords: get(col("keywords"))
                    .map(|k| split_keywords(&k))
                    .unwrap_or_default(),
                price,
                url: get(col("url")),
                image_url: get(col("image_url")),
            };
            out.push(
                item.validate()
                    .map_err(|e| Error::invalid(format!("catalog CSV line {line}: {e}")))?,
            );
        }
        Ok(out)
    }

    /// Reads a `.jsonl`/`.ndjson` or `.csv` file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Vec<Self>> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::invalid(format!("cannot open catalog {}: {e}", path.display())))?;
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase)
            .as_deref()
        {
            Some("jsonl") | Some("ndjson") | Some("json") => Self::from_jsonl(file),
            Some("csv") => Self::from_csv(file),
            _ => Err(Error::invalid(format!(
                "catalog {} must end in .jsonl, .ndjson or .csv",
                path.display()
            ))),
        }
    }
}

fn split_keywords(s: &str) -> Vec<String> {
    s.split([';', '|', ','])
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect()
}
