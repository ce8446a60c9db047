//! Relay's `node(id:)` and `nodes(ids:)`: any object by its global id.

use async_graphql::{Context, ID, Interface, Object};
use entity::{
    award, case, case_status_change, consent, enrollment, organisation, outcome, person, programme, referral,
};
use entity::{referral_event, region, training_attendance, volunteer};
use futures_util::future::try_join_all;

use crate::error::{AppError, AppResult};
use crate::graphql::connection::Keyed;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::case::{Case, CaseStatusChange};
use crate::graphql::types::config;
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::outcome::Outcome;
use crate::graphql::types::person::{Consent, Person};
use crate::graphql::types::programme::{Enrollment, Programme};
use crate::graphql::types::referral::{Referral, ReferralEvent};
use crate::graphql::types::region::Region;
use crate::graphql::types::volunteer::{Award, TrainingAttendance, Volunteer};

/// An object with a global id, which `node(id:)` finds again.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Global id: opaque, stable, and accepted by `node(id:)`."))]
pub enum Node {
    Region(Region),
    Organisation(Organisation),
    Volunteer(Volunteer),
    TrainingAttendance(TrainingAttendance),
    Award(Award),
    Person(Person),
    Consent(Consent),
    Case(Case),
    CaseStatusChange(CaseStatusChange),
    Programme(Programme),
    Enrollment(Enrollment),
    Referral(Referral),
    ReferralEvent(ReferralEvent),
    Outcome(Outcome),
}

async fn by_uuid<E: Keyed<Key = uuid::Uuid>>(ctx: &Context<'_>, key: &str) -> AppResult<Option<E::Model>> {
    match uuid::Uuid::parse_str(key) {
        Ok(id) => loaders::row::<E>(ctx, id).await,
        Err(_) => Ok(None),
    }
}

/// Finds any object by global id; `None` when it does not exist.
async fn find(ctx: &Context<'_>, id: &ID, argument: &str) -> AppResult<Option<Node>> {
    let (node_type, key) = ids::decode(id, argument)?;
    Ok(match node_type {
        NodeType::Region => loaders::row::<region::Entity>(ctx, key).await?.map(|m| Node::Region(Region(m))),
        NodeType::Organisation => {
            by_uuid::<organisation::Entity>(ctx, &key).await?.map(|m| Node::Organisation(Organisation(m)))
        }
        NodeType::Volunteer => by_uuid::<volunteer::Entity>(ctx, &key).await?.map(|m| Node::Volunteer(Volunteer(m))),
        NodeType::TrainingAttendance => by_uuid::<training_attendance::Entity>(ctx, &key)
            .await?
            .map(|m| Node::TrainingAttendance(TrainingAttendance(m))),
        NodeType::Award => by_uuid::<award::Entity>(ctx, &key).await?.map(|m| Node::Award(Award(m))),
        NodeType::Person => by_uuid::<person::Entity>(ctx, &key).await?.map(|m| Node::Person(Person(m))),
        NodeType::Consent => by_uuid::<consent::Entity>(ctx, &key).await?.map(|m| Node::Consent(Consent(m))),
        NodeType::Case => by_uuid::<case::Entity>(ctx, &key).await?.map(|m| Node::Case(Case::from(m))),
        NodeType::CaseStatusChange => {
            by_uuid::<case_status_change::Entity>(ctx, &key).await?.map(|m| Node::CaseStatusChange(CaseStatusChange(m)))
        }
        NodeType::Programme => by_uuid::<programme::Entity>(ctx, &key).await?.map(|m| Node::Programme(Programme(m))),
        NodeType::Enrollment => {
            by_uuid::<enrollment::Entity>(ctx, &key).await?.map(|m| Node::Enrollment(Enrollment(m)))
        }
        NodeType::Referral => by_uuid::<referral::Entity>(ctx, &key).await?.map(|m| Node::Referral(Referral::from(m))),
        NodeType::ReferralEvent => {
            by_uuid::<referral_event::Entity>(ctx, &key).await?.map(|m| Node::ReferralEvent(ReferralEvent(m)))
        }
        NodeType::Outcome => by_uuid::<outcome::Entity>(ctx, &key).await?.map(|m| Node::Outcome(Outcome(m))),
    })
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id, as Relay's `node(id:)`. Null, with a `NOT_FOUND` error, when no
    /// object the key may see has this id; an id that is not one this API issued is null with a
    /// `BAD_USER_INPUT` error.
    async fn node(&self, ctx: &Context<'_>, #[graphql(desc = "A global id.")] id: ID) -> Option<Node> {
        let found = async {
            Ok(find(ctx, &id, "id").await?.ok_or_else(|| AppError::NotFound("no object has this id".into()))?)
        };
        super::or_null(ctx, found.await)
    }

    /// Several objects by global id, in the order asked. In place of each object that does not exist
    /// or that the key may not see: null, and a `NOT_FOUND` error whose path ends with that entry's
    /// index (as GitHub answers). At most the configured number of ids (100 by default); every id must
    /// be one this API issued.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global ids.")] ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        let max = config(ctx)?.max_nodes as usize;
        if ids.len() > max {
            return Err(AppError::bad_input("ids", format!("at most {max} ids at once")).into());
        }
        let found = try_join_all(ids.iter().map(|id| find(ctx, id, "ids"))).await?;
        for (index, _) in found.iter().enumerate().filter(|(_, node)| node.is_none()) {
            let error = async_graphql::Error::from(AppError::NotFound("no object has this id".into()));
            let mut error = ctx.set_error_path(error.into_server_error(ctx.item.pos));
            error.path.push(async_graphql::PathSegment::Index(index));
            ctx.add_error(error);
        }
        Ok(found)
    }
}
