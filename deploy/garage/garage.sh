#!/bin/sh
# Garage as waveplot's single-node S3 store (deploy/compose.garage.yaml; the CI's compose
# test runs it too). It starts the server and then does what compose.yaml's store-init
# does on MinIO with `mc`, with Garage's own CLI, before it says it is ready
# (/tmp/ready): the two buckets, and each role's key from the secrets volume allowed only
# the buckets its role uses. Garage's grants are per bucket: read (get, head, list) and
# write (put, delete). Every step is idempotent: it runs at every start. The RPC secret
# is the secrets volume's too; the RPC port is loopback only (one node).
set -eu
secrets=/run/secrets/s3
config=/tmp/garage.toml
cat >"$config" <<TOML
metadata_dir = "/data/meta"
data_dir = "/data/blocks"
db_engine = "lmdb"
replication_factor = 1
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
if ! g layout show | grep -q 'dc1'; then
    g layout assign -z dc1 -c 1G "$(g node id -q | cut -d@ -f1)" >/dev/null
    g layout apply --version 1 >/dev/null
fi
for bucket in "$S3_BUCKET" "$S3_CHARTS_BUCKET"; do
    g bucket info "$bucket" >/dev/null 2>&1 || g bucket create "$bucket" >/dev/null
done
. "$secrets/roles.env"
grant() { # ROLE BUCKET FLAGS...
    upper="$(printf '%s' "$1" | tr a-z A-Z)"
    eval "id=\$${upper}_ACCESS_KEY_ID secret=\$${upper}_SECRET_ACCESS_KEY"
    g key info "$id" >/dev/null 2>&1 || g key import --yes -n "$1" "$id" "$secret" >/dev/null
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
