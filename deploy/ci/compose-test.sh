#!/usr/bin/env bash
# The compose deployment, run for real on this machine's Docker engine.
#
# The waveplot images are the caller's: waveplot/{prepare,plotter,gateway}:$WAVEPLOT_TAG,
# built from deploy/Dockerfile (image-test.sh builds them; `docker compose build` would
# too). No image can be pulled here, so nats is Debian's nats-server and the store is
# Garage (deploy/compose.garage.yaml, with the Garage binary .ci/run built; MinIO's image
# cannot be pulled here; deploy/ci/compose.ci.yaml), on a Debian trixie base made with
# mmdebstrap (or $WAVEPLOT_CI_BASE), and then, through the gateway:
#   0. the secrets service made every secret (none is in the environment file), every
#      container runs hardened, NATS refuses anonymous clients and forged events, each
#      service holds an S3 key of its own that the store refuses beyond its role
#   1. render BTCUSDT 5m from the bundled sample        -> six charts, PNGs served
#   2. `docker compose kill` plotter-03, render again    -> partial, chart 03 says why
#   3. `docker compose start` plotter-03, render again   -> complete
#   4. `docker compose restart nats`, render again       -> the event stream kept its
#                                                           events on the volume; complete
#   4b. deploy/compose.tls.yaml on top, render again     -> TLS on the bus; complete, and
#                                                           a plain client is refused
#   4c. the six plotters stopped; a second project, a    -> complete: every chart drawn
#       board of six plotters on a NATS leaf node linked    on the other "board"
#       over TLS (compose.worker.yaml + compose.worker-leaf.yaml)
#   5. `docker compose stop`                             -> every service exits cleanly,
#                                                           within its grace period
# WAVEPLOT_CI_SCOPE=first-render stops after step 1 (image-test.sh runs the arm64 images
# under emulation so far). Everything it makes (images, containers, networks, volumes) is
# removed on exit; the waveplot images are left to the caller.
#
# Needs docker with the compose plugin, garage, python3, curl, openssl, and mmdebstrap
# unless WAVEPLOT_CI_BASE names the base.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A command's output is searched from a variable (`grep -q ... <<<"$(command)"`), never
# through a pipe: `grep -q` exits at the first match, the writer then dies of SIGPIPE if
# it has more to write, and pipefail turns that into a failed search.

: "${WAVEPLOT_TAG:?the tag of the waveplot images to run (image-test.sh builds them)}"
export WAVEPLOT_TAG
# The local images named above, whatever the caller's shell says.
unset WAVEPLOT_IMAGES WAVEPLOT_PULL
scope="${WAVEPLOT_CI_SCOPE:-all}"
run_id="ci$$"
project="waveplot-$run_id"
base_image="${WAVEPLOT_CI_BASE:-}"
made_base=
images=(waveplot-ci/nats waveplot-ci/garage-binary waveplot-ci/garage)
work="$(mktemp -d)"
passed=0

log() { printf '[compose-test %(%T)T] %s\n' -1 "$*"; }
fail() { log "FAIL: $*"; exit 1; }
ok() { passed=$((passed + 1)); log "ok: $*"; }

compose() {
    docker compose -p "$project" --env-file "$work/ci.env" \
        -f compose.yaml -f deploy/compose.garage.yaml -f deploy/ci/compose.ci.yaml "$@"
}
# The same project with TLS on the bus (deploy/compose.tls.yaml).
compose_tls() {
    compose -f deploy/compose.tls.yaml "$@"
}
# Another board of plotters, on a leaf node of this project's NATS, on its network.
worker() {
    WAVEPLOT_CI_NETWORK="${project}_default" docker compose -p "$project-worker" \
        --env-file "$work/worker.env" -f deploy/compose.worker.yaml \
        -f deploy/compose.worker-leaf.yaml -f deploy/ci/compose.ci-worker.yaml "$@"
}

cleanup() {
    local rc=$?
    trap - EXIT
    if [ "$rc" -ne 0 ]; then
        log "failed; state and recent logs of the topology:"
        compose ps -a 2>/dev/null || true
        compose logs --no-color --tail 40 2>/dev/null || true
    fi
    if [ -f "$work/worker.env" ]; then
        worker down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
    fi
    compose down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
    for image in "${images[@]}"; do docker image rm -f "$image:$WAVEPLOT_TAG" >/dev/null 2>&1 || true; done
    if [ -n "$made_base" ]; then docker image rm -f "$base_image" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
    if [ "$rc" -eq 0 ]; then
        echo "compose: $passed passed, 0 failed"
    else
        echo "compose: $passed passed, 1 failed"
    fi
    exit "$rc"
}
trap cleanup EXIT

