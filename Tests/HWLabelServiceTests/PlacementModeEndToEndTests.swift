import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
@testable import HWLabelService

/// Against the real Placement server (../shared/placement): devices published in their current
/// mode (vGPU, SR-IOV PF and VFs) are schedulable exactly as the host can deliver them, and a
/// sync cut short leaves the provider reserved. Each test uses its own host and resource
/// classes, so leftovers of other tests in the shared server do not change its answers.
extension RealPlacementServer {
    @Suite(.serialized, .enabled(if: PlacementServer.enabled, "needs python3 ≥ 3.11 to run the Placement server"))
    struct PlacementModeEndToEndTests {
        typealias E2E = PlacementEndToEndTests

        static func get(_ t: any PlacementTransport, _ path: String) async throws -> [String: Any] {
            let r = try await t.send(method: "GET", path: path, body: nil)
            #expect(r.status == 200, "GET \(path): \(r.errorDetail)")
            return try r.json()
        }

        /// `GET …/inventories` of one of our providers: class → record.
        static func inventories(_ t: any PlacementTransport, _ name: String) async throws -> [String: [String: Any]] {
            let o = try await get(t, "/resource_providers/\(PlacementUUID.forDevice(name))/inventories")
            return (o["inventories"] as? [String: [String: Any]]) ?? [:]
        }

        static func parent(_ t: any PlacementTransport, _ name: String) async throws -> String? {
            try await get(t, "/resource_providers/\(PlacementUUID.forDevice(name))")["parent_provider_uuid"] as? String
        }

        static func allocate(_ t: any PlacementTransport, consumer: String, provider: String, rc: String, _ n: Int) async throws -> Int {
            let body = try JSONSerialization.data(
                withJSONObject: [
                    "allocations": [PlacementUUID.forDevice(provider): ["resources": [rc: n]]],
                    "project_id": "p", "user_id": "u", "consumer_generation": NSNull(), "consumer_type": "INSTANCE",
                ] as [String: Any])
            return try await t.send(method: "PUT", path: "/allocations/\(consumer)", body: body).status
        }

        /// vGPU capacity on a correctly set-up host (GPU on `nvidia`, mode vgpu, a published type)
        /// is schedulable, for that one type only; an idle card with no chosen type offers nothing
        /// and the sync says how to choose one; a card that is not ready is reserved.
        @Test func vgpuCapacityIsSchedulable() async throws {
            let server = try await PlacementServer.shared.start()
            let t = E2E.transport(server)
            let host = "vgpu-host-1"
            let profiles = [("NVIDIA L40S-8Q", 6, 0), ("NVIDIA L40S-48Q", 1, 0)]
            var card = PlacementTestHosts.vgpuCard(
                address: "0000:41:00.0", label: "Inference GPU", profiles: profiles,
                published: "NVIDIA L40S-8Q")
            let idle = PlacementTestHosts.vgpuCard(address: "0000:42:00.0", profiles: profiles, published: nil)
            #expect(card.driver == "nvidia" && card.mode == .vgpu && card.readiness.state == .ready)
            let cardName = "\(host)_0000:41:00.0", idleName = "\(host)_0000:42:00.0"
            let names = [cardName, idleName]
            let publisher = PlacementPublisher(transport: t)

            let r = try await publisher.sync(hostName: host, devices: [card, idle])
            #expect(r.errors.isEmpty, "\(r.errors)")
            #expect(r.created == [host, cardName, idleName])
            #expect(r.warnings.contains { $0.contains("vgpu-type address=0000:42:00.0 <type name>") }, "\(r.warnings)")

            let rc = "CUSTOM_VGPU_NVIDIA_L40S_8Q"
            #expect(try await E2E.candidates(t, "resources=\(rc):1", names: names) == [cardName])
            #expect(try await E2E.candidates(t, "resources=\(rc):1&required=CUSTOM_HWLABEL_INFERENCE_GPU", names: names) == [cardName])
            #expect(try await E2E.candidates(t, "resources=\(rc):6", names: names) == [cardName])
            #expect(try await E2E.candidates(t, "resources=\(rc):7", names: names).isEmpty)
            // One type at a time, and never the card whole.
            #expect(try await Set(Self.inventories(t, cardName).keys) == [rc])
            #expect(try await Self.inventories(t, idleName).isEmpty)
            let traits = try await Self.get(t, "/resource_providers/\(PlacementUUID.forDevice(cardName))/traits")["traits"] as? [String]
            #expect(
                traits.map(Set.init) == [
                    "CUSTOM_HWLABEL_MANAGED", "CUSTOM_HWLABEL_DEV_10DE_26B9", "CUSTOM_HWLABEL_INFERENCE_GPU",
                    "CUSTOM_GPU_ARCH_ADA_LOVELACE",
                ])

