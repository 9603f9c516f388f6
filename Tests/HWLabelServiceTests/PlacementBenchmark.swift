import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
@testable import HWLabelService

/// Not a test: `bench/placement-bench.sh` runs it (HWLABEL_PLACEMENT_BENCH=1) against the real
/// server and prints a table for BENCHMARKS.md. No timing is asserted.
extension RealPlacementServer {
    @Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["HWLABEL_PLACEMENT_BENCH"] == "1"))
    struct PlacementBenchmark {
        @Test func hundredDeviceHost() async throws {
            let server = try await PlacementServer.shared.start()
            let n = Int(ProcessInfo.processInfo.environment["HWLABEL_PLACEMENT_BENCH_DEVICES"] ?? "") ?? 100
            var devs: [AssignableDevice] = []
            for i in 0..<n {
                let bus: Int = 0x10 + i / 32
                let address = String(format: "0000:%02x:%02x.0", bus, i % 32)
                let label = i % 4 == 0 ? "Inference GPU" : "Ampere GPU"
                let state: Readiness.State = i % 10 == 9 ? .readyAfterBinding : .ready
                devs.append(
                    PlacementTestHosts.device(
                        address: address, vendor: "10de", device: "2236",
                        label: label, arch: "Ampere", state: state))
            }
            let counter = PlacementRequestCounter()
            let t = PlacementHTTPTransport(baseURL: server.url, token: "admin", counter: counter)
            let clock = ContinuousClock()
            var rows: [(String, Int, Int, Duration)] = []
            func measure(_ label: String, _ publisher: PlacementPublisher, _ d: [AssignableDevice]) async throws {
                let (r0, w0) = (counter.reads, counter.writes)
                let start = clock.now
                let r = try await publisher.sync(hostName: "bench-\(n)", devices: d)
                let elapsed = clock.now - start
                #expect(r.errors.isEmpty)
                rows.append((label, counter.reads - r0, counter.writes - w0, elapsed))
            }
            let agent = PlacementPublisher(transport: t)
            try await measure("first sync", agent, devs)
            try await measure("unchanged resync (same agent, cached generations)", agent, devs)
            try await measure("unchanged resync (fresh agent, cold cache)", PlacementPublisher(transport: t), devs)
            var relabelled = devs
            relabelled[0].label = LabelAssignment(name: "Training GPU", source: "instance")
            try await measure("relabel one device", agent, relabelled)
            try await measure("hot-remove one device", agent, Array(relabelled.dropLast()))

            var table = "| \(n)-device host, Placement 16.0.0 (1 gunicorn worker, SQLite) | GETs | writes | time |\n|---|---:|---:|---:|\n"
            for (label, r, w, d) in rows {
                let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
                table += "| \(label) | \(r) | \(w) | \(String(format: "%.0f ms", ms)) |\n"
            }
            print("PLACEMENT-BENCH-TABLE-BEGIN\n" + table + "PLACEMENT-BENCH-TABLE-END")
        }
    }
}
