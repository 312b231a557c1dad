//! The orders MCP server's executable: the Functions host starts it (host.json's
//! `defaultExecutablePath`) and passes every request on to it (the `mcp-custom-handler`
//! profile).

fn main() -> std::process::ExitCode {
    orders_mcp::app().run()
}