            // Not ready for vGPU: reserved, no candidate; ready again: schedulable again.
            card.readiness = Readiness(
                state: .notReady, reasons: [ReadinessReason(.functionUnresponsive, severity: .blocker, message: "x")],
                remediation: [])
            #expect(try await publisher.sync(hostName: host, devices: [card, idle]).errors.isEmpty)
            #expect(try await Self.inventories(t, cardName)[rc]?["reserved"] as? Int == 6)
            #expect(try await E2E.candidates(t, "resources=\(rc):1", names: names).isEmpty)
            card.readiness = Readiness(state: .ready, reasons: [], remediation: [])
            #expect(try await publisher.sync(hostName: host, devices: [card, idle]).errors.isEmpty)
            #expect(try await E2E.candidates(t, "resources=\(rc):1", names: names) == [cardName])
        }

        /// A whole-card profile (L40S-48Q: one per card) gives one instance: two of them on one
        /// card never come back as a candidate, in one group or in two.
        @Test func twoWholeCardProfilesOfOneCardAreNeverACandidate() async throws {
            let server = try await PlacementServer.shared.start()
            let t = E2E.transport(server)
            let host = "vgpu-host-2"
            let card = PlacementTestHosts.vgpuCard(
                address: "0000:81:00.0", profiles: [("NVIDIA L40S-48Q", 1, 0), ("NVIDIA L40S-8Q", 6, 0)],
                published: "NVIDIA L40S-48Q")
            let name = "\(host)_0000:81:00.0"
            let r = try await PlacementPublisher(transport: t).sync(hostName: host, devices: [card])
            #expect(r.errors.isEmpty, "\(r.errors)")
            let rc = "CUSTOM_VGPU_NVIDIA_L40S_48Q"
            let inv = try await Self.inventories(t, name)
            #expect(inv[rc]?["total"] as? Int == 1 && inv[rc]?["max_unit"] as? Int == 1 && inv.count == 1)
            #expect(try await E2E.candidates(t, "resources=\(rc):1", names: [name]) == [name])
            #expect(try await E2E.candidates(t, "resources=\(rc):2", names: [name]).isEmpty)
            #expect(try await E2E.candidates(t, "resources1=\(rc):1&resources2=\(rc):1&group_policy=none", names: [name]).isEmpty)
            #expect(try await E2E.candidates(t, "resources1=\(rc):1&resources2=\(rc):1&group_policy=isolate", names: [name]).isEmpty)
        }

