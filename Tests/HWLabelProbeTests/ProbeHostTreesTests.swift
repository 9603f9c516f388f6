import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// The probe on `HostTrees`' three hosts (HGX H100, vGPU host, SR-IOV NIC host), and lspci on
/// the same trees: both must list the same functions with the same IDs.
@Suite("Probe: kernel-shaped host trees")
struct ProbeHostTreesTests {
    static func addr(_ s: String) -> PCIAddress { PCIAddress(s)! }

    /// `lspci -A linux-sysfs -O sysfs.path=<tree>/sys/bus/pci -nn -k -D` lists the probe's
    /// functions with the same IDs, names, revision, subsystem and driver (libpci, like the
    /// probe, takes a VF's and a dead function's IDs from sysfs, not from config space);
    /// `-vvv` decodes the same capabilities for every function but `notDecoded` (VFs, whose
    /// first dword reads ones, and functions that read all ones).
    static func compareWithLspci(
        _ t: TreeBuilder, _ snap: Snapshot, context: String,
        notDecoded: Set<String>, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let lspci = try ProbeLspciCompare.lspci()
        let base = ["-A", "linux-sysfs", "-O", "sysfs.path=\(t.sysRoot)/bus/pci"]
        let r = try ProbeTestSupport.run(lspci, base + ["-nn", "-k", "-D"])
        try #require(r.status == 0, "\(context): lspci -nn -k -D failed: \(r.stderr)", sourceLocation: sourceLocation)
        let listed = LspciListing.parse(r.stdout)
        #expect(
            listed.map(\.address).sorted() == snap.functions.map(\.address.description), "\(context): address set",
            sourceLocation: sourceLocation)
        #expect(
            Set(listed.map { "\($0.address) \($0.vendorID):\($0.deviceID) \($0.classID) \($0.driver ?? "-")" })
                == Set(snap.functions.map { "\($0.address) \($0.vendor):\($0.device) \($0.classCode.baseAndSub) \($0.driver ?? "-")" }),
            "\(context): IDs, class and driver", sourceLocation: sourceLocation)
        let byAddress = Dictionary(uniqueKeysWithValues: listed.map { ($0.address, $0) })
        for f in snap.functions {
            let l = try #require(byAddress[f.address.description], sourceLocation: sourceLocation)
            ProbeLspciCompare.identity(f, l, context: context, sourceLocation: sourceLocation)
        }
        let v = try ProbeTestSupport.run(lspci, base + ["-vvv", "-nn", "-k", "-D"])
        try #require(v.status == 0, "\(context): lspci -vvv failed: \(v.stderr)", sourceLocation: sourceLocation)
        let verbose = Dictionary(uniqueKeysWithValues: LspciListing.parse(v.stdout).map { ($0.address, $0) })
        var compared = 0
        for f in snap.functions where !notDecoded.contains(f.address.description) && f.configSpace.capabilitiesReadable {
            let l = try #require(verbose[f.address.description], sourceLocation: sourceLocation)
            ProbeLspciCompare.capabilities(f, l, context: context, sourceLocation: sourceLocation)
            compared += 1
        }
        #expect(
            compared == snap.functions.count - notDecoded.count, "\(context): every ordinary function decoded",
            sourceLocation: sourceLocation)
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
    static func read(_ path: String) -> String? { (try? String(contentsOfFile: path, encoding: .utf8)) }

    // MARK: HGX H100

    @Test("HGX H100: 8 GPUs behind switch ports, NVSwitches, one GPU for the host, seven on vfio-pci")
    func hgx() throws {
        let (t, h) = try HostTrees.hgxH100()
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot, paths: t.hostPaths))
        #expect(snap.functions.count == 52)
        #expect(snap.functions.map(\.address.description) == h.all)
        #expect(snap.warnings.isEmpty, "\(snap.warnings)")

        let gpus = h.gpus.map { snap.function(at: Self.addr($0))! }
        #expect(
            gpus.allSatisfy {
                $0.vendor == "10de" && $0.device == "2330" && $0.subsystemDevice == "16c1" && $0.classCode.baseAndSub == "0302"
            })
        #expect(gpus.map(\.driver) == ["nvidia"] + Array(repeating: "vfio-pci", count: 7))
        #expect(gpus.map(\.numaNode) == [0, 0, 0, 0, 1, 1, 1, 1])
        #expect(gpus.map { $0.upstreamBridge?.description } == h.switchDownstreamPorts)
        #expect(gpus.allSatisfy { $0.resetMethods == ["flr", "bus"] && $0.bootVGA == nil && $0.capabilities?.flr == true })
        #expect(gpus.allSatisfy { $0.gpu?.apertureBytes == 128 << 30 })
        #expect(gpus[0].gpu?.drmCards == ["card1"] && gpus[0].gpu?.drmRenderNodes == ["renderD128"])
        #expect(gpus.dropFirst().allSatisfy { $0.gpu?.drmCards == [] })
        #expect(Set(gpus.compactMap { $0.capabilities?.serialNumber }).count == 8)
        // The switch: upstream port under the root port, downstream port under it.
        for i in 0..<8 {
            let up = try #require(snap.function(at: Self.addr(h.switchUpstreamPorts[i])))
            let down = try #require(snap.function(at: Self.addr(h.switchDownstreamPorts[i])))
            #expect(up.express?.portType == "upstream-port" && up.upstreamBridge?.description == h.rootPorts[i])
            #expect(down.express?.portType == "downstream-port" && down.upstreamBridge?.description == h.switchUpstreamPorts[i])
            #expect(up.isBridge && down.isBridge && up.driver == "pcieport" && up.classCode.baseAndSub == "0604")
            #expect(down.capabilities?.acs != nil && up.capabilities?.acs == nil)
        }
        // One group per GPU, per bridge, per NVSwitch; the PCH's ISA bridge and SMBus share
        // one, and so do the ASPEED bridge and the VGA behind it.
        for f in snap.functions { #expect(f.iommuGroup == h.groups[f.address.description], "\(f.address)") }
        for g in gpus + h.nvswitches.map({ snap.function(at: Self.addr($0))! }) {
            #expect(snap.iommu.group(g.iommuGroup!)?.devices == [g.address])
        }
        #expect(snap.iommu.group(h.groups[h.isaBridge]!)?.devices.map(\.description) == [h.isaBridge, h.smbus])
        #expect(snap.iommu.group(h.groups[h.bmcVGA]!)?.devices.map(\.description) == [h.bmcBridge, h.bmcVGA])
        #expect(snap.iommu.groups.count == Set(h.groups.values).count)
        #expect(snap.iommu.units == ["dmar0", "dmar1"])
        let isa = try #require(snap.function(at: Self.addr(h.isaBridge)))
        #expect(isa.classCode.baseAndSub == "0601" && isa.driver == "lpc_ich")
        #expect(snap.function(at: Self.addr(h.smbus))?.driver == "i801_smbus")
        #expect(snap.function(at: Self.addr(h.hostBridge))?.classCode.baseAndSub == "0600")
        let vga = try #require(snap.function(at: Self.addr(h.bmcVGA)))
        #expect(vga.bootVGA == true && vga.gpu?.drmCards == ["card0"] && vga.upstreamBridge?.description == h.bmcBridge)
        #expect(snap.function(at: Self.addr(h.bmcBridge))?.express?.portType == "pcie-to-pci-bridge")

        let switches = h.nvswitches.map { snap.function(at: Self.addr($0))! }
        #expect(switches.count == 4)
        #expect(
            switches.allSatisfy {
                $0.device == "22a3" && $0.classCode.baseAndSub == "0680" && $0.headerType == 0 && $0.driver == "nvidia-nvswitch"
            })
        #expect(switches.map { $0.upstreamBridge?.description } == h.nvswitchDownstreamPorts)
        #expect(h.nics.map { snap.function(at: Self.addr($0))?.upstreamBridge?.description } == h.nicDownstreamPorts)
        #expect(h.nics.allSatisfy { snap.function(at: Self.addr($0))?.sriov?.numVFs == 0 })

        // Files the probe does not read yet: vfio-dev, net, proc.
        #expect(h.gpus.dropFirst().enumerated().allSatisfy { Self.exists(t.dir($1) + "/vfio-dev/vfio\($0)/dev") })
        #expect(!Self.exists(t.dir(h.gpus[0]) + "/vfio-dev"))
        let info = try #require(Self.read(t.procRoot + "/driver/nvidia/gpus/\(h.gpus[0])/information"))
        #expect(info.contains("Device Minor: \t 0\n") && info.contains("Bus Location: \t \(h.gpus[0])\n"))
        #expect(!Self.exists(t.procRoot + "/driver/nvidia/gpus/\(h.gpus[1])"))
        #expect(Self.exists(t.dir(h.nics[0]) + "/net/ens1np0/address"))

        try Self.compareWithLspci(t, snap, context: "hgx", notDecoded: [])
    }

    @Test("HGX H100: options move GPUs between the host and vfio-pci")
    func hgxOptions() throws {
        var o = HostTrees.HGXH100Options()
        o.hostGPUs = [0, 5]
        o.drivers = ["0000:43:00.0": nil]
        let (t, h) = try HostTrees.hgxH100(o)
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        let drivers = h.gpus.map { snap.function(at: Self.addr($0))!.driver }
        #expect(drivers == ["nvidia", nil, "vfio-pci", "vfio-pci", "vfio-pci", "nvidia", "vfio-pci", "vfio-pci"])
        #expect(snap.function(at: Self.addr(h.gpus[5]))?.gpu?.drmRenderNodes == ["renderD129"])
        #expect(Self.read(t.procRoot + "/driver/nvidia/gpus/\(h.gpus[5])/information")?.contains("Device Minor: \t 1\n") == true)
        // vfio-dev only where vfio-pci is bound, numbered in order.
        #expect(Self.exists(t.dir(h.gpus[2]) + "/vfio-dev/vfio0") && !Self.exists(t.dir(h.gpus[1]) + "/vfio-dev"))
        #expect(!(Self.read(t.dir(h.gpus[1]) + "/uevent") ?? "DRIVER=").contains("DRIVER="))
    }

    // MARK: vGPU host

    @Test("vGPU host: L40S SR-IOV vGPU files, T4 mdev types and an instance, Quadros with companions")
    func vgpuHost() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot, paths: t.hostPaths))
        #expect(snap.functions.count == 53)
        #expect(snap.functions.map(\.address.description) == h.all)

        // SR-IOV: PF counts and links, VF back-links; a VF's IDs come from sysfs (its config
        // reads ffff), its group is its own and numbered after every boot-time group.
        let bootGroups = Set(h.all.filter { a in !h.l40sVFs.joined().contains(a) }.map { h.groups[$0]! })
        for (i, pfAddress) in h.l40s.enumerated() {
            let pf = try #require(snap.function(at: Self.addr(pfAddress)))
            #expect(pf.driver == "nvidia" && pf.device == "26b9" && pf.subsystemDevice == "1851")
            #expect(pf.sriov?.totalVFs == 32 && pf.sriov?.numVFs == 16 && pf.sriov?.vfDevice == "26b9")
            #expect(pf.sriov?.virtualFunctions.map(\.description) == h.l40sVFs[i])
            #expect(pf.capabilities?.sriov?.totalVFs == 32 && pf.capabilities?.sriov?.vfDeviceID == "26b9")
            #expect(pf.physicalSlot == "\(i + 1)")
            #expect(pf.gpu?.creatableVGPUTypes == nil)
            for vfAddress in h.l40sVFs[i] {
                let vf = try #require(snap.function(at: Self.addr(vfAddress)))
                #expect(vf.physicalFunction?.description == pfAddress)
                #expect(vf.vendor == "10de" && vf.device == "26b9" && vf.driver == "nvidia")
                #expect(snap.iommu.group(vf.iommuGroup!)?.devices == [vf.address])
                #expect(vf.iommuGroup! > bootGroups.max()!)
            }
        }
        #expect(h.l40sVFs[0].first == "0000:17:00.4" && h.l40sVFs[0].last == "0000:17:02.3")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: t.dir(h.l40sVFs[0][0]) + "/config"))
        #expect(Array(bytes.prefix(4)) == [0xff, 0xff, 0xff, 0xff] && Array(bytes[9...11]) == [0x00, 0x02, 0x03])

        // NVIDIA vendor-specific VFIO vGPU files.
        let free0 = try #require(snap.function(at: Self.addr(h.l40sVFs[0][5]))?.gpu)
        #expect(
            free0.creatableVGPUTypes?.map(\.name) == [
                "NVIDIA L40S-1Q", "NVIDIA L40S-2Q", "NVIDIA L40S-4Q", "NVIDIA L40S-8Q",
                "NVIDIA L40S-12Q", "NVIDIA L40S-16Q", "NVIDIA L40S-24Q", "NVIDIA L40S-48Q",
            ])
        #expect(free0.creatableVGPUTypes?.first?.id == "1155")
        #expect(free0.currentVGPUType == "0")
        #expect(h.runningVFs == Array(h.l40sVFs[1].prefix(3)))
        for vf in h.runningVFs {
            let g = try #require(snap.function(at: Self.addr(vf))?.gpu)
            #expect(g.currentVGPUType == "1158" && g.creatableVGPUTypes == [])
        }
        for vf in h.l40sVFs[1].dropFirst(3) {
            let g = try #require(snap.function(at: Self.addr(vf))?.gpu)
            #expect(g.currentVGPUType == "0" && g.creatableVGPUTypes == [VGPUType(id: "1158", name: "NVIDIA L40S-8Q")])
        }

        // mdev types on the T4s; on the second one a T4-4Q exists.
        let ids = ["nvidia-222", "nvidia-223", "nvidia-230", "nvidia-231", "nvidia-232", "nvidia-233", "nvidia-234"]
        let t4a = try #require(snap.function(at: Self.addr(h.t4[0])))
        let t4b = try #require(snap.function(at: Self.addr(h.t4[1])))
        #expect(t4a.mdevTypes?.map(\.id) == ids && t4b.mdevTypes?.map(\.id) == ids)
        #expect(t4a.mdevTypes?.map(\.availableInstances) == [16, 8, 16, 8, 4, 2, 1])
        #expect(t4b.mdevTypes?.map(\.availableInstances) == [0, 0, 0, 0, 3, 0, 0])
        let q4 = try #require(t4b.mdevTypes?.first { $0.id == "nvidia-232" })
        #expect(q4.name == "GRID T4-4Q" && q4.deviceAPI == "vfio-pci")
        #expect(q4.description == "num_heads=4, frl_config=60, framebuffer=4096M, max_resolution=5120x2880, max_instance=4")
        #expect(t4a.resetMethods == ["pm", "bus"] && t4a.capabilities?.flr == false)
        #expect(t4b.numaNode == 1 && t4a.numaNode == 0)
        let uuid = try #require(h.mdevUUID)
        let link = t.dir(h.t4[1]) + "/mdev_supported_types/nvidia-232/devices/" + uuid
        #expect(SysfsRoot.resolve(link) == SysfsRoot.resolve(t.dir(h.t4[1]) + "/" + uuid))
        #expect(SysfsRoot.resolve(t.dir(h.t4[1]) + "/\(uuid)/mdev_type")?.hasSuffix("/nvidia-232") == true)
        // The mdev's emulated group holds no PCI function.
        let mdevGroup = try #require(h.mdevGroup)
        let mg = try #require(snap.iommu.group(mdevGroup))
        #expect(mg.devices.isEmpty && mg.type == "unknown")
        #expect(Self.exists(t.sysRoot + "/class/mdev_bus/" + h.t4[1]))

        // Quadro RTX 6000: everything on vfio-pci; RTX 8000: host-owned, audio on snd_hda_intel.
        let q6 = try #require(snap.function(at: Self.addr(h.rtx6000)))
        let q8 = try #require(snap.function(at: Self.addr(h.rtx8000)))
        #expect(q6.subsystemDevice == "12ba" && q8.subsystemDevice == "129e" && q6.device == q8.device)
        #expect(q6.gpu?.companions.map(\.address.description) == h.rtx6000Companions)
        #expect(q6.gpu?.companions.map(\.role) == ["audio", "usb", "ucsi"])
        #expect(([h.rtx6000] + h.rtx6000Companions).allSatisfy { snap.function(at: Self.addr($0))?.driver == "vfio-pci" })
        #expect(
            ([h.rtx8000] + h.rtx8000Companions).map { snap.function(at: Self.addr($0))?.driver }
                == ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
        #expect(snap.iommu.group(q6.iommuGroup!)?.devices.map(\.description) == [h.rtx6000] + h.rtx6000Companions)
        #expect(snap.iommu.group(q8.iommuGroup!)?.devices.count == 4)
        #expect(q6.bootVGA == false && q8.gpu?.drmCards == ["card0"])
        #expect(([h.rtx6000] + h.rtx6000Companions).enumerated().allSatisfy { Self.exists(t.dir($1) + "/vfio-dev/vfio\($0)") })

        // The probe did not mistake the VFs' all-ones first dword for a dead function.
        #expect(!snap.warnings.contains { $0.message.contains("all-FF") }, "\(snap.warnings)")

        try Self.compareWithLspci(t, snap, context: "vgpu", notDecoded: Set(h.l40sVFs.joined()))
    }

    @Test("vGPU host: without a running type or instance every VF offers every type")
    func vgpuHostIdle() throws {
        var o = HostTrees.VGPUHostOptions()
        o.runningL40S8Q = 0
        o.t4Instance = false
        o.l40sVFs = 4
        o.rtx8000AudioDriver = "vfio-pci"
        let (t, h) = try HostTrees.vgpuHost(o)
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        #expect(snap.functions.count == 53 - 2 * 12)
        #expect(h.runningVFs.isEmpty && h.mdevUUID == nil)
        for vf in h.l40sVFs.joined() {
            #expect(snap.function(at: Self.addr(vf))?.gpu?.creatableVGPUTypes?.count == 8)
        }
        #expect(snap.function(at: Self.addr(h.t4[1]))?.mdevTypes?.map(\.availableInstances) == [16, 8, 16, 8, 4, 2, 1])
        #expect(snap.function(at: Self.addr(h.rtx8000Companions[0]))?.driver == "vfio-pci")
        #expect(snap.function(at: Self.addr(h.l40s[1]))?.sriov?.numVFs == 4)
    }

    // MARK: SR-IOV NIC host

    @Test("SR-IOV NIC host: ConnectX-7 VFs on mlx5_core and vfio-pci, E810 without VFs, a NIC off the bus")
    func nicHost() throws {
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        #expect(snap.functions.count == 20)
        #expect(snap.functions.map(\.address.description) == h.all)

        let pf = try #require(snap.function(at: Self.addr(h.cx7[0])))
        #expect(pf.driver == "mlx5_core" && pf.device == "1021" && pf.classCode.baseAndSub == "0200")
        #expect(pf.sriov?.totalVFs == 16 && pf.sriov?.numVFs == 8 && pf.sriov?.vfDevice == "101e")
        #expect(pf.sriov?.virtualFunctions.map(\.description) == h.cx7VFs)
        #expect(
            h.cx7VFs == [
                "0000:17:00.1", "0000:17:00.2", "0000:17:00.3", "0000:17:00.4",
                "0000:17:00.5", "0000:17:00.6", "0000:17:00.7", "0000:17:01.0",
            ])
        #expect(pf.capabilities?.sriov?.numVFs == 8 && pf.capabilities?.ari == true)
        let vfs = h.cx7VFs.map { snap.function(at: Self.addr($0))! }
        #expect(vfs.allSatisfy { $0.vendor == "15b3" && $0.device == "101e" && $0.physicalFunction?.description == h.cx7[0] })
        #expect(vfs.map(\.driver) == Array(repeating: "mlx5_core", count: 4) + Array(repeating: "vfio-pci", count: 4))
        #expect(h.netVFs == Array(h.cx7VFs.prefix(4)) && h.vfioVFs == Array(h.cx7VFs.suffix(4)))
        #expect(Set(vfs.map(\.iommuGroup)).count == 8)
        #expect(vfs.allSatisfy { snap.iommu.group($0.iommuGroup!)?.devices == [$0.address] && $0.resetMethods == ["flr"] })
        #expect(h.netVFs.allSatisfy { Self.exists(t.dir($0) + "/net") } && h.vfioVFs.allSatisfy { !Self.exists(t.dir($0) + "/net") })
        #expect(h.vfioVFs.enumerated().allSatisfy { Self.exists(t.dir($1) + "/vfio-dev/vfio\($0)") })

        let pf2 = try #require(snap.function(at: Self.addr(h.cx7[1])))
        #expect(pf2.sriov?.numVFs == 0 && pf2.sriov?.totalVFs == 16 && pf2.sriov?.virtualFunctions == [])
        let e810 = h.e810.map { snap.function(at: Self.addr($0))! }
        #expect(e810.allSatisfy { $0.driver == "ice" && $0.sriov?.totalVFs == 128 && $0.sriov?.numVFs == 0 })
        #expect(Set(e810.map(\.iommuGroup)).count == 2)

        // Fell off the bus: listed with its cached IDs and driver, config facts unknown.
        let goneAddress = try #require(h.fellOff)
        let gone = try #require(snap.function(at: Self.addr(goneAddress)))
        #expect(gone.vendor == "8086" && gone.device == "1572" && gone.driver == "i40e")
        #expect(gone.headerType == nil && gone.capabilities == nil && gone.express == nil)
        #expect(snap.warnings.contains { $0.address == h.fellOff && $0.message.contains("all-FF") })
        #expect(snap.warnings.allSatisfy { $0.address == h.fellOff }, "\(snap.warnings)")

        try Self.compareWithLspci(t, snap, context: "nic", notDecoded: Set(h.cx7VFs + [h.fellOff!]))
    }

    @Test("SR-IOV NIC host: VFs can be rebound and the dead NIC left out")
    func nicHostOptions() throws {
        var o = HostTrees.SRIOVNICHostOptions()
        o.fellOff = false
        o.drivers = ["0000:17:00.1": "vfio-pci"]
        let (t, h) = try HostTrees.sriovNICHost(o)
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        #expect(snap.functions.count == 18 && h.fellOff == nil)
        #expect(h.vfioVFs.first == "0000:17:00.1" && h.netVFs.count == 3)
        #expect(snap.function(at: Self.addr("0000:17:00.1"))?.driver == "vfio-pci")
        #expect(snap.warnings.isEmpty, "\(snap.warnings)")
        // Rebinding after the build keeps `uevent` and the link in step.
        try t.unbindDriver(h.cx7VFs[1])
        try t.bindDriver(h.cx7VFs[1], "vfio-pci")
        let again = try Probe().snapshot(.sysfs(root: t.sysRoot))
        #expect(again.function(at: Self.addr(h.cx7VFs[1]))?.driver == "vfio-pci")
        #expect(Self.read(t.dir(h.cx7VFs[1]) + "/uevent")?.hasPrefix("DRIVER=vfio-pci\nPCI_CLASS=20000\nPCI_ID=15B3:101E\n") == true)
    }

    // MARK: builder pieces

    @Test("TreeBuilder: VF addresses, creatable_vgpu_types text, resource lines")
    func builderPieces() {
        #expect(
            TreeBuilder.vfAddresses(pf: "0001:c8:00.0", count: 3, offset: 2, stride: 1) == ["0001:c8:00.2", "0001:c8:00.3", "0001:c8:00.4"])
        #expect(TreeBuilder.vfAddresses(pf: "0000:17:00.0", count: 2, offset: 0x100, stride: 2) == ["0000:18:00.0", "0000:18:00.2"])
        #expect(
            TreeBuilder.creatableVGPUTypesText([.init(id: 1155, name: "NVIDIA L40S-1Q")]) == "ID    : vGPU Name\n1155  : NVIDIA L40S-1Q\n")
        #expect(TreeBuilder.creatableVGPUTypesText([]) == "ID    : vGPU Name\n")
        let lines = TreeBuilder.resourceLines([.mem64Pref(2, 0x1000_0000, 256 << 20)])
        #expect(lines.count == 13 && lines[2] == "0x0000000010000000 0x000000001fffffff 0x000000000014220c")
        #expect(
            TreeBuilder.ueventBody(
                address: "0000:3b:00.0", vendor: "10de", device: "1eb8", classCode: "030200",
                subsystemVendor: "10de", subsystemDevice: "12a2")
                == "PCI_CLASS=30200\nPCI_ID=10DE:1EB8\nPCI_SUBSYS_ID=10DE:12A2\nPCI_SLOT_NAME=0000:3b:00.0\nMODALIAS=pci:v000010DEd00001EB8sv000010DEsd000012A2bc03sc02i00\n"
        )
        let vf = ConfigSpace(vendor: 0x10de, device: 0x26b9, classCode: 0x030200, virtualFunction: true).bytes()
        #expect(Array(vf.prefix(4)) == [0xff, 0xff, 0xff, 0xff] && vf[0x34] == 0x40 && vf[0x0e] == 0)
    }
}
