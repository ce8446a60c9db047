//! The authorization matrix: every role against the root fields, `node(id:)` of every type and every
//! personal-data field, with counts computed independently through SeaORM; the HTTP key check; the audit
//! of personal-data reads.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use entity::enums::{AuditAction, ConsentScope, Role};
use entity::{
    audit_event, award, case, case_status_change, consent, enrollment, organisation, outcome, person, programme,
    referral, referral_event, training_attendance, volunteer,
};
use http_body_util::BodyExt;
use psm_api::app::{AppState, router};
use psm_api::auth::{NewKey, Viewer, create_key, revoke_key};
use psm_api::config::{ApiConfig, LimitConfig};
use psm_api::graphql::ids::{NodeType, encode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::support::{TestDb, db_test, error_code};

/// The people of the matrix: a partner with referrals, a second partner, a volunteer who reported cases.
struct Cast {
    partner: Uuid,
    other_partner: Uuid,
    volunteer: Uuid,
}

async fn cast(db: &TestDb) -> Cast {
    let receivers = crate::support::partners_by_referrals(db).await;
    let mut reporters: Vec<(Option<Uuid>, i64)> = case::Entity::find()
        .select_only()
        .column(case::Column::ReportingVolunteerId)
        .column_as(case::Column::Id.count(), "n")
        .filter(case::Column::ReportingVolunteerId.is_not_null())
        .group_by(case::Column::ReportingVolunteerId)
        .into_tuple()
        .all(&db.db)
        .await
        .expect("reporters");
    reporters.sort_by_key(|(id, n)| (-n, *id));
    assert!(receivers.len() >= 2, "the demo data needs two partners with referrals");
    Cast {
        partner: receivers[0],
        other_partner: receivers[1],
        volunteer: reporters[0].0.expect("a reporting volunteer"),
    }
}

fn all_roles(cast: &Cast) -> Vec<(&'static str, Viewer)> {
    vec![
        ("ADMIN", Viewer::with_role(Role::Admin)),
        ("STAFF", Viewer::with_role(Role::Staff)),
        ("VOLUNTEER", Viewer::volunteer(cast.volunteer)),
        ("PARTNER", Viewer::partner(cast.partner)),
        ("DASHBOARD", Viewer::with_role(Role::Dashboard)),
    ]
}

async fn total(db: &TestDb, viewer: &Viewer, field: &str) -> i64 {
    let data = db.data_as(viewer, &format!("{{ {field} {{ totalCount }} }}"), Value::Null).await;
    data[field]["totalCount"].as_i64().expect("totalCount")
}

fn ids(rows: impl IntoIterator<Item = Uuid>) -> BTreeSet<Uuid> {
    rows.into_iter().collect()
}

db_test!(each_role_lists_exactly_the_rows_it_may_see, |db| async move {
    db.seed(300).await;
    let cast = cast(&db).await;
    let count = |n: u64| n as i64;
    let all_cases = count(case::Entity::find().count(&db.db).await.expect("count"));
    let all_volunteers = count(volunteer::Entity::find().count(&db.db).await.expect("count"));
    let all_persons = count(person::Entity::find().count(&db.db).await.expect("count"));
    let all_referrals = count(referral::Entity::find().count(&db.db).await.expect("count"));
    let all_outcomes = count(outcome::Entity::find().count(&db.db).await.expect("count"));
    let all_programmes = count(programme::Entity::find().count(&db.db).await.expect("count"));
    let all_organisations = count(organisation::Entity::find().count(&db.db).await.expect("count"));
    let all_regions = count(entity::region::Entity::find().count(&db.db).await.expect("count"));

    let own_cases = case::Entity::find()
        .filter(case::Column::ReportingVolunteerId.eq(cast.volunteer))
        .all(&db.db)
        .await
        .expect("own cases");
    let own_case_ids = ids(own_cases.iter().map(|c| c.id));
    let own_persons = ids(own_cases.iter().map(|c| c.person_id));
    let own_referrals = referral::Entity::find()
        .filter(referral::Column::CaseId.is_in(own_case_ids.iter().copied()))
        .count(&db.db)
        .await
        .expect("count");
    let own_outcomes = outcome::Entity::find()
        .filter(outcome::Column::CaseId.is_in(own_case_ids.iter().copied()))
        .count(&db.db)
        .await
        .expect("count");

    // A partner sees what its feed tells it to hold: tombstoned referrals are gone.
    let received = crate::support::held_referrals(&db, cast.partner).await;
    let received_cases = ids(received.iter().map(|r| r.case_id));
    let received_persons = ids(case::Entity::find()
        .filter(case::Column::Id.is_in(received_cases.iter().copied()))
        .all(&db.db)
        .await
        .expect("cases")
        .into_iter()
        .map(|c| c.person_id));
    let received_outcomes = outcome::Entity::find()
        .filter(outcome::Column::ReferralId.is_in(received.iter().map(|r| r.id)))
        .count(&db.db)
        .await
        .expect("count");
    assert!(!own_cases.is_empty() && !received.is_empty());

    for (role, viewer) in all_roles(&cast) {
        let expected: [(&str, i64); 7] = match role {
            "VOLUNTEER" => [
                ("cases", own_case_ids.len() as i64),
                ("volunteers", 1),
                ("persons", own_persons.len() as i64),
                ("referrals", count(own_referrals)),
                ("outcomes", count(own_outcomes)),
                ("programmes", all_programmes),
                ("organisations", all_organisations),
            ],
            // Aggregate-only: reference data as rows, everything else only as statistics.
            "DASHBOARD" => [
                ("cases", 0),
                ("volunteers", 0),
                ("persons", 0),
                ("referrals", 0),
                ("outcomes", 0),
                ("programmes", all_programmes),
                ("organisations", all_organisations),
            ],
            "PARTNER" => [
                ("cases", received_cases.len() as i64),
                ("volunteers", 0),
                ("persons", received_persons.len() as i64),
                ("referrals", received.len() as i64),
                ("outcomes", count(received_outcomes)),
                ("programmes", all_programmes),
                ("organisations", all_organisations),
            ],
            _ => [
                ("cases", all_cases),
                ("volunteers", all_volunteers),
                ("persons", all_persons),
                ("referrals", all_referrals),
                ("outcomes", all_outcomes),
                ("programmes", all_programmes),
                ("organisations", all_organisations),
            ],
        };
        for (field, want) in expected {
            assert_eq!(total(&db, &viewer, field).await, want, "{role} {field}");
        }
        assert_eq!(total(&db, &viewer, "regions").await, all_regions, "{role} regions");
        let me = db.data_as(&viewer, "{ viewer { role organisation { id } volunteer { id } } }", Value::Null).await;
        assert_eq!(me["viewer"]["role"], role);
    }

    // Nested connections are scoped too: the partner's organisation lists only its own referrals, and
    // the other partner's organisation lists none of them.
    let partner = Viewer::partner(cast.partner);
    let nested = db
        .data_as(
            &partner,
            "query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Organisation { referralsReceived { totalCount } } }
               b: node(id: $b) { ... on Organisation { referralsReceived { totalCount } } } }",
            json!({ "a": encode(NodeType::Organisation, cast.partner).0, "b": encode(NodeType::Organisation, cast.other_partner).0 }),
        )
        .await;
    assert_eq!(nested["a"]["referralsReceived"]["totalCount"].as_i64(), Some(received.len() as i64));
    assert_eq!(nested["b"]["referralsReceived"]["totalCount"].as_i64(), Some(0));
});

