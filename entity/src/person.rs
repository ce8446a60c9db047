//! The citizen a case is about. Names, NIK, phone, address and exact birth date are personal data.

use crate::enums::Sex;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "persons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub full_name: String,
    /// The 16-digit national id (NIK), kept for duplicate matching; never shown in full to partners.
    pub nik: Option<String>,
    pub birth_date: Date,
    pub sex: Sex,
    /// Free-text description of a disability, when the person has one.
    pub disability: Option<String>,
    pub address: String,
    pub phone: Option<String>,
    pub kelurahan_code: String,
    /// Set when a non-STAFF caller registered a NIK already on record: the person registered first, for
    /// STAFF to resolve. Flagged persons do not count for NIK uniqueness.
    pub possible_duplicate_of: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(has_many)]
    pub consents: HasMany<super::consent::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
