//! Relay connections over keyset cursors.
//!
//! A cursor holds the values of the chosen `orderBy` column and of the tie-breaking key of the row it
//! points at; the next page is "rows after those values", answered by the index, so page 5,000 costs
//! what page 1 costs. There is no OFFSET anywhere.
//!
//! Those values can be personal data (a name, a birth date), and cursors end up in URLs and logs, so a
//! cursor is sealed with XChaCha20-Poly1305 under the server's [`CursorKey`]: it reveals nothing of the
//! row, and a cursor that was altered, cut short or sealed by another server does not open.
//!
//! Root connections run one statement per page ([`fetch_page`]); nested connections (a volunteer's
//! cases over a page of volunteers) run one statement per page of parents, paginating every parent at
//! once, with one `UNION ALL` of per-parent limited selects ([`fetch_nested_pages`]). `totalCount` runs
//! only when it is selected.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::{Context, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Alias, Asterisk, Expr, JoinType, Order, Query, SelectStatement, UnionType, WindowStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, ExprTrait, FromQueryResult, IdenStatic, Iterable,
    PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, SelectTwo, Value,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::service::scope::{Guarded, Scoped};

/// A value of a sort or key column, as carried inside a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KeyValue {
    Text(String),
    Int(i64),
    Instant(DateTime<Utc>),
    Date(NaiveDate),
    Uuid(Uuid),
}

impl From<KeyValue> for Value {
    fn from(value: KeyValue) -> Self {
        match value {
            KeyValue::Text(text) => text.into(),
            KeyValue::Int(int) => int.into(),
            KeyValue::Instant(instant) => instant.into(),
            KeyValue::Date(date) => date.into(),
            KeyValue::Uuid(uuid) => uuid.into(),
        }
    }
}

impl From<String> for KeyValue {
    fn from(value: String) -> Self {
        KeyValue::Text(value)
    }
}

impl From<Uuid> for KeyValue {
    fn from(value: Uuid) -> Self {
        KeyValue::Uuid(value)
    }
}

/// An entity whose rows have a unique key (their id, or a region's code).
pub trait Keyed:
    crate::service::scope::Guarded<Model: FromQueryResult + Clone + Send + Sync> + Default + Send + Sync + 'static
{
    /// The unique key, which also breaks ties between equal sort values.
    type Key: Clone + Eq + Hash + Send + Sync + Into<KeyValue> + Into<Value> + 'static;

    /// The key column.
    fn key_column() -> Self::Column;
    /// The key of a row.
    fn key(model: &Self::Model) -> Self::Key;

    /// The rows with these keys among those the caller may see (in no particular order).
    fn by_keys(
        scoped: &Scoped,
        keys: &[Self::Key],
    ) -> impl std::future::Future<Output = Result<Vec<Self::Model>, sea_orm::DbErr>> + Send {
        scoped.find::<Self>().filter(Self::key_column().is_in(keys.iter().cloned())).all(scoped.db())
    }
}

/// Entities keyed by a UUID `id` column.
macro_rules! keyed_by_id {
    ($($module:ident),+) => {
        $(
            impl Keyed for entity::$module::Entity {
                type Key = Uuid;
                fn key_column() -> entity::$module::Column {
                    entity::$module::Column::Id
                }
                fn key(model: &entity::$module::Model) -> Uuid {
                    model.id
                }
            }
        )+
    };
}

keyed_by_id!(
    audit_event,
    organisation,
    volunteer,
    training_attendance,
    award,
    person,
    consent,
    case,
    case_status_change,
    programme,
    enrollment,
    referral,
    referral_event,
    outcome
);

impl Keyed for entity::region::Entity {
    type Key = String;
    fn key_column() -> entity::region::Column {
        entity::region::Column::Code
    }
    fn key(model: &entity::region::Model) -> String {
        model.code.clone()
    }
    /// Reference data: from the process's directory (see [`Scoped::regions`]).
    fn by_keys(
        scoped: &Scoped,
        keys: &[String],
    ) -> impl std::future::Future<Output = Result<Vec<entity::region::Model>, sea_orm::DbErr>> + Send {
        scoped.regions(keys)
    }
}

