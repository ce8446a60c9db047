//! Case mutations: a VOLUNTEER or STAFF reports a case; the reporting volunteer or STAFF updates it and
//! its categories; STAFF moves it through its lifecycle (assess, serve, close with a reason, reopen).
//! Every status change appends to the case's history.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Datelike, Utc};
use entity::enums::{AuditAction, CaseStatus, RegionLevel, Role};
use entity::{case, case_category, case_status_change, person, region, volunteer};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::person::{RegisterPersonInput, insert_person};
use super::{Write, check_version};
use crate::error::{AppError, AppResult};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::case::Case;
use crate::graphql::types::db;
use crate::graphql::types::enums::{self as gql, CaseSource, ClosureReason, PpksCategory, Urgency};
use crate::policy::{self, require};
use crate::service::workflow;

/// Longest summary accepted.
const MAX_SUMMARY: usize = 4000;

/// What `reportCase` needs. Give exactly one of `personId` and `newPerson`.
#[derive(InputObject, Serialize)]
pub struct ReportCaseInput {
    /// The person the case is about, when already registered (STAFF).
    #[serde(serialize_with = "super::serialize_opt_id")]
    pub person_id: Option<ID>,
    /// The person the case is about, registered together with the case.
    pub new_person: Option<RegisterPersonInput>,
    /// The kelurahan where the case is (code like `63.71.01.1001`).
    pub kelurahan_code: String,
    /// One or more PPKS categories.
    #[serde(serialize_with = "super::serialize_debug")]
    pub categories: Vec<PpksCategory>,
    /// How quickly it needs attention.
    #[serde(serialize_with = "super::serialize_debug")]
    pub urgency: Urgency,
    /// How it came to attention.
    #[serde(serialize_with = "super::serialize_debug")]
    pub source: CaseSource,
    /// What the situation is (personal data).
    pub summary: String,
    /// When the case came to attention; default now. Not in the future.
    pub opened_at: Option<DateTime<Utc>>,
    /// STAFF only: the volunteer who found the case, if one did. A VOLUNTEER key always reports as itself.
    #[serde(serialize_with = "super::serialize_opt_id")]
    pub reporting_volunteer_id: Option<ID>,
}

/// Changes to a case; fields left out stay as they are.
#[derive(InputObject, Serialize)]
pub struct UpdateCaseInput {
    /// New urgency.
    #[serde(serialize_with = "super::serialize_debug")]
    pub urgency: Option<Urgency>,
    /// New summary (personal data).
    pub summary: Option<String>,
    /// New kelurahan code.
    pub kelurahan_code: Option<String>,
    /// Categories to add.
    #[serde(serialize_with = "super::serialize_debug")]
    pub add_categories: Option<Vec<PpksCategory>>,
    /// Categories to remove; a case keeps at least one.
    #[serde(serialize_with = "super::serialize_debug")]
    pub remove_categories: Option<Vec<PpksCategory>>,
}

/// The case a mutation changed.
#[derive(SimpleObject)]
pub struct CasePayload {
    /// The case as it is after the change.
    pub case: Case,
}

#[derive(Default)]
pub struct CaseMutation;

