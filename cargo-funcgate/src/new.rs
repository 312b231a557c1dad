//! `cargo funcgate new NAME`: a function app package that builds, tests and runs as written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::Failure;
use crate::function::{DEFAULT_RULES, add};
use crate::project::{Project, is_lower_name};

/// Every file of a new app: (path in the app, template).
const FILES: [(&str, &str); 13] = [
    ("Cargo.toml", include_str!("../templates/app/Cargo.toml.in")),
    ("src/lib.rs", include_str!("../templates/app/src/lib.rs.in")),
    (
        "src/main.rs",
        include_str!("../templates/app/src/main.rs.in"),
    ),
    (
        "src/functions/mod.rs",
        include_str!("../templates/app/src/functions/mod.rs.in"),
    ),
    ("host.json", include_str!("../templates/app/host.json")),
    (
        "local.settings.json",
        include_str!("../templates/app/local.settings.json"),
    ),
    (
        "health/function.json",
        include_str!("../templates/app/health/function.json"),
    ),
    (".gitignore", include_str!("../templates/app/gitignore")),
    (".funcignore", include_str!("../templates/app/funcignore")),
    ("README.md", include_str!("../templates/app/README.md.in")),
    (
        ".github/workflows/ci.yml",
        include_str!("../templates/app/.github/workflows/ci.yml"),
    ),
    (
        ".github/workflows/deploy.yml",
        include_str!("../templates/app/.github/workflows/deploy.yml"),
    ),
    (
        "scripts/azure-setup.sh",
        include_str!("../templates/app/scripts/azure-setup.sh"),
    ),
];

/// The funcgate checkout this tool was built from, for the default dependency.
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[derive(Args)]
pub(crate) struct NewArgs {
    /// The package's name (and its folder, and its executable)
    name: String,
    /// Depend on funcgate at this path (the default: the checkout cargo-funcgate was built
    /// from, when it is there)
    #[arg(long, conflicts_with_all = ["funcgate_git", "funcgate_version"])]
    funcgate_path: Option<PathBuf>,
    /// Depend on funcgate from this git repository (with --funcgate-rev: a commit on main)
    #[arg(long, conflicts_with = "funcgate_version")]
    funcgate_git: Option<String>,
    /// The commit of --funcgate-git to build on (its hex digits, or a full ref such as
    /// refs/tags/v0.1.0; without it, the branch main)
    #[arg(long, requires = "funcgate_git")]
    funcgate_rev: Option<String>,
    /// Depend on this version of funcgate from crates.io
    #[arg(long)]
    funcgate_version: Option<String>,
}

/// Where funcgate comes from.
enum Source {
    Path(PathBuf),
    Git { url: String, rev: Option<String> },
    Version(String),
}

impl Source {
    /// The source the options name, each value checked: they are written into `Cargo.toml`
    /// and into the workflows' shell lines, where a quote, a space or a `;` would break them.
    fn of(args: &NewArgs) -> Result<Source, Failure> {
        if let Some(path) = &args.funcgate_path {
            // Absolute, as the app is made in another folder than the one it was given from.
            let path = std::fs::canonicalize(path)
                .map_err(|e| format!("--funcgate-path {}: {e}", path.display()))?;
            let manifest = std::fs::read_to_string(path.join("Cargo.toml")).unwrap_or_default();
            if !manifest.lines().any(|l| l.trim() == "name = \"funcgate\"") {
                return Err(format!(
                    "--funcgate-path {}: not a funcgate checkout (no Cargo.toml naming the package funcgate)",
                    path.display()
                ));
            }
            if path.to_str().is_none() {
                return Err(format!(
                    "--funcgate-path {}: Cargo.toml can only hold a path that is UTF-8",
                    path.display()
                ));
            }
            return Ok(Source::Path(path));
        }
        if let Some(url) = &args.funcgate_git {
            check_git_url(url)?;
            if let Some(rev) = &args.funcgate_rev {
                check_rev(rev)?;
            }
            return Ok(Source::Git {
                url: url.clone(),
                rev: args.funcgate_rev.clone(),
            });
        }
        if let Some(version) = &args.funcgate_version {
            check_version(version)?;
            return Ok(Source::Version(version.clone()));
        }
        let checkout = Path::new(BUILT_FROM);
        Ok(match std::fs::canonicalize(checkout) {
            Ok(path) if path.join("src/lib.rs").is_file() => Source::Path(path),
            _ => Source::Version(env!("CARGO_PKG_VERSION").to_owned()),
        })
    }

