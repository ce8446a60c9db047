//! Statistics tallies: exact after any sequence of writes, read when they hold a request, and giving
//! the same figures (exact and perturbed) as counting the cases.

use psm_api::config::ApiConfig;
use psm_api::service::tallies;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

use crate::support::{TestDb, db_test};

/// A small deterministic generator (the test must be reproducible; no dependency for it).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KELURAHAN: &[&str] = &["63.71.01.1001", "63.71.01.1002", "63.71.02.1001", "63.71.03.1004", "63.71.05.1002"];
const CATEGORIES: &[&str] =
    &["POOR", "NEGLECTED_ELDERLY", "PERSON_WITH_DISABILITY", "UNINHABITABLE_HOUSE", "NEGLECTED_CHILD"];
const STATUSES: &[&str] = &["NEW", "ASSESSMENT", "IN_SERVICE", "REFERRED", "CLOSED", "REOPENED"];
const URGENCIES: &[&str] = &["LOW", "NORMAL", "HIGH", "EMERGENCY"];
const SOURCES: &[&str] = &["PSM_VISIT", "WALK_IN", "HOTLINE", "KELURAHAN_MEETING"];

/// The statistics requests the tallies answer, compared with and without them.
const REQUESTS: &[&str] = &[
    r#"{ caseStats(exact: EXACT, groupBy: [DISTRICT, OPENED_MONTH],
                   period: {from: "2024-01-01T00:00:00+08:00", before: "2026-12-01T00:00:00+08:00"}) {
           total { count { value suppressed } open { value suppressed } closed { value suppressed } }
           groups { key { district { code } period } count { value suppressed } open { value suppressed }
                    closed { value suppressed } closureRate } } }"#,
    r#"{ caseStats(exact: EXACT, groupBy: [KELURAHAN, CATEGORY],
                   filter: {status: [NEW, ASSESSMENT, IN_SERVICE, REFERRED, REOPENED]}) {
           total { count { value suppressed } }
           groups { key { kelurahan { code } category } count { value suppressed } } } }"#,
    r#"{ caseStats(exact: EXACT, groupBy: [URGENCY, SOURCE], filter: {districtCodes: ["63.71.01"]}) {
           total { count { value suppressed } }
           groups { key { urgency source } count { value suppressed } open { value suppressed } } } }"#,
    r#"{ caseStats(exact: EXACT, groupBy: [OPENED_DAY], filter: {kelurahanCodes: ["63.71.01.1001"]},
                   period: {from: "2026-06-01T00:00:00+08:00", before: "2026-12-01T00:00:00+08:00"}) {
           groups { key { period } count { value suppressed } } } }"#,
    r#"{ caseStats(exact: EXACT, groupBy: [CATEGORY],
                   period: {from: "2026-01-01T00:00:00+08:00", before: "2026-09-01T00:00:00+08:00"}) {
           total { count { value suppressed } } groups { key { category } count { value suppressed } } } }"#,
    r#"{ caseStats(exact: EXACT, groupBy: [STATUS],
                   period: {from: "2026-01-01T00:00:00+08:00", before: "2026-09-01T00:00:00+08:00"}) {
           total { count { value suppressed } } groups { key { status } count { value suppressed } } } }"#,
    r#"{ caseStats(exact: EXACT, groupBy: [KELURAHAN],
                   period: {from: "2026-01-01T05:00:00+08:00", before: "2026-09-01T00:00:00+08:00"}) {
           total { count { value suppressed } } groups { key { kelurahan { code } } count { value suppressed } } } }"#,
    r#"{ caseStats(exact: EXACT, groupBy: [STATUS]) { total { count { value } } groups { key { status } count { value suppressed } } } }"#,
    r#"{ volunteerCoverage(exact: EXACT) { kelurahan { code } openCases { value suppressed } activeVolunteers { value } } }"#,
    // Days to close, read by rank from the closures (exact floats compared as they are).
    r#"{ caseStats(exact: EXACT, groupBy: [CATEGORY]) {
           total { closed { value suppressed } medianDaysToClose p90DaysToClose }
           groups { key { category } closed { value suppressed } medianDaysToClose p90DaysToClose } } }"#,
    r#"{ caseStats(exact: EXACT) { total { count { value } closed { value } medianDaysToClose p90DaysToClose } } }"#,
    // Not held by the closures (a filter): counted from the cases either way.
    r#"{ caseStats(exact: EXACT, groupBy: [CATEGORY], filter: {districtCodes: ["63.71.01"]}) {
           groups { key { category } medianDaysToClose p90DaysToClose } } }"#,
    // The referral funnel and its medians, from the referral tally and durations.
    r#"{ referralStats(exact: EXACT, groupBy: [RECEIVING_ORGANISATION]) {
           total { sent { value suppressed } accepted { value } declined { value } completed { value }
                   expired { value } responded { value } acceptanceRate medianHoursToRespond medianHoursToComplete }
           groups { key { receivingOrganisation { code } } sent { value suppressed } pending { value suppressed }
                    accepted { value suppressed } declined { value suppressed } completed { value suppressed }
                    withdrawn { value suppressed } expired { value suppressed } responded { value suppressed }
                    acceptanceRate medianHoursToRespond medianHoursToComplete } } }"#,
    r#"{ referralStats(exact: EXACT) { total { sent { value } medianHoursToRespond medianHoursToComplete } } }"#,
    r#"{ referralStats(exact: EXACT, groupBy: [SENDING_ORGANISATION, STATUS], filter: {status: [SENT, ACCEPTED, DECLINED]}) {
           total { sent { value suppressed } }
           groups { key { sendingOrganisation { code } status } sent { value suppressed } responded { value suppressed } } } }"#,
    // Not held by the tally (a reason, a kelurahan): counted from the referrals either way.
    r#"{ referralStats(exact: EXACT, groupBy: [REASON]) { groups { key { reason } sent { value suppressed } } } }"#,
    r#"{ referralStats(exact: EXACT, groupBy: [STATUS], filter: {districtCodes: ["63.71.01"]}) {
           groups { key { status } sent { value suppressed } medianHoursToRespond } } }"#,
    // As they stood at past midnights, from the status histories.
    r#"{ caseStats(exact: EXACT, groupBy: [DISTRICT, STATUS], asOf: "2026-08-01T00:00:00+08:00") {
           total { count { value suppressed } open { value suppressed } closed { value suppressed } }
           groups { key { district { code } status } count { value suppressed } open { value suppressed }
                    closed { value suppressed } closureRate } } }"#,
    r#"{ caseStats(exact: EXACT, groupBy: [KELURAHAN], filter: {status: [NEW, ASSESSMENT, CLOSED]},
                   asOf: "2026-10-15T00:00:00+08:00") {
           total { count { value suppressed } } groups { key { kelurahan { code } } count { value suppressed } } } }"#,
    r#"{ caseStats(exact: EXACT, filter: {districtCodes: ["63.71.01", "63.71.03"]}, asOf: "2026-11-20T00:00:00+08:00") {
           total { count { value suppressed } open { value suppressed } closed { value suppressed } } } }"#,
    r#"{ referralStats(exact: EXACT, groupBy: [RECEIVING_ORGANISATION], asOf: "2026-09-01T00:00:00+08:00") {
           total { sent { value suppressed } responded { value suppressed } acceptanceRate }
           groups { key { receivingOrganisation { code } } sent { value suppressed } pending { value suppressed }
                    accepted { value suppressed } declined { value suppressed } completed { value suppressed }
                    withdrawn { value suppressed } expired { value suppressed } responded { value suppressed }
                    acceptanceRate } } }"#,
    r#"{ referralStats(exact: EXACT, groupBy: [SENDING_ORGANISATION, STATUS], filter: {status: [ACCEPTED, COMPLETED]},
                      asOf: "2026-11-01T00:00:00+08:00") {
           groups { key { sendingOrganisation { code } status } sent { value suppressed } responded { value suppressed } } } }"#,
    // Not held by the histories (a category, a median): replayed from the changes either way.
    r#"{ caseStats(exact: EXACT, groupBy: [CATEGORY], asOf: "2026-08-01T00:00:00+08:00") {
           groups { key { category } count { value suppressed } } } }"#,
    r#"{ referralStats(exact: EXACT, asOf: "2026-09-01T00:00:00+08:00") { total { sent { value } medianHoursToRespond } } }"#,
];

