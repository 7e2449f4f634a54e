//! Runtime configuration: defaults, then an optional `salesos.toml`, then `SALESOS_*`
//! environment variables, then command-line flags. The result is a plain [`Settings`] value
//! handed to [`crate::app::Application::build`]; nothing reads configuration globally.

use std::{any::Any, fmt, net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

pub use crate::runtime::bus::BusKind;

/// A value that must never reach a log line or a debug print.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

/// Everything the application needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Directory for the SQLite file and other local state.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; when absent, SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// The master keys that seal stored secrets (`SALESOS_MASTER_KEY`: base64 keys,
    /// comma-separated, the first sealing); when absent, `master.key` in `data_dir`.
    /// Only from the environment, never from `salesos.toml`.
    pub master_key: Option<Secret>,
    /// Address the HTTP server binds to; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Public base URL used in links printed to the operator (setup link).
    pub public_url: Option<String>,
    /// Requests per minute allowed per API key, session or client IP.
    pub rate_limit_per_minute: u32,
    /// Failed dashboard logins allowed per client IP and email in `login_window`.
    pub login_attempts: u32,
    pub login_window: Duration,
    /// A dashboard session ends after this long without a request...
    pub session_idle_timeout: Duration,
    /// ...and after this long in any case.
    pub session_max_age: Duration,
    /// Mark cookies `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Database pool size.
    pub db_max_connections: u32,
    /// `json` or `pretty` log lines.
    pub log_format: LogFormat,
    /// Where committed events go: in-process, or NATS JetStream.
    pub bus: BusKind,
    /// How often the live stream sends a heartbeat.
    pub stream_heartbeat: Duration,
    /// How long a worker's claim on a job lasts without a heartbeat: how soon the jobs of
    /// a node that died run elsewhere.
    pub job_lease: Duration,
    /// Jobs one node runs at once.
    pub worker_concurrency: usize,
    /// The areas' own settings, one [`Section`] each.
    pub sections: Sections,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./salesos-data"),
            database_url: None,
            master_key: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            rate_limit_per_minute: 1000,
            login_attempts: 10,
            login_window: Duration::from_secs(15 * 60),
            session_idle_timeout: Duration::from_secs(12 * 3600),
            session_max_age: Duration::from_secs(7 * 24 * 3600),
            cookie_secure: false,
            max_body_bytes: 2 * 1024 * 1024,
            db_max_connections: 16,
            log_format: LogFormat::Json,
            bus: BusKind::InProcess,
            stream_heartbeat: Duration::from_secs(15),
            job_lease: Duration::from_secs(30),
            worker_concurrency: 16,
            sections: Sections::default(),
        }
    }
}

/// The optional file layer; every field may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    data_dir: Option<PathBuf>,
    database_url: Option<Secret>,
    bind: Option<SocketAddr>,
    public_url: Option<String>,
    rate_limit_per_minute: Option<u32>,
    login_attempts: Option<u32>,
    login_window_secs: Option<u64>,
    session_idle_timeout_secs: Option<u64>,
    session_max_age_secs: Option<u64>,
    cookie_secure: Option<bool>,
    max_body_bytes: Option<usize>,
    db_max_connections: Option<u32>,
    log_format: Option<LogFormat>,
    bus: Option<String>,
    stream_heartbeat_secs: Option<f64>,
    job_lease_secs: Option<u64>,
    worker_concurrency: Option<usize>,
}

/// Why settings could not be read; the message names the file or variable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid {path}: {source}")]
    File {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid {path}: {message}")]
    Value { path: PathBuf, message: String },
    #[error("invalid value for {name}: {message}")]
    Env { name: String, message: String },
}

