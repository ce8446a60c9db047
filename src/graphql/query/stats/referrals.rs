//! Referral statistics: the referral fact, and referrals as they stood at a past instant (from their events).

use super::*;

/// The referrals as they stood at `instant`, from their event log: those sent by then, with the status and
/// reason of their last event up to then, and the instants of their first answer and of their completion
/// up to then. Other fields are today's.
///
/// The events are read in two joined derived tables (the last event of each referral by a window
/// function, the answer and completion instants by grouping) rather than in correlated subqueries:
/// PostgreSQL would run such a subquery again for every reference to its column, and the counts refer to
/// the status many times (3.4 s against 0.4 s on the 100,000-case demo set).
pub(super) fn referrals_as_of(instant: DateTime<Utc>) -> SelectStatement {
    let (r, last, answers) = (Alias::new("r"), Alias::new("last_event"), Alias::new("answers"));
    let events = |select: &mut SelectStatement| {
        select
            .from(referral_event::Entity)
            .and_where(Expr::col((referral_event::Entity, referral_event::Column::OccurredAt)).lte(instant));
    };
    let mut latest = Query::select();
    latest
        .column(referral_event::Column::ReferralId)
        .column(referral_event::Column::ToStatus)
        .column(referral_event::Column::Reason)
        .expr_as(newest_first("referral_events", "referral_id", "occurred_at"), "position");
    events(&mut latest);
    let first = |statuses: &str| {
        Expr::cust(format!(
            "MIN(CASE WHEN \"referral_events\".\"to_status\" IN ({statuses}) THEN \"referral_events\".\"occurred_at\" END)"
        ))
    };
    let mut answered = Query::select();
    answered
        .column(referral_event::Column::ReferralId)
        .expr_as(first("'ACCEPTED', 'DECLINED'"), referral::Column::RespondedAt)
        .expr_as(first("'COMPLETED'"), referral::Column::CompletedAt)
        .group_by_col(referral_event::Column::ReferralId);
    events(&mut answered);

    let mut select = Query::select();
    select.from_as(referral::Entity, r.clone());
    for column in referral::Column::iter() {
        match column {
            // A referral sent by then without an event by then (a gap in the log) stands as sent.
            referral::Column::Status => {
                let status = Expr::col((last.clone(), referral_event::Column::ToStatus));
                select.expr_as(Func::coalesce([status, Expr::val("SENT")]), column);
            }
            referral::Column::Reason => {
                select.expr_as(Expr::col((last.clone(), referral_event::Column::Reason)), column);
            }
            referral::Column::RespondedAt | referral::Column::CompletedAt => {
                select.expr_as(Expr::col((answers.clone(), column)), column);
            }
            _ => {
                select.column((r.clone(), column));
            }
        }
    }
    select
        .join_subquery(
            JoinType::LeftJoin,
            latest,
            last.clone(),
            Condition::all()
                .add(
                    Expr::col((last.clone(), referral_event::Column::ReferralId))
                        .equals((r.clone(), referral::Column::Id)),
                )
                .add(Expr::col((last, "position")).eq(1)),
        )
        .join_subquery(
            JoinType::LeftJoin,
            answered,
            answers.clone(),
            Expr::col((answers, referral_event::Column::ReferralId)).equals((r.clone(), referral::Column::Id)),
        )
        .and_where(Expr::col((r, referral::Column::SentAt)).lte(instant));
    select
}

/// Referrals, optionally as they stood at a past instant.
pub(super) struct ReferralFact {
    pub(super) as_of: Option<DateTime<Utc>>,
    /// Whether the median response and completion times are wanted.
    pub(super) durations: bool,
    /// Whether the referral tally answers instead of the referrals (see [`referral_tally`]).
    pub(super) tally: bool,
}

