//! Root fields for organisations.

use entity::organisation;

use crate::graphql::types::organisation::{
    Organisation, OrganisationConnection, OrganisationFilter, OrganisationOrder,
};

root_fields!(
    OrganisationQuery, organisation::Entity => Organisation, Organisation,
    OrganisationFilter, OrganisationOrder, OrganisationConnection,
    list: organisations, "Organisations (Dinsos and its partners), by name unless `orderBy` says otherwise.",
    one: organisation, "An organisation by global id.", "no organisation has this id",
);
