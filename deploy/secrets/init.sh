#!/bin/sh
# compose.yaml's one-shot `secrets` service: makes every secret the deployment needs on
# the first start and keeps it afterwards, so `docker compose up` asks for nothing.
#
# A value set in .env wins and replaces the kept one: WAVEPLOT_NATS_GATEWAY_PASSWORD,
# WAVEPLOT_NATS_PREPARE_PASSWORD, WAVEPLOT_NATS_PLOTTER_PASSWORD,
# WAVEPLOT_NATS_OBSERVER_PASSWORD, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (the S3
# server's root key), and each role's S3 key: S3_GATEWAY_ACCESS_KEY_ID,
# S3_GATEWAY_SECRET_ACCESS_KEY, and the same with PREPARE and PLOTTER. Each holds only
# letters and digits; a NATS password starts with a letter and has at least 16 of them
# (nats-server reads the passwords as configuration values, where other characters
# would change their meaning), an S3 secret at least 16, an S3 key ID at least 3. The
# role keys made here are "GK" and 24 hex digits, with a secret of 64 hex digits: the
# form Garage requires, which MinIO takes too.
#
# Each role gets a volume of its own, so a service sees only its own secrets:
#   /out/nats      passwords.env     the four NATS passwords, for the server
#   /out/gateway   nats-password, s3-access-key-id, s3-secret-access-key
#                  (and prepare, plotter alike; observer has its NATS password only)
#   /out/s3        access-key-id, secret-access-key   the S3 server's root key
#                  roles.env                          each role's S3 key, for store-init
#                  rpc-secret                         Garage's RPC secret (its CI stand-in)
#
#   docker compose run --rm secrets show observer   prints the observer's NATS password
#                                                   (for tools that watch the bus); also
#                                                   gateway, prepare, plotter
#   docker compose run --rm secrets show s3-plotter prints the plotters' S3 key as .env
#                                                   lines (for another board's plotters);
#                                                   also s3-gateway, s3-prepare, and s3
#                                                   (the root key)
set -eu
umask 077
out=/out

# N random bytes as hex digits.
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# A new secret for NAME: an S3 role key's ID or secret in Garage's form, else 40
# random characters, a letter and then hex digits.
generate() {
    case "$1" in
        S3_*_ACCESS_KEY_ID) printf 'GK%s' "$(hex 12)" ;;
        S3_*_SECRET_ACCESS_KEY | GARAGE_RPC_SECRET) hex 32 ;;
        *) printf 'w%s' "$(hex 20)" ;;
    esac
}

check() { # NAME VALUE
    case "$2" in
        *[!A-Za-z0-9]*) echo "secrets: $1 may hold only letters and digits" >&2; exit 1 ;;
    esac
    case "$1" in
        S3_*ACCESS_KEY_ID) min=3 ;;
        S3_*SECRET_ACCESS_KEY) min=16 ;;
        GARAGE_RPC_SECRET) min=64 ;;
        *)
            case "$2" in
                [A-Za-z]*) ;;
                *) echo "secrets: $1 must start with a letter" >&2; exit 1 ;;
            esac
            min=16
            ;;
    esac
    if [ "${#2}" -lt "$min" ]; then
        echo "secrets: $1 must be at least $min characters long" >&2
        exit 1
    fi
}

# keep FILE OVERRIDE-NAME OVERRIDE-VALUE: the override, else what FILE holds, else new.
keep() {
    if [ -n "$3" ]; then
        check "$2" "$3"
        value="$3"
    elif [ -s "$1" ]; then
        value="$(cat "$1")"
    else
        value="$(generate "$2")"
    fi
    printf '%s\n' "$value" >"$1.new"
    mv "$1.new" "$1"
}

# own FILE UID: readable by the service's user only.
own() { chown "$2:$2" "$1"; chmod 0400 "$1"; }

if [ "${1:-}" = show ]; then
    case "${2:-}" in
        gateway | prepare | plotter | observer) cat "$out/$2/nats-password" ;;
        s3)
            printf 'S3_ACCESS_KEY_ID=%s\n' "$(cat "$out/s3/access-key-id")"
            printf 'S3_SECRET_ACCESS_KEY=%s\n' "$(cat "$out/s3/secret-access-key")"
            ;;
        s3-gateway | s3-prepare | s3-plotter)
            role="${2#s3-}"
            upper="$(printf '%s' "$role" | tr a-z A-Z)"
            printf 'S3_%s_ACCESS_KEY_ID=%s\n' "$upper" "$(cat "$out/$role/s3-access-key-id")"
            printf 'S3_%s_SECRET_ACCESS_KEY=%s\n' "$upper" "$(cat "$out/$role/s3-secret-access-key")"
            ;;
        *) echo "usage: show gateway|prepare|plotter|observer|s3|s3-gateway|s3-prepare|s3-plotter" >&2; exit 2 ;;
    esac
    exit 0
