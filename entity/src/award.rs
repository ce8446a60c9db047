//! An award given to a volunteer.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "awards")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub volunteer_id: Uuid,
    #[sea_orm(belongs_to, from = "volunteer_id", to = "id")]
    pub volunteer: HasOne<super::volunteer::Entity>,
    pub title: String,
    pub awarded_on: Date,
    pub awarded_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
