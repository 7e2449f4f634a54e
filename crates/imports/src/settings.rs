//! The imports' settings: `max_upload_bytes` in `salesos.toml`, `SALESOS_MAX_UPLOAD_BYTES`.

use salesos_platform::settings::{Section, env_value, file_value};

#[derive(Clone, Debug, PartialEq)]
pub struct ImportSettings {
    /// Largest file an import upload may be.
    pub max_upload_bytes: usize,
}

impl Default for ImportSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl Section for ImportSettings {
    const KEYS: &'static [&'static str] = &["max_upload_bytes"];

    fn set(&mut self, _key: &str, value: toml::Value) -> Result<(), String> {
        self.max_upload_bytes = file_value(value)?;
        Ok(())
    }

    fn set_env(&mut self, name: &str, value: &str) -> Option<Result<(), String>> {
        (name == "SALESOS_MAX_UPLOAD_BYTES")
            .then(|| env_value(value).map(|v| self.max_upload_bytes = v))
    }
}
