//! The dashboard shell: templates (minijinja, embedded in the binary), vendored assets
//! (htmx, Pico CSS), the session gate for pages, and the layout that areas plug into with
//! their own templates and navigation entries.

pub mod pages;

use axum::{
    extract::{Path, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::{
    area::{Areas, Asset, NavEntry},
    auth::{Principal, Role, middleware::check_csrf, sessions, store as auth_store},
    error::Error,
    state::AppState,
};

/// The dashboard shell's own templates: the layout every page extends, sign-in and setup.
const SHELL_TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("setup.html", include_str!("../../templates/setup.html")),
];

/// The shell's files under `/assets/`: vendored htmx, Pico CSS and Swagger UI, and ours.
const SHELL_ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript",
        bytes: include_bytes!("../../assets/vendor/htmx.min.js"),
    },
    Asset {
        name: "pico.min.css",
        content_type: "text/css",
        bytes: include_bytes!("../../assets/vendor/pico.min.css"),
    },
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript",
        bytes: include_bytes!("../../assets/vendor/swagger-ui-bundle.js"),
    },
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css",
        bytes: include_bytes!("../../assets/vendor/swagger-ui.css"),
    },
    Asset {
        name: "salesos.css",
        content_type: "text/css",
        bytes: include_bytes!("../../assets/salesos.css"),
    },
    Asset {
        name: "salesos.js",
        content_type: "text/javascript",
        bytes: include_bytes!("../../assets/salesos.js"),
    },
    Asset {
        name: "docs.js",
        content_type: "text/javascript",
        bytes: include_bytes!("../../assets/docs.js"),
    },
];

/// The dashboard's compiled templates, its navigation and its assets: the shell's and
/// those every area declares.
pub struct Templates {
    env: Environment<'static>,
    nav: Vec<NavEntry>,
    assets: Vec<Asset>,
}

impl Templates {
    pub fn new(areas: &Areas) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        for (name, source) in SHELL_TEMPLATES
            .iter()
            .chain(areas.iter().flat_map(|a| a.templates().iter()))
        {
            anyhow::ensure!(
                env.get_template(name).is_err(),
                "template {name} is declared twice"
            );
            env.add_template(name, source)?;
        }
        let mut assets = SHELL_ASSETS.to_vec();
        for asset in areas.iter().flat_map(|a| a.assets().iter()) {
            anyhow::ensure!(
                assets.iter().all(|a| a.name != asset.name),
                "asset {} is declared twice",
                asset.name
            );
            assets.push(*asset);
        }
        Ok(Self {
            env,
            nav: areas.nav(),
            assets,
        })
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, Error> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::Internal(anyhow::anyhow!("template {name}: {e:#}")))
    }

    /// Where `/app` leads: the first page of the navigation.
    pub fn home(&self) -> &'static str {
        self.nav.first().map_or("/app/jobs", |e| e.href)
    }

    /// The navigation a role sees.
    pub fn nav_for(&self, role: Role) -> Vec<NavItem> {
        self.nav
            .iter()
            .filter(|e| e.visible_to(role))
            .map(|e| NavItem {
                label: e.label,
                href: e.href,
                key: e.key,
            })
            .collect()
    }
}

/// Serve a vendored or own asset, cached for a day.
pub async fn asset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.templates.assets.iter().find(|a| a.name == name) {
        Some(a) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=86400"),
                ),
            ],
            a.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A navigation link as the layout renders it.
#[derive(Clone, Debug, Serialize)]
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub key: &'static str,
}

/// What the layout shows about the signed-in user.
#[derive(Clone, Debug, Serialize)]
pub struct Viewer {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub workspace: String,
    pub role: String,
    pub csrf_token: String,
    pub is_admin: bool,
    /// The links this viewer's role sees.
    pub nav: Vec<NavItem>,
    /// Where the brand link leads.
    pub home: &'static str,
}