/// An entity that can be listed through a connection.
pub trait Listed: Keyed {
    /// The columns a connection can be ordered by (a GraphQL enum).
    type Sort: Copy + Eq + Send + Sync + std::fmt::Debug + 'static;
    /// The column behind a sort choice.
    fn sort_column(sort: Self::Sort) -> Self::Column;
    /// A row's value of that column.
    fn sort_value(model: &Self::Model, sort: Self::Sort) -> KeyValue;
}

/// A sort choice and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ordering<S> {
    pub sort: S,
    pub descending: bool,
}

/// The `first` / `after` / `last` / `before` arguments of a connection field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// Page size limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// Size of a page when neither `first` nor `last` is given.
    pub default_size: u32,
    /// Largest `first` or `last` accepted.
    pub max_size: u32,
}

/// Validated paging arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    limit: u64,
    backward: bool,
    after: Option<Cursor>,
    before: Option<Cursor>,
    /// Seals the cursors of the page's rows.
    key: CursorKey,
}

/// The key that seals and opens cursors: 32 random bytes of the server secret, which every replica
/// reads from the database at startup (see [`crate::secret`]), so a cursor works on any replica.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// First byte of every sealed cursor: the format, so that a future one can be told apart.
const CURSOR_FORMAT: u8 = 1;
/// Length of an XChaCha20-Poly1305 nonce.
const NONCE_LENGTH: usize = 24;

impl CursorKey {
    pub fn new(bytes: [u8; 32]) -> CursorKey {
        CursorKey(bytes)
    }

    /// Format byte, nonce, then the encrypted `plain` with its 16-byte tag.
    ///
    /// The nonce is derived from the key and the plain text (as in SIV modes) rather than drawn at
    /// random: two different cursors never share a nonce, sealing cannot fail, and the same row in the
    /// same order always gets the same cursor. Equal cursors show only that they point at the same row.
    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let digest =
            Sha256::new().chain_update(b"psm-api cursor nonce").chain_update(self.0).chain_update(plain).finalize();
        let mut nonce = [0u8; NONCE_LENGTH];
        nonce.copy_from_slice(&digest[..NONCE_LENGTH]);
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        // Encryption fails only for messages of gigabytes; a cursor is a few dozen bytes.
        let sealed = cipher.encrypt(&XNonce::from(nonce), plain).unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LENGTH + sealed.len());
        out.push(CURSOR_FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plain text of a cursor this key sealed; `None` for anything else.
    fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&format, rest) = sealed.split_first()?;
        if format != CURSOR_FORMAT || rest.len() < NONCE_LENGTH {
            return None;
        }
        let (nonce, encrypted) = rest.split_at(NONCE_LENGTH);
        let nonce: [u8; NONCE_LENGTH] = nonce.try_into().ok()?;
        XChaCha20Poly1305::new(&self.0.into()).decrypt(&XNonce::from(nonce), encrypted).ok()
    }
}

/// What a cursor encodes: the sort it was made for, the row's sort value and its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    sort: String,
    value: KeyValue,
    key: KeyValue,
}

impl Cursor {
    fn encode(&self, key: &CursorKey) -> String {
        // Serialising this plain data cannot fail; an empty cursor would be rejected when used.
        URL_SAFE_NO_PAD.encode(key.seal(&serde_json::to_vec(self).unwrap_or_default()))
    }

