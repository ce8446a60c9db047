//! Writes on volunteers (with their trainings and awards), programmes, enrollments and outcomes: each
//! mutation against the database, its validation, versions, roles and audit records.

use entity::enums::{AuditAction, EnrollmentStatus, OrganisationKind, Role, VolunteerStatus};
use entity::{
    audit_event, award, case, enrollment, organisation, outcome, programme, programme_category, training_attendance,
    volunteer,
};
use psm_api::auth::Viewer;
use psm_api::graphql::ids::{NodeType, decode_uuid, encode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestDb, db_test, error_code};

const KELURAHAN: &str = "63.71.01.1001";

const REGISTER: &str = "mutation($input: RegisterVolunteerInput!, $key: String) {
    registerVolunteer(input: $input, idempotencyKey: $key) { volunteer { id version status fullName psksType } } }";

const UPDATE_VOLUNTEER: &str = "mutation($id: ID!, $v: Int!, $input: UpdateVolunteerInput!) {
    updateVolunteer(id: $id, version: $v, input: $input) { volunteer { version phone kelurahan { code } } } }";

const DEACTIVATE: &str = "mutation($id: ID!, $v: Int!, $status: VolunteerStatus) {
    deactivateVolunteer(id: $id, version: $v, status: $status) { volunteer { version status } } }";

const TRAINING: &str = "mutation($input: RecordTrainingAttendanceInput!) {
    recordTrainingAttendance(input: $input) { trainingAttendance { id course hours volunteer { id } } } }";

const AWARD: &str = "mutation($input: RecordAwardInput!) {
    recordAward(input: $input) { award { id title awardedBy } } }";

const CREATE_PROGRAMME: &str = "mutation($input: CreateProgrammeInput!, $key: String) {
    createProgramme(input: $input, idempotencyKey: $key) { programme { id version code eligibleCategories } } }";

const UPDATE_PROGRAMME: &str = "mutation($id: ID!, $v: Int!, $input: UpdateProgrammeInput!) {
    updateProgramme(id: $id, version: $v, input: $input) { programme { version name endsOn eligibleCategories } } }";

const ENROL: &str = "mutation($input: EnrolCaseInput!, $key: String) {
    enrolCase(input: $input, idempotencyKey: $key) { enrollment { id version status } } }";

const EXIT: &str = "mutation($id: ID!, $v: Int!, $status: EnrollmentStatus!, $reason: String) {
    recordEnrollmentExit(id: $id, version: $v, status: $status, reason: $reason) {
        enrollment { version status exitReason exitedAt } } }";

const RECORD_OUTCOME: &str = "mutation($input: RecordOutcomeInput!, $key: String) {
    recordOutcome(input: $input, idempotencyKey: $key) { outcome { id verified outcomeGroup } } }";

const VERIFY: &str = "mutation($id: ID!) { verifyOutcome(id: $id) { outcome { verified verifiedAt } } }";

const REPORT: &str = "mutation($input: ReportCaseInput!) { reportCase(input: $input) { case { id } } }";

fn staff() -> Viewer {
    Viewer::with_role(Role::Staff)
}

fn field_of(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["field"].as_str()
}

/// The code and field of the first error of a response.
fn failure(response: &Value) -> (Option<&str>, Option<&str>) {
    (error_code(response), field_of(response))
}

/// The value at `path` (a `/`-separated JSON pointer below `data`), which must be a string.
fn text<'a>(response: &'a Value, path: &str) -> &'a str {
    response["data"].pointer(path).and_then(Value::as_str).unwrap_or_else(|| panic!("no {path} in {response:#}"))
}

fn new_volunteer() -> Value {
    json!({
        "fullName": "Rahmadi", "phone": "0812-5100-0001", "gender": "MALE", "birthYear": 1975,
        "servedSince": "1996-07-01", "homeKelurahanCode": KELURAHAN, "kelurahanCode": KELURAHAN
    })
}

async fn dinsos(db: &TestDb) -> Uuid {
    organisation::Entity::find()
        .filter(organisation::Column::Kind.eq(OrganisationKind::SocialService))
        .one(&db.db)
        .await
        .expect("organisation")
        .expect("the seeded Dinsos")
        .id
}

