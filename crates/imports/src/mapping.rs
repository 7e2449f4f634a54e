//! Which column feeds which field: recognised automatically from the header names HubSpot,
//! Salesforce, Apollo, LinkedIn Sales Navigator and lemlist exports use (and common
//! variants), overridden by an explicit mapping, with the rest kept as custom fields or
//! ignored.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::values::Invalid;

/// What a column holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Email,
    FirstName,
    LastName,
    /// A whole name, split on import.
    FullName,
    Phone,
    Title,
    Company,
    /// A website or domain of the contact's company.
    Website,
    LinkedinUrl,
    Country,
    Region,
    City,
    /// `City, Region, Country` in one column (Sales Navigator's "Location").
    Location,
    TimeZone,
    Industry,
    CompanySize,
    /// Job level; derived from the title when no column gives it.
    Seniority,
    /// Labels, separated by `;` or `,`.
    Tags,
    /// Kept on the contact under this key.
    Custom(String),
    Ignore,
}

impl Target {
    /// The name used in explicit mappings and reports.
    pub fn name(&self) -> String {
        match self {
            Target::Custom(k) => format!("custom:{k}"),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }

    /// Read a target's name: a field (`email`, `first_name`, …), `custom:<key>`, or
    /// `ignore`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if let Some(key) = s.strip_prefix("custom:") {
            let key = custom_key(key);
            if key.is_empty() {
                return Err(Invalid(format!("`{s}` names no custom field")));
            }
            return Ok(Target::Custom(key));
        }
        FIELDS
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                Invalid(format!(
                    "`{s}` is not a field; use one of {}, custom:<name> or ignore",
                    names.join(", ")
                ))
            })
    }
}

const FIELDS: &[(&str, Target)] = &[
    ("email", Target::Email),
    ("first_name", Target::FirstName),
    ("last_name", Target::LastName),
    ("full_name", Target::FullName),
    ("phone", Target::Phone),
    ("title", Target::Title),
    ("company", Target::Company),
    ("website", Target::Website),
    ("linkedin_url", Target::LinkedinUrl),
    ("country", Target::Country),
    ("region", Target::Region),
    ("city", Target::City),
    ("location", Target::Location),
    ("time_zone", Target::TimeZone),
    ("industry", Target::Industry),
    ("company_size", Target::CompanySize),
    ("seniority", Target::Seniority),
    ("tags", Target::Tags),
    ("ignore", Target::Ignore),
];

/// The names a mapping may send a column to (besides `custom:<name>`).
pub fn field_names() -> Vec<String> {
    FIELDS.iter().map(|(n, _)| (*n).to_owned()).collect()
}

/// Header names by field, as letters and digits only, lower-cased (`E-mail` → `email`).
/// Earlier names win when a file has several columns for one field.
const SYNONYMS: &[(Target, &[&str])] = &[
    (
        Target::Email,
        &[
            "email",
            "emailaddress",
            "workemail",
            "businessemail",
            "primaryemail",
            "email1",
            "contactemail",
            "mail",
            "emailaddress1",
        ],
    ),
    (
        Target::FirstName,
        &[
            "firstname",
            "first",
            "givenname",
            "fname",
            "forename",
            "prenom",
            "vorname",
        ],
    ),
    (
        Target::LastName,
        &[
            "lastname",
            "last",
            "surname",
            "familyname",
            "lname",
            "nachname",
        ],
    ),
    (
        Target::FullName,
        &[
            "name",
            "fullname",
            "contactname",
            "leadname",
            "contact",
            "person",
        ],
    ),
    (
        Target::Phone,
        &[
            "phone",
            "phonenumber",
            "telephone",
            "tel",
            "workdirectphone",
            "directphone",
            "mobilephone",
            "mobile",
            "mobilenumber",
            "firstphone",
            "workphone",
            "businessphone",
            "corporatephone",
            "phone1",
            "cellphone",
        ],
    ),
    (
        Target::Title,
        &[
            "title",
            "jobtitle",
            "position",
            "jobposition",
            "role",
            "jobrole",
            "designation",
        ],
    ),
    (
        Target::Company,
        &[
            "company",
            "companyname",
            "accountname",
            "account",
            "organization",
            "organisation",
            "organizationname",
            "employer",
            "companynameforemails",
            "currentcompany",
        ],
    ),
    (
        Target::Website,
        &[
            "website",
            "websiteurl",
            "companywebsite",
            "domain",
            "companydomain",
            "companydomainname",
            "url",
            "companyurl",
            "web",
            "homepage",
        ],
    ),
    (
        Target::LinkedinUrl,
        &[
            "linkedin",
            "linkedinurl",
            "personlinkedinurl",
            "linkedinprofile",
            "linkedinprofileurl",
            "profileurl",
            "linkedinurl1",
        ],
    ),
    (
        Target::Country,
        &["country", "countryregion", "mailingcountry", "countrycode"],
    ),
    (
        Target::Region,
        &[
            "state",
            "region",
            "stateregion",
            "province",
            "stateprovince",
            "mailingstateprovince",
            "mailingstate",
        ],
    ),
    (Target::City, &["city", "town", "mailingcity"]),
    (
        Target::Location,
        &["location", "geography", "personlocation"],
    ),
    (Target::TimeZone, &["timezone", "tz", "ianatimezone"]),
    (Target::Industry, &["industry", "sector"]),
    (
        Target::CompanySize,
        &[
            "employees",
            "numberofemployees",
            "companysize",
            "headcount",
            "employeecount",
            "companyheadcount",
        ],
    ),
    (Target::Seniority, &["seniority", "joblevel", "level"]),
    (Target::Tags, &["tags", "tag", "labels", "lists"]),
];

