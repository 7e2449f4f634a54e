//! The rules of an account (a company): its fields, what values they accept, and how a
//! change applies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    model::{Domain, patch::patch},
    platform::error::FieldError,
    text_enum,
};

text_enum! {
    pub enum AccountStatus {
        Prospect = "prospect",
        Active = "active",
        ClosedWon = "closed_won",
        ClosedLost = "closed_lost",
    }
}

text_enum! {
    /// Head count band.
    pub enum CompanySize {
        S1To10 = "1-10",
        S11To50 = "11-50",
        S51To200 = "51-200",
        S201To500 = "201-500",
        S501To1000 = "501-1000",
        S1001To5000 = "1001-5000",
        S5001Plus = "5001+",
    }
}

/// The writable fields of an account, validated and normalised.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AccountFields {
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<CompanySize>,
    pub annual_revenue_micros: Option<i64>,
    pub location: Option<String>,
    pub fit_score: Option<f64>,
    pub intent_score: Option<f64>,
    pub status: Option<AccountStatus>,
    pub owner_id: Option<Uuid>,
    pub crm_ids: BTreeMap<String, String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// An account to create, or a change to one (PATCH): fields left out stay, `null` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// Required when creating.
    pub name: Option<String>,
    /// The company's web domain; URLs are reduced to the bare domain. Unique in the workspace.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<CompanySize>, nullable)]
    pub company_size: Option<Option<CompanySize>>,
    /// Annual revenue in micro-units of the workspace currency (1 USD = 1000000).
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<i64>, nullable, minimum = 0)]
    pub annual_revenue_micros: Option<Option<i64>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub location: Option<Option<String>>,
    /// 0 to 1.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<f64>, nullable, minimum = 0, maximum = 1)]
    pub fit_score: Option<Option<f64>>,
    /// 0 to 1.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<f64>, nullable, minimum = 0, maximum = 1)]
    pub intent_score: Option<Option<f64>>,
    pub status: Option<AccountStatus>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub owner_id: Option<Option<Uuid>>,
    pub crm_ids: Option<BTreeMap<String, String>>,
    /// Replaces the custom data: a JSON object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

fn text(field: &str, v: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    if v.chars().count() > 255 {
        errors.push(FieldError::new(field, "must be at most 255 characters"));
    }
    Some(v)
}

