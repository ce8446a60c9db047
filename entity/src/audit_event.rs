//! One append-only audit record: a write (with before and after values) or a read of personal data.

use crate::enums::AuditAction;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: DateTimeUtc,
    /// The key that acted; `None` for the server itself (expiry sweeps) and the command line.
    pub api_key_id: Option<Uuid>,
    /// Who acted, readable: role, key prefix and key name.
    pub actor: String,
    pub action: AuditAction,
    /// The kind of object acted on (`Case`, `Referral`, `Person`, ...).
    pub subject_type: String,
    pub subject_id: String,
    /// The person whose data this concerns, when there is one (for data-subject requests).
    pub person_id: Option<Uuid>,
    /// The fields read (for reads), comma-separated.
    pub fields: Option<String>,
    /// JSON of the object before a write.
    pub before: Option<String>,
    /// JSON of the object after a write.
    pub after: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
