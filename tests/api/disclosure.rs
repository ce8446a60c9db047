//! The five attacks of issue 9, run as a DASHBOARD key over generated data, recover no count from 1 to
//! k-1 with certainty: row lists are closed to dashboards, differences of perturbed totals stand for
//! several true counts, time is sliced no finer than a day, and no published line pins a hidden cell.
//! Each attack also checks that it would have worked on exact figures, so that the test fails if the
//! perturbation is taken away. Then: the same request twice, and the same records asked for two ways,
//! publish the same figures; the budget is one per key and day in the database; every statistics
//! request is in the audit trail.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, Utc};
use entity::enums::{AuditAction, Role};
use entity::{audit_event, case};
use psm_api::auth::{NewKey, Viewer, authenticate, create_key};
use psm_api::config::ApiConfig;
use psm_api::graphql::ids::{NodeType, encode};
use psm_api::service::perturbation::PTable;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::reader;
use crate::support::{TestDb, db_test, error_code};

const K: u64 = 5;

/// A budget no attack here exhausts: the budget has tests of its own.
fn unlimited() -> ApiConfig {
    ApiConfig { stats_budget_cells: 1 << 40, ..ApiConfig::default() }
}

fn dashboard() -> Viewer {
    Viewer::with_role(Role::Dashboard)
}

/// A DASHBOARD key of its own, as a request carrying it runs.
async fn dashboard_key(db: &TestDb) -> Viewer {
    let new = NewKey { role: Role::Dashboard, organisation: None, volunteer: None, name: "wall screen".into() };
    let (key, _) = create_key(&db.db, &new).await.map_err(|e| e.detail()).expect("key");
    let cache = psm_api::auth::KeyCache::new(std::time::Duration::ZERO);
    match authenticate(&db.db, &cache, Some(&format!("Bearer {key}"))).await {
        Ok(viewer) => viewer,
        Err(_) => panic!("the new key authenticates"),
    }
}

/// `caseStats` as a DASHBOARD key (or, `exact`, as STAFF with `exact: true`).
async fn case_stats(db: &TestDb, exact: bool, arguments: &str) -> Value {
    let arguments = match (arguments.is_empty(), exact) {
        (true, false) => String::new(),
        (true, true) => "(exact: true)".to_owned(),
        (false, exact) => format!("({arguments}{})", if exact { ", exact: true" } else { "" }),
    };
    let query = format!(
        "{{ caseStats{arguments} {{ minimumCellSize
            total {{ count {{ value suppressed }} open {{ value suppressed }} closed {{ value suppressed }} }}
            groups {{ key {{ kelurahan {{ code }} category status urgency period }}
              count {{ value suppressed }} open {{ value suppressed }} closed {{ value suppressed }} }} }} }}"
    );
    let viewer = if exact { Viewer::with_role(Role::Staff) } else { dashboard() };
    let response = db.run_as_with(&viewer, unlimited(), &query, Value::Null).await;
    assert!(response.get("errors").is_none(), "{arguments}: {response:#}");
    response["data"]["caseStats"].clone()
}

/// The total count of a request, as published.
async fn total(db: &TestDb, exact: bool, arguments: &str) -> Value {
    case_stats(db, exact, arguments).await["total"]["count"].clone()
}

/// The true count a difference of two published totals is about, and what an attacker makes of it.
struct Difference {
    truth: i64,
    whole: Value,
    part: Value,
}

/// Checks a batch of differencing attempts: on exact figures every difference gives the hidden count
/// away (the attack works), while on published figures none is certain (each difference stands for
/// several counts, even knowing the count is at least 1) and many are plainly wrong.
fn assert_no_certainty(label: &str, exact: &[Difference], published: &[Difference]) {
    let ptable = PTable::built_in();
    assert!(published.len() >= 8, "{label}: the data should offer enough small counts to attack ({})", published.len());
    let value = |cell: &Value| cell["value"].as_i64();
    let recovered =
        exact.iter().filter(|d| value(&d.whole).zip(value(&d.part)).map(|(a, b)| a - b) == Some(d.truth)).count();
    assert_eq!(recovered, exact.len(), "{label}: on exact figures the attack recovers every count");
    let mut right = 0;
    for attempt in published {
        let candidates = reader::differences(ptable, K, &attempt.whole, &attempt.part, 1);
        assert!(candidates.contains(&attempt.truth), "{label}: the truth must stay possible");
        assert!(candidates.len() >= 2, "{label}: {} - {} pins {}", attempt.whole, attempt.part, attempt.truth);
        right +=
            usize::from(value(&attempt.whole).zip(value(&attempt.part)).map(|(a, b)| a - b) == Some(attempt.truth));
    }
    // A difference of two independent adjustments is 0 about 29 % of the time with the built-in table.
    assert!(right * 10 < published.len() * 6, "{label}: {right} of {} differences were right", published.len());
}

