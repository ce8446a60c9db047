//! An API key: a high-entropy secret held by a caller, stored here only as its SHA-256 hash.

use crate::enums::Role;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The visible start of the key (`psm_` and 8 characters), which identifies it in lists and logs.
    #[sea_orm(unique)]
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub secret_hash: String,
    pub role: Role,
    /// The organisation a PARTNER key speaks for.
    pub organisation_id: Option<Uuid>,
    /// The volunteer a VOLUNTEER key belongs to.
    pub volunteer_id: Option<Uuid>,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