/// The first id of a table, any row.
async fn first<E: EntityTrait>(db: &TestDb, filter: sea_orm::Condition) -> E::Model {
    E::find().filter(filter).one(&db.db).await.expect("query").expect("a row")
}

db_test!(node_of_every_type_is_not_found_outside_the_callers_scope, |db| async move {
    db.seed(300).await;
    let cast = cast(&db).await;
    // One object of each type that belongs to the other partner's world: a referral to the other
    // partner, its case (not referred to our partner), the case's person, events, outcomes...
    let ours: BTreeSet<Uuid> = ids(referral::Entity::find()
        .filter(referral::Column::ToOrganisationId.eq(cast.partner))
        .all(&db.db)
        .await
        .expect("ours")
        .into_iter()
        .map(|r| r.case_id));
    let foreign = referral::Entity::find()
        .filter(referral::Column::ToOrganisationId.eq(cast.other_partner))
        .order_by_asc(referral::Column::Id)
        .all(&db.db)
        .await
        .expect("foreign")
        .into_iter()
        .find(|r| !ours.contains(&r.case_id))
        .expect("a referral to the other partner of a case ours never got");
    let foreign_case =
        first::<case::Entity>(&db, sea_orm::Condition::all().add(case::Column::Id.eq(foreign.case_id))).await;
    let event = first::<referral_event::Entity>(
        &db,
        sea_orm::Condition::all().add(referral_event::Column::ReferralId.eq(foreign.id)),
    )
    .await;
    let change = first::<case_status_change::Entity>(
        &db,
        sea_orm::Condition::all().add(case_status_change::Column::CaseId.eq(foreign_case.id)),
    )
    .await;
    let volunteer_row = first::<volunteer::Entity>(&db, sea_orm::Condition::all()).await;
    let training = first::<training_attendance::Entity>(&db, sea_orm::Condition::all()).await;
    let award_row = award::Entity::find().one(&db.db).await.expect("award");
    let consent_row = first::<consent::Entity>(
        &db,
        sea_orm::Condition::all().add(consent::Column::PersonId.eq(foreign_case.person_id)),
    )
    .await;
    let enrollment_row = enrollment::Entity::find().one(&db.db).await.expect("enrollment");
    let outcome_row = outcome::Entity::find()
        .filter(outcome::Column::ReferralId.ne(Uuid::nil()))
        .filter(
            outcome::Column::ReferralId.is_not_in(
                referral::Entity::find()
                    .filter(referral::Column::ToOrganisationId.eq(cast.partner))
                    .all(&db.db)
                    .await
                    .expect("r")
                    .into_iter()
                    .map(|r| r.id),
            ),
        )
        .one(&db.db)
        .await
        .expect("outcome");

    let mut hidden = vec![
        encode(NodeType::Referral, foreign.id),
        encode(NodeType::ReferralEvent, event.id),
        encode(NodeType::Case, foreign_case.id),
        encode(NodeType::CaseStatusChange, change.id),
        encode(NodeType::Person, foreign_case.person_id),
        encode(NodeType::Consent, consent_row.id),
        encode(NodeType::Volunteer, volunteer_row.id),
        encode(NodeType::TrainingAttendance, training.id),
    ];
    hidden.extend(award_row.map(|a| encode(NodeType::Award, a.id)));
    hidden.extend(enrollment_row.map(|e| encode(NodeType::Enrollment, e.id)));
    hidden.extend(outcome_row.map(|o| encode(NodeType::Outcome, o.id)));

    let partner = Viewer::partner(cast.partner);
    for id in &hidden {
        let response = db.run_as(&partner, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id.0 })).await;
        assert_eq!(error_code(&response), Some("NOT_FOUND"), "partner reached {id:?}: {response}");
        // Null in its place, the key kept (Relay and GitHub's `node`), the error at its path.
        assert_eq!(response["data"], json!({ "node": null }), "{response}");
        assert_eq!(response["errors"][0]["path"], json!(["node"]), "{response}");
        // A DASHBOARD key reaches none of them either: it reads no case-file or volunteer row at all.
        let response = db
            .run_as(
                &Viewer::with_role(Role::Dashboard),
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": id.0 }),
            )
            .await;
        assert_eq!(error_code(&response), Some("NOT_FOUND"), "dashboard reached {id:?}: {response}");
        // STAFF sees every one of them.
        let staff = db.data("query($id: ID!) { node(id: $id) { id } }", json!({ "id": id.0 })).await;
        assert_eq!(staff["node"]["id"], id.0);
    }
    // `nodes` answers null in their place, each with a NOT_FOUND error at its index, and the typed root
    // field says NOT_FOUND.
    let ids_json: Vec<&str> = hidden.iter().map(|id| id.0.as_str()).collect();
    let response =
        db.run_as(&partner, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": ids_json })).await;
    let nodes = response["data"]["nodes"].as_array().expect("nodes");
    assert!(nodes.len() == hidden.len() && nodes.iter().all(Value::is_null), "{response}");
    let errors = response["errors"].as_array().expect("errors");
    let paths: Vec<Value> = errors.iter().map(|error| error["path"].clone()).collect();
    let expected: Vec<Value> = (0..hidden.len()).map(|index| json!(["nodes", index])).collect();
    assert_eq!(paths, expected, "{response}");
    assert!(errors.iter().all(|error| error["extensions"]["code"] == "NOT_FOUND"), "{response}");
    let response = db
        .run_as(
            &partner,
            "query($id: ID!) { referral(id: $id) { id } }",
            json!({ "id": encode(NodeType::Referral, foreign.id).0 }),
        )
        .await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"));
    assert_eq!(response["data"], json!({ "referral": null }), "{response}");
    let reference = db
        .run_as(
            &partner,
            "query($r: String!) { case(referenceNumber: $r) { id } }",
            json!({ "r": foreign_case.reference_number }),
        )
        .await;
    assert_eq!(error_code(&reference), Some("NOT_FOUND"));

    // A volunteer cannot reach another volunteer's case or profile.
    let volunteer = Viewer::volunteer(cast.volunteer);
    let other_case = case::Entity::find()
        .filter(case::Column::ReportingVolunteerId.ne(cast.volunteer))
        .one(&db.db)
        .await
        .expect("case")
        .expect("another volunteer's case");
    let response = db
        .run_as(
            &volunteer,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": encode(NodeType::Case, other_case.id).0 }),
        )
        .await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"));
    if let Some(other) = other_case.reporting_volunteer_id {
        let response = db
            .run_as(
                &volunteer,
                "query($id: ID!) { volunteer(id: $id) { id } }",
                json!({ "id": encode(NodeType::Volunteer, other).0 }),
            )
            .await;
        assert_eq!(error_code(&response), Some("NOT_FOUND"));
    }
});

