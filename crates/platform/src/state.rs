//! The state every handler shares: storage, settings and the platform services built once
//! at start. Domains read it; only the application wiring constructs it.

use std::{ops::Deref, sync::Arc};

use crate::{
    auth::{api_keys::KeyCache, sessions::SessionPolicy},
    http::ratelimit::RateLimiter,
    runtime::topics::Topics,
    settings::Settings,
    store::Store,
    telemetry::Metrics,
    web::Templates,
};

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub settings: Settings,
    pub store: Store,
    pub keys: KeyCache,
    pub sessions: SessionPolicy,
    /// Per API key, session user or client IP.
    pub api_limiter: RateLimiter,
    /// Failed logins per client IP and email.
    pub login_limiter: RateLimiter,
    pub metrics: Metrics,
    pub templates: Templates,
    /// Every event type this build emits.
    pub topics: Topics,
}

impl AppState {
    pub fn new(
        settings: Settings,
        store: Store,
        templates: Templates,
        topics: Topics,
    ) -> anyhow::Result<Self> {
        let sessions = SessionPolicy {
            idle_timeout: settings.session_idle_timeout,
            max_age: settings.session_max_age,
            secure_cookie: settings.cookie_secure,
        };
        Ok(Self(Arc::new(Shared {
            api_limiter: RateLimiter::per_minute(settings.rate_limit_per_minute),
            login_limiter: RateLimiter::new(settings.login_attempts, settings.login_window),
            keys: KeyCache::default(),
            metrics: Metrics::new()?,
            templates,
            topics,
            sessions,
            settings,
            store,
        })))
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