fn config(tallies: bool) -> ApiConfig {
    ApiConfig { stats_tallies: tallies, ..ApiConfig::default() }
}

/// Every request, exact (STAFF) and perturbed (DASHBOARD), with the tallies and without: the same.
async fn assert_same_figures(db: &TestDb, round: usize) {
    use entity::enums::Role;
    use psm_api::auth::Viewer;
    for request in REQUESTS {
        for (role, exact) in [(Role::Staff, "true"), (Role::Dashboard, "false")] {
            // Only exact figures may start a period between midnights (it must count the cases).
            if role == Role::Dashboard && request.contains("T05:00:00") {
                continue;
            }
            let query = request.replace("EXACT", exact);
            let viewer = Viewer::with_role(role);
            let tallied = db.run_as_with(&viewer, config(true), &query, json!({})).await;
            let counted = db.run_as_with(&viewer, config(false), &query, json!({})).await;
            assert!(tallied.get("errors").is_none(), "{tallied:#}");
            assert_eq!(tallied, counted, "round {round}, {role:?}: {query}");
        }
    }
}

async fn assert_exact(db: &TestDb, when: &str) {
    let differences = tallies::check(&db.db).await.expect("check tallies");
    assert!(differences.iter().all(|(_, rows)| *rows == 0), "{when}: {differences:?}");
}

