//! One input row to what it means: a contact and/or an account to match and merge, with
//! the warnings a person should see — or a rejection naming the column and value that
//! made the row unusable. Pure; the engine runs it on many rows at once.

use crate::{
    model::TimeZone,
    {
        accounts::model::{AccountFields, CompanySize},
        contacts::model::{ContactFields, Seniority, clean_tags},
    },
};

use super::{
    mapping::{Mapping, Target, custom_key},
    normalize::{self, Whereabouts},
    read::RawRow,
};

/// Per-import choices that change how a row reads.
#[derive(Clone, Debug, Default)]
pub struct RowOptions {
    /// ISO country for phone numbers written without a country code.
    pub region: Option<String>,
    /// Added to every contact.
    pub tags: Vec<String>,
}

/// A row, read.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub row: u64,
    pub result: Result<Draft, Rejection>,
}

/// Why a row was not imported: the column and value at fault, and the row as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The header of the column at fault, or empty when the row as a whole is.
    pub column: String,
    pub value: String,
    pub reason: String,
    pub fields: Vec<String>,
}

/// What a usable row asks for.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    /// `None` for a company-only row.
    pub contact: Option<ContactFields>,
    pub account: Option<AccountDraft>,
    /// What a person should check (a likely typo, an unreadable phone kept as text).
    pub warnings: Vec<String>,
}

/// The account a row names.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountDraft {
    pub fields: AccountFields,
    /// [`company_key`](crate::accounts::model::company_key) of the name.
    pub key: String,
}

const MAX_NAME: usize = 100;
const MAX_TEXT: usize = 255;
const MAX_CUSTOM_FIELDS: usize = 100;

/// Read one row under a mapping.
pub fn prepare(mapping: &Mapping, raw: RawRow, opts: &RowOptions) -> Prepared {
    let row = raw.row;
    let result = build(mapping, &raw.fields, opts).map_err(|(column, value, reason)| Rejection {
        column,
        value,
        reason,
        fields: raw.fields,
    });
    Prepared { row, result }
}

type Refusal = (String, String, String);

fn refuse(header: &str, value: &str, reason: impl Into<String>) -> Refusal {
    (header.to_owned(), value.to_owned(), reason.into())
}

/// The cell of each mapped field, with its header.
#[derive(Default)]
struct Cells<'a> {
    email: Option<(&'a str, &'a str)>,
    first: Option<(&'a str, &'a str)>,
    last: Option<(&'a str, &'a str)>,
    full: Option<(&'a str, &'a str)>,
    phone: Option<(&'a str, &'a str)>,
    title: Option<(&'a str, &'a str)>,
    company: Option<(&'a str, &'a str)>,
    website: Option<(&'a str, &'a str)>,
    linkedin: Option<(&'a str, &'a str)>,
    country: Option<(&'a str, &'a str)>,
    region: Option<(&'a str, &'a str)>,
    city: Option<(&'a str, &'a str)>,
    location: Option<(&'a str, &'a str)>,
    time_zone: Option<(&'a str, &'a str)>,
    industry: Option<(&'a str, &'a str)>,
    size: Option<(&'a str, &'a str)>,
    seniority: Option<(&'a str, &'a str)>,
    tags: Option<(&'a str, &'a str)>,
    custom: Vec<(&'a str, &'a str, &'a str)>,
}

