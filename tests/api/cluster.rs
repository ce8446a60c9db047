//! A throwaway PostgreSQL cluster for fault tests: `initdb` into a temporary directory, served on a free
//! loopback port, so that a test can stop, crash and restart it without disturbing any other server
//! (the shared one on 5432 included). Run as the `postgres` user when the tests run as root, since
//! PostgreSQL refuses to run as root. Removed when dropped.
//!
//! Without PostgreSQL's programs (`initdb`, `pg_ctl` under `/usr/lib/postgresql/*/bin` or on the
//! `PATH`), [`Cluster::start`] returns `None` and the test skips, unless `PSM_REQUIRE_POSTGRES=1`, as in
//! CI, where it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// A new cluster, started; `None` when PostgreSQL's programs are missing and not required.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = programs() else {
            let required = std::env::var("PSM_REQUIRE_POSTGRES").is_ok_and(|value| value == "1");
            assert!(!required, "PSM_REQUIRE_POSTGRES=1 but initdb and pg_ctl are not installed");
            eprintln!("PostgreSQL's programs (initdb, pg_ctl) are not installed: skipping this fault test");
            return None;
        };
        let as_postgres = run(Command::new("id").arg("-u")).stdout == b"0\n";
        let dir = std::env::temp_dir().join(format!("psm-fault-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir(&dir).expect("create the cluster directory");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let cluster = Cluster { bin, dir, port, as_postgres };
        if as_postgres {
            checked(Command::new("chown").args(["postgres:postgres"]).arg(&cluster.dir));
        }
        let data = cluster.data();
        cluster.postgres(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
        );
        cluster.start_server();
        Some(cluster)
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=60",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.postgres("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "-t", "60", "start"]);
    }

    /// Stops the server: `fast` (disconnects clients, checkpoints) or `immediate` (as if it crashed).
    pub fn stop_server(&self, mode: &str) {
        self.postgres("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "-t", "60", "stop"]);
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when root), failing the test when it fails.
    fn postgres(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.args(args).current_dir(&self.dir);
        let output = run(&mut command);
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            panic!(
                "{} {args:?} failed: {}\n{}\nserver log:\n{log}",
                program.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        output
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&program).args(args).output()
        } else {
            Command::new(&program).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory of `initdb` and `pg_ctl`: the newest under `/usr/lib/postgresql`, or `pg_config`'s.
fn programs() -> Option<PathBuf> {
    let has = |dir: &Path| dir.join("initdb").exists() && dir.join("pg_ctl").exists();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, bin)| has(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    has(&bin).then_some(bin)
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
}

fn checked(command: &mut Command) {
    let output = run(command);
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}
