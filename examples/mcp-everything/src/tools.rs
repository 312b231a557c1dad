//! The tools the suite's `tools-*`, `json-schema-2020-12`, `http-custom-header-*` and
//! `server-stateless` scenarios call, named and shaped as the suite's reference server has
//! them.
//!
//! The sampling and elicitation tools send their request to the client on the call's stream,
//! but the client's answer (a new POST) never reaches a stateless server: they give up after
//! a second and say so in their result. The suite's scenarios for them pass anyway, as they
//! check only that the client was asked and that the tool answered.
//!
//! Logging, sampling and roots are deprecated by SEP-2577 (2026-07-28) but are what the
//! 2025-11-25 scenarios exercise, hence the `deprecated` allowances.

use std::sync::Arc;
use std::time::Duration;

use funcgate::mcp::rmcp::model::{
    CallToolResult, ClientCapabilities, ContentBlock, ResourceContents, ServerRequest,
};
use funcgate::mcp::rmcp::{ErrorData, schemars};
use funcgate::mcp::{Tool, ToolRequest};
use serde::Deserialize;
use serde_json::json;

use crate::{TEST_AUDIO_BASE64, TEST_IMAGE_BASE64, tool};

/// How long a tool waits for the client to answer a server-to-client request. A stateless
/// server never hears the answer (the client posts it as a new request, which no instance
/// can route back), so the tool gives up instead of holding the call until the client's own
/// timeout.
const CLIENT_ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// Every tool of this module.
pub fn all() -> Vec<Tool> {
    vec![
        tool(
            "test_simple_text",
            "Tests simple text content response",
            simple_text,
        ),
        tool(
            "test_image_content",
            "Tests image content response",
            image_content,
        ),
        tool(
            "test_audio_content",
            "Tests audio content response",
            audio_content,
        ),
        tool(
            "test_embedded_resource",
            "Tests embedded resource content response",
            embedded_resource,
        ),
        tool(
            "test_multiple_content_types",
            "Tests response with multiple content types (text, image, resource)",
            multiple_content_types,
        ),
        tool(
            "test_tool_with_logging",
            "Tests tool that emits log messages during execution",
            tool_with_logging,
        ),
        tool(
            "test_tool_with_progress",
            "Tests tool that reports progress notifications",
            tool_with_progress,
        ),
        tool(
            "test_reconnection",
            "Tests SSE stream disconnection and client reconnection (SEP-1699); a stateless \
             server has no stream to resume, so it answers at once",
            reconnection,
        ),
        tool(
            "test_error_handling",
            "Tests error response handling",
            error_handling,
        ),
        tool(
            "test_sampling",
            "Tests server-initiated sampling (LLM completion request)",
            sampling,
        ),
        tool(
            "test_elicitation",
            "Tests server-initiated elicitation (user input request)",
            elicitation,
        ),
        tool(
            "test_elicitation_sep1034_defaults",
            "Tests elicitation with default values per SEP-1034",
            elicitation_sep1034_defaults,
        ),
        tool(
            "test_elicitation_sep1330_enums",
            "Tests elicitation with enum schema improvements per SEP-1330",
            elicitation_sep1330_enums,
        ),
        tool(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
            json_schema_2020_12,
        )
        // The schema derived from the arguments' type says less than the suite's fixture
        // (no $anchor, allOf, if/then/else): the listed schema is the fixture itself.
        .definition(|t| t.input_schema = Arc::new(json_schema_2020_12_fixture())),
        tool(
            "test_custom_header",
            "Echoes its region, which clients also send as the Mcp-Param-Region header (SEP-2243)",
            custom_header,
        ),
        tool(
            "test_missing_capability",
            "Test tool requiring sampling",
            missing_capability,
        ),
        tool(
            "test_streaming_elicitation",
            "Diagnostic tool validating response progress streams",
            streaming_elicitation,
        ),
        tool(
            "test_logging_tool",
            "Diagnostic logging validator tool",
            logging_tool,
        ),
    ]
}

async fn simple_text(_args: (), _req: ToolRequest) -> String {
    "This is a simple text response for testing.".to_owned()
}

async fn image_content(_args: (), _req: ToolRequest) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::image(TEST_IMAGE_BASE64, "image/png")])
}

async fn audio_content(_args: (), _req: ToolRequest) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::audio(TEST_AUDIO_BASE64, "audio/wav")])
}

async fn embedded_resource(_args: (), _req: ToolRequest) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::resource(
        ResourceContents::text(
            "This is an embedded resource content.",
            "test://embedded-resource",
        )
        .with_mime_type("text/plain"),
    )])
}

