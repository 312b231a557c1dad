//! `cargo funcgate function NAME`: one more function, with nothing else to edit: its folder
//! and `function.json` (the host routes by it), its source from a template, its registration
//! under the markers of the app's registry module, and a test on the built executable.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::Failure;
use crate::project::{Project, check_function_name};

/// The rules a scaffolded function starts with: reads need `Api.Read`, writes `Api.Write`,
/// as a delegated scope (a user's token) or an app role (a daemon's).
pub(crate) const DEFAULT_RULES: &str = "GET,HEAD=scopes:Api.Read|roles:Api.Read;POST,PUT,PATCH,DELETE=scopes:Api.Write|roles:Api.Write";

/// The markers in the registry module that new lines go under.
const MODULES_MARKER: &str = "// new-function: modules";
const REGISTRATIONS_MARKER: &str = "// new-function: registrations";

const SOURCE: &str = include_str!("../templates/function.rs.in");
const FUNCTION_JSON: &str = include_str!("../templates/function.json.in");
const TEST: &str = include_str!("../templates/function_test.rs.in");

#[derive(Args)]
pub(crate) struct FunctionArgs {
    /// The function's name: its folder, its route (`/NAME/{id?}`) and its module
    name: String,
    /// Its rules per method, in the AUTH_POLICY_<NAME> grammar
    #[arg(long, default_value = DEFAULT_RULES)]
    rules: String,
}

pub(crate) fn run(args: &FunctionArgs) -> Result<ExitCode, Failure> {
    let project = Project::find()?;
    let added = add(&project, &args.name, &args.rules)?;
    let placed = if added.folderless {
        format!(
            "its route {}/{{id?}} in its code (host.json's profile allows no function folders)",
            project.public_path(&args.name)
        )
    } else {
        format!(
            "{name}/function.json ({}/{{id?}}, the methods its rules name)",
            project.public_path(&args.name),
            name = args.name
        )
    };
    println!(
        "added {name}: {placed}, {}, {} and its registration in {}",
        added.source.display(),
        added.test.display(),
        added.registry.display(),
        name = args.name,
    );
    println!(
        "its rules are next to its code; AUTH_POLICY_{} overrides them without a rebuild",
        args.name.to_ascii_uppercase().replace('-', "_")
    );
    Ok(ExitCode::SUCCESS)
}

/// What `add` wrote, relative to the app root.
pub(crate) struct Added {
    /// Placed by a route in its code, not a folder (the app is on a profile).
    pub(crate) folderless: bool,
    pub(crate) source: PathBuf,
    pub(crate) test: PathBuf,
    pub(crate) registry: PathBuf,
}

