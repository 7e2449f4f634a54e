//! Mailboxes through `/api/v1/mailboxes`: the built-in outbox by default, an SMTP server
//! of the user's own (a real one, aiosmtpd on loopback) whose login is sealed at rest and
//! never shown, caps and a warm-up ramp on the application's clock, pausing, and a test
//! that says at which step a connection failed.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::{Method, StatusCode};
use salesos_platform::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// A real SMTP server (aiosmtpd) on a free loopback port, for as long as it lives.
pub struct SmtpServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl SmtpServer {
    /// Start one that requires a login as `user` with `password` (or XOAUTH2 `token`).
    pub fn start(user: &str, password: &str, token: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let script: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "tests",
            "fixtures",
            "smtp_server.py",
        ]
        .iter()
        .collect();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(dir.path().join("mail"))
            .args(["--user", user, "--password", password, "--token", token])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the SMTP server (CI installs aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server says it is ready");
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!("the SMTP server did not start (is aiosmtpd installed?): {line:?}")
            });
        Self { port, dir, child }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn create(app: &TestApp, body: Value) -> Value {
    let a = app.post("/api/v1/mailboxes", body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body
}

async fn test_mailbox(app: &TestApp, id: &str) -> Value {
    let a = app
        .post(&format!("/api/v1/mailboxes/{id}/test"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body
}

#[tokio::test]
async fn a_new_mailbox_sends_to_the_outbox_and_can_be_paused_and_set_going_again() {
    let app = spawn_app().await;
    let m = create(
        &app,
        json!({"from_name": " Ada Lovelace ", "from_address": "Ada@Acme.test", "signature": "<p>Ada</p>"}),
    )
    .await;
    assert_eq!(m["from_name"], "Ada Lovelace");
    assert_eq!(m["from_address"], "ada@acme.test");
    assert_eq!(m["transport"], "maildir");
    assert_eq!(m["smtp"], Value::Null);
    assert_eq!(
        (&m["daily_cap"], &m["hourly_cap"], &m["allowance_today"]),
        (&json!(50), &json!(20), &json!(50))
    );
    assert_eq!(m["status"], "active");
    assert_eq!(m["health"]["consecutive_failures"], 0);
    let id = m["id"].as_str().expect("id").to_owned();

    let tested = test_mailbox(&app, &id).await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(
        tested["steps"][0]
            .as_str()
            .is_some_and(|s| s.contains("writable")),
        "{tested}"
    );
    let outbox = app.settings.data_dir.join("outbox").join(&id);
    assert!(
        outbox.join("new").is_dir(),
        "the outbox is made in the data directory"
    );
    let shown = app.get(&format!("/api/v1/mailboxes/{id}")).await;
    assert_eq!(shown.body["health"]["last_tested_at"], tested["tested_at"]);

    // One mailbox per sending address, whatever its case.
    let twice = app
        .post(
            "/api/v1/mailboxes",
            json!({"from_name": "Ada", "from_address": "ADA@acme.test"}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
    assert_eq!(twice.problem_fields(), ["from_address"]);

    let paused = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"status": "paused"}),
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.body["status"], "paused");
    assert!(
        paused.body["status_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("paused by")),
        "{}",
        paused.body
    );
    let error = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"status": "error"}),
        )
        .await;
    assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error.problem_fields(), ["status"]);
    let list = app.get("/api/v1/mailboxes?status=paused").await;
    assert_eq!(list.body["data"][0]["id"], id.as_str());
    let active = app.get("/api/v1/mailboxes?status=active").await;
    assert_eq!(active.body["data"], json!([]));
    let going = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"status": "active", "signature": null, "reply_to": "Team@Acme.test"}),
        )
        .await;
    assert_eq!(going.body["status"], "active", "{}", going.body);
    assert_eq!(going.body["status_reason"], Value::Null);
    assert_eq!(going.body["signature"], Value::Null);
    assert_eq!(going.body["reply_to"], "team@acme.test");
    // `null` clears the reply-to; an empty text is not an address (the fuzzer found it).
    let empty = app
        .patch(&format!("/api/v1/mailboxes/{id}"), json!({"reply_to": ""}))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.problem_fields(), ["reply_to"]);

    // Another workspace does not see it; a rep may not change it; a viewer may read it.
    let other = app.other_workspace_key().await;
    let hidden = app
        .call(
            Method::GET,
            &format!("/api/v1/mailboxes/{id}"),
            &other,
            None,
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let (_, rep) = app.member("rep@acme.test", Role::Rep).await;
    let refused = app
        .call(
            Method::POST,
            &format!("/api/v1/mailboxes/{id}/test"),
            &rep,
            Some(json!({})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let read = app
        .call(Method::GET, &format!("/api/v1/mailboxes/{id}"), &rep, None)
        .await;
    assert_eq!(read.status, StatusCode::OK);

    let gone = app.delete(&format!("/api/v1/mailboxes/{id}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let after = app.get(&format!("/api/v1/mailboxes/{id}")).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_mailboxes_are_refused_naming_each_field() {
    let app = spawn_app().await;
    let bad = app
        .post(
            "/api/v1/mailboxes",
            json!({
                "from_name": "",
                "from_address": "not-an-address",
                "reply_to": "also bad",
                "transport": "smtp",
                "smtp": {"host": "smtp.example.com", "security": "none", "username": "ada"},
                "daily_cap": 3000,
                "hourly_cap": 10,
                "warmup": {"start": 0, "step": 2},
            }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(
        bad.problem_fields(),
        [
            "from_name",
            "from_address",
            "reply_to",
            "smtp.security",
            "smtp.secret",
            "daily_cap",
            "warmup.start"
        ],
        "{}",
        bad.body
    );
    let no_server = app
        .post(
            "/api/v1/mailboxes",
            json!({"from_name": "Ada", "from_address": "ada@acme.test", "transport": "smtp"}),
        )
        .await;
    assert_eq!(no_server.problem_fields(), ["smtp"]);
    let outbox_with_server = app
        .post(
            "/api/v1/mailboxes",
            json!({"from_name": "Ada", "from_address": "ada@acme.test",
                   "smtp": {"host": "127.0.0.1", "security": "none"}}),
        )
        .await;
    assert_eq!(outbox_with_server.problem_fields(), ["smtp"]);
    let list = app.get("/api/v1/mailboxes").await;
    assert_eq!(list.body["data"], json!([]), "nothing half-made");
}

#[tokio::test]
async fn the_warm_up_ramp_climbs_each_day_on_the_applications_clock() {
    let app = spawn_app().await;
    let m = create(
        &app,
        json!({"from_name": "Ada", "from_address": "ada@acme.test", "daily_cap": 40,
               "hourly_cap": 8, "warmup": {"start": 10, "step": 5}}),
    )
    .await;
    assert_eq!(m["allowance_today"], 10, "{m}");
    let id = m["id"].as_str().expect("id");
    let day = Duration::from_secs(86_400);
    app.advance(day * 2);
    let later = app.get(&format!("/api/v1/mailboxes/{id}")).await;
    assert_eq!(later.body["allowance_today"], 20, "{}", later.body);
    // The same ramp sent again keeps its start; a new ramp starts today.
    let same = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"warmup": {"start": 10, "step": 5}}),
        )
        .await;
    assert_eq!(same.body["allowance_today"], 20, "{}", same.body);
    let steeper = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"warmup": {"start": 15, "step": 10}}),
        )
        .await;
    assert_eq!(steeper.body["allowance_today"], 15, "{}", steeper.body);
    app.advance(day * 30);
    let warm = app.get(&format!("/api/v1/mailboxes/{id}")).await;
    assert_eq!(warm.body["allowance_today"], 40, "capped: {}", warm.body);
    let off = app
        .patch(&format!("/api/v1/mailboxes/{id}"), json!({"warmup": null}))
        .await;
    assert_eq!(off.body["warmup"], Value::Null);
    assert_eq!(off.body["allowance_today"], 40);
}

