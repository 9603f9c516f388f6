import HWLabelCore
import HWLabelProbe

/// Pure: turns a host's descriptors into the provider tree hwlabel wants in Placement.
///
/// Each device is offered in its current mode only (`AssignableDevice.mode`), one way at a
/// time, as Nova does:
/// - `whole-device`: a child of the root with `{CUSTOM_PCI_<VVVV>_<PPPP>: 1}`.
/// - `sriov-pf`: a child of the root with its traits and no inventory, so a whole-device
///   request never lands on it; its VFs hang under it.
/// - `sriov-vf`: a child of its PF's provider with `{CUSTOM_PCI_<VVVV>_<PPPP>: 1}` (the VF's IDs).
/// - `vgpu`: a child of the root with the ONE published vGPU type's inventory
///   (`CUSTOM_VGPU_<TYPE>`, total = what the card can hold of that type), nothing else.
/// - `vgpu-vf`: nothing: a slot of its card's vGPU capacity, never offered itself.
public enum PlacementMapping {
    public static func desiredTree(
        hostName: String, devices: [AssignableDevice],
        policy: PlacementPolicy = PlacementPolicy()
    ) -> DesiredTree {
        let sorted = devices.sorted { $0.address < $1.address }
        func providerName(_ a: PCIAddress) -> String { PlacementNames.deviceProviderName(host: hostName, address: a.description) }

        // PFs whose VFs are offered. A PF there is never offered whole, whatever its own mode says.
        var offeredVFParents = Set<PCIAddress>()
        for d in sorted where d.mode == .sriovVF {
            if let pf = d.parent ?? d.physicalFunction { offeredVFParents.insert(pf) }
        }

        var providers: [DesiredProvider] = []
        var skipped: [String] = []
        var published = Set<PCIAddress>()
        var neededParents = Set<PCIAddress>()
        for d in sorted {
            let address = d.address.description
            var mode = d.mode
            if mode == .wholeDevice && offeredVFParents.contains(d.address) {
                skipped.append("\(address): its VFs are offered, so it is published as an SR-IOV PF (no inventory of its own), not whole")
                mode = .sriovPF
            }
            switch mode {
            case .vgpuVF:
                continue // a slot of its card's vGPU capacity, counted on the card
            case .sriovPF:
                // Carries the PF's traits for operators; never allocatable, whatever its readiness.
                providers.append(
                    DesiredProvider(
                        name: providerName(d.address), address: address,
                        inventories: [:], traits: baseTraits(d, &skipped), identity: RecordedIdentity(d.attributes)))
                published.insert(d.address)
            case .wholeDevice, .sriovVF:
                guard let ready = passthroughReady(d, policy, &skipped) else { continue }
                var traits = baseTraits(d, &skipped)
                if ready { traits.insert(PlacementNames.readyTrait) }
                if d.readiness.state == .readyAfterBinding && !policy.readyAfterBindingIsReady {
                    traits.insert(PlacementNames.readyAfterBindingTrait)
                }
                var rc = PlacementNames.pciResourceClass(vendor: d.attributes.vendor, device: d.attributes.device)
                if policy.resourceClass == .label, let label = d.label?.name,
                    let byLabel = PlacementNames.labelResourceClass(label)
                {
                    rc = byLabel
                }
                var parentName: String?
                if mode == .sriovVF, let pf = d.parent ?? d.physicalFunction {
                    parentName = providerName(pf)
                    neededParents.insert(pf)
                }
                // A device that is not ready keeps its inventory visible but fully reserved.
                providers.append(
                    DesiredProvider(
                        name: providerName(d.address), address: address, parentName: parentName,
                        inventories: [rc: PlacementInventory(total: 1, reserved: ready ? 0 : 1, maxUnit: 1)],
                        traits: traits, identity: RecordedIdentity(d.attributes)))
                published.insert(d.address)
            case .vgpu:
                // vGPU runs on the vendor driver: the core computed readiness for vGPU, so only
                // not-ready reserves (never "not on vfio-pci").
                let ready = d.readiness.state != .notReady
                if !ready && !policy.publishNotReady {
                    skipped.append("\(address): not ready for vGPU, not published by policy")
                    continue
                }
                providers.append(
                    DesiredProvider(
                        name: providerName(d.address), address: address,
                        inventories: vgpuInventory(d, ready: ready, &skipped),
                        traits: baseTraits(d, &skipped), identity: RecordedIdentity(d.attributes)))
                published.insert(d.address)
            }
        }

        // A VF's PF that has no descriptor of its own (excluded by policy, say) still gets its
        // provider, bare, so the VFs nest as they would under it.
        for pf in neededParents.sorted() where !published.contains(pf) {
            providers.append(
                DesiredProvider(
                    name: providerName(pf), address: pf.description, inventories: [:],
                    traits: [PlacementNames.managedTrait]))
        }
        providers.sort { ($0.parentName != nil ? 1 : 0, $0.name) < ($1.parentName != nil ? 1 : 0, $1.name) }
        return DesiredTree(rootName: hostName, providers: providers, skipped: skipped)
    }

