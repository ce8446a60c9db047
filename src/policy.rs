//! Who may see what: the one place where the rules of DOMAIN.md's "What each kind of user may see" live.
//!
//! Two kinds of rule:
//! - **Visibility of rows** ([`Guarded::scope`]): a SQL condition per entity and role. Every way of
//!   reaching a row applies it: root connections, nested connections and relations (their loaders),
//!   `node(id:)`, statistics. A row outside the scope does not exist for the caller (`NOT_FOUND`).
//! - **Personal-data fields** ([`reveal_person`], [`reveal_volunteer`]): names, NIK, phone, address,
//!   exact birth date, health details and case narratives. A caller who may not read one gets null with
//!   a `FORBIDDEN` field error; every field that is read is recorded in the audit trail.
//!
//! | role | rows | personal data |
//! |---|---|---|
//! | STAFF | everything | everything, the full NIK included |
//! | VOLUNTEER | the cases they reported, with their persons, referrals and outcomes; their own profile | of those persons (NIK masked); their own |
//! | PARTNER | the referrals addressed to it, with their cases and persons | only where the person's live consent covers sharing with this partner (NIK masked) |
//! | DASHBOARD | everything but other roles' secrets | none |
//! | ADMIN | as DASHBOARD, plus keys and the audit trail | none (data-subject exports aside) |

use async_graphql::Context;
use chrono::Utc;
use entity::enums::Role;
use entity::{
    award, case, case_category, case_status_change, consent, enrollment, organisation, outcome, person, programme,
    programme_category, referral, referral_event, region, training_attendance, volunteer,
};
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, EntityTrait};
use uuid::Uuid;

use crate::audit::ReadLog;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

/// The viewer of the request.
pub fn viewer<'a>(ctx: &'a Context<'_>) -> AppResult<&'a Viewer> {
    ctx.data::<Viewer>().map_err(|e| AppError::Internal(e.message))
}

/// An entity whose rows some callers may not see.
pub trait Guarded: EntityTrait {
    /// The rows `viewer` may see; `None` when it may see all of them.
    fn scope(viewer: &Viewer) -> Option<Condition>;
}

/// [`Guarded::scope`] as a condition that can always be added (everything when unrestricted).
pub fn scope<E: Guarded>(viewer: &Viewer) -> Condition {
    E::scope(viewer).unwrap_or_else(Condition::all)
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

/// Ids of the cases a VOLUNTEER reported.
fn reported_cases(volunteer: Uuid) -> SelectStatement {
    Query::select()
        .column(case::Column::Id)
        .from(case::Entity)
        .and_where(case::Column::ReportingVolunteerId.eq(volunteer))
        .take()
}

/// Ids of the cases referred to a PARTNER.
fn referred_cases(organisation: Uuid) -> SelectStatement {
    Query::select()
        .column(referral::Column::CaseId)
        .from(referral::Entity)
        .and_where(referral::Column::ToOrganisationId.eq(organisation))
        .take()
}

/// Ids of the cases the viewer may see, for roles restricted to some cases.
fn visible_cases(viewer: &Viewer) -> Option<SelectStatement> {
    match viewer.role {
        Role::Volunteer => Some(reported_cases(own(viewer.volunteer_id))),
        Role::Partner => Some(referred_cases(own(viewer.organisation_id))),
        Role::Admin | Role::Staff | Role::Dashboard => None,
    }
}

/// Rows tied to a case (`column` holds the case id), visible with their case.
fn with_case(viewer: &Viewer, column: impl ColumnTrait) -> Option<Condition> {
    visible_cases(viewer).and_then(|cases| only(column.in_subquery(cases)))
}

/// Ids of the persons the viewer may see, for roles restricted to some cases.
fn visible_persons(viewer: &Viewer) -> Option<SelectStatement> {
    visible_cases(viewer).map(|cases| {
        Query::select()
            .column(case::Column::PersonId)
            .from(case::Entity)
            .and_where(case::Column::Id.in_subquery(cases))
            .take()
    })
}

/// Reference data every caller sees.
macro_rules! public {
    ($($module:ident),+) => {
        $(impl Guarded for $module::Entity {
            fn scope(_: &Viewer) -> Option<Condition> {
                None
            }
        })+
    };
}

public!(region, organisation, programme, programme_category);

impl Guarded for entity::audit_event::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        match viewer.role {
            Role::Admin => None,
            Role::Staff | Role::Volunteer | Role::Partner | Role::Dashboard => nothing(),
        }
    }
}

