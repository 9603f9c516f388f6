import Foundation
@testable import HWLabelService
import HWLabelCore
import HWLabelProbe
import Logging
import HWLabelTestSupport
import Testing

@Suite("Reporter: agent service")
struct ReporterServiceTests {
    /// Runs the service with a fake descriptor source, an injected uevent stream and a clock
    /// the test moves.
    final class Harness: @unchecked Sendable {
        let devices: LockedBox<[AssignableDevice]>
        let clock = ManualClock()
        let sink: RecordingSink
        let events: AsyncStream<Uevent>
        let eventContinuation: AsyncStream<Uevent>.Continuation
        let service: AgentService
        var task: Task<Void, Error>?

        init(stateDir: String, configDir: String, extraSinks: [any ReportSink] = [], logger: Logger) {
            let (stream, continuation) = AsyncStream<Uevent>.makeStream()
            events = stream
            eventContinuation = continuation
            let devices = LockedBox<[AssignableDevice]>([]), sink = RecordingSink()
            self.devices = devices
            self.sink = sink
            service = AgentService(
                options: .init(configDirectory: configDir, stateDirectory: stateDir),
                source: { reporterScan(devices.current) },
                events: { stream },
                sinkFactory: { _, _, _ in [sink] + extraSinks },
                logger: logger, notify: SDNotify(environment: [:]), clock: clock.clock)
        }
        func start() { task = Task { [service] in try await service.run() } }
        func stop() async throws {
            service.stop()
            try await task?.value
        }
        func uevent(_ action: String, _ address: String) {
            eventContinuation.yield(
                Uevent(
                    action: action, subsystem: "pci", devpath: "/devices/pci0000:00/\(address)",
                    sysname: address, driver: nil))
        }
    }

    /// A burst of uevents is one rescan, `debounce` after its first event (200 ms: event →
    /// delivery stays under a second); the clock is the test's, so the debounce fires exactly
    /// when the test advances it.
    @Test func hotplugEventsAreDebouncedIntoOneRescan() async throws {
        let state = reporterTempDir(), config = reporterTempDir()
        try "[agent]\ndebounce = 200ms\n".write(toFile: config + "/agent.conf", atomically: true, encoding: .utf8)
        let (logger, lines) = capturingLogger()
        let h = Harness(stateDir: state, configDir: config, logger: logger)
        func count(_ prefix: String) -> Int { lines.current.filter { $0.hasPrefix(prefix) }.count }
        h.devices.withLock { $0 = [reporterDevice("0000:01:00.0")] }
        h.start()
        try #require(await eventually { h.sink.reports.count == 1 })
        #expect(h.sink.reports[0].generation == 1)

        // add: a burst of events gives one debounce timer and one report.
        h.devices.withLock { $0.append(reporterDevice("0000:02:00.0")) }
        for a in ["add", "bind", "change"] { h.uevent(a, "0000:02:00.0") }
        try #require(await eventually { count("debug uevent") == 3 })
        try #require(await h.clock.waitForSleep(0.2))
        #expect(h.clock.pending.filter { abs($0 - 0.2) < 1e-9 }.count == 1)
        #expect(h.sink.reports.count == 1) // nothing before the debounce ends
        h.clock.advance(by: 0.2)
        try #require(await eventually { h.sink.reports.count == 2 })
        #expect(h.sink.reports[1].generation == 2 && h.sink.reports[1].descriptors.count == 2)
        #expect(h.sink.reports[1].generatedAt == rfc3339(h.clock.start.addingTimeInterval(0.2)))

        // remove: tombstone "unplugged".
        h.devices.withLock { $0.removeLast() }
        h.uevent("remove", "0000:02:00.0")
        try #require(await h.clock.waitForSleep(0.2))
        h.clock.advance(by: 0.2)
        try #require(await eventually { h.sink.reports.count == 3 })
        let r3 = h.sink.reports[2]
        #expect(r3.generation == 3 && r3.tombstones.map(\.reason) == [.unplugged])

        // An event that changes nothing rescans and sends nothing.
        let scans = count("info scan")
        h.uevent("change", "0000:01:00.0")
        try #require(await h.clock.waitForSleep(0.2))
        h.clock.advance(by: 0.2)
        try #require(await eventually { count("info scan") == scans + 1 })
        try await h.stop() // the worker finishes anything queued before stop returns
        #expect(h.sink.reports.count == 3)

        let status = try #require(StateStore(directory: state).loadStatus())
        #expect(status.generation == 3 && status.sinks["recording"]?.lastSuccessGeneration == 3)
    }

    /// The resync timer rescans and re-delivers unchanged content; a reload does the same at once.
    @Test func resyncAndReloadAreFullCycles() async throws {
        let state = reporterTempDir(), config = reporterTempDir()
        try "[agent]\nresync-interval = 60\n".write(toFile: config + "/agent.conf", atomically: true, encoding: .utf8)
        let (logger, _) = capturingLogger()
        let h = Harness(stateDir: state, configDir: config, logger: logger)
        h.devices.withLock { $0 = [reporterDevice("0000:01:00.0")] }
        h.start()
        try #require(await eventually { h.sink.reports.count == 1 })
        try #require(await h.clock.waitForSleep(60))
        h.clock.advance(by: 60)
        try #require(await eventually { h.sink.reports.count == 2 })
        #expect(h.sink.reports[1].generation == 1) // re-asserted, not a new generation
        h.service.reload()
        try #require(await eventually { h.sink.reports.count == 3 })
        // Each full cycle re-arms the resync timer; only the newest one counts.
        try await h.stop()
        #expect(h.clock.pending.isEmpty)
        let status = try #require(StateStore(directory: state).loadStatus())
        #expect(status.lastScan?.trigger == "reload" && status.state == .stopped)
    }

