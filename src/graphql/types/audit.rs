//! Audit events: the append-only record of writes and of personal-data reads, for ADMIN keys.

use async_graphql::{Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{ColumnTrait, Condition};

use crate::error::AppResult;
use crate::graphql::connection::{KeyValue, Listed, Ordering};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::enums::OrderDirection;
use crate::graphql::types::{InstantRange, connection_types};
use crate::service::scope::Scoped;

/// One audit record: who did what to which object, when, with the values before and after (writes) or
/// the personal-data fields read (reads). Records are never changed or deleted.
#[derive(Clone)]
pub struct AuditEvent(pub audit_event::Model);

/// What an audit record records.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[graphql(remote = "entity::enums::AuditAction")]
pub enum AuditAction {
    /// Personal data was read (served in a response).
    Read,
    /// An object was created.
    Create,
    /// An object was changed.
    Update,
    /// A person's complete record was exported (a data-subject request).
    Export,
    /// A request was refused fields or objects (`FORBIDDEN` fields, ids outside the caller's scope); the
    /// record lists the codes and field paths, so that probing shows in the trail.
    Denied,
    /// A write that carried personal data was refused; the record names the operation and the fields
    /// carried, never their values.
    Refused,
}

/// One audit record: who did what to which object, when, with the values before and after (writes) or
/// the personal-data fields read (reads). Records are never changed or deleted.
#[Object]
impl AuditEvent {
    /// Id of the record (not a global id: audit records are not nodes).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// Who acted: role, key prefix and key name (or the server itself, `system`).
    async fn actor(&self) -> &str {
        &self.0.actor
    }

    /// What was done.
    async fn action(&self) -> AuditAction {
        self.0.action.into()
    }

    /// The kind of object: `Case`, `Referral`, `Person`, `Consent`, `Outcome`, `Volunteer`, ...
    async fn subject_type(&self) -> &str {
        &self.0.subject_type
    }

    /// The object's database id (a UUID).
    async fn subject_id(&self) -> &str {
        &self.0.subject_id
    }

    /// Global id of the person the record concerns, when there is one.
    async fn person_id(&self) -> Option<ID> {
        self.0.person_id.map(|id| ids::encode(NodeType::Person, id))
    }

    /// For reads: the personal-data fields served.
    async fn fields(&self) -> Vec<&str> {
        self.0.fields.as_deref().map(|fields| fields.split(',').collect()).unwrap_or_default()
    }

    /// For writes: the object's columns before the change, as a JSON object (null for a creation).
    /// Columns holding personal data or free text (names, NIK, phone, address, birth date, notes,
    /// summaries, actor labels of notes) read `"<withheld: personal data>"`: the trail shows that they
    /// changed, not what they hold. A person's own data is exported with `personRecord` (STAFF).
    async fn before(&self) -> Option<String> {
        redacted(&self.0.subject_type, self.0.before.as_deref())
    }

    /// For writes: the object's columns after the change, as a JSON object, personal columns withheld
    /// as in `before`.
    async fn after(&self) -> Option<String> {
        redacted(&self.0.subject_type, self.0.after.as_deref())
    }
}

/// What audit records can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEventOrderField {
    /// When it happened (the default, oldest first).
    OccurredAt,
}

/// Order of an audit list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditEventOrder {
    /// Column to order by.
    pub field: AuditEventOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl AuditEventOrder {
    pub fn ordering(order: Option<AuditEventOrder>) -> Ordering<AuditEventOrderField> {
        let order = order
            .unwrap_or(AuditEventOrder { field: AuditEventOrderField::OccurredAt, direction: OrderDirection::Asc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which audit records to list. All given conditions must hold.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AuditEventFilter {
    /// Only records about this person (global id), as for a data-subject request.
    pub person_id: Option<ID>,
    /// Only these actions.
    pub action: Option<Vec<AuditAction>>,
    /// Only records about this kind of object (`Case`, `Referral`, `Person`, ...).
    pub subject_type: Option<String>,
    /// Only records about this object (its database id, as `subjectId` shows it).
    pub subject_id: Option<String>,
    /// Only records made within this span.
    pub occurred: Option<InstantRange>,
}

impl AuditEventFilter {
    pub fn condition(&self, _scoped: &Scoped) -> AppResult<Condition> {
        let mut condition = Condition::all();
        if let Some(person) = &self.person_id {
            condition = condition.add(audit_event::Column::PersonId.eq(ids::decode_uuid(
                person,
                NodeType::Person,
                "filter.personId",
            )?));
        }
        if let Some(actions) = &self.action {
            let actions: Vec<entity::enums::AuditAction> = actions.iter().map(|a| (*a).into()).collect();
            condition = condition.add(audit_event::Column::Action.is_in(actions));
        }
        if let Some(subject_type) = &self.subject_type {
            condition = condition.add(audit_event::Column::SubjectType.eq(subject_type.as_str()));
        }
        if let Some(subject_id) = &self.subject_id {
            condition = condition.add(audit_event::Column::SubjectId.eq(subject_id.as_str()));
        }
        if let Some(range) = &self.occurred {
            condition = range.apply(condition, audit_event::Column::OccurredAt, "filter.occurred")?;
        }
        Ok(condition)
    }
}

impl Listed for audit_event::Entity {
    type Sort = AuditEventOrderField;

    fn sort_column(sort: AuditEventOrderField) -> audit_event::Column {
        match sort {
            AuditEventOrderField::OccurredAt => audit_event::Column::OccurredAt,
        }
    }
    fn sort_value(model: &audit_event::Model, sort: AuditEventOrderField) -> KeyValue {
        match sort {
            AuditEventOrderField::OccurredAt => KeyValue::Instant(model.occurred_at),
        }
    }
}

connection_types!(
    AuditEventConnection,
    AuditEventEdge,
    AuditEvent,
    "A page of audit records.",
    "An audit record and its cursor."
);

/// A stored snapshot with its personal columns withheld; a snapshot that is not a JSON object is
/// withheld whole.
fn redacted(subject_type: &str, snapshot: Option<&str>) -> Option<String> {
    let snapshot = snapshot?;
    match serde_json::from_str::<serde_json::Value>(snapshot) {
        Ok(mut value) if value.is_object() => {
            crate::service::policy::redact(subject_type, &mut value);
            Some(value.to_string())
        }
        _ => Some(serde_json::Value::String(crate::service::policy::WITHHELD.to_owned()).to_string()),
    }
}

/// No personal inputs: which rows match, and how they sort, reveal no personal data.
impl crate::graphql::guard::PersonalInputs for AuditEventFilter {}
impl crate::graphql::guard::PersonalInputs for AuditEventOrder {}
