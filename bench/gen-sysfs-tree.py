#!/usr/bin/env python3
"""Write a synthetic, kernel-shaped sysfs tree with N PCI functions.

    gen-sysfs-tree.py OUTDIR N [--force] [--jobs=J]

--force replaces an existing OUTDIR/sys; --jobs sets the number of writer
processes (default: the number of CPUs). Generate on tmpfs (e.g. /dev/shm)
for speed: 10,000 functions are ~330k files and links, a few seconds on
tmpfs but minutes on a busy ext4 disk.
Creates OUTDIR/sys/ the way Linux lays it out: real directories under
sys/devices/pciDDDD:BB/... and symlinks sys/bus/pci/devices/<DDDD:BB:DD.F> ->
../../../devices/..., with driver, iommu_group, iommu, subsystem, physfn and
virtfnN links, sys/kernel/iommu_groups/<n>/devices/<BDF> back-links,
sys/bus/pci/drivers/<name>/<BDF> back-links, sys/bus/pci/slots/<n>/address,
sys/class/iommu/dmarN -> ../../devices/virtual/iommu/dmarN, and for every
function a 4096-byte `config` with a valid type 0/1 header and capability
chains that lspci decodes without complaint. Read it with
`lspci -A linux-sysfs -O sysfs.path=OUTDIR/sys/bus/pci -vvv -nn -k -D`.

Topology (deterministic, no randomness):
  * PCI domains 0000, 0001, ...; each has 8 root buses (00, 20, ..., e0), each
    root bus one host bridge (8086:2020, RB:00.0) and up to 31 Sky Lake-E root
    ports (8086:2030-2033, class 060400, functions 0-3 of devices 01-08),
    each root port with its own secondary bus.
  * Behind the root ports, in a repeating pattern: Intel E810-XXV dual-port
    NICs (8086:159b PFs with SR-IOV, ARI and ACS; VFs 8086:1889 with
    `physfn`, PF `virtfnN`), NVIDIA T4 (10de:1eb8, class 030200), NVIDIA
    H100 SXM5 (10de:2330) with an HDA function at .1 (class 040300; the H100
    has no audio function in reality, the companion is here to exercise
    GPU+audio multi-function devices, using the AD102 HDA ID 10de:22ba),
    NVMe drives (class 010802, Samsung PM173X / Intel D7-P5510). The very
    first slot holds an ASPEED BMC VGA (1a03:2000, class 030000, boot_vga).
  * Root ports have ACS and each gets its own IOMMU group; endpoint functions
    get their own group too, except GPU + HDA, which share one (no ACS on
    the GPU), as on real hosts.
  * Device Serial Numbers are unique per physical card; the two PFs of one
    NIC share their card's DSN (as multi-port NICs report it).
  * Two NUMA nodes per domain (root buses 00-60 on node 0, 80-e0 on node 1).

Prints one summary line on success and nothing else.
"""

import os
import shutil
import sys
import time

# ---------------------------------------------------------------- constants

CFG_SIZE = 4096
BUSES_PER_ROOT_BUS = 32                 # root buses at 0x00, 0x20, ... 0xe0
ROOT_BUSES_PER_DOMAIN = 256 // BUSES_PER_ROOT_BUS
PORTS_PER_ROOT_BUS = BUSES_PER_ROOT_BUS - 1

SPEED_NAMES = {1: "2.5 GT/s PCIe", 2: "5.0 GT/s PCIe", 3: "8.0 GT/s PCIe",
               4: "16.0 GT/s PCIe", 5: "32.0 GT/s PCIe"}

# PCIe port types (PCI Express capability register bits 7:4)
PT_ENDPOINT, PT_LEGACY, PT_ROOT_PORT, PT_RCIEP = 0x0, 0x1, 0x4, 0x9

# kernel resource flags (include/linux/ioport.h) | low PCI BAR bits
RF_MEM32 = 0x00040200
RF_MEM64 = 0x00140204
RF_MEM64_PREF = 0x0014220c
RF_BRIDGE_MEM = 0x00000200
RF_BRIDGE_PREF64 = 0x00102201

CPULIST = {0: "0-31,64-95", 1: "32-63,96-127"}

# name: (vendor, device, subsys vendor, subsys device, class, revision, driver)
MODELS = {
    "hostbridge": (0x8086, 0x2020, 0x8086, 0x0000, 0x060000, 0x04, None),
    "rootport":   (0x8086, 0x2030, 0x8086, 0x0000, 0x060400, 0x04, "pcieport"),
    "aspeed":     (0x1a03, 0x2000, 0x1a03, 0x2000, 0x030000, 0x41, "ast"),
    "t4":         (0x10de, 0x1eb8, 0x10de, 0x12a2, 0x030200, 0xa1, "nvidia"),
    "h100":       (0x10de, 0x2330, 0x10de, 0x16c1, 0x030200, 0xa1, "nvidia"),
    "hda":        (0x10de, 0x22ba, 0x10de, 0x16c1, 0x040300, 0xa1, "snd_hda_intel"),
    "e810":       (0x8086, 0x159b, 0x8086, 0x0003, 0x020000, 0x02, "ice"),
    "e810vf":     (0x8086, 0x1889, 0x8086, 0x0003, 0x020000, 0x02, "iavf"),
    "pm173x":     (0x144d, 0xa824, 0x144d, 0xa801, 0x010802, 0x00, "nvme"),
    "p5510":      (0x8086, 0x0b60, 0x8086, 0x8008, 0x010802, 0x00, "nvme"),
}
MODULE_OF_DRIVER = {"pcieport": None, "ast": "ast", "nvidia": "nvidia",
                    "snd_hda_intel": "snd_hda_intel", "ice": "ice",
                    "iavf": "iavf", "nvme": "nvme"}