        /// A PF and its VFs are never both candidates: not after a sync, and not after any single
        /// write of a sync that moves the NIC between whole-device and SR-IOV, either way (a probe
        /// asks Placement for candidates after every write). VFs from an older, flat tree are moved
        /// under their PF.
        @Test func aPFAndItsVFsAreNeverBothCandidates() async throws {
            let server = try await PlacementServer.shared.start()
            let plain = E2E.transport(server)
            let host = "sriov-host-1"
            let label = "Mode Test NIC", rc = "CUSTOM_HWLABEL_MODE_TEST_NIC"
            let sriov = PlacementTestHosts.sriovNIC(bus: "6a", vfs: 3, label: label)
            let pfName = "\(host)_0000:6a:00.0"
            let vfNames = sriov.dropFirst().map { "\(host)_\($0.address)" }
            let all = [pfName] + vfNames
            let probe = ExclusionProbe(
                inner: plain, query: "resources=\(rc):1", pf: PlacementUUID.forDevice(pfName),
                vfs: Set(vfNames.map { PlacementUUID.forDevice($0) }))
            // One class for PF and VFs alike (by label), so one query would see both.
            let publisher = PlacementPublisher(transport: probe, policy: PlacementPolicy(resourceClass: .label))

            // An older release's flat tree: VFs straight under the root.
            var flat = sriov
            for i in flat.indices.dropFirst() { flat[i].physicalFunction = nil; flat[i].parent = nil }
            #expect(try await publisher.sync(hostName: host, devices: flat).errors.isEmpty)
            #expect(try await Self.parent(plain, vfNames[0]) == PlacementUUID.forRoot(host))

            // SR-IOV: the VFs, nested under the PF, are the candidates; the PF never is.
            let nested = try await publisher.sync(hostName: host, devices: sriov)
            #expect(nested.errors.isEmpty, "\(nested.errors)")
            for vf in vfNames { #expect(try await Self.parent(plain, vf) == PlacementUUID.forDevice(pfName)) }
            #expect(try await Self.inventories(plain, pfName).isEmpty)
            #expect(try await E2E.candidates(plain, "resources=\(rc):1", names: all) == Set(vfNames))

            // VFs disabled: the PF is offered whole and the VFs are gone.
            var whole = sriov[0]
            whole.mode = .wholeDevice
            whole.readiness = Readiness(state: .ready, reasons: [], remediation: [])
            let toWhole = try await publisher.sync(hostName: host, devices: [whole])
            #expect(toWhole.errors.isEmpty && Set(toWhole.deleted) == Set(vfNames), "\(toWhole)")
            #expect(try await E2E.candidates(plain, "resources=\(rc):1", names: all) == [pfName])

            // VFs enabled again.
            let back = try await publisher.sync(hostName: host, devices: sriov)
            #expect(back.errors.isEmpty, "\(back.errors)")
            #expect(try await E2E.candidates(plain, "resources=\(rc):1", names: all) == Set(vfNames))

            #expect(probe.checks > 10)
            #expect(probe.violations.isEmpty, "PF and VFs both candidates after: \(probe.violations)")
        }

        /// A change that drops an allocated resource class (a vGPU card with running instances
        /// now reported whole) makes Placement answer 409 `placement.inventory.inuse` on the final
        /// write: the provider is left reserved, the result names the error, every later sync keeps
        /// it so, and once the allocations are gone the change goes through.
        @Test func anInventoryInUseConflictLeavesTheProviderReserved() async throws {
            let server = try await PlacementServer.shared.start()
            let t = E2E.transport(server)
            let host = "inuse-host-1"
            let name = "\(host)_0000:21:00.0"
            let publisher = PlacementPublisher(transport: t)
            let card = PlacementTestHosts.vgpuCard(
                address: "0000:21:00.0", device: "25b6", profiles: [("NVIDIA A16-4Q", 4, 0)],
                published: "NVIDIA A16-4Q")
            #expect(try await publisher.sync(hostName: host, devices: [card]).errors.isEmpty)
            let vrc = "CUSTOM_VGPU_NVIDIA_A16_4Q", prc = "CUSTOM_PCI_10DE_25B6"
            let consumer = "1a5e0000-0000-4000-8000-000000000001"
            #expect(try await Self.allocate(t, consumer: consumer, provider: name, rc: vrc, 2) == 204)

            let whole = PlacementTestHosts.device(
                address: "0000:21:00.0", vendor: "10de", device: "25b6", label: nil, arch: nil, state: .ready)
            for _ in 0..<2 {
                let r = try await publisher.sync(hostName: host, devices: [whole])
                #expect(r.errors.contains { $0.contains("placement.inventory.inuse") }, "\(r.errors)")
                let inv = try await Self.inventories(t, name)
                #expect(Set(inv.keys) == [vrc])
                #expect(inv[vrc]?["reserved"] as? Int == 4 && inv[vrc]?["total"] as? Int == 4)
                #expect(try await E2E.candidates(t, "resources=\(vrc):1", names: [name]).isEmpty)
                #expect(try await E2E.candidates(t, "resources=\(prc):1", names: [name]).isEmpty)
            }

            #expect(try await t.send(method: "DELETE", path: "/allocations/\(consumer)", body: nil).status == 204)
            let done = try await publisher.sync(hostName: host, devices: [whole])
            #expect(done.errors.isEmpty, "\(done.errors)")
            #expect(try await Set(Self.inventories(t, name).keys) == [prc])
            #expect(try await E2E.candidates(t, "resources=\(prc):1", names: [name]) == [name])
        }

        /// A transport failure after the reserve and before the final write, or an agent that
        /// dies there, leaves the provider reserved; the next sync (a fresh agent after a crash)
        /// finishes the change.
        @Test func aSyncCutShortAfterTheReserveLeavesTheProviderReserved() async throws {
            let server = try await PlacementServer.shared.start()
            let plain = E2E.transport(server)
            let host = "cut-host-1"
            let name = "\(host)_0000:17:00.0", uuid = PlacementUUID.forDevice(name)
            let rc = "CUSTOM_PCI_10DE_2237"
            var devs = [
                PlacementTestHosts.device(
                    address: "0000:17:00.0", vendor: "10de", device: "2237", label: "Cut GPU A",
                    arch: "Ampere", state: .ready)
            ]
            #expect(try await PlacementPublisher(transport: plain).sync(hostName: host, devices: devs).errors.isEmpty)
            #expect(try await E2E.candidates(plain, "resources=\(rc):1", names: [name]) == [name])

            // 1. The final inventory write fails in transport (the reserve and the traits went through).
            devs[0].label = LabelAssignment(name: "Cut GPU B", source: "instance")
            let failing = FaultyTransport(inner: plain) { method, path, body in
                method == "PUT" && path == "/resource_providers/\(uuid)/inventories" && FaultyTransport.reserved(body) == 0
            }
            let agent = PlacementPublisher(transport: failing)
            let r = try await agent.sync(hostName: host, devices: devs)
            #expect(failing.faults == 1)
            #expect(r.errors.count == 1 && r.errors[0].contains("/resource_providers/\(uuid)/inventories"), "\(r.errors)")
            #expect(try await Self.inventories(plain, name)[rc]?["reserved"] as? Int == 1)
            #expect(try await E2E.candidates(plain, "resources=\(rc):1", names: [name]).isEmpty)
            // The same agent's next sync, with the network back, finishes it.
            failing.enabled = false
            #expect(try await agent.sync(hostName: host, devices: devs).errors.isEmpty)
            #expect(try await E2E.candidates(plain, "resources=\(rc):1&required=CUSTOM_HWLABEL_CUT_GPU_B", names: [name]) == [name])

            // 2. The agent dies right after the reserve: nothing after it reaches Placement.
            devs[0].label = LabelAssignment(name: "Cut GPU C", source: "instance")
            let dying = FaultyTransport(inner: plain, dieAfterFirstWriteTo: "/resource_providers/\(uuid)/inventories")
            let d = try await PlacementPublisher(transport: dying).sync(hostName: host, devices: devs)
            #expect(!d.errors.isEmpty)
            #expect(try await Self.inventories(plain, name)[rc]?["reserved"] as? Int == 1)
            #expect(try await E2E.candidates(plain, "resources=\(rc):1", names: [name]).isEmpty)
            // Restarted (no cache): finishes the change; then nothing is left to do.
            let restarted = PlacementPublisher(transport: plain)
            #expect(try await restarted.sync(hostName: host, devices: devs).errors.isEmpty)
            #expect(try await E2E.candidates(plain, "resources=\(rc):1&required=CUSTOM_HWLABEL_CUT_GPU_C", names: [name]) == [name])
            let again = try await restarted.sync(hostName: host, devices: devs)
            #expect(again.writes == 0 && again.plannedCalls.isEmpty)
        }
    }
}

