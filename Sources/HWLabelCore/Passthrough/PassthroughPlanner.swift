import HWLabelProbe

/// Plans `hwlabel passthrough enable|disable` from the facts the rest of hwlabel already
/// derived: the snapshot, the descriptors (companions, mode, vGPU offer), `UsageResolver` (who
/// holds each function), `ModeResolver` and the group rule of `ReadinessEvaluator`. Pure.
///
/// The plan of `enable` covers the whole IOMMU group of every target, because VFIO hands a
/// group over whole: the targets and their companions go to vfio-pci, or to the VFIO variant
/// driver `modules.alias` prefers for them; bridges and members on drivers VFIO accepts in a
/// group stay as they are; any other member is refused unless the operator named it or passed
/// `--whole-group`. Every rule is its own function and every refusal that applies is returned.
public struct PassthroughPlanner: Sendable {
    public struct Options: Sendable, Hashable {
        /// Hand every member of the targets' groups over, named or not.
        public var wholeGroup: Bool
        public init(wholeGroup: Bool = false) { self.wholeGroup = wholeGroup }
    }

    public let snapshot: Snapshot
    public let descriptors: DescriptorSet
    public let aliases: VFIOModuleAliases
    let usage: UsageResolver
    let modes: ModeResolver

    public init(snapshot: Snapshot, descriptors: DescriptorSet, aliases: VFIOModuleAliases = .none) {
        self.snapshot = snapshot
        self.descriptors = descriptors
        self.aliases = aliases
        usage = UsageResolver(snapshot: snapshot)
        modes = ModeResolver(snapshot: snapshot)
    }

    /// The targets resolved to functions: named ones, and the companions they bring.
    struct Selection {
        var named: [PCIAddress] = []
        /// Companion → the device it travels with.
        var companionOf: [PCIAddress: PCIAddress] = [:]
        var refusals: [PassthroughRefusal] = []
        func has(_ a: PCIAddress) -> Bool { named.contains(a) || companionOf[a] != nil }
    }

    // MARK: - enable

    public func enable(_ targets: [PassthroughTarget], options: Options = .init()) -> PassthroughDecision {
        let sel = select(targets)
        var refusals = sel.refusals
        var planned: [PlannedFunction] = []
        var groupsDone = Set<Int>()
        var seen = Set<PCIAddress>()
        for a in sel.named + sel.companionOf.keys.sorted() {
            guard let f = snapshot.function(at: a) else { continue }
            if let r = iommuRule(f) {
                // A host-wide cause is named once per target, not again for each companion.
                if sel.named.contains(a) || snapshot.iommu.enabled == true { refusals.append(r) }
                // Without a group the function alone is what would be handed over.
                if seen.insert(a).inserted { planned.append(plan(f, sel, options, &refusals)) }
                continue
            }
            guard let g = f.iommuGroup, groupsDone.insert(g).inserted else { continue }
            for m in groupMembers(g) where seen.insert(m.address).inserted {
                planned.append(plan(m, sel, options, &refusals))
            }
        }
        for p in planned where p.role != .bystander || refusals.contains(where: { $0.address == p.address }) {
            guard let f = snapshot.function(at: p.address) else { continue }
            refusals += unresponsiveRule(f)
            if p.changes || p.role == .bystander {
                refusals += hostUseRules(f)
                refusals += vmRule(f)
            }
            if p.changes { refusals += modeRule(f) }
        }
        if !refusals.isEmpty { return .refused(Self.unique(refusals)) }
        planned.sort { ($0.group ?? -1, $0.address) < ($1.group ?? -1, $1.address) }
        return .plan(PassthroughPlan(functions: planned))
    }

