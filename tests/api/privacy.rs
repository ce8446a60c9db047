//! Privacy of writes, tried as an attacker would: probing whether a NIK is registered, reading which
//! partner took a case on from its history, slipping malformed values past validation, and writes whose
//! refusal or whose entry point (command line, sweeps) would leave no trace in the audit trail.

use chrono::{Duration, Utc};
use entity::enums::{AuditAction, OrganisationKind, RegionLevel, Role};
use entity::{audit_event, case_status_change, organisation, person, region, volunteer};
use migration::{Migrator, MigratorTrait};
use psm_api::auth::{NewKey, Viewer};
use psm_api::graphql::ids::{NodeType, encode};
use psm_api::service;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::{TestDb, db_test, error_code};

const REPORT: &str = "mutation($input: ReportCaseInput!) {
    reportCase(input: $input) { case { id referenceNumber status version summary categories } } }";

async fn kelurahan(db: &TestDb) -> String {
    region::Entity::find()
        .filter(region::Column::Level.eq(RegionLevel::Subdistrict))
        .one(&db.db)
        .await
        .expect("region")
        .expect("a kelurahan")
        .code
}

async fn a_volunteer(db: &TestDb) -> Viewer {
    Viewer::volunteer(volunteer::Entity::find().one(&db.db).await.expect("volunteer").expect("one").id)
}

fn new_case(nik: &str, birth_date: &str, kelurahan: &str) -> Value {
    json!({
        "newPerson": {
            "fullName": "Rahmat Hidayat", "nik": nik, "birthDate": birth_date, "sex": "MALE",
            "address": "Jl. Sungai Andai No. 12", "kelurahanCode": kelurahan
        },
        "kelurahanCode": kelurahan,
        "categories": ["POOR"],
        "urgency": "NORMAL",
        "source": "PSM_VISIT",
        "summary": "Needs help with food."
    })
}

/// A response with the ids and reference numbers, which differ between any two reports, blanked.
fn redacted(mut response: Value) -> Value {
    if let Some(case) = response["data"]["reportCase"]["case"].as_object_mut() {
        case.insert("id".into(), json!("<id>"));
        case.insert("referenceNumber".into(), json!("<reference>"));
    }
    response
}

fn field_of(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["field"].as_str()
}

async fn registered_nik(db: &TestDb) -> String {
    person::Entity::find()
        .filter(person::Column::Nik.is_not_null())
        .one(&db.db)
        .await
        .expect("person")
        .and_then(|p| p.nik)
        .expect("a person with a NIK")
}

db_test!(a_volunteer_cannot_tell_a_registered_nik_from_an_unregistered_one, |db| async move {
    db.seed(20).await;
    let kelurahan = kelurahan(&db).await;
    let volunteer = a_volunteer(&db).await;
    let registered = registered_nik(&db).await;
    let unregistered = "6371059912310001";
    assert_eq!(person::Entity::find().filter(person::Column::Nik.eq(unregistered)).count(&db.db).await.expect("n"), 0);

    let on_record =
        db.run_as(&volunteer, REPORT, json!({ "input": new_case(&registered, "1980-05-17", &kelurahan) })).await;
    let fresh =
        db.run_as(&volunteer, REPORT, json!({ "input": new_case(unregistered, "1980-05-17", &kelurahan) })).await;
    assert!(on_record.get("errors").is_none(), "{on_record}");
    assert_eq!(redacted(on_record), redacted(fresh), "the same answer whether or not the NIK is on record");

    // The second person with that NIK waits for STAFF, flagged; the first stays as it was.
    let holders = person::Entity::find().filter(person::Column::Nik.eq(registered.as_str())).all(&db.db).await;
    let holders = holders.expect("persons");
    assert_eq!(holders.len(), 2);
    let first = holders.iter().find(|p| p.possible_duplicate_of.is_none()).expect("the original");
    assert!(holders.iter().any(|p| p.possible_duplicate_of == Some(first.id)), "the new one is flagged");

    // A wrong birth date is refused the same way before anything is looked up.
    for birth_date in ["0001-01-01", "9999-12-31"] {
        let on_record =
            db.run_as(&volunteer, REPORT, json!({ "input": new_case(&registered, birth_date, &kelurahan) })).await;
        let fresh =
            db.run_as(&volunteer, REPORT, json!({ "input": new_case(unregistered, birth_date, &kelurahan) })).await;
        assert_eq!(error_code(&on_record), Some("BAD_USER_INPUT"), "{on_record}");
        assert_eq!(field_of(&on_record), Some("input.newPerson.birthDate"));
        assert_eq!(on_record, fresh);
    }

    // STAFF may know: CONFLICT, naming the person already registered.
    let staff = db.run(REPORT, json!({ "input": new_case(&registered, "1980-05-17", &kelurahan) })).await;
    assert_eq!(error_code(&staff), Some("CONFLICT"), "{staff}");
    assert!(staff["errors"][0]["message"].as_str().is_some_and(|m| m.contains(&first.id.to_string())));
});