db_test!(attack_1_list_totals_and_rows_are_closed_to_dashboards, |db| async move {
    db.seed(600).await;
    let hiv = json!({ "categories": ["PERSON_LIVING_WITH_HIV"] });
    for (field, filter) in [
        ("cases", hiv.clone()),
        ("cases", Value::Null),
        ("persons", Value::Null),
        ("referrals", Value::Null),
        ("outcomes", Value::Null),
        ("volunteers", Value::Null),
    ] {
        let kind = match field {
            "cases" => "Case",
            "persons" => "Person",
            "referrals" => "Referral",
            "outcomes" => "Outcome",
            _ => "Volunteer",
        };
        let query =
            format!("query($f: {kind}Filter) {{ {field}(filter: $f, first: 5) {{ totalCount nodes {{ id }} }} }}");
        let staff = db.data(&query, json!({ "f": filter })).await;
        assert!(staff[field]["totalCount"].as_i64().is_some_and(|n| n > 0), "STAFF lists {field}");
        let seen = db.data_as(&dashboard(), &query, json!({ "f": filter })).await;
        assert_eq!(seen[field], json!({ "totalCount": 0, "nodes": [] }), "DASHBOARD {field} {filter}");
    }
    // Nothing by id or reference number either, and nothing through reference data.
    let case = case::Entity::find().one(&db.db).await.expect("case").expect("a case");
    for (query, variables) in [
        ("query($id: ID!) { node(id: $id) { id } }", json!({ "id": encode(NodeType::Case, case.id).0 })),
        ("query($id: ID!) { case(id: $id) { id } }", json!({ "id": encode(NodeType::Case, case.id).0 })),
        ("query($r: String!) { case(referenceNumber: $r) { id } }", json!({ "r": case.reference_number })),
        ("query($id: ID!) { person(id: $id) { id } }", json!({ "id": encode(NodeType::Person, case.person_id).0 })),
    ] {
        let response = db.run_as(&dashboard(), query, variables).await;
        assert_eq!(error_code(&response), Some("NOT_FOUND"), "{query}: {response}");
    }
    let nested = db
        .data_as(
            &dashboard(),
            "{ organisations { nodes { referralsReceived { totalCount } } } programmes { nodes { enrollments { totalCount } } } }",
            Value::Null,
        )
        .await;
    for count in nested.to_string().split("\"totalCount\":").skip(1) {
        assert!(count.starts_with('0'), "{nested}");
    }
    // Reference data is still there.
    let regions = db.data_as(&dashboard(), "{ regions { totalCount } programmes { totalCount } }", Value::Null).await;
    assert_eq!(regions["regions"]["totalCount"], 59);
});

/// Per kelurahan, the cases with urgency EMERGENCY: the hidden counts of attack 2.
async fn emergencies(db: &TestDb) -> BTreeMap<String, i64> {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for case in case::Entity::find().all(&db.db).await.expect("cases") {
        let entry = counts.entry(case.kelurahan_code.clone()).or_default();
        *entry += i64::from(case.urgency.as_str() == "EMERGENCY");
    }
    counts
}

db_test!(attack_2_differencing_two_totals_recovers_no_hidden_count_with_certainty, |db| async move {
    db.seed(600).await;
    let (mut exact, mut published) = (Vec::new(), Vec::new());
    for (kelurahan, truth) in emergencies(&db).await.into_iter().filter(|(_, n)| (1..K as i64).contains(n)) {
        let whole = format!("filter: {{ kelurahanCodes: [\"{kelurahan}\"] }}");
        let part = format!("filter: {{ kelurahanCodes: [\"{kelurahan}\"], urgency: [LOW, NORMAL, HIGH] }}");
        for (is_exact, list) in [(true, &mut exact), (false, &mut published)] {
            let difference = Difference {
                truth,
                whole: total(&db, is_exact, &whole).await,
                part: total(&db, is_exact, &part).await,
            };
            list.push(difference);
        }
    }
    assert_no_certainty("kelurahan minus its non-emergencies", &exact, &published);
});

