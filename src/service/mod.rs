//! Business rules that hold whatever the transport: no GraphQL or HTTP types here.
//!
//! # Layout
//! - [`suppression`]: small-cell suppression of published counts.

pub mod suppression;
