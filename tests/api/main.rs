//! The one integration-test binary of psm-api.
//!
//! Every data test runs on a fresh SQLite database, and again on PostgreSQL when `TEST_DATABASE_URL`
//! is set (each test gets a clone of a migrated template database). With `PSM_REQUIRE_POSTGRES=1`, an
//! unset or unreachable PostgreSQL fails the PostgreSQL half instead of skipping it.

mod cluster;
mod reader;
mod server;
mod support;

mod access;
mod browser;
mod costs;
mod database_file;
mod derived;
mod disclosure;
mod errors;
mod faults;
mod feed;
mod filters;
mod http;
mod limits;
mod logs;
mod migrations;
mod nesting;
mod ops;
mod outcome_stats;
mod paging;
mod perturbation;
mod privacy;
mod programme_stats;
mod schema;
mod scope;
mod seed;
mod shutdown;
mod stats;
mod suppression;
mod tallies;
mod web;
mod writes;
mod writes_more;
