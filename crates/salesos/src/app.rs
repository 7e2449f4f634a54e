//! Application wiring: the only place that knows every area. [`areas`] lists them; the
//! rest connects storage, builds the shared state, mounts what each area declares behind
//! the right gates, and runs the HTTP server and the background work.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use salesos_platform::{
    area::Areas,
    auth::{middleware as auth_mw, onboarding},
    clock::Clock,
    error::Error,
    http::{idempotency, security_headers, track_metrics},
    runtime::{
        bus::Bus,
        consumer, cron, stream,
        worker::{self, Registry, WorkerConfig},
    },
    settings::Settings,
    state::AppState,
    store::Store,
    web::{self, Templates, pages},
};
use tokio::net::TcpListener;
use tower_http::{
    LatencyUnit,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        RefOr,
        schema::Schema,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        tag::TagBuilder,
    },
};
use utoipa_axum::router::OpenApiRouter;

/// The areas of this build, in order: the platform's own first, then each business area
/// after those it builds on. Adding an area is its crate plus one line here.
pub fn areas() -> anyhow::Result<Areas> {
    Areas::new(vec![
        Box::new(salesos_platform::system::System),
        Box::new(salesos_contacts::Contacts),
        Box::new(salesos_webhooks::Webhooks),
        Box::new(salesos_imports::Imports),
        Box::new(salesos_mail::Mail),
    ])
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SalesOS API",
        description = "Self-hosted sales automation. Lists answer `{\"data\": [...], \"next_cursor\": …}`; \
                       errors are RFC 9457 problem+json; POST accepts `Idempotency-Key`.",
        version = env!("CARGO_PKG_VERSION")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sos_<prefix>_<secret>")
                    .build(),
            ),
        );
    }
}

/// The API routes of every area with their OpenAPI description and tags, and the
/// payload of every event topic as a schema named `topic.<name>`.
fn api_routes(settings: &Settings, areas: &Areas) -> anyhow::Result<OpenApiRouter<AppState>> {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    for topic in areas.topics()?.iter() {
        let mut schema = (topic.payload)();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.description = Some(topic.description.to_owned());
        }
        components
            .schemas
            .insert(format!("topic.{}", topic.name), schema);
    }
    doc.tags = Some(
        areas
            .iter()
            .flat_map(|a| a.api_tags().iter())
            .map(|(name, description)| {
                TagBuilder::new()
                    .name(*name)
                    .description(Some(*description))
                    .build()
            })
            .collect(),
    );
    // Schemas are merged by name: two areas naming different schemas alike would leave one
    // of them documented wrongly, so that is refused here.
    let mut seen: std::collections::BTreeMap<String, (&'static str, serde_json::Value)> =
        std::collections::BTreeMap::new();
    let mut router = OpenApiRouter::with_openapi(doc);
    for area in areas.iter() {
        let routes = area.api(settings);
        if let Some(components) = &routes.get_openapi().components {
            for (name, schema) in &components.schemas {
                let schema = serde_json::to_value(schema)?;
                match seen.get(name) {
                    Some((other, earlier)) if *earlier != schema => anyhow::bail!(
                        "the areas {other} and {} both declare an API schema named {name}, \
                         differently: rename one",
                        area.name()
                    ),
                    Some(_) => {}
                    None => {
                        seen.insert(name.clone(), (area.name(), schema));
                    }
                }
            }
        }
        router = router.merge(routes);
    }
    Ok(router)
}

/// The job handlers this build runs: every area's.
pub fn registry(settings: &Settings, areas: &Areas) -> anyhow::Result<Registry> {
    let mut registry = Registry::default();
    for area in areas.iter() {
        for handler in area.jobs(settings)? {
            registry.add(handler)?;
        }
    }
    Ok(registry)
}

/// Everything in the background of one node: the workers, the scheduler, the bus and
/// every area's event consumers.
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    bus: Bus,
}

impl Background {
    pub async fn start(
        store: &Store,
        settings: &Settings,
        areas: &Areas,
        config: WorkerConfig,
    ) -> anyhow::Result<Self> {
        for area in areas.iter() {
            for schedule in area.schedules() {
                cron::ensure(store.conn(), schedule).await?;
            }
        }
        let config = WorkerConfig {
            lease: settings.job_lease,
            ..config
        };
        let (stop, rx) = tokio::sync::watch::channel(false);
        let bus = Bus::start(store, settings, rx.clone()).await?;
        let mut tasks = vec![
            cron::spawn(store.clone(), rx.clone()),
            worker::spawn(
                store.clone(),
                registry(settings, areas)?,
                config,
                rx.clone(),
            ),
        ];
        for c in areas.consumers(settings)? {
            tasks.push(consumer::spawn(store.clone(), c, rx.clone()));
        }
        Ok(Self { stop, tasks, bus })
    }

    /// Stop and wait: running jobs finish or are handed back.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.bus.stop().await;
    }
}

/// The OpenAPI document of this build: every area's routes, completed with the answers
/// the platform gives on every route.
pub fn openapi() -> anyhow::Result<serde_json::Value> {
    let areas = areas()?;
    let doc = api_routes(&Settings::default(), &areas)?
        .split_for_parts()
        .1;
    document(&doc, &areas)
}

fn document(doc: &utoipa::openapi::OpenApi, areas: &Areas) -> anyhow::Result<serde_json::Value> {
    let mut json = serde_json::to_value(doc)?;
    salesos_platform::http::contract::complete(&mut json);
    salesos_platform::http::contract::describe_topics(&mut json, &areas.topics()?);
    Ok(json)
}

