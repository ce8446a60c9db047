//! An organisation taking part in the programme: Dinsos, NGOs, LKS, Puskesmas, kelurahan offices.

use crate::enums::OrganisationKind;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organisations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Short unique code, e.g. `DINSOS-BJM`.
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub kind: OrganisationKind,
    pub kelurahan_code: Option<String>,
    #[sea_orm(belongs_to, from = "kelurahan_code", to = "code")]
    pub kelurahan: HasOne<super::region::Entity>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
