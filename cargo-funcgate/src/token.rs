//! `cargo funcgate token`: a token from the local dev issuer (`cargo funcgate dev`), signed
//! with the testing kit's published key: only an app trusting that issuer accepts it.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use funcgate::testing::IdentityProvider;
use serde_json::{Value, json};

use crate::Failure;

/// The dev issuer's port, beside the app's 7071.
pub(crate) const DEFAULT_ISSUER_PORT: u16 = 7099;

#[derive(Args)]
pub(crate) struct TokenArgs {
    /// App roles (`roles` claim), comma-separated: --roles Api.Read,Api.Write
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,
    /// Delegated scopes (`scp` claim), space- or comma-separated: --scp "Api.Read User.Read"
    #[arg(long)]
    scp: Option<String>,
    /// Any claim, repeatable: --claim upn=ada@contoso.com --claim team=blue --claim level=3
    /// --claim 'groups=["a","b"]' (JSON values are kept as JSON; `name=null` removes a claim)
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// Seconds until it expires (negative: already expired)
    #[arg(long, default_value_t = 3600, allow_hyphen_values = true)]
    ttl: i64,
    /// The dev issuer's port
    #[arg(long, default_value_t = DEFAULT_ISSUER_PORT)]
    issuer_port: u16,
}

pub(crate) fn run(args: &TokenArgs) -> Result<ExitCode, Failure> {
    let issuer = IdentityProvider::offline(&format!("http://127.0.0.1:{}", args.issuer_port))
        .map_err(|e| e.to_string())?;
    let claims = claims(issuer.claims(), args, now())?;
    println!("{}", issuer.sign(&claims));
    Ok(ExitCode::SUCCESS)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The issuer's claims for an app-only token, with the arguments' on top.
fn claims(mut base: Value, args: &TokenArgs, now: i64) -> Result<Value, Failure> {
    let Some(map) = base.as_object_mut() else {
        return Err("the issuer's claims are not an object".into());
    };
    map.insert("iat".into(), json!(now - 10));
    map.insert("nbf".into(), json!(now - 10));
    map.insert("exp".into(), json!(now + args.ttl));
    if !args.roles.is_empty() {
        map.insert("roles".into(), json!(args.roles));
    }
    if let Some(scp) = &args.scp {
        let scopes: Vec<&str> = scp.split([' ', ',']).filter(|s| !s.is_empty()).collect();
        map.insert("scp".into(), json!(scopes.join(" ")));
    }
    for claim in &args.claims {
        let Some((name, value)) = claim.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            return Err(format!("--claim {claim:?}: expected NAME=VALUE"));
        };
        // A JSON number, array, object, boolean or null is taken as JSON; anything else is
        // a string (so --claim upn=ada@contoso.com needs no quotes).
        let looks_json = value.starts_with(['[', '{']);
        match serde_json::from_str::<Value>(value) {
            Err(e) if looks_json => {
                return Err(format!("--claim {name}: {value:?} is not valid JSON: {e}"));
            }
            Ok(Value::Null) => {
                map.remove(name);
            }
            Ok(v @ (Value::Number(_) | Value::Array(_) | Value::Object(_) | Value::Bool(_))) => {
                map.insert(name.to_owned(), v);
            }
            _ => {
                map.insert(name.to_owned(), json!(value));
            }
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> TokenArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            token: TokenArgs,
        }
        let mut all = vec!["token"];
        all.extend_from_slice(list);
        Wrap::parse_from(all).token
    }

    #[test]
    fn claims_of_every_kind() {
        let base = json!({"aud": "api://x", "tid": "t"});
        let a = args(&[
            "--roles",
            "A,B",
            "--scp",
            "X.Read,Y.Write",
            "--claim",
            "upn=ada@contoso.com",
            "--claim",
            "level=3",
            "--claim",
            r#"groups=["g1","g2"]"#,
            "--claim",
            "tid=null",
            "--ttl",
            "-60",
        ]);
        let c = claims(base, &a, 1_000).unwrap();
        assert_eq!(c["roles"], json!(["A", "B"]));
        assert_eq!(c["scp"], "X.Read Y.Write");
        assert_eq!(c["upn"], "ada@contoso.com");
        assert_eq!(c["level"], 3);
        assert_eq!(c["groups"], json!(["g1", "g2"]));
        assert!(c.get("tid").is_none());
        assert_eq!(c["exp"], 940);
        assert_eq!(c["aud"], "api://x");
        assert!(claims(json!({}), &args(&["--claim", "novalue"]), 0).is_err());
        assert!(claims(json!({}), &args(&["--claim", "groups=[a"]), 0).is_err());
    }
}
