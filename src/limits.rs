//! Limits checked before any work is done for a query: its lexical tokens and bracket nesting (before it
//! is parsed), and, once parsed, its depth, fields, aliases and directives with every fragment expanded.
//!
//! Fragments are expanded by arithmetic, not by copying: each fragment's expanded size is computed once
//! and memoised, so a document of doubly nested fragment spreads whose expansion has 2^50 fields is
//! measured in microseconds and refused. Each refusal is a [`Refusal`] with its own `extensions.code`.
//! The cost of a query (what it may read) is in [`crate::graphql::cost`]; rate limits per key in
//! [`crate::ratelimit`]. Nothing here touches the database.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, ServerError};

use crate::config::LimitConfig;

/// The `extensions.code` of each refusal, for clients to switch on.
pub mod code {
    /// The request body is larger than `--max-body-bytes` (HTTP 413).
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// The document has more lexical tokens than `--max-tokens`.
    pub const TOO_MANY_TOKENS: &str = "TOO_MANY_TOKENS";
    /// The document nests fields deeper than `--max-depth` (or brackets deeper than twice that).
    pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
    /// The operation selects more fields than `--max-complexity` once its fragments are expanded.
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    /// The operation uses more aliases than `--max-aliases`, fragments expanded.
    pub const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";
    /// The operation carries more directives than `--max-directives` in all, or than
    /// `--max-field-directives` on one field or fragment.
    pub const TOO_MANY_DIRECTIVES: &str = "TOO_MANY_DIRECTIVES";
    /// The query would cost more points than `--max-query-cost`.
    pub const MAX_COST_EXCEEDED: &str = "MAX_COST_EXCEEDED";
    /// A statistics field would return more groups than `--max-stats-groups`.
    pub const TOO_MANY_GROUPS: &str = "TOO_MANY_GROUPS";
    /// The answer is larger than `--max-response-bytes`; its data is withheld.
    pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";
    /// The key's budget holds fewer points than the query costs (HTTP 429, `Retry-After`).
    pub const THROTTLED: &str = "THROTTLED";
    /// A persisted-query hash the server does not know: send the query with it once.
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// A persisted query whose text does not have the SHA-256 hash sent with it.
    pub const PERSISTED_QUERY_HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
    /// A fragment that spreads itself, directly or through others.
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
}

/// A request refused before work: a code, a message for the developer, and the limit with the value
/// found (when there are numbers to give).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub limit: Option<u64>,
    pub value: Option<u64>,
}

impl Refusal {
    /// A refusal for a value over a limit.
    pub fn over(code: &'static str, what: &str, value: u64, limit: u64, hint: &str) -> Refusal {
        Refusal {
            code,
            message: format!("{what}: {value}, more than the limit of {limit}{hint}"),
            limit: Some(limit),
            value: Some(value),
        }
    }

    /// A refusal without numbers.
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { code, message: message.into(), limit: None, value: None }
    }

    /// The GraphQL error clients see: `extensions.code`, and `limit` and `value` where known.
    /// Every refusal is counted in the metrics by its code.
    pub fn into_server_error(self) -> ServerError {
        crate::ops::metrics::refused(self.code);
        let mut error = ServerError::new(self.message, None);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", self.code);
        if let Some(limit) = self.limit {
            extensions.set("limit", limit);
        }
        if let Some(value) = self.value {
            extensions.set("value", value);
        }
        error.extensions = Some(extensions);
        error
    }
}

/// How far brackets may nest: twice the field depth, plus room for arguments' input objects and lists.
fn max_brackets(max_depth: usize) -> usize {
    max_depth.saturating_mul(2).saturating_add(8)
}

/// Counts the lexical tokens of a GraphQL document (as the GraphQL lexer would: names, numbers,
/// strings, punctuators; whitespace, commas and comments are not tokens) and refuses it as soon as it
/// has more than `max_tokens`, or brackets nested deeper than the parser should ever be asked to
/// recurse. Linear, allocation-free, and stops at the first excess.
pub fn check_tokens(query: &str, max_tokens: usize, max_depth: usize) -> Result<usize, Refusal> {
    let bytes = query.as_bytes();
    let max_nesting = max_brackets(max_depth);
    let (mut tokens, mut nesting, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'{' | b'(' | b'[' => {
                nesting += 1;
                if nesting > max_nesting {
                    return Err(Refusal::over(
                        code::QUERY_TOO_DEEP,
                        "brackets nested",
                        nesting as u64,
                        max_nesting as u64,
                        " (twice --max-depth, plus 8)",
                    ));
                }
                i += 1;
            }
            b'}' | b')' | b']' => {
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'+' | b'-')) {
                    i += 1;
                }
            }
            // Punctuators and anything the parser will reject: one token each (UTF-8 continuation
            // bytes are skipped so a non-ASCII character counts once).
            _ => {
                i += 1;
                while i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
                    i += 1;
                }
            }
        }
        tokens += 1;
        if tokens > max_tokens {
            return Err(Refusal::over(
                code::TOO_MANY_TOKENS,
                "the document has more tokens",
                tokens as u64,
                max_tokens as u64,
                "",
            ));
        }
    }
    Ok(tokens)
}

