//! The hash chain per merchant and its signed checkpoints (issue 21): every
//! transaction is linked as it is written; `verify` recomputes every chain and
//! names the first broken link when a superuser edits the books behind the
//! triggers; a merchant downloads its chain with its own key and
//! `ledger-server verify-export` checks it offline, naming the first bad
//! sequence of each kind of tamper; checkpoints are signed every N
//! transactions, and a key rotation keeps old checkpoints verifiable.

use std::path::{Path, PathBuf};
use std::process::Command;

use ledger_server::core::chain::checkpoint;
use ledger_server::domain::chain::{ChainTransaction, GENESIS, link, to_hex};
use serde_json::{Value, json};

use crate::helpers::{TestApp, fresh, spawn_app, spawn_flags};

/// Runs the server binary with `args`; returns (success, stdout).
fn server_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-test-server"))
        .args(["--log", "warn"])
        .args(args)
        .output()
        .expect("run ledger-test-server");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// A new signing key file named `ledger.test`; returns (file, public key).
fn new_key() -> (PathBuf, String) {
    let path = std::env::temp_dir().join(format!("ledger-key-{}", fresh()));
    let (ok, out) = server_cli(&["checkpoint-key", "--name", "ledger.test", "--output", path.to_str().expect("path")]);
    assert!(ok, "checkpoint-key: {out}");
    (path, out.lines().next().expect("the public key").trim().to_owned())
}

/// `ledger-server verify-export file --public-key k…`.
fn verify_export(file: &Path, keys: &[&str]) -> (bool, String) {
    let mut args = vec!["verify-export", file.to_str().expect("path")];
    for k in keys {
        args.extend(["--public-key", k]);
    }
    server_cli(&args)
}

/// GETs (or POSTs) `path` with `token`; returns status and body.
async fn call(app: &TestApp, post: bool, path: &str, token: Option<&str>) -> (u16, String, reqwest::header::HeaderMap) {
    let url = format!("{}{path}", app.base);
    let mut req = if post { app.http.post(url) } else { app.http.get(url) };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, resp.text().await.expect("body"), headers)
}

/// Downloads `merchant`'s chain export with `token` into a file.
async fn download(app: &TestApp, merchant: &str, token: &str) -> (PathBuf, Vec<Value>) {
    let (status, body, _) = call(app, false, &format!("/merchants/{merchant}/chain.jsonl"), Some(token)).await;
    assert_eq!(status, 200, "{body}");
    let path = std::env::temp_dir().join(format!("ledger-chain-{}.jsonl", fresh()));
    std::fs::write(&path, &body).expect("write");
    let lines = body.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    (path, lines)
}

/// Writes `lines` to a new file.
fn write_lines(lines: &[Value]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ledger-chain-{}.jsonl", fresh()));
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(&path, text).expect("write");
    path
}

/// Index of the line of journal number `n`.
fn at(lines: &[Value], n: u64) -> usize {
    lines.iter().position(|l| l["type"] == "transaction" && l["sequence"] == n).expect("that sequence")
}

