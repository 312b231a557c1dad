//! `GET /api/org`: the organization's profile from Microsoft Graph (or its stand-in), fetched
//! *as the app* with its managed identity: the caller is checked by the gate, and nothing of
//! the caller's token goes to Graph.

use funcgate::{ApiError, ErrorKind, Function, Outcome, Reply, Request, State};

use crate::Store;

/// The function, for readers (users or applications: an app token needs no user).
pub fn function() -> Function<Store> {
    Function::new("org", org).rules("GET,HEAD=scopes:Api.Read|roles:Api.Read")
}

async fn org(_state: State<Store>, req: Request) -> Outcome {
    let answer = req
        .downstream_api("directory")
        .get("/v1.0/organization")
        .await?;
    if !(200..300).contains(&answer.status) {
        return Err(ApiError::new(ErrorKind::DownstreamUnavailable)
            .because(format!("Graph answered {}", answer.status)));
    }
    let _: serde_json::Value = answer.json()?;
    Ok(Reply::with_json_body(200, answer.body.to_vec()))
}
