//! `referrals.partner_holds`: whether the receiving partner holds the referral, i.e. whether the last
//! entry of its feed about the referral is an `UPSERT`. The API shows a partner exactly the referrals
//! it holds (and their cases, persons, events and outcomes), so that what the feed tells a replaying
//! client to keep and what the API lets it read and act on are the same set at every moment.
//!
//! Existing referrals are carried over from their feed: held unless their latest change is a
//! `TOMBSTONE`. The index serves the partner's scope (its held referrals) from the index alone.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("referrals").add_column(col::boolean("partner_holds").default(true)).take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE referrals SET partner_holds = FALSE WHERE id IN ( \
                   SELECT c.referral_id FROM referral_changes c \
                   WHERE c.kind = 'TOMBSTONE' AND c.position = ( \
                     SELECT MAX(l.position) FROM referral_changes l \
                     WHERE l.organisation_id = c.organisation_id AND l.referral_id = c.referral_id))",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_referrals_held_by_partner")
                    .table("referrals")
                    .col("to_organisation_id")
                    .col("partner_holds")
                    .col("case_id")
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_referrals_held_by_partner").table("referrals").to_owned()).await?;
        manager.alter_table(Table::alter().table("referrals").drop_column("partner_holds").take()).await?;
        Ok(())
    }
}
