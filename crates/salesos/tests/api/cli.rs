//! The `salesos` binary as an operator runs it.

use std::process::{Command, Output};

use reqwest::StatusCode;
use salesos::app::Application;
use salesos_platform::settings::Settings;

use crate::helpers::empty_settings;

fn salesos(settings: &Settings, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_salesos"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(&settings.data_dir)
        .env_remove("SALESOS_DATABASE_URL");
    if let Some(url) = &settings.database_url {
        cmd.arg("--database-url").arg(url.expose());
    }
    cmd.output().expect("run salesos")
}

fn json_line(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().expect("a line of output");
    serde_json::from_str(line).expect("one JSON line")
}

#[tokio::test]
async fn operator_creates_a_user_and_a_key_that_the_server_accepts() {
    let (settings, _guard) = empty_settings().await;
    assert!(salesos(&settings, &["migrate"]).status.success());
    let user = json_line(&salesos(
        &settings,
        &[
            "admin",
            "create-user",
            "--workspace",
            "umbrella",
            "--email",
            "Alice@Umbrella.test",
            "--password",
            "raccoon city 1",
            "--role",
            "admin",
        ],
    ));
    assert!(
        user["workspace_id"].is_string() && user["user_id"].is_string(),
        "{user}"
    );
    let key = json_line(&salesos(
        &settings,
        &[
            "admin",
            "create-api-key",
            "--workspace",
            "umbrella",
            "--role",
            "manager",
            "--name",
            "crm-sync",
        ],
    ));
    let secret = key["key"].as_str().expect("key");
    assert!(secret.starts_with("sos_"));

    let app = Application::build(settings.clone()).await.expect("build");
    assert!(app.setup_url().is_none(), "a user exists, so no setup link");
    let base = app.base_url();
    tokio::spawn(app.run_until(std::future::pending()));
    let res = reqwest::Client::new()
        .get(format!("{base}/api/v1/contacts"))
        .bearer_auth(secret)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_operator_input_fails_with_a_clear_message() {
    let (settings, _guard) = empty_settings().await;
    let bad_role = salesos(
        &settings,
        &[
            "admin",
            "create-user",
            "--workspace",
            "w1",
            "--email",
            "a@b.co",
            "--password",
            "long enough pw",
            "--role",
            "owner",
        ],
    );
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role `owner`"));

    let short = salesos(
        &settings,
        &[
            "admin",
            "create-user",
            "--workspace",
            "w1",
            "--email",
            "a@b.co",
            "--password",
            "short",
            "--role",
            "rep",
        ],
    );
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr)
            .contains("--password must be at least 10 characters")
    );

    let bad_email = salesos(
        &settings,
        &[
            "admin",
            "create-user",
            "--workspace",
            "Bad Slug",
            "--email",
            "nope",
            "--password",
            "long enough pw",
            "--role",
            "rep",
        ],
    );
    let err = String::from_utf8_lossy(&bad_email.stderr).to_string();
    assert!(!bad_email.status.success());
    assert!(
        err.contains("--workspace") && err.contains("--email"),
        "{err}"
    );

    let no_ws = salesos(
        &settings,
        &[
            "admin",
            "create-api-key",
            "--workspace",
            "ghost",
            "--role",
            "admin",
        ],
    );
    assert!(!no_ws.status.success());
    assert!(String::from_utf8_lossy(&no_ws.stderr).contains("no workspace with slug `ghost`"));
}

#[tokio::test]
async fn a_node_without_the_master_key_of_the_database_refuses_to_start() {
    let (settings, _guard) = empty_settings().await;
    drop(
        Application::build(settings.clone())
            .await
            .expect("the first node"),
    );

    // A second node on the same database with a data directory of its own.
    let other = tempfile::tempdir().expect("dir");
    let mut second = settings.clone();
    second.data_dir = other.path().to_path_buf();
    second.database_url = Some(salesos_platform::settings::Secret::new(
        settings.effective_database_url(),
    ));
    let err = Application::build(second.clone())
        .await
        .err()
        .expect("a node with a key of its own is refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("which this node does not hold"),
        "{message}"
    );
    assert!(message.contains("which this start created"), "{message}");
    assert!(
        !other.path().join("master.key").exists(),
        "the key it made is taken back"
    );

    let generated = json_line(&salesos(&second, &["admin", "generate-master-key"]));
    let key = generated["key"].as_str().expect("key").to_owned();
    assert_eq!(generated["key_id"].as_str().map(str::len), Some(8));
    second.master_key = Some(salesos_platform::settings::Secret::new(key));
    let err = Application::build(second.clone())
        .await
        .err()
        .expect("a generated key is not the database's");
    assert!(
        format!("{err:#}").contains("given in SALESOS_MASTER_KEY"),
        "{err:#}"
    );

    // The first node's key, given in the environment, lets it start.
    let first_keys: Vec<String> = std::fs::read_to_string(settings.data_dir.join("master.key"))
        .expect("the first node's key file")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    second.master_key = Some(salesos_platform::settings::Secret::new(
        first_keys.join(","),
    ));
    drop(
        Application::build(second)
            .await
            .expect("the same key starts"),
    );
}
