//! `caseStats`, `referralStats` and `volunteerStats`: grouped counts agree with the list API, time buckets
//! follow the city's time zone, `asOf` reproduces past figures, and small cells are suppressed.

use chrono::{TimeZone, Utc};
use entity::case;
use entity::enums::CaseStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::{TestDb, db_test, error_code};

/// A configuration without suppression (k = 1), to compare exact figures.
/// Figures as STAFF reads them with `exact: true`, or as every other request gets them (perturbed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figures {
    Exact,
    Published,
}
use Figures::{Exact, Published};

const STATS: &str =
    "query($exact: Boolean = false, $groupBy: [CaseDimension!]!, $filter: CaseFilter, $period: StatsPeriod) {
  caseStats(exact: $exact, groupBy: $groupBy, filter: $filter, period: $period) {
    minimumCellSize
    total { count { value suppressed } open { value suppressed } closed { value suppressed } }
    groups {
      key { district { code } kelurahan { code } category status urgency source period }
      count { value suppressed } open { value suppressed } closed { value suppressed } closureRate
    }
  }
}";

async fn total_count(db: &TestDb, filter: Value) -> i64 {
    let data = db.data("query($f: CaseFilter) { cases(filter: $f) { totalCount } }", json!({ "f": filter })).await;
    data["cases"]["totalCount"].as_i64().expect("totalCount")
}

async fn stats(db: &TestDb, figures: Figures, mut variables: Value) -> Value {
    variables["exact"] = json!(figures == Exact);
    let response = db.run(STATS, variables).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    response["data"]["caseStats"].clone()
}

db_test!(case_stats_agree_with_the_list_api, |db| async move {
    db.seed(600).await;
    let data = stats(&db, Exact, json!({ "groupBy": ["DISTRICT", "STATUS"] })).await;
    let groups = data["groups"].as_array().expect("groups");
    assert!(groups.len() > 10);
    let mut sum = 0;
    for group in groups {
        let district = group["key"]["district"]["code"].as_str().expect("district");
        let status = group["key"]["status"].as_str().expect("status");
        let count = group["count"]["value"].as_i64().expect("count");
        sum += count;
        assert_eq!(
            count,
            total_count(&db, json!({ "districtCodes": [district], "status": [status] })).await,
            "{district} {status}"
        );
        let closed = group["closed"]["value"].as_i64().expect("closed");
        assert_eq!(closed, if status == "CLOSED" { count } else { 0 });
        assert_eq!(group["open"]["value"].as_i64(), Some(count - closed));
    }
    assert_eq!(data["total"]["count"]["value"].as_i64(), Some(sum));
    assert_eq!(sum, total_count(&db, Value::Null).await);

    let data =
        stats(&db, Exact, json!({ "groupBy": ["CATEGORY"], "filter": { "urgency": ["HIGH", "EMERGENCY"] } })).await;
    for group in data["groups"].as_array().expect("groups") {
        let category = group["key"]["category"].as_str().expect("category");
        let expected = total_count(&db, json!({ "categories": [category], "urgency": ["HIGH", "EMERGENCY"] })).await;
        assert_eq!(group["count"]["value"].as_i64(), Some(expected), "{category}");
    }
    assert_eq!(
        data["total"]["count"]["value"].as_i64(),
        Some(total_count(&db, json!({ "urgency": ["HIGH", "EMERGENCY"] })).await)
    );
});