const PERSON_FIELDS: [&str; 7] = ["fullName", "nikMasked", "nik", "birthDate", "address", "phone", "disability"];

/// For each personal field of the person: `Ok` when it was served, `Err(code)` otherwise.
async fn person_fields(db: &TestDb, viewer: &Viewer, person: Uuid) -> Vec<Result<(), String>> {
    let response = db
        .run_as(
            viewer,
            &format!("query($id: ID!) {{ person(id: $id) {{ id sex ageBand {} }} }}", PERSON_FIELDS.join(" ")),
            json!({ "id": encode(NodeType::Person, person).0 }),
        )
        .await;
    assert!(response["data"]["person"]["ageBand"].is_string(), "ageBand is open to all: {response}");
    let errors = response["errors"].as_array().cloned().unwrap_or_default();
    PERSON_FIELDS
        .iter()
        .map(|field| match errors.iter().find(|e| e["path"].as_array().and_then(|p| p.last()) == Some(&json!(field))) {
            Some(error) => {
                assert!(response["data"]["person"][field].is_null(), "{field} refused but served");
                Err(error["extensions"]["code"].as_str().unwrap_or("none").to_owned())
            }
            None => Ok(()),
        })
        .collect()
}

fn live_share(consent: &consent::Model, partner: Uuid) -> bool {
    consent.scope == ConsentScope::ShareWithPartners
        && consent.revoked_at.is_none()
        && consent.expires_at.is_none_or(|at| at > Utc::now())
        && consent.partner_organisation_id.is_none_or(|p| p == partner)
}

