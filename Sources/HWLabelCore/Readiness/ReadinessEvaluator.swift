import HWLabelProbe

/// Decides passthrough readiness for one function (and its companions) from the snapshot. Pure.
///
/// `ready`: passes through now. `ready-after-binding`: only driver bindings stand in the way
/// (the remediation lists the `driverctl` commands). `not-ready`: a blocker that binding cannot
/// fix (IOMMU off, no group, host or a VM uses the device or its group, the function is dead,
/// it is offered another way, facts unknown). `risk` and `info` reasons never change the state.
///
/// Each rule is one small function that appends reasons; `evaluate` runs the rules that apply
/// to the device's mode.
public struct ReadinessEvaluator: Sendable {
    public let snapshot: Snapshot
    public init(snapshot: Snapshot) { self.snapshot = snapshot }

    /// Drivers that keep a group viable for VFIO besides the vfio drivers themselves: the
    /// kernel lets a group member sit on a driver that manages its own DMA ownership
    /// (`driver_managed_dma`): pci-stub and pcieport.
    public static let passthroughDrivers: Set<String> = ["vfio-pci", "pci-stub"]
    static let vfioAllowedHostDrivers: Set<String> = ["pci-stub", "pcieport"]

    /// The kernel's rule for another member of a group: fine when it is a bridge (header type
    /// 1/2), unbound, on a vfio driver, or on a driver VFIO allows.
    public static func keepsGroupViable(_ m: PCIFunction) -> Bool {
        if m.isBridge { return true }
        guard let d = m.driver else { return true }
        return VGPUCapacity.isVFIODriver(d) || vfioAllowedHostDrivers.contains(d)
    }

    /// What `evaluate` needs beyond the function: its mode and who holds it.
    public struct Context: Sendable {
        public var mode: DeviceMode
        public var usage: DeviceUsage
        public var vgpu: VGPUOffer?
        public var usageResolver: UsageResolver?
        public init(
            mode: DeviceMode = .wholeDevice, usage: DeviceUsage? = nil, vgpu: VGPUOffer? = nil,
            usageResolver: UsageResolver? = nil
        ) {
            self.mode = mode
            self.usage = usage ?? DeviceUsage(state: .unknown, unknownBecause: "not scanned")
            self.vgpu = vgpu
            self.usageResolver = usageResolver
        }
    }

    /// Reasons and fixes collected by the rules.
    struct Findings {
        var reasons: [ReadinessReason] = []
        var kernelFixes: [String] = []
        var toBind: [PCIAddress] = []
        mutating func add(_ code: ReasonCode, _ severity: ReadinessReason.Severity, _ message: String, members: [GroupMember] = []) {
            reasons.append(ReadinessReason(code, severity: severity, message: message, members: members))
        }
    }

    public func evaluate(_ f: PCIFunction, companions: [PCIFunction] = [], context: Context? = nil) -> Readiness {
        let ctx = context ?? Context(usage: (UsageResolver(snapshot: snapshot)).usage(of: [f.address] + companions.map(\.address)))
        var out = Findings()
        dead(f, &out)
        // A dead function is nothing but dead: no binding or group advice for it.
        if f.unresponsive == true { return finish(out) }
        switch ctx.mode {
        case .sriovPF:
            offeredAsVFs(f, &out)
        case .vgpuVF:
            vgpuSlot(f, &out)
        case .vgpu:
            if ctx.vgpu?.mechanism == "nvidia-vfio" { iommu(f, &out) }
            vgpuCapacity(f, ctx.vgpu, &out)
            hostWide(&out)
        case .wholeDevice, .sriovVF:
            iommu(f, &out)
            configSpace(f, &out)
            bindings(f, companions: companions, &out)
            groupViability(f, companions: companions, &out)
            hostUse(f, companions: companions, ctx, &out)
            reset(f, &out)
            link(f, &out)
            hostWide(&out)
        }
        if ctx.mode != .wholeDevice && ctx.mode != .sriovVF { usageNotes(ctx.usage, &out) }
        return finish(out)
    }

    func finish(_ out: Findings) -> Readiness {
        let state: Readiness.State
        if out.reasons.contains(where: { $0.severity == .blocker }) {
            state = .notReady
        } else if out.reasons.contains(where: { $0.severity == .binding }) {
            state = .readyAfterBinding
        } else {
            state = .ready
        }
        return Readiness(state: state, reasons: out.reasons, remediation: out.kernelFixes + Self.bindingCommands(for: out.toBind))
    }

