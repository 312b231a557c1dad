//! `make package`'s script: the zip holds host.json, the function folders and an executable
//! handler, and nothing else.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::app::{function_folders, handler_binary, repo_root};

#[test]
fn the_package_holds_exactly_the_functions_app() {
    let out = tempfile::tempdir().unwrap();
    let zip_path = out.path().join("dist/funcgate.zip");
    let status = Command::new("python3")
        .arg(repo_root().join("scripts/package.py"))
        .arg("--binary")
        .arg(handler_binary())
        .arg("--out")
        .arg(&zip_path)
        .arg("--root")
        .arg(repo_root())
        .status()
        .expect("python3 runs the packaging script");
    assert!(status.success());

    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut entries = BTreeMap::new();
    for i in 0..archive.len() {
        let file = archive.by_index(i).unwrap();
        entries.insert(
            file.name().unwrap().to_string(),
            (file.unix_mode().unwrap_or(0), file.size()),
        );
    }
    let names: Vec<String> = entries.keys().cloned().collect();
    // The handler, host.json and each function folder's function.json, nothing else.
    let mut expected: Vec<String> = function_folders()
        .iter()
        .map(|f| format!("{f}/function.json"))
        .chain(["handler".to_owned(), "host.json".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    for built_in in ["health", "vault", "whoami"] {
        assert!(names.contains(&format!("{built_in}/function.json")));
    }
    let (mode, size) = entries["handler"];
    assert_eq!(mode & 0o777, 0o755, "handler keeps its executable bit");
    assert_eq!(size, std::fs::metadata(handler_binary()).unwrap().len());
    for (name, (mode, _)) in &entries {
        if name != "handler" {
            assert_eq!(mode & 0o111, 0, "{name} is not executable");
        }
    }
    // The host.json inside is the repository's, naming the handler.
    let mut host = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("host.json").unwrap(), &mut host).unwrap();
    let host: serde_json::Value = serde_json::from_str(&host).unwrap();
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "handler"
    );
    // Proxying (YARP) on hosts that know it, which prefer it when both are set; forwarding on
    // older hosts, which ignore the unknown key.
    assert_eq!(host["customHandler"]["enableProxyingHttpRequest"], true);
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
}

#[test]
fn function_json_files_follow_the_contract() {
    // The built-ins' public routes and methods are part of the contract.
    for (function, route, methods) in [
        ("health", "health", vec!["get", "head"]),
        ("vault", "vault/{secret_name?}", vec!["get", "head", "put"]),
        ("whoami", "whoami", vec!["get", "head"]),
    ] {
        let f = function_json(function);
        assert_eq!(f["bindings"][0]["methods"], serde_json::json!(methods));
        assert_eq!(f["bindings"][0]["route"], route);
    }
    // Every folder, the built-ins and the app's own: one trigger and one output (which keeps
    // forwarding on), and the host's key check off (funcgate checks the token).
    for function in function_folders() {
        let f = function_json(&function);
        let bindings = f["bindings"].as_array().unwrap();
        assert_eq!(
            bindings.len(),
            2,
            "{function}: one trigger and one output keep forwarding on"
        );
        assert_eq!(bindings[0]["type"], "httpTrigger", "{function}");
        assert_eq!(bindings[0]["authLevel"], "anonymous", "{function}");
        assert_eq!(bindings[1]["type"], "http", "{function}");
        assert_eq!(bindings[1]["direction"], "out", "{function}");
    }
    let host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("host.json")).unwrap())
            .unwrap();
    assert_eq!(host["extensions"]["http"]["routePrefix"], "");
}

fn function_json(function: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo_root().join(function).join("function.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}
