//! Root fields for persons.

use entity::person;

use crate::graphql::types::person::{Person, PersonConnection, PersonFilter, PersonOrder};

root_fields!(
    PersonQuery, person::Entity => Person, Person,
    PersonFilter, PersonOrder, PersonConnection,
    list: persons, "Persons the cases are about, by name unless `orderBy` says otherwise. Personal data: dashboards should prefer aggregates.",
    one: person, "A person by global id.", "no person has this id",
);