db_test!(attack_3_as_of_is_whole_days_and_a_day_apart_recovers_nothing_certain, |db| async move {
    db.seed(600).await;
    let cases = case::Entity::find().all(&db.db).await.expect("cases");
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("WITA");
    // One second apart around a case's opening: refused.
    let opened = cases.iter().map(|c| c.opened_at).max().expect("a case");
    for instant in [opened, opened - Duration::seconds(1)] {
        let response = db
            .run_as_with(
                &dashboard(),
                unlimited(),
                "query($at: DateTime) { caseStats(asOf: $at) { total { count { value } } } }",
                json!({ "at": instant.to_rfc3339() }),
            )
            .await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], "asOf");
    }
    // A day apart: the cases opened on that day, for the days with a few.
    let mut per_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for case in &cases {
        *per_day.entry(case.opened_at.with_timezone(&offset).date_naive()).or_default() += 1;
    }
    let last = (fixed_today() - Duration::days(1)).date_naive();
    let days: Vec<(NaiveDate, i64)> =
        per_day.into_iter().filter(|(day, n)| *day < last && (1..K as i64).contains(n)).rev().take(16).collect();
    let (mut exact, mut published) = (Vec::new(), Vec::new());
    for (day, truth) in days {
        let midnight = |day: NaiveDate| format!("asOf: \"{day}T00:00:00+08:00\"");
        let (after, before) = (midnight(day + Duration::days(1)), midnight(day));
        for (is_exact, list) in [(true, &mut exact), (false, &mut published)] {
            let difference = Difference {
                truth,
                whole: total(&db, is_exact, &after).await,
                part: total(&db, is_exact, &before).await,
            };
            list.push(difference);
        }
    }
    assert_no_certainty("as of consecutive midnights", &exact, &published);
});

/// Today in the tests' fixed "now": the seed's data ends there.
fn fixed_today() -> chrono::DateTime<Utc> {
    crate::support::fixed_now()
}

db_test!(attack_4_periods_a_day_apart_recover_nothing_certain, |db| async move {
    db.seed(600).await;
    // Period ends must be midnights in the city; so must the instants of filters.
    for (arguments, field) in [
        (
            "groupBy: [OPENED_MONTH], period: { from: \"2025-01-01T00:00:00+08:00\", before: \"2025-02-01T00:00:01+08:00\" }",
            "period.before",
        ),
        ("filter: { opened: { from: \"2025-01-01T12:00:00+08:00\" } }", "filter.opened.from"),
        ("filter: { updatedSince: \"2025-01-01T00:00:00Z\" }", "filter.updatedSince"),
    ] {
        let query = format!("{{ caseStats({arguments}) {{ total {{ count {{ value }} }} }} }}");
        let response = db.run_as_with(&dashboard(), unlimited(), &query, Value::Null).await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{arguments}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
    }
    // Periods from the first of the month to consecutive days: the difference is one day's cases.
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("WITA");
    let mut per_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for case in case::Entity::find().all(&db.db).await.expect("cases") {
        *per_day.entry(case.opened_at.with_timezone(&offset).date_naive()).or_default() += 1;
    }
    let days: Vec<(NaiveDate, i64)> = per_day
        .into_iter()
        .filter(|(day, n)| day.format("%d").to_string() != "01" && (1..K as i64).contains(n))
        .rev()
        .take(16)
        .collect();
    let (mut exact, mut published) = (Vec::new(), Vec::new());
    for (day, truth) in days {
        let first =
            NaiveDate::from_ymd_opt(chrono::Datelike::year(&day), chrono::Datelike::month(&day), 1).expect("day");
        let period = |before: NaiveDate| {
            format!(
                "groupBy: [OPENED_YEAR], period: {{ from: \"{first}T00:00:00+08:00\", before: \"{before}T00:00:00+08:00\" }}"
            )
        };
        for (is_exact, list) in [(true, &mut exact), (false, &mut published)] {
            let whole = total(&db, is_exact, &period(day + Duration::days(1))).await;
            let part = total(&db, is_exact, &period(day)).await;
            list.push(Difference { truth, whole, part });
        }
    }
    assert_no_certainty("periods a day apart", &exact, &published);
});