async fn multiple_content_types(_args: (), _req: ToolRequest) -> CallToolResult {
    CallToolResult::success(vec![
        ContentBlock::text("Multiple content types test:"),
        ContentBlock::image(TEST_IMAGE_BASE64, "image/png"),
        ContentBlock::resource(
            ResourceContents::text(
                json!({"test": "data", "value": 123}).to_string(),
                "test://mixed-content-resource",
            )
            .with_mime_type("application/json"),
        ),
    ])
}

async fn tool_with_logging(_args: (), req: ToolRequest) -> String {
    let steps = [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ];
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            // The suite checks that a client takes several messages during one call.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        log_info(&req, step).await;
    }
    "Tool with logging executed successfully".to_owned()
}

async fn tool_with_progress(_args: (), req: ToolRequest) -> String {
    for (i, step) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let message = format!("Completed step {step} of 100");
        req.progress(step, Some(100.0), Some(&message)).await;
    }
    match req.context().meta.get_progress_token() {
        Some(token) => token.0.to_string(),
        None => "no progress token".to_owned(),
    }
}

async fn reconnection(_args: (), _req: ToolRequest) -> String {
    // The reference server closes the call's stream and answers on the stream the client
    // resumes (Last-Event-ID); resuming needs the session's event store, which a stateless
    // server does not keep.
    "Reconnection test completed on the original stream (no session to resume)".to_owned()
}

async fn error_handling(_args: (), _req: ToolRequest) -> Result<String, String> {
    Err("This tool intentionally returns an error for testing".to_owned())
}

/// The arguments of `test_sampling`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct SamplingArgs {
    /// The prompt to send to the LLM.
    pub prompt: String,
}

async fn sampling(args: SamplingArgs, req: ToolRequest) -> String {
    let request = json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": args.prompt}}],
            "maxTokens": 100,
        },
    });
    match ask_client(&req, request).await {
        Ok(answer) => {
            let text = answer["content"]["text"]
                .as_str()
                .or_else(|| answer["message"]["content"]["text"].as_str())
                .unwrap_or("No response");
            format!("LLM response: {text}")
        }
        Err(reason) => format!("Sampling not supported or error: {reason}"),
    }
}

/// The arguments of `test_elicitation`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct ElicitationArgs {
    /// The message to show the user.
    pub message: String,
}

async fn elicitation(args: ElicitationArgs, req: ToolRequest) -> String {
    let schema = json!({
        "type": "object",
        "properties": {"response": {"type": "string", "description": "User's response"}},
        "required": ["response"],
    });
    elicit(&req, &args.message, schema, "User response").await
}

async fn elicitation_sep1034_defaults(_args: (), req: ToolRequest) -> String {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verification status", "default": true},
        },
        "required": [],
    });
    let message = "Please review and update the form fields with defaults";
    elicit(&req, message, schema, "Elicitation completed").await
}

async fn elicitation_sep1330_enums(_args: (), req: ToolRequest) -> String {
    let titled = |prefix: &str| {
        json!([
            {"const": "value1", "title": format!("First {prefix}")},
            {"const": "value2", "title": format!("Second {prefix}")},
            {"const": "value3", "title": format!("Third {prefix}")},
        ])
    };
    let schema = json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Select one option",
                "enum": ["option1", "option2", "option3"],
            },
            "titledSingle": {
                "type": "string",
                "description": "Select one option with titles",
                "oneOf": titled("Option"),
            },
            "legacyEnum": {
                "type": "string",
                "description": "Select one option (legacy)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array",
                "description": "Select multiple options",
                "minItems": 1,
                "maxItems": 3,
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
            },
            "titledMulti": {
                "type": "array",
                "description": "Select multiple options with titles",
                "minItems": 1,
                "maxItems": 3,
                "items": {"anyOf": titled("Choice")},
            },
        },
        "required": [],
    });
    let message = "Please select options from the enum fields";
    elicit(&req, message, schema, "Elicitation completed").await
}

/// Asks the client for input (`elicitation/create`) and reports its answer as `label`.
async fn elicit(
    req: &ToolRequest,
    message: &str,
    schema: serde_json::Value,
    label: &str,
) -> String {
    let request = json!({
        "method": "elicitation/create",
        "params": {"message": message, "requestedSchema": schema},
    });
    match ask_client(req, request).await {
        Ok(answer) => format!(
            "{label}: action={}, content={}",
            answer["action"].as_str().unwrap_or("unknown"),
            answer.get("content").unwrap_or(&json!({}))
        ),
        Err(reason) => format!("Elicitation not supported or error: {reason}"),
    }
}

