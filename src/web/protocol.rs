//! GraphQL over HTTP (the GraphQL Foundation's draft specification): which media type an answer
//! is sent as, how a request is read from a GET or a POST, and which HTTP status an answer gets.
//!
//! - **Accept.** `application/graphql-response+json` or `application/json`, whichever the client
//!   prefers (its q-values; on a tie the first). A missing `Accept`, `*/*` and `application/*` mean
//!   `application/json`. A client accepting neither gets HTTP 406.
//! - **Requests.** `GET /graphql?query=..&operationName=..&variables=<JSON>&extensions=<JSON>`, or a
//!   `POST` with `Content-Type: application/json` (UTF-8) and a JSON object body. A POST without a
//!   content type, or with another one, is HTTP 415; a body that is not JSON, a batch (a JSON array),
//!   a missing `query` or a parameter of the wrong type is HTTP 400. Every such refusal is a JSON
//!   body with one error and its `extensions.code`.
//! - **Answers.** A request error (the document does not parse or validate, the operation cannot be
//!   chosen, a variable is missing or of the wrong type) has no `data` entry. Sent as
//!   `application/graphql-response+json` it is HTTP 400; sent as `application/json` it is HTTP 200, as
//!   the specification asks for that older media type. An answer with data (even with field errors)
//!   is HTTP 200.
//!
//! What this module does not do: authenticate (see [`crate::app`]), or execute (see
//! [`crate::graphql::execute`]).

use std::collections::HashMap;

use async_graphql::{ServerError, Variables};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::code;

/// The media type of an answer to `/graphql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: HTTP status codes tell request errors apart.
    GraphqlResponse,
    /// `application/json`: the legacy type; request errors are HTTP 200 with `errors` and no `data`.
    Json,
}

impl MediaType {
    /// The `Content-Type` header of an answer in this type (always UTF-8).
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// The media type the client's `Accept` header asks for; HTTP 406 when it accepts neither of ours
/// (that refusal is answered in `application/json`).
pub fn negotiate(headers: &HeaderMap) -> Result<MediaType, Refusal> {
    let values: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|value| value.to_str().ok()).collect();
    if values.is_empty() {
        return Ok(MediaType::Json);
    }
    let mut best: Option<(f32, MediaType)> = None;
    for range in values.iter().flat_map(|value| value.split(',')) {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut quality = 1.0_f32;
        let mut charset_ok = true;
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else { continue };
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => quality = value.trim().parse().unwrap_or(0.0),
                "charset" => charset_ok = value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8"),
                _ => {}
            }
        }
        let media = match essence.as_str() {
            "application/graphql-response+json" => MediaType::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if quality <= 0.0 || !charset_ok {
            continue;
        }
        if best.is_none_or(|(best_quality, _)| quality > best_quality) {
            best = Some((quality, media));
        }
    }
    match best {
        Some((_, media)) => Ok(media),
        None => Err(Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            code::NOT_ACCEPTABLE,
            "this endpoint answers in application/graphql-response+json or application/json; accept one of them",
        )),
    }
}

/// A request refused before it reached GraphQL: an HTTP status and one error with its code.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message)
    }

    /// The answer, in `media`, with the headers its status calls for (`WWW-Authenticate` with 401,
    /// `Allow` with 405).
    pub fn answer(self, media: MediaType) -> Response {
        let mut answer = refusal(media, self.status, self.code, &self.message);
        let headers = answer.headers_mut();
        match self.status {
            StatusCode::UNAUTHORIZED => headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
            StatusCode::METHOD_NOT_ALLOWED => headers.insert(header::ALLOW, HeaderValue::from_static("POST")),
            _ => None,
        };
        answer
    }
}

/// An answer refusing a request: one error with its code, no `data`.
pub fn refusal(media: MediaType, status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response()
}

/// The parameters of a GET request, as they come in the query string.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParameters {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// Reads the GraphQL request out of a GET's query string.
pub fn decode_get(uri: &Uri) -> Result<async_graphql::Request, Refusal> {
    let parameters: GetParameters = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|error| Refusal::bad_request(format!("the query string cannot be read: {error}")))?;
    let json_parameter = |name: &str, text: Option<String>| -> Result<Value, Refusal> {
        match text {
            None => Ok(Value::Null),
            Some(text) => serde_json::from_str(&text)
                .map_err(|error| Refusal::bad_request(format!("`{name}` must be a JSON object, URL-encoded: {error}"))),
        }
    };
    let variables = json_parameter("variables", parameters.variables)?;
    let extensions = json_parameter("extensions", parameters.extensions)?;
    let parameters = Map::from_iter([
        ("query".to_owned(), parameters.query.map_or(Value::Null, Value::String)),
        ("operationName".to_owned(), parameters.operation_name.map_or(Value::Null, Value::String)),
        ("variables".to_owned(), variables),
        ("extensions".to_owned(), extensions),
    ]);
    request_from(parameters)
}