    /// The dependency's fields after `funcgate = { `.
    fn fields(&self) -> String {
        match self {
            Source::Path(path) => format!("path = {}", toml_string(&path.to_string_lossy())),
            Source::Git {
                url,
                rev: Some(rev),
            } => format!("git = {}, rev = {}", toml_string(url), toml_string(rev)),
            Source::Git { url, rev: None } => {
                format!("git = {}, branch = \"main\"", toml_string(url))
            }
            Source::Version(v) => format!("version = {}", toml_string(v)),
        }
    }

    /// `cargo install` arguments for this tool in the deploy workflow.
    fn install(&self) -> String {
        match self {
            Source::Git {
                url,
                rev: Some(rev),
            } => format!("--git {url} --rev {rev} cargo-funcgate"),
            Source::Git { url, rev: None } => format!("--git {url} --branch main cargo-funcgate"),
            // A path on this machine means nothing in CI: the published tool of this version.
            Source::Path(_) => format!("cargo-funcgate --version {}", env!("CARGO_PKG_VERSION")),
            // `cargo install` takes a whole version bare, a partial one only with an operator.
            Source::Version(v)
                if semver::Version::parse(v).is_err() && !v.starts_with(['=', '^', '~']) =>
            {
                format!("cargo-funcgate --version ^{v}")
            }
            Source::Version(v) => format!("cargo-funcgate --version {v}"),
        }
    }
}

/// `text` as a TOML string, quoted and escaped as TOML's own writer does (a path may hold
/// any character).
fn toml_string(text: &str) -> String {
    toml_edit::Value::from(text).to_string()
}

/// A git URL as cargo and git take it (`https://...`, `ssh://...`, `git@host:org/repo.git`):
/// letters, digits and the punctuation URLs of repositories use, nothing a shell or TOML reads.
fn check_git_url(url: &str) -> Result<(), Failure> {
    let fine = !url.is_empty()
        && !url.starts_with('-')
        && url
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/@%+=,".contains(&b));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "--funcgate-git {url:?} is not a repository URL (https://host/org/repo, ssh://... or git@host:org/repo)"
        ))
    }
}

/// A commit as cargo's `rev` takes it: its hex digits (7 to 40), or a full ref
/// (`refs/tags/v0.1.0`, `refs/heads/release`); cargo looks a bare branch name up as a commit
/// and fails. Kept to the characters that need no quoting in a shell line.
fn check_rev(rev: &str) -> Result<(), Failure> {
    let commit = (7..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit());
    let full_ref = rev.strip_prefix("refs/").is_some_and(|name| {
        !name.is_empty()
            && rev.len() <= 200
            && !name.starts_with(['-', '/', '.'])
            && !rev.ends_with(['/', '.'])
            && !rev.contains("..")
            && !rev.contains("//")
            && !rev.ends_with(".lock")
            && rev
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b))
    });
    if commit || full_ref {
        Ok(())
    } else {
        Err(format!(
            "--funcgate-rev {rev:?} is not a commit (7 to 40 hex digits) or a full ref (refs/tags/v0.1.0, refs/heads/NAME): cargo reads a bare branch name as a commit"
        ))
    }
}

/// A version or one requirement as `Cargo.toml` takes it (`0.1`, `0.1.0`, `=0.1.0`, `^0.1`,
/// `~0.1`), kept to what is a shell word without quotes in the deploy workflow's
/// `cargo install --version` (no `*`, `,`, space, `<` or `>`).
fn check_version(version: &str) -> Result<(), Failure> {
    let fine = !version.contains([',', ' ', '*', '<', '>'])
        && version
            .trim_start_matches(['=', '^', '~'])
            .starts_with(|c: char| c.is_ascii_digit())
        && semver::VersionReq::parse(version).is_ok();
    if fine {
        Ok(())
    } else {
        Err(format!(
            "--funcgate-version {version:?} is not a version (0.1, 0.1.0, =0.1.0 or ^0.1)"
        ))
    }
}

