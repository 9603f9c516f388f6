#!/usr/bin/env python3
"""e810-tree.py -- an independent, kernel-shaped sysfs tree of Intel E810 NICs with SR-IOV.

    python3 bench/e810-tree.py OUT_DIR FUNCTIONS [--vfs-per-pf N] [--seed S] [--distinct-dsn]

Writes OUT_DIR/sys/... with about FUNCTIONS PCI functions: E810-C physical functions
(8086:1592, class 020000, subsystem 8086:0002, driver ice; 1..8 PFs per adapter, one adapter
per Intel root port 8086:347a-347d, driver pcieport) each with N virtual functions
(8086:1889, class 020000, subsystem 8086:0000, driver iavf; default N=256), adapters
alternating between NUMA nodes 0 and 1, plus host functions: one host bridge (class 060000)
per root bus and an NVMe drive (class 010802, driver nvme) behind its own root port.
The same arguments always give the same tree (no clock, no unseeded randomness).

It is deliberately independent of the project's own generator (hwlabel-treegen /
Tests/HWLabelTestSupport): written from the kernel's sysfs layout and the PCI/PCIe/SR-IOV
specifications only, so that benchmarks also run on a tree the code was not tuned on.

Facts it follows
  sysfs (drivers/pci/pci-sysfs.c, iov.c, probe.c, drivers/iommu/iommu.c):
  * functions are real directories nested as the bus hierarchy is:
    devices/pciDDDD:BB/<root port>/<endpoint>; VFs are siblings of their PF (same parent).
    bus/pci/devices/<BDF> and bus/pci/drivers/<drv>/<BDF> are relative symlinks into
    devices/; each function has relative `subsystem`, `driver`, `iommu_group` links.
  * attribute formats: vendor/device/subsystem_* "0x%04x", class "0x%06x", revision
    "0x%02x", irq/numa_node/enable decimal, local_cpus a "%*pb" mask (32-bit groups,
    highest first), local_cpulist "%*pbl"; modalias
    "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X"; uevent DRIVER=, PCI_CLASS=%04X,
    PCI_ID=%04X:%04X, PCI_SUBSYS_ID=%04X:%04X, PCI_SLOT_NAME=, MODALIAS=.
  * resource: one "0x%016llx 0x%016llx 0x%016llx" line per resource: 13 for endpoints
    (6 BARs, ROM, 6 SR-IOV VF BARs), 17 for bridges (plus 4 bridge windows); 64-bit
    prefetchable memory flags 0x14220c, bridge prefetchable window 0x102201.
  * config is 4096 bytes for PCIe functions (extended space). A VF's Vendor ID and Device
    ID read 0xffff (SR-IOV spec), its BARs read 0 and Memory Space Enable is RsvdP; sysfs
    vendor/device of a VF come from the PF (vendor) and SR-IOV VF Device ID.
  * PF: sriov_totalvfs, sriov_numvfs, sriov_offset, sriov_stride (decimal), sriov_vf_device
    ("%x"), sriov_drivers_autoprobe, virtfnI -> ../<VF BDF>; VF: physfn -> ../<PF BDF>.
  * VF routing ID (pci_iov_virtfn_bus/devfn): bus = PF bus + ((PF devfn + offset +
    stride*i) >> 8), devfn = (PF devfn + offset + stride*i) & 0xff; ARI lets devfn use all
    8 bits; the upstream root port's subordinate bus covers every VF bus.
  * iommu groups: kernel/iommu_groups/N/devices/<BDF> -> the device, N/type "DMA-FQ",
    N/reserved_regions; one group per function; VT-d units devices/virtual/iommu/dmarN
    (class/iommu links, intel-iommu/ attributes, devices/<BDF> links, each function's
    `iommu` link), one unit per root bus (ACS on root ports and on multi-PF
    adapters, VFs isolated).
  Config space (PCI Local Bus 3.0, PCIe Base 5.0/6.0, SR-IOV 1.1; little endian):
  * type 0 header (type 1 for root ports with primary/secondary/subordinate bus, memory
    and 64-bit prefetchable windows); status bit 4 (capability list), pointer at 0x34.
  * capabilities: PM (01), MSI-X (11) or MSI (05) on root ports, SSVID (0d) on bridges,
    PCI Express (10) v2: endpoint / root port / RCiEP, DevCap FLR bit 28 on endpoints,
    LnkCap/LnkSta speed+width, LnkCap2 supported-speeds vector.
  * extended capabilities from 0x100, each header (ID | version << 16 | next << 20),
    chain ending with next = 0: AER (0001), ARI (000e), DSN (0003, EUI-64), ACS (000d),
    SR-IOV (0010: InitialVFs, TotalVFs, NumVFs, FDL, First VF Offset, VF Stride,
    VF Device ID, page sizes, VF BARs).
  * DSN: the PCIe spec requires all functions of a multi-function device to report the same
    serial, so PFs of one adapter share one DSN and adapters differ (--distinct-dsn gives
    every PF its own serial instead). VFs do not implement DSN here (optional for VFs).
"""