/// Reads the GraphQL request out of a POST: its content type, then its JSON body.
pub fn decode_post(headers: &HeaderMap, body: &[u8]) -> Result<async_graphql::Request, Refusal> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "a POST needs `Content-Type: application/json`",
        ));
    };
    if !is_json_utf8(content_type) {
        let given = String::from_utf8_lossy(content_type.as_bytes());
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            format!("`Content-Type: {given}` is not supported; send the request as application/json (UTF-8)"),
        ));
    }
    if body.is_empty() {
        return Err(Refusal::bad_request("the body is empty; send a JSON object with a `query`"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(parameters)) => request_from(parameters),
        Ok(Value::Array(_)) => {
            Err(Refusal::bad_request("batched requests are not supported; send one operation per request"))
        }
        Ok(_) => Err(Refusal::bad_request("the body must be a JSON object with a `query`")),
        Err(error) => Err(Refusal::bad_request(format!("the body is not valid JSON: {error}"))),
    }
}

/// `application/json`, with no charset or with UTF-8.
fn is_json_utf8(content_type: &HeaderValue) -> bool {
    let Ok(text) = content_type.to_str() else { return false };
    let mut parts = text.split(';').map(str::trim);
    let essence_ok = parts.next().is_some_and(|essence| essence.eq_ignore_ascii_case("application/json"));
    essence_ok
        && parts.all(|parameter| match parameter.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            _ => true,
        })
}

/// Checks the request parameters' types and builds the request. `query` may be absent only when
/// `extensions.persistedQuery` names a stored document (Apollo's automatic persisted queries).
fn request_from(mut parameters: Map<String, Value>) -> Result<async_graphql::Request, Refusal> {
    let bad = Refusal::bad_request;
    let extensions = match parameters.remove("extensions") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(extensions)) => extensions,
        Some(_) => return Err(bad("`extensions` must be a JSON object")),
    };
    let query = match parameters.remove("query") {
        Some(Value::String(query)) => query,
        None | Some(Value::Null) if extensions.contains_key("persistedQuery") => String::new(),
        None | Some(Value::Null) => return Err(bad("the request has no `query`")),
        Some(_) => return Err(bad("`query` must be a string")),
    };
    let operation_name = match parameters.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err(bad("`operationName` must be a string")),
    };
    let variables = match parameters.remove("variables") {
        None | Some(Value::Null) => Variables::default(),
        Some(variables @ Value::Object(_)) => Variables::from_json(variables),
        Some(_) => return Err(bad("`variables` must be a JSON object")),
    };
    let mut request = async_graphql::Request::new(query).variables(variables);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    let extensions: HashMap<String, async_graphql::Value> = extensions
        .into_iter()
        .map(|(name, value)| (name, async_graphql::Value::from_json(value).unwrap_or_default()))
        .collect();
    request.extensions = async_graphql::Extensions(extensions);
    Ok(request)
}

/// Whether `method` may run the request: GET runs queries only, so that a link, a prefetch or an
/// image tag can never change data. Parses the document once (the parse is kept for execution); a
/// document that does not parse is left to the executor, which reports it.
pub fn check_method(method: &Method, request: &mut async_graphql::Request) -> Result<(), Refusal> {
    use async_graphql::parser::types::OperationType;
    if method != Method::GET {
        return Ok(());
    }
    let wanted = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return Ok(()) };
    let writes = document.operations.iter().any(|(name, operation)| {
        let chosen = match (&wanted, name) {
            (Some(wanted), Some(name)) => wanted.as_str() == name.as_str(),
            (Some(_), None) => false,
            (None, _) => true,
        };
        chosen && operation.node.ty != OperationType::Query
    });
    if writes {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            "mutations must be sent with POST",
        ));
    }
    Ok(())
}

/// Whether an answer is a request error: nothing was executed (no `data`), and no error belongs to a
/// field.
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    crate::graphql::request_errors::is_request_error(response)
}

/// An answer's body: `data` (left out for a request error), `errors` and `extensions` (each left out
/// when empty).
#[derive(serde::Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

/// The HTTP status of a request error, by its code.
fn request_error_status(media: MediaType, error: &ServerError) -> StatusCode {
    let code = error.extensions.as_ref().and_then(|extensions| match extensions.get("code") {
        Some(async_graphql::Value::String(code)) => Some(code.as_str()),
        _ => None,
    });
    match code {
        Some(code::INTERNAL) => StatusCode::INTERNAL_SERVER_ERROR,
        Some(code::UNAUTHENTICATED) => StatusCode::UNAUTHORIZED,
        Some(code::RATE_LIMITED | code::THROTTLED) => StatusCode::TOO_MANY_REQUESTS,
        _ if media == MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

/// The HTTP answer for an executed (or refused) GraphQL request, in the negotiated media type, with
/// the headers the execution asked for (`Response::http_headers`).
pub fn encode(media: MediaType, mut response: async_graphql::Response) -> Response {
    let request_error = is_request_error(&response);
    let status = match response.errors.first() {
        Some(first) if request_error => request_error_status(media, first),
        _ => StatusCode::OK,
    };
    // A location is a place in the document; an error that has none (an internal one) shows none.
    for error in &mut response.errors {
        error.locations.retain(|position| position.line > 0 && position.column > 0);
    }
    // Written straight from async-graphql's values, without a serde_json::Value copy of the answer.
    let body = Body {
        // The request never ran: "data" is absent, not null (GraphQL spec, "Response Format").
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    let text = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut answer = (status, [(header::CONTENT_TYPE, media.content_type())], text).into_response();
    answer.headers_mut().extend(response.http_headers);
    answer
}