db_test!(personal_fields_follow_role_and_consent, |db| async move {
    db.seed(300).await;
    let cast = cast(&db).await;
    let received = crate::support::held_referrals(&db, cast.partner).await;
    let mut with_consent = None;
    let mut without_consent = None;
    for referral in &received {
        let case = case::Entity::find_by_id(referral.case_id).one(&db.db).await.expect("case").expect("case");
        let consents = consent::Entity::find()
            .filter(consent::Column::PersonId.eq(case.person_id))
            .all(&db.db)
            .await
            .expect("consents");
        if consents.iter().any(|c| live_share(c, cast.partner)) {
            with_consent.get_or_insert(case.person_id);
        } else {
            without_consent.get_or_insert(case.person_id);
        }
    }
    let with_consent = with_consent.expect("a referred person who consented to sharing");
    let without_consent = without_consent.expect("a referred person who did not");
    let own_person = case::Entity::find()
        .filter(case::Column::ReportingVolunteerId.eq(cast.volunteer))
        .one(&db.db)
        .await
        .expect("case")
        .expect("own case")
        .person_id;

    let forbidden = || Err("FORBIDDEN".to_owned());
    let all_ok = vec![Ok(()); 7];
    let all_forbidden = vec![forbidden(); 7];
    let masked_only: Vec<Result<(), String>> =
        PERSON_FIELDS.iter().map(|f| if *f == "nik" { forbidden() } else { Ok(()) }).collect();

    let staff = Viewer::with_role(Role::Staff);
    let partner = Viewer::partner(cast.partner);
    let volunteer = Viewer::volunteer(cast.volunteer);
    assert_eq!(person_fields(&db, &staff, with_consent).await, all_ok);
    assert_eq!(person_fields(&db, &partner, with_consent).await, masked_only, "partner, consent given");
    assert_eq!(person_fields(&db, &partner, without_consent).await, all_forbidden, "partner, no consent");
    assert_eq!(person_fields(&db, &volunteer, own_person).await, masked_only, "volunteer, own case");
    assert_eq!(person_fields(&db, &Viewer::with_role(Role::Admin), with_consent).await, all_forbidden, "ADMIN");
    let dashboard = db
        .run_as(
            &Viewer::with_role(Role::Dashboard),
            "query($id: ID!) { person(id: $id) { ageBand } }",
            json!({ "id": encode(NodeType::Person, with_consent).0 }),
        )
        .await;
    assert_eq!(error_code(&dashboard), Some("NOT_FOUND"), "DASHBOARD reads no person: {dashboard}");

    // The case narrative follows the person's data; volunteer names follow the volunteer.
    let query = "query($id: ID!) { volunteer(id: $id) { fullName phone status } }";
    let id = json!({ "id": encode(NodeType::Volunteer, cast.volunteer).0 });
    assert!(db.run_as(&staff, query, id.clone()).await.get("errors").is_none());
    assert!(db.run_as(&volunteer, query, id.clone()).await.get("errors").is_none());
    let admin = db.run_as(&Viewer::with_role(Role::Admin), query, id.clone()).await;
    assert_eq!(error_code(&admin), Some("FORBIDDEN"));
    assert!(admin["data"]["volunteer"]["fullName"].is_null());
    assert!(admin["data"]["volunteer"]["status"].is_string(), "non-personal fields still served");
    let dashboard = db.run_as(&Viewer::with_role(Role::Dashboard), query, id.clone()).await;
    assert_eq!(error_code(&dashboard), Some("NOT_FOUND"), "DASHBOARD reads no volunteer row: {dashboard}");
    let summaries = db
        .run_as(
            &Viewer::with_role(Role::Admin),
            "{ cases(first: 3) { nodes { summary referenceNumber } } }",
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&summaries), Some("FORBIDDEN"));
    assert!(summaries["data"]["cases"]["nodes"][0]["referenceNumber"].is_string());

    // Personal inputs are refused to those who may not read personal data.
    let by_nik = db
        .run_as(
            &Viewer::with_role(Role::Dashboard),
            r#"{ persons(filter: {nik: "6371010101010001"}) { totalCount } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&by_nik), Some("FORBIDDEN"));
    let by_name = db.run_as(&partner, "{ persons(orderBy: {field: FULL_NAME}) { totalCount } }", Value::Null).await;
    assert_eq!(error_code(&by_name), Some("FORBIDDEN"));
    assert!(
        db.run("{ persons(orderBy: {field: FULL_NAME}) { totalCount } }", Value::Null).await.get("errors").is_none()
    );
});