MODULE_VERSION = {"nvidia": "550.54.15", "ice": "1.14.9"}

UNIT_PATTERN = ["t4", "nic", "nvme", "h100", "nic", "nvme", "t4", "nic"]
VF_PATTERN = [4, 8, 16, 0, 32, 8, 64, 24]       # VFs enabled per PF, cycled
PF_TOTAL_VFS = 64                               # per PF; 2 PFs fit one bus with ARI
VF_BAR0, VF_BAR3 = 128 << 10, 16 << 10


class GenError(Exception):
    pass


# ---------------------------------------------------------------- helpers

def put8(cfg, off, v):
    cfg[off] = v & 0xff


def put16(cfg, off, v):
    cfg[off:off + 2] = (v & 0xffff).to_bytes(2, "little")


def put32(cfg, off, v):
    cfg[off:off + 4] = (v & 0xffffffff).to_bytes(4, "little")


def align_up(v, a):
    return (v + a - 1) // a * a


class Pool:
    """Bump allocator for one address space (a domain's 32-bit or 64-bit MMIO)."""

    def __init__(self, start, end, what):
        self.next, self.end, self.what = start, end, what

    def take(self, size, align):
        base = align_up(self.next, align)
        if base + size - 1 > self.end:
            raise GenError(f"{self.what} MMIO pool exhausted")
        self.next = base + size
        return base


def place(pool, bars, gran):
    """Place (key, size) BARs largest first in one bridge window; return (bases, window)."""
    if not bars:
        return {}, None
    bars = sorted(bars, key=lambda kv: -kv[1])
    align = max(gran, bars[0][1])
    total = 0
    offs = {}
    for key, size in bars:
        total = align_up(total, size)
        offs[key] = total
        total += size
    total = align_up(total, gran)
    base = pool.take(total, align)
    return {k: base + o for k, o in offs.items()}, (base, base + total - 1)


# ---------------------------------------------------------------- config space

def cap_pm(cfg, off, nxt):
    put8(cfg, off, 0x01)
    put8(cfg, off + 1, nxt)
    put16(cfg, off + 2, 0xc803)          # v3, PME from D0/D3hot/D3cold
    put16(cfg, off + 4, 0x0008)          # D0, NoSoftRst+


def cap_msi(cfg, off, nxt):
    put8(cfg, off, 0x05)
    put8(cfg, off + 1, nxt)
    put16(cfg, off + 2, 0x0081)          # 64-bit, enabled, 1 vector
    put32(cfg, off + 4, 0xfee00000)
    put32(cfg, off + 8, 0)
    put16(cfg, off + 12, 0x0021)


def cap_ssvid(cfg, off, nxt, svid, sdid):
    put8(cfg, off, 0x0d)
    put8(cfg, off + 1, nxt)
    put16(cfg, off + 4, svid)
    put16(cfg, off + 6, sdid)


def cap_msix(cfg, off, nxt, vectors, enabled):
    put8(cfg, off, 0x11)
    put8(cfg, off + 1, nxt)
    put16(cfg, off + 2, (vectors - 1) | (0x8000 if enabled else 0))
    put32(cfg, off + 4, 0x00002000)      # table in BAR0 at 0x2000, PBA after it
    put32(cfg, off + 8, align_up(0x2000 + 16 * vectors, 0x1000))


def cap_pcie(cfg, off, nxt, f):
    ptype = f["ptype"]
    vf = f.get("vf", False)
    put8(cfg, off, 0x10)
    put8(cfg, off + 1, nxt)
    capreg = 0x2 | (ptype << 4)
    if ptype == PT_ROOT_PORT:
        capreg |= 0x0100                 # slot implemented
    put16(cfg, off + 2, capreg)
    if ptype == PT_ROOT_PORT:
        devcap = 0x00008001              # MPS 256, RBE
    else:
        devcap = 0x00008fe2              # MPS 512, ExtTag, L0s/L1 unlimited, RBE
        if f.get("flr"):
            devcap |= 1 << 28            # Function Level Reset
    put32(cfg, off + 4, devcap)
    put16(cfg, off + 8, 0x293f if ptype != PT_RCIEP else 0x2810)
    speed, width = f.get("link", (0, 0))
    if not vf and ptype != PT_RCIEP:
        lnkcap = speed | (width << 4) | (0x3 << 10) | (0x4 << 12) | (0x6 << 15)
        if ptype == PT_ROOT_PORT:
            lnkcap |= (1 << 19) | (1 << 20) | (1 << 21) | ((f["port"] & 0xff) << 24)
        put32(cfg, off + 0x0c, lnkcap)
        put16(cfg, off + 0x10, 0x0040)   # common clock
        lnksta = speed | (width << 4) | 0x1000
        if ptype == PT_ROOT_PORT:
            lnksta |= 0x2000             # data link layer active
        put16(cfg, off + 0x12, lnksta)
    if ptype == PT_ROOT_PORT:
        put32(cfg, off + 0x14, (f["slot"] << 19) | (75 << 7))   # slot #, 75 W
        put16(cfg, off + 0x1a, 0x0040 if f.get("occupied") else 0)  # presence
    devcap2 = 0x0000081f                 # completion timeout ranges, LTR
    if ptype == PT_ROOT_PORT:
        devcap2 |= 0x20                  # ARI forwarding supported
        put16(cfg, off + 0x28, 0x0020)   # ARI forwarding enabled
    put32(cfg, off + 0x24, devcap2)
    if not vf and ptype != PT_RCIEP:
        put32(cfg, off + 0x2c, ((1 << speed) - 1) << 1)   # supported speeds
        put16(cfg, off + 0x30, speed)                     # target speed
        put16(cfg, off + 0x32, 0x001e if speed >= 3 else 0)


