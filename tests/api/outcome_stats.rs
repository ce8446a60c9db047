//! `outcomeStats`: every measure and dimension agrees with the `outcomes` list or with a count made here
//! from the rows, `asOf` reproduces past figures, and small cells are suppressed.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use entity::{case_category, outcome};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::{TestDb, db_test, error_code};

/// Figures as STAFF reads them with `exact: true`, or as every other request gets them (perturbed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figures {
    Exact,
    Published,
}
use Figures::{Exact, Published};

const STATS: &str = "query($exact: Boolean = false, $groupBy: [OutcomeDimension!]!, $filter: OutcomeFilter, $period: StatsPeriod, $asOf: DateTime) {
  outcomeStats(exact: $exact, groupBy: $groupBy, filter: $filter, period: $period, asOf: $asOf) {
    minimumCellSize asOf
    total { count { value suppressed } success { value suppressed } needsFollowUp { value suppressed } neutral { value suppressed } verified { value suppressed } shareVerified }
    groups {
      key { outcomeType outcomeGroup programme { id } category district { code } kelurahan { code } period }
      count { value suppressed } success { value suppressed } needsFollowUp { value suppressed }
      neutral { value suppressed } verified { value suppressed } shareVerified
    }
  }
}";

async fn stats(db: &TestDb, figures: Figures, mut variables: Value) -> Value {
    variables["exact"] = json!(figures == Exact);
    let response = db.run(STATS, variables).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    response["data"]["outcomeStats"].clone()
}

async fn total_count(db: &TestDb, filter: Value) -> Option<i64> {
    let data =
        db.data("query($f: OutcomeFilter) { outcomes(filter: $f) { totalCount } }", json!({ "f": filter })).await;
    data["outcomes"]["totalCount"].as_i64()
}

fn value(cell: &Value) -> Option<i64> {
    cell["value"].as_i64()
}

/// Checks the measures of one group against the list API, for the outcomes `filter` selects.
async fn check_group(db: &TestDb, group: &Value, filter: Value) {
    // The filter narrowed by one more condition; `None` when the two contradict (nothing matches).
    let with = |key: &str, extra: Value| {
        let mut filter = filter.clone();
        if filter.get(key).is_some_and(|present| *present != extra) {
            return None;
        }
        filter[key] = extra;
        Some(filter)
    };
    let narrowed = |key: &'static str, extra: Value| {
        let filter = with(key, extra);
        async move {
            match filter {
                Some(filter) => total_count(db, filter).await,
                None => Some(0),
            }
        }
    };
    let count = value(&group["count"]);
    assert_eq!(count, total_count(db, filter.clone()).await, "count {filter}");
    for (field, outcome_group) in [("success", "SUCCESS"), ("needsFollowUp", "NEEDS_FOLLOW_UP"), ("neutral", "NEUTRAL")]
    {
        assert_eq!(value(&group[field]), narrowed("outcomeGroup", json!([outcome_group])).await, "{field} {filter}");
    }
    let verified = value(&group["verified"]);
    assert_eq!(verified, narrowed("verified", json!(true)).await, "verified {filter}");
    match (verified, count) {
        (Some(v), Some(n)) if n > 0 => {
            assert!((group["shareVerified"].as_f64().expect("share") - v as f64 / n as f64).abs() < 1e-9)
        }
        _ => assert!(group["shareVerified"].is_null()),
    }
}

