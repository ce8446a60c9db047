//! Who is calling: API keys and the [`Viewer`] every request runs as.
//!
//! A key is `psm_` followed by 43 characters of base64url (32 random bytes). Only its SHA-256 hash is
//! stored, next to its first 12 characters (the prefix), which identify it in lists and logs. Keys are
//! high-entropy, so one fast hash is enough: there is nothing to guess a dictionary word from.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use entity::api_key;
use entity::enums::Role;
use entity::{organisation, volunteer};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// How long a key's `last_used_at` may lag: a key used every second is written once a minute, not once
/// a request.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

/// Length of the stored, visible prefix of a key.
const PREFIX_LENGTH: usize = 12;

/// The caller a request runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The key used; `None` for the server itself and for tests that build a viewer directly.
    pub key_id: Option<Uuid>,
    /// The visible prefix of that key.
    pub key_prefix: Option<String>,
    pub role: Role,
    /// The organisation a PARTNER speaks for.
    pub organisation_id: Option<Uuid>,
    /// The volunteer a VOLUNTEER is.
    pub volunteer_id: Option<Uuid>,
    /// Who this is, for the audit trail: role, key prefix and key name.
    pub label: String,
}

impl Viewer {
    /// A viewer of `role` without a key (tests, the command line, the server's own sweeps).
    pub fn with_role(role: Role) -> Viewer {
        Viewer {
            key_id: None,
            key_prefix: None,
            role,
            organisation_id: None,
            volunteer_id: None,
            label: format!("{} (no key)", role.as_str()),
        }
    }

    /// A PARTNER viewer for `organisation`.
    pub fn partner(organisation: Uuid) -> Viewer {
        Viewer { organisation_id: Some(organisation), ..Viewer::with_role(Role::Partner) }
    }

    /// A VOLUNTEER viewer for `volunteer`.
    pub fn volunteer(volunteer: Uuid) -> Viewer {
        Viewer { volunteer_id: Some(volunteer), ..Viewer::with_role(Role::Volunteer) }
    }

    /// The viewer a stored key acts as.
    pub fn of_key(key: &api_key::Model) -> Viewer {
        Viewer {
            key_id: Some(key.id),
            key_prefix: Some(key.prefix.clone()),
            role: key.role,
            organisation_id: key.organisation_id,
            volunteer_id: key.volunteer_id,
            label: format!("{} key {} ({})", key.role.as_str(), key.prefix, key.name),
        }
    }
}

/// Why a request could not be authenticated. The message is safe to show: it never says whether a
/// given prefix exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <key>`, or a key that is unknown, wrong, revoked or an expired demo key.
    Invalid,
}

impl Unauthenticated {
    pub fn message(self) -> &'static str {
        match self {
            Unauthenticated::Missing => "an API key is required: send `Authorization: Bearer <key>`",
            Unauthenticated::Invalid => "the API key is not valid (unknown, mistyped, revoked or expired)",
        }
    }
}

/// Hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The prefix of a key, or `None` when it cannot be a key.
fn prefix_of(key: &str) -> Option<&str> {
    (key.starts_with("psm_") && key.len() == 4 + 43 && key.is_ascii()).then(|| &key[..PREFIX_LENGTH])
}

/// Compares two equal-length strings in time independent of where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Keys this server checked a moment ago, so that a busy dashboard does not cost a key lookup per
/// request. An entry is used for at most its lifetime after the lookup that made it, so a revocation (or
/// a demo key's expiry) reaches every replica within that lifetime; only valid keys are kept, by the
/// hash of the whole key, and at most [`KeyCache::CAPACITY`] of them.
#[derive(Debug, Clone)]
pub struct KeyCache {
    lifetime: std::time::Duration,
    entries: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (Viewer, std::time::Instant)>>>,
}

impl KeyCache {
    /// Most keys held; when full, entries past their lifetime go, and if none has, all of them.
    pub const CAPACITY: usize = 10_000;