def ecap_header(cfg, off, cap_id, version, nxt):
    put32(cfg, off, cap_id | (version << 16) | (nxt << 20))


def ecap_aer(cfg, off, nxt, root):
    ecap_header(cfg, off, 0x0001, 2, nxt)
    put32(cfg, off + 0x08, 0x00400000)   # UE mask
    put32(cfg, off + 0x0c, 0x00462030)   # UE severity (kernel default)
    put32(cfg, off + 0x14, 0x0000e000)   # CE mask
    put32(cfg, off + 0x18, 0x000000a0)   # ECRC gen/check capable
    if root:
        put32(cfg, off + 0x2c, 0x00000007)


def ecap_acs(cfg, off, nxt, cap, ctl):
    ecap_header(cfg, off, 0x000d, 1, nxt)
    put16(cfg, off + 4, cap)
    put16(cfg, off + 6, ctl)


def ecap_ari(cfg, off, nxt, next_fn):
    ecap_header(cfg, off, 0x000e, 1, nxt)
    put16(cfg, off + 4, (next_fn & 0xff) << 8)


def ecap_sriov(cfg, off, nxt, s):
    ecap_header(cfg, off, 0x0010, 1, nxt)
    put32(cfg, off + 0x04, 0x00000002)            # ARI capable hierarchy preserved
    ctl = 0x0010                                  # ARI capable hierarchy
    if s["numvfs"]:
        ctl |= 0x0009                             # VF enable, VF MSE
    put16(cfg, off + 0x08, ctl)
    put16(cfg, off + 0x0c, s["totalvfs"])         # InitialVFs
    put16(cfg, off + 0x0e, s["totalvfs"])         # TotalVFs
    put16(cfg, off + 0x10, s["numvfs"])           # NumVFs
    put8(cfg, off + 0x12, s["fdl"])               # function dependency link
    put16(cfg, off + 0x14, s["offset"])           # first VF offset
    put16(cfg, off + 0x16, s["stride"])           # VF stride
    put16(cfg, off + 0x1a, s["vf_device"])        # VF device ID
    put32(cfg, off + 0x1c, 0x00000553)            # supported page sizes
    put32(cfg, off + 0x20, 0x00000001)            # system page size 4K
    for i, base in ((0, s["vf_bar0"]), (3, s["vf_bar3"])):
        boff = off + 0x24 + 4 * i
        put32(cfg, boff, (base & 0xfffffff0) | 0xc)   # 64-bit prefetchable
        put32(cfg, boff + 4, base >> 32)


def ecap_dsn(cfg, off, nxt, serial):
    ecap_header(cfg, off, 0x0003, 1, nxt)
    put32(cfg, off + 4, serial & 0xffffffff)
    put32(cfg, off + 8, serial >> 32)


def write_bar(cfg, idx, base, kind):
    off = 0x10 + 4 * idx
    if kind == "mem32":
        put32(cfg, off, base & 0xfffffff0)
    elif kind == "mem64":
        put32(cfg, off, (base & 0xfffffff0) | 0x4)
        put32(cfg, off + 4, base >> 32)
    elif kind == "mem64pref":
        put32(cfg, off, (base & 0xfffffff0) | 0xc)
        put32(cfg, off + 4, base >> 32)


