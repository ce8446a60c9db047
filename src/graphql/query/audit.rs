//! `auditEvents`, `apiKeys` and `personRecord`: the audit trail, the keys and data-subject exports, for
//! ADMIN keys.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::enums::{AuditAction, Role};
use entity::{
    audit_event, case, case_category, case_status_change, consent, enrollment, outcome, person, referral,
    referral_event,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::audit::{Write, record_write};
use crate::error::AppError;
use crate::graphql::guard::{self as policy, require};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::mutation::snapshot;
use crate::graphql::types::audit::{AuditEvent, AuditEventConnection, AuditEventFilter, AuditEventOrder};
use crate::graphql::types::key::ApiKey;
use crate::graphql::types::{db, page_args, root_page};

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail (ADMIN keys): every write with its values before and after, and every read of
    /// personal data with the fields read, oldest first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which records to list; all given conditions must hold.")] filter: Option<AuditEventFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<AuditEventOrder>,
        #[graphql(desc = "Page size, reading forward (at most the configured maximum, 100 by default).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<AuditEventConnection> {
        require(ctx, &[Role::Admin], "read the audit trail")?;
        // Reading the trail is itself recorded: who looked at whose access history.
        crate::graphql::guard::read_log(ctx)?.record_lookup("AuditEvent", "auditEvents");
        let condition = filter.unwrap_or_default().condition(crate::graphql::guard::scoped(ctx)?)?;
        let ordering = AuditEventOrder::ordering(order_by);
        let page =
            root_page::<audit_event::Entity>(ctx, condition, ordering, page_args(first, after, last, before)).await?;
        Ok(AuditEventConnection(page.map(AuditEvent)))
    }

    /// Every API key, newest first, without secrets (ADMIN keys).
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        require(ctx, &[Role::Admin], "list API keys")?;
        let keys = entity::api_key::Entity::find()
            .order_by_desc(entity::api_key::Column::CreatedAt)
            .all(db(ctx)?)
            .await
            .map_err(AppError::from)?;
        Ok(keys.into_iter().map(ApiKey).collect())
    }

    /// A person's complete record, for a data-subject request under UU PDP 27/2022 (STAFF keys, the
    /// only role that may read personal data in full; ADMIN keys administer keys and the trail and read
    /// no personal data): the person, their consents, cases (with categories and status history),
    /// referrals (with their event logs), enrollments and outcomes, and the access trail (every audit
    /// record about them, which only this export reads outside the ADMIN's trail). The export itself is
    /// recorded in the trail. Null, with a `NOT_FOUND` error, when no such person exists.
    async fn person_record(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id of the person.")] id: ID,
    ) -> Option<PersonRecord> {
        super::or_null(ctx, export_person(ctx, id).await)
    }
}

/// A person's complete record, as exported for a data-subject request.
#[derive(SimpleObject)]
pub struct PersonRecord {
    /// When the export was made.
    pub generated_at: DateTime<Utc>,
    /// The record as one JSON document: `person`, `consents`, `cases`, `caseCategories`,
    /// `caseStatusHistory`, `referrals`, `referralEvents`, `enrollments`, `outcomes` and `accessTrail`
    /// (each row with its stored columns).
    pub record: String,
}

/// The export `personRecord(id:)` answers with.
async fn export_person(ctx: &Context<'_>, id: ID) -> async_graphql::Result<PersonRecord> {
    require(ctx, &[Role::Staff], "export a person's record")?;
    let person_id = ids::decode_uuid(&id, NodeType::Person, "id")?;
    let scoped = crate::graphql::guard::scoped(ctx)?;
    let db = scoped.db();
    let person = scoped
        .find::<person::Entity>()
        .filter(person::Column::Id.eq(person_id))
        .one(db)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::NotFound("no such person".into()))?;
    let rows = |models: Vec<Value>| Value::Array(models);
    let consents = scoped
        .find::<consent::Entity>()
        .filter(consent::Column::PersonId.eq(person_id))
        .all(db)
        .await
        .map_err(AppError::from)?;
    let cases = scoped
        .find::<case::Entity>()
        .filter(case::Column::PersonId.eq(person_id))
        .order_by_asc(case::Column::OpenedAt)
        .all(db)
        .await
        .map_err(AppError::from)?;
    let case_ids: Vec<_> = cases.iter().map(|c| c.id).collect();
    let categories = scoped
        .find::<case_category::Entity>()
        .filter(case_category::Column::CaseId.is_in(case_ids.clone()))
        .all(db)
        .await
        .map_err(AppError::from)?;
    let history = scoped
        .find::<case_status_change::Entity>()
        .filter(case_status_change::Column::CaseId.is_in(case_ids.clone()))
        .order_by_asc(case_status_change::Column::ChangedAt)
        .all(db)
        .await
        .map_err(AppError::from)?;
    let referrals = scoped
        .find::<referral::Entity>()
        .filter(referral::Column::CaseId.is_in(case_ids.clone()))
        .all(db)
        .await
        .map_err(AppError::from)?;
    let events = scoped
        .find::<referral_event::Entity>()
        .filter(referral_event::Column::ReferralId.is_in(referrals.iter().map(|r| r.id)))
        .order_by_asc(referral_event::Column::OccurredAt)
        .all(db)
        .await
        .map_err(AppError::from)?;
    let enrollments = scoped
        .find::<enrollment::Entity>()
        .filter(enrollment::Column::CaseId.is_in(case_ids.clone()))
        .all(db)
        .await
        .map_err(AppError::from)?;
    let outcomes = scoped
        .find::<outcome::Entity>()
        .filter(outcome::Column::CaseId.is_in(case_ids))
        .all(db)
        .await
        .map_err(AppError::from)?;
    let trail = audit_event::Entity::find()
        .filter(audit_event::Column::PersonId.eq(person_id))
        .order_by_asc(audit_event::Column::OccurredAt)
        .all(db)
        .await
        .map_err(AppError::from)?;
    let generated_at = Utc::now();
    let record = json!({
        "generatedAt": generated_at,
        "person": snapshot(&person),
        "consents": rows(consents.iter().map(snapshot).collect()),
        "cases": rows(cases.iter().map(snapshot).collect()),
        "caseCategories": rows(categories.iter().map(snapshot).collect()),
        "caseStatusHistory": rows(history.iter().map(snapshot).collect()),
        "referrals": rows(referrals.iter().map(snapshot).collect()),
        "referralEvents": rows(events.iter().map(snapshot).collect()),
        "enrollments": rows(enrollments.iter().map(snapshot).collect()),
        "outcomes": rows(outcomes.iter().map(snapshot).collect()),
        "accessTrail": rows(trail.iter().map(snapshot).collect()),
    });
    let viewer = policy::viewer(ctx)?;
    let export = Write::<Value, Value> {
        action: AuditAction::Export,
        subject_type: "Person",
        subject_id: person_id,
        person_id: Some(person_id),
        before: None,
        after: None,
    };
    record_write(db, viewer, export).await?;
    Ok(PersonRecord { generated_at, record: record.to_string() })
}
