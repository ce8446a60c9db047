//! Each partner's feed position counter. Appending a change locks the partner's row until commit, so
//! feed positions become visible in order.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_feeds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organisation_id: Uuid,
    pub last_position: i64,
}

impl ActiveModelBehavior for ActiveModel {}
