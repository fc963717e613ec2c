//! Validated user input: a value of these types is always valid.

use common::ApiError;
use rand::distributions::Alphanumeric;
use rand::Rng;

/// A login: 3 to 64 characters of letters, digits, `.`, `_` or `-`, starting with a letter or digit.
#[derive(Debug, Clone)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let ok = (3..=64).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_alphanumeric())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::invalid_field(
                "login",
                "must be 3 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password: 8 to 128 characters.
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if (8..=128).contains(&raw.chars().count()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::invalid_field(
                "password",
                "must be 8 to 128 characters",
            ))
        }
    }

    /// A strong random password (24 alphanumerics, about 142 bits).
    pub fn generate() -> Self {
        Self(
            rand::rngs::OsRng
                .sample_iter(&Alphanumeric)
                .take(24)
                .map(char::from)
                .collect(),
        )
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An email address in the plain `local@domain.tld` form.
#[derive(Debug, Clone)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let valid = raw.len() <= 254
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
            && raw.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::invalid_field(
                "email",
                "must be a valid email address",
            ))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A first or last name: 1 to 100 characters, no control characters.
pub fn parse_name(field: &str, raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    if (1..=100).contains(&trimmed.chars().count()) && !trimmed.chars().any(char::is_control) {
        Ok(trimmed.to_owned())
    } else {
        Err(ApiError::invalid_field(
            field,
            "must be 1 to 100 characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_restricted_to_a_safe_alphabet() {
        assert!(Login::parse("alice_1.b-c").is_ok());
        for bad in ["ab", "-alice", "al ice", "alice@x", "", &"a".repeat(65)] {
            assert!(Login::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse("a@b.co").is_ok());
        for bad in [
            "a@b", "@b.co", "a b@c.de", "a@@b.co", "a@.co", "a@b.", "plain",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn generated_passwords_are_valid_and_differ() {
        let a = Password::generate();
        let b = Password::generate();
        assert!(Password::parse(a.expose()).is_ok());
        assert_ne!(a.expose(), b.expose());
    }
}
