import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
@testable import HWLabelService

/// Against the real Placement server (../shared/placement): a fleet of simulated hosts, each
/// from a different fixture, syncs into one Placement; then placement by label is asserted.
/// Disabled only outside CI when python3 is missing (`PlacementServer.unavailableReason`);
/// in CI (CI=true) a missing server fails.
extension RealPlacementServer {
    @Suite(.serialized, .enabled(if: PlacementServer.enabled, "needs python3 ≥ 3.11 to run the Placement server"))
    struct PlacementEndToEndTests {
        struct Host {
            var name: String
            var devices: [AssignableDevice]
        }

        static func fleet() throws -> [Host] {
            let alder = try PlacementTestHosts.lspci("asus-alderlake-laptop-rtx3070ti-irisxe-sriov-gl9755.lspci-vvxxxx")
            return [
                Host(
                    name: "rack1-a",
                    devices: PlacementTestHosts.devices(snapshot: alder, labels: ["10de:24a0": "Ampere GPU", "8086:46a6": "Iris Xe"])),
                Host(
                    name: "rack1-b",
                    devices: PlacementTestHosts.devices(
                        snapshot: alder, labels: ["10de:24a0": "Ampere GPU"],
                        states: ["10de:24a0": .notReady])),
                Host(name: "rack1-c", devices: PlacementTestHosts.devices(snapshot: alder, labels: ["10de:24a0": "Render GPU"])),
                Host(
                    name: "rack2-p1000",
                    devices: PlacementTestHosts.devices(
                        snapshot: try PlacementTestHosts.lspci("nvidia-quadro-p1000-gp107gl-hp.lspci-xxx.extract"),
                        labels: ["10de:1cb1": "Pascal GPU"])),
                Host(
                    name: "rack2-gk106",
                    devices: PlacementTestHosts.devices(
                        snapshot: try PlacementTestHosts.lspci("rk3399-asm1184e-switch-nvidia-gk106-marvell.lspci-xxx.extract"),
                        labels: ["10de:11c4": "Kepler GPU"])),
                Host(
                    name: "rack2-fiji",
                    devices: PlacementTestHosts.devices(
                        snapshot: try PlacementTestHosts.lspci("pciutils-tests__cap-rebar.lspci"), labels: ["1002:7300": "Fiji GPU"],
                        states: ["1002:7300": .readyAfterBinding])),
                Host(
                    name: "rack3-nic",
                    devices: PlacementTestHosts.devices(
                        snapshot: try PlacementTestHosts.lspci("pciutils-tests__cap-pcie-2.lspci"), labels: ["8086:10c9": "SR-IOV NIC"])),
                Host(
                    name: "rack3-p100",
                    devices: PlacementTestHosts.devices(
                        snapshot: try PlacementTestHosts.sysfs("ghw-kvm-guest-tesla-p100"), labels: ["10de:15f8": "Pascal GPU"])),
            ]
        }

        /// `<host>_<address>` of every device with `label` that is ready.
        static func expected(_ fleet: [Host], labels: Set<String>, vendorDevice: String? = nil) -> Set<String> {
            Set(
                fleet.flatMap { h in
                    h.devices.filter { d in
                        d.label.map { labels.contains($0.name) } == true && d.readiness.state == .ready
                            && (vendorDevice == nil || "\(d.attributes.vendor):\(d.attributes.device)" == vendorDevice)
                    }.map { "\(h.name)_\($0.address)" }
                })
        }

        /// Device provider names in an allocation_candidates answer (our UUIDs are derived from names).
        static func candidates(_ t: any PlacementTransport, _ query: String, names: [String]) async throws -> Set<String> {
            let r = try await t.send(method: "GET", path: "/allocation_candidates?" + query, body: nil)
            #expect(r.status == 200, "\(query): \(r.errorDetail)")
            let o = try r.json()
            let byUUID = Dictionary(names.map { (PlacementUUID.forDevice($0), $0) }, uniquingKeysWith: { a, _ in a })
            var out = Set<String>()
            for req in (o["allocation_requests"] as? [[String: Any]]) ?? [] {
                for u in ((req["allocations"] as? [String: Any]) ?? [:]).keys { out.insert(byUUID[u] ?? u) }
            }
            return out
        }

