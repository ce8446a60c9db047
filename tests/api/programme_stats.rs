//! `programmeStats`: enrollments, outcomes, targets and budgets agree with the rows and the list API; a
//! programme's target and budget count once however many enrollments it has; small counts are suppressed.

use std::collections::BTreeMap;

use entity::{case, enrollment, outcome, programme};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::support::{TestDb, db_test, error_code};

/// Figures as STAFF reads them with `exact: true`, or as every other request gets them (perturbed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figures {
    Exact,
    Published,
}
use Figures::{Exact, Published};

const STATS: &str = "query($exact: Boolean = false, $groupBy: [ProgrammeDimension!]!, $filter: ProgrammeFilter, $period: StatsPeriod) {
  programmeStats(exact: $exact, groupBy: $groupBy, filter: $filter, period: $period) {
    minimumCellSize
    total { enrolled { value suppressed } target reach outcomes { value suppressed } success { value suppressed } needsFollowUp { value suppressed } neutral { value suppressed } budgetIdr }
    groups {
      key { programme { id code target budgetIdr } ownerOrganisation { id } district { code } period }
      enrolled { value suppressed } target reach outcomes { value suppressed } success { value suppressed }
      needsFollowUp { value suppressed } neutral { value suppressed } budgetIdr
    }
  }
}";

async fn stats(db: &TestDb, figures: Figures, mut variables: Value) -> Value {
    variables["exact"] = json!(figures == Exact);
    let response = db.run(STATS, variables).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    response["data"]["programmeStats"].clone()
}

fn value(cell: &Value) -> Option<i64> {
    cell["value"].as_i64()
}

/// Figures counted here from the rows, per key.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    enrolled: i64,
    outcomes: i64,
    success: i64,
    needs_follow_up: i64,
    neutral: i64,
    target: i64,
    budget: i64,
}

struct Rows {
    programmes: Vec<programme::Model>,
    enrollments: Vec<enrollment::Model>,
    outcomes: Vec<outcome::Model>,
    cases: Vec<case::Model>,
}

impl Rows {
    async fn load(db: &TestDb) -> Rows {
        Rows {
            programmes: programme::Entity::find().all(&db.db).await.expect("programmes"),
            enrollments: enrollment::Entity::find().all(&db.db).await.expect("enrollments"),
            outcomes: outcome::Entity::find().all(&db.db).await.expect("outcomes"),
            cases: case::Entity::find().all(&db.db).await.expect("cases"),
        }
    }

    fn district(&self, case: uuid::Uuid) -> String {
        self.cases.iter().find(|c| c.id == case).expect("case").kelurahan_code[..8].to_owned()
    }

    /// The figures by `key` of a programme (and, for enrollments and outcomes, of their case).
    fn by(&self, key: impl Fn(&programme::Model, Option<uuid::Uuid>) -> Option<String>) -> BTreeMap<String, Expected> {
        let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
        let programme = |id: uuid::Uuid| self.programmes.iter().find(|p| p.id == id).expect("programme");
        for p in &self.programmes {
            if let Some(k) = key(p, None) {
                let e = expected.entry(k).or_default();
                e.target += i64::from(p.target);
                e.budget += p.budget_idr;
            }
        }
        for en in &self.enrollments {
            if let Some(k) = key(programme(en.programme_id), Some(en.case_id)) {
                expected.entry(k).or_default().enrolled += 1;
            }
        }
        for o in &self.outcomes {
            let Some(id) = o.programme_id else { continue };
            if let Some(k) = key(programme(id), Some(o.case_id)) {
                let e = expected.entry(k).or_default();
                e.outcomes += 1;
                match o.outcome_group.as_str() {
                    "SUCCESS" => e.success += 1,
                    "NEEDS_FOLLOW_UP" => e.needs_follow_up += 1,
                    _ => e.neutral += 1,
                }
            }
        }
        expected
    }
}

/// The figures of a published group, with target and budget as 0 when null.
fn published(group: &Value) -> Expected {
    let count = |field: &str| value(&group[field]).expect(field);
    Expected {
        enrolled: count("enrolled"),
        outcomes: count("outcomes"),
        success: count("success"),
        needs_follow_up: count("needsFollowUp"),
        neutral: count("neutral"),
        target: group["target"].as_i64().unwrap_or(0),
        budget: group["budgetIdr"].as_i64().unwrap_or(0),
    }
}

