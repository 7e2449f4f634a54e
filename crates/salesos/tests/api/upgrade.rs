//! Databases made by earlier builds upgrade in place. The fixtures were made by `main`
//! before the areas moved into crates of their own, when one migration created the
//! platform's and the sales tables together and another the import tables and the
//! contacts' matching keys (see `fixtures/main-2026-12-02.json` for what is in them).

use std::collections::BTreeSet;

use reqwest::{Client, Method, StatusCode};
use salesos::app::Application;
use salesos_platform::{settings::Settings, store::statement};
use sea_orm::{ConnectionTrait, Database, FromQueryResult};
use serde_json::{Value, json};

use crate::helpers::empty_settings;

/// The migrations a database of this build has, by name.
const MIGRATIONS: [&str; 16] = [
    "m0001_sales",
    "m0001_tenancy",
    "m0002_runtime",
    "m0003_webhooks",
    "m0004_cron",
    "m0005_import_tables",
    "m0005_matching_keys",
    "m0006_import_rows_expected",
    "m0006_lean_indexes",
    "m0007_master_keys",
    "m0007_sealed_webhook_secrets",
    "m0008_suppressions",
    "m0009_email_templates",
    "m0010_mailboxes",
    "m0011_sending_domains",
    "m0012_emails",
];

/// Put the fixture of this backend where `settings` point; its key and ids.
async fn load_fixture(settings: &Settings) -> Value {
    let all: Value = serde_json::from_str(include_str!("../fixtures/main-2026-12-02.json"))
        .expect("fixture manifest");
    match &settings.database_url {
        Some(url) => {
            let db = Database::connect(url.expose()).await.expect("connect");
            db.execute_unprepared(include_str!("../fixtures/main-2026-12-02.postgres.sql"))
                .await
                .expect("load the PostgreSQL dump");
            db.close().await.expect("close");
            all["postgres"].clone()
        }
        None => {
            std::fs::write(
                settings.data_dir.join("salesos.db"),
                include_bytes!("../fixtures/main-2026-12-02.sqlite"),
            )
            .expect("copy the SQLite database");
            all["sqlite"].clone()
        }
    }
}

/// Start SalesOS on `settings`; dropping the sender stops it.
async fn start(settings: &Settings) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = Application::build(settings.clone()).await.expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    (base, tx)
}

/// The fixture's database, opened beside the server (read-only on SQLite).
fn read_only_url(settings: &Settings) -> String {
    match &settings.database_url {
        Some(url) => url.expose().to_owned(),
        None => format!(
            "sqlite://{}?mode=ro",
            settings.data_dir.join("salesos.db").display()
        ),
    }
}

async fn recorded(settings: &Settings) -> BTreeSet<String> {
    #[derive(FromQueryResult)]
    struct Row {
        version: String,
    }
    let db = Database::connect(&read_only_url(settings))
        .await
        .expect("connect");
    let rows = Row::find_by_statement(statement(
        db.get_database_backend(),
        "SELECT version FROM seaql_migrations",
        vec![],
    ))
    .all(&db)
    .await
    .expect("read the migration ledger");
    db.close().await.expect("close");
    rows.into_iter().map(|r| r.version).collect()
}

/// The fixture's webhook and its stored secret, straight from the database.
async fn stored_webhook_secret(settings: &Settings) -> (uuid::Uuid, String) {
    #[derive(FromQueryResult)]
    struct Row {
        id: uuid::Uuid,
        secret: String,
    }
    let db = Database::connect(&read_only_url(settings))
        .await
        .expect("connect");
    let row = Row::find_by_statement(statement(
        db.get_database_backend(),
        "SELECT id, secret FROM webhook_endpoints",
        vec![],
    ))
    .one(&db)
    .await
    .expect("read")
    .expect("the fixture's webhook");
    db.close().await.expect("close");
    (row.id, row.secret)
}

/// How many rows `sql` (a `SELECT count(*) AS n …`) counts, straight on the database.
async fn count(settings: &Settings, sql: &str) -> i64 {
    #[derive(FromQueryResult)]
    struct Row {
        n: i64,
    }
    let db = Database::connect(&read_only_url(settings))
        .await
        .expect("connect");
    let row = Row::find_by_statement(statement(db.get_database_backend(), sql, vec![]))
        .one(&db)
        .await
        .expect("count")
        .expect("a count");
    db.close().await.expect("close");
    row.n
}

