//! The test harness: `spawn_app()` starts a real SalesOS on port 0 over its own database
//! (a temporary SQLite file, or a fresh PostgreSQL database when
//! `SALESOS_TEST_DATABASE_URL` is set) and returns typed helpers to call it.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use reqwest::{Client, Method, Response, StatusCode};
use salesos::app::Application;
use salesos_platform::{
    audit::Actor,
    auth::{Role, api_keys, onboarding},
    clock::Clock,
    settings::{Secret, Settings},
    store::Store,
};
use sea_orm::{ConnectionTrait, Database, FromQueryResult};
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery";

/// reqwest clients in this test process use rustls with ring (the app's own HTTP client
/// is configured explicitly and needs no process default).
fn init_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A PostgreSQL database made for one test and dropped after it.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a short-lived one of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(db) = Database::connect(&admin_url).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// Replace the database name at the end of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let prefix = match base.rfind('/') {
        Some(i) if i > base.find("://").map(|s| s + 2).unwrap_or(0) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// A running SalesOS and an admin to call it with.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub workspace_id: Uuid,
    pub admin_id: Uuid,
    pub admin_email: String,
    pub admin_key: String,
    pub store: Store,
    /// The app's clock: the wall clock plus whatever the test skipped ahead with
    /// [`TestApp::advance`].
    pub clock: Clock,
    /// What the app was started with (its data directory and database).
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Keeps a test's data directory and database alive.
pub struct Guard {
    _data_dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

/// Settings over a fresh, empty database (no users yet), and what keeps it alive.
pub async fn empty_settings() -> (Settings, Guard) {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let (settings, pg) = test_settings(data_dir.path().to_path_buf()).await;
    (
        settings,
        Guard {
            _data_dir: data_dir,
            _pg: pg,
        },
    )
}

/// Settings for a test: loopback, port 0, its own data directory and database.
async fn test_settings(data_dir: PathBuf) -> (Settings, Option<PgDatabase>) {
    init_process();
    let mut settings = Settings {
        data_dir,
        bind: "127.0.0.1:0".parse().expect("addr"),
        rate_limit_per_minute: 100_000,
        db_max_connections: 5,
        ..Settings::default()
    };
    let pg = match std::env::var("SALESOS_TEST_DATABASE_URL") {
        Ok(admin_url) => {
            let name = format!("salesos_test_{}", Uuid::new_v4().simple());
            let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("SALESOS_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
            });
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            let _ = admin.close().await;
            settings.database_url = Some(Secret::new(with_database(&admin_url, &name)));
            Some(PgDatabase { admin_url, name })
        }
        Err(_) => None,
    };
    (settings, pg)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Start SalesOS with settings adjusted by `tweak`, plus a workspace `acme` with an admin.
/// Its clock runs with the wall clock and skips ahead when the test says.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(Clock::shifted(), tweak).await
}

/// [`spawn_app_with`] on `clock`: a [`Clock::frozen`] one makes time a thing only the test
/// moves.
pub async fn spawn_app_on(clock: Clock, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let (mut settings, pg) = test_settings(data_dir.path().to_path_buf()).await;
    tweak(&mut settings);
    let app = Application::build_with_clock(settings.clone(), clock.clone())
        .await
        .expect("build app");
    let addr: SocketAddr = format!("127.0.0.1:{}", app.port()).parse().expect("addr");
    let store = app.state().store.clone();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));

    let admin_email = "admin@acme.test".to_owned();
    let created = onboarding::create_user(
        &store,
        &Actor::operator(),
        onboarding::NewUser {
            workspace_slug: "acme",
            workspace_name: Some("Acme Sales"),
            email: &admin_email,
            display_name: Some("Ada Admin"),
            password: PASSWORD,
            role: Role::Admin,
        },
    )
    .await
    .expect("admin");
    let key = api_keys::issue(
        store.conn(),
        created.workspace_id,
        Role::Admin,
        "test",
        Some(created.user_id),
        None,
    )
    .await
    .expect("key");
    TestApp {
        addr,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        workspace_id: created.workspace_id,
        admin_id: created.user_id,
        admin_email,
        admin_key: key.key,
        store,
        clock,
        settings,
        shutdown: Some(tx),
        _data_dir: data_dir,
        _pg: pg,
    }
}

