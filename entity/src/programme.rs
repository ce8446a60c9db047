//! A programme (house rehabilitation, elderly accompaniment, DTSEN proposals, ...).

use crate::enums::ProgrammeKind;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "programmes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub kind: ProgrammeKind,
    pub description: String,
    pub owner_organisation_id: Uuid,
    #[sea_orm(belongs_to, from = "owner_organisation_id", to = "id")]
    pub owner_organisation: HasOne<super::organisation::Entity>,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    /// How many people the programme aims to reach.
    pub target: i32,
    /// Budget in whole rupiah (IDR).
    pub budget_idr: i64,
    /// Bumped by every change; a write based on an older version is refused.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(has_many)]
    pub eligible_categories: HasMany<super::programme_category::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