impl Settings {
    /// Defaults, then `salesos.toml` (in the working directory, or the file named by
    /// `SALESOS_CONFIG`), then `SALESOS_*` variables from `env`; the platform's settings
    /// and those of each of `sections` (the areas', with their defaults).
    pub fn load<I>(env: I, sections: Vec<Box<dyn AnySection>>) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("SALESOS_"))
            .collect();
        let config_path = env
            .iter()
            .find(|(k, _)| k == "SALESOS_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let mut settings = Settings {
            sections: Sections(sections),
            ..Settings::default()
        };
        let path = config_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("salesos.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file_error = |e| SettingsError::File {
                    path: path.clone(),
                    source: Box::new(e),
                };
                let value_error = |message| SettingsError::Value {
                    path: path.clone(),
                    message,
                };
                let mut table: toml::Table = toml::from_str(&text).map_err(file_error)?;
                for section in &mut settings.sections.0 {
                    for key in section.keys() {
                        if let Some(value) = table.remove(*key) {
                            section
                                .set(key, value)
                                .map_err(|e| value_error(format!("{key}: {e}")))?;
                        }
                    }
                }
                let layer: FileLayer = toml::Value::Table(table).try_into().map_err(file_error)?;
                settings.apply_file(layer).map_err(value_error)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && config_path.is_none() => {}
            Err(source) => return Err(SettingsError::Read { path, source }),
        }
        'vars: for (name, value) in env {
            for section in &mut settings.sections.0 {
                if let Some(done) = section.set_env(&name, &value) {
                    checked(&name, done)?;
                    continue 'vars;
                }
            }
            settings.apply_env(&name, &value)?;
        }
        Ok(settings)
    }

    fn apply_file(&mut self, f: FileLayer) -> Result<(), String> {
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = f.$field { self.$field = v; } )* };
        }
        take!(
            data_dir,
            bind,
            rate_limit_per_minute,
            login_attempts,
            cookie_secure
        );
        take!(
            max_body_bytes,
            db_max_connections,
            log_format,
            worker_concurrency
        );
        if f.database_url.is_some() {
            self.database_url = f.database_url;
        }
        if f.public_url.is_some() {
            self.public_url = f.public_url;
        }
        if let Some(s) = f.login_window_secs {
            self.login_window = Duration::from_secs(s);
        }
        if let Some(s) = f.session_idle_timeout_secs {
            self.session_idle_timeout = Duration::from_secs(s);
        }
        if let Some(s) = f.session_max_age_secs {
            self.session_max_age = Duration::from_secs(s);
        }
        if let Some(s) = f.stream_heartbeat_secs {
            self.stream_heartbeat = heartbeat(s)?;
        }
        if let Some(s) = f.job_lease_secs {
            self.job_lease = lease(s)?;
        }
        if let Some(b) = f.bus {
            self.bus = BusKind::parse(&b).map_err(|e| format!("bus: {e}"))?;
        }
        Ok(())
    }

    fn apply_env(&mut self, name: &str, value: &str) -> Result<(), SettingsError> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, SettingsError>
        where
            T::Err: fmt::Display,
        {
            value
                .trim()
                .parse()
                .map_err(|e: T::Err| SettingsError::Env {
                    name: name.to_owned(),
                    message: e.to_string(),
                })
        }
        match name {
            "SALESOS_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "SALESOS_DATABASE_URL" => self.database_url = Some(Secret::new(value)),
            "SALESOS_MASTER_KEY" => self.master_key = Some(Secret::new(value)),
            "SALESOS_BIND" => self.bind = parse(name, value)?,
            "SALESOS_PUBLIC_URL" => self.public_url = Some(value.to_owned()),
            "SALESOS_RATE_LIMIT_PER_MINUTE" => self.rate_limit_per_minute = parse(name, value)?,
            "SALESOS_LOGIN_ATTEMPTS" => self.login_attempts = parse(name, value)?,
            "SALESOS_LOGIN_WINDOW_SECS" => {
                self.login_window = Duration::from_secs(parse(name, value)?)
            }
            "SALESOS_SESSION_IDLE_TIMEOUT_SECS" => {
                self.session_idle_timeout = Duration::from_secs(parse(name, value)?)
            }
            "SALESOS_SESSION_MAX_AGE_SECS" => {
                self.session_max_age = Duration::from_secs(parse(name, value)?)
            }
            "SALESOS_COOKIE_SECURE" => self.cookie_secure = parse(name, value)?,
            "SALESOS_MAX_BODY_BYTES" => self.max_body_bytes = parse(name, value)?,
            "SALESOS_DB_MAX_CONNECTIONS" => self.db_max_connections = parse(name, value)?,
            "SALESOS_STREAM_HEARTBEAT_SECS" => {
                self.stream_heartbeat = checked(name, heartbeat(parse(name, value)?))?
            }
            "SALESOS_WORKER_CONCURRENCY" => self.worker_concurrency = parse(name, value)?,
            "SALESOS_JOB_LEASE_SECS" => self.job_lease = checked(name, lease(parse(name, value)?))?,
            "SALESOS_BUS" => self.bus = checked(name, BusKind::parse(value))?,
            "SALESOS_LOG_FORMAT" => {
                self.log_format = match value {
                    "json" => LogFormat::Json,
                    "pretty" => LogFormat::Pretty,
                    other => {
                        return Err(SettingsError::Env {
                            name: name.to_owned(),
                            message: format!("expected `json` or `pretty`, got `{other}`"),
                        });
                    }
                }
            }
            // Variables of other parts (tests, CLI flags read by clap) pass through.
            _ => {}
        }
        Ok(())
    }

    /// The settings of one area; its defaults when they were never loaded (settings built
    /// in code).
    pub fn section<T: Section>(&self) -> T {
        self.sections
            .0
            .iter()
            .find_map(|s| s.as_any().downcast_ref::<T>())
            .cloned()
            .unwrap_or_default()
    }

    /// The settings of one area, to change in code (tests, tools).
    pub fn section_mut<T: Section>(&mut self) -> &mut T {
        let at = match self.sections.0.iter().position(|s| s.as_any().is::<T>()) {
            Some(i) => i,
            None => {
                self.sections.0.push(Box::new(T::default()));
                self.sections.0.len() - 1
            }
        };
        self.sections
            .0
            .get_mut(at)
            .and_then(|s| s.as_any_mut().downcast_mut::<T>())
            .expect("the section just found or added")
    }

    /// The database URL to connect to: the configured one, or SQLite inside `data_dir`.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("salesos.db").display()
            ),
        }
    }
}