    /// A cache whose entries live `lifetime`; zero keeps nothing.
    pub fn new(lifetime: std::time::Duration) -> KeyCache {
        KeyCache { lifetime, entries: Default::default() }
    }

    fn get(&self, hash: &str) -> Option<Viewer> {
        if self.lifetime.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(hash).filter(|(_, checked)| checked.elapsed() < self.lifetime).map(|(viewer, _)| viewer.clone())
    }

    fn put(&self, hash: String, viewer: &Viewer) {
        if self.lifetime.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= Self::CAPACITY {
            entries.retain(|_, (_, checked)| checked.elapsed() < self.lifetime);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert(hash, (viewer.clone(), std::time::Instant::now()));
    }
}

/// Finds the key of an `Authorization` header value and notes its use; a key in `cache` is not read
/// again until its entry expires.
pub async fn authenticate(
    db: &DatabaseConnection,
    cache: &KeyCache,
    header: Option<&str>,
) -> Result<Viewer, AuthFailure> {
    let header = header.ok_or(AuthFailure::Denied(Unauthenticated::Missing))?;
    // The scheme is case-insensitive (RFC 9110); the key is not.
    let (scheme, key) = header.trim().split_once(' ').ok_or(AuthFailure::Denied(Unauthenticated::Invalid))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Denied(Unauthenticated::Invalid));
    }
    let key = key.trim();
    let prefix = prefix_of(key).ok_or(AuthFailure::Denied(Unauthenticated::Invalid))?;
    let hash = sha256_hex(key);
    if let Some(viewer) = cache.get(&hash) {
        return Ok(viewer);
    }
    let now = Utc::now();
    let stored = api_key::Entity::find()
        .filter(api_key::Column::Prefix.eq(prefix))
        // A demo key past its expiry is as good as unknown; other keys have no row in `demo_keys`.
        .filter(sea_orm::ExprTrait::not(Expr::exists(expired_demo_key(now))))
        .one(db)
        .await
        .map_err(|e| AuthFailure::Error(e.into()))?;
    let Some(stored) = stored.filter(|stored| stored.revoked_at.is_none()) else {
        return Err(AuthFailure::Denied(Unauthenticated::Invalid));
    };
    if !constant_time_eq(&stored.secret_hash, &hash) {
        return Err(AuthFailure::Denied(Unauthenticated::Invalid));
    }
    if stored.last_used_at.is_none_or(|used| now - used >= LAST_USED_RESOLUTION) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(stored.id))
            .exec(db)
            .await
            .map_err(|e| AuthFailure::Error(e.into()))?;
    }
    let viewer = Viewer::of_key(&stored);
    cache.put(hash, &viewer);
    Ok(viewer)
}

/// The expired `demo_keys` row of the `api_keys` row a query is looking at, if it has one.
fn expired_demo_key(now: DateTime<Utc>) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::ExprTrait as _;
    sea_orm::sea_query::Query::select()
        .expr(Expr::val(1))
        .from(DEMO_KEYS)
        .and_where(Expr::col((DEMO_KEYS, "api_key_id")).equals(("api_keys", "id")))
        .and_where(Expr::col((DEMO_KEYS, "expires_at")).lte(now))
        .take()
}

/// Authentication either refused the caller or could not be decided (the database failed).
#[derive(Debug)]
pub enum AuthFailure {
    Denied(Unauthenticated),
    Error(AppError),
}

/// What a new key is for.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub role: Role,
    /// Organisation code, required for (and only for) PARTNER keys.
    pub organisation: Option<String>,
    /// Volunteer id, required for (and only for) VOLUNTEER keys.
    pub volunteer: Option<Uuid>,
    pub name: String,
}

