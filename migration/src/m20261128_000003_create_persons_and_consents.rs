//! Persons (the citizens cases are about) and their consents.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

use crate::columns::{SEX, drop_tables, fk, index, instant, instant_null, one_of, stamps, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                stamps(table("persons"))
                    .col(col::string("full_name"))
                    // Sixteen digits; the application checks the digits, the database the length.
                    .col(col::string_null("nik").check(Expr::cust("length(nik) = 16")))
                    .col(col::date("birth_date"))
                    .col(one_of("sex", SEX))
                    .col(col::string_null("disability"))
                    .col(col::string("address"))
                    .col(col::string_null("phone"))
                    .col(col::string("kelurahan_code"))
                    .foreign_key(&mut fk("persons", "kelurahan_code", "regions", "code"))
                    .take(),
            )
            .await?;
        index(manager, "persons", &["nik"]).await?;
        index(manager, "persons", &["kelurahan_code"]).await?;
        index(manager, "persons", &["full_name"]).await?;
        index(manager, "persons", &["birth_date"]).await?;
        index(manager, "persons", &["sex"]).await?;
        index(manager, "persons", &["created_at"]).await?;

        manager
            .create_table(
                stamps(table("consents"))
                    .col(col::uuid("person_id"))
                    .col(one_of("scope", &["SERVICES", "SHARE_WITH_PARTNERS", "REPORTING"]))
                    .col(col::uuid_null("partner_organisation_id"))
                    .col(one_of("given_by", &["DATA_SUBJECT", "GUARDIAN"]))
                    .col(instant("given_at"))
                    .col(instant_null("expires_at"))
                    .col(instant_null("revoked_at"))
                    .check(Expr::cust("expires_at IS NULL OR expires_at > given_at"))
                    .check(Expr::cust("revoked_at IS NULL OR revoked_at >= given_at"))
                    .foreign_key(&mut fk("consents", "person_id", "persons", "id"))
                    .foreign_key(&mut fk("consents", "partner_organisation_id", "organisations", "id"))
                    .take(),
            )
            .await?;
        index(manager, "consents", &["person_id", "scope"]).await?;
        index(manager, "consents", &["partner_organisation_id"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["consents", "persons"]).await
    }
}
