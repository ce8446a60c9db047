//! Root fields for referrals.

use entity::referral;

use crate::graphql::types::referral::{Referral, ReferralConnection, ReferralFilter, ReferralOrder};

root_fields!(
    ReferralQuery, referral::Entity => Referral, Referral,
    ReferralFilter, ReferralOrder, ReferralConnection,
    list: referrals, "Referrals, newest sent first unless `orderBy` says otherwise.",
    one: referral, "A referral by global id.", "no referral has this id",
    join: "case" => entity::case::Entity, referral::Column::CaseId, Referral::with_case,
);
