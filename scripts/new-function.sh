#!/usr/bin/env bash
# Scaffolds a function of this app: NAME/function.json (its methods matching the rules in its
# source), src/app_functions/NAME.rs from a template, and its registration in
# src/app_functions/mod.rs (a line under each `new-function:` marker). Nothing else needs an
# edit: the app builds, serves /NAME and make test passes.
# Usage: scripts/new-function.sh NAME   (make new-function NAME=items)
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="${1:-}"
if [[ ! "${NAME}" =~ ^[a-z][a-z0-9-]{0,40}$ ]]; then
  echo "usage: $0 NAME  (lower-case letters, digits and dashes, starting with a letter)" >&2
  exit 2
fi
MODULE="${NAME//-/_}"
UPPER="$(tr 'a-z-' 'A-Z_' <<<"${NAME}")"
REGISTRY="src/app_functions/mod.rs"
SOURCE="src/app_functions/${MODULE}.rs"
case "${NAME}" in
  health | vault | whoami | oauth-protected-resource | app_functions | funcgate | src | scripts | \
    tests | examples | target | dist)
    echo "$0: ${NAME} is taken by funcgate or the repository" >&2
    exit 1
    ;;
esac
# The module name must be a Rust identifier, not a keyword.
case "${MODULE}" in
  as | async | await | break | const | continue | crate | dyn | else | enum | extern | false | fn | \
    for | gen | if | impl | in | let | loop | match | mod | move | mut | pub | ref | return | self | \
    static | struct | super | trait | true | try | type | unsafe | use | where | while | yield | \
    abstract | become | box | do | final | macro | override | priv | typeof | unsized | virtual)
    echo "$0: ${NAME} is a Rust keyword; choose another name" >&2
    exit 2
    ;;
esac
for taken in "${NAME}" "${SOURCE}"; do
  if [[ -e "${taken}" ]]; then
    echo "$0: ${taken} already exists" >&2
    exit 1
  fi
done
for marker in "// new-function: modules" "// new-function: registrations"; do
  if ! grep -qF "${marker}" "${REGISTRY}"; then
    echo "$0: ${REGISTRY} has lost its '${marker}' line; add the function by hand" >&2
    exit 1
  fi
done

mkdir "${NAME}"
cat >"${NAME}/function.json" <<JSON
{
  "bindings": [
    {
      "type": "httpTrigger",
      "direction": "in",
      "name": "req",
      "authLevel": "anonymous",
      "methods": ["get", "head", "post", "put", "patch", "delete"],
      "route": "${NAME}/{id?}"
    },
    {
      "type": "http",
      "direction": "out",
      "name": "res"
    }
  ]
}
JSON
sed -e "s/__NAME__/${NAME}/g" -e "s/__UPPER__/${UPPER}/g" \
  scripts/templates/function.rs.in >"${SOURCE}"
# Register it: the module under one marker, the function under the other.
sed -i -e "s|^// new-function: modules\$|&\nmod ${MODULE};|" \
  -e "s|^\( *\)// new-function: registrations\$|&\n\1let app = app.function(${MODULE}::function());|" \
  "${REGISTRY}"

cat <<DONE
Created ${NAME}/function.json (GET, HEAD, POST, PUT, PATCH, DELETE at /${NAME}/{id?}) and
${SOURCE}, and registered it in ${REGISTRY}.
Its rules are next to its code (function() in ${SOURCE}); AUTH_POLICY_${UPPER} overrides them
without a rebuild. make build, then: curl -i http://localhost:7071/${NAME}
DONE
