//! Writes: the case workflow, validation, versions under concurrent updaters, idempotency, and the
//! audit records of writes.

use entity::enums::{AuditAction, Role};
use entity::{audit_event, case, case_category, case_status_change, person};
use futures_util::future::join_all;
use psm_api::auth::Viewer;
use psm_api::graphql::ids::{NodeType, encode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::{TestDb, db_test, error_code};

const REPORT: &str = "mutation($input: ReportCaseInput!, $key: String) {
    reportCase(input: $input, idempotencyKey: $key) { case { id version status referenceNumber categories } } }";

const STATUS: &str = "mutation($id: ID!, $version: Int!, $status: CaseStatus!, $reason: ClosureReason) {
    changeCaseStatus(id: $id, version: $version, status: $status, closureReason: $reason) { case { version status } } }";

fn new_case(nik: &str, kelurahan: &str) -> Value {
    json!({
        "newPerson": {
            "fullName": "Siti Aminah", "nik": nik, "birthDate": "1948-03-02", "sex": "FEMALE",
            "address": "Jl. Kelayan B Gg. Purnama No. 7", "kelurahanCode": kelurahan
        },
        "kelurahanCode": kelurahan,
        "categories": ["NEGLECTED_ELDERLY", "POOR"],
        "urgency": "HIGH",
        "source": "PSM_VISIT",
        "summary": "Lives alone; roof leaking."
    })
}

fn field_of(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["field"].as_str()
}

async fn report(db: &TestDb, viewer: &Viewer, input: Value) -> Value {
    db.run_as(viewer, REPORT, json!({ "input": input })).await
}

db_test!(staff_runs_the_case_workflow_and_every_step_is_checked, |db| async move {
    db.seed(20).await;
    let staff = Viewer::with_role(Role::Staff);
    let kelurahan = "63.71.01.1001";

    // Validation names the offending field and writes nothing.
    let cases_before = case::Entity::find().count(&db.db).await.expect("count");
    let bad_nik = report(&db, &staff, new_case("637101", kelurahan)).await;
    assert_eq!((error_code(&bad_nik), field_of(&bad_nik)), (Some("BAD_USER_INPUT"), Some("input.newPerson.nik")));
    let bad_place = report(&db, &staff, new_case("6371010203040506", "63.71.99.9999")).await;
    assert_eq!((error_code(&bad_place), field_of(&bad_place)), (Some("BAD_USER_INPUT"), Some("input.kelurahanCode")));
    let mut no_categories = new_case("6371010203040506", kelurahan);
    no_categories["categories"] = json!([]);
    let response = report(&db, &staff, no_categories).await;
    assert_eq!(field_of(&response), Some("input.categories"));
    let dashboard = report(&db, &Viewer::with_role(Role::Dashboard), new_case("6371010203040506", kelurahan)).await;
    assert_eq!(error_code(&dashboard), Some("FORBIDDEN"));
    assert_eq!(case::Entity::find().count(&db.db).await.expect("count"), cases_before, "nothing written");

    let reported = report(&db, &staff, new_case("6371010203040506", kelurahan)).await;
    let case = &reported["data"]["reportCase"]["case"];
    assert_eq!(case["status"], "NEW", "{reported}");
    assert_eq!(case["version"], 1);
    assert!(case["referenceNumber"].as_str().is_some_and(|r| r.starts_with("PSM-")));
    let id = case["id"].as_str().expect("id").to_owned();
    // The same NIK again is a duplicate.
    let duplicate = report(&db, &staff, new_case("6371010203040506", kelurahan)).await;
    assert_eq!(error_code(&duplicate), Some("CONFLICT"));

    let step = |version: i64, status: &str, reason: Option<&str>| {
        let variables = json!({ "id": id, "version": version, "status": status, "reason": reason });
        let staff = staff.clone();
        let db = &db;
        async move { db.run_as(&staff, STATUS, variables).await }
    };
    // NEW cannot jump to IN_SERVICE: CONFLICT naming the current status.
    let illegal = step(1, "IN_SERVICE", None).await;
    assert_eq!(error_code(&illegal), Some("CONFLICT"));
    assert!(illegal["errors"][0]["message"].as_str().is_some_and(|m| m.contains("NEW")), "{illegal}");
    let assessed = step(1, "ASSESSMENT", None).await;
    assert_eq!(assessed["data"]["changeCaseStatus"]["case"], json!({ "version": 2, "status": "ASSESSMENT" }));
    // A stale version changes nothing.
    let stale = step(1, "IN_SERVICE", None).await;
    assert_eq!(error_code(&stale), Some("CONFLICT"));
    assert!(stale["errors"][0]["message"].as_str().is_some_and(|m| m.contains("version 2")), "{stale}");
    let no_reason = step(2, "CLOSED", None).await;
    assert_eq!(field_of(&no_reason), Some("closureReason"));
    let closed = step(2, "CLOSED", Some("RESOLVED")).await;
    assert_eq!(closed["data"]["changeCaseStatus"]["case"], json!({ "version": 3, "status": "CLOSED" }));
    let reopened = step(3, "REOPENED", None).await;
    assert_eq!(reopened["data"]["changeCaseStatus"]["case"]["status"], "REOPENED");

    let reference = case["referenceNumber"].as_str().expect("reference");
    let uuid = case::Entity::find()
        .filter(case::Column::ReferenceNumber.eq(reference))
        .one(&db.db)
        .await
        .expect("case")
        .expect("the reported case")
        .id;
    let history = case_status_change::Entity::find()
        .filter(case_status_change::Column::CaseId.eq(uuid))
        .all(&db.db)
        .await
        .expect("history");
    let moves: Vec<_> = history.iter().map(|h| (h.from_status.map(|s| s.as_str()), h.to_status.as_str())).collect();
    assert_eq!(
        moves,
        vec![(None, "NEW"), (Some("NEW"), "ASSESSMENT"), (Some("ASSESSMENT"), "CLOSED"), (Some("CLOSED"), "REOPENED")]
    );
    // Every write is audited with the values before and after.
    let audits = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("Case"))
        .filter(audit_event::Column::SubjectId.eq(uuid.to_string()))
        .all(&db.db)
        .await
        .expect("audit");
    assert_eq!(audits.iter().filter(|a| a.action == AuditAction::Create).count(), 1);
    let updates: Vec<_> = audits.iter().filter(|a| a.action == AuditAction::Update).collect();
    assert_eq!(updates.len(), 3);
    for update in updates {
        let before: Value = serde_json::from_str(update.before.as_deref().expect("before")).expect("json");
        let after: Value = serde_json::from_str(update.after.as_deref().expect("after")).expect("json");
        assert_eq!(after["version"].as_i64(), before["version"].as_i64().map(|v| v + 1));
        assert_ne!(before["status"], after["status"]);
    }
});