pub(crate) fn run(args: &NewArgs) -> Result<ExitCode, Failure> {
    let name = &args.name;
    if !is_lower_name(name, 64) {
        return Err(format!(
            "{name:?} is not a package name: lower-case letters, digits, '-' and '_', starting with a letter"
        ));
    }
    let root = PathBuf::from(name);
    if root.exists() {
        return Err(format!("{} already exists", root.display()));
    }
    let source = Source::of(args)?;
    let git = matches!(source, Source::Git { .. });
    let dependency = source.fields();
    let private_note = if git {
        "\nfuncgate is a git dependency: if its repository is private, give the workflows a token that\ncan read it as the secret `FUNCGATE_TOKEN` (they pass it to git, with\n`CARGO_NET_GIT_FETCH_WITH_CLI`, so cargo fetches through git's own credentials).\n".to_owned()
    } else {
        String::new()
    };
    let (git_env, git_step) = if git {
        (
            "env:\n  # Cargo fetches git dependencies with git itself, which the step below gives a token.\n  CARGO_NET_GIT_FETCH_WITH_CLI: \"true\"\n\n",
            "      - name: Let git read funcgate's repository (FUNCGATE_TOKEN, when it is private)\n        env:\n          FUNCGATE_TOKEN: ${{ secrets.FUNCGATE_TOKEN }}\n        run: |\n          if [ -n \"${FUNCGATE_TOKEN}\" ]; then\n            git config --global url.\"https://x-access-token:${FUNCGATE_TOKEN}@github.com/\".insteadOf \"https://github.com/\"\n          fi\n",
        )
    } else {
        ("", "")
    };
    let docs = match &source {
        Source::Git { url, .. } => url.clone(),
        Source::Version(_) => "https://crates.io/crates/funcgate".to_owned(),
        Source::Path(path) => path.display().to_string(),
    };
    let snake = name.replace('-', "_");
    let testing = format!("funcgate = {{ {dependency}, features = [\"testing\"] }}");
    let plain = format!("funcgate = {{ {dependency} }}");
    let install = source.install();
    let values = [
        ("__APP_SNAKE__", snake.as_str()),
        ("__APP__", name),
        ("__FUNCGATE_TESTING__", testing.as_str()),
        ("__FUNCGATE__", plain.as_str()),
        ("__FUNCGATE_DOCS__", docs.as_str()),
        ("__INSTALL__", install.as_str()),
        ("__GIT_ENV__", git_env),
        ("__GIT_STEP__", git_step),
        ("__PRIVATE_NOTE__", private_note.as_str()),
    ];
    let fill = |text: &str| crate::project::fill(text, &values);
    for (path, template) in FILES {
        let target = root.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&target, fill(template))
            .map_err(|e| format!("{}: {e}", target.display()))?;
        #[cfg(unix)]
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    // A checkout's lock file: the versions funcgate is tested with. It also lists the
    // workspace's other packages and their dependencies, which the app's first build would
    // drop, so the app's CI (`cargo test --locked`) would fail on the lock as committed.
    // `cargo update --workspace` drops them and keeps every other version; offline, from the
    // registry cache the checkout's own build filled.
    if let Source::Path(checkout) = &source
        && checkout.join("Cargo.lock").is_file()
        && std::fs::copy(checkout.join("Cargo.lock"), root.join("Cargo.lock")).is_ok()
    {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let pruned = std::process::Command::new(cargo)
            .args(["update", "--workspace", "--offline", "--quiet"])
            .current_dir(&root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !pruned {
            println!(
                "note: run `cargo update --workspace` in {name}/ before committing it: its Cargo.lock, copied from funcgate's checkout, lists packages the app does not use, which `cargo test --locked` refuses"
            );
        }
    }
    // The first function goes in the way every later one does.
    let project = Project::at(&root)?;
    add(&project, "hello", DEFAULT_RULES)?;
    println!("created {name}/ (funcgate: {dependency})");
    println!("  cd {name} && cargo test && cargo funcgate dev");
    if let Source::Path(_) = source {
        println!(
            "note: a path dependency builds on this machine only; for the team's repository and its workflows, create it with --funcgate-git URL --funcgate-rev COMMIT (or --funcgate-version once funcgate is on crates.io)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{NewArgs, Source, check_git_url, check_rev, check_version, toml_string};

    fn path_args(path: std::path::PathBuf) -> NewArgs {
        NewArgs {
            name: "app".to_owned(),
            funcgate_path: Some(path),
            funcgate_git: None,
            funcgate_rev: None,
            funcgate_version: None,
        }
    }

    #[cfg(unix)] // a name that is not UTF-8 is a Unix file system's
    #[test]
    fn a_funcgate_path_must_be_a_utf8_funcgate_checkout() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = tempfile::tempdir().unwrap();
        // A folder name Linux allows and TOML cannot hold: Latin-1 bytes.
        let odd = dir
            .path()
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9-funcgate"));
        std::fs::create_dir(&odd).unwrap();
        std::fs::write(odd.join("Cargo.toml"), "[package]\nname = \"funcgate\"\n").unwrap();
        let refused = Source::of(&path_args(odd)).err().unwrap_or_default();
        assert!(refused.contains("UTF-8"), "{refused}");
        // The same checkout under a UTF-8 name is taken.
        let fine = dir.path().join("funcgate");
        std::fs::create_dir(&fine).unwrap();
        std::fs::write(fine.join("Cargo.toml"), "[package]\nname = \"funcgate\"\n").unwrap();
        assert!(matches!(Source::of(&path_args(fine)), Ok(Source::Path(_))));
        // A folder that is not funcgate is not.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("Cargo.toml"), "[package]\nname = \"other\"\n").unwrap();
        let refused = Source::of(&path_args(other)).err().unwrap_or_default();
        assert!(refused.contains("not a funcgate checkout"), "{refused}");
    }

    #[test]
    fn repository_urls() {
        for fine in [
            "https://github.com/example/funcgate",
            "https://github.com/example/funcgate.git",
            "ssh://git@github.com/example/funcgate.git",
            "git@github.com:example/funcgate.git",
            "https://dev.azure.com/org/project/_git/funcgate",
        ] {
            assert!(check_git_url(fine).is_ok(), "{fine}");
        }
        for bad in [
            "",
            "--upload-pack=x",
            "https://github.com/x y",
            "https://github.com/x\"z",
            "https://github.com/x;rm",
            "https://github.com/$(id)",
            "https://github.com/x\n",
        ] {
            assert!(check_git_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commits_branches_and_tags() {
        for fine in [
            "0123456789abcdef0123456789abcdef01234567",
            "0123456",
            "refs/tags/v0.2.0",
            "refs/heads/release/0.2",
        ] {
            assert!(check_rev(fine).is_ok(), "{fine}");
        }
        for bad in [
            "",
            "0123456789abcdef0123456789abcdef012345678",
            "012345",
            "main",
            "release/1.0",
            "-x",
            "refs/heads/main;id",
            "refs/heads/a..b",
            "refs/heads/main branch",
            "refs/heads/x.lock",
            "refs/heads/x/",
            "refs/",
        ] {
            assert!(check_rev(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_partial_version_is_installed_as_a_requirement() {
        // `cargo install --version 0.1` is refused; Cargo.toml's "0.1" means ^0.1.
        let install = |v: &str| super::Source::Version(v.to_owned()).install();
        assert_eq!(install("0.1"), "cargo-funcgate --version ^0.1");
        assert_eq!(install("0.1.0"), "cargo-funcgate --version 0.1.0");
        assert_eq!(install("~0.1"), "cargo-funcgate --version ~0.1");
    }

    #[test]
    fn versions() {
        for fine in [
            "0.2.0",
            "=0.2.0",
            "^0.2",
            "0.2.0-rc.1",
            "~0.2",
            "=0.2",
            "0.1",
            "1",
        ] {
            assert!(check_version(fine).is_ok(), "{fine}");
        }
        for bad in [
            "",
            ">=0.2",
            "0.2 ; id",
            "latest",
            "=",
            "0.2\"x",
            "==0.2",
            "*",
            "=^0.2",
            "^0.2, <0.3",
            "^0.*",
            "=0.2.*",
        ] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths_are_written_as_toml_reads_them() {
        for path in [
            "/home/ada/funcgate",
            "/Users/Rene\u{301}/funcgate",
            "/tmp/a\"b\\c",
            "/tmp/zero\u{200b}width",
            "/tmp/tab\there",
        ] {
            let line = format!("path = {}", toml_string(path));
            let read: toml_edit::DocumentMut =
                line.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(read["path"].as_str(), Some(path), "{line}");
        }
    }
}
