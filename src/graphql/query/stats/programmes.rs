//! Programme statistics: programme rows, enrollments and outcomes counted in one UNION ALL.

use super::*;

/// Programmes, with their enrollments and the outcomes they delivered.
///
/// A programme's target and budget must count once, however many enrollments and outcomes it has, so the
/// rows counted are facts of three kinds (UNION ALL), each joined to its programme: the programme itself
/// (which alone carries the target and budget), each enrollment, and each outcome naming the programme.
/// Grouping by programme, owner or start sums each programme's target once; grouping by district splits
/// enrollments and outcomes by their case, while programme rows (no case) fall in a group of their own.
pub(super) struct ProgrammeFact {
    pub(super) backend: DatabaseBackend,
    /// The city's offset from UTC, in hours: a programme starts at midnight in the city.
    pub(super) offset_hours: i32,
}

pub(super) const PROGRAMME_FACTS: &str = "programme_facts";

impl ProgrammeFact {
    /// The facts: (programme_id, fact, case_id, outcome_group, record_key) of every enrollment, outcome and
    /// programme.
    pub(super) fn facts() -> SelectStatement {
        let mut enrollments = Query::select();
        enrollments
            .expr_as(Expr::col((enrollment::Entity, enrollment::Column::ProgrammeId)), "programme_id")
            .expr_as(Expr::cust("'ENROLLMENT'"), "fact")
            .expr_as(Expr::col((enrollment::Entity, enrollment::Column::CaseId)), "case_id")
            .expr_as(Expr::cust("NULL"), "outcome_group")
            .expr_as(Expr::col((enrollment::Entity, enrollment::Column::RecordKey)), "record_key")
            .from(enrollment::Entity);
        let mut outcomes = Query::select();
        outcomes
            .expr_as(Expr::col((outcome::Entity, outcome::Column::ProgrammeId)), "programme_id")
            .expr_as(Expr::cust("'OUTCOME'"), "fact")
            .expr_as(Expr::col((outcome::Entity, outcome::Column::CaseId)), "case_id")
            .expr_as(Expr::col((outcome::Entity, outcome::Column::OutcomeGroup)), "outcome_group")
            .expr_as(Expr::col((outcome::Entity, outcome::Column::RecordKey)), "record_key")
            .from(outcome::Entity)
            .and_where(Expr::col((outcome::Entity, outcome::Column::ProgrammeId)).is_not_null());
        let mut programmes = Query::select();
        programmes
            .expr_as(Expr::col((programme::Entity, programme::Column::Id)), "programme_id")
            .expr_as(Expr::cust("'PROGRAMME'"), "fact")
            .expr_as(Expr::cust("NULL"), "case_id")
            .expr_as(Expr::cust("NULL"), "outcome_group")
            // A programme row counts no one: it only carries the target and budget.
            .expr_as(Expr::cust("0"), "record_key")
            .from(programme::Entity);
        enrollments.union(UnionType::All, outcomes).union(UnionType::All, programmes);
        enrollments
    }

    /// The programmes, with the instant each starts (midnight of `starts_on` in the city) as `started_at`.
    pub(super) fn programmes(&self) -> SelectStatement {
        let p = Alias::new("p");
        let mut select = Query::select();
        select.from_as(programme::Entity, p.clone());
        for column in programme::Column::iter() {
            select.column((p.clone(), column));
        }
        let hours = self.offset_hours;
        let started_at = if self.backend == DatabaseBackend::Postgres {
            format!("(CAST(\"p\".\"starts_on\" AS TIMESTAMP) AT TIME ZONE INTERVAL '{hours:+03}:00')")
        } else {
            // Formatted as instants are stored (RFC 3339 in UTC), so that periods compare as text.
            format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', \"p\".\"starts_on\", '{:+} hours')", -hours)
        };
        select.expr_as(Expr::cust(started_at), "started_at");
        select
    }
}

impl Fact for ProgrammeFact {
    type Dimension = ProgrammeDimension;

    fn source(&self, select: &mut SelectStatement) {
        select.from_subquery(Self::facts(), Alias::new(PROGRAMME_FACTS)).join_subquery(
            JoinType::InnerJoin,
            self.programmes(),
            programme::Entity,
            Expr::col((programme::Entity, programme::Column::Id)).equals((Alias::new(PROGRAMME_FACTS), "programme_id")),
        );
    }

