//! Schema migrations of psm-api, for SQLite and PostgreSQL.
//!
//! Every `up` has a `down`. Value lists of enumerations are written out here, not imported from the
//! entity crate, because a migration is history: it must keep meaning what it meant when it ran.
//!
//! # Layout
//! - [`Migrator`]: the ordered list of migrations.
//! - `columns`: column helpers shared by the migrations (UTC instants, CHECKed enumerations).
//! - one `mYYYYMMDD_HHMMSS_<verb>_<noun>` module per migration.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261128_000001_create_regions;
mod m20261128_000002_create_organisations_and_volunteers;
mod m20261128_000003_create_persons_and_consents;
mod m20261128_000004_create_cases;
mod m20261128_000005_create_programmes;
mod m20261128_000006_create_referrals_and_outcomes;
mod m20261128_000010_create_access_and_audit;
mod m20261128_000011_add_versions;
mod m20261201_000001_flag_duplicate_persons;
mod m20261201_000002_reword_referral_notes;
mod m20261201_000012_add_partner_holds;
mod m20261201_000013_widen_audit_actions;
mod m20261201_000020_create_server_secret;
mod m20261201_000021_create_demo_keys;
mod m20261201_000030_add_key_budgets;
mod m20261201_000031_create_persisted_queries;
mod m20261201_000040_add_record_keys;
mod m20261201_000041_create_statistics_budgets;
mod m20261201_000050_create_statistics_tallies;
mod m20261202_000051_create_case_closures;
mod m20261202_000052_create_referral_tallies;
mod m20261202_000053_create_status_history;
mod m20261202_000054_mark_merged_history;

/// Runs psm-api's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_regions::Migration),
            Box::new(m20261128_000002_create_organisations_and_volunteers::Migration),
            Box::new(m20261128_000003_create_persons_and_consents::Migration),
            Box::new(m20261128_000004_create_cases::Migration),
            Box::new(m20261128_000005_create_programmes::Migration),
            Box::new(m20261128_000006_create_referrals_and_outcomes::Migration),
            Box::new(m20261128_000010_create_access_and_audit::Migration),
            Box::new(m20261128_000011_add_versions::Migration),
            Box::new(m20261201_000001_flag_duplicate_persons::Migration),
            Box::new(m20261201_000002_reword_referral_notes::Migration),
            Box::new(m20261201_000012_add_partner_holds::Migration),
            Box::new(m20261201_000013_widen_audit_actions::Migration),
            Box::new(m20261201_000020_create_server_secret::Migration),
            Box::new(m20261201_000021_create_demo_keys::Migration),
            Box::new(m20261201_000030_add_key_budgets::Migration),
            Box::new(m20261201_000031_create_persisted_queries::Migration),
            Box::new(m20261201_000040_add_record_keys::Migration),
            Box::new(m20261201_000041_create_statistics_budgets::Migration),
            Box::new(m20261201_000050_create_statistics_tallies::Migration),
            Box::new(m20261202_000051_create_case_closures::Migration),
            Box::new(m20261202_000052_create_referral_tallies::Migration),
            Box::new(m20261202_000053_create_status_history::Migration),
            Box::new(m20261202_000054_mark_merged_history::Migration),
        ]
    }
}
