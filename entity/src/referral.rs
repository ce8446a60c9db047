//! A case sent from one organisation to another.

use crate::enums::{ReferralReason, ReferralStatus};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referrals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    #[sea_orm(belongs_to, from = "case_id", to = "id")]
    pub case: HasOne<super::case::Entity>,
    pub from_organisation_id: Uuid,
    pub to_organisation_id: Uuid,
    pub status: ReferralStatus,
    pub reason: Option<ReferralReason>,
    pub note: Option<String>,
    pub sent_at: DateTimeUtc,
    /// The receiving organisation must answer by then, or the referral expires.
    pub respond_by: DateTimeUtc,
    pub responded_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub version: i32,
    /// Why STAFF sent it without the person's consent to share with this partner; `None` when the
    /// consent allowed it. Such a referral stays in the partner's feed when a consent lapses (it never
    /// rested on one), and carries no personal data.
    pub consent_override_reason: Option<String>,
    /// Whether the receiving partner holds the referral: its feed's last entry about it is an `UPSERT`
    /// (kept by the feed, in the transaction that appends). A partner sees only what it holds.
    pub partner_holds: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Random key in `[0, 2^31)` fixed when the row is written: the statistics perturb each published
    /// count by the sum of its rows' keys (the cell key method). Never served.
    pub record_key: i32,
    #[sea_orm(has_many)]
    pub events: HasMany<super::referral_event::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
