import Glibc
import HWLabelProbe

/// Builds assignable-device descriptors from a snapshot, the label set and the policy. Pure.
///
/// Assignable by default: endpoints of class 03 (display), 12 (processing accelerator),
/// 0b40 (coprocessor, e.g. QAT), 02 (network), 01 (storage; 0108 is NVMe), 0c03 (USB
/// controllers), 04 (multimedia/audio), 10 (encryption), 0680 with a type-0 header (NVSwitch:
/// HGX full passthrough gives the switches to the VM); and every SR-IOV VF whatever its class.
/// Never bridges (header type 1/2), host or ISA bridges (0600, 0601), nor functions whose IDs
/// read `ffff`. A function whose config space reads all ones keeps its descriptor (named
/// not-ready), so an operator sees the device that fell off the bus.
/// A GPU's companion functions (HDA audio, USB, UCSI in the same slot) travel with the GPU: they
/// are listed in its `companions` and get no descriptor of their own. The policy may include
/// other non-bridge classes and exclude anything; exclude wins.
public struct DescriptorBuilder: Sendable {
    public init() {}

    /// `recorded`: identities other records (passthrough.conf) hold for instances; instance
    /// labels carry their own. A card that is not the one recorded for its instance gets the
    /// drift in its descriptor and a warning, and the record is not applied to it.
    public func descriptors(snapshot: Snapshot, labels: LabelSet, policy: Policy, recorded: [RecordedInstance] = []) -> DescriptorSet {
        var excluded: [PCIAddress] = []
        // Indices into the snapshot, not copies of the functions: at 10,000 functions a copy
        // of each chosen one was 4 MiB more at the descriptor builder's peak.
        let all = snapshot.functions
        var chosen: [Int] = []
        chosen.reserveCapacity(all.count)
        for i in all.indices where !all[i].isBridge && all[i].vendor != "ffff" {
            let f = all[i]
            if policy.exclude.contains(where: { $0.matches(f) }) {
                if Self.defaultAssignable(f) || policy.include.contains(where: { $0.matches(f) }) { excluded.append(f.address) }
                continue
            }
            if Self.defaultAssignable(f) || policy.include.contains(where: { $0.matches(f) }) { chosen.append(i) }
        }
        // Companions of a chosen GPU travel with it.
        let chosenAddresses = Set(chosen.map { all[$0].address })
        var companionOf: [PCIAddress: PCIAddress] = [:]
        for i in chosen {
            for c in all[i].gpu?.companions ?? [] where chosenAddresses.contains(c.address) || snapshot.index(of: c.address) != nil {
                companionOf[c.address] = all[i].address
            }
        }
        chosen.removeAll { i in companionOf[all[i].address].map { chosenAddresses.contains($0) } ?? false }

        let ids = InstanceIdentifier(snapshot: snapshot).identities(for: chosen)
        let evaluator = ReadinessEvaluator(snapshot: snapshot)
        let modes = ModeResolver(snapshot: snapshot)
        let usage = UsageResolver(snapshot: snapshot)
        let resolver = LabelResolver(labels)
        let records = RecordIndex(
            labels.instanceLabels.compactMap { l in
                l.identity.map { RecordedInstance(source: .label, key: l.key, identity: $0, label: l.label.name) }
            } + recorded)
        // Each descriptor depends only on the snapshot: build them on every core in contiguous
        // chunks (an SR-IOV host has thousands), in order; the descriptors go straight into the
        // result array and their diagnostics beside it.
        var (out, diagnosticLists) = Parallel.chunkedUnzip(chosen, serialBelow: 512) { [self] i in
            let f = all[i]
            let instance = ids[f.address] ?? InstanceIdentity(id: "address:\(f.address)", source: "address")
            let resolution = resolver.resolve(f, instance: instance)
            var diagnostics = resolution.diagnostics
            let companions = (f.gpu?.companions ?? []).map(\.address).filter { snapshot.index(of: $0) != nil }
            let companionFunctions = companions.compactMap { snapshot.function(at: $0) }
            let mode = modes.mode(f.address)
            var vgpu: VGPUOffer?
            if mode == .vgpu, let mechanism = modes.mechanisms[f.address] {
                let vfs = (modes.children[f.address] ?? []).compactMap { snapshot.function(at: $0) }
                let label = resolution.assignment?.name
                let mixed = policy.mixedSize.contains { $0.matches(f) }
                let choice = policy.vgpuTypes.first { $0.matches(f, label: label) }?.type
                let (offer, notes) = VGPUCapacity.offer(f, vfs: vfs, mechanism: mechanism, mixedSize: mixed, choice: choice)
                vgpu = offer
                diagnostics += notes.map { Diagnostic(code: "vgpu-policy", address: f.address, message: $0) }
                if offer.publishedType == nil {
                    diagnostics.append(
                        Diagnostic(
                            code: "vgpu-type-unset", address: f.address,
                            message:
                                "\(f.address) serves vGPU but runs no instance yet, so Placement gets no vGPU inventory for it: choose its type with 'vgpu-type address=\(f.address) <type name>' in policy.conf"
                        ))
                }
            }
            let own = [f.address] + companions
            // A vGPU card's slots are consumed through it: their VMs are its bindings.
            let slots = mode == .vgpu ? (modes.children[f.address] ?? []) : []
            let used = usage.usage(of: own + slots)
            let drift = records.drift(f, instance: instance)
            diagnostics += drift.map { Diagnostic(code: "identity-drift", address: f.address, message: "\(f.address): \($0)") }
            var device = AssignableDevice(
                address: f.address,
                attributes: AttributeIdentity(
                    vendor: f.vendor, device: f.device, subsystemVendor: f.subsystemVendor,
                    subsystemDevice: f.subsystemDevice, classCode: f.classCode.description,
                    revision: f.revision),
                instance: instance,
                kind: Self.kind(f),
                isVirtualFunction: f.physicalFunction != nil,
                physicalFunction: f.physicalFunction,
                names: f.names,
                label: resolution.assignment,
                readiness: evaluator.evaluate(
                    f, companions: companionFunctions,
                    context: .init(mode: mode, usage: used, vgpu: vgpu, usageResolver: usage)),
                gpu: f.gpu,
                companions: companions,
                capacity: capacity(f, snapshot: snapshot),
                iommuGroup: f.iommuGroup,
                numaNode: f.numaNode,
                driver: f.driver,
                mode: mode,
                excludes: modes.excludes(f),
                usage: used,
                vgpu: vgpu,
                drift: drift)
            // The function's own boxes: one copy of its names and GPU facts, not two.
            device.$names = f.$names
            device.$gpu = f.$gpu
            return (device, diagnostics)
        }
        var errors: [Diagnostic] = []
        var warnings: [Diagnostic] = []
        for diagnostics in diagnosticLists {
            for d in diagnostics {
                if d.severity == .error { errors.append(d) } else { warnings.append(d) }
            }
        }
        // A hand-edited labels.conf may hold labels other engines cannot tell apart.
        warnings += labels.exportCollisions()
        // Instance labels that match nothing present are kept in the file (the card may come back)
        // but named, so a typo is visible.
        for l in resolver.unmatched(out) {
            warnings.append(
                Diagnostic(
                    code: "label-not-present",
                    message: "label \"\(l.label.name)\" on \(l.key): no such device present now"))
        }
        // Chosen in snapshot order, which is address order: a sort would only add its scratch
        // buffer (half the array) to the peak.
        if !out.indices.dropFirst().allSatisfy({ out[$0 - 1].address < out[$0].address }) { out.sort { $0.address < $1.address } }
        return DescriptorSet(descriptors: out, excluded: excluded.sorted(), errors: errors, warnings: warnings)
    }