def build_config(f):
    cfg = bytearray(CFG_SIZE)
    vendor, device, svid, sdid, cls, rev = f["ids"]
    put16(cfg, 0x00, vendor)
    put16(cfg, 0x02, device)
    put16(cfg, 0x04, f["command"])
    put16(cfg, 0x06, 0x0010)                      # capabilities list
    put8(cfg, 0x08, rev)
    put8(cfg, 0x09, cls & 0xff)
    put8(cfg, 0x0a, (cls >> 8) & 0xff)
    put8(cfg, 0x0b, (cls >> 16) & 0xff)
    put8(cfg, 0x0c, 0x10 if not f.get("vf") else 0)
    bridge = f["kind"] == "rootport"
    put8(cfg, 0x0e, (0x01 if bridge else 0x00) | (0x80 if f.get("multifn") else 0))
    put8(cfg, 0x34, 0x40)
    put8(cfg, 0x3c, 0xff)
    put8(cfg, 0x3d, 0 if f.get("vf") or f["kind"] == "hostbridge" else 1)
    if bridge:
        put8(cfg, 0x18, f["bus"])
        put8(cfg, 0x19, f["secondary"])
        put8(cfg, 0x1a, f["secondary"])
        put8(cfg, 0x1c, 0xf0)                     # I/O window disabled
        put16(cfg, 0x1e, 0x0000)
        win = f.get("mem_window")
        if win:
            put16(cfg, 0x20, (win[0] >> 16) & 0xfff0)
            put16(cfg, 0x22, (win[1] >> 16) & 0xfff0)
        else:
            put16(cfg, 0x20, 0xfff0)
        pwin = f.get("pref_window")
        if pwin:
            put16(cfg, 0x24, ((pwin[0] >> 16) & 0xfff0) | 0x1)
            put16(cfg, 0x26, ((pwin[1] >> 16) & 0xfff0) | 0x1)
            put32(cfg, 0x28, pwin[0] >> 32)
            put32(cfg, 0x2c, pwin[1] >> 32)
        else:
            put16(cfg, 0x24, 0xfff1)
            put16(cfg, 0x26, 0x0001)
        put16(cfg, 0x3e, 0x0002 | (0x0008 if f.get("vga_route") else 0))
    else:
        put16(cfg, 0x2c, svid)
        put16(cfg, 0x2e, sdid)
        if not f.get("vf"):
            for idx, (base, size, kind) in f["bars"].items():
                write_bar(cfg, idx, base, kind)

    # capability list: PM -> [MSI] -> [SSVID] -> PCIe -> [MSI-X]
    caps = []
    if not f.get("vf"):
        caps.append(("pm", 8))
    if f.get("msi"):
        caps.append(("msi", 0x10))
    if bridge:
        caps.append(("ssvid", 8))
    caps.append(("pcie", 0x3c))
    if f.get("msix"):
        caps.append(("msix", 0x0c))
    offs = []
    off = 0x40
    for name, size in caps:
        offs.append(off)
        off = align_up(off + size, 0x10)
    for i, (name, _) in enumerate(caps):
        nxt = offs[i + 1] if i + 1 < len(caps) else 0
        o = offs[i]
        if name == "pm":
            cap_pm(cfg, o, nxt)
        elif name == "msi":
            cap_msi(cfg, o, nxt)
        elif name == "ssvid":
            cap_ssvid(cfg, o, nxt, svid, sdid)
        elif name == "pcie":
            cap_pcie(cfg, o, nxt, f)
        elif name == "msix":
            cap_msix(cfg, o, nxt, f["msix"], f.get("driver") is not None)

    # extended capabilities from 0x100
    ecaps = [(name, size) for name, size in (
        ("aer", 0x48), ("ari", 8), ("acs", 8), ("sriov", 0x40), ("dsn", 0x0c))
        if name in f["ecaps"]]
    off = 0x100
    eoffs = []
    for name, size in ecaps:
        eoffs.append(off)
        off = align_up(off + size, 0x10)
    for i, (name, _) in enumerate(ecaps):
        nxt = eoffs[i + 1] if i + 1 < len(ecaps) else 0
        o = eoffs[i]
        if name == "aer":
            ecap_aer(cfg, o, nxt, bridge)
        elif name == "ari":
            ecap_ari(cfg, o, nxt, f.get("ari_next", 0))
        elif name == "acs":
            if bridge:
                ecap_acs(cfg, o, nxt, 0x001f, 0x001d)   # SV TB RR CR UF / SV RR CR UF
            else:
                ecap_acs(cfg, o, nxt, 0x000c, 0x000c)   # multi-function: RR CR
        elif name == "sriov":
            ecap_sriov(cfg, o, nxt, f["sriov"])
        elif name == "dsn":
            ecap_dsn(cfg, o, nxt, f["serial"])
    return bytes(cfg)


# ---------------------------------------------------------------- the tree

