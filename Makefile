# zhibo — every target used by the README or CI. `make help` lists them.
.PHONY: help dev test bench bench-hooks bench-replays bench-audience bench-cold-start build-lambdas deploy deploy-localstack fuzz stack-up stack-down stack-status build fmt lint

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

dev: ## run the whole stack locally (storage, API, media worker, demo page) and print how to push and play
	scripts/dev.sh

test: ## install what is missing, start a private stack, run fmt, clippy and every test, stop it
	scripts/test.sh

bench: ## RTMP -> HLS benchmark against nginx-rtmp (release build; ~15 min; see bench/README.md)
	bench/run.sh

bench-hooks: ## publish-hook latency on DynamoDB Local at 200, 100, 50 req/s (~10 min; see bench/README.md)
	bench/hooks.sh

bench-cold-start: ## cold start of every Lambda binary through a local Runtime API emulation (needs build-lambdas)
	scripts/stack.sh up >/dev/null && eval "$$(scripts/stack.sh env)" && bench/cold_start.py

build-lambdas: ## every function as a release Lambda bootstrap with cargo-lambda (target/lambda/lambda/<bin>/bootstrap; ARCH=arm64 for Graviton)
	scripts/build-lambdas.sh

deploy: ## sam build + sam deploy (--guided the first time) to your AWS account (needs SAM CLI and credentials)
	scripts/deploy.sh aws

deploy-localstack: ## samlocal build + deploy to a running LocalStack (needs Docker, LocalStack, aws-sam-cli-local)
	scripts/deploy.sh localstack

bench-replays: ## indexing a 12-hour replay playlist: S3 event -> queryable, with the floor (~2 min; see bench/README.md)
	bench/replays.sh

bench-audience: ## audience interaction: message POST -> subscriber p50/p99 at 200/s with the DynamoDB floor, likes at 10,000 taps/s with writes counted (~3 min; see bench/README.md)
	bench/audience.sh

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

lint: ## rustfmt check, clippy with warnings as errors, and no unused dependencies (cargo machete)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	scripts/check-deps.sh
