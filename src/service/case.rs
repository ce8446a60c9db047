//! Case commands: a VOLUNTEER or STAFF reports a case; the reporting volunteer or STAFF updates it and
//! its categories; STAFF move it through its lifecycle (assess, serve, close with a reason, reopen).
//! Every status change, including the one a referral makes ([`move_status`]), appends to the case's
//! history and is audited. Reading cases is not here (the GraphQL query types).

use chrono::{DateTime, Datelike, Utc};
use entity::enums::{AuditAction, CaseSource, CaseStatus, ClosureReason, PpksCategory, RegionLevel, Role, Urgency};
use entity::{case, case_category, case_status_change, person, region, volunteer};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::access::Command;
use super::person::{self as persons, NewPerson};
use super::value::{self, Lines, MAX_NOTE, MAX_SUMMARY};
use super::workflow;
use super::write::{Actor, Operation, Write, check_version, debug, run};
use crate::error::{AppError, AppResult};
use crate::service::perturbation;
use crate::service::scope;

/// A case to report. Give exactly one of `person_id` and `new_person`.
#[derive(Debug, Clone, Serialize)]
pub struct ReportCase {
    /// The person the case is about, when already registered.
    pub person_id: Option<Uuid>,
    /// The person the case is about, registered together with the case.
    pub new_person: Option<NewPerson>,
    pub kelurahan_code: String,
    #[serde(serialize_with = "debug")]
    pub categories: Vec<PpksCategory>,
    #[serde(serialize_with = "debug")]
    pub urgency: Urgency,
    #[serde(serialize_with = "debug")]
    pub source: CaseSource,
    /// What the situation is (personal data).
    pub summary: String,
    /// When the case came to attention; default now.
    pub opened_at: Option<DateTime<Utc>>,
    /// STAFF only: the volunteer who found the case. A VOLUNTEER always reports as itself.
    pub reporting_volunteer_id: Option<Uuid>,
}

/// Changes to a case; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateCase {
    pub urgency: Option<Urgency>,
    /// New summary (personal data).
    pub summary: Option<String>,
    pub kelurahan_code: Option<String>,
    pub add_categories: Vec<PpksCategory>,
    /// A case keeps at least one category.
    pub remove_categories: Vec<PpksCategory>,
}

/// A move of a case to another status.
#[derive(Debug, Clone)]
pub struct ChangeStatus {
    pub to: CaseStatus,
    /// Required when closing, refused otherwise.
    pub closure_reason: Option<ClosureReason>,
    /// A note for the case's history.
    pub note: Option<String>,
}

impl ReportCase {
    /// The operation, with the personal fields it carries.
    pub fn operation(&self) -> Operation {
        Operation::new(Command::ReportCase, &[("input.newPerson", self.new_person.is_some()), ("input.summary", true)])
    }
}

impl UpdateCase {
    /// The operation, with the personal fields it carries.
    pub fn operation(&self) -> Operation {
        Operation::new(Command::UpdateCase, &[("input.summary", self.summary.is_some())])
    }
}

impl ChangeStatus {
    /// The operation, with the personal fields it carries.
    pub fn operation(&self) -> Operation {
        Operation::new(Command::ChangeCaseStatus, &[("note", self.note.is_some())])
    }
}

/// Reports a new case (VOLUNTEER or STAFF). It starts as NEW, with its first history entry.
pub async fn report(actor: &Actor<'_>, idempotency_key: Option<&str>, command: &ReportCase) -> AppResult<Uuid> {
    run!(actor, &command.operation(), idempotency_key, command, |write| report_in(&write, command).await)
}

/// Updates a case's urgency, summary, kelurahan or categories (STAFF, or the volunteer who reported it).
pub async fn update(actor: &Actor<'_>, id: Uuid, version: i32, command: &UpdateCase) -> AppResult<Uuid> {
    run!(actor, &command.operation(), None, &(), |write| update_in(&write, id, version, command).await)
}

/// Moves a case to another status (STAFF), as its lifecycle allows.
pub async fn change_status(actor: &Actor<'_>, id: Uuid, version: i32, command: &ChangeStatus) -> AppResult<Uuid> {
    run!(actor, &command.operation(), None, &(), |write| change_status_in(&write, id, version, command).await)
}

/// Checks that `code` is a kelurahan of the city.
pub async fn check_kelurahan(db: &impl ConnectionTrait, code: &str, field: &str) -> AppResult<()> {
    value::code(code, field)?;
    let found = region::Entity::find_by_id(code.to_owned()).one(db).await?;
    match found {
        Some(region) if region.level == RegionLevel::Subdistrict => Ok(()),
        Some(_) => Err(AppError::bad_input(field, format!("`{code}` is not a kelurahan (it is a larger region)"))),
        None => Err(AppError::bad_input(field, format!("unknown kelurahan code `{code}`"))),
    }
}