/// One random write through the API as STAFF: report, update or move a case. Refused writes (a move
/// the lifecycle forbids, a case that must keep a category) are part of the mix: they must change nothing.
/// Returns whether it rewrote the past (a status change or referral event, an opening) and was applied.
async fn random_write(db: &TestDb, rng: &mut Lcg, cases: &[Value]) -> bool {
    let case = rng.pick(cases);
    let (id, version) = (case["id"].clone(), case["version"].clone());
    match rng.below(9) {
        7 | 8 => {
            // The past rewritten by an operator's committed SQL: a status change or referral event
            // inserted, moved in time or deleted, a case's opening moved. The histories follow.
            let postgres = db.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
            let new_id = if postgres { "gen_random_uuid()" } else { "randomblob(16)" };
            let instant = |rng: &mut Lcg| {
                let at = format!(
                    "2026-{:02}-{:02}T{:02}:00:00+00:00",
                    6 + rng.below(6),
                    1 + rng.below(28),
                    // Midnight in the city (16:00 UTC) now and then: the edge of a day.
                    if rng.below(3) == 0 { 16 } else { rng.below(24) }
                );
                if postgres { format!("'{at}'::timestamptz") } else { format!("'{at}'") }
            };
            let case =
                format!("(SELECT id FROM cases ORDER BY reference_number LIMIT 1 OFFSET {})", rng.below(cases.len()));
            let change = format!("(SELECT id FROM case_status_changes ORDER BY id LIMIT 1 OFFSET {})", rng.below(200));
            let referral = format!("(SELECT id FROM referrals ORDER BY id LIMIT 1 OFFSET {})", rng.below(40));
            let event = format!("(SELECT id FROM referral_events ORDER BY id LIMIT 1 OFFSET {})", rng.below(80));
            let sql = match rng.below(7) {
                0 => format!(
                    "INSERT INTO case_status_changes (id, case_id, from_status, to_status, changed_at, changed_by) \
                     VALUES ({new_id}, {case}, NULL, '{}', {}, 'operator')",
                    rng.pick(STATUSES),
                    instant(rng)
                ),
                1 => format!("UPDATE case_status_changes SET changed_at = {} WHERE id = {change}", instant(rng)),
                2 => format!("DELETE FROM case_status_changes WHERE id = {change}"),
                3 => format!("UPDATE cases SET opened_at = {} WHERE id = {case}", instant(rng)),
                4 => format!(
                    "INSERT INTO referral_events (id, referral_id, from_status, to_status, actor, occurred_at) \
                     VALUES ({new_id}, {referral}, NULL, '{}', 'operator', {})",
                    rng.pick(&["SENT", "ACCEPTED", "DECLINED", "COMPLETED", "WITHDRAWN", "EXPIRED"]),
                    instant(rng)
                ),
                5 => format!("UPDATE referral_events SET occurred_at = {} WHERE id = {event}", instant(rng)),
                _ => format!("DELETE FROM referral_events WHERE id = {event}"),
            };
            // A change the tables' checks refuse (an opening after the closing) changes nothing.
            return db.db.execute_unprepared(&sql).await.is_ok_and(|done| done.rows_affected() > 0);
        }
        5 | 6 => {
            // A referral answered, completed or sent elsewhere, by an operator's committed SQL.
            let pick = format!("(SELECT id FROM referrals ORDER BY id LIMIT 1 OFFSET {})", rng.below(40));
            let sql = match rng.below(4) {
                0 => format!(
                    "UPDATE referrals SET status = '{}', responded_at = COALESCE(responded_at, respond_by) \
                     WHERE id = {pick} AND status = 'SENT'",
                    rng.pick(&["ACCEPTED", "DECLINED"])
                ),
                1 => format!(
                    "UPDATE referrals SET status = 'COMPLETED', completed_at = respond_by, \
                     responded_at = COALESCE(responded_at, sent_at) WHERE id = {pick} AND status = 'ACCEPTED'"
                ),
                2 => format!("UPDATE referrals SET status = 'EXPIRED' WHERE id = {pick} AND status = 'SENT'"),
                _ => format!(
                    "UPDATE referrals SET to_organisation_id = (SELECT id FROM organisations ORDER BY code LIMIT 1 \
                     OFFSET {}) WHERE id = {pick}",
                    rng.below(4)
                ),
            };
            // Moving a referral to its own sender breaks a check: refused, nothing changes.
            let _ = db.db.execute_unprepared(&sql).await;
        }
        4 => {
            // An operator's committed SQL, outside the API: the triggers keep the tallies all the same.
            let offset = rng.below(cases.len());
            let pick = format!("(SELECT id FROM cases ORDER BY reference_number LIMIT 1 OFFSET {offset})");
            let sql = match rng.below(3) {
                0 => format!(
                    "UPDATE cases SET kelurahan_code = '{}', urgency = '{}' WHERE id = {pick}",
                    rng.pick(KELURAHAN),
                    rng.pick(URGENCIES)
                ),
                // A closed case keeps its closing (the table's check); an open one moves freely.
                1 => format!(
                    "UPDATE cases SET status = '{}' WHERE id = {pick} AND status <> 'CLOSED'",
                    rng.pick(&STATUSES[..4])
                ),
                _ => format!(
                    "DELETE FROM case_categories WHERE case_id = {pick} AND category = \
                     (SELECT MIN(category) FROM case_categories WHERE case_id = {pick})"
                ),
            };
            db.db.execute_unprepared(&sql).await.expect("operator's SQL");
        }
        0 => {
            let day = 1 + rng.below(28);
            let hour = rng.below(24);
            let input = json!({
                "newPerson": { "fullName": "Siti Aminah", "nik": format!("6371010203{:06}", rng.below(1_000_000)),
                               "birthDate": "1948-03-02", "sex": "FEMALE", "address": "Jl. Kelayan B No. 7",
                               "kelurahanCode": rng.pick(KELURAHAN) },
                "kelurahanCode": rng.pick(KELURAHAN),
                "categories": [rng.pick(CATEGORIES), rng.pick(CATEGORIES)],
                "urgency": rng.pick(URGENCIES), "source": rng.pick(SOURCES), "summary": "Lives alone.",
                "openedAt": format!("2026-{:02}-{day:02}T{hour:02}:30:00+08:00", 6 + rng.below(5)),
            });
            db.run("mutation($i: ReportCaseInput!) { reportCase(input: $i) { case { id } } }", json!({ "i": input }))
                .await;
        }
        1 => {
            let input = match rng.below(4) {
                0 => json!({ "urgency": rng.pick(URGENCIES) }),
                1 => json!({ "kelurahanCode": rng.pick(KELURAHAN) }),
                2 => json!({ "addCategories": [rng.pick(CATEGORIES)] }),
                _ => json!({ "removeCategories": [rng.pick(CATEGORIES)] }),
            };
            db.run(
                "mutation($c: ID!, $v: Int!, $i: UpdateCaseInput!) { updateCase(id: $c, version: $v, input: $i) { case { id } } }",
                json!({ "c": id, "v": version, "i": input }),
            )
            .await;
        }
        _ => {
            let status = *rng.pick(STATUSES);
            let reason = if status == "CLOSED" { json!("RESOLVED") } else { Value::Null };
            db.run(
                "mutation($c: ID!, $v: Int!, $s: CaseStatus!, $r: ClosureReason) { changeCaseStatus(id: $c, version: $v, status: $s, closureReason: $r) { case { id } } }",
                json!({ "c": id, "v": version, "s": status, "r": reason }),
            )
            .await;
        }
    }
    false
}