db_test!(month_buckets_follow_the_city_time_zone_and_keep_empty_months, |db| async move {
    db.seed(300).await;
    // A case opened at 20:00 UTC on 31 May 2025 was opened on 1 June in Banjarmasin (WITA, UTC+8).
    let target = case::Entity::find()
        .filter(case::Column::Status.eq(CaseStatus::New))
        .one(&db.db)
        .await
        .expect("query")
        .expect("a NEW case");
    let evening = Utc.with_ymd_and_hms(2025, 5, 31, 20, 0, 0).single().expect("instant");
    case::Entity::update_many()
        .col_expr(case::Column::OpenedAt, Expr::value(evening))
        .filter(case::Column::Id.eq(target.id))
        .exec(&db.db)
        .await
        .expect("move the case");
    let variables = json!({
        "groupBy": ["OPENED_MONTH"],
        "filter": { "referenceNumber": target.reference_number },
        "period": { "from": "2025-05-01T00:00:00+08:00", "before": "2025-08-01T00:00:00+08:00" },
    });
    let data = stats(&db, Exact, variables).await;
    let months: Vec<(&str, i64)> = data["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (g["key"]["period"].as_str().expect("period"), g["count"]["value"].as_i64().expect("count")))
        .collect();
    assert_eq!(months, vec![("2025-05", 0), ("2025-06", 1), ("2025-07", 0)]);

    // Every month of a year, each agreeing with the list API over the same instants.
    let variables = json!({
        "groupBy": ["OPENED_MONTH"],
        "period": { "from": "2024-01-01T00:00:00+08:00", "before": "2025-01-01T00:00:00+08:00" },
    });
    let data = stats(&db, Exact, variables).await;
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 12);
    for (month, group) in groups.iter().enumerate() {
        let start = format!("2024-{:02}-01T00:00:00+08:00", month + 1);
        let end = if month == 11 {
            "2025-01-01T00:00:00+08:00".to_owned()
        } else {
            format!("2024-{:02}-01T00:00:00+08:00", month + 2)
        };
        let expected = total_count(&db, json!({ "opened": { "from": start, "before": end } })).await;
        assert_eq!(group["key"]["period"], format!("2024-{:02}", month + 1));
        assert_eq!(group["count"]["value"].as_i64(), Some(expected), "month {}", month + 1);
    }
});

db_test!(published_counts_are_perturbed_small_ones_suppressed_and_no_line_pins_one, |db| async move {
    use entity::region;
    use psm_api::service::perturbation::PTable;

    db.seed(600).await;
    let ptable = PTable::built_in();
    let kelurahan: Vec<String> = region::Entity::find()
        .filter(region::Column::Level.eq(entity::enums::RegionLevel::Subdistrict))
        .all(&db.db)
        .await
        .expect("kelurahan")
        .into_iter()
        .map(|r| r.code)
        .collect();
    let mut suppressed_seen = 0;
    for group_by in
        [json!(["KELURAHAN"]), json!(["URGENCY"]), json!(["SOURCE", "URGENCY"]), json!(["KELURAHAN", "STATUS"])]
    {
        let data = stats(&db, Published, json!({ "groupBy": group_by })).await;
        assert_eq!(data["minimumCellSize"], 5);
        let groups = data["groups"].as_array().expect("groups");
        // What a reader knows of each count, and the equations between the true counts: count = open +
        // closed in every group; along one dimension, the groups (those missing published as 0) make the
        // total.
        let mut bounds: Vec<crate::reader::Bounds> = Vec::new();
        let mut equations: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut push = |group: &Value, bounds: &mut Vec<crate::reader::Bounds>| {
            let base = bounds.len();
            for cell in [&group["count"], &group["open"], &group["closed"]] {
                match cell["value"].as_i64() {
                    Some(value) => {
                        assert!(value == 0 || value >= 5, "{group_by}: published {value}");
                        assert_eq!(cell["suppressed"], false);
                    }
                    None => {
                        assert_eq!(cell["suppressed"], true);
                        suppressed_seen += 1;
                    }
                }
                bounds.push(crate::reader::cell(ptable, 5, cell));
            }
            if group["count"]["suppressed"] == true {
                assert!(group["closureRate"].is_null());
            }
            equations.push((base, vec![base + 1, base + 2]));
            base
        };
        let mut bases: Vec<usize> = groups.iter().map(|group| push(group, &mut bounds)).collect();
        let total = push(&data["total"], &mut bounds);
        if group_by.as_array().map(Vec::len) == Some(1) {
            let listed: Vec<String> = groups.iter().map(|g| g["key"].to_string()).collect();
            let domain = if group_by[0] == "URGENCY" { 4 } else { kelurahan.len() };
            for _ in listed.len()..domain {
                let zero = json!({ "value": 0, "suppressed": false });
                bases.push(push(&json!({ "count": zero, "open": zero, "closed": zero }), &mut bounds));
            }
            for measure in 0..3 {
                equations.push((total + measure, bases.iter().map(|b| b + measure).collect()));
            }
        }
        let bounds = crate::reader::propagate(bounds, &equations);
        assert!(crate::reader::pinned(&bounds, 5).is_empty(), "{group_by}: a count is pinned: {bounds:?}");
    }
    assert!(suppressed_seen > 0, "the data should have small cells for this test to mean anything");
    // Months in the future are true zeros: shown as 0, not suppressed.
    let data = stats(
        &db,
        Published,
        json!({ "groupBy": ["OPENED_MONTH"], "period": { "from": "2030-01-01T00:00:00+08:00", "before": "2030-03-01T00:00:00+08:00" } }),
    )
    .await;
    for group in data["groups"].as_array().expect("groups") {
        assert_eq!(group["count"], json!({ "value": 0, "suppressed": false }));
    }
});