db_test!(outcome_stats_agree_with_the_list_api, |db| async move {
    db.seed(600).await;
    let data = stats(&db, Exact, json!({ "groupBy": ["DISTRICT", "GROUP"] })).await;
    let groups = data["groups"].as_array().expect("groups");
    assert!(groups.len() >= 10, "{data:#}");
    let mut sum = 0;
    for group in groups {
        let district = group["key"]["district"]["code"].as_str().expect("district");
        let outcome_group = group["key"]["outcomeGroup"].as_str().expect("group");
        sum += value(&group["count"]).expect("count");
        check_group(&db, group, json!({ "districtCodes": [district], "outcomeGroup": [outcome_group] })).await;
    }
    check_group(&db, &data["total"], json!({})).await;
    assert_eq!(value(&data["total"]["count"]), Some(sum));
    assert!(sum > 100);

    let data = stats(&db, Exact, json!({ "groupBy": ["TYPE"], "filter": { "verified": true } })).await;
    let groups = data["groups"].as_array().expect("groups");
    assert!(groups.len() > 3);
    for group in groups {
        let outcome_type = group["key"]["outcomeType"].as_str().expect("type");
        check_group(&db, group, json!({ "outcomeType": [outcome_type], "verified": true })).await;
        assert_eq!(group["shareVerified"].as_f64(), Some(1.0));
    }

    let data = stats(&db, Exact, json!({ "groupBy": ["KELURAHAN"] })).await;
    let groups = data["groups"].as_array().expect("groups");
    assert!(groups.len() > 30);
    for group in groups {
        let kelurahan = group["key"]["kelurahan"]["code"].as_str().expect("kelurahan");
        check_group(&db, group, json!({ "kelurahanCodes": [kelurahan] })).await;
    }

    // By programme, outcomes without one in a group of their own.
    let data = stats(&db, Exact, json!({ "groupBy": ["PROGRAMME"] })).await;
    let groups = data["groups"].as_array().expect("groups");
    let mut without = None;
    for group in groups {
        match group["key"]["programme"]["id"].as_str() {
            Some(id) => check_group(&db, group, json!({ "programmeIds": [id] })).await,
            None => without = value(&group["count"]),
        }
    }
    let none = outcome::Entity::find()
        .filter(outcome::Column::ProgrammeId.is_null())
        .all(&db.db)
        .await
        .expect("outcomes")
        .len() as i64;
    assert!(none > 0 && groups.len() > 2);
    assert_eq!(without, Some(none));
});

db_test!(outcome_stats_by_category_and_month_agree_with_the_rows, |db| async move {
    db.seed(600).await;
    let outcomes = outcome::Entity::find().all(&db.db).await.expect("outcomes");
    let categories = case_category::Entity::find().all(&db.db).await.expect("categories");
    let data = stats(&db, Exact, json!({ "groupBy": ["CATEGORY", "GROUP"] })).await;
    let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for o in &outcomes {
        for c in categories.iter().filter(|c| c.case_id == o.case_id) {
            let entry =
                expected.entry((c.category.as_str().to_owned(), o.outcome_group.as_str().to_owned())).or_default();
            entry.0 += 1;
            entry.1 += i64::from(o.verified);
        }
    }
    let got: BTreeMap<(String, String), (i64, i64)> = data["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                (
                    g["key"]["category"].as_str().expect("category").to_owned(),
                    g["key"]["outcomeGroup"].as_str().expect("group").to_owned(),
                ),
                (value(&g["count"]).expect("count"), value(&g["verified"]).expect("verified")),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // A case with several categories counts in each: the groups add up to more than the total.
    assert_eq!(value(&data["total"]["count"]), Some(outcomes.len() as i64));
    assert!(expected.values().map(|v| v.0).sum::<i64>() > outcomes.len() as i64);

    // Month buckets over a year, each agreeing with the list API's `recorded` range; empty months kept.
    let period = json!({ "from": "2025-01-01T00:00:00+08:00", "before": "2026-01-01T00:00:00+08:00" });
    let data = stats(&db, Exact, json!({ "groupBy": ["RECORDED_MONTH"], "period": period })).await;
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 12);
    let mut sum = 0;
    for (month, group) in groups.iter().enumerate() {
        let start = format!("2025-{:02}-01T00:00:00+08:00", month + 1);
        let end = if month == 11 {
            "2026-01-01T00:00:00+08:00".to_owned()
        } else {
            format!("2025-{:02}-01T00:00:00+08:00", month + 2)
        };
        assert_eq!(group["key"]["period"], format!("2025-{:02}", month + 1));
        check_group(&db, group, json!({ "recorded": { "from": start, "before": end } })).await;
        sum += value(&group["count"]).expect("count");
    }
    assert!(sum > 0);
    assert_eq!(value(&data["total"]["count"]), Some(sum), "the period limits the total");
    for (dimension, buckets) in
        [("RECORDED_DAY", 365), ("RECORDED_WEEK", 53), ("RECORDED_QUARTER", 4), ("RECORDED_YEAR", 1)]
    {
        let data = stats(&db, Exact, json!({ "groupBy": [dimension], "period": period })).await;
        let groups = data["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), buckets, "{dimension}");
        let total: i64 = groups.iter().map(|g| value(&g["count"]).expect("count")).sum();
        assert_eq!(total, sum, "{dimension}");
    }
});

