import Foundation
import HWLabelCore
import Logging

/// Mirrors one host's descriptors into Placement: reads the host's tree, plans with
/// `PlacementPlanner`, and makes the writes with provider generations, retrying
/// `placement.concurrent_update` conflicts with jittered back-off.
///
/// Keeps what it last read or wrote per provider (keyed by generation), so an unchanged resync
/// costs a handful of GETs and no writes: a provider whose generation has not moved is not re-read.
public actor PlacementPublisher {
    public let transport: any PlacementTransport
    public let policy: PlacementPolicy
    /// Attempts per provider on `placement.concurrent_update` before giving up on it.
    public let maxAttempts: Int
    private let logger: Logger
    private var cache: [String: ProviderState] = [:]
    private var knownTraits: Set<String> = []
    private var knownResourceClasses: Set<String> = []

    public init(
        transport: any PlacementTransport, policy: PlacementPolicy = PlacementPolicy(),
        maxAttempts: Int = 8,
        logger: Logger = Logger(label: "hwlabel.placement", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.transport = transport
        self.policy = policy
        self.maxAttempts = maxAttempts
        self.logger = logger
    }

    /// Forget everything cached: the next sync re-reads every provider.
    public func invalidateCache() {
        cache = [:]
        knownTraits = []
        knownResourceClasses = []
    }

    /// Brings Placement in line with `devices` (or, with `dryRun`, only says how).
    ///
    /// The calls run in the planner's order (see `PlacementPlanner`). A call that fails ends
    /// that provider's calls for this sync and is recorded in `errors`; since every changed
    /// provider is reserved before anything else is written to it, what is left behind is
    /// either unchanged or reserved. A provider's final inventory write is also skipped when
    /// its PF or one of its VFs failed, so the two are never schedulable together.
    public func sync(hostName: String, devices: [AssignableDevice], dryRun: Bool = false) async throws -> PlacementSyncResult {
        let desired = PlacementMapping.desiredTree(hostName: hostName, devices: devices, policy: policy)
        var result = PlacementSyncResult(rootName: hostName, dryRun: dryRun)
        var stats = Stats()

        let state = try await readState(desired, counted: &stats.reads)
        let plan = PlacementPlanner.plan(current: state, desired: desired)
        result.rootUUID = state.root?.uuid ?? PlacementUUID.forRoot(hostName)
        result.plannedCalls = plan.calls.map(\.description)
        result.warnings = plan.warnings
        result.retained = plan.retained
        // The agent has no other place to say it: an allocated provider left describing the old card.
        for w in plan.warnings where plan.held.contains(where: { w.hasPrefix($0 + ":") }) {
            logger.warning("\(w)", metadata: ["placement.root": "\(hostName)"])
        }
        if dryRun {
            result.reads = stats.reads
            return result
        }

        var failed = Set<String>()
        var touched: [String: String] = [:] // name → created/updated
        func fail(_ uuid: String?, _ message: String) {
            result.errors.append(message)
            if let uuid { failed.insert(uuid); cache[uuid] = nil }
        }

        for call in plan.calls {
            let name = call.providerName ?? ""
            if let u = call.providerUUID {
                if failed.contains(u) { continue }
                switch call {
                case .createProvider(_, _, let parent?) where failed.contains(parent),
                    .setParent(_, _, let parent) where failed.contains(parent):
                    fail(u, "\(name): not written: its parent provider failed in this sync")
                    continue
                case .setInventories where !failed.isDisjoint(with: plan.related[u] ?? []):
                    fail(u, "\(name): left reserved: its PF or one of its VFs failed in this sync")
                    continue
                default: break
                }
            }
            let outcome: Outcome
            do {
                outcome = try await send(call, stats: &stats, replacing: plan.replacing)
            } catch {
                fail(call.providerUUID, "\(call.method) \(call.path): \(error)")
                continue
            }
            // Reserved, and allocated to the old card meanwhile: nothing more is written to it.
            func stopIfAllocatedMeanwhile() {
                if let u = call.providerUUID, stats.allocatedMeanwhile.contains(u), !failed.contains(u) {
                    fail(u, PlacementError.allocatedWhileReplaced(provider: name).description)
                }
            }
            guard case .sent(let sent, let response) = outcome else {
                if call.providerUUID != nil, touched[name] == nil { touched[name] = "updated" }
                stopIfAllocatedMeanwhile()
                continue
            }
            defer { stopIfAllocatedMeanwhile() }
            switch (sent, response.status) {
            case (.ensureResourceClass(let rc), 201), (.ensureResourceClass(let rc), 204):
                knownResourceClasses.insert(rc)
            case (.ensureTrait(let t), 201), (.ensureTrait(let t), 204):
                knownTraits.insert(t)
            case (.createProvider(let u, _, let parent), 200), (.createProvider(let u, _, let parent), 201):
                let g = (try? response.json()["generation"] as? Int) ?? 0
                stats.generations[u] = g
                cache[u] = ProviderState(uuid: u, name: name, generation: g, parentUUID: parent)
                touched[name] = "created"
            case (.setInventories(let u, _, _, let inv), 200), (.retainProvider(let u, _, _, let inv), 200),
                (.reserveProvider(let u, _, _, let inv), 200):
                let g = (try? response.json()["resource_provider_generation"] as? Int) ?? -1
                stats.generations[u] = g
                remember(u, name: name, generation: g) { $0.inventories = inv }
                if touched[name] == nil { touched[name] = "updated" }
            case (.setTraits(let u, _, _, let traits), 200):
                let g = (try? response.json()["resource_provider_generation"] as? Int) ?? -1
                stats.generations[u] = g
                remember(u, name: name, generation: g) { $0.traits = traits }
                if touched[name] == nil { touched[name] = "updated" }
            case (.setParent(let u, _, let parent), 200):
                if var p = cache[u] { p.parentUUID = parent; cache[u] = p }
                if touched[name] == nil { touched[name] = "updated" }
            case (.deleteProvider(let u, _), 204), (.deleteProvider(let u, _), 404):
                cache[u] = nil
                result.deleted.append(name)
            case (.deleteProvider(let u, _), 409)
            where response.errorCode == "placement.resource_provider.inuse"
                || response.errorCode == "placement.resource_provider.cannot_delete_parent":
                // Allocations (or a provider under it) appeared since the read: keep it, reserve
                // everything, report it.
                logger.info("provider in use; keeping it reserved", metadata: ["placement.provider": "\(name)"])
                do {
                    let have = try await readProvider(uuid: u, name: name)
                    stats.reads += 2
                    let retain = PlacementCall.retainProvider(
                        uuid: u, name: name, generation: have.generation,
                        inventories: have.inventories.fullyReserved)
                    stats.generations[u] = have.generation
                    if have.inventories.fullyReserved != have.inventories,
                        case .sent(let c, let r) = try await send(retain, stats: &stats)
                    {
                        guard r.status == 200 else {
                            throw PlacementError.http(
                                method: c.method, path: c.path, status: r.status, code: r.errorCode, detail: r.errorDetail)
                        }
                        let g = (try? r.json()["resource_provider_generation"] as? Int) ?? -1
                        stats.generations[u] = g
                        remember(u, name: name, generation: g) { $0.inventories = have.inventories.fullyReserved }
                    }
                    result.retained.append(name)
                } catch {
                    fail(u, "\(name): \(error)")
                }
            case (_, 409) where response.errorCode == "placement.concurrent_update":
                fail(sent.providerUUID, "\(name): \(PlacementError.gaveUp(provider: name, attempts: maxAttempts))")
            default:
                fail(
                    sent.providerUUID,
                    "\(sent.method) \(sent.path): HTTP \(response.status) \(response.errorCode ?? ""): \(response.errorDetail)")
                if response.status == 400 { invalidateCache() } // e.g. a trait deleted behind our back
            }
        }
        result.conflictRetries = stats.conflictRetries
        result.created = touched.filter { $0.value == "created" }.keys.sorted()
        result.updated = touched.filter { $0.value == "updated" }.keys.sorted()
        result.retained = Array(Set(result.retained)).sorted()
        result.reads = stats.reads
        result.writes = stats.writes
        logger.debug(
            "placement sync done",
            metadata: [
                "placement.root": "\(hostName)", "placement.writes": "\(stats.writes)", "placement.reads": "\(stats.reads)",
                "placement.errors": "\(result.errors.count)",
            ])
        return result
    }

    // MARK: - Sending

    /// One sync's counters, and the provider generations it learned (they override the
    /// planned ones).
    struct Stats {
        var reads = 0, writes = 0, conflictRetries = 0
        var generations: [String: Int] = [:]
        /// Providers being rewritten for another card that a conflict showed allocated.
        var allocatedMeanwhile: Set<String> = []
    }

    enum Outcome {
        /// The call (rebased on a re-read after conflicts) and Placement's last answer.
        case sent(PlacementCall, PlacementResponse)
        /// A re-read after a conflict showed the provider already as the call would leave it.
        case alreadyDone
    }

    /// Sends one call with the provider's latest known generation. On 409
    /// `placement.concurrent_update` it re-reads the provider, rebases the call on what it read
    /// (a reserve reserves what is there now; a traits or inventory write keeps its content) and
    /// sends it again after a jittered, doubling back-off, up to `maxAttempts` times. Only this
    /// call is redone, never the provider's later steps, so the planner's order holds.
    ///
    /// A conflict on a provider in `replacing` (being rewritten for another card) may be an
    /// allocation for the old card: its allocations are read again, and if there are any only a
    /// reserve still goes out (the provider is then marked in `stats.allocatedMeanwhile`); any
    /// other write throws `allocatedWhileReplaced`.
    private func send(_ planned: PlacementCall, stats: inout Stats, replacing: Set<String> = []) async throws -> Outcome {
        var call = planned
        for attempt in 0..<maxAttempts {
            if attempt > 0 {
                // 10–40 ms, doubling, full jitter: two writers racing on one provider rarely collide twice.
                let cap = min(40 << attempt, 1_000)
                try await AgentSleep.sleep(seconds: Double(Int.random(in: 10...max(10, cap))) / 1000)
            }
            let gen = call.providerUUID.flatMap { stats.generations[$0] }
            let r = try await transport.send(method: call.method, path: call.path, body: call.body(generation: gen))
            stats.writes += 1
            guard r.status == 409, r.errorCode == "placement.concurrent_update", let u = call.providerUUID,
                attempt + 1 < maxAttempts
            else {
                return .sent(call, r)
            }
            stats.conflictRetries += 1
            let name = call.providerName ?? ""
            let have = try await readProvider(uuid: u, name: name)
            stats.reads += 2
            stats.generations[u] = have.generation
            if replacing.contains(u) {
                let a = try await get("/resource_providers/\(u)/allocations")
                stats.reads += 1
                if !((a["allocations"] as? [String: Any]) ?? [:]).isEmpty {
                    stats.allocatedMeanwhile.insert(u)
                    guard case .reserveProvider = call else { throw PlacementError.allocatedWhileReplaced(provider: name) }
                }
            }
            let rebased: PlacementCall?
            switch call {
            case .reserveProvider:
                let r = have.inventories.fullyReserved
                rebased = r == have.inventories ? nil : .reserveProvider(uuid: u, name: name, generation: have.generation, inventories: r)
            case .retainProvider:
                let r = have.inventories.fullyReserved
                rebased = r == have.inventories ? nil : .retainProvider(uuid: u, name: name, generation: have.generation, inventories: r)
            case .setTraits(_, _, _, let t):
                rebased = have.traits == t ? nil : .setTraits(uuid: u, name: name, generation: have.generation, traits: t)
            case .setInventories(_, _, _, let i):
                rebased = have.inventories == i ? nil : .setInventories(uuid: u, name: name, generation: have.generation, inventories: i)
            default:
                rebased = call
            }
            guard let rebased else {
                var p = have
                p.parentUUID = cache[u]?.parentUUID
                cache[u] = p
                return .alreadyDone
            }
            call = rebased
        }
        throw PlacementError.gaveUp(provider: planned.providerName ?? "", attempts: maxAttempts)
    }

    private func remember(_ uuid: String, name: String, generation: Int, _ change: (inout ProviderState) -> Void) {
        var p = cache[uuid] ?? ProviderState(uuid: uuid, name: name, generation: generation, parentUUID: nil)
        change(&p)
        p.generation = generation
        cache[uuid] = p
    }

    // MARK: - Reading

    /// Reads the root by name, its tree, and (unless cached at the same generation) each
    /// provider's inventories and traits; allocations only for our providers whose device is gone
    /// or whose address now holds another card.
    private func readState(_ desired: DesiredTree, counted reads: inout Int) async throws -> PlacementState {
        var state = PlacementState(root: nil)
        let rootList = try await get("/resource_providers?name=\(placementQueryValue(desired.rootName))"); reads += 1
        guard let root = (rootList["resource_providers"] as? [[String: Any]])?.first.flatMap(Self.provider) else {
            // No tree yet: nothing of ours exists.
            try await readVocabulary(desired, into: &state, reads: &reads)
            return state
        }
        state.root = root
        let tree = try await get("/resource_providers?in_tree=\(root.uuid)"); reads += 1
        let wanted = Set(desired.providers.map(\.name))
        let desiredByName = Dictionary(desired.providers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let listed = (tree["resource_providers"] as? [[String: Any]] ?? []).compactMap(Self.provider).filter { $0.uuid != root.uuid }
        for var p in listed {
            if let cached = cache[p.uuid], cached.generation == p.generation, cached.name == p.name {
                p.inventories = cached.inventories
                p.traits = cached.traits
            } else {
                let full = try await readProvider(uuid: p.uuid, name: p.name); reads += 2
                p.inventories = full.inventories
                p.traits = full.traits
                p.generation = full.generation
                cache[p.uuid] = p
            }
            // Allocations matter for our providers whose device is gone, and for those whose
            // address now holds another card (kept for the old card while allocated).
            let replaced = desiredByName[p.name].flatMap { PlacementPlanner.describesAnotherCard(p, $0) } != nil
            if (!wanted.contains(p.name) || replaced) && PlacementPlanner.isOurs(p) {
                let a = try await get("/resource_providers/\(p.uuid)/allocations"); reads += 1
                p.hasAllocations = !((a["allocations"] as? [String: Any]) ?? [:]).isEmpty
            }
            state.providers.append(p)
        }
        // Drop cached providers that left the tree.
        let present = Set(listed.map(\.uuid))
        for u in cache.keys where !present.contains(u) { cache[u] = nil }
        try await readVocabulary(desired, into: &state, reads: &reads)
        return state
    }

    /// Which of the custom traits and classes we need already exist (skipped when known).
    private func readVocabulary(_ desired: DesiredTree, into state: inout PlacementState, reads: inout Int) async throws {
        let needTraits = Set(desired.providers.flatMap(\.traits)).filter { $0.hasPrefix("CUSTOM_") }
        let needRCs = Set(desired.providers.flatMap(\.inventories.keys))
        if !needTraits.isSubset(of: knownTraits) {
            let missing = needTraits.subtracting(knownTraits).sorted()
            // `name=in:` keeps the answer to the traits we care about; chunk to bound the URL.
            var i = 0
            while i < missing.count {
                let chunk = missing[i..<min(i + 50, missing.count)]
                let o = try await get("/traits?name=in:" + chunk.map(placementQueryValue).joined(separator: ",")); reads += 1
                knownTraits.formUnion((o["traits"] as? [String]) ?? [])
                i += 50
            }
        }
        if !needRCs.isSubset(of: knownResourceClasses) {
            let o = try await get("/resource_classes"); reads += 1
            let names = ((o["resource_classes"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
            knownResourceClasses.formUnion(names.filter { $0.hasPrefix("CUSTOM_") })
        }
        state.existingTraits = knownTraits
        state.existingResourceClasses = knownResourceClasses
    }

    /// `GET …/inventories` and `GET …/traits` of one provider; the generation is the later one.
    private func readProvider(uuid: String, name: String) async throws -> ProviderState {
        let inv = try await get("/resource_providers/\(uuid)/inventories")
        let tr = try await get("/resource_providers/\(uuid)/traits")
        var p = ProviderState(
            uuid: uuid, name: name,
            generation: (tr["resource_provider_generation"] as? Int) ?? (inv["resource_provider_generation"] as? Int) ?? 0,
            parentUUID: nil)
        for (rc, any) in (inv["inventories"] as? [String: Any]) ?? [:] {
            guard let o = any as? [String: Any] else { continue }
            p.inventories[rc] = PlacementInventory(
                total: o["total"] as? Int ?? 0, reserved: o["reserved"] as? Int ?? 0,
                maxUnit: o["max_unit"] as? Int ?? 0)
        }
        p.traits = Set((tr["traits"] as? [String]) ?? [])
        // Generations only grow; if a write landed between the two GETs, the older one is stale
        // and the next PUT simply conflicts and retries.
        p.generation = min(p.generation, (inv["resource_provider_generation"] as? Int) ?? p.generation)
        if let cachedParent = cache[uuid]?.parentUUID { p.parentUUID = cachedParent }
        return p
    }

    private func get(_ path: String) async throws -> [String: Any] {
        let r = try await transport.send(method: "GET", path: path, body: nil)
        guard r.status == 200 else {
            throw PlacementError.http(method: "GET", path: path, status: r.status, code: r.errorCode, detail: r.errorDetail)
        }
        return try r.json()
    }

    private static func provider(_ o: [String: Any]) -> ProviderState? {
        guard let uuid = o["uuid"] as? String, let name = o["name"] as? String else { return nil }
        return ProviderState(
            uuid: uuid, name: name, generation: o["generation"] as? Int ?? 0,
            parentUUID: o["parent_provider_uuid"] as? String)
    }
}

/// Percent-encodes a query value (`+`, `&`, `=`, `,` kept out of the value's meaning).
private func placementQueryValue(_ s: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~:")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}
