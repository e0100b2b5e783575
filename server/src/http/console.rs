//! The support console's built files, at `/console`.
//!
//! `scripts/build-console` writes a client-side app whose file names carry a
//! hash of their content (`console-<hash>.js`, `…_bg.wasm`, `style-<hash>.css`)
//! and an `index.html` that names them. So:
//! - a file with an extension is served as is, with its content type from
//!   its extension (`application/wasm`, `text/javascript`, `text/css`, by
//!   tower-http's `ServeDir`) and [`IMMUTABLE`] caching: a new build has new
//!   names, so a cached file is never stale; a missing one is 404;
//! - any other path under `/console` is a page of the app (`/console/merchants/<id>`),
//!   so it gets `index.html` with [`REVALIDATE`] caching, and the app's router
//!   shows the page. That is what makes a pasted link and reload work.
//!
//! Every file carries [`CONTENT_SECURITY_POLICY`], `nosniff` and
//! `no-referrer`. `/` redirects to `/console/`. The compression layer of the router gzips
//! what the browser accepts. With no `index.html` in the folder, `/console`
//! answers 404 with how to build it.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// `Cache-Control` of a content-hashed file: a year, never revalidated
/// (RFC 8246 `immutable`).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of `index.html`: the browser must ask each time, so a new
/// build is picked up at the next load.
pub const REVALIDATE: &str = "no-cache";

/// `Content-Security-Policy` of the console's pages: scripts, styles and
/// connections (HTTP and WebSocket) from this origin only, no inline script,
/// WebAssembly allowed to compile (`'wasm-unsafe-eval'`), no framing. The app
/// needs nothing else; a script injected into the page could load nothing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// Where the console is mounted.
pub const CONSOLE_PATH: &str = "/console";

/// Routes for the console built in `dir`, and the redirect from `/`.
pub fn routes<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    let dir = Arc::new(dir.to_path_buf());
    let files = tower::service_fn(move |req: Request| {
        let dir = Arc::clone(&dir);
        async move { Ok::<_, Infallible>(serve(&dir, req).await) }
    });
    Router::new().route("/", get(|| async { Redirect::temporary("/console/") })).nest_service(CONSOLE_PATH, files)
}

/// One request under `/console` (the prefix already stripped).
async fn serve(dir: &PathBuf, req: Request) -> Response {
    let path = req.uri().path();
    let is_file = path.rsplit('/').next().is_some_and(|last| last.contains('.')) && path != "/index.html";
    let (response, cache) = if is_file {
        let Ok(response) = ServeDir::new(dir).oneshot(req).await;
        (response.map(Body::new), IMMUTABLE)
    } else {
        let index = dir.join("index.html");
        if !index.is_file() {
            return not_built(dir);
        }
        let Ok(response) = ServeFile::new(index).oneshot(req).await;
        (response.map(Body::new), REVALIDATE)
    };
    let mut response = response;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

fn not_built(dir: &Path) -> Response {
    let text = format!(
        "The console is not built in {}. Run scripts/build-console (scripts/run does it), or point --console-dir at a build.\n",
        dir.display()
    );
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