db_test!(bad_stats_requests_are_bad_input, |db| async move {
    for (variables, field) in [
        (json!({ "groupBy": ["OPENED_MONTH"] }), "period"),
        (json!({ "groupBy": ["STATUS", "URGENCY", "SOURCE"] }), "groupBy"),
        (
            json!({ "groupBy": ["OPENED_MONTH", "OPENED_YEAR"], "period": { "from": "2024-01-01T00:00:00+08:00", "before": "2025-01-01T00:00:00+08:00" } }),
            "groupBy",
        ),
        (
            json!({ "groupBy": ["OPENED_DAY"], "period": { "from": "2000-01-01T00:00:00+08:00", "before": "2025-01-01T00:00:00+08:00" } }),
            "period",
        ),
    ] {
        let response = db.run(STATS, variables.clone()).await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{variables}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
    }
});

db_test!(every_time_bucket_is_labelled_alike_in_sql_and_in_the_gap_filling, |db| async move {
    db.seed(600).await;
    let period = json!({ "from": "2024-01-01T00:00:00+08:00", "before": "2026-01-01T00:00:00+08:00" });
    for (dimension, buckets) in
        [("OPENED_DAY", 731), ("OPENED_WEEK", 105), ("OPENED_MONTH", 24), ("OPENED_QUARTER", 8), ("OPENED_YEAR", 2)]
    {
        let data = stats(&db, Exact, json!({ "groupBy": [dimension], "period": period })).await;
        let groups = data["groups"].as_array().expect("groups");
        // A label formatted differently in SQL would show up twice: once counted, once as an empty bucket.
        assert_eq!(groups.len(), buckets, "{dimension}");
        let sum: i64 = groups.iter().map(|g| g["count"]["value"].as_i64().expect("count")).sum();
        assert_eq!(Some(sum), data["total"]["count"]["value"].as_i64(), "{dimension}");
        assert!(sum > 0);
        let labels: Vec<&str> = groups.iter().map(|g| g["key"]["period"].as_str().expect("period")).collect();
        assert!(labels.windows(2).all(|w| w[0] < w[1]), "{dimension}: buckets out of order");
    }
});