/// The next reference number of `year`: `PSM-<year>-<6-digit sequence>`.
async fn next_reference(write: &Write, year: i32) -> AppResult<String> {
    if write.txn.get_database_backend() == DatabaseBackend::Postgres {
        // Serialises numbering between concurrent reports (SQLite's write lock already does).
        write.txn.execute_unprepared("SELECT pg_advisory_xact_lock(637100001)").await?;
    }
    let prefix = format!("PSM-{year}-");
    let last: Option<String> = case::Entity::find()
        .select_only()
        .column(case::Column::ReferenceNumber)
        .filter(case::Column::ReferenceNumber.starts_with(&prefix))
        .order_by_desc(case::Column::ReferenceNumber)
        .into_tuple()
        .one(&write.txn)
        .await?;
    let sequence = last.and_then(|last| last[prefix.len()..].parse::<u32>().ok()).unwrap_or(0) + 1;
    Ok(format!("{prefix}{sequence:06}"))
}

async fn report_in(write: &Write, input: &ReportCase) -> AppResult<Uuid> {
    let txn = &write.txn;
    // Every value is checked before the database is asked anything, so that an answer never depends
    // on what is stored (a registered NIK) when the input is wrong anyway.
    let summary = value::text(&input.summary, "input.summary", MAX_SUMMARY, Lines::Many)?;
    value::code(&input.kelurahan_code, "input.kelurahanCode")?;
    if input.categories.is_empty() {
        return Err(AppError::bad_input("input.categories", "a case needs at least one category"));
    }
    let opened_at = value::past_instant(input.opened_at.unwrap_or(write.now), write.now, "input.openedAt")?;
    let new_person = match (&input.person_id, &input.new_person) {
        (Some(_), None) => None,
        (None, Some(new)) => Some(persons::validate(new, "input.newPerson", write.today())?),
        _ => return Err(AppError::bad_input("input.personId", "give exactly one of `personId` and `newPerson`")),
    };
    if write.viewer.role == Role::Volunteer && input.reporting_volunteer_id.is_some() {
        return Err(AppError::bad_input("input.reportingVolunteerId", "a volunteer reports as themself"));
    }

    check_kelurahan(txn, &input.kelurahan_code, "input.kelurahanCode").await?;
    let reporter = match write.viewer.role {
        Role::Volunteer => write.viewer.volunteer_id,
        _ => match input.reporting_volunteer_id {
            Some(id) => {
                volunteer::Entity::find_by_id(id)
                    .one(txn)
                    .await?
                    .ok_or_else(|| AppError::bad_input("input.reportingVolunteerId", "no such volunteer"))?;
                Some(id)
            }
            None => None,
        },
    };
    let person_id = match (input.person_id, new_person) {
        (Some(id), _) => {
            // A person outside the caller's scope does not exist for it.
            person::Entity::find_by_id(id)
                .filter(scope::scope::<person::Entity>(&write.viewer))
                .one(txn)
                .await?
                .ok_or_else(|| AppError::bad_input("input.personId", "no such person"))?;
            id
        }
        (None, Some(new)) => persons::insert(write, new, "input.newPerson").await?.id,
        (None, None) => {
            return Err(AppError::bad_input("input.personId", "give exactly one of `personId` and `newPerson`"));
        }
    };
    // Reference numbers count by the year in the city.
    let year = opened_at.with_timezone(&write.city_offset).year();
    let row = case::ActiveModel {
        id: Set(entity::new_id()),
        reference_number: Set(next_reference(write, year).await?),
        person_id: Set(person_id),
        reporting_volunteer_id: Set(reporter),
        kelurahan_code: Set(input.kelurahan_code.clone()),
        urgency: Set(input.urgency),
        source: Set(input.source),
        status: Set(CaseStatus::New),
        summary: Set(summary),
        opened_at: Set(opened_at),
        closed_at: Set(None),
        closure_reason: Set(None),
        version: Set(1),
        created_at: Set(write.now),
        updated_at: Set(write.now),
        record_key: Set(perturbation::record_key()?),
    };
    let reported = case::Entity::insert(row).exec_with_returning(txn).await?;
    let mut categories = input.categories.clone();
    categories.sort();
    categories.dedup();
    case_category::Entity::insert_many(
        categories
            .into_iter()
            .map(|category| case_category::ActiveModel { case_id: Set(reported.id), category: Set(category) }),
    )
    .exec_without_returning(txn)
    .await?;
    history(write, reported.id, None, CaseStatus::New, None).await?;
    write.audit(AuditAction::Create, "Case", reported.id, Some(person_id), None, Some(&reported)).await?;
    Ok(reported.id)
}

/// The case `id` as the writer may see it, locked for the rest of the transaction, at `version`.
async fn locked_case(write: &Write, id: Uuid, version: i32) -> AppResult<case::Model> {
    let current = write.locked::<case::Entity>(id, "case").await?;
    check_version("case", current.version, version)?;
    Ok(current)
}