import argparse
import os
import random
import sys

INTEL = 0x8086
E810_PF = 0x1592
E810_VF = 0x1889
RP_IDS = (0x347A, 0x347B, 0x347C, 0x347D)  # root ports A..D of one root complex
HOSTBRIDGE_ID = 0x09A2
NVME_VENDOR, NVME_DEVICE, NVME_SSID = 0x144D, 0xA824, 0xA801

PF_BAR0 = 32 << 20      # 64-bit prefetchable
PF_BAR3 = 64 << 10      # 64-bit prefetchable (MSI-X table + PBA)
VF_BAR0 = 128 << 10
VF_BAR3 = 16 << 10
VF_BASE_RID = 0x08      # first VF routing ID relative to the adapter's bus (after <= 8 PFs)
PFS_PER_ADAPTER_MAX = 8

FLAG_MEM64_PREF = 0x14220C
FLAG_MEM64 = 0x140204
FLAG_BRIDGE_MEM = 0x200
FLAG_BRIDGE_PREF64 = 0x102201

NCPUS = 128
NODE_CPUS = {0: list(range(0, 32)) + list(range(64, 96)),
             1: list(range(32, 64)) + list(range(96, 128))}

SPEED_16GT = 4


def cpulist(cpus):
    out, start, prev = [], None, None
    for c in sorted(cpus):
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        else:
            out.append((start, prev))
            start = prev = c
    if start is not None:
        out.append((start, prev))
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in out)


