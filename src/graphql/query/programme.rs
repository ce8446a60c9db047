//! Root fields for programmes.

use entity::programme;

use crate::graphql::types::programme::{Programme, ProgrammeConnection, ProgrammeFilter, ProgrammeOrder};

root_fields!(
    ProgrammeQuery, programme::Entity => Programme, Programme,
    ProgrammeFilter, ProgrammeOrder, ProgrammeConnection,
    list: programmes, "Programmes, by name unless `orderBy` says otherwise.",
    one: programme, "A programme by global id.", "no programme has this id",
);
