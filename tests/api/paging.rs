//! Paging forward and backward through every root connection, under every orderBy, returns every row
//! exactly once, in order, and agrees with `totalCount` and with a direct count.

use std::collections::HashSet;

use chrono::TimeZone;
use entity::case;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};

use crate::support::{TestDb, db_test};

/// Every root connection: field, orderBy input type, its fields, and the table behind it.
const CONNECTIONS: &[(&str, &str, &[&str], &str)] = &[
    ("cases", "CaseOrder", &["OPENED_AT", "UPDATED_AT", "REFERENCE_NUMBER"], "cases"),
    ("volunteers", "VolunteerOrder", &["FULL_NAME", "SERVED_SINCE", "CREATED_AT"], "volunteers"),
    ("programmes", "ProgrammeOrder", &["NAME", "STARTS_ON", "CREATED_AT"], "programmes"),
    ("outcomes", "OutcomeOrder", &["RECORDED_AT"], "outcomes"),
    ("referrals", "ReferralOrder", &["SENT_AT", "UPDATED_AT", "RESPOND_BY"], "referrals"),
    ("organisations", "OrganisationOrder", &["NAME", "CODE", "CREATED_AT"], "organisations"),
    ("persons", "PersonOrder", &["FULL_NAME", "BIRTH_DATE", "CREATED_AT"], "persons"),
    ("regions", "RegionOrder", &["CODE", "NAME"], "regions"),
];

/// Pages through `field` with `size` rows a page; returns (ids in list order, totalCount).
pub async fn page_through(
    db: &TestDb,
    field: &str,
    order_type: &str,
    order: Value,
    filter: Value,
    size: i64,
    backward: bool,
) -> (Vec<String>, i64) {
    let query = format!(
        "query($first: Int, $after: String, $last: Int, $before: String, $order: {order_type}, $filter: {filter_type}) {{
            list: {field}(first: $first, after: $after, last: $last, before: $before, orderBy: $order, filter: $filter) {{
                edges {{ cursor node {{ id }} }}
                nodes {{ id }}
                pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                totalCount
            }}
        }}",
        filter_type = order_type.replace("Order", "Filter"),
    );
    let mut ids: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let variables = if backward {
            json!({ "last": size, "before": cursor, "order": order, "filter": filter })
        } else {
            json!({ "first": size, "after": cursor, "order": order, "filter": filter })
        };
        let data = db.data(&query, variables).await;
        let list = &data["list"];
        let total = list["totalCount"].as_i64().expect("totalCount");
        let page: Vec<String> = list["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect();
        let nodes: Vec<String> =
            list["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].as_str().expect("id").to_owned()).collect();
        assert_eq!(page, nodes, "edges and nodes disagree");
        assert!(page.len() as i64 <= size, "page larger than asked");
        let info = &list["pageInfo"];
        if !page.is_empty() {
            assert_eq!(info["startCursor"], list["edges"][0]["cursor"]);
            assert_eq!(info["endCursor"], list["edges"][page.len() - 1]["cursor"]);
        }
        if backward {
            let mut page = page;
            page.extend(ids);
            ids = page;
            if !info["hasPreviousPage"].as_bool().expect("hasPreviousPage") {
                return (ids, total);
            }
            cursor = info["startCursor"].as_str().map(str::to_owned);
        } else {
            ids.extend(page);
            if !info["hasNextPage"].as_bool().expect("hasNextPage") {
                return (ids, total);
            }
            cursor = info["endCursor"].as_str().map(str::to_owned);
        }
    }
    panic!("paging did not end");
}

/// Gives a third of the cases one shared `opened_at`, so that paging must break ties by id.
async fn make_ties(db: &TestDb) {
    let ids: Vec<uuid::Uuid> = case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .limit(25)
        .into_tuple()
        .all(&db.db)
        .await
        .expect("ids");
    let shared = chrono::Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().expect("instant");
    case::Entity::update_many()
        .col_expr(case::Column::OpenedAt, Expr::value(shared))
        .col_expr(case::Column::UpdatedAt, Expr::value(shared))
        .filter(case::Column::Id.is_in(ids))
        .exec(&db.db)
        .await
        .expect("make ties");
}

