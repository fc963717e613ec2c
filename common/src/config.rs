//! Typed configuration from environment variables, with errors that name the variable.

use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// A missing or malformed configuration value; its message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {name}: {problem}")]
pub struct ConfigError {
    pub name: String,
    pub problem: String,
}

fn parse<T>(name: &str, raw: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    raw.trim().parse().map_err(|e| ConfigError {
        name: name.to_owned(),
        problem: format!("invalid value {raw:?}: {e}"),
    })
}

/// A required variable, parsed.
pub fn required<T>(name: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => parse(name, &raw),
        _ => Err(ConfigError {
            name: name.to_owned(),
            problem: "is required but not set".to_owned(),
        }),
    }
}

/// An optional variable, parsed, or `default` when unset or empty.
pub fn or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => parse(name, &raw),
        _ => Ok(default),
    }
}

/// A duration given in whole seconds, or `default`.
pub fn seconds_or(name: &str, default: u64) -> Result<Duration, ConfigError> {
    let secs: u64 = or(name, default)?;
    if secs == 0 {
        return Err(ConfigError {
            name: name.to_owned(),
            problem: "must be at least 1 second".to_owned(),
        });
    }
    Ok(Duration::from_secs(secs))
}

/// The contents of the file whose path a required variable names (keys, secrets).
pub fn file(name: &str) -> Result<String, ConfigError> {
    let path: String = required(name)?;
    std::fs::read_to_string(&path).map_err(|e| ConfigError {
        name: name.to_owned(),
        problem: format!("cannot read {path}: {e}"),
    })
}

/// A secret given directly in a required variable; never echoed in errors.
pub fn secret(name: &str, min_len: usize) -> Result<String, ConfigError> {
    let value: String = required(name)?;
    if value.len() < min_len {
        return Err(ConfigError {
            name: name.to_owned(),
            problem: format!("must be at least {min_len} characters"),
        });
    }
    Ok(value)
}

/// A configuration value that must never be printed: `Debug` shows `<redacted>`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A Postgres URL whose `Debug` hides the password (in the user part or a `password=`
/// parameter), so a logged configuration never carries it.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: String) -> Self {
        Self(url)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.0;
        let mut shown = String::with_capacity(url.len());
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url.as_str()));
        if !scheme.is_empty() {
            shown.push_str(scheme);
            shown.push_str("://");
        }
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        match authority.rsplit_once('@') {
            Some((user, host)) => {
                let name = user.split_once(':').map_or(user, |(name, _)| name);
                shown.push_str(name);
                if user.contains(':') {
                    shown.push_str(":<redacted>");
                }
                shown.push('@');
                shown.push_str(host);
            }
            None => shown.push_str(authority),
        }
        let (path, query) = tail
            .split_once('?')
            .map_or((tail, None), |(p, q)| (p, Some(q)));
        shown.push_str(path);
        if let Some(query) = query {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}=<redacted>")
                    }
                    _ => param.to_owned(),
                })
                .collect();
            shown.push('?');
            shown.push_str(&params.join("&"));
        }
        write!(f, "{shown:?}")
    }
}

/// Settings every service has: where it listens, its database, and how it checks tokens.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub database_max_connections: u32,
    pub jwt: JwtConfig,
    pub request_timeout: Duration,
    /// `RUN_MIGRATIONS` (default true): migrate at startup. Kubernetes runs `<service> migrate`
    /// once per release in a Job instead and sets this to false.
    pub run_migrations: bool,
}

/// How access tokens are verified: the user service's public key, issuer and audience.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub public_key_pem: String,
    pub issuer: String,
    pub audience: String,
}

impl JwtConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            public_key_pem: file("JWT_PUBLIC_KEY_FILE")?,
            issuer: or("JWT_ISSUER", "shop-user".to_owned())?,
            audience: or("JWT_AUDIENCE", "shop".to_owned())?,
        })
    }
}

impl ServiceConfig {
    /// Reads `HOST`, `PORT`, `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`, `REQUEST_TIMEOUT_SECONDS`,
    /// `RUN_MIGRATIONS` and the `JWT_*` variables.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        let host: IpAddr = or("HOST", IpAddr::from([127, 0, 0, 1]))?;
        let port: u16 = or("PORT", default_port)?;
        Ok(Self {
            listen: SocketAddr::new(host, port),
            database_url: required("DATABASE_URL")?,
            database_max_connections: or("DATABASE_MAX_CONNECTIONS", 10)?,
            jwt: JwtConfig::from_env()?,
            request_timeout: seconds_or("REQUEST_TIMEOUT_SECONDS", 30)?,
            run_migrations: or("RUN_MIGRATIONS", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named_in_the_error() {
        let err = required::<String>("SHOP_TEST_SURELY_UNSET").expect_err("unset");
        assert_eq!(
            err.to_string(),
            "configuration error: SHOP_TEST_SURELY_UNSET: is required but not set"
        );
    }

    #[test]
    fn a_malformed_value_is_named_with_the_reason() {
        std::env::set_var("SHOP_TEST_BAD_PORT", "eighty");
        let err = or::<u16>("SHOP_TEST_BAD_PORT", 80).expect_err("malformed");
        assert!(
            err.to_string()
                .starts_with("configuration error: SHOP_TEST_BAD_PORT: invalid value \"eighty\""),
            "{err}"
        );
        std::env::set_var("SHOP_TEST_ZERO_SECONDS", "0");
        assert!(seconds_or("SHOP_TEST_ZERO_SECONDS", 5).is_err());
    }

    #[test]
    fn a_database_url_prints_without_its_password() {
        let url = DatabaseUrl::new(
            "postgres://shop:hunter2@db.example:5432/orders?sslmode=require&password=hunter3"
                .to_owned(),
        );
        assert_eq!(
            format!("{url:?}"),
            r#""postgres://shop:<redacted>@db.example:5432/orders?sslmode=require&password=<redacted>""#
        );
        let plain = DatabaseUrl::new("postgres://postgres@127.0.0.1/shop_user".to_owned());
        assert_eq!(
            format!("{plain:?}"),
            r#""postgres://postgres@127.0.0.1/shop_user""#
        );
        assert!(!format!("{:?}", DatabaseUrl::new("postgres://a:b@c".to_owned())).contains(":b@"));
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2".to_owned())),
            "<redacted>"
        );
    }
}
