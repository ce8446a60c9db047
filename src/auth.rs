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
    /// A header that is not `Bearer <key>`, or a key that is unknown, wrong or revoked.
    Invalid,
}

impl Unauthenticated {
    pub fn message(self) -> &'static str {
        match self {
            Unauthenticated::Missing => "an API key is required: send `Authorization: Bearer <key>`",
            Unauthenticated::Invalid => "the API key is not valid (unknown, mistyped or revoked)",
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

/// Finds the key of an `Authorization` header value and notes its use.
pub async fn authenticate(db: &DatabaseConnection, header: Option<&str>) -> Result<Viewer, AuthFailure> {
    let header = header.ok_or(AuthFailure::Denied(Unauthenticated::Missing))?;
    // The scheme is case-insensitive (RFC 9110); the key is not.
    let (scheme, key) = header.trim().split_once(' ').ok_or(AuthFailure::Denied(Unauthenticated::Invalid))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Denied(Unauthenticated::Invalid));
    }
    let key = key.trim();
    let prefix = prefix_of(key).ok_or(AuthFailure::Denied(Unauthenticated::Invalid))?;
    let stored = api_key::Entity::find()
        .filter(api_key::Column::Prefix.eq(prefix))
        .one(db)
        .await
        .map_err(|e| AuthFailure::Error(e.into()))?;
    let Some(stored) = stored.filter(|stored| stored.revoked_at.is_none()) else {
        return Err(AuthFailure::Denied(Unauthenticated::Invalid));
    };
    if !constant_time_eq(&stored.secret_hash, &sha256_hex(key)) {
        return Err(AuthFailure::Denied(Unauthenticated::Invalid));
    }
    let now = Utc::now();
    if stored.last_used_at.is_none_or(|used| now - used >= LAST_USED_RESOLUTION) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(stored.id))
            .exec(db)
            .await
            .map_err(|e| AuthFailure::Error(e.into()))?;
    }
    Ok(Viewer::of_key(&stored))
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

/// The demo keys of the embedded demo database: one per role, derived from a public phrase, so they
/// are the same on every machine and can be printed at each start. Only ever created in a SQLite demo
/// database (see `main.rs`); a PostgreSQL database has no key until an admin creates one.
pub fn demo_key(role: Role) -> String {
    let digest = Sha256::digest(format!("psm-api public demo key for {}", role.as_str()).as_bytes());
    format!("psm_{}", URL_SAFE_NO_PAD.encode(digest))
}

/// Creates the demo keys: the partner key speaks for the organisation that received the most
/// referrals, the volunteer key for the volunteer who reported the most cases.
pub async fn create_demo_keys(db: &DatabaseConnection) -> AppResult<Vec<(Role, String)>> {
    use sea_orm::{FromQueryResult, QuerySelect};
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
        let (key, _) = store_key(db, &new, &demo_key(role), Utc::now()).await?;
        keys.push((role, key));
    }
    Ok(keys)
}

/// The demo keys present (and not revoked) in this database.
pub async fn demo_keys(db: &DatabaseConnection) -> AppResult<Vec<(Role, String)>> {
    let mut present = Vec::new();
    for role in Role::ALL.iter().copied() {
        let key = demo_key(role);
        let prefix = prefix_of(&key).unwrap_or_default();
        let stored = api_key::Entity::find().filter(api_key::Column::Prefix.eq(prefix)).one(db).await?;
        if stored.is_some_and(|stored| stored.revoked_at.is_none() && stored.secret_hash == sha256_hex(&key)) {
            present.push((role, key));
        }
    }
    Ok(present)
}