fn check_reach(group: &Value) {
    match (value(&group["enrolled"]), group["target"].as_i64()) {
        (Some(enrolled), Some(target)) if target > 0 => {
            assert!((group["reach"].as_f64().expect("reach") - enrolled as f64 / target as f64).abs() < 1e-9)
        }
        _ => assert!(group["reach"].is_null(), "{group}"),
    }
}

fn uuid_of(id: &str) -> uuid::Uuid {
    let (_, key) = psm_api::graphql::ids::decode(id, "id").expect("id");
    uuid::Uuid::parse_str(&key).expect("uuid")
}

db_test!(programme_stats_count_each_target_and_budget_once, |db| async move {
    db.seed(600).await;
    let rows = Rows::load(&db).await;
    assert!(rows.enrollments.len() > rows.programmes.len(), "programmes should have several enrollments");

    let data = stats(&db, Exact, json!({ "groupBy": ["PROGRAMME"] })).await;
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), rows.programmes.len(), "every programme, enrollments or not");
    let expected = rows.by(|p, _| Some(p.id.to_string()));
    for group in groups {
        let p = &group["key"]["programme"];
        let id = uuid_of(p["id"].as_str().expect("id"));
        assert_eq!(published(group), expected[&id.to_string()], "{}", p["code"]);
        assert_eq!(group["target"], p["target"]);
        assert_eq!(group["budgetIdr"], p["budgetIdr"]);
        check_reach(group);
        // Outcomes by group, through the list API.
        for (field, outcome_group) in
            [("success", "SUCCESS"), ("needsFollowUp", "NEEDS_FOLLOW_UP"), ("neutral", "NEUTRAL")]
        {
            let listed = db
                .data(
                    "query($f: OutcomeFilter) { outcomes(filter: $f) { totalCount } }",
                    json!({ "f": { "programmeIds": [p["id"]], "outcomeGroup": [outcome_group] } }),
                )
                .await;
            assert_eq!(group[field]["value"], listed["outcomes"]["totalCount"], "{field}");
        }
    }
    let all = rows.by(|_, _| Some(String::new()));
    assert_eq!(published(&data["total"]), all[""]);
    check_reach(&data["total"]);

    // By owner, with a filter: the same as the programmes the list API returns for it.
    let data = stats(&db, Exact, json!({ "groupBy": ["OWNER_ORGANISATION"], "filter": { "kind": ["HOUSE_REHABILITATION", "ELDERLY_ACCOMPANIMENT", "SOCIAL_ASSISTANCE"] } })).await;
    let listed = db
        .data(
            "{ programmes(first: 100, filter: { kind: [HOUSE_REHABILITATION, ELDERLY_ACCOMPANIMENT, SOCIAL_ASSISTANCE] }) { totalCount nodes { id } } }",
            Value::Null,
        )
        .await;
    let chosen: Vec<uuid::Uuid> = listed["programmes"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| uuid_of(n["id"].as_str().expect("id")))
        .collect();
    assert!(!chosen.is_empty() && chosen.len() < rows.programmes.len());
    let expected = rows.by(|p, _| chosen.contains(&p.id).then(|| p.owner_organisation_id.to_string()));
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), expected.len());
    for group in groups {
        let owner = uuid_of(group["key"]["ownerOrganisation"]["id"].as_str().expect("owner"));
        assert_eq!(published(group), expected[&owner.to_string()]);
        check_reach(group);
    }
});

db_test!(programme_stats_by_district_split_counts_but_not_targets, |db| async move {
    db.seed(600).await;
    let rows = Rows::load(&db).await;
    let data = stats(&db, Exact, json!({ "groupBy": ["DISTRICT"] })).await;
    let expected = rows.by(|_, case| case.map(|c| rows.district(c)));
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 5, "the five kecamatan, no group for the programmes themselves");
    for group in groups {
        let district = group["key"]["district"]["code"].as_str().expect("district");
        assert!(group["target"].is_null() && group["budgetIdr"].is_null() && group["reach"].is_null());
        assert_eq!(published(group), expected[district], "{district}");
    }
    // The total still carries every programme's target and budget, once.
    let all = rows.by(|_, _| Some(String::new()));
    assert_eq!(published(&data["total"]), all[""]);

    let data = stats(&db, Exact, json!({ "groupBy": ["PROGRAMME", "DISTRICT"] })).await;
    let expected = rows.by(|p, case| case.map(|c| format!("{} {}", p.id, rows.district(c))));
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), expected.len());
    for group in groups {
        let id = uuid_of(group["key"]["programme"]["id"].as_str().expect("programme"));
        let district = group["key"]["district"]["code"].as_str().expect("district");
        assert_eq!(published(group), expected[&format!("{id} {district}")]);
    }
});

