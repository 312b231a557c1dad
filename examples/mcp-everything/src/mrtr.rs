//! Multi round-trip requests (SEP-2322, 2026-07-28): tools that answer with an
//! `InputRequiredResult` asking the client for input (elicitation, sampling, roots) instead of
//! sending it requests, so a stateless server can still ask.
//!
//! The client retries the call with its answers (`inputResponses`, keyed as the tool asked)
//! and the `requestState` the tool gave it; the tool reads both from its [`ToolRequest`]
//! ([`ToolRequest::input_responses`], [`ToolRequest::request_state`]) and either completes or
//! asks again. Nothing is kept between the rounds: whatever a later round needs travels in the
//! `requestState`, which the client holds and could change, so every state is sealed here
//! ([`seal`], [`open`]) and a state that does not open is refused with a JSON-RPC error.
//!
//! An answer that is not what was asked for (a missing key, an `ElicitResult` that is not
//! one, an accepted form without the field) is asked for again; keys the tool did not ask
//! for are ignored.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use funcgate::mcp::rmcp::ErrorData;
use funcgate::mcp::rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, ElicitResult, ElicitationAction, InputRequests,
    InputRequiredResult,
};
use funcgate::mcp::{Tool, ToolRequest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::tool;

/// Every tool of this module.
pub fn all() -> Vec<Tool> {
    vec![
        tool(
            "test_input_required_result_elicitation",
            "MRTR: returns InputRequiredResult with elicitation request",
            elicitation,
        ),
        tool(
            "test_input_required_result_sampling",
            "MRTR: returns InputRequiredResult with sampling request",
            sampling,
        ),
        tool(
            "test_input_required_result_list_roots",
            "MRTR: returns InputRequiredResult with roots/list request",
            list_roots,
        ),
        tool(
            REQUEST_STATE,
            "MRTR: returns InputRequiredResult with requestState",
            request_state,
        ),
        tool(
            MULTIPLE_INPUTS,
            "MRTR: returns InputRequiredResult with multiple input requests",
            multiple_inputs,
        ),
        tool(
            MULTI_ROUND,
            "MRTR: multi-round InputRequiredResult workflow",
            multi_round,
        ),
        tool(
            TAMPERED_STATE,
            "MRTR: integrity-protected requestState",
            tampered_state,
        ),
        tool(
            CAPABILITIES,
            "MRTR: respects client capabilities in inputRequests",
            capabilities,
        ),
    ]
}

/// The `elicitation/create` request the suite's fixtures use: a form of one string field.
pub fn elicitation_request(message: &str, field: &str) -> Value {
    json!({
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": {field: {"type": "string"}},
                "required": [field],
            },
        },
    })
}

/// A `sampling/createMessage` request for `text`.
fn sampling_request(text: &str, max_tokens: u32) -> Value {
    json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
            "maxTokens": max_tokens,
        },
    })
}

/// The `roots/list` request.
fn roots_request() -> Value {
    json!({"method": "roots/list", "params": {}})
}

/// A confirmation form (one boolean field, `ok`).
fn confirm_request() -> Value {
    json!({
        "method": "elicitation/create",
        "params": {
            "message": "Please confirm",
            "requestedSchema": {
                "type": "object",
                "properties": {"ok": {"type": "boolean"}},
                "required": ["ok"],
            },
        },
    })
}

/// `requests` (an object of named requests, as the spec writes them) as the SDK's map.
pub fn input_requests(requests: Value) -> Result<InputRequests, ErrorData> {
    serde_json::from_value(requests)
        .map_err(|e| ErrorData::internal_error(format!("input requests: {e}"), None))
}

/// An `InputRequiredResult` asking for `requests`, with `state` to be echoed back.
fn input_required(requests: Value, state: Option<String>) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
        Some(input_requests(requests)?),
        state,
    )))
}

/// A complete result of one text block.
fn complete(text: impl Into<String>) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResponse::Complete(CallToolResult::success(vec![
        ContentBlock::text(text),
    ])))
}

// ---------------------------------------------------------------------------------------------
// requestState: sealed, so a state the client changed is refused.

/// The key the states are sealed with: random, drawn once per process.
///
/// One process is what the suite runs. A deployment of several instances would seal with a
/// secret they share (an HMAC-SHA256 key from Key Vault, say), so that any instance can open
/// what another sealed; this fixture keeps to the standard library.
fn state_key() -> &'static RandomState {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new)
}

