//! A schema extension that gives every request-level error a stable code.
//!
//! async-graphql reports syntax errors and validation failures (including the
//! depth and complexity limits) without `extensions.code`. This extension adds
//! `GRAPHQL_PARSE_FAILED` and `GRAPHQL_VALIDATION_FAILED` (the codes Apollo
//! Server uses), and `BAD_USER_INPUT` for any other uncoded error, such as a
//! variable that does not coerce to its declared type.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Value, Variables};

/// Factory for the error-code extension. In `production`, a query that asks for
/// `__schema` or `__type` is refused with `INTROSPECTION_DISABLED`, so a client
/// learns why rather than getting a bare unknown-field error.
pub struct ErrorCodes {
    /// Whether the server runs in production mode.
    pub production: bool,
}

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension { production: self.production })
    }
}

struct ErrorCodesExtension {
    production: bool,
}

/// True when any selection of the document names an introspection root field.
fn asks_for_introspection(doc: &ExecutableDocument) -> bool {
    use async_graphql::parser::types::{Selection, SelectionSet};
    fn walk(set: &SelectionSet, doc: &ExecutableDocument) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(f) => {
                let name = f.node.name.node.as_str();
                name == "__schema" || name == "__type" || walk(&f.node.selection_set.node, doc)
            }
            Selection::InlineFragment(i) => walk(&i.node.selection_set.node, doc),
            Selection::FragmentSpread(s) => doc
                .fragments
                .get(&s.node.fragment_name.node)
                .is_some_and(|frag| walk(&frag.node.selection_set.node, doc)),
        })
    }
    doc.operations.iter().any(|(_, op)| walk(&op.node.selection_set.node, doc))
}

/// `err` with `extensions.code` set to `code`, unless it has one already.
pub(crate) fn with_code(mut err: ServerError, code: &str) -> ServerError {
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", Value::String(code.to_owned()));
    }
    err
}

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = response
            .errors
            .into_iter()
            .map(|e| {
                // Apollo's persisted-query protocol: clients look for this
                // message or code and then send the query text.
                let code =
                    if e.message == "PersistedQueryNotFound" { "PERSISTED_QUERY_NOT_FOUND" } else { "BAD_USER_INPUT" };
                with_code(e, code)
            })
            .collect();
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await.map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))?;
        // Over WebSocket only subscriptions run: queries and mutations belong on
        // HTTP, behind its rate limits and per-request transaction.
        if ctx.data_opt::<crate::http::ws::OverWebSocket>().is_some()
            && doc.operations.iter().any(|(_, op)| op.node.ty != OperationType::Subscription)
        {
            let err = ServerError::new("only subscriptions are served over WebSocket; use POST /graphql", None);
            return Err(with_code(err, "SUBSCRIPTIONS_ONLY"));
        }
        if self.production && asks_for_introspection(&doc) {
            let err = ServerError::new("introspection is disabled in production mode", None);
            return Err(with_code(err, "INTROSPECTION_DISABLED"));
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errs| errs.into_iter().map(|e| with_code(e, "GRAPHQL_VALIDATION_FAILED")).collect())
    }
}
