//! Volunteer statistics: the volunteer fact, with tenure bands.

use super::*;

/// Volunteers.
pub(super) struct VolunteerFact {
    pub(super) today: chrono::NaiveDate,
    pub(super) trained_since: chrono::NaiveDate,
}

/// The lower bounds of the tenure bands, in years, with their labels, longest first.
pub(super) const TENURE_BANDS: [(u32, &str); 5] = [
    (30, "AT_LEAST_30_YEARS"),
    (20, "FROM_20_TO_29_YEARS"),
    (10, "FROM_10_TO_19_YEARS"),
    (5, "FROM_5_TO_9_YEARS"),
    (0, "UNDER_5_YEARS"),
];

impl Fact for VolunteerFact {
    type Dimension = VolunteerDimension;

    fn source(&self, select: &mut SelectStatement) {
        select.from(volunteer::Entity);
    }

    fn time_column(&self) -> &'static str {
        "\"volunteers\".\"created_at\""
    }

    fn bucket(&self, _: VolunteerDimension) -> Option<Bucket> {
        None
    }

    fn dimension(&self, dimension: VolunteerDimension, _: DatabaseBackend) -> Expr {
        match dimension {
            VolunteerDimension::District => Expr::cust("substr(\"volunteers\".\"kelurahan_code\", 1, 8)"),
            VolunteerDimension::Kelurahan => Expr::col((volunteer::Entity, volunteer::Column::KelurahanCode)),
            VolunteerDimension::Status => Expr::col((volunteer::Entity, volunteer::Column::Status)),
            VolunteerDimension::Gender => Expr::col((volunteer::Entity, volunteer::Column::Gender)),
            VolunteerDimension::TenureBand => {
                // Served since on or before the day `years` ago: at least `years` of service. The dates
                // are computed here, so the SQL is the same on both databases.
                let mut sql = String::from("CASE");
                for (years, label) in TENURE_BANDS {
                    let since = self.today.checked_sub_months(chrono::Months::new(years * 12)).unwrap_or(self.today);
                    sql.push_str(&format!(" WHEN \"volunteers\".\"served_since\" <= '{since}' THEN '{label}'"));
                }
                sql.push_str(" END");
                Expr::cust(sql)
            }
        }
    }

    fn additive(&self, _: VolunteerDimension) -> bool {
        true
    }

    fn join(&self, _: &[VolunteerDimension], _: &mut SelectStatement) {}

    fn record_key(&self) -> &'static str {
        "\"volunteers\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        let active = "\"volunteers\".\"status\" = 'ACTIVE'";
        let trained = format!(
            "{active} AND EXISTS (SELECT 1 FROM \"training_attendances\" AS \"t\" \
             WHERE \"t\".\"volunteer_id\" = \"volunteers\".\"id\" AND \"t\".\"attended_on\" >= '{}')",
            self.trained_since
        );
        // The cases a volunteer reported, counted and keyed by the cases' own record keys.
        let reported = |what: &str| {
            format!(
                "SUM((SELECT {what} FROM \"cases\" WHERE \"cases\".\"reporting_volunteer_id\" = \"volunteers\".\"id\"))"
            )
        };
        vec![
            ("n", Count::All),
            ("active", Count::When(active.into())),
            ("trained", Count::When(trained)),
            (
                "cases_reported",
                // PostgreSQL sums bigints into a numeric: cast back.
                Count::Custom {
                    count: format!("CAST({} AS BIGINT)", reported("COUNT(*)")),
                    key: reported("SUM(\"cases\".\"record_key\")"),
                },
            ),
        ]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        Vec::new()
    }

    fn durations(&self, _: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        Vec::new()
    }
}

pub(super) fn volunteer_group(group: PublishedGroup, key: VolunteerStatsKey) -> VolunteerStatsGroup {
    VolunteerStatsGroup {
        key,
        volunteers: group.cells[0].into(),
        active: group.cells[1].into(),
        trained: group.cells[2].into(),
        cases_reported: group.cells[3].into(),
        share_trained: group.share(&[2], &[1]),
        cases_per_volunteer: group.rate(&[3], &[0]),
    }
}

pub(super) async fn volunteer_key(
    ctx: &Context<'_>,
    dimensions: &[VolunteerDimension],
    group: &PublishedGroup,
) -> AppResult<VolunteerStatsKey> {
    use entity::enums as db;
    let mut key = VolunteerStatsKey::default();
    for (dimension, value) in dimensions.iter().zip([&group.key.0, &group.key.1]) {
        let Some(value) = value.clone() else { continue };
        let unknown = || AppError::Internal(format!("unexpected {dimension:?} value {value}"));
        match dimension {
            VolunteerDimension::District => key.district = region(ctx, value.clone()).await?,
            VolunteerDimension::Kelurahan => key.kelurahan = region(ctx, value.clone()).await?,
            VolunteerDimension::Status => {
                key.status = Some(db::VolunteerStatus::parse(&value).ok_or_else(unknown)?.into())
            }
            VolunteerDimension::Gender => key.gender = Some(db::Sex::parse(&value).ok_or_else(unknown)?.into()),
            VolunteerDimension::TenureBand => {
                key.tenure_band = Some(match value.as_str() {
                    "AT_LEAST_30_YEARS" => TenureBand::AtLeast30Years,
                    "FROM_20_TO_29_YEARS" => TenureBand::From20To29Years,
                    "FROM_10_TO_19_YEARS" => TenureBand::From10To19Years,
                    "FROM_5_TO_9_YEARS" => TenureBand::From5To9Years,
                    "UNDER_5_YEARS" => TenureBand::Under5Years,
                    _ => return Err(unknown()),
                })
            }
        }
    }
    Ok(key)
}
