//! Mail's settings: `mail_*` keys in `salesos.toml`, `SALESOS_MAIL_*` variables.

use std::{net::SocketAddr, time::Duration};

use salesos_platform::settings::{Section, env_value, file_value};

#[derive(Clone, Debug, PartialEq)]
pub struct MailSettings {
    /// The recursive resolver a sending domain's check asks (`ip:port`); the first
    /// `nameserver` of `/etc/resolv.conf` when unset.
    pub dns_server: Option<SocketAddr>,
    /// How long one DNS question may take.
    pub dns_timeout: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            dns_server: None,
            dns_timeout: Duration::from_secs(5),
        }
    }
}

fn server(value: &str) -> Result<SocketAddr, String> {
    let value = value.trim();
    value
        .parse::<SocketAddr>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
        .map_err(|_| format!("expected an address such as 127.0.0.1:53, got `{value}`"))
}

fn timeout(secs: u64) -> Result<Duration, String> {
    if !(1..=30).contains(&secs) {
        return Err(format!("DNS timeout must be 1 to 30 seconds, got {secs}"));
    }
    Ok(Duration::from_secs(secs))
}

impl Section for MailSettings {
    const KEYS: &'static [&'static str] = &["mail_dns_server", "mail_dns_timeout_secs"];

    fn set(&mut self, key: &str, value: toml::Value) -> Result<(), String> {
        match key {
            "mail_dns_server" => self.dns_server = Some(server(&file_value::<String>(value)?)?),
            _ => self.dns_timeout = timeout(file_value(value)?)?,
        }
        Ok(())
    }

    fn set_env(&mut self, name: &str, value: &str) -> Option<Result<(), String>> {
        let done = match name {
            "SALESOS_MAIL_DNS_SERVER" => server(value).map(|s| self.dns_server = Some(s)),
            "SALESOS_MAIL_DNS_TIMEOUT_SECS" => env_value(value)
                .and_then(timeout)
                .map(|t| self.dns_timeout = t),
            _ => return None,
        };
        Some(done)
    }
}

#[cfg(test)]
mod tests {
    use salesos_platform::settings::{AnySection, Settings};

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<MailSettings, String> {
        let env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        let sections: Vec<Box<dyn AnySection>> = vec![Box::new(MailSettings::default())];
        Settings::load(env, sections)
            .map(|s| s.section::<MailSettings>())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_resolver_and_its_timeout_are_checked() {
        let s = load(&[
            ("SALESOS_MAIL_DNS_SERVER", "127.0.0.1:5353"),
            ("SALESOS_MAIL_DNS_TIMEOUT_SECS", "2"),
        ])
        .expect("settings");
        assert_eq!(s.dns_server, Some("127.0.0.1:5353".parse().expect("addr")));
        assert_eq!(s.dns_timeout, Duration::from_secs(2));
        let s = load(&[("SALESOS_MAIL_DNS_SERVER", "::1")]).expect("bare ip");
        assert_eq!(s.dns_server, Some("[::1]:53".parse().expect("addr")));
        for (name, value, says) in [
            ("SALESOS_MAIL_DNS_SERVER", "dns.example", "127.0.0.1:53"),
            ("SALESOS_MAIL_DNS_TIMEOUT_SECS", "0", "1 to 30"),
        ] {
            let err = load(&[(name, value)]).expect_err("must fail");
            assert!(err.contains(name) && err.contains(says), "{err}");
        }
    }
}