db_test!(programme_stats_by_start_year_add_up_targets_per_year, |db| async move {
    use chrono::Datelike;
    db.seed(600).await;
    let rows = Rows::load(&db).await;
    let period = json!({ "from": "2018-01-01T00:00:00+08:00", "before": "2027-01-01T00:00:00+08:00" });
    let data = stats(&db, Exact, json!({ "groupBy": ["STARTED_YEAR"], "period": period })).await;
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 9, "every year, empty ones too");
    let expected = rows.by(|p, _| Some(p.starts_on.year().to_string()));
    for group in groups {
        let year = group["key"]["period"].as_str().expect("period");
        assert_eq!(
            published(group),
            expected.get(year).map_or_else(Expected::default, |e| Expected { ..*e }),
            "{year}"
        );
        check_reach(group);
    }
    assert!(expected.len() > 1, "programmes should start in several years");

    // Month buckets: a programme starting on the 1st of a month counts in that month, in WITA.
    let period = json!({ "from": "2025-01-01T00:00:00+08:00", "before": "2026-01-01T00:00:00+08:00" });
    let data = stats(&db, Exact, json!({ "groupBy": ["STARTED_MONTH"], "period": period })).await;
    let expected = rows.by(|p, _| (p.starts_on.year() == 2025).then(|| format!("2025-{:02}", p.starts_on.month())));
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 12);
    for group in groups {
        let month = group["key"]["period"].as_str().expect("period");
        assert_eq!(
            published(group),
            expected.get(month).map_or_else(Expected::default, |e| Expected { ..*e }),
            "{month}"
        );
    }
    let year: i64 = expected.values().map(|e| e.target).sum();
    assert_eq!(data["total"]["target"].as_i64(), Some(year), "the period limits the total");

    let response = db.run(STATS, json!({ "groupBy": ["STARTED_MONTH"] })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));
});

db_test!(small_programme_counts_are_suppressed_but_targets_are_not, |db| async move {
    db.seed(600).await;
    let data = stats(&db, Published, json!({ "groupBy": ["PROGRAMME"] })).await;
    assert_eq!(data["minimumCellSize"], 5);
    let mut hidden = 0;
    for group in data["groups"].as_array().expect("groups") {
        for field in ["enrolled", "outcomes", "success", "needsFollowUp", "neutral"] {
            match value(&group[field]) {
                Some(v) => assert!(v == 0 || v >= 5, "{field} published {v}: {group}"),
                None => {
                    assert_eq!(group[field]["suppressed"], true);
                    hidden += 1;
                }
            }
        }
        // Target and budget count no people: always published.
        assert_eq!(group["target"], group["key"]["programme"]["target"]);
        assert_eq!(group["budgetIdr"], group["key"]["programme"]["budgetIdr"]);
        if group["enrolled"]["suppressed"] == true {
            assert!(group["reach"].is_null());
        }
    }
    assert!(hidden > 0, "the data should have small cells for this test to mean anything");
});

db_test!(programme_and_outcome_stats_run_one_statement_plus_one_per_kind_of_key, |db| async move {
    db.seed(300).await;
    for (query, field) in [
        (
            "{ programmeStats(groupBy: [PROGRAMME, OWNER_ORGANISATION]) { groups { key { programme { name } ownerOrganisation { name } } enrolled { value } target } } }",
            "programmeStats",
        ),
        (
            "{ outcomeStats(groupBy: [PROGRAMME, KELURAHAN]) { groups { key { programme { name } kelurahan { name } } count { value } } } }",
            "outcomeStats",
        ),
    ] {
        let before = db.statements();
        let response = db.run(query, Value::Null).await;
        assert!(response.get("errors").is_none(), "{response:#}");
        assert!(response["data"][field]["groups"].as_array().expect("groups").len() > 5, "{field}");
        // The grouped statement, then one batch for each kind of key, and the audit record of the request.
        assert_eq!(db.statements() - before, 4, "{field}");
    }
});
