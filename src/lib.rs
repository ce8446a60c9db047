//! psm-api: the GraphQL data backend of Banjarmasin's community social workers (PSM) programme.
//!
//! Volunteers (PSM) find social cases in their neighbourhoods, report them to the city social service
//! (Dinsos) and follow them through programmes and referrals to partner NGOs. This crate serves that
//! data to dashboards, partners and testers through a typed GraphQL schema.
//!
//! # Layout
//! - [`config`]: every setting, from the command line or the environment.
//! - [`db`]: connecting (creating the embedded SQLite file) and migrating.
//! - [`error`]: the one error type and its GraphQL `extensions.code`.
//! - [`graphql`]: the schema: types, root fields, loaders, keyset pagination.
//! - [`app`]: state, router, serving.
//! - [`gate`]: the door of `/graphql`: the key checked and the body size limited before the body is read.
//! - [`limits`]: limits checked before work (tokens, depth, fields, aliases, directives) and their codes.
//! - [`ratelimit`]: each key's budget of points, a leaky bucket held in the database.
//! - [`persisted`]: persisted queries (Apollo's protocol), kept in the database.
//! - [`auth`]: API keys and the viewer a request runs as.
//! - [`audit`]: the append-only trail of writes and of personal-data reads.
//! - [`ops`]: what operators rely on: probes, metrics, access logs and request ids, time limits,
//!   database faults answered clearly, graceful shutdown.
//! - [`secret`]: the server secret every replica shares (it keys the cursors), kept in the database.
//! - [`seed`]: the deterministic Banjarmasin demo data set.
//! - [`service`]: the domain core, without GraphQL or HTTP types: every write command (with its access
//!   table, validation, transaction and audit), lifecycles, partner feeds and sweeps, and the
//!   disclosure control of statistics (record keys and the p-table, small-cell rules, daily budgets).
//!   GraphQL, the command line and the sweeps all write through it.
//! - [`web`]: the web edge: GraphQL over HTTP (media types, status codes), CORS, the offline GraphiQL
//!   page and its assets, and the response layers (compression, security headers, JSON error bodies).
//!
//! The data model itself lives in the `entity` crate, the schema migrations in `migration`.

pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod gate;
pub mod graphql;
pub mod limits;
pub mod ops;
pub mod persisted;
pub mod ratelimit;
pub mod secret;
pub mod seed;
pub mod service;
pub mod web;
