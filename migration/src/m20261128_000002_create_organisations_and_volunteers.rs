//! Organisations, PSM volunteers, their training (Bimtek) attendance and awards.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;
use sea_orm_migration::sea_orm::ExprTrait;

use crate::columns::{SEX, drop_tables, fk, index, one_of, stamps, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                stamps(table("organisations"))
                    .col(col::string_uniq("code"))
                    .col(col::string("name"))
                    .col(one_of(
                        "kind",
                        &[
                            "DINSOS",
                            "NGO",
                            "LKS",
                            "KARANG_TARUNA",
                            "PUSKESMAS",
                            "KELURAHAN_OFFICE",
                            "KECAMATAN_OFFICE",
                            "OTHER",
                        ],
                    ))
                    .col(col::string_null("kelurahan_code"))
                    .foreign_key(&mut fk("organisations", "kelurahan_code", "regions", "code"))
                    .take(),
            )
            .await?;
        index(manager, "organisations", &["name"]).await?;
        index(manager, "organisations", &["kind"]).await?;
        index(manager, "organisations", &["created_at"]).await?;

        manager
            .create_table(
                stamps(table("volunteers"))
                    .col(col::string("full_name"))
                    .col(col::string_null("phone"))
                    .col(one_of("gender", SEX))
                    .col(col::integer("birth_year").check(Expr::col("birth_year").between(1900, 2100)))
                    .col(one_of(
                        "psks_type",
                        &[
                            "PSM",
                            "TKSK",
                            "KARANG_TARUNA",
                            "LKS",
                            "WPKS",
                            "PENYULUH_SOSIAL",
                            "LK3",
                            "KELUARGA_PIONEER",
                            "WKSBM",
                            "DUNIA_USAHA",
                            "PEKSOS_PROFESIONAL",
                            "TAGANA",
                        ],
                    ))
                    .col(one_of("status", &["ACTIVE", "INACTIVE", "RETIRED"]))
                    .col(col::date("served_since"))
                    .col(col::string("home_kelurahan_code"))
                    .col(col::string("kelurahan_code"))
                    .foreign_key(&mut fk("volunteers", "home_kelurahan_code", "regions", "code"))
                    .foreign_key(&mut fk("volunteers", "kelurahan_code", "regions", "code"))
                    .take(),
            )
            .await?;
        index(manager, "volunteers", &["status"]).await?;
        index(manager, "volunteers", &["psks_type"]).await?;
        index(manager, "volunteers", &["gender"]).await?;
        index(manager, "volunteers", &["kelurahan_code"]).await?;
        index(manager, "volunteers", &["served_since"]).await?;
        index(manager, "volunteers", &["full_name"]).await?;
        index(manager, "volunteers", &["created_at"]).await?;

        manager
            .create_table(
                stamps(table("training_attendances"))
                    .col(col::uuid("volunteer_id"))
                    .col(col::string("course"))
                    .col(col::uuid_null("organiser_id"))
                    .col(col::date("attended_on"))
                    .col(col::integer("hours").check(Expr::col("hours").gte(0)))
                    .foreign_key(&mut fk("training_attendances", "volunteer_id", "volunteers", "id"))
                    .foreign_key(&mut fk("training_attendances", "organiser_id", "organisations", "id"))
                    .take(),
            )
            .await?;
        index(manager, "training_attendances", &["volunteer_id", "attended_on"]).await?;
        index(manager, "training_attendances", &["attended_on"]).await?;

        manager
            .create_table(
                stamps(table("awards"))
                    .col(col::uuid("volunteer_id"))
                    .col(col::string("title"))
                    .col(col::date("awarded_on"))
                    .col(col::string("awarded_by"))
                    .foreign_key(&mut fk("awards", "volunteer_id", "volunteers", "id"))
                    .take(),
            )
            .await?;
        index(manager, "awards", &["volunteer_id", "awarded_on"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["awards", "training_attendances", "volunteers", "organisations"]).await
    }
}