db_test!(as_of_figures_stay_put_when_cases_change_afterwards, |db| async move {
    use entity::case_status_change;
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::Query;
    use std::collections::BTreeMap;

    db.seed(600).await;
    let as_of = Utc.with_ymd_and_hms(2026, 5, 31, 16, 0, 0).single().expect("instant");
    let variables = json!({ "groupBy": ["STATUS"], "asOf": as_of.to_rfc3339() });
    let query = "query($groupBy: [CaseDimension!]!, $asOf: DateTime) {
        caseStats(exact: true, groupBy: $groupBy, asOf: $asOf) { asOf total { count { value } } groups { key { status } count { value } } }
    }";
    let figures = |response: Value| -> BTreeMap<String, i64> {
        let stats = &response["data"]["caseStats"];
        stats["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| {
                (g["key"]["status"].as_str().expect("status").to_owned(), g["count"]["value"].as_i64().expect("count"))
            })
            .collect()
    };
    let before = figures(db.run(query, variables.clone()).await);

    // An independent computation from the histories: each case opened by then, in its last status by then.
    let cases = case::Entity::find().all(&db.db).await.expect("cases");
    let history = case_status_change::Entity::find().all(&db.db).await.expect("history");
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for case in cases.iter().filter(|c| c.opened_at <= as_of) {
        let last = history
            .iter()
            .filter(|h| h.case_id == case.id && h.changed_at <= as_of)
            .max_by_key(|h| (h.changed_at, h.id))
            .expect("a history entry");
        *expected.entry(last.to_status.as_str().to_owned()).or_default() += 1;
    }
    assert_eq!(before, expected);

    // Close every open case now, long after `asOf`.
    let now = crate::support::fixed_now() + chrono::Duration::days(1);
    let open: Vec<&case::Model> = cases.iter().filter(|c| c.status != CaseStatus::Closed).collect();
    assert!(!open.is_empty());
    for case in &open {
        case::Entity::update_many()
            .col_expr(case::Column::Status, Expr::value(CaseStatus::Closed.as_str()))
            .col_expr(case::Column::ClosedAt, Expr::value(now))
            .col_expr(case::Column::ClosureReason, Expr::value("RESOLVED"))
            .filter(case::Column::Id.eq(case.id))
            .exec(&db.db)
            .await
            .expect("close");
        let insert = Query::insert()
            .into_table(case_status_change::Entity)
            .columns([
                case_status_change::Column::Id,
                case_status_change::Column::CaseId,
                case_status_change::Column::FromStatus,
                case_status_change::Column::ToStatus,
                case_status_change::Column::ChangedAt,
                case_status_change::Column::ChangedBy,
            ])
            .values_panic([
                uuid::Uuid::now_v7().into(),
                case.id.into(),
                case.status.as_str().into(),
                "CLOSED".into(),
                now.into(),
                "staff:test".into(),
            ])
            .take();
        db.db.execute(&insert).await.expect("history");
    }
    let after = figures(db.run(query, variables).await);
    assert_eq!(before, after, "figures as of a past instant changed");
    let current = figures(db.run(query, json!({ "groupBy": ["STATUS"] })).await);
    assert_eq!(current.keys().collect::<Vec<_>>(), vec!["CLOSED"], "today every case is closed");

    let response = db.run(query, json!({ "groupBy": [], "asOf": "2100-01-01T00:00:00Z" })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));
});

/// `percentile_cont`: the value at position (n - 1) * fraction of the sorted values, interpolated.
fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = last as f64 * fraction;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64))
}

db_test!(days_to_close_percentiles_are_exact, |db| async move {
    use std::collections::BTreeMap;
    db.seed(600).await;
    let query = "{ caseStats(exact: true, groupBy: [DISTRICT]) {
        total { medianDaysToClose p90DaysToClose }
        groups { key { district { code } } closed { value } medianDaysToClose p90DaysToClose }
    } }";
    let response = db.run(query, Value::Null).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let cases =
        case::Entity::find().filter(case::Column::Status.eq(CaseStatus::Closed)).all(&db.db).await.expect("cases");
    let days = |c: &case::Model| (c.closed_at.expect("closed") - c.opened_at).num_seconds() as f64 / 86_400.0;
    let mut by_district: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut all: Vec<f64> = cases.iter().map(days).collect();
    for c in &cases {
        by_district.entry(c.kelurahan_code[..8].to_owned()).or_default().push(days(c));
    }
    all.sort_by(f64::total_cmp);
    let close = |a: &Value, b: Option<f64>| {
        let a = a.as_f64().expect("a number");
        let b = b.expect("expected a value");
        assert!((a - b).abs() < 1e-6, "{a} != {b}");
    };
    let stats = &response["data"]["caseStats"];
    close(&stats["total"]["medianDaysToClose"], percentile(&all, 0.5));
    close(&stats["total"]["p90DaysToClose"], percentile(&all, 0.9));
    for group in stats["groups"].as_array().expect("groups") {
        let code = group["key"]["district"]["code"].as_str().expect("code");
        let mut values = by_district.remove(code).unwrap_or_default();
        values.sort_by(f64::total_cmp);
        assert_eq!(group["closed"]["value"].as_i64(), Some(values.len() as i64));
        close(&group["medianDaysToClose"], percentile(&values, 0.5));
        close(&group["p90DaysToClose"], percentile(&values, 0.9));
    }
});

