//! funcgate's own app goes through the same packager as a team's: `cargo funcgate package` at
//! the repository root (what `make package` runs) zips host.json, the function folders and
//! `handler`, nothing else, and the zip starts.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::BTreeMap;

mod common;
use common::{funcgate, repo};

#[test]
fn the_repositorys_app_packages_as_a_teams_does() {
    let out = tempfile::tempdir().unwrap();
    let zip_path = out.path().join("funcgate.zip");
    let printed = funcgate(
        &repo(),
        &[
            "package",
            "--profile",
            "dev",
            "--out",
            zip_path.to_str().unwrap(),
        ],
    );
    assert!(printed.contains("GET /health answers 200"), "{printed}");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut entries = BTreeMap::new();
    for i in 0..archive.len() {
        let file = archive.by_index(i).unwrap();
        entries.insert(
            file.name().unwrap().to_string(),
            file.unix_mode().unwrap_or(0) & 0o777,
        );
    }
    let mut expected: BTreeMap<String, u32> = std::fs::read_dir(repo())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("function.json").is_file())
        .map(|e| {
            (
                format!("{}/function.json", e.file_name().to_string_lossy()),
                0o644,
            )
        })
        .collect();
    expected.insert("host.json".into(), 0o644);
    expected.insert("handler".into(), 0o755);
    assert_eq!(
        entries, expected,
        "host.json, every function folder, handler: nothing else"
    );
    for built_in in ["health", "vault", "whoami", "oauth-protected-resource"] {
        assert!(entries.contains_key(&format!("{built_in}/function.json")));
    }
}