db_test!(personal_data_reads_are_audited_with_the_fields_read, |db| async move {
    db.seed(50).await;
    let person = person::Entity::find().one(&db.db).await.expect("person").expect("a person");
    let before = audit_event::Entity::find().count(&db.db).await.expect("count");
    db.data(
        "query($id: ID!) { person(id: $id) { fullName phone ageBand } }",
        json!({ "id": encode(NodeType::Person, person.id).0 }),
    )
    .await;
    // Aggregates and non-personal fields leave no read record.
    db.data(
        "query($id: ID!) { person(id: $id) { ageBand sex } }",
        json!({ "id": encode(NodeType::Person, person.id).0 }),
    )
    .await;
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(AuditAction::Read))
        .all(&db.db)
        .await
        .expect("events");
    assert_eq!(events.len() as u64, audit_event::Entity::find().count(&db.db).await.expect("count") - before);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].person_id, Some(person.id));
    assert_eq!(events[0].fields.as_deref(), Some("fullName,phone"));
    assert_eq!(events[0].subject_type, "Person");
    assert!(events[0].actor.starts_with("STAFF"));
});

async fn post(app: &axum::Router, authorization: Option<&str>, query: &str) -> (StatusCode, Value) {
    let mut request = Request::post("/graphql").header("content-type", "application/json");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let request = request.body(Body::from(json!({ "query": query }).to_string())).expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).expect("json"))
}

db_test!(requests_need_a_valid_unrevoked_key, |db| async move {
    db.seed(20).await;
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    let query = "{ viewer { role keyPrefix } }";
    for authorization in [None, Some("Bearer"), Some("Basic dXNlcjpwYXNz"), Some("Bearer psm_not-a-key")] {
        let (status, body) = post(&app, authorization, query).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
        assert!(body.get("data").is_none());
    }
    let new = NewKey { role: Role::Dashboard, organisation: None, volunteer: None, name: "wall screen".into() };
    let (key, stored) = create_key(&db.db, &new).await.map_err(|e| e.detail()).expect("key");
    assert!(key.starts_with(&stored.prefix) && key.len() > 40);
    assert_ne!(stored.secret_hash, key, "only the hash is stored");
    let (status, body) = post(&app, Some(&format!("Bearer {key}")), query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["viewer"], json!({ "role": "DASHBOARD", "keyPrefix": stored.prefix }));
    // The scheme is case-insensitive.
    assert_eq!(post(&app, Some(&format!("bearer {key}")), query).await.0, StatusCode::OK);
    // One changed character is a different key.
    let mut forged = key.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert_eq!(post(&app, Some(&format!("Bearer {forged}")), query).await.0, StatusCode::UNAUTHORIZED);
    let used = entity::api_key::Entity::find_by_id(stored.id).one(&db.db).await.expect("key").expect("key");
    assert!(used.last_used_at.is_some());

    revoke_key(&db.db, &stored.prefix).await.map_err(|e| e.detail()).expect("revoke");
    // A server may go on accepting a key it checked for the key cache's lifetime (a second by default),
    // never longer; without the cache, the next request is refused.
    let uncached = router(
        AppState::new(
            db.db.clone(),
            ApiConfig { limits: LimitConfig { key_cache_ms: 0, ..LimitConfig::default() }, ..ApiConfig::default() },
        )
        .await
        .expect("app state"),
    );
    assert_eq!(post(&uncached, Some(&format!("Bearer {key}")), query).await.0, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(std::time::Duration::from_millis(LimitConfig::default().key_cache_ms + 50)).await;
    let (status, body) = post(&app, Some(&format!("Bearer {key}")), query).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));

    // Partner and volunteer keys must name whom they stand for.
    let partner = NewKey { role: Role::Partner, organisation: None, volunteer: None, name: String::new() };
    assert_eq!(create_key(&db.db, &partner).await.err().map(|e| e.code()), Some("BAD_USER_INPUT"));

    // The GraphiQL page and the health check stay open.
    for uri in ["/graphiql", "/healthz"] {
        let response =
            app.clone().oneshot(Request::get(uri).body(Body::empty()).expect("request")).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
    }
});

