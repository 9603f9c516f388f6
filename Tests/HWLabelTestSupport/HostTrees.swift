import Foundation

/// Kernel-shaped sysfs trees of three real kinds of host, for tests of device modes
/// (passthrough, SR-IOV, mdev vGPU, NVIDIA vendor-specific VFIO vGPU) and readiness.
///
/// Each builder returns the `TreeBuilder` (the caller runs `cleanup()`) and a value naming the
/// interesting addresses. IDs are real (pci.ids, or the NVIDIA notes in
/// `shared/fixtures/real/sysfs-notes` where the Debian 12 pci.ids is too old to name them);
/// placeholders are marked. Layout follows the kernel: functions under their bridges, one
/// IOMMU group per function behind ACS-capable ports, the functions of a multi-function
/// device without ACS (PCH, GPU companions) and a conventional bus behind a PCIe-to-PCI bridge
/// sharing one; groups numbered in discovery order, and groups of VFs (enabled after boot)
/// and of mdevs numbered after every boot-time group.
package enum HostTrees {
    // MARK: HGX H100

    package struct HGXH100Options {
        /// Indices (0…7) of the H100s the host uses: on `nvidia` with `drm/card<1+k>` and
        /// `renderD<128+k>`, and `/proc/driver/nvidia/gpus/<BDF>/information` when `nvidiaProc`.
        /// The others are on `vfio-pci` with `vfio-dev/vfio<N>`.
        package var hostGPUs: Set<Int> = [0]
        package var nvidiaProc = true
        /// Per-address driver override (nil value: unbound), applied to every function.
        package var drivers: [String: String?] = [:]
        package init(hostGPUs: Set<Int> = [0], nvidiaProc: Bool = true, drivers: [String: String?] = [:]) {
            self.hostGPUs = hostGPUs
            self.nvidiaProc = nvidiaProc
            self.drivers = drivers
        }
    }

    package struct HGXH100 {
        /// The 8 H100 SXM5 GPUs (10de:2330, subsystem 10de:16c1, class 0302), as DGX H100 numbers them.
        package var gpus: [String]
        /// Per GPU: its CPU root port, PEX89000 switch upstream port and downstream port.
        package var rootPorts: [String]
        package var switchUpstreamPorts: [String]
        package var switchDownstreamPorts: [String]
        /// The 4 NVSwitches (10de:22a3, class 0680) and their switch's ports.
        package var nvswitches: [String]
        package var nvswitchRootPort: String
        package var nvswitchUpstreamPort: String
        package var nvswitchDownstreamPorts: [String]
        /// ConnectX-7 (15b3:1021) NICs, under the switches of GPU 0 and GPU 4, and their ports.
        package var nics: [String]
        package var nicDownstreamPorts: [String]
        package var hostBridge: String
        package var isaBridge: String
        package var smbus: String
        /// BMC VGA (ASPEED 1a03:2000, `ast`, boot_vga 1, drm card0) behind the ASPEED
        /// PCIe-to-PCI bridge (1a03:1150), both in one group.
        package var bmcRootPort: String
        package var bmcBridge: String
        package var bmcVGA: String
        /// Every function's IOMMU group.
        package var groups: [String: Int]
        /// Every function, sorted.
        package var all: [String]
        package init(
            gpus: [String], rootPorts: [String], switchUpstreamPorts: [String], switchDownstreamPorts: [String], nvswitches: [String],
            nvswitchRootPort: String, nvswitchUpstreamPort: String, nvswitchDownstreamPorts: [String], nics: [String],
            nicDownstreamPorts: [String], hostBridge: String, isaBridge: String, smbus: String, bmcRootPort: String, bmcBridge: String,
            bmcVGA: String, groups: [String: Int], all: [String]
        ) {
            self.gpus = gpus
            self.rootPorts = rootPorts
            self.switchUpstreamPorts = switchUpstreamPorts
            self.switchDownstreamPorts = switchDownstreamPorts
            self.nvswitches = nvswitches
            self.nvswitchRootPort = nvswitchRootPort
            self.nvswitchUpstreamPort = nvswitchUpstreamPort
            self.nvswitchDownstreamPorts = nvswitchDownstreamPorts
            self.nics = nics
            self.nicDownstreamPorts = nicDownstreamPorts
            self.hostBridge = hostBridge
            self.isaBridge = isaBridge
            self.smbus = smbus
            self.bmcRootPort = bmcRootPort
            self.bmcBridge = bmcBridge
            self.bmcVGA = bmcVGA
            self.groups = groups
            self.all = all
        }
    }

    package static func hgxH100(_ o: HGXH100Options = .init()) throws -> (tree: TreeBuilder, host: HGXH100) {
        let a = try Assembler(drivers: o.drivers, cpus: ["0-55,112-167", "56-111,168-223"])
        let t = a.t
        // Sapphire Rapids (root port 8086:352a, host bridge 8086:09a2) with an Emmitsburg PCH
        // (eSPI 8086:1b81 on lpc_ich, SMBus 8086:1bc9 on i801_smbus).
        let pch = try a.platform(hostBridge: "09a2", isa: "1b81", smbus: "1bc9")

        // NVSwitches: one PEX89000 switch (1000:c030, subsystem 1000:0104) on root bus 04.
        let nvRoot = "0000:04:01.0", nvUp = "0000:05:00.0"
        try a.bridge(nvRoot, "8086", "352a", .rootPort, sec: 0x05, sub: 0x0a, parent: nil, numa: 0)
        try a.bridge(nvUp, "1000", "c030", .upstream, sec: 0x06, sub: 0x0a, parent: nvRoot, numa: 0)
        var nvDowns: [String] = [], nvswitches: [String] = []
        for i in 0..<4 {
            let d = "0000:06:0\(i).0"
            try a.bridge(d, "1000", "c030", .downstream, sec: UInt8(7 + i), sub: UInt8(7 + i), parent: nvUp, numa: 0)
            nvDowns.append(d)
        }
        for i in 0..<4 {
            let s = String(format: "0000:%02x:00.0", 7 + i)
            // Subsystem 10de:1796 is a placeholder: no public listing names the NVSwitch's.
            let cfg = ConfigSpace(
                vendor: 0x10de, device: 0x22a3, classCode: 0x068000, revision: 0xa1,
                subsystemVendor: 0x10de, subsystemDevice: 0x1796, flr: false,
                link: (4, 2, 4, 2), aer: true)
            try a.fn(
                s, "10de", "22a3", "068000", rev: "a1", subsys: ("10de", "1796"), config: cfg.bytes(),
                driver: "nvidia-nvswitch", numa: 0, parent: nvDowns[i], attributes: ["reset_method": "bus"],
                resource: TreeBuilder.resourceLines([.mem32(0, 0xa000_0000 + UInt64(i) << 25, 32 << 20)]))
            nvswitches.append(s)
        }

        // BMC: CPU root port on root bus 15 → ASPEED bridge → conventional bus 17 with the VGA.
        let bmcRoot = "0000:15:01.0", bmcBridge = "0000:16:00.0", bmcVGA = "0000:17:00.0"
        try a.bridge(bmcRoot, "8086", "352a", .rootPort, sec: 0x16, sub: 0x17, parent: nil, numa: 0)
        let bmcGroup = a.newGroup()
        try a.bridge(
            bmcBridge, "1a03", "1150", .pciBridge, sec: 0x17, sub: 0x17, parent: bmcRoot, numa: 0,
            group: bmcGroup, driver: nil, rev: 0x06, link: (2, 1, 2, 1))
        let vgaCfg = ConfigSpace(
            vendor: 0x1a03, device: 0x2000, classCode: 0x030000, revision: 0x52,
            subsystemVendor: 0x1a03, subsystemDevice: 0x2000, express: nil, size: 256)
        try a.fn(
            bmcVGA, "1a03", "2000", "030000", rev: "52", subsys: ("1a03", "2000"), config: vgaCfg.bytes(),
            driver: "ast", group: bmcGroup, numa: 0, parent: bmcBridge,
            attributes: ["boot_vga": "1", "reset_method": "pm bus"],
            resource: TreeBuilder.resourceLines([.mem32(0, 0x9400_0000, 64 << 20), .mem32(1, 0x9800_0000, 256 << 10)]))
        if a.driver(bmcVGA) == "ast" { try t.drmNodes(bmcVGA, card: 0, render: nil) }

        // GPUs: root port → PEX89000 upstream → downstream → H100; GPU 0 and 4 share their
        // switch with a ConnectX-7 (GPUDirect RDMA pairs).
        let gpuBuses = [0x1b, 0x43, 0x52, 0x61, 0x9d, 0xc3, 0xd1, 0xdf]
        var h = HGXH100(
            gpus: [], rootPorts: [], switchUpstreamPorts: [], switchDownstreamPorts: [], nvswitches: nvswitches,
            nvswitchRootPort: nvRoot, nvswitchUpstreamPort: nvUp, nvswitchDownstreamPorts: nvDowns,
            nics: [], nicDownstreamPorts: [], hostBridge: pch.host, isaBridge: pch.isa, smbus: pch.smbus,
            bmcRootPort: bmcRoot, bmcBridge: bmcBridge, bmcVGA: bmcVGA, groups: [:], all: [])
        var nvidiaMinor = 0
        for (i, bus) in gpuBuses.enumerated() {
            let numa = i < 4 ? 0 : 1
            let withNIC = i == 0 || i == 4
            let last = UInt8(bus + (withNIC ? 1 : 0))
            let root = String(format: "0000:%02x:01.0", bus - 3)
            let up = String(format: "0000:%02x:00.0", bus - 2)
            let down = String(format: "0000:%02x:00.0", bus - 1)
            let gpu = String(format: "0000:%02x:00.0", bus)
            try a.bridge(root, "8086", "352a", .rootPort, sec: UInt8(bus - 2), sub: last, parent: nil, numa: numa)
            try a.bridge(up, "1000", "c030", .upstream, sec: UInt8(bus - 1), sub: last, parent: root, numa: numa)
            try a.bridge(down, "1000", "c030", .downstream, sec: UInt8(bus), sub: UInt8(bus), parent: up, numa: numa)
            var nicDown: String?
            if withNIC {
                let d = String(format: "0000:%02x:01.0", bus - 1)
                try a.bridge(d, "1000", "c030", .downstream, sec: UInt8(bus + 1), sub: UInt8(bus + 1), parent: up, numa: numa)
                nicDown = d
            }
            let cfg = ConfigSpace(
                vendor: 0x10de, device: 0x2330, classCode: 0x030200, revision: 0xa1,
                subsystemVendor: 0x10de, subsystemDevice: 0x16c1, flr: true, link: (5, 16, 5, 16),
                aer: true, dsn: 0x4844_3130_3000_0000 | UInt64(i))
            let base = 0x2000_0000_0000 + UInt64(i) << 38
            let driver = o.hostGPUs.contains(i) ? "nvidia" : "vfio-pci"
            try a.fn(
                gpu, "10de", "2330", "030200", rev: "a1", subsys: ("10de", "16c1"), config: cfg.bytes(),
                driver: driver, numa: numa, parent: down, attributes: ["reset_method": "flr bus"],
                resource: TreeBuilder.resourceLines([
                    .mem32(0, 0xb000_0000 + UInt64(i) << 24, 16 << 20),
                    .mem64Pref(2, base, 128 << 30),
                    .mem64Pref(4, base + (128 << 30), 32 << 20),
                ]))
            if a.driver(gpu) == "nvidia" {
                try t.drmNodes(gpu, card: 1 + nvidiaMinor, render: 128 + nvidiaMinor)
                if o.nvidiaProc {
                    try t.nvidiaInformation(
                        gpu, model: "NVIDIA H100 80GB HBM3", minor: nvidiaMinor,
                        uuid: "GPU-6f3a0c2e-91d4-4b7a-8c55-0d1e2f3a4b\(String(format: "%02x", i))")
                }
                nvidiaMinor += 1
            }
            h.gpus.append(gpu)
            h.rootPorts.append(root)
            h.switchUpstreamPorts.append(up)
            h.switchDownstreamPorts.append(down)
            if let nicDown {
                let nic = String(format: "0000:%02x:00.0", bus + 1)
                try a.connectX7(nic, parent: nicDown, numa: numa, totalVFs: 16, dsn: 0xb8ce_f603_00a1_0000 | UInt64(i))
                if a.driver(nic) == "mlx5_core" {
                    try t.net(
                        nic,
                        interfaces: [
                            (
                                String(format: "ens%dnp0", h.nics.count + 1),
                                String(format: "b8:ce:f6:a1:00:%02x", i)
                            )
                        ])
                }
                h.nics.append(nic)
                h.nicDownstreamPorts.append(nicDown)
            }
        }
        try a.iommuUnits()
        h.groups = a.groups
        h.all = a.addresses.sorted()
        return (t, h)
    }

    // MARK: vGPU host

    package struct VGPUHostOptions {
        /// VFs enabled on each L40S (TotalVFs 32; NVIDIA's sriov-manage enables them all on a
        /// real host, 16 keeps the tree small).
        package var l40sVFs = 16
        /// VFs of the second L40S that run `NVIDIA L40S-8Q`.
        package var runningL40S8Q = 3
        /// One `GRID T4-4Q` mdev exists on the second T4.
        package var t4Instance = true
        package var rtx8000AudioDriver: String? = "snd_hda_intel"
        package var nvidiaProc = true
        package var drivers: [String: String?] = [:]
        package init(
            l40sVFs: Int = 16, runningL40S8Q: Int = 3, t4Instance: Bool = true, rtx8000AudioDriver: String? = "snd_hda_intel",
            nvidiaProc: Bool = true, drivers: [String: String?] = [:]
        ) {
            self.l40sVFs = l40sVFs
            self.runningL40S8Q = runningL40S8Q
            self.t4Instance = t4Instance
            self.rtx8000AudioDriver = rtx8000AudioDriver
            self.nvidiaProc = nvidiaProc
            self.drivers = drivers
        }
    }

    package struct VGPUHost {
        /// L40S (10de:26b9, subsystem 10de:1851) PFs on `nvidia`, and the VFs of each.
        package var l40s: [String]
        package var l40sVFs: [[String]]
        /// VFs of `l40s[1]` running L40S-8Q, and the free ones.
        package var runningVFs: [String]
        /// Tesla T4s (10de:1eb8, subsystem 10de:12a2) with mdev types.
        package var t4: [String]
        /// The existing T4-4Q mdev on `t4[1]`, and its emulated IOMMU group.
        package var mdevUUID: String?
        package var mdevGroup: Int?
        /// Quadro RTX 6000 (10de:1e30, subsystem 10de:12ba) and its .1 .2 .3, all on vfio-pci.
        package var rtx6000: String
        package var rtx6000Companions: [String]
        /// Quadro RTX 8000 (10de:1e30, subsystem 10de:129e) on nvidia; audio on snd_hda_intel,
        /// USB on xhci_hcd, UCSI on nvidia-gpu.
        package var rtx8000: String
        package var rtx8000Companions: [String]
        package var rootPorts: [String]
        package var hostBridge: String
        package var isaBridge: String
        package var smbus: String
        package var groups: [String: Int]
        package var all: [String]
        package init(
            l40s: [String], l40sVFs: [[String]], runningVFs: [String], t4: [String], mdevUUID: String? = nil, mdevGroup: Int? = nil,
            rtx6000: String, rtx6000Companions: [String], rtx8000: String, rtx8000Companions: [String], rootPorts: [String],
            hostBridge: String, isaBridge: String, smbus: String, groups: [String: Int], all: [String]
        ) {
            self.l40s = l40s
            self.l40sVFs = l40sVFs
            self.runningVFs = runningVFs
            self.t4 = t4
            self.mdevUUID = mdevUUID
            self.mdevGroup = mdevGroup
            self.rtx6000 = rtx6000
            self.rtx6000Companions = rtx6000Companions
            self.rtx8000 = rtx8000
            self.rtx8000Companions = rtx8000Companions
            self.rootPorts = rootPorts
            self.hostBridge = hostBridge
            self.isaBridge = isaBridge
            self.smbus = smbus
            self.groups = groups
            self.all = all
        }
    }

    /// L40S vGPU types (vGPU 17 numbering is driver-specific; these are plausible).
    package static let l40sProfiles: [TreeBuilder.VGPUProfile] = [
        .init(id: 1155, name: "NVIDIA L40S-1Q"), .init(id: 1156, name: "NVIDIA L40S-2Q"),
        .init(id: 1157, name: "NVIDIA L40S-4Q"), .init(id: 1158, name: "NVIDIA L40S-8Q"),
        .init(id: 1159, name: "NVIDIA L40S-12Q"), .init(id: 1160, name: "NVIDIA L40S-16Q"),
        .init(id: 1161, name: "NVIDIA L40S-24Q"), .init(id: 1162, name: "NVIDIA L40S-48Q"),
    ]
    package static var l40s8Q: TreeBuilder.VGPUProfile { l40sProfiles[3] }

    /// T4 mdev types: id, name, framebuffer MiB, max_instance, frl_config.
    package static let t4Types: [(id: String, name: String, fbMiB: Int, max: Int, frl: Int)] = [
        ("nvidia-222", "GRID T4-1B", 1024, 16, 45), ("nvidia-223", "GRID T4-2B", 2048, 8, 45),
        ("nvidia-230", "GRID T4-1Q", 1024, 16, 60), ("nvidia-231", "GRID T4-2Q", 2048, 8, 60),
        ("nvidia-232", "GRID T4-4Q", 4096, 4, 60), ("nvidia-233", "GRID T4-8Q", 8192, 2, 60),
        ("nvidia-234", "GRID T4-16Q", 16384, 1, 60),
    ]
    package static func t4Description(_ fbMiB: Int, _ max: Int, _ frl: Int) -> String {
        "num_heads=4, frl_config=\(frl), framebuffer=\(fbMiB)M, max_resolution=5120x2880, max_instance=\(max)"
    }

    package static func vgpuHost(_ o: VGPUHostOptions = .init()) throws -> (tree: TreeBuilder, host: VGPUHost) {
        let a = try Assembler(drivers: o.drivers, cpus: ["0-31,64-95", "32-63,96-127"])
        let t = a.t
        // Ice Lake-SP (root port 8086:347a, host bridge 8086:09a2), Lewisburg PCH (C621 LPC
        // 8086:a1c1, SMBus 8086:a1a3).
        let pch = try a.platform(hostBridge: "09a2", isa: "a1c1", smbus: "a1a3")
        var roots: [String] = []
        var nvidiaMinor = 0
        func proc(_ gpu: String, _ model: String) throws {
            guard a.driver(gpu) == "nvidia" else { return }
            if o.nvidiaProc {
                try t.nvidiaInformation(
                    gpu, model: model, minor: nvidiaMinor,
                    uuid: "GPU-2b7c4d1e-5f60-4a8b-9c0d-1e2f3a4b5c\(String(format: "%02x", nvidiaMinor))")
            }
            nvidiaMinor += 1
        }

        // L40S ×2: Gen4 x16, SR-IOV (TotalVFs 32, offset 4, stride 1), VFs enabled.
        var l40s: [String] = [], l40sVFs: [[String]] = []
        for (i, bus) in [0x17, 0x31].enumerated() {
            let root = String(format: "0000:%02x:02.0", bus - 1)
            try a.bridge(
                root, "8086", "347a", .rootPort, sec: UInt8(bus), sub: UInt8(bus), parent: nil, numa: 0,
                link: (4, 16, 4, 16))
            roots.append(root)
            let pf = String(format: "0000:%02x:00.0", bus)
            let n = o.l40sVFs
            let cfg = ConfigSpace(
                vendor: 0x10de, device: 0x26b9, classCode: 0x030200, revision: 0xa1,
                subsystemVendor: 0x10de, subsystemDevice: 0x1851, flr: true, link: (4, 16, 4, 16),
                aer: true, acs: (0x1f, 0x1d), sriov: (32, 32, UInt16(n), 0x26b9), ari: true,
                dsn: 0x4c34_3053_0000_0000 | UInt64(i), sriovRouting: (4, 1), sriovEnabled: n > 0)
            let base = 0x3000_0000_0000 + UInt64(i) << 40
            try a.fn(
                pf, "10de", "26b9", "030200", rev: "a1", subsys: ("10de", "1851"), config: cfg.bytes(),
                driver: "nvidia", numa: 0, parent: root, attributes: ["reset_method": "flr bus"],
                resource: TreeBuilder.resourceLines([
                    .mem32(0, 0xc000_0000 + UInt64(i) << 25, 16 << 20),
                    .mem64Pref(2, base, 64 << 30),
                    .mem64Pref(4, base + (64 << 30), 32 << 20),
                    .mem64(7, base + (96 << 30), 32 * (256 << 10)),
                    .mem64Pref(9, base + (128 << 30), 32 * (4 << 30)),
                    .mem64Pref(11, base + (256 << 30), 32 * (32 << 20)),
                ]))
            try t.slot("\(i + 1)", address: pf)
            try proc(pf, "NVIDIA L40S")
            l40s.append(pf)
            l40sVFs.append(TreeBuilder.vfAddresses(pf: pf, count: n, offset: 4, stride: 1))
        }
        // T4 ×2: Gen3 x16, no FLR (reset by bus), mdev types.
        var t4: [String] = []
        for (i, bus) in [0x4b, 0x99].enumerated() {
            let numa = i
            let root = String(format: "0000:%02x:02.0", bus - 1)
            try a.bridge(
                root, "8086", "347a", .rootPort, sec: UInt8(bus), sub: UInt8(bus), parent: nil, numa: numa,
                link: (4, 16, 3, 16))
            roots.append(root)
            let gpu = String(format: "0000:%02x:00.0", bus)
            let cfg = ConfigSpace(
                vendor: 0x10de, device: 0x1eb8, classCode: 0x030200, revision: 0xa1,
                subsystemVendor: 0x10de, subsystemDevice: 0x12a2, pm: false, flr: false,
                link: (3, 16, 3, 16), aer: true)
            try a.fn(
                gpu, "10de", "1eb8", "030200", rev: "a1", subsys: ("10de", "12a2"), config: cfg.bytes(),
                driver: "nvidia", numa: numa, parent: root, attributes: ["reset_method": "pm bus"],
                resource: TreeBuilder.resourceLines([
                    .mem32(0, 0xd000_0000 + UInt64(i) << 25, 16 << 20),
                    .mem64Pref(1, 0x3800_0000_0000 + UInt64(i) << 32, 256 << 20),
                    .mem64Pref(3, 0x3800_1000_0000 + UInt64(i) << 32, 32 << 20),
                ]))
            try t.slot("\(i + 3)", address: gpu)
            try proc(gpu, "Tesla T4")
            let withInstance = o.t4Instance && i == 1
            for ty in t4Types {
                let available = withInstance ? (ty.id == "nvidia-232" ? ty.max - 1 : 0) : ty.max
                try t.mdevType(
                    gpu, id: ty.id, name: ty.name, description: t4Description(ty.fbMiB, ty.max, ty.frl),
                    available: "\(available)")
            }
            try t.mdevParent(gpu)
            t4.append(gpu)
        }
        // Quadro RTX 6000 (all four functions on vfio-pci) and RTX 8000 (host-owned), TU102GL
        // with HDA audio 10f7, USB 1ad6, UCSI 1ad7 in one group each (no ACS between functions).
        func quadro(bus: Int, subsys: String, slot: String, drivers: [String?], bootVGA: String) throws -> (String, [String]) {
            let root = String(format: "0000:%02x:02.0", bus - 1)
            try a.bridge(
                root, "8086", "347a", .rootPort, sec: UInt8(bus), sub: UInt8(bus), parent: nil, numa: 1,
                link: (4, 16, 3, 16))
            roots.append(root)
            let g = a.newGroup()
            let sd = UInt16(subsys, radix: 16)!
            let fns: [(String, String, UInt32, [String: String])] = [
                ("1e30", "030000", 0x030000, ["boot_vga": bootVGA, "reset_method": "flr"]),
                ("10f7", "040300", 0x040300, ["reset_method": "flr"]),
                ("1ad6", "0c0330", 0x0c0330, ["reset_method": "pm"]),
                ("1ad7", "0c8000", 0x0c8000, ["reset_method": "pm"]),
            ]
            var addrs: [String] = []
            for (f, (dev, cls, clsValue, attrs)) in fns.enumerated() {
                let addr = String(format: "0000:%02x:00.%d", bus, f)
                let cfg = ConfigSpace(
                    vendor: 0x10de, device: UInt16(dev, radix: 16)!, classCode: clsValue, revision: 0xa1,
                    multiFunction: true, subsystemVendor: 0x10de, subsystemDevice: sd,
                    pm: f >= 2 ? false : true, flr: f < 2, link: (3, 16, 3, 16), aer: f == 0)
                let res: [TreeBuilder.BARSpec] =
                    f == 0
                    ? [
                        .mem32(0, 0xe000_0000 + UInt64(bus) << 24, 16 << 20),
                        .mem64Pref(1, 0x3900_0000_0000 + UInt64(bus) << 32, 256 << 20),
                        .mem64Pref(3, 0x3900_1000_0000 + UInt64(bus) << 32, 32 << 20),
                    ]
                    : [.mem32(0, 0xe100_0000 + UInt64(bus) << 24 + UInt64(f) << 18, 256 << 10)]
                try a.fn(
                    addr, "10de", dev, cls, rev: "a1", subsys: ("10de", subsys), config: cfg.bytes(),
                    driver: drivers[f], group: g, numa: 1, parent: root, attributes: attrs,
                    resource: TreeBuilder.resourceLines(res))
                addrs.append(addr)
            }
            try t.slot(slot, address: addrs[0])
            return (addrs[0], Array(addrs.dropFirst()))
        }
        let (rtx6000, c6000) = try quadro(
            bus: 0xb2, subsys: "12ba", slot: "5", drivers: Array(repeating: "vfio-pci", count: 4),
            bootVGA: "0")
        let (rtx8000, c8000) = try quadro(
            bus: 0xcb, subsys: "129e", slot: "6",
            drivers: ["nvidia", o.rtx8000AudioDriver, "xhci_hcd", "nvidia-gpu"], bootVGA: "0")
        if a.driver(rtx8000) == "nvidia" { try t.drmNodes(rtx8000, card: 0, render: 128) }
        try proc(rtx8000, "Quadro RTX 8000")

        // VFs, enabled after boot by sriov-manage: groups numbered after every boot-time one.
        var running: [String] = []
        for (i, pf) in l40s.enumerated() {
            let vfs = l40sVFs[i]
            for (k, vf) in vfs.enumerated() {
                let cfg = ConfigSpace(
                    vendor: 0x10de, device: 0x26b9, classCode: 0x030200, revision: 0xa1,
                    subsystemVendor: 0x10de, subsystemDevice: 0x1851, pm: nil, flr: true,
                    link: (4, 16, 4, 16), acs: (0x1f, 0x1d), ari: true, virtualFunction: true)
                let base = 0x3000_0000_0000 + UInt64(i) << 40
                try a.fn(
                    vf, "10de", "26b9", "030200", rev: "a1", subsys: ("10de", "1851"), config: cfg.bytes(),
                    driver: "nvidia", numa: 0, parent: t.parentBridge(of: pf), attributes: ["reset_method": "flr"],
                    resource: TreeBuilder.resourceLines([
                        .mem64(0, base + (96 << 30) + UInt64(k) * (256 << 10), 256 << 10),
                        .mem64Pref(2, base + (128 << 30) + UInt64(k) * (4 << 30), 4 << 30),
                        .mem64Pref(4, base + (256 << 30) + UInt64(k) * (32 << 20), 32 << 20),
                    ]))
                guard a.driver(vf) == "nvidia" else { continue }
                if i == 1 && k < o.runningL40S8Q {
                    try t.nvidiaVGPU(vf, creatable: [], current: l40s8Q.id)
                    running.append(vf)
                } else if i == 1 && o.runningL40S8Q > 0 {
                    // Time-sliced vGPU is homogeneous per GPU: once a type runs, only it is creatable.
                    try t.nvidiaVGPU(vf, creatable: [l40s8Q], current: 0)
                } else {
                    try t.nvidiaVGPU(vf, creatable: l40sProfiles, current: 0)
                }
            }
            try t.sriov(pf: pf, totalVFs: 32, vfDevice: "26b9", vfs: vfs, offset: 4, stride: 1)
        }
        var mdevUUID: String?, mdevGroup: Int?
        if o.t4Instance {
            let uuid = "a297db4a-f4c2-11e6-90f6-d3b88d6c9525"
            let g = a.newGroup()
            try t.mdevInstance(parent: t4[1], type: "nvidia-232", uuid: uuid, emulatedIOMMUGroup: g)
            mdevUUID = uuid
            mdevGroup = g
        }
        try a.iommuUnits()
        let host = VGPUHost(
            l40s: l40s, l40sVFs: l40sVFs, runningVFs: running, t4: t4, mdevUUID: mdevUUID, mdevGroup: mdevGroup,
            rtx6000: rtx6000, rtx6000Companions: c6000, rtx8000: rtx8000, rtx8000Companions: c8000,
            rootPorts: roots, hostBridge: pch.host, isaBridge: pch.isa, smbus: pch.smbus,
            groups: a.groups, all: a.addresses.sorted())
        return (t, host)
    }

    // MARK: SR-IOV NIC host

    package struct SRIOVNICHostOptions {
        /// VFs enabled on the first ConnectX-7 (TotalVFs 16).
        package var cx7VFs = 8
        /// How many of them (the last ones) are on vfio-pci; the rest on mlx5_core with a netdev.
        package var vfsOnVFIO = 4
        /// Add the X710 whose config space reads all ones.
        package var fellOff = true
        package var drivers: [String: String?] = [:]
        package init(cx7VFs: Int = 8, vfsOnVFIO: Int = 4, fellOff: Bool = true, drivers: [String: String?] = [:]) {
            self.cx7VFs = cx7VFs
            self.vfsOnVFIO = vfsOnVFIO
            self.fellOff = fellOff
            self.drivers = drivers
        }
    }

    package struct SRIOVNICHost {
        /// ConnectX-7 PFs (15b3:1021, mlx5_core): the first with VFs, the second with none enabled.
        package var cx7: [String]
        /// ConnectX VFs (15b3:101e) of `cx7[0]`, and which are on mlx5_core / vfio-pci.
        package var cx7VFs: [String]
        package var netVFs: [String]
        package var vfioVFs: [String]
        /// Intel E810-XXV (8086:159b, ice), two ports, SR-IOV capable (TotalVFs 128), none enabled.
        package var e810: [String]
        /// Intel X710 (8086:1572) that fell off the bus: config all ones, sysfs IDs cached.
        package var fellOff: String?
        package var rootPorts: [String]
        package var hostBridge: String
        package var isaBridge: String
        package var smbus: String
        package var groups: [String: Int]
        package var all: [String]
        package init(
            cx7: [String], cx7VFs: [String], netVFs: [String], vfioVFs: [String], e810: [String], fellOff: String? = nil,
            rootPorts: [String], hostBridge: String, isaBridge: String, smbus: String, groups: [String: Int], all: [String]
        ) {
            self.cx7 = cx7
            self.cx7VFs = cx7VFs
            self.netVFs = netVFs
            self.vfioVFs = vfioVFs
            self.e810 = e810
            self.fellOff = fellOff
            self.rootPorts = rootPorts
            self.hostBridge = hostBridge
            self.isaBridge = isaBridge
            self.smbus = smbus
            self.groups = groups
            self.all = all
        }
    }

    package static func sriovNICHost(_ o: SRIOVNICHostOptions = .init()) throws -> (tree: TreeBuilder, host: SRIOVNICHost) {
        let a = try Assembler(drivers: o.drivers, cpus: ["0-31,64-95", "32-63,96-127"])
        let t = a.t
        let pch = try a.platform(hostBridge: "09a2", isa: "a1c1", smbus: "a1a3")
        var roots: [String] = []
        var cx7: [String] = []
        for (i, bus) in [0x17, 0x31].enumerated() {
            let root = String(format: "0000:%02x:02.0", bus - 1)
            try a.bridge(root, "8086", "347a", .rootPort, sec: UInt8(bus), sub: UInt8(bus), parent: nil, numa: 0, link: (4, 16, 4, 16))
            roots.append(root)
            let pf = String(format: "0000:%02x:00.0", bus)
            try a.connectX7(
                pf, parent: root, numa: 0, totalVFs: 16, numVFs: i == 0 ? o.cx7VFs : 0,
                dsn: 0xb8ce_f603_00b2_0000 | UInt64(i))
            if a.driver(pf) == "mlx5_core" {
                try t.net(pf, interfaces: [("ens\(i + 1)f0np0", String(format: "b8:ce:f6:b2:00:%02x", i))])
            }
            try t.slot("\(i + 1)", address: pf)
            cx7.append(pf)
        }
        // Intel E810-XXV, two ports (two PFs, ACS between them: a group each).
        let e810Root = "0000:4a:02.0"
        try a.bridge(e810Root, "8086", "347a", .rootPort, sec: 0x4b, sub: 0x4b, parent: nil, numa: 0, link: (4, 16, 4, 16))
        roots.append(e810Root)
        var e810: [String] = []
        for f in 0..<2 {
            let addr = "0000:4b:00.\(f)"
            let cfg = ConfigSpace(
                vendor: 0x8086, device: 0x159b, classCode: 0x020000, revision: 0x02, multiFunction: true,
                subsystemVendor: 0x8086, subsystemDevice: 0x0003, flr: true, link: (4, 16, 4, 16),
                aer: true, acs: (0x1f, 0x1d), sriov: (128, 128, 0, 0x1889), ari: true,
                dsn: 0x40a6_b7ff_ff2c_1e00 | UInt64(f), sriovRouting: (UInt16(8 + f * 127), 1))
            try a.fn(
                addr, "8086", "159b", "020000", rev: "02", subsys: ("8086", "0003"), config: cfg.bytes(),
                driver: "ice", numa: 0, parent: e810Root, attributes: ["reset_method": "flr bus"],
                resource: TreeBuilder.resourceLines([
                    .mem64Pref(0, 0x3a00_0000_0000 + UInt64(f) << 26, 32 << 20),
                    .mem64Pref(3, 0x3a00_1000_0000 + UInt64(f) << 20, 64 << 10),
                ]))
            try t.sriov(pf: addr, totalVFs: 128, vfDevice: "1889")
            if a.driver(addr) == "ice" {
                try t.net(addr, interfaces: [("ens3f\(f)", String(format: "40:a6:b7:2c:1e:%02x", f))], firstIfindex: 10 + f)
            }
            e810.append(addr)
        }
        try t.slot("3", address: e810[0])
        // Intel X710 that fell off the bus (surprise link down): the kernel still lists it, its
        // `vendor`/`device`/`class`/uevent hold the IDs from enumeration, i40e is still bound,
        // every config read returns ones.
        var fellOff: String?
        if o.fellOff {
            let root = "0000:98:02.0"
            try a.bridge(root, "8086", "347a", .rootPort, sec: 0x99, sub: 0x99, parent: nil, numa: 1, link: (4, 8, 3, 8))
            roots.append(root)
            let addr = "0000:99:00.0"
            try a.fn(
                addr, "8086", "1572", "020000", rev: "02", subsys: ("8086", "0007"), config: ConfigSpace.allOnes(),
                driver: "i40e", numa: 1, parent: root, attributes: ["reset_method": "flr bus"],
                resource: TreeBuilder.resourceLines([
                    .mem64Pref(0, 0x3b00_0000_0000, 8 << 20),
                    .mem64Pref(3, 0x3b00_0080_0000, 32 << 10),
                ]))
            if a.driver(addr) == "i40e" { try t.net(addr, interfaces: [("ens4f0", "3c:fd:fe:a0:00:00")], firstIfindex: 20) }
            fellOff = addr
        }
        // VFs of the first ConnectX-7 (offset 1, stride 1), enabled after boot.
        let vfs = TreeBuilder.vfAddresses(pf: cx7[0], count: o.cx7VFs, offset: 1, stride: 1)
        var netVFs: [String] = [], vfioVFs: [String] = []
        for (k, vf) in vfs.enumerated() {
            let onVFIO = k >= o.cx7VFs - o.vfsOnVFIO
            let cfg = ConfigSpace(
                vendor: 0x15b3, device: 0x101e, classCode: 0x020000, revision: 0x00,
                subsystemVendor: 0x15b3, subsystemDevice: 0x0040, pm: nil, flr: true,
                link: (5, 16, 5, 16), acs: (0x1f, 0x1d), ari: true, virtualFunction: true)
            try a.fn(
                vf, "15b3", "101e", "020000", rev: "00", subsys: ("15b3", "0040"), config: cfg.bytes(),
                driver: onVFIO ? "vfio-pci" : "mlx5_core", numa: 0, parent: t.parentBridge(of: cx7[0]),
                attributes: ["reset_method": "flr"],
                resource: TreeBuilder.resourceLines([.mem64Pref(0, 0x3c00_0000_0000 + UInt64(k) << 21, 2 << 20)]))
            switch a.driver(vf) {
            case "mlx5_core"?:
                try t.net(vf, interfaces: [("ens1f0v\(k)", String(format: "02:00:00:00:01:%02x", k))], firstIfindex: 30 + k)
                netVFs.append(vf)
            case "vfio-pci"?: vfioVFs.append(vf)
            default: break
            }
        }
        if !vfs.isEmpty { try t.sriov(pf: cx7[0], totalVFs: 16, vfDevice: "101e", vfs: vfs, offset: 1, stride: 1) }
        try a.iommuUnits()
        let host = SRIOVNICHost(
            cx7: cx7, cx7VFs: vfs, netVFs: netVFs, vfioVFs: vfioVFs, e810: e810, fellOff: fellOff,
            rootPorts: roots, hostBridge: pch.host, isaBridge: pch.isa, smbus: pch.smbus,
            groups: a.groups, all: a.addresses.sorted())
        return (t, host)
    }

    // MARK: assembly

    /// Adds functions with kernel-shaped defaults: `uevent`, NUMA node and its CPUs, the next
    /// IOMMU group in discovery order, a driver override, and `vfio-dev/vfio<N>` for every
    /// function that ends up on vfio-pci.
    package final class Assembler {
        package let t: TreeBuilder
        package let drivers: [String: String?]
        package let cpus: [String]
        private(set) var groups: [String: Int] = [:]
        private(set) var addresses: [String] = []
        private(set) var nodes: [String: Int] = [:]
        private var nextGroup = 0
        private var nextVFIO = 0

        /// An assembler over a tree in a fresh temporary directory.
        package convenience init(drivers: [String: String?], cpus: [String]) throws {
            try self.init(tree: TreeBuilder(), drivers: drivers, cpus: cpus)
        }

        /// `cpus`: each NUMA node's `local_cpulist`, by node number.
        package init(tree: TreeBuilder, drivers: [String: String?], cpus: [String]) throws {
            t = tree
            self.drivers = drivers
            self.cpus = cpus
        }

        package func newGroup() -> Int {
            defer { nextGroup += 1 }
            return nextGroup
        }

        /// The driver bound to a function added so far (after any override).
        package func driver(_ address: String) -> String? { bound[address] }
        private var bound: [String: String] = [:]

        /// The driver a function gets: the override when one is given, else `proposed`.
        private func resolve(_ address: String, _ proposed: String?) -> String? {
            if let o = drivers[address] { return o }
            return proposed
        }

        package func fn(
            _ address: String, _ vendor: String, _ device: String, _ classCode: String, rev: String,
            subsys: (String, String)?, config: [UInt8]?, driver proposed: String?, group: Int? = nil, numa: Int,
            parent: String?, attributes: [String: String] = [:], resource: [String]? = nil
        ) throws {
            let drv = resolve(address, proposed)
            bound[address] = drv
            let g = group ?? newGroup()
            try t.add(
                .init(
                    address: address, vendor: vendor, device: device, classCode: classCode, revision: rev,
                    subsystemVendor: subsys?.0, subsystemDevice: subsys?.1, config: config, driver: drv,
                    iommuGroup: g, numaNode: String(numa), localCPUs: cpus[numa], parent: parent,
                    attributes: attributes, resource: resource, uevent: true))
            groups[address] = g
            addresses.append(address)
            nodes[address] = numa
            if drv == "vfio-pci" {
                try t.vfioDevice(address, index: nextVFIO)
                nextVFIO += 1
            }
        }

        package func bridge(
            _ address: String, _ vendor: String, _ device: String, _ port: ConfigSpace.PortType,
            sec: UInt8, sub: UInt8, parent: String?, numa: Int, group: Int? = nil,
            driver proposed: String? = "pcieport", rev: UInt8 = 4,
            link: (maxSpeed: UInt8, maxWidth: UInt8, speed: UInt8, width: UInt8) = (5, 16, 5, 16)
        ) throws {
            let drv = resolve(address, proposed)
            bound[address] = drv
            let g = group ?? newGroup()
            try t.addBridge(
                address, vendor: vendor, device: device, port: port, secondary: sec, subordinate: sub,
                parent: parent, iommuGroup: g, revision: rev, numaNode: String(numa), localCPUs: cpus[numa],
                link: link, driver: drv)
            groups[address] = g
            addresses.append(address)
            nodes[address] = numa
        }

        /// Host bridge 00:00.0 (class 0600, own group) and the PCH's ISA bridge 00:1f.0 (0601,
        /// lpc_ich) and SMBus 00:1f.4 (0c05, i801_smbus): one multi-function device without
        /// ACS, so one group.
        package func platform(hostBridge: String, isa: String, smbus: String) throws -> (host: String, isa: String, smbus: String) {
            let hb = "0000:00:00.0", lpc = "0000:00:1f.0", sm = "0000:00:1f.4"
            try fn(
                hb, "8086", hostBridge, "060000", rev: "04", subsys: ("8086", "0000"),
                config: ConfigSpace(
                    vendor: 0x8086, device: UInt16(hostBridge, radix: 16)!, classCode: 0x060000,
                    revision: 4, subsystemVendor: 0x8086, msix: false, express: .rcEndpoint
                ).bytes(),
                driver: nil, numa: 0, parent: nil)
            let g = newGroup()
            try fn(
                lpc, "8086", isa, "060100", rev: "09", subsys: ("8086", "7270"),
                config: ConfigSpace(
                    vendor: 0x8086, device: UInt16(isa, radix: 16)!, classCode: 0x060100, revision: 9,
                    multiFunction: true, subsystemVendor: 0x8086, subsystemDevice: 0x7270, pm: nil,
                    msix: false, express: nil, size: 256
                ).bytes(),
                driver: "lpc_ich", group: g, numa: 0, parent: nil)
            try fn(
                sm, "8086", smbus, "0c0500", rev: "09", subsys: ("8086", "7270"),
                config: ConfigSpace(
                    vendor: 0x8086, device: UInt16(smbus, radix: 16)!, classCode: 0x0c0500, revision: 9,
                    multiFunction: true, subsystemVendor: 0x8086, subsystemDevice: 0x7270, pm: nil,
                    msix: false, express: nil, size: 256
                ).bytes(),
                driver: "i801_smbus", group: g, numa: 0, parent: nil,
                resource: TreeBuilder.resourceLines([.mem64(0, 0x9f00_0000, 256), .init(index: 4, start: 0x780, size: 32, flags: 0x40101)]))
            return (hb, lpc, sm)
        }

        /// A ConnectX-7 PF: Gen5 x16, FLR, ACS, ARI, DSN, SR-IOV (VF device 101e, offset 1, stride 1).
        package func connectX7(_ address: String, parent: String, numa: Int, totalVFs: UInt16, numVFs: Int = 0, dsn: UInt64) throws {
            let cfg = ConfigSpace(
                vendor: 0x15b3, device: 0x1021, classCode: 0x020000, revision: 0x00,
                subsystemVendor: 0x15b3, subsystemDevice: 0x0040, flr: true, link: (5, 16, 5, 16),
                aer: true, acs: (0x1f, 0x1d), sriov: (totalVFs, totalVFs, UInt16(numVFs), 0x101e), ari: true,
                dsn: dsn, sriovRouting: (1, 1), sriovEnabled: numVFs > 0)
            let base = 0x3d00_0000_0000 + UInt64(address.dropFirst(5).prefix(2), radix: 16)! << 32
            // Subsystem 15b3:0040 is a placeholder (MCX75310AAS boards differ by SKU).
            try fn(
                address, "15b3", "1021", "020000", rev: "00", subsys: ("15b3", "0040"), config: cfg.bytes(),
                driver: "mlx5_core", numa: numa, parent: parent, attributes: ["reset_method": "flr bus"],
                resource: TreeBuilder.resourceLines([
                    .mem64Pref(0, base, 32 << 20),
                    .mem64Pref(7, base + (64 << 20), UInt64(totalVFs) * (2 << 20)),
                ]))
            // With VFs the caller writes the SR-IOV files once the VFs exist (for the links).
            if numVFs == 0 { try t.sriov(pf: address, totalVFs: Int(totalVFs), vfDevice: "101e") }
        }

        /// One DMAR unit per NUMA node, linked from every function on it.
        package func iommuUnits() throws {
            for n in Set(nodes.values).sorted() {
                try t.iommuUnit("dmar\(n)", devices: addresses.filter { nodes[$0] == n }.sorted())
            }
        }
    }
}
