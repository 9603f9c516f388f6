import Foundation
@testable import HWLabelService
import HWLabelCore
import HWLabelProbe
import Logging

/// Builds a descriptor for reporter tests.
/// A device for service tests: a Turing-class NVIDIA function (with `arch`) or a network one,
/// built by the one `AssignableDevice` builder.
package func reporterDevice(
    _ address: String, label: String? = nil, ready: Bool = true, arch: String? = nil,
    driver: String = "vfio-pci", instance: String? = nil
) -> AssignableDevice {
    DeviceFixtures.assignable(
        address, subsystem: ("10de", "12ba"), revision: "a1", kind: arch == nil ? "network" : "gpu",
        instance: instance, label: label.map { LabelAssignment(name: $0, source: "rule", rule: "test") },
        state: ready ? .ready : .notReady, arch: arch, driver: driver, iommuGroup: 3,
        usage: DeviceUsage(state: .unknown, unknownBecause: "not scanned"))
}

package let reporterHost = HostIdentity(machineId: "0123456789abcdef0123456789abcdef", hostname: "kvm-07")

package func reporterScan(_ devices: [AssignableDevice], excluded: Set<String> = [], present: Set<PCIAddress>? = nil) -> ScanResult {
    ScanResult(
        descriptors: devices, excludedInstanceIds: excluded, presentAddresses: present,
        host: reporterHost, bootId: "b00710d0-0000-4000-8000-000000000001")
}

package func reporterTempDir(_ tag: String = #function) -> String {
    let p = reporterTempRoot + "/\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

/// One directory per test process holds every `reporterTempDir`; it is removed when the process
/// exits, so suites that keep a directory until their agent stops leave nothing behind.
private let reporterTempRoot: String = {
    let root = NSTemporaryDirectory() + "hwlabel-reporter-\(getpid())"
    try? FileManager.default.removeItem(atPath: root)
    try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "hwlabel-reporter-\(getpid())") }
    return root
}()

/// An in-memory LogHandler: every line, with metadata, rendered as text.
package struct CapturingLogHandler: LogHandler {
    package let lines: LockedBox<[String]>
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .trace
    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    package func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        let all = self.metadata.merging(metadata ?? [:]) { $1 }
        lines.withLock { $0.append("\(level) \(message) \(all)") }
    }
    package init(lines: LockedBox<[String]>, metadata: Logger.Metadata = [:], logLevel: Logger.Level = .trace) {
        self.lines = lines
        self.metadata = metadata
        self.logLevel = logLevel
    }
}

package func capturingLogger() -> (Logger, LockedBox<[String]>) {
    let box = LockedBox<[String]>([])
    return (Logger(label: "test") { _ in CapturingLogHandler(lines: box) }, box)
}

/// A sink that records what it got and when.
package final class RecordingSink: ReportSink, @unchecked Sendable {
    package let name: String
    package let box = LockedBox<[(Date, Report)]>([])
    package init(name: String = "recording") { self.name = name }
    package func deliver(_ report: Report) async throws { box.withLock { $0.append((Date(), report)) } }
    package var reports: [Report] { box.current.map(\.1) }
}

/// Polls `condition` every 10 ms until it holds, at most `timeout / 10 ms` times. The bound is a
/// number of polls, not wall time: when the suites run in parallel, synchronous tests can hold
/// every thread of the cooperative pool for minutes, and then this poll and the service it
/// waits for are held alike. A loaded machine makes the test slower, never failed; a test whose
/// condition never holds still ends (after at least `timeout`).
package func eventually(timeout: TimeInterval = 60, _ condition: () -> Bool) async -> Bool {
    for _ in 0..<max(1, Int(timeout / 0.01)) {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}

/// An `AgentClock` the test moves by hand: `now` is `start` plus what `advance` added; a sleep
/// returns once `advance` has carried the clock to its deadline (or throws when its task is
/// cancelled). The agent's timers (debounce, resync, settle, retries) then fire exactly when
/// the test says, however slow the machine.
package final class ManualClock: @unchecked Sendable {
    private struct Sleeper {
        let id: Int
        let deadline: Double
        let duration: Double
        let continuation: CheckedContinuation<Void, Error>
    }
    private let lock = NSLock()
    private var elapsed: Double = 0
    private var sleepers: [Sleeper] = []
    private var cancelled: Set<Int> = []
    private var nextId = 0
    package let start: Date

    package init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { self.start = start }

    package var clock: AgentClock {
        AgentClock(now: { [self] in now }, sleep: { [self] seconds in try await sleep(seconds) })
    }

    package var now: Date { lock.withLock { start.addingTimeInterval(elapsed) } }

    /// The durations of the sleeps waiting now, shortest deadline first.
    package var pending: [Double] {
        lock.withLock { sleepers.sorted { $0.deadline < $1.deadline }.map(\.duration) }
    }

    package func sleep(_ seconds: Double) async throws {
        let id = lock.withLock { () -> Int in
            nextId += 1; return nextId
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                let resume: Result<Void, Error>? = lock.withLock {
                    if cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if seconds <= 0 { return .success(()) }
                    sleepers.append(Sleeper(id: id, deadline: elapsed + seconds, duration: seconds, continuation: c))
                    return nil
                }
                if let resume { c.resume(with: resume) }
            }
        } onCancel: {
            let c = lock.withLock { () -> CheckedContinuation<Void, Error>? in
                guard let i = sleepers.firstIndex(where: { $0.id == id }) else {
                    cancelled.insert(id)
                    return nil
                }
                return sleepers.remove(at: i).continuation
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on by `seconds` and wakes every sleep whose deadline it reached.
    package func advance(by seconds: Double) {
        let due = lock.withLock { () -> [Sleeper] in
            elapsed += seconds
            let due = sleepers.filter { $0.deadline <= elapsed }
            sleepers.removeAll { $0.deadline <= elapsed }
            return due
        }
        for s in due { s.continuation.resume() }
    }

    /// Waits (polling, up to a long safety timeout) until a sleep of `duration` is pending.
    package func waitForSleep(_ duration: Double, timeout: TimeInterval = 60) async -> Bool {
        await eventually(timeout: timeout) { pending.contains { abs($0 - duration) < 1e-9 } }
    }
}
