//! Access-token verification against tokens signed as the user service signs them, and
//! against forgeries.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use common::auth::TokenVerifier;
use jsonwebtoken::Algorithm;
use testkit::TestKeys;
use uuid::Uuid;

fn claims(keys: &TestKeys, exp_offset: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": Uuid::new_v4(), "sid": Uuid::new_v4(), "jti": Uuid::new_v4(),
        "iss": keys.jwt.issuer, "aud": keys.jwt.audience,
        "iat": now, "exp": now + exp_offset,
    })
}

fn sign(keys: &TestKeys, claims: &serde_json::Value) -> String {
    let key = EncodingKey::from_ed_pem(keys.private_pem.as_bytes()).expect("key");
    encode(&Header::new(Algorithm::EdDSA), claims, &key).expect("sign")
}

fn verifier(keys: &TestKeys) -> TokenVerifier {
    TokenVerifier::new(&keys.jwt).expect("verifier")
}

#[test]
fn a_token_from_the_issuer_verifies_and_names_the_user() {
    let keys = TestKeys::new();
    let user = Uuid::new_v4();
    let claims = verifier(&keys)
        .verify(&keys.token(user))
        .expect("valid token");
    assert_eq!(claims.sub, user);
}

#[test]
fn expired_tokens_are_rejected() {
    let keys = TestKeys::new();
    let token = sign(&keys, &claims(&keys, -60));
    assert!(verifier(&keys).verify(&token).is_err());
}

#[test]
fn a_remembered_token_still_expires() {
    let keys = TestKeys::new();
    let verifier = verifier(&keys);
    // Four seconds past `exp` is still inside the five seconds of leeway; two seconds later
    // it is not.
    let token = sign(&keys, &claims(&keys, -4));
    assert!(verifier.verify(&token).is_ok(), "valid for one more second");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(
        verifier.verify(&token).is_err(),
        "the second verification comes from memory and must still see the expiry"
    );
}

#[test]
fn a_remembered_token_does_not_vouch_for_a_tampered_copy() {
    let keys = TestKeys::new();
    let verifier = verifier(&keys);
    let token = keys.token(Uuid::new_v4());
    assert!(verifier.verify(&token).is_ok());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(claims(&keys, 300).to_string());
    assert!(verifier.verify(&parts.join(".")).is_err());
    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn tampered_payloads_are_rejected() {
    let keys = TestKeys::new();
    let token = keys.token(Uuid::new_v4());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged = claims(&keys, 300);
    parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
    assert!(verifier(&keys).verify(&parts.join(".")).is_err());
}

#[test]
fn tokens_signed_with_another_key_are_rejected() {
    let keys = TestKeys::new();
    let other = TestKeys::new();
    assert!(verifier(&keys)
        .verify(&other.token(Uuid::new_v4()))
        .is_err());
}

#[test]
fn alg_none_is_rejected() {
    let keys = TestKeys::new();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(&keys, 300).to_string());
    assert!(verifier(&keys)
        .verify(&format!("{header}.{payload}."))
        .is_err());
}

#[test]
fn hmac_signed_with_the_public_key_is_rejected() {
    // Algorithm confusion: an attacker signs HS256 using the public key as the secret.
    let keys = TestKeys::new();
    let key = EncodingKey::from_secret(keys.jwt.public_key_pem.as_bytes());
    let token = encode(&Header::new(Algorithm::HS256), &claims(&keys, 300), &key).expect("sign");
    assert!(verifier(&keys).verify(&token).is_err());
}

#[test]
fn wrong_audience_or_issuer_is_rejected() {
    let keys = TestKeys::new();
    let mut wrong_aud = claims(&keys, 300);
    wrong_aud["aud"] = json!("another-system");
    assert!(verifier(&keys).verify(&sign(&keys, &wrong_aud)).is_err());
    let mut wrong_iss = claims(&keys, 300);
    wrong_iss["iss"] = json!("someone-else");
    assert!(verifier(&keys).verify(&sign(&keys, &wrong_iss)).is_err());
}

#[test]
fn a_token_carries_its_users_roles_and_one_without_any_has_none() {
    let keys = TestKeys::new();
    let verifier = verifier(&keys);
    let user = Uuid::new_v4();
    let admin = verifier
        .verify(&keys.admin_token(user))
        .expect("admin token");
    assert_eq!(admin.roles, ["admin"]);
    assert!(verifier
        .verify(&keys.token(user))
        .expect("plain token")
        .roles
        .is_empty());
    // Issued before roles existed: no `roles` claim at all, still valid, no role.
    let old = verifier
        .verify(&sign(&keys, &claims(&keys, 60)))
        .expect("a token without the roles claim");
    assert!(old.roles.is_empty());
}