        static func providerNames(_ t: any PlacementTransport, _ query: String) async throws -> Set<String> {
            let r = try await t.send(method: "GET", path: "/resource_providers?" + query, body: nil)
            #expect(r.status == 200, "\(query): \(r.errorDetail)")
            return Set(((try r.json()["resource_providers"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String })
        }

        static func transport(_ s: PlacementServer.Running, counter: PlacementRequestCounter = PlacementRequestCounter())
            -> PlacementHTTPTransport
        {
            PlacementHTTPTransport(baseURL: s.url, token: "admin", counter: counter)
        }

        @Test func fleetPlacementByLabel() async throws {
            let server = try await PlacementServer.shared.start()
            var fleet = try Self.fleet()
            let counter = PlacementRequestCounter()
            let t = Self.transport(server, counter: counter)
            var publishers: [String: PlacementPublisher] = [:]
            for h in fleet { publishers[h.name] = PlacementPublisher(transport: t) }
            let allNames = fleet.flatMap { h in h.devices.map { "\(h.name)_\($0.address)" } }

            // The fixtures hold the devices the assertions are about.
            let ampere = Self.expected(fleet, labels: ["Ampere GPU"])
            #expect(ampere.count == 1)
            #expect(Self.expected(fleet, labels: ["Pascal GPU"]).count == 2)
            #expect(fleet.allSatisfy { !$0.devices.isEmpty })

            for h in fleet {
                let r = try await publishers[h.name]!.sync(hostName: h.name, devices: h.devices)
                #expect(r.errors.isEmpty, "\(h.name): \(r.errors)")
                #expect(r.created.count == h.devices.count + 1) // root + one per device
            }

            // Placement by label: exactly the ready devices that carry it.
            let amp = "CUSTOM_PCI_10DE_24A0:1"
            #expect(try await Self.candidates(t, "resources=\(amp)&required=CUSTOM_HWLABEL_AMPERE_GPU", names: allNames) == ampere)
            #expect(
                try await Self.candidates(
                    t, "resources=\(amp)&required=in:CUSTOM_HWLABEL_AMPERE_GPU,CUSTOM_HWLABEL_RENDER_GPU", names: allNames)
                    == Self.expected(fleet, labels: ["Ampere GPU", "Render GPU"]))
            #expect(try await Self.candidates(t, "resources=\(amp)", names: allNames).count == 2) // rack1-b is reserved: not ready
            #expect(
                try await Self.candidates(t, "resources=CUSTOM_PCI_1002_7300:1&required=CUSTOM_HWLABEL_FIJI_GPU", names: allNames).isEmpty)
            #expect(
                try await Self.candidates(
                    t, "resources1=CUSTOM_PCI_10DE_1CB1:1&required1=CUSTOM_HWLABEL_PASCAL_GPU&group_policy=isolate", names: allNames)
                    == Self.expected(fleet, labels: ["Pascal GPU"], vendorDevice: "10de:1cb1"))
            // Across products: providers by trait.
            #expect(
                try await Self.providerNames(t, "required=CUSTOM_HWLABEL_PASCAL_GPU,CUSTOM_PASSTHROUGH_READY")
                    == Self.expected(fleet, labels: ["Pascal GPU"]))
            #expect(
                try await Self.providerNames(t, "required=in:CUSTOM_HWLABEL_PASCAL_GPU,CUSTOM_HWLABEL_KEPLER_GPU,CUSTOM_HWLABEL_SR_IOV_NIC")
                    == Self.expected(fleet, labels: ["Pascal GPU", "Kepler GPU", "SR-IOV NIC"]))
            #expect(try await Self.providerNames(t, "required=COMPUTE_MANAGED_PCI_DEVICE").isEmpty)

            // An unchanged resync makes zero writes (our count and the server's access log agree).
            let before = (counter.writes, PlacementServer.serverWrites(server))
            for h in fleet {
                let r = try await publishers[h.name]!.sync(hostName: h.name, devices: h.devices)
                #expect(r.writes == 0 && r.plannedCalls.isEmpty, "\(h.name): \(r.plannedCalls)")
            }
            // A fresh agent (no cache) re-reads everything and still writes nothing.
            let cold = try await PlacementPublisher(transport: t).sync(hostName: "rack1-a", devices: fleet[0].devices)
            #expect(cold.writes == 0 && cold.reads > 2)
            #expect(counter.writes == before.0)
            #expect(PlacementServer.serverWrites(server) == before.1)

            // Relabel rack1-c's GPU: the trait moves (reserve, traits, unreserve: 3 writes).
            let gpuC = fleet[2].devices.firstIndex { $0.attributes.device == "24a0" }!
            fleet[2].devices[gpuC].label = LabelAssignment(name: "Ampere GPU", source: "instance")
            let relabel = try await publishers["rack1-c"]!.sync(hostName: "rack1-c", devices: fleet[2].devices)
            #expect(relabel.writes == 3 && relabel.updated == ["rack1-c_\(fleet[2].devices[gpuC].address)"], "\(relabel.plannedCalls)")
            #expect(
                try await Self.candidates(t, "resources=\(amp)&required=CUSTOM_HWLABEL_AMPERE_GPU", names: allNames)
                    == Self.expected(fleet, labels: ["Ampere GPU"]))
            #expect(try await Self.candidates(t, "resources=\(amp)&required=CUSTOM_HWLABEL_RENDER_GPU", names: allNames).isEmpty)

            // Hot-remove the GK106: its provider is deleted.
            let kepler = "rack2-gk106_" + fleet[4].devices.first { $0.attributes.device == "11c4" }!.address.description
            fleet[4].devices.removeAll { $0.attributes.device == "11c4" }
            let removed = try await publishers["rack2-gk106"]!.sync(hostName: "rack2-gk106", devices: fleet[4].devices)
            #expect(removed.deleted == [kepler])
            #expect(try await Self.providerNames(t, "name=\(kepler)").isEmpty)

            // A device with an allocation is removed: kept, inventory reserved, reported.
            let p1000 = fleet[3].devices.first { $0.attributes.device == "1cb1" }!
            let p1000Name = "rack2-p1000_\(p1000.address)"
            let consumer = "a1b2c3d4-0000-4000-8000-000000000001"
            let alloc = try JSONSerialization.data(
                withJSONObject: [
                    "allocations": [PlacementUUID.forDevice(p1000Name): ["resources": ["CUSTOM_PCI_10DE_1CB1": 1]]],
                    "project_id": "p", "user_id": "u", "consumer_generation": NSNull(), "consumer_type": "INSTANCE",
                ] as [String: Any])
            #expect(try await t.send(method: "PUT", path: "/allocations/\(consumer)", body: alloc).status == 204)
            fleet[3].devices.removeAll { $0.attributes.device == "1cb1" }
            let kept = try await publishers["rack2-p1000"]!.sync(hostName: "rack2-p1000", devices: fleet[3].devices)
            #expect(kept.retained == [p1000Name] && kept.deleted.isEmpty && kept.errors.isEmpty, "\(kept)")
            let inv = try await t.send(
                method: "GET", path: "/resource_providers/\(PlacementUUID.forDevice(p1000Name))/inventories", body: nil)
            let reserved =
                ((try inv.json()["inventories"] as? [String: Any])?["CUSTOM_PCI_10DE_1CB1"] as? [String: Any])?["reserved"] as? Int
            #expect(reserved == 1)
            #expect(try await Self.candidates(t, "resources=CUSTOM_PCI_10DE_1CB1:1", names: allNames).isEmpty)
            // Kept and reserved is stable: no writes while the allocation stays.
            let again = try await publishers["rack2-p1000"]!.sync(hostName: "rack2-p1000", devices: fleet[3].devices)
            #expect(again.writes == 0 && again.retained == [p1000Name])
            // Once the instance is gone, the next sync deletes it.
            #expect(try await t.send(method: "DELETE", path: "/allocations/\(consumer)", body: nil).status == 204)
            let freed = try await publishers["rack2-p1000"]!.sync(hostName: "rack2-p1000", devices: fleet[3].devices)
            #expect(freed.deleted == [p1000Name])
        }

        @Test func existingComputeNodeIsReusedAndForeignProvidersUntouched() async throws {
            let server = try await PlacementServer.shared.start()
            let t = Self.transport(server)
            // Nova's compute node and one of Nova's own PCI providers, named as ours would be.
            let root = "0c0c0c0c-1111-4111-8111-000000000001", novaPCI = "0c0c0c0c-1111-4111-8111-000000000002"
            func post(_ o: [String: Any]) async throws -> Int {
                try await t.send(method: "POST", path: "/resource_providers", body: try JSONSerialization.data(withJSONObject: o)).status
            }
            #expect(try await post(["name": "nova-7", "uuid": root]) == 200)
            #expect(try await post(["name": "nova-7_0000:3b:00.0", "uuid": novaPCI, "parent_provider_uuid": root]) == 200)
            let devs = [
                PlacementTestHosts.device(
                    address: "0000:3b:00.0", vendor: "10de", device: "1eb8", label: "Turing GPU", arch: "Turing", state: .ready),
                PlacementTestHosts.device(
                    address: "0000:5e:00.0", vendor: "10de", device: "1eb8", label: "Turing GPU", arch: "Turing", state: .ready),
            ]
            let r = try await PlacementPublisher(transport: t).sync(hostName: "nova-7", devices: devs)
            #expect(r.rootUUID == root)
            #expect(r.created == ["nova-7_0000:5e:00.0"])
            #expect(r.warnings.contains { $0.contains("nova-7_0000:3b:00.0") })
            let novaGen = try await t.send(method: "GET", path: "/resource_providers/\(novaPCI)", body: nil)
            #expect(try novaGen.json()["generation"] as? Int == 0) // never written
            // Removing every device never deletes the foreign one.
            let gone = try await PlacementPublisher(transport: t).sync(hostName: "nova-7", devices: [])
            #expect(gone.deleted == ["nova-7_0000:5e:00.0"])
            #expect(try await Self.providerNames(t, "in_tree=\(root)") == ["nova-7", "nova-7_0000:3b:00.0"])
        }

        @Test func agentSinkMirrorsReports() async throws {
            let server = try await PlacementServer.shared.start()
            let t = Self.transport(server)
            let devs = [
                PlacementTestHosts.device(
                    address: "0000:3b:00.0", vendor: "10de", device: "1eb8", label: "Turing GPU", arch: "Turing", state: .ready)
            ]
            let results = ResultBox()
            let sink = PlacementSink(publisher: PlacementPublisher(transport: t), onResult: { results.append($0) })
            func report(_ g: UInt64, _ d: [AssignableDevice]) -> Report {
                Report(
                    host: HostIdentity(machineId: nil, hostname: "agent-1"), bootId: nil, agentEpoch: "e", generation: g,
                    generatedAt: "2026-11-21T00:00:00Z", descriptors: d, tombstones: [])
            }
            try await sink.deliver(report(1, devs))
            try await sink.deliver(report(1, devs)) // the same report again: idempotent, no writes
            try await sink.deliver(report(2, []))
            let r = results.all
            #expect(r.count == 3)
            #expect(r[0].created == ["agent-1", "agent-1_0000:3b:00.0"])
            #expect(r[1].writes == 0)
            #expect(r[2].deleted == ["agent-1_0000:3b:00.0"])
        }

        /// `hwlabel agent` with a `[placement]` section in agent.conf publishes its reports.
        @Test func agentConfiguredWithPlacementSectionPublishes() async throws {
            let server = try await PlacementServer.shared.start()
            let state = reporterTempDir(), config = reporterTempDir()
            defer { ProbeTestSupport.removeTemp(state); ProbeTestSupport.removeTemp(config) }
            try "admin\n".write(toFile: config + "/placement-token", atomically: true, encoding: .utf8)
            try """
            [placement]
            url = \(server.url)
            token-file = \(config)/placement-token
            host-name = conf-agent-1
            [file]
            path = \(state)/r.json
            """.write(toFile: config + "/agent.conf", atomically: true, encoding: .utf8)
            let parsed = try AgentConfig.load(path: config + "/agent.conf")
            #expect(parsed.placement?.hostName == "conf-agent-1" && parsed.placement?.microversion == "1.39")
            let devs = [
                PlacementTestHosts.device(
                    address: "0000:5e:00.0", vendor: "10de", device: "1eb8", label: "Turing GPU",
                    arch: "Turing", state: .ready)
            ]
            let (logger, _) = capturingLogger()
            let service = AgentService(
                options: .init(configDirectory: config, stateDirectory: state),
                source: { reporterScan(devs) }, events: nil, logger: logger,
                notify: SDNotify(environment: [:]))
            let task = Task { try await service.run() }
            let t = Self.transport(server)
            var published = false
            let end = Date().addingTimeInterval(60)
            while !published, Date() < end {
                // The trait must exist before it can be queried: until the agent's first sync, 400.
                let r = try await t.send(
                    method: "GET", path: "/resource_providers?name=conf-agent-1_0000:5e:00.0&required=CUSTOM_HWLABEL_TURING_GPU", body: nil)
                if r.status == 200 {
                    let names = ((try r.json()["resource_providers"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
                    published = names == ["conf-agent-1_0000:5e:00.0"]
                }
                if !published { try await Task.sleep(nanoseconds: 200_000_000) }
            }
            service.stop()
            try await task.value
            #expect(published)
        }

        @Test func concurrentWriterIsSurvived() async throws {
            let server = try await PlacementServer.shared.start()
            let plain = Self.transport(server)
            let host = "busy-1"
            var devs = (0..<12).map { i in
                PlacementTestHosts.device(
                    address: String(format: "0000:%02x:00.0", 0x10 + i), vendor: "10de", device: "2236",
                    label: "Ampere GPU", arch: "Ampere", state: .ready)
            }
            #expect(try await PlacementPublisher(transport: plain).sync(hostName: host, devices: devs).errors.isEmpty)

            // Relabel everything while another writer bumps each provider's generation between our
            // read and our write (deterministic), and a background task keeps rewriting traits.
            for i in devs.indices { devs[i].label = LabelAssignment(name: "Team \(i % 2 == 0 ? "A" : "B") GPU", source: "instance") }
            let racing = RacingTransport(inner: plain, bumpsPerProvider: 2)
            let stop = StopFlag()
            let background = Task {
                // Allocation churn: every allocation write bumps the provider's generation too.
                var n = 0
                while !stop.isSet {
                    let name = "\(host)_" + String(format: "0000:%02x:00.0", 0x10 + n % 12)
                    let consumer = String(format: "c0ffee00-0000-4000-8000-%012x", n % 12)
                    let body = try? JSONSerialization.data(
                        withJSONObject: [
                            "allocations": [PlacementUUID.forDevice(name): ["resources": ["CUSTOM_PCI_10DE_2236": 1]]],
                            "project_id": "p", "user_id": "u", "consumer_generation": NSNull(), "consumer_type": "INSTANCE",
                        ] as [String: Any])
                    _ = try? await plain.send(method: "PUT", path: "/allocations/\(consumer)", body: body)
                    _ = try? await plain.send(method: "DELETE", path: "/allocations/\(consumer)", body: nil)
                    n += 1
                }
                return n
            }
            let r = try await PlacementPublisher(transport: racing).sync(hostName: host, devices: devs)
            stop.set()
            let churned = await background.value
            #expect(r.errors.isEmpty, "\(r.errors)")
            #expect(r.conflictRetries >= 12, "\(r)")
            #expect(churned > 0)
            // Final state is what we wanted: resync from scratch plans nothing.
            let check = try await PlacementPublisher(transport: plain).sync(hostName: host, devices: devs)
            #expect(check.plannedCalls.isEmpty && check.writes == 0, "\(check.plannedCalls)")
            #expect(
                try await Self.providerNames(plain, "required=CUSTOM_HWLABEL_TEAM_A_GPU&in_tree=\(PlacementUUID.forRoot(host))").count == 6)
        }
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [PlacementSyncResult] = []
    func append(_ r: PlacementSyncResult) { lock.lock(); results.append(r); lock.unlock() }
    var all: [PlacementSyncResult] { lock.lock(); defer { lock.unlock() }; return results }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

/// Before forwarding a trait or inventory PUT, makes another write to the same provider so the
/// PUT's generation is stale: the 409 every agent must survive.
final class RacingTransport: PlacementTransport, @unchecked Sendable {
    let inner: any PlacementTransport
    let bumpsPerProvider: Int
    private let lock = NSLock()
    private var bumped: [String: Int] = [:]

    init(inner: any PlacementTransport, bumpsPerProvider: Int) {
        self.inner = inner
        self.bumpsPerProvider = bumpsPerProvider
    }

    /// Toggles a foreign trait on the provider: a real change, so its generation moves.
    func bump(uuid: String) async throws {
        let r = try await inner.send(method: "GET", path: "/resource_providers/\(uuid)/traits", body: nil)
        guard r.status == 200, let o = try? r.json(), let gen = o["resource_provider_generation"] as? Int,
            var traits = o["traits"] as? [String]
        else { return }
        _ = try await inner.send(method: "PUT", path: "/traits/CUSTOM_OTHER_WRITER", body: nil)
        if let i = traits.firstIndex(of: "CUSTOM_OTHER_WRITER") { traits.remove(at: i) } else { traits.append("CUSTOM_OTHER_WRITER") }
        let body = try JSONSerialization.data(withJSONObject: ["resource_provider_generation": gen, "traits": traits] as [String: Any])
        _ = try await inner.send(method: "PUT", path: "/resource_providers/\(uuid)/traits", body: body)
    }

    func send(method: String, path: String, body: Data?) async throws -> PlacementResponse {
        if method == "PUT", path.hasPrefix("/resource_providers/"), path.hasSuffix("/traits") || path.hasSuffix("/inventories") {
            let uuid = String(path.split(separator: "/")[1])
            let go: Bool = {
                lock.lock(); defer { lock.unlock() }
                let n = bumped[uuid, default: 0]
                if n < bumpsPerProvider { bumped[uuid] = n + 1; return true }
                return false
            }()
            if go { try await bump(uuid: uuid) }
        }
        return try await inner.send(method: method, path: path, body: body)
    }
}
