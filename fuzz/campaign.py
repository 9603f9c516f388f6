#!/usr/bin/env python3
"""Seeded, reproducible mutation campaign against the hwlabel binary (issue 12).

    python3 fuzz/campaign.py [--binary .build/debug/hwlabel] [--seed 1] [--count 300]
                             [--time-limit 5] [--budget S] [--jobs N] [--report FILE]
                             [--families sysfs,dump,config] [--only INDEX [--keep DIR]]

Every input is derived from (seed, index) alone, so one case reruns with `--only INDEX`
(add `--keep DIR` to leave the mutated input on disk and print the plain hwlabel command).
Three families of input:

  sysfs   a copy of a base tree (hwlabel-treegen output with vGPU files added, or a
          real capture in Tests/Fixtures/sysfs, symlinks kept) with one to three
          files, links or function directories mutated; `hwlabel inventory --sysfs-root`.
  dump    a base lspci -x dump (Tests/Fixtures/lspci, shared real dumps) with
          line-level mutations; `hwlabel inventory --pci-dump`.
  config  labels.conf, policy.conf or agent.conf in a temp --config-dir, over the generated
          tree; `label list`, `inventory`, `check`, `label suggest`, or `agent run` (started
          with --uevents off, stopped with SIGTERM once it wrote status.json).

Some runs use another read command (list, show, check) on the same input. Each run is
classified (worst first): crash, hang, undocumented-exit, invalid-json, schema-violation,
contract-violation, lost-good-function, silent-drop, silent-loss, secret-leak, ok — see
fuzz/README.md. Exit status: 0 no finding, 1 findings, 2 the campaign itself could not run.

Only Python's standard library and `jsonschema`. Nothing is written outside the work
directory (default under /dev/shm); every mutated path is resolved and checked to lie inside
its case directory before it is written, and the final path component is unlinked first, so
no write ever goes through a link. The real /sys and /dev are only ever read (by hwlabel).
"""

import argparse
import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import random
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")
SHARED_LSPCI = os.path.normpath(os.path.join(REPO, "..", "shared", "fixtures", "real", "lspci"))
SCHEMA = os.path.join(REPO, "schema", "inventory-1.0.schema.json")
GEN_TREE = os.path.join(REPO, ".build", "debug", "hwlabel-treegen")   # built by `swift build`

FAMILIES = ["sysfs", "dump", "config"]
FAMILY_WEIGHTS = [50, 30, 20]
# Worst first: a run's primary class is the first of these it shows.
CLASSES = ["crash", "hang", "undocumented-exit", "invalid-json", "schema-violation",
           "contract-violation", "lost-good-function", "silent-drop", "silent-loss",
           "secret-leak"]
ALL_CLASSES = CLASSES + ["ok"]

CRASH_RE = re.compile(r"Fatal error|Program crashed|Illegal instruction|Segmentation fault|"
                      r"Fatal access conflict|Aborted \(core|terminate called|Simultaneous accesses")

HUGE = ["inf", "-inf", "nan", "1e19", "1e300", "-1e300", "9223372036854775807",
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "-1",
        "-9223372036854775809", "99999999999999999999", "0x7fffffffffffffff", "1e-320",
        "4294967296"]
HUGE_HEX = ["10000000000000000", "ffffffffffffffff", "7fffffffffffffff", "1ffff", "-1", "inf",
            "99999999999999999999"]

# Fallback when a --help text names no exit codes (they are parsed from --help at start).
DEFAULT_EXITS = {"inventory": [0, 2, 3, 4], "list": [0, 2, 3], "show": [0, 1, 2, 3],
                 "check": [0, 1, 2, 3], "label list": [0, 1, 2, 3], "label suggest": [0, 2, 3],
                 "agent run": [0, 1, 2]}
COMMAND_PARENTS = {"label list": "label", "label suggest": "label", "agent run": "agent"}

BDF_RE = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")

# Attributes the probe reads; a mutation may create one that the base tree lacks.
INTERESTING = ["numa_node", "uevent", "resource", "reset_method", "current_link_speed",
               "max_link_speed", "current_link_width", "max_link_width", "config", "vendor",
               "device", "class", "revision", "subsystem_vendor", "subsystem_device",
               "sriov_totalvfs", "sriov_numvfs", "sriov_vf_device", "boot_vga",
               "driver_override", "local_cpulist", "label", "mem_info_vram_total", "irq",
               "enable"]
# How often each is picked when a mutation aims at what the probe reads (numbers it converts,
# files it parses, files whose absence changes the path it takes).
INTERESTING_W = [(n, {"current_link_speed": 5, "max_link_speed": 5, "numa_node": 3, "uevent": 3,
                      "resource": 3, "reset_method": 3, "config": 3, "vendor": 2, "device": 2,
                      "class": 2, "sriov_totalvfs": 2, "sriov_numvfs": 2}.get(n, 1))
                 for n in INTERESTING]
LINK_ATTRS = ["driver", "iommu_group", "physfn", "iommu", "subsystem", "firmware_node"]
HEX_ID_FILES = {"vendor", "device", "class", "subsystem_vendor", "subsystem_device",
                "revision", "sriov_vf_device"}
NUMERIC_FILES = {"numa_node", "current_link_width", "max_link_width", "sriov_totalvfs",
                 "sriov_numvfs", "boot_vga", "irq", "enable", "mem_info_vram_total",
                 "sriov_offset", "sriov_stride", "nvidia/current_vgpu_type",
                 "mdev/available_instances"}

FILE_OPS = [("garbage", 14), ("huge", 14), ("empty", 8), ("crlf", 6), ("nul", 8),
            ("truncate", 8), ("oversize", 5), ("fifo", 5), ("dir", 4), ("dangling-link", 4),
            ("loop-link", 3), ("delete", 8), ("devzero", 2), ("chmod000", 2)]
LINK_OPS = [("dangling-link", 14), ("loop-link", 10), ("delete", 12), ("fifo", 6), ("dir", 6),
            ("to-file", 10), ("retarget-self", 8), ("retarget-other", 10),
            ("retarget-file", 6), ("devzero", 3)]
FUNC_OPS = [("vanish", 10), ("vanish-link", 4), ("devices-link-dangling", 3),
            ("devices-link-loop", 2)]
BOGUS_OPS = [("bogus-file", 3), ("bogus-fifo", 3), ("bogus-dir", 3), ("bogus-dangling", 3),
             ("bogus-loop", 2), ("bogus-valid-name-dangling", 3), ("bogus-valid-name-fifo", 2)]

DUMP_OPS = [("crlf", 8), ("crlf-block", 4), ("dup-block", 8), ("bad-device", 6),
            ("bad-function", 6), ("bad-bus", 3), ("huge-domain", 3), ("nul-text", 7),
            ("nul-hex", 4), ("truncate-hex", 7), ("drop-hex", 4), ("bad-hex-byte", 5),
            ("trailing-garbage", 5), ("garbage-line", 5), ("long-line", 5),
            ("long-hex-line", 3), ("no-final-newline", 5), ("bom", 3), ("shuffle", 4),
            ("many-blocks", 2), ("blank-lines", 3), ("fifo", 2), ("dir", 1), ("devzero", 1),
            ("empty", 1), ("dangling-link", 1)]

CONF_OPS = [("crlf", 12), ("fifo", 6), ("devzero", 3), ("devurandom", 2), ("huge-rules", 2),
            ("huge-garbage", 2), ("huge-comment", 1), ("garbage", 10), ("nul", 8),
            ("conflict", 6), ("dir", 3), ("dangling-link", 3), ("loop-link", 3), ("empty", 3),
            ("bom", 3), ("long-line", 3), ("cr-only", 3), ("huge-number", 8)]
AGENT_OPS = [("crlf", 12), ("fifo", 5), ("devzero", 2), ("garbage", 8), ("nul", 6),
             ("huge-duration", 14), ("huge-int", 6), ("unknown-key", 3), ("dir", 2),
             ("dangling-link", 2), ("loop-link", 2), ("empty", 3), ("bom", 2),
             ("long-line", 2), ("token-newline", 6), ("token-ok", 4), ("token-fifo", 3),
             ("token-control", 3)]
AGENT_DURATION_KEYS = [("agent", "resync-interval"), ("agent", "debounce"),
                       ("controller", "timeout"), ("nfd", "expiry")]

LABELS_BASE = """# fleet GPUs (hwlabel fuzz base)
device 0000:01:00.0 = Spare VGA
rule vendor=10de device=1eb8 = Turing GPU
rule vendor=10de device=2330 subsystem=10de:16c1 = Hopper GPU
rule vendor=8086 class=0200 = Intel NIC
"""
POLICY_BASE = """# hwlabel policy (fuzz base)
include class=0880
exclude address=0000:04:00.0
exclude device=8086:1533
allowNestedWithPassthrough = false
"""
AGENT_BASE = """# hwlabel agent (fuzz base)
[agent]
resync-interval = 600
debounce = 200ms

[file]
path = {state}/fuzz-report.json

[nfd]
dir = {state}/nfd
expiry = 1h
"""
AGENT_CONTROLLER = """
[controller]
url = http://127.0.0.1:9/v1/hwlabel/reports
token-file = {cfg}/controller-token
timeout = 1
max-attempts = 1
"""
SECRET = "FUZZSECRET-7d1c0e9b44a2"


def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for name, w in pairs:
        x -= w
        if x <= 0:
            return name
    return pairs[-1][0]


def case_rng(seed, index, what="case"):
    return random.Random(f"hwlabel-fuzz:{seed}:{index}:{what}")


# ------------------------------------------------------------------ file-system safety

class Unsafe(Exception):
    pass


def safe_path(root, rel):
    """`root/rel` with its parent resolved; refuses anything whose parent is outside root."""
    root_real = os.path.realpath(root)
    p = os.path.join(root, rel)
    parent = os.path.realpath(os.path.dirname(p))
    if parent != root_real and not parent.startswith(root_real + os.sep):
        raise Unsafe(f"{rel}: parent resolves outside the case directory ({parent})")
    return os.path.join(parent, os.path.basename(p))


