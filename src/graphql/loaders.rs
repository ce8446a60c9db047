//! DataLoaders: every relation a resolver follows goes through one, so that a page of parents costs one
//! statement per relation, however long the page.
//!
//! - [`RowLoader`]: rows by their key (`case.person`, `referral.toOrganisation`, `node(id:)`).
//! - [`ChildrenLoader`]: all children of each parent (`case.categories`, `referral.events`);
//!   [`ChildrenWithLoader`] reads a to-one row of each child in the same statement.
//! - [`PageLoader`] / [`CountLoader`]: one page of a nested connection per parent, and its totalCount.
//!
//! A to-one relation that a list selects on every row (a case's reporting volunteer on a page of cases)
//! need not wait for a loader at all: the list's statement joins it under its own scope (see
//! [`join_also`]) and each node carries it as [`Joined`]. A page of cases that selects their outcomes
//! reads them the same way (`connection::fetch_page_with_children`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, EntityTrait, Iterable, PrimaryKeyToColumn, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::graphql::batch::Batches;
use crate::graphql::connection::{
    ChildOf, Connection, CountSource, Keyed, Listed, NestedArgs, all_joined, count_children, fetch_nested_pages,
    join_also, nested_connection,
};
use crate::service::scope::{Guarded, Scoped};

/// The loaders of one request, each made the first time a resolver asks for it: a request follows a
/// few of the thirty-odd relations, and no loader outlives its request (no row is cached between
/// requests). Every loader reads through the request's [`Scoped`] handle, and its batches run through
/// the request's [`Batches`].
pub struct Loaders {
    scoped: Scoped,
    batches: Batches,
    made: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Loaders {
    pub fn new(scoped: &Scoped, batches: &Batches) -> Self {
        Loaders { scoped: scoped.clone(), batches: batches.clone(), made: Mutex::default() }
    }

    /// The request's loader of type `L`, made by `make` if this is the first use.
    fn get<L: Send + Sync + 'static>(&self, make: impl FnOnce(&Scoped) -> L) -> Option<Arc<DataLoader<L>>> {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        let loader = made.entry(TypeId::of::<L>()).or_insert_with(|| {
            Arc::new(DataLoader::new(make(&self.scoped), self.batches.spawner()).delay(Duration::ZERO))
        });
        loader.clone().downcast::<DataLoader<L>>().ok()
    }
}

/// The request's loader of type `L` (see [`Loaders`]).
fn loader<L: Send + Sync + 'static>(
    ctx: &Context<'_>,
    make: impl FnOnce(&Scoped) -> L,
) -> AppResult<Arc<DataLoader<L>>> {
    let loaders = ctx.data::<Loaders>().map_err(|e| AppError::Internal(e.message))?;
    loaders.get(make).ok_or_else(|| AppError::Internal("a loader of another type under its type id".into()))
}

/// Loads rows of `E` by key, among the rows the request's viewer may see.
pub struct RowLoader<E> {
    scoped: Scoped,
    entity: PhantomData<fn() -> E>,
}

impl<E: Guarded> RowLoader<E> {
    pub fn new(scoped: &Scoped) -> Self {
        RowLoader { scoped: scoped.clone(), entity: PhantomData }
    }
}

impl<E: Keyed> Loader<E::Key> for RowLoader<E> {
    type Value = E::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[E::Key]) -> Result<HashMap<E::Key, E::Model>, Self::Error> {
        let rows = E::by_keys(&self.scoped, keys).await.map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows.into_iter().map(|row| (E::key(&row), row)).collect())
    }
}

/// A one-to-many relation whose children are few enough to list whole (a case's categories).
pub trait Children: Send + Sync + 'static {
    type Entity: Guarded<Model: Clone + Send + Sync>;
    type ParentKey: Clone + Eq + Hash + Send + Sync + Into<sea_orm::Value> + 'static;
    fn parent_column() -> <Self::Entity as EntityTrait>::Column;
    fn parent_of(model: &<Self::Entity as EntityTrait>::Model) -> Self::ParentKey;
    /// The order children are listed in.
    fn order_column() -> <Self::Entity as EntityTrait>::Column;
}

