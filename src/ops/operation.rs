//! An async-graphql extension that notes, in the current request's [`context`](super::context), which
//! operation the request runs (its name and type) and the complexity async-graphql computed for it, for
//! the access log and the metrics. Only names and numbers: never the query text or its variables.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult, Variables};

use super::context;

/// Add to the schema with `.extension(Observe)`.
pub struct Observe;

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Observer::default())
    }
}

/// One request's observer: it remembers the operation name the request asked for.
#[derive(Default)]
struct Observer {
    wanted: Mutex<Option<String>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Observer {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.wanted.lock().unwrap_or_else(PoisonError::into_inner).clone_from(&request.operation_name);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some((name, operation_type)) = chosen(&document, wanted.as_deref()) {
            context::note_operation(name.as_deref(), operation_type);
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        context::note_complexity(result.complexity);
        Ok(result)
    }
}

/// The operation the executor will run, as async-graphql chooses it: the one named `wanted`, or the
/// only one. `None` when there is no such operation (the executor reports that).
fn chosen(document: &ExecutableDocument, wanted: Option<&str>) -> Option<(Option<String>, &'static str)> {
    let kind = |ty: OperationType| match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    match (&document.operations, wanted) {
        (DocumentOperations::Single(operation), None) => Some((None, kind(operation.node.ty))),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(operations), Some(wanted)) => operations
            .iter()
            .find(|(name, _)| name.as_str() == wanted)
            .map(|(name, operation)| (Some(name.to_string()), kind(operation.node.ty))),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.iter().next().map(|(name, operation)| (Some(name.to_string()), kind(operation.node.ty)))
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}