db_test!(the_database_refuses_a_second_unflagged_person_with_the_same_nik, |db| async move {
    db.seed(5).await;
    let existing = person::Entity::find().filter(person::Column::Nik.is_not_null()).one(&db.db).await;
    let existing = existing.expect("person").expect("one");
    let copy = |id: uuid::Uuid, flagged: Option<uuid::Uuid>| person::ActiveModel {
        id: Set(id),
        possible_duplicate_of: Set(flagged),
        ..sea_orm::IntoActiveModel::into_active_model(existing.clone())
    };
    let twin = person::Entity::insert(copy(entity::new_id(), None)).exec_without_returning(&db.db).await;
    assert!(twin.is_err(), "the unique index refuses an unflagged twin");
    person::Entity::insert(copy(entity::new_id(), Some(existing.id)))
        .exec_without_returning(&db.db)
        .await
        .expect("a flagged possible duplicate is allowed");
});

const SEND: &str = "mutation($case: ID!, $to: ID!, $respondBy: DateTime) {
    sendReferral(input: {caseId: $case, toOrganisationId: $to, consentOverrideReason: \"urgent\", respondBy: $respondBy}) {
      referral { id status } } }";

/// A fresh case in ASSESSMENT, and a partner organisation.
async fn referable(db: &TestDb) -> (String, organisation::Model) {
    let kelurahan = kelurahan(db).await;
    let reported = db.data(REPORT, json!({ "input": new_case("6371050101800002", "1980-01-01", &kelurahan) })).await;
    let id = reported["reportCase"]["case"]["id"].as_str().expect("id").to_owned();
    db.data(
        "mutation($id: ID!) { changeCaseStatus(id: $id, version: 1, status: ASSESSMENT) { case { status } } }",
        json!({ "id": id }),
    )
    .await;
    let partner = organisation::Entity::find()
        .filter(organisation::Column::Kind.ne(OrganisationKind::SocialService))
        .one(&db.db)
        .await
        .expect("organisation")
        .expect("a partner");
    (id, partner)
}

db_test!(a_case_history_never_names_the_partner_a_case_was_sent_to, |db| async move {
    db.seed(60).await;
    let codes: Vec<String> =
        organisation::Entity::find().all(&db.db).await.expect("organisations").into_iter().map(|o| o.code).collect();
    let notes = |rows: Vec<case_status_change::Model>| rows.into_iter().filter_map(|r| r.note).collect::<Vec<_>>();
    let seeded = notes(case_status_change::Entity::find().all(&db.db).await.expect("history"));
    assert!(seeded.iter().any(|n| n.starts_with("Rujukan")), "the demo data refers cases");
    for note in &seeded {
        assert!(!codes.iter().any(|code| note.contains(code.as_str())), "the demo data names a partner: {note}");
    }

    let (case, partner) = referable(&db).await;
    let sent = db.data(SEND, json!({ "case": case, "to": encode(NodeType::Organisation, partner.id).0 })).await;
    assert_eq!(sent["sendReferral"]["referral"]["status"], "SENT");
    let history = db
        .data(
            "query($id: ID!) { node(id: $id) { ... on Case { status statusHistory { toStatus note } } } }",
            json!({ "id": case }),
        )
        .await;
    assert_eq!(history["node"]["status"], "REFERRED", "{history}");
    let text = history.to_string();
    assert!(text.contains("referred to a partner organisation"), "{text}");
    assert!(!text.contains(&partner.code), "the history names {}: {text}", partner.code);
});

