//! A case enrolled in a programme.

use crate::enums::EnrollmentStatus;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "enrollments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub programme_id: Uuid,
    #[sea_orm(belongs_to, from = "programme_id", to = "id")]
    pub programme: HasOne<super::programme::Entity>,
    pub case_id: Uuid,
    #[sea_orm(belongs_to, from = "case_id", to = "id")]
    pub case: HasOne<super::case::Entity>,
    pub status: EnrollmentStatus,
    pub enrolled_at: DateTimeUtc,
    pub exited_at: Option<DateTimeUtc>,
    pub exit_reason: Option<String>,
    /// Bumped by every change; a write based on an older version is refused.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Random key in `[0, 2^31)` fixed when the row is written: the statistics perturb each published
    /// count by the sum of its rows' keys (the cell key method). Never served.
    pub record_key: i32,
}

impl ActiveModelBehavior for ActiveModel {}