db_test!(volunteers_report_as_themselves_and_touch_only_their_cases, |db| async move {
    db.seed(60).await;
    let reporter = case::Entity::find()
        .filter(case::Column::ReportingVolunteerId.is_not_null())
        .one(&db.db)
        .await
        .expect("case")
        .and_then(|c| c.reporting_volunteer_id)
        .expect("a volunteer");
    let volunteer = Viewer::volunteer(reporter);
    let reported = report(&db, &volunteer, new_case("6371010203040599", "63.71.02.1001")).await;
    let id = reported["data"]["reportCase"]["case"]["id"].as_str().expect("reported").to_owned();
    let mine = db
        .data_as(
            &volunteer,
            "query($id: ID!) { case(id: $id) { reportingVolunteer { id } person { fullName } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(mine["case"]["reportingVolunteer"]["id"], encode(NodeType::Volunteer, reporter).0);
    assert_eq!(mine["case"]["person"]["fullName"], "Siti Aminah");

    let other = case::Entity::find()
        .filter(case::Column::ReportingVolunteerId.ne(reporter))
        .one(&db.db)
        .await
        .expect("case")
        .expect("another volunteer's case");
    let update =
        "mutation($id: ID!, $v: Int!) { updateCase(id: $id, version: $v, input: {urgency: LOW}) { case { urgency } } }";
    let response =
        db.run_as(&volunteer, update, json!({ "id": encode(NodeType::Case, other.id).0, "v": other.version })).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"));
    let response = db.run_as(&volunteer, update, json!({ "id": id, "v": 1 })).await;
    assert_eq!(response["data"]["updateCase"]["case"]["urgency"], "LOW", "{response}");
    // Status changes are for staff.
    let response = db.run_as(&volunteer, STATUS, json!({ "id": id, "version": 2, "status": "ASSESSMENT" })).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"));
});

db_test!(concurrent_updaters_each_land_exactly_once, |db| async move {
    db.seed(20).await;
    let staff = Viewer::with_role(Role::Staff);
    let reported = report(&db, &staff, new_case("6371010203040577", "63.71.03.1001")).await;
    let id = reported["data"]["reportCase"]["case"]["id"].as_str().expect("reported").to_owned();
    // Ten updaters, each adding its own category, retrying on CONFLICT with a fresh read.
    let categories = [
        "HOMELESS",
        "BEGGAR",
        "SCAVENGER",
        "STREET_CHILD",
        "PERSON_WITH_DISABILITY",
        "VIOLENCE_VICTIM",
        "TRAFFICKING_VICTIM",
        "FORMER_PRISONER",
        "MINORITY_GROUP",
        "SOCIAL_DISASTER_VICTIM",
    ];
    let updater = |category: &'static str| {
        let (db, staff, id) = (&db, staff.clone(), id.clone());
        async move {
            let mut conflicts = 0;
            loop {
                let read =
                    db.data_as(&staff, "query($id: ID!) { case(id: $id) { version } }", json!({ "id": id })).await;
                let version = read["case"]["version"].as_i64().expect("version");
                let response = db
                    .run_as(
                        &staff,
                        "mutation($id: ID!, $v: Int!, $c: PpksCategory!) { updateCase(id: $id, version: $v, input: {addCategories: [$c]}) { case { version } } }",
                        json!({ "id": id, "v": version, "c": category }),
                    )
                    .await;
                match error_code(&response) {
                    None => return (category, conflicts),
                    Some("CONFLICT") => conflicts += 1,
                    other => panic!("unexpected {other:?}: {response}"),
                }
            }
        }
    };
    let results = join_all(categories.iter().map(|c| updater(c))).await;
    let uuid = case::Entity::find()
        .filter(case::Column::Summary.eq("Lives alone; roof leaking."))
        .one(&db.db)
        .await
        .expect("case")
        .expect("the case");
    let stored: Vec<String> = case_category::Entity::find()
        .filter(case_category::Column::CaseId.eq(uuid.id))
        .all(&db.db)
        .await
        .expect("categories")
        .into_iter()
        .map(|c| c.category.as_str().to_owned())
        .collect();
    for (category, _) in &results {
        assert_eq!(stored.iter().filter(|s| s == category).count(), 1, "{category} applied exactly once");
    }
    assert_eq!(stored.len(), categories.len() + 2);
    // Version 1 at report, plus one per acknowledged update; one audit record per acknowledged update.
    assert_eq!(uuid.version as usize, 1 + categories.len());
    let updates = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectId.eq(uuid.id.to_string()))
        .filter(audit_event::Column::Action.eq(AuditAction::Update))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(updates as usize, categories.len());
    eprintln!("conflicts retried: {}", results.iter().map(|(_, c)| c).sum::<usize>());
});

