//! Who may call the API (keys), what they did (the audit trail), retried writes (idempotency keys) and
//! each partner's ordered feed of referral changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

use crate::columns::{drop_tables, fk, index, instant, instant_null, one_of, table};

const ROLES: &[&str] = &["ADMIN", "STAFF", "VOLUNTEER", "PARTNER", "DASHBOARD"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("api_keys")
                    .col(col::string_uniq("prefix"))
                    .col(col::string("secret_hash"))
                    .col(one_of("role", ROLES))
                    .col(col::uuid_null("organisation_id"))
                    .col(col::uuid_null("volunteer_id"))
                    .col(col::string("name"))
                    .col(instant("created_at"))
                    .col(instant_null("last_used_at"))
                    .col(instant_null("revoked_at"))
                    .check(Expr::cust("(role = 'PARTNER') = (organisation_id IS NOT NULL)"))
                    .check(Expr::cust("(role = 'VOLUNTEER') = (volunteer_id IS NOT NULL)"))
                    .foreign_key(&mut fk("api_keys", "organisation_id", "organisations", "id"))
                    .foreign_key(&mut fk("api_keys", "volunteer_id", "volunteers", "id"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                table("audit_events")
                    .col(instant("occurred_at"))
                    .col(col::uuid_null("api_key_id"))
                    .col(col::string("actor"))
                    .col(one_of("action", &["READ", "CREATE", "UPDATE", "EXPORT"]))
                    .col(col::string("subject_type"))
                    .col(col::string("subject_id"))
                    .col(col::uuid_null("person_id"))
                    .col(col::text_null("fields"))
                    .col(col::text_null("before"))
                    .col(col::text_null("after"))
                    .foreign_key(&mut fk("audit_events", "api_key_id", "api_keys", "id"))
                    .take(),
            )
            .await?;
        index(manager, "audit_events", &["occurred_at"]).await?;
        index(manager, "audit_events", &["person_id", "occurred_at"]).await?;
        index(manager, "audit_events", &["api_key_id", "occurred_at"]).await?;
        index(manager, "audit_events", &["subject_type", "subject_id"]).await?;
        index(manager, "audit_events", &["action", "occurred_at"]).await?;

        manager
            .create_table(
                table("idempotency_keys")
                    .col(col::string("owner"))
                    .col(col::string("key"))
                    .col(col::string("operation"))
                    .col(col::string("request_hash"))
                    .col(col::text_null("response"))
                    .col(instant("created_at"))
                    .col(instant_null("completed_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_idempotency_keys_owner_key")
                    .table("idempotency_keys")
                    .col("owner")
                    .col("key")
                    .unique()
                    .take(),
            )
            .await?;

        // One row per partner: the position of its feed's last change. Writers lock it while they append,
        // so positions become visible in order even when transactions commit out of order.
        manager
            .create_table(
                Table::create()
                    .table("partner_feeds")
                    .col(col::uuid("organisation_id").primary_key())
                    .col(col::big_integer("last_position").default(0))
                    .foreign_key(&mut fk("partner_feeds", "organisation_id", "organisations", "id"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                table("referral_changes")
                    .col(col::uuid("organisation_id"))
                    .col(col::big_integer("position"))
                    .col(col::uuid("referral_id"))
                    .col(one_of("kind", &["UPSERT", "TOMBSTONE"]))
                    .col(col::string("cause"))
                    .col(instant("occurred_at"))
                    .foreign_key(&mut fk("referral_changes", "organisation_id", "organisations", "id"))
                    .foreign_key(&mut fk("referral_changes", "referral_id", "referrals", "id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_referral_changes_organisation_id_position")
                    .table("referral_changes")
                    .col("organisation_id")
                    .col("position")
                    .unique()
                    .take(),
            )
            .await?;
        index(manager, "referral_changes", &["referral_id"]).await?;

        // Why a referral was sent without the person's consent to share (STAFF override), if it was.
        manager
            .alter_table(Table::alter().table("referrals").add_column(col::text_null("consent_override_reason")).take())
            .await?;

        // A consent whose expiry has been turned into feed tombstones.
        manager
            .alter_table(Table::alter().table("consents").add_column(instant_null("lapse_recorded_at")).take())
            .await?;
        index(manager, "consents", &["expires_at"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_consents_expires_at").table("consents").to_owned()).await?;
        manager.alter_table(Table::alter().table("consents").drop_column("lapse_recorded_at").take()).await?;
        manager.alter_table(Table::alter().table("referrals").drop_column("consent_override_reason").take()).await?;
        drop_tables(manager, &["referral_changes", "partner_feeds", "idempotency_keys", "audit_events", "api_keys"])
            .await
    }
}