    // MARK: - Rules

    /// The whole header reads ones: powered off (D3cold) or fell off the bus.
    func dead(_ f: PCIFunction, _ out: inout Findings) {
        guard f.unresponsive == true else { return }
        out.add(
            .functionUnresponsive, .blocker,
            "\(f.address) does not answer: its config space reads all ones (powered off or fell off the bus) while the kernel still lists \(f.vendor):\(f.device); reseat or power-cycle it, or remove it (echo 1 > /sys/bus/pci/devices/\(f.address)/remove) and rescan"
        )
    }

    func offeredAsVFs(_ f: PCIFunction, _ out: inout Findings) {
        let n = f.sriov?.virtualFunctions.count ?? f.sriov?.numVFs ?? 0
        out.add(
            .offeredAsVFs, .blocker,
            "\(f.address) has \(n) SR-IOV VF\(n == 1 ? "" : "s") enabled: it is offered as its VFs and stays on \(f.driver ?? "its driver"); binding it to vfio-pci would destroy them. To assign it whole, disable the VFs first (echo 0 > /sys/bus/pci/devices/\(f.address)/sriov_numvfs)"
        )
    }

    func vgpuSlot(_ f: PCIFunction, _ out: inout Findings) {
        let pf = f.physicalFunction.map { "\($0)" } ?? "its physical function"
        let running = f.gpu?.currentVGPUType.flatMap { $0 == "0" || $0.isEmpty ? nil : $0 }
        out.add(
            .vgpuSlot, .blocker,
            "\(f.address) is a vGPU slot of \(pf)" + (running.map { " (running vGPU type \($0))" } ?? "")
                + ": request a vGPU profile of \(pf) instead of passing this VF through")
    }

    func vgpuCapacity(_ f: PCIFunction, _ offer: VGPUOffer?, _ out: inout Findings) {
        guard let offer else { return }
        if !offer.profiles.contains(where: { $0.available > 0 }) {
            out.add(
                .vgpuFull, .blocker,
                "\(f.address) serves vGPU but can create no more instances now"
                    + (offer.activeType.map { t in
                        " (\(offer.activeInstances) instance\(offer.activeInstances == 1 ? "" : "s") of \(offer.profile(named: t)?.name ?? t) run)"
                    } ?? ""))
        }
        if f.bootVGA == true {
            out.add(.bootVGA, .risk, "\(f.address) is also the boot VGA device (host console)")
        }
    }

    func iommu(_ f: PCIFunction, _ out: inout Findings) {
        switch snapshot.iommu.enabled {
        case false?:
            let params = snapshot.host?.cpuVendor == "AuthenticAMD" ? "amd_iommu=on iommu=pt" : "intel_iommu=on iommu=pt"
            out.add(.iommuOff, .blocker, "the IOMMU is off (no IOMMU groups); enable VT-d/AMD-Vi in firmware and boot with \(params)")
            out.kernelFixes += [
                "grubby --update-kernel=ALL --args=\"\(params)\"  # Debian/Ubuntu: add to GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub",
                "reboot",
            ]
        case nil:
            out.add(
                .iommuUnknown, .blocker, "IOMMU state unknown (\(snapshot.source.kind) source records no IOMMU groups); probe the live host"
            )
        case true?:
            if f.iommuGroup == nil {
                out.add(
                    .noIOMMUGroup, .blocker,
                    "\(f.address) is in no IOMMU group: the IOMMU does not cover it (check firmware DMAR/IVRS tables)")
            }
        }
    }

    func configSpace(_ f: PCIFunction, _ out: inout Findings) {
        if f.unresponsive != true, let why = f.configSpace.whyCapabilitiesUnknown {
            out.add(.configUnreadable, .info, why)
        }
    }

    /// The device and its companions must be on vfio-pci. A dump records no drivers: then the
    /// binding is unknown, not absent.
    func bindings(_ f: PCIFunction, companions: [PCIFunction], _ out: inout Findings) {
        if snapshot.source.kind == "dump" {
            out.add(.driverUnknown, .info, "an lspci dump records no driver bindings: whether \(f.address) is on vfio-pci is unknown")
            return
        }
        deviceBinding(f, &out)
        companionBindings(companions, &out)
    }