async fn call(
    base: &str,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_database_made_by_the_single_crate_build_upgrades_and_keeps_its_data() {
    let (settings, _guard) = empty_settings().await;
    let fixture = load_fixture(&settings).await;
    let key = fixture["key"].as_str().expect("key");
    let contact = fixture["contact_id"].as_str().expect("contact id");
    let account = fixture["account_id"].as_str().expect("account id");

    let (hook_id, plain_secret) = stored_webhook_secret(&settings).await;
    assert!(
        plain_secret.starts_with("whsec_"),
        "the old build kept it in plain text"
    );

    let (base, stop) = start(&settings).await;

    // The old build's plain-text signing secret is sealed under the master key the first
    // start made, and opens to what it was.
    let (_, sealed) = stored_webhook_secret(&settings).await;
    assert!(!sealed.contains(&plain_secret[6..]), "{sealed}");
    let ring = salesos_platform::secrets::Keyring::load(&settings).expect("the master key");
    assert!(
        sealed.starts_with(&format!("v1:{}:", ring.active_id())),
        "{sealed}"
    );
    let opened = ring
        .open(
            &salesos_platform::secrets::context("webhook_endpoints", hook_id),
            &sealed,
        )
        .expect("opens");
    assert_eq!(opened.expose(), plain_secret);

    // The split migrations are recorded by their parts, and nothing ran twice (a second
    // `CREATE TABLE contacts` would have failed the start).
    let expected: BTreeSet<String> = MIGRATIONS.iter().map(|m| m.to_string()).collect();
    assert_eq!(recorded(&settings).await, expected);
    // The old contacts' name keys became the hashes the next import matches them by.
    let named = "SELECT count(*) AS n FROM contacts WHERE (first_name IS NOT NULL OR last_name IS NOT NULL)";
    assert!(
        count(&settings, named).await > 0,
        "the fixture has named contacts"
    );
    assert_eq!(
        count(&settings, &format!("{named} AND name_hash IS NULL")).await,
        0
    );

    // The key made by the old build still signs in; every record is still there.
    let (status, contacts) = call(
        &base,
        key,
        Method::GET,
        "/api/v1/contacts?sort=created_at",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{contacts}");
    let emails: Vec<&str> = contacts["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    assert_eq!(
        emails,
        [
            "ada@analytical.test",
            "grace@cobol.test",
            "alan@bletchley.test",
            "charles@difference.test"
        ]
    );
    assert_eq!(contacts["data"][0]["tags"], json!(["legacy"]));

    let (_, babbage) = call(
        &base,
        key,
        Method::GET,
        &format!("/api/v1/contacts/{contact}"),
        None,
    )
    .await;
    assert_eq!(babbage["display_name"], "Charles Babbage");
    assert_eq!(babbage["account_id"], account);
    assert_eq!(babbage["timezone"], "Europe/London");
    let (_, timeline) = call(
        &base,
        key,
        Method::GET,
        &format!("/api/v1/contacts/{contact}/activities"),
        None,
    )
    .await;
    assert!(
        timeline["data"]
            .as_array()
            .expect("timeline")
            .iter()
            .any(|a| a["subject"] == "Met at the Royal Society"),
        "{timeline}"
    );
    let (_, found) = call(&base, key, Method::GET, "/api/v1/contacts?q=babb", None).await;
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1), "{found}");

    let (_, accounts) = call(&base, key, Method::GET, "/api/v1/accounts", None).await;
    assert_eq!(
        accounts["data"].as_array().map(Vec::len),
        Some(4),
        "{accounts}"
    );
    let (_, imports) = call(&base, key, Method::GET, "/api/v1/imports", None).await;
    let import = &imports["data"][0];
    assert_eq!(
        (
            import["counts"]["created"].as_i64(),
            import["counts"]["rejected"].as_i64()
        ),
        (Some(3), Some(1)),
        "{imports}"
    );
    let (_, rows) = call(
        &base,
        key,
        Method::GET,
        &format!(
            "/api/v1/imports/{}/rows?outcome=rejected",
            import["id"].as_str().expect("id")
        ),
        None,
    )
    .await;
    assert_eq!(rows["data"][0]["value"], "not-an-email", "{rows}");
    let (_, hooks) = call(&base, key, Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(hooks["data"][0]["description"], "legacy hook", "{hooks}");

    // The upgraded schema takes new writes: the matching key of a new contact is there
    // for the next import to find.
    let (status, created) = call(
        &base,
        key,
        Method::POST,
        "/api/v1/contacts",
        Some(json!({"email": "augusta@difference.test", "first_name": "Augusta", "account_id": account})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    drop(stop);

    // A second start migrates nothing and finds the same ledger.
    let (base, stop) = start(&settings).await;
    let (status, _) = call(&base, key, Method::GET, "/api/v1/contacts", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recorded(&settings).await, expected);
    drop(stop);
}

#[tokio::test]
async fn a_new_database_records_each_migration_of_every_area_once() {
    let (settings, _guard) = empty_settings().await;
    let (_base, stop) = start(&settings).await;
    let expected: BTreeSet<String> = MIGRATIONS.iter().map(|m| m.to_string()).collect();
    assert_eq!(recorded(&settings).await, expected);
    drop(stop);
}
