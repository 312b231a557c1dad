//! The shipped app's function folders follow the contract the package is built from (the zip
//! itself: cargo-funcgate/tests/repo_app.rs, which packages this repository's app).

use crate::support::app::{function_folders, repo_root};

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