/// The sealed SMTP secret of mailbox `id`, as the database holds it.
async fn stored_secret(app: &TestApp, id: &str) -> Option<String> {
    #[derive(sea_orm::FromQueryResult)]
    struct Row {
        secret: Option<String>,
    }
    let conn = app.store.conn();
    <Row as sea_orm::FromQueryResult>::find_by_statement(salesos_platform::store::statement(
        sea_orm::ConnectionTrait::get_database_backend(conn),
        "SELECT secret FROM mailboxes WHERE id = $1",
        vec![uuid::Uuid::parse_str(id).expect("uuid").into()],
    ))
    .one(conn)
    .await
    .expect("read")
    .expect("row")
    .secret
}

#[tokio::test]
async fn an_smtp_mailbox_logs_in_to_a_real_server_and_a_failure_names_its_step() {
    let password = "correct-horse-battery-staple";
    let token = "ya29.a0-test-access-token";
    let server = SmtpServer::start("ada@acme.test", password, token);
    let app = spawn_app().await;
    let m = create(
        &app,
        json!({"from_name": "Ada", "from_address": "ada@acme.test", "transport": "smtp",
               "smtp": {"host": "127.0.0.1", "port": server.port, "security": "none",
                        "username": "ada@acme.test", "secret": password}}),
    )
    .await;
    let id = m["id"].as_str().expect("id").to_owned();
    assert_eq!(
        m["smtp"],
        json!({"host": "127.0.0.1", "port": server.port, "security": "none",
               "auth": "password", "username": "ada@acme.test", "has_secret": true})
    );
    assert!(
        !m.to_string().contains(password),
        "the answer hides the secret"
    );
    let sealed = stored_secret(&app, &id).await.expect("a stored secret");
    assert!(
        sealed.starts_with(&format!("v1:{}:", app.store.keyring().active_id())),
        "{sealed}"
    );
    assert!(!sealed.contains(password));

    let ok = test_mailbox(&app, &id).await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["error"], Value::Null);
    let steps: Vec<&str> = ok["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        steps.last().copied(),
        Some("logged in as ada@acme.test"),
        "{ok}"
    );

    // A wrong password: the step, the server's words, and no retry can fix it.
    let wrong = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"smtp": {"host": "127.0.0.1", "port": server.port, "security": "none",
                            "username": "ada@acme.test", "secret": "wrong"}}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::OK, "{}", wrong.body);
    let failed = test_mailbox(&app, &id).await;
    assert_eq!(failed["ok"], false, "{failed}");
    assert_eq!(failed["error"]["stage"], "auth", "{failed}");
    assert_eq!(failed["error"]["class"], "permanent", "{failed}");
    assert_eq!(failed["error"]["code"], 535);
    let health = app.get(&format!("/api/v1/mailboxes/{id}")).await;
    assert!(
        health.body["health"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("535")),
        "{}",
        health.body
    );
    // A test is not a send: it does not count towards pausing the mailbox.
    assert_eq!(health.body["health"]["consecutive_failures"], 0);

    // XOAUTH2 with an access token; a change that leaves the server out keeps it.
    let oauth = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"smtp": {"host": "127.0.0.1", "port": server.port, "security": "none",
                            "auth": "xoauth2", "username": "ada@acme.test", "secret": token}}),
        )
        .await;
    assert_eq!(oauth.body["smtp"]["auth"], "xoauth2", "{}", oauth.body);
    let renamed = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"from_name": "Ada L."}),
        )
        .await;
    assert_eq!(renamed.body["smtp"]["auth"], "xoauth2", "{}", renamed.body);
    let ok = test_mailbox(&app, &id).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let bad_token = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"smtp": {"host": "127.0.0.1", "port": server.port, "security": "none",
                            "auth": "xoauth2", "username": "ada@acme.test", "secret": "expired"}}),
        )
        .await;
    assert_eq!(bad_token.status, StatusCode::OK);
    let refused = test_mailbox(&app, &id).await;
    assert_eq!(
        (&refused["error"]["stage"], &refused["error"]["code"]),
        (&json!("auth"), &json!(535)),
        "{refused}"
    );

    // STARTTLS required from a server that does not offer it.
    let starttls = app
        .patch(
            &format!("/api/v1/mailboxes/{id}"),
            json!({"smtp": {"host": "127.0.0.1", "port": server.port, "security": "starttls",
                            "username": "ada@acme.test", "secret": password}}),
        )
        .await;
    assert_eq!(starttls.status, StatusCode::OK, "{}", starttls.body);
    let no_tls = test_mailbox(&app, &id).await;
    assert_eq!(no_tls["error"]["stage"], "tls", "{no_tls}");
    assert!(
        no_tls["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("STARTTLS")),
        "{no_tls}"
    );

    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    app.patch(
        &format!("/api/v1/mailboxes/{id}"),
        json!({"smtp": {"host": "127.0.0.1", "port": closed, "security": "none",
                        "username": "ada@acme.test"}}),
    )
    .await;
    let down = test_mailbox(&app, &id).await;
    assert_eq!(
        (&down["error"]["stage"], &down["error"]["class"]),
        (&json!("connect"), &json!("retryable")),
        "{down}"
    );
    assert!(
        !std::fs::read_dir(server.dir.path().join("mail"))
            .map(|d| d.count() > 0)
            .unwrap_or(false),
        "a test sends nothing"
    );
}

