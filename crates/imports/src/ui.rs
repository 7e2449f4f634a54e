//! The imports page: upload, preview with the detected mapping (editable), dry run, live
//! progress and the rejected rows. The page drives the imports API from the browser.

use axum::{Router, extract::State, response::Html, routing::get};
use minijinja::context;

use super::service::{self, ImportQuery};
use crate::platform::{
    auth::Principal,
    state::AppState,
    web::{PageError, page, to_value},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/app/imports", get(imports_page))
}

async fn imports_page(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Html<String>, PageError> {
    principal.require(crate::actions::IMPORT_DATA)?;
    let recent = service::list(
        &state.store,
        &principal,
        ImportQuery {
            limit: Some(20),
            cursor: None,
        },
    )
    .await?;
    Ok(page(
        &state,
        &principal,
        "imports.html",
        "imports",
        context! { imports => to_value(&recent.data) },
    )
    .await?)
}
