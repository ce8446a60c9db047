//! The embedded SQLite file holds personal data: when psm-api creates it, nobody but its owner may read it.

#[cfg(unix)]
#[tokio::test]
async fn a_sqlite_file_the_server_creates_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    let dir = std::env::temp_dir().join(format!("psm-file-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir(&dir).expect("temp dir");
    let path: PathBuf = dir.join("psm.db");
    let db = psm_api::db::connect(&format!("sqlite://{}?mode=rwc", path.display()), 2).await.expect("connect");
    // A write, so that SQLite creates its write-ahead log and shared-memory index next to the file.
    psm_api::db::migrate(&db).await.expect("migrate");
    let mode = |path: &PathBuf| std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    let files: Vec<PathBuf> =
        ["", "-wal", "-shm"].iter().map(|suffix| PathBuf::from(format!("{}{suffix}", path.display()))).collect();
    for file in &files {
        if file.exists() {
            assert_eq!(mode(file), 0o600, "{} is readable by others", file.display());
        }
    }
    assert!(files[1].exists(), "the write-ahead log was not created: its mode went unchecked");
    db.close().await.expect("close");
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
}
