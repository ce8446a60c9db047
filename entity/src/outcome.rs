//! What actually happened for the person, kept apart from case and referral status.

use crate::enums::{OutcomeGroup, OutcomeType};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outcomes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    #[sea_orm(belongs_to, from = "case_id", to = "id")]
    pub case: HasOne<super::case::Entity>,
    pub referral_id: Option<Uuid>,
    pub programme_id: Option<Uuid>,
    pub outcome_type: OutcomeType,
    /// Always `outcome_type.group()`; stored so that dashboards can group and filter on it in SQL.
    pub outcome_group: OutcomeGroup,
    pub recorded_by: String,
    pub recorded_at: DateTimeUtc,
    pub verified: bool,
    pub verified_at: Option<DateTimeUtc>,
    pub note: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Random key in `[0, 2^31)` fixed when the row is written: the statistics perturb each published
    /// count by the sum of its rows' keys (the cell key method). Never served.
    pub record_key: i32,
}

impl ActiveModelBehavior for ActiveModel {}
