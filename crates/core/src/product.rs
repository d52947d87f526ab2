//! The catalogue (R-CAT-1): products with a stable key, a daily rate, per-result rates, an
//! idle-awareness flag and downloadable items.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::DomainError;
use crate::limits::{
    MAX_DOWNLOAD_ITEMS, MAX_ITEM_FIELD_LEN, MAX_KEY_LEN, MAX_RESULT_RATES, MAX_URL_LEN,
};
use crate::team::parse_display_name;
use crate::tokens::Tokens;

/// A product's stable key, such as `autocad` or `revit-lt`: lowercase ASCII letters and digits,
/// with `-`, `_` or `.` inside, starting with a letter or digit, at most 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductKey(String);

/// A kind of per-result charge, such as `render.cloud`. Same grammar as a product key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResultType(String);

fn parse_key(
    raw: &str,
    what: &str,
    code: fn(String) -> DomainError,
) -> Result<String, DomainError> {
    let expected = format!(
        "a {what} is 1 to {MAX_KEY_LEN} lowercase letters, digits, '-', '_' or '.', starting with a letter or digit (like \"autocad\" or \"render.cloud\")"
    );
    let ok_first = raw
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok_rest = raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
    if raw.len() > MAX_KEY_LEN || !ok_first || !ok_rest {
        let shown: String = raw.chars().take(MAX_KEY_LEN + 1).collect();
        return Err(code(format!("{shown:?} is not valid: {expected}")));
    }
    Ok(raw.to_owned())
}

impl ProductKey {
    pub fn parse(raw: &str) -> Result<ProductKey, DomainError> {
        parse_key(raw, "product key", |detail| {
            DomainError::InvalidProductKey { detail }
        })
        .map(ProductKey)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ResultType {
    pub fn parse(raw: &str) -> Result<ResultType, DomainError> {
        parse_key(raw, "result type", |detail| DomainError::InvalidRate {
            detail,
        })
        .map(ResultType)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ResultType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(raw: &str) -> Result<ProductName, DomainError> {
        parse_display_name(raw, "product name").map(ProductName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A downloadable installer: version, platform and an http(s) link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadItem {
    pub version: String,
    pub platform: String,
    pub url: String,
}

impl DownloadItem {
    pub fn parse(version: &str, platform: &str, url: &str) -> Result<DownloadItem, DomainError> {
        let field = |value: &str, what: &str| -> Result<String, DomainError> {
            let v = value.trim();
            if v.is_empty() || v.len() > MAX_ITEM_FIELD_LEN || v.chars().any(char::is_control) {
                return Err(DomainError::InvalidItem {
                    detail: format!(
                        "a download item's {what} must be 1 to {MAX_ITEM_FIELD_LEN} characters without line breaks"
                    ),
                });
            }
            Ok(v.to_owned())
        };
        let url = url.trim();
        let has_scheme = url.starts_with("https://") || url.starts_with("http://");
        if !has_scheme
            || url.len() > MAX_URL_LEN
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(DomainError::InvalidItem {
                detail: format!(
                    "a download link must be an http:// or https:// address of at most {MAX_URL_LEN} characters without spaces, got {:?}",
                    url.chars().take(80).collect::<String>()
                ),
            });
        }
        Ok(DownloadItem {
            version: field(version, "version")?,
            platform: field(platform, "platform")?,
            url: url.to_owned(),
        })
    }
}

pub fn parse_result_rates<'a>(
    raw: impl IntoIterator<Item = (&'a str, i64)>,
) -> Result<BTreeMap<ResultType, Tokens>, DomainError> {
    let mut rates = BTreeMap::new();
    for (kind, rate) in raw {
        if rates.len() == MAX_RESULT_RATES {
            return Err(DomainError::InvalidRate {
                detail: format!("a product has at most {MAX_RESULT_RATES} per-result rates"),
            });
        }
        rates.insert(ResultType::parse(kind)?, Tokens::parse_rate(rate)?);
    }
    Ok(rates)
}

pub fn check_item_count(n: usize) -> Result<(), DomainError> {
    if n > MAX_DOWNLOAD_ITEMS {
        return Err(DomainError::InvalidItem {
            detail: format!("a product has at most {MAX_DOWNLOAD_ITEMS} download items"),
        });
    }
    Ok(())
}

/// A new product, every field checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDraft {
    pub key: ProductKey,
    pub name: ProductName,
    pub daily_rate: Tokens,
    pub result_rates: BTreeMap<ResultType, Tokens>,
    pub idle_awareness: bool,
    pub items: Vec<DownloadItem>,
}

/// A change to a product; `None` leaves a field as it is. Rate changes apply to charges made after
/// the change (R-CAT-3): charges record the amount they took, so nothing already charged moves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    pub name: Option<ProductName>,
    pub daily_rate: Option<Tokens>,
    pub result_rates: Option<BTreeMap<ResultType, Tokens>>,
    pub idle_awareness: Option<bool>,
    pub items: Option<Vec<DownloadItem>>,
}

impl ProductPatch {
    pub fn is_empty(&self) -> bool {
        *self == ProductPatch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_cat_1_product_keys_are_stable_lowercase_words() {
        for good in ["autocad", "revit-lt", "3ds_max", "a", "render.cloud"] {
            assert_eq!(ProductKey::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "AutoCAD", "-x", ".x", "a b", "é", &"a".repeat(65)] {
            let err = ProductKey::parse(bad).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidProductKey, "{bad:?}");
            assert!(err.to_string().contains("lowercase"), "{err}");
        }
    }

    #[test]
    fn r_cat_1_result_rates_and_items_are_checked() {
        let rates = parse_result_rates([("render.cloud", 5), ("sim", 0)]).unwrap();
        assert_eq!(rates.len(), 2);
        assert!(parse_result_rates([("render.cloud", -1)]).is_err());
        assert!(parse_result_rates([("Render", 1)]).is_err());
        assert_eq!(
            DownloadItem::parse(" 2027 ", "windows", "https://x.test/a.exe").unwrap(),
            DownloadItem {
                version: "2027".into(),
                platform: "windows".into(),
                url: "https://x.test/a.exe".into(),
            },
            "fields are kept, trimmed"
        );
        for (v, p, u) in [
            ("", "windows", "https://x.test/a"),
            ("2027", "windows", "ftp://x.test/a"),
            ("2027", "windows", "https://x.test/a b"),
        ] {
            assert_eq!(
                DownloadItem::parse(v, p, u).unwrap_err().code(),
                crate::ErrorCode::InvalidItem
            );
        }
    }
}