    fn decode(text: &str, argument: &str, sort: &str, key: &CursorKey) -> AppResult<Cursor> {
        let invalid = || AppError::bad_input(argument, format!("`{argument}` is not a cursor this API issued"));
        let sealed = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let plain = key.open(&sealed).ok_or_else(invalid)?;
        let cursor: Cursor = serde_json::from_slice(&plain).map_err(|_| invalid())?;
        if cursor.sort != sort {
            return Err(AppError::bad_input(
                argument,
                format!(
                    "`{argument}` was made for orderBy {}, not {sort}; start again from the first page",
                    cursor.sort
                ),
            ));
        }
        Ok(cursor)
    }
}

impl Page {
    /// Checks the paging arguments against the limits and the chosen order, opening cursors with `key`.
    pub fn parse<S: std::fmt::Debug>(
        args: &PageArgs,
        ordering: &Ordering<S>,
        limits: PageLimits,
        key: CursorKey,
    ) -> AppResult<Page> {
        let sort = sort_name(ordering);
        let size = |name: &str, value: i32| -> AppResult<u64> {
            if value < 0 {
                return Err(AppError::bad_input(name, format!("`{name}` must not be negative")));
            }
            if value as u32 > limits.max_size {
                return Err(AppError::bad_input(
                    name,
                    format!(
                        "`{name}` is {value}, above the largest page size of {}; page with cursors instead",
                        limits.max_size
                    ),
                ));
            }
            Ok(value as u64)
        };
        let (limit, backward) = match (args.first, args.last) {
            (Some(_), Some(_)) => return Err(AppError::bad_input("last", "pass either `first` or `last`, not both")),
            (Some(first), None) => (size("first", first)?, false),
            (None, Some(last)) => (size("last", last)?, true),
            (None, None) => (
                u64::from(std::cmp::min(limits.default_size, limits.max_size)),
                args.before.is_some() && args.after.is_none(),
            ),
        };
        let after = args.after.as_deref().map(|text| Cursor::decode(text, "after", &sort, &key)).transpose()?;
        let before = args.before.as_deref().map(|text| Cursor::decode(text, "before", &sort, &key)).transpose()?;
        Ok(Page { limit, backward, after, before, key })
    }
}

fn sort_name<S: std::fmt::Debug>(ordering: &Ordering<S>) -> String {
    format!("{:?}_{}", ordering.sort, if ordering.descending { "DESC" } else { "ASC" })
}

/// Position of a page in its list.
#[derive(Debug, Clone, Default, PartialEq, Eq, SimpleObject)]
pub struct PageInfo {
    /// True when rows follow this page (ask with `after: endCursor`).
    pub has_next_page: bool,
    /// True when rows precede this page (ask with `before: startCursor`).
    pub has_previous_page: bool,
    /// Cursor of the first row of this page; null when the page is empty.
    pub start_cursor: Option<String>,
    /// Cursor of the last row of this page; null when the page is empty.
    pub end_cursor: Option<String>,
}

/// Counts the rows of a connection, when `totalCount` is asked for.
pub trait CountSource: Send + Sync {
    fn count<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, AppResult<i64>>;
}

/// `totalCount` of a root connection: `SELECT COUNT(*)` over the filtered rows.
struct StatementCount(SelectStatement);

impl CountSource for StatementCount {
    fn count<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, AppResult<i64>> {
        Box::pin(async move {
            let db = crate::graphql::guard::scoped(ctx)?.db();
            let mut count = Query::select();
            count.expr_as(Expr::cust("COUNT(*)"), "total").from_subquery(self.0.clone(), "counted");
            let row = db.query_one(&count).await?;
            Ok(row.map(|row| row.try_get::<i64>("", "total")).transpose()?.unwrap_or(0))
        })
    }
}

/// One page of rows, with cursors, ready to be wrapped in a GraphQL connection type.
pub struct Connection<T> {
    pub edges: Vec<(String, T)>,
    pub page_info: PageInfo,
    total: Arc<dyn CountSource>,
}

