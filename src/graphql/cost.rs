//! The cost model: what a query may read, in points, computed from the parsed document, the schema and
//! the request's variables before anything runs ([`CostModel::requested`]), and from the answer after it
//! ran ([`CostModel::actual`]).
//!
//! - Every object returned costs 1 point; scalars and enums cost nothing.
//! - A connection (a field with a `first` argument) returns up to `first` (or `last`, or the default
//!   page size, or the argument's default) objects in its `nodes` / `edges` / `changes` lists: its
//!   children are multiplied by that number, and nested connections multiply again (GitHub's node
//!   count).
//! - Any other list counts [`LIST_ESTIMATE`] elements (`nodes(ids:)` counts its ids).
//! - `totalCount` costs [`TOTAL_COUNT`]: a counting statement.
//! - A statistics field costs [`STATS_BASE`] (one grouping statement over its table), plus
//!   [`PERCENTILE`] when a median or 90th percentile is selected (the rows are sorted per group), plus
//!   [`AS_OF`] with `asOf` (each row's state is rebuilt from its history), plus 1 per group. The groups
//!   are estimated from `groupBy` and `period` ([`dimension_groups`]) and refused past
//!   `--max-stats-groups`.
//! - Each mutation costs [`MUTATION`] besides what its payload selects; introspection (`__schema`,
//!   `__type`, answered from memory) costs [`INTROSPECTION`].
//!
//! The actual cost counts the same way over what was returned (real list lengths, real groups). This
//! module knows the schema only from its SDL, so it follows every type without a list of them.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Field, OperationType, Selection, SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Value, Variables};

use crate::limits::{Refusal, code};

/// Elements assumed in a list that has no page size (a case's referrals, a region's children).
pub const LIST_ESTIMATE: u64 = 5;
/// A connection's `totalCount`: one counting statement.
pub const TOTAL_COUNT: u64 = 10;
/// A statistics field: one grouping statement over its whole table.
pub const STATS_BASE: u64 = 5000;
/// Added to a statistics field that selects a median or a 90th percentile.
pub const PERCENTILE: u64 = 10_000;
/// Added to a statistics field asked `asOf` a past instant.
pub const AS_OF: u64 = 5000;
/// Each mutation, besides its payload.
pub const MUTATION: u64 = 10;
/// `__schema` or `__type`, whatever they select.
pub const INTROSPECTION: u64 = 100;

/// The root fields that are statistics, and the groups a field without `groupBy` returns.
const STATS_FIELDS: &[&str] =
    &["caseStats", "referralStats", "outcomeStats", "programmeStats", "volunteerStats", "volunteerCoverage"];
/// Fields of statistics results whose values are percentiles.
const PERCENTILE_FIELDS: &[&str] =
    &["medianDaysToClose", "p90DaysToClose", "medianHoursToRespond", "medianHoursToComplete"];

/// Groups a dimension adds, as estimated before any SQL: time buckets are counted from the period;
/// Banjarmasin has 5 kecamatan and 52 kelurahan; volunteers, programmes and organisations are open
/// ended and count as the order of their numbers in the city (300, 50, 50); any other dimension is an
/// enumeration of at most 30 values.
pub fn dimension_groups(dimension: &str, period_days: Option<u64>) -> u64 {
    let days = period_days.unwrap_or(1);
    match dimension {
        d if d.ends_with("_DAY") => days.max(1),
        d if d.ends_with("_WEEK") => days / 7 + 2,
        d if d.ends_with("_MONTH") => days / 28 + 2,
        d if d.ends_with("_QUARTER") => days / 89 + 2,
        d if d.ends_with("_YEAR") => days / 365 + 2,
        "DISTRICT" => 5,
        "KELURAHAN" => 52,
        "REPORTING_VOLUNTEER" => 300,
        "PROGRAMME" => 50,
        d if d.ends_with("_ORGANISATION") => 50,
        _ => 30,
    }
}

#[derive(Debug, Clone)]
struct FieldInfo {
    /// The named type the field returns (lists and non-null unwrapped).
    ty: String,
    list: bool,
    /// Whether `ty` is an object, interface or union.
    composite: bool,
    /// Whether the field takes `first` (a page).
    paged: bool,
    /// The default of its `first` argument, when the schema gives one.
    page_default: Option<u64>,
}

