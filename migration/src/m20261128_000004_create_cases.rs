//! Cases, their PPKS categories and their append-only status history.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

use crate::columns::{
    PPKS_CATEGORIES, drop_tables, fk, index, instant, instant_null, one_of, one_of_null, stamps, table,
};

const CASE_STATUS: &[&str] = &["NEW", "ASSESSMENT", "IN_SERVICE", "REFERRED", "CLOSED", "REOPENED"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                stamps(table("cases"))
                    .col(col::string_uniq("reference_number"))
                    .col(col::uuid("person_id"))
                    .col(col::uuid_null("reporting_volunteer_id"))
                    .col(col::string("kelurahan_code"))
                    .col(one_of("urgency", &["LOW", "NORMAL", "HIGH", "EMERGENCY"]))
                    .col(one_of("source", &["PSM_VISIT", "WALK_IN", "HOTLINE", "KELURAHAN_MEETING"]))
                    .col(one_of("status", CASE_STATUS))
                    .col(col::text("summary"))
                    .col(instant("opened_at"))
                    .col(instant_null("closed_at"))
                    .col(one_of_null(
                        "closure_reason",
                        &["RESOLVED", "REFERRED_ELSEWHERE", "NOT_ELIGIBLE", "COULD_NOT_CONTACT", "MOVED_AWAY", "DECEASED", "DUPLICATE"],
                    ))
                    .col(col::integer("version").default(1))
                    // A closed case has a closing instant and reason; an open one has neither.
                    .check(Expr::cust(
                        "(status = 'CLOSED') = (closed_at IS NOT NULL) AND (closed_at IS NULL) = (closure_reason IS NULL)",
                    ))
                    .check(Expr::cust("closed_at IS NULL OR closed_at >= opened_at"))
                    .foreign_key(&mut fk("cases", "person_id", "persons", "id"))
                    .foreign_key(&mut fk("cases", "reporting_volunteer_id", "volunteers", "id"))
                    .foreign_key(&mut fk("cases", "kelurahan_code", "regions", "code"))
                    .take(),
            )
            .await?;
        index(manager, "cases", &["opened_at"]).await?;
        index(manager, "cases", &["status", "opened_at"]).await?;
        index(manager, "cases", &["kelurahan_code", "opened_at"]).await?;
        index(manager, "cases", &["reporting_volunteer_id", "opened_at"]).await?;
        index(manager, "cases", &["person_id"]).await?;
        index(manager, "cases", &["urgency"]).await?;
        index(manager, "cases", &["source"]).await?;
        index(manager, "cases", &["updated_at"]).await?;
        index(manager, "cases", &["closed_at"]).await?;

        manager
            .create_table(
                Table::create()
                    .table("case_categories")
                    .col(col::uuid("case_id"))
                    .col(one_of("category", PPKS_CATEGORIES))
                    .primary_key(Index::create().col("case_id").col("category"))
                    .foreign_key(&mut fk("case_categories", "case_id", "cases", "id"))
                    .take(),
            )
            .await?;
        index(manager, "case_categories", &["category", "case_id"]).await?;

        manager
            .create_table(
                table("case_status_changes")
                    .col(col::uuid("case_id"))
                    .col(one_of_null("from_status", CASE_STATUS))
                    .col(one_of("to_status", CASE_STATUS))
                    .col(instant("changed_at"))
                    .col(col::string("changed_by"))
                    .col(col::text_null("note"))
                    .foreign_key(&mut fk("case_status_changes", "case_id", "cases", "id"))
                    .take(),
            )
            .await?;
        index(manager, "case_status_changes", &["case_id", "changed_at"]).await?;
        index(manager, "case_status_changes", &["changed_at"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["case_status_changes", "case_categories", "cases"]).await
    }
}