db_test!(statistics_are_for_city_roles_and_exact_only_for_staff, |db| async move {
    db.seed(200).await;
    let cast = cast(&db).await;
    let query = "query($exact: Boolean!) { caseStats(groupBy: [KELURAHAN, CATEGORY], exact: $exact) {
        minimumCellSize groups { count { value suppressed } } } }";
    let dashboard = db.data_as(&Viewer::with_role(Role::Dashboard), query, json!({ "exact": false })).await;
    let cells: Vec<&Value> =
        dashboard["caseStats"]["groups"].as_array().expect("groups").iter().map(|g| &g["count"]).collect();
    assert_eq!(dashboard["caseStats"]["minimumCellSize"], 5);
    assert!(cells.iter().any(|c| c["suppressed"] == true), "small cells exist in 200 cases by kelurahan x category");
    assert!(cells.iter().all(|c| c["value"].as_i64().is_none_or(|v| v == 0 || v >= 5)));

    let exact = db.data(query, json!({ "exact": true })).await;
    assert_eq!(exact["caseStats"]["minimumCellSize"], 1);
    let groups = exact["caseStats"]["groups"].as_array().expect("groups");
    assert!(groups.iter().all(|g| g["count"]["suppressed"] == false));
    assert!(groups.iter().any(|g| g["count"]["value"].as_i64().is_some_and(|v| (1..5).contains(&v))));

    for viewer in [Viewer::with_role(Role::Dashboard), Viewer::with_role(Role::Admin)] {
        let refused = db.run_as(&viewer, query, json!({ "exact": true })).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{viewer:?}");
    }
    for viewer in [Viewer::partner(cast.partner), Viewer::volunteer(cast.volunteer)] {
        let refused = db.run_as(&viewer, query, json!({ "exact": false })).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{viewer:?}");
        let coverage = db.run_as(&viewer, "{ volunteerCoverage { openCases { value } } }", Value::Null).await;
        assert_eq!(error_code(&coverage), Some("FORBIDDEN"));
    }
});

db_test!(admins_query_the_audit_trail_and_export_a_persons_record, |db| async move {
    db.seed(50).await;
    let person = person::Entity::find().one(&db.db).await.expect("person").expect("a person");
    let person_id = encode(NodeType::Person, person.id).0;
    // Staff reads the person's name and changes a case of theirs.
    db.data("query($id: ID!) { person(id: $id) { fullName address } }", json!({ "id": person_id })).await;
    let case =
        case::Entity::find().filter(case::Column::PersonId.eq(person.id)).one(&db.db).await.expect("c").expect("case");
    db.data(
        "mutation($id: ID!, $v: Int!) { updateCase(id: $id, version: $v, input: {urgency: EMERGENCY}) { case { id } } }",
        json!({ "id": encode(NodeType::Case, case.id).0, "v": case.version }),
    )
    .await;

    let trail = "query($p: ID!) { auditEvents(filter: {personId: $p}) { totalCount nodes { action subjectType fields actor before after } } }";
    for role in [Role::Staff, Role::Dashboard] {
        let refused = db.run_as(&Viewer::with_role(role), trail, json!({ "p": person_id })).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{role:?}");
    }
    let admin = Viewer::with_role(Role::Admin);
    let events = db.data_as(&admin, trail, json!({ "p": person_id })).await;
    let nodes = events["auditEvents"]["nodes"].as_array().expect("nodes");
    let read = nodes.iter().find(|n| n["action"] == "READ").expect("the read is recorded");
    assert_eq!(read["fields"], json!(["address", "fullName"]));
    assert!(read["actor"].as_str().is_some_and(|a| a.starts_with("STAFF")));
    let update = nodes.iter().find(|n| n["action"] == "UPDATE" && n["subjectType"] == "Case").expect("the write");
    let before: Value = serde_json::from_str(update["before"].as_str().expect("before")).expect("json");
    let after: Value = serde_json::from_str(update["after"].as_str().expect("after")).expect("json");
    assert_eq!(after["urgency"], "EMERGENCY");
    assert_eq!(before["urgency"], case.urgency.as_str());

    // The trail shows that personal columns changed, never what they hold.
    for node in nodes {
        for side in ["before", "after"] {
            if let Some(text) = node[side].as_str() {
                assert!(!text.contains(&person.full_name), "{side} withholds names: {text}");
                assert!(!text.contains(&case.summary), "{side} withholds summaries: {text}");
            }
        }
    }
    // Reading the trail is itself recorded.
    let trail_reads = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("AuditEvent"))
        .count(&db.db)
        .await
        .expect("count");
    assert!(trail_reads >= 1, "reading the trail is recorded");

    // A person's record is exported by STAFF, who may read personal data; ADMIN keys read none.
    let refused =
        db.run_as(&admin, "query($p: ID!) { personRecord(id: $p) { record } }", json!({ "p": person_id })).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"));
    let export =
        db.data("query($p: ID!) { personRecord(id: $p) { generatedAt record } }", json!({ "p": person_id })).await;
    let record: Value = serde_json::from_str(export["personRecord"]["record"].as_str().expect("record")).expect("json");
    assert_eq!(record["person"]["full_name"], person.full_name);
    assert!(
        record["cases"]
            .as_array()
            .is_some_and(|cases| cases.iter().any(|c| c["reference_number"] == case.reference_number))
    );
    assert_eq!(record["accessTrail"].as_array().map(Vec::len), Some(nodes.len()));
    let exports = audit_event::Entity::find()
        .filter(audit_event::Column::PersonId.eq(person.id))
        .filter(audit_event::Column::Action.eq(AuditAction::Export))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(exports, 1, "the export is itself recorded");
});