impl<T> Connection<T> {
    /// Converts every node, keeping cursors and counts.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Connection<U> {
        let mut f = f;
        Connection {
            edges: self.edges.into_iter().map(|(cursor, node)| (cursor, f(node))).collect(),
            page_info: self.page_info,
            total: self.total,
        }
    }

    /// The number of rows in the whole list (all pages), computed now.
    pub async fn total_count(&self, ctx: &Context<'_>) -> AppResult<i64> {
        self.total.count(ctx).await
    }
}

/// The condition "strictly after / before the cursor row" in the given order.
fn seek<E: Listed>(cursor: &Cursor, ordering: &Ordering<E::Sort>, after: bool) -> Condition {
    let greater = after != ordering.descending;
    let sort = E::sort_column(ordering.sort);
    let key = E::key_column();
    let past = |column: E::Column, value: Value| if greater { column.gt(value) } else { column.lt(value) };
    let key_value: Value = cursor.key.clone().into();
    if sort.as_str() == key.as_str() {
        return Condition::all().add(past(key, key_value));
    }
    let sort_value: Value = cursor.value.clone().into();
    // The first term repeats what the second implies; it is there so that both databases answer the
    // condition with a range scan of the sort column's index, starting at the cursor.
    let from_cursor = if greater { sort.gte(sort_value.clone()) } else { sort.lte(sort_value.clone()) };
    Condition::all().add(from_cursor).add(
        Condition::any()
            .add(past(sort, sort_value.clone()))
            .add(Condition::all().add(sort.eq(sort_value)).add(past(key, key_value))),
    )
}

/// Applies cursor conditions and order; returns the statement and whether rows come back reversed.
fn ordered<E: Listed>(mut select: Select<E>, ordering: &Ordering<E::Sort>, page: &Page) -> (Select<E>, Order) {
    if let Some(cursor) = &page.after {
        select = select.filter(seek::<E>(cursor, ordering, true));
    }
    if let Some(cursor) = &page.before {
        select = select.filter(seek::<E>(cursor, ordering, false));
    }
    let descending = ordering.descending != page.backward;
    let order = if descending { Order::Desc } else { Order::Asc };
    let sort = E::sort_column(ordering.sort);
    let key = E::key_column();
    if sort.as_str() != key.as_str() {
        select = select.order_by(sort, order.clone());
    }
    (select.order_by(key, order.clone()), order)
}

fn cursor_of<E: Listed>(model: &E::Model, ordering: &Ordering<E::Sort>, key: &CursorKey) -> String {
    Cursor { sort: sort_name(ordering), value: E::sort_value(model, ordering.sort), key: E::key(model).into() }
        .encode(key)
}

/// Turns up to `limit + 1` fetched rows (in query order) into a page; `model` finds the listed row in
/// each fetched one (which may carry a joined row beside it).
fn assemble<E: Listed, T>(
    mut rows: Vec<T>,
    ordering: &Ordering<E::Sort>,
    page: &Page,
    total: Arc<dyn CountSource>,
    model: impl Fn(&T) -> &E::Model,
) -> Connection<T> {
    let has_more = rows.len() as u64 > page.limit;
    rows.truncate(page.limit as usize);
    if page.backward {
        rows.reverse();
    }
    let edges: Vec<(String, T)> =
        rows.into_iter().map(|row| (cursor_of::<E>(model(&row), ordering, &page.key), row)).collect();
    let page_info = PageInfo {
        has_next_page: if page.backward { page.before.is_some() } else { has_more },
        has_previous_page: if page.backward { has_more } else { page.after.is_some() },
        start_cursor: edges.first().map(|(cursor, _)| cursor.clone()),
        end_cursor: edges.last().map(|(cursor, _)| cursor.clone()),
    };
    Connection { edges, page_info, total }
}