fn build(mapping: &Mapping, fields: &[String], opts: &RowOptions) -> Result<Draft, Refusal> {
    if fields.iter().all(|f| f.trim().is_empty()) {
        return Err(refuse("", "", "the row is empty"));
    }
    let mut c = Cells::default();
    for (col, value) in mapping.columns.iter().zip(fields) {
        let v = value.trim();
        if v.is_empty() {
            continue;
        }
        let cell = Some((col.header.as_str(), v));
        match &col.target {
            Target::Email => c.email = cell,
            Target::FirstName => c.first = cell,
            Target::LastName => c.last = cell,
            Target::FullName => c.full = cell,
            Target::Phone => c.phone = cell,
            Target::Title => c.title = cell,
            Target::Company => c.company = cell,
            Target::Website => c.website = cell,
            Target::LinkedinUrl => c.linkedin = cell,
            Target::Country => c.country = cell,
            Target::Region => c.region = cell,
            Target::City => c.city = cell,
            Target::Location => c.location = cell,
            Target::TimeZone => c.time_zone = cell,
            Target::Industry => c.industry = cell,
            Target::CompanySize => c.size = cell,
            Target::Seniority => c.seniority = cell,
            Target::Tags => c.tags = cell,
            Target::Custom(key) => c.custom.push((col.header.as_str(), key.as_str(), v)),
            Target::Ignore => {}
        }
    }
    let mut warnings = Vec::new();
    let mut f = ContactFields {
        source: Some("import".into()),
        ..ContactFields::default()
    };
    let mut custom = serde_json::Map::new();
    for (_, key, v) in &c.custom {
        custom.insert(
            (*key).to_owned(),
            serde_json::Value::String((*v).to_owned()),
        );
    }
    if let Some((h, v)) = c.email {
        let checked = normalize::email(v).map_err(|e| refuse(h, v, e.0))?;
        if let Some(s) = &checked.suggestion {
            keep_warning(
                &mut warnings,
                format!("{h}: `{v}` looks like a typo of `{s}`"),
            );
        }
        if checked.role {
            keep_warning(
                &mut warnings,
                format!("{h}: `{v}` is a shared (role) mailbox"),
            );
        }
        if checked.disposable {
            keep_warning(&mut warnings, format!("{h}: `{v}` is a disposable address"));
        }
        f.email = Some(checked.address);
    }
    let split = c
        .full
        .map(|(_, v)| normalize::full_name(v))
        .unwrap_or_default();
    f.first_name = c
        .first
        .map(|(_, v)| normalize::person_case(v))
        .or(split.first);
    f.last_name = c
        .last
        .map(|(_, v)| normalize::person_case(v))
        .or(split.last);
    for (value, cell) in [
        (&f.first_name, c.first.or(c.full)),
        (&f.last_name, c.last.or(c.full)),
    ] {
        if let (Some(name), Some((h, v))) = (value, cell)
            && name.chars().count() > MAX_NAME
        {
            return Err(refuse(
                h,
                v,
                format!("is longer than {MAX_NAME} characters"),
            ));
        }
    }
    for (slot, cell, max) in [
        (&mut f.title, c.title, MAX_TEXT),
        (&mut f.company, c.company, MAX_TEXT),
    ] {
        if let Some((h, v)) = cell {
            if v.chars().count() > max {
                return Err(refuse(h, v, format!("is longer than {max} characters")));
            }
            *slot = Some(v.to_owned());
        }
    }

    // Where the person is: explicit columns first, then a combined location.
    let (mut city, mut region, mut country_raw) = (
        c.city.map(|(_, v)| v.to_owned()),
        c.region.map(|(_, v)| v.to_owned()),
        c.country,
    );
    if let Some((h, v)) = c.location {
        let parts: Vec<&str> = v
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let last = parts.last().copied();
        let last_is_country = last.and_then(normalize::country_code).is_some();
        if country_raw.is_none() && last_is_country {
            country_raw = last.map(|l| (h, l));
        }
        let rest = if last_is_country {
            parts.get(..parts.len().saturating_sub(1)).unwrap_or(&[])
        } else {
            &parts[..]
        };
        if city.is_none() {
            city = rest.first().map(|s| (*s).to_owned());
        }
        if region.is_none() {
            region = rest.get(1).map(|s| (*s).to_owned());
        }
    }
    if let Some(cell) = country_raw {
        match normalize::country_code(cell.1) {
            Some(code) => f.country = Some(code.to_owned()),
            None => keep_raw(
                &mut warnings,
                &mut custom,
                cell,
                "is not a country we know".into(),
            ),
        }
    }
    if let Some(ci) = city {
        if ci.chars().count() > MAX_NAME {
            let (h, v) = c.city.or(c.location).unwrap_or(("city", ""));
            return Err(refuse(
                h,
                v,
                format!("is longer than {MAX_NAME} characters"),
            ));
        }
        f.city = Some(ci);
    }
    if let Some(r) = &region {
        custom.insert("region".into(), serde_json::Value::String(r.clone()));
    }

    let mut phone_country = None;
    if let Some(cell) = c.phone {
        // A number without a country code is read in the row's country when the row
        // says, else in the import's default region.
        let region = f.country.as_deref().or(opts.region.as_deref());
        match normalize::phone(cell.1, region) {
            Ok(p) => {
                phone_country = p.country;
                f.phone = Some(p.e164);
            }
            Err(e) => keep_raw(&mut warnings, &mut custom, cell, e.0),
        }
    }
    if let Some(cell) = c.linkedin {
        match crate::model::WebUrl::parse(cell.1) {
            Ok(u) => f.linkedin_url = Some(u.as_str().to_owned()),
            Err(e) => keep_raw(&mut warnings, &mut custom, cell, e.0),
        }
    }
    match c.time_zone {
        Some(cell) => match TimeZone::parse(cell.1) {
            Ok(tz) => f.timezone = Some(tz.name().to_owned()),
            Err(e) => keep_raw(&mut warnings, &mut custom, cell, e.0),
        },
        None => {
            f.timezone = normalize::time_zone(Whereabouts {
                country: f.country.as_deref(),
                region: region.as_deref(),
                city: f.city.as_deref(),
                phone_country: phone_country.as_deref(),
            })
            .map(str::to_owned);
        }
    }
    // Seniority and department are read from the title unless the file states seniority
    // itself (as our own exports do): then the file is taken as it is, empty meaning none.
    let states_seniority = mapping
        .columns
        .iter()
        .any(|c| c.target == Target::Seniority);
    if let Some(title) = f.title.as_ref().filter(|_| !states_seniority) {
        f.seniority = normalize::seniority(title).and_then(|s| s.as_str().parse().ok());
        if let Some(d) = normalize::department(title) {
            custom.entry("department").or_insert_with(|| d.into());
        }
    }
    if let Some(cell) = c.seniority {
        match seniority_of(cell.1) {
            Some(s) => f.seniority = Some(s),
            None => keep_raw(
                &mut warnings,
                &mut custom,
                cell,
                "is not a seniority (executive, director, manager, individual_contributor)".into(),
            ),
        }
    }
    let mut tags: Vec<String> = opts.tags.clone();
    if let Some((h, v)) = c.tags {
        tags.extend(v.split([';', ',']).map(str::to_owned));
        f.tags = clean_tags(tags).map_err(|e| refuse(h, v, e))?;
    } else {
        f.tags = clean_tags(tags).map_err(|e| refuse("", "", e))?;
    }

    // The company: a name, a website, or both.
    let mut domain = None;
    if let Some(cell) = c.website {
        match normalize::website(cell.1) {
            Ok(d) => domain = Some(d),
            Err(e) => keep_raw(&mut warnings, &mut custom, cell, e.0),
        }
    }
    let mut company_size = None;
    if let Some(cell) = c.size {
        match company_size_of(cell.1) {
            Some(s) => company_size = Some(s),
            None => keep_raw(
                &mut warnings,
                &mut custom,
                cell,
                "is not a company size".into(),
            ),
        }
    }
    let account = match (&f.company, &domain) {
        (None, None) => None,
        (name, domain) => {
            let name = name.clone().or_else(|| domain.clone()).unwrap_or_default();
            Some(AccountDraft {
                key: crate::accounts::model::company_key(&name),
                fields: AccountFields {
                    name,
                    domain: domain.clone(),
                    industry: c.industry.map(|(_, v)| v.chars().take(MAX_TEXT).collect()),
                    company_size,
                    ..AccountFields::default()
                },
            })
        }
    };
    if account.is_none()
        && let Some(cell) = c.industry
    {
        custom.insert(custom_key(cell.0), cell.1.into());
    }

    if custom.len() > MAX_CUSTOM_FIELDS {
        return Err(refuse(
            "",
            "",
            format!(
                "has {} custom fields; at most {MAX_CUSTOM_FIELDS}",
                custom.len()
            ),
        ));
    }
    f.custom_fields = custom;
    let person = f.email.is_some() || f.first_name.is_some() || f.last_name.is_some();
    // A company-only row's location is the company's.
    let account = account.map(|mut a| {
        if !person {
            a.fields.location = c.location.map(|(_, v)| v.chars().take(MAX_TEXT).collect());
        }
        a
    });
    if !person && account.is_none() {
        return Err(refuse(
            "",
            "",
            "has no email, name or company to import (every such column is empty)",
        ));
    }
    Ok(Draft {
        contact: person.then_some(f),
        account,
        warnings,
    })
}

