//! Scoped data access: the rows each caller may see, as SQL, and the one handle every read goes through.
//!
//! [`Scoped`] is made from the caller's [`Viewer`] once per request (or per command); its
//! [`find`](Scoped::find) is the only way the read side starts a `SELECT` on a guarded entity, and
//! [`ids`](Scoped::ids) the only way a filter reaches into a related entity, so a filter on a related
//! entity applies that entity's scope for the caller (no yes/no oracle on rows it may not read).
//!
//! Every entity implements [`Guarded`]; the conditions follow the tables in
//! [`policy`](crate::service::policy): [`rows`] for every read, and [`counted`] for the one handle the
//! statistics engine counts through ([`Scoped::counting`]), whose figures leave only through disclosure
//! control. An entity without an impl cannot be loaded, listed, paged or
//! filtered on (the read machinery requires `Guarded`), and the test `scope::every_table_has_a_scope`
//! fails when a table of the database has no scope here.

use entity::enums::{ConsentScope, Role};
use entity::{
    audit_event, award, case, case_category, case_status_change, consent, enrollment, organisation, outcome, person,
    programme, programme_category, referral, referral_event, region, training_attendance, volunteer,
};
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryTrait, Select};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::service::policy::{Kind, Rows, counted, rows};
use crate::service::reference::Reference;

/// What a handle reads rows for: to serve them ([`rows`]), or to count them into statistics
/// ([`counted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Lists, lookups, nested rows and their filters.
    Rows,
    /// The statistics engine's grouped counts, and the filters of statistics requests.
    Counts,
}

/// An entity whose rows some callers may not see.
pub trait Guarded: EntityTrait {
    /// The rows `viewer` may see (or count, by `reading`); `None` when it may see all of them.
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition>;
}

/// The read handle of one caller: every read of the API starts here.
#[derive(Clone)]
pub struct Scoped {
    db: DatabaseConnection,
    viewer: Viewer,
    reading: Reading,
    reference: Reference,
}

impl Scoped {
    pub fn new(db: DatabaseConnection, viewer: Viewer) -> Scoped {
        Scoped { db, viewer, reading: Reading::Rows, reference: Reference::default() }
    }

    /// The handle reading reference data from `reference`, the directory the process shares between
    /// requests (see [`reference`](super::reference)).
    pub fn with_reference(self, reference: &Reference) -> Scoped {
        Scoped { reference: reference.clone(), ..self }
    }

    /// The handle the statistics engine counts through: the rows [`counted`] lets the caller's figures
    /// count (city-wide for the roles that read statistics, even a DASHBOARD key that lists no case).
    /// Only the statistics resolvers take it, and what they read leaves only as figures through
    /// disclosure control; never hand it to a loader or a list.
    pub fn counting(&self) -> Scoped {
        Scoped { reading: Reading::Counts, ..self.clone() }
    }

    /// Who is reading.
    pub fn viewer(&self) -> &Viewer {
        &self.viewer
    }

    /// The connection, to run statements built by this handle (and for commands, which check scope
    /// through their write unit).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The rows of `E` the caller may see.
    pub fn find<E: Guarded>(&self) -> Select<E> {
        E::find().filter(self.condition::<E>())
    }

    /// Whether the caller's rows of `E` are all of them: only then may figures be read from tallies
    /// that count every row (see [`tallies`](crate::service::tallies)).
    pub fn counts_all<E: Guarded>(&self) -> bool {
        E::scope(&self.viewer, self.reading).is_none()
    }

    /// The condition limiting `E` to the caller's rows (everything when unrestricted).
    pub fn condition<E: Guarded>(&self) -> Condition {
        E::scope(&self.viewer, self.reading).unwrap_or_else(Condition::all)
    }

    /// The regions with these codes that the caller may see. From the shared directory when the caller
    /// may see every region (every role today); from the database otherwise, and for codes the
    /// directory does not hold.
    pub async fn regions(&self, codes: &[String]) -> Result<Vec<region::Model>, DbErr> {
        if region::Entity::scope(&self.viewer, self.reading).is_some() {
            return self
                .find::<region::Entity>()
                .filter(region::Column::Code.is_in(codes.iter().cloned()))
                .all(&self.db)
                .await;
        }
        let directory = self.reference.regions(&self.db).await?;
        let mut found = Vec::with_capacity(codes.len());
        let mut missing = Vec::new();
        for code in codes {
            match directory.get(code) {
                Some(row) => found.push(row.clone()),
                None => missing.push(code.clone()),
            }
        }
        if !missing.is_empty() {
            found.extend(region::Entity::find().filter(region::Column::Code.is_in(missing)).all(&self.db).await?);
        }
        Ok(found)
    }

    /// `column` of the rows of `E` the caller may see that satisfy `condition`: the subquery a filter on
    /// a related entity uses, so that it can never match through rows the caller may not read.
    pub fn ids<E: Guarded>(&self, column: E::Column, condition: Condition) -> SelectStatement {
        let mut select = E::find().filter(self.condition::<E>()).filter(condition).into_query();
        select.clear_selects();
        select.column((E::default(), column));
        select
    }
}