for tool in docker garage python3 curl openssl; do
    command -v "$tool" >/dev/null || fail "$tool is missing (.ci/run installs it)"
done
docker compose version >/dev/null 2>&1 || fail "the docker compose plugin is missing (.ci/run installs it)"

# No secret in the environment file: compose.yaml's `secrets` service makes them.
cat >"$work/ci.env" <<ENV
RENDER_DEADLINE=${WAVEPLOT_CI_DEADLINE:-20s}
SHUTDOWN_GRACE=10s
STOP_GRACE_PERIOD=15s
LOG_FORMAT=pretty
GATEWAY_PUBLISH=127.0.0.1:
NATS_PUBLISH=127.0.0.1:
S3_PUBLISH=127.0.0.1:
S3_REGION=garage
MINIO_CONSOLE_PUBLISH=127.0.0.1:
NATS_TLS_DIR=$work/tls
NATS_LEAF_PUBLISH=127.0.0.1:
ENV

for target in prepare plotter gateway; do
    docker image inspect "waveplot/$target:$WAVEPLOT_TAG" >/dev/null 2>&1 ||
        fail "no image waveplot/$target:$WAVEPLOT_TAG (image-test.sh builds them)"
done
mkdir -p "$work/s3"
cp "$(command -v garage)" "$work/s3/garage"

if [ -z "$base_image" ]; then
    log "base image: Debian trixie minbase from mmdebstrap"
    base_image="waveplot-ci/debian:trixie-$run_id"
    made_base=1
    mmdebstrap --quiet --variant=minbase trixie - | docker import - "$base_image" >/dev/null
fi

log "images of the servers it cannot pull"
export DOCKER_BUILDKIT=1
docker build --quiet -f deploy/ci/Dockerfile --target nats \
    --build-arg DEBIAN_IMAGE="$base_image" -t "waveplot-ci/nats:$WAVEPLOT_TAG" "$work/s3" >/dev/null
docker build --quiet -f deploy/ci/Dockerfile --target garage-binary \
    --build-arg DEBIAN_IMAGE="$base_image" -t "waveplot-ci/garage-binary:$WAVEPLOT_TAG" "$work/s3" >/dev/null
docker build --quiet -f deploy/garage/Dockerfile \
    --build-arg GARAGE_IMAGE="waveplot-ci/garage-binary:$WAVEPLOT_TAG" --build-arg DEBIAN_IMAGE="$base_image" \
    -t "waveplot-ci/garage:$WAVEPLOT_TAG" deploy/garage >/dev/null
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep ":$WAVEPLOT_TAG " | sed 's/^/    /'
ok "images built"

log "up"
compose up --detach --no-build --quiet-pull 2>&1 | sed 's/^/    /'
wait_healthy() {
    local deadline=$((SECONDS + $1)) unhealthy
    while :; do
        unhealthy="$(compose ps --all --format '{{.Service}} {{.Health}}' |
            awk '$1 != "secrets" && $1 != "store-init" && $2 != "healthy"')"
        [ -z "$unhealthy" ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && fail "not healthy after $1 s: $unhealthy"
        sleep 1
    done
}
wait_healthy 120
[ "$(compose ps --format '{{.Service}}' | wc -l)" -eq 10 ] || fail "expected 10 running services"
ok "all 10 services healthy"
gateway="http://$(compose port gateway 8080)"

log "security: secrets made, containers hardened, NATS refuses strangers and forgeries"
for once in secrets store-init; do
    state="$(compose ps --all --format '{{.Service}} {{.State}} {{.ExitCode}}' | awk -v s="$once" '$1 == s')"
    [ "$state" = "$once exited 0" ] || fail "the $once service: $state"
done
# Every container as the engine runs it: read-only root, no capabilities (the secrets
# service only CHOWN, DAC_OVERRIDE and FOWNER), no-new-privileges, process and memory
# ceilings, and the waveplot services not root.
docker inspect $(compose ps --all -q) >"$work/inspect.json"
python3 - "$work/inspect.json" <<'PY'
import json, sys
problems = []
for c in json.load(open(sys.argv[1])):
    name, h, cfg = c["Name"].split("-", 2)[-1], c["HostConfig"], c["Config"]
    if not h.get("ReadonlyRootfs"):
        problems.append(f"{name}: root file system writable")
    if "ALL" not in (h.get("CapDrop") or []):
        problems.append(f"{name}: capabilities not dropped")
    allowed = {"CHOWN", "DAC_OVERRIDE", "FOWNER"} if name.startswith("secrets") else set()
    added = set(h.get("CapAdd") or [])
    if not added <= allowed:
        problems.append(f"{name}: capabilities added: {sorted(added)}")
    if not any(o.startswith("no-new-privileges") for o in h.get("SecurityOpt") or []):
        problems.append(f"{name}: no no-new-privileges")
    pids, memory = h.get("PidsLimit") or 0, h.get("Memory") or 0
    if pids <= 0 or memory <= 0:
        problems.append(f"{name}: pids_limit {pids}, mem_limit {memory}")
    if cfg["Image"].startswith("waveplot/") and cfg.get("User", "") in ("", "0", "root"):
        problems.append(f"{name}: runs as root")
