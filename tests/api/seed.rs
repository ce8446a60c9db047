//! The demo seed writes the same rows on both databases: PostgreSQL's arrive by binary COPY (each value
//! in its column type's binary form, computed by the seed), SQLite's by bound INSERT parameters.

use sea_orm::{EntityTrait, QueryOrder};

use crate::support::{Backend, TestDb};

/// Every row of each entity on both databases, in key order, equal.
macro_rules! same_rows {
    ($postgres:expr, $sqlite:expr, $($entity:ident by $($column:ident)&+),+ $(,)?) => {
        $(
            let postgres = entity::$entity::Entity::find()
                $(.order_by_asc(entity::$entity::Column::$column))+
                .all(&$postgres.db)
                .await
                .expect("PostgreSQL rows");
            let sqlite = entity::$entity::Entity::find()
                $(.order_by_asc(entity::$entity::Column::$column))+
                .all(&$sqlite.db)
                .await
                .expect("SQLite rows");
            assert!(!postgres.is_empty(), "no {} rows to compare", stringify!($entity));
            assert_eq!(postgres.len(), sqlite.len(), "{} rows", stringify!($entity));
            for (postgres, sqlite) in postgres.iter().zip(&sqlite) {
                assert_eq!(postgres, sqlite, "a {} row differs between the databases", stringify!($entity));
            }
        )+
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_writes_the_same_rows_on_both_databases() {
    let Some(postgres) = TestDb::new(Backend::Postgres).await else { return };
    let sqlite = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    postgres.seed(400).await;
    sqlite.seed(400).await;
    same_rows!(
        postgres, sqlite,
        organisation by Id,
        volunteer by Id,
        training_attendance by Id,
        award by Id,
        programme by Id,
        person by Id,
        consent by Id,
        case by Id,
        case_category by CaseId & Category,
        case_status_change by Id,
        enrollment by Id,
        referral by Id,
        referral_event by Id,
        outcome by Id,
    );
}