/// Wait until `check` answers `Some`, polling every 20 ms; fail naming `what` after 60 s
/// (a deadline for a stuck test, not a timing the test relies on).
/// For what a test cannot wait on as an event (another process, a browser, a receiver).
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A decoded answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    async fn from(res: Response) -> Self {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            body,
        }
    }

    /// The fields a problem names, in order.
    pub fn problem_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn content_type(&self) -> String {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }
}

impl TestApp {
    /// Let `by` pass on the app's clock at once: sessions and keys age, cron ticks come due.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Wait until the event consumers have passed every event committed so far and no job
    /// is queued or running: whatever those events were going to cause has happened, so a
    /// test can count what did not arrive without sleeping.
    pub async fn settled(&self) {
        #[derive(sea_orm::FromQueryResult)]
        struct Busy {
            n: i64,
        }
        let conn = self.store.conn();
        eventually(
            "the event consumers and the job queue to settle",
            || async {
                let lag = salesos_platform::runtime::consumer::lag(conn, "webhooks")
                    .await
                    .expect("lag");
                let busy = Busy::find_by_statement(salesos_platform::store::statement(
                    conn.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'running')",
                    vec![],
                ))
                .one(conn)
                .await
                .expect("jobs")
                .map_or(0, |b| b.n);
                (lag == 0 && busy == 0).then_some(())
            },
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request with a bearer key.
    pub async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Answer {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Answer::from(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &self.admin_key, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, &self.admin_key, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, &self.admin_key, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, &self.admin_key, None).await
    }

    /// Raw body, for malformed-input tests.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &'static str) -> Answer {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.admin_key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        Answer::from(res).await
    }

    /// Create a contact and return its JSON.
    pub async fn contact(&self, body: Value) -> Value {
        let a = self.post("/api/v1/contacts", body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body
    }

    /// A member with `role` in this workspace, and an API key acting as them.
    pub async fn member(&self, email: &str, role: Role) -> (Uuid, String) {
        let created = onboarding::create_user(
            &self.store,
            &Actor::operator(),
            onboarding::NewUser {
                workspace_slug: "acme",
                workspace_name: None,
                email,
                display_name: None,
                password: PASSWORD,
                role,
            },
        )
        .await
        .expect("member");
        let key = api_keys::issue(
            self.store.conn(),
            self.workspace_id,
            role,
            "member",
            Some(created.user_id),
            None,
        )
        .await
        .expect("key");
        (created.user_id, key.key)
    }

    /// An admin key of another workspace.
    pub async fn other_workspace_key(&self) -> String {
        let created = onboarding::create_user(
            &self.store,
            &Actor::operator(),
            onboarding::NewUser {
                workspace_slug: "globex",
                workspace_name: None,
                email: "boss@globex.test",
                display_name: None,
                password: PASSWORD,
                role: Role::Admin,
            },
        )
        .await
        .expect("other");
        api_keys::issue(
            self.store.conn(),
            created.workspace_id,
            Role::Admin,
            "other",
            Some(created.user_id),
            None,
        )
        .await
        .expect("key")
        .key
    }

    /// A client that keeps cookies, signed in to the dashboard as `email`.
    pub async fn browser_session(&self, email: &str) -> (Client, String) {
        let client = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let res = client
            .post(self.url("/login"))
            .form(&[
                ("email", email),
                ("password", PASSWORD),
                ("next", "/app/contacts"),
            ])
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "login should redirect");
        let page = client
            .get(self.url("/app/contacts"))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text");
        let csrf = page
            .split("data-csrf=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("csrf token on the page")
            .to_owned();
        (client, csrf)
    }
}