async fn some_cases(db: &TestDb) -> Vec<Value> {
    let page = db
        .data(
            "{ cases(first: 100, orderBy: {field: UPDATED_AT, direction: DESC}) { nodes { id version } } }",
            json!({}),
        )
        .await;
    page["cases"]["nodes"].as_array().expect("cases").clone()
}

db_test!(tallies_stay_exact_through_random_writes_and_answer_as_the_cases_do, |db| async move {
    db.seed(400).await;
    assert_exact(&db, "after the seed").await;
    assert_same_figures(&db, 0).await;
    let mut rng = Lcg(6371);
    let mut past_rewritten = 0;
    for round in 1..=4 {
        for _ in 0..15 {
            let cases = some_cases(&db).await;
            past_rewritten += usize::from(random_write(&db, &mut rng, &cases).await);
        }
        assert_exact(&db, &format!("after round {round} of writes")).await;
        assert_same_figures(&db, round).await;
    }
    assert!(past_rewritten >= 5, "the status histories were put to the test {past_rewritten} times");
});

db_test!(a_rolled_back_write_leaves_the_tallies_as_they_were, |db| async move {
    db.seed(50).await;
    let txn = db.db.begin().await.expect("begin");
    txn.execute_unprepared("UPDATE cases SET urgency = 'LOW', kelurahan_code = '63.71.05.1002'").await.expect("update");
    txn.execute_unprepared("UPDATE cases SET status = 'ASSESSMENT' WHERE status <> 'CLOSED'").await.expect("status");
    txn.execute_unprepared("DELETE FROM case_categories").await.expect("delete");
    txn.rollback().await.expect("rollback");
    assert_exact(&db, "after a rollback").await;
});