class Tree:
    def __init__(self, outdir, jobs=1):
        self.sys = os.path.join(outdir, "sys")
        self.jobs = jobs
        self.funcs = []          # every function, in creation order
        self.groups = 0
        self.irq = 24
        self.card = 0
        self.drivers = set()
        self.stats = {"rootport": 0, "gpu": 0, "nic_pf": 0, "vf": 0, "nvme": 0}
        self.unit_no = 0
        self.nic_no = 0
        self.nvme_no = 0

    # -- bookkeeping ------------------------------------------------------
    def new_group(self):
        g = self.groups
        self.groups += 1
        return g

    def new_irq(self):
        i = self.irq
        self.irq += 1
        return i

    def new_serial(self):
        self.card += 1
        return (0xb49691ff << 32) | (0xfe000000 + self.card)

    def func(self, kind, model, domain, bus, dev, fn, parent_path, rb, **kw):
        vendor, device, svid, sdid, cls, rev, driver = MODELS[model]
        bdf = f"{domain:04x}:{bus:02x}:{dev:02x}.{fn}"
        f = {
            "kind": kind, "model": model, "bdf": bdf, "domain": domain,
            "bus": bus, "dev": dev, "fn": fn,
            "ids": (vendor, device, svid, sdid, cls, rev),
            "driver": driver, "path": os.path.join(parent_path, bdf),
            "numa": rb["numa"], "dmar": rb["dmar"], "bars": {},
            "ecaps": set(), "command": 0x0406, "ptype": PT_ENDPOINT,
        }
        f.update(kw)
        self.funcs.append(f)
        return f

    # -- units ------------------------------------------------------------
    def root_port(self, rb, k, budget_left, kind):
        """One root port with secondary bus rb.bus+1+k and the devices behind it."""
        domain, rbus = rb["domain"], rb["bus"]
        sec = rbus + 1 + k
        dev, fn = 1 + k // 4, k % 4
        rp = self.func("rootport", "rootport", domain, rbus, dev, fn,
                       rb["path"], rb, ptype=PT_ROOT_PORT, secondary=sec,
                       multifn=(fn == 0 and k + 1 < PORTS_PER_ROOT_BUS),
                       msi=True, command=0x0407, flr=False,
                       slot=rb["slot_base"] + k, port=k + 1,
                       ecaps={"aer", "acs"}, group=self.new_group(),
                       irq=self.new_irq())
        rp["ids"] = rp["ids"][:1] + (0x2030 + fn,) + rp["ids"][2:]
        self.stats["rootport"] += 1
        budget_left -= 1
        children = []
        if budget_left <= 0:
            kind = "empty"
        elif kind == "nic" and budget_left < 3:
            kind = "nvme"
        elif kind == "h100" and budget_left < 2:
            kind = "t4"
        p = rp["path"]
        if kind == "aspeed":
            children.append(self.func("vga", "aspeed", domain, sec, 0, 0, p, rb,
                                      ptype=PT_LEGACY, msi=True, flr=False,
                                      link=(2, 1), boot_vga=True,
                                      group=self.new_group(), irq=self.new_irq(),
                                      want32=[(0, 16 << 20, "mem32"), (1, 256 << 10, "mem32")]))
            rp["vga_route"] = True
            rp["link"] = (2, 1)
        elif kind == "t4":
            children.append(self.func("gpu", "t4", domain, sec, 0, 0, p, rb,
                                      msix=6, flr=True, link=(3, 16),
                                      ecaps={"aer", "dsn"}, serial=self.new_serial(),
                                      group=self.new_group(), irq=self.new_irq(),
                                      want32=[(0, 16 << 20, "mem32")],
                                      want64=[(1, 256 << 20, "mem64pref"), (3, 32 << 20, "mem64pref")]))
            rp["link"] = (3, 16)
            self.stats["gpu"] += 1
        elif kind == "h100":
            g = self.new_group()
            children.append(self.func("gpu", "h100", domain, sec, 0, 0, p, rb,
                                      multifn=True, msix=9, flr=True, link=(5, 16),
                                      ecaps={"aer", "ari", "dsn"}, ari_next=1,
                                      serial=self.new_serial(), group=g,
                                      irq=self.new_irq(),
                                      want32=[(0, 16 << 20, "mem32")],
                                      want64=[(1, 128 << 30, "mem64pref"), (3, 32 << 20, "mem64pref")]))
            if budget_left >= 2:
                children.append(self.func("audio", "hda", domain, sec, 0, 1, p, rb,
                                          multifn=True, msi=True, flr=True, link=(5, 16),
                                          ecaps={"aer", "ari"}, ari_next=0, group=g,
                                          irq=self.new_irq(),
                                          want32=[(0, 16 << 10, "mem32")]))
            else:
                children[0]["multifn"] = False
                children[0]["ecaps"] = {"aer", "dsn"}
            rp["link"] = (5, 16)
            self.stats["gpu"] += 1
        elif kind == "nvme":
            model = "pm173x" if self.nvme_no % 2 == 0 else "p5510"
            self.nvme_no += 1
            children.append(self.func("nvme", model, domain, sec, 0, 0, p, rb,
                                      msix=129, flr=True, link=(4, 4),
                                      ecaps={"aer", "dsn"}, serial=self.new_serial(),
                                      group=self.new_group(), irq=self.new_irq(),
                                      want32=[(0, 16 << 10, "mem64")]))
            rp["link"] = (4, 4)
            self.stats["nvme"] += 1
        elif kind == "nic":
            serial = self.new_serial()
            room = budget_left - 2                 # functions left for VFs
            want = [VF_PATTERN[(2 * self.nic_no + i) % len(VF_PATTERN)] for i in range(2)]
            self.nic_no += 1
            nvfs = [min(want[0], room), 0]
            nvfs[1] = min(want[1], room - nvfs[0])
            pfs = []
            for pf in range(2):
                offset = 8 if pf == 0 else 8 + PF_TOTAL_VFS - 1
                pfs.append(self.func("nic", "e810", domain, sec, 0, pf, p, rb,
                                     multifn=True, msix=1024, flr=True, link=(4, 8),
                                     ecaps={"aer", "ari", "acs", "sriov", "dsn"},
                                     ari_next=(1 if pf == 0 else 0),
                                     serial=serial, group=self.new_group(),
                                     irq=self.new_irq(),
                                     sriov={"totalvfs": PF_TOTAL_VFS, "numvfs": nvfs[pf],
                                            "offset": offset, "stride": 1, "fdl": pf,
                                            "vf_device": 0x1889},
                                     want64=[(0, 32 << 20, "mem64pref"), (3, 64 << 10, "mem64pref")]))
                self.stats["nic_pf"] += 1
            children.extend(pfs)
            for pf, pff in enumerate(pfs):
                pff["vfs"] = []
                rid0 = (0 << 3 | pf) + pff["sriov"]["offset"]
                for i in range(nvfs[pf]):
                    rid = rid0 + i
                    vf = self.func("vf", "e810vf", domain, sec, (rid >> 3) & 0x1f, rid & 7,
                                   p, rb, vf=True, msix=17, flr=True, command=0x0004,
                                   ecaps={"aer", "ari"}, ari_next=0,
                                   group=self.new_group(), physfn=pff, vf_index=i)
                    pff["vfs"].append(vf)
                    self.stats["vf"] += 1
                children.extend(pff["vfs"])
            rp["link"] = (4, 8)
        else:
            rp["link"] = (4, 16)
            rp["link_down"] = True
        rp["occupied"] = kind != "empty"
        rp["children"] = children
        return 1 + len(children)

    def generate(self, n):
        domain = 0
        rb_global = 0
        remaining = n
        while remaining > 0:
            pool32 = Pool(0x40000000, 0xfbffffff, f"domain {domain:04x} 32-bit")
            pool64 = Pool(0x200000000000 + domain * 0x100000000000,
                          0x200000000000 + (domain + 1) * 0x100000000000 - 1,
                          f"domain {domain:04x} 64-bit")
            for r in range(ROOT_BUSES_PER_DOMAIN):
                if remaining <= 0:
                    break
                rbus = r * BUSES_PER_ROOT_BUS
                rb = {"domain": domain, "bus": rbus, "numa": 0 if r < ROOT_BUSES_PER_DOMAIN // 2 else 1,
                      "dmar": rb_global, "slot_base": 1 + rb_global * PORTS_PER_ROOT_BUS,
                      "path": os.path.join("devices", f"pci{domain:04x}:{rbus:02x}")}
                rb_global += 1
                self.func("hostbridge", "hostbridge", domain, rbus, 0, 0, rb["path"], rb,
                          ptype=PT_RCIEP, command=0x0006, flr=False,
                          group=self.new_group(), irq=0)
                remaining -= 1
                for k in range(PORTS_PER_ROOT_BUS):
                    if remaining <= 0:
                        break
                    if domain == 0 and r == 0 and k == 0:
                        kind = "aspeed"
                    else:
                        kind = UNIT_PATTERN[self.unit_no % len(UNIT_PATTERN)]
                        self.unit_no += 1
                    before = len(self.funcs)
                    self.root_port(rb, k, remaining, kind)
                    rp = self.funcs[before]
                    self.assign_addresses(rp, pool32, pool64)
                    remaining -= len(self.funcs) - before
                # last root port of a device group may be fn0 alone: fix multifn flags
                self.fix_multifn(rb)
            domain += 1
        self.domains = domain

    def fix_multifn(self, rb):
        """Header type bit 7 only where another function exists at the same device."""
        present = {}
        for f in self.funcs:
            if f["kind"] == "rootport" and f["domain"] == rb["domain"] and f["bus"] == rb["bus"]:
                present.setdefault(f["dev"], []).append(f)
        for dev, fs in present.items():
            for f in fs:
                f["multifn"] = len(fs) > 1 and f["fn"] == 0

    def assign_addresses(self, rp, pool32, pool64):
        kids = [c for c in rp["children"] if not c.get("vf")]
        want32 = [((id(c), idx, kind), size) for c in kids for idx, size, kind in c.get("want32", [])]
        want64 = [((id(c), idx, kind), size) for c in kids for idx, size, kind in c.get("want64", [])]
        for c in kids:
            if "sriov" in c:
                tv = c["sriov"]["totalvfs"]
                want64.append(((id(c), "vf0", None), VF_BAR0 * tv))
                want64.append(((id(c), "vf3", None), VF_BAR3 * tv))
        bases32, win32 = place(pool32, want32, 1 << 20)
        bases64, win64 = place(pool64, want64, 1 << 20)
        rp["mem_window"], rp["pref_window"] = win32, win64
        byid = {id(c): c for c in kids}
        for bases in (bases32, bases64):
            for (cid, idx, kind), base in bases.items():
                c = byid[cid]
                if idx == "vf0":
                    c["sriov"]["vf_bar0"] = base
                elif idx == "vf3":
                    c["sriov"]["vf_bar3"] = base
                else:
                    size = dict((i, s) for i, s, _ in c.get("want32", []) + c.get("want64", []))[idx]
                    c["bars"][idx] = (base, size, kind)
        for c in rp["children"]:
            if c.get("vf"):
                pf = c["physfn"]
                i = c["vf_index"]
                c["bars"][0] = (pf["sriov"]["vf_bar0"] + i * VF_BAR0, VF_BAR0, "mem64pref")
                c["bars"][3] = (pf["sriov"]["vf_bar3"] + i * VF_BAR3, VF_BAR3, "mem64pref")
            elif "sriov" in c:
                c["sriov"].setdefault("vf_bar0", 0)
                c["sriov"].setdefault("vf_bar3", 0)

    # -- writing -------------------------------------------------------------
    def write(self):
        sysd = self.sys
        for d in ("bus/pci/devices", "bus/pci/drivers", "bus/pci/slots", "kernel/iommu_groups",
                  "class/iommu", "devices/virtual/iommu", "module", "devices/system/node"):
            os.makedirs(os.path.join(sysd, d), exist_ok=True)
        put = write_file
        for node, cpus in CPULIST.items():
            nd = os.path.join(sysd, "devices/system/node", f"node{node}")
            os.makedirs(nd, exist_ok=True)
            put(os.path.join(nd, "cpulist"), cpus + "\n")
        put(os.path.join(sysd, "devices/system/node/online"), "0-1\n")
        # IOMMU units, one per root bus
        dmars = sorted({f["dmar"] for f in self.funcs})
        for u in dmars:
            dd = os.path.join(sysd, "devices/virtual/iommu", f"dmar{u}")
            os.makedirs(os.path.join(dd, "intel-iommu"), exist_ok=True)
            put(os.path.join(dd, "intel-iommu", "version"), "1:0\n")
            os.symlink(f"../../devices/virtual/iommu/dmar{u}", os.path.join(sysd, "class/iommu", f"dmar{u}"))
        # drivers and modules
        drivers = sorted({f["driver"] for f in self.funcs if f["driver"]})
        for drv in drivers:
            dd = os.path.join(sysd, "bus/pci/drivers", drv)
            os.makedirs(dd, exist_ok=True)
            for name in ("bind", "unbind", "new_id", "remove_id", "uevent"):
                put(os.path.join(dd, name), "")
            mod = MODULE_OF_DRIVER.get(drv)
            if mod:
                md = os.path.join(sysd, "module", mod)
                os.makedirs(os.path.join(md, "drivers"), exist_ok=True)
                put(os.path.join(md, "refcnt"), "1\n")
                if mod in MODULE_VERSION:
                    put(os.path.join(md, "version"), MODULE_VERSION[mod] + "\n")
                os.symlink(f"../../../../module/{mod}", os.path.join(dd, "module"))
                os.symlink(f"../../../bus/pci/drivers/{drv}", os.path.join(md, "drivers", f"pci:{drv}"))
        # function directories first (parents before children), then iommu
        # groups and per-function files and links, spread over worker processes
        for root_bus in sorted({f["path"].split("/")[1] for f in self.funcs}):
            os.mkdir(os.path.join(sysd, "devices", root_bus))
        for f in self.funcs:
            os.mkdir(os.path.join(sysd, f["path"]))
        members = {}
        for f in self.funcs:
            members.setdefault(f["group"], []).append(f)
        tasks = [(self.write_group, (g, fs)) for g, fs in members.items()]
        tasks += [(self.write_function, (f,)) for f in self.funcs]
        run_parallel(tasks, self.jobs)
        # slots
        for f in self.funcs:
            if f["kind"] == "rootport":
                sd = os.path.join(sysd, "bus/pci/slots", str(f["slot"]))
                os.makedirs(sd)
                put(os.path.join(sd, "address"), f"{f['domain']:04x}:{f['secondary']:02x}:00\n")
                put(os.path.join(sd, "max_bus_speed"), SPEED_NAMES[f["link"][0]] + "\n")
                put(os.path.join(sd, "cur_bus_speed"), SPEED_NAMES[f["link"][0]] + "\n")

    def write_group(self, g, fs):
        gd = os.path.join(self.sys, "kernel/iommu_groups", str(g))
        os.makedirs(os.path.join(gd, "devices"))
        write_file(os.path.join(gd, "type"), "DMA\n")
        for f in fs:
            os.symlink("../../../../" + f["path"], os.path.join(gd, "devices", f["bdf"]))

    def write_function(self, f):
        sysd = self.sys
        d = os.path.join(sysd, f["path"])
        depth = f["path"].count("/") + 1           # levels from d up to sys/
        up = "../" * depth
        vendor, device, svid, sdid, cls, rev = f["ids"]
        bridge = f["kind"] == "rootport"
        files = {
            "vendor": f"0x{vendor:04x}\n",
            "device": f"0x{device:04x}\n",
            "subsystem_vendor": f"0x{svid:04x}\n",
            "subsystem_device": f"0x{sdid:04x}\n",
            "class": f"0x{cls:06x}\n",
            "revision": f"0x{rev:02x}\n",
            "irq": f"{f.get('irq', 0)}\n",
            "numa_node": f"{f['numa']}\n",
            "local_cpulist": CPULIST[f["numa"]] + "\n",
            "enable": "1\n",
            "driver_override": "(null)\n",
            "modalias": "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n" % (
                vendor, device, svid, sdid, cls >> 16, (cls >> 8) & 0xff, cls & 0xff),
            "resource": resource_text(f),
        }
        if f.get("vf") or f["kind"] == "hostbridge":
            speed, width = "Unknown", "0"
            mspeed, mwidth = "Unknown", "0"
        else:
            s, w = f["link"]
            mspeed, mwidth = SPEED_NAMES[s], str(w)
            if f.get("link_down"):
                speed, width = "Unknown", "0"
            else:
                speed, width = mspeed, mwidth
        files["current_link_speed"] = speed + "\n"
        files["current_link_width"] = width + "\n"
        files["max_link_speed"] = mspeed + "\n"
        files["max_link_width"] = mwidth + "\n"
        if f.get("flr"):
            files["reset_method"] = "flr\n" if f.get("vf") else "flr bus\n"
        if f.get("boot_vga"):
            files["boot_vga"] = "1\n"
        if bridge:
            files["secondary_bus_number"] = f"{f['secondary']}\n"
            files["subordinate_bus_number"] = f"{f['secondary']}\n"
        if "sriov" in f:
            s = f["sriov"]
            files.update({
                "sriov_totalvfs": f"{s['totalvfs']}\n",
                "sriov_numvfs": f"{s['numvfs']}\n",
                "sriov_offset": f"{s['offset']}\n",
                "sriov_stride": f"{s['stride']}\n",
                "sriov_vf_device": f"{s['vf_device']:x}\n",
                "sriov_drivers_autoprobe": "1\n",
                "sriov_vf_total_msix": "0\n",
            })
        uevent = []
        if f["driver"]:
            uevent.append(f"DRIVER={f['driver']}")
        uevent += [f"PCI_CLASS={cls:X}", f"PCI_ID={vendor:04X}:{device:04X}",
                   f"PCI_SUBSYS_ID={svid:04X}:{sdid:04X}", f"PCI_SLOT_NAME={f['bdf']}",
                   "MODALIAS=" + files["modalias"].strip()]
        files["uevent"] = "\n".join(uevent) + "\n"
        for name, text in files.items():
            write_file(os.path.join(d, name), text)
        write_file(os.path.join(d, "config"), build_config(f))
        # links
        os.symlink(up + "bus/pci", os.path.join(d, "subsystem"))
        os.symlink(up + f"kernel/iommu_groups/{f['group']}", os.path.join(d, "iommu_group"))
        os.symlink(os.path.relpath(f"devices/virtual/iommu/dmar{f['dmar']}", f["path"]),
                   os.path.join(d, "iommu"))    # kernel links take the shortest relative path
        if f["driver"]:
            os.symlink(up + f"bus/pci/drivers/{f['driver']}", os.path.join(d, "driver"))
            os.symlink("../../../../" + f["path"],
                       os.path.join(sysd, "bus/pci/drivers", f["driver"], f["bdf"]))
        if f.get("vf"):
            os.symlink("../" + f["physfn"]["bdf"], os.path.join(d, "physfn"))
        for i, vf in enumerate(f.get("vfs", [])):
            os.symlink("../" + vf["bdf"], os.path.join(d, f"virtfn{i}"))
        os.symlink("../../../" + f["path"], os.path.join(sysd, "bus/pci/devices", f["bdf"]))