db_test!(attack_5_zero_versus_suppressed_pins_no_hidden_cell, |db| async move {
    db.seed(600).await;
    let ptable = PTable::built_in();
    // The single-record filter and the per-volunteer grouping of the issue are refused outright.
    let case = case::Entity::find().one(&db.db).await.expect("case").expect("a case");
    let response = db
        .run_as_with(
            &dashboard(),
            unlimited(),
            "query($r: String) { caseStats(groupBy: [STATUS], filter: { referenceNumber: $r }) { total { count { value } } } }",
            json!({ "r": case.reference_number }),
        )
        .await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    assert_eq!(response["errors"][0]["extensions"]["field"], "filter.referenceNumber");
    let response = db
        .run_as_with(
            &dashboard(),
            unlimited(),
            "{ caseStats(groupBy: [REPORTING_VOLUNTEER, STATUS]) { total { count { value } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response}");

    // KELURAHAN x STATUS with the kelurahan totals of a coarser request, as the issue's attacker read
    // them: where a row's hidden cells add up to their number, each must be 1.
    let statuses = ["NEW", "ASSESSMENT", "IN_SERVICE", "REFERRED", "CLOSED", "REOPENED"];
    let mut truth: BTreeMap<(String, String), i64> = BTreeMap::new();
    for case in case::Entity::find().all(&db.db).await.expect("cases") {
        *truth.entry((case.kelurahan_code.clone(), case.status.as_str().to_owned())).or_default() += 1;
    }
    let cells = case_stats(&db, false, "groupBy: [KELURAHAN, STATUS]").await;
    let rows = case_stats(&db, false, "groupBy: [KELURAHAN]").await;
    let (mut fired, mut right, mut suppressed) = (0, 0, 0);
    for row in rows["groups"].as_array().expect("groups") {
        let kelurahan = row["key"]["kelurahan"]["code"].as_str().expect("kelurahan");
        let line: Vec<(&str, &Value)> = cells["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter(|g| g["key"]["kelurahan"]["code"] == kelurahan)
            .map(|g| (g["key"]["status"].as_str().expect("status"), &g["count"]))
            .collect();
        let hidden: Vec<&str> = line.iter().filter(|(_, c)| c["value"].is_null()).map(|(s, _)| *s).collect();
        suppressed += hidden.len();
        let shown: i64 = line.iter().filter_map(|(_, c)| c["value"].as_i64()).sum();
        // The issue's reading, right on a table suppressed without noise.
        if let Some(total) = row["count"]["value"].as_i64()
            && !hidden.is_empty()
            && total - shown == hidden.len() as i64
        {
            fired += 1;
            right +=
                usize::from(hidden.iter().all(|s| truth.get(&(kelurahan.to_owned(), (*s).to_owned())) == Some(&1)));
        }
        // The sound reading: bounds through the row, every status (a missing one was published as 0, or
        // is empty), with the row's total from the coarser request.
        let mut bounds: Vec<reader::Bounds> = statuses
            .iter()
            .map(|status| match line.iter().find(|(s, _)| s == status) {
                Some((_, cell)) => reader::cell(ptable, K, cell),
                None => reader::shown(ptable, 0),
            })
            .collect();
        bounds.push(reader::cell(ptable, K, &row["count"]));
        let bounds = reader::propagate(bounds, &[(statuses.len(), (0..statuses.len()).collect())]);
        assert!(reader::pinned(&bounds, K).is_empty(), "{kelurahan}: {line:?} {} pins {bounds:?}", row["count"]);
    }
    assert!(suppressed > 20, "the data should have many hidden cells ({suppressed})");
    assert!(fired == 0 || right < fired, "the issue's reading fired {fired} times and was always right");
});

db_test!(the_same_records_asked_twice_or_two_ways_publish_the_same_figures, |db| async move {
    db.seed(600).await;
    // Twice.
    let first = case_stats(&db, false, "groupBy: [KELURAHAN, STATUS]").await;
    assert_eq!(case_stats(&db, false, "groupBy: [KELURAHAN, STATUS]").await, first);
    // A kecamatan by its code, and by the list of its kelurahan; as a group of a grouped request.
    let district = "63.71.01";
    let kelurahan: BTreeSet<String> = case::Entity::find()
        .all(&db.db)
        .await
        .expect("cases")
        .into_iter()
        .map(|c| c.kelurahan_code)
        .filter(|code| code.starts_with(district))
        .collect();
    let codes = kelurahan.iter().map(|code| format!("\"{code}\"")).collect::<Vec<_>>().join(", ");
    let by_code =
        case_stats(&db, false, &format!("filter: {{ districtCodes: [\"{district}\"] }}")).await["total"].clone();
    let by_list = case_stats(&db, false, &format!("filter: {{ kelurahanCodes: [{codes}] }}")).await["total"].clone();
    assert_eq!(by_code, by_list);
    let grouped = case_stats(&db, false, "groupBy: [URGENCY], filter: { districtCodes: [\"63.71.01\"] }").await;
    assert_eq!(grouped["total"], by_code);
    // Every urgency named, or none.
    let all = case_stats(&db, false, "").await["total"].clone();
    assert_eq!(case_stats(&db, false, "filter: { urgency: [LOW, NORMAL, HIGH, EMERGENCY] }").await["total"], all);
    // A category as a group, and as a filter.
    let categories = case_stats(&db, false, "groupBy: [CATEGORY]").await;
    let mut compared = 0;
    for group in categories["groups"].as_array().expect("groups").iter().take(6) {
        let category = group["key"]["category"].as_str().expect("category");
        let alone = case_stats(&db, false, &format!("filter: {{ categories: [{category}] }}")).await;
        let cells = |g: &Value| json!([g["count"], g["open"], g["closed"]]);
        assert_eq!(cells(&alone["total"]), cells(group), "{category}");
        compared += 1;
    }
    assert!(compared > 3);
    // And the figures are perturbed: somewhere a published count differs from the true one.
    let exact = case_stats(&db, true, "groupBy: [KELURAHAN, STATUS]").await;
    let values = |data: &Value| -> Vec<Option<i64>> {
        data["groups"].as_array().expect("groups").iter().map(|g| g["count"]["value"].as_i64()).collect()
    };
    let published = values(&first);
    let differ = values(&exact).iter().zip(&published).filter(|(e, p)| p.is_some() && e != p).count();
    assert!(differ > 5, "published figures must not be the exact ones ({differ} differ)");
});

db_test!(published_counts_stay_within_the_bound_and_exact_figures_stay_exact, |db| async move {
    db.seed(600).await;
    let exact = case_stats(&db, true, "groupBy: [KELURAHAN]").await;
    let published = case_stats(&db, false, "groupBy: [KELURAHAN]").await;
    assert_eq!(exact["minimumCellSize"], 1);
    assert_eq!(published["minimumCellSize"], 5);
    let truth: BTreeMap<String, i64> = exact["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (g["key"]["kelurahan"]["code"].as_str().expect("code").to_owned(), g["count"]["value"].as_i64().expect("n"))
        })
        .collect();
    let mut counted = BTreeMap::<String, i64>::new();
    for case in case::Entity::find().all(&db.db).await.expect("cases") {
        *counted.entry(case.kelurahan_code).or_default() += 1;
    }
    assert_eq!(truth, counted, "exact figures are the true counts");
    for group in published["groups"].as_array().expect("groups") {
        let code = group["key"]["kelurahan"]["code"].as_str().expect("code");
        if let Some(value) = group["count"]["value"].as_i64() {
            assert!((value - truth[code]).abs() <= 2, "{code}: {value} for {}", truth[code]);
            assert!(value == 0 || value >= K as i64);
        }
    }
});

