//! The rules of a contact: its fields, what values they accept, and how a change applies.
//! Pure: the same rules serve the API, the dashboard and (later) imports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    model::{CountryCode, EmailAddress, PhoneNumber, TimeZone, WebUrl, patch::patch},
    platform::error::FieldError,
    text_enum,
};

text_enum! {
    /// Where the contact stands in the funnel.
    pub enum ContactStatus {
        New = "new",
        Engaged = "engaged",
        Responded = "responded",
        Qualified = "qualified",
        Disqualified = "disqualified",
    }
}

text_enum! {
    pub enum Seniority {
        Executive = "executive",
        Director = "director",
        Manager = "manager",
        IndividualContributor = "individual_contributor",
    }
}

text_enum! {
    /// The lawful basis for contacting the person (GDPR Art. 6).
    pub enum ConsentBasis {
        Consent = "consent",
        LegitimateInterest = "legitimate_interest",
        Contract = "contract",
        LegalObligation = "legal_obligation",
    }
}

/// Why we may contact the person, since when, and where that came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub basis: ConsentBasis,
    /// When it was given or established.
    pub obtained_at: DateTime<Utc>,
    /// Where: a form URL, an import file, a conversation.
    pub source: Option<String>,
}

/// The writable fields of a contact, validated and normalised.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ContactFields {
    pub account_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub title: Option<String>,
    pub seniority: Option<Seniority>,
    pub company: Option<String>,
    pub status: Option<ContactStatus>,
    pub tier: Option<i32>,
    pub engagement_score: i32,
    pub intent_score: i32,
    pub timezone: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub source: Option<String>,
    pub consent: Option<Consent>,
    pub do_not_contact: bool,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub crm_ids: BTreeMap<String, String>,
    /// Labels, each at most once, in the order they were added.
    pub tags: Vec<String>,
}

/// A contact to create, or a change to one (PATCH): fields left out stay as they are,
/// `null` clears a field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub account_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub owner_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub last_name: Option<Option<String>>,
    /// Unique in the workspace, case-insensitively.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub linkedin_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Seniority>, nullable)]
    pub seniority: Option<Option<Seniority>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub company: Option<Option<String>>,
    pub status: Option<ContactStatus>,
    /// 1 (best) to 4.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<i32>, nullable, minimum = 1, maximum = 4)]
    pub tier: Option<Option<i32>>,
    #[schema(minimum = 0, maximum = 100)]
    pub engagement_score: Option<i32>,
    #[schema(minimum = 0, maximum = 100)]
    pub intent_score: Option<i32>,
    /// IANA time zone, e.g. `America/New_York`.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub timezone: Option<Option<String>>,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub country: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub city: Option<Option<String>>,
    /// Where the contact came from (`import`, `web_form`, `manual`, …).
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Consent>, nullable)]
    pub consent: Option<Option<Consent>>,
    pub do_not_contact: Option<bool>,
    /// Replaces the custom fields: a flat JSON object.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Replaces the CRM ids: `{"hubspot": "123", "salesforce": "003…"}`.
    pub crm_ids: Option<BTreeMap<String, String>>,
    /// Replaces the tags: labels of 1 to 64 characters, duplicates dropped.
    pub tags: Option<Vec<String>>,
}

const MAX_NAME: usize = 100;
const MAX_TEXT: usize = 255;
const MAX_CUSTOM_FIELDS: usize = 100;
const MAX_TAGS: usize = 50;

