//! Reference data kept in memory: the regions of the Kemendagri hierarchy.
//!
//! Only migrations write regions (the city's kecamatan and kelurahan, from `shared/data`), so a
//! process reads them once and answers every later lookup from memory: a nested page of 50 cases
//! then costs no statement for their kelurahan and kecamatan. What a request reads is what the
//! database held when the process first needed a region; a code the directory does not hold (a
//! region added by a later migration while the process ran) is read from the database, and a
//! renamed region shows its new name once the process restarts (migrations run at startup).
//!
//! The directory serves only callers who may see every region: the read handle
//! [`Scoped::regions`](super::scope::Scoped::regions) asks the scope first and reads the database for
//! anyone else, so a change of the region policy cannot be bypassed by the cache.

use std::collections::HashMap;
use std::sync::Arc;

use entity::region;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};
use tokio::sync::OnceCell;

/// The regions, read once per process (or per server of a test) and shared by every request.
#[derive(Clone, Default)]
pub struct Reference {
    regions: Arc<OnceCell<HashMap<String, region::Model>>>,
}

impl Reference {
    /// Every region by code, read with one statement the first time any request needs one (concurrent
    /// first requests wait for the same read).
    pub async fn regions(&self, db: &impl ConnectionTrait) -> Result<&HashMap<String, region::Model>, DbErr> {
        self.regions
            .get_or_try_init(|| async {
                let rows = region::Entity::find().all(db).await?;
                Ok::<_, DbErr>(rows.into_iter().map(|row| (row.code.clone(), row)).collect())
            })
            .await
    }
}