db_test!(statistics_read_the_tally_when_it_holds_the_request_and_the_cases_otherwise, |db| async move {
    db.seed(200).await;
    let count = |response: &Value| response["data"]["caseStats"]["total"]["count"]["value"].as_i64();
    let by_status = "{ caseStats(exact: true, groupBy: [STATUS]) { total { count { value } } } }";
    let by_category_filter = "{ caseStats(exact: true, filter: {categories: [POOR, NEGLECTED_ELDERLY, PERSON_WITH_DISABILITY, UNINHABITABLE_HOUSE, NEGLECTED_CHILD]}) { total { count { value } } } }";
    let (before, filtered_before) =
        (count(&db.run(by_status, json!({})).await), count(&db.run(by_category_filter, json!({})).await));
    // Tamper with the tally (as a broken trigger would): only the request it holds must change.
    db.db.execute_unprepared("UPDATE case_tallies SET n = n + 1000").await.expect("tamper");
    let after = count(&db.run(by_status, json!({})).await);
    assert_ne!(after, before, "groupBy STATUS must be read from the tally");
    assert_eq!(
        count(&db.run(by_category_filter, json!({})).await),
        filtered_before,
        "a category filter counts the cases"
    );
    assert_eq!(
        count(&db.run_with(config(false), by_status, json!({})).await),
        before,
        "--stats-tallies false counts the cases"
    );
    // Days to close by category come from the closures; with a filter, from the cases.
    let median = |response: &Value| response["data"]["caseStats"]["groups"][0]["medianDaysToClose"].as_f64();
    let by_category = "{ caseStats(exact: true, groupBy: [CATEGORY]) { groups { medianDaysToClose } } }";
    let filtered = "{ caseStats(exact: true, groupBy: [CATEGORY], filter: {districtCodes: [\"63.71.01\", \"63.71.02\", \"63.71.03\", \"63.71.04\", \"63.71.05\"]}) { groups { medianDaysToClose } } }";
    let (median_before, filtered_before) =
        (median(&db.run(by_category, json!({})).await), median(&db.run(filtered, json!({})).await));
    assert!(median_before.is_some(), "a median to compare");
    db.db.execute_unprepared("UPDATE case_closures SET days = days + 1000").await.expect("tamper");
    assert_ne!(median(&db.run(by_category, json!({})).await), median_before, "read by rank from the closures");
    assert_eq!(median(&db.run(filtered, json!({})).await), filtered_before, "a filter counts the cases");
    let differences = tallies::check(&db.db).await.expect("check");
    assert!(differences.iter().any(|(table, rows)| *table == "case_tallies" && *rows > 0), "{differences:?}");
    assert!(differences.iter().any(|(table, rows)| *table == "case_closures" && *rows > 0), "{differences:?}");
    // The referral funnel by receiving organisation comes from the referral tally and durations; by
    // reason, from the referrals.
    let funnel = "{ referralStats(exact: true, groupBy: [RECEIVING_ORGANISATION]) { total { sent { value } medianHoursToRespond } } }";
    let by_reason = "{ referralStats(exact: true, groupBy: [REASON]) { total { sent { value } } } }";
    let sent = |response: &Value| response["data"]["referralStats"]["total"]["sent"]["value"].as_i64();
    let respond = |response: &Value| response["data"]["referralStats"]["total"]["medianHoursToRespond"].as_f64();
    let (funnel_before, reason_before) = (db.run(funnel, json!({})).await, db.run(by_reason, json!({})).await);
    assert!(respond(&funnel_before).is_some(), "a median to compare: {funnel_before}");
    db.db.execute_unprepared("UPDATE referral_tallies SET n = n + 1000").await.expect("tamper");
    db.db.execute_unprepared("UPDATE referral_durations SET hours = hours + 1000").await.expect("tamper");
    let funnel_after = db.run(funnel, json!({})).await;
    assert_ne!(sent(&funnel_after), sent(&funnel_before), "the funnel is read from the tally");
    assert_ne!(respond(&funnel_after), respond(&funnel_before), "the median is read by rank");
    assert_eq!(sent(&db.run(by_reason, json!({})).await), sent(&reason_before), "by reason counts the referrals");
    let differences = tallies::check(&db.db).await.expect("check");
    for table in ["referral_tallies", "referral_durations"] {
        assert!(differences.iter().any(|(name, rows)| *name == table && *rows > 0), "{table}: {differences:?}");
    }
    // Cases and referrals as they stood at a past midnight come from the status histories; at another
    // instant (exact figures only), from the status changes and events.
    let cases_as_of = |at: &str| {
        format!("{{ caseStats(exact: true, groupBy: [STATUS], asOf: \"{at}\") {{ total {{ count {{ value }} }} }} }}")
    };
    let (midnight, morning) = (cases_as_of("2026-10-01T00:00:00+08:00"), cases_as_of("2026-10-01T05:00:00+08:00"));
    let referrals_as_of = "{ referralStats(exact: true, groupBy: [RECEIVING_ORGANISATION], \
                           asOf: \"2026-10-01T00:00:00+08:00\") { total { sent { value } } } }";
    let (midnight_before, morning_before) =
        (count(&db.run(&midnight, json!({})).await), count(&db.run(&morning, json!({})).await));
    let referrals_before = sent(&db.run(referrals_as_of, json!({})).await);
    assert!(midnight_before.is_some_and(|n| n > 0), "cases to count as of the midnight");
    db.db.execute_unprepared("UPDATE case_status_history SET n = n + 1000").await.expect("tamper");
    db.db.execute_unprepared("UPDATE referral_status_history SET n = n + 1000").await.expect("tamper");
    assert_ne!(count(&db.run(&midnight, json!({})).await), midnight_before, "as of a midnight: the history");
    assert_eq!(count(&db.run(&morning, json!({})).await), morning_before, "as of 05:00: the changes");
    assert_ne!(sent(&db.run(referrals_as_of, json!({})).await), referrals_before, "referrals: the history");
    let differences = tallies::check(&db.db).await.expect("check");
    for table in ["case_status_history", "referral_status_history"] {
        assert!(differences.iter().any(|(name, rows)| *name == table && *rows > 0), "{table}: {differences:?}");
    }
    tallies::rebuild(&db.db, ApiConfig::default().city_offset_hours()).await.expect("rebuild");
    assert_exact(&db, "after the rebuild").await;
    assert_eq!(count(&db.run(&midnight, json!({})).await), midnight_before);
    assert_eq!(sent(&db.run(referrals_as_of, json!({})).await), referrals_before);
    assert_eq!(count(&db.run(by_status, json!({})).await), before);
    assert_eq!(median(&db.run(by_category, json!({})).await), median_before);
    assert_eq!(db.run(funnel, json!({})).await, funnel_before);
});

