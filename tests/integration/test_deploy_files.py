"""The deploy files: Dockerfile, .dockerignore, docker-compose.yml (+ .env),
deploy/docker/ and deploy/k8s/.

No Docker engine runs on our machines, so this checks everything that can be
checked without one:

  * `docker-compose config` (Debian's docker-compose, v1) accepts the compose
    file in every mode of deploy/COMPOSE.md, and the resolved services,
    profiles, replicas, ports, volumes, healthchecks and SB_* variables are
    the promised ones; every SB_* variable is an option the program has.
  * The Dockerfile's build stage installs SB_BUILD_PACKAGES of
    deploy/setup.sh and runs sb_build's two cmake commands (Release); those
    commands, run in a copy of the build context (.dockerignore applied),
    build the binaries the runtime stage copies; the runtime stage installs
    exactly the Debian packages of the libraries they link (ldd + dpkg).
  * The compose topology runs: redis, seed, 3 backends and sb-lb started as
    local processes with the resolved compose commands, image entrypoint and
    variables, only addresses made local. Each "container" gets its own mount
    and UTS namespace (unshare): its own hostname, which the entrypoint turns
    into SB_ID, and its own /etc/hosts, where `backend` names the three
    backends as Docker's DNS does, so SB_BACKENDS_DNS=backend:9000 is used
    as it is. The compose healthchecks are run as they are, too.
  * Every Kubernetes manifest parses and agrees with compose: names, ports,
    variables, probes on endpoints that exist, the headless Service the LB
    follows.

Needs: docker-compose and PyYAML (Debian: docker-compose, which depends on
python3-yaml), redis-server, util-linux's unshare, and root for the
namespaces. It installs nothing: a missing tool is a failure that says what
to install.
"""

import http.client
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from harness import (ClusterTestCase, Proc, RedisServer, Timeout, build_dir,
                     free_port, wait_until)

try:
    import yaml
except ImportError:  # Debian's python3-yaml, when this is another python3
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import yaml
    except ImportError:
        yaml = None

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
COMPOSE_FILE = os.path.join(ROOT, "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
K8S_DIR = os.path.join(ROOT, "deploy", "k8s")
DESIGN = os.path.join(ROOT, "..", "shared", "DESIGN.md")

MULTI = {"redis", "seed", "backend", "lb"}
SINGLE = {"redis", "seed", "single"}
IMAGE = "switchboard:latest"


def need_yaml():
    if yaml is None:
        raise AssertionError(
            "PyYAML is missing: apt-get install -y python3-yaml (docker-compose"
            " depends on it) or pip install pyyaml")


# --------------------------------------------------------------------------
# docker-compose


def compose_exe():
    exe = shutil.which("docker-compose")
    if exe is None:
        raise AssertionError(
            "docker-compose is not installed; this test installs nothing. "
            "Install Debian's: apt-get install -y docker-compose")
    return exe


def clean_env(extra=None):
    """The test runner's environment without SB_*/COMPOSE_* variables (a
    developer's own must not change what compose resolves), plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SB_", "COMPOSE_", "DOCKER_"))}
    env.update(extra or {})
    return env


def compose_config(profiles=(), env=None):
    """(resolved config as a dict, stderr) of `docker-compose config`."""
    need_yaml()
    argv = [compose_exe(), "-f", COMPOSE_FILE, "--project-directory", ROOT]
    for p in profiles:
        argv += ["--profile", p]
    argv.append("config")
    res = subprocess.run(argv, cwd=ROOT, env=clean_env(env),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=120)
    out = res.stdout.decode("utf-8", "replace")
    err = res.stderr.decode("utf-8", "replace")
    if res.returncode != 0:
        raise AssertionError("%s failed (exit %d):\n%s%s" % (
            " ".join(argv[1:]), res.returncode, err, out))
    return yaml.safe_load(out), err


def dotenv():
    """KEY=VALUE lines of the .env file beside docker-compose.yml."""
    out = {}
    path = os.path.join(ROOT, ".env")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    out[k.strip()] = v.strip()
    return out


def active_profiles(cli_profiles=(), env=None):
    """What compose (v1's get_profiles_from_options, v2's
    WithDefaultProfiles) enables: --profile flags, else COMPOSE_PROFILES from
    the shell or the .env file."""
    if cli_profiles:
        return set(cli_profiles)
    merged = dotenv()
    merged.update(env or {})
    return {p.strip() for p in merged.get("COMPOSE_PROFILES", "").split(",")
            if p.strip()}


def enabled_services(cfg, profiles):
    """The services `up` starts: those without profiles, and those with one
    of the active profiles (the Compose spec). v1's `config` prints every
    service, so the choice is made here."""
    return {name for name, svc in cfg["services"].items()
            if not svc.get("profiles") or set(svc["profiles"]) & profiles}


def env_of(svc):
    """A service's environment as a dict (values None when passed through
    from the shell and not set there)."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            k, eq, v = item.partition("=")
            out[k] = v if eq else None
        return out
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def set_env(svc):
    return {k: v for k, v in env_of(svc).items() if v is not None}


def published(svc):
    """{container port: host port} of a service's published ports."""
    out = {}
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            if p.get("published") is not None:
                out[int(p["target"])] = int(p["published"])
        else:
            parts = str(p).split(":")
            if len(parts) >= 2:
                out[int(parts[-1].split("/")[0])] = int(parts[-2])
    return out


def mounts(svc):
    """"SOURCE:TARGET" of a service's volumes (short or long syntax)."""
    out = set()
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.add("%s:%s" % (v.get("source"), v.get("target")))
        else:
            parts = str(v).split(":")
            out.add("%s:%s" % (parts[0], parts[1]))
    return out


def hostport(value):
    host, _, port = value.rpartition(":")
    return host, int(port)


def healthcheck_url(svc):
    """The URL of an `sb-healthcheck URL` healthcheck."""
    test = (svc.get("healthcheck") or {}).get("test")
    if not isinstance(test, list) or test[:2] != ["CMD", "sb-healthcheck"]:
        return None
    return test[2]


