//! The PPKS categories a case carries (one or more).

use crate::enums::PpksCategory;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_categories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub case_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category: PpksCategory,
    #[sea_orm(belongs_to, from = "case_id", to = "id")]
    pub case: HasOne<super::case::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