/// Which roles may call each mutation: the authorization matrix of writes. A mutation the schema has and
/// this table lacks fails the test.
const MUTATION_ROLES: &[(&str, &[&str])] = &[
    ("reportCase", &["STAFF", "VOLUNTEER"]),
    ("updateCase", &["STAFF", "VOLUNTEER"]),
    ("changeCaseStatus", &["STAFF"]),
    ("registerPerson", &["STAFF"]),
    ("recordConsent", &["STAFF", "VOLUNTEER"]),
    ("revokeConsent", &["STAFF", "VOLUNTEER"]),
    ("sendReferral", &["STAFF"]),
    ("acceptReferral", &["STAFF", "PARTNER"]),
    ("declineReferral", &["STAFF", "PARTNER"]),
    ("completeReferral", &["STAFF", "PARTNER"]),
    ("withdrawReferral", &["STAFF"]),
    ("registerVolunteer", &["STAFF"]),
    ("updateVolunteer", &["STAFF"]),
    ("deactivateVolunteer", &["STAFF"]),
    ("recordTrainingAttendance", &["STAFF"]),
    ("recordAward", &["STAFF"]),
    ("createProgramme", &["STAFF"]),
    ("updateProgramme", &["STAFF"]),
    ("enrolCase", &["STAFF"]),
    ("recordEnrollmentExit", &["STAFF"]),
    ("recordOutcome", &["STAFF", "VOLUNTEER"]),
    ("verifyOutcome", &["STAFF"]),
    ("createApiKey", &["ADMIN"]),
    ("revokeApiKey", &["ADMIN"]),
];

const TYPE_REF: &str = "name kind ofType { name kind ofType { name kind ofType { name kind } } }";

/// The GraphQL type text of an introspected type reference (`[ID!]!`).
fn type_text(reference: &Value) -> String {
    match reference["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_text(&reference["ofType"])),
        Some("LIST") => format!("[{}]", type_text(&reference["ofType"])),
        _ => reference["name"].as_str().expect("named type").to_owned(),
    }
}

/// A well-formed value of a type: enough to pass GraphQL validation, not the resolvers' checks.
async fn sample(db: &TestDb, reference: &Value) -> Value {
    match reference["kind"].as_str() {
        Some("NON_NULL") => Box::pin(sample(db, &reference["ofType"])).await,
        Some("LIST") => json!([Box::pin(sample(db, &reference["ofType"])).await]),
        Some("ENUM") => {
            let data = db
                .data(
                    "query($n: String!) { __type(name: $n) { enumValues { name } } }",
                    json!({ "n": reference["name"] }),
                )
                .await;
            data["__type"]["enumValues"][0]["name"].clone()
        }
        Some("INPUT_OBJECT") => {
            let query =
                format!("query($n: String!) {{ __type(name: $n) {{ inputFields {{ name type {{ {TYPE_REF} }} }} }} }}");
            let data = db.data(&query, json!({ "n": reference["name"] })).await;
            let mut object = serde_json::Map::new();
            for field in data["__type"]["inputFields"].as_array().expect("fields") {
                if field["type"]["kind"] == "NON_NULL" {
                    object.insert(
                        field["name"].as_str().expect("name").to_owned(),
                        Box::pin(sample(db, &field["type"])).await,
                    );
                }
            }
            Value::Object(object)
        }
        _ => match reference["name"].as_str() {
            Some("Int") => json!(1),
            Some("Float") => json!(1.0),
            Some("Boolean") => json!(false),
            Some("NaiveDate") => json!("2020-01-01"),
            Some("DateTime") => json!("2020-01-01T00:00:00Z"),
            _ => json!("not-an-id"),
        },
    }
}

db_test!(every_mutation_is_refused_to_the_roles_that_may_not_call_it, |db| async move {
    db.seed(20).await;
    let cast = cast(&db).await;
    let query =
        format!("{{ __schema {{ mutationType {{ fields {{ name args {{ name type {{ {TYPE_REF} }} }} }} }} }} }}");
    let schema = db.data(&query, Value::Null).await;
    let mutations = schema["__schema"]["mutationType"]["fields"].as_array().expect("mutations").clone();
    let listed: BTreeSet<&str> = MUTATION_ROLES.iter().map(|(name, _)| *name).collect();
    let present: BTreeSet<&str> = mutations.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(listed, present, "the matrix covers exactly the schema's mutations");

    for mutation in &mutations {
        let name = mutation["name"].as_str().expect("name");
        let allowed = MUTATION_ROLES.iter().find(|(n, _)| *n == name).map(|(_, roles)| *roles).expect("listed");
        let mut declarations = Vec::new();
        let mut arguments = Vec::new();
        let mut variables = serde_json::Map::new();
        for argument in mutation["args"].as_array().expect("args") {
            let arg = argument["name"].as_str().expect("arg name");
            if argument["type"]["kind"] != "NON_NULL" {
                continue;
            }
            declarations.push(format!("${arg}: {}", type_text(&argument["type"])));
            arguments.push(format!("{arg}: ${arg}"));
            variables.insert(arg.to_owned(), sample(&db, &argument["type"]).await);
        }
        if name == "createApiKey" {
            // The first role is ADMIN, whose keys no API caller may create (separation of duties): sample a
            // role the API manages, so the check below is about who calls, not which key is asked for.
            variables.insert("input".into(), json!({ "role": "PARTNER", "name": "sample" }));
        }
        let document =
            format!("mutation({}) {{ {name}({}) {{ __typename }} }}", declarations.join(", "), arguments.join(", "));
        for (role, viewer) in all_roles(&cast) {
            let response = db.run_as(&viewer, &document, Value::Object(variables.clone())).await;
            let code = error_code(&response);
            if allowed.contains(&role) {
                // Sample input mostly fails validation (`not-an-id`); what matters is that the role got past
                // the check.
                assert_ne!(code, Some("FORBIDDEN"), "{role} may call {name}: {response}");
            } else {
                assert_eq!(code, Some("FORBIDDEN"), "{role} must not call {name}: {response}");
            }
        }
    }
});