db_test!(the_migration_rewrites_notes_that_named_a_partner, |db| async move {
    db.seed(5).await;
    let change = case_status_change::Entity::find().one(&db.db).await.expect("history").expect("one");
    for (offset, note) in ["Dirujuk ke YBP", "referred to LKS-ANAK"].into_iter().enumerate() {
        case_status_change::Entity::insert(case_status_change::ActiveModel {
            id: Set(entity::new_id()),
            note: Set(Some(note.to_owned())),
            changed_at: Set(change.changed_at + Duration::seconds(offset as i64 + 1)),
            ..sea_orm::IntoActiveModel::into_active_model(change.clone())
        })
        .exec_without_returning(&db.db)
        .await
        .expect("an old note");
    }
    // Run the rewording migration again: down to just before it, then up.
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let position = names.iter().position(|n| n.contains("reword_referral_notes")).expect("the migration");
    Migrator::down(&db.db, Some((names.len() - position) as u32)).await.expect("down");
    Migrator::up(&db.db, None).await.expect("up");
    let left = case_status_change::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(case_status_change::Column::Note.like("Dirujuk ke %"))
                .add(case_status_change::Column::Note.eq("referred to LKS-ANAK")),
        )
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(left, 0);
    let rewritten = case_status_change::Entity::find()
        .filter(case_status_change::Column::Note.eq("referred to a partner organisation"))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(rewritten, 2);
});

async fn refusals(db: &TestDb) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq(service::write::REFUSED_SUBJECT))
        .all(&db.db)
        .await
        .expect("refusals")
}

db_test!(a_refused_write_carrying_personal_data_is_recorded_without_the_data, |db| async move {
    db.seed(5).await;
    let kelurahan = kelurahan(&db).await;
    let dashboard = Viewer::with_role(Role::Dashboard);
    let forbidden =
        db.run_as(&dashboard, REPORT, json!({ "input": new_case("6371050101800003", "1980-01-01", &kelurahan) })).await;
    assert_eq!(error_code(&forbidden), Some("FORBIDDEN"));
    let volunteer = a_volunteer(&db).await;
    let invalid =
        db.run_as(&volunteer, REPORT, json!({ "input": new_case("6371050101800003", "2999-01-01", &kelurahan) })).await;
    assert_eq!(error_code(&invalid), Some("BAD_USER_INPUT"));
    let register = "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { person { id } } }";
    let person = new_case("6371050101800003", "1980-01-01", &kelurahan)["newPerson"].clone();
    let not_staff = db.run_as(&volunteer, register, json!({ "input": person })).await;
    assert_eq!(error_code(&not_staff), Some("FORBIDDEN"));

    let records = refusals(&db).await;
    assert_eq!(records.len(), 3, "{records:?}");
    for record in &records {
        assert!(record.person_id.is_none());
        let text = format!("{record:?}");
        for secret in ["Rahmat", "6371050101800003", "Sungai Andai", "Needs help"] {
            assert!(!text.contains(secret), "the record holds `{secret}`: {text}");
        }
    }
    let codes: Vec<Value> =
        records.iter().map(|r| serde_json::from_str(r.after.as_deref().unwrap_or("{}")).expect("json")).collect();
    assert!(codes.iter().any(|c| c["operation"] == "reportCase" && c["code"] == "FORBIDDEN"));
    assert!(codes.iter().any(|c| c["code"] == "BAD_USER_INPUT" && c["field"] == "input.newPerson.birthDate"));
    assert!(codes.iter().any(|c| c["operation"] == "registerPerson" && c["code"] == "FORBIDDEN"));
    assert!(records.iter().any(|r| r.fields.as_deref() == Some("input.newPerson,input.summary")));
});