/// Loads every child of each parent that the request's viewer may see.
pub struct ChildrenLoader<R> {
    scoped: Scoped,
    relation: PhantomData<fn() -> R>,
}

impl<R: Children> ChildrenLoader<R> {
    pub fn new(scoped: &Scoped) -> Self {
        ChildrenLoader { scoped: scoped.clone(), relation: PhantomData }
    }
}

impl<R: Children> Loader<R::ParentKey> for ChildrenLoader<R> {
    type Value = Vec<<R::Entity as EntityTrait>::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[R::ParentKey]) -> Result<HashMap<R::ParentKey, Self::Value>, Self::Error> {
        let rows = children_of::<R>(&self.scoped, keys)
            .all(self.scoped.db())
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(by_parent(keys, rows, |row| R::parent_of(row)))
    }
}

/// The children of these parents that the caller may see, in the relation's order (equal values in key
/// order, so that every way of reading them lists them alike).
fn children_of<R: Children>(scoped: &Scoped, keys: &[R::ParentKey]) -> sea_orm::Select<R::Entity> {
    let select = scoped
        .find::<R::Entity>()
        .filter(R::parent_column().is_in(keys.iter().cloned()))
        .order_by_asc(R::order_column());
    <R::Entity as EntityTrait>::PrimaryKey::iter().fold(select, |select, key| select.order_by_asc(key.into_column()))
}

/// Rows grouped under their parent's key, every key present (with no rows when it has none).
fn by_parent<K: Clone + Eq + Hash, T>(keys: &[K], rows: Vec<T>, parent: impl Fn(&T) -> K) -> HashMap<K, Vec<T>> {
    let mut children: HashMap<K, Vec<T>> = keys.iter().map(|key| (key.clone(), Vec::new())).collect();
    for row in rows {
        children.entry(parent(&row)).or_default().push(row);
    }
    children
}

/// A [`Children`] relation whose children point at one row of `J` that is usually read with them (a
/// referral's receiving organisation): [`ChildrenWithLoader`] joins it into the children's statement.
pub trait ChildrenWith<J: Keyed>: Children {
    /// The children's column holding the key of their `J` row.
    fn link() -> <Self::Entity as EntityTrait>::Column;
}

/// Loads every child of each parent that the caller may see, each with its `J` row (absent when the
/// caller may not see it), in one statement (see [`join_also`]).
pub struct ChildrenWithLoader<R, J> {
    scoped: Scoped,
    relation: PhantomData<fn() -> (R, J)>,
}

impl<R, J> ChildrenWithLoader<R, J> {
    pub fn new(scoped: &Scoped) -> Self {
        ChildrenWithLoader { scoped: scoped.clone(), relation: PhantomData }
    }
}

impl<J: Keyed, R: ChildrenWith<J>> Loader<R::ParentKey> for ChildrenWithLoader<R, J> {
    type Value = Vec<(<R::Entity as EntityTrait>::Model, Option<J::Model>)>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[R::ParentKey]) -> Result<HashMap<R::ParentKey, Self::Value>, Self::Error> {
        let select = join_also::<R::Entity, J>(&self.scoped, children_of::<R>(&self.scoped, keys), R::link());
        let rows = all_joined(&self.scoped, select).await.map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(by_parent(keys, rows, |(row, _)| R::parent_of(row)))
    }
}

/// A to-one row of a node: read by the statement that read the node (joined, see [`join_also`]), or
/// left to its loader.
#[derive(Clone, Default)]
pub enum Joined<M> {
    /// Not read with the node: the resolver loads it.
    #[default]
    Apart,
    /// Read with the node, among the rows the caller may see: `None` when the node points at none or
    /// the caller may not see it.
    Read(Option<M>),
}