/// Whether the referral tally (and, for medians, the referral durations) answers a referral statistics
/// request exactly: figures of today (no period) or as they stood at a city midnight (from the status
/// history, without medians), a caller who counts every referral, grouped and filtered by the
/// organisations and the status only; medians only over every referral, by receiving organisation or
/// not at all. Anything else counts the referrals.
pub(super) fn referral_tally(
    settings: &Settings,
    counting: &Scoped,
    filter: &ReferralFilter,
    group_by: &[ReferralDimension],
    period: Option<&StatsPeriod>,
    as_of: Option<DateTime<Utc>>,
    durations: bool,
) -> bool {
    if !settings.tallies || period.is_some() || !counting.counts_all::<referral::Entity>() {
        return false;
    }
    // As they stood at a city midnight, from the status history (which holds no durations).
    if as_of.is_some_and(|instant| durations || !disclosure::whole_day(instant, settings.offset)) {
        return false;
    }
    // Every field named: a new filter field must be decided on here before it compiles.
    let ReferralFilter {
        status: _,
        from_organisation_ids: _,
        to_organisation_ids: _,
        reason,
        sent,
        updated_since,
        district_codes,
        kelurahan_codes,
        case_id,
    } = filter;
    if durations {
        // The durations hold every answered and every completed referral, by receiving organisation.
        let everything = filter == &ReferralFilter::default();
        return everything && matches!(group_by, [] | [ReferralDimension::ReceivingOrganisation]);
    }
    let unfiltered = reason.is_none()
        && sent.is_none()
        && updated_since.is_none()
        && district_codes.is_none()
        && kelurahan_codes.is_none()
        && case_id.is_none();
    unfiltered
        && group_by.iter().all(|dimension| match dimension {
            ReferralDimension::ReceivingOrganisation
            | ReferralDimension::SendingOrganisation
            | ReferralDimension::Status => true,
            ReferralDimension::Reason
            | ReferralDimension::District
            | ReferralDimension::Kelurahan
            | ReferralDimension::SentDay
            | ReferralDimension::SentWeek
            | ReferralDimension::SentMonth
            | ReferralDimension::SentQuarter
            | ReferralDimension::SentYear => false,
        })
}

impl Fact for ReferralFact {
    type Dimension = ReferralDimension;

    /// The tally is read under the name `referrals`, its columns named as the referrals' own, so that
    /// filters and dimensions apply to it unchanged.
    fn source(&self, select: &mut SelectStatement) {
        match (self.tally, self.as_of) {
            (true, Some(instant)) => select.from_subquery(tallies::referral_history_as_of(instant), referral::Entity),
            (true, None) => select.from_as(Alias::new(tallies::REFERRALS), referral::Entity),
            (false, Some(instant)) => select.from_subquery(referrals_as_of(instant), referral::Entity),
            (false, None) => select.from(referral::Entity),
        };
    }