/// After every successful write, asks Placement for `query`'s candidates and records the write
/// if the PF and one of its VFs are candidates together.
final class ExclusionProbe: PlacementTransport, @unchecked Sendable {
    let inner: any PlacementTransport
    let query: String
    let pf: String
    let vfs: Set<String>
    private let lock = NSLock()
    private var _violations: [String] = []
    private var _checks = 0

    init(inner: any PlacementTransport, query: String, pf: String, vfs: Set<String>) {
        self.inner = inner
        self.query = query
        self.pf = pf
        self.vfs = vfs
    }

    var violations: [String] { lock.lock(); defer { lock.unlock() }; return _violations }
    var checks: Int { lock.lock(); defer { lock.unlock() }; return _checks }

    func send(method: String, path: String, body: Data?) async throws -> PlacementResponse {
        let r = try await inner.send(method: method, path: path, body: body)
        guard method != "GET", (200..<300).contains(r.status) else { return r }
        let c = try await inner.send(method: "GET", path: "/allocation_candidates?" + query, body: nil)
        guard c.status == 200 else { return r } // the class does not exist yet
        var seen = Set<String>()
        for req in (try c.json()["allocation_requests"] as? [[String: Any]]) ?? [] {
            seen.formUnion(((req["allocations"] as? [String: Any]) ?? [:]).keys)
        }
        let both = seen.contains(pf) && !seen.isDisjoint(with: vfs)
        lock.withLock {
            _checks += 1
            if both { _violations.append("\(method) \(path)") }
        }
        return r
    }
}