/// A built, bound, not yet serving SalesOS.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    areas: Arc<Areas>,
    setup_token: Option<String>,
}

impl Application {
    /// Connect, migrate, bind the listener, and build the router, on the system clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// [`Application::build`] telling time by `clock`: tests pass one they move forward.
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let areas = areas()?;
        let store = Store::connect(&settings).await?.with_clock(clock);
        store.migrate(&areas.migrations()).await?;
        let listener = TcpListener::bind(settings.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let setup_token = onboarding::setup_token_if_needed(&store)
            .await
            .map_err(|e| anyhow::anyhow!("cannot prepare first-run setup: {e}"))?;
        let state = AppState::new(settings, store, Templates::new(&areas)?, areas.topics()?)?;
        let router = router(state.clone(), &areas)?;
        Ok(Self {
            listener,
            router,
            state,
            areas: Arc::new(areas),
            setup_token,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The base URL operators and tests reach the server at.
    pub fn base_url(&self) -> String {
        match &self.state.settings.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let ip = self.state.settings.bind.ip();
                let host = if ip.is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    ip.to_string()
                };
                format!("http://{host}:{}", self.port())
            }
        }
    }

    /// The one-time first-run link, when nobody can sign in yet.
    pub fn setup_url(&self) -> Option<String> {
        self.setup_token
            .as_ref()
            .map(|t| format!("{}/setup?token={t}", self.base_url()))
    }

    /// Serve HTTP and run the workers until `shutdown` completes; requests in flight
    /// finish, and the workers finish or hand back the jobs they hold.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let background = Background::start(
            &self.state.store,
            &self.state.settings,
            &self.areas,
            WorkerConfig {
                concurrency: self.state.settings.worker_concurrency.max(1),
                ..WorkerConfig::default()
            },
        )
        .await?;
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        background.stop().await;
        served?;
        Ok(())
    }
}

fn router(state: AppState, areas: &Areas) -> anyhow::Result<Router> {
    let (api, openapi) = api_routes(&state.settings, areas)?.split_for_parts();
    let consumers: Arc<Vec<&'static str>> = Arc::new(
        areas
            .consumers(&state.settings)?
            .iter()
            .map(|c| c.name())
            .collect(),
    );
    let openapi_json = document(&openapi, areas)?;
    let api = api
        .route("/api/v1/stream", get(stream::open))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::middleware,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth_mw::require_caller,
        ));

    let pages_behind_login = areas
        .iter()
        .fold(Router::new(), |router, area| router.merge(area.pages()))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::require_session,
        ));

    let public = areas
        .iter()
        .fold(Router::new(), |router, area| router.merge(area.public()))
        .route("/", get(pages::home))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route(
            "/metrics",
            get(move |state: State<AppState>| metrics(state, consumers.clone())),
        )
        .route("/assets/{name}", get(web::asset))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/setup", get(pages::setup_form).post(pages::setup))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi_json.clone();
                async move { Json(doc) }
            }),
        )
        .route("/api/v1/docs", get(docs_page))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth_mw::limit_by_ip,
        ));

    let mut app = Router::new()
        .merge(api)
        .merge(pages_behind_login)
        .merge(public)
        .fallback(not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), track_metrics))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(middleware::from_fn(problem_for_bare_errors));
    for (name, value) in security_headers() {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    Ok(app.layer(
        TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Micros)),
    )
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    .with_state(state))
}

/// Errors produced by layers outside our handlers (an oversized body, a method the route
/// lacks) come as bare text; API clients get problem+json instead.
async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_api || is_problem || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let mapped = match status {
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut r = salesos_platform::http::problem::Problem::new(
                status,
                "method-not-allowed",
                "Method not allowed",
                "this route does not accept that method",
            )
            .into_response();
            if let Some(allow) = res.headers().get(header::ALLOW) {
                r.headers_mut().insert(header::ALLOW, allow.clone());
            }
            return r;
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Error::UnsupportedMediaType("expected application/json".into())
        }
        s if s.is_server_error() => Error::Internal(anyhow::anyhow!("{s} from a layer")),
        _ => Error::BadRequest(format!("request refused ({status})")),
    };
    mapped.into_response()
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        Error::NotFound("route").into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Html("<h1>404 Not found</h1><p><a href=\"/app\">SalesOS</a></p>"),
        )
            .into_response()
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.store.ping().await {
        Json(serde_json::json!({"status": "ready", "database": "ok"})).into_response()
    } else {
        salesos_platform::http::problem::Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "the database does not answer",
        )
        .into_response()
    }
}

async fn metrics(State(state): State<AppState>, consumers: Arc<Vec<&'static str>>) -> Response {
    for name in consumers.iter() {
        match consumer::lag(state.store.conn(), name).await {
            Ok(lag) => state.metrics.consumer_lag(name, lag),
            Err(e) => tracing::warn!(consumer = name, error = %e, "cannot read consumer lag"),
        }
    }
    let (open, idle) = state.store.pool_state();
    state
        .metrics
        .gauge("salesos_db_pool_connections", f64::from(open));
    state
        .metrics
        .gauge("salesos_db_pool_idle_connections", idle as f64);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn docs_page() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>SalesOS API</title>\
         <link rel=\"stylesheet\" href=\"/assets/swagger-ui.css\"></head>\
         <body><div id=\"swagger-ui\"></div>\
         <script src=\"/assets/swagger-ui-bundle.js\"></script><script src=\"/assets/docs.js\"></script>\
         </body></html>",
    )
}

/// Wait for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
    tokio::time::sleep(Duration::from_millis(10)).await;
}