/// The budget settings of the budget tests: 1000 cells a day, a request costing at least 300.
fn small_budget() -> ApiConfig {
    ApiConfig { stats_budget_cells: 1_000, stats_request_minimum_cells: 300, ..ApiConfig::default() }
}

const TOTAL: &str = "{ caseStats { total { count { value } } } }";

db_test!(the_statistics_budget_is_per_key_and_day_in_the_database, |db| async move {
    db.seed(60).await;
    let key = dashboard_key(&db).await;
    // Each call builds its own schema, as another replica would: the budget holds across them.
    for n in 0..3 {
        let response = db.run_as_with(&key, small_budget(), TOTAL, Value::Null).await;
        assert!(response.get("errors").is_none(), "request {n}: {response}");
    }
    let before = db.statements();
    let refused = db.run_as_with(&key, small_budget(), TOTAL, Value::Null).await;
    assert_eq!(error_code(&refused), Some("STATS_BUDGET_EXHAUSTED"), "{refused}");
    // An exhausted key costs one indexed read and the audit record, never the statistics statement.
    assert_eq!(db.statements() - before, 2, "an exhausted key ran statistics SQL");
    let extensions = &refused["errors"][0]["extensions"];
    assert_eq!(extensions["status"], 429);
    assert_eq!(extensions["budgetCells"], 1_000);
    assert_eq!(extensions["requestCells"], 300);
    assert!(refused["data"].is_null() || refused["data"]["caseStats"].is_null(), "{refused}");
    let reset =
        chrono::DateTime::parse_from_rfc3339(extensions["resetAt"].as_str().expect("resetAt")).expect("instant");
    let city = reset.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("WITA"));
    assert_eq!(city.format("%H:%M:%S").to_string(), "00:00:00", "the budget resets at midnight in the city");
    let wait = reset.with_timezone(&Utc) - Utc::now();
    assert!(wait > Duration::zero() && wait <= Duration::days(1), "{reset}");
    // A refused request is not charged: a request that fits the remaining 100 cells still runs.
    let fits = ApiConfig { stats_request_minimum_cells: 100, ..small_budget() };
    assert!(db.run_as_with(&key, fits.clone(), TOTAL, Value::Null).await.get("errors").is_none());
    assert_eq!(error_code(&db.run_as_with(&key, fits, TOTAL, Value::Null).await), Some("STATS_BUDGET_EXHAUSTED"));
    // Another key has its own budget; STAFF have none; a request larger than a whole day's is refused.
    let other = dashboard_key(&db).await;
    assert!(db.run_as_with(&other, small_budget(), TOTAL, Value::Null).await.get("errors").is_none());
    for _ in 0..5 {
        let staff = db.run_with(small_budget(), TOTAL, Value::Null).await;
        assert!(staff.get("errors").is_none(), "{staff}");
    }
    let tiny = ApiConfig { stats_budget_cells: 200, ..small_budget() };
    let refused = db.run_as_with(&other, tiny, TOTAL, Value::Null).await;
    assert_eq!(error_code(&refused), Some("STATS_BUDGET_EXHAUSTED"));
    // The rows of the budget: one per key and day, nothing for STAFF.
    let rows = db
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            db.db.get_database_backend(),
            "SELECT cells, requests FROM statistics_budgets ORDER BY cells",
        ))
        .await
        .expect("budget rows");
    let used: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r.try_get("", "cells").expect("cells"), r.try_get("", "requests").expect("requests")))
        .collect();
    assert_eq!(used, vec![(300, 1), (1_000, 4)]);
});

