# zhibo — every target used by the README or CI. `make help` lists them.
.PHONY: help dev test bench bench-hooks bench-replays fuzz stack-up stack-down stack-status build fmt lint

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

dev: ## run the whole stack locally (storage + API) and print how to call it
	scripts/dev.sh

test: ## install what is missing, start a private stack, run fmt, clippy and every test, stop it
	scripts/test.sh

bench: ## RTMP -> HLS benchmark against nginx-rtmp (release build; ~15 min; see bench/README.md)
	bench/run.sh

bench-hooks: ## publish-hook latency on DynamoDB Local at 200, 100, 50 req/s (~10 min; see bench/README.md)
	bench/hooks.sh

bench-replays: ## indexing a 12-hour replay playlist: S3 event -> queryable, with the floor (~2 min; see bench/README.md)
	bench/replays.sh

fuzz: ## run each cargo-fuzz target for 60 s (see fuzz/README.md)
	fuzz/run.sh

stack-up: ## start DynamoDB Local and SeaweedFS only (eval "$$(scripts/stack.sh env)" to use them)
	scripts/stack.sh up

stack-down: ## stop what stack-up started
	scripts/stack.sh down

stack-status: ## show whether the local services run
	scripts/stack.sh status

build: ## build every crate
	cargo build --workspace

fmt: ## format the code
	cargo fmt --all

lint: ## clippy with warnings as errors
	cargo clippy --workspace --all-targets -- -D warnings
