import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
@testable import HWLabelService

/// Against the real Placement server (../shared/placement): the T4 labelled "Inference T4" in a
/// slot is replaced by an A10. The provider's name follows the address, so only its identity
/// trait tells the cards apart: while a VM's allocation holds it for the T4 it stays the T4's,
/// reserved; once the allocation is gone it becomes the A10's. Each test uses its own host.
extension RealPlacementServer {
    @Suite(.serialized, .enabled(if: PlacementServer.enabled, "needs python3 ≥ 3.11 to run the Placement server"))
    struct PlacementSwapEndToEndTests {
        typealias E2E = PlacementEndToEndTests
        typealias Mode = PlacementModeEndToEndTests
        static let address = PlacementSwapTests.address
        static let t4RC = "CUSTOM_PCI_10DE_1EB8", a10RC = "CUSTOM_PCI_10DE_2236"
        static let t4Trait = "CUSTOM_HWLABEL_DEV_10DE_1EB8_10DE_12A2", a10Trait = "CUSTOM_HWLABEL_DEV_10DE_2236_10DE_1482"

        /// The T4 that was in the slot, and the A10 put into it (the pure tests' cards).
        static func t4() -> AssignableDevice { PlacementSwapTests.t4() }
        static func a10() -> AssignableDevice { PlacementSwapTests.a10() }

        static func traits(_ t: any PlacementTransport, _ name: String) async throws -> Set<String> {
            let o = try await Mode.get(t, "/resource_providers/\(PlacementUUID.forDevice(name))/traits")
            return Set((o["traits"] as? [String]) ?? [])
        }

        static func desiredTraits(_ host: String, _ device: AssignableDevice) -> Set<String> {
            PlacementMapping.desiredTree(hostName: host, devices: [device]).providers[0].traits
        }