    fn time_column(&self) -> &'static str {
        "\"programmes\".\"started_at\""
    }

    fn bucket(&self, dimension: ProgrammeDimension) -> Option<Bucket> {
        match dimension {
            ProgrammeDimension::StartedDay => Some(Bucket::Day),
            ProgrammeDimension::StartedWeek => Some(Bucket::Week),
            ProgrammeDimension::StartedMonth => Some(Bucket::Month),
            ProgrammeDimension::StartedQuarter => Some(Bucket::Quarter),
            ProgrammeDimension::StartedYear => Some(Bucket::Year),
            _ => None,
        }
    }

    fn dimension(&self, dimension: ProgrammeDimension, backend: DatabaseBackend) -> Expr {
        match dimension {
            ProgrammeDimension::Programme => uuid_text(backend, "\"programmes\".\"id\""),
            ProgrammeDimension::OwnerOrganisation => uuid_text(backend, "\"programmes\".\"owner_organisation_id\""),
            ProgrammeDimension::District => Expr::cust("substr(\"cases\".\"kelurahan_code\", 1, 8)"),
            // Time dimensions are the engine's; this arm is never asked for.
            _ => Expr::cust("NULL"),
        }
    }

    fn additive(&self, _: ProgrammeDimension) -> bool {
        // Every fact falls in one programme, one owner, one start and (enrollments and outcomes) one
        // district.
        true
    }

    fn join(&self, dimensions: &[ProgrammeDimension], select: &mut SelectStatement) {
        if dimensions.contains(&ProgrammeDimension::District) {
            select.join(
                JoinType::LeftJoin,
                case::Entity,
                Expr::col((case::Entity, case::Column::Id)).equals((Alias::new(PROGRAMME_FACTS), "case_id")),
            );
        }
    }

    fn record_key(&self) -> &'static str {
        "\"programme_facts\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        let fact = |kind: &str| format!("\"{PROGRAMME_FACTS}\".\"fact\" = '{kind}'");
        let outcome = |group: &str| {
            Count::When(format!("{} AND \"{PROGRAMME_FACTS}\".\"outcome_group\" = '{group}'", fact("OUTCOME")))
        };
        vec![
            ("enrolled", Count::When(fact("ENROLLMENT"))),
            ("outcomes", Count::When(fact("OUTCOME"))),
            ("success", outcome("SUCCESS")),
            ("needs_follow_up", outcome("NEEDS_FOLLOW_UP")),
            ("neutral", outcome("NEUTRAL")),
        ]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        vec![(1, vec![2, 3, 4])]
    }

    fn durations(&self, _: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        Vec::new()
    }

    fn sums(&self) -> Vec<(&'static str, Expr)> {
        // Only programme rows carry them, so each programme counts once. PostgreSQL sums bigints into a
        // numeric: cast back.
        let once = |column: &str| {
            Expr::cust(format!(
                "CAST(SUM(CASE WHEN \"{PROGRAMME_FACTS}\".\"fact\" = 'PROGRAMME' THEN \"programmes\".\"{column}\" ELSE 0 END) AS BIGINT)"
            ))
        };
        vec![("target", once("target")), ("budget_idr", once("budget_idr"))]
    }
}

/// `split`: the groups split programmes by district, which their target and budget do not divide into.
pub(super) fn programme_group(group: PublishedGroup, key: ProgrammeStatsKey, split: bool) -> ProgrammeStatsGroup {
    let target = (!split).then(|| group.sum(0));
    let enrolled = group.cells[0];
    ProgrammeStatsGroup {
        key,
        enrolled: enrolled.into(),
        target,
        reach: match (enrolled.value, target) {
            (Some(enrolled), Some(target)) if target > 0 => Some(enrolled as f64 / target as f64),
            _ => None,
        },
        outcomes: group.cells[1].into(),
        success: group.cells[2].into(),
        needs_follow_up: group.cells[3].into(),
        neutral: group.cells[4].into(),
        budget_idr: (!split).then(|| group.sum(1)),
    }
}

/// The keys of the programme groups, one dimension at a time (see [`outcome_keys`]).
pub(super) async fn programme_keys(
    ctx: &Context<'_>,
    dimensions: &[ProgrammeDimension],
    groups: &[PublishedGroup],
) -> AppResult<Vec<ProgrammeStatsKey>> {
    let mut keys = vec![ProgrammeStatsKey::default(); groups.len()];
    for (position, dimension) in dimensions.iter().enumerate() {
        try_join_all(keys.iter_mut().zip(groups).map(|(key, group)| {
            let value = if position == 0 { &group.key.0 } else { &group.key.1 };
            programme_key_part(ctx, *dimension, value.clone(), key)
        }))
        .await?;
    }
    Ok(keys)
}

pub(super) async fn programme_key_part(
    ctx: &Context<'_>,
    dimension: ProgrammeDimension,
    value: Option<String>,
    key: &mut ProgrammeStatsKey,
) -> AppResult<()> {
    let Some(value) = value else { return Ok(()) };
    match dimension {
        ProgrammeDimension::Programme => {
            let id =
                Uuid::parse_str(&value).map_err(|_| AppError::Internal(format!("unexpected programme id {value}")))?;
            key.programme = loaders::row::<programme::Entity>(ctx, id).await?.map(Programme);
        }
        ProgrammeDimension::OwnerOrganisation => key.owner_organisation = organisation(ctx, &value).await?,
        ProgrammeDimension::District => key.district = region(ctx, value.clone()).await?,
        _ => key.period = Some(value),
    }
    Ok(())
}
