import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore

/// The device-mode model over kernel-shaped trees of real host types (HostTrees): what the host
/// can assign now, what excludes what, who holds it, and what `check` hands out.
@Suite("Agent: device modes, exclusivity, usage and check over host trees")
struct AgentModeTests {
    /// Probes a built tree, then marks every process as seen (a pure test of the model: the
    /// /proc scan itself is tested in ProbeUsageTests) unless `holders` says otherwise.
    static func snapshot(_ t: TreeBuilder, holders: [DeviceHolder] = [], unreadable: Int = 0) throws -> Snapshot {
        var s = try Probe().snapshot(.sysfs(root: t.sysRoot))
        var h = s.host ?? HostFacts()
        h.deviceHolders = holders
        h.unreadableProcesses = unreadable
        h.hostUses = h.hostUses ?? []
        h.interruptRemapping = true
        s.host = h
        return s
    }

    static func build(_ s: Snapshot, labels: LabelSet = LabelSet(), policy: Policy = .default) -> DescriptorSet {
        DescriptorBuilder().descriptors(snapshot: s, labels: labels, policy: policy)
    }

    static func check(_ r: CheckRequest, _ s: Snapshot, _ set: DescriptorSet, policy: Policy = .default) -> CheckResult {
        CompatibilityChecker().check(r, descriptors: set, snapshot: s, policy: policy)
    }

    static func a(_ s: String) -> PCIAddress { PCIAddress(s)! }

    // MARK: SR-IOV NIC host

    @Test("a PF with VFs enabled is offered as its VFs, never whole, never told to bind to vfio-pci")
    func pfWithVFs() throws {
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let set = Self.build(s)
        let pf = try #require(set.descriptor(at: Self.a(h.cx7[0])))
        #expect(pf.mode == .sriovPF)
        #expect(pf.readiness.state == .notReady)
        #expect(pf.readiness.reasons.contains { $0.code == "offered-as-vfs" && $0.message.contains("8 SR-IOV VFs") })
        #expect(!pf.readiness.remediation.contains { $0.contains(h.cx7[0]) })
        #expect(Set(pf.excludes.map(\.description)) == Set(h.cx7VFs))
        for vf in h.cx7VFs {
            let d = try #require(set.descriptor(at: Self.a(vf)))
            #expect(d.mode == .sriovVF)
            #expect(d.parent == Self.a(h.cx7[0]))
            #expect(d.excludes == [Self.a(h.cx7[0])])
        }
        // The second ConnectX-7 has no VFs enabled: it is a whole device.
        #expect(set.descriptor(at: Self.a(h.cx7[1]))?.mode == .wholeDevice)
    }

    @Test("check never hands out a PF together with its own VFs, and prefers VFs already on vfio-pci")
    func pfAndVFsNotTogether() throws {
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let set = Self.build(s)
        let r = Self.check(
            CheckRequest(devices: [
                DeviceRequest(vendor: "15b3", device: "1021", count: 2),
                DeviceRequest(vendor: "15b3", device: "101e", count: 2),
            ]), s, set)
        #expect(!r.fits)
        let served = Set(r.devices.map(\.address.description))
        #expect(!served.contains(h.cx7[0]))
        #expect(served.contains(h.cx7[1]))
        #expect(r.parts[0].unmet.contains { $0.contains(h.cx7[0]) && $0.contains("offered as its 8 SR-IOV VFs") }, "\(r.parts[0].unmet)")
        // The two VFs: the vfio-pci ones (ready now) before the mlx5_core ones (need rebinding).
        #expect(r.parts[1].satisfied)
        #expect(Set(r.parts[1].devices.map(\.description)).isSubset(of: Set(h.vfioVFs)), "\(r.parts[1].devices)")
        #expect(!r.bindingCommands.contains { $0.contains(h.cx7[0]) })
        for vf in r.parts[1].devices {
            let d = try #require(set.descriptor(at: vf))
            #expect(!d.excludes.contains { served.contains($0.description) })
        }
    }