db_test!(tallies_built_for_another_offset_are_rebuilt_at_start, |db| async move {
    db.seed(100).await;
    assert_eq!(tallies::built_for(&db.db).await.expect("state"), Some(8));
    assert!(tallies::ensure(&db.db, 7).await.expect("ensure"), "another offset rebuilds");
    assert_eq!(tallies::built_for(&db.db).await.expect("state"), Some(7));
    assert_exact(&db, "built for UTC+7").await;
    assert!(!tallies::ensure(&db.db, 7).await.expect("ensure"), "the same offset keeps them");
    // Opening days at UTC+7 differ from UTC+8 for cases opened between 16:00 and 17:00 UTC; back to +8.
    tallies::ensure(&db.db, 8).await.expect("ensure");
    assert_exact(&db, "back at UTC+8").await;
    assert_same_figures(&db, 0).await;
});

db_test!(tallies_suspended_for_a_bulk_load_are_not_read, |db| async move {
    db.seed(100).await;
    let by_status = "{ caseStats(exact: true, groupBy: [STATUS]) { groups { key { status } count { value } } } }";
    let coverage = "{ volunteerCoverage(exact: true) { openCases { value } } }";
    let open_cases = |response: &Value| {
        let rows = response["data"]["volunteerCoverage"].as_array().expect("coverage").clone();
        rows.iter().filter_map(|row| row["openCases"]["value"].as_i64()).sum::<i64>()
    };
    assert_ne!(open_cases(&db.run(coverage, json!({})).await), 0, "open cases to close");
    let built = tallies::suspend(&db.db).await.expect("suspend");
    // A bulk load meanwhile: the triggers keep nothing, so the tallies fall behind the cases.
    db.db
        .execute_unprepared(
            "UPDATE cases SET status = 'CLOSED', closed_at = opened_at, closure_reason = 'RESOLVED' \
             WHERE status <> 'CLOSED'",
        )
        .await
        .expect("close every case");
    let counted = db.run_with(config(false), by_status, json!({})).await;
    assert_eq!(db.run(by_status, json!({})).await, counted, "the cases answer while the tallies are suspended");
    assert_eq!(open_cases(&db.run(coverage, json!({})).await), 0, "every case is closed now");
    tallies::resume(&db.db, built).await.expect("resume");
    assert_exact(&db, "after the bulk load").await;
    assert_eq!(db.run(by_status, json!({})).await, counted);
});