db_test!(referral_funnel_per_partner_agrees_with_the_list_api, |db| async move {
    use entity::referral;
    db.seed(800).await;
    let query = "{ referralStats(exact: true, groupBy: [RECEIVING_ORGANISATION]) {
        total { sent { value } }
        groups {
            key { receivingOrganisation { id } }
            sent { value } pending { value } accepted { value } declined { value } completed { value }
            withdrawn { value } expired { value } responded { value } acceptanceRate medianHoursToRespond
        }
    } }";
    let response = db.run(query, Value::Null).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let referrals = referral::Entity::find().all(&db.db).await.expect("referrals");
    let stats = &response["data"]["referralStats"];
    assert_eq!(stats["total"]["sent"]["value"].as_i64(), Some(referrals.len() as i64));
    let groups = stats["groups"].as_array().expect("groups");
    assert!(groups.len() > 3);
    for group in groups {
        let id = group["key"]["receivingOrganisation"]["id"].as_str().expect("organisation");
        assert_eq!(group["sent"]["value"].as_i64(), partner_count(&db, id, None).await);
        for (field, status) in [
            ("pending", "SENT"),
            ("accepted", "ACCEPTED"),
            ("declined", "DECLINED"),
            ("completed", "COMPLETED"),
            ("withdrawn", "WITHDRAWN"),
            ("expired", "EXPIRED"),
        ] {
            assert_eq!(group[field]["value"].as_i64(), partner_count(&db, id, Some(status)).await, "{field}");
        }
        // The median hours to respond, computed independently.
        let (_, key) = psm_api::graphql::ids::decode(id, "id").expect("id");
        let partner = uuid::Uuid::parse_str(&key).expect("uuid");
        let mut hours: Vec<f64> = referrals
            .iter()
            .filter(|r| r.to_organisation_id == partner)
            .filter_map(|r| r.responded_at.map(|at| (at - r.sent_at).num_seconds() as f64 / 3600.0))
            .collect();
        hours.sort_by(f64::total_cmp);
        assert_eq!(group["responded"]["value"].as_i64(), Some(hours.len() as i64));
        match percentile(&hours, 0.5) {
            Some(median) => assert!((group["medianHoursToRespond"].as_f64().expect("median") - median).abs() < 1e-6),
            None => assert!(group["medianHoursToRespond"].is_null()),
        }
        let (a, c, d) = (
            group["accepted"]["value"].as_f64(),
            group["completed"]["value"].as_f64(),
            group["declined"]["value"].as_f64(),
        );
        if let (Some(a), Some(c), Some(d)) = (a, c, d)
            && a + c + d > 0.0
        {
            assert!((group["acceptanceRate"].as_f64().expect("rate") - (a + c) / (a + c + d)).abs() < 1e-9);
        }
    }
});

/// Referrals to one partner, optionally in one status, through the list API.
async fn partner_count(db: &TestDb, id: &str, status: Option<&str>) -> Option<i64> {
    let data = db
        .data(
            "query($id: ID!, $status: [ReferralStatus!]) { referrals(filter: {toOrganisationIds: [$id], status: $status}) { totalCount } }",
            json!({ "id": id, "status": status.map(|s| json!([s])) }),
        )
        .await;
    data["referrals"]["totalCount"].as_i64()
}