/// Columns our own exports carry that describe the record rather than the person; a
/// re-import ignores them instead of keeping them as custom fields.
const RECORD_COLUMNS: &[&str] = &[
    "id",
    "accountid",
    "ownerid",
    "displayname",
    "status",
    "createdat",
    "updatedat",
    "engagementscore",
    "intentscore",
    "tier",
    "fitscore",
    "annualrevenuemicros",
];

/// A header as letters and digits, lower-cased (`# Employees` → `employees`).
fn header_key(h: &str) -> String {
    h.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A custom field's key from a header: lower-case words joined by `_`.
pub fn custom_key(h: &str) -> String {
    let mut out = String::new();
    for c in h.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').chars().take(64).collect()
}

/// What to do with columns nothing maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unmapped {
    /// Keep them on the contact's custom fields, keyed by header.
    #[default]
    Custom,
    Ignore,
}

/// One target per column, in column order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub columns: Vec<MappedColumn>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MappedColumn {
    pub header: String,
    pub target: Target,
    /// `explicit`, `detected` or `unmapped`.
    pub how: &'static str,
}

/// Map a file's headers: explicit choices (header → target name) first, then recognised
/// header names, then `unmapped`. A field gets one column; a later column recognised for
/// a field already taken is treated as unmapped. An explicit entry naming a header the
/// file lacks is an error, so a typo never silently drops a column.
pub fn map_headers(
    headers: &[String],
    explicit: &HashMap<String, String>,
    unmapped: Unmapped,
) -> Result<Mapping, Vec<Invalid>> {
    let mut errors = Vec::new();
    for h in explicit.keys() {
        if !headers.iter().any(|x| x == h) {
            errors.push(Invalid(format!(
                "the mapping names column `{h}`, which the file does not have (columns: {})",
                headers.join(", ")
            )));
        }
    }
    let mut taken: Vec<Target> = Vec::new();
    let mut columns: Vec<Option<MappedColumn>> = vec![None; headers.len()];
    for (i, h) in headers.iter().enumerate() {
        if let Some(name) = explicit.get(h) {
            match Target::parse(name) {
                Ok(t) => {
                    if is_field(&t) && taken.contains(&t) {
                        errors.push(Invalid(format!(
                            "the mapping sends two columns to `{}`",
                            t.name()
                        )));
                    }
                    taken.push(t.clone());
                    if let Some(c) = columns.get_mut(i) {
                        *c = Some(MappedColumn {
                            header: h.clone(),
                            target: t,
                            how: "explicit",
                        });
                    }
                }
                Err(e) => errors.push(Invalid(format!("column `{h}`: {e}"))),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (i, h) in headers.iter().enumerate() {
        if columns.get(i).is_some_and(Option::is_some) {
            continue;
        }
        let key = header_key(h);
        // `custom.<name>` is how exports write custom fields.
        let exported_custom = h
            .strip_prefix("custom.")
            .map(custom_key)
            .filter(|k| !k.is_empty())
            .map(Target::Custom);
        let found = exported_custom.or_else(|| {
            SYNONYMS
                .iter()
                .find(|(t, names)| names.contains(&key.as_str()) && !taken.contains(t))
                .map(|(t, _)| t.clone())
                .or_else(|| {
                    RECORD_COLUMNS
                        .contains(&key.as_str())
                        .then_some(Target::Ignore)
                })
        });
        let column = match found {
            Some(t) => {
                if is_field(&t) {
                    taken.push(t.clone());
                }
                MappedColumn {
                    header: h.clone(),
                    target: t,
                    how: "detected",
                }
            }
            None => MappedColumn {
                header: h.clone(),
                target: match unmapped {
                    Unmapped::Custom if !custom_key(h).is_empty() => Target::Custom(custom_key(h)),
                    _ => Target::Ignore,
                },
                how: "unmapped",
            },
        };
        if let Some(c) = columns.get_mut(i) {
            *c = Some(column);
        }
    }
    Ok(Mapping {
        columns: columns.into_iter().flatten().collect(),
    })
}

fn is_field(t: &Target) -> bool {
    !matches!(t, Target::Custom(_) | Target::Ignore)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(headers: &[&str]) -> Vec<String> {
        let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        map_headers(&headers, &HashMap::new(), Unmapped::Custom)
            .expect("maps")
            .columns
            .iter()
            .map(|c| c.target.name())
            .collect()
    }

    #[test]
    fn exports_of_the_big_tools_map_themselves() {
        // HubSpot.
        assert_eq!(
            targets(&[
                "First Name",
                "Last Name",
                "Email",
                "Phone Number",
                "Company Name",
                "Job Title",
                "Website URL",
                "State/Region",
                "Country/Region",
                "Time Zone"
            ]),
            [
                "first_name",
                "last_name",
                "email",
                "phone",
                "company",
                "title",
                "website",
                "region",
                "country",
                "time_zone"
            ]
        );
        // Salesforce.
        assert_eq!(
            targets(&[
                "First Name",
                "Last Name",
                "Account Name",
                "Title",
                "Mailing City",
                "Mailing State/Province",
                "Mailing Country",
                "Email"
            ]),
            [
                "first_name",
                "last_name",
                "company",
                "title",
                "city",
                "region",
                "country",
                "email"
            ]
        );
        // Apollo: the first phone column wins, the others are kept as custom fields.
        assert_eq!(
            targets(&[
                "First Name",
                "Last Name",
                "Title",
                "Company",
                "Email",
                "Work Direct Phone",
                "Mobile Phone",
                "# Employees",
                "Person Linkedin Url",
                "Website",
                "Seniority"
            ]),
            [
                "first_name",
                "last_name",
                "title",
                "company",
                "email",
                "phone",
                "custom:mobile_phone",
                "company_size",
                "linkedin_url",
                "website",
                "seniority"
            ]
        );
        // LinkedIn Sales Navigator (via an exporter) and lemlist.
        assert_eq!(
            targets(&[
                "Full Name",
                "Job Title",
                "Company",
                "Location",
                "Profile URL"
            ]),
            ["full_name", "title", "company", "location", "linkedin_url"]
        );
        assert_eq!(
            targets(&[
                "email",
                "firstName",
                "lastName",
                "companyName",
                "linkedinUrl",
                "companyDomain",
                "icebreaker"
            ]),
            [
                "email",
                "first_name",
                "last_name",
                "company",
                "linkedin_url",
                "website",
                "custom:icebreaker"
            ]
        );
        assert_eq!(
            targets(&["E-mail", "e_mail", "  EMAIL ADDRESS "]),
            ["email", "custom:e_mail", "custom:email_address"]
        );
    }

    #[test]
    fn explicit_mappings_override_and_unmapped_columns_can_be_ignored() {
        let headers: Vec<String> = ["Mail", "Notes", "Owner", "Tel"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        let explicit = HashMap::from([
            ("Notes".to_owned(), "custom:background".to_owned()),
            ("Mail".to_owned(), "ignore".to_owned()),
        ]);
        let m = map_headers(&headers, &explicit, Unmapped::Ignore).expect("maps");
        let got: Vec<(String, &str)> = m.columns.iter().map(|c| (c.target.name(), c.how)).collect();
        assert_eq!(
            got,
            [
                ("ignore".into(), "explicit"),
                ("custom:background".into(), "explicit"),
                ("ignore".into(), "unmapped"),
                ("phone".into(), "detected"),
            ]
        );
    }

    #[test]
    fn bad_mappings_name_what_is_wrong() {
        let headers: Vec<String> = ["Email", "Work Email"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        let explicit = HashMap::from([
            ("Emial".to_owned(), "email".to_owned()),
            ("Email".to_owned(), "e-mail".to_owned()),
        ]);
        let errors = map_headers(&headers, &explicit, Unmapped::Custom).expect_err("refused");
        let text: Vec<String> = errors.iter().map(|e| e.0.clone()).collect();
        assert!(
            text.iter()
                .any(|e| e.contains("`Emial`") && e.contains("Email, Work Email")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("`e-mail` is not a field")),
            "{text:?}"
        );
        let both = HashMap::from([
            ("Email".to_owned(), "email".to_owned()),
            ("Work Email".to_owned(), "email".to_owned()),
        ]);
        let errors = map_headers(&headers, &both, Unmapped::Custom).expect_err("refused");
        assert!(errors[0].0.contains("two columns to `email`"));
        assert!(Target::parse("custom:  ").is_err());
        assert_eq!(
            Target::parse("custom:Lead Source").expect("ok"),
            Target::Custom("lead_source".into())
        );
    }
}
