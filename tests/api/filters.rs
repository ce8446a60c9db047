//! Each filter returns exactly the rows it should, checked against an independent computation over
//! every row loaded from the database.

use std::collections::{BTreeSet, HashSet};

use chrono::{TimeZone, Utc};
use entity::enums::{CaseStatus, PpksCategory, ReferralStatus, Urgency, VolunteerStatus};
use entity::{case, case_category, enrollment, organisation, referral, training_attendance, volunteer};
use psm_api::graphql::ids::{self, NodeType};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::paging::page_through;
use crate::support::{TestDb, db_test};

async fn ids_of(db: &TestDb, field: &str, order_type: &str, filter: Value) -> BTreeSet<Uuid> {
    let (ids, total) = page_through(db, field, order_type, Value::Null, filter.clone(), 100, false).await;
    assert_eq!(ids.len() as i64, total, "{field} {filter}: totalCount disagrees with the rows");
    ids.iter()
        .map(|id| {
            let (_, key) = ids::decode(id, "id").expect("an id the API issued");
            Uuid::parse_str(&key).expect("uuid key")
        })
        .collect()
}

fn check(name: &str, got: BTreeSet<Uuid>, expected: BTreeSet<Uuid>, universe: usize) {
    assert!(!expected.is_empty(), "{name}: the expected set is empty, the check would prove nothing");
    assert!(expected.len() < universe, "{name}: the filter keeps every row, the check would prove nothing");
    assert_eq!(got, expected, "{name}");
}

db_test!(case_filters_return_exactly_the_matching_cases, |db| async move {
    db.seed(600).await;
    let cases = case::Entity::find().all(&db.db).await.expect("cases");
    let categories = case_category::Entity::find().all(&db.db).await.expect("categories");
    let enrollments = enrollment::Entity::find().all(&db.db).await.expect("enrollments");
    let referrals = referral::Entity::find().all(&db.db).await.expect("referrals");
    let all = cases.len();
    let select = |keep: &dyn Fn(&case::Model) -> bool| -> BTreeSet<Uuid> {
        cases.iter().filter(|c| keep(c)).map(|c| c.id).collect()
    };

    let got = ids_of(&db, "cases", "CaseOrder", json!({ "status": ["NEW", "ASSESSMENT"] })).await;
    check("status", got, select(&|c| matches!(c.status, CaseStatus::New | CaseStatus::Assessment)), all);

    let got = ids_of(&db, "cases", "CaseOrder", json!({ "urgency": ["HIGH", "EMERGENCY"] })).await;
    check("urgency", got, select(&|c| matches!(c.urgency, Urgency::High | Urgency::Emergency)), all);

    let tagged: HashSet<Uuid> = categories
        .iter()
        .filter(|c| matches!(c.category, PpksCategory::NeglectedElderly | PpksCategory::PersonWithDisability))
        .map(|c| c.case_id)
        .collect();
    let got =
        ids_of(&db, "cases", "CaseOrder", json!({ "categories": ["NEGLECTED_ELDERLY", "PERSON_WITH_DISABILITY"] }))
            .await;
    check("categories", got, select(&|c| tagged.contains(&c.id)), all);

    let got = ids_of(&db, "cases", "CaseOrder", json!({ "districtCodes": ["63.71.01"] })).await;
    check("districtCodes", got, select(&|c| c.kelurahan_code.starts_with("63.71.01.")), all);

    let kelurahan = cases[0].kelurahan_code.clone();
    let got = ids_of(&db, "cases", "CaseOrder", json!({ "kelurahanCodes": [kelurahan] })).await;
    check("kelurahanCodes", got, select(&|c| c.kelurahan_code == kelurahan), all);

    // A month in Banjarmasin time: from 1 March 2025 00:00 WITA (UTC+8) to 1 April 2025 00:00 WITA.
    let from = Utc.with_ymd_and_hms(2025, 2, 28, 16, 0, 0).single().expect("instant");
    let before = Utc.with_ymd_and_hms(2025, 3, 31, 16, 0, 0).single().expect("instant");
    let got = ids_of(
        &db,
        "cases",
        "CaseOrder",
        json!({ "opened": { "from": "2025-03-01T00:00:00+08:00", "before": "2025-04-01T00:00:00+08:00" } }),
    )
    .await;
    check("opened", got, select(&|c| c.opened_at >= from && c.opened_at < before), all);

    let volunteer = cases.iter().find_map(|c| c.reporting_volunteer_id).expect("a volunteer-reported case");
    let got = ids_of(
        &db,
        "cases",
        "CaseOrder",
        json!({ "reportingVolunteerId": ids::encode(NodeType::Volunteer, volunteer).0 }),
    )
    .await;
    check("reportingVolunteerId", got, select(&|c| c.reporting_volunteer_id == Some(volunteer)), all);

    let programme = enrollments.first().expect("an enrollment").programme_id;
    let enrolled: HashSet<Uuid> =
        enrollments.iter().filter(|e| e.programme_id == programme).map(|e| e.case_id).collect();
    let got =
        ids_of(&db, "cases", "CaseOrder", json!({ "programmeId": ids::encode(NodeType::Programme, programme).0 }))
            .await;
    check("programmeId", got, select(&|c| enrolled.contains(&c.id)), all);

    let partner = referrals.first().expect("a referral").to_organisation_id;
    let referred: HashSet<Uuid> =
        referrals.iter().filter(|r| r.to_organisation_id == partner).map(|r| r.case_id).collect();
    let got = ids_of(
        &db,
        "cases",
        "CaseOrder",
        json!({ "referredToOrganisationId": ids::encode(NodeType::Organisation, partner).0 }),
    )
    .await;
    check("referredToOrganisationId", got, select(&|c| referred.contains(&c.id)), all);

    let reference = cases[7].reference_number.clone();
    let got = ids_of(&db, "cases", "CaseOrder", json!({ "referenceNumber": reference })).await;
    check("referenceNumber", got, select(&|c| c.reference_number == reference), all);

    let got =
        ids_of(&db, "cases", "CaseOrder", json!({ "status": ["CLOSED"], "districtCodes": ["63.71.02", "63.71.03"] }))
            .await;
    check(
        "status and districtCodes",
        got,
        select(&|c| {
            c.status == CaseStatus::Closed
                && (c.kelurahan_code.starts_with("63.71.02.") || c.kelurahan_code.starts_with("63.71.03."))
        }),
        all,
    );
});

