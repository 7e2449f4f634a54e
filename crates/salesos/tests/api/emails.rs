//! Sending through `POST /api/v1/emails/send`: the message arrives at a real SMTP server
//! (aiosmtpd on loopback) signed so that dkimpy passes both signatures, with RFC 8058's
//! one-click unsubscribe that works at once; checks at send time refuse suppressed and
//! do-not-contact recipients; a 550 at RCPT is a bounce that suppresses the address; a
//! 451 is tried again and the mail arrives once; the caps hold mail for the next window.

use std::{path::Path, process::Command, time::Duration};

use reqwest::{Method, StatusCode};
use salesos_mail::settings::MailSettings;
use serde_json::{Value, json};

use crate::{
    domains::DnsServer,
    helpers::{TestApp, eventually, spawn_app_with},
    mailboxes::SmtpServer,
};

async fn app_with(dns: &DnsServer) -> TestApp {
    let addr = dns.addr;
    spawn_app_with(move |s| {
        s.section_mut::<MailSettings>().dns_server = Some(addr);
        s.public_url = Some("https://links.acme.test".into());
    })
    .await
}

/// A verified sending domain `acme.test` (its records published on `dns`) and an SMTP
/// mailbox on `smtp` sending as ada@acme.test.
async fn sender(app: &TestApp, dns: &DnsServer, smtp: &SmtpServer, extra: Value) -> String {
    let d = app
        .post(
            "/api/v1/domains",
            json!({"domain": "acme.test", "ed25519": true}),
        )
        .await;
    assert_eq!(d.status, StatusCode::CREATED, "{}", d.body);
    let mut records: Vec<Value> = d.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["kind"] == "TXT")
        .map(|r| json!({"name": r["host"], "type": "TXT", "value": r["value"]}))
        .collect();
    records.push(
        json!({"name": "acme.test", "type": "MX", "preference": 10, "exchange": "mx.acme.test"}),
    );
    dns.publish(&records, &[]);
    let v = app
        .post(
            &format!(
                "/api/v1/domains/{}/verify",
                d.body["id"].as_str().expect("id")
            ),
            json!({}),
        )
        .await;
    assert_eq!(v.body["bulk_ready"], true, "{}", v.body);
    let mut body = json!({
        "from_name": "Ada Lovelace", "from_address": "ada@acme.test", "signature": "<p>Ada, Acme</p>",
        "transport": "smtp",
        "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "username": "ada", "secret": "pw"}
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let m = app.post("/api/v1/mailboxes", body).await;
    assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
    let address = app
        .call(
            Method::PUT,
            "/api/v1/mail-settings",
            &app.admin_key,
            Some(json!({"postal_address": "Acme Inc, 1 Main St, Springfield, IL 62701"})),
        )
        .await;
    assert_eq!(address.status, StatusCode::OK, "{}", address.body);
    m.body["id"].as_str().expect("id").to_owned()
}

async fn send(app: &TestApp, body: Value) -> Value {
    let a = app.post("/api/v1/emails/send", body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body
}

/// Wait until the email is no longer waiting or being handed over.
async fn settled_email(app: &TestApp, id: &str) -> Value {
    eventually(&format!("email {id} to be settled"), || async {
        let e = app.get(&format!("/api/v1/emails/{id}")).await.body;
        (e["status"] != "scheduled" && e["status"] != "sending").then_some(e)
    })
    .await
}

fn arrived(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("mail"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next()?;
    head.split("\r\n")
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim())
}

/// The path with one character of its token's signature changed (to another one, always).
fn forge(path: &str) -> String {
    let at = path.len() - 5;
    let was = &path[at..at + 1];
    let now = if was == "A" { "B" } else { "A" };
    format!("{}{now}{}", &path[..at], &path[at + 1..])
}

fn dkimpy(message: &[u8], dns: &DnsServer) -> Value {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("m.eml");
    std::fs::write(&path, message).expect("write");
    let fixture: std::path::PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "dkim_verify.py",
    ]
    .iter()
    .collect();
    let out = Command::new("python3")
        .arg(fixture)
        .arg(&path)
        .arg(dns.zone_path())
        .output()
        .expect("python3 runs dkimpy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test]
async fn an_email_arrives_signed_and_one_click_unsubscribes_before_the_next_send() {
    let dns = DnsServer::start();
    let smtp = SmtpServer::start("ada", "pw", "");
    let app = app_with(&dns).await;
    let mailbox = sender(&app, &dns, &smtp, json!({})).await;
    let bob = app
        .contact(json!({"first_name": "Bob", "last_name": "Stone", "email": "bob@example.test"}))
        .await;
    let template = app
        .post(
            "/api/v1/templates",
            json!({"name": "Intro", "subject": "{Quick|Short} question, {{ contact.first_name }}",
                   "html": "<p>Hi {{ contact.first_name }},</p>\n<p>{{ offer }}</p>\n   \n\t\n", "variables": ["offer"]}),
        )
        .await;
    assert_eq!(template.status, StatusCode::CREATED, "{}", template.body);
    let e = send(
        &app,
        json!({"contact_id": bob["id"], "mailbox_id": mailbox, "template_id": template.body["id"],
               "variables": {"offer": "30 days free"}}),
    )
    .await;
    assert!(e["scheduled_time"].is_string(), "{e}");
    let id = e["id"].as_str().expect("id").to_owned();
    let sent = settled_email(&app, &id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["smtp_code"], 250);
    assert_eq!(sent["smtp_enhanced"], "2.0.0");
    assert!(sent["sent_at"].is_string());
    assert_eq!(sent["warnings"], json!([]), "{sent}");

    let mail = arrived(smtp.dir.path());
    assert_eq!(mail.len(), 1, "exactly one message arrived");
    let raw = mail.first().expect("one");
    let text = String::from_utf8_lossy(raw);
    let envelope: Value = serde_json::from_str(
        &std::fs::read_to_string(smtp.dir.path().join("mail").join("1.json")).expect("envelope"),
    )
    .expect("json");
    assert_eq!(
        envelope,
        json!({"from": "ada@acme.test", "to": ["bob@example.test"]})
    );
    assert_eq!(header(&text, "From"), Some("Ada Lovelace <ada@acme.test>"));
    assert_eq!(header(&text, "To"), Some("Bob Stone <bob@example.test>"));
    let subject = header(&text, "Subject").expect("subject");
    assert!(
        subject == "Quick question, Bob" || subject == "Short question, Bob",
        "{subject}"
    );
    assert_eq!(sent["subject"], subject);
    let message_id = header(&text, "Message-ID").expect("message-id");
    assert_eq!(
        message_id,
        format!("<{}>", sent["message_id"].as_str().expect("mid"))
    );
    assert!(message_id.ends_with("@acme.test>"));
    let unsubscribe = header(&text, "List-Unsubscribe").expect("list-unsubscribe");
    assert!(
        unsubscribe.starts_with("<https://links.acme.test/u/")
            && unsubscribe.ends_with(", <mailto:ada@acme.test?subject=unsubscribe>"),
        "{unsubscribe}"
    );
    assert_eq!(
        header(&text, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(text.contains("Content-Type: multipart/alternative;"));
    assert!(text.contains("Content-Transfer-Encoding: quoted-printable"));

    // Both signatures pass an independent verifier and cover the unsubscribe headers,
    // though the template's HTML ends in whitespace-only lines.
    let report = dkimpy(raw, &dns);
    assert_eq!(report["signatures"], 2, "{report}");
    for r in report["results"].as_array().expect("results") {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["d"], "acme.test");
        let h = r["h"].as_str().expect("h");
        assert!(
            h.contains("list-unsubscribe") && h.contains("list-unsubscribe-post"),
            "{h}"
        );
    }

    // The visible link in the body is the header's.
    let url = unsubscribe
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("url")
        .to_owned();
    let detail = app.get(&format!("/api/v1/emails/{id}")).await.body;
    assert!(
        detail["html"]
            .as_str()
            .expect("html")
            .contains(&format!("href=\"{url}\""))
    );
    assert!(
        detail["html"].as_str().expect("html").contains("Ada, Acme"),
        "the signature"
    );
    let path = url.trim_start_matches("https://links.acme.test");

    // A GET (what link scanners do) shows a button and unsubscribes nobody.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client.get(app.url(path)).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .expect("text")
            .contains("<button type=\"submit\" id=\"unsubscribe\">")
    );
    let check = app
        .get("/api/v1/suppressions/check?email=bob@example.test")
        .await;
    assert_eq!(check.body["suppressed"], false, "{}", check.body);

    // A forged token is no link at all.
    let forged = forge(path);
    let bad = client
        .post(app.url(&forged))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);

    // One click: 200, no redirect, no cookie, and the address is suppressed now.
    let res = client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("location").is_none() && res.headers().get("set-cookie").is_none());
    let check = app
        .get("/api/v1/suppressions/check?email=bob@example.test")
        .await;
    assert_eq!(check.body["suppressed"], true, "{}", check.body);
    assert_eq!(check.body["by"][0]["reason"], "unsubscribed");
    let events = app.get("/api/v1/events?type=email.unsubscribed").await;
    assert_eq!(
        events.body["data"].as_array().map(Vec::len),
        Some(1),
        "{}",
        events.body
    );
    // A second click changes nothing.
    let again = client
        .post(app.url(path))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/events?type=email.unsubscribed").await.body["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // The next send to him is refused at send time, saying why; nothing more arrives.
    let next = send(
        &app,
        json!({"contact_id": bob["id"], "mailbox_id": mailbox, "subject": "Following up", "html": "<p>Any thoughts?</p>"}),
    )
    .await;
    let refused = settled_email(&app, next["id"].as_str().expect("id")).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["status_reason"]
            .as_str()
            .expect("reason")
            .contains("suppression list (bob@example.test, unsubscribed)"),
        "{refused}"
    );
    app.settled().await;
    assert_eq!(arrived(smtp.dir.path()).len(), 1);
    let failed = app.get("/api/v1/events?type=email.failed").await;
    assert_eq!(
        failed.body["data"][0]["data"]["status"], "refused",
        "{}",
        failed.body
    );
}

