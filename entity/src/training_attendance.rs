//! A volunteer's attendance at a training (Bimtek).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "training_attendances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub volunteer_id: Uuid,
    #[sea_orm(belongs_to, from = "volunteer_id", to = "id")]
    pub volunteer: HasOne<super::volunteer::Entity>,
    pub course: String,
    pub organiser_id: Option<Uuid>,
    pub attended_on: Date,
    pub hours: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