    /// One member's place in the plan; a member that may not be handed over adds its refusal
    /// (and is then planned as a bystander, so the other rules can still name its holders).
    func plan(_ m: PCIFunction, _ sel: Selection, _ options: Options, _ refusals: inout [PassthroughRefusal]) -> PlannedFunction {
        func entry(_ role: PassthroughRole, _ action: PassthroughAction, _ reason: String) -> PlannedFunction {
            PlannedFunction(
                address: m.address, group: m.iommuGroup, role: role, currentDriver: m.driver,
                currentOverride: m.driverOverride, action: action, reason: reason)
        }
        let role: PassthroughRole
        let why: String
        if sel.named.contains(m.address) {
            role = .target
            why = "named"
        } else if let owner = sel.companionOf[m.address] {
            role = .companion
            why = "companion of \(owner), travels with it"
        } else if m.isBridge {
            return entry(.bystander, .keep, "PCI bridge: VFIO leaves bridges out of the group rule")
        } else if let r = hostInfrastructureRule(m, sel) {
            refusals.append(r)
            return entry(.bystander, .keep, "host infrastructure in the same IOMMU group")
        } else if ReadinessEvaluator.keepsGroupViable(m) {
            let reason =
                m.driver.map { VGPUCapacity.isVFIODriver($0) ? "already on \($0)" : "on \($0), which VFIO accepts in a group" }
                ?? "bound to no driver: VFIO accepts it in a group as it is"
            return entry(.bystander, .keep, reason)
        } else if options.wholeGroup {
            role = .groupMember
            why = "in IOMMU group \(m.iommuGroup.map(String.init) ?? "?"), handed over with --whole-group"
        } else {
            refusals.append(unnamedMemberRule(m, sel))
            return entry(.bystander, .keep, "shares the IOMMU group, not named")
        }
        if let d = m.driver, VGPUCapacity.isVFIODriver(d) {
            return entry(role, .keep, "\(why); already on \(d)")
        }
        let module = aliases.module(for: m)
        let driver = VFIOModuleAliases.driverName(module: module)
        let choice =
            module == "vfio_pci"
            ? "vfio-pci (no VFIO variant driver in modules.alias matches \(m.vendor):\(m.device))"
            : "\(driver) (modules.alias prefers it for \(m.vendor):\(m.device))"
        return entry(role, .bind(driver: driver, module: module), "\(why); to \(choice)")
    }

    // MARK: - disable

    /// Gives named devices (and their companions) back to the host: to `previous[address]`
    /// when known, else to whatever native driver the kernel probes. Functions not on a VFIO
    /// driver and without an override are kept. A VM that holds one is a refusal.
    public func disable(_ targets: [PassthroughTarget], previous: [PCIAddress: String] = [:]) -> PassthroughDecision {
        let sel = select(targets)
        var refusals = sel.refusals
        var planned: [PlannedFunction] = []
        for a in sel.named + sel.companionOf.keys.sorted() {
            guard let f = snapshot.function(at: a), !planned.contains(where: { $0.address == a }) else { continue }
            let role: PassthroughRole = sel.named.contains(a) ? .target : .companion
            let onVFIO = f.driver.map(VGPUCapacity.isVFIODriver) ?? false
            let overridden = f.driverOverride.map { !$0.isEmpty } ?? false
            let action: PassthroughAction
            let reason: String
            if onVFIO || overridden {
                refusals += vmRule(f)
                action = .release(driver: previous[a])
                reason =
                    previous[a].map { "back to \($0), the driver it had before" }
                    ?? "override cleared; the kernel probes its native driver"
            } else {
                action = .keep
                reason = "not on a VFIO driver and no override: nothing to undo"
            }
            planned.append(
                PlannedFunction(
                    address: a, group: f.iommuGroup, role: role, currentDriver: f.driver,
                    currentOverride: f.driverOverride, action: action, reason: reason))
        }
        if !refusals.isEmpty { return .refused(Self.unique(refusals)) }
        planned.sort { ($0.group ?? -1, $0.address) < ($1.group ?? -1, $1.address) }
        return .plan(PassthroughPlan(functions: planned))
    }

    // MARK: - Targets

    func select(_ targets: [PassthroughTarget]) -> Selection {
        var sel = Selection()
        func add(_ a: PCIAddress) {
            if !sel.named.contains(a) { sel.named.append(a) }
            for c in descriptors.descriptor(at: a)?.companions ?? [] where sel.companionOf[c] == nil {
                sel.companionOf[c] = a
            }
        }
        for t in targets {
            switch t {
            case .address(let a):
                guard let f = snapshot.function(at: a) else {
                    sel.refusals.append(
                        PassthroughRefusal(
                            kind: .noSuchDevice, address: a,
                            holder: "no PCI function \(a) in this \(snapshot.source.kind) source",
                            wayOut: "check the address with `hwlabel list`"))
                    continue
                }
                if let r = notAssignableRule(f) { sel.refusals.append(r) } else { add(a) }
            case .instance(let id):
                guard let d = descriptors.descriptors.first(where: { $0.instance.id == id }) else {
                    sel.refusals.append(
                        PassthroughRefusal(
                            kind: .noSuchDevice, address: nil,
                            holder: "no device with instance id \(id)",
                            wayOut: "instance ids are listed by `hwlabel inventory`"))
                    continue
                }
                add(d.address)
            case .label(let name):
                let matched = descriptors.descriptors.filter { $0.label?.name == name }
                if matched.isEmpty {
                    sel.refusals.append(
                        PassthroughRefusal(
                            kind: .noSuchDevice, address: nil,
                            holder: "no device carries the label \"\(name)\"",
                            wayOut: "`hwlabel label list` shows the labels and what they match"))
                }
                for d in matched { add(d.address) }
            }
        }
        // A function named outright is a target, not a companion.
        for a in sel.named { sel.companionOf[a] = nil }
        return sel
    }

