//! A social case: a person in one or more PPKS categories, reported by a volunteer or staff.

use crate::enums::{CaseSource, CaseStatus, ClosureReason, Urgency};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Human-readable reference, e.g. `PSM-2025-000123`.
    #[sea_orm(unique)]
    pub reference_number: String,
    pub person_id: Uuid,
    #[sea_orm(belongs_to, from = "person_id", to = "id")]
    pub person: HasOne<super::person::Entity>,
    /// `None` when staff reported the case.
    pub reporting_volunteer_id: Option<Uuid>,
    #[sea_orm(belongs_to, from = "reporting_volunteer_id", to = "id")]
    pub reporting_volunteer: HasOne<super::volunteer::Entity>,
    pub kelurahan_code: String,
    pub urgency: Urgency,
    pub source: CaseSource,
    pub status: CaseStatus,
    pub summary: String,
    pub opened_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
    pub closure_reason: Option<ClosureReason>,
    /// Optimistic-concurrency version, incremented by every update.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Random key in `[0, 2^31)` fixed when the row is written: the statistics perturb each published
    /// count by the sum of its rows' keys (the cell key method). Never served.
    pub record_key: i32,
    #[sea_orm(has_many)]
    pub categories: HasMany<super::case_category::Entity>,
    #[sea_orm(has_many)]
    pub status_changes: HasMany<super::case_status_change::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
