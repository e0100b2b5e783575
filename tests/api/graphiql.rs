//! GraphiQL from the server itself, offline: in Debian's headless chromium
//! with every request to an address other than the server blocked, GraphiQL
//! loads, runs a query with a bearer header typed into its Headers tab, and
//! shows the answer (`tests/browser/graphiql.mjs`). Its files come from npm
//! at build time (`scripts/build-console`, versions pinned in
//! `console/graphiql/package-lock.json`); the server serves them under
//! `/graphiql/assets` in development mode only. Screenshots land in
//! `$CARGO_TARGET_TMPDIR/graphiql/`.

use std::path::Path;

use crate::console::{console_dist, run_browser};
use crate::helpers::{spawn_app_with, spawn_flags};

#[tokio::test]
async fn graphiql_loads_runs_a_query_with_a_bearer_header_and_shows_the_answer_with_no_internet() {
    // Arrange: a server with the built console (GraphiQL's files are in it).
    let dist = console_dist();
    assert!(dist.join("graphiql/graphiql.min.js").is_file(), "scripts/build-console did not copy GraphiQL's files");
    let app = spawn_app_with(&["--console-dir", dist.to_str().expect("utf-8 path")]).await;
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("graphiql");

    // Act + Assert: the browser run fails on any step it cannot do.
    run_browser("graphiql.mjs", &[("BASE_URL", &app.base), ("TOKEN", &app.token)], &out).await;
}

#[tokio::test]
async fn graphiqls_files_stay_inside_their_folder_and_production_serves_none() {
    let dist = console_dist();
    let dir = dist.to_str().expect("utf-8 path");
    let app = spawn_app_with(&["--console-dir", dir]).await;
    let get = |path: &str| app.http.get(format!("{}{path}", app.base)).send();

    // The page names only the server's own files, and says so in its policy.
    let page = get("/graphiql").await.expect("send");
    assert_eq!(page.status(), 200);
    let csp =
        page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(csp.starts_with("default-src 'self'") && csp.contains("script-src 'self';"), "{csp}");
    let html = page.text().await.expect("text");
    assert!(html.contains("/graphiql/assets/graphiql.min.js"), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "no address elsewhere: {html}");
    assert_eq!(get("/graphiql/assets/graphiql.min.js").await.expect("send").status(), 200);

    // Nothing outside the folder, and nothing that is not there.
    for path in ["/graphiql/assets/../index.html", "/graphiql/assets/%2e%2e/index.html", "/graphiql/assets/nope.js"] {
        assert_eq!(get(path).await.expect("send").status(), 404, "{path}");
    }

    // Production mode serves neither the page nor its files.
    let prod = spawn_flags(None, &["--console-dir", dir, "--mode", "production"]).await;
    for path in ["/graphiql", "/graphiql/assets/graphiql.min.js"] {
        let r = prod.http.get(format!("{}{path}", prod.base)).send().await.expect("send");
        assert_eq!(r.status(), 404, "{path}");
    }
}
