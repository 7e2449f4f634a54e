//! Open and click tracking that tells the truth. The pixel (`GET /t/o/{token}`) and each
//! tracked link (`GET /t/c/{token}` → 302 to the link as it was written) carry a signed
//! token naming the email and the link: a URL that was not in the email is never a
//! redirect target, because the target is read from the email's own links, not the token.
//!
//! Every hit is stored raw (time, address, user agent, method) and classified:
//! - `proxy`: an image proxy fetched the pixel for the reader's mail client (Gmail's
//!   GoogleImageProxy; Apple Mail Privacy Protection, which fetches every image from
//!   Apple's 17.0.0.0/8 whether or not anyone reads);
//! - `scanner`: a security scanner followed the link (Safe Links, Proofpoint, Mimecast,
//!   Barracuda and the like by their user agents; a HEAD request; a hit within seconds of
//!   delivery; every link of the email within two seconds);
//! - `human` otherwise.
//!
//! Only human hits set `opened_at` and `clicked_at` and emit `email.opened` and
//! `email.clicked`: nothing downstream branches on a machine.

use std::net::IpAddr;

use axum::{
    Router,
    extract::{Path, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use salesos_model::text_enum;
use sea_orm::FromQueryResult;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    links::{self, Purpose},
    store::{self, EmailRow},
};
use crate::{
    platform::{
        auth::middleware::client_ip,
        runtime::events,
        state::AppState,
        store::{Db, Store, exec, statement},
    },
    topics::{EMAIL_CLICKED, EMAIL_OPENED},
};

text_enum! {
    /// Who (or what) made a hit.
    pub enum HitClass {
        Human = "human",
        /// An image proxy fetching for a mail client (Gmail, Apple Mail Privacy Protection).
        Proxy = "proxy",
        /// A security scanner following links before the reader does.
        Scanner = "scanner",
    }
}

/// A hit on an email's pixel or one of its links, as stored.
#[derive(Clone, Debug, Serialize, ToSchema, FromQueryResult)]
pub struct Hit {
    pub id: Uuid,
    /// `open` or `click`.
    pub kind: String,
    pub link_idx: Option<i32>,
    pub url: Option<String>,
    pub at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: Option<String>,
    pub method: String,
    /// `human`, `proxy` or `scanner`.
    pub class: String,
    /// Why it was classified so.
    pub reason: String,
}

/// A hit of one kind within this long of delivery is a scanner's: no person opens a
/// message and clicks in it that fast.
const SCANNER_WINDOW_SECS: i64 = 10;

const SCANNER_AGENTS: &[&str] = &[
    "bingpreview",
    "safelinks",
    "microsoft office",
    "proofpoint",
    "mimecast",
    "barracuda",
    "forcepoint",
    "trendmicro",
    "symantec",
    "cisco",
    "ironport",
    "sophos",
    "zscaler",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "headlesschrome",
];

/// What the hit says about who made it.
pub struct Seen<'a> {
    pub kind: &'a str,
    pub method: &'a Method,
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// For a click: how many other links of the email were clicked in the two seconds
    /// before it, and how many links it has.
    pub other_links_just_clicked: usize,
    pub links: usize,
}

pub fn classify(s: &Seen<'_>) -> (HitClass, String) {
    let ua = s.user_agent.unwrap_or("").to_ascii_lowercase();
    if s.kind == "open" {
        if ua.contains("googleimageproxy") || ua.contains("ggpht.com") {
            return (HitClass::Proxy, "Gmail's image proxy".into());
        }
        if let Ok(IpAddr::V4(v4)) = s.ip.parse::<IpAddr>()
            && v4.octets().first() == Some(&17)
        {
            return (
                HitClass::Proxy,
                "Apple Mail Privacy Protection (17.0.0.0/8)".into(),
            );
        }
    }
    if *s.method == Method::HEAD {
        return (HitClass::Scanner, "a HEAD request".into());
    }
    if let Some(agent) = SCANNER_AGENTS.iter().find(|a| ua.contains(*a)) {
        return (HitClass::Scanner, format!("user agent names `{agent}`"));
    }
    if ua.is_empty() {
        return (HitClass::Scanner, "no user agent".into());
    }
    if let Some(sent) = s.sent_at {
        let secs = (s.at - sent).num_seconds();
        if s.kind == "click" && secs < SCANNER_WINDOW_SECS {
            return (
                HitClass::Scanner,
                format!("clicked {secs} s after delivery"),
            );
        }
    }
    if s.kind == "click" && s.links > 1 && s.other_links_just_clicked + 1 >= s.links {
        return (
            HitClass::Scanner,
            "every link of the email within two seconds".into(),
        );
    }
    (HitClass::Human, "no sign of a machine".into())
}