db_test!(concurrent_requests_never_overdraw_the_budget, |db| async move {
    db.seed(60).await;
    let key = dashboard_key(&db).await;
    let config = ApiConfig { stats_budget_cells: 1_500, stats_request_minimum_cells: 100, ..ApiConfig::default() };
    let responses =
        futures_util::future::join_all((0..24).map(|_| db.run_as_with(&key, config.clone(), TOTAL, Value::Null))).await;
    let served = responses.iter().filter(|r| r.get("errors").is_none()).count();
    let refused = responses.iter().filter(|r| error_code(r) == Some("STATS_BUDGET_EXHAUSTED")).count();
    assert_eq!((served, refused), (15, 9), "{responses:?}");
});

db_test!(every_statistics_request_is_in_the_audit_trail_with_its_arguments, |db| async move {
    db.seed(60).await;
    let key = dashboard_key(&db).await;
    let asked = "{ caseStats(groupBy: [DISTRICT], filter: { urgency: [EMERGENCY] }) { groups { count { value } } } }";
    let response = db.run_as_with(&key, unlimited(), asked, Value::Null).await;
    assert!(response.get("errors").is_none(), "{response}");
    let groups = response["data"]["caseStats"]["groups"].as_array().expect("groups").len() as i64;
    let refused = "{ caseStats(asOf: \"2025-01-01T12:00:00+08:00\") { total { count { value } } } }";
    assert_eq!(error_code(&db.run_as_with(&key, unlimited(), refused, Value::Null).await), Some("BAD_USER_INPUT"));
    db.data("{ volunteerCoverage(exact: true) { openCases { value } } }", Value::Null).await;
    let records = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("Statistics"))
        .all(&db.db)
        .await
        .expect("records");
    assert_eq!(records.len(), 3, "{records:?}");
    let detail = |record: &audit_event::Model| -> Value {
        serde_json::from_str(record.after.as_deref().expect("detail")).expect("json")
    };
    let first =
        records.iter().find(|r| r.actor.starts_with("DASHBOARD") && detail(r).get("cells").is_some()).expect("served");
    assert_eq!(first.action, AuditAction::Read);
    assert_eq!(first.subject_id, "caseStats");
    assert_eq!(first.api_key_id, key.key_id);
    let served = detail(first);
    assert_eq!(served["arguments"]["groupBy"], json!(["DISTRICT"]));
    assert_eq!(served["arguments"]["filter"], json!({ "urgency": ["EMERGENCY"] }));
    assert_eq!(served["exact"], false);
    assert_eq!(served["cells"], (groups + 1) * 3, "(kecamatan listed + total) x 3 counts");
    let refusal = records.iter().map(detail).find(|d| d.get("refused").is_some()).expect("refused");
    assert_eq!(refusal["refused"], "BAD_USER_INPUT");
    let staff = records.iter().find(|r| r.subject_id == "volunteerCoverage").expect("coverage");
    assert_eq!(detail(staff)["exact"], true);
    assert!(staff.actor.starts_with("STAFF"));
});