db_test!(admins_create_list_and_revoke_keys_through_the_api, |db| async move {
    db.seed(20).await;
    let cast = cast(&db).await;
    let admin = Viewer::with_role(Role::Admin);
    let organisation = organisation::Entity::find_by_id(cast.partner).one(&db.db).await.expect("o").expect("org");
    let create =
        "mutation($code: String) { createApiKey(input: {role: PARTNER, organisationCode: $code, name: \"sync\"}) {
        secret apiKey { prefix role organisation { code } revokedAt } } }";
    let missing = db.run_as(&admin, create, json!({ "code": null })).await;
    assert_eq!(missing["errors"][0]["extensions"]["field"], "input.organisationCode", "{missing}");
    let created = db.data_as(&admin, create, json!({ "code": organisation.code })).await;
    let secret = created["createApiKey"]["secret"].as_str().expect("secret").to_owned();
    let prefix = created["createApiKey"]["apiKey"]["prefix"].as_str().expect("prefix").to_owned();
    assert!(secret.starts_with(&prefix));
    assert_eq!(created["createApiKey"]["apiKey"]["organisation"]["code"], organisation.code);

    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    let (status, body) =
        post(&app, Some(&format!("Bearer {secret}")), "{ viewer { role organisation { code } } }").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["viewer"]["organisation"]["code"], organisation.code);

    let keys = db.data_as(&admin, "{ apiKeys { prefix } }", Value::Null).await;
    assert!(keys["apiKeys"].as_array().expect("keys").iter().any(|k| k["prefix"] == json!(prefix)));
    assert!(!keys.to_string().contains(&secret), "secrets are never listed");
    let refused = db.run("{ apiKeys { prefix } }", Value::Null).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"));

    let revoked = db
        .data_as(
            &admin,
            "mutation($p: String!) { revokeApiKey(prefix: $p) { apiKey { revokedAt } } }",
            json!({ "p": prefix }),
        )
        .await;
    assert!(revoked["revokeApiKey"]["apiKey"]["revokedAt"].is_string());
    let (status, _) = post(&app, Some(&format!("Bearer {secret}")), "{ viewer { role } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let audited = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("ApiKey"))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(audited, 2, "creation and revocation are audited");
});

db_test!(a_key_checked_a_moment_ago_is_not_read_again, |db| async move {
    db.seed(5).await;
    let new = NewKey { role: Role::Dashboard, organisation: None, volunteer: None, name: "wall screen".into() };
    let (key, _) = create_key(&db.db, &new).await.map_err(|e| e.detail()).expect("key");
    let bearer = format!("Bearer {key}");
    let cached = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    let uncached = router(
        AppState::new(
            db.db.clone(),
            ApiConfig { limits: LimitConfig { key_cache_ms: 0, ..LimitConfig::default() }, ..ApiConfig::default() },
        )
        .await
        .expect("app state"),
    );
    let statements = |app: axum::Router| {
        let (db, bearer) = (&db, &bearer);
        async move {
            let before = db.statements();
            let (status, body) = post(&app, Some(bearer), "{ viewer { role } }").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            db.statements() - before
        }
    };
    let first = statements(cached.clone()).await;
    let again = statements(cached).await;
    let uncached = statements(uncached).await;
    assert_eq!(uncached, again + 1, "a cached key skips exactly its lookup");
    assert!(first > again, "the first request reads the key (and notes its use): {first} against {again}");
    // The cache holds whole keys (by hash): the same prefix with another secret is refused as ever.
    let (prefix, secret) = key.split_at(12);
    let forged = format!("Bearer {prefix}{}", "x".repeat(secret.len()));
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    assert_eq!(post(&app, Some(&bearer), "{ viewer { role } }").await.0, StatusCode::OK);
    let (status, body) = post(&app, Some(&forged), "{ viewer { role } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
});
