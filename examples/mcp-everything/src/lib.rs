//! The MCP conformance suite's fixture server ("everything" server), on funcgate: the tools,
//! resources and prompts the suite's server scenarios call, served anonymously at `/mcp`.

use funcgate::App;
use funcgate::mcp::{Mcp, Tool, ToolRequest};

/// The app.
pub fn app() -> App {
    App::new().mcp(
        Mcp::new("everything").rules("anonymous").tool(
            Tool::new("test_simple_text", simple_text)
                .description("Tests simple text content response")
                .rules("anonymous"),
        ),
    )
}

async fn simple_text(_args: (), _req: ToolRequest) -> String {
    "This is a simple text response for testing.".to_owned()
}
