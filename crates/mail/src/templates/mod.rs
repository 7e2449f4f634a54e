//! Email templates: a subject, an HTML body and an optional text body in minijinja, with
//! spintax (`{Hi|Hello}`) chosen per recipient. A template may name the contact's, its
//! account's and the sender's fields, the contact's custom fields (`custom.*`) and the
//! variables it declares; anything else is refused when it is saved, by name. Rules here,
//! the engine in `render`, queries in `store`, use cases in `service`, routes in `api`.

pub mod api;
pub mod render;
pub mod service;
pub mod store;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::error::FieldError;

/// The contact fields a template may name as `contact.<field>`.
pub const CONTACT_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "display_name",
    "email",
    "phone",
    "title",
    "company",
    "seniority",
    "timezone",
    "country",
    "city",
    "linkedin_url",
];

/// The account fields a template may name as `account.<field>`.
pub const ACCOUNT_FIELDS: &[&str] = &["name", "domain", "industry", "location", "company_size"];

/// The sender fields a template may name as `sender.<field>`.
pub const SENDER_FIELDS: &[&str] = &["name", "first_name", "email", "signature"];

/// Names a declared variable may not take: the roots of the built-in ones.
const RESERVED: &[&str] = &["contact", "account", "sender", "custom"];

pub const MAX_NAME: usize = 200;
pub const MAX_SUBJECT: usize = 500;
/// A body's limit in characters (256 KiB of ASCII).
pub const MAX_BODY: usize = 262_144;
pub const MAX_VARIABLES: usize = 50;

/// A template as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Template {
    pub id: Uuid,
    pub name: String,
    pub subject: String,
    pub html: String,
    /// The text part as written; when absent each email's is derived from its HTML.
    pub text: Option<String>,
    /// The variables it declares, given per email in `variables`.
    pub variables: Vec<String>,
    /// Every variable it names (`contact.first_name`, `custom.plan`, `offer`), sorted.
    pub uses: Vec<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// minijinja and spintax; one line (line breaks become spaces).
    #[schema(min_length = 1, max_length = 500)]
    pub subject: String,
    #[schema(min_length = 1, max_length = 262144)]
    pub html: String,
    /// Leave out to derive each email's text part from its HTML.
    #[schema(max_length = 262144)]
    pub text: Option<String>,
    /// Variables given per email, such as `offer`: lower case, digits and `_`.
    #[schema(max_items = 50)]
    pub variables: Option<Vec<String>>,
}

/// A change to a template: a field left out stays, `text: null` goes back to deriving it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    pub subject: Option<String>,
    #[schema(min_length = 1, max_length = 262144)]
    pub html: Option<String>,
    #[serde(default, deserialize_with = "salesos_model::patch::patch")]
    #[schema(value_type = Option<String>, nullable, max_length = 262144)]
    pub text: Option<Option<String>>,
    #[schema(max_items = 50)]
    pub variables: Option<Vec<String>>,
}

/// A template's content as given: [`Draft::check`] it, then [`Draft::tidy`] it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub name: String,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub variables: Vec<String>,
}

fn required(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

fn variable_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !starts
        || name.len() > 64
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "`{name}` is not a variable name: up to 64 of a-z, 0-9 and _, not starting with a digit"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!("`{name}` is built in; declare another name"));
    }
    Ok(())
}

impl Draft {
    /// Check what can be checked without the engine: sizes, emptiness, variable names.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        required("name", &self.name, MAX_NAME, &mut errors);
        required("subject", &self.subject, MAX_SUBJECT, &mut errors);
        required("html", &self.html, MAX_BODY, &mut errors);
        if let Some(text) = &self.text
            && text.chars().count() > MAX_BODY
        {
            errors.push(FieldError::new(
                "text",
                format!("must be at most {MAX_BODY} characters"),
            ));
        }
        if self.variables.len() > MAX_VARIABLES {
            errors.push(FieldError::new(
                "variables",
                format!("at most {MAX_VARIABLES} variables"),
            ));
        }
        let mut seen = BTreeSet::new();
        for v in &self.variables {
            if let Err(why) = variable_name(v) {
                errors.push(FieldError::new("variables", why));
            } else if !seen.insert(v.as_str()) {
                errors.push(FieldError::new(
                    "variables",
                    format!("`{v}` is declared twice"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// As stored, once checked: the name trimmed, a blank text part left to be derived.
    pub fn tidy(mut self) -> Self {
        self.name = self.name.trim().to_owned();
        self.text = self.text.filter(|t| !t.trim().is_empty());
        self
    }

    pub fn parts(&self) -> render::Parts<'_> {
        render::Parts {
            subject: &self.subject,
            html: &self.html,
            text: self.text.as_deref(),
        }
    }
}

impl From<NewTemplate> for Draft {
    fn from(n: NewTemplate) -> Self {
        Draft {
            name: n.name,
            subject: n.subject,
            html: n.html,
            text: n.text,
            variables: n.variables.unwrap_or_default(),
        }
    }
}

impl Draft {
    /// This draft with `patch` applied.
    pub fn patched(mut self, patch: TemplatePatch) -> Self {
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some(subject) = patch.subject {
            self.subject = subject;
        }
        if let Some(html) = patch.html {
            self.html = html;
        }
        if let Some(text) = patch.text {
            self.text = text;
        }
        if let Some(variables) = patch.variables {
            self.variables = variables;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            name: "Intro".into(),
            subject: "Hi".into(),
            html: "<p>Hi</p>".into(),
            text: None,
            variables: vec!["offer".into()],
        }
    }

    #[test]
    fn a_draft_needs_its_parts_and_well_named_variables() {
        assert_eq!(draft().check(), Ok(()));
        let bad = Draft {
            name: "  ".into(),
            subject: "x".repeat(MAX_SUBJECT + 1),
            variables: vec![
                "Offer".into(),
                "contact".into(),
                "a".into(),
                "a".into(),
                "9x".into(),
            ],
            ..draft()
        }
        .check()
        .expect_err("bad draft");
        let fields: Vec<&str> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "subject",
                "variables",
                "variables",
                "variables",
                "variables"
            ]
        );
        assert!(bad[2].message.contains("`Offer`"), "{}", bad[2].message);
        assert!(bad[3].message.contains("built in"), "{}", bad[3].message);
        assert!(bad[4].message.contains("twice"), "{}", bad[4].message);
    }

    #[test]
    fn a_patch_changes_what_it_names_and_null_text_goes_back_to_derived() {
        let with_text = Draft {
            text: Some("Hi".into()),
            ..draft()
        };
        let patched = with_text.clone().patched(TemplatePatch {
            subject: Some("Hello".into()),
            ..TemplatePatch::default()
        });
        assert_eq!(
            (patched.subject.as_str(), patched.text.as_deref()),
            ("Hello", Some("Hi"))
        );
        let cleared = with_text.patched(TemplatePatch {
            text: Some(None),
            ..TemplatePatch::default()
        });
        assert_eq!(cleared.text, None);
    }
}
