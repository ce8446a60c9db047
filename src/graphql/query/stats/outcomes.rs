//! Outcome statistics: the outcome fact, and outcomes as they stood at a past instant.

use super::*;

/// The outcomes as they stood at `instant`: those recorded and entered by then, verified only when
/// verified by then. Other fields are today's.
pub(super) fn outcomes_as_of(instant: DateTime<Utc>) -> SelectStatement {
    let o = Alias::new("o");
    let verified_at = Expr::col((o.clone(), outcome::Column::VerifiedAt));
    let mut select = Query::select();
    select.from_as(outcome::Entity, o.clone());
    for column in outcome::Column::iter() {
        match column {
            outcome::Column::Verified => {
                let verified = Expr::case(verified_at.clone().lte(instant), Expr::val(true)).finally(Expr::val(false));
                select.expr_as(verified, column);
            }
            outcome::Column::VerifiedAt => {
                let verified =
                    Expr::case(verified_at.clone().lte(instant), verified_at.clone()).finally(Expr::cust("NULL"));
                select.expr_as(verified, column);
            }
            _ => {
                select.column((o.clone(), column));
            }
        }
    }
    select
        .and_where(Expr::col((o.clone(), outcome::Column::RecordedAt)).lte(instant))
        .and_where(Expr::col((o, outcome::Column::CreatedAt)).lte(instant));
    select
}

/// Outcomes, optionally as they stood at a past instant.
pub(super) struct OutcomeFact {
    pub(super) as_of: Option<DateTime<Utc>>,
}

impl Fact for OutcomeFact {
    type Dimension = OutcomeDimension;

    fn source(&self, select: &mut SelectStatement) {
        match self.as_of {
            Some(instant) => select.from_subquery(outcomes_as_of(instant), outcome::Entity),
            None => select.from(outcome::Entity),
        };
    }

    fn time_column(&self) -> &'static str {
        "\"outcomes\".\"recorded_at\""
    }

    fn bucket(&self, dimension: OutcomeDimension) -> Option<Bucket> {
        match dimension {
            OutcomeDimension::RecordedDay => Some(Bucket::Day),
            OutcomeDimension::RecordedWeek => Some(Bucket::Week),
            OutcomeDimension::RecordedMonth => Some(Bucket::Month),
            OutcomeDimension::RecordedQuarter => Some(Bucket::Quarter),
            OutcomeDimension::RecordedYear => Some(Bucket::Year),
            _ => None,
        }
    }

    fn dimension(&self, dimension: OutcomeDimension, backend: DatabaseBackend) -> Expr {
        match dimension {
            OutcomeDimension::Type => Expr::col((outcome::Entity, outcome::Column::OutcomeType)),
            OutcomeDimension::Group => Expr::col((outcome::Entity, outcome::Column::OutcomeGroup)),
            OutcomeDimension::Programme => uuid_text(backend, "\"outcomes\".\"programme_id\""),
            OutcomeDimension::Category => Expr::col((case_category::Entity, case_category::Column::Category)),
            OutcomeDimension::District => Expr::cust("substr(\"cases\".\"kelurahan_code\", 1, 8)"),
            OutcomeDimension::Kelurahan => Expr::col((case::Entity, case::Column::KelurahanCode)),
            // Time dimensions are the engine's; this arm is never asked for.
            _ => Expr::cust("NULL"),
        }
    }

    fn additive(&self, dimension: OutcomeDimension) -> bool {
        dimension != OutcomeDimension::Category
    }

    fn join(&self, dimensions: &[OutcomeDimension], select: &mut SelectStatement) {
        if dimensions.contains(&OutcomeDimension::Category) {
            select.join(
                JoinType::InnerJoin,
                case_category::Entity,
                Expr::col((case_category::Entity, case_category::Column::CaseId))
                    .equals((outcome::Entity, outcome::Column::CaseId)),
            );
        }
        if dimensions.iter().any(|d| matches!(d, OutcomeDimension::District | OutcomeDimension::Kelurahan)) {
            select.join(
                JoinType::InnerJoin,
                case::Entity,
                Expr::col((case::Entity, case::Column::Id)).equals((outcome::Entity, outcome::Column::CaseId)),
            );
        }
    }

    fn record_key(&self) -> &'static str {
        "\"outcomes\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        let group = |value: &str| Count::When(format!("\"outcomes\".\"outcome_group\" = '{value}'"));
        vec![
            ("n", Count::All),
            ("success", group("SUCCESS")),
            ("needs_follow_up", group("NEEDS_FOLLOW_UP")),
            ("neutral", group("NEUTRAL")),
            // Verified exactly when verified_at is set (a CHECK says so; the as-of view keeps it so).
            ("verified", Count::When("\"outcomes\".\"verified_at\" IS NOT NULL".into())),
        ]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        vec![(0, vec![1, 2, 3])]
    }

    fn durations(&self, _: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        Vec::new()
    }
}

pub(super) fn outcome_group(group: PublishedGroup, key: OutcomeStatsKey) -> OutcomeStatsGroup {
    OutcomeStatsGroup {
        key,
        count: group.cells[0].into(),
        success: group.cells[1].into(),
        needs_follow_up: group.cells[2].into(),
        neutral: group.cells[3].into(),
        verified: group.cells[4].into(),
        share_verified: group.share(&[4], &[0]),
    }
}

/// The keys of the outcome groups, one dimension at a time, so that each loader is asked for every value
/// of its dimension in one batch (resolving a group's whole key at once lets a group without a value run
/// ahead to the next dimension and split that dimension's batch).
pub(super) async fn outcome_keys(
    ctx: &Context<'_>,
    dimensions: &[OutcomeDimension],
    groups: &[PublishedGroup],
) -> AppResult<Vec<OutcomeStatsKey>> {
    let mut keys = vec![OutcomeStatsKey::default(); groups.len()];
    for (position, dimension) in dimensions.iter().enumerate() {
        try_join_all(keys.iter_mut().zip(groups).map(|(key, group)| {
            let value = if position == 0 { &group.key.0 } else { &group.key.1 };
            outcome_key_part(ctx, *dimension, value.clone(), key)
        }))
        .await?;
    }
    Ok(keys)
}

pub(super) async fn outcome_key_part(
    ctx: &Context<'_>,
    dimension: OutcomeDimension,
    value: Option<String>,
    key: &mut OutcomeStatsKey,
) -> AppResult<()> {
    use entity::enums as db;
    let Some(value) = value else { return Ok(()) };
    let unknown = || AppError::Internal(format!("unexpected {dimension:?} value {value}"));
    match dimension {
        OutcomeDimension::Type => key.outcome_type = Some(db::OutcomeType::parse(&value).ok_or_else(unknown)?.into()),
        OutcomeDimension::Group => {
            key.outcome_group = Some(db::OutcomeGroup::parse(&value).ok_or_else(unknown)?.into())
        }
        OutcomeDimension::Programme => {
            let id = Uuid::parse_str(&value).map_err(|_| unknown())?;
            key.programme = loaders::row::<programme::Entity>(ctx, id).await?.map(Programme);
        }
        OutcomeDimension::Category => key.category = Some(db::PpksCategory::parse(&value).ok_or_else(unknown)?.into()),
        OutcomeDimension::District => key.district = region(ctx, value.clone()).await?,
        OutcomeDimension::Kelurahan => key.kelurahan = region(ctx, value.clone()).await?,
        _ => key.period = Some(value),
    }
    Ok(())
}