    // MARK: - Rules

    /// Bridges and host infrastructure are never handed to a VM.
    func notAssignableRule(_ f: PCIFunction) -> PassthroughRefusal? {
        if f.isBridge {
            return PassthroughRefusal(
                kind: .notAssignable, address: f.address,
                holder: "\(f.address) is a PCI bridge (class \(f.classCode.baseAndSub))",
                wayOut: "name the device behind it")
        }
        if f.isHostInfrastructure {
            return PassthroughRefusal(
                kind: .notAssignable, address: f.address,
                holder: "\(f.address) is host infrastructure (class \(f.classCode.baseAndSub)\(f.driver.map { ", on \($0)" } ?? ""))",
                wayOut: "the host cannot run without it")
        }
        return nil
    }

    /// VFIO needs the IOMMU, and the function in a group.
    func iommuRule(_ f: PCIFunction) -> PassthroughRefusal? {
        switch snapshot.iommu.enabled {
        case false?:
            let params = snapshot.host?.cpuVendor == "AuthenticAMD" ? "amd_iommu=on iommu=pt" : "intel_iommu=on iommu=pt"
            return PassthroughRefusal(
                kind: .iommuOff, address: f.address,
                holder: "the IOMMU is off (the kernel lists no IOMMU groups)",
                wayOut: "enable VT-d/AMD-Vi in firmware, boot with \(params), and run enable again")
        case nil:
            return PassthroughRefusal(
                kind: .iommuOff, address: f.address,
                holder: "whether the IOMMU is on is unknown (\(snapshot.source.kind) source)",
                wayOut: "run it on the host itself, or with a captured sysfs tree that has kernel/iommu_groups")
        case true?:
            guard f.iommuGroup == nil else { return nil }
            return PassthroughRefusal(
                kind: .iommuOff, address: f.address,
                holder: "\(f.address) is in no IOMMU group: the IOMMU does not cover it",
                wayOut: "check the firmware's DMAR/IVRS tables, or use another slot")
        }
    }

    /// A function that does not answer cannot be rebound (the driver's remove path would talk
    /// to nothing).
    func unresponsiveRule(_ f: PCIFunction) -> [PassthroughRefusal] {
        guard f.unresponsive == true else { return [] }
        return [
            PassthroughRefusal(
                kind: .unresponsive, address: f.address,
                holder:
                    "\(f.address) does not answer: its config space reads all ones (powered off or fell off the bus)\(f.driver.map { " while \($0) is still bound" } ?? "")",
                wayOut: "reseat or power-cycle it, or remove it (echo 1 > /sys/bus/pci/devices/\(f.address)/remove) and rescan")
        ]
    }

    /// The host's own uses of the function, as `UsageResolver` found them: boot VGA and
    /// console, mounts, swap, the root file system, up interfaces, the default route, open
    /// DRM and NVIDIA nodes.
    /// A mount of the root file system's device, or the default route's interface being up,
    /// is said once, by the stronger entry (as `ReadinessEvaluator.otherHostUses` does).
    func hostUseRules(_ f: PCIFunction) -> [PassthroughRefusal] {
        let uses = usage.usage(of: [f.address]).hostUses
        let kinds = Set(uses.map(\.kind))
        return uses.filter { u in
            !(u.kind == "mounted" && kinds.contains("root-filesystem")) && !(u.kind == "network-up" && kinds.contains("default-route"))
        }.map { u in
            let (kind, way) = Self.wayOut(for: u)
            return PassthroughRefusal(kind: kind, address: f.address, holder: u.detail, wayOut: way)
        }
    }

    static func wayOut(for u: HostUseEntry) -> (RefusalKind, String) {
        switch u.kind {
        case "boot-vga":
            (.bootVGA, "choose another primary display in firmware setup, or pass another GPU through")
        case "framebuffer-console":
            (
                .console,
                "move the console off it first (echo 0 > /sys/class/vtconsole/vtcon1/bind, or boot with video=efifb:off), or pass another GPU through"
            )
        case "root-filesystem":
            (.hostInUse, "none while the host runs from it: pass another controller through")
        case "default-route":
            (.hostInUse, "move the default route to another interface first")
        case "mounted":
            (.hostInUse, "unmount it first")
        case "swap":
            (.hostInUse, "swapoff it first")
        case "network-up":
            (.hostInUse, "take the interface down (ip link set dev IF down) or move its addresses and routes first")
        case "drm-open", "nvidia-open":
            (
                .hostInUse,
                "stop that process or let it close the device first (nvidia-persistenced, display managers and monitoring agents hold GPUs)"
            )
        default:
            (.hostInUse, "stop that use first")
        }
    }

