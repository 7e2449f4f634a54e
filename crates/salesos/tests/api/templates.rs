//! Email templates through `/api/v1/templates`: checked at save (an unknown variable is
//! refused by name), rendered for a real contact with spintax that holds per seed, and
//! kept per workspace.

use reqwest::{Method, StatusCode};
use salesos_platform::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const INTRO_HTML: &str = "<p>{Hi|Hello|Hey} {{ contact.first_name | first_name }},</p>\
    <p>{{ account.name }} on {{ custom.plan | default('the free plan') | title }}: {{ offer }}.</p>\
    <p><a href=\"https://acme.test/demo?a=1&amp;b=2\">Book a demo</a></p>\
    <p>{{ sender.first_name }}</p>";

async fn intro(app: &TestApp) -> Value {
    let made = app
        .post(
            "/api/v1/templates",
            json!({
                "name": " Intro ",
                "subject": "{Quick|Short} question for {{ account.name | default(contact.company) }}",
                "html": INTRO_HTML,
                "variables": ["offer"],
            }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body
}

#[tokio::test]
async fn a_template_renders_for_a_real_contact_with_its_account_sender_and_variables() {
    let app = spawn_app().await;
    let template = intro(&app).await;
    assert_eq!(template["name"], "Intro");
    assert_eq!(template["text"], Value::Null);
    assert_eq!(
        template["uses"],
        json!([
            "account.name",
            "contact.company",
            "contact.first_name",
            "custom.plan",
            "offer",
            "sender.first_name"
        ])
    );
    let account = app
        .post(
            "/api/v1/accounts",
            json!({"name": "Initech & Co", "domain": "initech.test"}),
        )
        .await;
    assert_eq!(account.status, StatusCode::CREATED, "{}", account.body);
    let contact = app
        .contact(json!({
            "email": "peter@initech.test",
            "first_name": "PETER",
            "account_id": account.body["id"],
            "custom_fields": {"plan": "team pro"},
        }))
        .await;
    let id = template["id"].as_str().expect("id");
    let path = format!("/api/v1/templates/{id}/preview");
    let preview = |seed: u32| {
        let (app, path, contact_id) = (&app, &path, contact["id"].clone());
        async move {
            let a = app
                .post(
                    path,
                    json!({"contact_id": contact_id, "variables": {"offer": "30 days <free>"}, "seed": seed}),
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            a.body
        }
    };
    let shown = preview(0).await;
    assert_eq!(shown["template_id"], template["id"]);
    assert_eq!(shown["contact_id"], contact["id"]);
    let subject = shown["subject"].as_str().expect("subject");
    assert!(
        subject.ends_with(" question for Initech & Co"),
        "the subject is not escaped: {subject}"
    );
    let html = shown["html"].as_str().expect("html");
    assert!(html.contains(" Peter,</p>"), "first_name filter: {html}");
    assert!(
        html.contains("Initech &amp; Co on Team Pro: 30 days &lt;free&gt;."),
        "escaped values and the title filter: {html}"
    );
    assert!(
        html.contains("<p>Ada</p>"),
        "the caller is the sender: {html}"
    );
    assert!(
        !html.contains('{') && !html.contains('|'),
        "spintax is chosen: {html}"
    );
    let text = shown["text"].as_str().expect("text");
    assert!(
        text.contains("Initech & Co on Team Pro: 30 days <free>.")
            && text.contains("Book a demo (https://acme.test/demo?a=1&b=2)")
            && text.ends_with("Ada"),
        "the text part is derived from the HTML: {text:?}"
    );
    // The same seed says the same words; others reach every greeting.
    assert_eq!(preview(0).await, shown);
    let mut greetings = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let html = preview(seed).await["html"]
            .as_str()
            .expect("html")
            .to_owned();
        greetings.insert(html.split(' ').next().unwrap_or_default().to_owned());
    }
    assert_eq!(
        greetings.into_iter().collect::<Vec<_>>(),
        ["<p>Hello", "<p>Hey", "<p>Hi"]
    );

    // A contact without the value the template prints without a fallback: named, 422.
    let bare = app.contact(json!({"email": "x@nowhere.test"})).await;
    let missing = app
        .post(
            &path,
            json!({"contact_id": bare["id"], "variables": {"offer": "x"}}),
        )
        .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.body
    );
    assert!(
        missing.body.to_string().contains("`account.name`"),
        "{}",
        missing.body
    );
    // So is a declared variable left out, and one the template does not declare.
    for (variables, named) in [
        (json!({}), "`offer`"),
        (json!({"offer": "x", "discount": 5}), "`discount`"),
    ] {
        let a = app
            .post(
                &path,
                json!({"contact_id": contact["id"], "variables": variables}),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert!(a.body.to_string().contains(named), "{named}: {}", a.body);
    }
    let nobody = app
        .post(
            &path,
            json!({"contact_id": "00000000-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_eq!(
        nobody.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        nobody.body
    );
    assert_eq!(nobody.problem_fields(), ["contact_id"]);
}

#[tokio::test]
async fn a_template_naming_an_unknown_variable_is_refused_at_save_by_name() {
    let app = spawn_app().await;
    for (body, field, named) in [
        (
            json!({"name": "a", "subject": "Hi {{ contact.frist_name }}", "html": "x"}),
            "subject",
            "`contact.frist_name`",
        ),
        (
            json!({"name": "a", "subject": "Hi", "html": "<p>{{ discount }}</p>"}),
            "html",
            "`discount`",
        ),
        (
            json!({"name": "a", "subject": "Hi", "html": "x", "text": "{% if %}"}),
            "text",
            "line 1",
        ),
        (
            json!({"name": "a", "subject": "{Hi|} there", "html": "x"}),
            "subject",
            "{Hi|}",
        ),
        (
            json!({"name": "a", "subject": "Hi", "html": "x", "variables": ["contact"]}),
            "variables",
            "built in",
        ),
        (
            json!({"name": "   ", "subject": "Hi", "html": "x"}),
            "name",
            "empty",
        ),
    ] {
        let a = app.post("/api/v1/templates", body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert_eq!(a.problem_fields(), [field], "{body}: {}", a.body);
        assert!(a.body.to_string().contains(named), "{named}: {}", a.body);
        assert_eq!(a.content_type(), "application/problem+json");
    }
    let list = app.get("/api/v1/templates").await;
    assert_eq!(
        list.body["data"],
        json!([]),
        "nothing half-written: {}",
        list.body
    );

    // A change is checked as a whole; a bad one leaves the template as it was.
    let template = intro(&app).await;
    let path = format!("/api/v1/templates/{}", template["id"].as_str().expect("id"));
    let dropped = app.patch(&path, json!({"variables": []})).await;
    assert_eq!(
        dropped.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        dropped.body
    );
    assert!(
        dropped.body.to_string().contains("`offer`"),
        "{}",
        dropped.body
    );
    assert_eq!(app.get(&path).await.body, template);
    let changed = app
        .patch(
            &path,
            json!({"subject": "About {{ offer }}", "text": "Hi {{ contact.first_name | default('there') }}"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["subject"], "About {{ offer }}");
    assert!(
        changed.body["uses"]
            .as_array()
            .expect("uses")
            .iter()
            .all(|u| u != "contact.company"),
        "uses follows the change: {}",
        changed.body
    );
    let derived = app.patch(&path, json!({"text": null})).await;
    assert_eq!(derived.body["text"], Value::Null, "{}", derived.body);

    // Names are unique per workspace.
    let twin = app
        .post(
            "/api/v1/templates",
            json!({"name": "Intro", "subject": "x", "html": "y"}),
        )
        .await;
    assert_eq!(twin.status, StatusCode::CONFLICT, "{}", twin.body);
    assert_eq!(twin.problem_fields(), ["name"]);

    // Each change is an event and an audit entry.
    let gone = app.delete(&path).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    for (topic, n) in [
        ("template.created", 1),
        ("template.updated", 2),
        ("template.deleted", 1),
    ] {
        let events = app.get(&format!("/api/v1/events?type={topic}")).await;
        assert_eq!(
            events.body["data"].as_array().map(Vec::len),
            Some(n),
            "{topic}: {}",
            events.body
        );
    }
    let audit = app
        .get(&format!(
            "/api/v1/audit?entity_type=template&entity_id={}",
            template["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(
        audit.body["data"].as_array().map(Vec::len),
        Some(4),
        "{}",
        audit.body
    );
}

#[tokio::test]
async fn reps_write_templates_viewers_read_them_and_workspaces_never_see_each_other() {
    let app = spawn_app().await;
    let (_, rep) = app.member("rep@acme.test", Role::Rep).await;
    let (_, viewer) = app.member("viewer@acme.test", Role::Viewer).await;
    let body = json!({"name": "Follow-up", "subject": "Hi", "html": "<p>{{ sender.email }}</p>"});
    let refused = app
        .call(
            Method::POST,
            "/api/v1/templates",
            &viewer,
            Some(body.clone()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let made = app
        .call(Method::POST, "/api/v1/templates", &rep, Some(body))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let path = format!(
        "/api/v1/templates/{}",
        made.body["id"].as_str().expect("id")
    );
    let read = app.call(Method::GET, &path, &viewer, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let found = app.get("/api/v1/templates?q=FOLLOW").await;
    assert_eq!(
        found.body["data"][0]["id"], made.body["id"],
        "{}",
        found.body
    );
    assert_eq!(
        app.get("/api/v1/templates?q=intro").await.body["data"],
        json!([])
    );
    // The rep's preview is signed by the rep.
    let contact = app.contact(json!({"email": "p@initech.test"})).await;
    let preview = app
        .call(
            Method::POST,
            &format!("{path}/preview"),
            &rep,
            Some(json!({"contact_id": contact["id"]})),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(preview.body["html"], "<p>rep@acme.test</p>");

    let other = app.other_workspace_key().await;
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "mine"}))),
        (Method::DELETE, None),
    ] {
        let a = app.call(method.clone(), &path, &other, body).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {}", a.body);
    }
    let theirs = app
        .call(
            Method::POST,
            &format!("{path}/preview"),
            &other,
            Some(json!({"contact_id": contact["id"]})),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    let list = app
        .call(Method::GET, "/api/v1/templates", &other, None)
        .await;
    assert_eq!(list.body["data"], json!([]));
    assert_eq!(app.get(&path).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_template_being_written_previews_for_a_contact_without_being_saved() {
    let app = spawn_app().await;
    let contact = app
        .contact(
            json!({"email": "peter@initech.test", "first_name": "peter", "company": "Initech"}),
        )
        .await;
    let draft = |subject: &str| {
        json!({
            "template": {"subject": subject, "html": "<p>{{ offer }} for {{ contact.company }}</p>", "variables": ["offer"]},
            "contact_id": contact["id"],
            "variables": {"offer": "A demo"},
        })
    };
    let shown = app
        .post(
            "/api/v1/templates/preview",
            draft("Hi {{ contact.first_name | first_name }}"),
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["template_id"], Value::Null);
    assert_eq!(shown.body["subject"], "Hi Peter");
    assert_eq!(shown.body["html"], "<p>A demo for Initech</p>");
    assert_eq!(shown.body["text"], "A demo for Initech");
    // Checked as a save would be, errors naming the template's part.
    let typo = app
        .post(
            "/api/v1/templates/preview",
            draft("Hi {{ contact.frist_name }}"),
        )
        .await;
    assert_eq!(
        typo.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        typo.body
    );
    assert_eq!(typo.problem_fields(), ["template.subject"]);
    assert!(
        typo.body.to_string().contains("`contact.frist_name`"),
        "{}",
        typo.body
    );
    let list = app.get("/api/v1/templates").await;
    assert_eq!(list.body["data"], json!([]), "a preview saves nothing");
    let events = app.get("/api/v1/events?type=template.*").await;
    assert_eq!(events.body["data"], json!([]), "{}", events.body);
}