/// The statement of one page of a root connection (limited to one row more than the page, to tell
/// whether more follow), its `totalCount`, and the direction it reads in.
fn page_statement<E: Listed>(
    scoped: &Scoped,
    condition: Condition,
    ordering: &Ordering<E::Sort>,
    page: &Page,
) -> (Select<E>, Arc<dyn CountSource>, Order) {
    let filtered = scoped.find::<E>().filter(condition);
    let total = Arc::new(StatementCount(filtered.clone().into_query()));
    let (select, order) = ordered(filtered, ordering, page);
    (select.limit(page.limit + 1), total, order)
}

/// Fetches one page of a root connection: one SQL statement (plus one for `totalCount` if asked).
pub async fn fetch_page<E: Listed>(
    scoped: &Scoped,
    condition: Condition,
    ordering: &Ordering<E::Sort>,
    page: &Page,
) -> AppResult<Connection<E::Model>> {
    let (select, total, _) = page_statement::<E>(scoped, condition, ordering, page);
    let rows = select.all(scoped.db()).await?;
    Ok(assemble::<E, _>(rows, ordering, page, total, |row| row))
}

/// [`fetch_page`] with the `J` row each listed row's `link` column points at, read by the same
/// statement (see [`join_also`]).
pub async fn fetch_page_with<E: Listed, J: Keyed>(
    scoped: &Scoped,
    condition: Condition,
    ordering: &Ordering<E::Sort>,
    page: &Page,
    link: E::Column,
) -> AppResult<Connection<(E::Model, Option<J::Model>)>> {
    let (select, total, _) = page_statement::<E>(scoped, condition, ordering, page);
    let rows = all_joined(scoped, join_also::<E, J>(scoped, select, link)).await?;
    Ok(assemble::<E, _>(rows, ordering, page, total, |(row, _)| row))
}

/// Adds to `select` the row of `J` that each row's `link` column (a foreign key) points at: a `LEFT
/// JOIN` whose `ON` clause holds `J`'s scope for the caller, so that a row the caller may not see comes
/// back absent, exactly as [`Keyed::by_keys`] answers for it. A to-one relation the query selects then
/// costs no statement of its own.
///
/// Only for entities read by the default [`Keyed::by_keys`] (a scoped select): regions, read from the
/// process's directory, are never joined.
pub fn join_also<E: EntityTrait, J: Keyed>(scoped: &Scoped, select: Select<E>, link: E::Column) -> SelectTwo<E, J> {
    let mut select = select;
    QueryTrait::query(&mut select).join(JoinType::LeftJoin, J::default(), joined_on::<E, J>(scoped, link));
    select.select_also(J::default())
}

/// The `ON` clause joining the `J` row that `link` (a column of `E`) points at, among the rows of `J`
/// the caller may see.
fn joined_on<E: EntityTrait, J: Keyed>(scoped: &Scoped, link: E::Column) -> Condition {
    Condition::all()
        .add(Expr::col((J::default(), J::key_column())).equals((E::default(), link)))
        .add(scoped.condition::<J>())
}

/// The rows of a [`join_also`] statement. The joined row is absent only when the join found none (its
/// columns all NULL): a joined row that does not decode is an error, as it would be through its loader,
/// never an absent row.
pub async fn all_joined<E: EntityTrait, J: EntityTrait>(
    scoped: &Scoped,
    select: SelectTwo<E, J>,
) -> Result<Vec<(E::Model, Option<J::Model>)>, sea_orm::DbErr> {
    let rows = select.into_model::<E::Model, Option<J::Model>>().all(scoped.db()).await?;
    Ok(rows.into_iter().map(|(row, joined)| (row, joined.flatten())).collect())
}

/// One row of a page read with [`fetch_page_with_children`]: the listed row, its `J` row when the
/// page joined one (`None` inside: absent, or hidden from the caller), and its `C` children.
pub type WithChildren<E, J, C> =
    (<E as EntityTrait>::Model, Option<Option<<J as EntityTrait>::Model>>, Vec<<C as EntityTrait>::Model>);