async fn audit_updates(db: &TestDb, subject_type: &str, id: Uuid) -> Vec<(Value, Value)> {
    audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq(subject_type))
        .filter(audit_event::Column::SubjectId.eq(id.to_string()))
        .filter(audit_event::Column::Action.eq(AuditAction::Update))
        .all(&db.db)
        .await
        .expect("audit")
        .into_iter()
        .map(|event| {
            let parse = |json: Option<String>| serde_json::from_str(&json.expect("a snapshot")).expect("json");
            (parse(event.before), parse(event.after))
        })
        .collect()
}

fn new_programme(owner: Uuid, code: &str, categories: &[&str]) -> Value {
    json!({
        "code": code, "name": "Rehab Rumah 2026", "kind": "HOUSE_REHABILITATION",
        "description": "Rehabilitation of uninhabitable houses.",
        "ownerOrganisationId": encode(NodeType::Organisation, owner).0,
        "startsOn": "2026-01-01", "endsOn": "2030-12-31", "target": 40, "budgetIdr": 3_000_000_000_i64,
        "eligibleCategories": categories
    })
}

/// Reports a case as STAFF with `categories`; returns its global id and UUID.
async fn report_case(db: &TestDb, nik: &str, categories: &[&str]) -> (String, Uuid) {
    let input = json!({
        "newPerson": {
            "fullName": "Siti Aminah", "nik": nik, "birthDate": "1948-03-02", "sex": "FEMALE",
            "address": "Jl. Kelayan B Gg. Purnama No. 7", "kelurahanCode": KELURAHAN
        },
        "kelurahanCode": KELURAHAN, "categories": categories, "urgency": "HIGH", "source": "PSM_VISIT",
        "summary": "Lives alone; roof leaking."
    });
    let response = db.run_as(&staff(), REPORT, json!({ "input": input })).await;
    let id = text(&response, "/reportCase/case/id").to_owned();
    let uuid = decode_uuid(&id, NodeType::Case, "id").expect("a case id");
    (id, uuid)
}

