//! Access tokens: EdDSA-signed JWTs issued by the user service and verified locally by every
//! service, plus the service credential that guards internal endpoints.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::config::JwtConfig;
use crate::error::ApiError;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The login session the token was issued for.
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// What the user may do beyond their own things (`["admin"]` or `[]`); a token issued
    /// before roles existed has none. Names this version does not know are ignored.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A role a user can hold. Granted and revoked by an operator (`user admin grant <login>`),
/// never through the API; an access token carries its user's roles from the login or refresh
/// that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Runs the catalogue: adds products, changes them, restocks them.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        (text == Self::Admin.as_str()).then_some(Self::Admin)
    }
}

/// Signs access tokens (user service only: it alone holds the private key).
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// A freshly signed access token and its lifetime in seconds.
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
}

impl TokenIssuer {
    pub fn new(private_key_pem: &str, jwt: &JwtConfig, ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            key: EncodingKey::from_ed_pem(private_key_pem.as_bytes())
                .map_err(|e| anyhow::anyhow!("JWT private key is not an Ed25519 PEM key: {e}"))?,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            ttl,
        })
    }

    pub fn issue(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        roles: &[Role],
    ) -> anyhow::Result<AccessToken> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            jti: Uuid::new_v4(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)?;
        Ok(AccessToken {
            token,
            expires_in: self.ttl.as_secs(),
        })
    }
}

/// Verifies access tokens: signature, algorithm (EdDSA only), expiry, issuer and audience.
///
/// An Ed25519 verification costs about as much CPU as the rest of a balance read, and a client
/// presents the same token for up to its whole lifetime, so tokens that verified are remembered
/// by their exact text (a changed byte is a different token and is verified afresh). Expiry is
/// checked on every use, remembered or not.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    verified: std::sync::Mutex<std::collections::HashMap<Box<str>, Claims>>,
}

/// How many verified tokens a service remembers; past that, expired ones are dropped, and if
/// that is not enough, all (about 5 MB at most).
const VERIFIED_TOKENS: usize = 10_000;

impl TokenVerifier {
    pub fn new(jwt: &JwtConfig) -> anyhow::Result<Self> {
        let key = DecodingKey::from_ed_pem(jwt.public_key_pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("JWT public key is not an Ed25519 PEM key: {e}"))?;
        // Only EdDSA is accepted, so `none` and HMAC-with-the-public-key confusion both fail.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&jwt.issuer]);
        validation.set_audience(&[&jwt.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            key,
            validation,
            verified: std::sync::Mutex::default(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let now = chrono::Utc::now().timestamp();
        // The same expiry rule as jsonwebtoken's: expired once `exp` is older than the leeway.
        let fresh = |claims: &Claims| claims.exp >= now - self.validation.leeway as i64;
        if let Ok(verified) = self.verified.lock() {
            if let Some(claims) = verified.get(token) {
                if fresh(claims) {
                    return Ok(claims.clone());
                }
                return Err(Self::rejected("expired (remembered token)"));
            }
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| Self::rejected(&e.to_string()))?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_TOKENS {
                verified.retain(|_, claims| fresh(claims));
                if verified.len() >= VERIFIED_TOKENS {
                    verified.clear();
                }
            }
            verified.insert(token.into(), claims.clone());
        }
        Ok(claims)
    }

    fn rejected(reason: &str) -> ApiError {
        tracing::debug!(reason, "access token rejected");
        ApiError::Unauthorized("invalid or expired access token".to_owned())
    }
}

/// The authenticated caller of an endpoint that takes a bearer token.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// The token carries the `admin` role.
    pub admin: bool,
}

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".to_owned()))?;
        let claims = Arc::<TokenVerifier>::from_ref(state).verify(token)?;
        Ok(Self {
            user_id: claims.sub,
            session_id: claims.sid,
            admin: claims
                .roles
                .iter()
                .any(|r| Role::parse(r) == Some(Role::Admin)),
        })
    }
}

/// The caller of an admin endpoint: a valid token (401 without one) that carries the `admin`
/// role (403 otherwise).
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl<S> FromRequestParts<S> for AdminUser
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.admin {
            Ok(Self(user))
        } else {
            Err(ApiError::Forbidden("this needs the admin role".to_owned()))
        }
    }
}

