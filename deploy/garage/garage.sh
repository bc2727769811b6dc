#!/bin/sh
# Garage as waveplot's single-node S3 store (deploy/compose.garage.yaml; the CI's compose
# test runs it too). It starts the server and then does what compose.yaml's store-init
# does on MinIO with `mc`, with Garage's own CLI, before it says it is ready
# (/tmp/ready): the two buckets, and each role's key from the secrets volume allowed only
# the buckets its role uses. Garage's grants are per bucket: read (get, head, list) and
# write (put, delete). Every step is idempotent: it runs at every start. The RPC secret
# is the secrets volume's too; the RPC port is loopback only (one node).
# Blocks are stored uncompressed: charts are PNGs, already deflated, and blobs live
# until the sweeper removes them; zstd on every put and get was a seventh of Garage's CPU
# per render (perf during waveplot-bench --cpu-only --s3 garage).
set -eu
secrets=/run/secrets/s3
config=/tmp/garage.toml
cat >"$config" <<TOML
metadata_dir = "/data/meta"
data_dir = "/data/blocks"
db_engine = "lmdb"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$(cat "$secrets/rpc-secret")"
[s3_api]
s3_region = "garage"
api_bind_addr = "[::]:9000"
TOML
g() { garage -c "$config" "$@"; }
RUST_LOG=warn garage -c "$config" server &
server=$!
trap 'kill -TERM "$server"; wait "$server"; exit 0' TERM INT
until g status >/dev/null 2>&1; do
    kill -0 "$server" 2>/dev/null || exit 1
    sleep 0.2
done
# Output is read whole, never piped into a reader that may stop early: the CLI panics
# on a closed pipe.
layout="$(g layout show)"
case "$layout" in
    *"Current cluster layout version: 0"*)
        node="$(g node id -q)"
        g layout assign -z dc1 -c 1G "${node%%@*}" >/dev/null
        g layout apply --version 1 >/dev/null
        ;;
esac
for bucket in "$S3_BUCKET" "$S3_CHARTS_BUCKET"; do
    g bucket info "$bucket" >/dev/null 2>&1 || g bucket create "$bucket" >/dev/null
done
. "$secrets/roles.env"
grant() { # ROLE BUCKET FLAGS...
    case "$1" in
        gateway) id="$GATEWAY_ACCESS_KEY_ID" secret="$GATEWAY_SECRET_ACCESS_KEY" ;;
        prepare) id="$PREPARE_ACCESS_KEY_ID" secret="$PREPARE_SECRET_ACCESS_KEY" ;;
        plotter) id="$PLOTTER_ACCESS_KEY_ID" secret="$PLOTTER_SECRET_ACCESS_KEY" ;;
    esac
    # Garage cannot change a key's secret, nor take an ID again once it was deleted:
    # a new secret needs a new key ID too.
    info="$(g key info "$id" --show-secret 2>/dev/null || true)"
    case "$info" in
        *"$secret"*) ;;
        *"$id"*)
            echo "garage: the $1 key $id has another secret here; Garage cannot change it:" \
                "set a new S3_$(printf '%s' "$1" | tr a-z A-Z)_ACCESS_KEY_ID with the new secret" >&2
            exit 1
            ;;
        *) g key import --yes -n "$1" "$id" "$secret" >/dev/null ;;
    esac
    bucket="$2"
    shift 2
    g bucket allow "$@" --key "$id" "$bucket" >/dev/null
}
grant gateway "$S3_CHARTS_BUCKET" --read
grant prepare "$S3_BUCKET" --read --write
grant prepare "$S3_CHARTS_BUCKET" --read --write
grant plotter "$S3_BUCKET" --read
grant plotter "$S3_CHARTS_BUCKET" --read --write
echo "garage: buckets and role keys ready"
touch /tmp/ready
wait "$server"