db_test!(outcome_stats_as_of_stay_put_when_outcomes_are_verified_afterwards, |db| async move {
    db.seed(600).await;
    let as_of = Utc.with_ymd_and_hms(2026, 5, 31, 16, 0, 0).single().expect("instant");
    let variables = json!({ "groupBy": ["GROUP"], "asOf": as_of.to_rfc3339() });
    let figures = |data: &Value| -> BTreeMap<String, (i64, i64)> {
        data["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| {
                (
                    g["key"]["outcomeGroup"].as_str().expect("group").to_owned(),
                    (value(&g["count"]).expect("count"), value(&g["verified"]).expect("verified")),
                )
            })
            .collect()
    };
    let data = stats(&db, Exact, variables.clone()).await;
    assert_eq!(data["asOf"].as_str().map(|s| s.starts_with("2026-05-31T16:00:00")), Some(true), "{data}");
    let before = figures(&data);

    let outcomes = outcome::Entity::find().all(&db.db).await.expect("outcomes");
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.recorded_at <= as_of && o.created_at <= as_of) {
        let entry = expected.entry(o.outcome_group.as_str().to_owned()).or_default();
        entry.0 += 1;
        entry.1 += i64::from(o.verified_at.is_some_and(|at| at <= as_of));
    }
    assert_eq!(before, expected);
    assert!(outcomes.iter().any(|o| o.recorded_at > as_of), "the data should have later outcomes");

    // Verify every outcome now, long after `asOf`: past figures must not move, today's do.
    let now = crate::support::fixed_now() + chrono::Duration::days(1);
    let unverified = outcomes.iter().filter(|o| !o.verified).count();
    assert!(unverified > 0);
    outcome::Entity::update_many()
        .col_expr(outcome::Column::Verified, Expr::value(true))
        .col_expr(outcome::Column::VerifiedAt, Expr::value(now))
        .filter(outcome::Column::Verified.eq(false))
        .exec(&db.db)
        .await
        .expect("verify");
    assert_eq!(figures(&stats(&db, Exact, variables).await), before, "figures as of a past instant changed");
    let today = stats(&db, Exact, json!({ "groupBy": [] })).await;
    assert_eq!(today["total"]["shareVerified"].as_f64(), Some(1.0));

    let response = db.run(STATS, json!({ "groupBy": [], "asOf": "2100-01-01T00:00:00Z" })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));
    let response = db.run(STATS, json!({ "groupBy": ["RECORDED_MONTH"] })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));
});

db_test!(small_published_outcome_counts_are_suppressed, |db| async move {
    db.seed(600).await;
    let data = stats(&db, Published, json!({ "groupBy": ["KELURAHAN", "TYPE"] })).await;
    assert_eq!(data["minimumCellSize"], 5);
    let mut hidden = 0;
    for group in data["groups"].as_array().expect("groups") {
        let cells = ["count", "success", "needsFollowUp", "neutral", "verified"].map(|f| &group[f]);
        for cell in cells {
            match value(cell) {
                Some(v) => assert!(v == 0 || v >= 5, "published {v}: {group}"),
                None => {
                    assert_eq!(cell["suppressed"], true);
                    hidden += 1;
                }
            }
        }
        // count = success + needsFollowUp + neutral binds the true counts: a reader must not pin one.
        let ptable = psm_api::service::perturbation::PTable::built_in();
        let bounds = cells[..4].iter().map(|cell| crate::reader::cell(ptable, 5, cell)).collect();
        let bounds = crate::reader::propagate(bounds, &[(0, vec![1, 2, 3])]);
        assert!(crate::reader::pinned(&bounds, 5).is_empty(), "{group}: {bounds:?}");
        if group["count"]["suppressed"] == true || group["verified"]["suppressed"] == true {
            assert!(group["shareVerified"].is_null());
        }
    }
    assert!(hidden > 0, "the data should have small cells for this test to mean anything");
});
