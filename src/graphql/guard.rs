//! The access rules applied to GraphQL fields and inputs: the only place the read side asks "may this
//! caller see this?". The rules themselves are pure and live in
//! [`service::policy`](crate::service::policy); row scopes are SQL in
//! [`service::scope`](crate::service::scope), applied by the [`Scoped`] handle every read starts from.
//!
//! - Personal fields of persons and volunteers ([`reveal_person`], [`reveal_volunteer`]) and free text
//!   ([`reveal_text`]) resolve to null with a `FORBIDDEN` field error when the caller may not read them;
//!   every one served is recorded in the request's read log, and so is every refusal (see
//!   [`audit`](crate::audit)).
//! - Actor labels name API keys and staff; [`actor`] shows them in full to STAFF and ADMIN only.
//! - Personal inputs ([`check_inputs`]): filtering or ordering by personal data is refused to callers who
//!   may not read it, and recorded as a lookup when allowed.

use async_graphql::Context;
use chrono::Utc;
use entity::enums::Role;
use entity::{case, person, volunteer};
use uuid::Uuid;

use crate::audit::ReadLog;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::service::policy::{self, Access, Text};
use crate::service::scope::Scoped;

pub use crate::service::policy::Access as PersonalAccess;

/// The viewer of the request.
pub fn viewer<'a>(ctx: &'a Context<'_>) -> AppResult<&'a Viewer> {
    ctx.data::<Viewer>().map_err(|e| AppError::Internal(e.message))
}

/// The request's read handle: every read starts here.
pub fn scoped<'a>(ctx: &'a Context<'_>) -> AppResult<&'a Scoped> {
    ctx.data::<Scoped>().map_err(|e| AppError::Internal(e.message))
}

/// What the viewer may read of `person` (a row it can already see).
pub async fn person_access(ctx: &Context<'_>, person: &person::Model) -> AppResult<Access> {
    let viewer = viewer(ctx)?;
    // Only a partner's access depends on the consents; load them only then.
    let shares = if viewer.role == Role::Partner {
        let organisation = viewer.organisation_id.unwrap_or(Uuid::nil());
        let consents =
            crate::graphql::loaders::children::<crate::graphql::types::person::PersonConsents>(ctx, person.id).await?;
        crate::service::feed::shares(&consents, organisation, Utc::now())
    } else {
        false
    };
    Ok(policy::personal(viewer.role, || shares))
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

/// Allows reading free text of `kind` in `field` of a `subject_type` row about the case `case_id`, and
/// records the read. Free text is personal data of the case's person (see
/// [`policy::free_text`](crate::service::policy::free_text)).
pub async fn reveal_text(
    ctx: &Context<'_>,
    case_id: Uuid,
    kind: Text,
    subject_type: &'static str,
    subject_id: Uuid,
    field: &'static str,
    record: bool,
) -> AppResult<()> {
    let role = viewer(ctx)?.role;
    let forbidden = || AppError::Forbidden(format!("your key may not read `{field}`: free text is personal data"));
    // Decided by role alone where it can be, so that a refusal costs no statement.
    if !policy::free_text(role, Access::Full, kind) {
        return Err(forbidden());
    }
    let case = crate::graphql::loaders::required_row::<case::Entity>(ctx, case_id).await?;
    let person = crate::graphql::loaders::required_row::<person::Entity>(ctx, case.person_id).await?;
    if !policy::free_text(role, person_access(ctx, &person).await?, kind) {
        return Err(forbidden());
    }
    if record {
        read_log(ctx)?.record(subject_type, subject_id, Some(person.id), field);
    }
    Ok(())
}

/// Free text of `kind` in `field` of a `subject_type` row about the case `case_id`, as the viewer may
/// read it: the text (recorded as read when there is any), null when there is none, or `FORBIDDEN`.
/// A caller who may not read it is refused whether or not there is any text, so that not even its
/// presence shows.
pub async fn text<'a>(
    ctx: &Context<'_>,
    value: Option<&'a str>,
    case_id: Uuid,
    kind: Text,
    (subject_type, subject_id, field): (&'static str, Uuid, &'static str),
) -> AppResult<Option<&'a str>> {
    reveal_text(ctx, case_id, kind, subject_type, subject_id, field, value.is_some()).await?;
    Ok(value)
}

/// Allows reading the case narrative (`summary`) of `case`, and records it.
pub async fn reveal_case_narrative(ctx: &Context<'_>, case: &case::Model, field: &'static str) -> AppResult<()> {
    reveal_text(ctx, case.id, Text::Narrative, "Case", case.id, field, true).await
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

/// An actor label as the viewer may see it: in full for STAFF and ADMIN, otherwise only the kind of
/// actor (labels name API keys and staff members).
pub fn actor(ctx: &Context<'_>, label: &str) -> AppResult<String> {
    Ok(if policy::full_actor_labels(viewer(ctx)?.role) {
        label.to_owned()
    } else {
        policy::actor_kind(label).to_owned()
    })
}

pub fn read_log<'a>(ctx: &'a Context<'_>) -> AppResult<&'a ReadLog> {
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

/// Refuses personal inputs to callers without personal-data access to every row they could match, and
/// records the allowed ones in the audit trail as a lookup of `subject_type` by those fields (a NIK
/// lookup is a read of personal data even when it matches nothing).
pub fn check_inputs(ctx: &Context<'_>, subject_type: &'static str, inputs: &[&dyn PersonalInputs]) -> AppResult<()> {
    let role = viewer(ctx)?.role;
    for (input, needed) in inputs.iter().flat_map(|inputs| inputs.personal_inputs()) {
        if !policy::may_use_personal_input(role, needed) {
            return Err(AppError::Forbidden(format!(
                "a {} key may not use `{input}`: it is personal data",
                role.as_str()
            )));
        }
        read_log(ctx)?.record_lookup(subject_type, input);
    }
    Ok(())
}