def resource_text(f):
    """The kernel's `resource` file: 13 lines for endpoints, 17 for bridges."""
    lines = [(0, 0, 0)] * (17 if f["kind"] == "rootport" else 13)
    flags = {"mem32": RF_MEM32, "mem64": RF_MEM64, "mem64pref": RF_MEM64_PREF}
    for idx, (base, size, kind) in f["bars"].items():
        lines[idx] = (base, base + size - 1, flags[kind])
    if "sriov" in f and f["sriov"]["vf_bar0"]:
        s = f["sriov"]
        lines[7] = (s["vf_bar0"], s["vf_bar0"] + VF_BAR0 * s["totalvfs"] - 1, RF_MEM64_PREF)
        lines[10] = (s["vf_bar3"], s["vf_bar3"] + VF_BAR3 * s["totalvfs"] - 1, RF_MEM64_PREF)
    if f["kind"] == "rootport":
        if f.get("mem_window"):
            lines[14] = (f["mem_window"][0], f["mem_window"][1], RF_BRIDGE_MEM)
        if f.get("pref_window"):
            lines[15] = (f["pref_window"][0], f["pref_window"][1], RF_BRIDGE_PREF64)
    return "".join("0x%016x 0x%016x 0x%016x\n" % l for l in lines)


def run_parallel(tasks, jobs):
    """Run (fn, args) tasks, interleaved over `jobs` forked processes.

    Creating ~300k sysfs-like entries is system-call bound; on tmpfs a second
    process nearly halves the time."""
    if jobs <= 1 or len(tasks) < 1000:
        for fn, args in tasks:
            fn(*args)
        return
    pids = []
    for j in range(1, jobs):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for fn, args in tasks[j::jobs]:
                    fn(*args)
            except BaseException as exc:        # report, never fall back into the parent's code
                print(f"gen-sysfs-tree: worker {j}: {exc}", file=sys.stderr)
                sys.stderr.flush()
                code = 1
            os._exit(code)
        pids.append(pid)
    try:
        for fn, args in tasks[0::jobs]:
            fn(*args)
    finally:
        failed = 0
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            failed += status != 0
    if failed:
        raise GenError(f"{failed} worker process(es) failed")


