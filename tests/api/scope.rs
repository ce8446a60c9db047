//! Scope by construction, tested against a separately written policy oracle: for every role, the rows
//! reachable through every root list, every nested list and every filter on a related entity equal the
//! rows the oracle allows; free text and actor labels follow the rules of the README; every table of
//! the database has a scope; and what a partner's feed tells it to hold is exactly what the API lets
//! it read and act on, over random sequences of sends, answers, withdrawals, consent changes and
//! expiries.

use std::collections::{BTreeSet, HashMap};

use chrono::{Duration, Utc};
use entity::enums::{ChangeKind, ConsentScope, Role};
use entity::{
    case, consent, enrollment, organisation, outcome, person, programme, referral, referral_change, referral_event,
    volunteer,
};
use psm_api::auth::Viewer;
use psm_api::graphql::ids::{NodeType, encode};
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestDb, db_test, error_code};

/// Every row of the tables the oracle reasons about.
struct World {
    cases: Vec<case::Model>,
    consents: Vec<consent::Model>,
    referrals: Vec<referral::Model>,
    changes: Vec<referral_change::Model>,
    events: Vec<referral_event::Model>,
    outcomes: Vec<outcome::Model>,
    enrollments: Vec<enrollment::Model>,
    volunteers: Vec<volunteer::Model>,
    persons: Vec<person::Model>,
}

impl World {
    async fn load(db: &TestDb) -> World {
        let db = &db.db;
        World {
            cases: case::Entity::find().all(db).await.expect("cases"),
            consents: consent::Entity::find().all(db).await.expect("consents"),
            referrals: referral::Entity::find().all(db).await.expect("referrals"),
            changes: referral_change::Entity::find()
                .order_by_asc(referral_change::Column::Position)
                .all(db)
                .await
                .expect("changes"),
            events: referral_event::Entity::find().all(db).await.expect("events"),
            outcomes: outcome::Entity::find().all(db).await.expect("outcomes"),
            enrollments: enrollment::Entity::find().all(db).await.expect("enrollments"),
            volunteers: volunteer::Entity::find().all(db).await.expect("volunteers"),
            persons: person::Entity::find().all(db).await.expect("persons"),
        }
    }

    /// The referrals `organisation` holds: its feed's latest entry about them is an UPSERT.
    fn held(&self, organisation: Uuid) -> BTreeSet<Uuid> {
        let mut latest = HashMap::new();
        for change in self.changes.iter().filter(|c| c.organisation_id == organisation) {
            latest.insert(change.referral_id, change.kind);
        }
        latest.into_iter().filter(|(_, kind)| *kind == ChangeKind::Upsert).map(|(id, _)| id).collect()
    }
}

/// What the oracle allows one caller to see, as global ids per list.
#[derive(Debug, PartialEq, Default)]
struct Visible {
    cases: BTreeSet<String>,
    persons: BTreeSet<String>,
    referrals: BTreeSet<String>,
    outcomes: BTreeSet<String>,
    volunteers: BTreeSet<String>,
    consents: BTreeSet<String>,
    events: BTreeSet<String>,
    enrollments: BTreeSet<String>,
}

