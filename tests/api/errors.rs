//! Bad input gets a clear error with `extensions.code`, never a panic or an internal error.

use serde_json::{Value, json};

use crate::support::{db_test, error_code};

db_test!(a_page_larger_than_the_maximum_is_rejected_not_cut, |db| async move {
    let response = db.run("{ cases(first: 101) { nodes { id } } }", Value::Null).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    assert_eq!(response["errors"][0]["extensions"]["field"], "first");
    let response = db.run("{ volunteers(last: 1000) { nodes { id } } }", Value::Null).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    let response = db.run("{ cases(first: -1) { nodes { id } } }", Value::Null).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    let response = db.run("{ cases(first: 2, last: 2) { nodes { id } } }", Value::Null).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    let response = db.run("{ cases(first: 100) { nodes { id } } }", Value::Null).await;
    assert!(response.get("errors").is_none(), "{response}");
});

db_test!(malformed_and_foreign_cursors_are_bad_input, |db| async move {
    db.seed(20).await;
    let response = db.run(r#"{ cases(after: "not-a-cursor") { nodes { id } } }"#, Value::Null).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    let data =
        db.data("{ cases(first: 1, orderBy: {field: OPENED_AT}) { pageInfo { endCursor } } }", Value::Null).await;
    let cursor = data["cases"]["pageInfo"]["endCursor"].clone();
    let response = db
        .run(
            "query($c: String) { cases(after: $c, orderBy: {field: REFERENCE_NUMBER}) { nodes { id } } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    assert!(response["errors"][0]["message"].as_str().expect("message").contains("orderBy"));
});

db_test!(unknown_and_malformed_ids_are_not_found_or_bad_input, |db| async move {
    db.seed(20).await;
    let response = db.run(r#"{ node(id: "garbage!") { id } }"#, Value::Null).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    let missing = psm_api::graphql::ids::encode(psm_api::graphql::ids::NodeType::Case, uuid::Uuid::now_v7());
    // An unknown id is null with a NOT_FOUND error (GitHub's answer); the field's siblings survive.
    let response = db.run("query($id: ID!) { node(id: $id) { id } viewer { role } }", json!({ "id": missing.0 })).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response}");
    assert_eq!(response["data"], json!({ "node": null, "viewer": { "role": "STAFF" } }), "{response}");
    let response = db.run("query($id: ID!) { case(id: $id) { id } }", json!({ "id": missing.0 })).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response}");
    assert_eq!(response["data"], json!({ "case": null }), "{response}");
    assert_eq!(response["errors"][0]["path"], json!(["case"]), "{response}");
    let data = db.data("{ volunteers(first: 1) { nodes { id } } }", Value::Null).await;
    let volunteer = data["volunteers"]["nodes"][0]["id"].clone();
    let response = db.run("query($id: ID!) { case(id: $id) { id } }", json!({ "id": volunteer })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    let response =
        db.run("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": [volunteer, missing.0] })).await;
    assert_eq!(response["data"]["nodes"][0]["id"], volunteer);
    assert_eq!(response["data"]["nodes"][1], Value::Null);
    assert_eq!(response["errors"].as_array().map(Vec::len), Some(1), "{response}");
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response}");
    assert_eq!(response["errors"][0]["path"], json!(["nodes", 1]), "{response}");
    let response = db.run(r#"{ region(code: "63.71.99") { name } }"#, Value::Null).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response}");
    assert_eq!(response["data"], json!({ "region": null }), "{response}");
});

db_test!(bad_filter_values_are_bad_input, |db| async move {
    let cases = [
        (r#"{ persons(filter: {nik: "123"}) { nodes { id } } }"#, "filter.nik"),
        (
            r#"{ cases(filter: {opened: {from: "2025-02-01T00:00:00+08:00", before: "2025-01-01T00:00:00+08:00"}}) { nodes { id } } }"#,
            "filter.opened",
        ),
        (r#"{ cases(filter: {reportingVolunteerId: "nonsense"}) { nodes { id } } }"#, "filter.reportingVolunteerId"),
    ];
    for (query, field) in cases {
        let response = db.run(query, Value::Null).await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{query}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
    }
    // Instants without a UTC offset, and unknown enum values, are refused by the schema itself.
    for query in [
        r#"{ cases(filter: {opened: {from: "2025-01-01T00:00:00"}}) { nodes { id } } }"#,
        r#"{ cases(filter: {status: [SOMETHING]}) { nodes { id } } }"#,
    ] {
        let response = db.run(query, Value::Null).await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{query}: {response}");
    }
});
