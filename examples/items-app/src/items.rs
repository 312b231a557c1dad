//! `/api/items[/{id}]`: a small REST resource. `GET` lists or reads, `POST` creates (201, or
//! 409 when the id is taken), `PUT` replaces, `PATCH` changes some fields, `DELETE` removes
//! (204); an unknown id is 404, a body that is not an item 400, a body that is not JSON 415.

use std::collections::BTreeMap;
use std::sync::Mutex;

use funcgate::{ApiError, Function, Outcome, Reply, Request, State};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// What an id may hold unencoded in a URL path segment: RFC 3986's unreserved characters.
/// Everything else, `/`, `?`, `#`, `%`, spaces and control characters among them, is encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The items, shared by every call: registered once at start-up with `App::with_state`. A real
/// app holds a database client here.
#[derive(Default)]
pub struct Store {
    items: Mutex<BTreeMap<String, Item>>,
}

impl Store {
    /// How many items there are.
    pub fn count(&self) -> usize {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One item.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Item {
    id: String,
    name: String,
    #[serde(default)]
    price: f64,
}

/// What `PATCH` may change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Changes {
    name: Option<String>,
    price: Option<f64>,
}

/// What `PUT` replaces (the id comes from the path).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replacement {
    name: String,
    #[serde(default)]
    price: f64,
}

/// The `items` function, with its rules next to it: reads need `Api.Read`, changes need
/// `Api.Write` (a delegated scope, or the app role of the same name).
pub fn function() -> Function<Store> {
    Function::new("items", items).rules(
        "GET,HEAD=scopes:Api.Read|roles:Api.Read;POST,PUT,PATCH,DELETE=scopes:Api.Write|roles:Api.Write",
    )
}

fn not_found() -> ApiError {
    ApiError::custom(404, "ItemNotFound", "No item has this id.")
}

fn id_needed() -> ApiError {
    ApiError::custom(
        400,
        "ItemIdMissing",
        "This method needs an item id in the path.",
    )
}

async fn items(State(store): State<Store>, req: Request) -> Outcome {
    let id = req.param("id").map(str::to_owned);
    // A poisoned lock only means another call panicked mid-change; the map is still whole.
    let lock = || store.items.lock().unwrap_or_else(|p| p.into_inner());
    match (req.method(), id) {
        ("GET" | "HEAD", None) => {
            let all: Vec<Item> = lock().values().cloned().collect();
            Ok(Reply::json(200, &all))
        }
        ("GET" | "HEAD", Some(id)) => lock()
            .get(&id)
            .map(|item| Reply::json(200, item))
            .ok_or_else(not_found),
        ("POST", None) => {
            let item: Item = req.json()?;
            // An id a path segment cannot name could be created but never read: the host
            // keeps `%2F` encoded in a route value and resolves `.` and `..` segments.
            if item.id.is_empty() || item.id == "." || item.id == ".." || item.id.contains('/') {
                return Err(ApiError::custom(
                    400,
                    "InvalidItemId",
                    "An item id must name one path segment: not empty, . or .., and without /.",
                ));
            }
            let mut items = lock();
            if items.contains_key(&item.id) {
                return Err(ApiError::custom(
                    409,
                    "ItemExists",
                    "An item with this id exists already.",
                ));
            }
            items.insert(item.id.clone(), item.clone());
            let mut reply = Reply::json(201, &item);
            // The id is the caller's: raw, a line break in it is no valid header value (and
            // the reply would fail after the item was stored), and a `?` or `#` would point
            // elsewhere. Encoded, the path names this item, and GET of it decodes to the id.
            let location = format!("/api/items/{}", utf8_percent_encode(&item.id, PATH_SEGMENT));
            reply.header("Location", location);
            Ok(reply)
        }
        ("POST", Some(_)) => Err(ApiError::custom(
            400,
            "ItemIdInPath",
            "POST creates an item at /api/items; the id goes in the body.",
        )),
        ("PUT", Some(id)) => {
            let new: Replacement = req.json()?;
            let mut items = lock();
            let item = items.get_mut(&id).ok_or_else(not_found)?;
            item.name = new.name;
            item.price = new.price;
            Ok(Reply::json(200, item))
        }
        ("PATCH", Some(id)) => {
            let changes: Changes = req.json()?;
            let mut items = lock();
            let item = items.get_mut(&id).ok_or_else(not_found)?;
            if let Some(name) = changes.name {
                item.name = name;
            }
            if let Some(price) = changes.price {
                item.price = price;
            }
            Ok(Reply::json(200, item))
        }
        ("DELETE", Some(id)) => match lock().remove(&id) {
            Some(_) => Ok(Reply::empty(204)),
            None => Err(not_found()),
        },
        _ => Err(id_needed()),
    }
}