    /// `CUSTOM_HWLABEL_MANAGED`, the card's identity trait, the label's trait and the GPU
    /// architecture's trait.
    static func baseTraits(_ d: AssignableDevice, _ skipped: inout [String]) -> Set<String> {
        var traits: Set<String> = [PlacementNames.managedTrait, PlacementNames.identityTrait(RecordedIdentity(d.attributes))]
        if let label = d.label?.name {
            if let t = PlacementNames.labelTrait(label), t != PlacementNames.managedTrait, !PlacementNames.isIdentityTrait(t) {
                traits.insert(t)
            } else if let t = PlacementNames.labelTrait(label) {
                skipped.append(
                    "\(d.address): label \"\(label)\" exports as \(t), a trait hwlabel sets itself; published without it (rename the label)"
                )
            } else {
                skipped.append("\(d.address): label \"\(label)\" has no usable trait name; published without it")
            }
        }
        if let arch = d.gpu?.architecture?.value, let t = PlacementNames.gpuArchTrait(arch) { traits.insert(t) }
        return traits.subtracting(PlacementNames.forbiddenTraits)
    }

    /// Passthrough readiness under the policy; nil when the device is not to be published.
    static func passthroughReady(_ d: AssignableDevice, _ policy: PlacementPolicy, _ skipped: inout [String]) -> Bool? {
        let ready: Bool
        switch d.readiness.state {
        case .ready: ready = true
        case .readyAfterBinding: ready = policy.readyAfterBindingIsReady
        case .notReady: ready = false
        }
        if !ready && !policy.publishNotReady {
            skipped.append("\(d.address): not ready (\(d.readiness.state.rawValue)), not published by policy")
            return nil
        }
        return ready
    }

    /// The published type's inventory: total = instances that exist + instances still
    /// creatable (the card's capacity for that type, as Nova counts it: allocations consume
    /// it), max_unit = total, all reserved when not ready. Empty, with a warning saying why,
    /// when no type is published.
    static func vgpuInventory(_ d: AssignableDevice, ready: Bool, _ skipped: inout [String]) -> [String: PlacementInventory] {
        let address = d.address.description
        guard let offer = d.vgpu else {
            skipped.append("\(address): in vGPU mode but no vGPU types were read; no vGPU capacity published")
            return [:]
        }
        guard let chosen = offer.publishedType else {
            let names = offer.profiles.map(\.name)
            skipped.append(
                "\(address): vGPU card is idle and no vGPU type is chosen, so no vGPU capacity is published; "
                    + "choose one with `vgpu-type address=\(address) <type name>` in policy.conf"
                    + (names.isEmpty ? "" : " (this card offers: \(names.joined(separator: ", ")))"))
            return [:]
        }
        guard let profile = offer.profile(named: chosen) else {
            skipped.append("\(address): the published vGPU type \"\(chosen)\" is not one this card offers; no vGPU capacity published")
            return [:]
        }
        guard let rc = PlacementNames.vgpuResourceClass(profile.name) ?? PlacementNames.vgpuResourceClass(profile.id) else {
            skipped.append("\(address): vGPU type \"\(profile.name)\" has no usable resource class name; no vGPU capacity published")
            return [:]
        }
        let total = max(0, profile.available) + max(0, profile.instances)
        guard total > 0 else {
            skipped.append(
                "\(address): vGPU type \"\(profile.name)\" cannot be created on this card now (\(profile.basis)); no vGPU capacity published"
            )
            return [:]
        }
        return [rc: PlacementInventory(total: total, reserved: ready ? 0 : total, maxUnit: total)]
    }
}
