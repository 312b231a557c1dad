//! Resources, resource templates, prompts, completions and `logging/setLevel`: what the
//! suite's `resources-*`, `prompts-*`, `completion-complete`, `logging-set-level`, `caching`,
//! `sep-2164-resource-not-found` and `input-required-result-non-tool-request` scenarios read,
//! written with the SDK's own types and served through [`funcgate::mcp::Mcp::extras`].
//!
//! Nothing here keeps state between requests: funcgate's transport is stateless, so
//! `logging/setLevel` is accepted without being remembered, and no subscription or
//! list-changed capability is declared (there is no stream to send their notifications on).

use funcgate::mcp::rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, InputRequiredResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, Prompt,
    PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Reference, Resource, ResourceContents, ResourceTemplate, Role,
    ServerCapabilities, ServerConfig,
};
use funcgate::mcp::rmcp::model::{ContentBlock, EmbeddedResource};
use funcgate::mcp::rmcp::service::RequestContext;
use funcgate::mcp::rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::json;

use crate::TEST_IMAGE_BASE64;
use crate::mrtr::{elicitation_request, input_requests};

/// The URI template of the suite's templated resource.
const TEMPLATE: &str = "test://template/{id}/data";

/// The extras handler: static resources, one resource template, the suite's prompts, argument
/// completions, and `logging/setLevel`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras;