db_test!(a_stats_request_runs_one_statement_plus_one_per_kind_of_key, |db| async move {
    db.seed(300).await;
    let before = db.statements();
    let response = db
        .run(
            "{ caseStats(groupBy: [KELURAHAN, REPORTING_VOLUNTEER]) { groups { key { kelurahan { name } reportingVolunteer { fullName } } count { value } } } }",
            Value::Null,
        )
        .await;
    assert!(response.get("errors").is_none(), "{response:#}");
    assert!(response["data"]["caseStats"]["groups"].as_array().expect("groups").len() > 50);
    // The tallies' state, the grouped statement, one batch of kelurahan, one of volunteers, and the
    // audit record of the volunteer names read.
    assert_eq!(db.statements() - before, 5);
});

db_test!(volunteer_stats_and_coverage_agree_with_the_list_api, |db| async move {
    db.seed(600).await;
    let trained_since = (Utc::now() + chrono::Duration::hours(8))
        .date_naive()
        .checked_sub_months(chrono::Months::new(24))
        .expect("date");
    let query = "{ volunteerStats(exact: true, groupBy: [DISTRICT, STATUS]) {
        total { volunteers { value } }
        groups { key { district { code } status } volunteers { value } active { value } trained { value } casesReported { value } }
    } }";
    let response = db.run(query, Value::Null).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let stats = &response["data"]["volunteerStats"];
    let cases = case::Entity::find().all(&db.db).await.expect("cases");
    let volunteers = entity::volunteer::Entity::find().all(&db.db).await.expect("volunteers");
    let count = |filter: Value| {
        let db = &db;
        async move {
            let data = db
                .data("query($f: VolunteerFilter) { volunteers(filter: $f) { totalCount } }", json!({ "f": filter }))
                .await;
            data["volunteers"]["totalCount"].as_i64()
        }
    };
    assert_eq!(stats["total"]["volunteers"]["value"].as_i64(), count(Value::Null).await);
    for group in stats["groups"].as_array().expect("groups") {
        let district = group["key"]["district"]["code"].as_str().expect("district");
        let status = group["key"]["status"].as_str().expect("status");
        assert_eq!(
            group["volunteers"]["value"].as_i64(),
            count(json!({ "districtCodes": [district], "status": [status] })).await
        );
        let expected_active = if status == "ACTIVE" { group["volunteers"]["value"].as_i64() } else { Some(0) };
        assert_eq!(group["active"]["value"].as_i64(), expected_active);
        let trained = if status == "ACTIVE" {
            count(
                json!({ "districtCodes": [district], "status": ["ACTIVE"], "trainedSince": trained_since.to_string() }),
            )
            .await
        } else {
            Some(0)
        };
        assert_eq!(group["trained"]["value"].as_i64(), trained, "{district} {status}");
        let reported = cases
            .iter()
            .filter(|c| {
                c.reporting_volunteer_id
                    .and_then(|id| volunteers.iter().find(|v| v.id == id))
                    .is_some_and(|v| v.kelurahan_code.starts_with(district) && v.status.as_str() == status)
            })
            .count() as i64;
        assert_eq!(group["casesReported"]["value"].as_i64(), Some(reported), "{district} {status}");
    }

    let before = db.statements();
    let response = db
        .run(
            "{ volunteerCoverage(exact: true) { kelurahan { code name parent { code } } activeVolunteers { value } openCases { value } } }",
            Value::Null,
        )
        .await;
    assert!(response.get("errors").is_none(), "{response:#}");
    // The tallies' state, one statement for the counts and the kelurahan themselves, one batch for
    // their kecamatan, and the audit record of the request.
    assert_eq!(db.statements() - before, 4);
    let rows = response["data"]["volunteerCoverage"].as_array().expect("rows").clone();
    assert_eq!(rows.len(), 52);
    for row in &rows {
        let code = row["kelurahan"]["code"].as_str().expect("code");
        assert_eq!(
            row["activeVolunteers"]["value"].as_i64(),
            count(json!({ "kelurahanCodes": [code], "status": ["ACTIVE"] })).await
        );
        let open = db
            .data(
                "query($c: String!) { cases(filter: {kelurahanCodes: [$c], status: [NEW, ASSESSMENT, IN_SERVICE, REFERRED, REOPENED]}) { totalCount } }",
                json!({ "c": code }),
            )
            .await;
        assert_eq!(row["openCases"]["value"], open["cases"]["totalCount"], "{code}");
    }
    // With suppression on, a kelurahan without an active PSM still shows a true zero.
    let response = db.run("{ volunteerCoverage { activeVolunteers { value suppressed } } }", Value::Null).await;
    let zeros = response["data"]["volunteerCoverage"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["activeVolunteers"] == json!({ "value": 0, "suppressed": false }))
        .count();
    assert!(zeros > 0, "the demo data leaves some kelurahan without an active volunteer");
});

