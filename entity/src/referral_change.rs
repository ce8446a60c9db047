//! One entry of a partner's referral feed: a referral to (re)load, or a tombstone telling the partner
//! to delete what it holds about a referral.

use crate::enums::ChangeKind;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referral_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The partner whose feed this entry is in.
    pub organisation_id: Uuid,
    /// Position in that feed: 1, 2, 3, ... without gaps, visible in order.
    pub position: i64,
    pub referral_id: Uuid,
    pub kind: ChangeKind,
    /// What caused the change (`SENT`, `ACCEPTED`, `CONSENT_REVOKED`, ...).
    pub cause: String,
    pub occurred_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
