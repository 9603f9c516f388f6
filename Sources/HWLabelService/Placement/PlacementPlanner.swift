import HWLabelCore

/// Pure: compares what Placement holds with what the host has and lists the writes that close
/// the gap. An unchanged host plans no calls at all.
///
/// Ownership: a provider in the host's tree is hwlabel's when it carries
/// `CUSTOM_HWLABEL_MANAGED`, or when its UUID is the one hwlabel derives from its name (which
/// covers a crash between `POST` and the first trait write). Anything else is never written.
///
/// Write order: a provider is never schedulable in a state the host cannot deliver, and a PF is
/// never schedulable together with its VFs. The calls come in phases, each over the whole tree:
/// 1. resource classes and traits, then the root;
/// 2. every provider about to change is made unschedulable (`reserveProvider`: its current
///    inventory with `reserved = total`), and providers still allocated to a device that is gone
///    are reserved for good (`retainProvider`): a removed device's, and one whose address now
///    holds another card (see `describesAnotherCard`), which gets no other write;
/// 3. new providers are created (parents first, each marked ours by its first trait write),
///    moved providers get their new parent, changed providers their new traits;
/// 4. removed providers are deleted (children first);
/// 5. last, the final inventories, the only writes that can make a provider schedulable.
/// A sync that stops anywhere (a 409, a timeout, a crash) leaves each changed provider either
/// as it was before or reserved; the next sync finishes the job.
///
/// Another card at a provider's address: the provider's name follows the address, its identity
/// trait the card. While an allocation holds it for the old card, its traits and inventory stay
/// the old card's (a VM's allocation keeps describing the hardware it was given), it is reserved,
/// and a warning says so; the first sync after the allocations are gone rewrites it for the new
/// card like any other change. Without allocations it is rewritten at once.
public enum PlacementPlanner {
    public static func plan(current: PlacementState, desired: DesiredTree) -> PlacementPlan {
        var plan = PlacementPlan()
        plan.warnings = desired.skipped

        // 1. Custom resource classes and traits must exist before any use.
        let neededRCs = Set(desired.providers.flatMap { $0.inventories.keys })
        let neededTraits = Set(desired.providers.flatMap { $0.traits }).filter { $0.hasPrefix("CUSTOM_") }
        for rc in neededRCs.subtracting(current.existingResourceClasses).sorted() { plan.calls.append(.ensureResourceClass(rc)) }
        for t in neededTraits.subtracting(current.existingTraits).sorted() { plan.calls.append(.ensureTrait(t)) }

        // The root: Nova's compute node (or an earlier run's) when one has the host's name.
        let rootUUID: String
        if let root = current.root {
            rootUUID = root.uuid
        } else {
            rootUUID = PlacementUUID.forRoot(desired.rootName)
            plan.calls.append(.createProvider(uuid: rootUUID, name: desired.rootName, parentUUID: nil))
        }

        // Which desired providers are ours to write (existing or to create), parents first.
        let byName = Dictionary(current.providers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let ordered = desired.providers.sorted { ($0.parentName != nil ? 1 : 0, $0.name) < ($1.parentName != nil ? 1 : 0, $1.name) }
        let wanted = Set(ordered.map(\.name))
        var uuidByName: [String: String] = [:]
        for d in ordered {
            if let have = byName[d.name] {
                guard isOurs(have) else {
                    plan.warnings.append("\(d.name): a provider with this name exists but hwlabel did not create it; left untouched")
                    continue
                }
                uuidByName[d.name] = have.uuid
            } else {
                uuidByName[d.name] = PlacementUUID.forDevice(d.name)
            }
        }
        func parentUUID(_ d: DesiredProvider) -> String {
            guard let parent = d.parentName else { return rootUUID }
            if let u = uuidByName[parent] { return u }
            plan.warnings.append("\(d.name): its parent \(parent) is not hwlabel's; placed under the root")
            return rootUUID
        }

        var reserve: [PlacementCall] = [], shape: [PlacementCall] = [], deletes: [PlacementCall] = [], finals: [PlacementCall] = []
        // Where every provider of the tree ends up: for deletion order and for `related`.
        var finalParent: [String: String] = [:]
        for p in current.providers { if let parent = p.parentUUID { finalParent[p.uuid] = parent } }

        // 2, 3, 5: one provider per device.
        for d in ordered {
            guard let uuid = uuidByName[d.name] else { continue }
            let parent = parentUUID(d)
            if let have = byName[d.name], have.hasAllocations == true, let old = describesAnotherCard(have, d) {
                // Allocated to the card that was here: keep it as that card's, reserved, where it is.
                let reserved = have.inventories.fullyReserved
                if reserved != have.inventories {
                    reserve.append(.retainProvider(uuid: uuid, name: have.name, generation: have.generation, inventories: reserved))
                }
                plan.held.append(d.name)
                plan.warnings.append(
                    "\(d.name): still has allocations for the card it was published for (\(old)), but the card at \(d.address) "
                        + "is now \(d.identity.map(describe) ?? "another card"): kept as the old card's and reserved until its "
                        + "allocations are removed; the next sync after that publishes the new card")
                continue
            }
            finalParent[uuid] = parent
            if let have = byName[d.name], let old = describesAnotherCard(have, d) {
                plan.replacing.insert(uuid)
                plan.warnings.append(
                    "\(d.name): the card at \(d.address) is now \(d.identity.map(describe) ?? "another card") (was \(old)); "
                        + "its provider is rewritten for it")
            }
            guard let have = byName[d.name] else {
                shape.append(.createProvider(uuid: uuid, name: d.name, parentUUID: parent))
                // Mark it ours first, so an interrupted run still recognises it next time.
                shape.append(.setTraits(uuid: uuid, name: d.name, generation: 0, traits: d.traits))
                if !d.inventories.isEmpty {
                    finals.append(.setInventories(uuid: uuid, name: d.name, generation: 1, inventories: d.inventories))
                }
                continue
            }
            for call in converge(have, to: d, parentUUID: parent) {
                switch call {
                case .reserveProvider: reserve.append(call)
                case .setInventories: finals.append(call)
                default: shape.append(call)
                }
            }
        }

        // 4. Our providers whose device is gone: delete, or keep reserved while allocated (or
        // while a provider that stays hangs under it).
        let removed = current.providers.filter { !wanted.contains($0.name) && isOurs($0) && $0.uuid != rootUUID }
        var deletable = Set(removed.filter { $0.hasAllocations != true }.map(\.uuid))
        var changed = true
        while changed {
            changed = false
            for u in deletable where finalParent.contains(where: { $0.value == u && !deletable.contains($0.key) }) {
                deletable.remove(u)
                changed = true
            }
        }
        let depth: (String) -> Int = { u in
            var n = 0, at = u
            while let p = finalParent[at], n < 64 { n += 1; at = p }
            return n
        }
        for p in removed.sorted(by: { (depth($0.uuid), $0.name) > (depth($1.uuid), $1.name) }) {
            if deletable.contains(p.uuid) {
                deletes.append(.deleteProvider(uuid: p.uuid, name: p.name))
            } else {
                plan.retained.append(p.name)
                let reserved = p.inventories.fullyReserved
                if reserved != p.inventories {
                    reserve.append(.retainProvider(uuid: p.uuid, name: p.name, generation: p.generation, inventories: reserved))
                }
            }
        }
        plan.retained.sort()
        plan.calls += reserve + shape + deletes + finals

        // A PF and its VFs exclude each other: each is the other's `related`.
        for (child, parent) in finalParent where parent != rootUUID {
            plan.related[child, default: []].insert(parent)
            plan.related[parent, default: []].insert(child)
        }
        for p in current.providers where p.parentUUID != nil && p.parentUUID != rootUUID && finalParent[p.uuid] != p.parentUUID {
            plan.related[p.uuid, default: []].insert(p.parentUUID!)
            plan.related[p.parentUUID!, default: []].insert(p.uuid)
        }
        return plan
    }

    /// The writes that make one existing provider of ours match `desired`, in order (none when
    /// it does): reserve what it has now, move it, set its traits, write its final inventory.
    /// `parentUUID`: where it must hang; nil leaves its parent as it is.
    public static func converge(_ have: ProviderState, to desired: DesiredProvider, parentUUID: String? = nil) -> [PlacementCall] {
        // Keep the mark on even if the planner's caller forgot it.
        let traits = desired.traits.union([PlacementNames.managedTrait]).subtracting(PlacementNames.forbiddenTraits)
        let moves = parentUUID != nil && have.parentUUID != parentUUID
        guard moves || have.traits != traits || have.inventories != desired.inventories else { return [] }
        var calls: [PlacementCall] = []
        var generation = have.generation
        var inventories = have.inventories
        if inventories.fullyReserved != inventories {
            inventories = inventories.fullyReserved
            calls.append(.reserveProvider(uuid: have.uuid, name: have.name, generation: generation, inventories: inventories))
            generation += 1
        }
        if moves, let parentUUID {
            calls.append(.setParent(uuid: have.uuid, name: have.name, parentUUID: parentUUID))
        }
        if have.traits != traits {
            calls.append(.setTraits(uuid: have.uuid, name: have.name, generation: generation, traits: traits))
            generation += 1
        }
        if inventories != desired.inventories {
            calls.append(.setInventories(uuid: have.uuid, name: have.name, generation: generation, inventories: desired.inventories))
        }
        return calls
    }

    /// The card `have` describes, when it is not the card `desired` is for (nil when it is the
    /// same card, or when either side does not say). Told by the identity trait; a provider
    /// published before identity traits existed is told by its PCI resource class
    /// (`CUSTOM_PCI_<VVVV>_<DDDD>`), which only sees a change of vendor or device ID.
    public static func describesAnotherCard(_ have: ProviderState, _ desired: DesiredProvider) -> String? {
        guard let identity = desired.identity else { return nil }
        let want = PlacementNames.identityTrait(identity)
        let held = have.traits.filter(PlacementNames.isIdentityTrait).sorted()
        if !held.isEmpty {
            guard !have.traits.contains(want) else { return nil }
            return held.compactMap { PlacementNames.identityDescription(trait: $0) }.joined(separator: ", ")
        }
        let pci = have.inventories.keys.filter { $0.hasPrefix("CUSTOM_PCI_") }.sorted()
        guard !pci.isEmpty, !pci.contains(PlacementNames.pciResourceClass(vendor: identity.vendor, device: identity.device)) else {
            return nil
        }
        return pci.map { rc in
            let g = rc.dropFirst("CUSTOM_PCI_".count).split(separator: "_").map { $0.lowercased() }
            return g.count == 2 ? "\(g[0]):\(g[1])" : rc
        }.joined(separator: ", ")
    }

    /// `10de:1eb8 subsystem 10de:12a2`: an identity as the warnings name it (the form of the
    /// identity trait, without the class it leaves out).
    static func describe(_ identity: RecordedIdentity) -> String {
        PlacementNames.identityDescription(trait: PlacementNames.identityTrait(identity)) ?? identity.description
    }

    public static func isOurs(_ p: ProviderState) -> Bool {
        p.isManaged || p.uuid == PlacementUUID.forDevice(p.name)
    }
}
