//! The conformance fixture server's executable.

fn main() -> std::process::ExitCode {
    mcp_everything::app().run()
}