/// A value that parsed but failed its own check, as the error naming the variable.
fn checked<T>(name: &str, value: Result<T, String>) -> Result<T, SettingsError> {
    value.map_err(|message| SettingsError::Env {
        name: name.to_owned(),
        message,
    })
}

fn lease(secs: u64) -> Result<Duration, String> {
    if !(2..=3600).contains(&secs) {
        return Err(format!("job lease must be 2 to 3600 seconds, got {secs}"));
    }
    Ok(Duration::from_secs(secs))
}

fn heartbeat(secs: f64) -> Result<Duration, String> {
    if !(0.05..=3600.0).contains(&secs) {
        return Err(format!(
            "stream heartbeat must be 0.05 to 3600 seconds, got {secs}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// One area's part of the settings. Its keys sit at the top level of `salesos.toml`
/// beside the platform's, and its variables are `SALESOS_*` ones; a key that neither the
/// platform nor any section claims stops the start.
pub trait Section: Clone + Default + fmt::Debug + Send + Sync + 'static {
    /// The keys it takes from `salesos.toml`.
    const KEYS: &'static [&'static str];

    /// Take `key`, one of [`Section::KEYS`], from the file.
    fn set(&mut self, key: &str, value: toml::Value) -> Result<(), String>;

    /// Take a `SALESOS_*` variable; `None` when it is not this section's.
    fn set_env(&mut self, name: &str, value: &str) -> Option<Result<(), String>>;
}

/// A [`Section`] of any area, as [`Settings`] holds it.
pub trait AnySection: fmt::Debug + Send + Sync {
    fn keys(&self) -> &'static [&'static str];
    fn set(&mut self, key: &str, value: toml::Value) -> Result<(), String>;
    fn set_env(&mut self, name: &str, value: &str) -> Option<Result<(), String>>;
    fn clone_box(&self) -> Box<dyn AnySection>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Section> AnySection for T {
    fn keys(&self) -> &'static [&'static str] {
        T::KEYS
    }
    fn set(&mut self, key: &str, value: toml::Value) -> Result<(), String> {
        Section::set(self, key, value)
    }
    fn set_env(&mut self, name: &str, value: &str) -> Option<Result<(), String>> {
        Section::set_env(self, name, value)
    }
    fn clone_box(&self) -> Box<dyn AnySection> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The areas' settings.
#[derive(Debug, Default)]
pub struct Sections(Vec<Box<dyn AnySection>>);

impl Clone for Sections {
    fn clone(&self) -> Self {
        Self(self.0.iter().map(|s| s.clone_box()).collect())
    }
}

/// A setting's value from the file, as `T`.
pub fn file_value<T: serde::de::DeserializeOwned>(value: toml::Value) -> Result<T, String> {
    value
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_owned())
}

/// A setting's value from a variable, as `T`.
pub fn env_value<T: std::str::FromStr>(value: &str) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    value.trim().parse().map_err(|e: T::Err| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = Settings::load(
            env(&[
                ("SALESOS_RATE_LIMIT_PER_MINUTE", "7"),
                ("SALESOS_BIND", "0.0.0.0:9000"),
                ("HOME", "/root"),
            ]),
            vec![],
        )
        .expect("settings");
        assert_eq!(s.rate_limit_per_minute, 7);
        assert_eq!(s.bind.port(), 9000);
    }

    #[test]
    fn bad_variable_is_named() {
        let err = Settings::load(env(&[("SALESOS_RATE_LIMIT_PER_MINUTE", "lots")]), vec![])
            .expect_err("must fail");
        assert!(err.to_string().contains("SALESOS_RATE_LIMIT_PER_MINUTE"));
    }

    #[test]
    fn runtime_settings_are_read_and_checked() {
        let s = Settings::load(
            env(&[
                ("SALESOS_BUS", "nats://127.0.0.1:4222"),
                ("SALESOS_JOB_LEASE_SECS", "3"),
                ("SALESOS_WORKER_CONCURRENCY", "64"),
            ]),
            vec![],
        )
        .expect("settings");
        assert_eq!(s.bus, BusKind::Nats("nats://127.0.0.1:4222".into()));
        assert_eq!(s.job_lease, Duration::from_secs(3));
        assert_eq!(s.worker_concurrency, 64);
        for (name, value, says) in [
            ("SALESOS_BUS", "kafka://x", "kafka://x"),
            ("SALESOS_JOB_LEASE_SECS", "1", "2 to 3600"),
            ("SALESOS_STREAM_HEARTBEAT_SECS", "0", "0.05 to 3600"),
        ] {
            let err = Settings::load(env(&[(name, value)]), vec![])
                .expect_err("must fail")
                .to_string();
            assert!(err.contains(name) && err.contains(says), "{err}");
        }
    }

    #[test]
    fn file_layer_applies_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("salesos.toml");
        std::fs::write(&path, "rate_limit_per_minute = 5\ndata_dir = \"/tmp/x\"\n").expect("w");
        let s = Settings::load(
            env(&[("SALESOS_CONFIG", path.to_str().expect("utf8"))]),
            vec![],
        )
        .expect("settings");
        assert_eq!(s.rate_limit_per_minute, 5);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        std::fs::write(&path, "rate_limit = 5\n").expect("w");
        let err = Settings::load(
            env(&[("SALESOS_CONFIG", path.to_str().expect("utf8"))]),
            vec![],
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("rate_limit"), "{err}");
    }

    /// A section as an area declares one.
    #[derive(Clone, Debug, PartialEq)]
    struct Dialer {
        calls_per_hour: u32,
    }

    impl Default for Dialer {
        fn default() -> Self {
            Self { calls_per_hour: 60 }
        }
    }

    impl Section for Dialer {
        const KEYS: &'static [&'static str] = &["dialer_calls_per_hour"];
        fn set(&mut self, _key: &str, value: toml::Value) -> Result<(), String> {
            self.calls_per_hour = file_value(value)?;
            Ok(())
        }
        fn set_env(&mut self, name: &str, value: &str) -> Option<Result<(), String>> {
            (name == "SALESOS_DIALER_CALLS_PER_HOUR")
                .then(|| env_value(value).map(|v| self.calls_per_hour = v))
        }
    }

    #[test]
    fn an_areas_section_reads_its_own_keys_and_variables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("salesos.toml");
        let config = path.to_str().expect("utf8");
        let sections = || vec![Box::new(Dialer::default()) as Box<dyn AnySection>];

        assert_eq!(Settings::default().section::<Dialer>(), Dialer::default());
        std::fs::write(
            &path,
            "dialer_calls_per_hour = 90\nrate_limit_per_minute = 5\n",
        )
        .expect("w");
        let s = Settings::load(env(&[("SALESOS_CONFIG", config)]), sections()).expect("settings");
        assert_eq!(s.section::<Dialer>().calls_per_hour, 90);
        assert_eq!(s.rate_limit_per_minute, 5);
        let s = Settings::load(
            env(&[
                ("SALESOS_CONFIG", config),
                ("SALESOS_DIALER_CALLS_PER_HOUR", "120"),
            ]),
            sections(),
        )
        .expect("settings");
        assert_eq!(s.section::<Dialer>().calls_per_hour, 120);

        let err = Settings::load(
            env(&[
                ("SALESOS_CONFIG", config),
                ("SALESOS_DIALER_CALLS_PER_HOUR", "many"),
            ]),
            sections(),
        )
        .expect_err("a bad value");
        assert!(
            err.to_string().contains("SALESOS_DIALER_CALLS_PER_HOUR"),
            "{err}"
        );
        std::fs::write(&path, "dialer_calls_per_hour = \"many\"\n").expect("w");
        let err = Settings::load(env(&[("SALESOS_CONFIG", config)]), sections())
            .expect_err("a bad value");
        assert!(err.to_string().contains("dialer_calls_per_hour"), "{err}");
        // Without the area, its key is unknown.
        std::fs::write(&path, "dialer_calls_per_hour = 90\n").expect("w");
        let err =
            Settings::load(env(&[("SALESOS_CONFIG", config)]), vec![]).expect_err("unknown key");
        assert!(err.to_string().contains("dialer_calls_per_hour"), "{err}");

        let mut s = Settings::default();
        s.section_mut::<Dialer>().calls_per_hour = 7;
        assert_eq!(s.clone().section::<Dialer>().calls_per_hour, 7);
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("postgres://user:hunter2@db/x");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