/// Rewrite each `href` to an http(s) URL in `html` through the click endpoint: the links
/// in order, and the HTML that points at `{base}/t/c/{token}` instead.
pub fn rewrite_links(
    html: &str,
    base: &str,
    token: impl Fn(u16) -> String,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(html.len() + 256);
    let mut links = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower.get(at..).and_then(|s| s.find("href=")) {
        let start = at + found + 5;
        let Some(quote) = html
            .get(start..start + 1)
            .filter(|q| *q == "\"" || *q == "'")
        else {
            out.push_str(html.get(at..start).unwrap_or_default());
            at = start;
            continue;
        };
        let value_start = start + 1;
        let Some(len) = html.get(value_start..).and_then(|s| s.find(quote)) else {
            break;
        };
        let value = html.get(value_start..value_start + len).unwrap_or_default();
        out.push_str(html.get(at..value_start).unwrap_or_default());
        let is_web = {
            let v = value.trim_start().to_ascii_lowercase();
            v.starts_with("http://") || v.starts_with("https://")
        };
        match u16::try_from(links.len()) {
            Ok(n) if is_web && links.len() < 500 => {
                links.push(value.trim().replace("&amp;", "&"));
                out.push_str(&format!("{base}/t/c/{}", token(n)));
            }
            _ => out.push_str(value),
        }
        at = value_start + len;
    }
    out.push_str(html.get(at..).unwrap_or_default());
    (out, links)
}

/// The pixel, before the closing `</body>` if there is one.
pub fn with_pixel(html: &str, url: &str) -> String {
    let img = format!(
        "<img src=\"{url}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;width:1px;height:1px;border:0\">"
    );
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(i) => format!(
            "{}{img}{}",
            html.get(..i).unwrap_or(html),
            html.get(i..).unwrap_or("")
        ),
        None => format!("{html}\n{img}"),
    }
}

pub async fn insert_links<C: Db>(
    conn: &C,
    email_id: Uuid,
    links: &[String],
) -> Result<(), sea_orm::DbErr> {
    for (i, url) in links.iter().enumerate() {
        exec(
            conn,
            "INSERT INTO email_links (email_id, idx, url) VALUES ($1, $2, $3)",
            vec![
                email_id.into(),
                i32::try_from(i).unwrap_or(i32::MAX).into(),
                url.clone().into(),
            ],
        )
        .await?;
    }
    Ok(())
}

#[derive(FromQueryResult)]
struct LinkRow {
    url: String,
}

async fn link<C: Db>(conn: &C, email_id: Uuid, idx: u16) -> Result<Option<String>, sea_orm::DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT url FROM email_links WHERE email_id = $1 AND idx = $2",
        vec![email_id.into(), i32::from(idx).into()],
    );
    Ok(LinkRow::find_by_statement(stmt)
        .one(conn)
        .await?
        .map(|r| r.url))
}

/// The hits of an email, oldest first.
pub async fn hits<C: Db>(conn: &C, email_id: Uuid) -> Result<Vec<Hit>, sea_orm::DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT id, kind, link_idx, url, at, ip, user_agent, method, class, reason \
         FROM email_hits WHERE email_id = $1 ORDER BY at, id",
        vec![email_id.into()],
    );
    Hit::find_by_statement(stmt).all(conn).await
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t/o/{token}", get(open))
        .route("/t/c/{token}", get(click))
}

/// A transparent 1×1 GIF.
const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    res
}

fn pixel() -> Response {
    no_store(([(header::CONTENT_TYPE, "image/gif")], GIF).into_response())
}