#[tokio::test]
async fn a_hard_bounce_suppresses_and_a_deferral_is_tried_again_and_arrives_once() {
    let dns = DnsServer::start();
    let smtp = SmtpServer::start("ada", "pw", "");
    let app = app_with(&dns).await;
    let mailbox = sender(&app, &dns, &smtp, json!({})).await;
    let gone = app
        .contact(json!({"first_name": "Gone", "email": "bounce-me@example.test"}))
        .await;
    let busy = app
        .contact(json!({"first_name": "Busy", "email": "busy@example.test"}))
        .await;
    let body = |c: &Value| json!({"contact_id": c["id"], "mailbox_id": mailbox, "subject": "Hello", "html": "<p>Hi</p>"});

    let bounced = send(&app, body(&gone)).await;
    let b = settled_email(&app, bounced["id"].as_str().expect("id")).await;
    assert_eq!(b["status"], "bounced", "{b}");
    assert_eq!(
        (&b["smtp_code"], &b["smtp_enhanced"]),
        (&json!(550), &json!("5.1.1"))
    );
    assert!(
        b["smtp_reply"]
            .as_str()
            .expect("reply")
            .contains("User unknown"),
        "{b}"
    );
    let check = app
        .get("/api/v1/suppressions/check?email=bounce-me@example.test")
        .await;
    assert_eq!(
        check.body["by"][0]["reason"], "hard_bounce",
        "{}",
        check.body
    );
    // A recipient's refusal says nothing about the mailbox.
    let m = app.get(&format!("/api/v1/mailboxes/{mailbox}")).await;
    assert_eq!(m.body["health"]["consecutive_failures"], 0, "{}", m.body);

    let deferred = send(&app, body(&busy)).await;
    let did = deferred["id"].as_str().expect("id").to_owned();
    let waiting = eventually("the deferral to be recorded", || async {
        let e = app.get(&format!("/api/v1/emails/{did}")).await.body;
        (e["status"] == "scheduled" && e["attempts"] == 1).then_some(e)
    })
    .await;
    assert!(
        waiting["status_reason"]
            .as_str()
            .expect("reason")
            .starts_with("will try again"),
        "{waiting}"
    );
    assert_eq!(waiting["smtp_code"], 451);
    // The backoff passes on the app's clock; the second attempt delivers it.
    app.advance(Duration::from_secs(30));
    let d = settled_email(&app, &did).await;
    assert_eq!(d["status"], "sent", "{d}");
    assert_eq!(d["attempts"], 2);
    app.settled().await;
    let mail = arrived(smtp.dir.path());
    assert_eq!(
        mail.len(),
        1,
        "the bounce sent nothing and the deferral arrived once"
    );
}

