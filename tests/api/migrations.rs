//! The migrations run down and up again cleanly, and load the Banjarmasin regions.

use entity::enums::RegionLevel;
use entity::region;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::support::db_test;

db_test!(migrations_run_down_and_up_again, |db| async move {
    let kelurahan = || region::Entity::find().filter(region::Column::Level.eq(RegionLevel::Subdistrict)).count(&db.db);
    assert_eq!(kelurahan().await.expect("count"), 52);
    Migrator::down(&db.db, None).await.expect("down");
    assert!(region::Entity::find().count(&db.db).await.is_err(), "regions table should be gone");
    Migrator::up(&db.db, None).await.expect("up again");
    assert_eq!(kelurahan().await.expect("count"), 52);
    let districts = region::Entity::find()
        .filter(region::Column::Level.eq(RegionLevel::District))
        .count(&db.db)
        .await
        .expect("count");
    assert_eq!(districts, 5);
    db.seed(30).await;
});
