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

// Regions are reference data: one server reads them once, and later requests find a case's kelurahan
// and kecamatan without a statement. What they answer is what the table holds, and a region added
// after the server read them (a later migration) is still found, from the database.
db_test!(regions_are_read_once_per_server_and_still_answer_new_codes, |db| async move {
    use psm_api::config::ApiConfig;
    use sea_orm::ConnectionTrait;
    db.seed(60).await;
    let api = crate::limits::Api::new(&db, ApiConfig::default(), entity::enums::Role::Staff).await;
    let with_regions = json!({ "query": "{ cases(first: 30) { nodes { id referenceNumber kelurahan { code name parent { code name } } } } }" });
    let without = json!({ "query": "{ cases(first: 30) { nodes { id } } }" });
    let first = api.post(&with_regions).await;
    assert!(first.body.get("errors").is_none(), "{}", first.body);

    let before = db.statements();
    let answer = api.post(&with_regions).await;
    let with_count = db.statements() - before;
    let before = db.statements();
    api.post(&without).await;
    let without_count = db.statements() - before;
    assert_eq!(with_count, without_count, "regions cost statements after the first request");

    // The answers are the table's.
    let nodes = answer.body["data"]["cases"]["nodes"].as_array().expect("nodes").clone();
    assert_eq!(nodes.len(), 30);
    let names = db
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            db.db.get_database_backend(),
            "SELECT k.code, k.name, d.code AS district, d.name AS district_name FROM regions k \
             JOIN regions d ON d.code = k.parent_code"
                .to_owned(),
        ))
        .await
        .expect("regions");
    let names: std::collections::HashMap<String, Value> = names
        .iter()
        .map(|row| {
            let code: String = row.try_get("", "code").expect("code");
            let place = json!({
                "code": code,
                "name": row.try_get::<String>("", "name").expect("name"),
                "parent": {
                    "code": row.try_get::<String>("", "district").expect("district"),
                    "name": row.try_get::<String>("", "district_name").expect("district name"),
                },
            });
            (code, place)
        })
        .collect();
    for node in &nodes {
        let code = node["kelurahan"]["code"].as_str().expect("code");
        assert_eq!(node["kelurahan"], names[code], "{node}");
    }

    // A kelurahan added after the server read the regions, and a case moved into it.
    let backend = db.db.get_database_backend();
    let parent = nodes[0]["kelurahan"]["parent"]["code"].as_str().expect("district").to_owned();
    let case = nodes[0]["referenceNumber"].as_str().expect("reference number");
    for sql in [
        format!(
            "INSERT INTO regions (code, level, name, parent_code) \
             VALUES ('{parent}.1999', 'SUBDISTRICT', 'Kelurahan Baru', '{parent}')"
        ),
        format!("UPDATE cases SET kelurahan_code = '{parent}.1999' WHERE reference_number = '{case}'"),
    ] {
        db.db.execute_raw(sea_orm::Statement::from_string(backend, sql)).await.expect("write");
    }
    let moved = api.post(&with_regions).await;
    let kelurahan = moved.body["data"]["cases"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|node| node["id"] == nodes[0]["id"])
        .map(|node| node["kelurahan"].clone());
    assert_eq!(
        kelurahan,
        Some(
            json!({ "code": format!("{parent}.1999"), "name": "Kelurahan Baru", "parent": names[nodes[0]["kelurahan"]["code"].as_str().expect("code")]["parent"] })
        ),
        "{}",
        moved.body
    );
});

/// The statements `query` runs as `viewer`, and its data.
async fn statements_of(db: &crate::support::TestDb, viewer: &psm_api::auth::Viewer, query: &str) -> (usize, Value) {
    let before = db.statements();
    let data = db.data_as(viewer, query, Value::Null).await;
    (db.statements() - before, data)
}

/// The `ids` of a list of nodes, and what `pick` finds in each.
fn pairs(nodes: &Value, pick: impl Fn(&Value) -> Value) -> Vec<(Value, Value)> {
    nodes.as_array().expect("nodes").iter().map(|node| (node["id"].clone(), pick(node))).collect()
}