/// The policy of the README's access section, written out row by row, independently of the SQL scopes.
fn oracle(world: &World, viewer: &Viewer) -> Visible {
    let ids = |node: NodeType, ids: &mut dyn Iterator<Item = Uuid>| -> BTreeSet<String> {
        ids.map(|id| encode(node, id).0).collect()
    };
    let (cases, referrals, volunteers): (BTreeSet<Uuid>, BTreeSet<Uuid>, BTreeSet<Uuid>) = match viewer.role {
        // Aggregate-only: statistics and reference data, no case-file or volunteer row.
        Role::Dashboard => (BTreeSet::new(), BTreeSet::new(), BTreeSet::new()),
        Role::Staff | Role::Admin => (
            world.cases.iter().map(|c| c.id).collect(),
            world.referrals.iter().map(|r| r.id).collect(),
            world.volunteers.iter().map(|v| v.id).collect(),
        ),
        Role::Volunteer => {
            let me = viewer.volunteer_id.expect("a volunteer");
            let cases: BTreeSet<Uuid> =
                world.cases.iter().filter(|c| c.reporting_volunteer_id == Some(me)).map(|c| c.id).collect();
            let referrals = world.referrals.iter().filter(|r| cases.contains(&r.case_id)).map(|r| r.id).collect();
            (cases, referrals, BTreeSet::from([me]))
        }
        Role::Partner => {
            let me = viewer.organisation_id.expect("a partner");
            let referrals = world.held(me);
            let cases = world.referrals.iter().filter(|r| referrals.contains(&r.id)).map(|r| r.case_id).collect();
            (cases, referrals, BTreeSet::new())
        }
    };
    let persons: BTreeSet<Uuid> = match viewer.role {
        Role::Staff | Role::Admin => world.persons.iter().map(|p| p.id).collect(),
        _ => world.cases.iter().filter(|c| cases.contains(&c.id)).map(|c| c.person_id).collect(),
    };
    let consents = world.consents.iter().filter(|c| {
        persons.contains(&c.person_id)
            && match viewer.role {
                // A partner sees only the consents that concern it: to share, with it or any partner.
                Role::Partner => {
                    c.scope == ConsentScope::ShareWithPartners
                        && c.partner_organisation_id.is_none_or(|p| Some(p) == viewer.organisation_id)
                }
                _ => true,
            }
    });
    let outcomes = world.outcomes.iter().filter(|o| match viewer.role {
        Role::Partner => o.referral_id.is_some_and(|r| referrals.contains(&r)),
        _ => cases.contains(&o.case_id),
    });
    let enrollments = world.enrollments.iter().filter(|e| viewer.role != Role::Partner && cases.contains(&e.case_id));
    Visible {
        cases: ids(NodeType::Case, &mut cases.iter().copied()),
        persons: ids(NodeType::Person, &mut persons.iter().copied()),
        referrals: ids(NodeType::Referral, &mut referrals.iter().copied()),
        outcomes: ids(NodeType::Outcome, &mut outcomes.map(|o| o.id)),
        volunteers: ids(NodeType::Volunteer, &mut volunteers.iter().copied()),
        consents: ids(NodeType::Consent, &mut consents.map(|c| c.id)),
        events: ids(
            NodeType::ReferralEvent,
            &mut world.events.iter().filter(|e| referrals.contains(&e.referral_id)).map(|e| e.id),
        ),
        enrollments: ids(NodeType::Enrollment, &mut enrollments.map(|e| e.id)),
    }
}