db_test!(staff_register_update_and_deactivate_volunteers, |db| async move {
    db.seed(10).await;
    let count = || volunteer::Entity::find().count(&db.db);
    let before = count().await.expect("count");

    // Validation names the field and writes nothing; other roles are refused.
    let mut bad = new_volunteer();
    bad["kelurahanCode"] = json!("63.71.99.9999");
    let response = db.run_as(&staff(), REGISTER, json!({ "input": bad })).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.kelurahanCode")));
    let mut bad = new_volunteer();
    bad["birthYear"] = json!(1850);
    let response = db.run_as(&staff(), REGISTER, json!({ "input": bad })).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.birthYear")));
    let mut bad = new_volunteer();
    bad["phone"] = json!("call me");
    let response = db.run_as(&staff(), REGISTER, json!({ "input": bad })).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.phone")));
    for viewer in [Viewer::with_role(Role::Dashboard), Viewer::partner(dinsos(&db).await)] {
        let response = db.run_as(&viewer, REGISTER, json!({ "input": new_volunteer() })).await;
        assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response}");
    }
    assert_eq!(count().await.expect("count"), before, "nothing written");

    // Registering, with a retry under the same idempotency key.
    let variables = json!({ "input": new_volunteer(), "key": "volunteer-1" });
    let registered = db.run_as(&staff(), REGISTER, variables.clone()).await;
    let again = db.run_as(&staff(), REGISTER, variables).await;
    assert_eq!(registered["data"], again["data"], "a retry returns the first result");
    assert_eq!(registered["data"]["registerVolunteer"]["volunteer"]["version"], 1, "{registered}");
    assert_eq!(count().await.expect("count"), before + 1, "registered once");
    let id = text(&registered, "/registerVolunteer/volunteer/id").to_owned();
    let uuid = decode_uuid(&id, NodeType::Volunteer, "id").expect("a volunteer id");
    let row = volunteer::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("registered");
    assert_eq!((row.full_name.as_str(), row.status, row.version), ("Rahmadi", VolunteerStatus::Active, 1));
    assert_eq!(row.psks_type.as_str(), "PSM");

    // Updating at the version read; a stale version is CONFLICT and changes nothing.
    let input = json!({ "phone": "0813-0000-0002", "kelurahanCode": "63.71.02.1001" });
    let updated = db.run_as(&staff(), UPDATE_VOLUNTEER, json!({ "id": id, "v": 1, "input": input })).await;
    assert_eq!(
        updated["data"]["updateVolunteer"]["volunteer"],
        json!({ "version": 2, "phone": "0813-0000-0002", "kelurahan": { "code": "63.71.02.1001" } }),
        "{updated}"
    );
    let stale =
        db.run_as(&staff(), UPDATE_VOLUNTEER, json!({ "id": id, "v": 1, "input": { "fullName": "Someone" } })).await;
    assert_eq!(error_code(&stale), Some("CONFLICT"));
    let bad = db.run_as(&staff(), UPDATE_VOLUNTEER, json!({ "id": id, "v": 2, "input": { "fullName": " " } })).await;
    assert_eq!(failure(&bad), (Some("BAD_USER_INPUT"), Some("input.fullName")));
    let row = volunteer::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("volunteer");
    assert_eq!((row.full_name.as_str(), row.phone.as_deref(), row.version), ("Rahmadi", Some("0813-0000-0002"), 2));
    let forbidden = db
        .run_as(&Viewer::volunteer(uuid), UPDATE_VOLUNTEER, json!({ "id": id, "v": 2, "input": { "phone": "1" } }))
        .await;
    assert_eq!(error_code(&forbidden), Some("FORBIDDEN"), "volunteers do not edit the register");

    // The update is audited with the values before and after.
    let audits = audit_updates(&db, "Volunteer", uuid).await;
    assert_eq!(audits.len(), 1);
    let (before, after) = &audits[0];
    assert_eq!((before["version"].as_i64(), after["version"].as_i64()), (Some(1), Some(2)));
    assert_eq!((before["phone"].as_str(), after["phone"].as_str()), (Some("0812-5100-0001"), Some("0813-0000-0002")));

    // Deactivating: INACTIVE, then RETIRED; ACTIVE is not a deactivation; a repeat is CONFLICT.
    let response = db.run_as(&staff(), DEACTIVATE, json!({ "id": id, "v": 2, "status": "ACTIVE" })).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("status")));
    let response = db.run_as(&staff(), DEACTIVATE, json!({ "id": id, "v": 1 })).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "stale version");
    let response = db.run_as(&staff(), DEACTIVATE, json!({ "id": id, "v": 2 })).await;
    assert_eq!(response["data"]["deactivateVolunteer"]["volunteer"], json!({ "version": 3, "status": "INACTIVE" }));
    let response = db.run_as(&staff(), DEACTIVATE, json!({ "id": id, "v": 3, "status": "INACTIVE" })).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "already inactive");
    let response = db.run_as(&staff(), DEACTIVATE, json!({ "id": id, "v": 3, "status": "RETIRED" })).await;
    assert_eq!(response["data"]["deactivateVolunteer"]["volunteer"], json!({ "version": 4, "status": "RETIRED" }));
    let row = volunteer::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("volunteer");
    assert_eq!((row.status, row.version), (VolunteerStatus::Retired, 4));
    assert_eq!(audit_updates(&db, "Volunteer", uuid).await.len(), 3);
});