        /// Sync with the T4; a VM is given it; the A10 goes into the slot. The provider keeps the
        /// T4's traits and inventory, reserved, and the sync warns naming it and both cards; later
        /// syncs write nothing. The allocation is deleted: the next sync publishes the A10.
        @Test func anAllocatedProviderStaysTheOldCardsUntilItsAllocationIsGone() async throws {
            let server = try await PlacementServer.shared.start()
            let t = E2E.transport(server)
            let host = "swap-host-1", name = "\(host)_\(Self.address)"
            let tree = "in_tree=\(PlacementUUID.forRoot(host))&" // candidates on this host only
            let (logger, logged) = capturingLogger()
            let publisher = PlacementPublisher(transport: t, logger: logger)

            let first = try await publisher.sync(hostName: host, devices: [Self.t4()])
            #expect(first.errors.isEmpty && first.created == [host, name], "\(first)")
            let t4Traits = Self.desiredTraits(host, Self.t4())
            #expect(try await Self.traits(t, name) == t4Traits && t4Traits.contains(Self.t4Trait))
            let consumer = "5a0a0000-0000-4000-8000-000000000001"
            #expect(try await Mode.allocate(t, consumer: consumer, provider: name, rc: Self.t4RC, 1) == 204)

            // The A10 is in the slot now.
            let swapped = try await publisher.sync(hostName: host, devices: [Self.a10()])
            #expect(swapped.errors.isEmpty, "\(swapped.errors)")
            let warning = swapped.warnings.first { $0.hasPrefix(name) }
            #expect(warning?.contains("10de:1eb8 subsystem 10de:12a2") == true, "\(swapped.warnings)")
            #expect(warning?.contains("10de:2236 subsystem 10de:1482") == true, "\(swapped.warnings)")
            #expect(warning?.contains("until its allocations are removed") == true, "\(swapped.warnings)")
            #expect(!swapped.plannedCalls.contains { $0.contains("/traits ") }, "\(swapped.plannedCalls)")
            // The agent's log says it too (the agent shows no sync result).
            #expect(logged.withLock { $0.contains { $0.hasPrefix("warning \(name): still has allocations") } }, "\(logged.withLock { $0 })")
            #expect(try await Self.traits(t, name) == t4Traits)
            let held = try await Mode.inventories(t, name)
            #expect(Set(held.keys) == [Self.t4RC])
            #expect(held[Self.t4RC]?["reserved"] as? Int == 1 && held[Self.t4RC]?["total"] as? Int == 1)
            #expect(try await E2E.candidates(t, "\(tree)resources=\(Self.a10RC):1", names: [name]).isEmpty)
            #expect(try await E2E.candidates(t, "\(tree)resources=\(Self.t4RC):1", names: [name]).isEmpty)

            // Held is stable: no writes, from this agent or a fresh one; the warning stays.
            for agent in [publisher, PlacementPublisher(transport: t)] {
                let again = try await agent.sync(hostName: host, devices: [Self.a10()])
                #expect(again.writes == 0 && again.plannedCalls.isEmpty && again.errors.isEmpty, "\(again.plannedCalls)")
                #expect(again.warnings.contains { $0.hasPrefix(name) && $0.contains("10de:1eb8") })
            }
            #expect(try await Self.traits(t, name) == t4Traits)

            // The VM is gone: the next sync publishes the A10, schedulable.
            #expect(try await t.send(method: "DELETE", path: "/allocations/\(consumer)", body: nil).status == 204)
            let rewritten = try await publisher.sync(hostName: host, devices: [Self.a10()])
            #expect(rewritten.errors.isEmpty && rewritten.updated == [name], "\(rewritten)")
            let a10Traits = Self.desiredTraits(host, Self.a10())
            #expect(try await Self.traits(t, name) == a10Traits)
            #expect(
                a10Traits.contains(Self.a10Trait) && !a10Traits.contains(Self.t4Trait) && !a10Traits.contains("CUSTOM_HWLABEL_INFERENCE_T4")
            )
            let inv = try await Mode.inventories(t, name)
            #expect(Set(inv.keys) == [Self.a10RC] && inv[Self.a10RC]?["reserved"] as? Int == 0)
            #expect(try await E2E.candidates(t, "\(tree)resources=\(Self.a10RC):1&required=\(Self.a10Trait)", names: [name]) == [name])
            #expect(
                try await E2E.candidates(t, "\(tree)resources=\(Self.a10RC):1&required=CUSTOM_HWLABEL_INFERENCE_T4", names: [name]).isEmpty)
            let done = try await publisher.sync(hostName: host, devices: [Self.a10()])
            #expect(done.writes == 0 && done.warnings.isEmpty, "\(done)")
        }

        /// No allocation on the provider: the A10 is published in the same sync.
        @Test func anUnallocatedProviderIsRewrittenAtOnce() async throws {
            let server = try await PlacementServer.shared.start()
            let t = E2E.transport(server)
            let host = "swap-host-2", name = "\(host)_\(Self.address)"
            let tree = "in_tree=\(PlacementUUID.forRoot(host))&" // candidates on this host only
            let publisher = PlacementPublisher(transport: t)
            #expect(try await publisher.sync(hostName: host, devices: [Self.t4()]).errors.isEmpty)

            let r = try await publisher.sync(hostName: host, devices: [Self.a10()])
            // Reserve, traits, inventory: the same 3 writes as any change.
            #expect(r.errors.isEmpty && r.updated == [name], "\(r)")
            #expect(r.plannedCalls.filter { $0.contains(PlacementUUID.forDevice(name)) }.count == 3, "\(r.plannedCalls)")
            #expect(try await Self.traits(t, name) == Self.desiredTraits(host, Self.a10()))
            let inv = try await Mode.inventories(t, name)
            #expect(Set(inv.keys) == [Self.a10RC] && inv[Self.a10RC]?["reserved"] as? Int == 0)
            #expect(try await E2E.candidates(t, "\(tree)resources=\(Self.a10RC):1&required=\(Self.a10Trait)", names: [name]) == [name])
        }

        /// An allocation for the T4 lands just as the sync starts rewriting the provider for the
        /// A10 (after the sync read no allocations): the reserve conflicts, the re-read finds the
        /// allocation, and nothing of the A10 is written; the provider stays the T4's, reserved.
        @Test func anAllocationArrivingDuringTheRewriteStopsIt() async throws {
            let server = try await PlacementServer.shared.start()
            let plain = E2E.transport(server)
            let host = "swap-host-3", name = "\(host)_\(Self.address)", uuid = PlacementUUID.forDevice(name)
            #expect(try await PlacementPublisher(transport: plain).sync(hostName: host, devices: [Self.t4()]).errors.isEmpty)

            let consumer = "5a0a0000-0000-4000-8000-000000000003"
            let racing = BeforeFirstWrite(inner: plain, path: "/resource_providers/\(uuid)/inventories") {
                let status = try await Mode.allocate(plain, consumer: consumer, provider: name, rc: Self.t4RC, 1)
                #expect(status == 204)
            }
            let r = try await PlacementPublisher(transport: racing).sync(hostName: host, devices: [Self.a10()])
            #expect(racing.fired)
            #expect(r.conflictRetries >= 1)
            #expect(r.errors.count == 1 && r.errors[0].contains("got an allocation for the card it described"), "\(r.errors)")
            #expect(try await Self.traits(plain, name) == Self.desiredTraits(host, Self.t4()))
            let inv = try await Mode.inventories(plain, name)
            #expect(Set(inv.keys) == [Self.t4RC] && inv[Self.t4RC]?["reserved"] as? Int == 1)

            // Allocation gone: a plain sync publishes the A10.
            #expect(try await plain.send(method: "DELETE", path: "/allocations/\(consumer)", body: nil).status == 204)
            #expect(try await PlacementPublisher(transport: plain).sync(hostName: host, devices: [Self.a10()]).errors.isEmpty)
            #expect(try await Self.traits(plain, name) == Self.desiredTraits(host, Self.a10()))
        }
    }
}

/// Runs `action` once, just before the first write (not GET) to `path` is passed on.
final class BeforeFirstWrite: PlacementTransport, @unchecked Sendable {
    let inner: any PlacementTransport
    let path: String
    let action: @Sendable () async throws -> Void
    private let lock = NSLock()
    private var _fired = false

    init(inner: any PlacementTransport, path: String, action: @escaping @Sendable () async throws -> Void) {
        self.inner = inner
        self.path = path
        self.action = action
    }

    var fired: Bool { lock.withLock { _fired } }

    func send(method: String, path: String, body: Data?) async throws -> PlacementResponse {
        let first = lock.withLock { () -> Bool in
            guard method != "GET", path == self.path, !_fired else { return false }
            _fired = true
            return true
        }
        if first { try await action() }
        return try await inner.send(method: method, path: path, body: body)
    }
}