/// Every id of a root list, page by page.
async fn all_ids(db: &TestDb, viewer: &Viewer, field: &str, filter: Value) -> BTreeSet<String> {
    let query = format!(
        "query($after: String, $filter: {}Filter) {{ {field}(first: 100, after: $after, filter: $filter) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ id }} }} }}",
        filter_type(field)
    );
    let mut ids = BTreeSet::new();
    let mut after = Value::Null;
    loop {
        let data = db.data_as(viewer, &query, json!({ "after": after, "filter": filter })).await;
        let page = &data[field];
        for node in page["nodes"].as_array().expect("nodes") {
            ids.insert(node["id"].as_str().expect("id").to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return ids;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

fn filter_type(field: &str) -> &'static str {
    match field {
        "cases" => "Case",
        "persons" => "Person",
        "referrals" => "Referral",
        "outcomes" => "Outcome",
        "volunteers" => "Volunteer",
        other => panic!("no filter type for {other}"),
    }
}

/// The nested lists of every case the caller sees, as ids: referrals, outcomes, enrollments, the
/// person's consents and the referrals' events.
async fn nested_ids(db: &TestDb, viewer: &Viewer, cases: &BTreeSet<String>) -> Visible {
    let query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Case {
        referrals { id events { id } } outcomes { id } enrollments { id } person { id consents { id } } } } }";
    let mut nested = Visible::default();
    let cases: Vec<&String> = cases.iter().collect();
    for chunk in cases.chunks(100) {
        let data = db.data_as(viewer, query, json!({ "ids": chunk })).await;
        for node in data["nodes"].as_array().expect("nodes") {
            let texts = |value: &Value| -> Vec<String> {
                value.as_array().into_iter().flatten().filter_map(|v| v["id"].as_str().map(str::to_owned)).collect()
            };
            nested.referrals.extend(texts(&node["referrals"]));
            for referral in node["referrals"].as_array().into_iter().flatten() {
                nested.events.extend(texts(&referral["events"]));
            }
            nested.outcomes.extend(texts(&node["outcomes"]));
            nested.enrollments.extend(texts(&node["enrollments"]));
            nested.consents.extend(texts(&node["person"]["consents"]));
        }
    }
    nested
}

async fn roles(db: &TestDb) -> Vec<Viewer> {
    let partners = crate::support::partners_by_referrals(db).await;
    let reporter = case::Entity::find()
        .all(&db.db)
        .await
        .expect("cases")
        .into_iter()
        .find_map(|c| c.reporting_volunteer_id)
        .expect("a reporting volunteer");
    vec![
        Viewer::with_role(Role::Staff),
        Viewer::with_role(Role::Dashboard),
        Viewer::with_role(Role::Admin),
        Viewer::volunteer(reporter),
        Viewer::partner(partners[0]),
        Viewer::partner(partners[1]),
    ]
}

db_test!(every_root_and_nested_list_shows_each_role_exactly_what_the_oracle_allows, |db| async move {
    db.seed(120).await;
    // Some tombstones, so that "held" differs from "addressed to".
    let partner = crate::support::partners_by_referrals(&db).await[0];
    let withdraw = "mutation($id: ID!, $v: Int!) { withdrawReferral(id: $id, version: $v, reason: DUPLICATE) { referral { id } } }";
    let open: Vec<referral::Model> = referral::Entity::find()
        .all(&db.db)
        .await
        .expect("referrals")
        .into_iter()
        .filter(|r| r.to_organisation_id == partner && r.status.as_str() == "SENT")
        .take(2)
        .collect();
    for referral in &open {
        db.data(withdraw, json!({ "id": encode(NodeType::Referral, referral.id).0, "v": referral.version })).await;
    }
    let world = World::load(&db).await;
    for viewer in roles(&db).await {
        let want = oracle(&world, &viewer);
        let label = format!("{:?} {:?}", viewer.role, viewer.organisation_id.or(viewer.volunteer_id));
        assert_eq!(all_ids(&db, &viewer, "cases", Value::Null).await, want.cases, "{label}: cases");
        assert_eq!(all_ids(&db, &viewer, "persons", Value::Null).await, want.persons, "{label}: persons");
        assert_eq!(all_ids(&db, &viewer, "referrals", Value::Null).await, want.referrals, "{label}: referrals");
        assert_eq!(all_ids(&db, &viewer, "outcomes", Value::Null).await, want.outcomes, "{label}: outcomes");
        assert_eq!(all_ids(&db, &viewer, "volunteers", Value::Null).await, want.volunteers, "{label}: volunteers");
        let nested = nested_ids(&db, &viewer, &want.cases).await;
        // Nested lists hang off the caller's cases, so each is the oracle's rows of those cases.
        assert_eq!(nested.referrals, want.referrals, "{label}: case.referrals");
        assert_eq!(nested.events, want.events, "{label}: referral.events");
        assert!(nested.outcomes.is_subset(&want.outcomes), "{label}: case.outcomes");
        assert_eq!(nested.enrollments, want.enrollments, "{label}: case.enrollments");
        assert_eq!(nested.consents, want.consents, "{label}: person.consents");
    }
});

db_test!(filters_on_related_rows_match_only_through_rows_the_caller_may_see, |db| async move {
    db.seed(120).await;
    let world = World::load(&db).await;
    let organisations = organisation::Entity::find().all(&db.db).await.expect("organisations");
    let programmes = programme::Entity::find().all(&db.db).await.expect("programmes");
    let reporters: BTreeSet<Uuid> = world.cases.iter().filter_map(|c| c.reporting_volunteer_id).collect();
    for viewer in roles(&db).await {
        let want = oracle(&world, &viewer);
        let visible_cases: BTreeSet<Uuid> =
            world.cases.iter().filter(|c| want.cases.contains(&encode(NodeType::Case, c.id).0)).map(|c| c.id).collect();
        let label = format!("{:?}", viewer.role);
        // referredToOrganisationId: the caller's cases with a referral the caller sees to that organisation.
        for organisation in &organisations {
            let expected: BTreeSet<String> = world
                .referrals
                .iter()
                .filter(|r| r.to_organisation_id == organisation.id)
                .filter(|r| want.referrals.contains(&encode(NodeType::Referral, r.id).0))
                .filter(|r| visible_cases.contains(&r.case_id))
                .map(|r| encode(NodeType::Case, r.case_id).0)
                .collect();
            let filter = json!({ "referredToOrganisationId": encode(NodeType::Organisation, organisation.id).0 });
            assert_eq!(
                all_ids(&db, &viewer, "cases", filter).await,
                expected,
                "{label}: referred to {}",
                organisation.code
            );
        }
        // programmeId: the caller's cases with an enrollment the caller sees in that programme.
        for programme in programmes.iter().take(4) {
            let expected: BTreeSet<String> = world
                .enrollments
                .iter()
                .filter(|e| e.programme_id == programme.id)
                .filter(|e| want.enrollments.contains(&encode(NodeType::Enrollment, e.id).0))
                .map(|e| encode(NodeType::Case, e.case_id).0)
                .collect();
            let filter = json!({ "programmeId": encode(NodeType::Programme, programme.id).0 });
            assert_eq!(all_ids(&db, &viewer, "cases", filter).await, expected, "{label}: programme");
        }
        // reportingVolunteerId: only through a volunteer the caller sees.
        for reporter in reporters.iter().take(4) {
            let expected: BTreeSet<String> = if want.volunteers.contains(&encode(NodeType::Volunteer, *reporter).0) {
                world
                    .cases
                    .iter()
                    .filter(|c| c.reporting_volunteer_id == Some(*reporter) && visible_cases.contains(&c.id))
                    .map(|c| encode(NodeType::Case, c.id).0)
                    .collect()
            } else {
                BTreeSet::new()
            };
            let filter = json!({ "reportingVolunteerId": encode(NodeType::Volunteer, *reporter).0 });
            assert_eq!(all_ids(&db, &viewer, "cases", filter).await, expected, "{label}: reported by");
        }
        // caseId on referrals and outcomes: only a case the caller sees.
        for case in world.cases.iter().take(15) {
            let id = encode(NodeType::Case, case.id).0;
            let referrals: BTreeSet<String> = world
                .referrals
                .iter()
                .filter(|r| r.case_id == case.id && visible_cases.contains(&case.id))
                .map(|r| encode(NodeType::Referral, r.id).0)
                .filter(|r| want.referrals.contains(r))
                .collect();
            assert_eq!(all_ids(&db, &viewer, "referrals", json!({ "caseId": id })).await, referrals, "{label}");
        }
    }
});

db_test!(every_table_of_the_database_has_a_scope_or_a_reason_not_to_be_served, |db| async move {
    let sql = match db.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let rows = db.db.query_all_raw(Statement::from_string(db.db.get_database_backend(), sql)).await.expect("tables");
    let tables: BTreeSet<String> = rows.iter().map(|row| row.try_get::<String>("", "name").expect("name")).collect();
    assert!(tables.len() > 10, "the tables are listed: {tables:?}");
    let scoped: BTreeSet<String> = psm_api::service::scope::guarded_tables().into_iter().map(str::to_owned).collect();
    let unserved: BTreeSet<String> =
        psm_api::service::scope::UNSERVED_TABLES.iter().map(|(name, _)| (*name).to_owned()).collect();
    let missing: Vec<&String> = tables.iter().filter(|t| !scoped.contains(*t) && !unserved.contains(*t)).collect();
    assert!(missing.is_empty(), "tables without a scope: {missing:?}; add a Guarded impl or an UNSERVED_TABLES entry");
    let stale: Vec<&String> = scoped.union(&unserved).filter(|t| !tables.contains(*t)).collect();
    assert!(stale.is_empty(), "scopes for tables that do not exist: {stale:?}");
});

/// A referral with a note, an event note and an outcome note, sent to a partner with consent, and one
/// sent on a consent override.
async fn noted_referrals(db: &TestDb) -> (Uuid, String, String) {
    let partner = crate::support::partners_by_referrals(db).await[0];
    let world = World::load(db).await;
    let held = world.held(partner);
    let shares = |person: Uuid| {
        world.consents.iter().any(|c| {
            c.person_id == person
                && c.scope == ConsentScope::ShareWithPartners
                && c.revoked_at.is_none()
                && c.expires_at.is_none_or(|at| at > Utc::now())
                && c.partner_organisation_id.is_none_or(|p| p == partner)
        })
    };
    let person_of = |case_id: Uuid| world.cases.iter().find(|c| c.id == case_id).map(|c| c.person_id);
    let consented = world
        .referrals
        .iter()
        .find(|r| held.contains(&r.id) && person_of(r.case_id).is_some_and(shares))
        .expect("a held referral under consent");
    let without = world
        .referrals
        .iter()
        .find(|r| held.contains(&r.id) && !person_of(r.case_id).is_some_and(shares))
        .expect("a held referral without consent");
    (partner, encode(NodeType::Referral, consented.id).0, encode(NodeType::Referral, without.id).0)
}

const FREE_TEXT: &str = "query($id: ID!) { referral(id: $id) { id note consentOverrideReason events { note actor }
    case { summary statusHistory { note changedBy } outcomes { note recordedBy } } } }";

