//! The MCP conformance suite's fixture server ("everything" server), on funcgate: the tools,
//! resources, prompts and completions the suite's server scenarios call, served anonymously at
//! `/mcp` (host.json's `mcp-custom-handler` profile: no route prefix).
//!
//! It mirrors the suite's reference server (`examples/servers/typescript/everything-server.ts`
//! in `@modelcontextprotocol/conformance`) as far as a stateless server can: funcgate serves
//! every POST on its own (any Functions instance may take any request), so what needs a
//! session (server-to-client requests answered later, subscriptions, resumable streams) is
//! attempted but cannot complete. `tests/conformance.rs` runs the suite against the built
//! executable; `tests/expected-failures.yaml` lists what fails and why.
//!
//! - [`tools`]: content, logging, progress, error, sampling and elicitation tools; the JSON
//!   Schema 2020-12 tool; a tool with an `x-mcp-header` parameter; the 2026-07-28 stateless
//!   diagnostic tools.
//! - [`mrtr`]: the tools that answer with an `InputRequiredResult` (multi round-trip requests,
//!   SEP-2322).
//! - [`extras`]: resources, resource templates, prompts, completions and `logging/setLevel`,
//!   through an `rmcp::ServerHandler` given to [`Mcp::extras`].

pub mod extras;
pub mod mrtr;
pub mod tools;

use funcgate::App;
use funcgate::mcp::{Mcp, Tool};

/// A 1x1 red PNG, base64: the suite's image fixture (tools, resources and prompts).
pub const TEST_IMAGE_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// A minimal WAV file, base64: the suite's audio fixture.
pub const TEST_AUDIO_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// The app: the MCP server `everything` at `/mcp`, reachable without a token, every tool
/// callable without one (the suite connects anonymously).
pub fn app() -> App {
    let server = Mcp::new("everything")
        .version(env!("CARGO_PKG_VERSION"))
        .instructions("The MCP conformance suite's fixture server, on funcgate.")
        .rules("anonymous")
        .extras(extras::Extras);
    let server = tools::all()
        .into_iter()
        .chain(mrtr::all())
        .fold(server, |server, tool| server.tool(tool.rules("anonymous")));
    App::new()
        .named(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        .mcp(server)
}

/// A tool with its description, the way every tool here is declared.
fn tool<Args, H: funcgate::mcp::ToolHandler<Args, ()>>(
    name: &str,
    description: &str,
    handler: H,
) -> Tool {
    Tool::new(name, handler).description(description)
}
