//! The partner referral feed: syncing from scratch, answering referrals, idempotent retries, tombstones
//! on withdrawal and on consent revocation, and a partner polling throughout while several writers
//! commit concurrently.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use entity::enums::{CaseStatus, ChangeKind, ConsentScope, Role};
use entity::{case, consent, outcome, referral, referral_change, referral_event};
use futures_util::future::join_all;
use psm_api::auth::Viewer;
use psm_api::graphql::ids::{NodeType, encode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestDb, db_test, error_code};

const FEED: &str = "query($after: String, $first: Int!) { referralChanges(after: $after, first: $first) {
    cursor hasMore changes { cursor kind cause referralId referral { id status version } } } }";

/// A partner's local copy of its referrals: id -> status.
#[derive(Default)]
struct Copy {
    cursor: Option<String>,
    referrals: HashMap<String, String>,
    applied: usize,
}

impl Copy {
    /// Reads one page and applies it; returns whether more is waiting.
    async fn poll(&mut self, db: &TestDb, partner: &Viewer, first: i32) -> bool {
        let data = db.data_as(partner, FEED, json!({ "after": self.cursor, "first": first })).await;
        let page = &data["referralChanges"];
        for change in page["changes"].as_array().expect("changes") {
            let id = change["referralId"].as_str().expect("referralId").to_owned();
            match (change["kind"].as_str(), change["referral"].is_null()) {
                (Some("UPSERT"), false) => {
                    self.referrals.insert(id, change["referral"]["status"].as_str().expect("status").to_owned());
                }
                _ => {
                    self.referrals.remove(&id);
                }
            }
            self.applied += 1;
        }
        self.cursor = page["cursor"].as_str().map(str::to_owned);
        page["hasMore"].as_bool().expect("hasMore")
    }

    async fn drain(&mut self, db: &TestDb, partner: &Viewer) {
        while self.poll(db, partner, 1000).await {}
    }
}

/// What the partner should hold: every referral addressed to it whose latest feed entry is not a
/// tombstone, with its current status.
async fn server_state(db: &TestDb, organisation: Uuid) -> HashMap<String, String> {
    let referrals = referral::Entity::find()
        .filter(referral::Column::ToOrganisationId.eq(organisation))
        .all(&db.db)
        .await
        .expect("referrals");
    let mut state = HashMap::new();
    for referral in referrals {
        let latest = referral_change::Entity::find()
            .filter(referral_change::Column::ReferralId.eq(referral.id))
            .order_by_desc(referral_change::Column::Position)
            .one(&db.db)
            .await
            .expect("latest")
            .expect("every referral is in its partner's feed");
        assert_eq!(latest.organisation_id, organisation);
        if latest.kind == ChangeKind::Upsert {
            assert_ne!(referral.status.as_str(), "WITHDRAWN", "a withdrawn referral ends with a tombstone");
            state.insert(encode(NodeType::Referral, referral.id).0, referral.status.as_str().to_owned());
        }
    }
    state
}

async fn busiest_partner(db: &TestDb) -> (Uuid, Uuid) {
    let receivers = crate::support::partners_by_referrals(db).await;
    (receivers[0], receivers[1])
}

/// Cases that may be referred now, not yet referred to `partner`.
async fn referable_cases(db: &TestDb, partner: Uuid, n: usize) -> Vec<Uuid> {
    let referred: Vec<Uuid> = referral::Entity::find()
        .select_only()
        .column(referral::Column::CaseId)
        .filter(referral::Column::ToOrganisationId.eq(partner))
        .into_tuple()
        .all(&db.db)
        .await
        .expect("referred");
    case::Entity::find()
        .filter(case::Column::Status.is_in([CaseStatus::Assessment, CaseStatus::InService, CaseStatus::Referred]))
        .order_by_asc(case::Column::Id)
        .all(&db.db)
        .await
        .expect("cases")
        .into_iter()
        .map(|c| c.id)
        .filter(|id| !referred.contains(id))
        .take(n)
        .collect()
}

const SEND: &str = "mutation($case: ID!, $to: ID!, $key: String) {
    sendReferral(input: {caseId: $case, toOrganisationId: $to, consentOverrideReason: \"test: urgent\"}, idempotencyKey: $key) {
      referral { id status version } } }";