def cpumask(cpus):
    words = [0] * ((NCPUS + 31) // 32)
    for c in cpus:
        words[c // 32] |= 1 << (c % 32)
    return ",".join("%08x" % w for w in reversed(words))


class Config:
    """4096-byte configuration space image."""

    def __init__(self, size=4096):
        self.b = bytearray(size)

    def w8(self, off, v):
        self.b[off] = v & 0xFF

    def w16(self, off, v):
        self.b[off:off + 2] = (v & 0xFFFF).to_bytes(2, "little")

    def w32(self, off, v):
        self.b[off:off + 4] = (v & 0xFFFFFFFF).to_bytes(4, "little")

    def cap(self, off, cap_id, nxt):
        self.w8(off, cap_id)
        self.w8(off + 1, nxt)

    def ext(self, off, cap_id, ver, nxt):
        self.w32(off, cap_id | (ver << 16) | (nxt << 20))


def header0(c, vendor, device, command, cls, rev, ssv, ssd, irq_pin, multifunction=False):
    c.w16(0x00, vendor)
    c.w16(0x02, device)
    c.w16(0x04, command)
    c.w16(0x06, 0x0010)           # capabilities list
    c.w8(0x08, rev)
    c.w8(0x09, cls & 0xFF)
    c.w8(0x0A, (cls >> 8) & 0xFF)
    c.w8(0x0B, (cls >> 16) & 0xFF)
    c.w8(0x0C, 0x10 if vendor != 0xFFFF else 0)
    c.w8(0x0E, 0x80 if multifunction else 0x00)
    c.w16(0x2C, ssv)
    c.w16(0x2E, ssd)
    c.w8(0x34, 0x40)
    c.w8(0x3D, irq_pin)
    c.w8(0x3C, 0xFF if irq_pin == 0 else 0x0B)


def bar64(c, index, addr, prefetch):
    c.w32(0x10 + 4 * index, (addr & 0xFFFFFFF0) | 0x4 | (0x8 if prefetch else 0))
    c.w32(0x14 + 4 * index, addr >> 32)


def cap_pm(c, off, nxt):
    c.cap(off, 0x01, nxt)
    c.w16(off + 2, 0xC803)        # version 3, PME from D0/D3hot/D3cold
    c.w16(off + 4, 0x0008)        # D0, No_Soft_Reset


def cap_msix(c, off, nxt, count, bir, table_off, pba_off, enabled=True):
    c.cap(off, 0x11, nxt)
    c.w16(off + 2, (count - 1) | (0x8000 if enabled else 0))
    c.w32(off + 4, table_off | bir)
    c.w32(off + 8, pba_off | bir)


def cap_msi64(c, off, nxt):
    c.cap(off, 0x05, nxt)
    c.w16(off + 2, 0x0181)        # enable, 64-bit, per-vector masking
    c.w32(off + 4, 0xFEE00000)
    c.w32(off + 8, 0)
    c.w16(off + 12, 0x4021)


def cap_ssvid(c, off, nxt, ssv, ssd):
    c.cap(off, 0x0D, nxt)
    c.w16(off + 4, ssv)
    c.w16(off + 6, ssd)


def cap_pcie(c, off, nxt, port_type, speed, width, max_width, port_no=0, flr=True,
             slot=0, ari_fwd=False, link=True):
    c.cap(off, 0x10, nxt)
    c.w16(off + 2, 0x0002 | (port_type << 4) | (0x0100 if slot else 0))
    devcap = 0x2 | 0x8000         # MPS 512, role-based error reporting
    if port_type == 0:
        devcap |= (0x7 << 6) | (0x7 << 9)   # L0s/L1 acceptable latency
        if flr:
            devcap |= 1 << 28
    c.w32(off + 4, devcap)
    c.w16(off + 8, 0x2000 | 0x0020 | 0x0010 | 0x0800 | 0x000F)  # MRRS 512, MPS 256, RO, NS, errors
    if link:
        c.w32(off + 0x0C, (port_no << 24) | (0x3 << 15) | (0x2 << 10) | (max_width << 4) | speed
              | (0x00100000 if port_type == 4 else 0))   # DLL link active reporting (RP)
        c.w16(off + 0x10, 0x0040)   # common clock
        c.w16(off + 0x12, speed | (width << 4) | 0x1000 | (0x2000 if port_type == 4 else 0))
    if slot:
        c.w32(off + 0x14, (slot << 19) | 0x00000060)  # physical slot no., hot-plug surprise/capable
        c.w16(off + 0x1A, 0x0040)    # presence detect state
    devcap2 = 0x0001F | 0x10         # completion timeout ranges A-D, disable supported
    if ari_fwd:
        devcap2 |= 0x20
    c.w32(off + 0x24, devcap2)
    c.w16(off + 0x28, 0x0020 if ari_fwd else 0)
    if link:
        c.w32(off + 0x2C, 0x1E)      # supported speeds 2.5/5/8/16 GT/s
        c.w16(off + 0x30, speed)
        c.w16(off + 0x32, 0x001E if speed >= 3 else 0)


def ext_aer(c, off, nxt, root=False):
    c.ext(off, 0x0001, 2, nxt)
    c.w32(off + 0x0C, 0x00462030)    # uncorrectable severity (spec default)
    c.w32(off + 0x14, 0x00002000)    # advisory non-fatal masked
    c.w32(off + 0x18, 0x000000A0)    # ECRC generation/check capable
    if root:
        c.w32(off + 0x2C, 0x7)       # root error command


def ext_ari(c, off, nxt, next_fn):
    c.ext(off, 0x000E, 1, nxt)
    c.w16(off + 4, (next_fn & 0xFF) << 8)


def ext_dsn(c, off, nxt, serial):
    c.ext(off, 0x0003, 1, nxt)
    c.w32(off + 4, serial & 0xFFFFFFFF)
    c.w32(off + 8, serial >> 32)


def ext_acs(c, off, nxt, capbits, ctrl):
    c.ext(off, 0x000D, 1, nxt)
    c.w16(off + 4, capbits)
    c.w16(off + 6, ctrl)


def ext_sriov(c, off, nxt, total, num, fdl, offset, stride, vf_dev, vf_bar0, vf_bar3):
    c.ext(off, 0x0010, 1, nxt)
    c.w32(off + 0x04, 0x00000002)    # ARI Capable Hierarchy Preserved
    c.w16(off + 0x08, (0x1 | 0x8 | 0x10) if num else 0x10)  # VF Enable, VF MSE, ARI hierarchy
    c.w16(off + 0x0C, total)         # InitialVFs
    c.w16(off + 0x0E, total)         # TotalVFs
    c.w16(off + 0x10, num)           # NumVFs
    c.w8(off + 0x12, fdl)
    c.w16(off + 0x14, offset)
    c.w16(off + 0x16, stride)
    c.w16(off + 0x1A, vf_dev)
    c.w32(off + 0x1C, 0x00000553)    # supported page sizes
    c.w32(off + 0x20, 0x00000001)    # system page size 4K
    for idx, addr in ((0, vf_bar0), (3, vf_bar3)):
        c.w32(off + 0x24 + 4 * idx, (addr & 0xFFFFFFF0) | 0xC)
        c.w32(off + 0x28 + 4 * idx, addr >> 32)


def resource_text(entries, bridge):
    """entries: {index: (start, size, flags)}."""
    lines = []
    for i in range(17 if bridge else 13):
        if i in entries and entries[i][1]:
            s, size, fl = entries[i]
            lines.append("0x%016x 0x%016x 0x%016x" % (s, s + size - 1, fl))
        else:
            lines.append("0x%016x 0x%016x 0x%016x" % (0, 0, 0))
    return "\n".join(lines) + "\n"


class Func:
    def __init__(self, domain, bus, devfn, vendor, device, cls, rev, ssv, ssd, driver, node):
        self.domain, self.bus, self.devfn = domain, bus, devfn
        self.vendor, self.device, self.cls, self.rev = vendor, device, cls, rev
        self.ssv, self.ssd, self.driver, self.node = ssv, ssd, driver, node
        self.parent = None          # Func of the upstream bridge, or None (root bus)
        self.rootbus = None         # "pciDDDD:BB"
        self.config = None
        self.resources = {}
        self.bridge = False
        self.extra = {}             # additional attribute files
        self.links = {}             # name -> target BDF (sibling links: virtfnN, physfn)
        self.irq = 0
        self.reset_method = None
        self.link = None            # (cur speed str, cur width, max speed str, max width)

    @property
    def bdf(self):
        return "%04x:%02x:%02x.%d" % (self.domain, self.bus, self.devfn >> 3, self.devfn & 7)


def speed_str(code):
    return {1: "2.5 GT/s PCIe", 2: "5.0 GT/s PCIe", 3: "8.0 GT/s PCIe",
            4: "16.0 GT/s PCIe", 5: "32.0 GT/s PCIe"}.get(code, "Unknown")


class BusAllocator:
    """Bus numbers per NUMA node: node 0 low half, node 1 high half of a domain; a new PCI
    domain when a half runs out."""

    def __init__(self):
        self.next_domain = 1
        self.state = {0: [0, 0x15, 0x7F], 1: [0, 0x80, 0xFF]}   # domain, next bus, limit

    def take(self, node, count):
        st = self.state[node]
        if st[1] + count - 1 > st[2]:
            if count > 256:
                raise SystemExit("an adapter needs more than 256 buses")
            st[0], st[1], st[2] = self.next_domain, 0, 0xFF
            self.next_domain += 1
        dom, first = st[0], st[1]
        st[1] += count
        return dom, first


def plan(functions, n_vfs):
    """Choose the number of PFs so the total is close to `functions`."""
    def host_count(pfs):
        adapters = max(min(pfs, 2), -(-pfs // PFS_PER_ADAPTER_MAX))
        complexes = sum(-(-((adapters + 1 - node) // 2) // 4) for node in (0, 1))
        return 3 + adapters + complexes   # hostbridge 00:00.0 + NVMe RP + NVMe
    pfs = 1
    for _ in range(20):
        pfs = max(1, round((functions - host_count(pfs)) / (n_vfs + 1)))
    return pfs


def build(functions, n_vfs, seed, distinct_dsn):
    rng = random.Random(seed)
    funcs = []
    buses = BusAllocator()

    # --- root bus 0000:00: host bridge, NVMe root port, NVMe drive (node 0) ---
    hb = Func(0, 0x00, 0x00, INTEL, HOSTBRIDGE_ID, 0x060000, 0x04, INTEL, 0x0000, None, 0)
    hb.rootbus = "pci0000:00"
    funcs.append(hb)
    nvme_rp = Func(0, 0x00, 0x01 << 3, INTEL, RP_IDS[0], 0x060400, 0x04, INTEL, 0x0000,
                   "pcieport", 0)
    nvme_rp.rootbus = "pci0000:00"
    nvme_rp.bridge = True
    funcs.append(nvme_rp)
    nvme = Func(0, 0x01, 0x00, NVME_VENDOR, NVME_DEVICE, 0x010802, 0x00, NVME_VENDOR,
                NVME_SSID, "nvme", 0)
    nvme.parent = nvme_rp
    nvme.rootbus = "pci0000:00"
    funcs.append(nvme)

    def host_bridge_config(f):
        c = Config()
        header0(c, f.vendor, f.device, 0x0006, f.cls, f.rev, f.ssv, f.ssd, 0)
        cap_pcie(c, 0x40, 0x00, 9, 0, 0, 0, flr=False, link=False)   # RCiEP, no link
        f.config = c
        f.link = ("Unknown", 0, "Unknown", 0)

    host_bridge_config(hb)
    hb.irq = 0

    def root_port(f, sec, sub, mem, pref, width, slot, port_no):
        c = Config()
        c.w16(0x00, f.vendor)
        c.w16(0x02, f.device)
        c.w16(0x04, 0x0547)           # IO, mem, bus master, parity, SERR
        c.w16(0x06, 0x0010)
        c.w8(0x08, f.rev)
        c.w8(0x0A, 0x04)
        c.w8(0x0B, 0x06)
        c.w8(0x0C, 0x10)
        c.w8(0x0E, 0x01)
        c.w8(0x18, f.bus)
        c.w8(0x19, sec)
        c.w8(0x1A, sub)
        c.w8(0x1C, 0xF0)              # I/O window disabled (base > limit)
        c.w8(0x1D, 0x00)
        res = {}
        if mem:
            c.w16(0x20, (mem[0] >> 16) & 0xFFF0)
            c.w16(0x22, ((mem[0] + mem[1] - 1) >> 16) & 0xFFF0)
            res[14] = (mem[0], mem[1], FLAG_BRIDGE_MEM)
        else:
            c.w16(0x20, 0xFFF0)
        if pref:
            lim = pref[0] + pref[1] - 1
            c.w16(0x24, ((pref[0] >> 16) & 0xFFF0) | 0x1)
            c.w16(0x26, ((lim >> 16) & 0xFFF0) | 0x1)
            c.w32(0x28, pref[0] >> 32)
            c.w32(0x2C, lim >> 32)
            res[15] = (pref[0], pref[1], FLAG_BRIDGE_PREF64)
        else:
            c.w16(0x24, 0xFFF1)
            c.w16(0x26, 0x0001)
        c.w8(0x34, 0x40)
        c.w8(0x3C, 0xFF)
        c.w8(0x3D, 0x01)
        c.w16(0x3E, 0x0002)           # bridge control: SERR# enable
        cap_ssvid(c, 0x40, 0x48, f.ssv, f.ssd)
        cap_pm(c, 0x48, 0x50)
        cap_msi64(c, 0x50, 0x70)
        cap_pcie(c, 0x70, 0x00, 4, SPEED_16GT, width, width, port_no=port_no,
                 slot=slot, ari_fwd=True)
        ext_aer(c, 0x100, 0x150, root=True)
        ext_acs(c, 0x150, 0x000, 0x001F, 0x001D)   # SV TB RR CR UF; kernel enables SV RR CR UF
        f.config = c
        f.resources = res
        f.link = (speed_str(SPEED_16GT), width, speed_str(SPEED_16GT), width)
        f.extra["secondary_bus_number"] = "%d" % sec
        f.extra["subordinate_bus_number"] = "%d" % sub

    root_port(nvme_rp, 0x01, 0x01, (0x94000000, 1 << 20), None, 4, 1, 1)
    nvme_rp.irq = 24
    c = Config()
    header0(c, nvme.vendor, nvme.device, 0x0406, nvme.cls, nvme.rev, nvme.ssv, nvme.ssd, 1)
    bar64(c, 0, 0x94000000, False)
    cap_pm(c, 0x40, 0x50)
    cap_msix(c, 0x50, 0x70, 64, 0, 0x3000, 0x2000)
    cap_pcie(c, 0x70, 0x00, 0, SPEED_16GT, 4, 4)
    ext_aer(c, 0x100, 0x150)
    ext_dsn(c, 0x150, 0x000, (0x002538 << 40) | rng.getrandbits(40))
    nvme.config = c
    nvme.resources = {0: (0x94000000, 32 << 10, FLAG_MEM64)}
    nvme.irq = 16
    nvme.reset_method = "flr bus"
    nvme.link = (speed_str(SPEED_16GT), 4, speed_str(SPEED_16GT), 4)

    # --- E810 adapters ---
    total_pfs = plan(functions, n_vfs)
    n_adapters = max(min(total_pfs, 2), -(-total_pfs // PFS_PER_ADAPTER_MAX))
    per_adapter = [total_pfs // n_adapters + (1 if j < total_pfs % n_adapters else 0)
                   for j in range(n_adapters)]
    complexes = {0: None, 1: None}     # node -> [domain, bus, ports used, rootbus name]
    mmio_next = {0: 0x200000000000, 1: 0x300000000000}
    slot_no = 2
    irq_next = 32
    for j, npf in enumerate(per_adapter):
        node = j % 2
        cx = complexes[node]
        if cx is None or cx[2] == 4:
            dom, rbus = buses.take(node, 1)
            cx = [dom, rbus, 0, "pci%04x:%02x" % (dom, rbus)]
            complexes[node] = cx
            h = Func(dom, rbus, 0, INTEL, HOSTBRIDGE_ID, 0x060000, 0x04, INTEL, 0x0000, None,
                     node)
            h.rootbus = cx[3]
            host_bridge_config(h)
            funcs.append(h)
        dom, rbus, port_idx, rootbus = cx
        cx[2] += 1
        last_rid = VF_BASE_RID + npf * n_vfs - 1 if n_vfs else npf - 1
        nbus = (last_rid >> 8) + 1
        sdom, sec = buses.take(node, nbus)
        if sdom != dom:                # adapter does not fit behind this complex: new one
            dom, rbus = sdom, sec
            sec += 1
            buses.state[node][1] += 1
            cx[:] = [dom, rbus, 1, "pci%04x:%02x" % (dom, rbus)]
            rootbus = cx[3]
            port_idx = 0
            h = Func(dom, rbus, 0, INTEL, HOSTBRIDGE_ID, 0x060000, 0x04, INTEL, 0x0000, None,
                     node)
            h.rootbus = rootbus
            host_bridge_config(h)
            funcs.append(h)
        sub = sec + nbus - 1
        rp = Func(dom, rbus, (2 + port_idx) << 3, INTEL, RP_IDS[port_idx], 0x060400, 0x04,
                  INTEL, 0x0000, "pcieport", node)
        rp.rootbus = rootbus
        rp.bridge = True
        rp.irq = irq_next
        irq_next += 1
        funcs.append(rp)

        # MMIO inside the root port's prefetchable window (4 GiB per adapter)
        win = mmio_next[node]
        mmio_next[node] += 1 << 32
        cursor = [win]

        def alloc(size, align):
            a = (cursor[0] + align - 1) // align * align
            cursor[0] = a + size
            return a

        adapter_serial = (0xB49691 << 40) | (0xFFFF << 24) | rng.getrandbits(24)
        pf_list = []
        for k in range(npf):
            pf = Func(dom, sec, k, INTEL, E810_PF, 0x020000, 0x02, INTEL, 0x0002, "ice", node)
            pf.parent = rp
            pf.rootbus = rootbus
            b0 = alloc(PF_BAR0, PF_BAR0)
            b3 = alloc(PF_BAR3, PF_BAR3)
            iov0 = alloc(max(n_vfs, 1) * VF_BAR0, VF_BAR0) if n_vfs else 0
            iov3 = alloc(max(n_vfs, 1) * VF_BAR3, VF_BAR3) if n_vfs else 0
            offset = VF_BASE_RID + k * n_vfs - k
            stride = 1
            if distinct_dsn:
                serial = (0xB49691 << 40) | (0xFFFF << 24) | rng.getrandbits(24)
            else:
                serial = adapter_serial
            c = Config()
            header0(c, INTEL, E810_PF, 0x0406, 0x020000, 0x02, INTEL, 0x0002, 1,
                    multifunction=(npf > 1))
            bar64(c, 0, b0, True)
            bar64(c, 3, b3, True)
            cap_pm(c, 0x40, 0x50)
            cap_msix(c, 0x50, 0x70, 1024, 3, 0x0000, 0x8000)
            cap_pcie(c, 0x70, 0x00, 0, SPEED_16GT, 16, 16)
            ext_aer(c, 0x100, 0x150)
            ext_ari(c, 0x150, 0x160, k + 1 if k + 1 < npf else 0)
            ext_dsn(c, 0x160, 0x170, serial)
            ext_acs(c, 0x170, 0x180, 0x000C, 0x000C)    # request/completion redirect
            ext_sriov(c, 0x180, 0x000, n_vfs, n_vfs, k, offset, stride, E810_VF, iov0, iov3)
            pf.config = c
            pf.resources = {0: (b0, PF_BAR0, FLAG_MEM64_PREF), 3: (b3, PF_BAR3, FLAG_MEM64_PREF)}
            if n_vfs:
                pf.resources[7] = (iov0, n_vfs * VF_BAR0, FLAG_MEM64_PREF)
                pf.resources[10] = (iov3, n_vfs * VF_BAR3, FLAG_MEM64_PREF)
            pf.irq = 16 + (k % 4)
            pf.reset_method = "flr bus"
            pf.link = (speed_str(SPEED_16GT), 16, speed_str(SPEED_16GT), 16)
            pf.extra.update({
                "sriov_totalvfs": "%d" % n_vfs, "sriov_numvfs": "%d" % n_vfs,
                "sriov_offset": "%d" % offset, "sriov_stride": "%d" % stride,
                "sriov_vf_device": "%x" % E810_VF, "sriov_drivers_autoprobe": "1",
            })
            funcs.append(pf)
            pf_list.append((pf, offset, stride, iov0, iov3))

        for pf, offset, stride, iov0, iov3 in pf_list:
            for i in range(n_vfs):
                rid = pf.devfn + offset + stride * i
                vf = Func(dom, pf.bus + (rid >> 8), rid & 0xFF, INTEL, E810_VF, 0x020000, 0x02,
                          INTEL, 0x0000, "iavf", node)
                vf.parent = rp
                vf.rootbus = rootbus
                c = Config()
                header0(c, 0xFFFF, 0xFFFF, 0x0404, 0x020000, 0x02, INTEL, 0x0000, 0)
                cap_pm(c, 0x40, 0x50)
                cap_msix(c, 0x50, 0x70, 17, 3, 0x0000, 0x2000)
                cap_pcie(c, 0x70, 0x00, 0, SPEED_16GT, 16, 16)
                ext_aer(c, 0x100, 0x150)
                ext_ari(c, 0x150, 0x000, 0)
                vf.config = c
                vf.resources = {0: (iov0 + i * VF_BAR0, VF_BAR0, FLAG_MEM64_PREF),
                                3: (iov3 + i * VF_BAR3, VF_BAR3, FLAG_MEM64_PREF)}
                vf.irq = 0
                vf.reset_method = "flr"
                vf.link = pf.link
                vf.links["physfn"] = pf.bdf
                pf.links["virtfn%d" % i] = vf.bdf
                funcs.append(vf)

        pref_size = max(1 << 20, (cursor[0] - win + (1 << 20) - 1) >> 20 << 20)
        root_port(rp, sec, sub, None, (win, pref_size), 16, slot_no, slot_no)
        slot_no += 1
    return funcs


class Writer:
    def __init__(self, root):
        self.sys = os.path.join(root, "sys")

    def file(self, path, text, mode="w"):
        with open(path, mode) as fh:
            fh.write(text)

    def link(self, target_abs, link_path):
        os.symlink(os.path.relpath(target_abs, os.path.dirname(link_path)), link_path)


def write_tree(out, funcs):
    w = Writer(out)
    S = w.sys
    if os.path.exists(S):
        raise SystemExit("%s exists; remove it first" % S)
    devices = os.path.join(S, "devices")
    bus_pci = os.path.join(S, "bus", "pci")
    bus_devices = os.path.join(bus_pci, "devices")
    drivers_dir = os.path.join(bus_pci, "drivers")
    groups_dir = os.path.join(S, "kernel", "iommu_groups")
    for d in (bus_devices, drivers_dir, groups_dir, os.path.join(S, "module")):
        os.makedirs(d)
    w.file(os.path.join(bus_pci, "drivers_autoprobe"), "1\n")
    w.file(os.path.join(bus_pci, "uevent"), "")

    # NUMA nodes and CPUs
    for node, cpus in NODE_CPUS.items():
        nd = os.path.join(S, "devices", "system", "node", "node%d" % node)
        os.makedirs(nd)
        w.file(os.path.join(nd, "cpulist"), cpulist(cpus) + "\n")
        w.file(os.path.join(nd, "cpumap"), cpumask(cpus) + "\n")
    w.file(os.path.join(S, "devices", "system", "node", "online"), "0-1\n")
    w.file(os.path.join(S, "devices", "system", "node", "possible"), "0-1\n")
    cpu_dir = os.path.join(S, "devices", "system", "cpu")
    os.makedirs(cpu_dir)
    for name in ("online", "possible", "present"):
        w.file(os.path.join(cpu_dir, name), "0-%d\n" % (NCPUS - 1))

    drivers = sorted({f.driver for f in funcs if f.driver})
    for drv in drivers:
        dd = os.path.join(drivers_dir, drv)
        os.makedirs(dd)
        for name in ("bind", "unbind", "new_id", "remove_id", "uevent"):
            w.file(os.path.join(dd, name), "")
        if drv != "pcieport":            # built in; the others are modules
            md = os.path.join(S, "module", drv)
            os.makedirs(os.path.join(md, "drivers"))
            w.link(md, os.path.join(dd, "module"))
            w.link(dd, os.path.join(md, "drivers", "pci:" + drv))

    paths = {}
    rootbuses = set()
    for f in funcs:
        if f.parent is None:
            parent_dir = os.path.join(devices, f.rootbus)
            if f.rootbus not in rootbuses:
                rootbuses.add(f.rootbus)
                os.makedirs(os.path.join(parent_dir, "power"))
                w.file(os.path.join(parent_dir, "uevent"), "")
                w.file(os.path.join(parent_dir, "power", "control"), "auto\n")
        else:
            parent_dir = paths[f.parent.bdf]
        paths[f.bdf] = os.path.join(parent_dir, f.bdf)

    # VT-d remapping units: one per root bus (PCIe stack), as DMAR tables usually describe
    dmar = {}
    for rb in sorted(rootbuses):
        ud = os.path.join(devices, "virtual", "iommu", "dmar%d" % len(dmar))
        os.makedirs(os.path.join(ud, "devices"))
        os.makedirs(os.path.join(ud, "intel-iommu"))
        for name, val in (("address", "%x" % (0xC5FFC000 + 0x2000 * len(dmar))),
                          ("cap", "d2008c40660462"), ("ecap", "f050da"), ("version", "1:0")):
            w.file(os.path.join(ud, "intel-iommu", name), val + "\n")
        class_dir = os.path.join(S, "class", "iommu")
        os.makedirs(class_dir, exist_ok=True)
        w.link(ud, os.path.join(class_dir, os.path.basename(ud)))
        dmar[rb] = ud

    sysdir = S
    for group, f in enumerate(funcs):
        p = paths[f.bdf]
        os.makedirs(os.path.join(p, "power"))
        cls = f.cls
        modalias = "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X" % (
            f.vendor, f.device, f.ssv, f.ssd, cls >> 16, (cls >> 8) & 0xFF, cls & 0xFF)
        attrs = {
            "vendor": "0x%04x" % f.vendor,
            "device": "0x%04x" % f.device,
            "subsystem_vendor": "0x%04x" % f.ssv,
            "subsystem_device": "0x%04x" % f.ssd,
            "class": "0x%06x" % cls,
            "revision": "0x%02x" % f.rev,
            "irq": "%d" % f.irq,
            "numa_node": "%d" % f.node,
            "local_cpulist": cpulist(NODE_CPUS[f.node]),
            "local_cpus": cpumask(NODE_CPUS[f.node]),
            "enable": "1",
            "modalias": modalias,
            "driver_override": "(null)",
            "d3cold_allowed": "1",
            "msi_bus": "1",
            "broken_parity_status": "0",
            "power_state": "D0",
            "dma_mask_bits": "64" if f.driver != "pcieport" and f.driver else "32",
            "consistent_dma_mask_bits": "64" if f.driver != "pcieport" and f.driver else "32",
        }
        if f.reset_method:
            attrs["reset_method"] = f.reset_method
        if f.link:
            attrs["current_link_speed"] = f.link[0]
            attrs["current_link_width"] = "%d" % f.link[1]
            attrs["max_link_speed"] = f.link[2]
            attrs["max_link_width"] = "%d" % f.link[3]
        attrs.update(f.extra)
        for name, val in attrs.items():
            w.file(os.path.join(p, name), val + "\n")
        uev = []
        if f.driver:
            uev.append("DRIVER=%s" % f.driver)
        uev += ["PCI_CLASS=%X" % cls, "PCI_ID=%04X:%04X" % (f.vendor, f.device),
                "PCI_SUBSYS_ID=%04X:%04X" % (f.ssv, f.ssd), "PCI_SLOT_NAME=%s" % f.bdf,
                "MODALIAS=%s" % modalias]
        w.file(os.path.join(p, "uevent"), "\n".join(uev) + "\n")
        w.file(os.path.join(p, "resource"), resource_text(f.resources, f.bridge))
        w.file(os.path.join(p, "config"), bytes(f.config.b), "wb")
        w.file(os.path.join(p, "power", "control"), "on\n")
        w.file(os.path.join(p, "power", "runtime_status"), "active\n")

        w.link(bus_pci, os.path.join(p, "subsystem"))
        w.link(p, os.path.join(bus_devices, f.bdf))
        if f.driver:
            dd = os.path.join(drivers_dir, f.driver)
            w.link(dd, os.path.join(p, "driver"))
            w.link(p, os.path.join(dd, f.bdf))
        for name, target in f.links.items():
            os.symlink("../" + target, os.path.join(p, name))

        gd = os.path.join(groups_dir, "%d" % group)
        os.makedirs(os.path.join(gd, "devices"))
        w.file(os.path.join(gd, "type"), "DMA-FQ\n")
        w.file(os.path.join(gd, "reserved_regions"),
               "0x00000000fee00000 0x00000000feefffff msi\n")
        w.link(p, os.path.join(gd, "devices", f.bdf))
        w.link(gd, os.path.join(p, "iommu_group"))
        w.link(dmar[f.rootbus], os.path.join(p, "iommu"))
        w.link(p, os.path.join(dmar[f.rootbus], "devices", f.bdf))
    return sysdir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("functions", type=int)
    ap.add_argument("--vfs-per-pf", type=int, default=256)
    ap.add_argument("--seed", type=int, default=810)
    ap.add_argument("--distinct-dsn", action="store_true",
                    help="give every PF its own serial number (default: one per adapter, "
                         "as the PCIe spec requires for multi-function devices)")
    a = ap.parse_args(argv)
    if not 0 <= a.vfs_per_pf <= 256:
        ap.error("--vfs-per-pf must be 0..256")
    if a.functions < 1:
        ap.error("FUNCTIONS must be positive")
    funcs = build(a.functions, a.vfs_per_pf, a.seed, a.distinct_dsn)
    write_tree(a.out_dir, funcs)
    pfs = sum(1 for f in funcs if f.device == E810_PF)
    vfs = sum(1 for f in funcs if f.device == E810_VF)
    print("%s/sys: %d PCI functions (%d E810 PFs, %d VFs, %d host/bridge functions)"
          % (a.out_dir, len(funcs), pfs, vfs, len(funcs) - pfs - vfs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
