#!/usr/bin/env bash
# Offline lint of the infrastructure: cfn-lint, `sam validate --lint`, the SAM transform itself,
# statelint on the ASL (placeholders substituted), our own ASL and template checks, and cfn-lint
# again on the fully transformed CloudFormation template, with the ASL inlined as a Definition so
# that cfn-lint also checks it against its ASL schema. Then the security scanners, checkov and
# cfn-lint's serverless rules (cfn-lint-serverless), on both the template and the transformed one.
# No AWS account, no credentials, no network. Tools come from .tools/venv and, for the scanners,
# .tools/venv-security (scripts/install-tools python installs both).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.tools/venv/bin"
sec="$root/.tools/venv-security/bin"
for t in "$bin/sam" "$sec/checkov"; do
  [ -x "$t" ] || { echo "lint.sh: $t missing; run scripts/install-tools python" >&2; exit 2; }
done

# A dummy region and no credentials of any kind: every step must work offline.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_UPDATE_CHECK=1 PYTHONDONTWRITEBYTECODE=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"

step() {
  local name=$1
  shift
  local t0=$SECONDS
  if "$@" >"$tmp/out" 2>&1; then
    printf 'ok    %-58s %3ss\n' "$name" $((SECONDS - t0))
  else
    printf 'FAIL  %-58s %3ss\n' "$name" $((SECONDS - t0))
    sed 's/^/      /' "$tmp/out"
    failed=1
  fi
}
failed=0

step "cfn-lint template.yaml" "$bin/cfn-lint" template.yaml
step "sam validate --lint" "$bin/sam" validate --lint --template template.yaml

# The SAM transform (plain `sam validate`) needs DatastoreIds to expand Fn::ForEach locally:
# validate a copy that gives it two sample ids.
"$bin/python" - "$tmp/template.yaml" <<'PY'
import sys
text = open("template.yaml").read()
marker = "    Type: CommaDelimitedList\n"
assert marker in text, "DatastoreIds parameter not found"
text = text.replace(marker, marker + "    Default: 0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210\n", 1)
open(sys.argv[1], "w").write(text)
PY
ln -s "$root/infra" "$tmp/infra"
ln -s "$root/functions" "$tmp/functions"
step "sam validate --language-extensions (SAM transform)" "$bin/sam" validate --language-extensions --template "$tmp/template.yaml"

"$bin/python" infra/checks/cfn.py asl "$tmp/export.asl.json"
step "statelint export.asl.json (placeholders substituted)" "$bin/statelint" "$tmp/export.asl.json"
"$bin/python" infra/checks/cfn.py night-asl "$tmp/night.asl.json"
step "statelint night.asl.json (placeholders substituted)" "$bin/statelint" "$tmp/night.asl.json"
step "aslcheck: Retry/Catch, notification paths, loop bound, the night" "$bin/python" infra/checks/aslcheck.py
step "templatecheck: IAM, API auth, functions, alarms" "$bin/python" infra/checks/templatecheck.py

"$bin/python" infra/checks/cfn.py rendered "$tmp/rendered.json" >"$tmp/render.log" 2>&1 ||
  { cat "$tmp/render.log"; failed=1; }
# W1020: after Fn::ForEach put the data store id in, some Fn::Sub have no variable left.
step "cfn-lint on the transformed template (ASL as Definition)" "$bin/cfn-lint" --ignore-checks W1020 -- "$tmp/rendered.json"

# Security scanners. checkov reads template.yaml but silently leaves out the Fn::ForEach blocks
# (schedules, per-data-store policies) and never sees what the SAM transform adds (API stage,
# Lambda permissions), so it scans the transformed template too; SAM carries each function's
# Metadata (the justified skips) over. --skip-download: no calls to the vendor's platform.
step "checkov: template + transformed template" "$sec/checkov" --quiet --compact --skip-download \
  --framework cloudformation -f template.yaml -f "$tmp/rendered.json"
step "cfn-lint-serverless rules: template + transformed" "$sec/cfn-lint" \
  --append-rules cfn_lint_serverless.rules --ignore-checks W1020 -- template.yaml "$tmp/rendered.json"

exit "$failed"