db_test!(text_with_control_characters_or_beyond_its_limit_is_refused_naming_the_field, |db| async move {
    db.seed(5).await;
    let kelurahan = kelurahan(&db).await;
    let mut nul = new_case("6371050101800004", "1980-01-01", &kelurahan);
    nul["summary"] = json!("before\u{0}after");
    let response = db.run(REPORT, json!({ "input": nul })).await;
    assert_eq!((error_code(&response), field_of(&response)), (Some("BAD_USER_INPUT"), Some("input.summary")));
    let mut bell = new_case("6371050101800004", "1980-01-01", &kelurahan);
    bell["newPerson"]["fullName"] = json!("Rahmat\u{7}");
    let response = db.run(REPORT, json!({ "input": bell })).await;
    assert_eq!(field_of(&response), Some("input.newPerson.fullName"), "{response}");
    let mut long = new_case("6371050101800004", "1980-01-01", &kelurahan);
    long["newPerson"]["address"] = json!("x".repeat(501));
    let response = db.run(REPORT, json!({ "input": long })).await;
    assert_eq!(field_of(&response), Some("input.newPerson.address"), "{response}");
    // A multi-line summary keeps its newlines.
    let mut lines = new_case("6371050101800004", "1980-01-01", &kelurahan);
    lines["summary"] = json!("first line\nsecond line");
    let ok = db.data(REPORT, json!({ "input": lines })).await;
    assert_eq!(ok["reportCase"]["case"]["summary"], "first line\nsecond line");

    let case = ok["reportCase"]["case"]["id"].as_str().expect("id");
    let status = "mutation($id: ID!, $note: String) { changeCaseStatus(id: $id, version: 1, status: ASSESSMENT, note: $note) { case { status } } }";
    let response = db.run(status, json!({ "id": case, "note": "n".repeat(2001) })).await;
    assert_eq!((error_code(&response), field_of(&response)), (Some("BAD_USER_INPUT"), Some("note")));
    let response = db.run(status, json!({ "id": case, "note": "a\u{0}b" })).await;
    assert_eq!((error_code(&response), field_of(&response)), (Some("BAD_USER_INPUT"), Some("note")));

    let admin = Viewer::with_role(Role::Admin);
    let create = "mutation($name: String!) { createApiKey(input: {role: DASHBOARD, name: $name}) { apiKey { name } } }";
    let response = db.run_as(&admin, create, json!({ "name": "k".repeat(101) })).await;
    assert_eq!((error_code(&response), field_of(&response)), (Some("BAD_USER_INPUT"), Some("input.name")));
    let response = db.run_as(&admin, create, json!({ "name": "nul\u{0}" })).await;
    assert_eq!(field_of(&response), Some("input.name"));
});

db_test!(dates_outside_1900_to_2100_are_refused, |db| async move {
    db.seed(5).await;
    let kelurahan = kelurahan(&db).await;
    let mut ancient = new_case("6371050101800005", "1980-01-01", &kelurahan);
    ancient["openedAt"] = json!("0001-01-01T00:00:00Z");
    let response = db.run(REPORT, json!({ "input": ancient })).await;
    assert_eq!((error_code(&response), field_of(&response)), (Some("BAD_USER_INPUT"), Some("input.openedAt")));
    let owner = organisation::Entity::find().one(&db.db).await.expect("o").expect("an organisation");
    let create = "mutation($input: CreateProgrammeInput!) { createProgramme(input: $input) { programme { id } } }";
    for (starts, ends, field) in
        [("0001-01-01", None, "input.startsOn"), ("2026-01-01", Some("9999-12-31"), "input.endsOn")]
    {
        let input = json!({
            "code": format!("P-{field}"), "name": "Bantuan", "kind": "SOCIAL_ASSISTANCE", "description": "Help.",
            "ownerOrganisationId": encode(NodeType::Organisation, owner.id).0, "startsOn": starts, "endsOn": ends,
            "target": 10, "budgetIdr": 1000
        });
        let response = db.run(create, json!({ "input": input })).await;
        assert_eq!((error_code(&response), field_of(&response)), (Some("BAD_USER_INPUT"), Some(field)), "{response}");
    }
    let volunteer = volunteer::Entity::find().one(&db.db).await.expect("v").expect("one");
    let award = "mutation($id: ID!, $on: NaiveDate!) { recordAward(input: {volunteerId: $id, title: \"Teladan\", awardedOn: $on, awardedBy: \"Wali Kota\"}) { award { id } } }";
    let response =
        db.run(award, json!({ "id": encode(NodeType::Volunteer, volunteer.id).0, "on": "0001-06-01" })).await;
    assert_eq!((error_code(&response), field_of(&response)), (Some("BAD_USER_INPUT"), Some("input.awardedOn")));
});