    /// The device itself is on a host driver or none.
    func deviceBinding(_ f: PCIFunction, _ out: inout Findings) {
        if !(f.driver.map(VGPUCapacity.isVFIODriver) ?? false) {
            let now = f.driver.map { "bound to \($0)" } ?? "not bound to any driver"
            out.add(
                .notBoundToVFIO, .binding, "\(f.address) is \(now); bind it to vfio-pci",
                members: [GroupMember(address: f.address, driver: f.driver)])
            out.toBind.append(f.address)
        }
    }

    /// Companions (audio, USB, UCSI of a GPU) travel with the device and need vfio too.
    func companionBindings(_ companions: [PCIFunction], _ out: inout Findings) {
        let unbound = companions.filter { !($0.driver.map(VGPUCapacity.isVFIODriver) ?? false) }
        if !unbound.isEmpty {
            out.add(
                .companionNotBound, .binding,
                "companion functions travel with this device and must be bound to vfio-pci too: "
                    + unbound.map { "\($0.address) (\($0.driver ?? "no driver"))" }.joined(separator: ", "),
                members: unbound.map { GroupMember(address: $0.address, driver: $0.driver) })
            out.toBind += unbound.map(\.address)
        }
    }

    /// VFIO's rule: every other member of the group is a bridge, unbound, on a vfio driver, or on
    /// a driver VFIO allows. A member the host needs makes the group unusable.
    func groupViability(_ f: PCIFunction, companions: [PCIFunction], _ out: inout Findings) {
        guard snapshot.source.kind != "dump" else { return }
        let own = Set([f.address] + companions.map(\.address))
        let offenders = groupMembers(f).filter { !own.contains($0.address) && !Self.keepsGroupViable($0) }
        guard !offenders.isEmpty else { return }
        let host = snapshot.host
        let critical = Set((host?.rootFilesystemDevices ?? []) + (host?.defaultRouteDevices ?? []))
        let hostCritical = offenders.contains { critical.contains($0.address) || $0.bootVGA == true || $0.isHostInfrastructure }
        out.add(
            .groupNotViable, hostCritical ? .blocker : .binding,
            "IOMMU group \(f.iommuGroup.map(String.init) ?? "?") is not viable: other members are bound to host drivers: "
                + offenders.map { "\($0.address) (\($0.driver!))" }.joined(separator: ", ")
                + (hostCritical
                    ? "; the host needs one of them, so the group cannot be handed over" : "; they would leave the host with this device"),
            members: offenders.map { GroupMember(address: $0.address, driver: $0.driver) })
        if !hostCritical { out.toBind += offenders.map(\.address) }
    }

    /// What host use is judged over: the device, its companions, and the rest of its group
    /// (bridges aside), with the functions the host cannot lose.
    struct HostUseScope {
        var own: Set<PCIAddress>
        var others: [PCIFunction]
        var all: [PCIFunction]
        var root: Set<PCIAddress>
        var route: Set<PCIAddress>
    }

    /// The host's own use of the device, its companions or its group, and VMs that hold it.
    func hostUse(_ f: PCIFunction, companions: [PCIFunction], _ ctx: Context, _ out: inout Findings) {
        let own = Set([f.address] + companions.map(\.address))
        let others = groupMembers(f).filter { !own.contains($0.address) && !$0.isBridge }
        let scope = HostUseScope(
            own: own, others: others, all: [f] + companions + others,
            root: Set(snapshot.host?.rootFilesystemDevices ?? []),
            route: Set(snapshot.host?.defaultRouteDevices ?? []))
        hostCritical(f, scope, &out)
        bootVGA(f, &out)
        otherHostUses(scope, ctx, &out)
        assignedToVM(ctx.usage, &out)
        usageUnknown(ctx.usage, &out)
    }

    /// Anything in scope that holds `/` or carries the default route: passing it through would
    /// cut the host off.
    func hostCritical(_ f: PCIFunction, _ scope: HostUseScope, _ out: inout Findings) {
        for (code, set, what) in [
            (ReasonCode.hostRootFilesystem, scope.root, "holds the host's root file system"),
            (ReasonCode.hostDefaultRoute, scope.route, "carries the host's default route"),
        ] {
            let hits = scope.all.filter { set.contains($0.address) }
            guard !hits.isEmpty else { continue }
            let text = hits.map { h in
                h.address == f.address
                    ? "\(h.address) \(what)" : "\(h.address) (\(scope.own.contains(h.address) ? "companion" : "same IOMMU group")) \(what)"
            }.joined(separator: "; ")
            out.add(
                code, .blocker, text + "; passing it through would cut the host off",
                members: hits.map { GroupMember(address: $0.address, driver: $0.driver) })
        }
    }

