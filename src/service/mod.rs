//! Business rules that hold whatever the transport: no GraphQL or HTTP types here.
//!
//! # Layout
//! - [`suppression`]: small-cell suppression of published counts.
//! - [`workflow`]: the lifecycles of cases and referrals.
//! - [`feed`]: each partner's ordered feed of referral changes, and the sweeps that expire referrals
//!   and consents.

pub mod feed;
pub mod suppression;
pub mod workflow;