db_test!(servers_starting_together_build_the_tallies_once, |db| async move {
    db.seed(100).await;
    db.db
        .execute_unprepared("UPDATE statistics_tally_state SET utc_offset_hours = NULL WHERE id = 1")
        .await
        .expect("unbuilt");
    let offset = ApiConfig::default().city_offset_hours();
    let (a, b) = tokio::join!(tallies::ensure(&db.db, offset), tallies::ensure(&db.db, offset));
    let (a, b) = (a.expect("first server"), b.expect("second server"));
    if db.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // The second waits for the first's lock, then finds them built.
        assert!(a ^ b, "built once: {a} {b}");
    } else {
        assert!(a || b);
    }
    assert_exact(&db, "after two servers started").await;
});

db_test!(partners_and_volunteers_get_no_figure_from_the_tallies, |db| async move {
    use entity::enums::Role;
    use psm_api::auth::Viewer;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    db.seed(300).await;
    let partner = crate::support::partners_by_referrals(&db).await[0];
    let reported = entity::case::Entity::find()
        .filter(entity::case::Column::ReportingVolunteerId.is_not_null())
        .one(&db.db)
        .await
        .expect("a case")
        .and_then(|case| case.reporting_volunteer_id)
        .expect("a case reported by a volunteer");
    // Every request a tally or a table read by rank answers for STAFF and DASHBOARD keys.
    for viewer in [Viewer::partner(partner), Viewer::volunteer(reported)] {
        assert_ne!(viewer.role, Role::Staff);
        for request in REQUESTS.iter().map(|request| request.replace("EXACT", "false")) {
            let response = db.run_as(&viewer, &request, json!({})).await;
            assert_eq!(crate::support::error_code(&response), Some("FORBIDDEN"), "{:?}: {response:#}", viewer.role);
            assert!(response["data"].is_null(), "{:?} got figures: {response:#}", viewer.role);
        }
    }
});