impl ServerHandler for Extras {
    #[allow(
        deprecated,
        reason = "logging/setLevel is part of the revisions before 2026-07-28"
    )]
    fn get_info(&self) -> ServerConfig {
        // funcgate adds the tools capability and the server's name and version.
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_logging()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("test://static-text", "static-text")
                .with_title("Static Text Resource")
                .with_description("A static text resource for testing")
                .with_mime_type("text/plain"),
            Resource::new("test://static-binary", "static-binary")
                .with_title("Static Binary Resource")
                .with_description("A static binary resource (image) for testing")
                .with_mime_type("image/png"),
            Resource::new("test://watched-resource", "watched-resource")
                .with_title("Watched Resource")
                .with_description("A resource clients may subscribe to (never changes here)")
                .with_mime_type("text/plain"),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(TEMPLATE, "template")
                .with_title("Resource Template")
                .with_description("A resource template with parameter substitution")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let contents = match uri.as_str() {
            "test://static-text" => {
                ResourceContents::text("This is the content of the static text resource.", &uri)
                    .with_mime_type("text/plain")
            }
            "test://static-binary" => {
                ResourceContents::blob(TEST_IMAGE_BASE64, &uri).with_mime_type("image/png")
            }
            "test://watched-resource" => ResourceContents::text("Watched resource content", &uri)
                .with_mime_type("text/plain"),
            _ => match template_id(&uri) {
                Some(id) => {
                    let data = json!({
                        "id": id,
                        "templateTest": true,
                        "data": format!("Data for ID: {id}"),
                    });
                    ResourceContents::text(data.to_string(), &uri)
                        .with_mime_type("application/json")
                }
                // SEP-2164: an error naming the URI, never an empty `contents` (the SDK
                // sends the 2026-07-28 code, -32602, to clients of that revision).
                None => {
                    return Err(ErrorData::resource_not_found(
                        "Resource not found",
                        Some(json!({ "uri": uri })),
                    ));
                }
            },
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let required = |name: &str, description: &str| {
            PromptArgument::new(name)
                .with_description(description)
                .with_required(true)
        };
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                "test_simple_prompt",
                Some("A simple prompt without arguments"),
                None,
            )
            .with_title("Simple Test Prompt"),
            Prompt::new(
                "test_prompt_with_arguments",
                Some("A prompt with required arguments"),
                Some(vec![
                    required("arg1", "First test argument"),
                    required("arg2", "Second test argument"),
                ]),
            )
            .with_title("Prompt With Arguments"),
            Prompt::new(
                "test_prompt_with_embedded_resource",
                Some("A prompt that includes an embedded resource"),
                Some(vec![required(
                    "resourceUri",
                    "URI of the resource to embed",
                )]),
            )
            .with_title("Prompt With Embedded Resource"),
            Prompt::new(
                "test_prompt_with_image",
                Some("A prompt that includes image content"),
                None,
            )
            .with_title("Prompt With Image"),
            Prompt::new(
                "test_input_required_result_prompt",
                Some("A prompt that asks the client for context first (SEP-2322)"),
                None,
            )
            .with_title("Prompt Requiring Input"),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let argument = |name: &str| -> Result<String, ErrorData> {
            request
                .arguments
                .as_ref()
                .and_then(|args| args.get(name))
                .and_then(|value| value.as_str())
                .map(str::to_owned)
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("missing required argument {name}"), None)
                })
        };
        let messages = match request.name.as_str() {
            "test_simple_prompt" => vec![PromptMessage::new_text(
                Role::User,
                "This is a simple prompt for testing.",
            )],
            "test_prompt_with_arguments" => {
                let (arg1, arg2) = (argument("arg1")?, argument("arg2")?);
                vec![PromptMessage::new_text(
                    Role::User,
                    format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"),
                )]
            }
            "test_prompt_with_embedded_resource" => {
                let uri = argument("resourceUri")?;
                vec![
                    PromptMessage::new(
                        Role::User,
                        ContentBlock::Resource(EmbeddedResource::new(
                            ResourceContents::text("Embedded resource content for testing.", uri)
                                .with_mime_type("text/plain"),
                        )),
                    ),
                    PromptMessage::new_text(
                        Role::User,
                        "Please process the embedded resource above.",
                    ),
                ]
            }
            "test_prompt_with_image" => vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::image(TEST_IMAGE_BASE64, "image/png"),
                ),
                PromptMessage::new_text(Role::User, "Please analyze the image above."),
            ],
            "test_input_required_result_prompt" => {
                // The prompt needs context from the user: asked for until the client's
                // retry carries an accepted answer (a stateless server keeps nothing between
                // the rounds; the answer comes back with the request).
                let answer = request
                    .input_responses
                    .as_ref()
                    .and_then(|responses| responses.get("user_context"))
                    .filter(|answer| answer["action"] == "accept")
                    .and_then(|answer| answer["content"]["context"].as_str());
                let Some(context) = answer else {
                    let ask = json!({
                        "user_context":
                            elicitation_request("What context should the prompt use?", "context"),
                    });
                    return Ok(GetPromptResponse::InputRequired(InputRequiredResult::new(
                        Some(input_requests(ask)?),
                        None,
                    )));
                };
                vec![PromptMessage::new_text(
                    Role::User,
                    format!("Answer using this context: {context}"),
                )]
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown prompt: {other}"),
                    None,
                ));
            }
        };
        Ok(GetPromptResult::new(messages).into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let candidates: &[&str] = match (&request.r#ref, request.argument.name.as_str()) {
            (Reference::Prompt(p), "arg1" | "arg2") if p.name == "test_prompt_with_arguments" => {
                &["paris", "park", "party", "testValue1", "testValue2"]
            }
            (Reference::Resource(r), "id") if r.uri == TEMPLATE => &["1", "2", "3", "123"],
            _ => &[],
        };
        let values: Vec<String> = candidates
            .iter()
            .filter(|c| c.starts_with(request.argument.value.as_str()))
            .map(|c| (*c).to_owned())
            .collect();
        let info = CompletionInfo::with_all_values(values)
            .map_err(|e| ErrorData::internal_error(format!("completion values: {e}"), None))?;
        Ok(CompleteResult::new(info))
    }

    #[allow(
        deprecated,
        reason = "logging/setLevel is part of the revisions before 2026-07-28"
    )]
    async fn set_level(
        &self,
        _request: funcgate::mcp::rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Accepted, not remembered: the next request may reach another instance. Tools log
        // at `info` for these revisions (see `tools::may_log_info`).
        Ok(())
    }
}

/// The `{id}` of a URI of [`TEMPLATE`] (`test://template/123/data`), when it is one.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix("test://template/")?
        .strip_suffix("/data")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}