db_test!(referral_stats_as_of_stay_put_when_referrals_change_afterwards, |db| async move {
    use entity::enums::ReferralStatus;
    use entity::{referral, referral_event};
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::Query;
    use std::collections::BTreeMap;

    db.seed(800).await;
    let as_of = Utc.with_ymd_and_hms(2026, 5, 31, 16, 0, 0).single().expect("instant");
    let query = "query($asOf: DateTime, $groupBy: [ReferralDimension!]!) {
        referralStats(exact: true, groupBy: $groupBy, asOf: $asOf) {
            asOf
            total { sent { value } responded { value } medianHoursToRespond medianHoursToComplete }
            groups { key { status reason } sent { value } }
        }
    }";
    let variables = json!({ "asOf": as_of.to_rfc3339(), "groupBy": ["STATUS", "REASON"] });
    let run = |variables: Value| {
        let db = &db;
        async move {
            let response = db.run(query, variables).await;
            assert!(response.get("errors").is_none(), "{response:#}");
            response["data"]["referralStats"].clone()
        }
    };
    let figures = |stats: &Value| -> BTreeMap<(String, String), i64> {
        stats["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| {
                let key = &g["key"];
                (
                    (
                        key["status"].as_str().expect("status").to_owned(),
                        key["reason"].as_str().unwrap_or("").to_owned(),
                    ),
                    g["sent"]["value"].as_i64().expect("sent"),
                )
            })
            .collect()
    };
    let before = run(variables.clone()).await;
    assert!(before["asOf"].as_str().is_some_and(|s| s.starts_with("2026-05-31T16:00:00")), "{before}");

    // An independent computation from the event log: referrals sent by then, each in the status and with
    // the reason of its last event by then; hours to the first answer and to completion by then.
    let referrals = referral::Entity::find().all(&db.db).await.expect("referrals");
    let events = referral_event::Entity::find().all(&db.db).await.expect("events");
    let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    let (mut respond, mut complete) = (Vec::new(), Vec::new());
    for r in referrals.iter().filter(|r| r.sent_at <= as_of) {
        let mine: Vec<&referral_event::Model> =
            events.iter().filter(|e| e.referral_id == r.id && e.occurred_at <= as_of).collect();
        let last = mine.iter().max_by_key(|e| (e.occurred_at, e.id)).expect("an event");
        let reason = last.reason.map(|r| r.as_str().to_owned()).unwrap_or_default();
        *expected.entry((last.to_status.as_str().to_owned(), reason)).or_default() += 1;
        let hours = |status: &[ReferralStatus]| {
            mine.iter()
                .filter(|e| status.contains(&e.to_status))
                .map(|e| e.occurred_at)
                .min()
                .map(|at| (at - r.sent_at).num_seconds() as f64 / 3600.0)
        };
        respond.extend(hours(&[ReferralStatus::Accepted, ReferralStatus::Declined]));
        if last.to_status == ReferralStatus::Completed {
            complete.extend(hours(&[ReferralStatus::Completed]));
        }
    }
    assert_eq!(figures(&before), expected);
    assert!(referrals.iter().any(|r| r.sent_at > as_of), "the data should have later referrals");
    let total = &before["total"];
    assert_eq!(total["sent"]["value"].as_i64(), Some(expected.values().sum::<i64>()));
    assert_eq!(total["responded"]["value"].as_i64(), Some(respond.len() as i64));
    respond.sort_by(f64::total_cmp);
    complete.sort_by(f64::total_cmp);
    let close = |a: &Value, b: Option<f64>| {
        let (a, b) = (a.as_f64().expect("a number"), b.expect("a value"));
        assert!((a - b).abs() < 1e-6, "{a} != {b}");
    };
    close(&total["medianHoursToRespond"], percentile(&respond, 0.5));
    close(&total["medianHoursToComplete"], percentile(&complete, 0.5));

    // Long after `asOf`: every pending referral is declined, every accepted one completed, and a new one
    // is sent. Figures as of the past instant must not move; today's must.
    let now = crate::support::fixed_now() + chrono::Duration::days(1);
    let mut changed = 0;
    for r in &referrals {
        let (to, reason) = match r.status {
            ReferralStatus::Sent => (ReferralStatus::Declined, Some("NO_CAPACITY")),
            ReferralStatus::Accepted => (ReferralStatus::Completed, None),
            _ => continue,
        };
        changed += 1;
        let mut update = referral::Entity::update_many()
            .col_expr(referral::Column::Status, Expr::value(to.as_str()))
            .col_expr(referral::Column::Reason, Expr::value(reason))
            .col_expr(referral::Column::UpdatedAt, Expr::value(now))
            .filter(referral::Column::Id.eq(r.id));
        update = if to == ReferralStatus::Completed {
            update.col_expr(referral::Column::CompletedAt, Expr::value(now))
        } else {
            update.col_expr(referral::Column::RespondedAt, Expr::value(now))
        };
        update.exec(&db.db).await.expect("update the referral");
        let insert = Query::insert()
            .into_table(referral_event::Entity)
            .columns([
                referral_event::Column::Id,
                referral_event::Column::ReferralId,
                referral_event::Column::FromStatus,
                referral_event::Column::ToStatus,
                referral_event::Column::Reason,
                referral_event::Column::Actor,
                referral_event::Column::OccurredAt,
            ])
            .values_panic([
                uuid::Uuid::now_v7().into(),
                r.id.into(),
                r.status.as_str().into(),
                to.as_str().into(),
                reason.into(),
                "staff:test".into(),
                now.into(),
            ])
            .take();
        db.db.execute(&insert).await.expect("append an event");
    }
    assert!(changed > 0);
    let template = referrals.first().expect("a referral");
    let fresh = referral::ActiveModel {
        id: sea_orm::Set(uuid::Uuid::now_v7()),
        sent_at: sea_orm::Set(now),
        respond_by: sea_orm::Set(now + chrono::Duration::days(14)),
        status: sea_orm::Set(ReferralStatus::Sent),
        reason: sea_orm::Set(None),
        responded_at: sea_orm::Set(None),
        completed_at: sea_orm::Set(None),
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
        ..sea_orm::ActiveModelTrait::reset_all(sea_orm::IntoActiveModel::into_active_model(template.clone()))
    };
    referral::Entity::insert(fresh).exec(&db.db).await.expect("send a new referral");

    let after = run(variables).await;
    assert_eq!(figures(&after), figures(&before), "figures as of a past instant changed");
    assert_eq!(after["total"], before["total"]);
    let today = run(json!({ "groupBy": ["STATUS"] })).await;
    let statuses: Vec<&str> = today["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["key"]["status"].as_str().expect("status"))
        .collect();
    assert!(!statuses.contains(&"ACCEPTED"), "today no referral is accepted: {statuses:?}");
    assert_eq!(today["total"]["sent"]["value"].as_i64(), Some(referrals.len() as i64 + 1));

    let response = db.run(query, json!({ "groupBy": [], "asOf": "2100-01-01T00:00:00Z" })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));
});
