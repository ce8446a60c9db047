//! API key mutations for ADMIN keys: decode the arguments into the commands of [`service::key`] (create,
//! the secret shown once; revoke). Both are audited there; ADMIN and STAFF keys are refused here
//! (FORBIDDEN): they are made on the server with `psm-api key create`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::actor;
use crate::auth::NewKey;
use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::enums::Role as GqlRole;
use crate::graphql::types::key::ApiKey;
use crate::service::access::{self, Command};
use crate::service::key as service;

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
    /// Creates an API key (ADMIN) of role PARTNER, VOLUNTEER or DASHBOARD; ADMIN and STAFF keys are
    /// FORBIDDEN here (they are created on the server with `psm-api key create`). The secret is in the
    /// answer, and nowhere else ever again.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to create.")] input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreatedApiKey> {
        let actor = actor(ctx)?;
        let role = input.role.into();
        access::require(actor.viewer, Command::CreateKey(role))?;
        let volunteer = match &input.volunteer_id {
            Some(id) => Some(ids::decode_uuid(id, NodeType::Volunteer, "input.volunteerId")?),
            None => None,
        };
        let new = NewKey { role, organisation: input.organisation_code.clone(), volunteer, name: input.name.clone() };
        let (secret, stored) = service::create(&actor, &new).await.map_err(|error| match error {
            AppError::BadInput { field: Some(field), message } => AppError::bad_input(input_field(&field), message),
            other => other,
        })?;
        Ok(CreatedApiKey { secret, api_key: ApiKey(stored) })
    }

    /// Revokes an API key by its prefix (ADMIN); every server refuses it from a second later at most (the
    /// servers' `--key-cache-ms`). Revoking twice is harmless.
    /// ADMIN and STAFF keys are FORBIDDEN here (they are revoked on the server with `psm-api key revoke`).
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's prefix, as `apiKeys` shows it.")] prefix: String,
    ) -> async_graphql::Result<RevokedApiKey> {
        let revoked = service::revoke(&actor(ctx)?, &prefix).await?;
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
