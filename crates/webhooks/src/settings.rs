//! The webhooks' settings: `webhook_*` keys in `salesos.toml`, `SALESOS_WEBHOOK_*`
//! variables.

use std::time::Duration;

use salesos_platform::settings::{Section, env_value, file_value};

/// Standard Webhooks' retry schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
/// 20 h and 24 h.
pub const DEFAULT_SCHEDULE: [f64; 10] = [
    0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0,
];

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookSettings {
    /// Delay before each delivery attempt, in seconds (the first is usually 0).
    pub retry_schedule: Vec<f64>,
    /// Deliver to loopback, private and link-local addresses (tests, labs).
    pub allow_private_networks: bool,
    /// Accept `http://` URLs (otherwise only `https://`).
    pub allow_http: bool,
    /// How long a receiver has to answer.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry_schedule: DEFAULT_SCHEDULE.to_vec(),
            allow_private_networks: false,
            allow_http: false,
            timeout: Duration::from_secs(15),
        }
    }
}

impl Section for WebhookSettings {
    const KEYS: &'static [&'static str] = &[
        "webhook_retry_schedule",
        "webhook_allow_private_networks",
        "webhook_allow_http",
        "webhook_timeout_secs",
    ];

    fn set(&mut self, key: &str, value: toml::Value) -> Result<(), String> {
        match key {
            "webhook_retry_schedule" => self.retry_schedule = schedule(file_value(value)?)?,
            "webhook_allow_private_networks" => self.allow_private_networks = file_value(value)?,
            "webhook_allow_http" => self.allow_http = file_value(value)?,
            _ => self.timeout = timeout(file_value(value)?)?,
        }
        Ok(())
    }

    fn set_env(&mut self, name: &str, value: &str) -> Option<Result<(), String>> {
        let done = match name {
            "SALESOS_WEBHOOK_RETRY_SCHEDULE" => {
                parse_schedule(value).map(|s| self.retry_schedule = s)
            }
            "SALESOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS" => {
                env_value(value).map(|v| self.allow_private_networks = v)
            }
            "SALESOS_WEBHOOK_ALLOW_HTTP" => env_value(value).map(|v| self.allow_http = v),
            "SALESOS_WEBHOOK_TIMEOUT_SECS" => {
                env_value(value).and_then(timeout).map(|t| self.timeout = t)
            }
            _ => return None,
        };
        Some(done)
    }
}

fn timeout(secs: u64) -> Result<Duration, String> {
    if !(1..=60).contains(&secs) {
        return Err(format!(
            "webhook timeout must be 1 to 60 seconds, got {secs}"
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// `"0,5,300"` → delays in seconds.
fn parse_schedule(value: &str) -> Result<Vec<f64>, String> {
    let delays = value
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| format!("`{}` is not a number of seconds", v.trim()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    schedule(delays)
}

/// At least one delay, none negative.
fn schedule(delays: Vec<f64>) -> Result<Vec<f64>, String> {
    if delays.is_empty() || delays.iter().any(|d| !d.is_finite() || *d < 0.0) {
        return Err("expected comma-separated seconds, none negative, e.g. 0,5,300".into());
    }
    Ok(delays)
}

#[cfg(test)]
mod tests {
    use salesos_platform::settings::{AnySection, Settings};

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<WebhookSettings, String> {
        let env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        let sections: Vec<Box<dyn AnySection>> = vec![Box::new(WebhookSettings::default())];
        Settings::load(env, sections)
            .map(|s| s.section::<WebhookSettings>())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn schedule_and_timeout_from_the_environment_are_checked() {
        let s = load(&[
            ("SALESOS_WEBHOOK_RETRY_SCHEDULE", "0, 0.5,2"),
            ("SALESOS_WEBHOOK_TIMEOUT_SECS", "2"),
            ("SALESOS_WEBHOOK_ALLOW_HTTP", "true"),
        ])
        .expect("settings");
        assert_eq!(s.retry_schedule, vec![0.0, 0.5, 2.0]);
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert!(s.allow_http && !s.allow_private_networks);
        for (name, value, says) in [
            ("SALESOS_WEBHOOK_RETRY_SCHEDULE", "0,-1", "none negative"),
            ("SALESOS_WEBHOOK_RETRY_SCHEDULE", "soon", "`soon`"),
            ("SALESOS_WEBHOOK_TIMEOUT_SECS", "0", "1 to 60"),
            (
                "SALESOS_WEBHOOK_ALLOW_HTTP",
                "maybe",
                "SALESOS_WEBHOOK_ALLOW_HTTP",
            ),
        ] {
            let err = load(&[(name, value)]).expect_err("must fail");
            assert!(err.contains(name) && err.contains(says), "{err}");
        }
    }
}
