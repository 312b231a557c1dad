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
    /// The commit (or branch) of --funcgate-git
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
    fn of(args: &NewArgs) -> Source {
        if let Some(path) = &args.funcgate_path {
            return Source::Path(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()));
        }
        if let Some(url) = &args.funcgate_git {
            return Source::Git {
                url: url.clone(),
                rev: args.funcgate_rev.clone(),
            };
        }
        if let Some(version) = &args.funcgate_version {
            return Source::Version(version.clone());
        }
        let checkout = Path::new(BUILT_FROM);
        match std::fs::canonicalize(checkout) {
            Ok(path) if path.join("src/lib.rs").is_file() => Source::Path(path),
            _ => Source::Version(env!("CARGO_PKG_VERSION").to_owned()),
        }
    }

    /// The dependency's fields after `funcgate = { `.
    fn fields(&self) -> String {
        match self {
            Source::Path(path) => format!("path = {:?}", path.display().to_string()),
            Source::Git {
                url,
                rev: Some(rev),
            } => format!("git = {url:?}, rev = {rev:?}"),
            Source::Git { url, rev: None } => format!("git = {url:?}, branch = \"main\""),
            Source::Version(v) => format!("version = {v:?}"),
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
            Source::Version(v) => format!("cargo-funcgate --version {v}"),
        }
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
    let source = Source::of(args);
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
    let fill = |text: &str| {
        text.replace("__APP_SNAKE__", &name.replace('-', "_"))
            .replace("__APP__", name)
            .replace(
                "__FUNCGATE_TESTING__",
                &format!("funcgate = {{ {dependency}, features = [\"testing\"] }}"),
            )
            .replace("__FUNCGATE__", &format!("funcgate = {{ {dependency} }}"))
            .replace("__FUNCGATE_DOCS__", &docs)
            .replace("__INSTALL__", &source.install())
            .replace("__GIT_ENV__", git_env)
            .replace("__GIT_STEP__", git_step)
            .replace("__PRIVATE_NOTE__", &private_note)
    };
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
    // A checkout's lock file: the versions funcgate is tested with (cargo drops the rest).
    if let Source::Path(checkout) = &source
        && checkout.join("Cargo.lock").is_file()
    {
        let _ = std::fs::copy(checkout.join("Cargo.lock"), root.join("Cargo.lock"));
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