/// The tag of `data`: keyed SipHash (the standard library's hasher, with [`state_key`]'s
/// random key), as 16 hex digits.
fn tag(data: &str) -> String {
    format!("{:016x}", state_key().hash_one(data))
}

/// `state` as `tool`'s `requestState`: `<tag>.<json>`, the JSON naming the tool so that one
/// tool's state is not taken by another.
fn seal(tool: &str, state: Value) -> String {
    let data = json!({"tool": tool, "state": state}).to_string();
    format!("{}.{data}", tag(&data))
}

/// The state [`seal`]ed for `tool` in `raw`, or the JSON-RPC error (-32602) for a
/// `requestState` this process did not seal for `tool`: changed, forged, or another tool's.
fn open(tool: &str, raw: &str) -> Result<Value, ErrorData> {
    let refused = || ErrorData::invalid_params("requestState integrity check failed", None);
    let (mac, data) = raw.split_once('.').ok_or_else(refused)?;
    if mac != tag(data) {
        return Err(refused());
    }
    let mut sealed: Value = serde_json::from_str(data).map_err(|_| refused())?;
    if sealed["tool"] != tool {
        return Err(refused());
    }
    Ok(sealed["state"].take())
}

/// The state of the call's `requestState`, opened for `tool`: `None` on a first call (no
/// state), the error when the state does not open.
fn state_of(tool: &str, req: &ToolRequest) -> Result<Option<Value>, ErrorData> {
    req.request_state().map(|raw| open(tool, raw)).transpose()
}

// ---------------------------------------------------------------------------------------------
// The client's answers.

/// The client's answer under `key` as `T` (`ElicitResult`, `CreateMessageResult`,
/// `ListRootsResult`), when the call carries one of that shape.
fn answer<T: DeserializeOwned>(req: &ToolRequest, key: &str) -> Option<T> {
    let value = req.input_responses()?.get(key)?;
    serde_json::from_value(value.clone()).ok()
}

/// What the user did with a form: accepted it with `field` filled in, or declined or
/// cancelled it.
enum Form<T> {
    Filled(T),
    Refused,
}

/// The user's answer to the form under `key`, its `field` read as `T`; `None` when the call
/// carries no such answer (nothing under `key`, not an `ElicitResult`, or accepted without
/// `field` of that type), which is asked for again.
fn form<T: DeserializeOwned>(req: &ToolRequest, key: &str, field: &str) -> Option<Form<T>> {
    let result: ElicitResult = answer(req, key)?;
    match result.action {
        ElicitationAction::Accept => {
            let value = result.content?.get(field)?.clone();
            serde_json::from_value(value).ok().map(Form::Filled)
        }
        ElicitationAction::Decline | ElicitationAction::Cancel => Some(Form::Refused),
        // An action the SDK's enum gains later: not understood, so asked again.
        _ => None,
    }
}

/// The text the client's model answered under `key`: its first text block.
#[allow(
    deprecated,
    reason = "sampling is what the scenario asks the client for"
)]
fn sampled_text(req: &ToolRequest, key: &str) -> Option<String> {
    use funcgate::mcp::rmcp::model::{CreateMessageResult, SamplingMessageContentBlock};
    let result: CreateMessageResult = answer(req, key)?;
    result.validate().ok()?;
    result
        .message
        .content
        .into_vec()
        .into_iter()
        .find_map(|block| match block {
            SamplingMessageContentBlock::Text(text) => Some(text.text),
            _ => None,
        })
}

/// The URIs of the client's roots answered under `key`.
#[allow(deprecated, reason = "roots are what the scenario asks the client for")]
fn root_uris(req: &ToolRequest, key: &str) -> Option<Vec<String>> {
    let result: funcgate::mcp::rmcp::model::ListRootsResult = answer(req, key)?;
    Some(result.roots.into_iter().map(|root| root.uri).collect())
}

