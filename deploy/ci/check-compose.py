#!/usr/bin/env python3
"""Static checks of compose.yaml and its overrides, through `docker compose config`
(so interpolation, anchors and merges are resolved exactly as Compose does), plus a
few checks of the raw text that the resolved form cannot show (secrets, env-driven
CPU pinning). Run from anywhere; exits non-zero with every problem listed."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLOT_IDS = {"01", "02a", "02b", "03", "04", "05"}
# Dummy values: compose.yaml refuses to start without them (`${VAR:?}`).
ENV = {**os.environ, "S3_ACCESS_KEY_ID": "check", "S3_SECRET_ACCESS_KEY": "check-secret",
       "RENDER_GID": "992", "GARAGE_RPC_SECRET": "00" * 32, "NATS_HUB": "main-board"}
for var in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "BIG_CORES", "LITTLE_CORES", "WAVEPLOT_TAG",
            "WAVEPLOT_IMAGES", "WAVEPLOT_PULL"):
    ENV.pop(var, None)

results = []  # (name, problem or None)


def check(name, problems):
    results.append((name, problems))
    print(("ok:   " if not problems else "FAIL: ") + name)
    for p in problems:
        print("      " + p)


def config(*files, project_dir=True, env=None):
    args = ["docker", "compose", "--env-file", os.devnull]
    if project_dir:
        args += ["--project-directory", str(ROOT)]
    for f in files:
        args += ["-f", str(ROOT / f)]
    out = subprocess.run(args + ["config", "--format", "json"], env={**ENV, **(env or {})}, cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"docker compose config {' '.join(files)} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def grace_seconds(value):
    # Compose normalises durations to e.g. "15s" or "1m30s".
    total = 0.0
    for n, unit in re.findall(r"([\d.]+)(ms|s|m|h)", str(value)):
        total += float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


cfg = config("compose.yaml")
services = cfg["services"]

plotters = {n: s for n, s in services.items() if "PLOT_ID" in (s.get("environment") or {})}
ids = [s["environment"]["PLOT_ID"] for s in plotters.values()]
check("six plotters with distinct plot IDs", [] if sorted(ids) == sorted(PLOT_IDS) and len(ids) == 6
      else [f"plot IDs {sorted(ids)}, expected {sorted(PLOT_IDS)}"])
check("each plotter has its own cpu_shares",
      [f"{n}: no cpu_shares" for n, s in plotters.items() if not s.get("cpu_shares")])

# The one-shot services run to completion; everything else keeps running.
ONE_SHOT = {"secrets", "store-init"}
check("a healthcheck on every long-running service",
      [f"{n}: no healthcheck" for n, s in services.items() if n not in ONE_SHOT
       and (not s.get("healthcheck", {}).get("test") or s["healthcheck"].get("disable"))])

waveplot = {n: s for n, s in services.items() if s.get("image", "").startswith("waveplot/")}
check("the waveplot services probe themselves with --healthcheck",
      [f"{n}: {s['healthcheck']['test']}" for n, s in waveplot.items()
       if "--healthcheck" not in s["healthcheck"]["test"]])
check("prepare, six plotters and gateway are built from deploy/Dockerfile",
      [] if len(waveplot) == 8 and all(s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
                                       for s in waveplot.values())
      else [f"waveplot services: {sorted(waveplot)}"])

# An image compose builds is never pulled unless the operator names where from: Compose
# otherwise tries a registry first, and `waveplot/...` would be Docker Hub's, anyone's.
built = lambda svcs: {n: s for n, s in svcs.items() if s.get("build")}
check("built images are never pulled by default",
      [f"{n}: pull_policy {s.get('pull_policy')}" for n, s in
       built(config("compose.yaml", "deploy/compose.garage.yaml")["services"]).items()
       if s.get("pull_policy") != "never"])
released = config("compose.yaml", env={"WAVEPLOT_IMAGES": "registry.example/w", "WAVEPLOT_PULL": "missing",
                                       "WAVEPLOT_TAG": "9.9.9"})["services"]
check("WAVEPLOT_IMAGES and WAVEPLOT_PULL=missing pull waveplot's published images",
      [f"{n}: {s['image']}, pull_policy {s.get('pull_policy')}" for n, s in built(released).items()
       if not (s["image"] == f"registry.example/w/{s['build']['target']}:9.9.9"
               and s.get("pull_policy") == "missing")]
      + ([] if len(built(released)) == 8 else [f"built services: {sorted(built(released))}"]))

pinned = re.compile(r":(\d+\.\d+\.\d+[\w.-]*|RELEASE\.[\dT-]+Z)$")
check("every image pinned to an exact version",
      [f"{n}: {s.get('image')}" for n, s in services.items() if not pinned.search(s.get("image", ""))])

problems = []
for n, s in services.items():
    for dep, d in (s.get("depends_on") or {}).items():
        want = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
        if d.get("condition") != want:
            problems.append(f"{n} -> {dep}: {d.get('condition')}")
for n in waveplot:
    deps = services[n].get("depends_on") or {}
    if not {"secrets", "nats", "minio", "store-init"} <= set(deps):
        problems.append(f"{n}: does not wait for secrets, nats, minio and store-init")
check("depends_on waits for the secrets and for healthy services", problems)

check("a restart policy on every long-running service",
      [f"{n}: restart {s.get('restart')}" for n, s in services.items() if n not in ONE_SHOT
       and s.get("restart") not in ("unless-stopped", "always", "on-failure")])

# Hardening (README, "Security"): every container read-only, without capabilities (the
# secrets service gets back only what handing files to other users takes), without
# privilege escalation, with a process ceiling.
problems = []
for n, s in services.items():
    if not s.get("read_only"):
        problems.append(f"{n}: no read_only")
    if "ALL" not in (s.get("cap_drop") or []):
        problems.append(f"{n}: cap_drop is not [ALL]")
    allowed = {"CHOWN", "DAC_OVERRIDE", "FOWNER"} if n == "secrets" else set()
    if not set(s.get("cap_add") or []) <= allowed:
        problems.append(f"{n}: cap_add {s.get('cap_add')}")
    if "no-new-privileges:true" not in (s.get("security_opt") or []):
        problems.append(f"{n}: no no-new-privileges")
    if not s.get("pids_limit"):
        problems.append(f"{n}: no pids_limit")
check("every container hardened", problems)

# Authentication: nats runs deploy/nats/nats.conf over the generated passwords; each
# waveplot service logs in as its role with a password file from its own volume, and
# takes the S3 keys from files, never from plain variables.
problems = []
nats = services.get("nats", {})
conf = [v for v in nats.get("volumes", []) if v.get("target") == "/etc/nats/nats.conf"]
if not conf or not conf[0].get("source", "").endswith("deploy/nats/nats.conf"):
    problems.append("nats: deploy/nats/nats.conf is not mounted at /etc/nats/nats.conf")
if "-c /etc/nats/nats.conf" not in " ".join(nats.get("entrypoint") or []):
    problems.append("nats: not started with -c /etc/nats/nats.conf")
role = {"gateway": "gateway", "prepare": "prepare", **{n: "plotter" for n in plotters}}
for n, user in role.items():
    env = services[n].get("environment") or {}
    if env.get("NATS_USER") != user:
        problems.append(f"{n}: NATS_USER {env.get('NATS_USER')}, expected {user}")
    for var in ("NATS_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if var in env or f"{var}_FILE" not in env:
            problems.append(f"{n}: {var} not from a file")
    sources = {v.get("source") for v in services[n].get("volumes", [])}
    if f"secrets-{user}" not in sources or any(
            f"secrets-{other}" in sources for other in ("nats", "observer", *set(role.values()) - {user})):
        problems.append(f"{n}: secrets volumes {sorted(s for s in sources if s and 'secrets' in s)}")
check("NATS users and secrets files per role", problems)

# The store (README, "Security"): blobs and charts in buckets of their own; the gateway's
# store is the charts' bucket; store-init gives each role's key a policy for exactly the
# buckets its role uses (deploy/minio/*.json), and only it and the S3 server see the
# root key.
problems = []
data, charts = "s3://waveplot", "s3://waveplot-charts"
for n, user in role.items():
    env = services[n].get("environment") or {}
    want = (charts, None) if user == "gateway" else (data, charts)
    got = (env.get("STORE_URL"), env.get("CHARTS_STORE_URL"))
    if got != want:
        problems.append(f"{n}: STORE_URL, CHARTS_STORE_URL {got}, expected {want}")
root_readers = sorted(n for n, s in services.items()
                      if any(v.get("source") == "secrets-s3" for v in s.get("volumes", [])))
if root_readers != ["minio", "secrets", "store-init"]:
    problems.append(f"the root S3 key is mounted in {root_readers}")
DATA, CHARTS = "${S3_BUCKET}", "${S3_CHARTS_BUCKET}"
grants = {"gateway": {CHARTS: {"s3:GetObject"}},
          "plotter": {DATA: {"s3:GetObject"}, CHARTS: {"s3:GetObject", "s3:PutObject"}},
          "prepare": {DATA: {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
                      CHARTS: {"s3:DeleteObject"}}}
for user, want in grants.items():
    policy = json.loads((ROOT / "deploy/minio" / f"{user}.json").read_text())
    objects = {}
    for st in policy["Statement"]:
        for r in st["Resource"]:
            bucket, _, rest = r.removeprefix("arn:aws:s3:::").partition("/")
            if rest == "*":
                objects.setdefault(bucket, set()).update(
                    a for a in st["Action"] if a in {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"})
            elif rest:
                problems.append(f"deploy/minio/{user}.json: resource {r}")
        if st["Effect"] != "Allow" or any("*" in a for a in st["Action"]):
            problems.append(f"deploy/minio/{user}.json: {st}")
    if objects != want:
        problems.append(f"deploy/minio/{user}.json grants {objects}, expected {want}")
check("a bucket for charts, and an S3 key per role allowed only its buckets", problems)

problems = []
for n, s in waveplot.items():
    shutdown = grace_seconds(s["environment"].get("SHUTDOWN_GRACE", "10s"))
    stop = grace_seconds(s.get("stop_grace_period", "10s"))
    if stop <= shutdown:
        problems.append(f"{n}: stop_grace_period {stop:g}s <= SHUTDOWN_GRACE {shutdown:g}s")
check("stop_grace_period leaves room for SHUTDOWN_GRACE", problems)

# Memory: every service has a ceiling, and prepare's and each plotter's sit above the
# budget their work is admitted under, with room for the process (128 MiB) and, for
# prepare, its parsed-file cache (up to twice FILE_CACHE_MIB; README, "Limits").
problems = [f"{n}: no mem_limit" for n, s in services.items() if not s.get("mem_limit")]
room = {"PREPARE_MEMORY": 128, "PLOT_MEMORY": 128}
for n, s in waveplot.items():
    env = s.get("environment") or {}
    for var, extra in room.items():
        budget = env.get(var)
        if budget is None:
            continue
        if var == "PREPARE_MEMORY":
            extra += 2 * int(env.get("FILE_CACHE_MIB", 128))
        limit = int(s.get("mem_limit") or 0) >> 20
        if limit < int(budget) + extra:
            problems.append(f"{n}: mem_limit {limit} MiB < {var} {budget} + {extra} MiB")
for n in ["prepare", *plotters]:
    env = services[n].get("environment") or {}
    if not any(v in env for v in room):
        problems.append(f"{n}: no PREPARE_MEMORY or PLOT_MEMORY")
check("a mem_limit on every service, above the work's memory budget", problems)

problems = [f"{n}: {v}" for n, s in services.items() for v in s.get("volumes", [])
            if v.get("type") == "volume" and v.get("source") not in cfg.get("volumes", {})]
if "minio-data" not in cfg.get("volumes", {}):
    problems.append("no named volume for the object store")
if "nats-data" not in cfg.get("volumes", {}):
    problems.append("no named volume for the JetStream store")
check("named volumes", problems)

# Durable events (README, "Delivery"): nats runs JetStream over its volume, and its
# healthcheck waits for JetStream, which every service sets its stream up on.
nats = services.get("nats", {})
command = nats.get("command") or []
problems = []
if "--jetstream" not in command:
    problems.append(f"nats: no --jetstream in {command}")
store = command[command.index("--store_dir") + 1] if "--store_dir" in command else None
mounts = [v.get("target") for v in nats.get("volumes", []) if v.get("source") == "nats-data"]
if store is None or store not in mounts:
    problems.append(f"nats: store_dir {store} is not the nats-data volume ({mounts})")
if "js-enabled-only=true" not in " ".join(nats.get("healthcheck", {}).get("test", [])):
    problems.append("nats: the healthcheck does not wait for JetStream")
check("nats keeps the events with JetStream on a named volume", problems)

raw = (ROOT / "compose.yaml").read_text()
problems = [f"line {i}: {line.strip()}" for i, line in enumerate(raw.splitlines(), 1)
            if re.match(r"\s*(cpuset|cpus):", line) and "${" not in line]
check("cpuset and cpus come from .env (empty by default)", problems
      + [f"{n}: cpuset {s['cpuset']} without .env" for n, s in services.items() if s.get("cpuset")])

# Secrets: every credential-like key must take its value from the environment.
# Keys are upper case (environment variables); a value may also be read from the secrets
# volume at start (`$(cat /run/secrets/...)`).
secret_key = re.compile(r"(PASSWORD|SECRET|ACCESS_KEY|TOKEN|CREDENTIALS)[A-Z_]*\s*[:=]")
problems = []
for f in ["compose.yaml", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "deploy").rglob("*.yaml"))]:
    for i, line in enumerate((ROOT / f).read_text().splitlines(), 1):
        body = line.split("#", 1)[0]
        if secret_key.search(body) and not re.search(r"_FILE\s*[:=]", body):
            value = re.split(r"[:=]", body, maxsplit=1)[1].strip().strip("'\"-")
            if value and "${" not in value and "/run/secrets/" not in value:
                problems.append(f"{f}:{i}: {line.strip()}")
for i, line in enumerate((ROOT / ".env.example").read_text().splitlines(), 1):
    if re.match(r"\s*[A-Z_]*(PASSWORD|SECRET)[A-Z_]*=\S", line):
        problems.append(f".env.example:{i}: a secret has a value")
ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
if not ignored:
    problems.append(".env is not git-ignored")
check("no secrets in the repository", problems)

# The documented overrides must still resolve against compose.yaml.
for override in ("deploy/compose.gpu.yaml", "deploy/compose.garage.yaml", "deploy/compose.tls.yaml"):
    if (ROOT / override).exists():
        merged = config("compose.yaml", override)
        check(f"{override} resolves", [] if len(merged["services"]) == len(services) else
              [f"{len(merged['services'])} services"])
# As documented: no --project-directory, so `extends` finds ../compose.yaml.
worker = config("deploy/compose.worker.yaml", project_dir=False)["services"]
leaf = config("deploy/compose.worker.yaml", "deploy/compose.worker-leaf.yaml", project_dir=False)["services"]
problems = [f"{n}: NATS_URL {s['environment'].get('NATS_URL')}" for n, s in leaf.items()
            if "PLOT_ID" in s.get("environment", {})
            and s["environment"].get("NATS_URL") != "nats://nats-leaf:4222"]
if "nats-leaf.conf" not in " ".join(leaf.get("nats-leaf", {}).get("entrypoint") or []):
    problems.append("nats-leaf does not run deploy/nats/nats-leaf.conf")
if "--jetstream" in (leaf.get("nats-leaf", {}).get("command") or []):
    problems.append("nats-leaf runs JetStream: the stream is the main board's")
check("deploy/compose.worker-leaf.yaml: the plotters through a leaf without JetStream", problems)
worker_plotters = {n: s for n, s in worker.items() if n != "secrets"}
check("deploy/compose.worker.yaml: the six plotters after their secrets, nothing else local",
      [] if sorted(s["environment"]["PLOT_ID"] for s in worker_plotters.values()) == sorted(PLOT_IDS)
      and set(worker) - set(worker_plotters) == {"secrets"}
      and all(set(s.get("depends_on") or {}) == {"secrets"} for s in worker_plotters.values())
      else [f"{sorted(worker)}"])
gpu = config("compose.yaml", "deploy/compose.gpu.yaml")["services"]["prepare"]
check("GPU access only through the override", [] if not services["prepare"].get("devices")
      and gpu.get("devices") and gpu.get("group_add") else ["devices/group_add misplaced"])

failed = sum(1 for _, p in results if p)
print(f"compose-config: {len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