#[tokio::test]
async fn the_smtp_transport_hands_a_message_over_byte_for_byte_and_names_a_refusal() {
    use salesos_mail::mailboxes::{
        SmtpAuth, SmtpSecurity,
        transport::{
            Class, Outgoing, Stage, Transport,
            smtp::{Smtp, SmtpConfig},
        },
    };
    let server = SmtpServer::start("ada@acme.test", "pw-for-sending", "unused");
    let config = |secret: &str| SmtpConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        security: SmtpSecurity::None,
        auth: SmtpAuth::Password,
        username: Some("ada@acme.test".into()),
        secret: Some(secret.into()),
        helo: "acme.test".into(),
        timeout: Duration::from_secs(10),
    };
    let smtp = Smtp::new(config("pw-for-sending")).expect("client");
    // A line that is only a dot, and one starting with one: dot-stuffing must bring both
    // back as written, not end the message early.
    let message = b"From: Ada <ada@acme.test>\r\nTo: bob@example.com\r\nSubject: dots\r\n\r\n\
                    first\r\n.\r\n.hidden line\r\nlast\r\n";
    let to = vec!["bob@example.com".to_owned(), "carol@example.com".to_owned()];
    let handed = smtp
        .send(&Outgoing {
            key: "email-1",
            from: "ada@acme.test",
            to: &to,
            message,
        })
        .await
        .expect("sent");
    assert!(handed.receipt.starts_with("250"), "{handed:?}");
    let mail = server.dir.path().join("mail");
    let arrived = std::fs::read(mail.join("1.eml")).expect("the message arrived");
    assert_eq!(
        String::from_utf8_lossy(&arrived),
        String::from_utf8_lossy(message)
    );
    let envelope: Value =
        serde_json::from_slice(&std::fs::read(mail.join("1.json")).expect("envelope"))
            .expect("json");
    assert_eq!(
        envelope,
        json!({"from": "ada@acme.test", "to": ["bob@example.com", "carol@example.com"]})
    );

    // A refused login is a permanent failure before anything was accepted.
    let wrong = Smtp::new(config("nope")).expect("client");
    let err = wrong
        .send(&Outgoing {
            key: "email-2",
            from: "ada@acme.test",
            to: &to,
            message,
        })
        .await
        .expect_err("refused");
    assert_eq!(
        (err.stage, err.class, err.code),
        (Stage::Auth, Class::Permanent, Some(535)),
        "{err}"
    );
    assert!(!mail.join("2.eml").exists(), "nothing more arrived");
}
