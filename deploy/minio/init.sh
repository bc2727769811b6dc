#!/bin/sh
# compose.yaml's one-shot `store-init`, on the MinIO image (which has a shell and `mc`):
# makes the two buckets, and a user per role whose policy allows only the buckets the
# role uses (README, "Security"):
#   gateway   reads @CHARTS@
#   prepare   reads and writes @DATA@ and @CHARTS@ (its sweeper deletes old charts)
#   plotter   reads @DATA@, reads and writes @CHARTS@
# The keys are the ones deploy/secrets/init.sh made (/run/secrets/s3/roles.env). Runs at
# every start: every step is idempotent, and a key changed in .env is updated.
set -eu
: "${S3_ENDPOINT:?}" "${S3_BUCKET:?}" "${S3_CHARTS_BUCKET:?}"
secrets=/run/secrets/s3
. "$secrets/roles.env"
mc alias set store "$S3_ENDPOINT" "$(cat "$secrets/access-key-id")" "$(cat "$secrets/secret-access-key")" >/dev/null
mc mb --ignore-existing "store/$S3_BUCKET" "store/$S3_CHARTS_BUCKET"
for role in gateway prepare plotter; do
    policy="waveplot-$role"
    sed -e "s/@DATA@/$S3_BUCKET/g" -e "s/@CHARTS@/$S3_CHARTS_BUCKET/g" "/init/$role.json" >"/tmp/$role.json"
    mc admin policy create store "$policy" "/tmp/$role.json" >/dev/null
    upper="$(printf '%s' "$role" | tr a-z A-Z)"
    eval "id=\$${upper}_ACCESS_KEY_ID secret=\$${upper}_SECRET_ACCESS_KEY"
    mc admin user add store "$id" "$secret" >/dev/null
    if ! mc admin user info store "$id" --json | grep -q "\"$policy\""; then
        mc admin policy attach store "$policy" --user "$id" >/dev/null
    fi
    echo "store-init: $role may use what $policy allows"
done
