//! Root fields for outcomes.

use entity::outcome;

use crate::graphql::types::outcome::{Outcome, OutcomeConnection, OutcomeFilter, OutcomeOrder};

root_fields!(
    OutcomeQuery, outcome::Entity => Outcome, Outcome,
    OutcomeFilter, OutcomeOrder, OutcomeConnection,
    list: outcomes, "Outcomes, newest recorded first unless `orderBy` says otherwise.",
    one: outcome, "An outcome by global id.", "no outcome has this id",
);