def write_file(path, data):
    """Create and write one file (os-level calls: ~400k files for N=10000)."""
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    opts = [a for a in argv[1:] if a.startswith("--")]
    force = "--force" in opts
    jobs = os.cpu_count() or 1
    for o in opts:
        if o.startswith("--jobs=") and o[7:].isdigit() and int(o[7:]) >= 1:
            jobs = int(o[7:])
        elif o != "--force":
            args = []                                   # unknown option: usage
    if len(args) != 2 or not args[1].isdigit() or int(args[1]) < 1:
        print("usage: gen-sysfs-tree.py OUTDIR N [--force] [--jobs=J]   (N >= 1 PCI functions)",
              file=sys.stderr)
        return 2
    outdir, n = args[0], int(args[1])
    sysd = os.path.join(outdir, "sys")
    if os.path.lexists(sysd):
        if not force:
            print(f"gen-sysfs-tree: {sysd} exists (use --force to replace it)", file=sys.stderr)
            return 1
        shutil.rmtree(sysd)
    t0 = time.monotonic()
    tree = Tree(outdir, jobs)
    try:
        tree.generate(n)
        tree.write()
    except (GenError, OSError) as exc:
        print(f"gen-sysfs-tree: {exc}", file=sys.stderr)
        return 1
    assert len(tree.funcs) == n, (len(tree.funcs), n)
    s = tree.stats
    print(f"gen-sysfs-tree: {n} PCI functions in {tree.domains} domain(s) under {sysd}: "
          f"{s['rootport']} root ports, {s['gpu']} GPUs, {s['nic_pf']} NIC PFs with "
          f"{s['vf']} VFs, {s['nvme']} NVMe, {tree.groups} IOMMU groups "
          f"({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