#[Object]
impl CaseMutation {
    /// Reports a new case (VOLUNTEER or STAFF). It starts as NEW, with its first history entry.
    async fn report_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] input: ReportCaseInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CasePayload> {
        require(ctx, &[Role::Staff, Role::Volunteer], "report cases")?;
        let id =
            run_write!(ctx, "reportCase", idempotency_key.as_deref(), &input, |write| report(&write, &input).await);
        payload(ctx, id).await
    }

    /// Updates a case's urgency, summary, kelurahan or categories (STAFF, or the volunteer who reported it).
    async fn update_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "What to change.")] input: UpdateCaseInput,
    ) -> async_graphql::Result<CasePayload> {
        require(ctx, &[Role::Staff, Role::Volunteer], "update cases")?;
        let id = run_write!(ctx, "updateCase", None, &(), |write| update(&write, &id, version, &input).await);
        payload(ctx, id).await
    }

    /// Moves a case to another status (STAFF), as its lifecycle allows: NEW -> ASSESSMENT | CLOSED;
    /// ASSESSMENT -> IN_SERVICE | REFERRED | CLOSED; IN_SERVICE -> REFERRED | CLOSED; REFERRED ->
    /// IN_SERVICE | CLOSED; CLOSED -> REOPENED; REOPENED -> ASSESSMENT | CLOSED. Closing needs a
    /// `closureReason`. Anything else is CONFLICT, naming the current status.
    async fn change_case_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "The new status.")] status: gql::CaseStatus,
        #[graphql(desc = "Why the case is closed; required when `status` is CLOSED, refused otherwise.")]
        closure_reason: Option<ClosureReason>,
        #[graphql(desc = "A note for the case's history.")] note: Option<String>,
    ) -> async_graphql::Result<CasePayload> {
        require(ctx, &[Role::Staff], "change the status of cases")?;
        let id = run_write!(ctx, "changeCaseStatus", None, &(), |write| change_status(
            &write,
            &id,
            version,
            status.into(),
            closure_reason,
            note
        )
        .await);
        payload(ctx, id).await
    }
}

async fn payload(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<CasePayload> {
    let scope = policy::scope::<case::Entity>(policy::viewer(ctx)?);
    let row = case::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
    let row = row.ok_or_else(|| AppError::NotFound("no such case".into()))?;
    Ok(CasePayload { case: Case(row) })
}

/// Checks that `code` is a kelurahan of the city.
pub async fn check_kelurahan(db: &impl ConnectionTrait, code: &str, field: &str) -> AppResult<()> {
    let found = region::Entity::find_by_id(code.to_owned()).one(db).await?;
    match found {
        Some(region) if region.level == RegionLevel::Subdistrict => Ok(()),
        Some(_) => Err(AppError::bad_input(field, format!("`{code}` is not a kelurahan (it is a larger region)"))),
        None => Err(AppError::bad_input(field, format!("unknown kelurahan code `{code}`"))),
    }
}

fn summary(text: &str, field: &str) -> AppResult<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::bad_input(field, "the summary must not be empty"));
    }
    if text.chars().count() > MAX_SUMMARY {
        return Err(AppError::bad_input(field, format!("at most {MAX_SUMMARY} characters")));
    }
    Ok(text.to_owned())
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

