//! `GET /api/events`: the item count as server-sent events, one a second for three seconds, a
//! reply produced while it is sent. Under proxying mode each event reaches the client as it is
//! written; where the host buffers, the client gets them all at the end.

use std::time::Duration;

use funcgate::{Function, Outcome, Reply, Request, State};

use crate::Store;

/// The `events` function: readers only.
pub fn function() -> Function<Store> {
    Function::new("events", events).rules("GET=scopes:Api.Read|roles:Api.Read")
}

async fn events(State(store): State<Store>, _req: Request) -> Outcome {
    let ticks = futures_util::stream::unfold(0u32, move |n| {
        let store = store.clone();
        async move {
            if n == 3 {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            let event = format!("event: count\ndata: {}\n\n", store.count());
            Some((event.into(), n + 1))
        }
    });
    Ok(Reply::stream(200, "text/event-stream", ticks))
}
