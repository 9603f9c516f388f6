import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Edge cases on synthetic trees from `TreeBuilder`: GPU companions and mdev types, SR-IOV,
/// NVIDIA SR-IOV vGPU, IOMMU groups with mixed drivers.
@Suite("Probe: synthetic trees")
struct ProbeTreeBuilderTests {
    static var rootPort: TreeBuilder.Function { TreeBuilder.Function.sampleRootPort }

    @Test("GPU with audio, USB and UCSI companions, mdev types, DRM nodes")
    func gpuWithCompanions() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try t.add(Self.rootPort)
        let gpuCfg = ConfigSpace(
            vendor: 0x10de, device: 0x1eb8, classCode: 0x030200, revision: 0xa1,
            multiFunction: true, subsystemVendor: 0x10de, subsystemDevice: 0x12a2,
            flr: true, link: (3, 16, 3, 16), aer: true, dsn: 0x0011_22ff_fe33_4455)
        try t.add(
            .init(
                address: "0000:01:00.0", vendor: "10de", device: "1eb8", classCode: "030200", revision: "a1",
                subsystemVendor: "10de", subsystemDevice: "12a2", config: gpuCfg.bytes(), driver: "nvidia",
                numaNode: "0", parent: "0000:00:01.0",
                resource: [
                    "0x00000000fa000000 0x00000000faffffff 0x0000000000040200",
                    "0x0000000000000000 0x0000000000000000 0x0000000000000000",
                    "0x0000038000000000 0x000003800fffffff 0x000000000014220c",
                    "0x0000000000000000 0x0000000000000000 0x0000000000000000",
                    "0x0000000000000000 0x0000000000000000 0x0000000000000000",
                    "0x0000000000000000 0x0000000000000000 0x0000000000000000",
                    "0x0000000000000000 0x0000000000000000 0x0000000000000000",
                ]))
        for (fn, cls, dev) in [("1", "040300", "10f8"), ("2", "0c0330", "1ad8"), ("3", "0c8000", "1ad9")] {
            let cfg = ConfigSpace(
                vendor: 0x10de, device: UInt16(dev, radix: 16)!, classCode: UInt32(cls, radix: 16)!,
                revision: 0xa1, multiFunction: true, subsystemVendor: 0x10de, subsystemDevice: 0x12a2)
            try t.add(
                .init(
                    address: "0000:01:00.\(fn)", vendor: "10de", device: dev, classCode: cls, revision: "a1",
                    subsystemVendor: "10de", subsystemDevice: "12a2", config: cfg.bytes(), parent: "0000:00:01.0"))
        }
        try t.mdevType(
            "0000:01:00.0", id: "nvidia-222", name: "GRID T4-1B", description: "num_heads=4, frl_config=45",
            available: "16")
        try t.mdevType("0000:01:00.0", id: "nvidia-230", name: "GRID T4-16Q", description: "num_heads=4", available: "1")
        try t.drm("0000:01:00.0", nodes: ["card0", "renderD128"])
        try t.attr("0000:01:00.0", "boot_vga", "0\n")
        try t.attr("0000:01:00.0", "reset_method", "flr bus\n")

        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        #expect(snap.functions.count == 5)
        let gpu = try #require(snap.function(at: PCIAddress("0000:01:00.0")!))
        let g = try #require(gpu.gpu)
        #expect(g.family == "nvidia")
        #expect(g.companions.map(\.role) == ["audio", "usb", "ucsi"])
        #expect(g.companions.map(\.address.description) == ["0000:01:00.1", "0000:01:00.2", "0000:01:00.3"])
        #expect(g.drmCards == ["card0"] && g.drmRenderNodes == ["renderD128"])
        #expect(g.apertureBytes == 256 << 20) // the prefetchable 64-bit BAR 2
        #expect(g.architecture?.value == "Turing")
        #expect(gpu.mdevTypes?.map(\.id) == ["nvidia-222", "nvidia-230"])
        #expect(gpu.mdevTypes?.first?.name == "GRID T4-1B")
        #expect(gpu.mdevTypes?.first?.availableInstances == 16)
        #expect(gpu.mdevTypes?.first?.deviceAPI == "vfio-pci")
        #expect(gpu.mdevTypes?.first?.description == "num_heads=4, frl_config=45")
        #expect(gpu.bootVGA == false)
        #expect(gpu.resetMethods == ["flr", "bus"])
        #expect(gpu.numaNode == 0)
        #expect(gpu.driver == "nvidia")
        #expect(gpu.upstreamBridge?.description == "0000:00:01.0")
        let caps = try #require(gpu.capabilities)
        #expect(caps.flr && caps.flrSource == "express-devcap")
        #expect(caps.aer)
        #expect(caps.serialNumber == "00-11-22-ff-fe-33-44-55")
        #expect(caps.pmNoSoftReset == true)
        #expect(gpu.link == LinkFacts.make(current: "8GT/s", 16, max: "8GT/s", 16, source: "config"))
        #expect(gpu.express?.portType == "endpoint")
        #expect(gpu.bars.map(\.index) == [0, 2])
        #expect(gpu.bars.last?.is64Bit == true && gpu.bars.last?.prefetchable == true && gpu.bars.last?.size == 256 << 20)
        let port = try #require(snap.function(at: PCIAddress("0000:00:01.0")!))
        #expect(port.express?.portType == "root-port")
        #expect(port.capabilities?.acs?.capabilities == ["SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd", "DirectTrans"])
        #expect(port.capabilities?.acs?.enabled == ["SrcValid", "ReqRedir", "CmpltRedir", "UpstreamFwd"])
        #expect(port.isBridge)
        // Companions are not GPUs.
        #expect(snap.function(at: PCIAddress("0000:01:00.1")!)?.gpu == nil)
    }

    @Test("SR-IOV PF with VFs: counts, virtfn list, physfn")
    func sriovPF() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try t.add(Self.rootPort)
        let pf = ConfigSpace(
            vendor: 0x8086, device: 0x159b, classCode: 0x020000, revision: 2, flr: true,
            acs: (0x1f, 0), sriov: (total: 64, initial: 64, num: 2, vfDevice: 0x1889), ari: true)
        try t.add(
            .init(
                address: "0000:3b:00.0", vendor: "8086", device: "159b", classCode: "020000", revision: "02",
                subsystemVendor: "8086", subsystemDevice: "0003", config: pf.bytes(), driver: "ice",
                parent: "0000:00:01.0",
                attributes: ["sriov_totalvfs": "64", "sriov_numvfs": "2", "sriov_vf_device": "1889"]))
        let vfCfg = ConfigSpace(vendor: 0xffff, device: 0xffff, classCode: 0x020000, revision: 2, flr: true, ari: true)
        for vf in ["0000:3b:01.0", "0000:3b:01.1"] {
            // A VF's config reads vendor/device ffff (SR-IOV spec); sysfs gives the real IDs.
            try t.add(
                .init(
                    address: vf, vendor: "8086", device: "1889", classCode: "020000", revision: "02",
                    config: vfCfg.bytes(), driver: vf.hasSuffix("0") ? "iavf" : "vfio-pci", parent: "0000:00:01.0"))
        }
        try t.linkVFs(pf: "0000:3b:00.0", vfs: ["0000:3b:01.0", "0000:3b:01.1"])
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        let p = try #require(snap.function(at: PCIAddress("0000:3b:00.0")!))
        #expect(p.sriov?.totalVFs == 64 && p.sriov?.numVFs == 2 && p.sriov?.vfDevice == "1889")
        #expect(p.sriov?.virtualFunctions.map(\.description) == ["0000:3b:01.0", "0000:3b:01.1"])
        #expect(p.capabilities?.sriov == SRIOVCapability(totalVFs: 64, initialVFs: 64, numVFs: 2, vfDeviceID: "1889"))
        #expect(p.capabilities?.ari == true)
        #expect(p.physicalFunction == nil)
        for vf in ["0000:3b:01.0", "0000:3b:01.1"] {
            let v = try #require(snap.function(at: PCIAddress(vf)!))
            #expect(v.physicalFunction?.description == "0000:3b:00.0")
            // Identity from sysfs, not from the VF's ffff config header.
            #expect(v.vendor == "8086" && v.device == "1889")
            #expect(v.sriov == nil)
        }
        #expect(snap.function(at: PCIAddress("0000:3b:01.1")!)?.driver == "vfio-pci")
    }

    @Test("NVIDIA SR-IOV vGPU VFs: creatable_vgpu_types and current_vgpu_type")
    func nvidiaVGPU() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try t.add(Self.rootPort)
        let pf = ConfigSpace(
            vendor: 0x10de, device: 0x2236, classCode: 0x030200, revision: 0xa1, multiFunction: true,
            sriov: (total: 16, initial: 16, num: 16, vfDevice: 0x2236))
        try t.add(
            .init(
                address: "0000:41:00.0", vendor: "10de", device: "2236", classCode: "030200", revision: "a1",
                config: pf.bytes(), driver: "nvidia", parent: "0000:00:01.0",
                attributes: ["sriov_totalvfs": "16", "sriov_numvfs": "2"]))
        for (i, vf) in ["0000:41:00.4", "0000:41:00.5"].enumerated() {
            try t.add(
                .init(
                    address: vf, vendor: "10de", device: "2236", classCode: "030200", revision: "a1",
                    driver: "nvidia", parent: "0000:00:01.0"))
            try t.attr(
                vf, "nvidia/creatable_vgpu_types",
                """
                ID    : vGPU Name
                557   : NVIDIA A10-1B
                558   : NVIDIA A10-2B
                \(i == 0 ? "" : "566   : NVIDIA A10-24Q\n")
                """)
            try t.attr(vf, "nvidia/current_vgpu_type", i == 0 ? "0\n" : "566\n")
        }
        try t.linkVFs(pf: "0000:41:00.0", vfs: ["0000:41:00.4", "0000:41:00.5"])
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        let vf0 = try #require(snap.function(at: PCIAddress("0000:41:00.4")!))
        #expect(
            vf0.gpu?.creatableVGPUTypes == [
                VGPUType(id: "557", name: "NVIDIA A10-1B"),
                VGPUType(id: "558", name: "NVIDIA A10-2B"),
            ])
        #expect(vf0.gpu?.currentVGPUType == "0")
        #expect(vf0.physicalFunction?.description == "0000:41:00.0")
        let vf1 = try #require(snap.function(at: PCIAddress("0000:41:00.5")!))
        #expect(vf1.gpu?.creatableVGPUTypes?.map(\.id) == ["557", "558", "566"])
        #expect(vf1.gpu?.currentVGPUType == "566")
        let p = try #require(snap.function(at: PCIAddress("0000:41:00.0")!))
        #expect(p.gpu?.architecture?.value == "Ampere")
        // VFs in the PF's slot are peers, not companions that must travel with it.
        #expect(p.gpu?.companions.isEmpty == true)
        #expect(p.gpu?.creatableVGPUTypes == nil)
    }

    @Test("IOMMU group with mixed drivers lists every member")
    func mixedGroup() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try t.add(Self.rootPort)
        try t.group(1, add: "0000:00:01.0")
        for (fn, cls, drv) in [("0", "030000", "vfio-pci"), ("1", "040300", "snd_hda_intel")] {
            let cfg = ConfigSpace(
                vendor: 0x1002, device: fn == "0" ? 0x73bf : 0xab28,
                classCode: UInt32(cls, radix: 16)!, multiFunction: true)
            try t.add(
                .init(
                    address: "0000:02:00.\(fn)", vendor: "1002", device: fn == "0" ? "73bf" : "ab28",
                    classCode: cls, config: cfg.bytes(), driver: drv, iommuGroup: 7, parent: "0000:00:01.0"))
        }
        try t.sysFile("class/iommu/dmar0/.keep", "")
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        #expect(snap.iommu.enabled == true)
        #expect(snap.iommu.units == ["dmar0"])
        #expect(snap.iommu.groups.map(\.number) == [1, 7])
        let g7 = try #require(snap.iommu.groups.last)
        #expect(g7.type == "DMA")
        #expect(g7.devices.map(\.description) == ["0000:02:00.0", "0000:02:00.1"])
        #expect(Set(g7.devices.compactMap { snap.function(at: $0)?.driver }) == ["vfio-pci", "snd_hda_intel"])
        #expect(snap.functions.first { $0.address.description == "0000:02:00.1" }?.iommuGroup == 7)
        let gpu = try #require(snap.function(at: PCIAddress("0000:02:00.0")!))
        #expect(gpu.gpu?.architecture?.value == "RDNA2")

        // The groups listing (`hwlabel list --tree`) shows both members under group 7 with
        // their drivers: the mix is what makes the group not viable for passthrough.
        let r = try ProbeTestSupport.run(try ProbeTestSupport.hwlabelBinary(), ["list", "--tree", "--sysfs-root", t.sysRoot])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("group 7") }, "\(r.stdout)")
        let members = lines[(start + 1)...].prefix { $0.hasPrefix(" ") }
        #expect(members.count == 2)
        #expect(members.contains { $0.contains("0000:02:00.0") && $0.contains("vfio-pci") })
        #expect(members.contains { $0.contains("0000:02:00.1") && $0.contains("snd_hda_intel") })
    }
}

extension LinkFacts {
    static func make(current: String?, _ cw: Int?, max: String?, _ mw: Int?, source: String) -> LinkFacts {
        var l = LinkFacts(source: source)
        l.currentSpeed = current
        l.currentWidth = cw
        l.maxSpeed = max
        l.maxWidth = mw
        return l
    }
}
