//! API key commands: create a key (its secret is shown once) and revoke one, each audited in the same
//! transaction, whoever runs them: an ADMIN key through the API, or `psm-api key` on the server. ADMIN
//! and STAFF keys are created and revoked only on the server (see [`access`](super::access)). Hashing and
//! checking keys is not here but in [`auth`](crate::auth).

use entity::api_key;
use entity::enums::{AuditAction, Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::access::{self, Caller, Command};
use super::value::{self, Lines, MAX_CODE, MAX_KEY_NAME};
use super::write::{Actor, begin_write, snapshot};
use crate::audit::{self, Write as AuditWrite};
use crate::auth::{self, NewKey};
use crate::error::{AppError, AppResult};

/// Creates an API key of `new.role`; returns the key in full (the only time it is ever shown) and its
/// stored row. Input errors name `new`'s fields (`role`, `organisation`, `volunteer`, `name`).
pub async fn create(actor: &Actor<'_>, new: &NewKey) -> AppResult<(String, api_key::Model)> {
    access::require(actor.viewer, Command::CreateKey(new.role))?;
    let name = value::text(&new.name, "name", MAX_KEY_NAME, Lines::One)?;
    let organisation = match &new.organisation {
        Some(code) => Some(value::code(code, "organisation")?),
        None => None,
    };
    let new = NewKey { name, organisation, ..new.clone() };
    let txn = begin_write(actor.db).await?;
    let (secret, stored) = auth::create_key(&txn, &new).await?;
    record(&txn, actor, AuditAction::Create, None, &stored).await?;
    txn.commit().await?;
    Ok((secret, stored))
}

/// Revokes the key with `prefix`; every server refuses it within the key cache's lifetime
/// ([`KeyCache`](crate::auth::KeyCache), a second by default). Revoking twice is harmless (and audited
/// once).
pub async fn revoke(actor: &Actor<'_>, prefix: &str) -> AppResult<api_key::Model> {
    // Whoever may revoke no key at all learns nothing about which prefixes exist.
    let caller = Caller::of(actor.viewer);
    if !Role::ALL.iter().any(|role| access::permits(caller, Command::RevokeKey(*role))) {
        return Err(AppError::Forbidden(format!("a {} key may not revoke API keys", actor.viewer.role.as_str())));
    }
    let prefix = value::text(prefix, "prefix", MAX_CODE, Lines::One)?;
    let txn = begin_write(actor.db).await?;
    let before = api_key::Entity::find()
        .filter(api_key::Column::Prefix.eq(prefix.as_str()))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no key has the prefix `{prefix}`")))?;
    access::require(actor.viewer, Command::RevokeKey(before.role))?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    let revoked = auth::revoke_key(&txn, &prefix).await?;
    record(&txn, actor, AuditAction::Update, Some(&before), &revoked).await?;
    txn.commit().await?;
    Ok(revoked)
}

async fn record(
    txn: &sea_orm::DatabaseTransaction,
    actor: &Actor<'_>,
    action: AuditAction,
    before: Option<&api_key::Model>,
    after: &api_key::Model,
) -> AppResult<()> {
    let before = before.map(snapshot);
    let after_json = snapshot(after);
    let write = AuditWrite {
        action,
        subject_type: "ApiKey",
        subject_id: after.id,
        person_id: None,
        before: before.as_ref(),
        after: Some(&after_json),
    };
    audit::record_write(txn, actor.viewer, write).await
}