async fn report(write: &Write, input: &ReportCaseInput) -> AppResult<Uuid> {
    let txn = &write.txn;
    check_kelurahan(txn, &input.kelurahan_code, "input.kelurahanCode").await?;
    let summary = summary(&input.summary, "input.summary")?;
    if input.categories.is_empty() {
        return Err(AppError::bad_input("input.categories", "a case needs at least one category"));
    }
    let opened_at = input.opened_at.unwrap_or(write.now);
    if opened_at > write.now {
        return Err(AppError::bad_input("input.openedAt", "a case cannot be opened in the future"));
    }
    let reporter = match write.viewer.role {
        Role::Volunteer => {
            if input.reporting_volunteer_id.is_some() {
                return Err(AppError::bad_input("input.reportingVolunteerId", "a volunteer reports as themself"));
            }
            write.viewer.volunteer_id
        }
        _ => match &input.reporting_volunteer_id {
            Some(id) => {
                let id = ids::decode_uuid(id, NodeType::Volunteer, "input.reportingVolunteerId")?;
                volunteer::Entity::find_by_id(id)
                    .one(txn)
                    .await?
                    .ok_or_else(|| AppError::bad_input("input.reportingVolunteerId", "no such volunteer"))?;
                Some(id)
            }
            None => None,
        },
    };
    let person_id = match (&input.person_id, &input.new_person) {
        (Some(id), None) => {
            let id = ids::decode_uuid(id, NodeType::Person, "input.personId")?;
            // A person outside the caller's scope does not exist for it.
            person::Entity::find_by_id(id)
                .filter(policy::scope::<person::Entity>(&write.viewer))
                .one(txn)
                .await?
                .ok_or_else(|| AppError::bad_input("input.personId", "no such person"))?;
            id
        }
        (None, Some(new)) => insert_person(write, new, "input.newPerson").await?.id,
        _ => return Err(AppError::bad_input("input.personId", "give exactly one of `personId` and `newPerson`")),
    };
    // Reference numbers count by the year in Banjarmasin (WITA).
    let year =
        chrono::FixedOffset::east_opt(8 * 3600).map_or(opened_at.year(), |wita| opened_at.with_timezone(&wita).year());
    let row = case::ActiveModel {
        id: Set(entity::new_id()),
        reference_number: Set(next_reference(write, year).await?),
        person_id: Set(person_id),
        reporting_volunteer_id: Set(reporter),
        kelurahan_code: Set(input.kelurahan_code.clone()),
        urgency: Set(input.urgency.into()),
        source: Set(input.source.into()),
        status: Set(CaseStatus::New),
        summary: Set(summary),
        opened_at: Set(opened_at),
        closed_at: Set(None),
        closure_reason: Set(None),
        version: Set(1),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let reported = case::Entity::insert(row).exec_with_returning(txn).await?;
    let mut categories: Vec<entity::enums::PpksCategory> = input.categories.iter().map(|c| (*c).into()).collect();
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
async fn locked_case(write: &Write, id: &ID, version: i32) -> AppResult<case::Model> {
    let id = ids::decode_uuid(id, NodeType::Case, "id")?;
    let current = write.locked::<case::Entity>(id, "case").await?;
    check_version("case", current.version, version)?;
    Ok(current)
}

async fn update(write: &Write, id: &ID, version: i32, input: &UpdateCaseInput) -> AppResult<Uuid> {
    let txn = &write.txn;
    let current = locked_case(write, id, version).await?;
    let mut active = current.clone().into_active_model();
    if let Some(urgency) = input.urgency {
        active.urgency = Set(urgency.into());
    }
    if let Some(text) = &input.summary {
        active.summary = Set(summary(text, "input.summary")?);
    }
    if let Some(code) = &input.kelurahan_code {
        check_kelurahan(txn, code, "input.kelurahanCode").await?;
        active.kelurahan_code = Set(code.clone());
    }
    let existing: Vec<entity::enums::PpksCategory> = case_category::Entity::find()
        .filter(case_category::Column::CaseId.eq(current.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| row.category)
        .collect();
    let add: Vec<entity::enums::PpksCategory> =
        input.add_categories.iter().flatten().map(|c| (*c).into()).filter(|c| !existing.contains(c)).collect();
    let remove: Vec<entity::enums::PpksCategory> =
        input.remove_categories.iter().flatten().map(|c| (*c).into()).filter(|c| existing.contains(c)).collect();
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
    let mut unique_add = add;
    unique_add.sort();
    unique_add.dedup();
    if !unique_add.is_empty() {
        case_category::Entity::insert_many(
            unique_add
                .into_iter()
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

async fn change_status(
    write: &Write,
    id: &ID,
    version: i32,
    to: CaseStatus,
    closure_reason: Option<ClosureReason>,
    note: Option<String>,
) -> AppResult<Uuid> {
    let current = locked_case(write, id, version).await?;
    workflow::check_case(current.status, to)?;
    let mut active = current.clone().into_active_model();
    match (to, closure_reason) {
        (CaseStatus::Closed, Some(reason)) => {
            active.closed_at = Set(Some(write.now.max(current.opened_at)));
            active.closure_reason = Set(Some(reason.into()));
        }
        (CaseStatus::Closed, None) => {
            return Err(AppError::bad_input("closureReason", "closing a case needs a reason"));
        }
        (_, Some(_)) => return Err(AppError::bad_input("closureReason", "only closing takes a reason")),
        (_, None) => {
            active.closed_at = Set(None);
            active.closure_reason = Set(None);
        }
    }
    active.status = Set(to);
    active.version = Set(current.version + 1);
    active.updated_at = Set(write.now);
    let after = active.update(&write.txn).await?;
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    history(write, current.id, Some(current.status), to, note).await?;
    write.audit(AuditAction::Update, "Case", current.id, Some(current.person_id), Some(&current), Some(&after)).await?;
    Ok(current.id)
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
