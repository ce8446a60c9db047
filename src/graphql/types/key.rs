//! API keys as ADMIN keys see them: never the secret, only its prefix.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{api_key, organisation, volunteer};

use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::enums::Role;
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::volunteer::Volunteer;

/// An API key, without its secret: what it may do, whom it stands for, and when it was used.
pub struct ApiKey(pub api_key::Model);

/// An API key, without its secret: what it may do, whom it stands for, and when it was used.
#[Object]
impl ApiKey {
    /// Id of the key (not a global id: keys are not nodes).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The visible start of the key (`psm_` and 8 characters): how logs and `psm-api key list` name it.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// What the key may do.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// What the key is for.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The organisation a PARTNER key speaks for.
    async fn organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organisation>> {
        let Some(id) = self.0.organisation_id else { return Ok(None) };
        Ok(loaders::row::<organisation::Entity>(ctx, id).await?.map(Organisation))
    }

    /// Global id of the volunteer a VOLUNTEER key belongs to.
    async fn volunteer_id(&self) -> Option<ID> {
        self.0.volunteer_id.map(|id| ids::encode(NodeType::Volunteer, id))
    }

    /// The volunteer a VOLUNTEER key belongs to (their profile, as the caller may see it).
    async fn volunteer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Volunteer>> {
        let Some(id) = self.0.volunteer_id else { return Ok(None) };
        Ok(loaders::row::<volunteer::Entity>(ctx, id).await?.map(Volunteer))
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was last used (to the minute: uses within a minute are not all recorded).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// When it was revoked; null while it works.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}
