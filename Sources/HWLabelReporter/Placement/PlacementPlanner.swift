/// Pure: compares what Placement holds with what the host has and lists the writes that close
/// the gap. An unchanged host plans no calls at all.
///
/// Ownership: a provider in the host's tree is hwlabel's when it carries
/// `CUSTOM_HWLABEL_MANAGED`, or when its UUID is the one hwlabel derives from its name (which
/// covers a crash between `POST` and the first trait write). Anything else is never written.
public enum PlacementPlanner {
    public static func plan(current: PlacementState, desired: DesiredTree) -> PlacementPlan {
        var plan = PlacementPlan()
        plan.warnings = desired.skipped

        // 1. Custom resource classes and traits must exist before any use.
        let neededRCs = Set(desired.providers.flatMap { $0.inventories.keys })
        let neededTraits = Set(desired.providers.flatMap { $0.traits }).filter { $0.hasPrefix("CUSTOM_") }
        for rc in neededRCs.subtracting(current.existingResourceClasses).sorted() { plan.calls.append(.ensureResourceClass(rc)) }
        for t in neededTraits.subtracting(current.existingTraits).sorted() { plan.calls.append(.ensureTrait(t)) }

        // 2. The root: Nova's compute node (or an earlier run's) when one has the host's name.
        let rootUUID: String
        if let root = current.root {
            rootUUID = root.uuid
        } else {
            rootUUID = PlacementUUID.forRoot(desired.rootName)
            plan.calls.append(.createProvider(uuid: rootUUID, name: desired.rootName, parentUUID: nil))
        }

        // 3. One child per device.
        let byName = Dictionary(current.providers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var wanted = Set<String>()
        for d in desired.providers.sorted(by: { $0.name < $1.name }) {
            wanted.insert(d.name)
            guard let have = byName[d.name] else {
                let uuid = PlacementUUID.forDevice(d.name)
                plan.calls.append(.createProvider(uuid: uuid, name: d.name, parentUUID: rootUUID))
                // Mark it ours first, so an interrupted run still recognises it next time.
                plan.calls.append(.setTraits(uuid: uuid, name: d.name, generation: 0, traits: d.traits))
                plan.calls.append(.setInventories(uuid: uuid, name: d.name, generation: 1, inventories: d.inventories))
                continue
            }
            guard isOurs(have), have.parentUUID == rootUUID else {
                plan.warnings.append("\(d.name): a provider with this name exists but hwlabel did not create it; left untouched")
                continue
            }
            plan.calls += converge(have, to: d)
        }

        // 4. Our providers whose device is gone: delete, or keep reserved while allocated.
        for p in current.providers.sorted(by: { $0.name < $1.name })
        where !wanted.contains(p.name) && isOurs(p) && p.uuid != rootUUID {
            if p.hasAllocations == true {
                plan.retained.append(p.name)
                let reserved = p.inventories.mapValues { PlacementInventory(total: $0.total, reserved: $0.total, maxUnit: $0.maxUnit) }
                if reserved != p.inventories {
                    plan.calls.append(.retainProvider(uuid: p.uuid, name: p.name, generation: p.generation, inventories: reserved))
                }
            } else {
                plan.calls.append(.deleteProvider(uuid: p.uuid, name: p.name))
            }
        }
        return plan
    }

    /// The writes that make one existing provider of ours match `desired` (none when it does).
    public static func converge(_ have: ProviderState, to desired: DesiredProvider) -> [PlacementCall] {
        var calls: [PlacementCall] = []
        var generation = have.generation
        // Keep the mark on even if the planner's caller forgot it.
        let traits = desired.traits.union([PlacementNames.managedTrait]).subtracting(PlacementNames.forbiddenTraits)
        if have.traits != traits {
            calls.append(.setTraits(uuid: have.uuid, name: have.name, generation: generation, traits: traits))
            generation += 1
        }
        if have.inventories != desired.inventories {
            calls.append(.setInventories(uuid: have.uuid, name: have.name, generation: generation, inventories: desired.inventories))
        }
        return calls
    }

    public static func isOurs(_ p: ProviderState) -> Bool {
        p.isManaged || p.uuid == PlacementUUID.forDevice(p.name)
    }
}

/// Deterministic provider UUIDs: the same name always gets the same UUID, so a dry run prints
/// the UUIDs a real run will use and a provider hwlabel created is recognisable by its UUID.
public enum PlacementUUID {
    public static func forDevice(_ name: String) -> String { make("hwlabel-device:" + name) }
    public static func forRoot(_ name: String) -> String { make("hwlabel-root:" + name) }

    /// Two FNV-1a 64-bit hashes (different offset bases) → 128 bits, stamped as an RFC 9562
    /// version-8 (vendor-specific) UUID. Not cryptographic; it only needs to be stable and spread.
    static func make(_ text: String) -> String {
        func fnv(_ basis: UInt64) -> UInt64 {
            var h = basis
            for b in text.utf8 { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
            return h
        }
        var hi = fnv(0xcbf2_9ce4_8422_2325)
        var lo = fnv(0x84222325_cbf29ce4 ^ 0x9e37_79b9_7f4a_7c15)
        hi = (hi & ~UInt64(0xF000)) | 0x8000                      // version 8
        lo = (lo & ~(UInt64(0xC) << 60)) | (UInt64(0x8) << 60)   // variant 10
        let h = hex(hi, 16), l = hex(lo, 16)
        return "\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.suffix(4))-\(l.prefix(4))-\(l.suffix(12))"
    }

    private static func hex(_ v: UInt64, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