def options_of(binary, *sub):
    """The SB_* variables a program reads, from its --help."""
    res = subprocess.run([binary, *sub, "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=10)
    return set(re.findall(r"\{(SB_[A-Z0-9_]+)\}", res.stdout.decode()))


# --------------------------------------------------------------------------
# Dockerfile


class Dockerfile:
    """The instructions of a Dockerfile, by stage."""

    def __init__(self, path):
        with open(path) as f:
            text = f.read()
        self.stages = []
        cur = ""
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("#") or (not cur and not s):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            word, _, rest = cur.strip().partition(" ")
            cur = ""
            word = word.upper()
            if word == "FROM":
                toks = rest.split()
                self.stages.append({
                    "base": toks[0],
                    "name": toks[2] if len(toks) >= 3 and toks[1].upper() == "AS"
                    else None,
                    "instr": []})
            elif self.stages:
                self.stages[-1]["instr"].append((word, rest.strip()))

    def stage(self, name):
        for s in self.stages:
            if s["name"] == name:
                return s
        raise AssertionError("no stage %r in the Dockerfile" % name)

    @staticmethod
    def runs(stage):
        return [rest for word, rest in stage["instr"] if word == "RUN"]

    @staticmethod
    def last(stage, word):
        vals = [rest for w, rest in stage["instr"] if w == word]
        return vals[-1] if vals else None

    @staticmethod
    def apt_packages(stage):
        """The packages of every `apt-get install` in a stage's RUNs."""
        pkgs = []
        for run in Dockerfile.runs(stage):
            for part in re.split(r"&&|;", run):
                toks = shlex.split(part)
                if "apt-get" in toks and "install" in toks:
                    pkgs += [t for t in toks[toks.index("install") + 1:]
                             if not t.startswith("-")]
        return pkgs

    @staticmethod
    def copies(stage):
        """[(from stage or None, source, destination path)] of COPYs."""
        out = []
        for word, rest in stage["instr"]:
            if word != "COPY":
                continue
            toks = shlex.split(rest)
            frm = None
            while toks and toks[0].startswith("--"):
                if toks[0].startswith("--from="):
                    frm = toks[0][len("--from="):]
                toks.pop(0)
            srcs, dest = toks[:-1], toks[-1]
            for src in srcs:
                if dest.endswith("/") or len(srcs) > 1:
                    out.append((frm, src, dest.rstrip("/") + "/" +
                                os.path.basename(src)))
                else:
                    out.append((frm, src, dest))
        return out

    @staticmethod
    def env(stage):
        out = {}
        for word, rest in stage["instr"]:
            if word == "ENV":
                for tok in shlex.split(rest):
                    k, _, v = tok.partition("=")
                    out[k] = v
        return out


def cmake_commands(shell_text):
    """Each `cmake ...` command in some shell text, as a token list: cut at
    the first redirection, pipe or list operator."""
    out = []
    for part in re.split(r"&&|\|\||;|\n", shell_text):
        part = re.split(r"\s(?:\d?>|\|)", part)[0].strip()
        if part.startswith("cmake "):
            out.append(shlex.split(part))
    return out


# The Debian package that satisfies a find_package() of CMakeLists.txt in a
# bare debian:bookworm-slim. A new find_package() must be added here.
FIND_PACKAGE_DEBIAN = {
    "PkgConfig": "pkg-config",
    "Threads": "build-essential",
    "Python3": "python3",
}


def cmake_requirements():
    """The Debian packages CMake's configure step needs: one per
    find_package(... REQUIRED), and the owner of each pkg-config module."""
    texts = []
    pats = dockerignore_patterns()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = os.path.relpath(dirpath, ROOT)
        rel = "" if rel == "." else rel
        dirnames[:] = [d for d in dirnames
                       if not ignored(os.path.join(rel, d), pats)]
        if "CMakeLists.txt" in filenames:
            with open(os.path.join(dirpath, "CMakeLists.txt")) as f:
                texts.append(re.sub(r"#[^\n]*", "", f.read()))
    text = "\n".join(texts)
    pkgs = set()
    for m in re.finditer(r"find_package\(\s*(\w+)([^)]*)\)", text):
        if "REQUIRED" not in m.group(2).split():
            continue
        if m.group(1) not in FIND_PACKAGE_DEBIAN:
            raise AssertionError("CMakeLists.txt requires %s: say in "
                                 "FIND_PACKAGE_DEBIAN which Debian package has it"
                                 % m.group(1))
        pkgs.add(FIND_PACKAGE_DEBIAN[m.group(1)])
    for m in re.finditer(r"pkg_check_modules\(([^)]*)\)", text):
        words = m.group(1).split()[1:]
        for mod in words:
            if mod in ("REQUIRED", "QUIET", "IMPORTED_TARGET", "GLOBAL",
                       "NO_CMAKE_PATH", "NO_CMAKE_ENVIRONMENT_PATH"):
                continue
            mod = re.split(r"[<>=]", mod)[0]
            res = subprocess.run(["pkg-config", "--path", mod],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 timeout=20)
            if res.returncode != 0:
                raise AssertionError("pkg-config knows no %s (build packages "
                                     "missing here?)" % mod)
            owner = subprocess.run(["dpkg", "-S", res.stdout.decode().strip()],
                                   stdout=subprocess.PIPE, timeout=20)
            pkgs.add(owner.stdout.decode().split(":")[0].strip())
    return pkgs


def setup_sh(expr):
    """The value of a shell expression after sourcing deploy/setup.sh."""
    res = subprocess.run(
        ["bash", "-c", 'source "$1" && printf %%s "%s"' % expr, "bash",
         os.path.join(ROOT, "deploy", "setup.sh")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    if res.returncode != 0:
        raise AssertionError("sourcing deploy/setup.sh: %s" % res.stderr.decode())
    return res.stdout.decode()


def dockerignore_patterns():
    pats = []
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            pat = line[1:] if neg else line
            pat = os.path.normpath(pat.strip("/"))
            rx = ""
            i = 0
            while i < len(pat):
                if pat.startswith("**/", i):
                    rx += "(?:.*/)?"
                    i += 3
                elif pat.startswith("**", i):
                    rx += ".*"
                    i += 2
                elif pat[i] == "*":
                    rx += "[^/]*"
                    i += 1
                elif pat[i] == "?":
                    rx += "[^/]"
                    i += 1
                else:
                    rx += re.escape(pat[i])
                    i += 1
            pats.append((re.compile(rx + r"\Z"), neg))
    return pats


def ignored(rel, pats):
    """Docker's rule: the last pattern that matches the path, or one of its
    parent folders, decides."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    out = False
    for rx, neg in pats:
        if any(rx.match(p) for p in prefixes):
            out = not neg
    return out


def copy_context(dest):
    """Copy the build context (the repository minus .dockerignore) to dest;
    return the relative paths copied."""
    pats = dockerignore_patterns()
    copied = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames[:] = [d for d in dirnames
                       if not ignored(os.path.join(rel_dir, d), pats)
                       or any(neg for _, neg in pats)]
        for name in filenames:
            rel = os.path.join(rel_dir, name)
            if ignored(rel, pats):
                continue
            os.makedirs(os.path.join(dest, rel_dir), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel))
            copied.append(rel)
    return copied


def client_sources():
    d = os.path.join(ROOT, "client")
    return [f for f in os.listdir(d) if f.endswith(".c")] if os.path.isdir(d) else []


def linked_packages(binaries):
    """The Debian packages of the shared libraries the binaries link."""
    libs = set()
    for b in binaries:
        out = subprocess.run(["ldd", b], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=20).stdout.decode()
        for m in re.finditer(r"=>\s+(/\S+)", out):
            libs.add(m.group(1))
    pkgs = set()
    for lib in sorted(libs):
        cands = [lib, os.path.realpath(lib)]
        cands += ["/usr" + c for c in cands if not c.startswith("/usr/")]
        owner = None
        for c in cands:
            res = subprocess.run(["dpkg", "-S", c], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=20)
            if res.returncode == 0:
                owner = res.stdout.decode().split(":")[0].strip()
                break
        if owner is None:
            raise AssertionError("no Debian package owns %s" % lib)
        pkgs.add(owner)
    return pkgs


# --------------------------------------------------------------------------
# Kubernetes


def k8s_objects():
    need_yaml()
    objs = {}
    files = sorted(f for f in os.listdir(K8S_DIR) if f.endswith((".yaml", ".yml")))
    for f in files:
        with open(os.path.join(K8S_DIR, f)) as fh:
            for doc in yaml.safe_load_all(fh):
                if doc is None:
                    continue
                for key in ("apiVersion", "kind", "metadata"):
                    if key not in doc:
                        raise AssertionError("%s: an object without %s" % (f, key))
                key = (doc["kind"], doc["metadata"]["name"])
                if key in objs:
                    raise AssertionError("%s: %s/%s twice" % (f, *key))
                objs[key] = doc
    return files, objs


def k8s_env(container):
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def named_port(container, port):
    """A probe's or Service's port (a number or a port name) as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError("container %s has no port named %r"
                         % (container["name"], port))


def design_paths():
    """The GET paths of DESIGN.md's HTTP API table, or None without it."""
    if not os.path.exists(DESIGN):
        return None
    with open(DESIGN) as f:
        return set(re.findall(r"\|\s*`GET (/[a-z/]*)", f.read()))


# --------------------------------------------------------------------------
# tests: compose


class ComposeConfig(unittest.TestCase):
    """`docker-compose config` in every mode."""

    @classmethod
    def setUpClass(cls):
        cls.default, cls.default_err = compose_config()
        cls.single, _ = compose_config(profiles=["single"])
        cls.tools, _ = compose_config(profiles=["tools"])

    def svc(self, name, cfg=None):
        """A service, from the config of a profile that enables it (v2's
        `config` leaves the others out; v1's prints them all)."""
        if cfg is None:
            cfg = {"single": self.single, "client": self.tools}.get(name, self.default)
        self.assertIn(name, cfg["services"])
        return cfg["services"][name]

    def test_config_is_clean(self):
        # A ${VAR} without a default makes compose warn and use "".
        self.assertNotIn("WARNING", self.default_err.upper(), self.default_err)
        self.assertEqual(dotenv(), {"COMPOSE_PROFILES": "multi"},
                         ".env must only choose the default profile: other "
                         "variables there would hide the shell's")

    def test_default_mode_is_lb_and_three_backends(self):
        cfg = self.default
        self.assertEqual(enabled_services(cfg, active_profiles()), MULTI)
        backend = self.svc("backend")
        self.assertEqual((backend.get("deploy") or {}).get("replicas"), 3)
        self.assertEqual(published(backend), {},
                         "backends are reached through the LB only; scaled "
                         "replicas cannot share a host port")
        env = env_of(backend)
        self.assertEqual(env["SB_SESSIONS"], "redis")
        self.assertEqual(hostport(env["SB_LISTEN"]), ("0.0.0.0", 9000))
        rhost, rport = hostport(env["SB_REDIS"])
        self.assertEqual(rhost, "redis")
        self.assertEqual(rport, 6379)
        self.assertNotIn("SB_ID", set_env(backend),
                         "replicas must not share one SB_ID: the entrypoint "
                         "names each after its container")

        lb = self.svc("lb")
        lenv = env_of(lb)
        self.assertEqual(lenv["SB_POLICY"], "round-robin")
        dns_host, dns_port = hostport(lenv["SB_BACKENDS_DNS"])
        self.assertEqual(dns_host, "backend",
                         "the LB must follow the backend service's DNS name")
        self.assertEqual(dns_port, 9000)
        lhost, lport = hostport(lenv["SB_LISTEN"])
        ahost, aport = hostport(lenv["SB_ADMIN"])
        self.assertEqual((lhost, ahost), ("0.0.0.0", "0.0.0.0"),
                         "published ports need every interface of the container")
        self.assertEqual(published(lb), {8080: 8080, 8404: 8404})
        self.assertEqual((lport, aport), (8080, 8404))
        self.assertEqual(lenv["SB_HEALTH_PATH"], "/readyz")

    def test_knobs_pass_through_unset(self):
        # Unset in the shell: not set in the container, so the programs'
        # defaults apply (an empty value would be an error).
        for name, keys in (("backend", ("SB_CAPACITY", "SB_QUEUE", "SB_WORK_MS")),
                           ("single", ("SB_CAPACITY", "SB_QUEUE", "SB_WORK_MS")),
                           ("lb", ("SB_RETRIES", "SB_NO_HEALTH"))):
            env = env_of(self.svc(name))
            for k in keys:
                self.assertIsNone(env.get(k), "%s sets %s" % (name, k))

    def test_seed_runs_once_into_the_shared_volume(self):
        seed = self.svc("seed")
        backend = self.svc("backend")
        db = env_of(backend)["SB_DB"]
        self.assertEqual(seed.get("command"), ["sb-seed", db])
        self.assertIn(seed.get("restart", "no"), ("no", None))
        vol = "data:%s" % os.path.dirname(db)
        for name in ("seed", "backend", "single"):
            self.assertIn(vol, mounts(self.svc(name)),
                          "%s does not mount %s" % (name, vol))
        self.assertIn("data", self.default.get("volumes") or {})
        for name in ("backend", "single"):
            deps = self.svc(name).get("depends_on") or {}
            self.assertEqual(deps.get("seed", {}).get("condition"),
                             "service_completed_successfully", name)
            self.assertEqual(deps.get("redis", {}).get("condition"),
                             "service_healthy", name)

    def test_healthchecks(self):
        design = design_paths()
        for name in ("redis", "backend", "lb", "single"):
            svc = self.svc(name)
            hc = svc.get("healthcheck")
            self.assertTrue(hc and hc.get("test"), "%s has no healthcheck" % name)
            self.assertFalse(hc.get("disable"), name)
        for name in ("backend", "single"):
            url = healthcheck_url(self.svc(name))
            self.assertIsNotNone(url, name)
            m = re.match(r"http://127\.0\.0\.1:(\d+)(/\S*)$", url)
            self.assertTrue(m, url)
            self.assertEqual(int(m.group(1)), hostport(env_of(self.svc(name))["SB_LISTEN"])[1])
            self.assertEqual(m.group(2), "/readyz")
            if design is not None:
                self.assertIn(m.group(2), design)
        url = healthcheck_url(self.svc("lb"))
        self.assertEqual(url, "http://127.0.0.1:%d/healthz"
                         % hostport(env_of(self.svc("lb"))["SB_ADMIN"])[1])

    def test_every_service_uses_the_image_or_redis(self):
        for name, svc in self.default["services"].items():
            if name == "redis":
                self.assertEqual(svc["image"], "redis:7")
                continue
            self.assertEqual(svc.get("image"), IMAGE, name)
            build = svc.get("build")
            ctx = build.get("context") if isinstance(build, dict) else build
            self.assertEqual(os.path.realpath(ctx), os.path.realpath(ROOT), name)

    def test_every_variable_is_an_option(self):
        bdir = build_dir()
        known = {
            "backend": options_of(os.path.join(bdir, "backend", "sb-backend")),
            "lb": options_of(os.path.join(bdir, "lb", "sb-lb")),
            "seed": options_of(os.path.join(bdir, "backend", "sb-backend"), "seed"),
        }
        known["single"] = known["backend"]
        self.assertIn("SB_LISTEN", known["backend"])
        for name, opts in known.items():
            for k in env_of(self.svc(name)):
                self.assertIn(k, opts, "%s sets %s, which the program does not read"
                              % (name, k))

    def test_single_profile(self):
        cfg = self.single
        self.assertEqual(enabled_services(cfg, active_profiles(["single"])), SINGLE,
                         "--profile single must give one backend, redis, seed")
        single = cfg["services"]["single"]
        self.assertEqual((single.get("deploy") or {}).get("replicas", 1), 1)
        self.assertNotIn("scale", single)
        port = hostport(env_of(single)["SB_LISTEN"])[1]
        self.assertEqual(published(single), {port: 8080},
                         "the single backend is published where the LB would be")
        benv = set_env(self.svc("backend"))
        senv = set_env(single)
        self.assertEqual(senv.pop("SB_ID"), "single")
        self.assertEqual(senv, benv, "single must be configured as a backend")

    def test_profiles_never_depend_on_disabled_services(self):
        for prof, cfg in (([], self.default), (["single"], self.single),
                          (["tools"], self.tools)):
            on = enabled_services(cfg, active_profiles(prof))
            for name in on:
                for dep in cfg["services"][name].get("depends_on") or {}:
                    self.assertIn(dep, on, "%s needs %s, off with profiles %s"
                                  % (name, dep, prof))

    def test_stateful_mode(self):
        mode = {"SB_SESSIONS": "memory", "SB_POLICY": "sticky"}
        cfg, err = compose_config(env=mode)
        self.assertEqual(env_of(cfg["services"]["backend"])["SB_SESSIONS"], "memory")
        self.assertEqual(env_of(cfg["services"]["lb"])["SB_POLICY"], "sticky")
        self.assertEqual(enabled_services(cfg, active_profiles()), MULTI)
        cfg, err = compose_config(profiles=["single"], env=mode)
        self.assertEqual(env_of(cfg["services"]["single"])["SB_SESSIONS"], "memory")

    def test_no_safety_nets_mode(self):
        cfg, err = compose_config(env={"SB_RETRIES": "0", "SB_NO_HEALTH": "1"})
        env = env_of(cfg["services"]["lb"])
        self.assertEqual((env["SB_RETRIES"], env["SB_NO_HEALTH"]), ("0", "1"))

    def test_overload_mode(self):
        knobs = {"SB_CAPACITY": "5", "SB_QUEUE": "15", "SB_WORK_MS": "200"}
        multi, err = compose_config(env=knobs)
        single, err = compose_config(profiles=["single"], env=knobs)
        for cfg, name in ((multi, "backend"), (single, "single")):
            env = env_of(cfg["services"][name])
            self.assertEqual({k: env.get(k) for k in knobs}, knobs, name)
        # sb-lb has its own --queue (SB_QUEUE): the backends' knob must not
        # reach it.
        self.assertNotIn("SB_QUEUE", env_of(multi["services"]["lb"]))

    def test_profile_from_the_shell(self):
        self.assertEqual(active_profiles(env={"COMPOSE_PROFILES": "single"}),
                         {"single"})
        self.assertEqual(active_profiles(["single"], env={"COMPOSE_PROFILES": "multi"}),
                         {"single"}, "--profile replaces COMPOSE_PROFILES")

    def test_client_service(self):
        client = self.svc("client")
        self.assertEqual(client.get("profiles"), ["tools"])
        self.assertEqual(client["entrypoint"], ["sb-entrypoint", "sb-client"])
        self.assertEqual(client["command"][0], "watch")
        url = client["command"][client["command"].index("--url") + 1]
        lport = hostport(env_of(self.svc("lb"))["SB_LISTEN"])[1]
        self.assertEqual(url, "http://lb:%d" % lport)
        self.assertFalse(client.get("depends_on"))

    def test_compose_doc(self):
        with open(os.path.join(ROOT, "deploy", "COMPOSE.md")) as f:
            doc = f.read()
        for cmd in ("docker compose up", "docker compose --profile single up",
                    "SB_SESSIONS=memory SB_POLICY=sticky docker compose up",
                    "docker compose up --scale backend=5",
                    "docker kill $(docker compose ps -q backend | head -1)",
                    "sb-client watch", "docker compose down -v"):
            self.assertIn(cmd, doc)


# --------------------------------------------------------------------------
# tests: Dockerfile


class DockerfileBuild(unittest.TestCase):
    """The Dockerfile against CI's packages and commands; its build commands
    run in a copy of its build context."""

    @classmethod
    def setUpClass(cls):
        cls.df = Dockerfile(DOCKERFILE)
        cls.build = cls.df.stage("build")
        cls.final = cls.df.stages[-1]
        cls.tmp = tempfile.mkdtemp(prefix="sb-it-dockerfile-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        # The build stage's WORKDIR, COPY . . and cmake RUN, done here.
        cls.workdir = cls.df.last(cls.build, "WORKDIR")
        cls.src = os.path.join(cls.tmp, "src")
        os.makedirs(cls.src)
        cls.context = copy_context(cls.src)
        cls.cmake_run = [r for r in cls.df.runs(cls.build) if "cmake" in r]
        cls.build_log = os.path.join(cls.tmp, "build.log")
        with open(cls.build_log, "wb") as log:
            cls.build_rc = 0
            for run in cls.cmake_run:
                # nice: the other tests of a parallel ctest keep their CPU.
                rc = subprocess.run(["nice", "-n", "19", "/bin/sh", "-c", run],
                                    cwd=cls.src,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, timeout=240).returncode
                cls.build_rc = cls.build_rc or rc

    def build_output(self):
        with open(self.build_log, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def test_stages(self):
        self.assertGreaterEqual(len(self.df.stages), 2)
        for s in self.df.stages:
            self.assertEqual(s["base"], "debian:bookworm-slim")
        self.assertIsNot(self.final, self.build)

    def test_build_packages_are_setup_sh_ones(self):
        want = set(setup_sh("$SB_BUILD_PACKAGES").split())
        self.assertTrue(want, "SB_BUILD_PACKAGES is empty")
        # What CMake's configure step requires, which a bare
        # debian:bookworm-slim lacks but CI's machine may have from elsewhere
        # (python3 comes with SB_RUN_PACKAGES).
        want |= cmake_requirements()
        got = self.df.apt_packages(self.build)
        self.assertEqual(len(got), len(set(got)), "a package listed twice")
        self.assertEqual(sorted(got), sorted(want),
                         "the build stage must install SB_BUILD_PACKAGES of "
                         "deploy/setup.sh and what CMakeLists.txt requires, "
                         "no more, no less")

    def test_cmake_commands_are_ci_ones(self):
        # CI: .ci/run -> tests/run -> sb_build DIR ARGS in deploy/setup.sh.
        with open(os.path.join(ROOT, "deploy", "setup.sh")) as f:
            setup = f.read()
        m = re.search(r"^sb_build\(\)\s*\{\n(.*?)^\}", setup, re.S | re.M)
        self.assertTrue(m, "no sb_build() in deploy/setup.sh")
        ci = cmake_commands(m.group(1))
        self.assertEqual(len(ci), 2, "sb_build: %r" % ci)
        self.assertEqual(self.workdir, "/src")
        got = [c for run in self.cmake_run for c in cmake_commands(run)]
        self.assertEqual(len(got), 2, "Dockerfile cmake commands: %r" % got)
        src, bdir, extra = ".", "build", ["-DCMAKE_BUILD_TYPE=Release"]

        def subst(tokens):
            out = []
            for t in tokens:
                if t == "$@":
                    out += extra
                else:
                    out.append(t.replace("$SB_ROOT", src).replace("$dir", bdir))
            return out
        self.assertEqual(got, [subst(c) for c in ci],
                         "the Dockerfile must build with sb_build's commands "
                         "(deploy/setup.sh), as a Release")
        with open(os.path.join(ROOT, "tests", "run")) as f:
            self.assertRegex(f.read(), r"sb_build build -DCMAKE_BUILD_TYPE=\w+",
                             "tests/run no longer builds with one build type")

    def test_context_builds_the_binaries_the_image_copies(self):
        self.assertEqual(self.build_rc, 0, "the Dockerfile's cmake commands fail "
                         "in its build context:\n" + self.build_output())
        self.assertFalse([p for p in self.context if p.startswith((".git/", "build"))],
                         ".dockerignore lets build trees or .git in")
        copies = [c for c in self.df.copies(self.final) if c[0] == "build"]
        names = {os.path.basename(c[2]) for c in copies}
        self.assertEqual(names, {"sb-backend", "sb-lb", "sb-client"})
        for _, src, dest in copies:
            self.assertTrue(src.startswith(self.workdir + "/"), src)
            local = os.path.join(self.src, os.path.relpath(src, self.workdir))
            if os.path.basename(src) == "sb-client" and not client_sources():
                continue  # test_image_has_sb_client says so
            self.assertTrue(os.access(local, os.X_OK),
                            "the build makes no %s (the image COPYs it)" % src)

    def test_image_has_sb_client(self):
        if not client_sources():
            self.skipTest("client/ has no sources yet, so CMake makes no sb-client"
                          " and `docker build` fails at the COPY of it")
        self.assertEqual(self.build_rc, 0, self.build_output())
        self.assertTrue(os.access(os.path.join(self.src, "build", "client",
                                               "sb-client"), os.X_OK))

    def test_runtime_stage(self):
        self.assertEqual(self.build_rc, 0, self.build_output())
        pkgs = self.df.apt_packages(self.final)
        bins = []
        for _, src, _ in self.df.copies(self.final):
            local = os.path.join(self.src, os.path.relpath(src, self.workdir))
            if src.startswith(self.workdir + "/") and os.path.exists(local):
                bins.append(local)
        self.assertGreaterEqual(len(bins), 2)
        want = linked_packages(bins) - {"libc6"}
        self.assertEqual(sorted(pkgs), sorted(want),
                         "the runtime stage must install exactly the packages "
                         "of the libraries the binaries link")
        user = self.df.last(self.final, "USER")
        self.assertIsNotNone(user, "the image runs as root")
        uid = user.split(":")[0]
        self.assertRegex(uid, r"^\d+$", "a numeric USER (runAsNonRoot checks it)")
        self.assertNotEqual(int(uid), 0)
        self.assertEqual(json.loads(self.df.last(self.final, "ENTRYPOINT")),
                         ["/usr/local/bin/sb-entrypoint"])

    def test_scripts(self):
        copies = {os.path.basename(d): s for f, s, d in self.df.copies(self.final)
                  if f is None}
        self.assertEqual(set(copies), {"sb-entrypoint", "sb-healthcheck", "sb-seed"})
        for name, src in copies.items():
            path = os.path.join(ROOT, src)
            self.assertTrue(os.access(path, os.X_OK), "%s is not executable" % src)
            self.assertIn(src, self.context, "%s is not in the build context" % src)
            res = subprocess.run(["bash", "-n", path], stderr=subprocess.PIPE)
            self.assertEqual(res.returncode, 0, res.stderr.decode())
        # Every program compose runs is in the image.
        cfg, _ = compose_config()
        in_image = set(copies) | {"sb-backend", "sb-lb", "sb-client"}
        for name, svc in cfg["services"].items():
            if name == "redis":
                continue
            argv = (svc.get("entrypoint") or []) + (svc.get("command") or [])
            self.assertIn(argv[0], in_image, name)
            test = (svc.get("healthcheck") or {}).get("test")
            if test:
                self.assertIn(test[1], in_image, name)


# --------------------------------------------------------------------------
# tests: the compose topology as local processes


def can_unshare():
    try:
        res = subprocess.run(["unshare", "--mount", "--uts", "--", "true"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             timeout=10)
        return res.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Runs in a new mount and UTS namespace: our /etc/hosts, our hostname.
LAUNCH = 'mount --bind "$1" /etc/hosts && hostname "$2" && shift 2 && exec "$@"'


def http_get(host, port, path, headers=None, timeout=3.0):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


class ComposeTopology(ClusterTestCase):
    """redis + seed + 3 backends + sb-lb, as compose starts them."""

    REPLICAS_IPS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.isolated = can_unshare()
        # The shell sizes the demo data (a pass-through of the seed service).
        cls.cfg, _ = compose_config(env={"SB_USERS": "60", "SB_POSTS_PER_USER": "10"})
        df = Dockerfile(DOCKERFILE)
        final = df.stages[-1]
        cls.image_env = df.env(final)
        cls.entrypoint = json.loads(df.last(final, "ENTRYPOINT"))
        cls.image_cmd = json.loads(df.last(final, "CMD"))
        # The image's /usr/local/bin, from the Dockerfile's COPYs.
        cls.bin = os.path.join(cls.tmp, "bin")
        os.makedirs(cls.bin)
        cls.image_paths = {}
        workdir = df.last(df.stage("build"), "WORKDIR")
        for frm, src, dest in df.copies(final):
            if frm == "build":
                local = os.path.join(build_dir(), os.path.relpath(src, workdir + "/build"))
            else:
                local = os.path.join(ROOT, src)
            if not os.path.exists(local):
                continue  # sb-client before it exists
            os.symlink(os.path.abspath(local),
                       os.path.join(cls.bin, os.path.basename(dest)))
            cls.image_paths[dest] = os.path.join(cls.bin, os.path.basename(dest))
        cls.volume = os.path.join(cls.tmp, "volume-data")
        os.makedirs(cls.volume)

    # -- compose -> local

    def local_value(self, value, self_ip, ports):
        """A compose value made local: the volume's folder, this container's
        own address, local ports for the compose ports."""
        if value is None:
            return None
        if value == "/data" or value.startswith("/data/"):
            value = self.volume + value[len("/data"):]
        if value in self.image_paths:
            return self.image_paths[value]

        def sub(m):
            host, port = m.group(1), int(m.group(2))
            if host in ("0.0.0.0", "127.0.0.1", "localhost"):
                host = self_ip
            elif not self.isolated:
                host = {"backend": "localhost", "redis": "127.0.0.1"}.get(host, host)
            return "%s:%d" % (host, ports.get(port, port))
        return re.sub(r"(?<![\w.])([A-Za-z0-9_.-]+):(\d+)\b", sub, value)

    def container(self, name, service, ip, hostname, hosts, ports, argv=None,
                  wait=True):
        """Start one "container" of a compose service as a local process."""
        svc = self.cfg["services"][service]
        env = dict(self.image_env)
        env.update(set_env(svc))
        env = {k: self.local_value(v, ip, ports) for k, v in env.items()}
        env["PATH"] = self.bin + os.pathsep + os.environ.get("PATH", "")
        if argv is None:
            argv = (svc.get("entrypoint") or self.entrypoint) + \
                (svc.get("command") or self.image_cmd)
        argv = [self.local_value(a, ip, ports) for a in argv]
        if self.isolated:
            hosts_file = os.path.join(self.tmp, "hosts-%s" % name)
            with open(hosts_file, "w") as f:
                f.write("127.0.0.1 localhost\n%s %s\n" % (ip, hostname))
                for n, addrs in hosts.items():
                    for a in addrs:
                        f.write("%s %s\n" % (a, n))
            argv = ["unshare", "--mount", "--uts", "--", "sh", "-c", LAUNCH,
                    "sh", hosts_file, hostname] + argv
        p = Proc(name, argv, self.tmp, env=env)
        self._test_procs.append(p)
        return p

    def healthcheck(self, service, ip, ports):
        """Run a service's compose healthcheck as it is; True when it passes."""
        test = self.cfg["services"][service]["healthcheck"]["test"]
        if test[0] == "CMD":
            argv = [self.local_value(a, ip, ports) for a in test[1:]]
        else:
            argv = ["sh", "-c", test[1]]
        env = dict(os.environ)
        env["PATH"] = self.bin + os.pathsep + env.get("PATH", "")
        res = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, timeout=10)
        return res.returncode == 0

    def test_topology_serves_through_the_lb(self):
        cfg = self.cfg
        replicas = cfg["services"]["backend"]["deploy"]["replicas"]
        self.assertEqual(replicas, 3)
        ips = self.REPLICAS_IPS if self.isolated else ["127.0.0.1"]
        # One port for every backend (each has its own address, as each
        # container has its own), and local ports for the LB's.
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            bport = s.getsockname()[1]
        redis = RedisServer(self.tmp)
        self._test_procs.append(redis)
        ports = {6379: redis.port, 9000: bport, 8080: free_port(), 8404: free_port()}
        hosts = {"redis": ["127.0.0.1"], "backend": ips}

        # redis: the compose healthcheck, pointed at our port.
        test = cfg["services"]["redis"]["healthcheck"]["test"]
        res = subprocess.run(["sh", "-c", test[1].replace(
            "redis-cli", "redis-cli -p %d" % redis.port)], timeout=10)
        self.assertEqual(res.returncode, 0, "redis healthcheck: %r" % test)

        # seed: completes, and a second run keeps the file.
        for attempt in (1, 2):
            seed = self.container("seed-%d" % attempt, "seed", "127.0.0.1", "seed",
                                  hosts, ports)
            self.assertEqual(seed.wait(60), 0, seed.log_tail())
        db = self.local_value(set_env(cfg["services"]["backend"])["SB_DB"], "", {})
        self.assertTrue(os.path.exists(db), "seed made no %s" % db)
        self.assertIn("keeping it", seed.log_text())
        self.assertEqual(sorted(os.listdir(self.volume)), [os.path.basename(db)],
                         "seed left other files in the volume")

        # backends: healthy by their compose healthcheck; named by hostname.
        names = []
        for i, ip in enumerate(ips):
            hostname = "sbtest-backend-%d" % (i + 1)
            self.container("backend-%d" % (i + 1), "backend", ip, hostname,
                           hosts, ports)
            names.append(hostname if self.isolated else os.uname().nodename)
        for ip in ips:
            wait_until(lambda: self.healthcheck("backend", ip, ports), 20,
                       interval=0.1, what="backend %s healthcheck" % ip)
            status, headers, _ = http_get(ip, bport, "/healthz")
            self.assertIn(headers.get("X-Served-By"), names)

        # the LB: healthy, and balancing over every replica it found by DNS.
        self.container("lb", "lb", "127.0.0.1", "lb", hosts, ports)
        wait_until(lambda: self.healthcheck("lb", "127.0.0.1", ports), 20,
                   interval=0.1, what="lb healthcheck")
        lport = ports[8080]
        seen = set()

        def all_served():
            status, headers, _ = http_get("127.0.0.1", lport, "/users/alice")
            if status == 200:
                seen.add(headers.get("X-Served-By"))
            return seen >= set(names)
        wait_until(all_served, 30, interval=0.05,
                   what="the LB serving from %s (seen %s)" % (names, seen))
        self.assertEqual(seen, set(names))

        # Sessions live in Redis: a login through the LB holds on every backend.
        conn = http.client.HTTPConnection("127.0.0.1", lport, timeout=5)
        conn.request("POST", "/login", body=json.dumps(
            {"username": "alice", "password": "switchboard"}),
            headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        conn.close()
        self.assertEqual(r.status, 200)
        sid = re.search(r"sid=([^;]+)", r.getheader("Set-Cookie") or "").group(1)
        by = set()
        for _ in range(3 * len(names)):
            status, headers, body = http_get("127.0.0.1", lport, "/feed?limit=2",
                                             headers={"Cookie": "sid=" + sid})
            self.assertEqual(status, 200, body[:200])
            by.add(headers.get("X-Served-By"))
        self.assertEqual(by, set(names))

        # COMPOSE.md's experiment: kill -9 one backend; nothing fails.
        if len(names) > 1:
            victim = [p for p in self._test_procs if p.name == "backend-1"][0]
            victim.kill()
            for _ in range(20):
                status, headers, body = http_get("127.0.0.1", lport, "/feed?limit=2",
                                                 headers={"Cookie": "sid=" + sid})
                self.assertEqual(status, 200, body[:200])
                self.assertNotEqual(headers.get("X-Served-By"), names[0])

    def test_namespaces_available(self):
        if not self.isolated:
            self.skipTest("unshare --mount --uts is not permitted here: the "
                          "topology ran with one backend named localhost")


# --------------------------------------------------------------------------
# tests: Kubernetes


class K8sManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files, cls.objs = k8s_objects()
        cls.compose, _ = compose_config()

    def obj(self, kind, name):
        self.assertIn((kind, name), self.objs, "no %s %s in deploy/k8s" % (kind, name))
        return self.objs[(kind, name)]

    def pod(self, name):
        return self.obj("Deployment", name)["spec"]["template"]["spec"]

    def container(self, name):
        return self.pod(name)["containers"][0]

    def test_objects(self):
        self.assertEqual(set(self.objs), {
            ("Deployment", "redis"), ("Service", "redis"),
            ("Deployment", "backend"), ("Service", "backend"),
            ("Deployment", "lb"), ("Service", "lb")})
        for (kind, name), o in self.objs.items():
            if kind == "Deployment":
                self.assertEqual(o["apiVersion"], "apps/v1")
                spec = o["spec"]
                labels = spec["template"]["metadata"]["labels"]
                for k, v in spec["selector"]["matchLabels"].items():
                    self.assertEqual(labels.get(k), v, "%s selector" % name)
            else:
                self.assertEqual(o["apiVersion"], "v1")
                dep = self.obj("Deployment", name)
                labels = dep["spec"]["template"]["metadata"]["labels"]
                for k, v in o["spec"]["selector"].items():
                    self.assertEqual(labels.get(k), v, "Service %s selects no pod" % name)
                c = dep["spec"]["template"]["spec"]["containers"][0]
                for p in o["spec"]["ports"]:
                    named_port(c, p.get("targetPort", p["port"]))

    def test_backend_service_is_headless_and_followed_by_the_lb(self):
        svc = self.obj("Service", "backend")
        self.assertEqual(svc["spec"].get("clusterIP"), "None")
        lenv = k8s_env(self.container("lb"))
        host, port = hostport(lenv["SB_BACKENDS_DNS"])
        self.assertEqual(host, svc["metadata"]["name"])
        self.assertEqual([p["port"] for p in svc["spec"]["ports"]], [port])
        benv = k8s_env(self.container("backend"))
        self.assertEqual(hostport(benv["SB_LISTEN"])[1], port)
        self.assertEqual(named_port(self.container("backend"),
                                    svc["spec"]["ports"][0]["targetPort"]), port)

    def test_env_agrees_with_compose(self):
        for name in ("backend", "lb"):
            want = set_env(self.compose["services"][name])
            got = k8s_env(self.container(name))
            for k, v in want.items():
                self.assertEqual(got.get(k), v, "%s %s: compose %r, k8s %r"
                                 % (name, k, v, got.get(k)))
        sb_id = [e for e in self.container("backend")["env"] if e["name"] == "SB_ID"]
        self.assertEqual(sb_id[0]["valueFrom"]["fieldRef"]["fieldPath"],
                         "metadata.name")
        rhost, rport = hostport(k8s_env(self.container("backend"))["SB_REDIS"])
        rsvc = self.obj("Service", rhost)
        self.assertEqual([p["port"] for p in rsvc["spec"]["ports"]], [rport])

    def test_replicas_and_images(self):
        self.assertEqual(self.obj("Deployment", "backend")["spec"]["replicas"],
                         self.compose["services"]["backend"]["deploy"]["replicas"])
        self.assertEqual(self.container("redis")["image"],
                         self.compose["services"]["redis"]["image"])
        for name in ("backend", "lb"):
            pod = self.pod(name)
            for c in pod.get("initContainers", []) + pod["containers"]:
                self.assertEqual(c["image"], IMAGE)
                self.assertEqual(c.get("imagePullPolicy"), "IfNotPresent",
                                 "%s: a :latest image loaded into the cluster "
                                 "must not be pulled" % c["name"])
                self.assertNotIn("command", c, "keep the image's entrypoint")
                self.assertEqual(c["args"], self.compose["services"][
                    {"seed": "seed"}.get(c["name"], name)]["command"])
            sc = pod["securityContext"]
            self.assertTrue(sc.get("runAsNonRoot"))
            user = Dockerfile(DOCKERFILE).last(Dockerfile(DOCKERFILE).stages[-1], "USER")
            self.assertEqual(str(sc.get("runAsUser")), user.split(":")[0])

    def test_seed_init_container(self):
        pod = self.pod("backend")
        init = pod["initContainers"]
        self.assertEqual([c["name"] for c in init], ["seed"])
        db = k8s_env(self.container("backend"))["SB_DB"]
        self.assertEqual(init[0]["args"], ["sb-seed", db])
        mounts = {m["name"]: m["mountPath"] for m in init[0]["volumeMounts"]}
        bmounts = {m["name"]: m["mountPath"]
                   for m in self.container("backend")["volumeMounts"]}
        vol = [n for n, p in mounts.items() if p == os.path.dirname(db)]
        self.assertEqual(len(vol), 1)
        self.assertEqual(bmounts.get(vol[0]), os.path.dirname(db))
        self.assertIn(vol[0], {v["name"] for v in pod["volumes"]})

    def test_probes(self):
        design = design_paths()
        b = self.container("backend")
        bport = hostport(k8s_env(b)["SB_LISTEN"])[1]
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = b[probe]["httpGet"]
            self.assertEqual(get["path"], path)
            self.assertEqual(named_port(b, get["port"]), bport)
            if design is not None:
                self.assertIn(path, design, "%s is not in DESIGN.md's API" % path)
        self.assertEqual(b["readinessProbe"]["httpGet"]["path"],
                         k8s_env(self.container("lb"))["SB_HEALTH_PATH"],
                         "the LB checks what Kubernetes checks")
        lb = self.container("lb")
        aport = hostport(k8s_env(lb)["SB_ADMIN"])[1]
        for probe in ("readinessProbe", "livenessProbe"):
            get = lb[probe]["httpGet"]
            # The path compose's healthcheck uses (ComposeTopology runs it
            # against a real sb-lb).
            self.assertEqual("http://127.0.0.1:%d%s" % (aport, get["path"]),
                             healthcheck_url(self.compose["services"]["lb"]))
            self.assertEqual(named_port(lb, get["port"]), aport)
        self.assertIn("readinessProbe", self.container("redis"))
        self.assertIn("livenessProbe", self.container("redis"))

    def test_lb_ports_agree_with_compose(self):
        lb = self.container("lb")
        env = k8s_env(lb)
        svc = self.obj("Service", "lb")
        ports = sorted(p["port"] for p in svc["spec"]["ports"])
        self.assertEqual(ports, sorted([hostport(env["SB_LISTEN"])[1],
                                        hostport(env["SB_ADMIN"])[1]]))
        self.assertEqual(ports, sorted(published(self.compose["services"]["lb"])))

    def test_readme(self):
        with open(os.path.join(K8S_DIR, "README.md")) as f:
            doc = f.read()
        for s in ("kind load docker-image switchboard:latest",
                  "kubectl apply -f deploy/k8s/", "Sentinel"):
            self.assertIn(s, doc)


if __name__ == "__main__":
    unittest.main()
