#!/usr/bin/env python3
"""Post-deploy smoke check of a funcgate Function App (make smoke URL=https://... [TOKEN=...]).

Asserts: GET /health answers 200; a protected function without a token answers 401 with the
catalogue's body and a WWW-Authenticate challenge (with resource_metadata when the app has
PUBLIC_BASE_URL); the Protected Resource Metadata document when configured; and, with a token
(az account get-access-token --resource api://{AUTH_CLIENT_ID}), 200 on whoami. Standard
library only, so it runs on any CI runner. Exit code 1 on the first failure.
"""
import argparse
import json
import re
import sys
import urllib.error
import urllib.request

MISSING = {
    "code": "AuthorizationHeaderMissing",
    "description": "Authorization header is missing from the request",
}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def get(url, token=None):
    """(status, headers, body text) of GET url; HTTP errors are answers too."""
    request = urllib.request.Request(url, headers={"User-Agent": "funcgate-smoke"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with OPENER.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def check(ok, what, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the app's base URL, e.g. https://my-app.azurewebsites.net")
    parser.add_argument("--token", default="", help="a bearer token for the API (optional)")
    parser.add_argument("--protected", default="/vault/demo", help="a path that needs a token")
    args = parser.parse_args()
    base = args.url.rstrip("/")

    status, _, body = get(f"{base}/health")
    check(status == 200, "GET /health answers 200", f"{status} {body[:200]}")
    check(json.loads(body).get("status") in ("ok", "degraded"), "health has a status", body[:200])

    status, headers, body = get(f"{base}{args.protected}")
    check(status == 401, f"GET {args.protected} without a token answers 401", f"{status}")
    check(json.loads(body) == MISSING, "with the catalogue's body", body[:200])
    challenge = headers.get("WWW-Authenticate", "")
    check(challenge.startswith("Bearer"), "and a Bearer challenge", challenge)
    pointer = re.search(r'resource_metadata="([^"]+)"', challenge)

    if pointer:
        # Fetched where the 401s point: with a route prefix that is /api/.well-known/...
        url = pointer.group(1)
        check(url.startswith(base + "/") and url.endswith("/.well-known/oauth-protected-resource"),
              "401s point to the metadata document under this app", url)
        status, headers, body = get(url)
        check(status == 200, "the metadata document is served where 401s point",
              f"{status} {body[:200]}")
        doc = json.loads(body)
        check(doc.get("bearer_methods_supported") == ["header"], "it says tokens go in the header")
        check(bool(doc.get("authorization_servers")), "it names the authorization servers")
    else:
        status, headers, body = get(f"{base}/.well-known/oauth-protected-resource")
        check(status == 404, "no metadata document without PUBLIC_BASE_URL", f"{status}")
        print("skip resource_metadata (PUBLIC_BASE_URL is not set)")

    if args.token:
        status, _, body = get(f"{base}/whoami", args.token)
        check(status == 200, "GET /whoami with the token answers 200", f"{status} {body[:200]}")
        check(json.loads(body).get("authenticated") is True, "and names the caller", body[:200])
    else:
        print("skip whoami (no token given)")
    print("smoke check passed")


if __name__ == "__main__":
    main()