db_test!(a_dashboard_statistics_request_costs_one_grouped_statement_and_one_budget_statement, |db| async move {
    db.seed(300).await;
    let before = db.statements();
    let response = db
        .run_as_with(
            &dashboard(),
            unlimited(),
            "{ caseStats(groupBy: [KELURAHAN, CATEGORY]) { groups { key { kelurahan { name } category } count { value } } } }",
            Value::Null,
        )
        .await;
    assert!(response.get("errors").is_none(), "{response:#}");
    assert!(response["data"]["caseStats"]["groups"].as_array().expect("groups").len() > 50);
    // The budget's check, the tallies' state, the grouped statement (counts and key sums together),
    // the budget's charge, one batch of kelurahan, and the audit record.
    assert_eq!(db.statements() - before, 6);
});

/// The record keys of a counted table, by row id.
async fn record_keys(db: &TestDb, table: &str) -> BTreeMap<String, i64> {
    let sql = format!("SELECT id, record_key FROM {table}");
    let rows =
        db.db.query_all_raw(sea_orm::Statement::from_string(db.db.get_database_backend(), sql)).await.expect("keys");
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get("", "id").expect("id");
            (id.to_string(), row.try_get::<i32>("", "record_key").map(i64::from).expect("record_key"))
        })
        .collect()
}

const COUNTED: [&str; 5] = ["cases", "referrals", "outcomes", "enrollments", "volunteers"];

/// Keys in range and (at 2^31 values) all different: a forgotten key would be 0, or shared.
fn assert_random(table: &str, keys: &[i64]) {
    assert!(keys.len() >= 3, "{table}: {} rows", keys.len());
    assert!(keys.iter().all(|key| (0..1 << 31).contains(key)), "{table}: {keys:?}");
    let distinct: BTreeSet<&i64> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "{table}: {keys:?}");
}

db_test!(the_record_key_migration_draws_a_key_for_every_existing_row, |db| async move {
    use migration::{Migrator, MigratorTrait};
    db.seed(60).await;
    let before: Vec<BTreeMap<String, i64>> =
        futures_util::future::join_all(COUNTED.iter().map(|table| record_keys(&db, table))).await;
    // Back to before the migration (and whatever came after it), then up again.
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let position = names.iter().position(|n| n == "m20261201_000040_add_record_keys").expect("the migration");
    Migrator::down(&db.db, Some((names.len() - position) as u32)).await.expect("down");
    Migrator::up(&db.db, None).await.expect("up");
    for (table, before) in COUNTED.iter().zip(before) {
        let after = record_keys(&db, table).await;
        assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "{table}: same rows");
        let keys: Vec<i64> = after.values().copied().collect();
        assert_random(table, &keys);
        let redrawn = after.iter().filter(|(id, key)| before.get(*id) != Some(key)).count();
        assert!(redrawn * 10 > after.len() * 9, "{table}: keys drawn afresh ({redrawn} of {})", after.len());
    }
});