/// Adds function `name` with `rules` to the app.
pub(crate) fn add(project: &Project, name: &str, rules: &str) -> Result<Added, Failure> {
    let module = check_function_name(name)?;
    if rules.contains(['"', '\\', '\n']) {
        return Err("--rules: quotes, backslashes and line breaks have no place in rules".into());
    }
    let root = &project.root;
    let registry = find_registry(root)?;
    let source_dir = registry.parent().unwrap_or(root).to_owned();
    let source = source_dir.join(format!("{module}.rs"));
    let test = root.join("tests").join(format!("{module}.rs"));
    for taken in [root.join(name), source.clone(), test.clone()] {
        if taken.exists() {
            return Err(format!("{} already exists", taken.display()));
        }
    }
    let registry_text =
        std::fs::read_to_string(&registry).map_err(|e| format!("{}: {e}", registry.display()))?;
    let registered = register(&registry_text, &module).ok_or_else(|| {
        format!(
            "{} has lost its '{MODULES_MARKER}' or '{REGISTRATIONS_MARKER}' line; add the function by hand",
            registry.display()
        )
    })?;
    let exe = project.executable()?;
    // Under a custom-handler profile the host routes every path to the handler and refuses
    // function folders: the route goes in the code instead.
    let folderless = project.profile().is_some();
    let methods = methods_of(rules);
    // Rules that do not parse stop here, before anything is written.
    let checks = checks_for(name, rules)?;
    let methods_json = methods
        .iter()
        .map(|m| format!("\"{}\"", m.to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join(", ");
    let (route, routed_by) = if folderless {
        let listed = methods
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", ");
        (
            format!("\n    .route(\"{name}/{{id?}}\", &[{listed}])"),
            "`route` lists the same methods (host.json's profile passes every path on, with no function folders)".to_owned(),
        )
    } else {
        (
            String::new(),
            format!("`{name}/function.json` lists the same methods"),
        )
    };
    let upper = module.to_ascii_uppercase();
    let values = [
        ("__ROUTE__", route.as_str()),
        ("__ROUTED_BY__", routed_by.as_str()),
        ("__METHODS__", methods_json.as_str()),
        ("__NAME__", name),
        ("__MODULE__", module.as_str()),
        ("__UPPER__", upper.as_str()),
        ("__RULES__", rules),
        ("__BIN__", exe.as_str()),
        ("__CHECKS__", checks.as_str()),
    ];
    let fill = |text: &str| crate::project::fill(text, &values);
    if !folderless {
        write(&root.join(name).join("function.json"), &fill(FUNCTION_JSON))?;
    }
    write(&source, &fill(SOURCE))?;
    write(&test, &fill(TEST))?;
    write(&registry, &registered)?;
    // Rules of any length: the layout rustfmt gives them, so the team's `cargo fmt --check`
    // passes on what was generated. Best effort: without rustfmt the code still builds.
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args([&source, &test, &registry])
        .stderr(std::process::Stdio::null())
        .status();
    let relative = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_owned();
    Ok(Added {
        folderless,
        source: relative(&source),
        test: relative(&test),
        registry: relative(&registry),
    })
}

/// A part of the rules that is a section, `METHODS=RULE`, as funcgate tells one: its methods
/// (upper-case, `*` kept) and its rule. A bare rule's `=` (a name such as `a=b`) is not one.
fn section(part: &str) -> Option<(Vec<String>, &str)> {
    let (head, rule) = part.split_once('=')?;
    let methods: Vec<String> = head
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .collect();
    methods
        .iter()
        .all(|m| {
            m == "*"
                || (!m.is_empty() && m.len() <= 16 && m.bytes().all(|b| b.is_ascii_uppercase()))
        })
        .then_some((methods, rule))
}

/// The methods the rules name (`GET,HEAD=...;POST=...`: get, head, post), which the
/// function's `function.json` lists so the host routes exactly those; `*` or a rule without
/// sections (GET and HEAD) as funcgate reads them, and `HEAD` beside `GET`, whose rule it
/// follows.
fn methods_of(rules: &str) -> Vec<String> {
    let mut methods: Vec<String> = Vec::new();
    let mut add = |m: &str| {
        if !methods.iter().any(|have| have == m) {
            methods.push(m.to_owned());
        }
    };
    let sections: Vec<_> = rules.split(';').filter_map(section).collect();
    if sections.is_empty() {
        add("GET");
        add("HEAD");
    }
    let names_head = sections
        .iter()
        .any(|(named, _)| named.iter().any(|m| m == "HEAD"));
    for (named, _) in &sections {
        for m in named {
            if m == "*" {
                ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                    .iter()
                    .for_each(|m| add(m));
            } else {
                add(m);
                // `HEAD` follows `GET`'s rule: the host routes it too.
                if m == "GET" && !names_head {
                    add("HEAD");
                }
            }
        }
    }
    methods
}

/// The methods the generated test calls, one per rule: the first method of each section
/// (a bare rule's: `GET`), and for `*` the first of `GET`, `POST`, `PUT`, `PATCH`, `DELETE`
/// no section names (`HEAD` follows `GET`'s rule wherever `GET` has one).
fn methods_to_test(rules: &str) -> Vec<String> {
    let sections: Vec<_> = rules.split(';').filter_map(section).collect();
    if sections.is_empty() {
        return vec!["GET".to_owned()];
    }
    let named: Vec<&String> = sections.iter().flat_map(|(methods, _)| methods).collect();
    sections
        .iter()
        .filter_map(|(methods, _)| match methods.first().map(String::as_str) {
            Some("*") => ["GET", "POST", "PUT", "PATCH", "DELETE"]
                .into_iter()
                .find(|m| !named.iter().any(|n| n == m))
                .map(str::to_owned),
            first => first.map(str::to_owned),
        })
        .collect()
}

/// The policy text the rules give `method` (upper-case): its own section, else `*`'s, as
/// funcgate reads them (a bare rule is GET's and HEAD's).
fn rule_for<'r>(rules: &'r str, method: &str) -> Option<&'r str> {
    let sections: Vec<_> = rules.split(';').filter_map(section).collect();
    if sections.is_empty() {
        return matches!(method, "GET" | "HEAD").then_some(rules);
    }
    let find = |wanted: &str| {
        sections
            .iter()
            .find(|(methods, _)| methods.iter().any(|m| m == wanted))
            .map(|(_, rule)| *rule)
    };
    find(method).or_else(|| find("*"))
}