db_test!(admins_cannot_make_or_revoke_staff_or_admin_keys_through_the_api, |db| async move {
    db.seed(5).await;
    let admin = Viewer::with_role(Role::Admin);
    for role in ["STAFF", "ADMIN"] {
        let create = format!("mutation {{ createApiKey(input: {{role: {role}, name: \"escalate\"}}) {{ secret }} }}");
        let response = db.run_as(&admin, &create, Value::Null).await;
        assert_eq!(error_code(&response), Some("FORBIDDEN"), "{role}: {response}");
    }
    // Only the server makes them, audited as the command line.
    let viewer = service::access::server_viewer(service::access::COMMAND_LINE_LABEL);
    let actor = service::write::Actor {
        db: &db.db,
        viewer: &viewer,
        city_offset: psm_api::config::ApiConfig::default().city_offset(),
    };
    let new = NewKey { role: Role::Staff, organisation: None, volunteer: None, name: "caseworker".into() };
    let (_, staff_key) = service::key::create(&actor, &new).await.expect("the server creates a STAFF key");
    let revoke = "mutation($p: String!) { revokeApiKey(prefix: $p) { apiKey { revokedAt } } }";
    let response = db.run_as(&admin, revoke, json!({ "p": staff_key.prefix })).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response}");
    service::key::revoke(&actor, &staff_key.prefix).await.expect("the server revokes it");
    let trail = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("ApiKey"))
        .filter(audit_event::Column::Actor.eq("command line"))
        .all(&db.db)
        .await
        .expect("trail");
    let actions: Vec<AuditAction> = trail.iter().map(|e| e.action).collect();
    assert_eq!(actions.len(), 2, "{trail:?}");
    assert!(actions.contains(&AuditAction::Create) && actions.contains(&AuditAction::Update));
});

db_test!(an_expired_referral_is_audited_as_the_system, |db| async move {
    db.seed(5).await;
    let (case, partner) = referable(&db).await;
    let respond_by = (Utc::now() + Duration::days(1)).to_rfc3339();
    let sent = db
        .data(
            SEND,
            json!({ "case": case, "to": encode(NodeType::Organisation, partner.id).0, "respondBy": respond_by }),
        )
        .await;
    let referral = sent["sendReferral"]["referral"]["id"].as_str().expect("id").to_owned();
    let referral_id = psm_api::graphql::ids::decode_uuid(&referral, NodeType::Referral, "id").expect("uuid");
    let swept = service::feed::sweep(&db.db, Utc::now() + Duration::days(2)).await.expect("sweep");
    assert!(swept.expired_referrals >= 1);
    let status =
        db.data("query($id: ID!) { node(id: $id) { ... on Referral { status } } }", json!({ "id": referral })).await;
    assert_eq!(status["node"]["status"], "EXPIRED");
    let audited = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("Referral"))
        .filter(audit_event::Column::SubjectId.eq(referral_id.to_string()))
        .filter(audit_event::Column::Action.eq(AuditAction::Update))
        .filter(audit_event::Column::Actor.eq("system"))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(audited, 1, "the expiry is in the audit trail");
});

/// The demo data registers every person with a NIK once: a serial drawn twice for the same kecamatan,
/// birth date and sex moves on to a free one (the database refuses a second registered person per NIK,
/// which a million-case seed used to run into).
#[test]
fn demo_niks_stay_unique_when_the_same_serial_is_drawn_again() {
    use std::collections::HashSet;
    let birth = chrono::NaiveDate::from_ymd_opt(1950, 3, 2).expect("a date");
    let mut used = HashSet::new();
    // The same seed draws the same serial every time: each NIK after the first is a collision.
    let niks: HashSet<String> = (0..9_999)
        .map(|_| psm_api::seed::nik(&mut fastrand::Rng::with_seed(7), &mut used, "01", birth, entity::enums::Sex::Male))
        .collect();
    assert_eq!(niks.len(), 9_999);
    assert!(niks.iter().all(|nik| nik.len() == 16 && nik.starts_with("637101020350")), "{niks:?}");
}
