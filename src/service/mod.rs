//! The domain core: every write command and the business rules behind it, below every transport. GraphQL
//! mutations, the command line and the background sweeps call the same commands here; nothing here knows
//! GraphQL or HTTP. Every read goes through the one read handle of [`scope`], built from the caller,
//! under the rules of [`policy`].
//!
//! # Layout
//! - [`access`]: which role may run which command, as one table.
//! - [`write`]: the write unit every command runs in (transaction, lock and version, idempotency, audit,
//!   the record of refusals).
//! - [`value`]: validated input values (text limits, control characters, date ranges, NIK, phone).
//! - [`case`], [`person`], [`referral`], [`volunteer`], [`programme`], [`outcome`], [`key`]: the commands
//!   of each domain noun.
//! - [`policy`]: who may see what, as pure rules (a table per kind of row and of personal data).
//! - [`reference`]: reference data read once per process (the regions).
//! - [`scope`]: those rules as SQL per entity, and [`Scoped`](scope::Scoped), the read handle every
//!   read goes through.
//! - [`perturbation`]: the cell key method: record keys, the p-table, perturbed counts.
//! - [`suppression`]: small-cell rules on perturbed counts, and the audit that no published table pins
//!   a small count.
//! - [`statistics`]: the statistics engine: one grouped statement per request over a
//!   [`Fact`](statistics::Fact), empty time buckets filled in, disclosure control over every published
//!   count.
//! - [`budget`]: each key's daily budget of statistics cells, held in the database.
//! - [`tallies`]: case counts pre-aggregated by the database's triggers, exact in every transaction,
//!   which the statistics read instead of a million cases when they can.
//! - [`workflow`]: the lifecycles of cases and referrals.
//! - [`feed`]: each partner's ordered feed of referral changes, and the sweeps that expire referrals
//!   and consents.

pub mod access;
pub mod budget;
pub mod case;
pub mod feed;
pub mod key;
pub mod outcome;
pub mod person;
pub mod perturbation;
pub mod policy;
pub mod programme;
pub mod reference;
pub mod referral;
pub mod scope;
pub mod statistics;
pub mod suppression;
pub mod tallies;
pub mod value;
pub mod volunteer;
pub mod workflow;
pub mod write;