def remove_entry(p, root):
    """Removes a file, link, FIFO or (real) directory at p, never following a final link."""
    if os.path.islink(p) or (os.path.lexists(p) and not os.path.isdir(p)):
        os.unlink(p)
    elif os.path.isdir(p):
        real = os.path.realpath(p)
        root_real = os.path.realpath(root)
        if not real.startswith(root_real + os.sep):
            raise Unsafe(f"{p}: directory outside the case directory")
        shutil.rmtree(p)


def read_regular(p):
    try:
        if os.path.islink(p) or not os.path.isfile(p):
            return b""
        with open(p, "rb") as f:
            return f.read(1 << 22)
    except OSError:
        return b""


def slurp(p, limit=None):
    with open(p, "rb") as f:
        return f.read() if limit is None else f.read(limit)


def link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_new(p, data):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


# ------------------------------------------------------------------ sysfs bases

def scan_tree(name, root):
    """Structure of a base tree: function dirs, their entries, groups, proc files."""
    devdir = os.path.join(root, "sys", "bus", "pci", "devices")
    root_real = os.path.realpath(root)
    funcs = {}
    for bdf in sorted(os.listdir(devdir)):
        real = os.path.realpath(os.path.join(devdir, bdf))
        if not real.startswith(root_real + os.sep) or not os.path.isdir(real):
            continue
        funcs[bdf] = {"dir": os.path.relpath(real, root_real)}
    for bdf, f in funcs.items():
        d = os.path.join(root_real, f["dir"])
        entries, subs = [], []
        for e in sorted(os.listdir(d)):
            p = os.path.join(d, e)
            if os.path.islink(p):
                entries.append([e, "link"])
            elif os.path.isdir(p):
                if BDF_RE.match(e):
                    continue
                if e == "mdev_supported_types":
                    for t in sorted(os.listdir(p)):
                        for leaf in sorted(os.listdir(os.path.join(p, t))):
                            if os.path.isfile(os.path.join(p, t, leaf)):
                                subs.append(f"{e}/{t}/{leaf}")
                elif e in ("nvidia", "iommu_group"):
                    for leaf in sorted(os.listdir(p)):
                        if os.path.isfile(os.path.join(p, leaf)):
                            subs.append(f"{e}/{leaf}")
            elif os.path.isfile(p) and not e.startswith("."):
                entries.append([e, "file"])
        f["entries"] = entries
        f["subs"] = subs
    for bdf, f in funcs.items():
        pre = f["dir"] + os.sep
        f["children"] = sorted(a for a, g in funcs.items() if g["dir"].startswith(pre))
    groups = []
    gdir = os.path.join(root, "sys", "kernel", "iommu_groups")
    if os.path.isdir(gdir):
        for g in sorted(os.listdir(gdir), key=lambda s: (len(s), s)):
            if os.path.isfile(os.path.join(gdir, g, "type")):
                groups.append(f"sys/kernel/iommu_groups/{g}/type")
    proc = []
    pdir = os.path.join(root, "proc")
    if os.path.isdir(pdir) and not os.path.islink(pdir):
        for dp, dns, fns in os.walk(pdir):
            dns.sort()
            for fn in sorted(fns):
                p = os.path.join(dp, fn)
                if os.path.isfile(p) and not os.path.islink(p):
                    proc.append(os.path.relpath(p, root))
    return {"name": name, "root": root, "funcs": funcs, "groups": groups, "proc": proc,
            "has_proc": os.path.isdir(pdir)}


def decorate_gen_tree(root):
    """Adds vGPU files to the generated tree: mdev types on the first T4, NVIDIA SR-IOV vGPU
    files on the first H100 (what docs/modes.md reads), so mutations reach those readers."""
    devdir = os.path.join(root, "sys", "bus", "pci", "devices")

    def ids(bdf):
        d = os.path.join(devdir, bdf)
        try:
            return (slurp(os.path.join(d, "vendor")).decode().strip(),
                    slurp(os.path.join(d, "device")).decode().strip())
        except OSError:
            return (None, None)

    t4 = next((b for b in sorted(os.listdir(devdir)) if ids(b) == ("0x10de", "0x1eb8")), None)
    h100 = next((b for b in sorted(os.listdir(devdir)) if ids(b) == ("0x10de", "0x2330")), None)
    if t4:
        d = os.path.realpath(os.path.join(devdir, t4))
        for tid, name, fb, n in [("nvidia-222", "GRID T4-1Q", "1024M", 16),
                                 ("nvidia-223", "GRID T4-2Q", "2048M", 8)]:
            t = os.path.join(d, "mdev_supported_types", tid)
            os.makedirs(os.path.join(t, "devices"), exist_ok=True)
            for leaf, text in [("name", name), ("available_instances", str(n)),
                               ("device_api", "vfio-pci"),
                               ("description", f"num_heads=4, frl_config=60, framebuffer={fb}, "
                                               f"max_resolution=5120x2880, max_instance={n}")]:
                with open(os.path.join(t, leaf), "w") as f:
                    f.write(text + "\n")
        cls = os.path.join(root, "sys", "class", "mdev_bus")
        os.makedirs(cls, exist_ok=True)
        os.symlink(os.path.relpath(d, cls), os.path.join(cls, t4))
    if h100:
        d = os.path.realpath(os.path.join(devdir, h100))
        os.makedirs(os.path.join(d, "nvidia"), exist_ok=True)
        with open(os.path.join(d, "nvidia", "creatable_vgpu_types"), "w") as f:
            f.write("ID    : vGPU Name\n1100  : NVIDIA H100-1-10C\n1101  : NVIDIA H100-2-20C\n")
        with open(os.path.join(d, "nvidia", "current_vgpu_type"), "w") as f:
            f.write("0\n")
    return t4, h100


# ------------------------------------------------------------------ sysfs case generation

def tree_file_kind(rel_in_func):
    if re.match(r"^virtfn\d+$", rel_in_func):
        return "virtfnN"
    if rel_in_func.startswith("mdev_supported_types/"):
        return "mdev/" + rel_in_func.rsplit("/", 1)[-1]
    return rel_in_func


def file_ops_for(fkind):
    """FILE_OPS, with `huge` made likelier where the reader converts a number."""
    leaf = fkind.rsplit("/", 1)[-1]
    numeric = (leaf in HEX_ID_FILES or fkind in NUMERIC_FILES or leaf in NUMERIC_FILES or
               leaf in ("current_link_speed", "max_link_speed", "resource", "uevent",
                        "local_cpulist", "creatable_vgpu_types", "description",
                        "available_instances", "meminfo", "cpuinfo"))
    return [(op, 26 if numeric and op == "huge" else w) for op, w in FILE_OPS]


def gen_tree_mutation(rng, base, funcs_list):
    r = rng.random()
    addr = rng.choice(funcs_list)
    f = base["funcs"][addr]
    links = [e for e, t in f["entries"] if t == "link"]
    if r < 0.72 or (r >= 0.97 and not base["proc"]) or (0.87 <= r < 0.93 and not base["groups"]):
        # an attribute of one function
        s = rng.random()
        files = [e for e, t in f["entries"] if t == "file"]
        if s < 0.15 and f["subs"]:
            rel = rng.choice(f["subs"])
        elif s < 0.50 and f["entries"]:
            rel = rng.choice([e for e, _ in f["entries"]])
        else:
            rel = weighted(rng, INTERESTING_W)
        if rel in links:
            op = weighted(rng, LINK_OPS)
        else:
            op = weighted(rng, file_ops_for(tree_file_kind(rel)))
        m = {"op": op, "target": f["dir"] + "/" + rel, "addr": addr,
             "file_kind": tree_file_kind(rel)}
        if op == "huge":
            m["value"] = rng.choice(HUGE)
            m["hex"] = rng.choice(HUGE_HEX)
        aux = []
        if rel in ("current_link_speed", "max_link_speed") and "config" in files \
                and rng.random() < 0.7:
            # sysfs link files are read only where config space gave no link: cut it to the
            # 64 bytes a non-root reader sees.
            aux.append({"op": "truncate", "value": 64, "target": f["dir"] + "/config",
                        "addr": addr, "file_kind": "config", "aux": True})
        return [m] + aux, {addr}, set()
    if r < 0.80:
        cands = [e for e in links if e in LINK_ATTRS or e.startswith("virtfn")]
        rel = rng.choice(cands) if cands else rng.choice(["driver", "iommu_group", "physfn"])
        op = weighted(rng, LINK_OPS)
        return ([{"op": op, "target": f["dir"] + "/" + rel, "addr": addr,
                  "file_kind": tree_file_kind(rel)}], {addr}, set())
    if r < 0.87:
        op = weighted(rng, FUNC_OPS)
        m = {"op": op, "addr": addr, "file_kind": "function-dir"}
        if op == "vanish":
            m["target"] = f["dir"]
            gone = {addr} | set(f["children"])
        else:
            m["target"] = "sys/bus/pci/devices/" + addr
            m["file_kind"] = "devices-entry"
            gone = {addr}
        return [m], set(gone), set(gone)
    if r < 0.93:
        rel = rng.choice(base["groups"])
        op = weighted(rng, file_ops_for("iommu_group/type"))
        m = {"op": op, "target": rel, "addr": None, "file_kind": "iommu_group/type"}
        if op == "huge":
            m["value"], m["hex"] = rng.choice(HUGE), rng.choice(HUGE_HEX)
        return [m], set(), set()
    if r < 0.97:
        op = weighted(rng, BOGUS_OPS)
        if "valid-name" in op:
            name = "0000:%02x:%02x.%d" % (rng.randrange(0xf0, 0x100), rng.randrange(0x20),
                                          rng.randrange(8))
        else:
            name = rng.choice(["garbage", "0000:zz:00.0", "0000:00:1f", "00:02.0",
                               "0000:00:02.8", "0000:00:20.0", "\u00e9\u00e9", " "])
        return ([{"op": op, "target": "sys/bus/pci/devices/" + name, "addr": None,
                  "file_kind": "devices-entry"}], set(), set())
    rel = rng.choice(base["proc"])
    op = weighted(rng, file_ops_for(rel.split("/")[-1]))
    m = {"op": op, "target": rel, "addr": None,
         "file_kind": "proc/" + "/".join(rel.split("/")[1:2])}
    if op == "huge":
        m["value"], m["hex"] = rng.choice(HUGE), rng.choice(HUGE_HEX)
    return [m], set(), set()