async fn update_in(write: &Write, id: Uuid, version: i32, input: &UpdateCase) -> AppResult<Uuid> {
    let txn = &write.txn;
    let summary = match &input.summary {
        Some(text) => Some(value::text(text, "input.summary", MAX_SUMMARY, Lines::Many)?),
        None => None,
    };
    if let Some(code) = &input.kelurahan_code {
        value::code(code, "input.kelurahanCode")?;
    }
    let current = locked_case(write, id, version).await?;
    let mut active = current.clone().into_active_model();
    if let Some(urgency) = input.urgency {
        active.urgency = Set(urgency);
    }
    if let Some(summary) = summary {
        active.summary = Set(summary);
    }
    if let Some(code) = &input.kelurahan_code {
        check_kelurahan(txn, code, "input.kelurahanCode").await?;
        active.kelurahan_code = Set(code.clone());
    }
    let existing: Vec<PpksCategory> = case_category::Entity::find()
        .filter(case_category::Column::CaseId.eq(current.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| row.category)
        .collect();
    let mut add: Vec<PpksCategory> = input.add_categories.iter().copied().filter(|c| !existing.contains(c)).collect();
    add.sort();
    add.dedup();
    let remove: Vec<PpksCategory> = input.remove_categories.iter().copied().filter(|c| existing.contains(c)).collect();
    let remaining = existing.iter().filter(|c| !remove.contains(c)).count() + add.len();
    if remaining == 0 {
        return Err(AppError::bad_input("input.removeCategories", "a case keeps at least one category"));
    }
    if !remove.is_empty() {
        case_category::Entity::delete_many()
            .filter(case_category::Column::CaseId.eq(current.id))
            .filter(case_category::Column::Category.is_in(remove.iter().map(|c| c.as_str())))
            .exec(txn)
            .await?;
    }
    if !add.is_empty() {
        case_category::Entity::insert_many(
            add.into_iter()
                .map(|category| case_category::ActiveModel { case_id: Set(current.id), category: Set(category) }),
        )
        .exec_without_returning(txn)
        .await?;
    }
    active.version = Set(current.version + 1);
    active.updated_at = Set(write.now);
    let after = active.update(txn).await?;
    write.audit(AuditAction::Update, "Case", current.id, Some(current.person_id), Some(&current), Some(&after)).await?;
    Ok(current.id)
}

async fn change_status_in(write: &Write, id: Uuid, version: i32, input: &ChangeStatus) -> AppResult<Uuid> {
    let note = value::optional_text(input.note.as_deref(), "note", MAX_NOTE, Lines::Many)?;
    let current = locked_case(write, id, version).await?;
    workflow::check_case(current.status, input.to)?;
    let closure = match (input.to, input.closure_reason) {
        (CaseStatus::Closed, Some(reason)) => Some(reason),
        (CaseStatus::Closed, None) => {
            return Err(AppError::bad_input("closureReason", "closing a case needs a reason"));
        }
        (_, Some(_)) => return Err(AppError::bad_input("closureReason", "only closing takes a reason")),
        (_, None) => None,
    };
    move_status(write, &current, input.to, closure, note).await?;
    Ok(current.id)
}

/// Moves `current` (locked by the caller) to `to` as the lifecycle allows: the status, the closure, the
/// version, a history entry with `note`, and the audit event. The one way any command changes a case's
/// status.
pub async fn move_status(
    write: &Write,
    current: &case::Model,
    to: CaseStatus,
    closure_reason: Option<ClosureReason>,
    note: Option<String>,
) -> AppResult<case::Model> {
    workflow::check_case(current.status, to)?;
    let mut active = current.clone().into_active_model();
    match closure_reason {
        Some(reason) => {
            active.closed_at = Set(Some(write.now.max(current.opened_at)));
            active.closure_reason = Set(Some(reason));
        }
        None => {
            active.closed_at = Set(None);
            active.closure_reason = Set(None);
        }
    }
    active.status = Set(to);
    active.version = Set(current.version + 1);
    active.updated_at = Set(write.now);
    let after = active.update(&write.txn).await?;
    history(write, current.id, Some(current.status), to, note).await?;
    write.audit(AuditAction::Update, "Case", current.id, Some(current.person_id), Some(current), Some(&after)).await?;
    Ok(after)
}

async fn history(
    write: &Write,
    case: Uuid,
    from: Option<CaseStatus>,
    to: CaseStatus,
    note: Option<String>,
) -> AppResult<()> {
    case_status_change::Entity::insert(case_status_change::ActiveModel {
        id: Set(entity::new_id()),
        case_id: Set(case),
        from_status: Set(from),
        to_status: Set(to),
        changed_at: Set(write.now),
        changed_by: Set(write.viewer.label.clone()),
        note: Set(note),
    })
    .exec_without_returning(&write.txn)
    .await?;
    Ok(())
}

/// The person the case `case_id` is about, for the audit records of rows hanging off the case.
pub async fn person_of(db: &impl sea_orm::ConnectionTrait, case_id: Uuid) -> AppResult<Option<Uuid>> {
    use sea_orm::QuerySelect;
    Ok(case::Entity::find_by_id(case_id)
        .select_only()
        .column(case::Column::PersonId)
        .into_tuple::<Uuid>()
        .one(db)
        .await?)
}
