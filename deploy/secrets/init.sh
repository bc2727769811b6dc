#!/bin/sh
# compose.yaml's one-shot `secrets` service: makes every secret the deployment needs on
# the first start and keeps it afterwards, so `docker compose up` asks for nothing.
#
# A value set in .env wins and replaces the kept one: WAVEPLOT_NATS_GATEWAY_PASSWORD,
# WAVEPLOT_NATS_PREPARE_PASSWORD, WAVEPLOT_NATS_PLOTTER_PASSWORD,
# WAVEPLOT_NATS_OBSERVER_PASSWORD, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY. Each holds only
# letters and digits; a NATS password starts with a letter and has at least 16 of them
# (nats-server reads the passwords as configuration values, where other characters
# would change their meaning), an S3 secret at least 16, an S3 key ID at least 3.
#
# Each role gets a volume of its own, so a service sees only its own password:
#   /out/nats      passwords.env     the four NATS passwords, for the server
#   /out/gateway   nats-password     (and prepare, plotter, observer alike)
#   /out/s3        access-key-id, secret-access-key   the S3 keys, for the store and the services
#
#   docker compose run --rm secrets show observer   prints the observer's NATS password
#                                                   (for tools that watch the bus); also
#                                                   gateway, prepare, plotter, and s3 (the
#                                                   keys as .env lines, for another board)
set -eu
umask 077
out=/out

# 40 random characters: a letter, then hex digits.
generate() {
    printf 'w%s' "$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')"
}

check() { # NAME VALUE
    case "$2" in
        *[!A-Za-z0-9]*) echo "secrets: $1 may hold only letters and digits" >&2; exit 1 ;;
    esac
    case "$1" in
        S3_ACCESS_KEY_ID) min=3 ;;
        S3_SECRET_ACCESS_KEY) min=16 ;;
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
        value="$(generate)"
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
        *) echo "usage: show gateway|prepare|plotter|observer|s3" >&2; exit 2 ;;
    esac
    exit 0
fi

keep "$out/gateway/nats-password" WAVEPLOT_NATS_GATEWAY_PASSWORD "${WAVEPLOT_NATS_GATEWAY_PASSWORD:-}"
keep "$out/prepare/nats-password" WAVEPLOT_NATS_PREPARE_PASSWORD "${WAVEPLOT_NATS_PREPARE_PASSWORD:-}"
keep "$out/plotter/nats-password" WAVEPLOT_NATS_PLOTTER_PASSWORD "${WAVEPLOT_NATS_PLOTTER_PASSWORD:-}"
keep "$out/observer/nats-password" WAVEPLOT_NATS_OBSERVER_PASSWORD "${WAVEPLOT_NATS_OBSERVER_PASSWORD:-}"
keep "$out/s3/access-key-id" S3_ACCESS_KEY_ID "${S3_ACCESS_KEY_ID:-}"
keep "$out/s3/secret-access-key" S3_SECRET_ACCESS_KEY "${S3_SECRET_ACCESS_KEY:-}"

{
    printf 'export WAVEPLOT_NATS_GATEWAY_PASSWORD=%s\n' "$(cat "$out/gateway/nats-password")"
    printf 'export WAVEPLOT_NATS_PREPARE_PASSWORD=%s\n' "$(cat "$out/prepare/nats-password")"
    printf 'export WAVEPLOT_NATS_PLOTTER_PASSWORD=%s\n' "$(cat "$out/plotter/nats-password")"
    printf 'export WAVEPLOT_NATS_OBSERVER_PASSWORD=%s\n' "$(cat "$out/observer/nats-password")"
} >"$out/nats/passwords.env.new"
mv "$out/nats/passwords.env.new" "$out/nats/passwords.env"

# The images' users: gateway and plotter 65532, prepare 10001. The NATS and S3 servers
# run as root in their images; the S3 keys are read by every waveplot service too.
own "$out/gateway/nats-password" 65532
own "$out/plotter/nats-password" 65532
own "$out/prepare/nats-password" 10001
chmod 0400 "$out/observer/nats-password" "$out/nats/passwords.env"
chmod 0444 "$out/s3/access-key-id" "$out/s3/secret-access-key"
echo "secrets: ready"
