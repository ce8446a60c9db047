//! `viewer`: who the caller is.

use async_graphql::{Context, Object};
use entity::{organisation, volunteer};

use crate::graphql::guard as policy;
use crate::graphql::loaders;
use crate::graphql::types::enums::Role;
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::volunteer::Volunteer;

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the caller is: the role of its API key, and the organisation or volunteer the key stands for.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<CurrentViewer> {
        Ok(CurrentViewer(policy::viewer(ctx)?.clone()))
    }
}

/// The caller of this request, as its API key describes it.
pub struct CurrentViewer(crate::auth::Viewer);

/// The caller of this request, as its API key describes it.
#[Object(name = "Viewer")]
impl CurrentViewer {
    /// The role of the key, which decides what the caller may see and do.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The visible prefix of the key (`psm_` and 8 characters), as `psm-api key list` shows it.
    async fn key_prefix(&self) -> Option<&str> {
        self.0.key_prefix.as_deref()
    }

    /// The organisation a PARTNER key speaks for; null for other roles.
    async fn organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organisation>> {
        let Some(id) = self.0.organisation_id else { return Ok(None) };
        Ok(loaders::row::<organisation::Entity>(ctx, id).await?.map(Organisation))
    }

    /// The volunteer a VOLUNTEER key belongs to; null for other roles.
    async fn volunteer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Volunteer>> {
        let Some(id) = self.0.volunteer_id else { return Ok(None) };
        Ok(loaders::row::<volunteer::Entity>(ctx, id).await?.map(Volunteer))
    }
}
