//! Imports through the API and the CLI: messy files accounted for row by row, dry runs,
//! merge policies, a crash mid-import, and export → import round trips.

use std::{process::Command, time::Duration};

use reqwest::{StatusCode, multipart};
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, eventually, spawn_app, spawn_app_with};

/// Upload a file with form options as `key`.
async fn upload_as(
    app: &TestApp,
    key: &str,
    name: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> Answer {
    let mut form = multipart::Form::new();
    for (k, v) in fields {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    form = form.part(
        "file",
        multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    let res = app
        .client
        .post(app.url("/api/v1/imports"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    Answer {
        status,
        headers: reqwest::header::HeaderMap::new(),
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn upload(app: &TestApp, name: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Answer {
    upload_as(app, &app.admin_key, name, bytes, fields).await
}

/// Wait until the import has finished; return it.
async fn finished(app: &TestApp, id: &str) -> Value {
    eventually(&format!("import {id} to finish"), || async {
        let a = app.get(&format!("/api/v1/imports/{id}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        (a.body["state"] == "succeeded" || a.body["state"] == "failed").then_some(a.body)
    })
    .await
}

async fn import_file(app: &TestApp, name: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Value {
    let a = upload(app, name, bytes, fields).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let id = a.body["id"].as_str().expect("id").to_owned();
    let done = finished(app, &id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    done
}

fn sum(counts: &Value) -> i64 {
    ["created", "updated", "merged", "unchanged", "rejected"]
        .iter()
        .map(|k| counts[k].as_i64().expect("count"))
        .sum()
}

async fn all_contacts(app: &TestApp, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/v1/contacts?limit=500&sort=created_at{cursor}");
        let a = app.call(reqwest::Method::GET, &path, key, None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        out.extend(a.body["data"].as_array().expect("data").iter().cloned());
        match a.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// A file with what real exports contain: a BOM, semicolons, quoted fields holding the
/// delimiter and a line break, a ragged row, a Windows-1252 byte, a bad email, a duplicate
/// in another case, a blank row, a company-only row and a name-only row.
fn messy_file() -> Vec<u8> {
    let mut f = b"\xEF\xBB\xBFFirst Name;Last Name;E-mail;Phone Number;Job Title;Company Name;Website;Country;Notes\r\n".to_vec();
    f.extend_from_slice(b"Ada;Lovelace;ada@analytical.test;+44 20 7946 0958;VP Engineering;Analytical Engines Ltd;analytical.test;UK;\"likes; semicolons\"\r\n");
    f.extend_from_slice(b"GRACE;HOPPER;grace@navy.test;(415) 555-0100;Director;Navy;navy.test;USA;\"two\nlines\"\r\n");
    f.extend_from_slice(b"Bob;Broken;bob@@broken;;;;;;\r\n");
    f.extend_from_slice(b"Ada;Lovelace;ADA@Analytical.test;;;Analytical Engines;;;dup\r\n");
    f.extend_from_slice(b";;;;;Initech LLC;initech.test;US;\r\n");
    f.extend_from_slice(b"Jane;Doe;;555-0199;Sales Manager;Initech;;US\r\n");
    f.extend_from_slice(b";;;;;;;;\r\n");
    f.extend_from_slice(b"Ren\xe9;M\xfcller;rene@muller.test;;;;;DE;caf\xe9\r\n");
    f.extend_from_slice(b"Tom;Typo;tom@gmial.com;call me;Account Executive;;;;\r\n");
    f
}

#[tokio::test]
async fn a_messy_file_is_accounted_for_row_by_row() {
    let app = spawn_app().await;
    let done = import_file(
        &app,
        "messy.csv",
        messy_file(),
        &[("region", "US"), ("tags", "webinar")],
    )
    .await;
    let c = &done["counts"];
    assert_eq!(c["rows"], 9, "{done}");
    assert_eq!(sum(c), 9, "outcomes add up to the rows read: {c}");
    assert_eq!(done["progress"], 100, "{done}");
    assert_eq!(done["rows_expected"], 9, "exact once done: {done}");
    // Ada, Grace, Initech (company only), Jane, René, Tom.
    assert_eq!(c["created"], 6, "{c}");
    assert_eq!(c["merged"], 1, "{c}");
    assert_eq!(c["rejected"], 2, "{c}");
    assert_eq!(c["accounts_created"], 3, "Analytical, Navy, Initech: {c}");
    assert!(
        done["detected"].as_str().expect("detected").contains(';'),
        "{done}"
    );

    let rejected = app
        .get(&format!(
            "/api/v1/imports/{}/rows?outcome=rejected",
            done["id"].as_str().expect("id")
        ))
        .await;
    let rows = rejected.body["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{}", rejected.body);
    assert_eq!(rows[0]["row"], 4);
    assert_eq!(rows[0]["column"], "E-mail");
    assert_eq!(rows[0]["value"], "bob@@broken");
    assert!(
        rows[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("email"),
        "{}",
        rows[0]
    );
    assert_eq!(rows[1]["reason"], "the row is empty");

    let csv = app
        .client
        .get(app.url(&format!(
            "/api/v1/imports/{}/rejected.csv",
            done["id"].as_str().expect("id")
        )))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with("_row,_column,_reason"), "{text}");
    assert!(lines[1].starts_with("Bob,Broken,bob@@broken"), "{text}");

    let contacts = all_contacts(&app, &app.admin_key).await;
    assert_eq!(contacts.len(), 5, "one record per person");
    let by_email = |e: &str| contacts.iter().find(|c| c["email"] == e).cloned().expect(e);
    let ada = by_email("ada@analytical.test");
    assert_eq!(ada["phone"], "+442079460958");
    assert_eq!(ada["custom_fields"]["notes"], "likes; semicolons");
    assert_eq!(ada["tags"], json!(["webinar"]));
    let grace = by_email("grace@navy.test");
    assert_eq!(grace["first_name"], "Grace");
    assert_eq!(grace["custom_fields"]["notes"], "two\nlines");
    let rene = by_email("rene@muller.test");
    assert_eq!(rene["first_name"], "René");
    assert_eq!(rene["last_name"], "Müller");
    assert_eq!(rene["timezone"], "Europe/Berlin");
    let tom = by_email("tom@gmial.com");
    assert_eq!(
        tom["custom_fields"]["phone_number"], "call me",
        "unreadable values are kept"
    );
    let jane = contacts
        .iter()
        .find(|c| c["first_name"] == "Jane")
        .expect("jane");
    assert!(
        jane["account_id"].is_string(),
        "Jane is linked to Initech by name"
    );
    let initech = app
        .get(&format!(
            "/api/v1/accounts/{}",
            jane["account_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(
        initech.body["domain"], "initech.test",
        "the name matched the company-only row's account"
    );

    // Warnings are on the rows.
    let tom_row = app
        .get(&format!(
            "/api/v1/imports/{}/rows?limit=20",
            done["id"].as_str().expect("id")
        ))
        .await;
    let tom_row = tom_row.body["data"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["row"] == 10)
        .cloned()
        .expect("row 10");
    assert!(
        tom_row["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("gmail.com")),
        "{tom_row}"
    );

    // One summary event per batch and one completion, not one per row.
    let events = app.get("/api/v1/events?type=contact.*").await;
    let types: Vec<&str> = events.body["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str().or(e["event_type"].as_str()))
        .collect();
    assert_eq!(types, ["contact.bulk_created"], "{}", events.body);
    let completed = app.get("/api/v1/events?type=import.completed").await;
    let data = &completed.body["data"][0]["data"];
    assert_eq!(data["counts"]["created"], 6, "{}", completed.body);
}

#[tokio::test]
async fn a_dry_run_reports_the_same_outcomes_and_writes_nothing() {
    let app = spawn_app().await;
    let dry = import_file(
        &app,
        "messy.csv",
        messy_file(),
        &[("region", "US"), ("dry_run", "true")],
    )
    .await;
    assert_eq!(dry["dry_run"], true);
    assert!(
        all_contacts(&app, &app.admin_key).await.is_empty(),
        "a dry run writes no contacts"
    );
    let accounts = app.get("/api/v1/accounts").await;
    assert_eq!(accounts.body["data"], json!([]), "nor accounts");
    let real = import_file(&app, "messy.csv", messy_file(), &[("region", "US")]).await;
    assert_eq!(
        dry["counts"], real["counts"],
        "the dry run said what the import did"
    );
    // The dry run's rejected rows are listed like a real run's.
    let rows = app
        .get(&format!(
            "/api/v1/imports/{}/rows?outcome=rejected",
            dry["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(rows.body["data"].as_array().expect("rows").len(), 2);
}

#[tokio::test]
async fn merge_policies_skip_fill_and_update() {
    let app = spawn_app().await;
    app.contact(json!({"email": "pat@acme.test", "first_name": "Pat", "title": "CEO"}))
        .await;
    let file = b"Email,Title,Phone,City\npat@acme.test,CTO,+1 415 555 0100,Austin\n".to_vec();

    let skip = import_file(&app, "p.csv", file.clone(), &[("policy", "skip")]).await;
    assert_eq!(skip["counts"]["unchanged"], 1, "{skip}");
    let pat = &all_contacts(&app, &app.admin_key).await[0];
    assert_eq!(
        (pat["title"].as_str(), pat["phone"].as_str()),
        (Some("CEO"), None)
    );

    let fill = import_file(&app, "p.csv", file.clone(), &[("policy", "fill")]).await;
    assert_eq!(fill["counts"]["updated"], 1, "{fill}");
    let pat = &all_contacts(&app, &app.admin_key).await[0];
    assert_eq!(pat["title"], "CEO", "fill keeps what is there");
    assert_eq!(pat["phone"], "+14155550100", "and fills what is empty");
    assert_eq!(pat["city"], "Austin");

    let again = import_file(&app, "p.csv", file.clone(), &[("policy", "fill")]).await;
    assert_eq!(
        again["counts"]["unchanged"], 1,
        "nothing new to fill: {again}"
    );

    let update = import_file(&app, "p.csv", file, &[("policy", "update")]).await;
    assert_eq!(update["counts"]["updated"], 1, "{update}");
    let all = all_contacts(&app, &app.admin_key).await;
    assert_eq!(all.len(), 1, "never a duplicate");
    assert_eq!(all[0]["title"], "CTO", "update: the file wins");
    assert_eq!(all[0]["first_name"], "Pat", "empty cells clear nothing");
    let updated_events = app.get("/api/v1/events?type=contact.bulk_updated").await;
    assert_eq!(
        updated_events.body["data"]
            .as_array()
            .expect("events")
            .len(),
        2
    );
}

#[tokio::test]
async fn bad_uploads_and_options_are_named() {
    let app = spawn_app().await;
    // No file.
    let form = multipart::Form::new().text("policy", "fill");
    let res = app
        .client
        .post(app.url("/api/v1/imports"))
        .bearer_auth(&app.admin_key)
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("problem");
    assert_eq!(body["errors"][0]["field"], "file", "{body}");

    let a = upload(
        &app,
        "a.csv",
        b"Email\nx@y.test\n".to_vec(),
        &[
            ("policy", "merge"),
            ("region", "XX"),
            ("mapping", "{\"Email\": \"nonsense\"}"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let fields = a.problem_fields();
    for f in ["policy", "region", "mapping.Email"] {
        assert!(fields.iter().any(|x| x == f), "{f} named in {fields:?}");
    }
    let empty = upload(&app, "empty.csv", Vec::new(), &[]).await;
    assert_eq!(
        empty.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        empty.body
    );
    assert_eq!(
        app.get("/api/v1/imports").await.body["data"],
        json!([]),
        "refused uploads leave nothing"
    );

    // A mapping naming a column the file lacks fails the import, saying which.
    let a = upload(
        &app,
        "a.csv",
        b"Email\nx@y.test\n".to_vec(),
        &[("mapping", "{\"E-mail\": \"email\"}")],
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let done = finished(&app, a.body["id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "failed");
    assert!(
        done["error"].as_str().expect("error").contains("E-mail"),
        "{done}"
    );

    // A binary file.
    let a = upload(&app, "photo.jpg", vec![0xFF, 0xD8, 0, 0, 1, 2, 3], &[]).await;
    let done = finished(&app, a.body["id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "failed");
    assert!(
        done["error"].as_str().expect("error").contains("photo.jpg"),
        "names the file: {done}"
    );

    // Another workspace sees none of it.
    let other = app.other_workspace_key().await;
    let peek = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/imports/{}", done["id"].as_str().expect("id")),
            &other,
            None,
        )
        .await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND);
}

/// A file of `n` people at `n / 10` companies, every fifth row repeating an earlier one.
fn big_file(n: usize) -> Vec<u8> {
    let mut f = String::from("first_name,last_name,email,company,website\n");
    for i in 0..n {
        let p = if i % 5 == 4 { i - 2 } else { i };
        f.push_str(&format!(
            "First{p},Last{p},person{p}@company{}.test,Company {},company{}.test\n",
            p / 10,
            p / 10,
            p / 10
        ));
    }
    f.into_bytes()
}

#[tokio::test]
async fn an_import_killed_mid_way_resumes_without_duplicates() {
    let app = spawn_app_with(|s| s.job_lease = Duration::from_secs(2)).await;
    let n = 30_000;
    let path = app.settings.data_dir.join("big.csv");
    std::fs::write(&path, big_file(n)).expect("write");
    let shown = path.display().to_string();
    // A node starts the import and dies after its first batches: the job is held under a
    // lease no one renews, and the run is dropped mid-batch.
    let id = app.clock.new_id();
    let options = salesos_imports::engine::ImportOptions::default();
    salesos_imports::service::start(
        &app.store,
        &salesos_platform::audit::Actor::operator(),
        app.workspace_id,
        None,
        id,
        &shown,
        i64::try_from(std::fs::metadata(&path).expect("meta").len()).expect("size"),
        salesos_imports::service::Source::Path(&shown),
        &options,
        false,
        Some(("crashed-node", Duration::from_secs(2))),
    )
    .await
    .expect("start");
    let store = app.store.clone();
    let run = tokio::spawn(async move {
        // The node dies once it has written 8,000 rows, unless the test kills it mid-batch
        // first: the run never reaches its end however fast the machine is.
        let die = |_: i32, written: String| {
            let rows: i64 = written
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            assert!(rows < 8000, "simulated crash after {rows} rows");
        };
        salesos_imports::engine::run(&store, id, &die).await
    });
    loop {
        let a = app.get(&format!("/api/v1/imports/{id}")).await;
        if a.body["counts"]["rows"].as_i64().unwrap_or(0) >= 8000 || run.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run.abort();
    let _ = run.await;
    let partial = app.get(&format!("/api/v1/imports/{id}")).await.body;
    assert!(
        partial["counts"]["rows"].as_i64().expect("rows") < n as i64,
        "{partial}"
    );

    // The lease runs out; the server's worker takes the job and resumes after the last
    // batch written.
    let done = finished(&app, &id.to_string()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let c = &done["counts"];
    assert_eq!(c["rows"], n, "{c}");
    assert_eq!(sum(c), n as i64, "{c}");
    assert_eq!(c["created"], n - n / 5, "{c}");
    assert_eq!(c["merged"], n / 5, "{c}");
    assert_eq!(c["accounts_created"], n / 10, "{c}");
    let contacts = all_contacts(&app, &app.admin_key).await;
    assert_eq!(contacts.len(), n - n / 5, "no duplicates");
    let accounts = app.get("/api/v1/accounts?limit=1").await;
    assert!(accounts.body["next_cursor"].is_string());
    let rows = app
        .get(&format!(
            "/api/v1/imports/{id}/rows?limit=500&outcome=created"
        ))
        .await;
    assert_eq!(rows.body["data"].as_array().expect("rows").len(), 500);
}

#[tokio::test]
async fn exports_import_back_to_the_same_data() {
    let app = spawn_app().await;
    let acct = app.post("/api/v1/accounts", json!({"name": "Acme, Inc.", "domain": "acme.test", "industry": "Software", "company_size": "51-200", "location": "Austin, TX"})).await;
    assert_eq!(acct.status, StatusCode::CREATED, "{}", acct.body);
    app.contact(json!({
        "first_name": "Pat", "last_name": "O'Neil", "email": "pat@acme.test", "phone": "+14155550100",
        "title": "VP Sales", "company": "Acme, Inc.", "account_id": acct.body["id"], "country": "US", "city": "Austin",
        "timezone": "America/Chicago", "tags": ["vip", "q3"], "custom_fields": {"favourite_colour": "teal, mostly"}
    }))
    .await;
    app.contact(json!({"first_name": "Lee", "last_name": "Nobody", "title": "Engineer", "custom_fields": {"note": "line one\nline two"}})).await;
    app.contact(json!({"email": "only@mail.test"})).await;

    let export = |key: String, what: &'static str| {
        let app = &app;
        async move {
            let res = app
                .client
                .get(app.url(&format!("/api/v1/{what}/export.csv")))
                .bearer_auth(key)
                .send()
                .await
                .expect("export");
            assert_eq!(res.status(), StatusCode::OK);
            assert!(
                res.headers()["content-type"]
                    .to_str()
                    .unwrap_or("")
                    .starts_with("text/csv")
            );
            res.bytes().await.expect("bytes").to_vec()
        }
    };
    let contacts_csv = export(app.admin_key.clone(), "contacts").await;
    let accounts_csv = export(app.admin_key.clone(), "accounts").await;

    // Into an empty workspace: accounts first, then contacts.
    let other = app.other_workspace_key().await;
    let a = upload_as(&app, &other, "accounts.csv", accounts_csv.clone(), &[]).await;
    finished_as(&app, &other, a.body["id"].as_str().expect("id")).await;
    let c = upload_as(&app, &other, "contacts.csv", contacts_csv.clone(), &[]).await;
    let done = finished_as(&app, &other, c.body["id"].as_str().expect("id")).await;
    assert_eq!(done["counts"]["created"], 3, "{done}");
    assert_eq!(
        done["counts"]["accounts_created"], 0,
        "the account came with the accounts file: {done}"
    );

    // The same data: everything but ids and timestamps.
    let strip = |csv: &[u8]| -> Vec<Vec<String>> {
        let mut r = csv::Reader::from_reader(csv);
        let headers = r.headers().expect("headers").clone();
        let keep: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| !["id", "created_at", "updated_at"].contains(h))
            .map(|(i, _)| i)
            .collect();
        let mut rows: Vec<Vec<String>> =
            std::iter::once(keep.iter().map(|i| headers[*i].to_owned()).collect())
                .chain(r.records().map(|rec| {
                    let rec = rec.expect("record");
                    keep.iter().map(|i| rec[*i].to_owned()).collect()
                }))
                .collect();
        rows[1..].sort();
        rows
    };
    assert_eq!(
        strip(&export(other.clone(), "contacts").await),
        strip(&contacts_csv)
    );
    assert_eq!(
        strip(&export(other.clone(), "accounts").await),
        strip(&accounts_csv)
    );

    // Importing the export again over the same data changes nothing.
    let again = upload(&app, "contacts.csv", contacts_csv, &[("policy", "update")]).await;
    let again = finished(&app, again.body["id"].as_str().expect("id")).await;
    assert_eq!(again["counts"]["unchanged"], 3, "{again}");
}

async fn finished_as(app: &TestApp, key: &str, id: &str) -> Value {
    eventually(&format!("import {id} to succeed"), || async {
        let a = app
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/imports/{id}"),
                key,
                None,
            )
            .await;
        assert_ne!(a.body["state"], "failed", "{}", a.body);
        (a.body["state"] == "succeeded").then_some(a.body)
    })
    .await
}

#[tokio::test]
async fn the_cli_imports_next_to_a_running_server() {
    let app = spawn_app().await;
    let file = app.settings.data_dir.join("leads.csv");
    std::fs::write(&file, messy_file()).expect("write");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_salesos"));
        cmd.args(args)
            .arg("--data-dir")
            .arg(&app.settings.data_dir)
            .env_remove("SALESOS_DATABASE_URL");
        if let Some(url) = &app.settings.database_url {
            cmd.arg("--database-url").arg(url.expose());
        }
        cmd.output().expect("run salesos")
    };
    let out = run(&[
        "import",
        file.to_str().expect("path"),
        "--workspace",
        "acme",
        "--region",
        "US",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: Value = serde_json::from_str(stdout.lines().last().expect("line")).expect("json");
    assert_eq!(
        (
            last["rows"].as_i64(),
            last["created"].as_i64(),
            last["merged"].as_i64(),
            last["rejected"].as_i64()
        ),
        (Some(9), Some(6), Some(1), Some(2)),
        "{last}"
    );
    // The server sees the import and its contacts.
    let shown = app
        .get(&format!(
            "/api/v1/imports/{}",
            last["import_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(shown.body["state"], "succeeded", "{}", shown.body);
    assert_eq!(all_contacts(&app, &app.admin_key).await.len(), 5);

    // Export through the CLI gives the same file as the API.
    let out = run(&["export", "contacts", "--workspace", "acme"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = csv::Reader::from_reader(&out.stdout[..]).records().count();
    assert_eq!(records, 5, "five contacts");

    // Bad input: a clear message and a non-zero exit, nothing recorded.
    let out = run(&["import", "/nonexistent/leads.csv", "--workspace", "acme"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/leads.csv"));
    let out = run(&[
        "import",
        file.to_str().expect("path"),
        "--workspace",
        "acme",
        "--policy",
        "merge",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--policy"));
    let out = run(&[
        "import",
        file.to_str().expect("path"),
        "--workspace",
        "acme",
        "--mapping",
        "Mail=email",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`Mail`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let imports = app.get("/api/v1/imports").await;
    assert_eq!(imports.body["data"].as_array().expect("imports").len(), 1);
}

#[tokio::test]
async fn imported_contacts_are_searchable_before_and_after_the_index_catches_up() {
    let app = spawn_app().await;
    import_file(&app, "messy.csv", messy_file(), &[("region", "US")]).await;
    let found = |q: &'static str| {
        let app = &app;
        async move {
            let a = app.get(&format!("/api/v1/contacts?q={q}")).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            a.body["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|c| c["email"].as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        }
    };
    // Right after the import (the index may still be catching up).
    assert_eq!(found("ovelac").await, ["ada@analytical.test"]);
    salesos_contacts::contacts::search_index::catch_up(&app.store)
        .await
        .expect("index");
    if app.store.backend() == sea_orm::DbBackend::Sqlite {
        let left: Vec<sea_orm::QueryResult> = sea_orm::ConnectionTrait::query_all_raw(
            app.store.conn(),
            sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT low FROM search_backlog",
            ),
        )
        .await
        .expect("backlog");
        assert!(left.is_empty(), "the backlog is worked off");
    }
    assert_eq!(found("ovelac").await, ["ada@analytical.test"]);
    assert_eq!(found("grace%20navy").await, ["grace@navy.test"]);
    // A change after indexing is searchable by its new text only.
    let ada = all_contacts(&app, &app.admin_key)
        .await
        .into_iter()
        .find(|c| c["email"] == "ada@analytical.test")
        .expect("ada");
    let renamed = app
        .patch(
            &format!("/api/v1/contacts/{}", ada["id"].as_str().expect("id")),
            json!({"last_name": "King"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert!(found("ovelac").await.is_empty());
    assert_eq!(found("king").await, ["ada@analytical.test"]);
}

#[tokio::test]
async fn deferred_search_rows_that_follow_on_extend_one_range() {
    let app = spawn_app().await;
    if app.store.backend() != sea_orm::DbBackend::Sqlite {
        return; // PostgreSQL indexes every row as it is written.
    }
    use salesos_contacts::contacts::search_index::defer;
    let txn = app.store.write().await.expect("txn");
    for (low, high) in [(1, 4096), (4097, 8192), (8193, 9000), (12000, 12500)] {
        defer(&txn, low, high).await.expect("defer");
    }
    // Read in the same transaction, never committed: the indexing job it queues cannot
    // take the ranges away meanwhile.
    let ranges: Vec<(i64, i64)> = sea_orm::ConnectionTrait::query_all_raw(
        &txn,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT low, high FROM search_backlog ORDER BY low",
        ),
    )
    .await
    .expect("backlog")
    .iter()
    .map(|r| {
        (
            r.try_get::<i64>("", "low").expect("low"),
            r.try_get::<i64>("", "high").expect("high"),
        )
    })
    .collect();
    assert_eq!(ranges, [(1, 9000), (12000, 12500)]);
}

/// A person first met with an email and later without one (same name, same company) is
/// one contact: the later row is merged into the first, in a dry run as in the import,
/// whether or not the two rows fall in the same batch.
#[tokio::test]
async fn a_row_without_email_merges_into_the_same_person_met_with_one() {
    let file = |filler: usize| {
        let mut f = String::from("first_name,last_name,email,company,website\n");
        f.push_str("Ada,Lovelace,ada@analytical.test,Analytical Engines,analytical.test\n");
        for i in 0..filler {
            f.push_str(&format!("P{i},Q{i},p{i}@filler.test,Filler,filler.test\n"));
        }
        f.push_str("ada,LOVELACE,,Analytical Engines Ltd,analytical.test\n");
        f.into_bytes()
    };
    // 4,200 rows between the two put them in different batches.
    for filler in [0, 4200] {
        let app = spawn_app().await;
        let dry = import_file(&app, "ada.csv", file(filler), &[("dry_run", "true")]).await;
        let real = import_file(&app, "ada.csv", file(filler), &[]).await;
        let created = filler as i64 + 1;
        for run in [&dry, &real] {
            assert_eq!(run["counts"]["created"], created, "{run}");
            assert_eq!(run["counts"]["merged"], 1, "{run}");
        }
        let adas: Vec<Value> = all_contacts(&app, &app.admin_key)
            .await
            .into_iter()
            .filter(|c| c["last_name"] == "Lovelace")
            .collect();
        assert_eq!(adas.len(), 1, "one Ada: {adas:?}");
    }
}
