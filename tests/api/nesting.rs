//! Nested relations go through DataLoaders and nested connections paginate in SQL: the number of
//! statements a request runs depends on the depth of the query, not on the page size.

use serde_json::{Value, json};

use crate::support::db_test;

const DEEP: &str = "query($n: Int) {
  volunteers(first: $n) {
    nodes {
      fullName tenureYears
      kelurahan { name parent { name } }
      trainingAttendances { course attendedOn }
      awards { title }
      cases(first: 3) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes {
          referenceNumber categories daysOpen
          person { ageBand kelurahan { name } consents { scope active } }
          statusHistory { toStatus changedAt }
          enrollments { status programme { name ownerOrganisation { code } } }
          referrals { status toOrganisation { name } events { toStatus } }
          outcomes { outcomeType outcomeGroup }
        }
      }
    }
  }
}";

db_test!(statement_count_depends_on_depth_not_page_size, |db| async move {
    db.seed(400).await;
    let before = db.statements();
    let small = db.data(DEEP, json!({ "n": 5 })).await;
    let small_count = db.statements() - before;
    let before = db.statements();
    let large = db.data(DEEP, json!({ "n": 100 })).await;
    let large_count = db.statements() - before;
    assert_eq!(small["volunteers"]["nodes"].as_array().map(Vec::len), Some(5));
    assert_eq!(large["volunteers"]["nodes"].as_array().map(Vec::len), Some(100));
    let nested_cases: usize = large["volunteers"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|v| v["cases"]["nodes"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(nested_cases > 20, "too few nested cases ({nested_cases}) for the test to mean anything");
    assert_eq!(small_count, large_count, "statements for 5 volunteers: {small_count}, for 100: {large_count}");
    assert!(large_count <= 25, "{large_count} statements for a query of this depth");
});

db_test!(nested_pages_are_per_parent_and_agree_with_root_queries, |db| async move {
    db.seed(1500).await;
    let data = db
        .data(
            "{ volunteers(first: 40) { nodes { id cases(first: 2, orderBy: {field: OPENED_AT, direction: ASC}) { totalCount nodes { id reportingVolunteer { id } } pageInfo { hasNextPage endCursor } } } } }",
            Value::Null,
        )
        .await;
    let mut checked = 0;
    for volunteer in data["volunteers"]["nodes"].as_array().expect("nodes") {
        let id = volunteer["id"].clone();
        let cases = &volunteer["cases"];
        for case in cases["nodes"].as_array().expect("nodes") {
            assert_eq!(case["reportingVolunteer"]["id"], id, "a nested case belongs to another volunteer");
        }
        let root = db
            .data(
                "query($id: ID!) { cases(first: 100, filter: {reportingVolunteerId: $id}, orderBy: {field: OPENED_AT, direction: ASC}) { totalCount nodes { id } } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(cases["totalCount"], root["cases"]["totalCount"]);
        let root_ids: Vec<&Value> =
            root["cases"]["nodes"].as_array().expect("nodes").iter().map(|n| &n["id"]).take(2).collect();
        let nested_ids: Vec<&Value> = cases["nodes"].as_array().expect("nodes").iter().map(|n| &n["id"]).collect();
        assert_eq!(nested_ids, root_ids);
        let total = cases["totalCount"].as_i64().expect("total");
        assert_eq!(cases["pageInfo"]["hasNextPage"].as_bool(), Some(total > 2));
        if total > 2 {
            // The nested cursor continues this volunteer's list.
            let next = db
                .data(
                    "query($id: ID!, $after: String) { node(id: $id) { ... on Volunteer { cases(first: 100, after: $after, orderBy: {field: OPENED_AT, direction: ASC}) { nodes { id } } } } }",
                    json!({ "id": id, "after": cases["pageInfo"]["endCursor"] }),
                )
                .await;
            let rest: Vec<&Value> =
                next["node"]["cases"]["nodes"].as_array().expect("nodes").iter().map(|n| &n["id"]).collect();
            let expected: Vec<&Value> =
                root["cases"]["nodes"].as_array().expect("nodes").iter().map(|n| &n["id"]).skip(2).collect();
            assert_eq!(rest, expected);
            checked += 1;
        }
    }
    assert!(checked > 3, "too few volunteers with more than two cases ({checked})");
});