/// Clean a list of tags: trimmed, empty ones dropped, each kept once (case-insensitively),
/// first spelling wins. Errors name the offending tag.
pub fn clean_tags(tags: impl IntoIterator<Item = String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > 64 {
            return Err(format!("tag `{t}` is longer than 64 characters"));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
            out.push(t.to_owned());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    Ok(out)
}

/// The key that finds a contact without an email: its normalised first and last name and
/// its account. `None` when the contact has no name.
pub fn name_key(first: Option<&str>, last: Option<&str>, account: Option<Uuid>) -> Option<String> {
    let norm = |s: Option<&str>| {
        s.unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (f, l) = (norm(first), norm(last));
    if f.is_empty() && l.is_empty() {
        return None;
    }
    Some(format!(
        "{f}|{l}|{}",
        account.map(|a| a.to_string()).unwrap_or_default()
    ))
}

/// The 64-bit hash a [`name_key`] is stored and looked up by: an eighth of the key's width
/// in the index, and a fixed function (FNV-1a), so it never changes between builds. Two keys
/// may share a hash; a lookup compares the keys of the rows it finds.
pub fn name_hash(key: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let h = key
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// Trim a text field; empty means absent. Refuse it when too long.
fn text(
    field: &str,
    v: Option<String>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    if v.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
        return None;
    }
    Some(v)
}

/// Apply `parse` to a present value, recording a refusal under `field`.
fn checked<T>(
    field: &str,
    v: Option<String>,
    parse: impl Fn(&str) -> Result<T, crate::model::Invalid>,
    show: impl Fn(T) -> String,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    match parse(&v) {
        Ok(t) => Some(show(t)),
        Err(e) => {
            errors.push(FieldError::new(field, e.0));
            None
        }
    }
}

impl ContactFields {
    /// The fields after `input` is applied, or every field that is wrong.
    pub fn apply(&self, input: ContactInput) -> Result<ContactFields, Vec<FieldError>> {
        let mut e = Vec::new();
        let mut f = self.clone();
        macro_rules! set {
            ($field:ident, |$v:ident| $conv:expr) => {
                if let Some(value) = input.$field {
                    let $v = value;
                    f.$field = $conv;
                }
            };
        }
        set!(account_id, |v| v);
        set!(owner_id, |v| v);
        set!(first_name, |v| text("first_name", v, MAX_NAME, &mut e));
        set!(last_name, |v| text("last_name", v, MAX_NAME, &mut e));
        set!(email, |v| checked(
            "email",
            v,
            EmailAddress::parse,
            |a| a.as_str().to_owned(),
            &mut e
        ));
        set!(phone, |v| checked(
            "phone",
            v,
            PhoneNumber::parse,
            |p| p.as_str().to_owned(),
            &mut e
        ));
        set!(linkedin_url, |v| checked(
            "linkedin_url",
            v,
            WebUrl::parse,
            |u| u.as_str().to_owned(),
            &mut e
        ));
        set!(title, |v| text("title", v, MAX_TEXT, &mut e));
        set!(seniority, |v| v);
        set!(company, |v| text("company", v, MAX_TEXT, &mut e));
        set!(timezone, |v| checked(
            "timezone",
            v,
            TimeZone::parse,
            |t| t.name().to_owned(),
            &mut e
        ));
        set!(country, |v| checked(
            "country",
            v,
            CountryCode::parse,
            |c| c.as_str().to_owned(),
            &mut e
        ));
        set!(city, |v| text("city", v, MAX_NAME, &mut e));
        set!(source, |v| text("source", v, MAX_NAME, &mut e));
        set!(consent, |v| v);
        if let Some(tier) = input.tier {
            if tier.is_some_and(|t| !(1..=4).contains(&t)) {
                e.push(FieldError::new("tier", "must be 1, 2, 3 or 4"));
            }
            f.tier = tier;
        }
        for (name, value, slot) in [
            (
                "engagement_score",
                input.engagement_score,
                &mut f.engagement_score,
            ),
            ("intent_score", input.intent_score, &mut f.intent_score),
        ] {
            if let Some(v) = value {
                if !(0..=100).contains(&v) {
                    e.push(FieldError::new(name, "must be between 0 and 100"));
                }
                *slot = v;
            }
        }
        if let Some(s) = input.status {
            f.status = Some(s);
        }
        if let Some(d) = input.do_not_contact {
            f.do_not_contact = d;
        }
        if let Some(c) = &f.consent
            && c.source.as_ref().is_some_and(|s| s.len() > MAX_TEXT)
        {
            e.push(FieldError::new(
                "consent.source",
                format!("must be at most {MAX_TEXT} characters"),
            ));
        }
        if let Some(custom) = input.custom_fields {
            if custom.len() > MAX_CUSTOM_FIELDS {
                e.push(FieldError::new(
                    "custom_fields",
                    format!("at most {MAX_CUSTOM_FIELDS} fields"),
                ));
            }
            if let Some(k) = custom.keys().find(|k| k.is_empty() || k.len() > 64) {
                e.push(FieldError::new(
                    format!("custom_fields.{k}"),
                    "names must be 1 to 64 characters",
                ));
            }
            f.custom_fields = custom;
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
        if let Some(tags) = input.tags {
            match clean_tags(tags) {
                Ok(t) => f.tags = t,
                Err(msg) => e.push(FieldError::new("tags", msg)),
            }
        }
        if f.email.is_none() && f.first_name.is_none() && f.last_name.is_none() && e.is_empty() {
            e.push(FieldError::new(
                "email",
                "a contact needs an email or a name",
            ));
        }
        if e.is_empty() { Ok(f) } else { Err(e) }
    }

    /// Lower-cased text the search index holds: name, email, company and title.
    pub fn search_text(&self) -> String {
        [
            &self.first_name,
            &self.last_name,
            &self.email,
            &self.company,
            &self.title,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// See [`name_key`].
    pub fn name_key(&self) -> Option<String> {
        name_key(
            self.first_name.as_deref(),
            self.last_name.as_deref(),
            self.account_id,
        )
    }

    /// See [`name_hash`].
    pub fn name_hash(&self) -> Option<i64> {
        self.name_key().map(|k| name_hash(&k))
    }

    /// "First Last", or the email when there is no name.
    pub fn display_name(&self) -> String {
        let name = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.email.clone().unwrap_or_default()
        } else {
            name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::patch::changes;

    fn input(json: serde_json::Value) -> ContactInput {
        serde_json::from_value(json).expect("input")
    }

    fn fields_of(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn create_normalises_values() {
        let f = ContactFields::default()
            .apply(input(serde_json::json!({
                "first_name": "  Ada ", "email": "Ada@Example.COM", "country": "gb",
                "timezone": "Europe/London", "tier": 1, "title": "CTO"
            })))
            .expect("valid");
        assert_eq!(f.email.as_deref(), Some("ada@example.com"));
        assert_eq!(f.first_name.as_deref(), Some("Ada"));
        assert_eq!(f.country.as_deref(), Some("GB"));
        assert_eq!(f.search_text(), "ada ada@example.com cto");
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = ContactFields::default()
            .apply(input(serde_json::json!({
                "email": "not-an-email", "timezone": "Mars/Base", "tier": 9,
                "engagement_score": 101, "country": "Germany", "phone": "call me"
            })))
            .expect_err("invalid");
        let mut names = fields_of(errors);
        names.sort();
        assert_eq!(
            names,
            [
                "country",
                "email",
                "engagement_score",
                "phone",
                "tier",
                "timezone"
            ]
        );
    }

    #[test]
    fn a_contact_needs_an_email_or_a_name() {
        let errors = ContactFields::default()
            .apply(ContactInput::default())
            .expect_err("empty");
        assert_eq!(fields_of(errors), ["email"]);
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let base = ContactFields::default()
            .apply(input(
                serde_json::json!({"email": "a@b.co", "title": "CEO", "city": "Oslo"}),
            ))
            .expect("base");
        let next = base
            .apply(input(
                serde_json::json!({"title": null, "first_name": "Ann"}),
            ))
            .expect("patch");
        assert_eq!(next.title, None, "null clears");
        assert_eq!(next.city.as_deref(), Some("Oslo"), "absent keeps");
        let diff = changes(&base, &next);
        assert_eq!(diff.len(), 2);
        assert_eq!(
            diff["title"],
            serde_json::json!({"from": "CEO", "to": null})
        );
    }

    #[test]
    fn unknown_enum_values_are_refused_by_name() {
        let err = serde_json::from_value::<ContactInput>(serde_json::json!({"status": "hot"}))
            .expect_err("bad status");
        assert!(err.to_string().contains("unknown variant `hot`"), "{err}");
    }
}