impl Guarded for volunteer::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        match viewer.role {
            Role::Volunteer => only(volunteer::Column::Id.eq(own(viewer.volunteer_id))),
            Role::Partner => nothing(),
            Role::Admin | Role::Staff | Role::Dashboard => None,
        }
    }
}

/// Rows of a volunteer's profile, visible with the volunteer.
macro_rules! of_volunteer {
    ($($module:ident),+) => {
        $(impl Guarded for $module::Entity {
            fn scope(viewer: &Viewer) -> Option<Condition> {
                match viewer.role {
                    Role::Volunteer => only($module::Column::VolunteerId.eq(own(viewer.volunteer_id))),
                    Role::Partner => nothing(),
                    Role::Admin | Role::Staff | Role::Dashboard => None,
                }
            }
        })+
    };
}

of_volunteer!(training_attendance, award);

impl Guarded for person::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        visible_persons(viewer).and_then(|persons| only(person::Column::Id.in_subquery(persons)))
    }
}

impl Guarded for consent::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        visible_persons(viewer).and_then(|persons| only(consent::Column::PersonId.in_subquery(persons)))
    }
}

impl Guarded for case::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        with_case(viewer, case::Column::Id)
    }
}

/// Rows tied to a case, visible with it.
macro_rules! of_case {
    ($($module:ident),+) => {
        $(impl Guarded for $module::Entity {
            fn scope(viewer: &Viewer) -> Option<Condition> {
                with_case(viewer, $module::Column::CaseId)
            }
        })+
    };
}

of_case!(case_category, case_status_change);

impl Guarded for enrollment::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        match viewer.role {
            Role::Partner => nothing(),
            _ => with_case(viewer, enrollment::Column::CaseId),
        }
    }
}

impl Guarded for referral::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        match viewer.role {
            // Another partner's referral of the same case stays invisible.
            Role::Partner => only(referral::Column::ToOrganisationId.eq(own(viewer.organisation_id))),
            _ => with_case(viewer, referral::Column::CaseId),
        }
    }
}

impl Guarded for referral_event::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        referral::Entity::scope(viewer).map(|referrals| {
            let visible =
                Query::select().column(referral::Column::Id).from(referral::Entity).cond_where(referrals).take();
            Condition::all().add(referral_event::Column::ReferralId.in_subquery(visible))
        })
    }
}

impl Guarded for outcome::Entity {
    fn scope(viewer: &Viewer) -> Option<Condition> {
        match viewer.role {
            // A partner sees the outcomes recorded on its own referrals.
            Role::Partner => {
                let referrals = Query::select()
                    .column(referral::Column::Id)
                    .from(referral::Entity)
                    .and_where(referral::Column::ToOrganisationId.eq(own(viewer.organisation_id)))
                    .take();
                only(outcome::Column::ReferralId.in_subquery(referrals))
            }
            _ => with_case(viewer, outcome::Column::CaseId),
        }
    }
}

/// How much of a person's personal data the viewer may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing personal.
    None,
    /// Every personal field, the NIK masked.
    Masked,
    /// Every personal field, the full NIK included (STAFF).
    Full,
}

/// What the viewer may read of `person` (a row it can already see).
pub async fn person_access(ctx: &Context<'_>, person: &person::Model) -> AppResult<Access> {
    let viewer = viewer(ctx)?;
    Ok(match viewer.role {
        Role::Staff => Access::Full,
        Role::Volunteer => Access::Masked,
        Role::Partner => {
            let organisation = own(viewer.organisation_id);
            let consents =
                crate::graphql::loaders::children::<crate::graphql::types::person::PersonConsents>(ctx, person.id)
                    .await?;
            if crate::service::feed::shares(&consents, organisation, Utc::now()) {
                Access::Masked
            } else {
                Access::None
            }
        }
        Role::Admin | Role::Dashboard => Access::None,
    })
}