if problems:
    sys.exit("; ".join(problems))
print("    every container hardened")
PY
observer_password="$(compose run --rm --no-deps -T secrets show observer)"
gateway_password="$(compose run --rm --no-deps -T secrets show gateway)"
compose run --rm --no-deps -T secrets >/dev/null
[ "$(compose run --rm --no-deps -T secrets show gateway)" = "$gateway_password" ] ||
    fail "running the secrets service again changed a password"
# A NATS client in a few lines: what the server answers to CONNECT (and a PUB) + PING.
nats_answer() { # USER PASSWORD [SUBJECT]
    python3 - "$(compose port nats 4222)" "$@" <<'PY'
import json, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
user, password = sys.argv[2], sys.argv[3]
s = socket.create_connection((host, int(port)), timeout=5)
f = s.makefile("rb")
f.readline()  # INFO
connect = {"verbose": False, "pedantic": False, "protocol": 1}
if user:
    connect.update({"user": user, "pass": password})
out = b"CONNECT " + json.dumps(connect).encode() + b"\r\n"
if len(sys.argv) > 4:
    out += b"PUB " + sys.argv[4].encode() + b" 6\r\nforged\r\n"
s.sendall(out + b"PING\r\n")
print(f.readline().decode().strip())
PY
}
answer="$(nats_answer "" "")"
[[ "$answer" == *"Authorization Violation"* ]] || fail "an anonymous NATS client got: $answer"
answer="$(nats_answer observer wrong-password)"
[[ "$answer" == *"Authorization Violation"* ]] || fail "a wrong password got: $answer"
answer="$(nats_answer observer "$observer_password")"
[ "$answer" = PONG ] || fail "the observer could not log in: $answer"
answer="$(nats_answer observer "$observer_password" waveplot.done.01)"
[[ "$answer" == *"Permissions Violation for Publish"* ]] || fail "the observer's forgery got: $answer"
log "    anonymous and wrong password refused; observer logs in, its publish is refused"
# Every service instance answers the NATS service API (`nats micro ls`), asked as observer.
services="$(python3 - "$(compose port nats 4222)" "$observer_password" <<'PY'
import json, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
f = s.makefile("rb")
f.readline()  # INFO
connect = {"verbose": False, "pedantic": False, "protocol": 1, "user": "observer", "pass": sys.argv[2]}
s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\n"
          b"SUB _INBOX.observer.micro 1\r\nPUB $SRV.PING _INBOX.observer.micro 0\r\n\r\n")
s.settimeout(2)
names = []
try:
    while line := f.readline():
        if line.startswith(b"MSG"):
            size = int(line.split()[-1])
            names.append(json.loads(f.read(size + 2)[:size])["name"])
        elif line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
except TimeoutError:
    pass
print(" ".join(sorted(names)))
PY
)"
want="waveplot-gateway waveplot-plotter-01 waveplot-plotter-02a waveplot-plotter-02b waveplot-plotter-03 waveplot-plotter-04 waveplot-plotter-05 waveplot-prepare"
[ "$services" = "$want" ] || fail "the service API was answered by: ${services:-nobody}"
log "    every service instance answers \$SRV.PING (nats micro ls)"
metrics="$(curl -s -o /dev/null -w '%{http_code}' "$gateway/metrics")"
[ "$metrics" = 404 ] || fail "the public port serves /metrics ($metrics)"
grep -qi "^content-security-policy: .*frame-ancestors 'none'" <<<"$(curl -fsS -D - -o /dev/null "$gateway/")" ||
    fail "the page has no Content-Security-Policy with frame-ancestors"