    @Test func restartKeepsEpochAndGenerationAndMakesNoTombstones() async throws {
        let state = reporterTempDir(), config = reporterTempDir()
        let (logger, _) = capturingLogger()
        let devs = [reporterDevice("0000:01:00.0"), reporterDevice("0000:02:00.0")]
        let h1 = Harness(stateDir: state, configDir: config, logger: logger)
        h1.devices.withLock { $0 = devs }
        h1.start()
        try #require(await eventually { h1.sink.reports.count == 1 })
        try await h1.stop()

        let h2 = Harness(stateDir: state, configDir: config, logger: logger)
        h2.devices.withLock { $0 = devs }
        h2.start()
        try #require(await eventually { h2.sink.reports.count == 1 })
        try await h2.stop()
        let a = h1.sink.reports[0], b = h2.sink.reports[0]
        #expect(a.agentEpoch == b.agentEpoch && a.generation == b.generation && a.digest == b.digest)
        #expect(b.tombstones.isEmpty)
    }

    @Test func controllerOutageAcrossRestartEndsDeliveredWithoutLeakingToken() async throws {
        let state = reporterTempDir(), config = reporterTempDir()
        let down = try RefusingPort()
        defer { withExtendedLifetime(down) {} } // refusing until the test ends
        let secret = ReporterControllerTests.secret
        try secret.write(toFile: config + "/controller-token", atomically: true, encoding: .utf8)
        func configure(_ url: String) throws {
            try """
            [controller]
            url = \(url)
            token-file = \(config)/controller-token
            timeout = 1
            max-attempts = 2
            [file]
            path = \(state)/out.json
            """.write(toFile: config + "/agent.conf", atomically: true, encoding: .utf8)
        }
        try configure(down.url)
        let (logger, lines) = capturingLogger()
        func service() -> (AgentService, LockedBox<[AssignableDevice]>) {
            let devices = LockedBox([reporterDevice("0000:01:00.0")])
            let s = AgentService(
                options: .init(configDirectory: config, stateDirectory: state),
                source: { reporterScan(devices.current) }, events: nil,
                logger: logger, notify: SDNotify(environment: [:]))
            return (s, devices)
        }
        // Run 1: controller down.
        let (s1, _) = service()
        let t1 = Task { try await s1.run() }
        try #require(await eventually { StateStore(directory: state).loadStatus()?.sinks["controller"]?.lastError != nil })
        s1.stop()
        try await t1.value
        #expect(Outbox(directory: state + "/outbox", sink: "controller").load()?.generation == 1)

        // Run 2: the controller answers (at its own port: the outbox is the state directory's,
        // whatever the URL), one more device.
        let ctl = ReporterTestController()
        try await ctl.start()
        defer { Task { await ctl.stop() } }
        try configure(ctl.url)
        let (s2, d2) = service()
        d2.withLock { $0.append(reporterDevice("0000:02:00.0")) }
        let t2 = Task { try await s2.run() }
        try #require(await eventually { ctl.received.contains { $0.report.generation == 2 } })
        // The outbox entry goes once the agent has read the 2xx, a moment after the controller
        // saw the request: a stop in between rightly keeps it (undelivered until confirmed).
        #expect(await eventually { Outbox(directory: state + "/outbox", sink: "controller").load() == nil })
        s2.stop()
        try await t2.value
        #expect(Outbox(directory: state + "/outbox", sink: "controller").load() == nil)
        let statusText = try String(contentsOfFile: state + "/status.json", encoding: .utf8)
        #expect(!statusText.contains(secret))
        #expect(!StateStore(directory: state).loadStatus()!.rendered().contains(secret))
        #expect(!lines.current.joined(separator: "\n").contains(secret))
        #expect(lines.current.count > 0)
    }
}

/// The real kernel uevent source: writes `change` to a real device's `uevent` file (we run as
/// root on the CI VMs, which have no udevd). Skipped where that is not possible.
@Suite("Reporter: kernel uevent monitor", .serialized)
struct ReporterUeventMonitorTests {
    static var device: String? {
        guard getuid() == 0 else { return nil }
        let devs = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices"))?.sorted() ?? []
        return devs.first { access("/sys/bus/pci/devices/\($0)/uevent", W_OK) == 0 }
    }

    @Test(.enabled(if: device != nil, "needs root and a writable /sys/bus/pci/devices/*/uevent"))
    func kernelSourceDeliversChangeEvents() async throws {
        let dev = try #require(Self.device)
        let stream = try UeventMonitor.events(subsystems: ["pci"], source: .kernel)
        let got = Task { () -> Uevent? in
            for await e in stream where e.sysname == dev { return e }
            return nil
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        try "change".write(toFile: "/sys/bus/pci/devices/\(dev)/uevent", atomically: false, encoding: .utf8)
        let timeout = Task {
            try await Task.sleep(nanoseconds: 60_000_000_000); got.cancel()
        } // a hang guard
        let e = await got.value
        timeout.cancel()
        #expect(e?.action == "change" && e?.subsystem == "pci")
    }
}
