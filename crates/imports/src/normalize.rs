//! Cleaning imported values, each a pure function: email addresses (with role, disposable
//! and typo flags), phone numbers to E.164, websites to domains, company names to a
//! matching key, personal names, job titles to seniority and department, and a time zone
//! inferred from where the person is.

use crate::model::values::{Domain, EmailAddress, Invalid};

/// An email address after cleaning, with what a sender should know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedEmail {
    /// Trimmed and lower-cased.
    pub address: String,
    /// A shared mailbox (`info@`, `sales@`), not a person.
    pub role: bool,
    /// A throwaway-mail provider.
    pub disposable: bool,
    /// The likely intended address when the domain is one letter off a big provider
    /// (`gmial.com` → `gmail.com`).
    pub suggestion: Option<String>,
}

/// Local parts of shared mailboxes.
const ROLE_ACCOUNTS: &[&str] = &[
    "accounts",
    "admin",
    "billing",
    "careers",
    "contact",
    "enquiries",
    "finance",
    "hello",
    "help",
    "hr",
    "info",
    "inquiries",
    "jobs",
    "marketing",
    "no-reply",
    "noreply",
    "office",
    "postmaster",
    "press",
    "sales",
    "support",
    "team",
    "webmaster",
];

/// Throwaway-mail domains seen in lead lists.
const DISPOSABLE: &[&str] = &[
    "10minutemail.com",
    "dispostable.com",
    "emailondeck.com",
    "fakeinbox.com",
    "getnada.com",
    "guerrillamail.com",
    "guerrillamail.net",
    "mailinator.com",
    "maildrop.cc",
    "mailnesia.com",
    "mintemail.com",
    "moakt.com",
    "sharklasers.com",
    "spamgourmet.com",
    "temp-mail.org",
    "tempail.com",
    "tempmail.com",
    "throwawaymail.com",
    "trashmail.com",
    "yopmail.com",
];

/// Big mailbox providers: a domain one edit away from one of these is probably a typo.
const PROVIDERS: &[&str] = &[
    "aol.com",
    "gmail.com",
    "gmx.de",
    "googlemail.com",
    "hotmail.co.uk",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "msn.com",
    "outlook.com",
    "protonmail.com",
    "web.de",
    "yahoo.co.uk",
    "yahoo.com",
];

/// Real domains that sit one edit from a provider and must not be "corrected".
const NOT_TYPOS: &[&str] = &[
    "gmx.com",
    "gmx.net",
    "mail.com",
    "me.com",
    "mac.com",
    "ymail.com",
    "live.de",
    "web.com",
];

/// Clean and check an email address.
pub fn email(raw: &str) -> Result<CheckedEmail, Invalid> {
    let parsed = EmailAddress::parse(raw)?;
    let address = parsed.as_str().to_owned();
    let domain = parsed.domain();
    let local = address.split('@').next().unwrap_or("");
    let base = local.split('+').next().unwrap_or(local);
    let suggestion = typo_of(domain).map(|fixed| format!("{local}@{fixed}"));
    Ok(CheckedEmail {
        role: ROLE_ACCOUNTS.contains(&base),
        disposable: DISPOSABLE.contains(&domain),
        suggestion,
        address,
    })
}

fn typo_of(domain: &str) -> Option<&'static str> {
    if PROVIDERS.contains(&domain) || NOT_TYPOS.contains(&domain) {
        return None;
    }
    // One edit changes the length by one at most: most domains are ruled out without
    // computing a distance.
    let length = domain.chars().count();
    PROVIDERS
        .iter()
        .filter(|p| p.len().abs_diff(length) <= 1)
        .find(|p| strsim::damerau_levenshtein(p, domain) == 1)
        .copied()
}

/// A phone number in E.164 with what was typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    /// `+14155550100`.
    pub e164: String,
    pub original: String,
    /// The ISO country the number belongs to, when the numbering plan says.
    pub country: Option<String>,
}

