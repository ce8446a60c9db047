//! A citizen's (or guardian's) consent, by scope, optionally for one partner, with expiry and revocation.

use crate::enums::{ConsentGiver, ConsentScope};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    #[sea_orm(belongs_to, from = "person_id", to = "id")]
    pub person: HasOne<super::person::Entity>,
    pub scope: ConsentScope,
    /// The only partner this consent covers; `None` covers every partner.
    pub partner_organisation_id: Option<Uuid>,
    pub given_by: ConsentGiver,
    pub given_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// When the server turned this consent's expiry into feed tombstones.
    pub lapse_recorded_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
