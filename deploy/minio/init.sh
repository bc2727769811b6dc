#!/bin/sh
# compose.yaml's one-shot `store-init`, on the MinIO image (which has a shell and `mc`,
# and little else: this uses only the shell's built-ins, `cat` and `mc`): makes the two
# buckets, and a user per role whose policy (the JSON files beside this script, with
# ${S3_BUCKET} and ${S3_CHARTS_BUCKET} filled in) allows only what the role does
# (README, "Security"):
#   gateway   reads charts
#   prepare   reads and writes blobs and candles; lists and deletes charts (its sweeper)
#   plotter   reads blobs, reads and writes charts
# The keys are the ones deploy/secrets/init.sh made (/run/secrets/s3/roles.env). Runs at
# every start: every step is idempotent, and a key changed in .env is updated.
set -eu
: "${S3_ENDPOINT:?}" "${S3_BUCKET:?}" "${S3_CHARTS_BUCKET:?}"
secrets=/run/secrets/s3
. "$secrets/roles.env"
# The root key reaches mc through the environment, not its command line.
root_id="$(cat "$secrets/access-key-id")"
root_secret="$(cat "$secrets/secret-access-key")"
case "$S3_ENDPOINT" in
    https://*) MC_HOST_store="https://$root_id:$root_secret@${S3_ENDPOINT#https://}" ;;
    *) MC_HOST_store="http://$root_id:$root_secret@${S3_ENDPOINT#http://}" ;;
esac
export MC_HOST_store
mc mb --ignore-existing "store/$S3_BUCKET" "store/$S3_CHARTS_BUCKET"
for pair in gateway:GATEWAY prepare:PREPARE plotter:PLOTTER; do
    role="${pair%%:*}"
    policy="waveplot-$role"
    # The policy's placeholders filled in by the shell (the JSON holds no other `$`).
    eval "cat <<POLICY >/tmp/$role.json
$(cat "/init/$role.json")
POLICY"
    mc admin policy create store "$policy" "/tmp/$role.json" >/dev/null
    eval "id=\$${pair#*:}_ACCESS_KEY_ID secret=\$${pair#*:}_SECRET_ACCESS_KEY"
    mc admin user add store "$id" "$secret" >/dev/null
    info="$(mc admin user info store "$id" --json)"
    case "$info" in
        *"\"$policy\""*) ;;
        *) mc admin policy attach store "$policy" --user "$id" >/dev/null ;;
    esac
    echo "store-init: $role may use what $policy allows"
done