def gen_tree_case(rng, bases):
    names = sorted(bases)
    # the generated tree carries every kind of file: weigh it like all captures together
    weights = [(n, len(names) - 1 if n == "gen" else 1) for n in names]
    bname = weighted(rng, weights)
    base = bases[bname]
    funcs_list = sorted(base["funcs"])
    nmut = weighted(rng, [(1, 75), (2, 20), (3, 5)])
    muts, touched, vanished = [], set(), set()
    for g in range(nmut):
        ms, t, v = gen_tree_mutation(rng, base, funcs_list)
        for m in ms:
            m["group"] = g
        muts += ms
        touched |= t
        vanished |= v
    cmd = weighted(rng, [("inventory", 85), ("list", 4), ("list --tree", 2), ("show", 3),
                         ("check", 3), ("label list", 3)])
    show_addr = rng.choice(funcs_list)
    return {"family": "sysfs", "base": bname, "mutations": muts, "command": cmd,
            "show": show_addr}


def huge_content(fkind, v, h):
    leaf = fkind.rsplit("/", 1)[-1]
    if leaf in ("current_link_speed", "max_link_speed"):
        return f"{v} GT/s PCIe\n"
    if leaf in HEX_ID_FILES:
        return f"0x{h}\n"
    if leaf == "uevent":
        return (f"DRIVER=x\nPCI_CLASS={h}\nPCI_ID={h}:{h}\nPCI_SUBSYS_ID={h}:{h}\n"
                f"PCI_SLOT_NAME=0000:00:00.0\nMODALIAS=pci:v{h}\n")
    if leaf == "resource":
        return "".join(f"0x{h} 0x0000000000000001 0x{h}\n" for _ in range(7))
    if leaf == "local_cpulist":
        return f"0-{v}\n"
    if leaf == "creatable_vgpu_types":
        return f"ID    : vGPU Name\n{v} : NVIDIA H100-{v}C\n"
    if leaf == "description":
        return f"num_heads=4, framebuffer={v}M, max_instance={v}\n"
    if leaf == "meminfo":
        return f"MemTotal:       {v} kB\nMemFree:        {v} kB\n"
    if leaf == "cpuinfo":
        return f"processor\t: {v}\nflags\t\t: vmx\ncpu MHz\t\t: {v}\n"
    return f"{v}\n"


def apply_file_op(root, m, crng):
    """Applies one sysfs/config mutation m to root (a case directory)."""
    op, rel = m["op"], m["target"]
    p = safe_path(root, rel)
    fkind = m.get("file_kind", "")
    old = read_regular(p)
    existed = os.path.lexists(p)
    parent = os.path.dirname(p)
    name = os.path.basename(p)
    if op in ("vanish",):
        remove_entry(p, root)
        return
    if op in ("bogus-file", "bogus-fifo", "bogus-dir", "bogus-dangling", "bogus-loop",
              "bogus-valid-name-dangling", "bogus-valid-name-fifo"):
        if existed:
            remove_entry(p, root)
        if op == "bogus-file":
            write_new(p, crng.randbytes(crng.randint(0, 40)))
        elif op in ("bogus-fifo", "bogus-valid-name-fifo"):
            os.mkfifo(p)
        elif op == "bogus-dir":
            os.mkdir(p)
        elif op == "bogus-loop":
            os.symlink(name, p)
        else:
            os.symlink("../../../devices/pci0000:00/nonexistent-fuzz/" + name, p)
        return
    if op == "vanish-link":
        remove_entry(p, root)
        return
    if op == "devices-link-dangling":
        remove_entry(p, root)
        os.symlink("../../../devices/pci0000:00/nonexistent-fuzz/" + name, p)
        return
    if op == "devices-link-loop":
        remove_entry(p, root)
        os.symlink(name, p)
        return
    os.makedirs(parent, exist_ok=True)
    if existed:
        remove_entry(p, root)
    if op == "garbage":
        if crng.random() < 0.5:
            data = crng.randbytes(crng.randint(1, 64))
        else:
            data = "".join(crng.choice("0123456789abcdefxX:.- \t\n,=") for _ in
                           range(crng.randint(1, 40))).encode()
        write_new(p, data)
    elif op == "huge":
        write_new(p, huge_content(fkind, m["value"], m["hex"]).encode())
    elif op == "empty":
        write_new(p, b"")
    elif op == "crlf":
        write_new(p, old.replace(b"\n", b"\r\n") if b"\n" in old else old + b"\r\n")
    elif op == "nul":
        if old and crng.random() < 0.7:
            i = crng.randint(0, len(old))
            write_new(p, old[:i] + b"\0" + old[i:])
        else:
            write_new(p, b"\0" * crng.randint(1, 8))
    elif op == "truncate":
        if "value" in m and m["value"] < len(old):
            n = m["value"]
        elif fkind == "config":
            n = crng.choice([0, 1, 63, 64, 65, 100, 255, 256, 257, 1000, 4095])
            n = min(n, max(len(old) - 1, 0))
        else:
            n = crng.randint(0, max(len(old) - 1, 0))
        write_new(p, old[:n])
    elif op == "oversize":
        if fkind == "config":
            n = crng.choice([4097, 4100, 8192, 65536, 1 << 20])
            write_new(p, old + bytes([0xff]) * max(n - len(old), 1))
        else:
            n = crng.choice([4096, 4097, 65536, 65537, 1 << 20])
            write_new(p, old.rstrip(b"\n") + b"7" * n + b"\n")
    elif op == "fifo":
        os.mkfifo(p)
    elif op == "dir":
        os.mkdir(p)
    elif op == "dangling-link":
        os.symlink("../nonexistent-fuzz/" + name, p)
    elif op == "loop-link":
        os.symlink(name, p)
    elif op == "delete":
        pass
    elif op == "devzero":
        os.symlink("/dev/zero", p)
    elif op == "chmod000":
        # a private copy (the base is hard-linked), then mode 000: moot when run as root,
        # which reads it anyway; as another user the read fails with EACCES
        write_new(p, old)
        os.chmod(p, 0)
    elif op == "to-file":
        write_new(p, crng.randbytes(crng.randint(0, 40)))
    elif op == "retarget-self":
        os.symlink(".", p)
    elif op == "retarget-file":
        os.symlink("vendor", p)
    elif op == "retarget-other":
        others = m.get("other") or "."
        os.symlink(others, p)
    else:
        raise ValueError(f"unknown op {op}")


def materialize_tree(case, bases, case_dir, subset=None):
    base = bases[case["base"]]
    dst = os.path.join(case_dir, "tree")
    # Hard links: every mutation unlinks its path before writing, so the base never changes.
    shutil.copytree(base["root"], dst, symlinks=True, copy_function=link_or_copy)
    funcs_list = sorted(base["funcs"])
    applied = []
    for k, m in enumerate(case["mutations"]):
        if subset is not None and m["group"] not in subset:
            continue
        # one content stream per mutation, so a mutation rerun alone writes the same bytes
        crng = random.Random(f"{case['cseed']}:{k}")
        m = dict(m)
        if m["op"] == "retarget-other":
            other = base["funcs"][crng.choice(funcs_list)]["dir"]
            m["other"] = os.path.relpath(os.path.join(dst, other),
                                         os.path.dirname(os.path.join(dst, m["target"])))
        try:
            apply_file_op(dst, m, crng)
            applied.append(m)
        except (Unsafe, OSError) as e:
            m["skipped"] = str(e)
            applied.append(m)
    return dst, applied


# ------------------------------------------------------------------ dumps

HDR_RE = re.compile(rb"^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])(?=[ \t\r\n]|$)")
HEX_RE = re.compile(rb"^[0-9a-fA-F]{2,3}:( [0-9a-fA-F]{2})+[ \t]*\r?\n?$")


def dump_blocks(data):
    lines = data.splitlines(keepends=True)
    starts = []
    for i, l in enumerate(lines):
        m = HDR_RE.match(l)
        if m:
            dom = (m.group(1) or b"0000").decode().lower()
            addr = "%s:%s:%s.%s" % (dom.rjust(4, "0"), m.group(2).decode().lower(),
                                    m.group(3).decode().lower(), m.group(4).decode())
            starts.append((i, addr))
    blocks = []
    for k, (i, addr) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        blocks.append({"start": i, "end": end, "addr": addr})
    return lines, blocks


def dump_bases():
    seen, out = set(), {}
    dirs = [os.path.join(FIXTURES, "lspci"), SHARED_LSPCI]
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for fn in sorted(os.listdir(d)):
            p = os.path.join(d, fn)
            if not os.path.isfile(p):
                continue
            h = hashlib.sha256(slurp(p)).hexdigest()
            if h in seen:
                continue
            seen.add(h)
            out[fn if fn not in out else "shared:" + fn] = p
    return out


def gen_dump_case(rng, dumps):
    name = rng.choice(sorted(dumps))
    op = weighted(rng, DUMP_OPS)
    cmd = weighted(rng, [("inventory", 85), ("list", 5), ("check", 5), ("show", 5)])
    return {"family": "dump", "base": name, "mutations": [{"op": op, "group": 0,
            "file_kind": "dump"}], "command": cmd}