#[tokio::test]
async fn do_not_contact_is_refused_and_the_daily_cap_holds_mail_for_tomorrow() {
    let dns = DnsServer::start();
    let smtp = SmtpServer::start("ada", "pw", "");
    let app = app_with(&dns).await;
    let mailbox = sender(&app, &dns, &smtp, json!({"daily_cap": 1, "hourly_cap": 1})).await;
    let quiet = app
        .contact(
            json!({"first_name": "Quiet", "email": "quiet@example.test", "do_not_contact": true}),
        )
        .await;
    let c1 = app
        .contact(json!({"first_name": "One", "email": "one@example.test"}))
        .await;
    let c2 = app
        .contact(json!({"first_name": "Two", "email": "two@example.test"}))
        .await;
    let body = |c: &Value| json!({"contact_id": c["id"], "mailbox_id": mailbox, "subject": "Hello", "html": "<p>Hi</p>"});

    let q = send(&app, body(&quiet)).await;
    let q = settled_email(&app, q["id"].as_str().expect("id")).await;
    assert_eq!(
        (&q["status"], &q["status_reason"]),
        (
            &json!("refused"),
            &json!("the contact is marked do not contact")
        )
    );

    let first = send(&app, body(&c1)).await;
    assert_eq!(
        settled_email(&app, first["id"].as_str().expect("id")).await["status"],
        "sent"
    );
    let second = send(&app, body(&c2)).await;
    let sid = second["id"].as_str().expect("id").to_owned();
    let held = eventually("the second to wait for tomorrow", || async {
        let e = app.get(&format!("/api/v1/emails/{sid}")).await.body;
        e["status_reason"]
            .as_str()
            .is_some_and(|r| r.contains("emails for today are sent"))
            .then_some(e)
    })
    .await;
    assert_eq!(held["status"], "scheduled", "{held}");
    assert_eq!(arrived(smtp.dir.path()).len(), 1);
    app.advance(Duration::from_secs(24 * 3600 + 60));
    let s = settled_email(&app, &sid).await;
    assert_eq!(s["status"], "sent", "{s}");
    assert_eq!(arrived(smtp.dir.path()).len(), 2);
}