db_test!(staff_record_training_attendance_and_awards, |db| async move {
    db.seed(10).await;
    let volunteer = volunteer::Entity::find().one(&db.db).await.expect("volunteer").expect("a seeded volunteer");
    let volunteer_id = encode(NodeType::Volunteer, volunteer.id).0;
    let organiser = encode(NodeType::Organisation, dinsos(&db).await).0;
    let attendances = || training_attendance::Entity::find().count(&db.db);
    let awards = || award::Entity::find().count(&db.db);
    let (attendances_before, awards_before) = (attendances().await.expect("count"), awards().await.expect("count"));
    let training = |hours: i64, on: &str| {
        json!({ "input": {
            "volunteerId": volunteer_id, "course": "Bimtek PSM 2026", "organiserId": organiser,
            "attendedOn": on, "hours": hours
        } })
    };

    let response = db.run_as(&staff(), TRAINING, training(0, "2025-11-20")).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.hours")));
    let response = db.run_as(&staff(), TRAINING, training(16, "2999-01-01")).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.attendedOn")));
    let mut unknown = training(16, "2025-11-20");
    unknown["input"]["volunteerId"] = json!(encode(NodeType::Volunteer, Uuid::nil()).0);
    let response = db.run_as(&staff(), TRAINING, unknown).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.volunteerId")));
    let response = db.run_as(&Viewer::with_role(Role::Dashboard), TRAINING, training(16, "2025-11-20")).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"));
    assert_eq!(attendances().await.expect("count"), attendances_before, "nothing written");

    let response = db.run_as(&staff(), TRAINING, training(16, "2025-11-20")).await;
    let recorded = &response["data"]["recordTrainingAttendance"]["trainingAttendance"];
    assert_eq!((recorded["course"].as_str(), recorded["hours"].as_i64()), (Some("Bimtek PSM 2026"), Some(16)));
    assert_eq!(recorded["volunteer"]["id"], volunteer_id);
    let id = decode_uuid(
        text(&response, "/recordTrainingAttendance/trainingAttendance/id"),
        NodeType::TrainingAttendance,
        "id",
    )
    .expect("an attendance id");
    let row = training_attendance::Entity::find_by_id(id).one(&db.db).await.expect("row").expect("recorded");
    assert_eq!((row.volunteer_id, row.hours, row.attended_on.to_string()), (volunteer.id, 16, "2025-11-20".into()));
    assert_eq!(attendances().await.expect("count"), attendances_before + 1);

    let award = |title: &str| {
        json!({ "input": {
            "volunteerId": volunteer_id, "title": title, "awardedOn": "2025-11-10",
            "awardedBy": "Wali Kota Banjarmasin"
        } })
    };
    let response = db.run_as(&staff(), AWARD, award("  ")).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.title")));
    let response = db.run_as(&Viewer::partner(dinsos(&db).await), AWARD, award("PSM Teladan")).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"));
    assert_eq!(awards().await.expect("count"), awards_before, "nothing written");
    let response = db.run_as(&staff(), AWARD, award("PSM Teladan")).await;
    assert_eq!(text(&response, "/recordAward/award/title"), "PSM Teladan", "{response}");
    let id = decode_uuid(text(&response, "/recordAward/award/id"), NodeType::Award, "id").expect("an award id");
    let row = award::Entity::find_by_id(id).one(&db.db).await.expect("row").expect("recorded");
    assert_eq!((row.volunteer_id, row.title.as_str()), (volunteer.id, "PSM Teladan"));
    let created = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("Award"))
        .filter(audit_event::Column::SubjectId.eq(id.to_string()))
        .filter(audit_event::Column::Action.eq(AuditAction::Create))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(created, 1);
});