    fn time_column(&self) -> &'static str {
        "\"referrals\".\"sent_at\""
    }

    fn bucket(&self, dimension: ReferralDimension) -> Option<Bucket> {
        match dimension {
            ReferralDimension::SentDay => Some(Bucket::Day),
            ReferralDimension::SentWeek => Some(Bucket::Week),
            ReferralDimension::SentMonth => Some(Bucket::Month),
            ReferralDimension::SentQuarter => Some(Bucket::Quarter),
            ReferralDimension::SentYear => Some(Bucket::Year),
            _ => None,
        }
    }

    fn dimension(&self, dimension: ReferralDimension, backend: DatabaseBackend) -> Expr {
        match dimension {
            ReferralDimension::ReceivingOrganisation => uuid_text(backend, "\"referrals\".\"to_organisation_id\""),
            ReferralDimension::SendingOrganisation => uuid_text(backend, "\"referrals\".\"from_organisation_id\""),
            ReferralDimension::Status => Expr::col((referral::Entity, referral::Column::Status)),
            ReferralDimension::Reason => Expr::col((referral::Entity, referral::Column::Reason)),
            ReferralDimension::District => Expr::cust("substr(\"cases\".\"kelurahan_code\", 1, 8)"),
            ReferralDimension::Kelurahan => Expr::col((case::Entity, case::Column::KelurahanCode)),
            // Time dimensions are the engine's; this arm is never asked for.
            _ => Expr::cust("NULL"),
        }
    }

    fn additive(&self, _: ReferralDimension) -> bool {
        true
    }

    fn join(&self, dimensions: &[ReferralDimension], select: &mut SelectStatement) {
        if dimensions.iter().any(|d| matches!(d, ReferralDimension::District | ReferralDimension::Kelurahan)) {
            select.join(
                JoinType::InnerJoin,
                case::Entity,
                Expr::col((case::Entity, case::Column::Id)).equals((referral::Entity, referral::Column::CaseId)),
            );
        }
    }

    fn record_key(&self) -> &'static str {
        "\"referrals\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        let when = |condition: String| match self.tally {
            true => tallied_as("referrals", Some(&condition)),
            false => Count::When(condition),
        };
        let status = |value: &str| when(format!("\"referrals\".\"status\" = '{value}'"));
        let responded = match self.tally {
            true => "\"referrals\".\"responded\" = 1",
            false => "\"referrals\".\"responded_at\" IS NOT NULL",
        };
        vec![
            ("n", if self.tally { tallied_as("referrals", None) } else { Count::All }),
            ("pending", status("SENT")),
            ("accepted", status("ACCEPTED")),
            ("declined", status("DECLINED")),
            ("completed", status("COMPLETED")),
            ("withdrawn", status("WITHDRAWN")),
            ("expired", status("EXPIRED")),
            ("responded", when(responded.into())),
        ]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        vec![(0, vec![1, 2, 3, 4, 5, 6])]
    }

    fn durations(&self, backend: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        if !self.durations {
            return Vec::new();
        }
        let hours = |to: &str| format!("({} * 24.0)", days_between(backend, "\"referrals\".\"sent_at\"", to));
        vec![
            (
                "median_hours_to_respond",
                percentile(
                    backend,
                    &hours("\"referrals\".\"responded_at\""),
                    "\"referrals\".\"responded_at\" IS NOT NULL",
                    0.5,
                ),
                7,
            ),
            (
                "median_hours_to_complete",
                percentile(
                    backend,
                    &hours("\"referrals\".\"completed_at\""),
                    "\"referrals\".\"status\" = 'COMPLETED'",
                    0.5,
                ),
                4,
            ),
        ]
    }

    /// Read from the tally, the hours come from the referral durations, in order: the same values, by rank.
    fn ranked(&self) -> Option<Ranked> {
        (self.tally && self.durations).then(|| Ranked {
            table: tallies::REFERRAL_DURATIONS,
            group: "grp",
            value: "hours",
            total: tallies::EVERY_CLOSURE,
            fractions: vec![0.5, 0.5],
            prefixes: vec![tallies::RESPONDED, tallies::COMPLETED],
        })
    }
}

pub(super) fn referral_group(group: PublishedGroup, key: ReferralStatsKey) -> ReferralStatsGroup {
    let cells = &group.cells;
    ReferralStatsGroup {
        key,
        sent: cells[0].into(),
        pending: cells[1].into(),
        accepted: cells[2].into(),
        declined: cells[3].into(),
        completed: cells[4].into(),
        withdrawn: cells[5].into(),
        expired: cells[6].into(),
        responded: cells[7].into(),
        acceptance_rate: group.share(&[2, 4], &[2, 3, 4]),
        median_hours_to_respond: group.duration(0),
        median_hours_to_complete: group.duration(1),
    }
}

pub(super) async fn referral_key(
    ctx: &Context<'_>,
    dimensions: &[ReferralDimension],
    group: &PublishedGroup,
) -> AppResult<ReferralStatsKey> {
    use entity::enums as db;
    let mut key = ReferralStatsKey::default();
    for (dimension, value) in dimensions.iter().zip([&group.key.0, &group.key.1]) {
        let Some(value) = value.clone() else { continue };
        let unknown = || AppError::Internal(format!("unexpected {dimension:?} value {value}"));
        match dimension {
            ReferralDimension::ReceivingOrganisation => key.receiving_organisation = organisation(ctx, &value).await?,
            ReferralDimension::SendingOrganisation => key.sending_organisation = organisation(ctx, &value).await?,
            ReferralDimension::Status => {
                key.status = Some(db::ReferralStatus::parse(&value).ok_or_else(unknown)?.into())
            }
            ReferralDimension::Reason => {
                key.reason = Some(db::ReferralReason::parse(&value).ok_or_else(unknown)?.into())
            }
            ReferralDimension::District => key.district = region(ctx, value.clone()).await?,
            ReferralDimension::Kelurahan => key.kelurahan = region(ctx, value.clone()).await?,
            _ => key.period = Some(value),
        }
    }
    Ok(key)
}