/// The generated test's checks: for each method [`methods_to_test`] picks, a call without a
/// token, one with a token holding the claims funcgate picks to pass its rule (written out,
/// so the test shows who may call) and, when the rule names any, one with a token holding
/// none (403); under `deny`, any token gets 403; under `anonymous`, no token is needed.
fn checks_for(name: &str, rules: &str) -> Result<String, Failure> {
    let mut checks = String::new();
    let mut line = |text: &str| {
        checks.push_str("    ");
        checks.push_str(text);
        checks.push('\n');
    };
    for method in methods_to_test(rules) {
        let method = method.as_str();
        // What the scaffolded function answers a caller who passes (see function.rs.in).
        let (served, body) = match method {
            "GET" | "HEAD" => (200, "None"),
            "POST" => (201, "item"),
            _ => (501, "None"),
        };
        let call =
            |token: &str| format!("app.call(\"{method}\", \"/{name}\", {token}, {body}).await");
        let passing = funcgate::testing::passing_claims(rules, method)
            .map_err(|e| format!("--rules: {e}"))?;
        let anonymous =
            rule_for(rules, method).is_some_and(|r| r.trim().eq_ignore_ascii_case("anonymous"));
        line(&format!("// {method}"));
        if body == "item" {
            line(
                "let item: Option<(&str, &[u8])> = Some((\"application/json\", br#\"{\"id\": \"3\", \"name\": \"third\"}\"#));",
            );
        }
        let Some(claims) = passing else {
            // `deny`: a valid token is still refused.
            line(&format!("assert_eq!({}.status, 401);", call("None")));
            line("let anyone = idp.token(json!({}));");
            line(&format!(
                "assert_eq!({}.status, 403);",
                call("Some(&anyone)")
            ));
            continue;
        };
        if anonymous {
            line(&format!("assert_eq!({}.status, {served});", call("None")));
            continue;
        }
        if method == "HEAD" {
            // A HEAD answer has no body to read a code from.
            line(&format!("assert_eq!({}.status, 401);", call("None")));
        } else {
            line(&format!(
                "assert_eq!({}.code(), \"AuthorizationHeaderMissing\");",
                call("None")
            ));
        }
        let named = claims.as_object().is_some_and(|c| !c.is_empty());
        line(if named {
            "// Claims that pass the rule, as funcgate::testing::passing_claims picks them."
        } else {
            "// Any valid token of the tenant passes the rule."
        });
        line(&format!("let caller = idp.token(json!({claims}));"));
        line(&format!(
            "assert_eq!({}.status, {served});",
            call("Some(&caller)")
        ));
        // A token without the rule's names: refused for its role or scope, or for the
        // authentication context (a 403 to a client that cannot answer a claims challenge).
        if named {
            line("let outsider = idp.token(json!({}));");
            line(&format!(
                "assert_eq!({}.status, 403);",
                call("Some(&outsider)")
            ));
        }
    }
    Ok(checks)
}

