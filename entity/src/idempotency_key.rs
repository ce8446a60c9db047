//! A mutation retried under the same idempotency key returns the first result instead of running twice.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose key space this is: the API key's id (or, for callers without a key, their label).
    pub owner: String,
    pub key: String,
    /// The mutation the key was first used with.
    pub operation: String,
    /// Hex SHA-256 of the mutation's input, to refuse the same key with a different input.
    pub request_hash: String,
    /// JSON of the first result; `None` while the first request is still in flight.
    pub response: Option<String>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