/// The schema as the cost model needs it: every type's fields, read from the SDL.
#[derive(Debug, Default)]
pub struct CostModel {
    types: HashMap<String, HashMap<String, FieldInfo>>,
    query: String,
    mutation: String,
}

/// Knobs of a walk that come from the configuration and the request.
pub struct Walk<'a> {
    pub document: &'a ExecutableDocument,
    pub variables: &'a Variables,
    pub default_page_size: u64,
    pub max_stats_groups: u64,
}

impl CostModel {
    /// The model of psm-api's schema, read once from its SDL.
    pub fn shared() -> Arc<CostModel> {
        static MODEL: OnceLock<Arc<CostModel>> = OnceLock::new();
        MODEL.get_or_init(|| Arc::new(CostModel::from_sdl(&super::sdl()))).clone()
    }

    /// Reads a model from SDL text; an SDL that does not parse gives an empty model (everything then
    /// counts as objects of unknown types: 1 point each).
    pub fn from_sdl(sdl: &str) -> CostModel {
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else { return CostModel::default() };
        let mut composite = std::collections::HashSet::new();
        let mut model = CostModel { query: "Query".into(), mutation: "Mutation".into(), ..CostModel::default() };
        for definition in &document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    if let Some(query) = &schema.node.query {
                        model.query = query.node.to_string();
                    }
                    if let Some(mutation) = &schema.node.mutation {
                        model.mutation = mutation.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    if matches!(ty.node.kind, TypeKind::Object(_) | TypeKind::Interface(_) | TypeKind::Union(_)) {
                        composite.insert(ty.node.name.node.to_string());
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else { continue };
            let fields = match &ty.node.kind {
                TypeKind::Object(object) => &object.fields,
                TypeKind::Interface(interface) => &interface.fields,
                _ => continue,
            };
            let mut infos = HashMap::new();
            for field in fields {
                let field = &field.node;
                let (mut base, mut list) = (&field.ty.node.base, false);
                while let BaseType::List(inner) = base {
                    list = true;
                    base = &inner.base;
                }
                let BaseType::Named(name) = base else { continue };
                let first = field.arguments.iter().find(|argument| argument.node.name.node == "first");
                let page_default = first
                    .and_then(|argument| argument.node.default_value.as_ref())
                    .and_then(|value| number(&value.node));
                infos.insert(
                    field.name.node.to_string(),
                    FieldInfo {
                        ty: name.to_string(),
                        list,
                        composite: composite.contains(name.as_str()),
                        paged: first.is_some(),
                        page_default,
                    },
                );
            }
            model.types.insert(ty.node.name.node.to_string(), infos);
        }
        model
    }

    fn field(&self, ty: &str, name: &str) -> Option<&FieldInfo> {
        self.types.get(ty).and_then(|fields| fields.get(name))
    }

    fn root(&self, operation: OperationType) -> &str {
        match operation {
            OperationType::Mutation => &self.mutation,
            _ => &self.query,
        }
    }

    /// The most the chosen operation(s) can cost, or the refusal of a statistics field with too many
    /// groups. Only call on documents whose expanded size has been checked ([`crate::limits::measure`]):
    /// the walk follows every fragment spread.
    pub fn requested(&self, walk: &Walk<'_>, operation_name: Option<&str>) -> Result<u64, Refusal> {
        let mut most = 0u64;
        for operation in crate::limits::chosen_operations(walk.document, operation_name) {
            let root = self.root(operation.ty);
            let mut cost = self.set_requested(walk, &operation.selection_set.node, root, None)?;
            if operation.ty == OperationType::Mutation {
                cost = cost.saturating_add(MUTATION.saturating_mul(root_fields(walk, &operation.selection_set.node)));
            }
            most = most.max(cost);
        }
        Ok(most)
    }

    fn set_requested(&self, walk: &Walk<'_>, set: &SelectionSet, ty: &str, page: Option<u64>) -> Result<u64, Refusal> {
        let mut cost = 0u64;
        for selection in &set.items {
            let part = match &selection.node {
                Selection::Field(field) => self.field_requested(walk, &field.node, ty, page)?,
                Selection::FragmentSpread(spread) => match walk.document.fragments.get(&spread.node.fragment_name.node)
                {
                    Some(fragment) => {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.set_requested(walk, &fragment.node.selection_set.node, on, page)?
                    }
                    None => 0,
                },
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|condition| condition.node.on.node.as_str());
                    self.set_requested(walk, &inline.node.selection_set.node, on.unwrap_or(ty), page)?
                }
            };
            cost = cost.saturating_add(part);
        }
        Ok(cost)
    }

    fn field_requested(&self, walk: &Walk<'_>, field: &Field, ty: &str, page: Option<u64>) -> Result<u64, Refusal> {
        let name = field.name.node.as_str();
        match name {
            "__typename" => return Ok(0),
            "__schema" | "__type" => return Ok(INTROSPECTION),
            _ => {}
        }
        if STATS_FIELDS.contains(&name) {
            let groups = stats_groups(walk, field)?;
            return Ok(stats_weight(walk, field).saturating_add(groups).saturating_add(1));
        }
        let Some(info) = self.field(ty, name) else {
            // Unknown here (validation will say so): an object of unknown type.
            return Ok(1u64.saturating_add(self.set_requested(walk, &field.selection_set.node, "", None)?));
        };
        if !info.composite {
            return Ok(if name == "totalCount" { TOTAL_COUNT } else { 0 });
        }
        let elements = if info.list {
            match argument(walk, field, "ids") {
                Some(Value::List(ids)) => ids.len() as u64,
                _ => page.unwrap_or(LIST_ESTIMATE),
            }
        } else {
            1
        };
        let child_page = info.paged.then(|| page_size(walk, field, info));
        let each = 1u64.saturating_add(self.set_requested(walk, &field.selection_set.node, &info.ty, child_page)?);
        Ok(elements.saturating_mul(each))
    }

    /// What an answer actually cost: the same count over what `data` holds.
    pub fn actual(&self, walk: &Walk<'_>, operation_name: Option<&str>, data: &Value) -> u64 {
        let operations = crate::limits::chosen_operations(walk.document, operation_name);
        let Some(operation) = operations.first() else { return 0 };
        let root = self.root(operation.ty);
        let mut cost = self.set_actual(walk, &operation.selection_set.node, root, data);
        if operation.ty == OperationType::Mutation {
            let Value::Object(fields) = data else { return cost };
            cost = cost.saturating_add(MUTATION.saturating_mul(fields.len() as u64));
        }
        cost
    }

    fn set_actual(&self, walk: &Walk<'_>, set: &SelectionSet, ty: &str, data: &Value) -> u64 {
        let Value::Object(object) = data else { return 0 };
        let mut cost = 0u64;
        for selection in &set.items {
            let part = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = field.alias.as_ref().unwrap_or(&field.name).node.as_str();
                    match object.get(key) {
                        Some(value) => self.field_actual(walk, field, ty, value),
                        None => 0,
                    }
                }
                Selection::FragmentSpread(spread) => match walk.document.fragments.get(&spread.node.fragment_name.node)
                {
                    Some(fragment) => {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.set_actual(walk, &fragment.node.selection_set.node, on, data)
                    }
                    None => 0,
                },
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|condition| condition.node.on.node.as_str());
                    self.set_actual(walk, &inline.node.selection_set.node, on.unwrap_or(ty), data)
                }
            };
            cost = cost.saturating_add(part);
        }
        cost
    }

    fn field_actual(&self, walk: &Walk<'_>, field: &Field, ty: &str, value: &Value) -> u64 {
        let name = field.name.node.as_str();
        if value == &Value::Null {
            return 0;
        }
        match name {
            "__typename" => return 0,
            "__schema" | "__type" => return INTROSPECTION,
            _ => {}
        }
        if STATS_FIELDS.contains(&name) {
            let groups = match value {
                Value::List(rows) => rows.len(),
                Value::Object(result) => match result.get("groups") {
                    Some(Value::List(groups)) => groups.len(),
                    _ => 0,
                },
                _ => 0,
            };
            return stats_weight(walk, field).saturating_add(groups as u64).saturating_add(1);
        }
        let Some(info) = self.field(ty, name) else { return 0 };
        if !info.composite {
            return if name == "totalCount" { TOTAL_COUNT } else { 0 };
        }
        let each = |item: &Value| {
            if item == &Value::Null {
                0
            } else {
                1u64.saturating_add(self.set_actual(walk, &field.selection_set.node, &info.ty, item))
            }
        };
        match value {
            Value::List(items) => items.iter().map(each).fold(0u64, u64::saturating_add),
            item => each(item),
        }
    }
}