/// "Found N root(s)", and which.
fn roots_text(uris: &[String]) -> String {
    match uris {
        [] => "Found 0 roots".to_owned(),
        uris => format!("Found {} root(s): {}", uris.len(), uris.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// The tools.

/// Asks for the user's name (`user_name`), then greets them. No state: the answer is all it
/// needs.
async fn elicitation(_args: (), req: ToolRequest) -> Result<CallToolResponse, ErrorData> {
    match form::<String>(&req, "user_name", "name") {
        Some(Form::Filled(name)) => complete(format!("Hello, {name}!")),
        Some(Form::Refused) => complete("Hello, whoever you are (no name was given)!"),
        None => input_required(
            json!({"user_name": elicitation_request("What is your name?", "name")}),
            None,
        ),
    }
}

/// Asks the client's model a question (`capital_question`), then reports its answer.
async fn sampling(_args: (), req: ToolRequest) -> Result<CallToolResponse, ErrorData> {
    match sampled_text(&req, "capital_question") {
        Some(text) => complete(format!("Sampling result: {text}")),
        None => input_required(
            json!({"capital_question": sampling_request("What is the capital of France?", 100)}),
            None,
        ),
    }
}

/// Asks for the client's roots (`client_roots`), then lists them.
async fn list_roots(_args: (), req: ToolRequest) -> Result<CallToolResponse, ErrorData> {
    match root_uris(&req, "client_roots") {
        Some(uris) => complete(roots_text(&uris)),
        None => input_required(json!({"client_roots": roots_request()}), None),
    }
}

const REQUEST_STATE: &str = "test_input_required_result_request_state";

/// Asks for a confirmation (`confirm`) with a state; completes ("state-ok") once the retry
/// echoes the state and answers.
async fn request_state(_args: (), req: ToolRequest) -> Result<CallToolResponse, ErrorData> {
    let state = state_of(REQUEST_STATE, &req)?;
    if state.is_some_and(|state| state["step"] == "confirm") {
        match form::<bool>(&req, "confirm", "ok") {
            Some(Form::Filled(ok)) => {
                return complete(format!(
                    "state-ok: requestState validated (confirmed: {ok})"
                ));
            }
            Some(Form::Refused) => {
                return complete("state-ok: requestState validated (not confirmed)");
            }
            None => {}
        }
    }
    input_required(
        json!({"confirm": confirm_request()}),
        Some(seal(REQUEST_STATE, json!({"step": "confirm"}))),
    )
}

const MULTIPLE_INPUTS: &str = "test_input_required_result_multiple_inputs";

/// Asks for a name (`user_name`), a greeting from the client's model (`greeting`) and the
/// client's roots (`client_roots`) at once. The answers of a round are kept in the state, so
/// a retry that answers only some is asked only for the rest.
async fn multiple_inputs(_args: (), req: ToolRequest) -> Result<CallToolResponse, ErrorData> {
    let mut known = match state_of(MULTIPLE_INPUTS, &req)? {
        Some(Value::Object(known)) => known,
        _ => Map::new(),
    };
    if !known.contains_key("name") {
        match form::<String>(&req, "user_name", "name") {
            Some(Form::Filled(name)) => known.insert("name".to_owned(), json!(name)),
            Some(Form::Refused) => known.insert("name".to_owned(), json!("(not given)")),
            None => None,
        };
    }
    if !known.contains_key("greeting")
        && let Some(text) = sampled_text(&req, "greeting")
    {
        known.insert("greeting".to_owned(), json!(text));
    }
    if !known.contains_key("roots")
        && let Some(uris) = root_uris(&req, "client_roots")
    {
        known.insert("roots".to_owned(), json!(uris));
    }

    let mut missing = Map::new();
    if !known.contains_key("name") {
        missing.insert(
            "user_name".to_owned(),
            elicitation_request("What is your name?", "name"),
        );
    }
    if !known.contains_key("greeting") {
        missing.insert(
            "greeting".to_owned(),
            sampling_request("Generate a greeting", 50),
        );
    }
    if !known.contains_key("roots") {
        missing.insert("client_roots".to_owned(), roots_request());
    }
    if !missing.is_empty() {
        return input_required(
            Value::Object(missing),
            Some(seal(MULTIPLE_INPUTS, Value::Object(known))),
        );
    }
    let name = known["name"].as_str().unwrap_or_default();
    let greeting = known["greeting"].as_str().unwrap_or_default();
    let roots: Vec<String> = serde_json::from_value(known["roots"].clone()).unwrap_or_default();
    complete(format!(
        "Name: {name}; Greeting: {greeting}; Roots: {}",
        roots.len()
    ))
}

const MULTI_ROUND: &str = "test_input_required_result_multi_round";

/// Three rounds: asks for a name (`step1`, state round 1), then for a favourite colour
/// (`step2`, state round 2 with the name), then completes. A round's answer that is missing
/// is asked for again, with the same state.
async fn multi_round(_args: (), req: ToolRequest) -> Result<CallToolResponse, ErrorData> {
    let step1 = || {
        input_required(
            json!({"step1": elicitation_request("Step 1: What is your name?", "name")}),
            Some(seal(MULTI_ROUND, json!({"round": 1}))),
        )
    };
    let step2 = |name: &str| {
        input_required(
            json!({"step2": elicitation_request("Step 2: What is your favorite color?", "color")}),
            Some(seal(MULTI_ROUND, json!({"round": 2, "name": name}))),
        )
    };
    let Some(state) = state_of(MULTI_ROUND, &req)? else {
        return step1();
    };
    match state["round"].as_u64() {
        Some(1) => match form::<String>(&req, "step1", "name") {
            Some(Form::Filled(name)) => step2(&name),
            Some(Form::Refused) => step2("friend"),
            None => step1(),
        },
        Some(2) => {
            let name = state["name"].as_str().unwrap_or("friend");
            match form::<String>(&req, "step2", "color") {
                Some(Form::Filled(color)) => {
                    complete(format!("Multi-round complete for {name} who likes {color}"))
                }
                Some(Form::Refused) => complete(format!(
                    "Multi-round complete for {name}, who kept their favorite color to themselves"
                )),
                None => step2(name),
            }
        }
        _ => step1(),
    }
}

const TAMPERED_STATE: &str = "test_input_required_result_tampered_state";

/// Asks for a confirmation with a sealed state; a retry whose state does not open is refused
/// with -32602 (see [`open`]).
async fn tampered_state(_args: (), req: ToolRequest) -> Result<CallToolResponse, ErrorData> {
    let state = state_of(TAMPERED_STATE, &req)?;
    if state.is_some_and(|state| state["step"] == "confirm")
        && form::<bool>(&req, "confirm", "ok").is_some()
    {
        return complete("integrity-ok: state verified");
    }
    input_required(
        json!({"confirm": confirm_request()}),
        Some(seal(TAMPERED_STATE, json!({"step": "confirm"}))),
    )
}

const CAPABILITIES: &str = "test_input_required_result_capabilities";

/// Asks only for what the request's `_meta` says the client can answer: sampling and
/// elicitation each when declared; a plain result when neither is. Completes once the
/// retry answers everything asked (the keys asked are in the state).
#[allow(
    deprecated,
    reason = "sampling is one of the capabilities the scenario declares"
)]
async fn capabilities(_args: (), req: ToolRequest) -> Result<CallToolResponse, ErrorData> {
    if let Some(state) = state_of(CAPABILITIES, &req)? {
        let asked: Vec<String> = serde_json::from_value(state["asked"].clone()).unwrap_or_default();
        let answered = |key: &String| match key.as_str() {
            "elicit_input" => form::<String>(&req, key, "value").is_some(),
            "sample_input" => sampled_text(&req, key).is_some(),
            _ => false,
        };
        if !asked.is_empty() && asked.iter().all(answered) {
            return complete(format!("capabilities-ok: received {}", asked.join(",")));
        }
    }
    let caps = req.context().client_capabilities().unwrap_or_default();
    let mut requests = Map::new();
    if caps.elicitation.is_some() {
        requests.insert(
            "elicit_input".to_owned(),
            elicitation_request("Elicitation input", "value"),
        );
    }
    if caps.sampling.is_some() {
        requests.insert(
            "sample_input".to_owned(),
            sampling_request("Sample request", 50),
        );
    }
    if requests.is_empty() {
        return complete("No supported capabilities declared");
    }
    let asked: Vec<&String> = requests.keys().collect();
    let state = Some(seal(CAPABILITIES, json!({ "asked": asked })));
    input_required(Value::Object(requests), state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_state_opens_for_its_tool() {
        let raw = seal(MULTI_ROUND, json!({"round": 2, "name": "Alice"}));
        assert_eq!(
            open(MULTI_ROUND, &raw).unwrap(),
            json!({"round": 2, "name": "Alice"})
        );
    }

    #[test]
    fn a_changed_forged_or_borrowed_state_is_refused() {
        let raw = seal(TAMPERED_STATE, json!({"step": "confirm"}));
        let refused = |raw: &str, tool: &str| {
            let error = open(tool, raw).unwrap_err();
            assert_eq!(
                error.code,
                funcgate::mcp::rmcp::model::ErrorCode::INVALID_PARAMS
            );
        };
        refused(&format!("{raw}-TAMPERED"), TAMPERED_STATE);
        refused(&raw.replace("confirm", "done"), TAMPERED_STATE);
        let (_, data) = raw.split_once('.').unwrap();
        refused(&format!("0000000000000000.{data}"), TAMPERED_STATE);
        refused(data, TAMPERED_STATE);
        refused("", TAMPERED_STATE);
        refused(&raw, REQUEST_STATE);
    }
}
