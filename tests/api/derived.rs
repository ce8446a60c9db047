//! Derived fields: a volunteer's tenure, a person's age band, a case's days open.

use chrono::Utc;
use entity::{case, person, volunteer};
use psm_api::graphql::ids::{NodeType, encode};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::support::db_test;

db_test!(tenure_age_band_and_days_open_follow_the_stored_dates, |db| async move {
    db.seed(50).await;
    let today = (Utc::now() + chrono::Duration::hours(8)).date_naive();
    let years = |since: chrono::NaiveDate| today.years_since(since).map_or(0, |y| y as i64);

    for volunteer in volunteer::Entity::find().all(&db.db).await.expect("volunteers").iter().take(20) {
        let data = db
            .data(
                "query($id: ID!) { volunteer(id: $id) { tenureYears servedSince } }",
                json!({ "id": encode(NodeType::Volunteer, volunteer.id).0 }),
            )
            .await;
        assert_eq!(data["volunteer"]["tenureYears"].as_i64(), Some(years(volunteer.served_since)));
    }
    let mut bands = std::collections::BTreeSet::new();
    for person in person::Entity::find().all(&db.db).await.expect("persons") {
        let data = db
            .data(
                "query($id: ID!) { person(id: $id) { ageBand nikMasked } }",
                json!({ "id": encode(NodeType::Person, person.id).0 }),
            )
            .await;
        let expected = match years(person.birth_date) {
            ..=4 => "AGE_0_TO_4",
            5..=17 => "AGE_5_TO_17",
            18..=44 => "AGE_18_TO_44",
            45..=59 => "AGE_45_TO_59",
            60..=74 => "AGE_60_TO_74",
            _ => "AGE_75_PLUS",
        };
        assert_eq!(data["person"]["ageBand"], expected, "born {}", person.birth_date);
        bands.insert(expected);
        if let Some(nik) = &person.nik {
            let masked = data["person"]["nikMasked"].as_str().expect("masked");
            assert_eq!(masked.len(), 16);
            assert_eq!(&masked[..6], &nik[..6]);
            assert_eq!(&masked[14..], &nik[14..]);
            assert!(masked[6..14].chars().all(|c| c == '*'), "the NIK is not hidden: {masked}");
        }
    }
    assert!(bands.len() >= 3, "the demo data should span several age bands");
    for case in case::Entity::find().all(&db.db).await.expect("cases").iter().take(20) {
        let data = db
            .data("query($id: ID!) { case(id: $id) { daysOpen } }", json!({ "id": encode(NodeType::Case, case.id).0 }))
            .await;
        let end = case.closed_at.unwrap_or_else(Utc::now);
        assert_eq!(data["case"]["daysOpen"].as_i64(), Some((end - case.opened_at).num_days().max(0)));
    }
});