db_test!(staff_create_and_update_programmes_at_their_version, |db| async move {
    db.seed(10).await;
    let owner = dinsos(&db).await;
    let count = || programme::Entity::find().count(&db.db);
    let before = count().await.expect("count");

    let mut bad = new_programme(owner, "TEST-RTLH-2026", &["UNINHABITABLE_HOUSE"]);
    bad["endsOn"] = json!("2025-12-31");
    let response = db.run_as(&staff(), CREATE_PROGRAMME, json!({ "input": bad })).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.endsOn")));
    let mut bad = new_programme(owner, "TEST-RTLH-2026", &["UNINHABITABLE_HOUSE"]);
    bad["budgetIdr"] = json!(-1);
    let response = db.run_as(&staff(), CREATE_PROGRAMME, json!({ "input": bad })).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.budgetIdr")));
    let mut bad = new_programme(owner, "TEST-RTLH-2026", &["UNINHABITABLE_HOUSE"]);
    bad["ownerOrganisationId"] = json!(encode(NodeType::Organisation, Uuid::nil()).0);
    let response = db.run_as(&staff(), CREATE_PROGRAMME, json!({ "input": bad })).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.ownerOrganisationId")));
    let input = new_programme(owner, "TEST-RTLH-2026", &["UNINHABITABLE_HOUSE"]);
    for viewer in [Viewer::with_role(Role::Dashboard), Viewer::partner(owner)] {
        let response = db.run_as(&viewer, CREATE_PROGRAMME, json!({ "input": input })).await;
        assert_eq!(error_code(&response), Some("FORBIDDEN"));
    }
    assert_eq!(count().await.expect("count"), before, "nothing written");

    let created = db.run_as(&staff(), CREATE_PROGRAMME, json!({ "input": input, "key": "programme-1" })).await;
    let programme = &created["data"]["createProgramme"]["programme"];
    assert_eq!(
        (programme["version"].as_i64(), programme["code"].as_str()),
        (Some(1), Some("TEST-RTLH-2026")),
        "{created}"
    );
    assert_eq!(programme["eligibleCategories"], json!(["UNINHABITABLE_HOUSE"]));
    let id = text(&created, "/createProgramme/programme/id").to_owned();
    let uuid = decode_uuid(&id, NodeType::Programme, "id").expect("a programme id");
    let row = programme::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("created");
    assert_eq!((row.budget_idr, row.target, row.owner_organisation_id, row.version), (3_000_000_000, 40, owner, 1));
    // The code is unique.
    let mut twin = new_programme(owner, "TEST-RTLH-2026", &[]);
    twin["name"] = json!("Another");
    let response = db.run_as(&staff(), CREATE_PROGRAMME, json!({ "input": twin })).await;
    assert_eq!(error_code(&response), Some("CONFLICT"));
    assert_eq!(count().await.expect("count"), before + 1);

    let input =
        json!({ "name": "Rehab Rumah 2026/27", "endsOn": null, "eligibleCategories": ["POOR", "UNINHABITABLE_HOUSE"] });
    let updated = db.run_as(&staff(), UPDATE_PROGRAMME, json!({ "id": id, "v": 1, "input": input })).await;
    assert_eq!(
        updated["data"]["updateProgramme"]["programme"],
        json!({
            "version": 2, "name": "Rehab Rumah 2026/27", "endsOn": null,
            "eligibleCategories": ["POOR", "UNINHABITABLE_HOUSE"]
        }),
        "{updated}"
    );
    let stale = db.run_as(&staff(), UPDATE_PROGRAMME, json!({ "id": id, "v": 1, "input": { "target": 5 } })).await;
    assert_eq!(error_code(&stale), Some("CONFLICT"));
    let bad = db.run_as(&staff(), UPDATE_PROGRAMME, json!({ "id": id, "v": 2, "input": { "target": -5 } })).await;
    assert_eq!(failure(&bad), (Some("BAD_USER_INPUT"), Some("input.target")));
    let row = programme::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("programme");
    assert_eq!((row.name.as_str(), row.ends_on, row.target, row.version), ("Rehab Rumah 2026/27", None, 40, 2));
    let categories = programme_category::Entity::find()
        .filter(programme_category::Column::ProgrammeId.eq(uuid))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(categories, 2);
    let audits = audit_updates(&db, "Programme", uuid).await;
    assert_eq!(audits.len(), 1);
    let (before, after) = &audits[0];
    assert_eq!(
        (before["name"].as_str(), after["name"].as_str()),
        (Some("Rehab Rumah 2026"), Some("Rehab Rumah 2026/27"))
    );
    assert_eq!((before["ends_on"].is_null(), after["ends_on"].is_null()), (false, true));
});