/// Gate for dashboard pages: a valid session or a redirect to the login page; unsafe
/// methods must carry the session's CSRF token (htmx sends it from the page).
pub async fn require_session(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let token = sessions::token_from(req.headers());
    let principal = match token {
        Some(t) => sessions::resolve(state.store.conn(), &state.sessions, &t).await,
        None => Ok(None),
    };
    let principal = match principal {
        Ok(Some(p)) => p,
        Ok(None) => {
            let next_path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/app");
            let target = format!("/login?next={}", urlencode(next_path));
            if req.headers().contains_key("hx-request") {
                let mut res = StatusCode::UNAUTHORIZED.into_response();
                if let Ok(v) = HeaderValue::from_str(&target) {
                    res.headers_mut().insert("hx-redirect", v);
                }
                return res;
            }
            return Redirect::to(&target).into_response();
        }
        Err(e) => return e.into_response(),
    };
    let req = if matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        req
    } else {
        match csrf_checked(&state, &principal, req).await {
            Ok(req) => req,
            Err(e) => return PageError(e).into_response(),
        }
    };
    let mut req = req;
    if let Err(retry_after_secs) = state
        .api_limiter
        .check(&format!("user:{}", principal.user_id.unwrap_or_default()))
    {
        return Error::RateLimited { retry_after_secs }.into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// An unsafe request must carry the session's CSRF token: in the `X-CSRF-Token` header
/// (htmx) or, for a plain HTML form, in its `_csrf` field.
async fn csrf_checked(
    state: &AppState,
    principal: &Principal,
    req: Request,
) -> Result<Request, Error> {
    if req
        .headers()
        .contains_key(crate::auth::middleware::CSRF_HEADER)
    {
        check_csrf(principal, req.headers())?;
        return Ok(req);
    }
    let is_form = req.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    });
    if !is_form {
        return Err(Error::Forbidden("missing or wrong CSRF token".into()));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, state.settings.max_body_bytes)
        .await
        .map_err(|_| Error::PayloadTooLarge)?;
    let sent = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let mut headers = parts.headers.clone();
    if let Ok(v) = HeaderValue::from_str(&sent) {
        headers.insert(crate::auth::middleware::CSRF_HEADER, v);
    }
    check_csrf(principal, &headers)?;
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The signed-in user's view of the layout.
pub async fn viewer(state: &AppState, p: &Principal) -> Result<Viewer, Error> {
    let conn = state.store.conn();
    let user_id = p
        .user_id
        .ok_or_else(|| Error::Unauthenticated("sign in".into()))?;
    let members = auth_store::members(conn, p.workspace_id).await?;
    let me = members
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or_else(|| Error::Unauthenticated("sign in".into()))?;
    let ws = auth_store::find_workspace(conn, p.workspace_id)
        .await?
        .ok_or(Error::NotFound("workspace"))?;
    let csrf_token = match &p.credential {
        crate::auth::Credential::Session { csrf_token, .. } => csrf_token.clone(),
        _ => String::new(),
    };
    Ok(Viewer {
        user_id: user_id.to_string(),
        email: me.email,
        display_name: me.display_name,
        workspace: ws.name,
        role: p.role.to_string(),
        csrf_token,
        is_admin: p.role == Role::Admin,
        nav: state.templates.nav_for(p.role),
        home: state.templates.home(),
    })
}

/// Render a page inside the layout for the signed-in user.
pub async fn page(
    state: &AppState,
    principal: &Principal,
    template: &str,
    nav: &str,
    ctx: Value,
) -> Result<Html<String>, Error> {
    let viewer = viewer(state, principal).await?;
    let ctx = context! { viewer => to_value(&viewer), nav => nav, ..ctx };
    Ok(Html(state.templates.render(template, ctx)?))
}

/// A dashboard page's error, shown as HTML rather than problem+json.
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<sea_orm::DbErr> for PageError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self(Error::Store(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "page failed");
        }
        let problem = self.0.problem();
        let details: String = problem
            .errors
            .iter()
            .map(|e| {
                format!(
                    "<li><b>{}</b>: {}</li>",
                    escape(&e.field),
                    escape(&e.message)
                )
            })
            .collect();
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
             <link rel=\"stylesheet\" href=\"/assets/pico.min.css\"></head><body><main class=\"container\">\
             <h1>{status} {title}</h1><p>{detail}</p><ul>{details}</ul><p><a href=\"/app\">Back to SalesOS</a></p>\
             </main></body></html>",
            status = problem.status,
            title = escape(&problem.title),
            detail = escape(&problem.detail),
        );
        (status, Html(body)).into_response()
    }
}

/// A serialisable value for a template context.
pub fn to_value<T: Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// Escape text for HTML outside templates.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