/// Parse a phone number written any common way (`(415) 555-0100`, `+44 20 7946 0958`,
/// `0049 30 1234567`, `tel:+1-415-555-0100`) to E.164. Numbers without a country code are
/// read in `default_region` (ISO code); without one they must start with `+` or `00`.
pub fn phone(raw: &str, default_region: Option<&str>) -> Result<Phone, Invalid> {
    let original = raw.trim();
    if original.is_empty() {
        return Err(Invalid("is empty".into()));
    }
    let mut s = original
        .trim_start_matches("tel:")
        .trim_start_matches("TEL:")
        .trim();
    // An extension is kept out of E.164.
    let lower = s.to_ascii_lowercase();
    if let Some(i) = [" ext", " x", "ext.", "#"]
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
    {
        s = s[..i].trim();
    }
    let international = s.starts_with('+') || s.starts_with("00");
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let text = if s.starts_with("00") {
        format!("+{}", digits.trim_start_matches("00"))
    } else if international {
        format!("+{digits}")
    } else {
        digits.clone()
    };
    let region = match default_region {
        Some(r) => Some(
            r.trim()
                .to_ascii_uppercase()
                .parse::<phonenumber::country::Id>()
                .map_err(|_| Invalid(format!("`{r}` is not a country code for phone numbers")))?,
        ),
        None => None,
    };
    if !international && region.is_none() {
        return Err(Invalid(
            "has no country code (+…) and the import sets no default region".into(),
        ));
    }
    if !(4..=17).contains(&digits.len()) {
        return Err(Invalid(
            "is not a phone number (wrong number of digits)".into(),
        ));
    }
    let number = phonenumber::parse(if international { None } else { region }, &text)
        .map_err(|_| Invalid("is not a phone number".into()))?;
    if !phonenumber::is_valid(&number) {
        return Err(Invalid(
            "is not a valid number in its country's numbering plan".into(),
        ));
    }
    Ok(Phone {
        e164: number.format().mode(phonenumber::Mode::E164).to_string(),
        original: original.to_owned(),
        country: number
            .country()
            .id()
            .map(|id| format!("{id:?}").to_ascii_uppercase()),
    })
}

/// A website, URL or email domain as a bare domain (`https://www.Acme.com/about` →
/// `acme.com`).
pub fn website(raw: &str) -> Result<String, Invalid> {
    Domain::parse(raw).map(|d| d.as_str().to_owned())
}

/// A person's name split into first and last.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PersonName {
    pub first: Option<String>,
    pub last: Option<String>,
}

/// Split a full name (`Ada Lovelace`, `LOVELACE, ADA`, `Dr. Ada King-Noel`) and case it
/// sensibly when it came all upper or all lower case. Names typed with mixed case are
/// kept as typed (`DeShawn`, `McDonald`).
pub fn full_name(raw: &str) -> PersonName {
    let raw = raw.trim();
    let (first, last) = match raw.split_once(',') {
        Some((last, first)) => (first.trim().to_owned(), last.trim().to_owned()),
        None => {
            let words: Vec<&str> = raw
                .split_whitespace()
                .filter(|w| !is_honorific(w))
                .collect();
            match words.split_first() {
                Some((f, rest)) => (f.to_string(), rest.join(" ")),
                None => (String::new(), String::new()),
            }
        }
    };
    PersonName {
        first: Some(person_case(&first)).filter(|s| !s.is_empty()),
        last: Some(person_case(&last)).filter(|s| !s.is_empty()),
    }
}

fn is_honorific(w: &str) -> bool {
    matches!(
        w.trim_end_matches('.').to_lowercase().as_str(),
        "mr" | "mrs" | "ms" | "mx" | "dr" | "prof" | "sir"
    )
}

/// Words that stay lower case inside a surname (`Ludwig van Beethoven`).
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "da", "di", "du", "la", "le", "del", "dos", "das", "bin",
];