/// The email a tracking token names, its signature checked.
async fn checked(store: &Store, token: &str, want_click: bool) -> Option<(Purpose, EmailRow)> {
    let (purpose, id) = links::tracked(token)?;
    if matches!(purpose, Purpose::Click(_)) != want_click {
        return None;
    }
    let conn = store.conn();
    let email = store::by_id(conn, id).await.ok()??;
    let key = links::key(conn, store, email.workspace_id).await.ok()?;
    links::verify(&key, token, purpose, id).then_some((purpose, email))
}

/// Who asked, read from the request before anything waits.
struct Client {
    method: Method,
    ip: String,
    user_agent: Option<String>,
}

impl Client {
    fn of(req: &Request) -> Self {
        Self {
            method: req.method().clone(),
            ip: client_ip(req),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(512).collect()),
        }
    }
}

async fn open(State(state): State<AppState>, Path(token): Path<String>, req: Request) -> Response {
    let req = Client::of(&req);
    // Whatever happens, a mail client gets its image: a broken one says nothing to anyone.
    if let Some((_, email)) = checked(&state.store, &token, false).await
        && let Err(e) = record(&state.store, &email, None, None, &req).await
    {
        tracing::error!(error = %e, email_id = %email.id, "an open was not recorded");
    }
    pixel()
}

