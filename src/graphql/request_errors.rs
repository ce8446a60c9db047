//! Errors raised before execution, each with the code a client can switch on: the document does not
//! parse (`GRAPHQL_PARSE_FAILED`), does not validate (`GRAPHQL_VALIDATION_FAILED`), names no operation
//! it can run (`OPERATION_RESOLUTION_FAILURE`), lacks a required variable or has a value of the wrong
//! type (`BAD_USER_INPUT`), or names a persisted query this server does not hold
//! (`PERSISTED_QUERY_NOT_FOUND`). These are request errors: the answer has no `data`, and the HTTP
//! layer ([`crate::web::protocol`]) gives them status 400 for `application/graphql-response+json`.
//!
//! Refusals by limits (depth, complexity, cost) carry their own codes and are not classified here.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};
use async_graphql::{Request, ServerError, ServerResult, Variables};

use crate::error::code;

/// Messages of async-graphql's own limit checks, which are not validation failures of the query.
const LIMIT_MESSAGES: &[&str] = &["Query is too complex.", "Query is nested too deep."];

/// Checks a prepared request: parses the document (async-graphql keeps the parse and does not parse
/// again), chooses the operation and checks its variables, so that each failure gets its own code. Run
/// by [`super::admission`] once the request is admitted.
pub(crate) fn check(mut request: Request) -> ServerResult<Request> {
    if request.query.is_empty() && request.extensions.0.contains_key("persistedQuery") {
        // Apollo's clients match this message as well as the code, then send the query in full.
        return Err(coded(ServerError::new("PersistedQueryNotFound", None), code::PERSISTED_QUERY_NOT_FOUND));
    }
    let operation_name = request.operation_name.clone();
    let variables = request.variables.clone();
    let document = request.parsed_query().map_err(|error| coded(error, code::GRAPHQL_PARSE_FAILED))?;
    let operation = choose_operation(document, operation_name.as_deref())?;
    check_variables(operation, &variables)?;
    Ok(request)
}

/// Codes the validation errors: a value of the wrong type is `BAD_USER_INPUT` (whether it came in a
/// variable or in the document), anything else `GRAPHQL_VALIDATION_FAILED`.
pub(crate) fn code_validation(errors: Vec<ServerError>) -> Vec<ServerError> {
    errors
        .into_iter()
        .map(|error| {
            if has_code(&error) || LIMIT_MESSAGES.contains(&error.message.as_str()) {
                error
            } else if error.message.starts_with("Invalid value for argument") {
                coded(error, code::BAD_USER_INPUT)
            } else {
                coded(error, code::GRAPHQL_VALIDATION_FAILED)
            }
        })
        .collect()
}

/// Whether `response` answers a request that never ran: no data, and errors without a path (every error
/// of an execution has one). Such errors are request errors (parse, validation, operation, variables).
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

fn has_code(error: &ServerError) -> bool {
    error.extensions.as_ref().is_some_and(|extensions| extensions.get("code").is_some())
}

fn coded(mut error: ServerError, code: &str) -> ServerError {
    error.extensions.get_or_insert_with(Default::default).set("code", code);
    error
}

/// The operation the request runs, as the GraphQL spec's GetOperation chooses it.
fn choose_operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> ServerResult<&'a OperationDefinition> {
    let failure = |message: String| coded(ServerError::new(message, None), code::OPERATION_RESOLUTION_FAILURE);
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => Ok(&operation.node),
        (DocumentOperations::Single(_), Some(name)) => {
            Err(failure(format!("the document has no operation named `{name}` (its one operation has no name)")))
        }
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get(name)
            .map(|operation| &operation.node)
            .ok_or_else(|| failure(format!("the document has no operation named `{name}`"))),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|operation| &operation.node).ok_or_else(|| failure(String::new()))
        }
        (DocumentOperations::Multiple(_), None) => {
            Err(failure("the document has several operations: name the one to run in `operationName`".into()))
        }
    }
}

/// Each variable the operation declares as non-null must have a value (given, or its default).
/// Values of the wrong type are found by validation, which checks them where they are used.
fn check_variables(operation: &OperationDefinition, variables: &Variables) -> ServerResult<()> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = definition.name.node.as_str();
        let ty = &definition.var_type.node;
        let given = variables.get(&definition.name.node);
        let missing = match given {
            None => definition.default_value.is_none(),
            Some(async_graphql::Value::Null) => true,
            Some(_) => false,
        };
        if !ty.nullable && missing {
            let message = match given {
                None => format!("variable `${name}` of type `{ty}` was not given a value"),
                Some(_) => format!("variable `${name}` of type `{ty}` must not be null"),
            };
            let position = definition.name.pos;
            return Err(coded(ServerError::new(message, Some(position)), code::BAD_USER_INPUT));
        }
    }
    Ok(())
}