log "    the public port serves no /metrics; the page has its CSP"
# What the store answers each role's key (S3 over the published port, signed by curl).
s3="http://$(compose port minio 9000)"
s3_status() { # ROLE METHOD PATH
    local key id secret body=()
    key="$(compose run --rm --no-deps -T secrets show "s3-$1")"
    id="$(printf '%s\n' "$key" | sed -n 's/^S3_[A-Z]*_ACCESS_KEY_ID=//p')"
    secret="$(printf '%s\n' "$key" | sed -n 's/^S3_[A-Z]*_SECRET_ACCESS_KEY=//p')"
    [ "$2" = PUT ] && body=(--data-binary forged)
    curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:garage:s3" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --user "$id:$secret" -X "$2" "${body[@]}" "$s3$3"
}
expect_s3() { # ROLE METHOD PATH STATUS
    local got
    got="$(s3_status "$1" "$2" "$3")"
    [ "$got" = "$4" ] || fail "the $1 key: $2 $3 answered $got, expected $4"
}
expect_s3 gateway GET "/waveplot-charts?list-type=2" 200
expect_s3 gateway GET "/waveplot?list-type=2" 403
expect_s3 gateway PUT "/waveplot-charts/plots/forged.png" 403
expect_s3 plotter PUT "/waveplot/analysis/forged.msgpack" 403
expect_s3 plotter GET "/waveplot?list-type=2" 200
expect_s3 prepare GET "/waveplot-charts?list-type=2" 200
log "    each role's S3 key: the gateway reads charts only, a plotter cannot write blobs"
ok "secrets made and kept, containers hardened, NATS authenticated, S3 keys per role"

# POST a render and wait for its final state; prints the final status JSON.
# `width` differs per render: an identical request would be answered by the previous one.
render() {
    local width="$1" id status state deadline=$((SECONDS + 120)) started
    started="$(date +%s%N)"
    id="$(curl -fsS -X POST "$gateway/api/render" -H 'content-type: application/json' \
        -d "{\"symbol\":\"BTCUSDT\",\"interval\":\"5m\",\"source\":\"sample\",\"width\":$width,\"height\":600}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    while :; do
        status="$(curl -fsS "$gateway/api/render/$id")"
        state="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["state"])' "$status")"
        [ "$state" != running ] && break
        [ "$SECONDS" -ge "$deadline" ] && fail "render $id still running after 120 s"
        sleep 0.2
    done
    log "    $state within $((($(date +%s%N) - started) / 1000000)) ms (polled every 0.2 s)" >&2
    printf '%s' "$status"
}

# Asserts on a final status: the state, which charts are done, and each done chart's PNG.
check() {
    python3 - "$gateway" "$@" <<'PY'
import json, sys, urllib.request
gateway, status, want_state, want_failed = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
want_failed = set(filter(None, want_failed.split(",")))
plots = status["plots"]
problems = []
if status["state"] != want_state:
    problems.append(f"state {status['state']!r}, expected {want_state!r}")
if len(plots) != 6:
    problems.append(f"{len(plots)} charts, expected 6")
for pid, p in sorted(plots.items()):
    if pid in want_failed:
        if p["state"] != "failed" or not p.get("error"):
            problems.append(f"chart {pid}: {p['state']}, expected failed with an error")
        else:
            print(f"    chart {pid}: failed: {p['error']}")
        continue
    if p["state"] != "done":
        problems.append(f"chart {pid}: {p['state']} ({p.get('error')})")
        continue
    body = urllib.request.urlopen(gateway + p["url"], timeout=10).read()
    if not body.startswith(b"\x89PNG\r\n\x1a\n") or len(body) != p["bytes"]:
        problems.append(f"chart {pid}: {p['url']} is not the announced PNG")
    print(f"    chart {pid}: {p['width']}x{p['height']}, {len(body)} bytes, {p['render_ms']:.0f} ms")
if problems:
    print(json.dumps(status, indent=1)[:4000], file=sys.stderr)
    sys.exit("; ".join(problems))
PY
}

log "render BTCUSDT 5m (sample): six charts"
check "$(render 1200)" complete ""
ok "six charts rendered and served"
if [ "$scope" = first-render ]; then
    exit 0
fi

log "kill plotter-03, render: partial"
compose kill plotter-03 2>&1 | sed 's/^/    /'
check "$(render 1100)" partial "03"
ok "partial result with an error for chart 03"

log "start plotter-03, render: complete again"
compose start plotter-03 2>&1 | sed 's/^/    /'
wait_healthy 60
check "$(render 1000)" complete ""
ok "complete again after the restart"

# The events the JetStream stream holds, from nats' monitoring endpoint.
stored_events() {
    compose exec -T nats wget -qO- 'http://127.0.0.1:8222/jsz?streams=true' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])'
}

