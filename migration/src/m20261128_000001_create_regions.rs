//! The Kemendagri region hierarchy of Kota Banjarmasin, as reference data loaded from the official codes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

use crate::columns::{drop_tables, index, one_of};

/// Official Kemendagri codes: province 63 > city 63.71 > 5 kecamatan > 52 kelurahan.
const REGIONS_CSV: &str = include_str!("../data/banjarmasin_regions.csv");

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("regions")
                    .col(col::string("code").primary_key())
                    .col(one_of("level", &["PROVINCE", "CITY", "DISTRICT", "SUBDISTRICT"]))
                    .col(col::string("name"))
                    .col(col::string_null("parent_code"))
                    .foreign_key(&mut crate::columns::fk("regions", "parent_code", "regions", "code"))
                    .take(),
            )
            .await?;
        index(manager, "regions", &["parent_code"]).await?;

        let mut insert = Query::insert();
        insert.into_table("regions").columns(["code", "level", "name", "parent_code"]);
        // Parents come before children in the file, so the foreign key holds row by row. The file has
        // stray carriage returns inside fields, so every field is trimmed.
        for line in REGIONS_CSV.lines().skip(1).filter(|line| !line.trim().is_empty()) {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [code, level, name, parent] = fields[..] else {
                return Err(DbErr::Migration(format!("malformed region line: {line}")));
            };
            let parent = (!parent.is_empty()).then(|| parent.to_owned());
            insert.values_panic([code.into(), level.into(), name.into(), parent.into()]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite empties a table row by row before dropping it; unlinking children from their parents
        // first keeps the self-referencing foreign key satisfied throughout.
        manager.exec_stmt(Query::update().table("regions").value("parent_code", Option::<String>::None).take()).await?;
        drop_tables(manager, &["regions"]).await
    }
}
