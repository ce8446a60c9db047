//! A region of the Kemendagri hierarchy, keyed by its official code (e.g. `63.71.01.1001`).

use crate::enums::RegionLevel;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "regions")]
pub struct Model {
    /// Official Kemendagri code, dotted: `63` > `63.71` > `63.71.01` > `63.71.01.1001`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub level: RegionLevel,
    pub name: String,
    pub parent_code: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