db_test!(enrolments_check_eligibility_and_duplicates_and_end_once, |db| async move {
    db.seed(10).await;
    let owner = dinsos(&db).await;
    let (case_id, case_uuid) = report_case(&db, "6371010203041001", &["NEGLECTED_ELDERLY", "POOR"]).await;
    let create = |code: &str, categories: &[&str]| {
        let input = new_programme(owner, code, categories);
        let db = &db;
        async move {
            let response = db.run_as(&staff(), CREATE_PROGRAMME, json!({ "input": input })).await;
            text(&response, "/createProgramme/programme/id").to_owned()
        }
    };
    let houses_only = create("RTLH-A", &["UNINHABITABLE_HOUSE"]).await;
    let for_the_poor = create("BANSOS-A", &["POOR", "HOMELESS"]).await;
    let enrollments = || enrollment::Entity::find().filter(enrollment::Column::CaseId.eq(case_uuid)).count(&db.db);

    // No category in common: refused, naming the case.
    let enrol = |programme: &str| json!({ "input": { "programmeId": programme, "caseId": case_id } });
    let response = db.run_as(&staff(), ENROL, enrol(&houses_only)).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.caseId")), "{response}");
    let response = db.run_as(&Viewer::with_role(Role::Dashboard), ENROL, enrol(&for_the_poor)).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"));
    assert_eq!(enrollments().await.expect("count"), 0, "nothing written");

    let enrolled = db.run_as(&staff(), ENROL, enrol(&for_the_poor)).await;
    assert_eq!(
        (
            enrolled["data"]["enrolCase"]["enrollment"]["status"].as_str(),
            enrolled["data"]["enrolCase"]["enrollment"]["version"].as_i64()
        ),
        (Some("ENROLLED"), Some(1)),
        "{enrolled}"
    );
    let id = text(&enrolled, "/enrolCase/enrollment/id").to_owned();
    let uuid = decode_uuid(&id, NodeType::Enrollment, "id").expect("an enrollment id");
    let row = enrollment::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("enrolled");
    assert_eq!((row.case_id, row.status, row.exited_at), (case_uuid, EnrollmentStatus::Enrolled, None));
    // Enrolling it again is a duplicate.
    let duplicate = db.run_as(&staff(), ENROL, enrol(&for_the_poor)).await;
    assert_eq!(error_code(&duplicate), Some("CONFLICT"), "{duplicate}");
    assert_eq!(enrollments().await.expect("count"), 1);

    // Exits: COMPLETED or EXITED with a reason, at the version read, once.
    let exit =
        |v: i64, status: &str, reason: Option<&str>| json!({ "id": id, "v": v, "status": status, "reason": reason });
    let response = db.run_as(&staff(), EXIT, exit(1, "ENROLLED", None)).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("status")));
    let response = db.run_as(&staff(), EXIT, exit(1, "EXITED", None)).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("reason")));
    let response = db.run_as(&staff(), EXIT, exit(7, "EXITED", Some("Moved to Banjarbaru"))).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "stale version");
    let row = enrollment::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("enrollment");
    assert_eq!((row.status, row.version), (EnrollmentStatus::Enrolled, 1), "nothing written");
    let exited = db.run_as(&staff(), EXIT, exit(1, "EXITED", Some("Moved to Banjarbaru"))).await;
    let ended = &exited["data"]["recordEnrollmentExit"]["enrollment"];
    assert_eq!((ended["status"].as_str(), ended["version"].as_i64()), (Some("EXITED"), Some(2)), "{exited}");
    let row = enrollment::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("enrollment");
    assert_eq!((row.status, row.exit_reason.as_deref()), (EnrollmentStatus::Exited, Some("Moved to Banjarbaru")));
    assert!(row.exited_at.is_some_and(|at| at >= row.enrolled_at));
    let again = db.run_as(&staff(), EXIT, exit(2, "COMPLETED", None)).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "already ended");
    // A case is enrolled in a programme once, even after it left.
    let response = db.run_as(&staff(), ENROL, enrol(&for_the_poor)).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "{response}");
    assert_eq!(enrollments().await.expect("count"), 1);
    // A closed case is reopened before it is enrolled.
    let (closed_id, closed_uuid) = report_case(&db, "6371010203041002", &["POOR"]).await;
    let close = "mutation($id: ID!) {
        changeCaseStatus(id: $id, version: 1, status: CLOSED, closureReason: RESOLVED) { case { status } } }";
    db.data_as(&staff(), close, json!({ "id": closed_id })).await;
    let response =
        db.run_as(&staff(), ENROL, json!({ "input": { "programmeId": for_the_poor, "caseId": closed_id } })).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "{response}");
    let closed_enrollments =
        enrollment::Entity::find().filter(enrollment::Column::CaseId.eq(closed_uuid)).count(&db.db).await;
    assert_eq!(closed_enrollments.expect("count"), 0);
    let audits = audit_updates(&db, "Enrollment", uuid).await;
    assert_eq!(audits.len(), 1);
    assert_eq!((audits[0].0["status"].as_str(), audits[0].1["status"].as_str()), (Some("ENROLLED"), Some("EXITED")));
});