/// Mutations are the root fields of a mutation operation (fragments included).
fn root_fields(walk: &Walk<'_>, set: &SelectionSet) -> u64 {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(_) => 1,
            Selection::FragmentSpread(spread) => walk
                .document
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |fragment| root_fields(walk, &fragment.node.selection_set.node)),
            Selection::InlineFragment(inline) => root_fields(walk, &inline.node.selection_set.node),
        })
        .fold(0u64, u64::saturating_add)
}

/// The value of an argument, variables substituted; `None` when absent or null.
fn argument(walk: &Walk<'_>, field: &Field, name: &str) -> Option<Value> {
    let value = field.get_argument(name)?;
    let value = value.node.clone().into_const_with(|variable: Name| walk.variables.get(&variable).cloned().ok_or(()));
    value.ok().filter(|value| value != &Value::Null)
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        _ => None,
    }
}

/// The page a connection field asks for: `first`, else `last`, else the argument's default, else the
/// configured default page size. A negative or absurd value is the resolver's to refuse; here it counts
/// as what it says (a huge `first` is a huge cost).
fn page_size(walk: &Walk<'_>, field: &Field, info: &FieldInfo) -> u64 {
    let first = argument(walk, field, "first").as_ref().and_then(number);
    let last = argument(walk, field, "last").as_ref().and_then(number);
    match (first, last) {
        (None, None) => info.page_default.unwrap_or(walk.default_page_size),
        (first, last) => first.unwrap_or(0).max(last.unwrap_or(0)),
    }
}

