//! The `handler` executable the Functions host starts: funcgate's built-in functions and this
//! app's own (`src/app_functions/`, where `make new-function` puts them).

mod app_functions;

fn main() -> std::process::ExitCode {
    let app = funcgate::App::new()
        .function(funcgate::builtin::health())
        .function(funcgate::builtin::vault())
        .function(funcgate::builtin::whoami())
        .function(funcgate::builtin::protected_resource());
    app_functions::register(app).run()
}
