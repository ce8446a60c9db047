//! The root Query type, merged from one object per domain noun.

use async_graphql::MergedObject;

mod case;
mod node;
mod organisation;
mod outcome;
mod person;
mod programme;
mod referral;
mod region;
mod stats;
mod volunteer;

pub use node::Node;

/// Every read entry point of the API.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    node::NodeQuery,
    case::CaseQuery,
    volunteer::VolunteerQuery,
    programme::ProgrammeQuery,
    outcome::OutcomeQuery,
    referral::ReferralQuery,
    organisation::OrganisationQuery,
    person::PersonQuery,
    region::RegionQuery,
    stats::StatsQuery,
);