// A to-one relation that a page selects (a case's reporting volunteer, a referral's case, the receiving
// organisation of a case's referrals) is read by the statement that reads the page: it costs no
// statement of its own, answers what the relation's own lookup answers, and keeps the related entity's
// scope for the caller: a partner, who may read no volunteer, gets null where STAFF gets the volunteer.
db_test!(selected_to_one_rows_ride_in_the_page_statement_under_their_own_scope, |db| async move {
    use psm_api::auth::Viewer;
    db.seed(300).await;
    let staff = Viewer::with_role(entity::enums::Role::Staff);

    // Each list, with and without the to-one field, and the same field through a lookup of one row.
    let lists = [
        (
            "{ cases(first: 40) { nodes { id reportingVolunteer { id } } } }",
            "{ cases(first: 40) { nodes { id } } }",
            "cases",
            "query($id: ID!) { node(id: $id) { ... on Case { reportingVolunteer { id } } } }",
        ),
        (
            "{ referrals(first: 40) { nodes { id case { id } } } }",
            "{ referrals(first: 40) { nodes { id } } }",
            "referrals",
            "query($id: ID!) { referral(id: $id) { case { id } } }",
        ),
    ];
    for (with, without, root, lookup) in lists {
        let (with_count, data) = statements_of(&db, &staff, with).await;
        let (without_count, _) = statements_of(&db, &staff, without).await;
        assert_eq!(with_count, without_count, "{with} cost a statement more than {without}");
        let field = if root == "cases" { "reportingVolunteer" } else { "case" };
        let listed = pairs(&data[root]["nodes"], |node| node[field].clone());
        assert_eq!(listed.len(), 40);
        assert!(listed.iter().any(|(_, related)| !related.is_null()), "{with}: nothing related to check");
        for (id, related) in listed {
            let one = db.data(lookup, json!({ "id": id })).await;
            let looked_up = if root == "cases" { &one["node"][field] } else { &one["referral"][field] };
            assert_eq!(&related, looked_up, "{with}: {id} joined another row than its lookup");
        }
    }

    // A case's referrals, with the receiving organisation read in the referrals' statement.
    let with = "{ cases(first: 60, orderBy: {field: OPENED_AT, direction: ASC}) { nodes { id referrals { id toOrganisation { code } } } } }";
    let without = "{ cases(first: 60, orderBy: {field: OPENED_AT, direction: ASC}) { nodes { id referrals { id } } } }";
    let (with_count, data) = statements_of(&db, &staff, with).await;
    let (without_count, _) = statements_of(&db, &staff, without).await;
    assert_eq!(with_count, without_count, "the receiving organisations cost a statement");
    let referrals: Vec<Value> = data["cases"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(|case| case["referrals"].as_array().expect("referrals").clone())
        .collect();
    assert!(referrals.len() > 5, "too few referrals ({}) for the test to mean anything", referrals.len());
    for referral in &referrals {
        let one = db
            .data("query($id: ID!) { referral(id: $id) { toOrganisation { code } } }", json!({ "id": referral["id"] }))
            .await;
        assert_eq!(referral["toOrganisation"], one["referral"]["toOrganisation"]);
    }

    // The joined row keeps its own scope: a partner lists the cases referred to it, but no volunteer.
    let partner = Viewer::partner(crate::support::partners_by_referrals(&db).await[0]);
    let (_, data) =
        statements_of(&db, &partner, "{ cases(first: 50) { nodes { id reportingVolunteer { id } } } }").await;
    let listed = pairs(&data["cases"]["nodes"], |node| node["reportingVolunteer"].clone());
    assert!(!listed.is_empty(), "the partner lists no case");
    let mut hidden = 0;
    for (id, volunteer) in listed {
        assert!(volunteer.is_null(), "a partner read the reporting volunteer of {id}: {volunteer}");
        let seen_by_staff = db
            .data(
                "query($id: ID!) { node(id: $id) { ... on Case { reportingVolunteer { id } } } }",
                json!({ "id": id }),
            )
            .await;
        hidden += usize::from(!seen_by_staff["node"]["reportingVolunteer"].is_null());
    }
    assert!(hidden > 0, "no listed case has a reporting volunteer: the scope was not tested");
    // And its referrals come with their cases, which it may read.
    let (_, data) = statements_of(&db, &partner, "{ referrals(first: 50) { nodes { id case { id } } } }").await;
    for (id, case) in pairs(&data["referrals"]["nodes"], |node| node["case"]["id"].clone()) {
        let one =
            db.data_as(&partner, "query($id: ID!) { referral(id: $id) { case { id } } }", json!({ "id": id })).await;
        assert_eq!(case, one["referral"]["case"]["id"], "{id}");
    }
});

// A page of cases that selects their outcomes reads them in the page's statement, each case's outcomes
// as its own lookup answers them (oldest first), under the outcomes' scope for the caller: a partner
// gets on each case the outcomes a lookup of that case gives it. Paging still counts cases.
db_test!(outcomes_ride_in_the_page_statement_under_their_own_scope, |db| async move {
    use psm_api::auth::Viewer;
    db.seed(300).await;
    let staff = Viewer::with_role(entity::enums::Role::Staff);
    let partner = Viewer::partner(crate::support::partners_by_referrals(&db).await[0]);
    let lookup = "query($id: ID!) { node(id: $id) { ... on Case { outcomes { id outcomeType recordedAt } } } }";
    let (mut staff_outcomes, mut hidden_from_partner) = (0, 0);
    for (viewer, order) in [(&staff, "ASC"), (&staff, "DESC"), (&partner, "ASC")] {
        let page = |fields: &str| {
            format!(
                "{{ cases(first: 80, orderBy: {{field: OPENED_AT, direction: {order}}}) {{ nodes {{ id {fields} }} pageInfo {{ hasNextPage endCursor }} }} }}"
            )
        };
        let (with_count, data) =
            statements_of(&db, viewer, &page("reportingVolunteer { id } outcomes { id outcomeType recordedAt }")).await;
        let (without_count, plain) = statements_of(&db, viewer, &page("reportingVolunteer { id }")).await;
        assert_eq!(with_count, without_count, "the outcomes cost a statement ({order})");
        assert_eq!(data["cases"]["pageInfo"], plain["cases"]["pageInfo"], "the outcomes changed the paging");
        let nodes = data["cases"]["nodes"].as_array().expect("nodes").clone();
        if std::ptr::eq(viewer, &staff) {
            assert_eq!(nodes.len(), 80, "the limit counted outcomes, not cases");
        }
        let plain_nodes = plain["cases"]["nodes"].as_array().expect("nodes");
        for (node, plain_node) in nodes.iter().zip(plain_nodes) {
            // The volunteer joined beside the outcomes is the one joined alone (null for the partner).
            assert_eq!(node["reportingVolunteer"], plain_node["reportingVolunteer"], "{}", node["id"]);
        }
        let ids: Vec<&Value> = nodes.iter().map(|node| &node["id"]).collect();
        let plain_ids: Vec<&Value> =
            plain["cases"]["nodes"].as_array().expect("nodes").iter().map(|n| &n["id"]).collect();
        assert_eq!(ids, plain_ids);
        for node in &nodes {
            let one = db.data_as(viewer, lookup, json!({ "id": node["id"] })).await;
            assert_eq!(node["outcomes"], one["node"]["outcomes"], "{}", node["id"]);
            let count = |outcomes: &Value| outcomes.as_array().map_or(0, Vec::len);
            if std::ptr::eq(viewer, &staff) {
                staff_outcomes += count(&node["outcomes"]);
            } else {
                let seen_by_staff = db.data(lookup, json!({ "id": node["id"] })).await;
                hidden_from_partner += count(&seen_by_staff["node"]["outcomes"]) - count(&node["outcomes"]);
            }
        }
    }
    assert!(staff_outcomes > 20, "too few outcomes ({staff_outcomes}) for the test to mean anything");
    // The partner's cases have outcomes it may not read (not on a referral it holds): the scope was tested.
    assert!(hidden_from_partner > 0, "no outcome hidden from the partner on its cases");

    // Reading backward from the end, the page is the same cases in the same order.
    let backward = |fields: &str| format!("{{ cases(last: 25) {{ nodes {{ id {fields} }} }} }}");
    let with = db.data(&backward("outcomes { id }"), Value::Null).await;
    let plain = db.data(&backward(""), Value::Null).await;
    let ids = |data: &Value| {
        data["cases"]["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&with), ids(&plain));
    assert_eq!(ids(&with).len(), 25);
});

// The nested page of the benchmark (`.ci/page_bench.py`, rate limiting off as there) runs three
// statements besides the key's check, whatever the page size: the page with the reporting volunteers
// and the outcomes, the referrals with their receiving organisations, and the audit record of the
// volunteers' names read. Regions are the server's reference data.
db_test!(the_benchmark_page_runs_three_statements, |db| async move {
    db.seed(300).await;
    let config = crate::limits::limits(|limits| limits.rate_limit_points = 0);
    let api = crate::limits::Api::new(&db, config, entity::enums::Role::Staff).await;
    let page = |n: usize| {
        let query = format!(
            "{{ cases(first: {n}, orderBy: {{field: OPENED_AT, direction: ASC}}) {{ nodes {{
                id referenceNumber status urgency openedAt
                kelurahan {{ code name parent {{ code name }} }}
                reportingVolunteer {{ id fullName }}
                referrals {{ id status sentAt toOrganisation {{ code name }} }}
                outcomes {{ id outcomeType recordedAt }} }} }} }}"
        );
        json!({ "query": query })
    };
    // The first request reads the regions once for the server.
    api.post(&page(20)).await;
    for n in [20, 50, 100] {
        let before = db.statements();
        let answer = api.post(&page(n)).await;
        let count = db.statements() - before - api.auth_statements;
        assert!(answer.body.get("errors").is_none(), "{}", answer.body);
        let nodes = answer.body["data"]["cases"]["nodes"].as_array().expect("nodes").clone();
        assert_eq!(nodes.len(), n);
        let referrals: usize = nodes.iter().map(|node| node["referrals"].as_array().map_or(0, Vec::len)).sum();
        assert!(referrals > 0 && nodes.iter().any(|node| !node["reportingVolunteer"].is_null()), "a thin page");
        assert_eq!(count, 3, "the page of {n} ran {count} statements besides the key's check");
    }
});