log "restart nats: the stream keeps its events on the volume, and renders go on"
before="$(stored_events)"
compose restart nats 2>&1 | sed 's/^/    /'
wait_healthy 60
after="$(stored_events)"
log "    events stored: $before before the restart, $after after"
[ "$before" -gt 0 ] && [ "$after" -ge "$before" ] || fail "the stream lost events: $before -> $after"
check "$(render 900)" complete ""
ok "complete after a restart of the bus, no event lost"

log "TLS on the bus (deploy/compose.tls.yaml): nats requires it, every service connects with it"
mkdir -p "$work/tls"
(
    cd "$work/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=waveplot-ci-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj /CN=nats -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:nats,IP:127.0.0.1\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 \
        -extfile san.ext -out server.pem 2>/dev/null
    chmod 0644 ca.pem server.pem
)
compose_tls up --detach --no-build 2>&1 | sed 's/^/    /'
wait_healthy 120
# The recreated gateway published its port anew.
gateway="http://$(compose port gateway 8080)"
# A plain client (even with the observer's password) gets no further than the INFO that
# says TLS is required: the server waits for a handshake it never gets.
info="$(python3 - "$(compose port nats 4222)" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
f = socket.create_connection((host, int(port)), timeout=5).makefile("rb")
print(f.readline().decode().strip())
PY
)"
[[ "$info" == *'"tls_required":true'* ]] || fail "the bus does not require TLS: $info"
answer="$(nats_answer observer "$observer_password")"
[ "$answer" != PONG ] || fail "a plain client of the TLS bus was let in"
check "$(render 800)" complete ""
ok "complete with TLS on the bus; a plain client is refused"

log "a board of plotters on a NATS leaf node (deploy/compose.worker-leaf.yaml) draws every chart"
{
    echo "NATS_HUB=nats"
    echo "NATS_TLS_DIR=$work/tls"
    echo "S3_ENDPOINT=http://minio:9000"
    echo "S3_REGION=garage"
    echo "LOG_FORMAT=pretty"
    echo "SHUTDOWN_GRACE=10s"
    echo "WAVEPLOT_NATS_PLOTTER_PASSWORD=$(compose run --rm --no-deps -T secrets show plotter)"
    compose run --rm --no-deps -T secrets show s3-plotter
} >"$work/worker.env"
plotters=(plotter-01 plotter-02a plotter-02b plotter-03 plotter-04 plotter-05)
compose stop "${plotters[@]}" 2>&1 | sed 's/^/    /'
worker up --detach --no-build --quiet-pull "${plotters[@]}" 2>&1 | sed 's/^/    /'
deadline=$((SECONDS + 90))
until [ "$(worker ps --format '{{.Service}} {{.Health}}' | grep -c '^plotter-.* healthy$')" -eq 6 ]; do
    [ "$SECONDS" -ge "$deadline" ] && fail "the leaf board's plotters are not all healthy after 90 s"
    sleep 1
done
grep -q "Leafnode connection created" <<<"$(compose logs nats 2>&1)" || fail "no leaf node linked to the main board"
check "$(render 700)" complete ""
for plotter in "${plotters[@]}"; do
    grep -q "chart stored" <<<"$(worker logs "$plotter" 2>&1)" || fail "the leaf board's $plotter stored no chart"
done
worker down --volumes --timeout 10 2>&1 | sed 's/^/    /'
compose start "${plotters[@]}" 2>&1 | sed 's/^/    /'
wait_healthy 60
ok "complete with every chart drawn on a leaf board, the main board's plotters stopped"

log "memory in use"
docker stats --no-stream --format '    {{.Name}} {{.MemUsage}} pids {{.PIDs}}' $(compose ps -q) | sed "s/$project-//"

log "stop: every service exits cleanly within its grace period"
started=$SECONDS
compose stop 2>&1 | sed 's/^/    /'
took=$((SECONDS - started))
bad=""
while read -r name code; do
    name="${name#/"$project"-}"
    printf '    %-14s exit %s\n' "$name" "$code"
    case "$name" in
        # nats-server exits 1 on SIGTERM: stopped on the signal; only a SIGKILL (137:
        # the grace period ran out) fails it or the store.
        nats-* | minio-*) [ "$code" = 137 ] && bad="$bad $name" ;;
        *) [ "$code" = 0 ] || bad="$bad $name" ;;
    esac
done < <(docker inspect --format '{{.Name}} {{.State.ExitCode}}' $(compose ps --all -q))
[ -z "$bad" ] || fail "not a clean exit:$bad"
[ "$took" -lt 15 ] || fail "docker compose stop took $took s, beyond the 15 s grace period"
ok "clean stop in $took s"