db_test!(every_write_command_draws_a_record_key, |db| async move {
    db.seed(30).await;
    let before: Vec<BTreeMap<String, i64>> =
        futures_util::future::join_all(COUNTED.iter().map(|table| record_keys(&db, table))).await;
    let organisations = db.data("{ organisations { nodes { id code } } programmes { nodes { id code eligibleCategories startsOn endsOn } } }", Value::Null).await;
    let partner = organisations["organisations"]["nodes"]
        .as_array()
        .expect("organisations")
        .iter()
        .find(|o| o["code"] != "DINSOS")
        .expect("a partner")["id"]
        .clone();
    let programme = organisations["programmes"]["nodes"]
        .as_array()
        .expect("programmes")
        .iter()
        .find(|p| {
            p["endsOn"].is_null()
                && p["eligibleCategories"].as_array().is_some_and(|c| c.is_empty() || c.contains(&json!("POOR")))
        })
        .expect("an open programme for the poor")["id"]
        .clone();
    for n in 0..3 {
        let input = json!({
            "newPerson": { "fullName": "Siti Aminah", "nik": format!("637101020304050{n}"), "birthDate": "1948-03-02",
                           "sex": "FEMALE", "address": "Jl. Kelayan B No. 7", "kelurahanCode": "63.71.01.1001" },
            "kelurahanCode": "63.71.01.1001", "categories": ["POOR"], "urgency": "HIGH", "source": "PSM_VISIT",
            "summary": "Lives alone."
        });
        let reported = db
            .data(
                "mutation($input: ReportCaseInput!) { reportCase(input: $input) { case { id version } } }",
                json!({ "input": input }),
            )
            .await;
        let case = reported["reportCase"]["case"]["id"].clone();
        db.data(
            "mutation($c: ID!, $v: Int!) { changeCaseStatus(id: $c, version: $v, status: ASSESSMENT) { case { id } } }",
            json!({ "c": case, "v": reported["reportCase"]["case"]["version"] }),
        )
        .await;
        db.data(
            "mutation($c: ID!, $o: ID!) { sendReferral(input: {caseId: $c, toOrganisationId: $o, consentOverrideReason: \"urgent\"}) { referral { id } } }",
            json!({ "c": case, "o": partner }),
        )
        .await;
        db.data(
            "mutation($c: ID!) { recordOutcome(input: {caseId: $c, outcomeType: GOT_HELP}) { outcome { id } } }",
            json!({ "c": case }),
        )
        .await;
        db.data(
            "mutation($c: ID!, $p: ID!) { enrolCase(input: {caseId: $c, programmeId: $p}) { enrollment { id } } }",
            json!({ "c": case, "p": programme }),
        )
        .await;
        db.data(
            "mutation($name: String!) { registerVolunteer(input: {fullName: $name, gender: FEMALE, birthYear: 1980, servedSince: \"2020-01-01\", homeKelurahanCode: \"63.71.01.1001\", kelurahanCode: \"63.71.01.1001\"}) { volunteer { id } } }",
            json!({ "name": format!("Relawan {n}") }),
        )
        .await;
    }
    for (table, before) in COUNTED.iter().zip(before) {
        let after = record_keys(&db, table).await;
        let new: Vec<i64> = after.iter().filter(|(id, _)| !before.contains_key(*id)).map(|(_, key)| *key).collect();
        assert_random(table, &new);
    }
    // And no reader ever sees one: not the audit trail, not an export.
    let trail = audit_event::Entity::find().all(&db.db).await.expect("trail");
    assert!(trail.iter().any(|event| event.subject_type == "Case" && event.after.is_some()));
    assert!(trail.iter().all(|event| !format!("{:?}{:?}", event.before, event.after).contains("record_key")));
});
