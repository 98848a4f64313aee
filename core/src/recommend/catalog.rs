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
        read_jsonl(reader, "catalog", &["keywords"], Self::validate)
    }

    /// Reads items from CSV with a header row: `id,title` required, `description`,
    /// `category`, `keywords` (separated by `;`, `|` or `,`), `price`, `url`, `image_url`
    /// optional.
    pub fn from_csv(reader: impl Read) -> Result<Vec<Self>> {
        let rows = read_csv_rows(reader, "catalog")?;
        let mut out = Vec::with_capacity(rows.len());
        for (line, row) in rows {
            let get = |k: &str| row.get(k).cloned();
            if get("id").is_none() || get("title").is_none() {
                return Err(Error::invalid(format!(
                    "catalog CSV line {line}: id and title are required"
                )));
            }
            let price = match get("price") {
                Some(p) => Some(p.parse::<f64>().map_err(|_| {
                    Error::invalid(format!(
                        "catalog CSV line {line}: price {p:?} is not a number"
                    ))
                })?),
                None => None,
            };
            let item = Self {
                id: get("id").unwrap_or_default(),
                title: get("title").unwrap_or_default(),
                description: get("description").unwrap_or_default(),
                category: get("category"),
                keywords: get("keywords")
                    .map(|k| split_keywords(&k))
                    .unwrap_or_default(),
                price,
                url: get("url"),
                image_url: get("image_url"),
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
        match extension(path).as_deref() {
            Some("jsonl") | Some("ndjson") | Some("json") => Self::from_jsonl(file),
            Some("csv") => Self::from_csv(file),
            _ => Err(Error::invalid(format!(
                "catalog {} must end in .jsonl, .ndjson or .csv",
                path.display()
            ))),
        }
    }
}

/// A file's extension, lowercase.
pub(crate) fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase)
}

/// Reads JSON Lines into `T`s: blank lines skipped, `list_fields` given as strings split
/// into lists, every record validated; errors name the line.
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(
    reader: impl Read,
    what: &str,
    list_fields: &[&str],
    validate: impl Fn(T) -> Result<T>,
) -> Result<Vec<T>> {
    let mut text = String::new();
    std::io::BufReader::new(reader)
        .read_to_string(&mut text)
        .map_err(|e| Error::invalid(format!("cannot read {what}: {e}")))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: &dyn std::fmt::Display| Error::invalid(format!("{what} line {}: {e}", n + 1));
        let mut v: serde_json::Value = serde_json::from_str(line).map_err(|e| at(&e))?;
        for field in list_fields {
            if let Some(k) = v.get(*field).and_then(|k| k.as_str()).map(String::from) {
                v[*field] = serde_json::json!(split_keywords(&k));
            }
        }
        let item: T = serde_json::from_value(v).map_err(|e| at(&e))?;
        out.push(validate(item).map_err(|e| at(&e))?);
    }
    Ok(out)
}

/// Reads CSV with a header row into (line number, lowercase column → trimmed non-empty
/// value) rows.
pub(crate) fn read_csv_rows(
    reader: impl Read,
    what: &str,
) -> Result<Vec<(usize, std::collections::HashMap<String, String>)>> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::invalid(format!("{what} CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut out = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let line = n + 2;
        let rec = rec.map_err(|e| Error::invalid(format!("{what} CSV line {line}: {e}")))?;
        let row = headers
            .iter()
            .zip(rec.iter())
            .map(|(h, v)| (h.clone(), v.trim().to_string()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        out.push((line, row));
    }
    Ok(out)
}

pub(crate) fn split_keywords(s: &str) -> Vec<String> {
    s.split([';', '|', ','])
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect()
}
