//! API key mutations for ADMIN keys: create (the secret is shown once) and revoke. Both are audited.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use entity::api_key;
use entity::enums::{AuditAction, Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::{self, NewKey};
use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::db;
use crate::graphql::types::enums::Role as GqlRole;
use crate::graphql::types::key::ApiKey;
use crate::policy::{self, require};

/// A key to create.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// What the key may do.
    pub role: GqlRole,
    /// For PARTNER keys (and only those): the organisation's code, e.g. `YBP`.
    pub organisation_code: Option<String>,
    /// For VOLUNTEER keys (and only those): the volunteer's global id.
    pub volunteer_id: Option<ID>,
    /// What the key is for, shown in lists and in the audit trail.
    pub name: String,
}

/// A new key and its secret.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    /// The whole key, to send as `Authorization: Bearer <key>`. Shown only now: only its hash is stored.
    pub secret: String,
    /// The key as it is stored.
    pub api_key: ApiKey,
}

/// A revoked key.
#[derive(SimpleObject)]
pub struct RevokedApiKey {
    /// The key, with its revocation instant.
    pub api_key: ApiKey,
}

#[derive(Default)]
pub struct KeyMutation;

#[Object]
impl KeyMutation {
    /// Creates an API key (ADMIN). The secret is in the answer, and nowhere else ever again.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to create.")] input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreatedApiKey> {
        require(ctx, &[Role::Admin], "create API keys")?;
        let volunteer = match &input.volunteer_id {
            Some(id) => Some(ids::decode_uuid(id, NodeType::Volunteer, "input.volunteerId")?),
            None => None,
        };
        let new = NewKey {
            role: input.role.into(),
            organisation: input.organisation_code.clone(),
            volunteer,
            name: input.name.trim().to_owned(),
        };
        let (secret, stored) = auth::create_key(db(ctx)?, &new).await.map_err(|error| match error {
            AppError::BadInput { field: Some(field), message } => AppError::bad_input(input_field(&field), message),
            other => other,
        })?;
        audit(ctx, AuditAction::Create, None, &stored).await?;
        Ok(CreatedApiKey { secret, api_key: ApiKey(stored) })
    }

    /// Revokes an API key by its prefix (ADMIN); it stops working at once. Revoking twice is harmless.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's prefix, as `apiKeys` shows it.")] prefix: String,
    ) -> async_graphql::Result<RevokedApiKey> {
        require(ctx, &[Role::Admin], "revoke API keys")?;
        let db = db(ctx)?;
        let before = api_key::Entity::find()
            .filter(api_key::Column::Prefix.eq(prefix.as_str()))
            .one(db)
            .await
            .map_err(AppError::from)?;
        let revoked = auth::revoke_key(db, &prefix).await?;
        audit(ctx, AuditAction::Update, before.as_ref(), &revoked).await?;
        Ok(RevokedApiKey { api_key: ApiKey(revoked) })
    }
}

/// The input field behind a `NewKey` field name.
fn input_field(field: &str) -> String {
    match field {
        "organisation" => "input.organisationCode".into(),
        "volunteer" => "input.volunteerId".into(),
        other => format!("input.{other}"),
    }
}

async fn audit(
    ctx: &Context<'_>,
    action: AuditAction,
    before: Option<&api_key::Model>,
    after: &api_key::Model,
) -> async_graphql::Result<()> {
    use crate::graphql::mutation::snapshot;
    let subject_id = after.id;
    let before = before.map(snapshot);
    let after = snapshot(after);
    let write = crate::audit::Write {
        action,
        subject_type: "ApiKey",
        subject_id,
        person_id: None,
        before: before.as_ref(),
        after: Some(&after),
    };
    crate::audit::record_write(db(ctx)?, policy::viewer(ctx)?, write).await?;
    Ok(())
}
