//! The `psm-api` command: serve (the default), migrate, seed, print the schema.

use std::process::ExitCode;

use chrono::Offset;
use clap::Parser;
use migration::{Migrator, MigratorTrait};
use psm_api::app::AppState;
use psm_api::config::{Cli, Command, KeyAction, MigrateAction, TalliesAction};
use psm_api::service::tallies;
use psm_api::web::cors::{CorsPolicy, Origins};
use psm_api::{auth, db, graphql, ops, seed, service};

/// mimalloc serves the many small, short-lived allocations of a GraphQL answer from per-thread pages,
/// without the locks glibc's malloc takes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    ops::logging::init(cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Schema = command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    if let Command::Ptable = command {
        let table = cli.serve.api.ptable();
        print!("{}", table.to_csv());
        eprintln!("p-table: {} (largest adjustment {})", table.source(), table.max_adjustment());
        let last = table.last_row();
        for count in 0..=last {
            let (mean, variance) = table.moments(count);
            // Rounding leaves a -0.0000 otherwise.
            let mean = if mean.abs() < 5e-5 { 0.0 } else { mean };
            let and_up = if count == last { " and up" } else { "" };
            eprintln!("  true count {count}{and_up}: mean adjustment {mean:+.4}, variance {variance:.4}");
        }
        return Ok(());
    }
    let url = &cli.database.database_url;
    // Migrations, seeds and key commands run without the statement timeout of serving.
    let connection = db::connect_with(url, &cli.database.pool(false)).await?;
    match command {
        Command::Schema | Command::Ptable => {}
        Command::Migrate { action } => match action.unwrap_or(MigrateAction::Up) {
            MigrateAction::Up => Migrator::up(&connection, None).await?,
            MigrateAction::Down => Migrator::down(&connection, Some(1)).await?,
            MigrateAction::Status => Migrator::status(&connection).await?,
        },
        Command::Seed(args) => {
            db::migrate(&connection).await?;
            if !seed::is_empty(&connection).await? {
                return Err("the database already holds data; seed only into an empty database".into());
            }
            let started = std::time::Instant::now();
            let options = seed::SeedOptions {
                cases: args.cases,
                progress: true,
                now: chrono::Utc::now(),
                seed: args.seed,
                tallies_for: Some(cli.serve.api.city_offset_hours()),
            };
            let report = seed::seed_demo(&connection, &options).await?;
            tallies::ensure(&connection, cli.serve.api.city_offset_hours()).await?;
            tracing::info!(?report, seconds = started.elapsed().as_secs_f64(), "demo data loaded");
        }
        Command::Tallies { action } => {
            db::migrate(&connection).await?;
            let offset = cli.serve.api.city_offset_hours();
            match action {
                TalliesAction::Rebuild => {
                    let started = std::time::Instant::now();
                    tallies::rebuild(&connection, offset).await?;
                    tracing::info!(seconds = started.elapsed().as_secs_f64(), offset, "tallies rebuilt");
                }
                TalliesAction::Check => {
                    let differences = tallies::check(&connection).await?;
                    for (table, rows) in &differences {
                        println!("{table}: {rows} rows differ from the cases");
                    }
                    if differences.iter().any(|(_, rows)| *rows != 0) {
                        return Err("the tallies differ from the cases: run `psm-api tallies rebuild`".into());
                    }
                }
            }
        }
        Command::Key { action } => {
            db::migrate(&connection).await?;
            key_command(&connection, action).await?;
        }
        Command::Serve => {
            // Settings first: a wrong one stops the server before it touches the database.
            let cors = CorsPolicy::from_args(&cli.serve.cors, url.starts_with("sqlite:"))?;
            db::migrate(&connection).await?;
            // An empty embedded (SQLite) database gets the demo data by itself; PostgreSQL only by `seed --demo`.
            if url.starts_with("sqlite:") && seed::is_empty(&connection).await? {
                tracing::info!("empty embedded database: loading the Banjarmasin demo data (10,000 cases)");
                let options = seed::SeedOptions {
                    cases: 10_000,
                    progress: true,
                    now: chrono::Utc::now(),
                    seed: 6371,
                    tallies_for: Some(cli.serve.api.city_offset_hours()),
                };
                seed::seed_demo(&connection, &options).await?;
                let lifetime = chrono::Duration::days(i64::from(cli.serve.demo_key_days));
                auth::create_demo_keys(&connection, lifetime).await.map_err(|e| e.detail())?;
            }
            if tallies::ensure(&connection, cli.serve.api.city_offset_hours()).await? {
                tracing::info!("statistics tallies built");
            }
            let demo_keys = if url.starts_with("sqlite:") {
                auth::demo_keys(&connection).await.map_err(|e| e.detail())?
            } else {
                vec![]
            };
            let listener = tokio::net::TcpListener::bind(cli.serve.listen).await?;
            let address = listener.local_addr()?;
            tracing::info!("psm-api serving GraphQL at http://{address}/graphql");
            tracing::info!("GraphiQL: open http://{address}/graphiql in a browser");
            let now = chrono::Utc::now();
            let (live, expired): (Vec<_>, Vec<_>) = demo_keys.into_iter().partition(|key| key.is_live(now));
            if !live.is_empty() {
                println!("Demo keys of the embedded demo database (public: never use this database for real data):");
                for key in &live {
                    let role = key.role.as_str();
                    let until = key.expires_at.format("%Y-%m-%d %H:%M UTC");
                    if key.role == entity::enums::Role::Admin {
                        // Printed here only: the GraphiQL page never sends the ADMIN key.
                        println!("  {role:<10} {}   valid until {until}", key.key);
                    } else {
                        let page = role.to_lowercase();
                        println!(
                            "  {role:<10} {}   valid until {until}   GraphiQL: http://{address}/graphiql?role={page}",
                            key.key
                        );
                    }
                }
            }
            if let Some(key) = expired.first() {
                println!(
                    "The demo keys of this database expired on {}. Start with a new database file for fresh ones, \
                     or create a key with `psm-api key create`.",
                    key.expires_at.format("%Y-%m-%d")
                );
            }
            match &cors.origins {
                Origins::Local => tracing::info!(
                    "CORS: pages on http://localhost:* and http://127.0.0.1:* may call the API (demo default)"
                ),
                Origins::List(list) if list.is_empty() => {
                    tracing::info!("CORS: no browser origin may call the API (set --cors-origins)")
                }
                Origins::List(list) => tracing::info!("CORS: pages on {} may call the API", list.join(", ")),
            }
            // The server's own pool: the statement timeout applies, and every statement is counted.
            connection.close().await?;
            let mut connection = db::connect_with(url, &cli.database.pool(true)).await?;
            ops::metrics::instrument(&mut connection);
            let sweep_seconds = cli.serve.api.sweep_seconds;
            let grace = std::time::Duration::from_secs(cli.serve.shutdown_grace_seconds);
            let state = AppState::new(connection, cli.serve.api)
                .await
                .map_err(|e| e.detail())?
                .with_demo_keys(live)
                .with_cors(cors);
            ops::shutdown::run(listener, state, sweep_seconds, grace).await?;
        }
    }
    Ok(())
}

