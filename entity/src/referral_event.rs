//! One entry of a referral's append-only event log.

use crate::enums::{ReferralReason, ReferralStatus};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referral_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub referral_id: Uuid,
    #[sea_orm(belongs_to, from = "referral_id", to = "id")]
    pub referral: HasOne<super::referral::Entity>,
    /// `None` for the event that sent the referral.
    pub from_status: Option<ReferralStatus>,
    pub to_status: ReferralStatus,
    pub reason: Option<ReferralReason>,
    pub actor: String,
    pub occurred_at: DateTimeUtc,
    pub note: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