fn keep_warning(warnings: &mut Vec<String>, w: String) {
    warnings.push(w);
}

/// A value that cannot be read goes to the custom fields under its header, with a
/// warning, so nothing in the file is lost.
fn keep_raw(
    warnings: &mut Vec<String>,
    custom: &mut serde_json::Map<String, serde_json::Value>,
    (header, v): (&str, &str),
    why: String,
) {
    warnings.push(format!(
        "{header}: `{v}` {why}; kept as custom field `{}`",
        custom_key(header)
    ));
    custom.insert(custom_key(header), serde_json::Value::String(v.to_owned()));
}

/// A seniority column: our names, Apollo's levels (`c_suite`, `vp`, `head`, `senior`,
/// `entry`), or anything a title would say.
pub fn seniority_of(raw: &str) -> Option<Seniority> {
    let s = raw.trim().to_lowercase().replace([' ', '-'], "_");
    if let Ok(known) = s.parse::<Seniority>() {
        return Some(known);
    }
    match s.as_str() {
        "c_suite" | "csuite" | "vp" | "owner" | "founder" | "partner" | "executive" | "cxo" => {
            Some(Seniority::Executive)
        }
        "head" | "director" => Some(Seniority::Director),
        "manager" | "lead" => Some(Seniority::Manager),
        "senior" | "entry" | "intern" | "ic" | "staff" => Some(Seniority::IndividualContributor),
        _ => normalize::seniority(raw).and_then(|s| s.as_str().parse().ok()),
    }
}