db_test!(idempotency_keys_replay_refuse_and_free, |db| async move {
    db.seed(20).await;
    let staff = Viewer::with_role(Role::Staff);
    let input = new_case("6371010203040588", "63.71.04.1001");
    let variables = json!({ "input": input, "key": "report-1" });
    let first = db.run_as(&staff, REPORT, variables.clone()).await;
    let again = db.run_as(&staff, REPORT, variables.clone()).await;
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(first["data"], again["data"], "a retry returns the first result");
    let persons =
        person::Entity::find().filter(person::Column::Nik.eq("6371010203040588")).count(&db.db).await.expect("count");
    assert_eq!(persons, 1, "the work was done once");
    // The same key with another input is refused.
    let mut other = new_case("6371010203040589", "63.71.04.1001");
    other["summary"] = json!("Another case");
    let refused = db.run_as(&staff, REPORT, json!({ "input": other, "key": "report-1" })).await;
    assert_eq!(error_code(&refused), Some("CONFLICT"));
    // A failed request frees its key: the corrected retry goes through.
    let failing =
        db.run_as(&staff, REPORT, json!({ "input": new_case("123", "63.71.04.1001"), "key": "report-2" })).await;
    assert_eq!(error_code(&failing), Some("BAD_USER_INPUT"));
    let retried =
        db.run_as(&staff, REPORT, json!({ "input": new_case("123", "63.71.04.1001"), "key": "report-2" })).await;
    assert_eq!(error_code(&retried), Some("BAD_USER_INPUT"), "still bad, and not a replay of anything");
    // Concurrent duplicates: exactly one does the work; the others replay it or are refused while it runs.
    let input = new_case("6371010203040590", "63.71.04.1001");
    let variables = json!({ "input": input, "key": "report-3" });
    let responses = join_all((0..6).map(|_| db.run_as(&staff, REPORT, variables.clone()))).await;
    let done: Vec<&Value> = responses.iter().filter(|r| r.get("errors").is_none()).collect();
    assert!(!done.is_empty());
    assert!(done.iter().all(|r| r["data"] == done[0]["data"]));
    for response in responses.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(error_code(response), Some("CONFLICT"), "{response}");
        assert!(response["errors"][0]["message"].as_str().is_some_and(|m| m.contains("in progress")));
    }
    let persons =
        person::Entity::find().filter(person::Column::Nik.eq("6371010203040590")).count(&db.db).await.expect("count");
    assert_eq!(persons, 1);
});
