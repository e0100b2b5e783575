//! Idempotency of the access mutations (`createApiKey`, `createServiceKey`,
//! `rotateApiKey`, `revokeApiKey`, `createStaffUser`): a retry writes nothing
//! new and replays without the secret, other input under a used key is
//! refused, a refusal leaves its key free, and no secret or password reaches
//! the idempotency record.

use ledger_server::domain::Fingerprint;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app};

const CREATE_KEY: &str =
    "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key replayed apiKey { id prefix merchantId } } }";
const CREATE_STAFF: &str =
    "mutation($i: CreateStaffUserInput!) { createStaffUser(input: $i) { replayed user { id username role } } }";

/// The stored idempotency record of `key`: (operation, fingerprint, result as text).
async fn record(app: &TestApp, key: &str) -> (String, String, String) {
    let row = app
        .db
        .query_one_raw(Statement::from_sql_and_values(
            app.db.get_database_backend(),
            "SELECT operation, fingerprint, result::text AS result FROM idempotency_keys WHERE key = $1",
            [key.into()],
        ))
        .await
        .expect("query")
        .unwrap_or_else(|| panic!("no idempotency record for {key}"));
    (
        row.try_get("", "operation").expect("operation"),
        row.try_get("", "fingerprint").expect("fingerprint"),
        row.try_get("", "result").expect("result"),
    )
}

/// How many API keys `merchant` has.
async fn keys_of(app: &TestApp, merchant: &str) -> usize {
    let data = app.ok("query($m: ID!) { apiKeys(merchantId: $m) { id } }", json!({ "m": merchant })).await;
    data["apiKeys"].as_array().map_or(0, Vec::len)
}

fn new_key(body: &Value, field: &str) -> (Option<String>, String, bool) {
    assert!(body.get("errors").is_none(), "{body}");
    let p = &body["data"][field];
    (
        p["key"].as_str().map(str::to_owned),
        p["apiKey"]["id"].as_str().expect("key id").to_owned(),
        p["replayed"].as_bool().expect("replayed"),
    )
}

#[tokio::test]
async fn a_retried_create_api_key_makes_one_key_and_replays_it_without_the_secret() {
    // Arrange
    let app = spawn_app().await;
    let m = app.merchant("Retried").await;
    let input = |name: &str| json!({ "i": { "merchantId": m, "name": name, "idempotencyKey": "key-1" } });

    // Act: the same request three times, then other input under the same key.
    let first = app.gql(CREATE_KEY, input("till")).await;
    let second = app.gql(CREATE_KEY, input("till")).await;
    let third = app.gql(CREATE_KEY, input("till")).await;
    let other = app.gql(CREATE_KEY, input("another till")).await;

    // Assert
    let (secret, id, replayed) = new_key(&first, "createApiKey");
    let secret = secret.expect("the first answer shows the secret");
    assert!(!replayed);
    for again in [&second, &third] {
        let (shown, again_id, replayed) = new_key(again, "createApiKey");
        assert_eq!(shown, None, "a replay shows no secret: {again}");
        assert_eq!(again_id, id, "a replay names the same key: {again}");
        assert!(replayed, "{again}");
        assert_eq!(
            again["data"]["createApiKey"]["apiKey"]["prefix"],
            first["data"]["createApiKey"]["apiKey"]["prefix"]
        );
    }
    assert_eq!(code(&other), "IDEMPOTENCY_KEY_REUSED", "{other}");
    assert_eq!(keys_of(&app, &m).await, 1, "one key, however often it was asked for");
    // The key works; the record of the request holds neither it nor its hash.
    assert_eq!(app.ok_as(Some(&secret), "{ me { merchantId } }", json!({})).await["me"]["merchantId"], m.as_str());
    let (operation, fingerprint, result) = record(&app, "key-1").await;
    assert_eq!(operation, "createApiKey");
    let hash = ledger_server::core::access::auth::token_hash(&secret);
    let secret_part = secret.rsplit_once('_').map(|(_, s)| s).unwrap_or(&secret);
    for stored in [&fingerprint, &result] {
        assert!(!stored.contains(secret_part) && !stored.contains(&hash), "a secret in the record: {stored}");
    }
    assert!(result.contains(&id), "the record holds the key's id: {result}");
}

#[tokio::test]
async fn a_refused_create_api_key_writes_nothing_and_leaves_its_key_free() {
    let app = spawn_app().await;
    let m = app.merchant("Keyless").await;
    let before = (app.count("api_keys").await, app.count("idempotency_keys").await);
    let unknown = uuid::Uuid::now_v7().to_string();
    let refused =
        app.gql(CREATE_KEY, json!({ "i": { "merchantId": unknown, "name": "x", "idempotencyKey": "key-free" } })).await;
    assert_eq!(code(&refused), "NOT_FOUND", "{refused}");
    let platform = app
        .gql(
            CREATE_KEY,
            json!({ "i": { "merchantId": "00000000-0000-0000-0000-000000000000", "idempotencyKey": "key-free" } }),
        )
        .await;
    assert_eq!(code(&platform), "NOT_FOUND", "the platform gets service keys only: {platform}");
    assert_eq!((app.count("api_keys").await, app.count("idempotency_keys").await), before);
    // Its key is free: the same key with a good request issues a key.
    let ok = app.gql(CREATE_KEY, json!({ "i": { "merchantId": m, "name": "x", "idempotencyKey": "key-free" } })).await;
    let (secret, _, replayed) = new_key(&ok, "createApiKey");
    assert!(secret.is_some() && !replayed, "{ok}");
}

