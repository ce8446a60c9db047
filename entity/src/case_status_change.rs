//! One entry of a case's append-only status history.

use crate::enums::CaseStatus;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_status_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    #[sea_orm(belongs_to, from = "case_id", to = "id")]
    pub case: HasOne<super::case::Entity>,
    /// `None` for the entry that opened the case.
    pub from_status: Option<CaseStatus>,
    pub to_status: CaseStatus,
    pub changed_at: DateTimeUtc,
    /// Who made the change (a volunteer, a staff member or the system).
    pub changed_by: String,
    pub note: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