    /// The default assignable classes (see the type's documentation), plus every SR-IOV VF.
    public static func defaultAssignable(_ f: PCIFunction) -> Bool {
        if f.isBridge || f.vendor == "ffff" { return false }
        if f.physicalFunction != nil { return true }
        switch (f.classCode.base, f.classCode.sub) {
        case ("03", _), ("12", _), ("0b", "40"), ("02", _), ("01", _), ("0c", "03"), ("04", _), ("10", _): return true
        case ("06", "80"): return f.headerType == 0
        default: return false
        }
    }

    static func kind(_ f: PCIFunction) -> String {
        switch (f.classCode.base, f.classCode.sub) {
        case ("03", _): "gpu"
        case ("12", _), ("0b", "40"): "accelerator"
        case ("02", _): "network"
        case ("01", "08"): "nvme"
        case ("01", _): "storage"
        case ("10", _): "crypto"
        case ("0c", "03"): "usb"
        case ("04", "01"), ("04", "03"): "audio"
        case ("04", _): "multimedia"
        case ("06", "80") where f.vendor == "10de": "nvswitch"
        default: "other"
        }
    }

    func capacity(_ f: PCIFunction, snapshot: Snapshot) -> Capacity {
        var c = Capacity()
        c.mdevTypes = (f.mdevTypes ?? []).sorted { $0.id < $1.id }
        if let s = f.sriov, let total = s.totalVFs ?? f.capabilities?.sriov?.totalVFs {
            let enabled = s.numVFs ?? s.virtualFunctions.count
            let free = s.virtualFunctions.filter { vf in
                guard let d = snapshot.function(at: vf)?.driver else { return true }
                return ReadinessEvaluator.passthroughDrivers.contains(d)
            }.count
            c.sriov = SRIOVCapacity(total: total, enabled: enabled, free: s.virtualFunctions.isEmpty ? enabled : free)
        }
        if let types = f.gpu?.creatableVGPUTypes, f.gpu?.currentVGPUType == nil || f.gpu?.currentVGPUType == "0" {
            c.vgpuTypes = types
        }
        return c
    }
}

/// Recorded identities indexed by key (instance id) and by the address an address key names.
struct RecordIndex: Sendable {
    let byKey: [String: [RecordedInstance]]
    let byAddress: [PCIAddress: [RecordedInstance]]

    init(_ records: [RecordedInstance]) {
        var byKey: [String: [RecordedInstance]] = [:], byAddress: [PCIAddress: [RecordedInstance]] = [:]
        for r in records {
            if r.key.hasPrefix("address:"), let a = PCIAddress(r.key.dropFirst("address:".count)) {
                byAddress[a, default: []].append(r)
            } else if let a = PCIAddress(r.key) {
                byAddress[a, default: []].append(r)
            } else {
                byKey[r.key, default: []].append(r)
            }
        }
        self.byKey = byKey
        self.byAddress = byAddress
    }

    /// Every record for this card's instance (or address) made for another identity.
    func drift(_ f: PCIFunction, instance: InstanceIdentity) -> [IdentityDrift] {
        let hits = (byKey[instance.id] ?? []) + (byAddress[f.address] ?? [])
        guard !hits.isEmpty else { return [] }
        let present = RecordedIdentity(f)
        return hits.filter { $0.identity != present }.map {
            IdentityDrift(source: $0.source, key: $0.key, recorded: $0.identity, present: present, label: $0.label)
        }
    }
}