/// Throws a transport error, without sending, for the requests `fault` picks; or, with
/// `dieAfterFirstWriteTo`, for every request after the first write to that path (a crash).
final class FaultyTransport: PlacementTransport, @unchecked Sendable {
    let inner: any PlacementTransport
    let fault: @Sendable (String, String, Data?) -> Bool
    let dieAfter: String?
    private let lock = NSLock()
    private var _enabled = true
    private var _faults = 0
    private var dead = false

    init(inner: any PlacementTransport, fault: @escaping @Sendable (String, String, Data?) -> Bool) {
        self.inner = inner
        self.fault = fault
        self.dieAfter = nil
    }

    init(inner: any PlacementTransport, dieAfterFirstWriteTo path: String) {
        self.inner = inner
        self.fault = { _, _, _ in false }
        self.dieAfter = path
    }

    var enabled: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _enabled }
        set { lock.lock(); _enabled = newValue; lock.unlock() }
    }
    var faults: Int { lock.lock(); defer { lock.unlock() }; return _faults }

    /// The `reserved` of an inventory PUT's body, summed over its classes.
    static func reserved(_ body: Data?) -> Int? {
        guard let body, let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let inv = o["inventories"] as? [String: [String: Any]]
        else { return nil }
        return inv.values.reduce(0) { $0 + ($1["reserved"] as? Int ?? 0) }
    }

    func send(method: String, path: String, body: Data?) async throws -> PlacementResponse {
        let fail: Bool = {
            lock.lock(); defer { lock.unlock() }
            if dead || (_enabled && fault(method, path, body)) { _faults += 1; return true }
            return false
        }()
        if fail { throw PlacementError.transport(method: method, path: path, "injected: connection reset") }
        let r = try await inner.send(method: method, path: path, body: body)
        if let dieAfter, method != "GET", path == dieAfter {
            lock.withLock { dead = true }
        }
        return r
    }
}
