//! Root fields for volunteers.

use entity::volunteer;

use crate::graphql::types::volunteer::{Volunteer, VolunteerConnection, VolunteerFilter, VolunteerOrder};

root_fields!(
    VolunteerQuery, volunteer::Entity => Volunteer, Volunteer,
    VolunteerFilter, VolunteerOrder, VolunteerConnection,
    list: volunteers, "PSM volunteers, by name unless `orderBy` says otherwise.",
    one: volunteer, "A volunteer by global id.", "no volunteer has this id",
);
