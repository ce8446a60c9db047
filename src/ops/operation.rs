//! Notes, in the current request's [`context`](super::context), which operation the request runs (its
//! name and type) and its complexity (the fields it selects, as async-graphql counts them), for the
//! access log and the metrics. Only names and numbers: never the query text or its variables.
//! Admission (`graphql::admission`) calls these once the document is parsed and measured.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};

use super::context;

/// Notes the operation of a parsed document that the executor will run (the one named `wanted`, or the
/// only one), if there is one. Called by admission (`graphql::admission`) once the document is parsed.
pub fn note_document(document: &ExecutableDocument, wanted: Option<&str>) {
    if let Some((name, operation_type)) = chosen(document, wanted) {
        context::note_operation(name.as_deref(), operation_type);
    }
}

/// Notes the request's complexity: the fields its operation selects, fragments expanded.
pub fn note_complexity(complexity: usize) {
    context::note_complexity(complexity);
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
