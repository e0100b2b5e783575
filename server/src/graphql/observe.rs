//! A schema extension that makes each GraphQL request observable: spans for
//! parsing, validation and the operation's root resolvers (exported with the
//! request's trace, see [`crate::telemetry::traces`]), and the request's
//! count and latency by operation and outcome code
//! ([`crate::telemetry::metrics::GRAPHQL_REQUESTS`],
//! [`crate::telemetry::metrics::GRAPHQL_REQUEST_SECONDS`]).
//!
//! The operation label is the operation's type and first root field
//! (`mutation recordPayment`; `+` added when it selects more root fields),
//! taken only once the document has validated, so it is always a field of
//! the schema: a caller cannot mint label values (and with them unbounded
//! series). A document that does not parse is `unparsed`; one that does not
//! validate, `invalid`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables};
use tracing::Instrument;

use crate::telemetry::metrics as names;

/// Operation label of a request whose document did not parse.
pub const UNPARSED: &str = "unparsed";
/// Operation label of a request whose document did not validate.
pub const INVALID: &str = "invalid";

/// Factory of the observing extension; register it first, so its spans and
/// timing cover the other extensions' work (the document caches).
#[derive(Debug, Default)]
pub struct Observe;

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveExtension::default())
    }
}

#[derive(Default)]
struct ObserveExtension {
    state: Mutex<Labels>,
}

/// What the request's hooks learn for its label, in order.
#[derive(Default)]
struct Labels {
    /// `operationName` of the request.
    operation_name: Option<String>,
    /// The label of the parsed document's operation, before validation.
    parsed: Option<String>,
    /// The final label.
    label: Option<String>,
}

impl ObserveExtension {
    fn with_labels(&self, f: impl FnOnce(&mut Labels)) {
        if let Ok(mut labels) = self.state.lock() {
            f(&mut labels);
        }
    }
}

/// The label of the operation `name` (or the only one) of `doc`.
fn operation_label(doc: &ExecutableDocument, name: Option<&str>) -> Option<String> {
    let op = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    let kind = match op.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let items = &op.node.selection_set.node.items;
    let first = items.iter().find_map(|item| match &item.node {
        Selection::Field(f) => Some(f.node.name.node.as_str()),
        _ => None,
    })?;
    let more = if items.len() > 1 { "+" } else { "" };
    Some(format!("{kind} {first}{more}"))
}

/// `OK`, or the first error's `extensions.code` (`ERROR` when it has none).
fn outcome(response: &Response) -> String {
    match response.errors.first() {
        None => "OK".to_owned(),
        Some(e) => match e.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(Value::String(code)) => code.clone(),
            _ => "ERROR".to_owned(),
        },
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ObserveExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let mut label = None;
        self.with_labels(|l| label = l.label.take().or_else(|| l.parsed.take()));
        let operation = label.unwrap_or_else(|| UNPARSED.to_owned());
        let code = outcome(&response);
        metrics::histogram!(names::GRAPHQL_REQUEST_SECONDS, "operation" => operation.clone())
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(names::GRAPHQL_REQUESTS, "operation" => operation, "code" => code).increment(1);
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let name = request.operation_name.clone();
        self.with_labels(|l| l.operation_name = name);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let span = tracing::info_span!("graphql.parse");
        let doc = next.run(ctx, query, variables).instrument(span).await?;
        self.with_labels(|l| {
            // Held back until validation: a field name here may be made up.
            l.parsed = operation_label(&doc, l.operation_name.as_deref());
            l.label = Some(INVALID.to_owned());
        });
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let span = tracing::info_span!("graphql.validate");
        let result = next.run(ctx).instrument(span).await;
        if result.is_ok() {
            self.with_labels(|l| l.label = l.parsed.take().or_else(|| Some(INVALID.to_owned())));
        }
        result
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        // One span for the operation's root resolvers (and what they call):
        // a hook on every field would cost each field of every response a
        // boxed future more, for spans that tell little (nested fields read
        // what the root resolver loaded).
        let mut label = String::new();
        self.with_labels(|l| label = l.label.clone().unwrap_or_default());
        let field = label.split(' ').nth(1).unwrap_or_default().trim_end_matches('+').to_owned();
        let span = tracing::info_span!(
            "graphql.resolve",
            graphql.operation = %label,
            graphql.field = %field,
            otel.name = %format_args!("resolve {label}"),
        );
        next.run(ctx, operation_name).instrument(span).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(text).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn the_label_is_the_operation_type_and_its_first_root_field() {
        assert_eq!(
            operation_label(&doc("mutation { recordPayment { id } }"), None).as_deref(),
            Some("mutation recordPayment")
        );
        assert_eq!(operation_label(&doc("{ a: me { id } merchants { id } }"), None).as_deref(), Some("query me+"));
        let two = doc("query A { me { id } } mutation B { post { id } }");
        assert_eq!(operation_label(&two, Some("B")).as_deref(), Some("mutation post"));
        assert_eq!(operation_label(&two, None), None);
        assert_eq!(operation_label(&two, Some("C")), None);
    }
}