    @Test("a function that fell off the bus is refused and named; its neighbours are unaffected")
    func deadFunction() throws {
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let dead = try #require(h.fellOff)
        let s = try Self.snapshot(t)
        let f = try #require(s.function(at: Self.a(dead)))
        #expect(f.unresponsive == true)
        let set = Self.build(s)
        let d = try #require(set.descriptor(at: Self.a(dead)))
        #expect(d.readiness.state == .notReady)
        #expect(d.readiness.reasons.contains { $0.code == "function-unresponsive" && $0.message.contains(dead) })
        #expect(!d.readiness.remediation.contains { $0.contains("driverctl") })
        let r = Self.check(CheckRequest(devices: [DeviceRequest(vendor: f.vendor, device: f.device)]), s, set)
        #expect(!r.fits)
        #expect(r.parts[0].unmet.contains { $0.contains("function-unresponsive") })
        // A VF (first dword of ones by specification) is not mistaken for a dead function.
        #expect(s.function(at: Self.a(h.cx7VFs[0]))?.unresponsive == false)
    }

    // MARK: vGPU host

    @Test("NVIDIA vendor-VFIO vGPU: idle card offers every type by framebuffer; a busy card only its running type")
    func vendorVGPU() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let set = Self.build(s)
        let idle = try #require(set.descriptor(at: Self.a(h.l40s[0])))
        #expect(idle.mode == .vgpu)
        #expect(idle.readiness.state == .ready, "\(idle.readiness.reasons)")
        #expect(!idle.readiness.reasons.contains { $0.code == "not-bound-to-vfio" })
        let offer = try #require(idle.vgpu)
        #expect(offer.mechanism == "nvidia-vfio")
        #expect(offer.activeType == nil)
        #expect(offer.framebuffer?.value == 48 << 30)
        #expect(offer.profile(named: "NVIDIA L40S-48Q")?.available == 1) // the whole 48 GB card
        #expect(offer.profile(named: "NVIDIA L40S-8Q")?.available == 6) // 48 / 8
        #expect(offer.profile(named: "NVIDIA L40S-1Q")?.available == 16) // one per free VF
        #expect(offer.profile(named: "NVIDIA L40S-8Q")?.framebuffer?.source == "name:8Q")
        #expect(offer.publishedType == nil)
        #expect(set.warnings.contains { $0.code == "vgpu-type-unset" && $0.message.contains(h.l40s[0]) })

        let busy = try #require(set.descriptor(at: Self.a(h.l40s[1]))?.vgpu)
        #expect(busy.activeType == String(HostTrees.l40s8Q.id))
        #expect(busy.activeInstances == 3)
        #expect(busy.profile(named: "NVIDIA L40S-8Q")?.available == 3) // 6 fit, 3 run
        // Once a type runs, the driver lists only that type on the free VFs.
        #expect((busy.profile(named: "NVIDIA L40S-4Q")?.available ?? 0) == 0)
        #expect(busy.publishedType == String(HostTrees.l40s8Q.id))
        // Every VF is a slot, not a device.
        for vf in h.l40sVFs[1] { #expect(set.descriptor(at: Self.a(vf))?.mode == .vgpuVF) }
    }

    @Test("check: a vGPU card is never handed out whole, nor its VFs; 22 × 10de:26b9 does not fit")
    func vgpuCardNotWhole() throws {
        let (t, _) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let set = Self.build(s)
        let r = Self.check(
            CheckRequest(
                devices: [DeviceRequest(vendor: "10de", device: "26b9")],
                vgpu: [VGPURequest(profile: "NVIDIA L40S-8Q")]), s, set)
        #expect(!r.parts[0].satisfied)
        #expect(r.parts[0].unmet.contains { $0.contains("serves vGPU") })
        #expect(r.parts[1].satisfied)
        let many = Self.check(CheckRequest(devices: [DeviceRequest(vendor: "10de", device: "26b9", count: 22)]), s, set)
        #expect(!many.fits)
        #expect(many.devices.isEmpty)
    }

