import HWLabelProbe

/// Answers "can this host take this VM now?" over the descriptors. Pure.
///
/// A device serves when it matches (label or attribute tuple) and is `ready` or
/// `ready-after-binding` (libvirt's managed mode, or the binding commands, get it there without a
/// reboot). Each device serves one request slot; slots are assigned by maximum bipartite
/// matching, so overlapping parts ("1 × Turing GPU" and "1 × 10de:1eb8") never fail for want of
/// a better choice. vGPU profiles consume mdev `available_instances`, or whole NVIDIA SR-IOV VFs,
/// on devices not used for passthrough.
public struct CompatibilityChecker: Sendable {
    public init() {}

    public func check(_ request: CheckRequest, descriptors set: DescriptorSet, snapshot: Snapshot, policy: Policy) -> CheckResult {
        let ds = set.descriptors
        // 1. Expand device parts into slots and match.
        var slots: [(part: Int, candidates: [Int])] = []
        for (p, req) in request.devices.enumerated() {
            let cands = ds.indices.filter { req.matches(ds[$0]) && ds[$0].readiness.state != .notReady }
            for _ in 0..<max(req.count, 0) { slots.append((p, cands)) }
        }
        var ownerOfDevice: [Int: Int] = [:]   // descriptor index -> slot index
        func augment(_ s: Int, _ seen: inout Set<Int>) -> Bool {
            for d in slots[s].candidates where !seen.contains(d) {
                seen.insert(d)
                if ownerOfDevice[d] == nil || augment(ownerOfDevice[d]!, &seen) {
                    ownerOfDevice[d] = s
                    return true
                }
            }
            return false
        }
        for s in slots.indices {
            var seen = Set<Int>()
            _ = augment(s, &seen)
        }
        var parts: [PartResult] = []
        var serving: [ServingDevice] = []
        var toBind: [PCIAddress] = []
        for (p, req) in request.devices.enumerated() {
            let got = ownerOfDevice.filter { slots[$0.value].part == p }.map(\.key).sorted { ds[$0].address < ds[$1].address }
            var unmet: [String] = []
            if got.count < req.count {
                let matching = ds.filter { req.matches($0) }
                if matching.isEmpty {
                    unmet.append("no device matching \(req.what) on this host"
                                 + (req.label != nil ? " (no present device carries that label)" : ""))
                } else {
                    for d in matching where d.readiness.state == .notReady {
                        let blockers = d.readiness.reasons.filter { $0.severity == .blocker }
                        unmet.append("\(d.address) matches but is not ready: " + blockers.map { "\($0.code): \($0.message)" }.joined(separator: "; "))
                    }
                    let usable = matching.filter { $0.readiness.state != .notReady }.count
                    unmet.append("\(got.count) of \(req.count) requested available (\(matching.count) matching, \(usable) ready or ready after binding, others taken by other parts of the request)")
                }
            }
            for i in got {
                let d = ds[i]
                serving.append(ServingDevice(address: d.address, instance: d.instance.id, serves: req.description,
                                             label: d.label?.name, readiness: d.readiness.state, companions: d.companions, vgpuType: nil))
                if d.readiness.state == .readyAfterBinding {
                    toBind += [d.address] + d.readiness.reasons.filter { $0.severity == .binding }.flatMap { $0.members.map(\.address) }
                }
            }
            parts.append(PartResult(kind: "devices", request: req.description, satisfied: got.count >= req.count,
                                    devices: got.map { ds[$0].address }, unmet: unmet))
        }

        // 2. vGPU profiles on devices not used for passthrough.
        let used = Set(ownerOfDevice.keys)
        var remaining: [String: Int] = [:]   // "<address>|<mdev id>" -> instances left
        var usedVFs = Set<Int>()
        for req in request.vgpu {
            var got: [(Int, String)] = []
            for _ in 0..<max(req.count, 0) {
                var placed = false
                for i in ds.indices where !used.contains(i) {
                    for t in ds[i].capacity.mdevTypes where t.id == req.profile || t.name == req.profile {
                        let key = "\(ds[i].address)|\(t.id)"
                        let left = remaining[key] ?? (t.availableInstances ?? 0)
                        if left > 0 { remaining[key] = left - 1; got.append((i, t.id)); placed = true; break }
                    }
                    if placed { break }
                    if !usedVFs.contains(i), let t = ds[i].capacity.vgpuTypes.first(where: { $0.id == req.profile || $0.name == req.profile }) {
                        usedVFs.insert(i); got.append((i, t.id)); placed = true; break
                    }
                }
                if !placed { break }
            }
            var unmet: [String] = []
            if got.count < req.count {
                let offering = ds.filter { d in
                    d.capacity.mdevTypes.contains { $0.id == req.profile || $0.name == req.profile }
                        || d.capacity.vgpuTypes.contains { $0.id == req.profile || $0.name == req.profile }
                }
                if offering.isEmpty {
                    unmet.append("no GPU on this host offers vGPU profile \"\(req.profile)\"")
                } else {
                    for d in offering {
                        for t in d.capacity.mdevTypes where (t.id == req.profile || t.name == req.profile) {
                            unmet.append("\(d.address) \(t.id) (\(t.name ?? req.profile)): \(t.availableInstances.map(String.init) ?? "unknown") available instances")
                        }
                    }
                    unmet.append("\(got.count) of \(req.count) requested instances available")
                }
            }
            for (i, type) in got {
                serving.append(ServingDevice(address: ds[i].address, instance: ds[i].instance.id, serves: req.description,
                                             label: ds[i].label?.name, readiness: ds[i].readiness.state, companions: [], vgpuType: type))
            }
            parts.append(PartResult(kind: "vgpu", request: req.description, satisfied: got.count >= req.count,
                                    devices: got.map { ds[$0.0].address }, unmet: unmet))
        }

        // 3. Nested virtualization.
        let hostNested = snapshot.host?.nestedVirtualization
        var refusal: NestedRefusal?
        if request.nested {
            var unmet: [String] = []
            let wantsDevices = !request.devices.isEmpty || !request.vgpu.isEmpty
            if wantsDevices && !policy.allowNestedWithPassthrough {
                refusal = NestedRefusal()
                unmet.append(NestedRefusal.message)
            }
            switch hostNested {
            case true?: break
            case false?: unmet.append("nested virtualization is off on this host: modprobe -r kvm_intel && modprobe kvm_intel nested=1 (kvm_amd on AMD), persist with 'options kvm_intel nested=1' in /etc/modprobe.d/")
            case nil: unmet.append("the host's nested-virtualization state is unknown (no /sys/module/kvm_*/parameters/nested in this snapshot)")
            }
            parts.append(PartResult(kind: "nested", request: "nested hardware virtualization", satisfied: unmet.isEmpty, devices: [], unmet: unmet))
        }

        // Distinct devices, by address.
        var seen = Set<String>()
        serving = serving.filter { seen.insert("\($0.address)|\($0.vgpuType ?? "")").inserted }.sorted { ($0.address, $0.vgpuType ?? "") < ($1.address, $1.vgpuType ?? "") }
        return CheckResult(fits: parts.allSatisfy(\.satisfied), nestedRequested: request.nested,
                           hostNestedVirtualization: hostNested, refusal: refusal, parts: parts, devices: serving,
                           bindingCommands: ReadinessEvaluator.bindingCommands(for: toBind))
    }
}