db_test!(outcomes_come_from_staff_or_the_reporting_volunteer_and_are_verified_once, |db| async move {
    db.seed(60).await;
    let mine = case::Entity::find()
        .filter(case::Column::ReportingVolunteerId.is_not_null())
        .one(&db.db)
        .await
        .expect("case")
        .expect("a case a volunteer reported");
    let reporter = mine.reporting_volunteer_id.expect("its reporter");
    let other = case::Entity::find()
        .filter(case::Column::ReportingVolunteerId.ne(reporter))
        .one(&db.db)
        .await
        .expect("case")
        .expect("another volunteer's case");
    let volunteer = Viewer::volunteer(reporter);
    let outcomes = || outcome::Entity::find().count(&db.db);
    let before = outcomes().await.expect("count");
    let record = |case: Uuid| {
        json!({ "input": {
            "caseId": encode(NodeType::Case, case).0, "outcomeType": "SERVICE_DELIVERED", "note": "Food parcel delivered."
        } })
    };

    // Someone else's case does not exist for a volunteer; partners and dashboards may not record.
    let response = db.run_as(&volunteer, RECORD_OUTCOME, record(other.id)).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response}");
    for viewer in [Viewer::with_role(Role::Dashboard), Viewer::partner(dinsos(&db).await)] {
        let response = db.run_as(&viewer, RECORD_OUTCOME, record(mine.id)).await;
        assert_eq!(error_code(&response), Some("FORBIDDEN"));
    }
    // A programme the case is not enrolled in.
    let not_enrolled = programme::Entity::find()
        .filter(
            programme::Column::Id.not_in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(enrollment::Column::ProgrammeId)
                    .from(enrollment::Entity)
                    .and_where(enrollment::Column::CaseId.eq(mine.id))
                    .take(),
            ),
        )
        .one(&db.db)
        .await
        .expect("programme")
        .expect("a programme the case is not in");
    let mut with_programme = record(mine.id);
    with_programme["input"]["programmeId"] = json!(encode(NodeType::Programme, not_enrolled.id).0);
    let response = db.run_as(&volunteer, RECORD_OUTCOME, with_programme).await;
    assert_eq!(failure(&response), (Some("BAD_USER_INPUT"), Some("input.programmeId")));
    assert_eq!(outcomes().await.expect("count"), before, "nothing written");

    // The reporting volunteer records it; STAFF too, on any case.
    let recorded = db.run_as(&volunteer, RECORD_OUTCOME, record(mine.id)).await;
    assert_eq!(recorded["data"]["recordOutcome"]["outcome"]["verified"], false, "{recorded}");
    assert_eq!(recorded["data"]["recordOutcome"]["outcome"]["outcomeGroup"], "SUCCESS");
    let id = text(&recorded, "/recordOutcome/outcome/id").to_owned();
    let uuid = decode_uuid(&id, NodeType::Outcome, "id").expect("an outcome id");
    let row = outcome::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("recorded");
    assert_eq!((row.case_id, row.verified, row.note.as_deref()), (mine.id, false, Some("Food parcel delivered.")));
    assert_eq!(row.recorded_by, volunteer.label);
    let by_staff = db.run_as(&staff(), RECORD_OUTCOME, record(other.id)).await;
    assert!(by_staff.get("errors").is_none(), "{by_staff}");
    assert_eq!(outcomes().await.expect("count"), before + 2);

    // Verifying: STAFF only, once.
    let response = db.run_as(&volunteer, VERIFY, json!({ "id": id })).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"));
    let verified = db.run_as(&staff(), VERIFY, json!({ "id": id })).await;
    assert_eq!(verified["data"]["verifyOutcome"]["outcome"]["verified"], true, "{verified}");
    let row = outcome::Entity::find_by_id(uuid).one(&db.db).await.expect("row").expect("outcome");
    assert!(row.verified && row.verified_at.is_some());
    let again = db.run_as(&staff(), VERIFY, json!({ "id": id })).await;
    assert_eq!(error_code(&again), Some("CONFLICT"));
    let audits = audit_updates(&db, "Outcome", uuid).await;
    assert_eq!(audits.len(), 1);
    assert_eq!((audits[0].0["verified"].as_bool(), audits[0].1["verified"].as_bool()), (Some(false), Some(true)));
});