/// The caller, when the request carries a bearer token: `None` without an `Authorization`
/// header; a token that is there but invalid is still a 401 (a client that sends one means
/// to be signed in).
#[derive(Debug, Clone, Copy)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl<S> FromRequestParts<S> for MaybeAuthUser
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(Self(None));
        }
        Ok(Self(Some(
            AuthUser::from_request_parts(parts, state).await?,
        )))
    }
}

/// The header that carries the service credential on internal calls.
pub const SERVICE_TOKEN_HEADER: &str = "x-service-token";

/// One service's credential for internal calls; end users never see it.
#[derive(Clone)]
pub struct ServiceToken(Arc<str>);

impl ServiceToken {
    pub fn new(token: String) -> Self {
        Self(token.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time over the presented value (`subtle`), so timing reveals no prefix.
    fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceToken(<redacted>)")
    }
}

/// A service that calls billing's internal endpoints, each with a credential of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Creates the account of a new user.
    User,
    /// Withdraws for orders and refunds them.
    Order,
}

/// The credentials an internal API accepts: which calling service each one belongs to.
#[derive(Debug)]
pub struct ServiceCredentials(Vec<(Caller, ServiceToken)>);

impl ServiceCredentials {
    pub fn new(credentials: Vec<(Caller, ServiceToken)>) -> Self {
        Self(credentials)
    }

    /// The caller whose credential `presented` is. Every credential is compared, in constant
    /// time, so timing tells neither which one nor how much of it matched.
    fn identify(&self, presented: &[u8]) -> Option<Caller> {
        self.0.iter().fold(None, |found, (caller, token)| {
            if token.matches(presented) {
                Some(*caller)
            } else {
                found
            }
        })
    }
}

/// The calling service an internal endpoint is for (a marker type per `Caller`).
pub trait CallerRole: Send + Sync + 'static {
    const CALLER: Caller;
}

/// The user service (`Caller::User`).
pub struct UserService;
impl CallerRole for UserService {
    const CALLER: Caller = Caller::User;
}

/// The order service (`Caller::Order`).
pub struct OrderService;
impl CallerRole for OrderService {
    const CALLER: Caller = Caller::Order;
}

/// Proof that the request carries the credential of the service `R`: no or an unknown
/// credential is 401, another service's credential is 403.
#[derive(Debug)]
pub struct InternalCaller<R>(std::marker::PhantomData<R>);

impl<S, R> FromRequestParts<S> for InternalCaller<R>
where
    Arc<ServiceCredentials>: FromRef<S>,
    R: CallerRole,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(SERVICE_TOKEN_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        match Arc::<ServiceCredentials>::from_ref(state).identify(presented) {
            Some(caller) if caller == R::CALLER => Ok(Self(std::marker::PhantomData)),
            Some(caller) => {
                tracing::warn!(?caller, endpoint = %parts.uri.path(), "service credential used outside its endpoints");
                Err(ApiError::Forbidden(
                    "internal endpoint: this service credential is not allowed here".to_owned(),
                ))
            }
            None => Err(ApiError::Unauthorized(
                "internal endpoint: service credential required".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Caller, ServiceCredentials, ServiceToken};

    #[test]
    fn each_credential_identifies_its_own_service_only() {
        let credentials = ServiceCredentials::new(vec![
            (
                Caller::User,
                ServiceToken::new("user-credential-0123".to_owned()),
            ),
            (
                Caller::Order,
                ServiceToken::new("order-credential-0123".to_owned()),
            ),
        ]);
        assert_eq!(
            credentials.identify(b"user-credential-0123"),
            Some(Caller::User)
        );
        assert_eq!(
            credentials.identify(b"order-credential-0123"),
            Some(Caller::Order)
        );
        assert_eq!(credentials.identify(b"order-credential-012"), None);
        assert_eq!(credentials.identify(b""), None);
    }

    #[test]
    fn service_token_comparison_needs_the_exact_value() {
        let token = ServiceToken::new("0123456789abcdef".to_owned());
        assert!(token.matches(b"0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdeX"));
        assert!(!token.matches(b"0123456789abcdef0"));
        assert!(!token.matches(b""));
    }
}
