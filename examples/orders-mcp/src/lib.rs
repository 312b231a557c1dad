//! A team's MCP server on funcgate: three tools, each behind its own Entra rule.
//!
//! - `get_order`: a delegated scope or an application role that reads orders. Its result is
//!   typed ([`Json`]): clients get it as structured content, checked against the output
//!   schema funcgate derives from [`Order`].
//!
//! A tool whose handler takes the [`Request`] (identity, claims) needs nothing of the MCP
//! SDK's, and funcgate answers its calls directly; one that takes a
//! [`ToolRequest`] (progress, the SDK's context) goes through the SDK's service.
//! - `export_orders`: the read scope; reports progress while it works (the reply becomes a
//!   stream of server-sent events).
//! - `cancel_order`: the admin role, and the authentication context `c1` (step-up: a client
//!   that can answer claims challenges is asked for it).
//!
//! The server is at `/mcp` (host.json's `mcp-custom-handler` profile: no route prefix, every
//! path passed on), its metadata at `/.well-known/oauth-protected-resource/mcp`. Beside it,
//! `GET /orders/{id}` and `POST /orders/find` serve the same read as plain functions, with no
//! folder of their own (the profile passes every path to the handler).

use std::time::Duration;

use funcgate::mcp::rmcp::model::{CallToolResult, ContentBlock};
use funcgate::mcp::{Json, Mcp, Tool, ToolRequest};
use funcgate::{App, Function, Outcome, Reply, Request, builtin};
use serde::{Deserialize, Serialize};

/// The app: `health` and the MCP server `orders`.
pub fn app() -> App {
    App::new()
        .named(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        .function(builtin::health())
        .function(
            Function::new("order", order_by_rest)
                .route("orders/{id:int}", &["GET", "HEAD"])
                .rules("GET,HEAD=scopes:Orders.Read|roles:Orders.Read"),
        )
        .function(
            Function::new("find", find_order)
                .route("orders/find", &["POST"])
                .rules("POST=scopes:Orders.Read|roles:Orders.Read"),
        )
        .mcp(
            Mcp::new("orders")
                .version(env!("CARGO_PKG_VERSION"))
                .instructions("Reads, exports and cancels Contoso orders.")
                .tool(
                    Tool::new("get_order", get_order)
                        .description("Reads one order by its number.")
                        .rules("scopes:Orders.Read|roles:Orders.Read"),
                )
                .tool(
                    Tool::new("export_orders", export_orders)
                        .description("Exports the caller's orders, reporting progress.")
                        .rules("scopes:Orders.Read"),
                )
                .tool(
                    Tool::new("cancel_order", cancel_order)
                        .description("Cancels an order; needs the admin role and a recent MFA.")
                        .rules("roles:Orders.Admin&acrs:c1"),
                ),
        )
}

/// Which order.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct OrderId {
    /// The order's number.
    pub id: u32,
}

/// How many orders to export.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct Export {
    /// Orders to export, 1 to 10.
    pub count: u32,
}

/// One order, as the tool and the plain functions give it.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The order's number.
    pub id: u32,
    /// Where it is.
    pub status: &'static str,
    /// Who read it: the user's `upn`, or the calling application's id.
    pub read_by: String,
}

async fn get_order(args: OrderId, req: Request) -> Result<Json<Order>, String> {
    if args.id == 0 {
        return Err("there is no order 0".to_owned());
    }
    Ok(Json(order(args.id, &req)))
}

/// The order `id`, read by the caller of `req`.
fn order(id: u32, req: &Request) -> Order {
    Order {
        id,
        status: "shipped",
        read_by: reader(req),
    }
}

/// Who is reading: the user's `upn`, or the calling application's id (the identity's client
/// application: `azp`, `appid`, or another provider's `client_id`).
fn reader(req: &funcgate::Request) -> String {
    req.claim("upn")
        .and_then(|v| v.as_str().map(str::to_owned))
        .or_else(|| req.identity().and_then(|who| who.client_app.clone()))
        .unwrap_or_else(|| "unknown".to_owned())
}

async fn order_by_rest(req: Request) -> Outcome {
    let id: u32 = req.param("id").and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(Reply::json(200, &order(id, &req)))
}

/// `POST /orders/find` with `{"id": 7}`: the same read with a JSON body, as a plain function.
async fn find_order(req: Request) -> Outcome {
    let args: OrderId = req.json()?;
    Ok(Reply::json(200, &order(args.id, &req)))
}

async fn export_orders(args: Export, req: ToolRequest) -> Result<String, String> {
    if !(1..=10).contains(&args.count) {
        return Err("count must be 1 to 10".to_owned());
    }
    let total = f64::from(args.count);
    for done in 1..=args.count {
        tokio::time::sleep(Duration::from_millis(20)).await;
        req.progress(f64::from(done), Some(total), Some("exporting"))
            .await;
    }
    Ok(format!("exported {} orders", args.count))
}

async fn cancel_order(args: OrderId, _req: Request) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(format!(
        "order {} cancelled",
        args.id
    ))])
}
