//! The executable the Functions host starts (`items-app`, as host.json names it).

fn main() -> std::process::ExitCode {
    items_app::app().run()
}
