//! GraphQL documents parsed once: automatic persisted queries and a cache of
//! parsed documents.
//!
//! - **Automatic persisted queries** (APQ), as Apollo's protocol defines them
//!   (<https://www.apollographql.com/docs/apollo-server/performance/apq>):
//!   a client sends `extensions.persistedQuery = {version: 1, sha256Hash}`,
//!   the SHA-256 of the query text in lower-case hex, and no `query`. If the
//!   server knows the hash it runs the document it parsed before; if not it
//!   answers the error `PersistedQueryNotFound` (`extensions.code`
//!   `PERSISTED_QUERY_NOT_FOUND`), and the client sends the hash with the
//!   text once, which the server checks against the hash (`provided sha does
//!   not match query` otherwise), parses and keeps. async-graphql's
//!   `ApolloPersistedQueries` extension speaks the protocol; [`PersistedQueries`]
//!   is its storage.
//! - **Parsed documents**: a request that sends its text, as most clients do,
//!   is parsed once per distinct text ([`ParsedDocuments`]).
//!
//! Both caches are bounded by the size of what they hold, measured as the
//! parsed document's JSON serialization (computed once, when a document is
//! stored), and evict the least recently used documents first (moka's TinyLFU
//! admission keeps one-off documents from pushing out the ones in use).
//! Limits: [`PERSISTED_QUERY_BYTES`] and [`PARSED_DOCUMENT_BYTES`]; a text
//! longer than [`MAX_CACHED_QUERY_BYTES`] is parsed every time and never kept.
//!
//! Validation is not cached: it depends on the request's variables (a
//! connection's `first: $n` sets its cost against
//! [`super::MAX_QUERY_COMPLEXITY`], and argument values are checked), so it
//! runs on every request, on the cached document.

use std::sync::Arc;

use async_graphql::extensions::apollo_persisted_queries::{ApolloPersistedQueries, CacheStorage};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};

/// Most bytes (JSON size of the parsed documents) the persisted queries keep.
pub const PERSISTED_QUERY_BYTES: u64 = 8 * 1024 * 1024;

/// Most bytes (JSON size of the parsed documents) the cache of parsed
/// documents keeps.
pub const PARSED_DOCUMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Longest query text (bytes) whose parsed document is kept, by either
/// cache; longer texts are parsed on every request, and a longer text sent to
/// be persisted is refused with `PERSISTED_QUERY_TOO_LARGE`.
pub const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

/// A bounded map of parsed documents, weighed by their JSON size.
#[derive(Clone)]
pub struct Documents(moka::future::Cache<String, ExecutableDocument>);

impl Documents {
    /// A cache that holds documents whose JSON sizes total at most `bytes`.
    pub fn new(bytes: u64) -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(bytes)
                .weigher(|key: &String, doc: &ExecutableDocument| {
                    let size = serde_json::to_vec(doc).map_or(usize::MAX, |v| v.len()).saturating_add(key.len());
                    u32::try_from(size).unwrap_or(u32::MAX)
                })
                .build(),
        )
    }

    /// The document stored under `key`, if any.
    pub async fn get(&self, key: &str) -> Option<ExecutableDocument> {
        self.0.get(key).await
    }

    /// Stores `doc` under `key`.
    pub async fn insert(&self, key: String, doc: ExecutableDocument) {
        self.0.insert(key, doc).await;
    }

    /// Documents held now (after pending evictions run).
    pub async fn entries(&self) -> u64 {
        self.0.run_pending_tasks().await;
        self.0.entry_count()
    }

    /// The JSON bytes held now (after pending evictions run).
    pub async fn weight(&self) -> u64 {
        self.0.run_pending_tasks().await;
        self.0.weighted_size()
    }
}

/// The persisted queries' storage: SHA-256 hex of the text → its parsed
/// document, at most [`PERSISTED_QUERY_BYTES`].
#[derive(Clone)]
pub struct PersistedQueries(pub Documents);

impl PersistedQueries {
    /// The extension that serves the protocol from this storage.
    pub fn extension(self) -> ApolloPersistedQueries<Self> {
        ApolloPersistedQueries::new(self)
    }
}

impl Default for PersistedQueries {
    fn default() -> Self {
        Self(Documents::new(PERSISTED_QUERY_BYTES))
    }
}

#[async_graphql::async_trait::async_trait]
impl CacheStorage for PersistedQueries {
    async fn get(&self, key: String) -> Option<ExecutableDocument> {
        self.0.get(&key).await
    }

    async fn set(&self, key: String, query: ExecutableDocument) {
        self.0.insert(key, query).await;
    }
}

/// The extension that parses each distinct query text once (see the module
/// doc). Register it after [`super::extension::ErrorCodes`], whose checks
/// (introspection in production, subscriptions only over WebSocket) then run
/// on every request, cached or not.
#[derive(Clone)]
pub struct ParsedDocuments(pub Documents);

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self(Documents::new(PARSED_DOCUMENT_BYTES))
    }
}

