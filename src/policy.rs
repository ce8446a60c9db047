//! Where the access rules live, for code written before they moved: the pure rules are in
//! [`service::policy`](crate::service::policy), row scopes in [`service::scope`](crate::service::scope)
//! and their application to GraphQL fields in [`graphql::guard`](crate::graphql::guard).

pub use crate::graphql::guard::{require, viewer};
pub use crate::service::scope::{Guarded, scope};
