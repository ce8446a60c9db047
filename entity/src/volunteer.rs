//! A PSM volunteer (or another PSKS worker). Tenure is derived from `served_since`, never stored.

use crate::enums::{PsksType, Sex, VolunteerStatus};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "volunteers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Personal data.
    pub full_name: String,
    /// Personal data.
    pub phone: Option<String>,
    pub gender: Sex,
    pub birth_year: i32,
    pub psks_type: PsksType,
    pub status: VolunteerStatus,
    pub served_since: Date,
    /// The kelurahan the volunteer lives in.
    pub home_kelurahan_code: String,
    /// The kelurahan the volunteer covers.
    pub kelurahan_code: String,
    /// Bumped by every change; a write based on an older version is refused.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Random key in `[0, 2^31)` fixed when the row is written: the statistics perturb each published
    /// count by the sum of its rows' keys (the cell key method). Never served.
    pub record_key: i32,
    #[sea_orm(has_many)]
    pub training_attendances: HasMany<super::training_attendance::Entity>,
    #[sea_orm(has_many)]
    pub awards: HasMany<super::award::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