/// [`fetch_page`] with every `C` child of each listed row (those the caller may see, in `order`), and,
/// when `link` is given, the `J` row it points at (see [`join_also`]): one statement in all. The page
/// is limited first, in a subquery named as the table, and joined after, so that the limit counts listed
/// rows, not rows times children; each child's scope for the caller is in its join's `ON` clause, as
/// the joined row's is.
pub async fn fetch_page_with_children<E: Listed, J: Keyed, C: Guarded>(
    scoped: &Scoped,
    condition: Condition,
    ordering: &Ordering<E::Sort>,
    page: &Page,
    link: Option<E::Column>,
    children: (C::Column, C::Column),
) -> AppResult<Connection<WithChildren<E, J, C>>> {
    let (parent, order_column) = children;
    let (listed, total, order) = page_statement::<E>(scoped, condition, ordering, page);

    let mut statement = Query::select();
    statement.from_subquery(listed.into_query(), E::default());
    for column in E::Column::iter() {
        statement.expr_as(Expr::col((E::default(), column)), Alias::new(format!("A_{}", column.as_str())));
    }
    if let Some(link) = link {
        statement.join(JoinType::LeftJoin, J::default(), joined_on::<E, J>(scoped, link));
        for column in J::Column::iter() {
            statement.expr_as(Expr::col((J::default(), column)), Alias::new(format!("B_{}", column.as_str())));
        }
    }
    let on = Condition::all()
        .add(Expr::col((C::default(), parent)).equals((E::default(), E::key_column())))
        .add(scoped.condition::<C>());
    statement.join(JoinType::LeftJoin, C::default(), on);
    for column in C::Column::iter() {
        statement.expr_as(Expr::col((C::default(), column)), Alias::new(format!("C_{}", column.as_str())));
    }
    let sort = E::sort_column(ordering.sort);
    if sort.as_str() != E::key_column().as_str() {
        statement.order_by((E::default(), sort), order.clone());
    }
    statement.order_by((E::default(), E::key_column()), order).order_by((C::default(), order_column), Order::Asc);
    // Children with equal order values come in key order, as their loader lists them.
    for key in C::PrimaryKey::iter() {
        statement.order_by((C::default(), key.into_column()), Order::Asc);
    }

    let db = scoped.db();
    let mut rows: Vec<WithChildren<E, J, C>> = Vec::new();
    for result in db.query_all(&statement).await? {
        let listed = E::Model::from_query_result(&result, "A_")?;
        let child = Option::<C::Model>::from_query_result(&result, "C_")?;
        let same = rows.last().is_some_and(|(last, _, _)| E::key(last) == E::key(&listed));
        if !same {
            let joined = match link {
                Some(_) => Some(Option::<J::Model>::from_query_result(&result, "B_")?),
                None => None,
            };
            rows.push((listed, joined, Vec::new()));
        }
        if let (Some(child), Some((_, _, children))) = (child, rows.last_mut()) {
            children.push(child);
        }
    }
    Ok(assemble::<E, _>(rows, ordering, page, total, |(row, _, _)| row))
}

/// A relation from a parent to the child rows a nested connection lists.
pub trait ChildOf: Send + Sync + 'static {
    /// The listed children.
    type Entity: Listed;
    /// The children's column holding the parent's id.
    fn parent_column() -> <Self::Entity as EntityTrait>::Column;
    /// The parent id of a child row.
    fn parent_of(model: &<Self::Entity as EntityTrait>::Model) -> Option<Uuid>;
}

/// The arguments of one nested connection field, shared by every parent on the page.
pub struct NestedArgs<E: Listed> {
    /// Identifies equal arguments, so that one statement serves every parent asking the same.
    pub fingerprint: String,
    pub condition: Condition,
    pub ordering: Ordering<E::Sort>,
    pub page: Page,
}

/// Most parents one statement pages through; more parents take more statements.
const PARENTS_PER_STATEMENT: usize = 200;

