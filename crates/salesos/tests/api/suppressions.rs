//! The suppression list through `/api/v1/suppressions`: addresses and whole domains,
//! checked case-insensitively, with their reason, source, events and audit trail.

use reqwest::{Method, StatusCode};
use salesos_platform::auth::Role;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn values(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["value"].as_str().expect("value").to_owned())
        .collect()
}

#[tokio::test]
async fn a_domain_entry_suppresses_its_subdomains_and_an_address_only_itself() {
    let app = spawn_app().await;
    let domain = app
        .post(
            "/api/v1/suppressions",
            json!({"domain": "https://www.Competitor.COM/pricing", "reason": "do_not_contact", "note": "  their staff  "}),
        )
        .await;
    assert_eq!(domain.status, StatusCode::CREATED, "{}", domain.body);
    assert_eq!(domain.body["kind"], "domain");
    assert_eq!(domain.body["value"], "competitor.com");
    assert_eq!(domain.body["source"], "api");
    assert_eq!(domain.body["note"], "their staff");
    assert_eq!(domain.body["created_by"], app.admin_id.to_string());
    let address = app
        .post(
            "/api/v1/suppressions",
            json!({"email": " Ada@Example.com ", "reason": "unsubscribed"}),
        )
        .await;
    assert_eq!(address.status, StatusCode::CREATED, "{}", address.body);
    assert_eq!(address.body["value"], "ada@example.com");

    let check = |email: &'static str| {
        let app = &app;
        async move {
            let a = app
                .get(&format!("/api/v1/suppressions/check?email={email}"))
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            a.body
        }
    };
    let sub = check("Bob@EU.Competitor.com").await;
    assert_eq!(sub["email"], "bob@eu.competitor.com");
    assert_eq!(sub["suppressed"], true, "{sub}");
    assert_eq!(sub["by"][0]["id"], domain.body["id"], "{sub}");
    let ada = check("ADA@example.com").await;
    assert_eq!(ada["suppressed"], true, "{ada}");
    assert_eq!(ada["by"][0]["reason"], "unsubscribed");
    // Another address at the same domain, and a look-alike domain, may be mailed.
    let other = check("grace@example.com").await;
    assert_eq!(other["suppressed"], false, "{other}");
    assert_eq!(other["by"], json!([]));
    let lookalike = check("x@notcompetitor.com").await;
    assert_eq!(lookalike["suppressed"], false, "{lookalike}");

    // The same entry twice is a conflict, whatever its case; nothing is half-written.
    let again = app
        .post(
            "/api/v1/suppressions",
            json!({"email": "ADA@EXAMPLE.COM", "reason": "manual"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.problem_fields(), ["email"], "{}", again.body);
    let list = app.get("/api/v1/suppressions").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(values(&list.body), ["ada@example.com", "competitor.com"]);

    // Filters and pages.
    let domains = app.get("/api/v1/suppressions?kind=domain").await;
    assert_eq!(values(&domains.body), ["competitor.com"]);
    let unsub = app.get("/api/v1/suppressions?reason=unsubscribed").await;
    assert_eq!(values(&unsub.body), ["ada@example.com"]);
    let found = app.get("/api/v1/suppressions?q=COMPET").await;
    assert_eq!(values(&found.body), ["competitor.com"]);
    let first = app.get("/api/v1/suppressions?limit=1").await;
    assert_eq!(values(&first.body), ["ada@example.com"]);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/api/v1/suppressions?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(values(&second.body), ["competitor.com"]);
    assert_eq!(second.body["next_cursor"], Value::Null);

    // Taking the domain off lets its addresses be mailed again.
    let id = domain.body["id"].as_str().expect("id");
    let gone = app.delete(&format!("/api/v1/suppressions/{id}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(
        app.get(&format!("/api/v1/suppressions/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(check("bob@eu.competitor.com").await["suppressed"], false);

    // Each change is an event and an audit entry.
    for (topic, n) in [("suppression.added", 2), ("suppression.removed", 1)] {
        let events = app.get(&format!("/api/v1/events?type={topic}")).await;
        assert_eq!(
            events.body["data"].as_array().map(Vec::len),
            Some(n),
            "{topic}: {}",
            events.body
        );
    }
    let removed = app.get("/api/v1/events?type=suppression.removed").await;
    assert_eq!(removed.body["data"][0]["data"]["value"], "competitor.com");
    let audit = app
        .get(&format!(
            "/api/v1/audit?entity_type=suppression&entity_id={id}"
        ))
        .await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["suppression.removed", "suppression.added"],
        "{}",
        audit.body
    );
}

#[tokio::test]
async fn bad_entries_are_refused_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    for (body, field) in [
        (
            json!({"email": "not an address", "reason": "manual"}),
            "email",
        ),
        (json!({"domain": "localhost", "reason": "manual"}), "domain"),
        (
            json!({"email": "a@b.com", "domain": "b.com", "reason": "manual"}),
            "domain",
        ),
        (json!({"reason": "manual"}), "email"),
        (
            json!({"email": "a@b.com", "reason": "manual", "note": "x".repeat(501)}),
            "note",
        ),
    ] {
        let a = app.post("/api/v1/suppressions", body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert_eq!(a.problem_fields(), [field], "{body}: {}", a.body);
        assert_eq!(a.content_type(), "application/problem+json");
    }
    let unknown = app
        .post(
            "/api/v1/suppressions",
            json!({"email": "a@b.com", "reason": "bored"}),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    assert!(
        unknown.body.to_string().contains("reason"),
        "{}",
        unknown.body
    );
    let check = app.get("/api/v1/suppressions/check?email=nope").await;
    assert_eq!(
        check.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        check.body
    );
    assert_eq!(check.problem_fields(), ["email"], "{}", check.body);
    let list = app.get("/api/v1/suppressions").await;
    assert_eq!(list.body["data"], json!([]), "{}", list.body);
}

#[tokio::test]
async fn reps_read_the_list_managers_change_it_and_workspaces_never_see_each_other() {
    let app = spawn_app().await;
    let (_, rep) = app.member("rep@acme.test", Role::Rep).await;
    let (_, manager) = app.member("manager@acme.test", Role::Manager).await;
    let body = json!({"email": "ceo@bigco.com", "reason": "manual"});
    let refused = app
        .call(
            Method::POST,
            "/api/v1/suppressions",
            &rep,
            Some(body.clone()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let made = app
        .call(Method::POST, "/api/v1/suppressions", &manager, Some(body))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().expect("id");
    // A rep must know whom not to mail.
    let seen = app
        .call(
            Method::GET,
            "/api/v1/suppressions/check?email=ceo@bigco.com",
            &rep,
            None,
        )
        .await;
    assert_eq!(seen.body["suppressed"], true, "{}", seen.body);
    let path = format!("/api/v1/suppressions/{id}");
    assert_eq!(
        app.call(Method::DELETE, &path, &rep, None).await.status,
        StatusCode::FORBIDDEN
    );

    let other = app.other_workspace_key().await;
    for method in [Method::GET, Method::DELETE] {
        let a = app.call(method.clone(), &path, &other, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {}", a.body);
    }
    let theirs = app
        .call(
            Method::GET,
            "/api/v1/suppressions/check?email=ceo@bigco.com",
            &other,
            None,
        )
        .await;
    assert_eq!(theirs.body["suppressed"], false, "{}", theirs.body);
    let list = app
        .call(Method::GET, "/api/v1/suppressions", &other, None)
        .await;
    assert_eq!(list.body["data"], json!([]));
    // Still there for its own workspace.
    assert_eq!(app.get(&path).await.status, StatusCode::OK);
}

/// POST a CSV file to the import with `key`.
async fn import_csv(app: &crate::helpers::TestApp, key: &str, query: &str, csv: String) -> Value {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/suppressions/import{query}")))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("report")
}

#[tokio::test]
async fn a_csv_file_imports_row_by_row_and_an_export_imports_back_to_the_same_list() {
    let app = spawn_app().await;
    let listed = app
        .post(
            "/api/v1/suppressions",
            json!({"email": "ada@example.com", "reason": "complaint"}),
        )
        .await;
    assert_eq!(listed.status, StatusCode::CREATED, "{}", listed.body);
    let file = "Email Address,Reason,Notes,Owner\n\
                ADA@example.com,,,\n\
                bob@example.com,hard bounce,\"bounced, twice\",x\n\
                \n\
                not an address,,,\n\
                carol@example.com,bored,,\n\
                bob@example.com,,,\n\
                dan@example.com,,,\n";
    let report = import_csv(&app, &app.admin_key, "?reason=unsubscribed", file.into()).await;
    assert_eq!(
        (
            &report["rows"],
            &report["added"],
            &report["already_listed"],
            &report["rejected"]
        ),
        (&json!(6), &json!(2), &json!(2), &json!(2)),
        "{report}"
    );
    assert_eq!(report["ignored_columns"], json!(["Owner"]));
    let lines: Vec<(u64, &str)> = report["rejected_rows"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().expect("line"),
                r["value"].as_str().expect("value"),
            )
        })
        .collect();
    assert_eq!(lines, [(5, "not an address"), (6, "carol@example.com")]);
    let bob = app
        .get("/api/v1/suppressions/check?email=bob@example.com")
        .await;
    assert_eq!(bob.body["by"][0]["reason"], "hard_bounce", "{}", bob.body);
    assert_eq!(bob.body["by"][0]["source"], "import");
    assert_eq!(bob.body["by"][0]["note"], "bounced, twice");
    let dan = app
        .get("/api/v1/suppressions/check?email=dan@example.com")
        .await;
    assert_eq!(
        dan.body["by"][0]["reason"], "unsubscribed",
        "the query's reason"
    );
    let ada = app
        .get("/api/v1/suppressions/check?email=ada@example.com")
        .await;
    assert_eq!(
        ada.body["by"][0]["reason"], "complaint",
        "an import leaves what is listed"
    );
    let added = app.get("/api/v1/events?type=suppression.added").await;
    assert_eq!(
        added.body["data"].as_array().map(Vec::len),
        Some(3),
        "{}",
        added.body
    );

    // A plain list of values needs no header.
    let plain = import_csv(
        &app,
        &app.admin_key,
        "?reason=do_not_contact",
        "competitor.com\n".into(),
    )
    .await;
    assert_eq!(plain["added"], 1, "{plain}");

    // The export, imported into another workspace, is the same list.
    let export = app.get("/api/v1/suppressions/export.csv").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        export.content_type().starts_with("text/csv"),
        "{}",
        export.content_type()
    );
    let csv = export.body.as_str().expect("csv text").to_owned();
    assert!(
        csv.starts_with("kind,value,reason,source,note,created_at\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let other = app.other_workspace_key().await;
    let copied = import_csv(&app, &other, "", csv.clone()).await;
    assert_eq!(
        (&copied["added"], &copied["rejected"]),
        (&json!(4), &json!(0)),
        "{copied}"
    );
    let theirs = app
        .call(Method::GET, "/api/v1/suppressions/export.csv", &other, None)
        .await;
    let rows = |csv: &str| -> Vec<String> {
        let mut rows: Vec<String> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(rows(theirs.body.as_str().expect("csv")), rows(&csv));
    let domains = app.get("/api/v1/suppressions/export.csv?kind=domain").await;
    assert_eq!(domains.body.as_str().map(|c| c.lines().count()), Some(2));

    // A file that cannot be read, or is not CSV, adds nothing and says why.
    let headless = app
        .post_raw(
            "/api/v1/suppressions/import",
            "text/csv",
            "name,company\nAda,Acme\n",
        )
        .await;
    assert_eq!(
        headless.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        headless.body
    );
    assert_eq!(headless.problem_fields(), ["file"]);
    assert!(
        headless.body.to_string().contains("`email`"),
        "{}",
        headless.body
    );
    let json_body = app
        .post_raw("/api/v1/suppressions/import", "application/json", "{}")
        .await;
    assert_eq!(
        json_body.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        json_body.body
    );
    let list = app.get("/api/v1/suppressions?limit=500").await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(4));
    // A viewer may not import.
    let (_, viewer) = app
        .member("viewer@acme.test", salesos_platform::auth::Role::Viewer)
        .await;
    let res = app
        .client
        .post(app.url("/api/v1/suppressions/import"))
        .bearer_auth(&viewer)
        .header("content-type", "text/csv")
        .body("x@y.com\n")
        .send()
        .await
        .expect("import");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