    /// The host console's GPU.
    func bootVGA(_ f: PCIFunction, _ out: inout Findings) {
        if f.bootVGA == true {
            out.add(
                .bootVGA, .blocker, "\(f.address) is the boot VGA device (host console); choose another primary display in firmware setup")
        }
    }

    /// Other uses: open DRM/NVIDIA nodes, console, up interfaces, mounts, swap — on the device,
    /// its companions, or anything else in its group. Not repeated: what `hostCritical` and
    /// `bootVGA` already say (a root-file-system device's mounts, a default-route device's up
    /// interface). `usage.hostUses` still lists everything.
    func otherHostUses(_ scope: HostUseScope, _ ctx: Context, _ out: inout Findings) {
        let covered: Set<String> = ["boot-vga", "root-filesystem", "default-route"]
        func new(_ u: HostUseEntry) -> Bool {
            !covered.contains(u.kind) && !(u.kind == "mounted" && scope.root.contains(u.address))
                && !(u.kind == "network-up" && scope.route.contains(u.address))
        }
        var uses = ctx.usage.hostUses.filter(new)
        if let resolver = ctx.usageResolver {
            uses += resolver.hostUses(of: scope.others.map(\.address)).filter(new)
        }
        if !uses.isEmpty {
            out.add(
                .hostInUse, .blocker, "the host uses it: " + uses.map(\.detail).joined(separator: "; "),
                members: uses.map { u in GroupMember(address: u.address, driver: snapshot.function(at: u.address)?.driver) })
        }
    }

    /// A running VM holds its VFIO group or cdev.
    func assignedToVM(_ usage: DeviceUsage, _ out: inout Findings) {
        if !usage.bindings.isEmpty {
            out.add(
                .assignedToVM, .blocker,
                "assigned to a running VM: "
                    + usage.bindings.map { holder($0) }.joined(separator: "; "))
        }
    }

    /// `pid 4242 (qemu-system-x86_64, guest vm1) holds /dev/vfio/12`.
    func holder(_ b: VMBinding) -> String {
        "pid \(b.pid) (\(b.process)\(b.guest.map { ", guest \($0)" } ?? "")) holds \(b.node)"
    }

    /// Who holds it could not be known (open files unreadable, or no `/proc`).
    func usageUnknown(_ usage: DeviceUsage, _ out: inout Findings) {
        if usage.state == .unknown, let why = usage.unknownBecause {
            out.add(.usageUnknown, .risk, "whether a VM or the host holds it is unknown: \(why)")
        }
    }

    /// For modes that are not passed through, who holds the device is still worth saying.
    func usageNotes(_ usage: DeviceUsage, _ out: inout Findings) {
        if !usage.bindings.isEmpty {
            out.add(
                .assignedToVM, .info,
                "VMs use it: "
                    + usage.bindings.map { holder($0) + " of \($0.address)" }.joined(separator: "; "))
        }
    }

    func reset(_ f: PCIFunction, _ out: inout Findings) {
        if let methods = f.resetMethods {
            if methods.isEmpty {
                out.add(
                    .noResetMethod, .risk,
                    "the kernel knows no reset method for \(f.address) (reset_method is empty): state may leak between VMs and a VM restart may hang the device"
                )
            }
        } else if let caps = f.capabilities {
            if !caps.flr && caps.pmNoSoftReset != false {
                out.add(
                    .noResetMethod, .risk,
                    "\(f.address) has no FLR and no usable PM reset (NoSoftRst\(caps.pmNoSoftReset == nil ? ": no PM capability" : "+")); only a bus reset may work, which resets the whole slot"
                )
            }
        } else if f.unresponsive != true {
            out.add(
                .resetUnknown, .info,
                "reset method unknown: no reset_method file and \(f.configSpace.whyCapabilitiesUnknown ?? "no FLR/PM facts")")
        }
    }