async fn table_count(db: &TestDb, table: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = db
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            db.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

db_test!(paging_forward_and_backward_returns_every_row_once_under_every_order, |db| async move {
    db.seed(80).await;
    make_ties(&db).await;
    assert_eq!(
        case::Entity::find()
            .filter(
                case::Column::OpenedAt.lt(chrono::Utc.with_ymd_and_hms(2000, 1, 2, 0, 0, 0).single().expect("instant"))
            )
            .count(&db.db)
            .await
            .expect("count"),
        25
    );
    for (field, order_type, order_fields, table) in CONNECTIONS {
        let expected = table_count(&db, table).await;
        assert!(expected > 0, "{table} is empty: the test would prove nothing");
        for order_field in *order_fields {
            for direction in ["ASC", "DESC"] {
                let order = json!({ "field": order_field, "direction": direction });
                let (forward, total) = page_through(&db, field, order_type, order.clone(), Value::Null, 7, false).await;
                let (backward, _) = page_through(&db, field, order_type, order.clone(), Value::Null, 7, true).await;
                let unique: HashSet<&String> = forward.iter().collect();
                assert_eq!(unique.len(), forward.len(), "{field} {order_field} {direction}: a row came twice");
                assert_eq!(forward.len() as i64, expected, "{field} {order_field} {direction}: rows missing");
                assert_eq!(total, expected, "{field}: totalCount");
                assert_eq!(forward, backward, "{field} {order_field} {direction}: backward paging disagrees");
            }
        }
    }
});

db_test!(page_order_follows_the_chosen_column, |db| async move {
    db.seed(40).await;
    let data = db
        .data(
            "{ cases(first: 100, orderBy: {field: OPENED_AT, direction: ASC}) { nodes { openedAt } }
               volunteers(first: 100, orderBy: {field: SERVED_SINCE, direction: DESC}) { nodes { servedSince } } }",
            Value::Null,
        )
        .await;
    let opened: Vec<chrono::DateTime<chrono::Utc>> = data["cases"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["openedAt"].as_str().expect("openedAt").parse().expect("instant"))
        .collect();
    assert!(opened.len() > 1);
    assert!(opened.windows(2).all(|w| w[0] <= w[1]), "cases not ascending by openedAt");
    let served: Vec<&str> = data["volunteers"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["servedSince"].as_str().expect("date"))
        .collect();
    assert!(served.windows(2).all(|w| w[0] >= w[1]), "volunteers not descending by servedSince");
});

/// The cursors of the first page of `persons` in `order`, each with its row's id, name and birth date.
async fn person_cursors(db: &TestDb, order: &str) -> Vec<(String, String, String, String)> {
    let data = db
        .data(
            "query($order: PersonOrderField!) {
                persons(first: 30, orderBy: { field: $order, direction: ASC }) {
                    edges { cursor node { id fullName birthDate } }
                }
            }",
            json!({ "order": order }),
        )
        .await;
    let edges = data["persons"]["edges"].as_array().expect("edges").clone();
    assert!(edges.len() > 5, "too few persons: the test would prove little");
    edges
        .iter()
        .map(|edge| {
            let text = |value: &Value| value.as_str().expect("text").to_owned();
            (
                text(&edge["cursor"]),
                text(&edge["node"]["id"]),
                text(&edge["node"]["fullName"]),
                text(&edge["node"]["birthDate"]),
            )
        })
        .collect()
}

/// Everything an attacker might read a cursor as: the text itself and its bytes under every base64
/// alphabet, as lossy UTF-8.
fn readings(cursor: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut readings = vec![cursor.to_owned()];
    for engine in [URL_SAFE_NO_PAD, URL_SAFE, STANDARD_NO_PAD, STANDARD] {
        if let Ok(bytes) = engine.decode(cursor) {
            readings.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let standard = cursor.replace('-', "+").replace('_', "/");
    if let Ok(bytes) = STANDARD_NO_PAD.decode(&standard) {
        readings.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    assert!(readings.len() > 1, "the cursor is no longer base64: update the test's decodings");
    readings
}

db_test!(cursors_ordered_by_name_or_birth_date_reveal_neither, |db| async move {
    use base64::Engine as _;
    db.seed(40).await;
    for order in ["FULL_NAME", "BIRTH_DATE"] {
        for (cursor, id, name, birth_date) in person_cursors(&db, order).await {
            // The row's UUID, from its global id (`Person:<uuid>`).
            let global = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&id).expect("global id");
            let uuid = String::from_utf8(global).expect("text").rsplit(':').next().expect("uuid").to_owned();
            let compact_date = birth_date.replace('-', "");
            for reading in readings(&cursor) {
                for secret in [&name, &birth_date, &compact_date, &uuid] {
                    assert!(!reading.contains(secret.as_str()), "{order} cursor {cursor} reveals {secret}");
                }
                for word in name.split_whitespace().filter(|word| word.len() >= 4) {
                    assert!(!reading.contains(word), "{order} cursor {cursor} reveals part of the name: {word}");
                }
            }
        }
    }
});

/// The error of a `persons` page asked for `after: cursor`.
async fn persons_after(db: &TestDb, order: &str, cursor: &str) -> Value {
    db.run(
        "query($order: PersonOrderField!, $after: String) {
            persons(first: 1, after: $after, orderBy: { field: $order, direction: ASC }) { nodes { id } }
        }",
        json!({ "order": order, "after": cursor }),
    )
    .await
}

fn assert_not_issued(response: &Value, what: &str) {
    assert_eq!(crate::support::error_code(response), Some("BAD_USER_INPUT"), "{what}: {response:#}");
    let message = response["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not a cursor this API issued"), "{what}: {message}");
    assert!(response["data"].is_null() || response["data"]["persons"].is_null(), "{what}: served rows: {response:#}");
}