/// A head count or a range (`250`, `51-200`, `10,001+`, `1001-5000 employees`) as a size
/// band, by its lower bound.
pub fn company_size_of(raw: &str) -> Option<CompanySize> {
    let cleaned: String = raw.chars().filter(|c| *c != ',' && *c != '.').collect();
    let digits: String = cleaned
        .trim()
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    let n: u64 = digits.parse().ok()?;
    Some(match n {
        0..=10 => CompanySize::S1To10,
        11..=50 => CompanySize::S11To50,
        51..=200 => CompanySize::S51To200,
        201..=500 => CompanySize::S201To500,
        501..=1000 => CompanySize::S501To1000,
        1001..=5000 => CompanySize::S1001To5000,
        _ => CompanySize::S5001Plus,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::mapping::{Unmapped, map_headers};

    fn run(headers: &[&str], row: &[&str], region: Option<&str>) -> Prepared {
        let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        let mapping = map_headers(&headers, &HashMap::new(), Unmapped::Custom).expect("maps");
        let raw = RawRow {
            row: 2,
            fields: row.iter().map(|f| (*f).to_owned()).collect(),
        };
        let opts = RowOptions {
            region: region.map(str::to_owned),
            tags: vec!["webinar".into()],
        };
        prepare(&mapping, raw, &opts)
    }

    #[test]
    fn a_full_row_becomes_a_clean_contact_and_account() {
        let p = run(
            &[
                "Full Name",
                "E-mail",
                "Phone Number",
                "Job Title",
                "Company Name",
                "Website",
                "Location",
                "Lead Source",
            ],
            &[
                "ADA LOVELACE",
                " Ada@Analytical.co.uk ",
                "020 7946 0958",
                "VP Engineering",
                "Analytical Engines Ltd",
                "https://www.analytical.co.uk/about",
                "London, England, United Kingdom",
                "Conference",
            ],
            Some("GB"),
        );
        let d = p.result.expect("usable");
        let c = d.contact.expect("a person");
        assert_eq!(c.first_name.as_deref(), Some("Ada"));
        assert_eq!(c.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(c.email.as_deref(), Some("ada@analytical.co.uk"));
        assert_eq!(c.phone.as_deref(), Some("+442079460958"));
        assert_eq!(c.seniority, Some(Seniority::Executive));
        assert_eq!(c.country.as_deref(), Some("GB"));
        assert_eq!(c.city.as_deref(), Some("London"));
        assert_eq!(c.timezone.as_deref(), Some("Europe/London"));
        assert_eq!(c.tags, ["webinar"]);
        assert_eq!(
            c.custom_fields.get("lead_source"),
            Some(&"Conference".into())
        );
        assert_eq!(
            c.custom_fields.get("department"),
            Some(&"engineering".into())
        );
        let a = d.account.expect("an account");
        assert_eq!(a.fields.name, "Analytical Engines Ltd");
        assert_eq!(a.fields.domain.as_deref(), Some("analytical.co.uk"));
        assert_eq!(a.key, "analytical engines");
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn a_bad_email_rejects_the_row_naming_column_and_value() {
        let p = run(&["Name", "Email"], &["Bob", "bob@@example"], None);
        let r = p.result.expect_err("rejected");
        assert_eq!(r.column, "Email");
        assert_eq!(r.value, "bob@@example");
        assert!(!r.reason.is_empty());
        assert_eq!(r.fields, ["Bob", "bob@@example"]);
    }

    #[test]
    fn unreadable_optional_values_are_kept_with_a_warning() {
        let p = run(
            &["Email", "Phone", "Country"],
            &["x@acme.com", "call me", "Narnia"],
            Some("US"),
        );
        let d = p.result.expect("usable");
        let c = d.contact.expect("a person");
        assert_eq!(c.phone, None);
        assert_eq!(c.custom_fields.get("phone"), Some(&"call me".into()));
        assert_eq!(c.custom_fields.get("country"), Some(&"Narnia".into()));
        assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
        assert!(d.warnings.iter().any(|w| w.starts_with("Phone: `call me`")));
    }

    #[test]
    fn phones_are_read_in_the_rows_country_before_the_default_region() {
        let d = run(
            &["Email", "Phone", "Country"],
            &["x@acme.co.uk", "020 7946 0958", "UK"],
            Some("US"),
        )
        .result
        .expect("usable");
        assert_eq!(
            d.contact.expect("person").phone.as_deref(),
            Some("+442079460958")
        );
    }

    #[test]
    fn typos_and_role_addresses_are_flagged() {
        let d = run(&["Email"], &["info@gmial.com"], None)
            .result
            .expect("usable");
        assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
        assert!(d.warnings.iter().any(|w| w.contains("gmail.com")));
    }

    #[test]
    fn company_only_rows_are_accounts_and_empty_rows_are_rejected() {
        let d = run(
            &["Company", "Domain", "Employees"],
            &["Acme, Inc.", "acme.com", "1,200"],
            None,
        )
        .result
        .expect("usable");
        assert!(d.contact.is_none());
        let a = d.account.expect("account");
        assert_eq!(a.fields.company_size, Some(CompanySize::S1001To5000));
        assert_eq!(a.key, "acme");
        let r = run(&["Email", "Name"], &["", "  "], None)
            .result
            .expect_err("empty");
        assert_eq!(r.reason, "the row is empty");
        let r = run(&["Email", "Notes"], &["", "hello"], None)
            .result
            .expect_err("nobody");
        assert!(r.reason.contains("no email, name or company"));
    }

    #[test]
    fn sizes_read_by_lower_bound() {
        assert_eq!(company_size_of("51-200"), Some(CompanySize::S51To200));
        assert_eq!(company_size_of("10,001+"), Some(CompanySize::S5001Plus));
        assert_eq!(company_size_of("7"), Some(CompanySize::S1To10));
        assert_eq!(company_size_of("many"), None);
        assert_eq!(seniority_of("c_suite"), Some(Seniority::Executive));
        assert_eq!(
            seniority_of("Individual Contributor"),
            Some(Seniority::IndividualContributor)
        );
        assert_eq!(
            seniority_of("entry"),
            Some(Seniority::IndividualContributor)
        );
    }
}