/// The rows of `E` `viewer` may see, as a condition that can always be added (everything when
/// unrestricted): what commands check their targets against.
pub fn scope<E: Guarded>(viewer: &Viewer) -> Condition {
    E::scope(viewer, Reading::Rows).unwrap_or_else(Condition::all)
}

/// No row at all.
fn nothing() -> Option<Condition> {
    Some(Condition::all().add(Expr::cust("1 = 0")))
}

fn only(condition: impl sea_orm::sea_query::IntoCondition) -> Option<Condition> {
    Some(Condition::all().add(condition))
}

/// The id of the volunteer or organisation the viewer stands for; a key without one sees nothing.
fn own(id: Option<Uuid>) -> Uuid {
    id.unwrap_or(Uuid::nil())
}

/// The rows of `kind` the viewer sees (or counts): `None` for all, otherwise `restricted` (its own rows)
/// or nothing.
fn by_policy(
    viewer: &Viewer,
    reading: Reading,
    kind: Kind,
    restricted: impl FnOnce() -> Option<Condition>,
) -> Option<Condition> {
    let rule = match reading {
        Reading::Rows => rows(viewer.role, kind),
        Reading::Counts => counted(viewer.role, kind),
    };
    match rule {
        Rows::All => None,
        Rows::None => nothing(),
        Rows::Own => restricted(),
    }
}

/// The referrals a PARTNER holds, as a condition on a referral row: addressed to it, and not
/// tombstoned in its feed.
fn held_by(organisation: Uuid) -> Condition {
    Condition::all()
        .add(referral::Column::ToOrganisationId.eq(organisation))
        .add(referral::Column::PartnerHolds.eq(true))
}

/// Ids of the referrals a PARTNER holds: addressed to it, and not tombstoned in its feed.
fn held_referrals(organisation: Uuid) -> SelectStatement {
    Query::select()
        .column(referral::Column::Id)
        .from(referral::Entity)
        .and_where(referral::Column::ToOrganisationId.eq(organisation))
        .and_where(referral::Column::PartnerHolds.eq(true))
        .take()
}

/// Ids of the cases the viewer's own rows hang off: reported by a VOLUNTEER, referred to (and held by)
/// a PARTNER.
fn own_cases(viewer: &Viewer) -> SelectStatement {
    match viewer.role {
        Role::Partner => Query::select()
            .column(referral::Column::CaseId)
            .from(referral::Entity)
            .and_where(referral::Column::ToOrganisationId.eq(own(viewer.organisation_id)))
            .and_where(referral::Column::PartnerHolds.eq(true))
            .take(),
        _ => Query::select()
            .column(case::Column::Id)
            .from(case::Entity)
            .and_where(case::Column::ReportingVolunteerId.eq(own(viewer.volunteer_id)))
            .take(),
    }
}

/// Rows tied to a case (`column` holds the case id), visible with their case.
fn with_case(viewer: &Viewer, reading: Reading, column: impl ColumnTrait) -> Option<Condition> {
    by_policy(viewer, reading, Kind::CaseFile, || only(column.in_subquery(own_cases(viewer))))
}

/// Ids of the persons of the viewer's own cases.
fn own_persons(viewer: &Viewer) -> SelectStatement {
    Query::select()
        .column(case::Column::PersonId)
        .from(case::Entity)
        .and_where(case::Column::Id.in_subquery(own_cases(viewer)))
        .take()
}

/// Reference data every caller sees.
macro_rules! public {
    ($($module:ident),+) => {
        $(impl Guarded for $module::Entity {
            fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
                by_policy(viewer, reading, Kind::Reference, nothing)
            }
        })+
    };
}

public!(region, organisation, programme, programme_category);

impl Guarded for audit_event::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        by_policy(viewer, reading, Kind::Audit, nothing)
    }
}

impl Guarded for volunteer::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        by_policy(viewer, reading, Kind::Volunteer, || only(volunteer::Column::Id.eq(own(viewer.volunteer_id))))
    }
}

/// Rows of a volunteer's profile, visible with the volunteer.
macro_rules! of_volunteer {
    ($($module:ident),+) => {
        $(impl Guarded for $module::Entity {
            fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
                by_policy(viewer, reading, Kind::Volunteer, || {
                    only($module::Column::VolunteerId.eq(own(viewer.volunteer_id)))
                })
            }
        })+
    };
}

of_volunteer!(training_attendance, award);

impl Guarded for person::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        by_policy(viewer, reading, Kind::CaseFile, || only(person::Column::Id.in_subquery(own_persons(viewer))))
    }
}

impl Guarded for consent::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        by_policy(viewer, reading, Kind::CaseFile, || {
            let persons = consent::Column::PersonId.in_subquery(own_persons(viewer));
            match viewer.role {
                // A partner sees only the consents that let it hold the data: to share with partners,
                // with it or with any partner; never consents naming other organisations.
                Role::Partner => only(
                    Condition::all().add(persons).add(consent::Column::Scope.eq(ConsentScope::ShareWithPartners)).add(
                        Condition::any()
                            .add(consent::Column::PartnerOrganisationId.is_null())
                            .add(consent::Column::PartnerOrganisationId.eq(own(viewer.organisation_id))),
                    ),
                ),
                _ => only(persons),
            }
        })
    }
}