db_test!(volunteer_and_referral_filters_return_exactly_the_matching_rows, |db| async move {
    db.seed(600).await;
    let volunteers = volunteer::Entity::find().all(&db.db).await.expect("volunteers");
    let trainings = training_attendance::Entity::find().all(&db.db).await.expect("trainings");
    let all = volunteers.len();
    let trained: HashSet<Uuid> = trainings.iter().map(|t| t.volunteer_id).collect();
    let select = |keep: &dyn Fn(&volunteer::Model) -> bool| -> BTreeSet<Uuid> {
        volunteers.iter().filter(|v| keep(v)).map(|v| v.id).collect()
    };

    let got = ids_of(&db, "volunteers", "VolunteerOrder", json!({ "status": ["ACTIVE"] })).await;
    check("status", got, select(&|v| v.status == VolunteerStatus::Active), all);
    let got = ids_of(&db, "volunteers", "VolunteerOrder", json!({ "trained": true })).await;
    check("trained", got, select(&|v| trained.contains(&v.id)), all);
    let got = ids_of(&db, "volunteers", "VolunteerOrder", json!({ "trained": false })).await;
    check("not trained", got, select(&|v| !trained.contains(&v.id)), all);
    let got = ids_of(&db, "volunteers", "VolunteerOrder", json!({ "servedSince": { "to": "2005-12-31" } })).await;
    let cutoff = chrono::NaiveDate::from_ymd_opt(2005, 12, 31).expect("date");
    check("servedSince", got, select(&|v| v.served_since <= cutoff), all);
    let got = ids_of(&db, "volunteers", "VolunteerOrder", json!({ "districtCodes": ["63.71.04"] })).await;
    check("districtCodes", got, select(&|v| v.kelurahan_code.starts_with("63.71.04.")), all);

    let referrals = referral::Entity::find().all(&db.db).await.expect("referrals");
    let organisations = organisation::Entity::find().all(&db.db).await.expect("organisations");
    let all = referrals.len();
    let select = |keep: &dyn Fn(&referral::Model) -> bool| -> BTreeSet<Uuid> {
        referrals.iter().filter(|r| keep(r)).map(|r| r.id).collect()
    };
    let got = ids_of(&db, "referrals", "ReferralOrder", json!({ "status": ["ACCEPTED", "COMPLETED"] })).await;
    check(
        "referral status",
        got,
        select(&|r| matches!(r.status, ReferralStatus::Accepted | ReferralStatus::Completed)),
        all,
    );
    let partner = referrals[0].to_organisation_id;
    assert!(organisations.iter().any(|o| o.id == partner));
    let got = ids_of(
        &db,
        "referrals",
        "ReferralOrder",
        json!({ "toOrganisationIds": [ids::encode(NodeType::Organisation, partner).0] }),
    )
    .await;
    check("toOrganisationIds", got, select(&|r| r.to_organisation_id == partner), all);
    let mut updated: Vec<_> = referrals.iter().map(|r| r.updated_at).collect();
    updated.sort();
    let since = updated[updated.len() / 2];
    let got = ids_of(&db, "referrals", "ReferralOrder", json!({ "updatedSince": since.to_rfc3339() })).await;
    check("updatedSince", got, select(&|r| r.updated_at >= since), all);
});