/// The exact answers of every request as of a past midnight.
async fn as_of_figures(db: &TestDb) -> Vec<Value> {
    let mut answers = Vec::new();
    for request in REQUESTS.iter().filter(|request| request.contains("asOf")) {
        answers.push(db.run(&request.replace("EXACT", "true"), json!({})).await);
    }
    answers
}

/// Rows of both status histories (`filter` applied to each).
async fn history_rows(db: &TestDb, filter: &str) -> i64 {
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM case_status_history {filter}) \
         + (SELECT COUNT(*) FROM referral_status_history {filter}) AS n"
    );
    let row = db
        .db
        .query_one_raw(sea_orm::Statement::from_string(db.db.get_database_backend(), sql))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

db_test!(compacting_the_status_histories_merges_their_rows_and_keeps_their_sums, |db| async move {
    db.seed(200).await;
    let built = history_rows(&db, "").await;
    assert_eq!(tallies::compact(&db.db).await.expect("compact"), 0, "a fresh build has one row per key");
    let mut rng = Lcg(1234);
    for _ in 0..40 {
        let cases = some_cases(&db).await;
        random_write(&db, &mut rng, &cases).await;
    }
    let written = history_rows(&db, "").await;
    assert!(written > built, "writes add rows: {built} then {written}");
    let before = as_of_figures(&db).await;
    assert!(history_rows(&db, "WHERE NOT merged").await > 0, "the writes' rows are unmerged");
    assert!(tallies::compact(&db.db).await.expect("compact") > 0, "rows merged");
    assert!(history_rows(&db, "").await < written, "fewer rows after compacting");
    assert_eq!(history_rows(&db, "WHERE NOT merged").await, 0, "every row merged");
    assert_exact(&db, "after compacting").await;
    assert_eq!(as_of_figures(&db).await, before, "the same figures");
    // Nothing added since: nothing to merge, and nothing changes.
    let compacted = history_rows(&db, "").await;
    assert_eq!(tallies::compact(&db.db).await.expect("compact"), 0, "merged again without new rows");
    assert_eq!(history_rows(&db, "").await, compacted);
    // One more write: only its keys are merged, into rows that keep every sum.
    let cases = some_cases(&db).await;
    for _ in 0..5 {
        random_write(&db, &mut rng, &cases).await;
    }
    let before = as_of_figures(&db).await;
    let fresh = history_rows(&db, "WHERE NOT merged").await;
    assert!(fresh > 0, "the writes added no row");
    let merged = tallies::compact(&db.db).await.expect("compact");
    assert!(merged <= u64::try_from(fresh).expect("count"), "{merged} rows written for {fresh} new ones");
    assert_eq!(history_rows(&db, "WHERE NOT merged").await, 0, "every row merged");
    assert_exact(&db, "after compacting new rows").await;
    assert_eq!(as_of_figures(&db).await, before, "the same figures");
});
