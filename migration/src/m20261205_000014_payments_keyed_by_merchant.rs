//! Payments and payouts keyed by their merchant (issue 17, keys that carry
//! the merchant; PostgreSQL only).
//!
//! A table distributed by `merchant_id` (Citus) must have it in its primary
//! key and every unique key. `payments` and `payouts` were keyed by `id`
//! alone, with `(merchant_id, id)` as a second unique key; now `(merchant_id,
//! id)` is the primary key and `id` alone has a plain index, which is what a
//! lookup by id alone (`payment(id)` from staff) uses. Ids stay UUIDs made
//! by the server (version 7), so they remain unique in practice; nothing
//! references these rows by foreign key. Each write of a payment or payout
//! names both columns, so on Citus it reaches one shard.
//!
//! SQLite is a single-node store: it keeps its `id` primary key, and the
//! entities' composite key reads and writes the same rows there.

use sea_orm_migration::prelude::*;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE payments DROP CONSTRAINT payments_pkey, DROP CONSTRAINT payments_merchant_id_id_key,
    ADD CONSTRAINT payments_pkey PRIMARY KEY (merchant_id, id);
DROP INDEX payments_merchant_idx;
CREATE INDEX payments_id_idx ON payments (id);
ALTER TABLE payouts DROP CONSTRAINT payouts_pkey, DROP CONSTRAINT payouts_merchant_id_id_key,
    ADD CONSTRAINT payouts_pkey PRIMARY KEY (merchant_id, id);
CREATE INDEX payouts_id_idx ON payouts (id);
"#;

const DOWN: &str = r#"
DROP INDEX payouts_id_idx;
ALTER TABLE payouts DROP CONSTRAINT payouts_pkey, ADD CONSTRAINT payouts_pkey PRIMARY KEY (id),
    ADD CONSTRAINT payouts_merchant_id_id_key UNIQUE (merchant_id, id);
DROP INDEX payments_id_idx;
CREATE INDEX payments_merchant_idx ON payments (merchant_id, id);
ALTER TABLE payments DROP CONSTRAINT payments_pkey, ADD CONSTRAINT payments_pkey PRIMARY KEY (id),
    ADD CONSTRAINT payments_merchant_id_id_key UNIQUE (merchant_id, id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, DOWN).await
    }
}