db_test!(tampered_truncated_forged_and_foreign_cursors_are_refused, |db| async move {
    use base64::Engine as _;
    db.seed(40).await;
    let cursors = person_cursors(&db, "FULL_NAME").await;
    let (cursor, _, name, _) = cursors[3].clone();
    // The genuine cursor works.
    let response = persons_after(&db, "FULL_NAME", &cursor).await;
    assert!(response.get("errors").is_none(), "{response:#}");

    // Every single-character change is refused.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for position in 0..cursor.len() {
        let original = cursor.as_bytes()[position] as char;
        let replacement = alphabet.chars().find(|c| *c != original).expect("another character");
        let mut flipped = cursor.clone();
        flipped.replace_range(position..=position, &replacement.to_string());
        assert_not_issued(&persons_after(&db, "FULL_NAME", &flipped).await, &format!("flipped at {position}"));
    }
    // Cut short, at any length.
    for length in [0, 1, 10, cursor.len() / 2, cursor.len() - 1] {
        assert_not_issued(&persons_after(&db, "FULL_NAME", &cursor[..length]).await, &format!("cut to {length}"));
    }
    // Forged in the old clear format, pointing anywhere the attacker likes.
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({ "sort": "FullName_ASC", "value": { "Text": name }, "key": { "Uuid": uuid::Uuid::nil() } }).to_string(),
    );
    assert_not_issued(&persons_after(&db, "FULL_NAME", &forged).await, "forged");
    // Sealed by another server (another database, another secret).
    let other = TestDb::new(crate::support::Backend::Sqlite).await.expect("SQLite");
    other.seed(40).await;
    let (foreign, _, _, _) = person_cursors(&other, "FULL_NAME").await[3].clone();
    assert_not_issued(&persons_after(&db, "FULL_NAME", &foreign).await, "foreign");

    // A genuine cursor of another order is still refused, and says why.
    let response = persons_after(&db, "BIRTH_DATE", &cursor).await;
    assert_eq!(crate::support::error_code(&response), Some("BAD_USER_INPUT"), "{response:#}");
    let message = response["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("was made for orderBy"), "{message}");
});

db_test!(a_cursor_one_server_issued_works_on_another_server_of_the_same_database, |db| async move {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    db.seed(20).await;
    // `db.run` pages with the key read when the test database was opened; the router below is another
    // server that reads the secret again at startup, as a replica or a restarted server does.
    let (cursor, ..) = person_cursors(&db, "FULL_NAME").await[2].clone();
    let state = psm_api::app::AppState::new(db.db.clone(), psm_api::config::ApiConfig::default()).await.expect("state");
    let new = psm_api::auth::NewKey {
        role: entity::enums::Role::Staff,
        organisation: None,
        volunteer: None,
        name: "t".into(),
    };
    let key = psm_api::auth::create_key(&db.db, &new).await.map_err(|e| e.detail()).expect("key").0;
    let body = json!({
        "query": "query($after: String) { persons(first: 2, after: $after, orderBy: {field: FULL_NAME, direction: ASC}) { nodes { id } } }",
        "variables": { "after": cursor },
    });
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from(body.to_string()))
        .expect("request");
    let response = psm_api::app::router(state).oneshot(request).await.expect("response");
    let json: Value =
        serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes()).expect("json");
    assert!(json.get("errors").is_none(), "{json:#}");
    let expected: Vec<Value> =
        person_cursors(&db, "FULL_NAME").await[3..5].iter().map(|(_, id, ..)| json!(id)).collect();
    let nodes: Vec<Value> =
        json["data"]["persons"]["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].clone()).collect();
    assert_eq!(nodes, expected);
});