fi

keep "$out/gateway/nats-password" WAVEPLOT_NATS_GATEWAY_PASSWORD "${WAVEPLOT_NATS_GATEWAY_PASSWORD:-}"
keep "$out/prepare/nats-password" WAVEPLOT_NATS_PREPARE_PASSWORD "${WAVEPLOT_NATS_PREPARE_PASSWORD:-}"
keep "$out/plotter/nats-password" WAVEPLOT_NATS_PLOTTER_PASSWORD "${WAVEPLOT_NATS_PLOTTER_PASSWORD:-}"
keep "$out/observer/nats-password" WAVEPLOT_NATS_OBSERVER_PASSWORD "${WAVEPLOT_NATS_OBSERVER_PASSWORD:-}"
keep "$out/s3/access-key-id" S3_ACCESS_KEY_ID "${S3_ACCESS_KEY_ID:-}"
keep "$out/s3/secret-access-key" S3_SECRET_ACCESS_KEY "${S3_SECRET_ACCESS_KEY:-}"
keep "$out/s3/rpc-secret" GARAGE_RPC_SECRET "${GARAGE_RPC_SECRET:-}"
keep "$out/gateway/s3-access-key-id" S3_GATEWAY_ACCESS_KEY_ID "${S3_GATEWAY_ACCESS_KEY_ID:-}"
keep "$out/gateway/s3-secret-access-key" S3_GATEWAY_SECRET_ACCESS_KEY "${S3_GATEWAY_SECRET_ACCESS_KEY:-}"
keep "$out/prepare/s3-access-key-id" S3_PREPARE_ACCESS_KEY_ID "${S3_PREPARE_ACCESS_KEY_ID:-}"
keep "$out/prepare/s3-secret-access-key" S3_PREPARE_SECRET_ACCESS_KEY "${S3_PREPARE_SECRET_ACCESS_KEY:-}"
keep "$out/plotter/s3-access-key-id" S3_PLOTTER_ACCESS_KEY_ID "${S3_PLOTTER_ACCESS_KEY_ID:-}"
keep "$out/plotter/s3-secret-access-key" S3_PLOTTER_SECRET_ACCESS_KEY "${S3_PLOTTER_SECRET_ACCESS_KEY:-}"

{
    printf 'export WAVEPLOT_NATS_GATEWAY_PASSWORD=%s\n' "$(cat "$out/gateway/nats-password")"
    printf 'export WAVEPLOT_NATS_PREPARE_PASSWORD=%s\n' "$(cat "$out/prepare/nats-password")"
    printf 'export WAVEPLOT_NATS_PLOTTER_PASSWORD=%s\n' "$(cat "$out/plotter/nats-password")"
    printf 'export WAVEPLOT_NATS_OBSERVER_PASSWORD=%s\n' "$(cat "$out/observer/nats-password")"
} >"$out/nats/passwords.env.new"
mv "$out/nats/passwords.env.new" "$out/nats/passwords.env"

for role in gateway prepare plotter; do
    upper="$(printf '%s' "$role" | tr a-z A-Z)"
    printf '%s_ACCESS_KEY_ID=%s\n' "$upper" "$(cat "$out/$role/s3-access-key-id")"
    printf '%s_SECRET_ACCESS_KEY=%s\n' "$upper" "$(cat "$out/$role/s3-secret-access-key")"
done >"$out/s3/roles.env.new"
mv "$out/s3/roles.env.new" "$out/s3/roles.env"

# The images' users: gateway and plotter 65532, prepare 10001. The NATS and S3 servers
# and store-init run as root in their images; no waveplot service reads /out/s3.
for file in nats-password s3-access-key-id s3-secret-access-key; do
    own "$out/gateway/$file" 65532
    own "$out/plotter/$file" 65532
    own "$out/prepare/$file" 10001
done
chmod 0400 "$out/observer/nats-password" "$out/nats/passwords.env" "$out/s3/"*
echo "secrets: ready"