/// The source file under `src/` holding both markers.
fn find_registry(root: &Path) -> Result<PathBuf, Failure> {
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && std::fs::read_to_string(&path)
                    .is_ok_and(|t| t.contains(MODULES_MARKER) && t.contains(REGISTRATIONS_MARKER))
            {
                return Ok(path);
            }
        }
    }
    Err(format!(
        "no source file under src/ has the lines '{MODULES_MARKER}' and '{REGISTRATIONS_MARKER}' (the module that registers the app's functions)"
    ))
}

/// The registry text with `module` declared under one marker and registered under the other.
fn register(text: &str, module: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 80);
    let (mut declared, mut registered) = (false, false);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed == MODULES_MARKER && !declared {
            out.push_str(&format!("{indent}pub mod {module};\n"));
            declared = true;
        } else if trimmed == REGISTRATIONS_MARKER && !registered {
            out.push_str(&format!(
                "{indent}let app = app.function({module}::function());\n"
            ));
            registered = true;
        }
    }
    (declared && registered).then_some(out)
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_goes_under_the_markers() {
        let text = "use funcgate::App;\n\n// new-function: modules\n\npub fn register(app: App) -> App {\n    // new-function: registrations\n    app\n}\n";
        let out = register(text, "items").unwrap();
        assert!(out.contains("// new-function: modules\npub mod items;\n"));
        assert!(out.contains(
            "    // new-function: registrations\n    let app = app.function(items::function());\n"
        ));
        assert_eq!(register("fn x() {}", "items"), None);
    }

    #[test]
    fn function_json_lists_the_methods_the_rules_name() {
        assert_eq!(
            methods_of(DEFAULT_RULES),
            ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        );
        assert_eq!(
            methods_of("GET,HEAD=scopes:A;POST=roles:B"),
            ["GET", "HEAD", "POST"]
        );
        assert_eq!(methods_of("authenticated"), ["GET", "HEAD"]);
        assert_eq!(
            methods_of("GET=scopes:A;POST=roles:B"),
            ["GET", "HEAD", "POST"]
        );
        assert_eq!(
            methods_of("POST=roles:B;HEAD=deny;GET=roles:A"),
            ["POST", "HEAD", "GET"]
        );
        assert_eq!(
            rule_for("GET,HEAD=anonymous;POST=roles:B", "GET"),
            Some("anonymous")
        );
        assert_eq!(rule_for("POST=roles:B", "GET"), None);
        // A method's own section before `*`, wherever it stands.
        assert_eq!(rule_for("*=anonymous;GET=roles:X", "GET"), Some("roles:X"));
        assert_eq!(
            rule_for("*=anonymous;GET=roles:X", "PUT"),
            Some("anonymous")
        );
        // A bare rule whose name holds `=` has no sections, as funcgate reads it.
        assert_eq!(methods_of("scopes:a=b"), ["GET", "HEAD"]);
        assert_eq!(rule_for("scopes:a=b", "GET"), Some("scopes:a=b"));
        // The methods the test calls: one per rule.
        assert_eq!(methods_to_test("scopes:A"), ["GET"]);
        assert_eq!(methods_to_test(DEFAULT_RULES), ["GET", "POST"]);
        assert_eq!(methods_to_test("POST=roles:W;*=deny"), ["POST", "GET"]);
        assert_eq!(methods_to_test("GET=anonymous;*=roles:A"), ["GET", "POST"]);
        assert_eq!(methods_to_test("HEAD=roles:X;GET=roles:Y"), ["HEAD", "GET"]);
        assert_eq!(methods_to_test("*=authenticated"), ["GET"]);
        assert!(methods_to_test("GET,POST,PUT,PATCH,DELETE=roles:A;*=deny").len() == 1);
    }

    #[test]
    fn rules_that_do_not_parse_stop_the_generated_test() {
        let refused = checks_for("x", "GET=scopes:").err();
        assert!(
            refused
                .as_deref()
                .is_some_and(|r| r.starts_with("--rules: ")),
            "{refused:?}"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "Items", "1x", "a b", "fn", "host", "x/y", "ünï"] {
            assert!(check_function_name(bad).is_err(), "{bad}");
        }
        assert_eq!(check_function_name("my-items").unwrap(), "my_items");
    }
}
