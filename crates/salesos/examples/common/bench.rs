//! What the benchmarks share: SalesOS started on its own database with a workspace, an
//! admin and an API key, and stopped again.

use salesos::app::Application;
use salesos_platform::{
    audit::Actor,
    auth::{Role, api_keys, onboarding},
    settings::Settings,
    store::Store,
};
use uuid::Uuid;

pub struct Bench {
    pub store: Store,
    pub port: u16,
    // Each benchmark is its own crate and reads what it needs of this.
    #[allow(dead_code)]
    pub workspace_id: Uuid,
    /// An admin's API key.
    pub key: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn start(settings: Settings) -> anyhow::Result<Bench> {
    let app = Application::build(settings).await?;
    let store = app.state().store.clone();
    let port = app.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let created = onboarding::create_user(
        &store,
        &Actor::operator(),
        onboarding::NewUser {
            workspace_slug: "bench",
            workspace_name: None,
            email: "bench@bench.test",
            display_name: None,
            password: "correct horse battery",
            role: Role::Admin,
        },
    )
    .await?;
    let key = api_keys::issue(
        store.conn(),
        created.workspace_id,
        Role::Admin,
        "bench",
        None,
        None,
    )
    .await?;
    Ok(Bench {
        store,
        port,
        workspace_id: created.workspace_id,
        key: key.key,
        stop,
        server,
    })
}

impl Bench {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}