/// The `E` row `key` names: the one read with the node when it was, else through [`RowLoader`].
pub async fn joined_row<E: Keyed>(
    ctx: &Context<'_>,
    joined: &Joined<E::Model>,
    key: E::Key,
) -> AppResult<Option<E::Model>> {
    match joined {
        Joined::Read(row) => Ok(row.clone()),
        Joined::Apart => row::<E>(ctx, key).await,
    }
}

/// [`joined_row`] for a row that a foreign key guarantees exists (see [`required_row`]).
pub async fn required_joined_row<E: Keyed>(
    ctx: &Context<'_>,
    joined: &Joined<E::Model>,
    key: E::Key,
) -> AppResult<E::Model> {
    joined_row::<E>(ctx, joined, key).await?.ok_or_else(|| AppError::NotFound("no such object".into()))
}

/// Key of a nested page: the parent, and the connection arguments (equal by fingerprint).
pub struct NestedKey<E: Listed> {
    pub parent: Uuid,
    pub args: Arc<NestedArgs<E>>,
}

impl<E: Listed> Clone for NestedKey<E> {
    fn clone(&self) -> Self {
        NestedKey { parent: self.parent, args: self.args.clone() }
    }
}

impl<E: Listed> PartialEq for NestedKey<E> {
    fn eq(&self, other: &Self) -> bool {
        self.parent == other.parent && self.args.fingerprint == other.args.fingerprint
    }
}

impl<E: Listed> Eq for NestedKey<E> {}

impl<E: Listed> Hash for NestedKey<E> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parent.hash(state);
        self.args.fingerprint.hash(state);
    }
}

/// Groups keys by their arguments, so that each distinct argument set runs once for all its parents.
fn by_arguments<E: Listed>(keys: &[NestedKey<E>]) -> Vec<(Arc<NestedArgs<E>>, Vec<Uuid>)> {
    let mut groups: Vec<(Arc<NestedArgs<E>>, Vec<Uuid>)> = Vec::new();
    for key in keys {
        match groups.iter_mut().find(|(args, _)| args.fingerprint == key.args.fingerprint) {
            Some((_, parents)) => parents.push(key.parent),
            None => groups.push((key.args.clone(), vec![key.parent])),
        }
    }
    groups
}

/// Loads one page of a nested connection for every parent at once.
pub struct PageLoader<R> {
    scoped: Scoped,
    relation: PhantomData<fn() -> R>,
}

impl<R> PageLoader<R> {
    pub fn new(scoped: &Scoped) -> Self {
        PageLoader { scoped: scoped.clone(), relation: PhantomData }
    }
}

type ChildModel<R> = <<R as ChildOf>::Entity as EntityTrait>::Model;

impl<R: ChildOf> Loader<NestedKey<R::Entity>> for PageLoader<R> {
    type Value = Vec<ChildModel<R>>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[NestedKey<R::Entity>],
    ) -> Result<HashMap<NestedKey<R::Entity>, Self::Value>, Self::Error> {
        let mut pages = HashMap::new();
        for (args, parents) in by_arguments(keys) {
            let mut rows = fetch_nested_pages::<R>(&self.scoped, &parents, &args).await.map_err(Arc::new)?;
            for parent in parents {
                let page = rows.remove(&parent).unwrap_or_default();
                pages.insert(NestedKey { parent, args: args.clone() }, page);
            }
        }
        Ok(pages)
    }
}

/// Counts the children of every parent of a nested connection at once.
pub struct CountLoader<R> {
    scoped: Scoped,
    relation: PhantomData<fn() -> R>,
}

impl<R> CountLoader<R> {
    pub fn new(scoped: &Scoped) -> Self {
        CountLoader { scoped: scoped.clone(), relation: PhantomData }
    }
}