/// Fetches one page of children for each parent: one statement per 200 parents.
///
/// The statement is a `UNION ALL` of one ordered, limited select per parent, so that each parent's page
/// is a short range scan of the `(parent, sort)` index. A `ROW_NUMBER() OVER (PARTITION BY parent)`
/// window would give the same rows, but both databases evaluate it over every child of every parent
/// (2,000 cases per volunteer at a million cases) before discarding all but the page.
pub async fn fetch_nested_pages<R: ChildOf>(
    scoped: &Scoped,
    parents: &[Uuid],
    args: &NestedArgs<R::Entity>,
) -> AppResult<HashMap<Uuid, Vec<<R::Entity as EntityTrait>::Model>>> {
    let db = scoped.db();
    let (_, order) = ordered(R::Entity::find(), &args.ordering, &args.page);
    let sort = <R::Entity as Listed>::sort_column(args.ordering.sort);
    let key = <R::Entity as Keyed>::key_column();
    let mut pages: HashMap<Uuid, Vec<_>> = HashMap::new();
    for chunk in parents.chunks(PARENTS_PER_STATEMENT) {
        let mut branches = chunk.iter().enumerate().map(|(i, parent)| {
            let (select, _) = ordered(
                scoped.find::<R::Entity>().filter(R::parent_column().eq(*parent)).filter(args.condition.clone()),
                &args.ordering,
                &args.page,
            );
            let page = select.limit(args.page.limit + 1).into_query();
            // Each page is wrapped (SQLite refuses ORDER BY and LIMIT on the terms of a compound select)
            // and numbers its few rows, because UNION ALL promises no order.
            let alias = Alias::new(format!("page{i}"));
            let mut window = WindowStatement::new();
            if sort.as_str() != key.as_str() {
                window.order_by((alias.clone(), sort), order.clone());
            }
            window.order_by((alias.clone(), key), order.clone());
            Query::select()
                .column((alias.clone(), Asterisk))
                .expr_window_as(Expr::cust("ROW_NUMBER()"), window, "psm_rank")
                .from_subquery(page, alias)
                .take()
        });
        let Some(mut pages_union) = branches.next() else { continue };
        pages_union.unions(branches.map(|branch| (UnionType::All, branch)));
        let statement = Query::select()
            .column(Asterisk)
            .from_subquery(pages_union, Alias::new("pages"))
            .order_by("psm_rank", Order::Asc)
            .take();
        let rows = R::Entity::find().from_raw_sql(db.get_database_backend().build(&statement)).all(db).await?;
        for row in rows {
            if let Some(parent) = R::parent_of(&row) {
                pages.entry(parent).or_default().push(row);
            }
        }
    }
    Ok(pages)
}

/// Turns fetched children of one parent into its page.
pub fn nested_connection<R: ChildOf>(
    rows: Vec<<R::Entity as EntityTrait>::Model>,
    args: &NestedArgs<R::Entity>,
    total: Arc<dyn CountSource>,
) -> Connection<<R::Entity as EntityTrait>::Model> {
    assemble::<R::Entity, _>(rows, &args.ordering, &args.page, total, |row| row)
}

/// Counts children per parent in one `GROUP BY` statement.
pub async fn count_children<R: ChildOf>(
    scoped: &Scoped,
    parents: &[Uuid],
    condition: &Condition,
) -> AppResult<HashMap<Uuid, i64>> {
    let db = scoped.db();
    let parent = R::parent_column();
    let mut query = scoped
        .find::<R::Entity>()
        .filter(parent.is_in(parents.iter().copied()))
        .filter(condition.clone())
        .select_only()
        .column_as(parent, "parent")
        .column_as(Expr::cust("COUNT(*)"), "total")
        .group_by(parent)
        .into_query();
    query.clear_order_by();
    let rows = db.query_all(&query).await?;
    let mut counts = HashMap::new();
    for row in rows {
        counts.insert(row.try_get::<Uuid>("", "parent")?, row.try_get::<i64>("", "total")?);
    }
    Ok(counts)
}
