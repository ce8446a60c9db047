//! Business rules that hold whatever the transport: no GraphQL or HTTP types here.
//!
//! # Layout
//! - [`policy`]: who may see what, as pure rules (a table per kind of row and of personal data).
//! - [`scope`]: those rules as SQL per entity, and [`Scoped`](scope::Scoped), the read handle every
//!   read goes through.
//! - [`suppression`]: small-cell suppression of published counts.
//! - [`workflow`]: the lifecycles of cases and referrals.
//! - [`feed`]: each partner's ordered feed of referral changes, and the sweeps that expire referrals
//!   and consents.

pub mod feed;
pub mod policy;
pub mod scope;
pub mod suppression;
pub mod workflow;
