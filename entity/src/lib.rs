//! SeaORM 2.0 entities of psm-api: the PSM data model, with no GraphQL or HTTP dependency.
//!
//! # Layout
//! - [`enums`]: the domain's enumerations (PPKS categories, statuses, reasons, kinds).
//! - [`region`]: the Kemendagri hierarchy (province > city > kecamatan > kelurahan), reference data.
//! - [`organisation`]: Dinsos, NGOs, LKS, Puskesmas and other partners.
//! - [`volunteer`], [`training_attendance`], [`award`]: PSM volunteers, their Bimtek attendance, awards.
//! - [`person`], [`consent`]: the citizens cases are about, and what they consented to.
//! - [`case`], [`case_category`], [`case_status_change`]: social cases, their PPKS categories and the
//!   append-only history of their status.
//! - [`programme`], [`programme_category`], [`enrollment`]: programmes and the cases enrolled in them.
//! - [`referral`], [`referral_event`]: cases sent to partner organisations, with an append-only log.
//! - [`outcome`]: what actually happened for the person, apart from any status.
//! - [`api_key`], [`audit_event`], [`idempotency_key`]: who calls, what they did, retried writes.
//! - [`partner_feed`], [`referral_change`]: each partner's ordered feed of referral changes.
//!
//! Every id is a UUID v7 (time-ordered, not guessable), every instant is UTC.

pub mod enums;

pub mod api_key;
pub mod audit_event;
pub mod award;
pub mod case;
pub mod case_category;
pub mod case_status_change;
pub mod consent;
pub mod enrollment;
pub mod idempotency_key;
pub mod organisation;
pub mod outcome;
pub mod partner_feed;
pub mod person;
pub mod programme;
pub mod programme_category;
pub mod referral;
pub mod referral_change;
pub mod referral_event;
pub mod region;
pub mod training_attendance;
pub mod volunteer;

/// A new time-ordered, unguessable id.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