#[tokio::test]
async fn bad_requests_name_the_field_and_emails_stay_in_their_workspace() {
    let dns = DnsServer::start();
    let app = app_with(&dns).await;
    let m = app
        .post(
            "/api/v1/mailboxes",
            json!({"from_name": "Ada", "from_address": "ada@acme.test"}),
        )
        .await;
    let mailbox = m.body["id"].as_str().expect("id").to_owned();
    let bob = app
        .contact(json!({"first_name": "Bob", "email": "bob@example.test"}))
        .await;
    let nomail = app.contact(json!({"first_name": "Nomail"})).await;
    let unknown = "01900000-0000-7000-8000-000000000000";
    for (body, field) in [
        (
            json!({"contact_id": bob["id"], "mailbox_id": mailbox}),
            "template_id",
        ),
        (
            json!({"contact_id": bob["id"], "mailbox_id": mailbox, "template_id": unknown}),
            "template_id",
        ),
        (
            json!({"contact_id": unknown, "mailbox_id": mailbox, "subject": "s", "html": "<p>h</p>"}),
            "contact_id",
        ),
        (
            json!({"contact_id": nomail["id"], "mailbox_id": mailbox, "subject": "s", "html": "<p>h</p>"}),
            "contact_id",
        ),
        (
            json!({"contact_id": bob["id"], "mailbox_id": unknown, "subject": "s", "html": "<p>h</p>"}),
            "mailbox_id",
        ),
        (
            json!({"contact_id": bob["id"], "mailbox_id": mailbox, "subject": "s", "html": "<p>{{ nope }}</p>"}),
            "html",
        ),
    ] {
        let a = app.post("/api/v1/emails/send", body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert_eq!(a.problem_fields(), [field], "{body}: {}", a.body);
    }
    assert_eq!(
        app.get("/api/v1/emails").await.body["data"],
        json!([]),
        "nothing half-made"
    );
    let put = |body: Value, key: String| {
        let app = &app;
        async move {
            app.call(Method::PUT, "/api/v1/mail-settings", &key, Some(body))
                .await
        }
    };
    let blank = put(json!({"postal_address": "   "}), app.admin_key.clone()).await;
    assert_eq!(
        blank.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        blank.body
    );
    assert_eq!(blank.problem_fields(), ["postal_address"]);
    let (_, rep) = app
        .member("rep@acme.test", salesos_platform::auth::Role::Rep)
        .await;
    let refused = put(json!({"postal_address": "Somewhere"}), rep).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/mail-settings").await.body,
        json!({"postal_address": null})
    );

    // Through the outbox, with no sending domain: sent unsigned, and the email says so.
    let e = send(
        &app,
        json!({"contact_id": bob["id"], "mailbox_id": mailbox, "subject": "s", "html": "<p>h</p>"}),
    )
    .await;
    let id = e["id"].as_str().expect("id");
    let sent = settled_email(&app, id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let warnings: Vec<&str> = sent["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("not DKIM-signed: acme.test")),
        "{sent}"
    );
    assert!(warnings.iter().any(|w| w.contains("CAN-SPAM")), "{sent}");
    let outbox = app
        .settings
        .data_dir
        .join("outbox")
        .join(&mailbox)
        .join("new");
    assert_eq!(std::fs::read_dir(outbox).expect("outbox").count(), 1);
    let other = app.other_workspace_key().await;
    let hidden = app
        .call(Method::GET, &format!("/api/v1/emails/{id}"), &other, None)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let listed = app.call(Method::GET, "/api/v1/emails", &other, None).await;
    assert_eq!(listed.body["data"], json!([]));
}

#[tokio::test]
async fn two_nodes_running_the_same_send_jobs_at_once_deliver_each_email_once() {
    use salesos_platform::runtime::{
        jobs::Job,
        worker::{JobContext, JobHandler},
    };
    use sea_orm::FromQueryResult;

    let dns = DnsServer::start();
    let smtp = SmtpServer::start("ada", "pw", "");
    let app = app_with(&dns).await;
    let mailbox = sender(
        &app,
        &dns,
        &smtp,
        json!({"daily_cap": 500, "hourly_cap": 500}),
    )
    .await;
    // Due in an hour, so this app's own worker leaves them to the two "nodes" below.
    let later = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let mut ids = Vec::new();
    for i in 0..12 {
        let c = app
            .contact(json!({"first_name": format!("P{i}"), "email": format!("p{i}@example.test")}))
            .await;
        let e = send(
            &app,
            json!({"contact_id": c["id"], "mailbox_id": mailbox, "subject": "Hello", "html": "<p>Hi</p>",
                   "scheduled_for": later}),
        )
        .await;
        ids.push(e["id"].as_str().expect("id").to_owned());
    }
    let conn = app.store.conn();
    let jobs = Job::find_by_statement(salesos_platform::store::statement(
        sea_orm::ConnectionTrait::get_database_backend(conn),
        &format!("SELECT {} FROM jobs WHERE kind = 'mail.send'", Job::COLUMNS),
        vec![],
    ))
    .all(conn)
    .await
    .expect("jobs");
    assert_eq!(jobs.len(), ids.len());
    let settings = app.settings.clone();
    let node = |job: Job| {
        let store = app.store.clone();
        let settings = settings.clone();
        async move {
            let handler = salesos_mail::emails::job::SendEmail::new(&settings);
            handler.run(&JobContext::new(job, store)).await
        }
    };
    // Each job run by two nodes at the same moment, then once more after.
    let runs = jobs.iter().map(|j| {
        let (a, b) = (node(j.clone()), node(j.clone()));
        async move { tokio::join!(a, b) }
    });
    futures_util::future::join_all(runs).await;
    for j in &jobs {
        node(j.clone()).await;
    }
    for id in &ids {
        let e = app.get(&format!("/api/v1/emails/{id}")).await.body;
        assert_eq!(e["status"], "sent", "{e}");
        assert_eq!(e["attempts"], 1, "claimed once: {e}");
    }
    let mail = arrived(smtp.dir.path());
    assert_eq!(mail.len(), ids.len(), "each email arrived exactly once");
    let mut tos: Vec<String> = (1..=ids.len())
        .map(|n| {
            let env: Value = serde_json::from_str(
                &std::fs::read_to_string(smtp.dir.path().join("mail").join(format!("{n}.json")))
                    .expect("env"),
            )
            .expect("json");
            env["to"][0].as_str().expect("to").to_owned()
        })
        .collect();
    tos.sort();
    tos.dedup();
    assert_eq!(tos.len(), ids.len(), "no recipient got two");
}

#[tokio::test]
async fn a_connection_lost_before_the_message_is_retried_and_after_it_is_never_sent_again() {
    let dns = DnsServer::start();
    let smtp = SmtpServer::start("ada", "pw", "");
    let app = app_with(&dns).await;
    let mailbox = sender(&app, &dns, &smtp, json!({})).await;
    let early = app
        .contact(json!({"first_name": "Early", "email": "droprcpt@example.test"}))
        .await;
    let late = app
        .contact(json!({"first_name": "Late", "email": "dropdata@example.test"}))
        .await;
    let body = |c: &Value| json!({"contact_id": c["id"], "mailbox_id": mailbox, "subject": "Hello", "html": "<p>Hi</p>"});

    // Dropped at RCPT: nothing was taken, so it is tried again and arrives once.
    let e = send(&app, body(&early)).await;
    let eid = e["id"].as_str().expect("id").to_owned();
    let waiting = eventually("the drop to be recorded", || async {
        let e = app.get(&format!("/api/v1/emails/{eid}")).await.body;
        (e["status"] == "scheduled" && e["attempts"] == 1).then_some(e)
    })
    .await;
    assert!(
        waiting["status_reason"]
            .as_str()
            .expect("reason")
            .starts_with("will try again"),
        "{waiting}"
    );
    app.advance(Duration::from_secs(30));
    assert_eq!(settled_email(&app, &eid).await["status"], "sent");

    // Dropped after the whole message: the server took it, SalesOS cannot know; it is
    // `uncertain` and not sent again, however long one waits.
    let l = send(&app, body(&late)).await;
    let lid = l["id"].as_str().expect("id").to_owned();
    let u = settled_email(&app, &lid).await;
    assert_eq!(u["status"], "uncertain", "{u}");
    assert!(
        u["status_reason"]
            .as_str()
            .expect("reason")
            .starts_with("accepted (uncertain)"),
        "{u}"
    );
    app.advance(Duration::from_secs(3600));
    app.settled().await;
    assert_eq!(
        app.get(&format!("/api/v1/emails/{lid}")).await.body["attempts"],
        1
    );
    let tos: Vec<String> = arrived(smtp.dir.path())
        .iter()
        .map(|m| {
            header(&String::from_utf8_lossy(m), "To")
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(tos.len(), 2, "{tos:?}");
    assert_eq!(tos.iter().filter(|t| t.contains("dropdata")).count(), 1);
    assert_eq!(tos.iter().filter(|t| t.contains("droprcpt")).count(), 1);
}

#[tokio::test]
async fn opens_and_clicks_count_people_and_keep_proxies_and_scanners_apart() {
    let dns = DnsServer::start();
    let app = app_with(&dns).await;
    let m = app
        .post(
            "/api/v1/mailboxes",
            json!({"from_name": "Ada", "from_address": "ada@acme.test"}),
        )
        .await;
    let bob = app
        .contact(json!({"first_name": "Bob", "email": "bob@example.test"}))
        .await;
    let e = send(
        &app,
        json!({"contact_id": bob["id"], "mailbox_id": m.body["id"], "subject": "Links",
               "html": "<p><a href=\"https://acme.test/pricing?plan=pro&amp;seats=5\">Pricing</a> \
                        <a href=\"https://acme.test/demo\">Demo</a> <a href=\"mailto:ada@acme.test\">Write</a></p>",
               "track_opens": true, "track_clicks": true}),
    )
    .await;
    let id = e["id"].as_str().expect("id").to_owned();
    assert_eq!(settled_email(&app, &id).await["status"], "sent");
    let html = app.get(&format!("/api/v1/emails/{id}")).await.body["html"]
        .as_str()
        .expect("html")
        .to_owned();
    let tracked: Vec<String> = html
        .split("https://links.acme.test")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    let clicks: Vec<&String> = tracked.iter().filter(|p| p.starts_with("/t/c/")).collect();
    let pixel = tracked
        .iter()
        .find(|p| p.starts_with("/t/o/"))
        .expect("the pixel");
    assert_eq!(
        clicks.len(),
        2,
        "two web links tracked, the mailto left alone: {html}"
    );
    assert!(html.contains("href=\"mailto:ada@acme.test\""));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
    let gmail =
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
    let hit = |path: &str, ua: &str, head: bool| {
        let req = if head {
            client.head(app.url(path))
        } else {
            client.get(app.url(path))
        };
        req.header("user-agent", ua.to_owned()).send()
    };

    // Gmail's proxy fetches the pixel; a scanner follows a link at once.
    let img = hit(pixel, gmail, false).await.expect("pixel");
    assert_eq!(img.status(), StatusCode::OK);
    assert_eq!(img.headers()["content-type"], "image/gif");
    let early = hit(clicks[0], firefox, false).await.expect("click");
    assert_eq!(early.status(), StatusCode::FOUND);
    assert_eq!(
        early.headers()["location"],
        "https://acme.test/pricing?plan=pro&seats=5"
    );
    let probe = hit(clicks[1], firefox, true).await.expect("head");
    assert_eq!(probe.status(), StatusCode::FOUND);
    let t = app.get(&format!("/api/v1/emails/{id}/tracking")).await.body;
    assert_eq!(
        (&t["opened_at"], &t["clicked_at"]),
        (&Value::Null, &Value::Null),
        "{t}"
    );
    assert_eq!(
        (&t["human_opens"], &t["machine_hits"]),
        (&json!(0), &json!(3)),
        "{t}"
    );

    // A minute later a person opens and clicks.
    app.advance(Duration::from_secs(60));
    hit(pixel, firefox, false).await.expect("pixel");
    let person = hit(clicks[1], firefox, false).await.expect("click");
    assert_eq!(person.headers()["location"], "https://acme.test/demo");
    let t = app.get(&format!("/api/v1/emails/{id}/tracking")).await.body;
    assert!(
        t["opened_at"].is_string() && t["clicked_at"].is_string(),
        "{t}"
    );
    assert_eq!(
        (&t["human_opens"], &t["human_clicks"], &t["machine_hits"]),
        (&json!(1), &json!(1), &json!(3)),
        "{t}"
    );
    let reasons: Vec<(String, String)> = t["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            (
                h["class"].as_str().unwrap_or("").to_owned(),
                h["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(reasons[0], ("proxy".into(), "Gmail's image proxy".into()));
    assert!(
        reasons[1].0 == "scanner" && reasons[1].1.contains("after delivery"),
        "{reasons:?}"
    );
    assert_eq!(reasons[2], ("scanner".into(), "a HEAD request".into()));
    assert_eq!(reasons[3].0, "human");
    for topic in ["email.opened", "email.clicked"] {
        let ev = app.get(&format!("/api/v1/events?type={topic}")).await.body;
        assert_eq!(
            ev["data"].as_array().map(Vec::len),
            Some(1),
            "{topic}: {ev}"
        );
    }

    // A token that was not made for this email is no redirect at all.
    let forged = forge(clicks[0]);
    let bad = hit(&forged, firefox, false).await.expect("forged");
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
    assert!(bad.headers().get("location").is_none());
}