/// Allows reading personal `field` of `person` when `needed` access is granted, and records the read.
pub async fn reveal_person(
    ctx: &Context<'_>,
    person: &person::Model,
    field: &'static str,
    needed: Access,
) -> AppResult<()> {
    let granted = person_access(ctx, person).await?;
    let allowed = match needed {
        Access::Full => granted == Access::Full,
        Access::Masked | Access::None => granted != Access::None,
    };
    if !allowed {
        return Err(AppError::Forbidden(format!("your key may not read `{field}` of this person")));
    }
    read_log(ctx)?.record("Person", person.id, Some(person.id), field);
    Ok(())
}

/// Allows reading personal `field` of the person a case is about (the case narrative), and records it.
pub async fn reveal_case_narrative(ctx: &Context<'_>, case: &case::Model, field: &'static str) -> AppResult<()> {
    let person = crate::graphql::loaders::required_row::<person::Entity>(ctx, case.person_id).await?;
    if person_access(ctx, &person).await? == Access::None {
        return Err(AppError::Forbidden(format!("your key may not read `{field}` of this case")));
    }
    read_log(ctx)?.record("Case", case.id, Some(case.person_id), field);
    Ok(())
}

/// Allows reading personal `field` of `volunteer`: STAFF, and the volunteer themself.
pub fn reveal_volunteer(ctx: &Context<'_>, volunteer: &volunteer::Model, field: &'static str) -> AppResult<()> {
    let viewer = viewer(ctx)?;
    let allowed = match viewer.role {
        Role::Staff => true,
        Role::Volunteer => viewer.volunteer_id == Some(volunteer.id),
        Role::Admin | Role::Partner | Role::Dashboard => false,
    };
    if !allowed {
        return Err(AppError::Forbidden(format!("your key may not read `{field}` of this volunteer")));
    }
    read_log(ctx)?.record("Volunteer", volunteer.id, None, field);
    Ok(())
}

fn read_log<'a>(ctx: &'a Context<'_>) -> AppResult<&'a ReadLog> {
    ctx.data::<std::sync::Arc<ReadLog>>().map(|log| &**log).map_err(|e| AppError::Internal(e.message))
}

/// Refuses callers whose role is not one of `roles`.
pub fn require(ctx: &Context<'_>, roles: &[Role], what: &str) -> AppResult<()> {
    let viewer = viewer(ctx)?;
    if roles.contains(&viewer.role) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("a {} key may not {what}", viewer.role.as_str())))
    }
}

/// Inputs (filters, orderings) that would reveal personal data through which rows match or how they
/// sort, for example a NIK filter telling whether a NIK belongs to a social case.
pub trait PersonalInputs {
    /// The personal inputs used, each named as the client wrote it, with the access it needs.
    fn personal_inputs(&self) -> Vec<(&'static str, Access)> {
        Vec::new()
    }
}

impl<T: PersonalInputs> PersonalInputs for Option<T> {
    fn personal_inputs(&self) -> Vec<(&'static str, Access)> {
        self.as_ref().map(T::personal_inputs).unwrap_or_default()
    }
}

/// Refuses personal inputs to callers without personal-data access to every row they could match:
/// `Full` needs STAFF, `Masked` needs STAFF or VOLUNTEER.
pub fn check_inputs(ctx: &Context<'_>, inputs: &[&dyn PersonalInputs]) -> AppResult<()> {
    let role = viewer(ctx)?.role;
    for (input, needed) in inputs.iter().flat_map(|inputs| inputs.personal_inputs()) {
        let allowed = match needed {
            Access::Full => role == Role::Staff,
            Access::Masked | Access::None => matches!(role, Role::Staff | Role::Volunteer),
        };
        if !allowed {
            return Err(AppError::Forbidden(format!(
                "a {} key may not use `{input}`: it is personal data",
                role.as_str()
            )));
        }
    }
    Ok(())
}

/// Filters and orderings without personal inputs.
macro_rules! impersonal {
    ($($type:path),+) => {
        $(impl PersonalInputs for $type {})+
    };
}

impersonal!(
    crate::graphql::types::organisation::OrganisationFilter,
    crate::graphql::types::organisation::OrganisationOrder,
    crate::graphql::types::outcome::OutcomeFilter,
    crate::graphql::types::outcome::OutcomeOrder,
    crate::graphql::types::programme::ProgrammeFilter,
    crate::graphql::types::programme::ProgrammeOrder,
    crate::graphql::types::referral::ReferralFilter,
    crate::graphql::types::referral::ReferralOrder,
    crate::graphql::types::audit::AuditEventFilter,
    crate::graphql::types::audit::AuditEventOrder
);