impl<R: ChildOf> Loader<NestedKey<R::Entity>> for CountLoader<R> {
    type Value = i64;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[NestedKey<R::Entity>]) -> Result<HashMap<NestedKey<R::Entity>, i64>, Self::Error> {
        let mut totals = HashMap::new();
        for (args, parents) in by_arguments(keys) {
            let counts = count_children::<R>(&self.scoped, &parents, &args.condition).await.map_err(Arc::new)?;
            for parent in parents {
                totals.insert(NestedKey { parent, args: args.clone() }, counts.get(&parent).copied().unwrap_or(0));
            }
        }
        Ok(totals)
    }
}

/// `totalCount` of a nested connection, through [`CountLoader`].
struct NestedCount<R: ChildOf>(NestedKey<R::Entity>);

impl<R: ChildOf> CountSource for NestedCount<R> {
    fn count<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, AppResult<i64>> {
        Box::pin(async move {
            let loader = loader(ctx, CountLoader::<R>::new)?;
            Ok(loader.load_one(self.0.clone()).await.map_err(unshare)?.unwrap_or(0))
        })
    }
}

/// One page of `R` children under `parent`, through [`PageLoader`].
pub async fn nested_page<R: ChildOf>(
    ctx: &Context<'_>,
    parent: Uuid,
    args: Arc<NestedArgs<R::Entity>>,
) -> AppResult<Connection<ChildModel<R>>> {
    let loader = loader(ctx, PageLoader::<R>::new)?;
    let key = NestedKey { parent, args };
    let rows = loader.load_one(key.clone()).await.map_err(unshare)?.unwrap_or_default();
    let args = key.args.clone();
    Ok(nested_connection::<R>(rows, &args, Arc::new(NestedCount::<R>(key))))
}

/// A row by key through [`RowLoader`].
pub async fn row<E: Keyed>(ctx: &Context<'_>, key: E::Key) -> AppResult<Option<E::Model>> {
    let loader = loader(ctx, RowLoader::<E>::new)?;
    loader.load_one(key).await.map_err(unshare)
}

/// A row that a foreign key guarantees exists. When the viewer may not see it, it does not exist for
/// them: `NOT_FOUND`, as for any object outside their scope.
pub async fn required_row<E: Keyed>(ctx: &Context<'_>, key: E::Key) -> AppResult<E::Model> {
    row::<E>(ctx, key).await?.ok_or_else(|| AppError::NotFound("no such object".into()))
}

/// Every child of `parent` with its `J` row, through [`ChildrenWithLoader`].
pub async fn children_with<J: Keyed, R: ChildrenWith<J>>(
    ctx: &Context<'_>,
    parent: R::ParentKey,
) -> AppResult<Vec<(<R::Entity as EntityTrait>::Model, Option<J::Model>)>> {
    let loader = loader(ctx, ChildrenWithLoader::<R, J>::new)?;
    Ok(loader.load_one(parent).await.map_err(unshare)?.unwrap_or_default())
}

/// Every child of `parent` through [`ChildrenLoader`].
pub async fn children<R: Children>(
    ctx: &Context<'_>,
    parent: R::ParentKey,
) -> AppResult<Vec<<R::Entity as EntityTrait>::Model>> {
    let loader = loader(ctx, ChildrenLoader::<R>::new)?;
    Ok(loader.load_one(parent).await.map_err(unshare)?.unwrap_or_default())
}

/// A loader error is shared between every waiting resolver; each gets its own copy of the message.
fn unshare(error: Arc<AppError>) -> AppError {
    match &*error {
        AppError::BadInput { field, message } => AppError::BadInput { field: field.clone(), message: message.clone() },
        AppError::NotFound(message) => AppError::NotFound(message.clone()),
        AppError::Conflict(message) => AppError::Conflict(message.clone()),
        AppError::Forbidden(message) => AppError::Forbidden(message.clone()),
        AppError::Unauthenticated(message) => AppError::Unauthenticated(message.clone()),
        // Kept as a database error, so that an outage is still answered as one.
        AppError::Database(error) => AppError::Database(error.clone()),
        other => AppError::Internal(other.detail()),
    }
}
