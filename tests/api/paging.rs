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
