//! The domain core: every write command and the business rules behind it, below every transport. GraphQL
//! mutations, the command line and the background sweeps call the same commands here; nothing here knows
//! GraphQL or HTTP. Reads (queries, loaders, statistics) are not here yet: they live in `graphql`.
//!
//! # Layout
//! - [`access`]: which role may run which command, as one table.
//! - [`write`]: the write unit every command runs in (transaction, lock and version, idempotency, audit,
//!   the record of refusals).
//! - [`value`]: validated input values (text limits, control characters, date ranges, NIK, phone).
//! - [`case`], [`person`], [`referral`], [`volunteer`], [`programme`], [`outcome`], [`key`]: the commands
//!   of each domain noun.
//! - [`workflow`]: the lifecycles of cases and referrals.
//! - [`feed`]: each partner's ordered feed of referral changes, and the sweeps that expire referrals
//!   and consents.
//! - [`suppression`]: small-cell suppression of published counts.

pub mod access;
pub mod case;
pub mod feed;
pub mod key;
pub mod outcome;
pub mod person;
pub mod programme;
pub mod referral;
pub mod suppression;
pub mod value;
pub mod volunteer;
pub mod workflow;
pub mod write;
