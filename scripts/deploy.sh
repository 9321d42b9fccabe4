#!/usr/bin/env bash
# `make deploy` (AWS) and `make deploy-localstack` (LocalStack): build every function with
# cargo-lambda through SAM and deploy template.yaml.
#
#   scripts/deploy.sh aws         # sam build + sam deploy --guided (first time; then plain deploy)
#   scripts/deploy.sh localstack  # samlocal build + samlocal deploy against a running LocalStack
#
# Needs: AWS SAM CLI (`pip install aws-sam-cli`), cargo-lambda (scripts/build-lambdas.sh installs
# it into the cache), AWS credentials for the target account (aws configure / SSO / env), and
# for LocalStack: Docker, LocalStack running (`localstack start -d`, Python >= 3.12) and
# `pip install aws-sam-cli-local`. Extra arguments go to `sam deploy`
# (e.g. --parameter-overrides WorkerImage=123456789012.dkr.ecr.us-east-1.amazonaws.com/zhibo-worker:1).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-aws}
shift || true
cache=${ZHIBO_CACHE:-$HOME/.cache/zhibo}
export SAM_CLI_TELEMETRY=0
if ! command -v cargo-lambda >/dev/null; then
  [ -x "$cache/lambda-venv/bin/cargo-lambda" ] ||
    { python3 -m venv "$cache/lambda-venv" && "$cache/lambda-venv/bin/pip" install -q cargo-lambda; }
  export PATH=$cache/lambda-venv/bin:$PATH
fi
case $target in
  aws) sam=sam ;;
  localstack) sam=samlocal ;;
  *) echo "usage: scripts/deploy.sh aws|localstack [sam deploy arguments]" >&2; exit 2 ;;
esac
command -v "$sam" >/dev/null || {
  echo "deploy: $sam is not installed: pip install $([ "$sam" = sam ] && echo aws-sam-cli || echo aws-sam-cli-local)" >&2
  exit 1
}
if [ "$target" = localstack ]; then
  curl -fs "${LOCALSTACK_ENDPOINT:-http://localhost:4566}/_localstack/health" >/dev/null || {
    echo "deploy: LocalStack does not answer at ${LOCALSTACK_ENDPOINT:-http://localhost:4566} (localstack start -d; it needs Docker)" >&2
    exit 1
  }
fi
"$sam" validate --lint
"$sam" build
if [ -f samconfig.toml ] || [ "$target" = localstack ]; then
  "$sam" deploy --resolve-s3 --capabilities CAPABILITY_IAM "$@"
else
  "$sam" deploy --guided --capabilities CAPABILITY_IAM "$@"
fi
