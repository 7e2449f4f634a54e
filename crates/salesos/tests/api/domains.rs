//! Sending domains through `/api/v1/domains`: a DKIM key made per domain and sealed, the
//! records to publish, and their check against a real DNS server on loopback (dnslib,
//! started by the test and fed the records the test "publishes"); what the domain's keys
//! sign verifies with an independent implementation (dkimpy).

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use reqwest::{Method, StatusCode};
use salesos_mail::{dkim, domains, settings::MailSettings};
use salesos_platform::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

fn fixture(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect()
}

/// A real DNS server (dnslib) on a free loopback port, answering from a zone file the
/// test rewrites to publish records.
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: tempfile::NamedTempFile,
    child: Child,
}

impl DnsServer {
    pub fn start() -> Self {
        let zone = tempfile::NamedTempFile::new().expect("zone file");
        std::fs::write(zone.path(), r#"{"records": []}"#).expect("write zone");
        let mut child = Command::new("python3")
            .arg(fixture("dns_server.py"))
            .arg(zone.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the DNS server (CI installs dnslib)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server says it is ready");
        let port: u16 = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!("the DNS server did not start (is dnslib installed?): {line:?}")
            });
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            zone,
            child,
        }
    }

    /// Publish exactly these records (and SERVFAIL for `servfail` names).
    pub fn publish(&self, records: &[Value], servfail: &[&str]) {
        let zone = json!({"records": records, "servfail": servfail});
        std::fs::write(self.zone.path(), zone.to_string()).expect("write zone");
    }

    pub fn zone_path(&self) -> &Path {
        self.zone.path()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn txt(name: &str, value: &str) -> Value {
    json!({"name": name, "type": "TXT", "value": value})
}

async fn app_with_dns(dns: Option<SocketAddr>) -> TestApp {
    spawn_app_with(|s| {
        let mail = s.section_mut::<MailSettings>();
        mail.dns_server = dns;
        mail.dns_timeout = std::time::Duration::from_secs(2);
    })
    .await
}

async fn create(app: &TestApp, body: Value) -> Value {
    let a = app.post("/api/v1/domains", body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body
}

async fn verify(app: &TestApp, id: &str) -> Value {
    let a = app
        .post(&format!("/api/v1/domains/{id}/verify"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body
}

fn record<'a>(domain: &'a Value, purpose: &str) -> &'a Value {
    domain["records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["purpose"] == purpose)
        .unwrap_or_else(|| panic!("no {purpose} record in {domain}"))
}

/// The records the API says to publish, as the DNS server's zone holds them.
fn published(domain: &Value, mx: &str) -> Vec<Value> {
    let mut out: Vec<Value> = domain["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["kind"] == "TXT")
        .map(|r| {
            txt(
                r["host"].as_str().expect("host"),
                r["value"].as_str().expect("value"),
            )
        })
        .collect();
    out.push(json!({"name": domain["domain"], "type": "MX", "preference": 10, "exchange": mx}));
    out
}

#[tokio::test]
async fn a_domain_gets_its_key_and_records_and_passes_once_they_are_published() {
    let dns = DnsServer::start();
    let app = app_with_dns(Some(dns.addr)).await;
    let d = create(
        &app,
        json!({"domain": "Acme.test", "dkim_selector": "s1", "ed25519": true, "spf_include": "_spf.mailer.test"}),
    )
    .await;
    assert_eq!(d["domain"], "acme.test");
    assert_eq!(
        (&d["bulk_ready"], &d["missing"]),
        (&json!(false), &json!(["dkim", "dmarc"]))
    );
    let dkim_rec = record(&d, "dkim");
    assert_eq!(dkim_rec["host"], "s1._domainkey.acme.test");
    let value = dkim_rec["value"].as_str().expect("value");
    assert!(value.starts_with("v=DKIM1; k=rsa; p=MII"), "{value}");
    // An RSA-2048 SubjectPublicKeyInfo is 294 bytes: 392 in base64, longer than one
    // TXT string, so the server sends it split and the check must join it.
    assert_eq!(value.len(), "v=DKIM1; k=rsa; p=".len() + 392);
    assert_eq!(
        record(&d, "dkim_ed25519")["host"],
        "s1e._domainkey.acme.test"
    );
    assert_eq!(
        record(&d, "spf")["value"],
        "v=spf1 include:_spf.mailer.test ~all"
    );
    assert_eq!(record(&d, "dmarc")["host"], "_dmarc.acme.test");
    assert!(
        d["records"]
            .as_array()
            .expect("records")
            .iter()
            .all(|r| r["status"] == "unchecked")
    );
    let text = d.to_string();
    assert!(
        !text.contains("dkim_key") && !text.contains("PRIVATE"),
        "no private key is shown"
    );

    // Nothing published: each check says what is missing, where.
    let id = d["id"].as_str().expect("id").to_owned();
    let bare = verify(&app, &id).await;
    assert_eq!(record(&bare, "dkim")["status"], "fail");
    assert_eq!(
        record(&bare, "dkim")["detail"],
        "no TXT record at s1._domainkey.acme.test"
    );
    assert_eq!(
        record(&bare, "spf")["detail"],
        "no SPF record (v=spf1) at acme.test"
    );
    assert!(
        record(&bare, "dmarc")["detail"]
            .as_str()
            .expect("detail")
            .starts_with("no DMARC record")
    );
    assert!(
        record(&bare, "mx")["detail"]
            .as_str()
            .expect("detail")
            .starts_with("no MX record")
    );
    assert!(bare["checked_at"].is_string());
    assert_eq!(bare["bulk_ready"], false);

    // The wrong key at the selector, and an SPF record that lets anyone send.
    let other = create(&app, json!({"domain": "other.test", "dkim_selector": "s1"})).await;
    dns.publish(
        &[
            txt(
                "s1._domainkey.acme.test",
                record(&other, "dkim")["value"].as_str().expect("v"),
            ),
            txt("acme.test", "v=spf1 +all"),
        ],
        &[],
    );
    let wrong = verify(&app, &id).await;
    assert_eq!(
        record(&wrong, "dkim")["detail"],
        "s1._domainkey.acme.test has another rsa key than this domain's"
    );
    assert!(
        record(&wrong, "spf")["detail"]
            .as_str()
            .expect("d")
            .contains("lets anyone send")
    );

    // Published as the API said: every check passes and the gate opens.
    dns.publish(&published(&d, "mx.acme.test"), &[]);
    let good = verify(&app, &id).await;
    for purpose in ["dkim", "dkim_ed25519", "spf", "dmarc", "mx"] {
        assert_eq!(
            record(&good, purpose)["status"],
            "pass",
            "{purpose}: {good}"
        );
    }
    assert_eq!(
        (&good["bulk_ready"], &good["missing"]),
        (&json!(true), &json!([]))
    );
    assert_eq!(record(&good, "mx")["detail"], "10 mx.acme.test");
    let listed = app.get("/api/v1/domains").await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(2));
    let events = app.get("/api/v1/events?type=domain.checked").await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    assert_eq!(
        events.body["data"].as_array().map(Vec::len),
        Some(3),
        "{}",
        events.body
    );

    // One row per domain; the key's private half is sealed at rest.
    let twice = app
        .post("/api/v1/domains", json!({"domain": "ACME.test"}))
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
    assert_eq!(twice.problem_fields(), ["domain"]);
    let row = domains::store::get(
        app.store.conn(),
        app.workspace_id,
        id.parse().expect("uuid"),
    )
    .await
    .expect("read")
    .expect("row");
    let prefix = format!("v1:{}:", app.store.keyring().active_id());
    assert!(row.dkim_key.starts_with(&prefix), "{}", row.dkim_key);
    assert!(
        row.ed25519_key
            .as_deref()
            .is_some_and(|k| k.starts_with(&prefix))
    );
}

#[tokio::test]
async fn what_the_domain_keys_sign_verifies_with_dkimpy_even_with_trailing_whitespace_lines() {
    let dns = DnsServer::start();
    let app = app_with_dns(Some(dns.addr)).await;
    let d = create(
        &app,
        json!({"domain": "acme.test", "dkim_selector": "k1", "ed25519": true}),
    )
    .await;
    dns.publish(&published(&d, "mx.acme.test"), &[]);
    let row = domains::store::get(
        app.store.conn(),
        app.workspace_id,
        d["id"].as_str().expect("id").parse().expect("uuid"),
    )
    .await
    .expect("read")
    .expect("row");
    let signers = domains::service::signers(&app.store, &row).expect("signers");
    assert_eq!(signers.len(), 2);
    let dir = tempfile::tempdir().expect("dir");
    // Bodies that end in blank and whitespace-only lines: the relaxed body hash that
    // mail-auth 0.13 gets wrong; and a folded header.
    let bodies: [&[u8]; 3] = [
        b"<p>Hi Ada,</p>\r\n<p>see you</p>\r\n",
        b"<p>Hi Ada,</p>  \r\n</html>\r\n    \r\n\t\r\n\r\n",
        b"",
    ];
    for (i, body) in bodies.iter().enumerate() {
        let mut msg = b"From: Ada <ada@acme.test>\r\nTo: bob@example.test\r\nSubject: A long subject\r\n that folds\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@acme.test>\r\nList-Unsubscribe: <https://t.acme.test/u/x>, <mailto:u@acme.test>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n".to_vec();
        msg.extend_from_slice(body);
        let signed = dkim::sign(&msg, &signers, app.clock.now().timestamp()).expect("sign");
        let path = dir.path().join(format!("{i}.eml"));
        std::fs::write(&path, &signed).expect("write");
        let out = Command::new("python3")
            .arg(fixture("dkim_verify.py"))
            .arg(&path)
            .arg(dns.zone_path())
            .output()
            .expect("python3 runs dkimpy (CI installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(report["signatures"], 2, "{report}");
        for r in report["results"].as_array().expect("results") {
            assert_eq!(r["ok"], true, "body {i}: {r}");
            let h = r["h"].as_str().expect("h");
            assert!(
                h.contains("list-unsubscribe:list-unsubscribe")
                    && h.contains("list-unsubscribe-post"),
                "{h}"
            );
        }
        let algorithms: Vec<&str> = report["results"]
            .as_array()
            .expect("r")
            .iter()
            .filter_map(|r| r["a"].as_str())
            .collect();
        assert_eq!(algorithms, ["rsa-sha256", "ed25519-sha256"]);

        // A changed byte of the body, or an added From, breaks every signature.
        let mut tampered = signed.clone();
        tampered.extend_from_slice(b"P.S. added\r\n");
        let mut added = b"From: Mallory <m@evil.test>\r\n".to_vec();
        added.extend_from_slice(&signed);
        for (what, bytes) in [("body", tampered), ("from", added)] {
            std::fs::write(&path, &bytes).expect("write");
            let out = Command::new("python3")
                .arg(fixture("dkim_verify.py"))
                .arg(&path)
                .arg(dns.zone_path())
                .output()
                .expect("run");
            let report: Value = serde_json::from_slice(&out.stdout).expect("json");
            assert!(
                report["results"]
                    .as_array()
                    .expect("r")
                    .iter()
                    .all(|r| r["ok"] == false),
                "{what}: {report}"
            );
        }
    }
}

#[tokio::test]
async fn dmarc_is_inherited_and_failed_lookups_are_errors_not_failures() {
    let dns = DnsServer::start();
    let app = app_with_dns(Some(dns.addr)).await;
    let d = create(&app, json!({"domain": "mail.acme.test"})).await;
    let selector = d["dkim_selector"].as_str().expect("selector");
    assert!(
        selector.starts_with("so20") && selector.len() == 8,
        "{selector}"
    );
    let id = d["id"].as_str().expect("id").to_owned();
    let dkim_value = record(&d, "dkim")["value"].as_str().expect("v").to_owned();
    dns.publish(
        &[
            txt(
                &format!("{selector}._domainkey.mail.acme.test"),
                &dkim_value,
            ),
            txt("_dmarc.acme.test", "v=DMARC1; p=reject; sp=quarantine"),
        ],
        &["mail.acme.test"],
    );
    let checked = verify(&app, &id).await;
    assert_eq!(record(&checked, "dkim")["status"], "pass", "{checked}");
    let dmarc = record(&checked, "dmarc");
    assert_eq!(dmarc["status"], "pass");
    assert!(
        dmarc["detail"]
            .as_str()
            .expect("d")
            .starts_with("policy quarantine (inherited from _dmarc.acme.test)"),
        "{dmarc}"
    );
    // SERVFAIL at the domain: nothing is known of its SPF and MX.
    for purpose in ["spf", "mx"] {
        let r = record(&checked, purpose);
        assert_eq!(r["status"], "error", "{r}");
        assert!(r["detail"].as_str().expect("d").contains("SERVFAIL"), "{r}");
    }
    assert_eq!(
        checked["bulk_ready"], true,
        "SPF and MX are not what the gate waits for"
    );

    // A resolver that is not there: every check is an error naming it.
    let gone = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    let app2 = app_with_dns(Some(gone)).await;
    let d2 = create(&app2, json!({"domain": "acme.test"})).await;
    let none = verify(&app2, d2["id"].as_str().expect("id")).await;
    for r in none["records"].as_array().expect("records") {
        assert_eq!(r["status"], "error", "{r}");
        assert!(
            r["detail"].as_str().expect("d").contains(&gone.to_string()),
            "{r}"
        );
    }
    assert_eq!(none["bulk_ready"], false);
}

#[tokio::test]
async fn bad_input_is_named_and_domains_stay_in_their_workspace() {
    let app = app_with_dns(None).await;
    for (body, field) in [
        (json!({"domain": "acme"}), "domain"),
        (json!({"domain": "acme..test"}), "domain"),
        (json!({"domain": "bücher.test"}), "domain"),
        (
            json!({"domain": "acme.test", "dkim_selector": "-s"}),
            "dkim_selector",
        ),
        (
            json!({"domain": "acme.test", "spf_include": "not a host"}),
            "spf_include",
        ),
    ] {
        let a = app.post("/api/v1/domains", body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert_eq!(a.problem_fields(), [field], "{body}");
    }
    let d = create(&app, json!({"domain": "acme.test"})).await;
    let id = d["id"].as_str().expect("id");
    let other = app.other_workspace_key().await;
    for method in [Method::GET, Method::DELETE] {
        let a = app
            .call(method, &format!("/api/v1/domains/{id}"), &other, None)
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    }
    let a = app
        .call(
            Method::POST,
            &format!("/api/v1/domains/{id}/verify"),
            &other,
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // A rep may look but not add, check or delete.
    let (_, rep) = app.member("rep@acme.test", Role::Rep).await;
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/domains/{id}"), &rep, None)
            .await
            .status,
        StatusCode::OK
    );
    let a = app
        .call(
            Method::POST,
            "/api/v1/domains",
            &rep,
            Some(json!({"domain": "rep.test"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = app
        .call(Method::DELETE, &format!("/api/v1/domains/{id}"), &rep, None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let gone = app.delete(&format!("/api/v1/domains/{id}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/domains/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}