/// A fresh random key.
fn random_key() -> AppResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("no randomness for a key: {e}")))?;
    Ok(format!("psm_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Creates a key and returns it in full (the only time it is ever shown) with its stored row. Not
/// audited by itself: the audited command is [`service::key::create`](crate::service::key::create).
pub async fn create_key(db: &impl ConnectionTrait, new: &NewKey) -> AppResult<(String, api_key::Model)> {
    store_key(db, new, &random_key()?, Utc::now()).await
}

async fn store_key(
    db: &impl ConnectionTrait,
    new: &NewKey,
    key: &str,
    now: DateTime<Utc>,
) -> AppResult<(String, api_key::Model)> {
    let organisation_id = match (new.role, &new.organisation) {
        (Role::Partner, Some(code)) => Some(
            organisation::Entity::find()
                .filter(organisation::Column::Code.eq(code.as_str()))
                .one(db)
                .await?
                .ok_or_else(|| AppError::bad_input("organisation", format!("no organisation has the code `{code}`")))?
                .id,
        ),
        (Role::Partner, None) => return Err(AppError::bad_input("organisation", "a PARTNER key needs --organisation")),
        (_, Some(_)) => return Err(AppError::bad_input("organisation", "only PARTNER keys belong to an organisation")),
        (_, None) => None,
    };
    let volunteer_id = match (new.role, new.volunteer) {
        (Role::Volunteer, Some(id)) => Some(
            volunteer::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(|| AppError::bad_input("volunteer", format!("no volunteer has the id `{id}`")))?
                .id,
        ),
        (Role::Volunteer, None) => return Err(AppError::bad_input("volunteer", "a VOLUNTEER key needs --volunteer")),
        (_, Some(_)) => return Err(AppError::bad_input("volunteer", "only VOLUNTEER keys belong to a volunteer")),
        (_, None) => None,
    };
    let prefix = prefix_of(key).ok_or_else(|| AppError::Internal("malformed key".into()))?;
    let row = api_key::ActiveModel {
        id: Set(entity::new_id()),
        prefix: Set(prefix.to_owned()),
        secret_hash: Set(sha256_hex(key)),
        role: Set(new.role),
        organisation_id: Set(organisation_id),
        volunteer_id: Set(volunteer_id),
        name: Set(new.name.clone()),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
    };
    let model = api_key::Entity::insert(row).exec_with_returning(db).await?;
    Ok((key.to_owned(), model))
}

/// Every key, newest first, revoked ones included.
pub async fn list_keys(db: &DatabaseConnection) -> AppResult<Vec<api_key::Model>> {
    Ok(api_key::Entity::find().order_by_desc(api_key::Column::CreatedAt).all(db).await?)
}

/// Revokes the key with `prefix`; it stops working at once. Revoking twice is harmless. Not audited by
/// itself: the audited command is [`service::key::revoke`](crate::service::key::revoke).
pub async fn revoke_key(db: &impl ConnectionTrait, prefix: &str) -> AppResult<api_key::Model> {
    let key = api_key::Entity::find()
        .filter(api_key::Column::Prefix.eq(prefix))
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no key has the prefix `{prefix}`")))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(api_key::Column::Id.eq(key.id))
        .exec(db)
        .await?;
    Ok(api_key::Entity::find_by_id(key.id).one(db).await?.unwrap_or(key))
}

/// A demo key of the embedded demo database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoKey {
    pub role: Role,
    /// The key in full: demo keys are public (see [`create_demo_keys`]).
    pub key: String,
    /// From this instant on, authentication refuses the key.
    pub expires_at: DateTime<Utc>,
}

impl DemoKey {
    /// Whether the key still authenticates at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// The table of demo keys (see the migration `create_demo_keys`).
const DEMO_KEYS: &str = "demo_keys";

/// Creates the demo keys of a freshly seeded embedded demo database, one per role, each valid for
/// `lifetime`: the partner key speaks for the organisation that received the most referrals, the
/// volunteer key for the volunteer who reported the most cases.
///
/// The keys are random, so each demo database has its own, and they are kept in full (table
/// `demo_keys`) so that the server can print them at each start. Keeping them is acceptable because
/// they are public demo keys of a database that holds made-up data only, and they expire; it is why
/// they are refused anywhere but in SQLite, which only ever holds the embedded demo database (a
/// PostgreSQL database gets keys from `psm-api key create`, stored as hashes only).
pub async fn create_demo_keys(db: &DatabaseConnection, lifetime: Duration) -> AppResult<Vec<DemoKey>> {
    use sea_orm::sea_query::Query;
    use sea_orm::{ConnectionTrait, FromQueryResult, QuerySelect};
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return Err(AppError::bad_input(
            "database",
            "demo keys exist only in the embedded SQLite demo database; create keys with `psm-api key create`",
        ));
    }
    #[derive(FromQueryResult)]
    struct Busiest {
        id: Uuid,
    }
    let partner = entity::referral::Entity::find()
        .select_only()
        .column_as(entity::referral::Column::ToOrganisationId, "id")
        .group_by(entity::referral::Column::ToOrganisationId)
        .order_by_desc(Expr::cust("COUNT(*)"))
        .into_model::<Busiest>()
        .one(db)
        .await?;
    let reporter = entity::case::Entity::find()
        .select_only()
        .column_as(entity::case::Column::ReportingVolunteerId, "id")
        .filter(entity::case::Column::ReportingVolunteerId.is_not_null())
        .group_by(entity::case::Column::ReportingVolunteerId)
        .order_by_desc(Expr::cust("COUNT(*)"))
        .into_model::<Busiest>()
        .one(db)
        .await?;
    let organisation = match partner {
        Some(busiest) => organisation::Entity::find_by_id(busiest.id).one(db).await?.map(|o| o.code),
        None => None,
    };
    let mut keys = Vec::new();
    for role in Role::ALL.iter().copied() {
        let new = NewKey {
            role,
            organisation: if role == Role::Partner { organisation.clone() } else { None },
            volunteer: if role == Role::Volunteer { reporter.as_ref().map(|r| r.id) } else { None },
            name: format!("demo {}", role.as_str().to_lowercase()),
        };
        if (role == Role::Partner && new.organisation.is_none()) || (role == Role::Volunteer && new.volunteer.is_none())
        {
            continue;
        }
        let now = Utc::now();
        let (key, stored) = store_key(db, &new, &random_key()?, now).await?;
        let expires_at = now + lifetime;
        let mut insert = Query::insert();
        insert
            .into_table(DEMO_KEYS)
            .columns(["api_key_id", "key", "created_at", "expires_at"])
            .values([stored.id.into(), key.clone().into(), now.into(), expires_at.into()])
            .map_err(|e| AppError::Internal(format!("demo key statement: {e}")))?;
        db.execute(&insert).await?;
        keys.push(DemoKey { role, key, expires_at });
    }
    Ok(keys)
}

/// The demo keys of this database that are not revoked, expired ones included (see
/// [`DemoKey::is_live`]), in role order. Empty outside an embedded demo database.
pub async fn demo_keys(db: &DatabaseConnection) -> AppResult<Vec<DemoKey>> {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::Query;
    let select = Query::select().columns(["api_key_id", "key", "expires_at"]).from(DEMO_KEYS).take();
    let mut present = Vec::new();
    for row in db.query_all(&select).await? {
        let id: Uuid = row.try_get("", "api_key_id")?;
        let Some(stored) = api_key::Entity::find_by_id(id).one(db).await? else { continue };
        if stored.revoked_at.is_none() {
            present.push(DemoKey {
                role: stored.role,
                key: row.try_get("", "key")?,
                expires_at: row.try_get("", "expires_at")?,
            });
        }
    }
    present.sort_by_key(|key| Role::ALL.iter().position(|role| *role == key.role));
    Ok(present)
}