/// Case one name: kept when it is already mixed case, else each word capitalised with
/// `Mc`, `O'` and hyphens handled and particles (`van`, `de`) in lower case.
pub fn person_case(raw: &str) -> String {
    let s = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let has_upper = s.chars().any(char::is_uppercase);
    let has_lower = s.chars().any(char::is_lowercase);
    if has_upper && has_lower {
        return s;
    }
    let lower = s.to_lowercase();
    let words = lower.split(' ').count();
    lower
        .split(' ')
        .enumerate()
        .map(|(i, w)| {
            // A particle before another word stays lower case (`van Beethoven`); alone it
            // is the name (`Van`).
            if i + 1 < words && PARTICLES.contains(&w) {
                w.to_owned()
            } else {
                w.split('-')
                    .map(|part| {
                        part.split('\'')
                            .map(capitalise)
                            .collect::<Vec<_>>()
                            .join("'")
                    })
                    .map(|p| match p.strip_prefix("Mc") {
                        Some(rest) if !rest.is_empty() => format!("Mc{}", capitalise(rest)),
                        _ => p,
                    })
                    .collect::<Vec<_>>()
                    .join("-")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// How senior a job title is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seniority {
    Executive,
    Director,
    Manager,
    IndividualContributor,
}

impl Seniority {
    pub fn as_str(self) -> &'static str {
        match self {
            Seniority::Executive => "executive",
            Seniority::Director => "director",
            Seniority::Manager => "manager",
            Seniority::IndividualContributor => "individual_contributor",
        }
    }
}

/// The words of a title, lower-cased, with `&`, `/`, `,` and `-` as separators.
fn title_words(title: &str) -> Vec<String> {
    title
        .to_lowercase()
        .replace(['&', '/', ',', '-', '(', ')', '|'], " ")
        .split_whitespace()
        .map(|w| w.trim_matches('.').to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

fn has_phrase(words: &[String], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    words
        .windows(p.len())
        .any(|w| w.iter().zip(&p).all(|(a, b)| a == b))
}

/// A job title's seniority: `VP Sales` → executive, `Head of Growth` → director, `Sales
/// Team Lead` → manager, `Account Executive` → individual contributor.
pub fn seniority(title: &str) -> Option<Seniority> {
    let w = title_words(title);
    if w.is_empty() {
        return None;
    }
    let any = |list: &[&str]| list.iter().any(|p| has_phrase(&w, p));
    if any(&[
        "ceo",
        "cto",
        "cfo",
        "coo",
        "cmo",
        "cro",
        "cio",
        "ciso",
        "cpo",
        "chief",
        "founder",
        "cofounder",
        "co founder",
        "owner",
        "president",
        "vp",
        "svp",
        "evp",
        "vice president",
        "partner",
        "managing director",
        "general manager",
        "gm",
        "general counsel",
    ]) && !any(&["assistant to", "executive assistant", "partner manager"])
    {
        return Some(Seniority::Executive);
    }
    if any(&["director", "head", "head of"]) {
        return Some(Seniority::Director);
    }
    if any(&[
        "manager",
        "mgr",
        "lead",
        "team lead",
        "supervisor",
        "teamleiter",
    ]) {
        return Some(Seniority::Manager);
    }
    Some(Seniority::IndividualContributor)
}

/// A job title's department, by the first rule whose words it contains.
pub fn department(title: &str) -> Option<&'static str> {
    let w = title_words(title);
    let rules: &[(&str, &[&str])] = &[
        (
            "customer_success",
            &[
                "customer success",
                "support",
                "customer service",
                "customer experience",
                "csm",
            ],
        ),
        (
            "sales",
            &[
                "sales",
                "account executive",
                "ae",
                "sdr",
                "bdr",
                "business development",
                "revenue",
                "cro",
                "account manager",
                "commercial",
            ],
        ),
        (
            "marketing",
            &[
                "marketing",
                "cmo",
                "growth",
                "brand",
                "content",
                "seo",
                "demand",
                "communications",
                "pr",
            ],
        ),
        ("product", &["product", "cpo"]),
        ("design", &["design", "designer", "ux", "ui"]),
        (
            "it",
            &[
                "it",
                "information technology",
                "cio",
                "ciso",
                "security",
                "sysadmin",
                "systems administrator",
            ],
        ),
        (
            "engineering",
            &[
                "engineering",
                "engineer",
                "developer",
                "software",
                "cto",
                "devops",
                "architect",
                "data",
                "technical",
            ],
        ),
        (
            "finance",
            &[
                "finance",
                "financial",
                "cfo",
                "accounting",
                "accountant",
                "controller",
                "treasury",
            ],
        ),
        (
            "hr",
            &[
                "hr",
                "human resources",
                "people",
                "talent",
                "recruiter",
                "recruiting",
                "chro",
            ],
        ),
        (
            "legal",
            &["legal", "counsel", "attorney", "lawyer", "compliance"],
        ),
        (
            "operations",
            &[
                "operations",
                "ops",
                "coo",
                "supply chain",
                "logistics",
                "procurement",
            ],
        ),
        (
            "executive",
            &[
                "ceo",
                "founder",
                "cofounder",
                "co founder",
                "owner",
                "president",
                "managing director",
            ],
        ),
    ];
    rules
        .iter()
        .find(|(_, words)| words.iter().any(|p| has_phrase(&w, p)))
        .map(|(d, _)| *d)
}

/// An ISO country code from a code or a common name (`US`, `USA`, `United States`,
/// `Deutschland`, `UK`).
pub fn country_code(raw: &str) -> Option<&'static str> {
    let s = raw.trim().trim_end_matches('.').to_lowercase();
    if s.is_empty() {
        return None;
    }
    COUNTRIES
        .iter()
        .find(|(code, _, names)| code.eq_ignore_ascii_case(&s) || names.contains(&s.as_str()))
        .map(|(code, _, _)| *code)
}

/// Country code, its time zone when the country has one (or one that nearly everyone
/// uses), and the names it goes by in lists.
const COUNTRIES: &[(&str, Option<&str>, &[&str])] = &[
    (
        "US",
        None,
        &[
            "usa",
            "united states",
            "united states of america",
            "u.s.",
            "u.s.a",
            "america",
        ],
    ),
    ("CA", None, &["canada"]),
    (
        "GB",
        Some("Europe/London"),
        &[
            "uk",
            "united kingdom",
            "great britain",
            "england",
            "scotland",
            "wales",
            "britain",
        ],
    ),
    ("IE", Some("Europe/Dublin"), &["ireland"]),
    ("DE", Some("Europe/Berlin"), &["germany", "deutschland"]),
    ("FR", Some("Europe/Paris"), &["france"]),
    ("ES", Some("Europe/Madrid"), &["spain", "españa", "espana"]),
    ("PT", Some("Europe/Lisbon"), &["portugal"]),
    ("IT", Some("Europe/Rome"), &["italy", "italia"]),
    (
        "NL",
        Some("Europe/Amsterdam"),
        &["netherlands", "the netherlands", "holland", "nederland"],
    ),
    (
        "BE",
        Some("Europe/Brussels"),
        &["belgium", "belgique", "belgië"],
    ),
    ("LU", Some("Europe/Luxembourg"), &["luxembourg"]),
    (
        "CH",
        Some("Europe/Zurich"),
        &["switzerland", "schweiz", "suisse"],
    ),
    (
        "AT",
        Some("Europe/Vienna"),
        &["austria", "österreich", "osterreich"],
    ),
    ("DK", Some("Europe/Copenhagen"), &["denmark", "danmark"]),
    ("SE", Some("Europe/Stockholm"), &["sweden", "sverige"]),
    ("NO", Some("Europe/Oslo"), &["norway", "norge"]),
    ("FI", Some("Europe/Helsinki"), &["finland", "suomi"]),
    ("IS", Some("Atlantic/Reykjavik"), &["iceland"]),
    ("PL", Some("Europe/Warsaw"), &["poland", "polska"]),
    ("CZ", Some("Europe/Prague"), &["czechia", "czech republic"]),
    ("SK", Some("Europe/Bratislava"), &["slovakia"]),
    ("HU", Some("Europe/Budapest"), &["hungary"]),
    ("RO", Some("Europe/Bucharest"), &["romania"]),
    ("BG", Some("Europe/Sofia"), &["bulgaria"]),
    ("GR", Some("Europe/Athens"), &["greece"]),
    ("HR", Some("Europe/Zagreb"), &["croatia"]),
    ("SI", Some("Europe/Ljubljana"), &["slovenia"]),
    ("RS", Some("Europe/Belgrade"), &["serbia"]),
    ("EE", Some("Europe/Tallinn"), &["estonia"]),
    ("LV", Some("Europe/Riga"), &["latvia"]),
    ("LT", Some("Europe/Vilnius"), &["lithuania"]),
    ("UA", Some("Europe/Kyiv"), &["ukraine"]),
    (
        "TR",
        Some("Europe/Istanbul"),
        &["turkey", "türkiye", "turkiye"],
    ),
    ("IL", Some("Asia/Jerusalem"), &["israel"]),
    ("AE", Some("Asia/Dubai"), &["uae", "united arab emirates"]),
    ("SA", Some("Asia/Riyadh"), &["saudi arabia"]),
    ("EG", Some("Africa/Cairo"), &["egypt"]),
    ("ZA", Some("Africa/Johannesburg"), &["south africa"]),
    ("NG", Some("Africa/Lagos"), &["nigeria"]),
    ("KE", Some("Africa/Nairobi"), &["kenya"]),
    ("MA", Some("Africa/Casablanca"), &["morocco"]),
    ("IN", Some("Asia/Kolkata"), &["india"]),
    ("PK", Some("Asia/Karachi"), &["pakistan"]),
    ("BD", Some("Asia/Dhaka"), &["bangladesh"]),
    ("CN", Some("Asia/Shanghai"), &["china"]),
    ("HK", Some("Asia/Hong_Kong"), &["hong kong"]),
    ("TW", Some("Asia/Taipei"), &["taiwan"]),
    ("JP", Some("Asia/Tokyo"), &["japan"]),
    (
        "KR",
        Some("Asia/Seoul"),
        &["south korea", "korea", "republic of korea"],
    ),
    ("SG", Some("Asia/Singapore"), &["singapore"]),
    ("MY", Some("Asia/Kuala_Lumpur"), &["malaysia"]),
    ("TH", Some("Asia/Bangkok"), &["thailand"]),
    ("VN", Some("Asia/Ho_Chi_Minh"), &["vietnam", "viet nam"]),
    ("PH", Some("Asia/Manila"), &["philippines"]),
    ("ID", None, &["indonesia"]),
    ("AU", None, &["australia"]),
    ("NZ", Some("Pacific/Auckland"), &["new zealand"]),
    ("BR", None, &["brazil", "brasil"]),
    ("AR", Some("America/Argentina/Buenos_Aires"), &["argentina"]),
    ("CL", Some("America/Santiago"), &["chile"]),
    ("CO", Some("America/Bogota"), &["colombia"]),
    ("PE", Some("America/Lima"), &["peru"]),
    ("MX", None, &["mexico", "méxico"]),
    ("RU", None, &["russia", "russian federation"]),
];

/// US states, Canadian provinces and Australian states: code, name, time zone (the zone
/// most of its people live in).
const REGIONS: &[(&str, &str, &str, &str)] = &[
    ("US", "AL", "alabama", "America/Chicago"),
    ("US", "AK", "alaska", "America/Anchorage"),
    ("US", "AZ", "arizona", "America/Phoenix"),
    ("US", "AR", "arkansas", "America/Chicago"),
    ("US", "CA", "california", "America/Los_Angeles"),
    ("US", "CO", "colorado", "America/Denver"),
    ("US", "CT", "connecticut", "America/New_York"),
    ("US", "DE", "delaware", "America/New_York"),
    ("US", "DC", "district of columbia", "America/New_York"),
    ("US", "FL", "florida", "America/New_York"),
    ("US", "GA", "georgia", "America/New_York"),
    ("US", "HI", "hawaii", "Pacific/Honolulu"),
    ("US", "ID", "idaho", "America/Boise"),
    ("US", "IL", "illinois", "America/Chicago"),
    ("US", "IN", "indiana", "America/Indiana/Indianapolis"),
    ("US", "IA", "iowa", "America/Chicago"),
    ("US", "KS", "kansas", "America/Chicago"),
    ("US", "KY", "kentucky", "America/New_York"),
    ("US", "LA", "louisiana", "America/Chicago"),
    ("US", "ME", "maine", "America/New_York"),
    ("US", "MD", "maryland", "America/New_York"),
    ("US", "MA", "massachusetts", "America/New_York"),
    ("US", "MI", "michigan", "America/Detroit"),
    ("US", "MN", "minnesota", "America/Chicago"),
    ("US", "MS", "mississippi", "America/Chicago"),
    ("US", "MO", "missouri", "America/Chicago"),
    ("US", "MT", "montana", "America/Denver"),
    ("US", "NE", "nebraska", "America/Chicago"),
    ("US", "NV", "nevada", "America/Los_Angeles"),
    ("US", "NH", "new hampshire", "America/New_York"),
    ("US", "NJ", "new jersey", "America/New_York"),
    ("US", "NM", "new mexico", "America/Denver"),
    ("US", "NY", "new york", "America/New_York"),
    ("US", "NC", "north carolina", "America/New_York"),
    ("US", "ND", "north dakota", "America/Chicago"),
    ("US", "OH", "ohio", "America/New_York"),
    ("US", "OK", "oklahoma", "America/Chicago"),
    ("US", "OR", "oregon", "America/Los_Angeles"),
    ("US", "PA", "pennsylvania", "America/New_York"),
    ("US", "RI", "rhode island", "America/New_York"),
    ("US", "SC", "south carolina", "America/New_York"),
    ("US", "SD", "south dakota", "America/Chicago"),
    ("US", "TN", "tennessee", "America/Chicago"),
    ("US", "TX", "texas", "America/Chicago"),
    ("US", "UT", "utah", "America/Denver"),
    ("US", "VT", "vermont", "America/New_York"),
    ("US", "VA", "virginia", "America/New_York"),
    ("US", "WA", "washington", "America/Los_Angeles"),
    ("US", "WV", "west virginia", "America/New_York"),
    ("US", "WI", "wisconsin", "America/Chicago"),
    ("US", "WY", "wyoming", "America/Denver"),
    ("CA", "BC", "british columbia", "America/Vancouver"),
    ("CA", "AB", "alberta", "America/Edmonton"),
    ("CA", "SK", "saskatchewan", "America/Regina"),
    ("CA", "MB", "manitoba", "America/Winnipeg"),
    ("CA", "ON", "ontario", "America/Toronto"),
    ("CA", "QC", "quebec", "America/Toronto"),
    ("CA", "NB", "new brunswick", "America/Halifax"),
    ("CA", "NS", "nova scotia", "America/Halifax"),
    ("CA", "PE", "prince edward island", "America/Halifax"),
    ("CA", "NL", "newfoundland and labrador", "America/St_Johns"),
    ("AU", "NSW", "new south wales", "Australia/Sydney"),
    ("AU", "VIC", "victoria", "Australia/Melbourne"),
    ("AU", "QLD", "queensland", "Australia/Brisbane"),
    ("AU", "WA", "western australia", "Australia/Perth"),
    ("AU", "SA", "south australia", "Australia/Adelaide"),
    ("AU", "TAS", "tasmania", "Australia/Hobart"),
    (
        "AU",
        "ACT",
        "australian capital territory",
        "Australia/Sydney",
    ),
    ("AU", "NT", "northern territory", "Australia/Darwin"),
];

/// Big cities of countries with several time zones, and cities lists often carry without
/// a country: name, country, time zone.
const CITIES: &[(&str, &str, &str)] = &[
    ("new york", "US", "America/New_York"),
    ("new york city", "US", "America/New_York"),
    ("nyc", "US", "America/New_York"),
    ("boston", "US", "America/New_York"),
    ("miami", "US", "America/New_York"),
    ("atlanta", "US", "America/New_York"),
    ("washington", "US", "America/New_York"),
    ("philadelphia", "US", "America/New_York"),
    ("chicago", "US", "America/Chicago"),
    ("austin", "US", "America/Chicago"),
    ("dallas", "US", "America/Chicago"),
    ("houston", "US", "America/Chicago"),
    ("denver", "US", "America/Denver"),
    ("phoenix", "US", "America/Phoenix"),
    ("san francisco", "US", "America/Los_Angeles"),
    ("los angeles", "US", "America/Los_Angeles"),
    ("seattle", "US", "America/Los_Angeles"),
    ("san diego", "US", "America/Los_Angeles"),
    ("san jose", "US", "America/Los_Angeles"),
    ("portland", "US", "America/Los_Angeles"),
    ("toronto", "CA", "America/Toronto"),
    ("montreal", "CA", "America/Toronto"),
    ("vancouver", "CA", "America/Vancouver"),
    ("calgary", "CA", "America/Edmonton"),
    ("sydney", "AU", "Australia/Sydney"),
    ("melbourne", "AU", "Australia/Melbourne"),
    ("brisbane", "AU", "Australia/Brisbane"),
    ("perth", "AU", "Australia/Perth"),
    ("são paulo", "BR", "America/Sao_Paulo"),
    ("sao paulo", "BR", "America/Sao_Paulo"),
    ("rio de janeiro", "BR", "America/Sao_Paulo"),
    ("mexico city", "MX", "America/Mexico_City"),
    ("moscow", "RU", "Europe/Moscow"),
    ("jakarta", "ID", "Asia/Jakarta"),
    ("london", "GB", "Europe/London"),
    ("berlin", "DE", "Europe/Berlin"),
    ("munich", "DE", "Europe/Berlin"),
    ("paris", "FR", "Europe/Paris"),
    ("amsterdam", "NL", "Europe/Amsterdam"),
    ("madrid", "ES", "Europe/Madrid"),
    ("barcelona", "ES", "Europe/Madrid"),
    ("dublin", "IE", "Europe/Dublin"),
    ("stockholm", "SE", "Europe/Stockholm"),
    ("zurich", "CH", "Europe/Zurich"),
    ("tel aviv", "IL", "Asia/Jerusalem"),
    ("dubai", "AE", "Asia/Dubai"),
    ("bangalore", "IN", "Asia/Kolkata"),
    ("bengaluru", "IN", "Asia/Kolkata"),
    ("mumbai", "IN", "Asia/Kolkata"),
    ("singapore", "SG", "Asia/Singapore"),
    ("tokyo", "JP", "Asia/Tokyo"),
];

/// Where a person is, as far as a list says.
#[derive(Clone, Copy, Debug, Default)]
pub struct Whereabouts<'a> {
    pub country: Option<&'a str>,
    pub region: Option<&'a str>,
    pub city: Option<&'a str>,
    /// The country of their phone number.
    pub phone_country: Option<&'a str>,
}

/// Infer an IANA time zone: the city if known, else the state or province, else the
/// country when it has one zone, else the phone number's country when it has one. A
/// country with several zones and nothing finer gives no answer rather than a wrong one.
pub fn time_zone(at: Whereabouts<'_>) -> Option<&'static str> {
    let country = at.country.and_then(country_code);
    let norm = |s: &str| s.trim().trim_end_matches('.').to_lowercase();
    if let Some(city) = at.city.map(norm) {
        let hit = CITIES
            .iter()
            .find(|(name, c, _)| *name == city && country.is_none_or(|k| k == *c));
        if let Some((_, _, tz)) = hit {
            return Some(tz);
        }
    }
    if let Some(region) = at.region.map(norm) {
        let hit = REGIONS.iter().find(|(c, code, name, _)| {
            country.is_none_or(|k| k == *c)
                && (code.eq_ignore_ascii_case(&region) || *name == region)
        });
        // A bare two-letter region without a country is ambiguous (`WA`, `CA`), unless the
        // country is known.
        if let Some((_, _, _, tz)) = hit.filter(|_| country.is_some() || region.len() > 3) {
            return Some(tz);
        }
    }
    let single = |code: &str| {
        COUNTRIES
            .iter()
            .find(|(c, _, _)| *c == code)
            .and_then(|(_, tz, _)| *tz)
    };
    country
        .and_then(single)
        .or_else(|| at.phone_country.and_then(single))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_cleaned_and_flagged() {
        let e = email("  Ada.Lovelace@Example.COM ").expect("valid");
        assert_eq!(e.address, "ada.lovelace@example.com");
        assert!(!e.role && !e.disposable && e.suggestion.is_none());
        assert!(email("info@acme.com").expect("valid").role);
        assert!(email("sales+eu@acme.com").expect("valid").role);
        assert!(email("x@mailinator.com").expect("valid").disposable);
        assert_eq!(
            email("ada@gmial.com").expect("valid").suggestion.as_deref(),
            Some("ada@gmail.com")
        );
        assert_eq!(
            email("ada@hotmial.com")
                .expect("valid")
                .suggestion
                .as_deref(),
            Some("ada@hotmail.com")
        );
        assert_eq!(email("ada@mail.com").expect("valid").suggestion, None);
        assert_eq!(email("ada@gmail.com").expect("valid").suggestion, None);
        assert!(email("not an email").is_err());
        assert!(email("ada@").is_err());
        assert!(email("").is_err());
    }

    #[test]
    fn phones_become_e164_with_the_default_region() {
        let p = phone("(415) 555-2671", Some("US")).expect("valid");
        assert_eq!(p.e164, "+14155552671");
        assert_eq!(p.original, "(415) 555-2671");
        assert_eq!(p.country.as_deref(), Some("US"));
        assert_eq!(
            phone("+44 20 7946 0958", Some("US")).expect("valid").e164,
            "+442079460958"
        );
        assert_eq!(
            phone("0049 30 12345678", None).expect("valid").e164,
            "+493012345678"
        );
        assert_eq!(
            phone("030 12345678", Some("de")).expect("valid").e164,
            "+493012345678"
        );
        assert_eq!(
            phone("tel:+1-415-555-2671 ext. 12", None)
                .expect("valid")
                .e164,
            "+14155552671"
        );
        assert!(phone("415 555 2671", None).is_err(), "no region, no +");
        assert!(phone("12", Some("US")).is_err());
        assert!(phone("call me", Some("US")).is_err());
        assert!(phone("+1 555", Some("US")).is_err());
        assert!(phone("0301234", Some("XX")).is_err());
    }

    #[test]
    fn websites_become_bare_domains() {
        assert_eq!(
            website("https://www.Acme.com/about?x=1").expect("d"),
            "acme.com"
        );
        assert_eq!(website("acme.co.uk").expect("d"), "acme.co.uk");
        assert!(website("not a site").is_err());
    }

    #[test]
    fn names_are_split_and_cased() {
        assert_eq!(
            full_name("ada lovelace"),
            PersonName {
                first: Some("Ada".into()),
                last: Some("Lovelace".into())
            }
        );
        assert_eq!(
            full_name("LOVELACE, ADA"),
            PersonName {
                first: Some("Ada".into()),
                last: Some("Lovelace".into())
            }
        );
        let n = full_name("Dr. Ludwig VAN BEETHOVEN");
        assert_eq!(n.first.as_deref(), Some("Ludwig"));
        assert_eq!(n.last.as_deref(), Some("van Beethoven"));
        assert_eq!(person_case("van"), "Van");
        assert_eq!(person_case("LUDWIG VAN BEETHOVEN"), "Ludwig van Beethoven");
        assert_eq!(person_case("o'brien"), "O'Brien");
        assert_eq!(person_case("mcdonald"), "McDonald");
        assert_eq!(person_case("KING-NOEL"), "King-Noel");
        assert_eq!(person_case("DeShawn"), "DeShawn");
        assert_eq!(full_name("  "), PersonName::default());
        assert_eq!(full_name("Cher").last, None);
    }

    #[test]
    fn titles_give_seniority_and_department() {
        use Seniority::*;
        let cases = [
            ("CEO & Co-Founder", Executive, Some("executive")),
            ("VP of Sales", Executive, Some("sales")),
            ("Chief Revenue Officer", Executive, Some("sales")),
            ("Head of Growth", Director, Some("marketing")),
            ("Director, Product Design", Director, Some("product")),
            ("Sales Team Lead", Manager, Some("sales")),
            ("Engineering Manager", Manager, Some("engineering")),
            ("Account Executive", IndividualContributor, Some("sales")),
            (
                "Senior Software Engineer",
                IndividualContributor,
                Some("engineering"),
            ),
            (
                "Executive Assistant to the CEO",
                IndividualContributor,
                Some("executive"),
            ),
            (
                "Customer Success Manager",
                Manager,
                Some("customer_success"),
            ),
            ("Recruiter", IndividualContributor, Some("hr")),
            ("General Counsel", Executive, Some("legal")),
        ];
        for (title, s, d) in cases {
            assert_eq!(seniority(title), Some(s), "{title}");
            assert_eq!(department(title), d, "{title}");
        }
        assert_eq!(seniority("  "), None);
        assert_eq!(department("Wizard"), None);
    }

    #[test]
    fn time_zones_come_from_the_finest_place_known() {
        let tz = |country, region, city, phone_country| {
            time_zone(Whereabouts {
                country,
                region,
                city,
                phone_country,
            })
        };
        assert_eq!(tz(Some("Germany"), None, None, None), Some("Europe/Berlin"));
        assert_eq!(tz(Some("de"), None, None, None), Some("Europe/Berlin"));
        assert_eq!(
            tz(Some("USA"), Some("CA"), None, None),
            Some("America/Los_Angeles")
        );
        assert_eq!(
            tz(Some("US"), Some("Texas"), None, None),
            Some("America/Chicago")
        );
        assert_eq!(tz(None, Some("texas"), None, None), Some("America/Chicago"));
        assert_eq!(
            tz(None, Some("WA"), None, None),
            None,
            "WA alone is ambiguous"
        );
        assert_eq!(
            tz(Some("AU"), Some("WA"), None, None),
            Some("Australia/Perth")
        );
        assert_eq!(
            tz(Some("United States"), None, Some("Seattle"), None),
            Some("America/Los_Angeles")
        );
        assert_eq!(tz(None, None, Some("London"), None), Some("Europe/London"));
        assert_eq!(
            tz(Some("US"), None, None, None),
            None,
            "several zones, nothing finer"
        );
        assert_eq!(tz(None, None, None, Some("FR")), Some("Europe/Paris"));
        assert_eq!(tz(None, None, None, Some("US")), None);
        assert_eq!(tz(Some("Atlantis"), None, None, None), None);
        // Every zone named here is a real IANA zone.
        for (_, tz, _) in COUNTRIES {
            if let Some(tz) = tz {
                assert!(tz.parse::<chrono_tz::Tz>().is_ok(), "{tz}");
            }
        }
        for (_, _, _, tz) in REGIONS {
            assert!(tz.parse::<chrono_tz::Tz>().is_ok(), "{tz}");
        }
        for (_, _, tz) in CITIES {
            assert!(tz.parse::<chrono_tz::Tz>().is_ok(), "{tz}");
        }
    }
}
