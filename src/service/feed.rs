//! Each partner's ordered feed of referral changes, and the sweeps that turn the passing of time into
//! changes (referrals past their deadline expire, through the referral command
//! [`referral::expire`](super::referral::expire); consents past their expiry stop sharing). The
//! referral lifecycle itself is not here.
//!
//! # Why positions never skip a change
//! A feed position is taken by `UPDATE partner_feeds SET last_position = last_position + 1`, which
//! locks the partner's row until the writing transaction ends. A second writer to the same partner's
//! feed waits for that lock, so it takes the next position only after the first has committed (or
//! rolled back, releasing its position). Positions therefore become visible in order, without gaps: a
//! reader that has seen position n has seen every position before it, and a partner polling "after n"
//! misses nothing, however transactions interleave. Writers append as their last step, to hold the lock
//! briefly.

use chrono::{DateTime, Offset, Utc};
use entity::enums::{ChangeKind, ConsentScope, ReferralStatus};
use entity::{case, consent, partner_feed, referral, referral_change};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::access;
use super::write::{Actor, begin_write};
use crate::error::{AppError, AppResult};

/// Most referrals or consents one sweep handles; the rest wait for the next sweep.
const SWEEP_BATCH: u64 = 200;

/// Appends a change to `organisation`'s feed, inside the transaction that makes the change.
pub async fn append(
    txn: &DatabaseTransaction,
    organisation: Uuid,
    referral: Uuid,
    kind: ChangeKind,
    cause: &str,
    at: DateTime<Utc>,
) -> AppResult<i64> {
    partner_feed::Entity::insert(partner_feed::ActiveModel {
        organisation_id: Set(organisation),
        last_position: Set(0),
    })
    .on_conflict(OnConflict::column(partner_feed::Column::OrganisationId).do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    partner_feed::Entity::update_many()
        .col_expr(partner_feed::Column::LastPosition, Expr::col(partner_feed::Column::LastPosition).add(1))
        .filter(partner_feed::Column::OrganisationId.eq(organisation))
        .exec(txn)
        .await?;
    let position = partner_feed::Entity::find_by_id(organisation)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Internal("partner feed row vanished".into()))?
        .last_position;
    referral_change::Entity::insert(referral_change::ActiveModel {
        id: Set(entity::new_id()),
        organisation_id: Set(organisation),
        position: Set(position),
        referral_id: Set(referral),
        kind: Set(kind),
        cause: Set(cause.to_owned()),
        occurred_at: Set(at),
    })
    .exec_without_returning(txn)
    .await?;
    // What the partner holds is what its feed says, in the same transaction: the API's scope for the
    // partner reads this flag.
    referral::Entity::update_many()
        .col_expr(referral::Column::PartnerHolds, Expr::value(kind == ChangeKind::Upsert))
        .filter(referral::Column::Id.eq(referral))
        .exec(txn)
        .await?;
    Ok(position)
}

/// The kind of the latest change of `referral` in its partner's feed, if any.
pub async fn latest_kind(db: &impl ConnectionTrait, referral: Uuid) -> AppResult<Option<ChangeKind>> {
    Ok(referral_change::Entity::find()
        .filter(referral_change::Column::ReferralId.eq(referral))
        .order_by_desc(referral_change::Column::Position)
        .one(db)
        .await?
        .map(|change| change.kind))
}

/// Whether `consents` hold a live consent, at `now`, to share with `organisation`.
pub fn shares(consents: &[consent::Model], organisation: Uuid, now: DateTime<Utc>) -> bool {
    consents.iter().any(|consent| {
        consent.scope == ConsentScope::ShareWithPartners
            && consent.revoked_at.is_none()
            && consent.expires_at.is_none_or(|expires| expires > now)
            && consent.partner_organisation_id.is_none_or(|partner| partner == organisation)
    })
}

/// After `person`'s sharing consent was revoked or lapsed: every partner holding a referral of theirs
/// that no live consent still covers gets a tombstone (once). Referrals STAFF sent without consent (an
/// override) never rested on a consent, hold no personal data, and stay.
pub async fn consent_lost(txn: &DatabaseTransaction, person: Uuid, cause: &str, now: DateTime<Utc>) -> AppResult<()> {
    let consents = consent::Entity::find().filter(consent::Column::PersonId.eq(person)).all(txn).await?;
    for referral in referrals_of(txn, person).await? {
        if referral.consent_override_reason.is_none()
            && !shares(&consents, referral.to_organisation_id, now)
            && latest_kind(txn, referral.id).await? == Some(ChangeKind::Upsert)
        {
            append(txn, referral.to_organisation_id, referral.id, ChangeKind::Tombstone, cause, now).await?;
        }
    }
    Ok(())
}