    /// A link trained below what both ends support: the device works, slower than it can.
    func link(_ f: PCIFunction, _ out: inout Findings) {
        guard let l = f.link, let cur = l.currentSpeed.flatMap(Self.gts), let curW = l.currentWidth, curW > 0 else { return }
        let up = f.upstreamBridge.flatMap { snapshot.function(at: $0)?.link }
        var issues: [String] = []
        if let mine = l.maxSpeed.flatMap(Self.gts) {
            let both = min(mine, up?.maxSpeed.flatMap(Self.gts) ?? mine)
            if cur < both {
                issues.append(
                    "\(l.currentSpeed!) of \(Self.speedText(both)) both ends support"
                        + (f.isGPUClass ? " (GPUs lower their link speed when idle: check under load)" : ""))
            }
        }
        if let mineW = l.maxWidth, mineW > 0 {
            let bothW = min(mineW, up?.maxWidth.flatMap { $0 > 0 ? $0 : nil } ?? mineW)
            if curW < bothW { issues.append("x\(curW) of x\(bothW)") }
        }
        guard !issues.isEmpty else { return }
        out.add(
            .linkDegraded, .risk,
            "\(f.address)'s link trained below what both ends support: " + issues.joined(separator: ", ")
                + "; reseat the card or check the slot and riser")
    }

    /// What the host as a whole decides for every device: interrupt remapping and ACS.
    func hostWide(_ out: inout Findings) {
        guard let host = snapshot.host else { return }
        interrupts(host, &out)
        acsOverride(host, &out)
    }

    /// Without interrupt remapping vfio refuses a device unless unsafe interrupts are allowed,
    /// which lets a guest forge MSIs.
    func interrupts(_ host: HostFacts, _ out: inout Findings) {
        if host.interruptRemapping == false {
            if host.unsafeInterruptsAllowed == true {
                out.add(
                    .unsafeInterrupts, .risk, "no interrupt remapping; vfio_iommu_type1 allow_unsafe_interrupts=1 lets a guest forge MSIs")
            } else {
                out.add(
                    .noInterruptRemapping, .blocker,
                    "interrupt remapping is off and unsafe interrupts are not allowed: vfio refuses the device. Enable interrupt remapping (x2APIC/VT-d IR) in firmware, or accept the risk with vfio_iommu_type1 allow_unsafe_interrupts=1"
                )
                out.kernelFixes.append(
                    "# accepting the risk: echo 'options vfio_iommu_type1 allow_unsafe_interrupts=1' > /etc/modprobe.d/hwlabel-unsafe-interrupts.conf"
                )
            }
        } else if host.unsafeInterruptsAllowed == true {
            out.add(.unsafeInterrupts, .risk, "vfio_iommu_type1 allow_unsafe_interrupts=1 is set")
        }
    }

    /// `pcie_acs_override=` fakes group isolation.
    func acsOverride(_ host: HostFacts, _ out: inout Findings) {
        if let acs = host.acsOverride {
            out.add(
                .acsOverride, .risk,
                "pcie_acs_override=\(acs) is on the kernel command line: IOMMU group isolation is faked, devices may still reach each other by peer-to-peer DMA"
            )
            out.kernelFixes.append("grubby --update-kernel=ALL --remove-args=pcie_acs_override")
        }
    }

    // MARK: - Helpers

    /// `driverctl set-override <BDF> vfio-pci` (persistent across reboots) for each function.
    /// Without driverctl, the same by hand (until reboot):
    /// `echo vfio-pci > /sys/bus/pci/devices/<BDF>/driver_override`,
    /// `echo <BDF> > /sys/bus/pci/devices/<BDF>/driver/unbind`, `echo <BDF> > /sys/bus/pci/drivers_probe`.
    public static func bindingCommands(for addresses: [PCIAddress]) -> [String] {
        guard !addresses.isEmpty else { return [] }
        var seen = Set<PCIAddress>()
        return ["modprobe vfio-pci"] + addresses.filter { seen.insert($0).inserted }.map { "driverctl set-override \($0) vfio-pci" }
    }

    /// The functions of `f`'s IOMMU group (from the group list, else from the functions' links).
    func groupMembers(_ f: PCIFunction) -> [PCIFunction] {
        guard let g = f.iommuGroup else { return [] }
        if let group = snapshot.iommu.group(g) {
            return group.devices.compactMap { snapshot.function(at: $0) }
        }
        return snapshot.functions.filter { $0.iommuGroup == g }
    }

    /// `16GT/s` → 16.0; `2.5GT/s` → 2.5.
    static func gts(_ s: String) -> Double? {
        guard s.hasSuffix("GT/s"), let v = Double(s.dropLast(4)), v.isFinite, v > 0 else { return nil }
        return v
    }
    static func speedText(_ v: Double) -> String {
        v == v.rounded() && v < 1e6 ? "\(Int(v))GT/s" : "\(v)GT/s"
    }
}
