import Foundation
import HWLabelAgent
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

    public init(transport: any PlacementTransport, policy: PlacementPolicy = PlacementPolicy(),
                maxAttempts: Int = 8,
                logger: Logger = Logger(label: "hwlabel.placement", factory: { _ in SwiftLogNoOpLogHandler() })) {
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

    /// Plans without writing (GETs only): `hwlabel placement sync --dry-run`.
    public func plan(hostName: String, devices: [AssignableDevice]) async throws -> PlacementPlan {
        let desired = PlacementMapping.desiredTree(hostName: hostName, devices: devices, policy: policy)
        let state = try await readState(desired)
        return PlacementPlanner.plan(current: state, desired: desired)
    }

    /// Brings Placement in line with `devices` (or, with `dryRun`, only says how).
    public func sync(hostName: String, devices: [AssignableDevice], dryRun: Bool = false) async throws -> PlacementSyncResult {
        let desired = PlacementMapping.desiredTree(hostName: hostName, devices: devices, policy: policy)
        var result = PlacementSyncResult(rootName: hostName, dryRun: dryRun)
        var reads = 0, writes = 0
        func count(_ r: Int, _ w: Int) { reads += r; writes += w }

        let state = try await readState(desired, counted: &reads)
        let plan = PlacementPlanner.plan(current: state, desired: desired)
        result.rootUUID = state.root?.uuid ?? PlacementUUID.forRoot(hostName)
        result.plannedCalls = plan.calls.map(\.description)
        result.warnings = plan.warnings
        result.retained = plan.retained
        if dryRun {
            result.reads = reads
            return result
        }

        let desiredByName = Dictionary(desired.providers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var generations: [String: Int] = [:]
        var converged = Set<String>()   // providers a conflict loop already finished
        var failed = Set<String>()
        var touched: [String: String] = [:]  // name → created/updated

        for call in plan.calls {
            if let u = call.providerUUID, converged.contains(u) || failed.contains(u) { continue }
            let gen = call.providerUUID.flatMap { generations[$0] }
            let response: PlacementResponse
            do {
                response = try await transport.send(method: call.method, path: call.path, body: call.body(generation: gen))
            } catch {
                result.errors.append("\(call.method) \(call.path): \(error)")
                if let u = call.providerUUID { failed.insert(u) }
                continue
            }
            writes += 1
            let name = call.providerName ?? ""
            switch (call, response.status) {
            case (.ensureResourceClass(let rc), 201), (.ensureResourceClass(let rc), 204):
                knownResourceClasses.insert(rc)
            case (.ensureTrait(let t), 201), (.ensureTrait(let t), 204):
                knownTraits.insert(t)
            case (.createProvider(let u, _, _), 200), (.createProvider(let u, _, _), 201):
                generations[u] = (try? response.json()["generation"] as? Int) ?? 0
                cache[u] = ProviderState(uuid: u, name: name, generation: generations[u]!, parentUUID: nil)
                touched[name] = "created"
            case (.setInventories(let u, _, _, let inv), 200), (.retainProvider(let u, _, _, let inv), 200):
                let g = (try? response.json()["resource_provider_generation"] as? Int) ?? -1
                generations[u] = g
                remember(u, name: name, generation: g) { $0.inventories = inv }
                if touched[name] == nil { touched[name] = "updated" }
            case (.setTraits(let u, _, _, let traits), 200):
                let g = (try? response.json()["resource_provider_generation"] as? Int) ?? -1
                generations[u] = g
                remember(u, name: name, generation: g) { $0.traits = traits }
                if touched[name] == nil { touched[name] = "updated" }
            case (.deleteProvider(let u, _), 204), (.deleteProvider(let u, _), 404):
                cache[u] = nil
                result.deleted.append(name)
            case (.deleteProvider(let u, _), 409) where response.errorCode == "placement.resource_provider.inuse":
                // Allocations still point at it: keep it, reserve everything, report it.
                logger.info("provider in use; keeping it reserved", metadata: ["placement.provider": "\(name)"])
                do {
                    let (r, w, retries) = try await convergeWithRetry(uuid: u, name: name, target: .retain)
                    count(r, w); result.conflictRetries += retries
                    result.retained.append(name)
                } catch {
                    result.errors.append("\(name): \(error)")
                }
                converged.insert(u)
            case (_, 409) where response.errorCode == "placement.concurrent_update":
                guard let u = call.providerUUID else { fallthrough }
                result.conflictRetries += 1
                let target: ConvergeTarget
                if let d = desiredByName[name] { target = .desired(d) } else { target = .retain }
                do {
                    let (r, w, retries) = try await convergeWithRetry(uuid: u, name: name, target: target)
                    count(r, w); result.conflictRetries += retries
                    if touched[name] == nil { touched[name] = "updated" }
                } catch {
                    result.errors.append("\(name): \(error)")
                    cache[u] = nil
                }
                converged.insert(u)
            default:
                result.errors.append("\(call.method) \(call.path): HTTP \(response.status) \(response.errorCode ?? ""): \(response.errorDetail)")
                if let u = call.providerUUID { failed.insert(u); cache[u] = nil }
                if response.status == 400 { invalidateCache() }  // e.g. a trait deleted behind our back
            }
        }
        result.created = touched.filter { $0.value == "created" }.keys.sorted()
        result.updated = touched.filter { $0.value == "updated" }.keys.sorted()
        result.retained = Array(Set(result.retained)).sorted()
        result.reads = reads
        result.writes = writes
        logger.debug("placement sync done", metadata: [
            "placement.root": "\(hostName)", "placement.writes": "\(writes)", "placement.reads": "\(reads)",
            "placement.errors": "\(result.errors.count)",
        ])
        return result
    }

    // MARK: - Conflicts

    enum ConvergeTarget { case desired(DesiredProvider), retain }

    /// Re-reads one provider and converges it, retrying on `placement.concurrent_update` with
    /// jittered exponential back-off. Returns (reads, writes, retries).
    private func convergeWithRetry(uuid: String, name: String, target: ConvergeTarget) async throws -> (Int, Int, Int) {
        var reads = 0, writes = 0, retries = 0
        attempts: for attempt in 0..<maxAttempts {
            if attempt > 0 {
                // 10–40 ms, doubling, full jitter: two writers racing on one provider rarely collide twice.
                let cap = min(40 << attempt, 1_000)
                try await AgentSleep.sleep(seconds: Double(Int.random(in: 10...max(10, cap))) / 1000)
            }
            let have = try await readProvider(uuid: uuid, name: name, withAllocations: false)
            reads += 2
            let calls: [PlacementCall]
            switch target {
            case .desired(let d): calls = PlacementPlanner.converge(have, to: d)
            case .retain:
                let reserved = have.inventories.mapValues { PlacementInventory(total: $0.total, reserved: $0.total, maxUnit: $0.maxUnit) }
                calls = reserved == have.inventories ? [] : [.retainProvider(uuid: uuid, name: name, generation: have.generation, inventories: reserved)]
            }
            var generation = have.generation
            for call in calls {
                let r = try await transport.send(method: call.method, path: call.path, body: call.body(generation: generation))
                writes += 1
                if r.status == 409 && r.errorCode == "placement.concurrent_update" {
                    retries += 1
                    continue attempts
                }
                guard r.status == 200 else {
                    throw PlacementError.http(method: call.method, path: call.path, status: r.status, code: r.errorCode, detail: r.errorDetail)
                }
                generation = (try? r.json()["resource_provider_generation"] as? Int) ?? generation + 1
                switch call {
                case .setTraits(_, _, _, let t): remember(uuid, name: name, generation: generation) { $0.traits = t }
                case .setInventories(_, _, _, let i), .retainProvider(_, _, _, let i):
                    remember(uuid, name: name, generation: generation) { $0.inventories = i }
                default: break
                }
            }
            return (reads, writes, retries)
        }
        throw PlacementError.gaveUp(provider: name, attempts: maxAttempts)
    }

    private func remember(_ uuid: String, name: String, generation: Int, _ change: (inout ProviderState) -> Void) {
        var p = cache[uuid] ?? ProviderState(uuid: uuid, name: name, generation: generation, parentUUID: nil)
        change(&p)
        p.generation = generation
        cache[uuid] = p
    }

    // MARK: - Reading

    private func readState(_ desired: DesiredTree) async throws -> PlacementState {
        var n = 0
        return try await readState(desired, counted: &n)
    }

    /// Reads the root by name, its tree, and (unless cached at the same generation) each
    /// provider's inventories and traits; allocations only for our providers whose device is gone.
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
        let listed = (tree["resource_providers"] as? [[String: Any]] ?? []).compactMap(Self.provider).filter { $0.uuid != root.uuid }
        for var p in listed {
            if let cached = cache[p.uuid], cached.generation == p.generation, cached.name == p.name {
                p.inventories = cached.inventories
                p.traits = cached.traits
            } else {
                let full = try await readProvider(uuid: p.uuid, name: p.name, withAllocations: false); reads += 2
                p.inventories = full.inventories
                p.traits = full.traits
                p.generation = full.generation
                cache[p.uuid] = p
            }
            if !wanted.contains(p.name) && PlacementPlanner.isOurs(p) {
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
    private func readProvider(uuid: String, name: String, withAllocations: Bool) async throws -> ProviderState {
        let inv = try await get("/resource_providers/\(uuid)/inventories")
        let tr = try await get("/resource_providers/\(uuid)/traits")
        var p = ProviderState(uuid: uuid, name: name,
                              generation: (tr["resource_provider_generation"] as? Int) ?? (inv["resource_provider_generation"] as? Int) ?? 0,
                              parentUUID: nil)
        for (rc, any) in (inv["inventories"] as? [String: Any]) ?? [:] {
            guard let o = any as? [String: Any] else { continue }
            p.inventories[rc] = PlacementInventory(total: o["total"] as? Int ?? 0, reserved: o["reserved"] as? Int ?? 0,
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
        return ProviderState(uuid: uuid, name: name, generation: o["generation"] as? Int ?? 0,
                             parentUUID: o["parent_provider_uuid"] as? String)
    }
}