impl AccountFields {
    pub fn apply(&self, input: AccountInput) -> Result<AccountFields, Vec<FieldError>> {
        let mut e = Vec::new();
        let mut f = self.clone();
        if let Some(name) = input.name {
            f.name = text("name", Some(name), &mut e).unwrap_or_default();
        }
        if f.name.is_empty() {
            e.push(FieldError::new("name", "is required"));
        }
        if let Some(d) = input.domain {
            f.domain = match d.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
                None => None,
                Some(raw) => match Domain::parse(&raw) {
                    Ok(d) => Some(d.as_str().to_owned()),
                    Err(err) => {
                        e.push(FieldError::new("domain", err.0));
                        None
                    }
                },
            };
        }
        if let Some(v) = input.industry {
            f.industry = text("industry", v, &mut e);
        }
        if let Some(v) = input.location {
            f.location = text("location", v, &mut e);
        }
        if let Some(v) = input.company_size {
            f.company_size = v;
        }
        if let Some(v) = input.annual_revenue_micros {
            if v.is_some_and(|r| r < 0) {
                e.push(FieldError::new(
                    "annual_revenue_micros",
                    "must not be negative",
                ));
            }
            f.annual_revenue_micros = v;
        }
        for (name, value, slot) in [
            ("fit_score", input.fit_score, &mut f.fit_score),
            ("intent_score", input.intent_score, &mut f.intent_score),
        ] {
            if let Some(v) = value {
                if v.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
                    e.push(FieldError::new(name, "must be between 0 and 1"));
                }
                *slot = v;
            }
        }
        if let Some(s) = input.status {
            f.status = Some(s);
        }
        if let Some(o) = input.owner_id {
            f.owner_id = o;
        }
        if let Some(ids) = input.crm_ids {
            if let Some((k, _)) = ids
                .iter()
                .find(|(k, v)| k.is_empty() || k.len() > 32 || v.trim().is_empty())
            {
                e.push(FieldError::new(
                    format!("crm_ids.{k}"),
                    "needs a provider name and a non-empty id",
                ));
            }
            f.crm_ids = ids;
        }
        if let Some(m) = input.metadata {
            if m.len() > 100 {
                e.push(FieldError::new("metadata", "at most 100 fields"));
            }
            f.metadata = m;
        }
        if e.is_empty() { Ok(f) } else { Err(e) }
    }

    pub fn search_text(&self) -> String {
        [
            Some(&self.name),
            self.domain.as_ref(),
            self.industry.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|s| s.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// Legal-form words dropped from a company name when matching (`Acme, Inc.` and
/// `ACME GmbH` are both `acme`).
const LEGAL_SUFFIXES: &[&str] = &[
    "ab",
    "ag",
    "as",
    "bv",
    "co",
    "company",
    "corp",
    "corporation",
    "gmbh",
    "inc",
    "incorporated",
    "kg",
    "kk",
    "limited",
    "llc",
    "llp",
    "lp",
    "ltd",
    "nv",
    "oy",
    "plc",
    "pte",
    "pty",
    "sa",
    "sarl",
    "sas",
    "spa",
    "srl",
    "ug",
];

/// The key two company names are matched on: lower-cased, punctuation and legal forms
/// (`Inc`, `LLC`, `GmbH`, `Ltd`, …) and a leading `The` removed. The display name is
/// kept as written; only matching uses this.
pub fn company_key(name: &str) -> String {
    let lowered = name.to_lowercase().replace('&', " and ");
    // Dotted abbreviations (`L.L.C.`, `S.A.`) become one word before splitting.
    let mut words: Vec<String> = lowered
        .split(|c: char| c.is_whitespace() || c == ',' || c == '-' || c == '/')
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    while words.len() > 1
        && words
            .last()
            .is_some_and(|w| LEGAL_SUFFIXES.contains(&w.as_str()) || w == "and")
    {
        words.pop();
    }
    if words.len() > 1 && words.first().is_some_and(|w| w == "the") {
        words.remove(0);
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_names_required() {
        let input: AccountInput = serde_json::from_value(
            serde_json::json!({"name": " Acme ", "domain": "https://www.ACME.com/x"}),
        )
        .expect("in");
        let f = AccountFields::default().apply(input).expect("valid");
        assert_eq!(f.name, "Acme");
        assert_eq!(f.domain.as_deref(), Some("acme.com"));
        let errors = AccountFields::default()
            .apply(AccountInput::default())
            .expect_err("no name");
        assert_eq!(errors[0].field, "name");
    }

    #[test]
    fn scores_and_revenue_are_bounded() {
        let input: AccountInput = serde_json::from_value(serde_json::json!({
            "name": "A", "fit_score": 1.5, "annual_revenue_micros": -1, "domain": "nodot"
        }))
        .expect("in");
        let mut fields: Vec<String> = AccountFields::default()
            .apply(input)
            .expect_err("bad")
            .into_iter()
            .map(|e| e.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["annual_revenue_micros", "domain", "fit_score"]);
    }

    #[test]
    fn company_keys_drop_legal_forms_and_punctuation() {
        assert_eq!(company_key("Acme, Inc."), "acme");
        assert_eq!(company_key("ACME GmbH"), "acme");
        assert_eq!(company_key("Acme Holdings L.L.C."), "acme holdings");
        assert_eq!(company_key("The Acme Company Ltd"), "acme");
        assert_eq!(company_key("Smith & Co."), "smith");
        assert_eq!(company_key("Procter & Gamble Co"), "procter and gamble");
        assert_eq!(
            company_key("Inc"),
            "inc",
            "a name that is only a suffix stays"
        );
        assert_eq!(company_key("Müller Bau AG"), "müller bau");
    }
}
