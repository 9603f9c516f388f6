import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore

/// `PassthroughPlanner` over kernel-shaped host trees: the plan covers the target's whole IOMMU
/// group, and every refusal that applies is returned, each naming the function, the holder and
/// the way out.
@Suite("Passthrough: the plan and every refusal")
struct PassthroughPlannerTests {
    static func a(_ s: String) -> PCIAddress { PCIAddress(s)! }

    /// Probes the tree; every process counts as seen unless `holders`/`uses` say otherwise.
    static func snapshot(_ t: TreeBuilder, holders: [DeviceHolder] = [], uses: [HostUse] = []) throws -> Snapshot {
        var s = try Probe().snapshot(.sysfs(root: t.sysRoot))
        var h = s.host ?? HostFacts()
        h.deviceHolders = holders
        h.unreadableProcesses = 0
        h.hostUses = (h.hostUses ?? []) + uses
        s.host = h
        return s
    }

    static func planner(_ s: Snapshot, labels: LabelSet = LabelSet(), aliases: VFIOModuleAliases = .none) -> PassthroughPlanner {
        PassthroughPlanner(
            snapshot: s, descriptors: DescriptorBuilder().descriptors(snapshot: s, labels: labels, policy: .default),
            aliases: aliases)
    }

    static func plan(_ d: PassthroughDecision, sourceLocation: SourceLocation = #_sourceLocation) throws -> PassthroughPlan {
        guard case .plan(let p) = d else {
            Issue.record("refused: \(d)", sourceLocation: sourceLocation)
            throw PlanError()
        }
        return p
    }

    static func refusals(_ d: PassthroughDecision) -> [PassthroughRefusal] {
        if case .refused(let r) = d { return r }
        return []
    }

    struct PlanError: Error {}

    static let aliasText = """
        # Aliases extracted from modules themselves.
        alias pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_core
        alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci
        alias vfio_pci:v000010DEd00002342sv*sd*bc*sc*i* nvgrace_gpu_vfio_pci
        alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci
        """

    static var aliases: VFIOModuleAliases {
        var w: [ProbeWarning] = []
        return VFIOModuleAliases.parse(aliasText, path: "/lib/modules/6.8.0/modules.alias", warnings: &w)
    }

    // MARK: plans

