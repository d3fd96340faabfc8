#!/usr/bin/env bash
# make demo: ws's main job end to end on the example workspace in packages/:
# the graph, the member locks, each member's tests in its exact environment (twice: the second
# run reuses every result), pinned and generated Dockerfiles, an image built through the
# Engine API, run, and asked a question; then ws check, as CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
WS=.venv/bin/ws
PORT=${DEMO_PORT:-18080}
step() { printf '\n==> %s\n' "$*"; }

step "ws list";                          $WS list
step "ws graph";                         $WS graph
# A change to the core library, as a new file git sees: what does it affect? (removed again)
change=packages/example-core/demo-change.txt
step "ws affected --since HEAD, after adding $change"
trap 'rm -f "$change"' EXIT
echo "a change" >"$change"
$WS affected --since HEAD
rm -f "$change"
trap - EXIT
step "ws sync-locks";                    $WS sync-locks
step "ws sync-locks --check";            $WS sync-locks --check
step "ws run test";                      $WS run test
step "ws run test, again: nothing changed"; $WS run test
step "ws docker pin";                    $WS docker pin
step "ws docker generate";               $WS docker generate
step "ws docker build example-service";  $WS docker build example-service

image=$(.venv/bin/python - <<'PY'
import json, subprocess, tomllib
registry = tomllib.load(open("pyproject.toml", "rb"))["tool"]["ws"]["docker"]["registry"]
members = json.loads(subprocess.check_output([".venv/bin/ws", "list", "--json"]))["members"]
version = next(m["version"] for m in members if m["name"] == "example-service")
print(f"{registry}/example-service:{version}")
PY
)
step "docker-compose up: compose.yml runs $image (host network, port $PORT)"
export PORT WS_EXAMPLE_IMAGE="$image"
compose=(docker-compose -f compose.yml -p ws-demo)
"${compose[@]}" up -d --quiet-pull 2>/dev/null || "${compose[@]}" up -d
trap '"${compose[@]}" down >/dev/null 2>&1 || true' EXIT
url="http://127.0.0.1:$PORT/report?text=uv+workspaces+build+small+images.+Small+images+ship+fast.&title=ws+demo"
answer=""
for _ in $(seq 50); do
    answer=$(curl -fsS "$url" 2>/dev/null) && break
    sleep 0.2
done
if [ -z "$answer" ]; then
    echo "demo: the service did not answer; its log:" >&2
    "${compose[@]}" logs >&2
    exit 1
fi
printf 'GET %s\n%s\n' "$url" "$answer"

# What CI and the pre-commit hook run: the locks, the generated files and the pins committed
# here are what ws makes on this machine.
step "ws check";                         $WS check