/// The paths of the fields refused with FORBIDDEN, list indexes dropped.
fn forbidden_paths(response: &Value) -> BTreeSet<String> {
    response["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["extensions"]["code"] == "FORBIDDEN")
        .map(|e| e["path"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join("."))
        .collect()
}

db_test!(free_text_is_personal_data_and_actor_labels_name_no_keys, |db| async move {
    db.seed(200).await;
    let (partner, consented, without) = noted_referrals(&db).await;
    let partner = Viewer::partner(partner);
    // A partner under consent reads the narrative of its own referral, never Dinsos' internal notes or
    // the override reason, and sees only kinds of actors.
    let response = db.run_as(&partner, FREE_TEXT, json!({ "id": consented })).await;
    let refused = forbidden_paths(&response);
    assert!(!refused.contains("referral.note"), "{response}");
    assert!(!refused.contains("referral.case.summary"), "{response}");
    assert!(refused.contains("referral.consentOverrideReason"), "{response}");
    let history = response["data"]["referral"]["case"]["statusHistory"].as_array().expect("history");
    assert!(!history.is_empty());
    assert!(history.iter().all(|h| h["note"].is_null()), "internal notes withheld: {response}");
    assert!(refused.contains("referral.case.statusHistory.note"), "{response}");
    let actors: BTreeSet<&str> = history
        .iter()
        .filter_map(|h| h["changedBy"].as_str())
        .chain(
            response["data"]["referral"]["events"].as_array().into_iter().flatten().filter_map(|e| e["actor"].as_str()),
        )
        .collect();
    let kinds = BTreeSet::from(["Dinsos staff", "PSM volunteer", "partner organisation", "system"]);
    assert!(actors.is_subset(&kinds), "actor labels are kinds only: {actors:?}");

    // Without consent: no free text at all.
    let response = db.run_as(&partner, FREE_TEXT, json!({ "id": without })).await;
    let refused = forbidden_paths(&response);
    for path in ["referral.note", "referral.case.summary", "referral.consentOverrideReason"] {
        assert!(refused.contains(path), "{path} refused without consent: {response}");
    }
    assert!(response["data"]["referral"]["note"].is_null());

    // ADMIN reads no free text, DASHBOARD not even the referral; STAFF reads all, with full actor labels.
    let response = db.run_as(&Viewer::with_role(Role::Admin), FREE_TEXT, json!({ "id": consented })).await;
    let refused = forbidden_paths(&response);
    for path in ["referral.note", "referral.case.summary", "referral.case.statusHistory.note"] {
        assert!(refused.contains(path), "ADMIN {path}: {response}");
    }
    let response = db.run_as(&Viewer::with_role(Role::Dashboard), FREE_TEXT, json!({ "id": consented })).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response}");
    assert!(response["data"].is_null() || response["data"]["referral"].is_null(), "{response}");
    let staff = db.run(FREE_TEXT, json!({ "id": without })).await;
    assert!(forbidden_paths(&staff).is_empty(), "{staff}");
    assert!(staff["data"]["referral"]["case"]["summary"].is_string(), "{staff}");
});

db_test!(lookups_by_personal_data_and_refusals_leave_a_trace, |db| async move {
    db.seed(30).await;
    use entity::audit_event;
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let partner_id = crate::support::partners_by_referrals(&db).await[0];
    let world = World::load(&db).await;
    let theirs = oracle(&world, &Viewer::partner(partner_id)).persons;
    let person = world
        .persons
        .iter()
        .find(|p| p.nik.is_some() && !theirs.contains(&encode(NodeType::Person, p.id).0))
        .expect("a person the partner does not see")
        .clone();
    let nik = person.nik.clone().expect("a NIK");
    // A STAFF lookup by NIK is a read of personal data, even when it matches nothing.
    db.data("query($n: String!) { persons(filter: {nik: $n}) { totalCount } }", json!({ "n": "6371999999999999" }))
        .await;
    db.data("query($n: String!) { persons(filter: {nik: $n}) { totalCount } }", json!({ "n": nik })).await;
    let lookups = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("Person"))
        .filter(audit_event::Column::Fields.eq("filter.nik"))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(lookups, 2, "each NIK lookup is recorded");

    // A partner probing objects outside its scope and fields it may not read leaves DENIED records.
    let partner = Viewer::partner(partner_id);
    let probe = db
        .run_as(
            &partner,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": encode(NodeType::Person, person.id).0 }),
        )
        .await;
    assert!(probe["data"]["node"].is_null(), "{probe}");
    let forbidden =
        db.run_as(&partner, "{ volunteers(first: 1) { nodes { fullName } } viewer { role } }", Value::Null).await;
    assert!(forbidden["data"]["viewer"]["role"].is_string(), "{forbidden}");
    let denied = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(entity::enums::AuditAction::Denied))
        .all(&db.db)
        .await
        .expect("denied");
    assert!(!denied.is_empty(), "probing is recorded");
    assert!(denied.iter().any(|d| d.fields.as_deref().is_some_and(|f| f.contains("NOT_FOUND node"))), "{denied:?}");
    assert!(denied.iter().all(|d| d.actor.starts_with("PARTNER")));
});

