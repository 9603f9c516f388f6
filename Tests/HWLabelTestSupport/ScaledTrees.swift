import Foundation

/// Kernel-shaped sysfs trees of any size, written with `TreeBuilder` and `HostTrees.Assembler`:
/// what `hwlabel-treegen` writes for the benchmarks, and what scale tests read.
///
/// Deterministic, exactly `functions` PCI functions. PCI domains 0000, 0001, …, each with root
/// buses 00, 20, …, e0 (eight, 32 bus numbers each; the first four on NUMA node 0, the others
/// on node 1); per root bus a host bridge (8086:2020, RB:00.0) and root ports (8086:2030, with
/// ACS) at RB:01.0, RB:02.0, …, each with the devices of one unit behind it on the next free
/// bus numbers. Every function has an IOMMU group of its own, except a GPU and its audio
/// function (one multi-function device without ACS), which share one; one DMAR unit per NUMA
/// node. When fewer functions are left than a unit needs, a smaller one takes its place
/// (down to a root port with nothing behind it).
package enum ScaledTrees {
    package enum Shape: String, CaseIterable, Sendable {
        /// A mixed KVM fleet host, repeating: NVIDIA T4 (10de:1eb8), Intel E810-XXV dual-port
        /// NIC (8086:159b PFs, SR-IOV with TotalVFs 64 each and 0–64 VFs 8086:1889 enabled, on
        /// iavf), NVMe (144d:a824 / 8086:0b60), a PEX89000 switch (1000:c030) with two H100
        /// SXM5 (10de:2330) each with an HDA function at .1 (10de:22ba: the H100 has none; it
        /// stands for a GPU + audio multi-function device). The first port holds an ASPEED BMC
        /// VGA (1a03:2000, boot_vga). GPUs and audio on their vendor drivers.
        case mixed
        /// HGX-like GPU-heavy trays, repeating: one switch with four NVSwitches (10de:22a3,
        /// class 0680), then eight H100 each behind its own PEX89000 switch with an HDA function
        /// at .1, the first and fifth sharing their switch with a ConnectX-7 (15b3:1021) with 8
        /// VFs (15b3:101e). Everything assignable on vfio-pci (full passthrough), with
        /// `vfio-dev/vfio<N>`.
        case hgx
    }

    package struct Summary: Sendable, Equatable {
        package var functions = 0
        package var domains = 0
        package var rootPorts = 0
        package var switchPorts = 0
        package var gpus = 0
        package var audio = 0
        package var nicPFs = 0
        package var vfs = 0
        package var nvme = 0
        package var nvswitches = 0
        package var groups = 0
        package init() {}

        /// One line: what the tree holds.
        package var line: String {
            "\(functions) PCI functions in \(domains) domain(s): \(rootPorts) root ports, \(switchPorts) switch ports, "
                + "\(gpus) GPUs (\(audio) with audio), \(nvswitches) NVSwitches, \(nicPFs) NIC PFs with \(vfs) VFs, "
                + "\(nvme) NVMe, \(groups) IOMMU groups"
        }
    }

    /// Writes a tree of `shape` with exactly `functions` PCI functions into `base` (as
    /// `base/sys`); `base/sys` must not exist yet.
    @discardableResult
    package static func write(_ shape: Shape, functions: Int, into base: String) throws -> (tree: TreeBuilder, summary: Summary) {
        precondition(functions >= 1, "a tree needs at least one function")
        let t = try TreeBuilder(base: base)
        var g = Generator(shape: shape, assembler: try HostTrees.Assembler(tree: t, drivers: [:], cpus: ["0-31,64-95", "32-63,96-127"]))
        try g.run(functions)
        return (t, g.summary)
    }

    /// One root port and what sits behind it.
    enum Unit {
        case bmc, t4, nvme, nic, gpuSwitch, h100, empty
        case hgxGPU(nic: Bool), nvswitches

        /// The fewest functions the unit writes (root port included).
        var minFunctions: Int {
            switch self {
            case .bmc, .t4, .nvme: 2
            case .nic, .h100: 3
            case .gpuSwitch: 8
            case .empty: 1
            case .hgxGPU(let nic): nic ? 7 : 5
            case .nvswitches: 10
            }
        }

        /// Bus numbers the unit takes below its root port (its secondary bus and those below).
        var buses: Int {
            switch self {
            case .gpuSwitch: 4
            case .hgxGPU(let nic): nic ? 4 : 3
            case .nvswitches: 6
            default: 1
            }
        }
    }

    struct Generator {
        let shape: Shape
        let a: HostTrees.Assembler
        var t: TreeBuilder { a.t }
        var summary = Summary()
        var remaining = 0
        var unitNumber = 0
        var nicNumber = 0
        var nvmeNumber = 0
        var serial: UInt64 = 0
        var slotNumber = 0
        // Where the next root port goes: domain, root bus, its index on that bus, the next free bus.
        var domain = -1
        var rootBus = 0
        var portIndex = 0
        var nextBus = 0
        var rootBusOpen = false
        // Bump allocators for BARs: 32-bit and 64-bit prefetchable memory of the current domain.
        var mem32: UInt64 = 0
        var mem64: UInt64 = 0

        init(shape: Shape, assembler: HostTrees.Assembler) {
            self.shape = shape
            self.a = assembler
        }

        static let mixedPattern: [Unit] = [.t4, .nic, .nvme, .gpuSwitch, .nic, .nvme, .t4, .nic]
        static let hgxPattern: [Unit] = [
            .nvswitches, .hgxGPU(nic: true), .hgxGPU(nic: false), .hgxGPU(nic: false),
            .hgxGPU(nic: false), .hgxGPU(nic: true), .hgxGPU(nic: false),
            .hgxGPU(nic: false), .hgxGPU(nic: false),
        ]

        var numa: Int { rootBus < 0x80 ? 0 : 1 }

        mutating func run(_ n: Int) throws {
            remaining = n
            while remaining > 0 {
                var unit: Unit
                if unitNumber == 0 {
                    unit = .bmc
                } else {
                    let pattern = shape == .mixed ? Self.mixedPattern : Self.hgxPattern
                    unit = pattern[(unitNumber - 1) % pattern.count]
                }
                unitNumber += 1
                try openRootPort(for: unit)
                guard remaining > 0 else { break }
                for smaller in [Unit.h100, .t4, .empty] where unit.minFunctions > remaining { unit = smaller }
                try emit(unit)
            }
            try a.iommuUnits()
            summary.functions = a.addresses.count
            summary.groups = Set(a.groups.values).count
        }

        /// Moves to a new root bus (writing its host bridge) when the unit's buses or another
        /// root port do not fit on this one.
        mutating func openRootPort(for unit: Unit) throws {
            let fits = rootBusOpen && portIndex < 31 && nextBus + unit.buses - 1 <= rootBus + 0x1f
            if fits { return }
            if rootBusOpen, rootBus < 0xe0 {
                rootBus += 0x20
            } else {
                domain += 1
                rootBus = 0
                mem32 = 0x4000_0000
                mem64 = 0x2000_0000_0000 + UInt64(domain) << 44
                summary.domains += 1
            }
            rootBusOpen = true
            portIndex = 0
            nextBus = rootBus + 1
            let hb = address(rootBus, 0, 0)
            try fn(
                hb, "8086", "2020", "060000", rev: "04", subsys: ("8086", "0000"),
                config: ConfigSpace(
                    vendor: 0x8086, device: 0x2020, classCode: 0x060000, revision: 4,
                    subsystemVendor: 0x8086, msix: false, express: .rcEndpoint
                ).bytes(),
                driver: nil, numa: numa, parent: nil)
            remaining -= 1
        }

        func address(_ bus: Int, _ dev: Int, _ fn: Int) -> String {
            String(format: "%04x:%02x:%02x.%x", domain, bus, dev, fn)
        }

        mutating func newSerial() -> UInt64 {
            serial += 1
            return 0xb496_91ff_fe00_0000 | serial
        }

        mutating func take32(_ size: UInt64) throws -> UInt64 {
            let base = (mem32 + size - 1) / size * size
            guard base + size <= 0xfc00_0000 else { throw ProbeTestSupport.SupportError("domain \(domain): 32-bit MMIO exhausted") }
            mem32 = base + size
            return base
        }

        mutating func take64(_ size: UInt64) -> UInt64 {
            let base = (mem64 + size - 1) / size * size
            mem64 = base + size
            return base
        }

        typealias Link = (maxSpeed: UInt8, maxWidth: UInt8, speed: UInt8, width: UInt8)

        /// `Assembler.fn`, plus what drivers/pci/pci-sysfs.c gives every function beyond the
        /// IDs: `enable`, `driver_override`, `modalias`, the `subsystem` link, and with a `link`
        /// `current/max_link_speed/width` (a VF's Link Status reads zero: `Unknown`, 0).
        mutating func fn(
            _ address: String, _ vendor: String, _ device: String, _ classCode: String, rev: String,
            subsys: (String, String)?, config: [UInt8]?, link: Link? = nil, virtualFunction: Bool = false,
            driver: String?, group: Int? = nil, numa: Int, parent: String?,
            attributes: [String: String] = [:], resource: [String]? = nil
        ) throws {
            try a.fn(
                address, vendor, device, classCode, rev: rev, subsys: subsys, config: config, driver: driver,
                group: group, numa: numa, parent: parent, attributes: attributes, resource: resource)
            try common(address, vendor, device, classCode, subsys: subsys, link: link, virtualFunction: virtualFunction)
        }

        mutating func bridge(
            _ address: String, _ vendor: String, _ device: String, _ port: ConfigSpace.PortType,
            sec: UInt8, sub: UInt8, parent: String?, numa: Int, link: Link = (5, 16, 5, 16)
        ) throws {
            try a.bridge(address, vendor, device, port, sec: sec, sub: sub, parent: parent, numa: numa, link: link)
            try common(address, vendor, device, "060400", subsys: nil, link: link, virtualFunction: false)
        }

        static let speedNames = [
            1: "2.5 GT/s PCIe", 2: "5.0 GT/s PCIe", 3: "8.0 GT/s PCIe", 4: "16.0 GT/s PCIe",
            5: "32.0 GT/s PCIe",
        ]

        func common(
            _ address: String, _ vendor: String, _ device: String, _ classCode: String, subsys: (String, String)?,
            link: Link?, virtualFunction: Bool
        ) throws {
            let uevent = TreeBuilder.ueventBody(
                address: address, vendor: vendor, device: device, classCode: classCode,
                subsystemVendor: subsys?.0, subsystemDevice: subsys?.1)
            let modalias = uevent.split(separator: "\n").first { $0.hasPrefix("MODALIAS=") }!.dropFirst(9)
            try t.attr(address, "modalias", modalias + "\n")
            try t.attr(address, "enable", "1\n")
            try t.attr(address, "driver_override", "(null)\n")
            try t.symlink("sys/bus/pci", at: t.relativeDir(address) + "/subsystem")
            if let l = link {
                let max = Self.speedNames[Int(l.maxSpeed)] ?? "Unknown"
                try t.attr(address, "max_link_speed", max + "\n")
                try t.attr(address, "max_link_width", "\(l.maxWidth)\n")
                try t.attr(address, "current_link_speed", (virtualFunction ? "Unknown" : Self.speedNames[Int(l.speed)] ?? "Unknown") + "\n")
                try t.attr(address, "current_link_width", virtualFunction ? "0\n" : "\(l.width)\n")
            }
        }

        /// A root port with secondary bus `nextBus` and subordinate `nextBus + buses - 1`.
        mutating func rootPort(buses: Int, link: (UInt8, UInt8, UInt8, UInt8)) throws -> (port: String, secondary: Int) {
            let port = address(rootBus, portIndex + 1, 0)
            let sec = nextBus
            try bridge(
                port, "8086", "2030", .rootPort, sec: UInt8(sec), sub: UInt8(sec + buses - 1), parent: nil,
                numa: numa, link: link)
            portIndex += 1
            nextBus += buses
            remaining -= 1
            summary.rootPorts += 1
            return (port, sec)
        }

        mutating func slot(_ occupant: String) throws {
            slotNumber += 1
            try t.slot("\(slotNumber)", address: occupant)
        }

        mutating func emit(_ unit: Unit) throws {
            switch unit {
            case .bmc:
                let (port, bus) = try rootPort(buses: 1, link: (2, 1, 2, 1))
                let vga = address(bus, 0, 0)
                let cfg = ConfigSpace(
                    vendor: 0x1a03, device: 0x2000, classCode: 0x030000, revision: 0x41,
                    subsystemVendor: 0x1a03, subsystemDevice: 0x2000, link: (2, 1, 2, 1))
                try fn(
                    vga, "1a03", "2000", "030000", rev: "41", subsys: ("1a03", "2000"), config: cfg.bytes(), link: (2, 1, 2, 1),
                    driver: "ast", numa: numa, parent: port, attributes: ["boot_vga": "1", "reset_method": "pm bus"],
                    resource: TreeBuilder.resourceLines([
                        .mem32(0, try take32(16 << 20), 16 << 20),
                        .mem32(1, try take32(256 << 10), 256 << 10),
                    ]))
                try t.drmNodes(vga, card: 0, render: nil)
                remaining -= 1
                summary.gpus += 1
                try slot(vga)
            case .t4:
                let (port, bus) = try rootPort(buses: 1, link: (3, 16, 3, 16))
                let gpu = address(bus, 0, 0)
                let cfg = ConfigSpace(
                    vendor: 0x10de, device: 0x1eb8, classCode: 0x030200, revision: 0xa1,
                    subsystemVendor: 0x10de, subsystemDevice: 0x12a2, flr: true,
                    link: (3, 16, 3, 16), aer: true, dsn: newSerial())
                try fn(
                    gpu, "10de", "1eb8", "030200", rev: "a1", subsys: ("10de", "12a2"), config: cfg.bytes(), link: (3, 16, 3, 16),
                    driver: shape == .mixed ? "nvidia" : "vfio-pci", numa: numa, parent: port,
                    attributes: ["reset_method": "flr bus"],
                    resource: TreeBuilder.resourceLines([
                        .mem32(0, try take32(16 << 20), 16 << 20),
                        .mem64Pref(1, take64(256 << 20), 256 << 20),
                        .mem64Pref(3, take64(32 << 20), 32 << 20),
                    ]))
                remaining -= 1
                summary.gpus += 1
                try slot(gpu)
            case .nvme:
                let (port, bus) = try rootPort(buses: 1, link: (4, 4, 4, 4))
                let dev = address(bus, 0, 0)
                let (device, subsys) = nvmeNumber % 2 == 0 ? ("a824", ("144d", "a801")) : ("0b60", ("8086", "8008"))
                nvmeNumber += 1
                let cfg = ConfigSpace(
                    vendor: UInt16(subsys.0, radix: 16)!, device: UInt16(device, radix: 16)!,
                    classCode: 0x010802, revision: 0, subsystemVendor: UInt16(subsys.0, radix: 16)!,
                    subsystemDevice: UInt16(subsys.1, radix: 16)!, flr: true, link: (4, 4, 4, 4),
                    aer: true, dsn: newSerial())
                try fn(
                    dev, subsys.0, device, "010802", rev: "00", subsys: subsys, config: cfg.bytes(), link: (4, 4, 4, 4),
                    driver: "nvme", numa: numa, parent: port, attributes: ["reset_method": "flr bus"],
                    resource: TreeBuilder.resourceLines([.mem64(0, take64(16 << 10), 16 << 10)]))
                remaining -= 1
                summary.nvme += 1
                try slot(dev)
            case .nic:
                try e810(port: try rootPort(buses: 1, link: (4, 8, 4, 8)))
            case .gpuSwitch:
                let (port, bus) = try rootPort(buses: 4, link: (5, 16, 5, 16))
                let up = address(bus, 0, 0)
                try bridge(up, "1000", "c030", .upstream, sec: UInt8(bus + 1), sub: UInt8(bus + 3), parent: port, numa: numa)
                remaining -= 1
                summary.switchPorts += 1
                for i in 0..<2 {
                    let down = address(bus + 1, i, 0)
                    try bridge(
                        down, "1000", "c030", .downstream, sec: UInt8(bus + 2 + i), sub: UInt8(bus + 2 + i),
                        parent: up, numa: numa)
                    remaining -= 1
                    summary.switchPorts += 1
                    try h100(bus: bus + 2 + i, parent: down, driver: "nvidia", audioDriver: "snd_hda_intel", slot: false)
                }
            case .h100:
                let (port, bus) = try rootPort(buses: 1, link: (5, 16, 5, 16))
                try h100(
                    bus: bus, parent: port, driver: shape == .mixed ? "nvidia" : "vfio-pci",
                    audioDriver: shape == .mixed ? "snd_hda_intel" : "vfio-pci", slot: true)
            case .empty:
                _ = try rootPort(buses: 1, link: (4, 16, 4, 16))
            case .hgxGPU(let withNIC):
                let (port, bus) = try rootPort(buses: withNIC ? 4 : 3, link: (5, 16, 5, 16))
                let up = address(bus, 0, 0)
                try bridge(
                    up, "1000", "c030", .upstream, sec: UInt8(bus + 1), sub: UInt8(bus + (withNIC ? 3 : 2)),
                    parent: port, numa: numa)
                let down = address(bus + 1, 0, 0)
                try bridge(down, "1000", "c030", .downstream, sec: UInt8(bus + 2), sub: UInt8(bus + 2), parent: up, numa: numa)
                remaining -= 2
                summary.switchPorts += 2
                try h100(bus: bus + 2, parent: down, driver: "vfio-pci", audioDriver: "vfio-pci", slot: false)
                if withNIC {
                    let nicDown = address(bus + 1, 1, 0)
                    try bridge(nicDown, "1000", "c030", .downstream, sec: UInt8(bus + 3), sub: UInt8(bus + 3), parent: up, numa: numa)
                    remaining -= 1
                    summary.switchPorts += 1
                    try connectX7(address(bus + 3, 0, 0), parent: nicDown)
                }
            case .nvswitches:
                let (port, bus) = try rootPort(buses: 6, link: (5, 16, 5, 16))
                let up = address(bus, 0, 0)
                try bridge(up, "1000", "c030", .upstream, sec: UInt8(bus + 1), sub: UInt8(bus + 5), parent: port, numa: numa)
                remaining -= 1
                summary.switchPorts += 1
                for i in 0..<4 {
                    let down = address(bus + 1, i, 0)
                    try bridge(
                        down, "1000", "c030", .downstream, sec: UInt8(bus + 2 + i), sub: UInt8(bus + 2 + i),
                        parent: up, numa: numa)
                    let s = address(bus + 2 + i, 0, 0)
                    // Subsystem 10de:1796 is a placeholder: no public listing names the NVSwitch's.
                    let cfg = ConfigSpace(
                        vendor: 0x10de, device: 0x22a3, classCode: 0x068000, revision: 0xa1,
                        subsystemVendor: 0x10de, subsystemDevice: 0x1796, link: (4, 2, 4, 2), aer: true)
                    try fn(
                        s, "10de", "22a3", "068000", rev: "a1", subsys: ("10de", "1796"), config: cfg.bytes(), link: (4, 2, 4, 2),
                        driver: "vfio-pci", numa: numa, parent: down, attributes: ["reset_method": "bus"],
                        resource: TreeBuilder.resourceLines([.mem32(0, try take32(32 << 20), 32 << 20)]))
                    remaining -= 2
                    summary.switchPorts += 1
                    summary.nvswitches += 1
                }
            }
        }

        /// An H100 at `bus`:00.0 with its HDA function at .1 when a function is left for it:
        /// one multi-function device without ACS, so one IOMMU group. `slot`: the GPU sits in
        /// its root port's slot (not on a switch on the baseboard).
        mutating func h100(bus: Int, parent: String, driver: String, audioDriver: String, slot inSlot: Bool) throws {
            let withAudio = remaining >= 2
            let gpu = address(bus, 0, 0)
            let group = a.newGroup()
            let cfg = ConfigSpace(
                vendor: 0x10de, device: 0x2330, classCode: 0x030200, revision: 0xa1, multiFunction: withAudio,
                subsystemVendor: 0x10de, subsystemDevice: 0x16c1, flr: true, link: (5, 16, 5, 16),
                aer: true, ari: withAudio, dsn: newSerial())
            try fn(
                gpu, "10de", "2330", "030200", rev: "a1", subsys: ("10de", "16c1"), config: cfg.bytes(), link: (5, 16, 5, 16),
                driver: driver, group: group, numa: numa, parent: parent, attributes: ["reset_method": "flr bus"],
                resource: TreeBuilder.resourceLines([
                    .mem32(0, try take32(16 << 20), 16 << 20),
                    .mem64Pref(2, take64(128 << 30), 128 << 30),
                    .mem64Pref(4, take64(32 << 20), 32 << 20),
                ]))
            remaining -= 1
            summary.gpus += 1
            if withAudio {
                let hda = address(bus, 0, 1)
                let acfg = ConfigSpace(
                    vendor: 0x10de, device: 0x22ba, classCode: 0x040300, revision: 0xa1, multiFunction: true,
                    subsystemVendor: 0x10de, subsystemDevice: 0x16c1, flr: true, link: (5, 16, 5, 16),
                    aer: true, ari: true)
                try fn(
                    hda, "10de", "22ba", "040300", rev: "a1", subsys: ("10de", "16c1"), config: acfg.bytes(), link: (5, 16, 5, 16),
                    driver: audioDriver, group: group, numa: numa, parent: parent,
                    attributes: ["reset_method": "flr bus"],
                    resource: TreeBuilder.resourceLines([.mem32(0, try take32(16 << 10), 16 << 10)]))
                remaining -= 1
                summary.audio += 1
            }
            if inSlot { try slot(gpu) }
        }

        /// Intel E810-XXV, two ports (two PFs with ACS: a group each), TotalVFs 64 per PF; VFs
        /// enabled per the repeating pattern, as many as the functions left allow.
        mutating func e810(port: (port: String, secondary: Int)) throws {
            let pattern = [4, 8, 16, 0, 32, 8, 64, 24]
            let want = [pattern[(2 * nicNumber) % pattern.count], pattern[(2 * nicNumber + 1) % pattern.count]]
            nicNumber += 1
            let room = remaining - 2
            var numVFs = [min(want[0], room), 0]
            numVFs[1] = min(want[1], room - numVFs[0])
            let dsn = newSerial()
            var pfs: [String] = []
            for f in 0..<2 {
                let pf = address(port.secondary, 0, f)
                let offset = 8 + f * 63
                let cfg = ConfigSpace(
                    vendor: 0x8086, device: 0x159b, classCode: 0x020000, revision: 0x02, multiFunction: true,
                    subsystemVendor: 0x8086, subsystemDevice: 0x0003, flr: true, link: (4, 8, 4, 8),
                    aer: true, acs: (0x1f, 0x1d), sriov: (64, 64, UInt16(numVFs[f]), 0x1889), ari: true,
                    dsn: dsn, sriovRouting: (UInt16(offset), 1), sriovEnabled: numVFs[f] > 0)
                let bar0 = take64(32 << 20), bar3 = take64(64 << 10)
                let vfBar0 = take64(64 * (128 << 10)), vfBar3 = take64(64 * (16 << 10))
                try fn(
                    pf, "8086", "159b", "020000", rev: "02", subsys: ("8086", "0003"), config: cfg.bytes(), link: (4, 8, 4, 8),
                    driver: "ice", numa: numa, parent: port.port, attributes: ["reset_method": "flr bus"],
                    resource: TreeBuilder.resourceLines([
                        .mem64Pref(0, bar0, 32 << 20), .mem64Pref(3, bar3, 64 << 10),
                        .mem64Pref(7, vfBar0, 64 * (128 << 10)),
                        .mem64Pref(10, vfBar3, 64 * (16 << 10)),
                    ]))
                remaining -= 1
                summary.nicPFs += 1
                pfs.append(pf)
            }
            try slot(pfs[0])
            for (f, pf) in pfs.enumerated() {
                let vfs = TreeBuilder.vfAddresses(pf: pf, count: numVFs[f], offset: 8 + f * 63, stride: 1)
                for vf in vfs {
                    let cfg = ConfigSpace(
                        vendor: 0x8086, device: 0x1889, classCode: 0x020000, revision: 0x02,
                        subsystemVendor: 0x8086, subsystemDevice: 0x0003, pm: nil, flr: true,
                        link: (4, 8, 4, 8), ari: true, virtualFunction: true)
                    try fn(
                        vf, "8086", "1889", "020000", rev: "02", subsys: ("8086", "0003"), config: cfg.bytes(), link: (4, 8, 4, 8),
                        virtualFunction: true,
                        driver: "iavf", numa: numa, parent: port.port, attributes: ["reset_method": "flr"],
                        resource: TreeBuilder.resourceLines([
                            .mem64Pref(0, take64(128 << 10), 128 << 10),
                            .mem64Pref(3, take64(16 << 10), 16 << 10),
                        ]))
                    remaining -= 1
                    summary.vfs += 1
                }
                try t.sriov(pf: pf, totalVFs: 64, vfDevice: "1889", vfs: vfs, offset: 8 + f * 63, stride: 1)
            }
        }

        /// A ConnectX-7 with up to 8 VFs on vfio-pci (as many as the functions left allow).
        mutating func connectX7(_ pf: String, parent: String) throws {
            let numVFs = min(8, remaining - 1)
            try a.connectX7(pf, parent: parent, numa: numa, totalVFs: 16, numVFs: numVFs, dsn: newSerial())
            try common(pf, "15b3", "1021", "020000", subsys: ("15b3", "0040"), link: (5, 16, 5, 16), virtualFunction: false)
            remaining -= 1
            summary.nicPFs += 1
            let vfs = TreeBuilder.vfAddresses(pf: pf, count: numVFs, offset: 1, stride: 1)
            for vf in vfs {
                let cfg = ConfigSpace(
                    vendor: 0x15b3, device: 0x101e, classCode: 0x020000, revision: 0x00,
                    subsystemVendor: 0x15b3, subsystemDevice: 0x0040, pm: nil, flr: true,
                    link: (5, 16, 5, 16), acs: (0x1f, 0x1d), ari: true, virtualFunction: true)
                try fn(
                    vf, "15b3", "101e", "020000", rev: "00", subsys: ("15b3", "0040"), config: cfg.bytes(), link: (5, 16, 5, 16),
                    virtualFunction: true,
                    driver: "vfio-pci", numa: numa, parent: parent, attributes: ["reset_method": "flr"],
                    resource: TreeBuilder.resourceLines([.mem64Pref(0, take64(2 << 20), 2 << 20)]))
                remaining -= 1
                summary.vfs += 1
            }
            if numVFs > 0 { try t.sriov(pf: pf, totalVFs: 16, vfDevice: "101e", vfs: vfs, offset: 1, stride: 1) }
        }
    }
}
