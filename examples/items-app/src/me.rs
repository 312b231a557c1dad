//! `GET /api/me`: the caller's profile from Microsoft Graph (or its stand-in), fetched *as the
//! caller* with an on-behalf-of token: the caller's own token never leaves funcgate except
//! as the assertion of that exchange.

use funcgate::{ApiError, ErrorKind, Function, Outcome, Reply, Request, State};

use crate::Store;

/// The function, for any valid token (the exchange itself needs a user's token: an app-only
/// caller gets `403 OnBehalfOfUserRequired`).
pub fn function() -> Function<Store> {
    Function::new("me", me).rules("GET,HEAD=authenticated")
}

async fn me(_state: State<Store>, req: Request) -> Outcome {
    let answer = req.downstream_api("graph").get("/v1.0/me").await?;
    if !(200..300).contains(&answer.status) {
        return Err(ApiError::new(ErrorKind::DownstreamUnavailable)
            .because(format!("Graph answered {}", answer.status)));
    }
    // Graph's own JSON, as it came (checked to be JSON first).
    let _: serde_json::Value = answer.json()?;
    Ok(Reply::with_json_body(200, answer.body.to_vec()))
}
