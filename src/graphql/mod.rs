//! The GraphQL schema: types, root fields, loaders and the pagination machinery.
//!
//! # Layout
//! - [`connection`]: Relay connections over keyset cursors, root and nested.
//! - [`ids`]: opaque global ids.
//! - [`loaders`]: DataLoaders through which every relation is followed.
//! - [`types`]: one module per domain noun (object type, filter, orderBy).
//! - [`query`]: the root Query type, one object per noun merged into [`QueryRoot`].

pub mod connection;
pub mod ids;
pub mod loaders;
pub mod query;
pub mod types;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, EmptySubscription, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::config::ApiConfig;
use crate::graphql::loaders::{ChildrenLoader, CountLoader, PageLoader, RowLoader};
pub use query::QueryRoot;

/// The schema type served by psm-api.
pub type PsmSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// The schema without data: enough to print the SDL.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, EmptyMutation, EmptySubscription> {
    Schema::build(QueryRoot::default(), EmptyMutation, EmptySubscription).register_output_type::<query::Node>()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The schema bound to a database. Loaders are created per request (see [`request_data`]) so that no
/// cached row outlives the request that read it.
pub fn schema(config: ApiConfig) -> PsmSchema {
    schema_builder().data(config).finish()
}

/// Adds the per-request data every resolver needs: the connection and a fresh set of loaders.
pub fn request_data(request: async_graphql::Request, db: &DatabaseConnection) -> async_graphql::Request {
    fn loader<T: Send + Sync + 'static>(loader: T) -> DataLoader<T> {
        DataLoader::new(loader, tokio::spawn)
    }
    use entity::*;
    request
        .data(db.clone())
        .data(loader(RowLoader::<region::Entity>::new(db.clone())))
        .data(loader(RowLoader::<organisation::Entity>::new(db.clone())))
        .data(loader(RowLoader::<volunteer::Entity>::new(db.clone())))
        .data(loader(RowLoader::<training_attendance::Entity>::new(db.clone())))
        .data(loader(RowLoader::<award::Entity>::new(db.clone())))
        .data(loader(RowLoader::<person::Entity>::new(db.clone())))
        .data(loader(RowLoader::<consent::Entity>::new(db.clone())))
        .data(loader(RowLoader::<case::Entity>::new(db.clone())))
        .data(loader(RowLoader::<case_status_change::Entity>::new(db.clone())))
        .data(loader(RowLoader::<programme::Entity>::new(db.clone())))
        .data(loader(RowLoader::<enrollment::Entity>::new(db.clone())))
        .data(loader(RowLoader::<referral::Entity>::new(db.clone())))
        .data(loader(RowLoader::<referral_event::Entity>::new(db.clone())))
        .data(loader(RowLoader::<outcome::Entity>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::region::RegionChildren>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::volunteer::VolunteerTrainings>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::volunteer::VolunteerAwards>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::person::PersonConsents>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::person::PersonCases>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::case::CaseCategories>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::case::CaseStatusHistory>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::case::CaseEnrollments>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::case::CaseReferrals>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::case::CaseOutcomes>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::programme::ProgrammeCategories>::new(db.clone())))
        .data(loader(ChildrenLoader::<types::referral::ReferralEvents>::new(db.clone())))
        .data(loader(PageLoader::<types::volunteer::ReportedCases>::new(db.clone())))
        .data(loader(CountLoader::<types::volunteer::ReportedCases>::new(db.clone())))
        .data(loader(PageLoader::<types::programme::ProgrammeEnrollments>::new(db.clone())))
        .data(loader(CountLoader::<types::programme::ProgrammeEnrollments>::new(db.clone())))
        .data(loader(PageLoader::<types::referral::ReceivedReferrals>::new(db.clone())))
        .data(loader(CountLoader::<types::referral::ReceivedReferrals>::new(db.clone())))
}

/// Executes a request against the database. Errors raised by async-graphql itself while parsing,
/// validating or coercing input (an unknown enum value, an instant without an offset) carry no code;
/// they are the client's to fix, so they get `BAD_USER_INPUT`. Resolver errors already carry theirs.
pub async fn execute(
    schema: &PsmSchema,
    request: async_graphql::Request,
    db: &DatabaseConnection,
) -> async_graphql::Response {
    let mut response = schema.execute(request_data(request, db)).await;
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    response
}
