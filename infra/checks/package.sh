#!/usr/bin/env bash
# `sam build` for Lambda: every function as arm64 (Graviton) bootstrap binaries, through the
# template's BuildMethod rust-cargolambda (cargo-lambda + zig from .tools/venv, the aarch64 Rust
# target from rustup). Offline; no AWS account. Prints the binary and zip sizes.
# Output: target/sam/build (override with SAM_BUILD_DIR); the built template keeps its Fn::ForEach
# loops, so it deploys with any DatastoreIds. `sam deploy` then uploads from there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ "${INFRA_CHECKS_SKIP_INSTALL:-}" = 1 ] || "$root/scripts/install-tools" python rust-targets
build_dir=${SAM_BUILD_DIR:-$root/target/sam/build}

export PATH="$root/.tools/venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_UPDATE_CHECK=1
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
command -v cargo-lambda >/dev/null || { echo "package.sh: cargo-lambda missing (tools/requirements-stack.txt)" >&2; exit 2; }

cd "$root"
# SAM CLI expands Fn::ForEach locally to find the functions, so DatastoreIds needs a value at
# build time; it does not end up in the artifacts (the loops stay in the built template).
# The build must land in the workspace's own target/: SAM CLI copies target/lambda/<bin>/bootstrap
# from there, and a CARGO_TARGET_DIR from the shell would put the binaries elsewhere (older SAM CLI
# releases never look anywhere else). Unset it for this build (infra/checks/test_package.py).
unset CARGO_TARGET_DIR
t0=$SECONDS
sam build --language-extensions \
  --template template.yaml \
  --build-dir "$build_dir" \
  --parameter-overrides "DatastoreIds=${PACKAGE_DATASTORE_IDS:-00000000000000000000000000000000}"
echo "package.sh: sam build took $((SECONDS - t0)) s"

"$root/.tools/venv/bin/python" - "$build_dir" <<'PY'
import io, os, subprocess, sys, zipfile
build = sys.argv[1]
for fn in sorted(os.listdir(build)):
    path = os.path.join(build, fn, "bootstrap")
    if not os.path.isfile(path):
        continue
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    kind = subprocess.run(["file", "-b", path], capture_output=True, text=True).stdout.split(",")[:2] if os.path.exists("/usr/bin/file") else ["?"]
    print(f"{fn:24} bootstrap {os.path.getsize(path)/1e6:5.2f} MB, zipped {len(buf.getvalue())/1e6:5.2f} MB ({','.join(kind).strip()})")
PY