/// After `person` gave a sharing consent: referrals of theirs that were tombstoned for lack of consent
/// (not withdrawn) come back to the partners the consent covers.
pub async fn consent_gained(txn: &DatabaseTransaction, person: Uuid, now: DateTime<Utc>) -> AppResult<()> {
    let consents = consent::Entity::find().filter(consent::Column::PersonId.eq(person)).all(txn).await?;
    for referral in referrals_of(txn, person).await? {
        if referral.status != ReferralStatus::Withdrawn
            && shares(&consents, referral.to_organisation_id, now)
            && latest_kind(txn, referral.id).await? == Some(ChangeKind::Tombstone)
        {
            append(txn, referral.to_organisation_id, referral.id, ChangeKind::Upsert, "CONSENT_GIVEN", now).await?;
        }
    }
    Ok(())
}

async fn referrals_of(txn: &DatabaseTransaction, person: Uuid) -> AppResult<Vec<referral::Model>> {
    let cases = sea_orm::sea_query::Query::select()
        .column(case::Column::Id)
        .from(case::Entity)
        .and_where(case::Column::PersonId.eq(person))
        .take();
    // In partner order, so that concurrent writers lock partner feeds in the same order (no deadlock).
    Ok(referral::Entity::find()
        .filter(referral::Column::CaseId.in_subquery(cases))
        .order_by_asc(referral::Column::ToOrganisationId)
        .order_by_asc(referral::Column::Id)
        .all(txn)
        .await?)
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub expired_referrals: usize,
    pub lapsed_consents: usize,
}

/// Expires referrals past their response deadline (each as an audited command of the server, actor
/// `system`) and records the lapse of expired sharing consents.
/// Safe to run from several replicas at once: each row is claimed by a conditional update.
pub async fn sweep(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<Swept> {
    let mut swept = Swept::default();
    let due: Vec<Uuid> = referral::Entity::find()
        .select_only()
        .column(referral::Column::Id)
        .filter(referral::Column::Status.eq(ReferralStatus::Sent))
        .filter(referral::Column::RespondBy.lte(now))
        .limit(SWEEP_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    let viewer = access::server_viewer(access::SERVER_LABEL);
    let actor = Actor { db, viewer: &viewer, city_offset: Utc.fix() };
    for id in due {
        // Each expiry is the referral command, in its own write: lifecycle check, event, feed, audit.
        match super::referral::expire(&actor, id, now).await {
            Ok(_) => swept.expired_referrals += 1,
            // Answered, or expired by another replica, since the list was read.
            Err(AppError::Conflict(_) | AppError::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
    }

    let lapsed: Vec<(Uuid, Uuid)> = consent::Entity::find()
        .select_only()
        .column(consent::Column::Id)
        .column(consent::Column::PersonId)
        .filter(consent::Column::Scope.eq(ConsentScope::ShareWithPartners))
        .filter(consent::Column::ExpiresAt.lte(now))
        .filter(consent::Column::LapseRecordedAt.is_null())
        .filter(consent::Column::RevokedAt.is_null())
        .limit(SWEEP_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    if !lapsed.is_empty() {
        let txn = begin_write(db).await?;
        for (id, person) in lapsed {
            let claimed = consent::Entity::update_many()
                .col_expr(consent::Column::LapseRecordedAt, Expr::value(now))
                .filter(consent::Column::Id.eq(id))
                .filter(consent::Column::LapseRecordedAt.is_null())
                .exec(&txn)
                .await?;
            if claimed.rows_affected == 1 {
                consent_lost(&txn, person, "CONSENT_EXPIRED", now).await?;
                swept.lapsed_consents += 1;
            }
        }
        txn.commit().await?;
    }
    Ok(swept)
}

/// Builds every partner's feed from the referrals already in the database (after a bulk load): one
/// change per referral, a tombstone for withdrawn ones, in the order referrals last changed.
pub async fn backfill(db: &DatabaseConnection) -> AppResult<()> {
    let id = match db.get_database_backend() {
        DbBackend::Postgres => "gen_random_uuid()",
        _ => "randomblob(16)",
    };
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO referral_changes (id, organisation_id, position, referral_id, kind, cause, occurred_at) \
         SELECT {id}, to_organisation_id, \
                ROW_NUMBER() OVER (PARTITION BY to_organisation_id ORDER BY updated_at, id), \
                id, CASE WHEN status = 'WITHDRAWN' THEN 'TOMBSTONE' ELSE 'UPSERT' END, status, updated_at \
         FROM referrals"
    ))
    .await?;
    txn.execute_unprepared(
        "INSERT INTO partner_feeds (organisation_id, last_position) \
         SELECT organisation_id, MAX(position) FROM referral_changes GROUP BY organisation_id",
    )
    .await?;
    // Only the rows whose flag changes: after a bulk load, the withdrawn referrals (7 s for all 264,000
    // referrals of a million cases, a fraction of a second for these).
    txn.execute_unprepared(
        "UPDATE referrals SET partner_holds = (status <> 'WITHDRAWN') \
         WHERE partner_holds <> (status <> 'WITHDRAWN')",
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