def mutate_dump(data, op, crng):
    """Returns (new bytes, damaged block addresses or None for 'all', detail, file_kind)."""
    lines, blocks = dump_blocks(data)
    if not blocks:
        return data + b"\0garbage", None, "no blocks", "dump"
    b = crng.choice(blocks)
    blines = list(range(b["start"], b["end"]))
    hexl = [i for i in blines if HEX_RE.match(lines[i])]
    textl = [i for i in blines[1:] if lines[i][:1] in (b"\t", b" ") and not HEX_RE.match(lines[i])]
    kind_of = "text-line"
    damaged = {b["addr"]}
    if op == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), set(), "all lines", "line-ending"
    if op == "crlf-block":
        for i in blines:
            lines[i] = lines[i].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return b"".join(lines), set(), b["addr"], "line-ending"
    if op == "dup-block":
        chunk = lines[b["start"]:b["end"]]
        if chunk and not chunk[-1].endswith(b"\n"):
            chunk = chunk[:-1] + [chunk[-1] + b"\n"]
        if crng.random() < 0.5:
            new = lines[:b["end"]] + ([b"\n"] if lines[b["end"] - 1].strip() else []) + chunk + lines[b["end"]:]
        else:
            tail = lines[:]
            if tail and not tail[-1].endswith(b"\n"):
                tail[-1] += b"\n"
            new = tail + [b"\n"] + chunk
        return b"".join(new), set(), b["addr"], "block"
    if op in ("bad-device", "bad-function", "bad-bus", "huge-domain"):
        h = lines[b["start"]]
        m = HDR_RE.match(h)
        dom, bus, dev, fn = m.group(1), m.group(2), m.group(3), m.group(4)
        if op == "bad-device":
            dev = b"%02x" % crng.randrange(0x20, 0x100)
        elif op == "bad-function":
            fn = crng.choice([b"8", b"9", b"f"])
        elif op == "bad-bus":
            bus = crng.choice([b"zz", b"1", b"100", b"-1"])
        else:
            dom = crng.choice([b"100000000", b"ffffffff", b"fffffffff", b"0001"])
        new_hdr = (dom + b":" if dom else b"") + bus + b":" + dev + b"." + fn + h[m.end():]
        lines[b["start"]] = new_hdr
        return b"".join(lines), damaged, new_hdr[:20].decode("latin-1"), "header"
    if op == "nul-text":
        i = crng.choice(textl) if textl else b["start"]
        l = lines[i]
        j = crng.randint(1, max(1, len(l.rstrip(b"\r\n")) - 1))
        lines[i] = l[:j] + b"\0" + l[j:]
        return b"".join(lines), damaged, f"line {i + 1}", "text-line" if textl else "header"
    if op == "nul-hex":
        if not hexl:
            return data, damaged, "no hex line", "hex-line"
        i = crng.choice(hexl)
        l = lines[i]
        j = crng.randint(4, max(4, len(l.rstrip(b"\r\n")) - 1))
        lines[i] = l[:j] + b"\0" + l[j:]
        return b"".join(lines), damaged, f"line {i + 1}", "hex-line"
    if op in ("truncate-hex", "drop-hex", "bad-hex-byte", "long-hex-line"):
        if not hexl:
            return data, damaged, "no hex line", "hex-line"
        i = crng.choice(hexl)
        l = lines[i]
        body = l.rstrip(b"\r\n")
        nl = l[len(body):]
        if op == "truncate-hex":
            lines[i] = body[:crng.randint(3, max(3, len(body) - 1))] + nl
        elif op == "drop-hex":
            lines[i] = b""
        elif op == "bad-hex-byte":
            k = crng.randrange(len(body[4:]) // 3 or 1)
            pos = 4 + 3 * k + 1
            lines[i] = body[:pos] + crng.choice([b"zz", b"g1", b"1 ", b"-1", b"\xff\xfe"]) + body[pos + 2:] + nl
        else:
            lines[i] = body + b" 00" * crng.choice([16, 100, 4096, 40000]) + nl
        return b"".join(lines), damaged, f"line {i + 1}", "hex-line"
    if op == "trailing-garbage":
        tail = crng.randbytes(crng.randint(1, 200))
        last = blocks[-1]["addr"]
        return data + tail, {last}, "eof", "eof"
    if op == "garbage-line":
        g = "".join(crng.choice("0123456789abcdef: .xyz\t") for _ in range(crng.randint(1, 120)))
        i = crng.randint(b["start"] + 1, b["end"])
        lines.insert(i, g.encode() + b"\n")
        return b"".join(lines), damaged, f"line {i + 1}", "garbage-line"
    if op == "long-line":
        i = crng.choice(textl or blines)
        body = lines[i].rstrip(b"\r\n")
        n = crng.choice([251, 300, 4096, 70000, 1 << 20])
        lines[i] = body + b"A" * n + lines[i][len(body):]
        return b"".join(lines), damaged, f"line {i + 1}", "text-line" if textl else "header"
    if op == "no-final-newline":
        return data.rstrip(b"\r\n"), {blocks[-1]["addr"]}, "eof", "eof"
    if op == "bom":
        return b"\xef\xbb\xbf" + data, {blocks[0]["addr"]}, "bof", "bof"
    if op == "shuffle":
        order = list(range(len(blocks)))
        crng.shuffle(order)
        head = lines[:blocks[0]["start"]]
        chunks = []
        for k in order:
            c = lines[blocks[k]["start"]:blocks[k]["end"]]
            if c and not c[-1].endswith(b"\n"):
                c = c[:-1] + [c[-1] + b"\n"]
            if c and c[-1].strip():
                c = c + [b"\n"]
            chunks += c
        return b"".join(head + chunks), set(), "blocks", "block"
    if op == "many-blocks":
        chunk = lines[b["start"]:b["end"]]
        if chunk and not chunk[-1].endswith(b"\n"):
            chunk = chunk[:-1] + [chunk[-1] + b"\n"]
        m = HDR_RE.match(chunk[0])
        out = lines[:]
        if out and not out[-1].endswith(b"\n"):
            out[-1] += b"\n"
        used = {x["addr"] for x in blocks}
        # many functions, but at most ~1 MiB of copies: the debug binary reads a dump at about
        # 11 ms per function of a -vvvxxxx block, and the point is duplicates, not speed
        copies = max(8, min(crng.choice([64, 256, 1024]), (1 << 20) // max(1, len(b"".join(chunk)))))
        for n in range(copies):
            bus = b"%02x" % (n % 256)
            dev = b"%02x" % (n // 256 + 0x10)
            hdr = b"fffe:" + bus + b":" + dev + b".0" + chunk[0][m.end():]
            out += [b"\n", hdr] + chunk[1:]
        return b"".join(out), set(), f"{copies} copies in domain fffe", "block"
    if op == "blank-lines":
        if crng.random() < 0.5:
            return b"\n".join(l for l in data.split(b"\n") if l.strip() or False) + b"\n", set(), "removed", "blank-line"
        return data.replace(b"\n\n", b"\n\n\n\n\n"), set(), "added", "blank-line"
    raise ValueError(op)


def materialize_dump(case, dumps, case_dir, subset=None):
    src = dumps[case["base"]]
    dst = os.path.join(case_dir, "dump.lspci")
    m = dict(case["mutations"][0])
    op = m["op"]
    crng = random.Random(case["cseed"])
    data = slurp(src)
    damaged = None
    if subset is not None and 0 not in subset:
        write_new(dst, data)
        return dst, [], set()
    if op == "fifo":
        os.mkfifo(dst)
    elif op == "dir":
        os.mkdir(dst)
    elif op == "devzero":
        os.symlink("/dev/zero", dst)
    elif op == "dangling-link":
        os.symlink("nonexistent-fuzz.lspci", dst)
    elif op == "empty":
        write_new(dst, b"")
    else:
        new, damaged, detail, fkind = mutate_dump(data, op, crng)
        m["detail"], m["file_kind"] = detail, fkind
        write_new(dst, new)
    if op in ("fifo", "dir", "devzero", "dangling-link", "empty"):
        m["file_kind"] = "dump-file"
    return dst, [m], damaged


# ------------------------------------------------------------------ config files

def gen_config_case(rng):
    target = weighted(rng, [("labels.conf", 40), ("policy.conf", 30), ("agent.conf", 30)])
    if target == "agent.conf":
        op = weighted(rng, AGENT_OPS)
        cmd = "agent run"
    else:
        op = weighted(rng, CONF_OPS)
        cmd = weighted(rng, [("label list", 45), ("inventory", 35), ("check", 15),
                             ("label suggest", 5)])
    m = {"op": op, "group": 0, "target": target, "file_kind": target}
    if op in ("huge-number", "huge-duration", "huge-int"):
        m["value"] = rng.choice(HUGE)
    if op == "huge-duration":
        m["key"] = list(rng.choice(AGENT_DURATION_KEYS))
        m["unit"] = rng.choice(["", "", "s", "ms", "h"])
    return {"family": "config", "base": "gen", "mutations": [m], "command": cmd}


def config_text(target, state, cfg, controller=False):
    if target == "labels.conf":
        return LABELS_BASE
    if target == "policy.conf":
        return POLICY_BASE
    t = AGENT_BASE.format(state=state)
    if controller:
        t += AGENT_CONTROLLER.format(cfg=cfg)
    return t


def materialize_config(case, case_dir, subset=None):
    cfg = os.path.join(case_dir, "config")
    state = os.path.join(case_dir, "state")
    os.makedirs(cfg)
    os.makedirs(state)
    m = dict(case["mutations"][0])
    op, target = m["op"], m["target"]
    crng = random.Random(case["cseed"])
    controller = op.startswith("token-") or (op == "huge-duration" and m["key"][0] == "controller")
    texts = {"labels.conf": LABELS_BASE, "policy.conf": POLICY_BASE}
    if case["command"] == "agent run":
        texts["agent.conf"] = config_text("agent.conf", state, cfg, controller)
        if controller:
            write_new(os.path.join(cfg, "controller-token"), (SECRET + "\n").encode())
    for name, text in texts.items():
        if name != target:
            write_new(os.path.join(cfg, name), text.encode())
    if subset is not None and 0 not in subset:
        write_new(os.path.join(cfg, target), texts[target].encode())
        return cfg, state, []
    p = os.path.join(cfg, target)
    text = texts[target].encode()
    if op == "crlf":
        write_new(p, text.replace(b"\n", b"\r\n"))
    elif op == "cr-only":
        write_new(p, text.replace(b"\n", b"\r"))
    elif op == "fifo":
        os.mkfifo(p)
    elif op == "devzero":
        os.symlink("/dev/zero", p)
    elif op == "devurandom":
        os.symlink("/dev/urandom", p)
    elif op == "dir":
        os.mkdir(p)
    elif op == "dangling-link":
        os.symlink("nonexistent-fuzz.conf", p)
    elif op == "loop-link":
        os.symlink(target, p)
    elif op == "empty":
        write_new(p, b"")
    elif op == "bom":
        write_new(p, b"\xef\xbb\xbf" + text)
    elif op == "garbage":
        if crng.random() < 0.5:
            write_new(p, crng.randbytes(crng.randint(1, 200)))
        else:
            lines = text.split(b"\n")
            i = crng.randrange(len(lines))
            lines[i] = bytes(crng.choice(b"=#[]; \tabc0123:.\\\"") for _ in range(crng.randint(1, 60)))
            write_new(p, b"\n".join(lines))
    elif op == "nul":
        i = crng.randint(0, len(text))
        write_new(p, text[:i] + b"\0" + text[i:])
    elif op == "long-line":
        write_new(p, text + b"# " + b"x" * (1 << 20) + b"\n" + b"rule vendor=10de device=1eb8 = " + b"L" * 70000 + b"\n")
    elif op == "conflict":
        if target == "labels.conf":
            extra = crng.choice([b"rule vendor=10de device=1eb8 = Other GPU\n",
                                 b"rule vendor=10de = Any NVIDIA\n",
                                 b"device 0000:01:00.0 = Second Label\n",
                                 b"rule class=0200 = Any NIC\nrule vendor=8086 device=159b = E810\n"])
        else:
            extra = crng.choice([b"include address=0000:04:00.0\n", b"exclude class=02\ninclude class=0200\n",
                                 b"allowNestedWithPassthrough = true\n", b"include class=0604\n"])
        write_new(p, text + extra)
    elif op == "huge-number":
        v = m["value"].encode()
        if target == "labels.conf":
            extra = crng.choice([b"rule vendor=" + v + b" device=1eb8 = Big\n", b"device 0000:" + v + b":00.0 = Big\n",
                                 b"rule vendor=10de class=" + v + b" = Big\n"])
        else:
            extra = crng.choice([b"exclude class=" + v + b"\n", b"exclude address=" + v + b":00:00.0\n",
                                 b"allowNestedWithPassthrough = " + v + b"\n"])
        write_new(p, text + extra)
    elif op in ("huge-rules", "huge-garbage", "huge-comment"):
        size = 10 << 20
        with open(p, "wb") as f:
            f.write(text)
            n = 0
            if op == "huge-rules":
                i = 0
                while n < size:
                    if target == "labels.conf":
                        line = b"rule vendor=%04x device=%04x = L%d\n" % (i >> 16, i & 0xffff, i)
                    else:
                        line = b"exclude address=%04x:%02x:%02x.%d\n" % (i >> 13, (i >> 5) & 0xff, i & 0x1f, 0)
                    f.write(line)
                    n += len(line)
                    i += 1
            elif op == "huge-garbage":
                f.write(crng.randbytes(size))
            else:
                line = b"# " + b"c" * 78 + b"\n"
                f.write(line * (size // len(line)))
    elif op == "huge-duration":
        sec, key = m["key"]
        v = m["value"] + m["unit"]
        t = texts["agent.conf"]
        if f"[{sec}]" not in t:
            t += f"\n[{sec}]\n"
        lines, out, cur = t.split("\n"), [], None
        done = False
        for l in lines:
            if l.startswith("["):
                if cur == sec and not done:
                    out.append(f"{key} = {v}")
                    done = True
                cur = l.strip("[] ")
            if cur == sec and l.split("=")[0].strip() == key:
                l = f"{key} = {v}"
                done = True
            out.append(l)
        if not done:
            out.append(f"{key} = {v}")
        write_new(p, "\n".join(out).encode())
    elif op == "huge-int":
        t = texts["agent.conf"] + AGENT_CONTROLLER.format(cfg=cfg).replace("max-attempts = 1", "max-attempts = " + m["value"])
        write_new(p, t.encode())
        if not os.path.exists(os.path.join(cfg, "controller-token")):
            write_new(os.path.join(cfg, "controller-token"), (SECRET + "\n").encode())
    elif op == "unknown-key":
        write_new(p, text + crng.choice([b"[agent]\nresync = 5\n", b"[bogus]\nx = 1\n", b"[file]\npth = /tmp/x\n"]))
    elif op in ("token-newline", "token-ok", "token-fifo", "token-control"):
        write_new(p, text)
        tp = os.path.join(cfg, "controller-token")
        os.unlink(tp)
        if op == "token-newline":
            write_new(tp, (SECRET + "\nx\n").encode())
        elif op == "token-control":
            write_new(tp, (SECRET + crng.choice(["\r", "\x00", "\x1b[0m", "\x7f", " \tx"]) + "tail\n").encode())
        elif op == "token-ok":
            write_new(tp, (SECRET + "\n").encode())
        else:
            os.mkfifo(tp)
        m["file_kind"] = "controller-token"
    else:
        raise ValueError(op)
    return cfg, state, [m]


# ------------------------------------------------------------------ running hwlabel

class Ctx:
    """Per-process campaign state (set by the pool initializer)."""
    opts = None
    bases = None
    dumps = None
    exits = None
    validator = None
    cache = {}


def init_worker(opts, bases, dumps, exits, cache=None):
    Ctx.opts, Ctx.bases, Ctx.dumps, Ctx.exits = opts, bases, dumps, exits
    Ctx.cache = dict(cache or {})
    try:
        import jsonschema
        schema = json.loads(slurp(SCHEMA))
        cls = jsonschema.validators.validator_for(schema)
        Ctx.validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    except Exception as e:  # noqa: BLE001
        Ctx.validator = None
        Ctx.validator_error = str(e)


def child_limits(mem_mb):
    def f():
        if mem_mb:
            b = mem_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (b, b))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return f


def child_env():
    env = dict(os.environ)
    if not Ctx.opts["backtrace"]:
        env["SWIFT_BACKTRACE"] = "enable=no"
    for k in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(k, None)
    return env


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_cmd(argv, cwd, limit):
    out_p, err_p = os.path.join(cwd, ".stdout"), os.path.join(cwd, ".stderr")
    t0 = time.monotonic()
    with open(out_p, "wb") as fo, open(err_p, "wb") as fe:
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                             start_new_session=True, env=child_env(),
                             preexec_fn=child_limits(Ctx.opts["mem_limit_mb"]))
        # A timer rather than wait(timeout=): that one polls with sleeps of up to 50 ms.
        fired = []
        timer = threading.Timer(limit, lambda: (fired.append(1), kill_group(p)))
        timer.start()
        p.wait()
        timer.cancel()
        timed_out = bool(fired)
    elapsed = time.monotonic() - t0
    out, err = slurp(out_p), slurp(err_p)
    os.unlink(out_p)
    os.unlink(err_p)
    return {"rc": p.returncode, "stdout": out, "stderr": err, "elapsed": elapsed,
            "timed_out": timed_out, "note": f"no exit within {limit:g} s" if timed_out else ""}


def run_agent(argv, cwd, state, limit, settle):
    out_p, err_p = os.path.join(cwd, ".stdout"), os.path.join(cwd, ".stderr")
    t0 = time.monotonic()
    note = ""
    timed_out = False
    with open(out_p, "wb") as fo, open(err_p, "wb") as fe:
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                             start_new_session=True, env=child_env(),
                             preexec_fn=child_limits(Ctx.opts["mem_limit_mb"]))
        started = False
        while time.monotonic() - t0 < limit:
            if p.poll() is not None:
                break
            if os.path.exists(os.path.join(state, "status.json")):
                started = True
                break
            time.sleep(0.02)
        if p.poll() is None and started:
            time.sleep(settle)
        if p.poll() is None and started:
            p.send_signal(signal.SIGTERM)
            note = "stopped with SIGTERM after its first scan"
            try:
                p.wait(timeout=min(limit, 5))
            except subprocess.TimeoutExpired:
                timed_out = True
                note = "did not exit within 5 s of SIGTERM"
                kill_group(p)
        elif p.poll() is None:
            timed_out = True
            note = f"no status.json and no exit within {limit:g} s"
            kill_group(p)
        else:
            note = "exited by itself before SIGTERM"
    elapsed = time.monotonic() - t0
    out, err = slurp(out_p), slurp(err_p)
    os.unlink(out_p)
    os.unlink(err_p)
    return {"rc": p.returncode, "stdout": out, "stderr": err, "elapsed": elapsed,
            "timed_out": timed_out, "note": note}


def command_argv(case, source_args, cfg):
    b = Ctx.opts["binary"]
    cmd = case["command"]
    if cmd == "inventory":
        return [b, "inventory"] + source_args + ["--config-dir", cfg, "--format", "json"], True
    if cmd == "list":
        return [b, "list"] + source_args + ["--config-dir", cfg, "--format", "json"], True
    if cmd == "list --tree":
        return [b, "list", "--tree"] + source_args + ["--config-dir", cfg], False
    if cmd == "show":
        return [b, "show", case.get("show") or "0000:00:00.0"] + source_args + ["--config-dir", cfg, "--format", "json"], True
    if cmd == "check":
        return [b, "check"] + source_args + ["--config-dir", cfg, "--label", "Turing GPU", "--device", "8086:159b", "--format", "json"], True
    if cmd == "label list":
        return [b, "label", "list"] + source_args + ["--config-dir", cfg, "--format", "json"], True
    if cmd == "label suggest":
        return [b, "label", "suggest"] + source_args + ["--config-dir", cfg, "--format", "json"], True
    raise ValueError(cmd)


def exit_key(case):
    c = case["command"]
    return "list" if c == "list --tree" else c


def fatal_line(text):
    for l in text.splitlines():
        if CRASH_RE.search(l):
            return l.strip()[:240]
    return ""


def signame(rc):
    try:
        return signal.Signals(-rc).name if rc < 0 else signal.Signals(rc - 128).name
    except ValueError:
        return str(rc)


def addr_key(a):
    try:
        dom, bus, rest = a.split(":")
        dev, fn = rest.split(".")
        return (int(dom, 16), int(bus, 16), int(dev, 16), int(fn, 16))
    except (ValueError, AttributeError):
        return (1 << 40, 0, 0, 0)


def contract_problems(doc):
    probs = []
    funcs = [f.get("address") for f in doc.get("functions", []) if isinstance(f, dict)]
    dups = sorted({a for a in funcs if funcs.count(a) > 1}, key=str)
    if dups:
        probs.append(f"functions listed twice: {', '.join(map(str, dups[:4]))}")
    if funcs != sorted(funcs, key=lambda a: addr_key(str(a))):
        probs.append("functions not ordered by address")
    descs = [d for d in doc.get("descriptors", []) if isinstance(d, dict)]
    daddr = [d.get("address") for d in descs]
    if daddr != sorted(daddr, key=lambda a: addr_key(str(a))):
        probs.append("descriptors not ordered by address")
    ids = [json.dumps(d.get("instance"), sort_keys=True) for d in descs]
    dup_ids = sorted({i for i in ids if ids.count(i) > 1})
    if dup_ids:
        probs.append(f"descriptors share an instance id: {dup_ids[0][:80]}")
    missing = sorted({a for a in daddr if a not in set(funcs)}, key=str)
    if missing:
        probs.append(f"descriptor without a function: {', '.join(map(str, missing[:3]))}")
    if isinstance(doc.get("digest"), str):
        d = dict(doc)
        claimed = d.pop("digest")
        d.pop("generatedAt", None)
        canon = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if claimed != "sha256:" + hashlib.sha256(canon).hexdigest():
            probs.append("digest does not match the canonical JSON (recomputed in Python)")
    return probs


def canon(x):
    return json.dumps(x, sort_keys=True, separators=(",", ":"))


def schema_errors(doc, base_items=None):
    """Schema errors as (path, message). Items of functions/descriptors that are byte-equal to
    an item of the unmutated base run were valid there and are not validated again (the schema
    has no array-level keywords, so this gives the same verdict at a fraction of the cost)."""
    d, index = doc, {}
    if base_items and isinstance(doc, dict):
        d = dict(doc)
        for k in ("functions", "descriptors"):
            if isinstance(doc.get(k), list):
                keep = [(i, x) for i, x in enumerate(doc[k]) if canon(x) not in base_items]
                d[k] = [x for _, x in keep]
                index[k] = [i for i, _ in keep]
    out = []
    for e in sorted(Ctx.validator.iter_errors(d), key=lambda e: [str(x) for x in e.absolute_path]):
        path = list(e.absolute_path)
        if len(path) >= 2 and path[0] in index and isinstance(path[1], int):
            path[1] = index[path[0]][path[1]]
        out.append(("/".join(map(str, path)), e.message))
    return out


def warned(doc, addr):
    for w in doc.get("warnings", []) or []:
        if not isinstance(w, dict):
            continue
        if w.get("address") == addr or addr in str(w.get("path")) or addr in str(w.get("message")):
            return True
    return False


def base_inventory(key, argv, cwd):
    """The unmutated run for a base (cached per worker): its function addresses and output."""
    if key in Ctx.cache:
        return Ctx.cache[key]
    res = run_cmd(argv, cwd, max(Ctx.opts["time_limit"], 30))
    info = {"rc": res["rc"], "funcs": None, "doc": None, "items": None,
            "stderr": res["stderr"][-400:].decode("utf-8", "replace")}
    try:
        doc = json.loads(res["stdout"])
        info["doc"] = doc
        if isinstance(doc, dict) and isinstance(doc.get("functions"), list):
            info["funcs"] = [f.get("address") for f in doc["functions"]]
            if Ctx.validator is not None and not list(Ctx.validator.iter_errors(doc)):
                info["items"] = {canon(x) for k in ("functions", "descriptors") for x in doc.get(k) or []}
    except (ValueError, UnicodeDecodeError):
        pass
    Ctx.cache[key] = info
    return info


def classify(case, res, json_out, documented, extra):
    """Returns [(class, detail)] for one run; extra holds family-specific expectations."""
    found = []
    rc = res["rc"]
    err = res["stderr"].decode("utf-8", "replace")
    if res["timed_out"]:
        found.append(("hang", res["note"]))
        return found, None
    fl = fatal_line(err)
    if rc < 0 or rc >= 128 or fl:
        found.append(("crash", f"rc {rc} ({signame(rc)}) {fl}".strip()))
        return found, None
    if rc not in documented:
        last = err.strip().splitlines()[-1][:200] if err.strip() else ""
        found.append(("undocumented-exit", f"rc {rc}, documented {documented}: {last}"))
    doc = None
    if json_out:
        out = res["stdout"]
        if out.strip():
            try:
                doc = json.loads(out)
            except (ValueError, UnicodeDecodeError) as e:
                found.append(("invalid-json", f"rc {rc}: {str(e)[:160]}"))
        elif rc == 0:
            found.append(("invalid-json", "rc 0 and no output"))
    if doc is not None and extra.get("schema"):
        if Ctx.validator is not None:
            errs = schema_errors(doc, extra.get("base_items"))
            if errs:
                path, msg = errs[0]
                found.append(("schema-violation", f"{len(errs)} error(s); {path}: {msg[:160]}"))
        for p in contract_problems(doc):
            found.append(("contract-violation", p))
    if extra.get("base_funcs") is not None and rc in documented:
        base = extra["base_funcs"]
        touched = extra.get("touched")  # None: every function may go
        if touched is not None:
            out_funcs = set()
            if rc == 0 and isinstance(doc, dict):
                out_funcs = {f.get("address") for f in doc.get("functions", []) if isinstance(f, dict)}
            lost = sorted(set(base) - set(touched) - out_funcs, key=addr_key)
            if lost:
                why = "" if rc == 0 else f" (rc {rc}: {err.strip().splitlines()[-1][:140] if err.strip() else 'no message'})"
                found.append(("lost-good-function",
                              f"{len(lost)} of {len(base)} untouched functions missing, e.g. {', '.join(lost[:3])}{why}"))
            if rc == 0 and isinstance(doc, dict):
                silent = [a for a in sorted(set(touched) - set(extra.get("vanished", ())))
                          if a in base and a not in out_funcs and not warned(doc, a)]
                if silent:
                    found.append(("silent-drop", f"{', '.join(silent[:3])} missing and named in no warning"))
    return found, doc


def run_case(index, subset=None, keep=None):
    opts = Ctx.opts
    seed = opts["seed"]
    rng = case_rng(seed, index)
    family = weighted(rng, list(zip(FAMILIES, FAMILY_WEIGHTS)))
    if family == "sysfs":
        case = gen_tree_case(rng, Ctx.bases)
    elif family == "dump":
        case = gen_dump_case(rng, Ctx.dumps)
    else:
        case = gen_config_case(rng)
    case["index"] = index
    case["cseed"] = f"hwlabel-fuzz:{seed}:{index}:content"
    if family not in opts["families"]:
        return None
    case_dir = keep or tempfile.mkdtemp(prefix=f"case-{index}-", dir=opts["workdir"])
    os.makedirs(case_dir, exist_ok=True)
    cfg_empty = os.path.join(case_dir, "config")
    try:
        result = execute(case, case_dir, cfg_empty, subset, keep)
    finally:
        if not keep:
            shutil.rmtree(case_dir, ignore_errors=True)
    return result


def execute(case, case_dir, cfg_empty, subset, keep):
    opts = Ctx.opts
    family = case["family"]
    extra = {}
    agent = False
    if family == "sysfs":
        os.makedirs(cfg_empty, exist_ok=True)
        root, applied = materialize_tree(case, Ctx.bases, case_dir, subset)
        base = Ctx.bases[case["base"]]
        src = ["--sysfs-root", os.path.join(root, "sys")]
        bsrc = ["--sysfs-root", os.path.join(base["root"], "sys")]
        if base["has_proc"]:
            src += ["--proc-root", os.path.join(root, "proc")]
            bsrc += ["--proc-root", os.path.join(base["root"], "proc")]
        argv, json_out = command_argv(case, src, cfg_empty)
        if case["command"] == "inventory":
            binfo = base_inventory(("sysfs", case["base"]),
                                   command_argv(case, bsrc, cfg_empty)[0], case_dir)
            touched, vanished = set(), set()
            for m in applied:
                if m.get("addr"):
                    touched.add(m["addr"])
                if m["op"] in ("vanish", "vanish-link", "devices-link-dangling", "devices-link-loop"):
                    f = base["funcs"][m["addr"]]
                    gone = {m["addr"]} | (set(f["children"]) if m["op"] == "vanish" else set())
                    touched |= gone
                    vanished |= gone
            extra = {"schema": True, "base_funcs": binfo["funcs"], "touched": touched,
                     "vanished": vanished, "base_items": binfo["items"]}
    elif family == "dump":
        os.makedirs(cfg_empty, exist_ok=True)
        path, applied, damaged = materialize_dump(case, Ctx.dumps, case_dir, subset)
        argv, json_out = command_argv(case, ["--pci-dump", path], cfg_empty)
        if case["command"] == "show":
            binfo = base_inventory(("dump", case["base"]), command_argv(
                {"command": "inventory"}, ["--pci-dump", Ctx.dumps[case["base"]]], cfg_empty)[0], case_dir)
            funcs = binfo["funcs"] or ["0000:00:00.0"]
            argv[2] = funcs[0]
        if case["command"] == "inventory":
            binfo = base_inventory(("dump", case["base"]),
                                   command_argv(case, ["--pci-dump", Ctx.dumps[case["base"]]], cfg_empty)[0], case_dir)
            # a header mutation renames the function: its old address may go without a warning
            gone = damaged if applied and applied[0].get("file_kind") == "header" else set()
            extra = {"schema": True, "base_funcs": binfo["funcs"], "touched": damaged, "vanished": gone,
                     "base_items": binfo["items"]}
    else:
        hw = Ctx.opts["gen_root"]
        if keep:
            hw = os.path.join(case_dir, "hw")
            if not os.path.exists(hw):
                shutil.copytree(Ctx.opts["gen_root"], hw, symlinks=True)
        cfg, state, applied = materialize_config(case, case_dir, subset)
        sysroot = os.path.join(hw, "sys")
        if case["command"] == "agent run":
            agent = True
            argv = [opts["binary"], "agent", "run", "--config-dir", cfg, "--state-dir", state,
                    "--sysfs-root", sysroot, "--uevents", "off"]
            json_out = False
        else:
            argv, json_out = command_argv(case, ["--sysfs-root", sysroot], cfg)
            extra = {"schema": case["command"] == "inventory"}
    if agent:
        controller = os.path.exists(os.path.join(cfg, "controller-token")) or \
            os.path.lexists(os.path.join(cfg, "controller-token"))
        res = run_agent(argv, case_dir, state, opts["time_limit"], 1.5 if controller else 0.6)
    else:
        res = run_cmd(argv, case_dir, opts["time_limit"])
    documented = Ctx.exits.get(exit_key(case), DEFAULT_EXITS[exit_key(case)])
    found, doc = classify(case, res, json_out, documented, extra)
    if family == "config" and not res["timed_out"] and not any(c == "crash" for c, _ in found):
        found += config_checks(case, applied, res, doc, argv, case_dir, state if agent else None, cfg)
    direct = " ".join(shlex.quote(a) for a in argv).replace(case_dir, "$CASE")
    if family == "config" and not keep:
        direct = direct.replace(Ctx.opts["gen_root"], "$CASE/hw")
    classes = [c for c in CLASSES if any(c == k for k, _ in found)]
    return {"index": case["index"], "family": family, "base": case["base"],
            "command": case["command"], "mutations": [strip_mut(m) for m in applied],
            "classes": classes, "primary": classes[0] if classes else "ok",
            "details": [f"{c}: {d}" for c, d in found], "rc": res["rc"],
            "elapsed": round(res["elapsed"], 3), "note": res["note"],
            "stderr_tail": res["stderr"][-600:].decode("utf-8", "replace"),
            "direct": direct}


def strip_mut(m):
    return {k: v for k, v in m.items() if k not in ("other",)}


def config_checks(case, applied, res, doc, argv, case_dir, state, cfg):
    """silent-loss (a CRLF file must mean the same or be refused) and secret-leak."""
    found = []
    op = applied[0]["op"] if applied else None
    if state is not None:
        blobs = [res["stdout"], res["stderr"]]
        for dp, _, fns in os.walk(state):
            for fn in fns:
                p = os.path.join(dp, fn)
                if os.path.isfile(p) and not os.path.islink(p):
                    blobs.append(slurp(p, 1 << 22))
        if any(SECRET.encode() in b for b in blobs):
            where = "stdout/stderr" if any(SECRET.encode() in b for b in blobs[:2]) else "state dir"
            found.append(("secret-leak", f"token text appears in {where}"))
        if op == "crlf" and res["rc"] == 0:
            miss = [n for n in ("fuzz-report.json", "nfd/hwlabel")
                    if not os.path.exists(os.path.join(state, n))]
            if miss and Ctx.opts.get("agent_base_ok"):
                found.append(("silent-loss", f"CRLF agent.conf, exit 0, sink output missing: {', '.join(miss)}"))
        return found
    if op != "crlf" or res["rc"] == 2:
        return found
    # the same command over the unmutated config directory
    bdir = os.path.join(case_dir, "base-config")
    key = ("config", case["command"])
    if key not in Ctx.cache:
        os.makedirs(bdir, exist_ok=True)
        for n, t in (("labels.conf", LABELS_BASE), ("policy.conf", POLICY_BASE)):
            write_new(os.path.join(bdir, n), t.encode())
        bargv = [bdir if a == cfg else a for a in argv]
        r = run_cmd(bargv, case_dir, max(Ctx.opts["time_limit"], 30))
        try:
            bdoc = json.loads(r["stdout"])
        except ValueError:
            bdoc = None
        Ctx.cache[key] = (r["rc"], fingerprint(case["command"], bdoc))
        shutil.rmtree(bdir, ignore_errors=True)
    brc, bfp = Ctx.cache[key]
    fp = fingerprint(case["command"], doc)
    if res["rc"] != brc or fp != bfp:
        found.append(("silent-loss", f"CRLF {applied[0]['target']}: rc {res['rc']} (base {brc}), "
                                     f"result differs from the LF file and no error"))
    return found


def fingerprint(cmd, doc):
    if not isinstance(doc, dict):
        return None
    if cmd == "inventory":
        return sorted((d.get("address"), (d.get("label") or {}).get("name"))
                      for d in doc.get("descriptors", []) if isinstance(d, dict))
    if cmd == "label list":
        return sorted((d.get("key"), d.get("label")) for d in doc.get("definitions", []) if isinstance(d, dict))
    if cmd == "check":
        return (doc.get("fits"), sorted(str(d.get("address")) for d in doc.get("devices", []) if isinstance(d, dict)))
    return json.dumps(doc, sort_keys=True, default=str)[:100000]


def run_task(index):
    """Pool entry: runs one case and, for a multi-mutation finding, which mutation alone does it."""
    try:
        r = run_case(index)
    except Exception as e:  # noqa: BLE001 - a harness error must not stop the campaign
        return {"index": index, "family": "?", "primary": "harness-error", "classes": [],
                "details": [f"{type(e).__name__}: {e}"], "mutations": [], "elapsed": 0}
    if r is None:
        return None
    groups = sorted({m.get("group", 0) for m in r["mutations"]})
    r["culprit"] = groups if len(groups) <= 1 else None
    if r["primary"] != "ok" and len(groups) > 1 and Ctx.opts["minimize"]:
        for g in groups:
            s = run_case(index, subset={g})
            if s and s["primary"] == r["primary"]:
                r["culprit"] = [g]
                break
    return r


def finding_keys(r):
    muts = [m for m in r["mutations"] if not m.get("aux")]
    if r.get("culprit"):
        muts = [m for m in muts if m.get("group", 0) in r["culprit"]] or muts
    kind = "+".join(sorted({m["op"] for m in muts})) or "-"
    fkind = "+".join(sorted({str(m.get("file_kind")) for m in muts})) or "-"
    return [(c, kind, fkind) for c in r["classes"]]


# ------------------------------------------------------------------ campaign

def parse_exits(binary):
    exits = {}
    cache = {}

    def codes(words):
        if words not in cache:
            try:
                t = subprocess.run([binary] + list(words) + ["--help"], capture_output=True, text=True,
                                   timeout=30, env=dict(os.environ, SWIFT_BACKTRACE="enable=no")).stdout
            except (OSError, subprocess.TimeoutExpired):
                t = ""
            i = t.find("Exit codes")
            found = set()
            if i >= 0:
                para = t[i:].split("\n\n")[0]
                found = {int(x) for x in re.findall(r"(?<![\w.=])(\d)(?=\s+[a-z\"(])", para)}
            cache[words] = found
        return cache[words]

    for cmd in DEFAULT_EXITS:
        words = tuple(cmd.split())
        found = set(codes(words))
        if cmd in COMMAND_PARENTS:
            found |= codes(tuple(COMMAND_PARENTS[cmd].split()))
        exits[cmd] = sorted(found) if found else DEFAULT_EXITS[cmd]
    return exits


def prepare_bases(opts):
    bases = {}
    gen = os.path.join(opts["workdir"], "bases", "gen")
    os.makedirs(gen, exist_ok=True)
    subprocess.run([GEN_TREE, gen, str(opts["gen_functions"]), "--force"],
                   check=True, stdout=subprocess.DEVNULL)
    decorate_gen_tree(gen)
    bases["gen"] = scan_tree("gen", gen)
    sdir = os.path.join(FIXTURES, "sysfs")
    for name in sorted(os.listdir(sdir)):
        src = os.path.join(sdir, name)
        if os.path.isdir(os.path.join(src, "sys", "bus", "pci", "devices")):
            # a private copy on the work directory's file system, so cases can hard-link it
            root = os.path.join(opts["workdir"], "bases", name)
            shutil.copytree(src, root, symlinks=True)
            bases[name] = scan_tree(name, root)
    return bases, gen


def print_summary(results, ran_s, opts, out):
    fam = {f: {c: 0 for c in ALL_CLASSES} for f in FAMILIES}
    for r in results:
        if r["family"] in fam and r["primary"] in fam[r["family"]]:
            fam[r["family"]][r["primary"]] += 1
    short = {"undocumented-exit": "undoc-exit", "schema-violation": "schema",
             "contract-violation": "contract", "lost-good-function": "lost-good"}
    cols = ["runs"] + ALL_CLASSES
    hdr = f"{'family':8}" + "".join(f"{short.get(c, c):>13}" for c in cols)
    print(hdr, file=out)
    tot = {c: 0 for c in ALL_CLASSES}
    for f in FAMILIES:
        if f not in opts["families"]:
            continue
        n = sum(fam[f].values())
        print(f"{f:8}{n:>13}" + "".join(f"{fam[f][c]:>13}" for c in ALL_CLASSES), file=out)
        for c in ALL_CLASSES:
            tot[c] += fam[f][c]
    print(f"{'total':8}{sum(tot.values()):>13}" + "".join(f"{tot[c]:>13}" for c in ALL_CLASSES), file=out)
    return fam


def repro_cmd(opts, index):
    b = opts["binary_arg"]
    return (f"python3 fuzz/campaign.py --binary {shlex.quote(b)} --seed {opts['seed']} --only {index} "
            f"--time-limit {opts['time_limit']:g} --keep /tmp/hwlabel-fuzz-case-{index}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Classes: see fuzz/README.md.")
    ap.add_argument("--binary", default=os.path.join(REPO, ".build", "debug", "hwlabel"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--start", type=int, default=0, help="first index (default 0)")
    ap.add_argument("--only", type=int, action="append", help="run just this index (repeatable)")
    ap.add_argument("--keep", help="with one --only: build the input in this directory and keep it")
    ap.add_argument("--time-limit", type=float, default=5.0, help="seconds per run (a run past it is a hang)")
    ap.add_argument("--budget", type=float, default=None, help="overall seconds: no new run starts after it")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--report", help="write the JSON report here")
    ap.add_argument("--workdir", help="scratch directory (default: a new one under /dev/shm or $TMPDIR)")
    ap.add_argument("--gen-functions", type=int, default=40, help="functions in the generated base tree")
    ap.add_argument("--mem-limit-mb", type=int, default=3072, help="address-space limit per run (0: none)")
    ap.add_argument("--no-minimize", action="store_true", help="do not rerun multi-mutation findings one mutation at a time")
    ap.add_argument("--backtrace", action="store_true", help="keep Swift's crash backtracer on (slow: seconds per crash)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    binary = os.path.abspath(a.binary)
    if not os.access(binary, os.X_OK):
        print(f"campaign: no executable at {binary} (run `swift build`)", file=sys.stderr)
        return 2
    fams = [f for f in a.families.split(",") if f]
    bad = [f for f in fams if f not in FAMILIES]
    if bad:
        print(f"campaign: unknown family {bad}; families are {FAMILIES}", file=sys.stderr)
        return 2
    if a.keep and (not a.only or len(a.only) != 1):
        print("campaign: --keep needs exactly one --only INDEX", file=sys.stderr)
        return 2
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        print("campaign: python3 jsonschema is missing (scripts/setup.sh installs it)", file=sys.stderr)
        return 2
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    own_workdir = a.workdir is None
    workdir = a.workdir or tempfile.mkdtemp(prefix="hwlabel-fuzz-", dir=shm)
    os.makedirs(workdir, exist_ok=True)
    t_start = time.monotonic()
    opts = {"binary": binary, "binary_arg": a.binary, "seed": a.seed, "time_limit": a.time_limit,
            "families": fams, "workdir": workdir, "gen_functions": a.gen_functions,
            "mem_limit_mb": a.mem_limit_mb, "minimize": not a.no_minimize,
            "backtrace": a.backtrace}
    try:
        bases, gen_root = prepare_bases(opts)
        opts["gen_root"] = gen_root
        dumps = dump_bases()
        exits = parse_exits(binary)
        # Base checks in this process: every base must read cleanly, or nothing compares.
        init_worker(opts, bases, dumps, exits)
        base_problems = check_bases(opts, bases, workdir, fams)
        opts["agent_base_ok"] = Ctx.opts.get("agent_base_ok", False)
        if a.only:
            indices = a.only
        else:
            indices = list(range(a.start, a.start + a.count))
        results, stopped = [], None
        if a.keep:
            Ctx.opts = opts
            r = run_task_keep(a.only[0], os.path.abspath(a.keep))
            results = [r] if r else []
        else:
            ctx = multiprocessing.get_context("fork")
            with cf.ProcessPoolExecutor(max_workers=max(1, a.jobs), mp_context=ctx,
                                        initializer=init_worker,
                                        initargs=(opts, bases, dumps, exits, Ctx.cache)) as pool:
                pending = {}
                it = iter(indices)
                done_n = 0
                last_print = time.monotonic()
                while True:
                    while len(pending) < 2 * max(1, a.jobs):
                        if a.budget is not None and time.monotonic() - t_start > a.budget:
                            stopped = stopped or "budget"
                            break
                        try:
                            i = next(it)
                        except StopIteration:
                            break
                        pending[pool.submit(run_task, i)] = i
                    if not pending:
                        break
                    done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for fut in done:
                        pending.pop(fut)
                        r = fut.result()
                        done_n += 1
                        if r is not None:
                            results.append(r)
                            if r["primary"] != "ok" and not a.quiet:
                                print(f"  #{r['index']} {r['family']} {r['primary']}: "
                                      f"{short_muts(r)} | {r['details'][0][:150]}", file=sys.stderr)
                    if not a.quiet and time.monotonic() - last_print > 30:
                        last_print = time.monotonic()
                        print(f"campaign: {done_n}/{len(indices)} inputs, "
                              f"{time.monotonic() - t_start:.0f} s", file=sys.stderr)
        results.sort(key=lambda r: r["index"])
        elapsed = time.monotonic() - t_start
        return report(a, opts, exits, results, base_problems, elapsed, stopped, len(indices))
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def run_task_keep(index, keep):
    if os.path.exists(keep) and os.listdir(keep):
        shutil.rmtree(keep)
    r = run_case(index, keep=keep)
    if r is None:
        print(f"campaign: index {index} belongs to a family not selected", file=sys.stderr)
        return None
    print(json.dumps({k: r[k] for k in ("index", "family", "base", "command", "mutations", "classes",
                                        "details", "rc", "elapsed", "note")}, indent=1))
    print(f"\ninput kept in {keep}; rerun the binary on it with:\n  CASE={shlex.quote(keep)}; "
          f"SWIFT_BACKTRACE=enable=no {r['direct']}\n")
    if r["stderr_tail"].strip():
        print("stderr (tail):\n" + r["stderr_tail"])
    return r


def short_muts(r):
    return ", ".join(f"{m['op']}@{m.get('file_kind')}" + (f"={m['value']}" if "value" in m and not m.get("aux") else "")
                     for m in r["mutations"] if not m.get("aux")) or "-"


def check_bases(opts, bases, workdir, fams):
    """Runs every sysfs base and the agent base once; problems there are findings too."""
    problems = []
    cfg = os.path.join(workdir, "empty-config")
    os.makedirs(cfg, exist_ok=True)
    if "sysfs" in fams:
        for name, b in sorted(bases.items()):
            src = ["--sysfs-root", os.path.join(b["root"], "sys")]
            if b["has_proc"]:
                src += ["--proc-root", os.path.join(b["root"], "proc")]
            argv = command_argv({"command": "inventory"}, src, cfg)[0]
            info = base_inventory(("sysfs", name), argv, workdir)
            if info["rc"] != 0 or info["funcs"] is None:
                problems.append(f"base tree {name}: rc {info['rc']}, no functions: {info['stderr'][-200:]}")
            elif Ctx.validator is not None:
                errs = list(Ctx.validator.iter_errors(info["doc"]))
                cp = contract_problems(info["doc"])
                if errs or cp:
                    problems.append(f"base tree {name}: {len(errs)} schema error(s) {cp}")
    if "config" in fams:
        case_dir = tempfile.mkdtemp(prefix="agent-base-", dir=workdir)
        cfgd, state = os.path.join(case_dir, "config"), os.path.join(case_dir, "state")
        os.makedirs(cfgd)
        os.makedirs(state)
        write_new(os.path.join(cfgd, "agent.conf"), AGENT_BASE.format(state=state).encode())
        argv = [opts["binary"], "agent", "run", "--config-dir", cfgd, "--state-dir", state,
                "--sysfs-root", os.path.join(opts["gen_root"], "sys"), "--uevents", "off"]
        r = run_agent(argv, case_dir, state, max(opts["time_limit"], 15), 0.6)
        ok = r["rc"] == 0 and all(os.path.exists(os.path.join(state, n)) for n in ("fuzz-report.json", "nfd/hwlabel"))
        Ctx.opts["agent_base_ok"] = ok
        if not ok:
            problems.append(f"base agent.conf: rc {r['rc']} ({r['note']}), sinks written: "
                            f"{[n for n in ('fuzz-report.json', 'nfd/hwlabel') if os.path.exists(os.path.join(state, n))]}")
        shutil.rmtree(case_dir, ignore_errors=True)
    return problems


def report(a, opts, exits, results, base_problems, elapsed, stopped, planned):
    out = sys.stdout
    print(f"\nhwlabel fuzz campaign: seed {a.seed}, {len(results)} runs of {planned} planned "
          f"in {elapsed:.0f} s ({a.jobs} jobs, {a.time_limit:g} s per run){'; stopped by --budget' if stopped else ''}",
          file=out)
    print(f"binary {opts['binary']}", file=out)
    fam = print_summary(results, elapsed, opts, out)
    harness = [r for r in results if r["primary"] == "harness-error"]
    findings = [r for r in results if r["primary"] not in ("ok", "harness-error")]
    distinct = {}
    for r in findings:
        for key in finding_keys(r):
            d = distinct.setdefault(key, {"class": key[0], "mutation": key[1], "file_kind": key[2],
                                          "count": 0, "first_index": r["index"], "family": r["family"],
                                          "detail": next((x for x in r["details"] if x.startswith(key[0] + ":")), ""),
                                          "repro": repro_cmd(opts, r["index"]), "direct": r["direct"]})
            d["count"] += 1
    if base_problems:
        print("\nbase problems (unmutated inputs):", file=out)
        for p in base_problems:
            print("  " + p, file=out)
    if harness:
        print(f"\nharness errors: {len(harness)} (first: #{harness[0]['index']} {harness[0]['details'][0]})", file=out)
    if distinct:
        print(f"\n{len(distinct)} distinct findings (class / mutation / file kind), {len(findings)} runs:", file=out)
        order = sorted(distinct.values(), key=lambda d: (CLASSES.index(d["class"]), d["family"], d["file_kind"], d["mutation"]))
        for d in order:
            print(f"- {d['class']} / {d['mutation']} / {d['file_kind']} ({d['family']}, {d['count']}x): "
                  f"{d['detail'][len(d['class']) + 2:][:200]}", file=out)
            print(f"    {d['repro']}", file=out)
    else:
        print("\nno findings", file=out)
    if a.report:
        rep = {"seed": a.seed, "count": planned, "ran": len(results), "start": a.start,
               "elapsed_s": round(elapsed, 1), "jobs": a.jobs, "time_limit_s": a.time_limit,
               "stopped": stopped, "binary": opts["binary"], "families": opts["families"],
               "documented_exit_codes": exits,
               "summary": {f: fam[f] for f in opts["families"]},
               "base_problems": base_problems,
               "harness_errors": harness,
               "distinct": sorted(distinct.values(), key=lambda d: (CLASSES.index(d["class"]), d["mutation"])),
               "findings": [dict(r, repro=repro_cmd(opts, r["index"])) for r in findings],
               "runs": [[r["index"], r["family"], r["primary"], r.get("command"), short_muts(r)]
                        for r in results]}
        tmp = a.report + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rep, f, indent=1, sort_keys=True)
        os.replace(tmp, a.report)
        print(f"\nreport: {a.report}", file=out)
    if harness or base_problems:
        return 1 if findings or base_problems else 2
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
