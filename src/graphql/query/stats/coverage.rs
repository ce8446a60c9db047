//! `volunteerCoverage`: active volunteers and open cases per kelurahan.

use super::*;

/// The rows of `volunteerCoverage`: each count is grouped once over its table (open cases from
/// the case tally, or the cases), then joined to the 52 kelurahan, so that kelurahan without volunteers or open cases
/// appear with 0; the sums of record keys come in the same statement.
pub(super) async fn coverage(ctx: &Context<'_>, settings: &Settings) -> AppResult<Vec<KelurahanCoverage>> {
    let db = db(ctx)?;
    let open: Vec<String> = entity::enums::CaseStatus::ALL
        .iter()
        .filter(|status| **status != entity::enums::CaseStatus::Closed)
        .map(|status| format!("'{}'", status.as_str()))
        .collect();
    // Open cases by kelurahan are in the case tally (every case counts here, whoever asks).
    let open_cases = if settings.tallies {
        "CAST(SUM(\"n\") AS BIGINT) AS \"n\", CAST(SUM(\"key_sum\") AS BIGINT) AS \"k\" FROM \"case_tallies\""
    } else {
        "COUNT(*) AS \"n\", CAST(SUM(\"record_key\") AS BIGINT) AS \"k\" FROM \"cases\""
    };
    let sql = format!(
        "SELECT \"r\".\"code\", \"r\".\"level\", \"r\".\"name\", \"r\".\"parent_code\", \
                COALESCE(\"v\".\"n\", 0) AS \"active\", COALESCE(\"v\".\"k\", 0) AS \"active_key\", \
                COALESCE(\"c\".\"n\", 0) AS \"open\", COALESCE(\"c\".\"k\", 0) AS \"open_key\" \
         FROM \"regions\" AS \"r\" \
         LEFT JOIN (SELECT \"kelurahan_code\", COUNT(*) AS \"n\", CAST(SUM(\"record_key\") AS BIGINT) AS \"k\" \
                    FROM \"volunteers\" WHERE \"status\" = 'ACTIVE' \
                    GROUP BY \"kelurahan_code\") AS \"v\" ON \"v\".\"kelurahan_code\" = \"r\".\"code\" \
         LEFT JOIN (SELECT \"kelurahan_code\", {open_cases} \
                    WHERE \"status\" IN ({statuses}) \
                    GROUP BY \"kelurahan_code\") AS \"c\" ON \"c\".\"kelurahan_code\" = \"r\".\"code\" \
         WHERE \"r\".\"level\" = 'SUBDISTRICT' ORDER BY \"r\".\"code\"",
        statuses = open.join(", ")
    );
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
    let rows = sea_orm::ConnectionTrait::query_all_raw(db, statement).await.map_err(AppError::from)?;
    // The kelurahan come with their counts: no second statement to load them.
    let disclosure = settings.disclosure.as_ref();
    let mut places = Vec::with_capacity(rows.len());
    let (mut counts, mut keys, mut published): (Vec<u64>, Vec<i64>, Vec<u64>) = Default::default();
    for row in rows {
        places.push(<region::Model as sea_orm::FromQueryResult>::from_query_result(&row, "").map_err(AppError::from)?);
        for column in ["active", "open"] {
            let count = std::cmp::max(row.try_get::<i64>("", column).map_err(AppError::from)?, 0) as u64;
            let key = row.try_get::<i64>("", &format!("{column}_key")).map_err(AppError::from)?;
            counts.push(count);
            keys.push(key);
            published.push(disclosure.map_or(count, |d| d.perturb(count, key)));
        }
    }
    // Each column adds up to a city-wide total that other requests publish (perturbed by its own key).
    let mut equations = Vec::new();
    for column in 0..2 {
        let parts: Vec<usize> = (0..places.len()).map(|i| i * 2 + column).collect();
        let count: u64 = parts.iter().map(|&i| counts[i]).sum();
        let key: i64 = parts.iter().map(|&i| keys[i]).sum();
        published.push(disclosure.map_or(count, |d| d.perturb(count, key)));
        equations.push(Equation { whole: published.len() - 1, parts });
    }
    let hidden: Vec<bool> = match disclosure {
        Some(d) => suppress(&published, &equations, settings.minimum_cell_size, d.table.as_ref())
            .into_iter()
            .map(|hidden| hidden != Hidden::No)
            .collect(),
        None => vec![false; published.len()],
    };
    let mut coverage = Vec::with_capacity(places.len());
    for (i, kelurahan) in places.into_iter().map(Region).enumerate() {
        let (active, open) = (i * 2, i * 2 + 1);
        coverage.push(KelurahanCoverage {
            kelurahan,
            active_volunteers: statistics::Cell::new(published[active], hidden[active]).into(),
            open_cases: statistics::Cell::new(published[open], hidden[open]).into(),
            open_cases_per_active_volunteer: (!hidden[active] && !hidden[open] && published[active] > 0)
                .then(|| published[open] as f64 / published[active] as f64),
        });
    }
    Ok(coverage)
}
