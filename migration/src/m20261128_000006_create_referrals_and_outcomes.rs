//! Referrals with their append-only event log, and outcomes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

use crate::columns::{drop_tables, fk, index, instant, instant_null, one_of, one_of_null, stamps, table};

const REFERRAL_STATUS: &[&str] = &["SENT", "ACCEPTED", "DECLINED", "COMPLETED", "WITHDRAWN", "EXPIRED"];
const REFERRAL_REASON: &[&str] = &[
    "NOT_ELIGIBLE",
    "NO_CAPACITY",
    "COULD_NOT_CONTACT",
    "CLIENT_DECLINED",
    "DUPLICATE",
    "OUT_OF_AREA",
    "REFERRED_ELSEWHERE",
    "NO_RESPONSE",
    "OTHER",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                stamps(table("referrals"))
                    .col(col::uuid("case_id"))
                    .col(col::uuid("from_organisation_id"))
                    .col(col::uuid("to_organisation_id"))
                    .col(one_of("status", REFERRAL_STATUS))
                    .col(one_of_null("reason", REFERRAL_REASON))
                    .col(col::text_null("note"))
                    .col(instant("sent_at"))
                    .col(instant("respond_by"))
                    .col(instant_null("responded_at"))
                    .col(instant_null("completed_at"))
                    .col(col::integer("version").default(1))
                    .check(Expr::cust("from_organisation_id <> to_organisation_id"))
                    .check(Expr::cust("respond_by > sent_at"))
                    .check(Expr::cust("responded_at IS NULL OR responded_at >= sent_at"))
                    .check(Expr::cust("(status = 'COMPLETED') = (completed_at IS NOT NULL)"))
                    .foreign_key(&mut fk("referrals", "case_id", "cases", "id"))
                    .foreign_key(&mut fk("referrals", "from_organisation_id", "organisations", "id"))
                    .foreign_key(&mut fk("referrals", "to_organisation_id", "organisations", "id"))
                    .take(),
            )
            .await?;
        index(manager, "referrals", &["case_id"]).await?;
        index(manager, "referrals", &["to_organisation_id", "updated_at"]).await?;
        index(manager, "referrals", &["from_organisation_id", "sent_at"]).await?;
        index(manager, "referrals", &["status", "sent_at"]).await?;
        index(manager, "referrals", &["sent_at"]).await?;
        index(manager, "referrals", &["updated_at"]).await?;
        index(manager, "referrals", &["respond_by"]).await?;
        index(manager, "referrals", &["reason"]).await?;

        manager
            .create_table(
                table("referral_events")
                    .col(col::uuid("referral_id"))
                    .col(one_of_null("from_status", REFERRAL_STATUS))
                    .col(one_of("to_status", REFERRAL_STATUS))
                    .col(one_of_null("reason", REFERRAL_REASON))
                    .col(col::string("actor"))
                    .col(instant("occurred_at"))
                    .col(col::text_null("note"))
                    .foreign_key(&mut fk("referral_events", "referral_id", "referrals", "id"))
                    .take(),
            )
            .await?;
        index(manager, "referral_events", &["referral_id", "occurred_at"]).await?;

        manager
            .create_table(
                stamps(table("outcomes"))
                    .col(col::uuid("case_id"))
                    .col(col::uuid_null("referral_id"))
                    .col(col::uuid_null("programme_id"))
                    .col(one_of(
                        "outcome_type",
                        &[
                            "GOT_HELP",
                            "SERVICE_DELIVERED",
                            "HOUSE_REHABILITATED",
                            "ENROLLED_IN_PROGRAMME",
                            "PROPOSED_TO_DTSEN",
                            "NOT_ELIGIBLE",
                            "COULD_NOT_CONTACT",
                            "MOVED_AWAY",
                            "DECEASED",
                            "OTHER",
                        ],
                    ))
                    .col(one_of("outcome_group", &["SUCCESS", "NEEDS_FOLLOW_UP", "NEUTRAL"]))
                    .col(col::string("recorded_by"))
                    .col(instant("recorded_at"))
                    .col(col::boolean("verified"))
                    .col(instant_null("verified_at"))
                    .col(col::text_null("note"))
                    .check(Expr::cust("verified = (verified_at IS NOT NULL)"))
                    .foreign_key(&mut fk("outcomes", "case_id", "cases", "id"))
                    .foreign_key(&mut fk("outcomes", "referral_id", "referrals", "id"))
                    .foreign_key(&mut fk("outcomes", "programme_id", "programmes", "id"))
                    .take(),
            )
            .await?;
        index(manager, "outcomes", &["case_id"]).await?;
        index(manager, "outcomes", &["recorded_at"]).await?;
        index(manager, "outcomes", &["outcome_type", "recorded_at"]).await?;
        index(manager, "outcomes", &["outcome_group", "recorded_at"]).await?;
        index(manager, "outcomes", &["verified"]).await?;
        index(manager, "outcomes", &["programme_id"]).await?;
        index(manager, "outcomes", &["referral_id"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["outcomes", "referral_events", "referrals"]).await
    }
}
