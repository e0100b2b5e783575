//! Test databases on a Citus coordinator, shared by the api tests and
//! `ledger-bench` (both include this file with `#[path]`).

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

/// Whether the database behind `db` has the Citus extension: then its URL
/// names a Citus coordinator (`scripts/citus`), and the server's migrations
/// distribute the merchant tables of a database prepared with
/// [`prepare_citus_database`]. Errors: the database's.
pub async fn on_citus(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM pg_extension WHERE extname = 'citus'",
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0)
}

/// Makes database `name`, just created through `admin` on a Citus coordinator
/// (`base_url` is the coordinator's URL without a database), a Citus
/// database. See `citus_create_db` in `scripts/citus` for why each step is
/// needed: the extension in it on every node, then the coordinator and the
/// workers registered in its own metadata. The coordinator's
/// `citus.enable_create_database_propagation` (set by `scripts/citus`) has
/// already created the database on the workers. Errors: the database's, and
/// [`DbErr::Custom`] for a coordinator without workers.
pub async fn prepare_citus_database(admin: &DatabaseConnection, base_url: &str, name: &str) -> Result<(), DbErr> {
    let rows = admin
        .query_all_raw(Statement::from_string(
            admin.get_database_backend(),
            "SELECT nodename, nodeport, groupid FROM pg_dist_node ORDER BY groupid",
        ))
        .await?;
    let mut nodes: Vec<(String, i32, i32)> = Vec::with_capacity(rows.len());
    for r in &rows {
        nodes.push((r.try_get("", "nodename")?, r.try_get("", "nodeport")?, r.try_get("", "groupid")?));
    }
    if !nodes.iter().any(|n| n.2 != 0) {
        return Err(DbErr::Custom(format!("the Citus coordinator at {base_url} has no workers")));
    }
    // The coordinator's user and password, for the workers too.
    let userinfo = base_url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map(|(u, _)| u);
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let mut register = String::new();
    for (host, port, group) in &nodes {
        let node = Database::connect(format!("postgres://{userinfo}{host}:{port}/{name}")).await?;
        node.execute_unprepared("CREATE EXTENSION IF NOT EXISTS citus").await?;
        node.close().await?;
        register += &if *group == 0 {
            format!("SELECT citus_set_coordinator_host('{host}', {port});")
        } else {
            format!("SELECT citus_add_node('{host}', {port});")
        };
    }
    let db = Database::connect(format!("{base_url}/{name}")).await?;
    db.execute_unprepared(&register).await?;
    db.close().await?;
    Ok(())
}