    @Test("a Quadro on the host: the GPU and its three companions go to vfio-pci, the root port is left alone")
    func quadroWithCompanions() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let plan = try Self.plan(Self.planner(s).enable([.address(Self.a(h.rtx8000))]))
        #expect(plan.functions.map(\.address.description) == [h.rtx8000] + h.rtx8000Companions)
        #expect(plan.functions.map(\.role) == [.target, .companion, .companion, .companion])
        #expect(plan.functions.map(\.currentDriver) == ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
        #expect(plan.functions.allSatisfy { $0.action == .bind(driver: "vfio-pci", module: "vfio_pci") })
        #expect(plan.functions[1].reason.hasPrefix("companion of \(h.rtx8000), travels with it; to vfio-pci"))
    }

    @Test("modules.alias picks the variant driver: a ConnectX VF goes to mlx5_vfio_pci, loaded from its module")
    func variantDriver() throws {
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let vf = h.netVFs[0]
        let plan = try Self.plan(Self.planner(s, aliases: Self.aliases).enable([.address(Self.a(vf))]))
        #expect(plan.functions.count == 1)
        #expect(plan.functions[0].action == .bind(driver: "mlx5_vfio_pci", module: "mlx5_vfio_pci"))
        #expect(plan.functions[0].reason.contains("modules.alias prefers it for 15b3:101e"))
        // A VF already on vfio-pci is kept, not rebound to the variant.
        let kept = try Self.plan(Self.planner(s, aliases: Self.aliases).enable([.address(Self.a(h.vfioVFs[0]))]))
        #expect(kept.functions[0].action == .keep && kept.functions[0].reason == "named; already on vfio-pci")
    }

    @Test("a GPU behind a PCIe-to-PCI bridge: the bridge is a bystander, the GPU is planned")
    func bridgeLeftAlone() throws {
        // The BMC's VGA shares its group with the ASPEED bridge; take boot_vga away to see the plan.
        let (t, h) = try HostTrees.hgxH100()
        defer { t.cleanup() }
        try t.attr(h.bmcVGA, "boot_vga", "0\n")
        let s = try Self.snapshot(t)
        let plan = try Self.plan(Self.planner(s).enable([.address(Self.a(h.bmcVGA))]))
        let bridge = try #require(plan.functions.first { $0.address.description == h.bmcBridge })
        #expect(bridge.role == .bystander && bridge.action == .keep && bridge.reason.hasPrefix("PCI bridge"))
        #expect(plan.changing.map(\.address.description) == [h.bmcVGA])
    }

    @Test("targets by instance id and by label resolve to the same plan as by address")
    func instanceAndLabel() throws {
        let (t, h) = try HostTrees.hgxH100(.init(hostGPUs: [0, 1]))
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let set = DescriptorBuilder().descriptors(snapshot: s, labels: LabelSet(), policy: .default)
        let gpu1 = try #require(set.descriptor(at: Self.a(h.gpus[1])))
        let byID = try Self.plan(Self.planner(s).enable([.instance(gpu1.instance.id)]))
        #expect(byID.changing.map(\.address.description) == [h.gpus[1]])
        let rule = try LabelRule(vendor: "10de", device: "2330", label: HardwareLabel(validating: "H100 SXM"))
        let labelled = try Self.plan(Self.planner(s, labels: LabelSet(rules: [rule])).enable([.label("H100 SXM")]))
        // GPUs 2…7 are on vfio-pci already: kept; 0 and 1 are rebound.
        #expect(labelled.changing.map(\.address.description) == [h.gpus[0], h.gpus[1]])
        #expect(labelled.functions.filter { $0.role == .target }.count == 8)
    }

    @Test("--whole-group hands over a member nobody named")
    func wholeGroup() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        // The audio function named alone: the GPU (not a companion of the audio) blocks.
        let audio = h.rtx8000Companions[0]
        let refused = Self.refusals(Self.planner(s).enable([.address(Self.a(audio))]))
        #expect(refused.map(\.kind) == [.unnamedGroupMember, .unnamedGroupMember, .unnamedGroupMember])
        #expect(refused[0].address?.description == h.rtx8000)
        #expect(refused[0].holder == "\(h.rtx8000) (nvidia) shares IOMMU group \(h.groups[h.rtx8000]!) with \(audio)")
        #expect(refused[0].wayOut.contains("--whole-group"))
        let plan = try Self.plan(Self.planner(s).enable([.address(Self.a(audio))], options: .init(wholeGroup: true)))
        #expect(plan.changing.count == 4)
        #expect(plan.functions.first { $0.address.description == h.rtx8000 }?.role == .groupMember)
    }

    // MARK: refusals

    @Test("IOMMU off: refused, with the kernel parameters as the way out")
    func iommuOff() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        var s = try Self.snapshot(t)
        s.iommu = IOMMUFacts(enabled: false)
        for i in s.functions.indices { s.functions[i].iommuGroup = nil }
        let r = Self.refusals(Self.planner(s).enable([.address(Self.a(h.rtx6000))]))
        #expect(r.map(\.kind) == [.iommuOff])
        #expect(r[0].wayOut.contains("intel_iommu=on"))
    }

    @Test("the boot VGA device (host console) is refused")
    func bootVGA() throws {
        let (t, h) = try HostTrees.hgxH100()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let r = Self.refusals(Self.planner(s).enable([.address(Self.a(h.bmcVGA))]))
        #expect(r.map(\.kind) == [.bootVGA])
        #expect(r[0].address?.description == h.bmcVGA && r[0].holder.contains("boot VGA"))
    }

    @Test("a console frame buffer, a mount, swap, an up interface and open nvidia nodes: each refused, all at once")
    func hostUses() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let gpu = Self.a(h.rtx8000), audio = Self.a(h.rtx8000Companions[0])
        let s = try Self.snapshot(
            t, holders: [DeviceHolder(address: gpu, pid: 812, process: "nvidia-persiste", node: "/dev/nvidia0", kind: "nvidia")],
            uses: [
                HostUse(address: gpu, kind: "framebuffer-console", detail: "fb0 (nvidia-drmdrmfb) carries the console"),
                HostUse(address: audio, kind: "mounted", detail: "/srv (ext4) on sdb1"),
            ])
        let r = Self.refusals(Self.planner(s).enable([.address(gpu)]))
        #expect(Set(r.map(\.kind)) == [.console, .hostInUse])
        #expect(r.contains { $0.kind == .hostInUse && $0.holder == "pid 812 (nvidia-persiste) has /dev/nvidia0 open" })
        #expect(r.contains { $0.address == audio && $0.holder == "/srv (ext4) on sdb1" && $0.wayOut == "unmount it first" })
        #expect(r.count == 3)
    }

    @Test("a group member assigned to a running VM is refused, naming the guest")
    func assignedToVM() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let gpu = Self.a(h.rtx8000)
        let s = try Self.snapshot(
            t,
            holders: [
                DeviceHolder(
                    address: gpu, pid: 4242, process: "qemu-system-x86", node: "/dev/vfio/7",
                    kind: "vfio-group", guest: "db1")
            ])
        let r = Self.refusals(Self.planner(s).enable([.address(gpu)]))
        #expect(r.map(\.kind) == [.assignedToVM])
        #expect(r[0].holder == "pid 4242 (qemu-system-x86, guest db1) holds /dev/vfio/7")
    }

    @Test("a PF with VFs enabled, a GPU running vGPU instances, a vGPU slot VF: refused")
    func modes() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let p = Self.planner(s)
        let l40s = Self.refusals(p.enable([.address(Self.a(h.l40s[1]))]))
        #expect(l40s.map(\.kind) == [.activeVGPU])
        #expect(l40s[0].holder.contains("3 vGPU instances of NVIDIA L40S-8Q"))
        let t4 = Self.refusals(p.enable([.address(Self.a(h.t4[1]))]))
        #expect(t4.map(\.kind) == [.activeVGPU])
        // The idle T4 has mdev types but nothing runs on it: it may be passed through whole.
        #expect(Self.refusals(p.enable([.address(Self.a(h.t4[0]))])).isEmpty)
        let slot = Self.refusals(p.enable([.address(Self.a(h.l40sVFs[0][0]))]))
        #expect(slot.map(\.kind) == [.activeVGPU] && slot[0].holder.contains("vGPU slot of \(h.l40s[0])"))

        let (t2, n) = try HostTrees.sriovNICHost(.init(fellOff: false))
        defer { t2.cleanup() }
        let pf = Self.refusals(Self.planner(try Self.snapshot(t2)).enable([.address(Self.a(n.cx7[0]))]))
        #expect(pf.map(\.kind) == [.vfsEnabled])
        #expect(pf[0].holder.hasPrefix("8 SR-IOV VFs enabled on mlx5_core") && pf[0].wayOut.contains("sriov_numvfs"))
    }

    @Test("a dead function is refused; host infrastructure in the group is refused even with --whole-group")
    func deadAndInfrastructure() throws {
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let dead = Self.refusals(Self.planner(s).enable([.address(Self.a(h.fellOff!))]))
        #expect(dead.map(\.kind) == [.unresponsive])
        #expect(dead[0].holder.contains("reads all ones") && dead[0].holder.contains("i40e"))
        let smbus = Self.refusals(Self.planner(s).enable([.address(Self.a(h.smbus))], options: .init(wholeGroup: true)))
        #expect(smbus.map(\.kind) == [.hostInfrastructure])
        #expect(smbus[0].address?.description == h.isaBridge)
    }

    @Test("every refusal, not the first: unknown targets, a bridge, and a dead NIC in one call")
    func allRefusals() throws {
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let r = Self.refusals(
            Self.planner(s).enable([
                .address(Self.a("0000:ee:00.0")), .instance("dsn:nope"), .label("Nope"),
                .address(Self.a(h.rootPorts[0])), .address(Self.a(h.fellOff!)),
            ]))
        #expect(r.map(\.kind) == [.noSuchDevice, .noSuchDevice, .noSuchDevice, .notAssignable, .unresponsive])
    }

    @Test("disable: back to the recorded driver, or the native driver's probe; a VM holding it is refused")
    func disable() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let gpu = Self.a(h.rtx6000)
        let plan = try Self.plan(Self.planner(s).disable([.address(gpu)], previous: [gpu: "nvidia"]))
        #expect(
            plan.functions.map(\.action) == [
                .release(driver: "nvidia"), .release(driver: nil), .release(driver: nil), .release(driver: nil),
            ])
        let held = try Self.snapshot(
            t, holders: [DeviceHolder(address: gpu, pid: 9, process: "qemu-system-x86", node: "/dev/vfio/9", kind: "vfio-group")])
        #expect(Self.refusals(Self.planner(held).disable([.address(gpu)])).map(\.kind) == [.assignedToVM])
    }

    // MARK: modules.alias

    @Test("modules.alias: the most specific vfio_pci match wins; vfio-pci otherwise; garbage named once")
    func aliasMatching() {
        var w: [ProbeWarning] = []
        let idx = VFIOModuleAliases.parse(
            Self.aliasText + "\r\nalias vfio_pci:v000015B3d0000101Esv000015B3sd*bc*sc*i* cx_exact\r\ngarbage here\nalso bad\n",
            path: "/m/modules.alias", warnings: &w)
        #expect(idx.entries.count == 4, "pci: aliases are not VFIO's")
        #expect(idx.module(forModalias: "vfio_pci:v000015B3d0000101Esv000015B3sd00000040bc02sc00i00") == "cx_exact")
        #expect(idx.module(forModalias: "vfio_pci:v000015B3d0000101Esv00001234sd00000040bc02sc00i00") == "mlx5_vfio_pci")
        #expect(idx.module(forModalias: "vfio_pci:v000010DEd00002330sv000010DEsd000016C1bc03sc02i00") == "vfio_pci")
        #expect(VFIOModuleAliases(entries: []).module(forModalias: "vfio_pci:vX") == "vfio_pci")
        #expect(w.count == 1)
        #expect(w.first?.message.contains("/m/modules.alias line") == true && w.first?.message.contains("2 such lines") == true)
        var f = PCIFunction(
            address: Self.a("0000:17:00.1"), vendor: "15b3", device: "101e", classCode: ClassCode(base: "02", sub: "00", progIf: "00"))
        f.subsystemVendor = "15b3"
        f.subsystemDevice = "0040"
        #expect(VFIOModuleAliases.modalias(f) == "vfio_pci:v000015B3d0000101Esv000015B3sd00000040bc02sc00i00")
        #expect(VFIOModuleAliases.glob("a?c*", matches: "abcdef") && !VFIOModuleAliases.glob("a?c", matches: "abcd"))
    }
}
