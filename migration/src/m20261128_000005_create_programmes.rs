//! Programmes, the categories they are open to, and the cases enrolled in them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;
use sea_orm_migration::sea_orm::ExprTrait;

use crate::columns::{PPKS_CATEGORIES, drop_tables, fk, index, instant, instant_null, one_of, stamps, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                stamps(table("programmes"))
                    .col(col::string_uniq("code"))
                    .col(col::string("name"))
                    .col(one_of(
                        "kind",
                        &[
                            "HOUSE_REHABILITATION",
                            "ELDERLY_ACCOMPANIMENT",
                            "DTSEN_PROPOSAL",
                            "SOCIAL_ASSISTANCE",
                            "TRAINING",
                            "DISABILITY_SUPPORT",
                            "CHILD_PROTECTION",
                        ],
                    ))
                    .col(col::text("description"))
                    .col(col::uuid("owner_organisation_id"))
                    .col(col::date("starts_on"))
                    .col(col::date_null("ends_on"))
                    .col(col::integer("target").check(Expr::col("target").gte(0)))
                    .col(col::big_integer("budget_idr").check(Expr::col("budget_idr").gte(0)))
                    .check(Expr::cust("ends_on IS NULL OR ends_on >= starts_on"))
                    .foreign_key(&mut fk("programmes", "owner_organisation_id", "organisations", "id"))
                    .take(),
            )
            .await?;
        index(manager, "programmes", &["name"]).await?;
        index(manager, "programmes", &["starts_on"]).await?;
        index(manager, "programmes", &["owner_organisation_id"]).await?;
        index(manager, "programmes", &["kind"]).await?;
        index(manager, "programmes", &["created_at"]).await?;

        manager
            .create_table(
                Table::create()
                    .table("programme_categories")
                    .col(col::uuid("programme_id"))
                    .col(one_of("category", PPKS_CATEGORIES))
                    .primary_key(Index::create().col("programme_id").col("category"))
                    .foreign_key(&mut fk("programme_categories", "programme_id", "programmes", "id"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                stamps(table("enrollments"))
                    .col(col::uuid("programme_id"))
                    .col(col::uuid("case_id"))
                    .col(one_of("status", &["ENROLLED", "COMPLETED", "EXITED"]))
                    .col(instant("enrolled_at"))
                    .col(instant_null("exited_at"))
                    .col(col::string_null("exit_reason"))
                    .check(Expr::cust("exited_at IS NULL OR exited_at >= enrolled_at"))
                    .check(Expr::cust("(status = 'ENROLLED') = (exited_at IS NULL)"))
                    .foreign_key(&mut fk("enrollments", "programme_id", "programmes", "id"))
                    .foreign_key(&mut fk("enrollments", "case_id", "cases", "id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_enrollments_programme_id_case_id")
                    .table("enrollments")
                    .col("programme_id")
                    .col("case_id")
                    .unique()
                    .take(),
            )
            .await?;
        index(manager, "enrollments", &["case_id"]).await?;
        index(manager, "enrollments", &["programme_id", "status"]).await?;
        index(manager, "enrollments", &["programme_id", "enrolled_at"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["enrollments", "programme_categories", "programmes"]).await
    }
}