impl Guarded for case::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        with_case(viewer, reading, case::Column::Id)
    }
}

impl Guarded for case_category::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        with_case(viewer, reading, case_category::Column::CaseId)
    }
}

impl Guarded for case_status_change::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        with_case(viewer, reading, case_status_change::Column::CaseId)
    }
}

impl Guarded for enrollment::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        by_policy(viewer, reading, Kind::Enrollment, || only(enrollment::Column::CaseId.in_subquery(own_cases(viewer))))
    }
}

impl Guarded for referral::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        by_policy(viewer, reading, Kind::CaseFile, || match viewer.role {
            // Another partner's referral of the same case stays invisible, and so does a referral the
            // partner's feed told it to delete. The conditions of `held_referrals`, on the row itself: as
            // `id IN (SELECT id FROM referrals WHERE ...)` PostgreSQL joins the table to itself and probes
            // the primary key for every row the page's order index yields (6 ms for the first page of a
            // partner holding 1% of a million cases' referrals, 1 ms as plain conditions; and a parallel
            // plan when the statistics shift).
            Role::Partner => only(held_by(own(viewer.organisation_id))),
            _ => only(referral::Column::CaseId.in_subquery(own_cases(viewer))),
        })
    }
}

impl Guarded for referral_event::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        referral::Entity::scope(viewer, reading).map(|referrals| {
            let visible =
                Query::select().column(referral::Column::Id).from(referral::Entity).cond_where(referrals).take();
            Condition::all().add(referral_event::Column::ReferralId.in_subquery(visible))
        })
    }
}

impl Guarded for outcome::Entity {
    fn scope(viewer: &Viewer, reading: Reading) -> Option<Condition> {
        by_policy(viewer, reading, Kind::CaseFile, || match viewer.role {
            // A partner sees the outcomes recorded on the referrals it holds.
            Role::Partner => only(outcome::Column::ReferralId.in_subquery(held_referrals(own(viewer.organisation_id)))),
            _ => only(outcome::Column::CaseId.in_subquery(own_cases(viewer))),
        })
    }
}

/// Tables of the database that the API never serves as rows, with why; every other table must have
/// a [`Guarded`] entity (checked by a test against the migrated schema).
pub const UNSERVED_TABLES: &[(&str, &str)] = &[
    ("seaql_migrations", "migration bookkeeping"),
    ("api_keys", "read only by the key commands, never through a scoped read"),
    ("idempotency_keys", "read only by the write unit, for the key's owner"),
    ("partner_feeds", "feed positions, read only by the feed for the caller's organisation"),
    ("referral_changes", "the feed itself, read only for the caller's organisation"),
    ("server_secret", "the key that seals cursors, read once at startup"),
    ("demo_keys", "the public keys of the embedded demo database, read at startup to print them"),
    ("persisted_queries", "query texts by hash (persisted queries), no data of anyone"),
    ("statistics_budgets", "statistics cells each key published per day, read only by the budget check"),
    ("statistics_tally_state", "the offset the tallies were built for, read at start"),
    ("case_tallies", "counts of cases; read by the statistics only when `Scoped::counts_all` cases"),
    ("case_day_tallies", "counts of cases; read by the statistics only when `Scoped::counts_all` cases"),
    ("case_category_tallies", "counts of cases; read by the statistics only when `Scoped::counts_all` cases"),
    (
        "case_closures",
        "days to close of each closed case; read by rank only, for medians and percentiles over every case, \
         when `Scoped::counts_all` cases, published like every other duration",
    ),
    ("referral_tallies", "counts of referrals; read by the statistics only when `Scoped::counts_all` referrals"),
    (
        "referral_durations",
        "hours to answer and complete each referral; read by rank only, for medians over every referral, \
         when `Scoped::counts_all` referrals, published like every other duration",
    ),
    (
        "case_status_history",
        "changes of case counts by day; read by the statistics only when `Scoped::counts_all` cases",
    ),
    (
        "referral_status_history",
        "changes of referral counts by day; read by the statistics only when `Scoped::counts_all` referrals",
    ),
];

/// Tables of the [`Guarded`] entities.
pub fn guarded_tables() -> Vec<&'static str> {
    fn table<E: Guarded + Default>() -> &'static str {
        E::default().table_name()
    }
    vec![
        table::<region::Entity>(),
        table::<organisation::Entity>(),
        table::<programme::Entity>(),
        table::<programme_category::Entity>(),
        table::<audit_event::Entity>(),
        table::<volunteer::Entity>(),
        table::<training_attendance::Entity>(),
        table::<award::Entity>(),
        table::<person::Entity>(),
        table::<consent::Entity>(),
        table::<case::Entity>(),
        table::<case_category::Entity>(),
        table::<case_status_change::Entity>(),
        table::<enrollment::Entity>(),
        table::<referral::Entity>(),
        table::<referral_event::Entity>(),
        table::<outcome::Entity>(),
    ]
}