async fn click(State(state): State<AppState>, Path(token): Path<String>, req: Request) -> Response {
    let req = Client::of(&req);
    let Some((Purpose::Click(idx), email)) = checked(&state.store, &token, true).await else {
        return no_store((StatusCode::NOT_FOUND, "This link is not valid.").into_response());
    };
    let url = match link(state.store.conn(), email.id, idx).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return no_store((StatusCode::NOT_FOUND, "This link is not valid.").into_response());
        }
        Err(e) => {
            tracing::error!(error = %e, "a tracked link could not be read");
            return no_store(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    if let Err(e) = record(&state.store, &email, Some(idx), Some(&url), &req).await {
        tracing::error!(error = %e, email_id = %email.id, "a click was not recorded");
    }
    let Ok(location) = HeaderValue::from_str(&url) else {
        return no_store((StatusCode::NOT_FOUND, "This link is not valid.").into_response());
    };
    no_store((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

/// Store the hit, classified; a human's first open or click sets the email's time and
/// says so.
async fn record(
    store: &Store,
    email: &EmailRow,
    idx: Option<u16>,
    url: Option<&str>,
    req: &Client,
) -> Result<(), sea_orm::DbErr> {
    let kind = if idx.is_some() { "click" } else { "open" };
    let ip = req.ip.clone();
    let user_agent = req.user_agent.clone();
    let txn = store.write().await?;
    let at = txn.now();
    let (others, total) = match idx {
        Some(i) => (
            store::count(
                &txn,
                "SELECT COUNT(DISTINCT link_idx) AS n FROM email_hits WHERE email_id = $1 AND kind = 'click' \
                 AND link_idx <> $2 AND at >= $3",
                vec![email.id.into(), i32::from(i).into(), (at - chrono::Duration::seconds(2)).into()],
            )
            .await?,
            store::count(&txn, "SELECT COUNT(*) AS n FROM email_links WHERE email_id = $1", vec![email.id.into()]).await?,
        ),
        None => (0, 0),
    };
    let (class, reason) = classify(&Seen {
        kind,
        method: &req.method,
        ip: &ip,
        user_agent: user_agent.as_deref(),
        at,
        sent_at: email.sent_at,
        other_links_just_clicked: usize::try_from(others).unwrap_or(0),
        links: usize::try_from(total).unwrap_or(0),
    });
    exec(
        &txn,
        "INSERT INTO email_hits (id, workspace_id, email_id, kind, link_idx, url, at, ip, user_agent, method, class, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        vec![
            txn.new_id().into(),
            email.workspace_id.into(),
            email.id.into(),
            kind.into(),
            idx.map(i32::from).into(),
            url.map(str::to_owned).into(),
            at.into(),
            ip.clone().into(),
            user_agent.clone().into(),
            req.method.as_str().into(),
            class.as_str().into(),
            reason.clone().into(),
        ],
    )
    .await?;
    if class == HitClass::Human {
        let column = if kind == "click" {
            "clicked_at"
        } else {
            "opened_at"
        };
        let first = exec(
            &txn,
            &format!("UPDATE emails SET {column} = $1 WHERE id = $2 AND {column} IS NULL"),
            vec![at.into(), email.id.into()],
        )
        .await?
            == 1;
        if first {
            let topic = if kind == "click" {
                &EMAIL_CLICKED
            } else {
                &EMAIL_OPENED
            };
            let data = serde_json::to_value(super::Engaged {
                email_id: email.id,
                contact_id: email.contact_id,
                at,
                url: url.map(str::to_owned),
            })
            .unwrap_or_default();
            events::emit(
                &txn,
                events::NewEvent {
                    workspace_id: email.workspace_id,
                    event_type: topic.name,
                    entity_type: "email",
                    entity_id: Some(email.id.to_string()),
                    source: "tracking",
                    data,
                },
            )
            .await?;
        }
    }
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn seen<'a>(
        kind: &'a str,
        ua: Option<&'a str>,
        ip: &'a str,
        method: &'a Method,
        after: i64,
    ) -> Seen<'a> {
        let sent = Utc
            .with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
            .single()
            .expect("t");
        Seen {
            kind,
            method,
            ip,
            user_agent: ua,
            at: sent + chrono::Duration::seconds(after),
            sent_at: Some(sent),
            other_links_just_clicked: 0,
            links: 3,
        }
    }

    #[test]
    fn machines_are_told_from_people_with_the_reason() {
        let get = Method::GET;
        let head = Method::HEAD;
        let firefox =
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0");
        let gmail = Some(
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        );
        assert_eq!(
            classify(&seen("open", gmail, "66.102.8.1", &get, 600)).0,
            HitClass::Proxy
        );
        let apple = classify(&seen("open", Some("Mozilla/5.0"), "17.58.1.2", &get, 5));
        assert_eq!(apple.0, HitClass::Proxy);
        assert!(apple.1.contains("Privacy Protection"));
        assert_eq!(
            classify(&seen("click", firefox, "1.2.3.4", &head, 600)).0,
            HitClass::Scanner
        );
        let fast = classify(&seen("click", firefox, "1.2.3.4", &get, 3));
        assert_eq!(
            (fast.0, fast.1.as_str()),
            (HitClass::Scanner, "clicked 3 s after delivery")
        );
        let safe = classify(&seen(
            "click",
            Some("Mozilla/5.0 BingPreview/1.0b"),
            "1.2.3.4",
            &get,
            600,
        ));
        assert_eq!(safe.0, HitClass::Scanner);
        let mut all = seen("click", firefox, "1.2.3.4", &get, 600);
        all.other_links_just_clicked = 2;
        assert_eq!(classify(&all).0, HitClass::Scanner);
        assert_eq!(
            classify(&seen("click", firefox, "1.2.3.4", &get, 600)).0,
            HitClass::Human
        );
        assert_eq!(
            classify(&seen("open", firefox, "1.2.3.4", &get, 600)).0,
            HitClass::Human
        );
    }

    #[test]
    fn web_links_are_rewritten_and_others_left_alone() {
        let html = r#"<a href="https://acme.test/a?x=1&amp;y=2">A</a> <a HREF='http://b.test'>B</a> <a href="mailto:x@y">m</a> <a href=plain>p</a>"#;
        let (out, links) = rewrite_links(html, "https://t.test", |n| format!("tok{n}"));
        assert_eq!(links, ["https://acme.test/a?x=1&y=2", "http://b.test"]);
        assert!(out.contains(r#"href="https://t.test/t/c/tok0""#), "{out}");
        assert!(out.contains("HREF='https://t.test/t/c/tok1'"), "{out}");
        assert!(
            out.contains(r#"href="mailto:x@y""#) && out.contains("href=plain"),
            "{out}"
        );
        assert!(with_pixel("<p>x</p></BODY>", "u").ends_with("\"></BODY>"));
    }
}