#[tokio::test]
async fn every_transaction_is_linked_and_verify_names_the_first_link_a_superuser_broke() {
    // Arrange: every kind of transaction, deals included.
    let app = spawn_app().await;
    let (shop, _smith) = crate::journals::every_kind_of_transaction(&app).await;

    // Every transaction has its link, a deal one in each journal, and each
    // clock's head is its journal's last link.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM transactions WHERE hash IS NULL").await, 0);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM transactions WHERE counterparty_id IS NOT NULL AND counterparty_hash IS NULL")
            .await,
        0
    );
    assert!(app.scalar("SELECT COUNT(*) FROM transactions WHERE counterparty_hash IS NOT NULL").await >= 1, "a deal");
    let clean = ledger_server::core::reports::verify(&app.db).await.expect("verify");
    assert!(clean.is_clean(), "{clean:?}");

    // Act: the database's superuser switches the triggers off and changes
    // one entry's amount of the shop's third transaction.
    let third = app
        .lines(&format!("SELECT id::text AS line FROM transactions WHERE merchant_id = '{shop}' AND number = 3"))
        .await
        .remove(0);
    let entry = app
        .scalar(&format!(
            "SELECT MIN(e.seq) FROM entries e JOIN transactions t ON t.merchant_id = e.merchant_id \
             AND t.seq = e.transaction_seq WHERE t.id = '{third}'"
        ))
        .await;
    let edit = |delta: i64| {
        format!(
            "BEGIN; SET LOCAL session_replication_role = replica; \
             UPDATE entries SET amount = amount + ({delta}) WHERE seq = {entry} AND merchant_id = '{shop}'; COMMIT;"
        )
    };
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared(&edit(1)).await.expect("edit behind the triggers");
    let report = ledger_server::core::reports::verify(&app.db).await.expect("verify");

    // Assert: verify names the merchant and the first broken transaction.
    assert_eq!(report.chain_breaks.len(), 1, "{report:?}");
    let b = &report.chain_breaks[0];
    assert!(b.contains(&format!("merchant {shop}: transaction 3 ({third})")), "{b}");
    let (ok, out) = server_cli(&["--database-url", &app.database_url, "verify"]);
    assert!(!ok, "verify must fail: {out}");
    assert!(out.contains("merchant hash chains that do not recompute") && out.contains(&third), "{out}");

    // A changed external reference breaks it the same way; a changed clock head too.
    app.db.execute_unprepared(&edit(-1)).await.expect("repair");
    let reference = |set: &str| {
        format!(
            "BEGIN; SET LOCAL session_replication_role = replica; \
             UPDATE transactions SET external_ref = {set} WHERE id = '{third}'; COMMIT;"
        )
    };
    let original = app
        .lines(&format!(
            "SELECT COALESCE(quote_literal(external_ref), 'NULL') AS line FROM transactions WHERE id = '{third}'"
        ))
        .await
        .remove(0);
    app.db.execute_unprepared(&reference("'forged'")).await.expect("edit");
    let report = ledger_server::core::reports::verify(&app.db).await.expect("verify");
    assert!(report.chain_breaks.iter().any(|b| b.contains(&third)), "{report:?}");
    app.db.execute_unprepared(&reference(&original)).await.expect("repair");
    app.db
        .execute_unprepared(&format!(
            "UPDATE merchant_clocks SET head_hash = repeat('0', 64) WHERE merchant_id = '{shop}'"
        ))
        .await
        .expect("edit the head");
    let report = ledger_server::core::reports::verify(&app.db).await.expect("verify");
    assert_eq!(report.chain_breaks.len(), 1, "{report:?}");
    assert!(report.chain_breaks[0].contains("head"), "{report:?}");
    let head = app
        .lines(&format!(
            "SELECT hash AS line FROM transactions WHERE merchant_id = '{shop}' AND number = \
             (SELECT last_transaction_seq FROM merchant_clocks WHERE merchant_id = '{shop}') \
             UNION ALL SELECT counterparty_hash FROM transactions WHERE counterparty_id = '{shop}' AND counterparty_number = \
             (SELECT last_transaction_seq FROM merchant_clocks WHERE merchant_id = '{shop}')"
        ))
        .await
        .remove(0);
    app.db
        .execute_unprepared(&format!("UPDATE merchant_clocks SET head_hash = '{head}' WHERE merchant_id = '{shop}'"))
        .await
        .expect("repair the head");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_merchant_downloads_its_chain_and_verify_export_names_the_first_bad_sequence_of_each_tamper() {
    // Arrange: a server with a key of our own; a shop with payments and a
    // deal in each journal.
    let (key_file, public) = new_key();
    let app = crate::helpers::spawn_app_with(&["--checkpoint-key-file", key_file.to_str().expect("path")]).await;
    let (shop, smith) = crate::journals::every_kind_of_transaction(&app).await;
    for i in 0..3 {
        app.pay(&shop, "7.00", Some("0.30"), "USD", &format!("more-{i}")).await;
    }
    let shop_key = app.merchant_key(&shop).await;
    let smith_key = app.merchant_key(&smith).await;

    // Act: each merchant downloads its own chain with its own key.
    let (file, lines) = download(&app, &shop, &shop_key).await;
    let (smith_file, _) = download(&app, &smith, &smith_key).await;

    // Assert: both check offline against the served public key.
    let (status, keys, _) = call(&app, false, checkpoint::WELL_KNOWN_KEYS_PATH, None).await;
    assert_eq!(status, 200);
    let keys: Value = serde_json::from_str(&keys).expect("json");
    assert_eq!(keys["current"], public.as_str(), "{keys}");
    let (ok, out) = verify_export(&file, &[&public]);
    assert!(ok && out.starts_with("OK: merchant"), "{out}");
    let (ok, out) = verify_export(&smith_file, &[&public]);
    assert!(ok, "{out}");
    // The README's description is enough to check it: an independent
    // implementation in Python's standard library agrees.
    let python = |file: &Path| {
        let out = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/api/fixtures/chain/verify_chain.py"))
            .arg(file)
            .output()
            .expect("python3");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(python(&file).starts_with("OK "), "{}", python(&file));
    let n = lines.iter().filter(|l| l["type"] == "transaction").count() as u64;
    assert!(n >= 9, "the shop's journal: {n}");
    assert_eq!(lines[0]["last_sequence"], n);
    assert!(lines.iter().any(|l| l["counterparty"].is_string()), "the deal is in the shop's journal");
    assert_eq!(lines.last().expect("last")["type"], "checkpoint");

    // Each tamper fails, naming the first bad sequence.
    let fails_at = |lines: &[Value], keys: &[&str], expect: &str| {
        let (ok, out) = verify_export(&write_lines(lines), keys);
        assert!(!ok, "a tampered export passed: {out}");
        assert!(out.contains(expect), "expected {expect:?} in {out}");
    };
    let mut changed = lines.clone();
    let i = at(&changed, 4);
    let amount = changed[i]["entries"][0]["amount"].as_u64().expect("amount");
    changed[i]["entries"][0]["amount"] = json!(amount + 1);
    fails_at(&changed, &[&public], "FAILED: sequence 4:");
    assert!(python(&write_lines(&changed)).starts_with("FAILED sequence 4:"), "{}", python(&write_lines(&changed)));
    let mut deleted = lines.clone();
    deleted.remove(at(&deleted, 5));
    fails_at(&deleted, &[&public], "FAILED: sequence 5:");
    let mut swapped = lines.clone();
    let (a, b) = (at(&swapped, 6), at(&swapped, 7));
    swapped.swap(a, b);
    fails_at(&swapped, &[&public], "FAILED: sequence 6:");
    let mut signed = lines.clone();
    let last = signed.len() - 1;
    let note = signed[last]["note"].as_str().expect("note").to_owned();
    let sig_at = note.rfind(' ').expect("signature") + 20;
    let mut bytes = note.into_bytes();
    bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
    signed[last]["note"] = json!(String::from_utf8(bytes).expect("utf8"));
    fails_at(&signed, &[&public], "signature does not verify");
    // Another key does not vouch for it.
    let (_, other) = new_key();
    fails_at(&lines, &[&other], "signature does not verify");
    // An amount changed with every later link recomputed (anyone can hash,
    // no one else can sign): the checkpoint no longer matches.
    let mut rewritten = lines.clone();
    let i = at(&rewritten, 2);
    rewritten[i]["entries"][0]["amount"] = json!(1);
    let mut previous = GENESIS;
    for l in rewritten.iter_mut().filter(|l| l["type"] == "transaction") {
        let t: ChainTransaction = serde_json::from_value(l.clone()).expect("a chain transaction");
        previous = link(&previous, &t).expect("links");
        l["hash"] = json!(to_hex(&previous));
    }
    fails_at(&rewritten, &[&public], &format!("sequence {n}: the checkpoint signs"));
    // A truncated export (the checkpoint kept) fails at the first missing number.
    let mut truncated = lines.clone();
    truncated.remove(at(&truncated, n));
    fails_at(&truncated, &[&public], &format!("sequence {n}:"));
    // Not an export at all.
    fails_at(&[json!({"type": "nonsense"})], &[&public], "FAILED:");

    // Who may download: not another merchant's key (it looks like no
    // merchant), not without a token, not a service key without ledger:read.
    let (status, _, _) = call(&app, false, &format!("/merchants/{shop}/chain.jsonl"), Some(&smith_key)).await;
    assert_eq!(status, 404);
    let (status, body, headers) = call(&app, false, &format!("/merchants/{shop}/chain.jsonl"), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(headers.get("www-authenticate").map(|v| v.to_str().expect("ascii")), Some("Bearer"));
    let payments_only = app.service_key("checkout", &["payments:write"]).await;
    let (status, _, _) = call(&app, false, &format!("/merchants/{shop}/chain.jsonl"), Some(&payments_only)).await;
    assert_eq!(status, 403);
    let (status, _, _) = call(&app, false, "/merchants/not-a-uuid/chain.jsonl", Some(&app.token)).await;
    assert_eq!(status, 400);
    let (status, _, _) =
        call(&app, false, &format!("/merchants/{}/chain.jsonl", uuid::Uuid::new_v4()), Some(&app.token)).await;
    assert_eq!(status, 404);

    // A checkpoint on request, then read back.
    let (status, signed_note, _) = call(&app, true, &format!("/merchants/{shop}/checkpoint"), Some(&shop_key)).await;
    assert_eq!(status, 200, "{signed_note}");
    let c = checkpoint::open(&signed_note, std::slice::from_ref(&public)).expect("verifies");
    assert_eq!((c.merchant.0.to_string(), c.sequence), (shop.clone(), n));
    let (status, latest, _) = call(&app, false, &format!("/merchants/{shop}/checkpoint"), Some(&shop_key)).await;
    assert_eq!((status, latest), (200, signed_note));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_transactions_and_a_key_rotation_keeps_old_ones_verifiable() {
    // Arrange: a server that signs every 3 transactions, looking every 100 ms.
    let (first_file, first_key) = new_key();
    let flags = |file: &Path| {
        vec![
            "--checkpoint-every".to_owned(),
            "3".to_owned(),
            "--checkpoint-interval-ms".to_owned(),
            "100".to_owned(),
            "--checkpoint-key-file".to_owned(),
            file.to_str().expect("path").to_owned(),
        ]
    };
    let first_flags = flags(&first_file);
    let app = crate::helpers::spawn_app_with(&first_flags.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let shop = app.merchant("Checkpointed Shop").await;
    let quiet = app.merchant("Quiet Shop").await;

    // Act: two payments (one transaction each) are not enough; a third is.
    for i in 0..2 {
        app.pay(&shop, "1.00", None, "USD", &format!("cp-{i}")).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let signed = |m: &str| format!("SELECT COUNT(*) FROM checkpoints WHERE merchant_id = '{m}'");
    assert_eq!(app.scalar(&signed(&shop)).await, 0, "two transactions are under the threshold");
    app.pay(&shop, "1.00", None, "USD", "cp-2").await;
    let mut waited = 0;
    while app.scalar(&signed(&shop)).await == 0 {
        assert!(waited < 100, "no checkpoint after 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }

    // Assert: the checkpoint covers the three transactions and verifies.
    let (status, old_note, _) = call(&app, false, &format!("/merchants/{shop}/checkpoint"), Some(&app.token)).await;
    assert_eq!(status, 200);
    let c = checkpoint::open(&old_note, std::slice::from_ref(&first_key)).expect("verifies");
    assert_eq!(c.sequence, 3);
    assert_eq!(app.scalar(&signed(&quiet)).await, 0, "an empty chain is not signed");
    let (status, _, _) = call(&app, false, &format!("/merchants/{quiet}/checkpoint"), Some(&app.token)).await;
    assert_eq!(status, 404, "no checkpoint of an empty chain");

    // Act: a second server on the same books with a new key (a rotation).
    let (second_file, second_key) = new_key();
    let second_flags = flags(&second_file);
    let rotated =
        spawn_flags(Some(app.database_url.clone()), &second_flags.iter().map(String::as_str).collect::<Vec<_>>()).await;
    rotated.pay(&shop, "1.00", None, "USD", "cp-3").await;
    let shop_key = rotated.merchant_key(&shop).await;
    let (file, _) = download(&rotated, &shop, &shop_key).await;

    // Assert: both public keys are served, the old one retired; the old
    // checkpoint still verifies with it; the new export verifies with the
    // new key and not with the old one alone.
    let (_, keys, _) = call(&rotated, false, checkpoint::WELL_KNOWN_KEYS_PATH, None).await;
    let keys: Value = serde_json::from_str(&keys).expect("json");
    let served: Vec<&str> =
        keys["keys"].as_array().expect("keys").iter().map(|k| k["verifier_key"].as_str().expect("key")).collect();
    assert_eq!(served, vec![first_key.as_str(), second_key.as_str()], "{keys}");
    assert!(keys["keys"][0]["retired_at"].is_string() && keys["keys"][1]["retired_at"].is_null(), "{keys}");
    assert_eq!(keys["current"], second_key.as_str());
    assert!(checkpoint::open(&old_note, &[first_key.clone(), second_key.clone()]).is_ok());
    let (ok, out) = verify_export(&file, &[&second_key]);
    assert!(ok, "{out}");
    let (ok, out) = verify_export(&file, &[&first_key]);
    assert!(!ok, "{out}");
    let (ok, out) = verify_export(&file, &[&first_key, &second_key]);
    assert!(ok, "{out}");
    // Bad key arguments are refused with a clear error.
    let (ok, out) = verify_export(&file, &["not-a-key"]);
    assert!(!ok && out.contains("not a checkpoint public key"), "{out}");
    let (ok, out) = server_cli(&["checkpoint-key", "--name", "has space", "--output", "/tmp/never"]);
    assert!(!ok && out.contains("key name"), "{out}");
    app.assert_books_consistent().await;
}