    /// A running VM holds the function's VFIO group or device.
    func vmRule(_ f: PCIFunction) -> [PassthroughRefusal] {
        usage.usage(of: [f.address]).bindings.map { b in
            PassthroughRefusal(
                kind: .assignedToVM, address: f.address,
                holder: "pid \(b.pid) (\(b.process)\(b.guest.map { ", guest \($0)" } ?? "")) holds \(b.node)",
                wayOut: "shut that VM down or detach the device from it first")
        }
    }

    /// How the function is offered now (`ModeResolver`, the descriptor's vGPU offer): a PF
    /// with VFs, a GPU running vGPU instances, or a vGPU slot VF cannot be rebound whole.
    func modeRule(_ f: PCIFunction) -> [PassthroughRefusal] {
        switch modes.mode(f.address) {
        case .sriovPF:
            let n = f.sriov?.virtualFunctions.count ?? f.sriov?.numVFs ?? 0
            return [
                PassthroughRefusal(
                    kind: .vfsEnabled, address: f.address,
                    holder: "\(n) SR-IOV VF\(n == 1 ? "" : "s") enabled on \(f.driver ?? "its driver"); binding the PF would destroy them",
                    wayOut: "pass a VF through instead, or disable the VFs first (echo 0 > /sys/bus/pci/devices/\(f.address)/sriov_numvfs)")
            ]
        case .vgpu:
            let offer = descriptors.descriptor(at: f.address)?.vgpu
            let running = offer?.activeInstances ?? 0
            guard running > 0 else { return [] }
            let type = offer?.activeType.map { t in offer?.profile(named: t)?.name ?? t }
            return [
                PassthroughRefusal(
                    kind: .activeVGPU, address: f.address,
                    holder:
                        "\(running) vGPU instance\(running == 1 ? "" : "s")\(type.map { " of \($0)" } ?? "") run on it (\(f.driver ?? "vendor driver"))",
                    wayOut: "stop the VMs that use them and remove the instances first, or request a vGPU profile instead")
            ]
        case .vgpuVF:
            let pf = f.physicalFunction.map { "\($0)" } ?? "its physical function"
            return [
                PassthroughRefusal(
                    kind: .activeVGPU, address: f.address,
                    holder: "\(f.address) is a vGPU slot of \(pf)",
                    wayOut: "request a vGPU profile of \(pf) instead")
            ]
        case .wholeDevice, .sriovVF:
            return []
        }
    }

    /// A member on a host driver that nobody named and that does not travel with a target.
    func unnamedMemberRule(_ m: PCIFunction, _ sel: Selection) -> PassthroughRefusal {
        let named = sel.named.filter { snapshot.function(at: $0)?.iommuGroup == m.iommuGroup }.map(String.init(describing:))
        return PassthroughRefusal(
            kind: .unnamedGroupMember, address: m.address,
            holder:
                "\(m.address) (\(m.driver ?? "no driver")) shares IOMMU group \(m.iommuGroup.map(String.init) ?? "?") with \(named.joined(separator: ", "))",
            wayOut: "name it too, or pass --whole-group to hand the whole group over")
    }

    /// Host bridges, ISA/LPC bridges and other chipset functions in the group: VFIO would take
    /// them from the host, and the host cannot run without them.
    func hostInfrastructureRule(_ m: PCIFunction, _ sel: Selection) -> PassthroughRefusal? {
        guard m.isHostInfrastructure, !sel.has(m.address) else { return nil }
        return PassthroughRefusal(
            kind: .hostInfrastructure, address: m.address,
            holder:
                "\(m.address) (class \(m.classCode.baseAndSub)\(m.driver.map { ", \($0)" } ?? "")) is host infrastructure in IOMMU group \(m.iommuGroup.map(String.init) ?? "?")",
            wayOut: "none for this slot, even with --whole-group: move the card behind an ACS-capable port")
    }

    // MARK: - Helpers

    /// The functions of group `g`, by address.
    func groupMembers(_ g: Int) -> [PCIFunction] {
        let addresses = snapshot.iommu.group(g)?.devices ?? snapshot.functions.filter { $0.iommuGroup == g }.map(\.address)
        return addresses.sorted().compactMap { snapshot.function(at: $0) }
    }

    static func unique(_ refusals: [PassthroughRefusal]) -> [PassthroughRefusal] {
        var seen = Set<PassthroughRefusal>()
        return refusals.filter { seen.insert($0).inserted }
    }
}
