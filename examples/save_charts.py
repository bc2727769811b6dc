#!/usr/bin/env python3
"""Saves every chart a waveplot deployment draws, as it is drawn.

Subscribes to the `done` events on NATS (as the read-only `observer` user) and
downloads each chart from the gateway's `GET /plots/{key}` into a directory. The
events and their fields are documented in docs/asyncapi.json.

    pip install -r examples/requirements.txt
    WAVEPLOT_NATS_PASSWORD=... python3 examples/save_charts.py \
        --nats nats://localhost:4222 --gateway http://localhost:8080 --out charts

On a compose deployment, `docker compose run --rm secrets show observer` prints the
observer's password. Prints one JSON line per saved chart, and `ready` once subscribed.
"""

import argparse
import asyncio
import json
import os
import pathlib
import re
import sys
import urllib.parse
import urllib.request

import nats

# A chart is at most a 4800x3600 picture; nothing larger is read.
MAX_CHART_BYTES = 64 * 1024 * 1024
# A contract message is at most 64 KiB (MAX_MESSAGE_BYTES); larger ones are ignored.
MAX_MESSAGE_BYTES = 64 * 1024
SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def download(url: str) -> bytes:
    """The chart at `url`, refusing more than MAX_CHART_BYTES."""
    with urllib.request.urlopen(url, timeout=30) as response:
        data = response.read(MAX_CHART_BYTES + 1)
    if len(data) > MAX_CHART_BYTES:
        raise ValueError(f"{url}: more than {MAX_CHART_BYTES} bytes")
    return data


async def save(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    password = os.environ.get("WAVEPLOT_NATS_PASSWORD")
    client = await nats.connect(
        args.nats,
        user=args.user if password else None,
        password=password,
        # Every role reads its replies under its own inbox prefix (deploy/nats/nats.conf).
        inbox_prefix=f"_INBOX.{args.user}",
        max_reconnect_attempts=-1,
    )
    subscription = await client.subscribe(f"{args.prefix}.done.*")
    await client.flush()
    print("ready", flush=True)
    saved = 0
    try:
        async for message in subscription.messages:
            if len(message.data) > MAX_MESSAGE_BYTES:
                continue
            try:
                event = json.loads(message.data)
            except ValueError:
                continue
            if event.get("v") != 1:
                continue
            request_id, plot_id = event.get("request_id", ""), event.get("plot_id", "")
            if not SAFE.match(request_id) or not SAFE.match(plot_id):
                continue
            key = event.get("key")
            if not isinstance(key, str) or not key.startswith("plots/"):
                continue
            extension = "svg" if event.get("format") == "svg" else "png"
            url = f"{args.gateway}/{urllib.parse.quote(key)}"
            try:
                data = await asyncio.to_thread(download, url)
            except (OSError, ValueError) as e:
                # One chart that cannot be fetched (expired, the gateway restarting)
                # is reported; the next ones are still saved.
                print(f"{plot_id} of {request_id}: {e}", file=sys.stderr, flush=True)
                continue
            path = out / f"{request_id}-{plot_id}.{extension}"
            path.write_bytes(data)
            print(json.dumps({"plot_id": plot_id, "request_id": request_id,
                              "key": key, "bytes": len(data),
                              "path": str(path)}), flush=True)
            saved += 1
            if args.count and saved >= args.count:
                break
    finally:
        await client.drain()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats", default="nats://localhost:4222", help="the NATS server")
    parser.add_argument("--user", default="observer",
                        help="the NATS user (its password in WAVEPLOT_NATS_PASSWORD)")
    parser.add_argument("--gateway", default="http://localhost:8080", help="the gateway's URL")
    parser.add_argument("--prefix", default="waveplot", help="the deployment's subject prefix")
    parser.add_argument("--out", default="charts", help="where the charts go")
    parser.add_argument("--count", type=int, default=0,
                        help="stop after this many charts (0: never)")
    args = parser.parse_args()
    args.gateway = args.gateway.rstrip("/")
    try:
        return asyncio.run(save(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
