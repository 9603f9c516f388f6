import HWLabelAgent

/// Pure: turns a host's descriptors into the provider tree hwlabel wants in Placement.
public enum PlacementMapping {
    public static func desiredTree(hostName: String, devices: [AssignableDevice],
                                   policy: PlacementPolicy = PlacementPolicy()) -> DesiredTree {
        var providers: [DesiredProvider] = []
        var skipped: [String] = []
        for d in devices.sorted(by: { $0.address < $1.address }) {
            let address = d.address.description
            let ready: Bool
            switch d.readiness.state {
            case .ready: ready = true
            case .readyAfterBinding: ready = policy.readyAfterBindingIsReady
            case .notReady: ready = false
            }
            if !ready && !policy.publishNotReady {
                skipped.append("\(address): not ready (\(d.readiness.state.rawValue)), not published by policy")
                continue
            }
            var traits: Set<String> = [PlacementNames.managedTrait]
            if let label = d.label?.name {
                if let t = PlacementNames.labelTrait(label) { traits.insert(t) } else {
                    skipped.append("\(address): label \"\(label)\" has no usable trait name; published without it")
                }
            }
            if let arch = d.gpu?.architecture?.value, let t = PlacementNames.gpuArchTrait(arch) { traits.insert(t) }
            if ready { traits.insert(PlacementNames.readyTrait) }
            if d.readiness.state == .readyAfterBinding && !policy.readyAfterBindingIsReady {
                traits.insert(PlacementNames.readyAfterBindingTrait)
            }
            traits.subtract(PlacementNames.forbiddenTraits)

            var rc = PlacementNames.pciResourceClass(vendor: d.attributes.vendor, device: d.attributes.device)
            if policy.resourceClass == .label, let label = d.label?.name,
               let byLabel = PlacementNames.labelResourceClass(label) {
                rc = byLabel
            }
            // A device that is not ready keeps its inventory visible but fully reserved.
            var inventories = [rc: PlacementInventory(total: 1, reserved: ready ? 0 : 1, maxUnit: 1)]
            for (name, total) in vgpuProfiles(d) where total > 0 {
                guard let vrc = PlacementNames.vgpuResourceClass(name) else { continue }
                inventories[vrc] = PlacementInventory(total: total, reserved: ready ? 0 : total, maxUnit: total)
            }
            providers.append(DesiredProvider(name: PlacementNames.deviceProviderName(host: hostName, address: address),
                                             address: address, inventories: inventories, traits: traits))
        }
        return DesiredTree(rootName: hostName, providers: providers, skipped: skipped)
    }

    /// vGPU profiles with the instances still available: mdev types (`available_instances`,
    /// named by `name` or else the type id) and NVIDIA SR-IOV vGPU types (one instance per VF).
    static func vgpuProfiles(_ d: AssignableDevice) -> [(String, Int)] {
        var out: [String: Int] = [:]
        for m in d.capacity.mdevTypes {
            let name = (m.name?.isEmpty == false ? m.name! : m.id)
            out[name, default: 0] += m.availableInstances ?? 0
        }
        for v in d.capacity.vgpuTypes { out[v.name] = max(out[v.name] ?? 0, 1) }
        return out.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
