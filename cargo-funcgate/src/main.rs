//! `cargo funcgate`: an Azure Functions custom handler built on funcgate, from an empty folder
//! to the zip the Functions host runs. One verb per step, as cargo-lambda has them:
//!
//! - `new NAME`: a package that builds, tests and runs (functions, tests, host.json, workflows);
//! - `function NAME`: one more function (folder, source, registration, test);
//! - `dev`: the app on :7071 as `func start` runs it, trusting a local dev issuer, rebuilt and
//!   restarted when a source changes;
//! - `token`: a dev token with any claims from that issuer;
//! - `package`: the zip the host expects, then the check that it starts from the zip;
//! - `check`: what would break in Azure, one line each.

mod check;
mod dev;
mod function;
mod new;
mod package;
mod project;
mod token;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Cargo runs `cargo-funcgate funcgate ARGS` for `cargo funcgate ARGS`.
#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// Azure Functions custom handlers on funcgate.
    #[command(name = "funcgate", version, about)]
    Funcgate(Funcgate),
}

#[derive(Args)]
struct Funcgate {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a function app package NAME (a folder of that name).
    New(new::NewArgs),
    /// Add a function: its folder with function.json, its source, registration and test.
    Function(function::FunctionArgs),
    /// Run the app on :7071 against a local dev issuer; rebuild and restart on change.
    Dev(dev::DevArgs),
    /// Print a dev token from the local dev issuer, with any claims.
    Token(token::TokenArgs),
    /// Build the zip the Functions host expects, then start it from the zip to check it.
    Package(package::PackageArgs),
    /// Say what would break in Azure, one line per problem.
    Check(check::CheckArgs),
}

/// A failure: one line for the user.
pub(crate) type Failure = String;

fn main() -> ExitCode {
    // `cargo funcgate x` runs `cargo-funcgate funcgate x`; `cargo-funcgate x` works too.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != "funcgate") {
        args.insert(1, "funcgate".into());
    }
    let Cargo::Funcgate(funcgate) = Cargo::parse_from(args);
    let result = match funcgate.command {
        Command::New(args) => new::run(&args),
        Command::Function(args) => function::run(&args),
        Command::Dev(args) => dev::run(&args),
        Command::Token(args) => token::run(&args),
        Command::Package(args) => package::run(&args),
        Command::Check(args) => check::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(why) => {
            eprintln!("cargo funcgate: {why}");
            ExitCode::from(1)
        }
    }
}
