//! `referralChanges`: a partner's ordered feed of changes to the referrals addressed to it.

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::enums::{ChangeKind as DbKind, Role};
use entity::{referral, referral_change};
use futures_util::future::try_join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::graphql::guard::{self as policy, require};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::referral::Referral;
use crate::graphql::types::{config, db};
use crate::service::feed;

#[derive(Default)]
pub struct FeedQuery;

#[Object]
impl FeedQuery {
    /// Every change to the referrals addressed to the caller's organisation since `after`, oldest
    /// first (PARTNER keys; STAFF name the organisation). Start without `after`, apply each change in
    /// order (UPSERT: store the referral as given; TOMBSTONE: delete what you hold about it), keep the
    /// returned `cursor`, and ask again with it: following the cursors reconstructs exactly the current
    /// state, and no change is ever skipped, even when the server's writers commit out of order. Personal
    /// data in the referrals follows the person's current consent.
    async fn referral_changes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `cursor` of the previous page; leave out to start from the beginning.")] after: Option<
            String,
        >,
        #[graphql(desc = "Most changes to return (1 to the configured maximum, 1,000 by default).", default = 100)]
        first: i32,
        #[graphql(desc = "STAFF only: whose feed to read. Partners always read their own.")] organisation_id: Option<
            ID,
        >,
    ) -> async_graphql::Result<ReferralChangePage> {
        require(ctx, &[Role::Partner, Role::Staff], "read a partner's referral feed")?;
        let viewer = policy::viewer(ctx)?;
        let organisation = match (viewer.role, organisation_id) {
            (Role::Partner, None) => viewer.organisation_id.unwrap_or(Uuid::nil()),
            (Role::Partner, Some(_)) => {
                return Err(AppError::bad_input("organisationId", "a partner reads its own feed: leave it out").into());
            }
            (_, Some(id)) => ids::decode_uuid(&id, NodeType::Organisation, "organisationId")?,
            (_, None) => {
                return Err(AppError::bad_input("organisationId", "name the organisation whose feed to read").into());
            }
        };
        let max = config(ctx)?.max_feed_page;
        if first < 1 || first as u32 > max {
            return Err(AppError::bad_input("first", format!("`first` must be between 1 and {max}")).into());
        }
        let after = match after.as_deref() {
            Some(cursor) => decode_cursor(cursor)?,
            None => 0,
        };
        let db = db(ctx)?;
        // Overdue referrals and lapsed consents become changes before anyone reads past them.
        match feed::sweep(db, Utc::now()).await {
            Ok(swept) => crate::ops::metrics::swept("feed", &swept),
            Err(error) => {
                crate::ops::metrics::sweep_failed("feed");
                return Err(error.into());
            }
        }
        let rows = referral_change::Entity::find()
            .filter(referral_change::Column::OrganisationId.eq(organisation))
            .filter(referral_change::Column::Position.gt(after))
            .order_by_asc(referral_change::Column::Position)
            .limit(first as u64 + 1)
            .all(db)
            .await
            .map_err(AppError::from)?;
        let has_more = rows.len() > first as usize;
        let rows: Vec<_> = rows.into_iter().take(first as usize).collect();
        let latest = latest_kinds(db, organisation, &rows).await?;
        let cursor = rows.last().map_or(after, |row| row.position);
        let changes = try_join_all(rows.into_iter().map(|row| change(ctx, row, &latest))).await?;
        Ok(ReferralChangePage { changes, cursor: encode_cursor(cursor), has_more })
    }
}

fn encode_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("feed:{position}"))
}

fn decode_cursor(cursor: &str) -> AppResult<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("feed:").and_then(|n| n.parse::<i64>().ok()))
        .filter(|position| *position >= 0)
        .ok_or_else(|| AppError::bad_input("after", "not a cursor of this feed"))
}

/// The latest kind of change of each referral on the page, across the whole feed.
async fn latest_kinds(
    db: &sea_orm::DatabaseConnection,
    organisation: Uuid,
    rows: &[referral_change::Model],
) -> AppResult<HashMap<Uuid, DbKind>> {
    let mut referrals: Vec<Uuid> = rows.iter().map(|row| row.referral_id).collect();
    referrals.sort();
    referrals.dedup();
    let mut latest = HashMap::new();
    for chunk in referrals.chunks(500) {
        let changes: Vec<(Uuid, DbKind)> = referral_change::Entity::find()
            .select_only()
            .column(referral_change::Column::ReferralId)
            .column(referral_change::Column::Kind)
            .filter(referral_change::Column::OrganisationId.eq(organisation))
            .filter(referral_change::Column::ReferralId.is_in(chunk.iter().copied()))
            .order_by_asc(referral_change::Column::Position)
            .into_tuple()
            .all(db)
            .await?;
        latest.extend(changes);
    }
    Ok(latest)
}

async fn change(
    ctx: &Context<'_>,
    row: referral_change::Model,
    latest: &HashMap<Uuid, DbKind>,
) -> AppResult<ReferralChange> {
    // An upsert later followed by a tombstone carries no data: the partner must not hold it any more.
    let live = row.kind == DbKind::Upsert && latest.get(&row.referral_id) == Some(&DbKind::Upsert);
    let referral =
        if live { loaders::row::<referral::Entity>(ctx, row.referral_id).await?.map(Referral::from) } else { None };
    Ok(ReferralChange {
        cursor: encode_cursor(row.position),
        kind: row.kind.into(),
        cause: row.cause,
        occurred_at: row.occurred_at,
        referral_id: ids::encode(NodeType::Referral, row.referral_id),
        referral,
    })
}

/// One page of a partner's referral feed.
#[derive(SimpleObject)]
pub struct ReferralChangePage {
    /// The changes, oldest first.
    pub changes: Vec<ReferralChange>,
    /// Pass as `after` to read on from here (also when the page is empty: it stays where you are).
    pub cursor: String,
    /// Whether more changes are already waiting after this page.
    pub has_more: bool,
}

/// What to do with a referral.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "DbKind")]
pub enum ChangeKind {
    /// Store (or replace) the referral as given.
    Upsert,
    /// Delete everything you hold about this referral: it was withdrawn, or the person's consent to
    /// share with you was revoked or expired.
    Tombstone,
}

/// One change in a partner's referral feed.
#[derive(SimpleObject)]
pub struct ReferralChange {
    /// The position of this change; `after: cursor` reads on from just after it.
    pub cursor: String,
    /// Store or delete.
    pub kind: ChangeKind,
    /// What happened: SENT, ACCEPTED, DECLINED, COMPLETED, WITHDRAWN, EXPIRED, CONSENT_REVOKED,
    /// CONSENT_EXPIRED or CONSENT_GIVEN.
    pub cause: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The referral concerned (also on tombstones, to know what to delete).
    pub referral_id: ID,
    /// The referral as it is now, for an UPSERT that no later tombstone has overtaken; null otherwise.
    pub referral: Option<Referral>,
}