/// The weight of a statistics field besides its groups.
fn stats_weight(walk: &Walk<'_>, field: &Field) -> u64 {
    let mut weight = STATS_BASE;
    if selects_any(walk, &field.selection_set.node, PERCENTILE_FIELDS, 0) {
        weight = weight.saturating_add(PERCENTILE);
    }
    if argument(walk, field, "asOf").is_some() {
        weight = weight.saturating_add(AS_OF);
    }
    weight
}

/// Whether a selection selects any of `names`, fragments followed (to a bounded depth: the document's
/// expanded size was checked before).
fn selects_any(walk: &Walk<'_>, set: &SelectionSet, names: &[&str], depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    set.items.iter().any(|selection| match &selection.node {
        Selection::Field(field) => {
            names.contains(&field.node.name.node.as_str())
                || selects_any(walk, &field.node.selection_set.node, names, depth + 1)
        }
        Selection::FragmentSpread(spread) => walk
            .document
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|fragment| selects_any(walk, &fragment.node.selection_set.node, names, depth + 1)),
        Selection::InlineFragment(inline) => selects_any(walk, &inline.node.selection_set.node, names, depth + 1),
    })
}

/// The groups a statistics field may return, estimated from `groupBy` and `period`; refused past the
/// configured maximum.
fn stats_groups(walk: &Walk<'_>, field: &Field) -> Result<u64, Refusal> {
    if field.name.node == "volunteerCoverage" {
        return Ok(dimension_groups("KELURAHAN", None));
    }
    let period_days = match argument(walk, field, "period") {
        Some(Value::Object(period)) => {
            let instant = |key: &str| match period.get(key) {
                Some(Value::String(text)) => chrono::DateTime::parse_from_rfc3339(text).ok(),
                _ => None,
            };
            match (instant("from"), instant("before")) {
                (Some(from), Some(before)) if before > from => {
                    Some(u64::try_from((before - from).num_seconds()).unwrap_or(0).div_ceil(86_400))
                }
                _ => None,
            }
        }
        _ => None,
    };
    let groups = match argument(walk, field, "groupBy") {
        // At most two dimensions are allowed; the resolver refuses more (BAD_USER_INPUT) before any SQL.
        Some(Value::List(dimensions)) => dimensions
            .iter()
            .take(2)
            .map(|dimension| match dimension {
                Value::Enum(name) => dimension_groups(name.as_str(), period_days),
                Value::String(name) => dimension_groups(name, period_days),
                _ => 1,
            })
            .fold(1u64, u64::saturating_mul),
        Some(Value::Enum(name)) => dimension_groups(name.as_str(), period_days),
        _ => 1,
    };
    if groups > walk.max_stats_groups {
        return Err(Refusal::over(
            code::TOO_MANY_GROUPS,
            &format!("`{}` could return this many groups", field.name.node),
            groups,
            walk.max_stats_groups,
            " (--max-stats-groups); group by fewer or coarser dimensions, or shorten the period",
        ));
    }
    Ok(groups)
}