// --- The feed and the API agree ---------------------------------------------------------------

/// The ids a partner's feed tells it to hold, replayed from the start.
async fn replayed(db: &TestDb, partner: &Viewer) -> BTreeSet<String> {
    let feed = "query($after: String) { referralChanges(after: $after, first: 1000) { cursor hasMore
        changes { kind referralId referral { id } } } }";
    let mut held = BTreeSet::new();
    let mut after = Value::Null;
    loop {
        let data = db.data_as(partner, feed, json!({ "after": after })).await;
        let page = &data["referralChanges"];
        for change in page["changes"].as_array().expect("changes") {
            let id = change["referralId"].as_str().expect("id").to_owned();
            if change["kind"] == "UPSERT" && !change["referral"].is_null() {
                held.insert(id);
            } else {
                held.remove(&id);
            }
        }
        after = page["cursor"].clone();
        if page["hasMore"] != json!(true) {
            return held;
        }
    }
}

/// Checks that the feed, the API's list, and the API's lookups and answers agree for `partner`.
async fn agree(db: &TestDb, partner: &Viewer, step: &str) {
    let held = replayed(db, partner).await;
    let listed = all_ids(db, partner, "referrals", Value::Null).await;
    assert_eq!(held, listed, "after {step}: the feed and the referrals list disagree");
    let addressed: Vec<referral::Model> = referral::Entity::find()
        .all(&db.db)
        .await
        .expect("referrals")
        .into_iter()
        .filter(|r| Some(r.to_organisation_id) == partner.organisation_id)
        .collect();
    for referral in addressed {
        let id = encode(NodeType::Referral, referral.id).0;
        let read = db.run_as(partner, "query($id: ID!) { referral(id: $id) { id } }", json!({ "id": id })).await;
        let readable = read["data"]["referral"]["id"].is_string();
        assert_eq!(readable, held.contains(&id), "after {step}: reading {id}: {read}");
        if !held.contains(&id) {
            let answer = db
                .run_as(
                    partner,
                    "mutation($id: ID!, $v: Int!) { completeReferral(id: $id, version: $v, outcome: GOT_HELP) { referral { id } } }",
                    json!({ "id": id, "v": referral.version }),
                )
                .await;
            assert_eq!(error_code(&answer), Some("NOT_FOUND"), "after {step}: answering a deleted referral: {answer}");
        }
    }
}

