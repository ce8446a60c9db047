//! The PPKS categories a programme is open to.

use crate::enums::PpksCategory;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "programme_categories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub programme_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category: PpksCategory,
    #[sea_orm(belongs_to, from = "programme_id", to = "id")]
    pub programme: HasOne<super::programme::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
