//! The append-only audit trail: every write with its before and after values, every read of personal
//! data with the fields read, and every statistics request with its arguments.
//!
//! Reads are collected while a request runs ([`ReadLog`]) and written in one statement before the
//! response leaves ([`flush_reads`]); if that write fails, the response is withheld. Writes are recorded
//! by [`record_write`] inside the transaction that makes them, so a change and its record commit together.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::Utc;
use entity::audit_event;
use entity::enums::AuditAction;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

/// The subject id of records about a search or a request rather than one object.
pub const SEARCH: &str = "*";

/// The subject type of the record of a statistics request (its subject id is the field, `caseStats`).
pub const STATISTICS: &str = "Statistics";

/// Most rows one audit insert carries.
const ROWS_PER_INSERT: usize = 500;

/// Subject (type, id) and person of a read.
type ReadSubject = (&'static str, Uuid, Option<Uuid>);

/// What one request did with personal data: the fields it served, by subject; the lookups it made by
/// personal inputs (a NIK filter); and what it was refused (a `FORBIDDEN` field, an object outside its
/// scope), so that probing is visible in the trail.
#[derive(Default)]
pub struct ReadLog(Mutex<Entries>);

#[derive(Default)]
struct Entries {
    reads: BTreeMap<ReadSubject, BTreeSet<&'static str>>,
    lookups: BTreeMap<&'static str, BTreeSet<&'static str>>,
    denials: BTreeSet<String>,
    statistics: Vec<(String, serde_json::Value)>,
}

/// Most distinct refusals one request records (a page of 100 refused fields is one pattern, not 100).
const MAX_DENIALS: usize = 50;

impl ReadLog {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes that `field` of the subject was served.
    pub fn record(&self, subject_type: &'static str, subject_id: Uuid, person_id: Option<Uuid>, field: &'static str) {
        self.entries().reads.entry((subject_type, subject_id, person_id)).or_default().insert(field);
    }

    /// Notes a search of `subject_type` rows by the personal input `input` (e.g. `filter.nik`).
    pub fn record_lookup(&self, subject_type: &'static str, input: &'static str) {
        self.entries().lookups.entry(subject_type).or_default().insert(input);
    }

    /// Notes a refusal: `code` (`FORBIDDEN`, `NOT_FOUND`) at `path` (the field path, list indexes
    /// dropped, so that a refused field on every row of a page is one entry).
    pub fn record_denial(&self, code: &str, path: &str) {
        let mut entries = self.entries();
        if entries.denials.len() < MAX_DENIALS {
            entries.denials.insert(format!("{code} {path}"));
        }
    }

    /// Notes a statistics request: the field (`caseStats`) and what was asked and answered (arguments,
    /// whether exact, cells published or the error code). Statistics arguments carry no personal data.
    pub fn record_statistics(&self, field: &str, detail: serde_json::Value) {
        self.entries().statistics.push((field.to_owned(), detail));
    }

    fn take(&self) -> Entries {
        std::mem::take(&mut *self.entries())
    }
}

/// Writes the reads of one request: one row per subject, listing the fields read.
pub async fn flush_reads(db: &impl ConnectionTrait, viewer: &Viewer, log: &ReadLog) -> AppResult<()> {
    let now = Utc::now();
    let Entries { reads, lookups, denials, statistics } = log.take();
    let row = |action: AuditAction, subject_type: &str, subject_id: String, fields: String| audit_event::ActiveModel {
        id: Set(entity::new_id()),
        occurred_at: Set(now),
        api_key_id: Set(viewer.key_id),
        actor: Set(viewer.label.clone()),
        action: Set(action),
        subject_type: Set(subject_type.to_owned()),
        subject_id: Set(subject_id),
        person_id: Set(None),
        fields: Set(Some(fields)),
        before: Set(None),
        after: Set(None),
    };
    let mut extra: Vec<audit_event::ActiveModel> = lookups
        .into_iter()
        .map(|(subject_type, inputs)| {
            row(AuditAction::Read, subject_type, SEARCH.to_owned(), inputs.into_iter().collect::<Vec<_>>().join(","))
        })
        .collect();
    extra.extend(statistics.into_iter().map(|(field, detail)| audit_event::ActiveModel {
        after: Set(Some(detail.to_string())),
        ..row(AuditAction::Read, STATISTICS, field.clone(), field)
    }));
    if !denials.is_empty() {
        extra.push(row(
            AuditAction::Denied,
            "Request",
            SEARCH.to_owned(),
            denials.into_iter().collect::<Vec<_>>().join(","),
        ));
    }
    let rows: Vec<audit_event::ActiveModel> = reads
        .into_iter()
        .map(|((subject_type, subject_id, person_id), fields)| audit_event::ActiveModel {
            id: Set(entity::new_id()),
            occurred_at: Set(now),
            api_key_id: Set(viewer.key_id),
            actor: Set(viewer.label.clone()),
            action: Set(AuditAction::Read),
            subject_type: Set(subject_type.to_owned()),
            subject_id: Set(subject_id.to_string()),
            person_id: Set(person_id),
            fields: Set(Some(fields.into_iter().collect::<Vec<_>>().join(","))),
            before: Set(None),
            after: Set(None),
        })
        .chain(extra)
        .collect();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        audit_event::Entity::insert_many(chunk).exec(db).await?;
    }
    Ok(())
}

/// A write to record: what was changed, about whom, and its values before and after.
pub struct Write<'a, B: Serialize, A: Serialize> {
    pub action: AuditAction,
    pub subject_type: &'static str,
    pub subject_id: Uuid,
    pub person_id: Option<Uuid>,
    pub before: Option<&'a B>,
    pub after: Option<&'a A>,
}

/// Records a write, inside the transaction `db` that makes it.
pub async fn record_write<B: Serialize, A: Serialize>(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    write: Write<'_, B, A>,
) -> AppResult<()> {
    let row = audit_event::ActiveModel {
        id: Set(entity::new_id()),
        occurred_at: Set(Utc::now()),
        api_key_id: Set(viewer.key_id),
        actor: Set(viewer.label.clone()),
        action: Set(write.action),
        subject_type: Set(write.subject_type.to_owned()),
        subject_id: Set(write.subject_id.to_string()),
        person_id: Set(write.person_id),
        fields: Set(None),
        before: Set(write.before.map(to_json).transpose()?),
        after: Set(write.after.map(to_json).transpose()?),
    };
    if let Err(error) = audit_event::Entity::insert(row).exec_without_returning(db).await {
        // The write it records fails with it (same transaction); counted for operators.
        crate::ops::metrics::audit_write_failed("write");
        return Err(error.into());
    }
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(|e| AppError::Internal(format!("cannot serialise an audit value: {e}")))
}