#[tokio::test]
async fn rotations_revocations_and_service_keys_replay_and_write_once() {
    // Arrange
    let app = spawn_app().await;
    let m = app.merchant("Rotating").await;
    let created = app.gql(CREATE_KEY, json!({ "i": { "merchantId": m, "idempotencyKey": "k" } })).await;
    let (_, id, _) = new_key(&created, "createApiKey");
    let rotate =
        "mutation($id: ID!, $k: String!) { rotateApiKey(id: $id, idempotencyKey: $k) { key replayed apiKey { id } } }";
    let revoke = "mutation($id: ID!, $k: String!) { revokeApiKey(id: $id, idempotencyKey: $k) { replayed apiKey { id revokedAt } } }";

    // Act and assert: a rotation retried issues one new key.
    let first = app.gql(rotate, json!({ "id": id, "k": "rot" })).await;
    let again = app.gql(rotate, json!({ "id": id, "k": "rot" })).await;
    let (secret, new_id, _) = new_key(&first, "rotateApiKey");
    let (shown, again_id, replayed) = new_key(&again, "rotateApiKey");
    assert!(secret.is_some());
    assert_eq!((shown, again_id.as_str(), replayed), (None, new_id.as_str(), true), "{again}");
    assert_eq!(keys_of(&app, &m).await, 2, "the old key and one new one");
    let other = app.gql(rotate, json!({ "id": new_id, "k": "rot" })).await;
    assert_eq!(code(&other), "IDEMPOTENCY_KEY_REUSED", "{other}");
    let missing = app.gql(rotate, json!({ "id": uuid::Uuid::now_v7().to_string(), "k": "rot-missing" })).await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");

    // A revocation retried answers the same revocation.
    let revoked = app.ok(revoke, json!({ "id": new_id, "k": "rev" })).await;
    let revoked_again = app.ok(revoke, json!({ "id": new_id, "k": "rev" })).await;
    assert_eq!(revoked["revokeApiKey"]["replayed"], false);
    assert_eq!(revoked_again["revokeApiKey"]["replayed"], true);
    assert_eq!(revoked_again["revokeApiKey"]["apiKey"], revoked["revokeApiKey"]["apiKey"]);

    // A service key retried: one key, no secret on the replay.
    let service = "mutation($i: CreateServiceKeyInput!) { createServiceKey(input: $i) { key replayed apiKey { id } } }";
    let input = json!({ "i": { "service": "bank", "scopes": ["payouts:write"], "idempotencyKey": "sk" } });
    let (secret, sk_id, _) = new_key(&app.gql(service, input.clone()).await, "createServiceKey");
    let (shown, sk_again, replayed) = new_key(&app.gql(service, input).await, "createServiceKey");
    assert!(secret.is_some());
    assert_eq!((shown, sk_again.as_str(), replayed), (None, sk_id.as_str(), true));
    let listed = app.ok("{ serviceKeys(service: \"bank\") { id } }", json!({})).await;
    assert_eq!(listed["serviceKeys"].as_array().map(Vec::len), Some(1), "{listed}");
    let (_, _, result) = record(&app, "sk").await;
    let secret = secret.unwrap_or_default();
    assert!(!result.contains(secret.rsplit_once('_').map_or(secret.as_str(), |(_, s)| s)), "{result}");
}

#[tokio::test]
async fn create_staff_user_is_idempotent_and_its_record_holds_no_password() {
    // Arrange
    let app = spawn_app().await;
    let input = |user: &str, password: &str, key: &str| json!({ "i": { "username": user, "password": password, "role": "SUPPORT", "idempotencyKey": key } });

    // Act
    let first = app.ok(CREATE_STAFF, input("dana", "dana-password-1", "staff-1")).await;
    // A retry whose password differs is still the same request: the password
    // is not part of it, and the first one stands.
    let retry = app.ok(CREATE_STAFF, input("dana", "dana-password-2", "staff-1")).await;
    let other = app.gql(CREATE_STAFF, input("dora", "dora-password-1", "staff-1")).await;
    let taken = app.gql(CREATE_STAFF, input("dana", "dana-password-3", "staff-2")).await;

    // Assert
    assert_eq!(first["createStaffUser"]["replayed"], false);
    assert_eq!(retry["createStaffUser"]["replayed"], true);
    assert_eq!(retry["createStaffUser"]["user"], first["createStaffUser"]["user"]);
    assert_eq!(code(&other), "IDEMPOTENCY_KEY_REUSED", "{other}");
    assert_eq!(code(&taken), "USERNAME_TAKEN", "{taken}");
    assert_eq!(app.count("staff_users").await, 2, "the admin and dana");
    assert!(!app.login("dana", "dana-password-1").await.is_empty(), "the first password stands");
    // The refused request left its key free.
    let fresh = app.ok(CREATE_STAFF, input("dora", "dora-password-1", "staff-2")).await;
    assert_eq!(fresh["createStaffUser"]["user"]["username"], "dora");
    // The record: its fingerprint is that of the input without the password,
    // and neither it nor the result holds the password in any form we can find.
    let (operation, fingerprint, result) = record(&app, "staff-1").await;
    assert_eq!(operation, "createStaffUser");
    let without_password = Fingerprint::of("createStaffUser", &json!({ "username": "dana", "role": "SUPPORT" }));
    assert_eq!(fingerprint, without_password.as_str());
    for stored in [&fingerprint, &result] {
        assert!(!stored.contains("dana-password"), "{stored}");
    }
    // The refusal is audited, as every staff action is.
    let audit =
        app.ok("{ auditLog(first: 20) { edges { node { action result targetId } } } }", json!({})).await.to_string();
    assert!(audit.contains("USERNAME_TAKEN"), "{audit}");
}
