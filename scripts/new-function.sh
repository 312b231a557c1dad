#!/usr/bin/env bash
# Scaffolds a function: NAME/function.json and src/functions/NAME.rs from a template, then says
# the one line to add to src/functions/mod.rs. It never edits existing Rust source.
# Usage: scripts/new-function.sh NAME   (make new-function NAME=items)
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="${1:-}"
if [[ ! "${NAME}" =~ ^[a-z][a-z0-9-]{0,40}$ ]]; then
  echo "usage: $0 NAME  (lower-case letters, digits and dashes, starting with a letter)" >&2
  exit 2
fi
MODULE="${NAME//-/_}"
# items -> Items, order-lines -> OrderLines
TYPE="$(sed -E 's/(^|-)([a-z])/\U\2/g' <<<"${NAME}")"
UPPER="$(tr 'a-z-' 'A-Z_' <<<"${NAME}")"
SOURCE="src/functions/${MODULE}.rs"
for taken in "${NAME}" "${SOURCE}"; do
  if [[ -e "${taken}" ]]; then
    echo "$0: ${taken} already exists" >&2
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
      "methods": ["get", "head", "post"],
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
sed -e "s/__NAME__/${NAME}/g" -e "s/__TYPE__/${TYPE}/g" -e "s/__UPPER__/${UPPER}/g" \
  scripts/templates/function.rs.in >"${SOURCE}"

cat <<DONE
Created ${NAME}/function.json (GET, HEAD, POST at /${NAME}/{id?}) and ${SOURCE}.
Now add this line inside register! { ... } in src/functions/mod.rs:

    ${MODULE}::${TYPE},

then make build. Its rules are in ${SOURCE} (rules()); AUTH_POLICY_${UPPER} overrides them.
DONE