    @Test("check: one type per card per request, counts bounded by what is left, two whole-card profiles never on one card")
    func vgpuOneTypePerCard() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let set = Self.build(s)
        // Two 48Q: the busy card can take none, the idle card one.
        let two48 = Self.check(CheckRequest(vgpu: [VGPURequest(profile: "NVIDIA L40S-48Q", count: 2)]), s, set)
        #expect(!two48.fits)
        #expect(two48.parts[0].devices == [Self.a(h.l40s[0])])
        // 8Q fills the card that already runs it first (3 left), then the idle one; a 4Q in the
        // same request then has no card: both now run 8Q.
        let mixed = Self.check(
            CheckRequest(vgpu: [
                VGPURequest(profile: "NVIDIA L40S-8Q", count: 4),
                VGPURequest(profile: "NVIDIA L40S-4Q", count: 1),
            ]), s, set)
        #expect(mixed.parts[0].satisfied)
        #expect(mixed.parts[0].devices.filter { $0 == Self.a(h.l40s[1]) }.count == 3)
        #expect(mixed.parts[0].devices.filter { $0 == Self.a(h.l40s[0]) }.count == 1)
        #expect(!mixed.parts[1].satisfied)
        #expect(mixed.parts[1].unmet.contains { $0.contains("one type per GPU") }, "\(mixed.parts[1].unmet)")
    }

    @Test("mdev T4: the card running T4-4Q offers only T4-4Q; T4-4Q and T4-1Q land on different cards")
    func mdevOneActiveType() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let set = Self.build(s)
        let busy = try #require(set.descriptor(at: Self.a(h.t4[1]))?.vgpu)
        #expect(busy.mechanism == "mdev")
        #expect(busy.activeType == "nvidia-225" || busy.profile(named: busy.activeType ?? "")?.name == "GRID T4-4Q")
        #expect(busy.profile(named: "GRID T4-4Q")?.available == 3)
        #expect(busy.profile(named: "GRID T4-1Q")?.available == 0)
        #expect(busy.profile(named: "GRID T4-4Q")?.framebuffer?.source == "mdev-description")
        let r = Self.check(CheckRequest(vgpu: [VGPURequest(profile: "GRID T4-4Q"), VGPURequest(profile: "GRID T4-1Q")]), s, set)
        #expect(r.fits)
        #expect(r.parts[0].devices == [Self.a(h.t4[1])])
        #expect(r.parts[1].devices == [Self.a(h.t4[0])])
        // With the idle T4 excluded by policy, the 1Q has nowhere to go.
        let policy = Policy(exclude: [.address(Self.a(h.t4[0]))])
        let only = Self.build(s, policy: policy)
        let r2 = Self.check(
            CheckRequest(vgpu: [VGPURequest(profile: "GRID T4-4Q"), VGPURequest(profile: "GRID T4-1Q")]), s, only, policy: policy)
        #expect(!r2.fits)
    }

    @Test("a card declared mixed-size by policy offers other types beside the running one, within its framebuffer")
    func mixedSize() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        // In mixed-size mode the driver keeps listing every type on the free VFs.
        for vf in h.l40sVFs[1] where !h.runningVFs.contains(vf) {
            try t.nvidiaVGPU(vf, creatable: HostTrees.l40sProfiles, current: 0)
        }
        let s = try Self.snapshot(t)
        let plain = try #require(Self.build(s).descriptor(at: Self.a(h.l40s[1]))?.vgpu)
        #expect(plain.profile(named: "NVIDIA L40S-4Q")?.available == 0)
        let policy = Policy(mixedSize: [.address(Self.a(h.l40s[1]))])
        let mixed = try #require(Self.build(s, policy: policy).descriptor(at: Self.a(h.l40s[1]))?.vgpu)
        #expect(mixed.mixedSize)
        #expect(mixed.profile(named: "NVIDIA L40S-4Q")?.available == 6) // (48 − 3 × 8) / 4
        #expect(mixed.profile(named: "NVIDIA L40S-48Q")?.available == 0)
    }

    @Test("policy vgpu-type chooses what an idle card publishes; a busy card publishes its running type")
    func vgpuTypeChoice() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let policy = Policy(vgpuTypes: [VGPUTypeChoice(target: .selector(.vendorDevice("10de", "26b9")), type: "NVIDIA L40S-24Q")])
        let set = Self.build(s, policy: policy)
        #expect(set.descriptor(at: Self.a(h.l40s[0]))?.vgpu?.publishedType == "1161")
        #expect(set.descriptor(at: Self.a(h.l40s[1]))?.vgpu?.publishedType == String(HostTrees.l40s8Q.id))
        #expect(!set.warnings.contains { $0.code == "vgpu-type-unset" && $0.message.contains(h.l40s[0]) })
    }

    @Test("ranking: the RTX 6000 ready on vfio-pci before the RTX 8000 that needs rebinding")
    func ranking() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let s = try Self.snapshot(t)
        let set = Self.build(s)
        let r = Self.check(CheckRequest(devices: [DeviceRequest(vendor: "10de", device: "1e30")]), s, set)
        #expect(r.fits)
        #expect(r.devices.map(\.address) == [Self.a(h.rtx6000)])
        #expect(r.bindingCommands.isEmpty)
        let both = Self.check(CheckRequest(devices: [DeviceRequest(vendor: "10de", device: "1e30", count: 2)]), s, set)
        #expect(Set(both.devices.map(\.address)) == [Self.a(h.rtx6000), Self.a(h.rtx8000)])
        #expect(both.bindingCommands.contains("driverctl set-override \(h.rtx8000) vfio-pci"))
    }

    // MARK: HGX H100 host

    @Test("HGX: --label Hopper never picks the H100 the host uses; NVSwitches are devices")
    func hopperSkipsHostGPU() throws {
        let (t, h) = try HostTrees.hgxH100()
        defer { t.cleanup() }
        let held = DeviceHolder(address: Self.a(h.gpus[0]), pid: 3141, process: "nv-hostengine", node: "/dev/dri/renderD128", kind: "drm")
        let s = try Self.snapshot(t, holders: [held])
        let labels = LabelSet(rules: [try LabelRule(vendor: "10de", device: "2330", label: try HardwareLabel(validating: "Hopper"))])
        let set = Self.build(s, labels: labels)
        let host = try #require(set.descriptor(at: Self.a(h.gpus[0])))
        #expect(host.usage.state == .host)
        #expect(host.readiness.reasons.contains { $0.code == "host-in-use" && $0.message.contains("pid 3141 (nv-hostengine)") })
        let r = Self.check(CheckRequest(devices: [DeviceRequest(label: "Hopper", count: 7)]), s, set)
        #expect(r.fits)
        #expect(!r.devices.contains { $0.address == Self.a(h.gpus[0]) })
        #expect(r.bindingCommands.isEmpty)
        let eight = Self.check(CheckRequest(devices: [DeviceRequest(label: "Hopper", count: 8)]), s, set)
        #expect(!eight.fits)
        #expect(eight.parts[0].unmet.contains { $0.contains(h.gpus[0]) && $0.contains("host-in-use") })
        for sw in h.nvswitches {
            let d = try #require(set.descriptor(at: Self.a(sw)), "NVSwitch \(sw) has no descriptor")
            #expect(d.kind == "nvswitch")
            #expect(d.mode == .wholeDevice)
            #expect(d.readiness.state != .notReady, "\(d.readiness.reasons)")
        }
        // Host and ISA bridges are never offered, but a host driver on them spoils their group.
        #expect(set.descriptor(at: Self.a(h.hostBridge)) == nil)
        #expect(set.descriptor(at: Self.a(h.isaBridge)) == nil)
    }

    @Test("HGX: a VM holding a GPU's VFIO group is a binding, named with its guest; check skips it")
    func vmBinding() throws {
        let (t, h) = try HostTrees.hgxH100()
        defer { t.cleanup() }
        let vm = DeviceHolder(
            address: Self.a(h.gpus[3]), pid: 5150, process: "qemu-system-x86", node: "/dev/vfio/\(h.groups[h.gpus[3]]!)",
            kind: "vfio-group", guest: "train-7")
        let hostUse = DeviceHolder(address: Self.a(h.gpus[0]), pid: 3141, process: "nv-hostengine", node: "/dev/nvidia0", kind: "nvidia")
        let s = try Self.snapshot(t, holders: [hostUse, vm])
        let set = Self.build(s)
        #expect(set.descriptor(at: Self.a(h.gpus[0]))?.usage.hostUses.contains { $0.kind == "nvidia-open" } == true)
        let d = try #require(set.descriptor(at: Self.a(h.gpus[3])))
        #expect(d.usage.state == .vm)
        #expect(
            d.usage.bindings == [VMBinding(pid: 5150, process: "qemu-system-x86", guest: "train-7", node: vm.node, address: vm.address)])
        #expect(d.readiness.reasons.contains { $0.code == "assigned-to-vm" && $0.message.contains("guest train-7") })
        let r = Self.check(CheckRequest(devices: [DeviceRequest(vendor: "10de", device: "2330", count: 7)]), s, set)
        #expect(!r.fits) // one used by the host, one by a VM: six left
        #expect(r.parts[0].devices.count == 6)
        // Where the scan could not see every process, nothing is called free.
        let blind = Self.build(try Self.snapshot(t, unreadable: 2))
        #expect(blind.descriptors.allSatisfy { $0.usage.state != .free })
    }
}
