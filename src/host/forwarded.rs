//! Forwarded requests: the raw HTTP request at its public path.

use actix_web::HttpRequest;

use crate::gateway::Call;

/// The call a forwarded request describes (route parameters are filled in by routing).
pub fn to_call(req: &HttpRequest) -> Call {
    let headers = req.headers();
    let text = |name: &str| -> Option<String> {
        let values: Vec<String> = headers
            .get_all(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    Call {
        method: req.method().as_str().to_ascii_uppercase(),
        params: Default::default(),
        query: form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect(),
        authorization: text("authorization"),
        origin: text("origin"),
        preflight_method: text("access-control-request-method"),
    }
}