async fn key_command(
    connection: &sea_orm::DatabaseConnection,
    action: KeyAction,
) -> Result<(), Box<dyn std::error::Error>> {
    // The command line is the server itself: its key commands are audited as "command line", and only it
    // may create and revoke ADMIN and STAFF keys.
    let viewer = service::access::server_viewer(service::access::COMMAND_LINE_LABEL);
    let actor = service::write::Actor { db: connection, viewer: &viewer, city_offset: chrono::Utc.fix() };
    match action {
        KeyAction::Create { role, organisation, volunteer, name } => {
            let new = auth::NewKey { role, organisation, volunteer, name };
            let (key, stored) = service::key::create(&actor, &new).await.map_err(|e| e.detail())?;
            println!("{key}");
            eprintln!("{} key {} created; it is shown only this once.", stored.role.as_str(), stored.prefix);
        }
        KeyAction::List => {
            println!(
                "{:<13} {:<10} {:<37} {:<25} {:<21} {:<21} revoked",
                "prefix", "role", "owner", "name", "created", "last used"
            );
            let instant = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into())
            };
            for key in auth::list_keys(connection).await.map_err(|e| e.detail())? {
                let owner =
                    key.organisation_id.or(key.volunteer_id).map(|id| id.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{:<13} {:<10} {:<37} {:<25} {:<21} {:<21} {}",
                    key.prefix,
                    key.role.as_str(),
                    owner,
                    key.name,
                    instant(Some(key.created_at)),
                    instant(key.last_used_at),
                    instant(key.revoked_at)
                );
            }
        }
        KeyAction::Revoke { prefix } => {
            let key = service::key::revoke(&actor, &prefix).await.map_err(|e| e.detail())?;
            println!("revoked {} ({} key, {})", key.prefix, key.role.as_str(), key.name);
        }
    }
    Ok(())
}