db_test!(what_the_feed_tells_a_partner_to_hold_is_what_the_api_serves, |db| async move {
    db.seed(60).await;
    let partners = crate::support::partners_by_referrals(&db).await;
    let partner_id = partners[0];
    let partner = Viewer::partner(partner_id);
    let staff = Viewer::with_role(Role::Staff);
    let referable: Vec<case::Model> = case::Entity::find()
        .all(&db.db)
        .await
        .expect("cases")
        .into_iter()
        .filter(|c| matches!(c.status.as_str(), "ASSESSMENT" | "IN_SERVICE" | "REFERRED"))
        .take(12)
        .collect();
    assert!(referable.len() >= 6);
    agree(&db, &partner, "the seed").await;
    let mut rng = fastrand::Rng::with_seed(6371);
    for step in 0..40 {
        let action = rng.u8(..7);
        let referrals: Vec<referral::Model> = referral::Entity::find()
            .all(&db.db)
            .await
            .expect("referrals")
            .into_iter()
            .filter(|r| r.to_organisation_id == partner_id)
            .collect();
        let draw = rng.usize(..);
        let pick = |status: &str| -> Option<referral::Model> {
            let candidates: Vec<&referral::Model> = referrals.iter().filter(|r| r.status.as_str() == status).collect();
            (!candidates.is_empty()).then(|| candidates[draw % candidates.len()].clone())
        };
        let case = &referable[rng.usize(..referable.len())];
        let (coin, late) = (rng.bool(), rng.bool());
        let person = encode(NodeType::Person, case.person_id).0;
        let organisation = encode(NodeType::Organisation, partner_id).0;
        let what = match action {
            0 => {
                let override_reason = if coin { json!("test: emergency") } else { Value::Null };
                let response = db
                    .run_as(
                        &staff,
                        "mutation($c: ID!, $o: ID!, $r: String) { sendReferral(input: {caseId: $c, toOrganisationId: $o, consentOverrideReason: $r}) { referral { id } } }",
                        json!({ "c": encode(NodeType::Case, case.id).0, "o": organisation, "r": override_reason }),
                    )
                    .await;
                format!("send: {}", error_code(&response).unwrap_or("ok"))
            }
            1 | 2 => match pick("SENT") {
                Some(r) => {
                    let (mutation, extra) = if action == 1 {
                        ("acceptReferral(id: $id, version: $v)", "")
                    } else {
                        ("declineReferral(id: $id, version: $v, reason: NO_CAPACITY)", "")
                    };
                    let query = format!("mutation($id: ID!, $v: Int!) {{ {mutation} {{ referral {{ id }} }} }}{extra}");
                    let response = db
                        .run_as(&partner, &query, json!({ "id": encode(NodeType::Referral, r.id).0, "v": r.version }))
                        .await;
                    format!("answer: {}", error_code(&response).unwrap_or("ok"))
                }
                None => "nothing to answer".into(),
            },
            3 => match pick("SENT").or_else(|| pick("ACCEPTED")) {
                Some(r) => {
                    let response = db
                        .run_as(
                            &staff,
                            "mutation($id: ID!, $v: Int!) { withdrawReferral(id: $id, version: $v, reason: DUPLICATE) { referral { id } } }",
                            json!({ "id": encode(NodeType::Referral, r.id).0, "v": r.version }),
                        )
                        .await;
                    format!("withdraw: {}", error_code(&response).unwrap_or("ok"))
                }
                None => "nothing to withdraw".into(),
            },
            4 => {
                let consents = consent::Entity::find().all(&db.db).await.expect("consents");
                let live = consents.iter().find(|c| {
                    c.person_id == case.person_id
                        && c.scope == ConsentScope::ShareWithPartners
                        && c.revoked_at.is_none()
                });
                match live {
                    Some(c) => {
                        let response = db
                            .run_as(
                                &staff,
                                "mutation($id: ID!) { revokeConsent(id: $id) { consent { id } } }",
                                json!({ "id": encode(NodeType::Consent, c.id).0 }),
                            )
                            .await;
                        format!("revoke: {}", error_code(&response).unwrap_or("ok"))
                    }
                    None => "no consent to revoke".into(),
                }
            }
            5 => {
                // A consent to share with this partner, sometimes one that has already run out.
                let expires = if late { Utc::now() + Duration::days(30) } else { Utc::now() + Duration::seconds(1) };
                let response = db
                    .run_as(
                        &staff,
                        "mutation($p: ID!, $o: ID!, $e: DateTime) { recordConsent(input: {personId: $p, scope: SHARE_WITH_PARTNERS, partnerOrganisationId: $o, givenBy: DATA_SUBJECT, expiresAt: $e}) { consent { id } } }",
                        json!({ "p": person, "o": organisation, "e": expires }),
                    )
                    .await;
                format!("consent: {}", error_code(&response).unwrap_or("ok"))
            }
            _ => {
                // Time passes: deadlines and consents run out, and the sweep turns that into changes.
                let later = Utc::now() + Duration::days(400);
                let swept = psm_api::service::feed::sweep(&db.db, later).await.expect("sweep");
                format!("sweep: {swept:?}")
            }
        };
        agree(&db, &partner, &format!("step {step} ({what})")).await;
    }
});