/// What an operation adds up to with its fragments expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Fields selected (what async-graphql's complexity counts).
    pub fields: u64,
    pub aliases: u64,
    pub directives: u64,
    /// Deepest field nesting (a root field is depth 1).
    pub depth: u64,
    /// Most directives on any one field, spread or inline fragment.
    pub field_directives: u64,
}

impl Shape {
    fn add(&mut self, other: Shape) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.directives = self.directives.saturating_add(other.directives);
        self.depth = self.depth.max(other.depth);
        self.field_directives = self.field_directives.max(other.field_directives);
    }
}

/// Measures a parsed document: each fragment is measured once (memoised), and a spread adds its
/// fragment's measure, so the work is linear in the document's length whatever its expansion.
struct Measure<'a> {
    document: &'a ExecutableDocument,
    done: HashMap<&'a str, Shape>,
    open: HashSet<&'a str>,
}

impl<'a> Measure<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Shape, Refusal> {
        let mut shape = Shape::default();
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let children = self.selection_set(&field.selection_set.node)?;
                    let directives = field.directives.len() as u64;
                    shape.add(Shape {
                        fields: children.fields.saturating_add(1),
                        aliases: children.aliases.saturating_add(u64::from(field.alias.is_some())),
                        directives: children.directives.saturating_add(directives),
                        depth: children.depth.saturating_add(1),
                        field_directives: children.field_directives.max(directives),
                    });
                }
                Selection::FragmentSpread(spread) => {
                    let directives = spread.node.directives.len() as u64;
                    shape.add(Shape { directives, field_directives: directives, ..Shape::default() });
                    shape.add(self.fragment(&spread.node.fragment_name.node)?);
                }
                Selection::InlineFragment(inline) => {
                    let directives = inline.node.directives.len() as u64;
                    shape.add(Shape { directives, field_directives: directives, ..Shape::default() });
                    shape.add(self.selection_set(&inline.node.selection_set.node)?);
                }
            }
        }
        Ok(shape)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<Shape, Refusal> {
        if let Some(shape) = self.done.get(name.as_str()) {
            return Ok(*shape);
        }
        // An unknown fragment is left to validation, which names it.
        let Some((key, fragment)) = self.document.fragments.get_key_value(name) else { return Ok(Shape::default()) };
        if !self.open.insert(key.as_str()) {
            return Err(Refusal::new(code::GRAPHQL_VALIDATION_FAILED, format!("fragment `{name}` spreads itself")));
        }
        let mut shape = self.selection_set(&fragment.node.selection_set.node)?;
        let directives = fragment.node.directives.len() as u64;
        shape.add(Shape { directives, field_directives: directives, ..Shape::default() });
        self.open.remove(key.as_str());
        self.done.insert(key.as_str(), shape);
        Ok(shape)
    }
}

/// The operations a request may run: the named one, or every one when no name picks one (a document
/// with several operations and no name fails later anyway).
pub fn chosen_operations<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Vec<&'a OperationDefinition> {
    match &document.operations {
        DocumentOperations::Single(operation) => vec![&operation.node],
        DocumentOperations::Multiple(operations) => match operation_name {
            Some(name) => operations.get(name).map(|operation| vec![&operation.node]).unwrap_or_default(),
            None => operations.values().map(|operation| &operation.node).collect(),
        },
    }
}

/// Measures the operation(s) a request runs, fragments expanded.
pub fn measure(document: &ExecutableDocument, operation_name: Option<&str>) -> Result<Shape, Refusal> {
    let mut measure = Measure { document, done: HashMap::new(), open: HashSet::new() };
    let mut total = Shape::default();
    for operation in chosen_operations(document, operation_name) {
        let mut shape = measure.selection_set(&operation.selection_set.node)?;
        let directives = operation.directives.len() as u64;
        shape.add(Shape { directives, field_directives: directives, ..Shape::default() });
        // Operations are alternatives: the largest one counts.
        total.fields = total.fields.max(shape.fields);
        total.aliases = total.aliases.max(shape.aliases);
        total.directives = total.directives.max(shape.directives);
        total.depth = total.depth.max(shape.depth);
        total.field_directives = total.field_directives.max(shape.field_directives);
    }
    Ok(total)
}

/// Refuses a document whose expanded shape exceeds a limit: depth, fields (`max_fields`, the
/// configured complexity), aliases, directives.
pub fn check_shape(shape: &Shape, limits: &LimitConfig, max_depth: usize, max_fields: usize) -> Result<(), Refusal> {
    let checks: [(u64, usize, &'static str, &str, &str); 5] = [
        (shape.depth, max_depth, code::QUERY_TOO_DEEP, "fields nested", " (--max-depth)"),
        (
            shape.fields,
            max_fields,
            code::QUERY_TOO_COMPLEX,
            "fields selected once fragments are expanded",
            " (--max-complexity)",
        ),
        (shape.aliases, limits.max_aliases, code::TOO_MANY_ALIASES, "aliases", " (--max-aliases)"),
        (shape.directives, limits.max_directives, code::TOO_MANY_DIRECTIVES, "directives", " (--max-directives)"),
        (
            shape.field_directives,
            limits.max_field_directives,
            code::TOO_MANY_DIRECTIVES,
            "directives on one field or fragment",
            " (--max-field-directives)",
        ),
    ];
    for (value, limit, code, what, hint) in checks {
        if value > limit as u64 {
            return Err(Refusal::over(code, what, value, limit as u64, hint));
        }
    }
    Ok(())
}