async fn send(db: &TestDb, case: Uuid, partner: Uuid) -> Value {
    let variables = json!({ "case": encode(NodeType::Case, case).0, "to": encode(NodeType::Organisation, partner).0 });
    let response = db.run_as(&Viewer::with_role(Role::Staff), SEND, variables).await;
    assert!(response.get("errors").is_none(), "{response}");
    response["data"]["sendReferral"]["referral"].clone()
}

db_test!(a_partner_syncs_answers_and_ends_equal_to_the_server, |db| async move {
    db.seed(150).await;
    let (partner_id, other_id) = busiest_partner(&db).await;
    let partner = Viewer::partner(partner_id);
    let mut copy = Copy::default();
    // From scratch, in small pages.
    while copy.poll(&db, &partner, 7).await {}
    assert_eq!(copy.referrals, server_state(&db, partner_id).await);
    let received = referral::Entity::find()
        .filter(referral::Column::ToOrganisationId.eq(partner_id))
        .count(&db.db)
        .await
        .expect("n");
    assert!(copy.applied as u64 >= received, "every referral is in the feed");

    // Staff sends two new referrals; the partner sees them.
    let cases = referable_cases(&db, partner_id, 2).await;
    let first = send(&db, cases[0], partner_id).await;
    let second = send(&db, cases[1], partner_id).await;
    copy.drain(&db, &partner).await;
    assert_eq!(copy.referrals.get(first["id"].as_str().expect("id")).map(String::as_str), Some("SENT"));

    // Another partner cannot see or answer them.
    let accept = "mutation($id: ID!, $v: Int!, $key: String) { acceptReferral(id: $id, version: $v, idempotencyKey: $key) { referral { status version } } }";
    let probe = db.run_as(&Viewer::partner(other_id), accept, json!({ "id": first["id"], "v": 1 })).await;
    assert_eq!(error_code(&probe), Some("NOT_FOUND"));
    let probe = db
        .run_as(&Viewer::partner(other_id), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": first["id"] }))
        .await;
    assert_eq!(error_code(&probe), Some("NOT_FOUND"));

    // Accept with an idempotency key; the retry replays it and the event log has one acceptance.
    let accepted = db.run_as(&partner, accept, json!({ "id": first["id"], "v": 1, "key": "acc-1" })).await;
    assert_eq!(
        accepted["data"]["acceptReferral"]["referral"],
        json!({ "status": "ACCEPTED", "version": 2 }),
        "{accepted}"
    );
    let retried = db.run_as(&partner, accept, json!({ "id": first["id"], "v": 1, "key": "acc-1" })).await;
    assert_eq!(retried["data"], accepted["data"]);
    let other_input = db.run_as(&partner, accept, json!({ "id": second["id"], "v": 1, "key": "acc-1" })).await;
    assert_eq!(error_code(&other_input), Some("CONFLICT"));
    let first_uuid = referral_uuid(&db, first["id"].as_str().expect("id")).await;
    let acceptances = referral_event::Entity::find()
        .filter(referral_event::Column::ReferralId.eq(first_uuid))
        .filter(referral_event::Column::ToStatus.eq(entity::enums::ReferralStatus::Accepted))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(acceptances, 1);
    // Without the key, answering again is an illegal transition that names the current status.
    let again = db.run_as(&partner, accept, json!({ "id": first["id"], "v": 2 })).await;
    assert_eq!(error_code(&again), Some("CONFLICT"));
    assert!(again["errors"][0]["message"].as_str().is_some_and(|m| m.contains("ACCEPTED")));

    // Complete with an outcome; decline the second with a reason.
    let complete = "mutation($id: ID!) { completeReferral(id: $id, version: 2, outcome: HOUSE_REHABILITATED) { referral { status } } }";
    let completed = db.data_as(&partner, complete, json!({ "id": first["id"] })).await;
    assert_eq!(completed["completeReferral"]["referral"]["status"], "COMPLETED");
    let outcomes =
        outcome::Entity::find().filter(outcome::Column::ReferralId.eq(first_uuid)).all(&db.db).await.expect("o");
    assert_eq!(outcomes.len(), 1);
    assert!(!outcomes[0].verified);
    let decline =
        "mutation($id: ID!) { declineReferral(id: $id, version: 1, reason: NO_CAPACITY) { referral { status } } }";
    assert_eq!(
        db.data_as(&partner, decline, json!({ "id": second["id"] })).await["declineReferral"]["referral"]["status"],
        "DECLINED"
    );

    // Staff withdraws a third: the partner gets a tombstone and drops it.
    let third = send(&db, referable_cases(&db, partner_id, 1).await[0], partner_id).await;
    copy.drain(&db, &partner).await;
    assert!(copy.referrals.contains_key(third["id"].as_str().expect("id")));
    let withdraw =
        "mutation($id: ID!) { withdrawReferral(id: $id, version: 1, reason: DUPLICATE) { referral { status } } }";
    let partner_withdraw = db.run_as(&partner, withdraw, json!({ "id": third["id"] })).await;
    assert_eq!(error_code(&partner_withdraw), Some("FORBIDDEN"));
    db.data(withdraw, json!({ "id": third["id"] })).await;
    copy.drain(&db, &partner).await;
    assert!(!copy.referrals.contains_key(third["id"].as_str().expect("id")));
    assert_eq!(copy.referrals, server_state(&db, partner_id).await);
});

async fn referral_uuid(db: &TestDb, id: &str) -> Uuid {
    let all = referral::Entity::find().all(&db.db).await.expect("referrals");
    all.into_iter().find(|r| encode(NodeType::Referral, r.id).0 == id).map(|r| r.id).expect("referral")
}

db_test!(revoking_consent_tombstones_and_hides_personal_data, |db| async move {
    db.seed(200).await;
    let (partner_id, _) = busiest_partner(&db).await;
    let partner = Viewer::partner(partner_id);
    // A referral to the partner whose person consented to sharing with it.
    let mut chosen = None;
    for referral in
        referral::Entity::find().filter(referral::Column::ToOrganisationId.eq(partner_id)).all(&db.db).await.expect("r")
    {
        let case = case::Entity::find_by_id(referral.case_id).one(&db.db).await.expect("c").expect("case");
        let consents =
            consent::Entity::find().filter(consent::Column::PersonId.eq(case.person_id)).all(&db.db).await.expect("c");
        if psm_api::service::feed::shares(&consents, partner_id, chrono::Utc::now())
            && referral.status != entity::enums::ReferralStatus::Withdrawn
        {
            chosen = Some((referral, case, consents));
            break;
        }
    }
    let (referral, case, consents) = chosen.expect("a consented referral");
    let mut copy = Copy::default();
    copy.drain(&db, &partner).await;
    let id = encode(NodeType::Referral, referral.id).0;
    assert!(copy.referrals.contains_key(&id));
    let read = "query($id: ID!) { referral(id: $id) { case { person { fullName } } } }";
    let before = db.data_as(&partner, read, json!({ "id": id })).await;
    assert!(before["referral"]["case"]["person"]["fullName"].is_string());

    // Staff revokes every live sharing consent of the person.
    let revoke = "mutation($id: ID!) { revokeConsent(id: $id) { consent { revokedAt } } }";
    for consent in consents.iter().filter(|c| c.scope == ConsentScope::ShareWithPartners && c.revoked_at.is_none()) {
        db.data(revoke, json!({ "id": encode(NodeType::Consent, consent.id).0 })).await;
    }
    let page = db.data_as(&partner, FEED, json!({ "after": copy.cursor, "first": 100 })).await;
    let tombstones: Vec<&Value> = page["referralChanges"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["referralId"] == json!(id))
        .collect();
    assert_eq!(tombstones.len(), 1, "{page}");
    assert_eq!(tombstones[0]["kind"], "TOMBSTONE");
    assert_eq!(tombstones[0]["cause"], "CONSENT_REVOKED");
    assert!(tombstones[0]["referral"].is_null());
    copy.drain(&db, &partner).await;
    assert!(!copy.referrals.contains_key(&id));
    // What the feed told the partner to delete is gone from the API too: reading it, or answering it.
    let after = db.run_as(&partner, read, json!({ "id": id })).await;
    assert_eq!(error_code(&after), Some("NOT_FOUND"), "{after}");
    assert!(after["data"]["referral"].is_null());
    let accept = "mutation($id: ID!) { acceptReferral(id: $id, version: 1) { referral { status } } }";
    let answer = db.run_as(&partner, accept, json!({ "id": id })).await;
    assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{answer}");
    // Replaying from the start, the old upserts carry no data any more.
    let mut fresh = Copy::default();
    fresh.drain(&db, &partner).await;
    assert_eq!(fresh.referrals, copy.referrals);

    // A new consent for this partner brings the referral back.
    let record = "mutation($p: ID!, $o: ID!) { recordConsent(input: {personId: $p, scope: SHARE_WITH_PARTNERS, partnerOrganisationId: $o, givenBy: DATA_SUBJECT}) { consent { id } } }";
    db.data(
        record,
        json!({ "p": encode(NodeType::Person, case.person_id).0, "o": encode(NodeType::Organisation, partner_id).0 }),
    )
    .await;
    copy.drain(&db, &partner).await;
    assert!(copy.referrals.contains_key(&id));
    assert_eq!(copy.referrals, server_state(&db, partner_id).await);
});

db_test!(a_partner_polling_during_concurrent_writes_misses_nothing, |db| async move {
    db.seed(400).await;
    let (partner_id, _) = busiest_partner(&db).await;
    let partner = Viewer::partner(partner_id);
    let cases = referable_cases(&db, partner_id, 12).await;
    assert_eq!(cases.len(), 12);
    let done = AtomicBool::new(false);
    let accept = "mutation($id: ID!, $v: Int!) { acceptReferral(id: $id, version: $v) { referral { status } } }";
    let writers = async {
        // Four staff writers send three referrals each; the partner answers what is pending meanwhile.
        let staff_writers = cases.chunks(3).map(|chunk| {
            let db = &db;
            async move {
                for case in chunk {
                    send(db, *case, partner_id).await;
                }
            }
        });
        let answerer = async {
            for _ in 0..6 {
                let pending = db
                    .data_as(
                        &partner,
                        "{ referrals(filter: {status: [SENT]}, first: 5) { nodes { id version } } }",
                        Value::Null,
                    )
                    .await;
                for node in pending["referrals"]["nodes"].as_array().expect("nodes") {
                    let response = db.run_as(&partner, accept, json!({ "id": node["id"], "v": node["version"] })).await;
                    assert!(matches!(error_code(&response), None | Some("CONFLICT")), "{response}");
                }
            }
        };
        futures_util::join!(join_all(staff_writers), answerer);
        done.store(true, Ordering::SeqCst);
    };
    let poller = async {
        let mut copy = Copy::default();
        loop {
            let finished = done.load(Ordering::SeqCst);
            let more = copy.poll(&db, &partner, 50).await;
            if finished && !more {
                break copy;
            }
        }
    };
    let ((), mut copy) = futures_util::join!(writers, poller);
    copy.drain(&db, &partner).await;
    let server = server_state(&db, partner_id).await;
    assert_eq!(copy.referrals, server);
    for case in cases {
        let sent = referral::Entity::find()
            .filter(referral::Column::CaseId.eq(case))
            .filter(referral::Column::ToOrganisationId.eq(partner_id))
            .one(&db.db)
            .await
            .expect("r")
            .expect("sent");
        assert!(copy.referrals.contains_key(&encode(NodeType::Referral, sent.id).0));
    }
    // Positions are gapless: 1..n.
    let positions: Vec<i64> = referral_change::Entity::find()
        .select_only()
        .column(referral_change::Column::Position)
        .filter(referral_change::Column::OrganisationId.eq(partner_id))
        .order_by_asc(referral_change::Column::Position)
        .into_tuple()
        .all(&db.db)
        .await
        .expect("positions");
    assert_eq!(positions, (1..=positions.len() as i64).collect::<Vec<_>>());
});

db_test!(overdue_referrals_expire_into_the_feed, |db| async move {
    db.seed(30).await;
    let (partner_id, _) = busiest_partner(&db).await;
    let partner = Viewer::partner(partner_id);
    let case = referable_cases(&db, partner_id, 1).await[0];
    let sent = send(&db, case, partner_id).await;
    let id = referral_uuid(&db, sent["id"].as_str().expect("id")).await;
    // Its deadline passes.
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    referral::Entity::update_many()
        .col_expr(referral::Column::SentAt, sea_orm::sea_query::Expr::value(past - chrono::Duration::days(15)))
        .col_expr(referral::Column::RespondBy, sea_orm::sea_query::Expr::value(past))
        .filter(referral::Column::Id.eq(id))
        .exec(&db.db)
        .await
        .expect("backdate");
    let mut copy = Copy::default();
    copy.drain(&db, &partner).await;
    assert_eq!(copy.referrals.get(sent["id"].as_str().expect("id")).map(String::as_str), Some("EXPIRED"));
    let accept = "mutation($id: ID!) { acceptReferral(id: $id, version: 1) { referral { status } } }";
    let late = db.run_as(&partner, accept, json!({ "id": sent["id"] })).await;
    assert_eq!(error_code(&late), Some("CONFLICT"), "{late}");
});