/// Sends `request` (a server-to-client request as JSON) to the client on this call's stream
/// and waits, at most [`CLIENT_ANSWER_TIMEOUT`], for its result.
#[allow(
    deprecated,
    reason = "sampling is what the 2025-11-25 sampling scenario exercises"
)]
async fn ask_client(
    req: &ToolRequest,
    request: serde_json::Value,
) -> Result<serde_json::Value, String> {
    // The suite's requests are built as the spec shows them; the SDK's typed request is
    // parsed from that rather than assembled field by field.
    let request: ServerRequest = match request["method"].as_str() {
        Some("sampling/createMessage") => {
            serde_json::from_value::<funcgate::mcp::rmcp::model::CreateMessageRequest>(request)
                .map(Into::into)
        }
        _ => serde_json::from_value::<funcgate::mcp::rmcp::model::ElicitRequest>(request)
            .map(Into::into),
    }
    .map_err(|e| format!("cannot build the request: {e}"))?;
    let answer = tokio::time::timeout(
        CLIENT_ANSWER_TIMEOUT,
        req.context().peer.send_request(request),
    )
    .await
    .map_err(|_| "the client's answer never reached this (stateless) server".to_owned())?
    .map_err(|e| e.to_string())?;
    serde_json::to_value(answer).map_err(|e| e.to_string())
}

/// The suite's JSON Schema 2020-12 fixture: `$schema`, `$defs` with an `$anchor`,
/// `additionalProperties`, composition and conditional keywords, all of which `tools/list`
/// must pass on unchanged (SEP-1613, SEP-2106).
fn json_schema_2020_12_fixture() -> serde_json::Map<String, serde_json::Value> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
            },
        },
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"},
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false,
    });
    match schema {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The arguments of `json_schema_2020_12_tool`: any object (its listed schema is the fixture).
type AnyObject = serde_json::Map<String, serde_json::Value>;

async fn json_schema_2020_12(args: AnyObject, _req: ToolRequest) -> String {
    format!(
        "JSON Schema 2020-12 tool called with: {}",
        serde_json::Value::Object(args)
    )
}

/// The arguments of `test_custom_header`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct CustomHeaderArgs {
    /// The region; clients also send it as the `Mcp-Param-Region` header, which the SDK
    /// checks against this value (SEP-2243).
    #[schemars(extend("x-mcp-header" = "Region"))]
    pub region: String,
}

async fn custom_header(args: CustomHeaderArgs, _req: ToolRequest) -> String {
    format!("region: {}", args.region)
}

/// Refuses, with `-32021 MissingRequiredClientCapability`, a caller whose request did not
/// declare `sampling` (a stateless request carries its capabilities in `_meta`).
#[allow(
    deprecated,
    reason = "sampling is what the stateless scenario's probe asks for"
)]
async fn missing_capability(_args: (), req: ToolRequest) -> Result<String, ErrorData> {
    let declared = req
        .context()
        .client_capabilities()
        .is_some_and(|caps| caps.sampling.is_some());
    if !declared {
        return Err(ErrorData::missing_required_client_capability(
            ClientCapabilities::builder().enable_sampling().build(),
        ));
    }
    Ok("the client declared sampling".to_owned())
}

/// Answers on the request's own stream with notifications only (progress, when asked for),
/// never a request of its own: what a 2026-07-28 response stream may carry.
async fn streaming_elicitation(_args: (), req: ToolRequest) -> String {
    req.progress(50.0, Some(100.0), Some("streaming")).await;
    "Streaming complete".to_owned()
}

/// Logs only when the request asked for log messages (`_meta` `logLevel`, 2026-07-28).
async fn logging_tool(_args: (), req: ToolRequest) -> String {
    log_info(&req, "Diagnostic trace logging activated").await;
    "Logging evaluated".to_owned()
}

/// Whether this call may send an `info` log message: a 2026-07-28 request says so in its
/// `_meta` (`io.modelcontextprotocol/logLevel`, none means no messages); an earlier revision
/// set the level with `logging/setLevel`, which a stateless server cannot remember, so it
/// logs.
#[allow(
    deprecated,
    reason = "log levels are what the logging scenarios exercise"
)]
fn may_log_info(req: &ToolRequest) -> bool {
    use funcgate::mcp::rmcp::model::LoggingLevel;
    let meta = &req.context().meta;
    match meta.log_level() {
        Some(level) => matches!(level, LoggingLevel::Debug | LoggingLevel::Info),
        None => meta.protocol_version().is_none(),
    }
}

/// Sends an `info` log message on this call's stream, when [`may_log_info`].
#[allow(
    deprecated,
    reason = "log messages are what the logging scenarios exercise"
)]
async fn log_info(req: &ToolRequest, message: &str) {
    use funcgate::mcp::rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
    if !may_log_info(req) {
        return;
    }
    let param = LoggingMessageNotificationParam::new(LoggingLevel::Info, json!(message))
        .with_logger("mcp-everything");
    // A client that went away is not the tool's failure.
    let _ = req.context().peer.notify_logging_message(param).await;
}