impl ExtensionFactory for ParsedDocuments {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ParsedDocuments {
    /// Refuses to persist a text longer than [`MAX_CACHED_QUERY_BYTES`]
    /// (`PERSISTED_QUERY_TOO_LARGE`), before the persisted-query extension
    /// (registered after this one) parses it.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        if request.extensions.contains_key("persistedQuery") && request.query.len() > MAX_CACHED_QUERY_BYTES {
            let err = async_graphql::ServerError::new(
                format!(
                    "a persisted query may be at most {MAX_CACHED_QUERY_BYTES} bytes; send it without persistedQuery"
                ),
                None,
            );
            return Err(super::extension::with_code(err, "PERSISTED_QUERY_TOO_LARGE"));
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        // An empty text is a persisted query, already parsed; a long one is
        // not worth its room.
        if query.is_empty() || query.len() > MAX_CACHED_QUERY_BYTES {
            return next.run(ctx, query, variables).await;
        }
        if let Some(doc) = self.0.get(query).await {
            return Ok(doc);
        }
        // Only documents that parsed and passed the parser's own limits
        // (nesting, directives) are kept.
        let doc = next.run(ctx, query, variables).await?;
        self.0.insert(query.to_owned(), doc.clone()).await;
        Ok(doc)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(text).expect("parses")
    }

    #[tokio::test]
    async fn the_cache_is_bounded_by_the_size_of_what_it_holds() {
        let one = doc("{ a b c }");
        let size = serde_json::to_vec(&one).unwrap().len() as u64;
        let cache = Documents::new(size * 10);
        for i in 0..100 {
            cache.insert(format!("{{ a b c }} #{i}"), one.clone()).await;
        }
        let (held, weight) = (cache.entries().await, cache.weight().await);
        assert!(weight <= size * 10 + 100, "held {weight} bytes");
        assert!((1..=10).contains(&held), "held {held} documents");
    }

    struct Query;

    #[async_graphql::Object]
    impl Query {
        async fn n(&self, x: i32) -> i32 {
            x
        }
    }

    fn schema(
        parsed: &ParsedDocuments,
    ) -> async_graphql::Schema<Query, async_graphql::EmptyMutation, async_graphql::EmptySubscription> {
        async_graphql::Schema::build(Query, async_graphql::EmptyMutation, async_graphql::EmptySubscription)
            .extension(parsed.clone())
            .extension(ApolloPersistedQueries::new(PersistedQueries::default()))
            .finish()
    }

    #[tokio::test]
    async fn a_text_is_parsed_once_and_a_broken_or_oversized_one_is_never_kept() {
        let parsed = ParsedDocuments(Documents::new(1024 * 1024));
        let schema = schema(&parsed);
        let text = "query($x: Int!) { n(x: $x) }";
        for x in 0..3 {
            let vars = async_graphql::Variables::from_json(serde_json::json!({ "x": x }));
            let res = schema.execute(async_graphql::Request::new(text).variables(vars)).await;
            assert!(res.errors.is_empty(), "{:?}", res.errors);
            assert_eq!(res.data.into_json().unwrap()["n"], x);
        }
        assert_eq!(parsed.0.entries().await, 1, "three requests with one text keep one document");
        // Validation still runs on a cached document, with this request's variables.
        let res = schema.execute(async_graphql::Request::new(text)).await;
        assert!(!res.errors.is_empty(), "a missing variable must still be refused");
        // A text that does not parse is not kept.
        assert!(!schema.execute("{ n(x: ").await.errors.is_empty());
        // Nor is one longer than the limit.
        let long = format!("{{ n(x: 1) }} #{}", "x".repeat(MAX_CACHED_QUERY_BYTES));
        assert!(schema.execute(long.as_str()).await.errors.is_empty());
        assert_eq!(parsed.0.entries().await, 1);
    }

    #[tokio::test]
    async fn a_persisted_query_runs_by_its_hash_after_it_is_sent_once() {
        use sha2::Digest;
        let schema = schema(&ParsedDocuments::default());
        let text = "{ n(x: 7) }";
        let hash = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
        let apq = |hash: &str| {
            let mut ext = std::collections::HashMap::new();
            let value =
                async_graphql::Value::from_json(serde_json::json!({ "version": 1, "sha256Hash": hash })).unwrap();
            ext.insert("persistedQuery".to_owned(), value);
            ext
        };
        let ask = |q: &str, hash: &str| {
            let mut request = async_graphql::Request::new(q);
            request.extensions = async_graphql::Extensions(apq(hash));
            request
        };
        // Unknown hash: the protocol's error, and nothing runs.
        let res = schema.execute(ask("", &hash)).await;
        assert_eq!(res.errors[0].message, "PersistedQueryNotFound");
        // A text whose hash is not the one sent is refused.
        let res = schema.execute(ask("{ n(x: 8) }", &hash)).await;
        assert!(res.errors[0].message.contains("does not match"), "{:?}", res.errors);
        // Sent once with its text, then by hash alone.
        assert!(schema.execute(ask(text, &hash)).await.errors.is_empty());
        let res = schema.execute(ask("", &hash)).await;
        assert!(res.errors.is_empty(), "{:?}", res.errors);
        assert_eq!(res.data.into_json().unwrap()["n"], 7);
        // Too long to persist: refused before it is parsed.
        let long = format!("{{ n(x: 1) }} #{}", "x".repeat(MAX_CACHED_QUERY_BYTES));
        let long_hash = format!("{:x}", sha2::Sha256::digest(long.as_bytes()));
        let res = schema.execute(ask(&long, &long_hash)).await;
        assert!(res.errors[0].message.contains("at most"), "{:?}", res.errors);
    }
}
