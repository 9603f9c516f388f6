import Foundation
import HWLabelCore
@testable import HWLabelService
import HWLabelTestSupport
import Testing

/// The agent binary as a child process: SIGTERM while it rewrites its report file.
@Suite("Reporter: agent process", .serialized)
struct ReporterProcessTests {
    /// `hwlabel` next to the test bundle, when it has the `agent` subcommand.
    static let binary: String? = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [
            dir.appendingPathComponent("hwlabel").path, dir.deletingLastPathComponent().appendingPathComponent("hwlabel").path,
        ] {
            guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: candidate)
            // An unregistered subcommand still exits 0 on --help (the root help): look for ours.
            p.arguments = ["agent", "status", "--help"]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { continue }
            let help = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if p.terminationStatus == 0, help.contains("--state-dir") { return candidate }
        }
        return nil
    }()

    static let fixture = ProbeTestSupport.fixtures + "/sysfs/ghw-ryzen-radeon-hd6670/sys"

    /// Starts `hwlabel agent` over the fixture with a file sink at `<dir>/out/report.json` and
    /// the given resync interval; returns once the first report is written.
    static func startAgent(_ binary: String, in dir: String, resync seconds: Int) async throws -> (Process, String) {
        let out = dir + "/out/report.json"
        try FileManager.default.createDirectory(atPath: dir + "/conf", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        try "[agent]\nresync-interval = \(seconds)\n[file]\npath = \(out)\n"
            .write(toFile: dir + "/conf/agent.conf", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = [
            "agent", "--config-dir", dir + "/conf", "--state-dir", dir + "/state",
            "--sysfs-root", Self.fixture, "--log-level", "error",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        try #require(await eventually(timeout: 20) { FileManager.default.fileExists(atPath: out) })
        return (p, out)
    }

    @Test(.enabled(if: binary != nil, "needs the hwlabel binary with `agent` registered"))
    func sigtermDuringWritesLeavesTheFileWholeAndExitsZero() async throws {
        let binary = try #require(Self.binary)
        for round in 0..<5 {
            let dir = reporterTempDir()
            // resync every second: the file is rewritten continually while we signal.
            let (p, out) = try await Self.startAgent(binary, in: dir, resync: 1)
            try await Task.sleep(nanoseconds: UInt64(round) * 230_000_000 + UInt64.random(in: 0...200_000_000))
            p.terminate() // SIGTERM
            p.waitUntilExit()
            #expect(p.terminationReason == .exit && p.terminationStatus == 0)
            let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
            #expect(report.generation == 1 && !report.descriptors.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/out") == ["report.json"])
            // Stopped cleanly: status written, epoch kept for the next start.
            #expect(StateStore(directory: dir + "/state").loadStatus()?.sinks["file"]?.lastSuccessGeneration == 1)
        }
    }

    /// Context switches of every thread of `pid` (voluntary + involuntary), by thread id.
    static func contextSwitches(_ pid: Int32) -> [String: Int] {
        var out: [String: Int] = [:]
        for tid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else { continue }
            out[tid] = status.split(separator: "\n").filter { $0.contains("_ctxt_switches:") }
                .compactMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }.reduce(0, +)
        }
        return out
    }

    /// Between its own timers an idle agent does not run at all. (On libdispatch's global
    /// queues, the default executor, a pool monitor woke it every second.)
    @Test(.enabled(if: binary != nil, "needs the hwlabel binary with `agent` registered"))
    func idleAgentDoesNotWakeUp() async throws {
        let binary = try #require(Self.binary)
        let (p, _) = try await Self.startAgent(binary, in: reporterTempDir(), resync: 600)
        defer { p.terminate(); p.waitUntilExit() }
        try await Task.sleep(nanoseconds: 2_500_000_000) // past the settle trim (1 s after the scan)
        let before = Self.contextSwitches(p.processIdentifier)
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let after = Self.contextSwitches(p.processIdentifier)
        #expect(!before.isEmpty)
        let woke = after.filter { $0.value != before[$0.key] }
        #expect(woke.isEmpty, "threads that ran while idle: \(woke.keys.sorted()) (before \(before), after \(after))")
    }

    @Test(.enabled(if: binary != nil, "needs the hwlabel binary with `agent` registered"))
    func agentStatusOutputNeverShowsTheToken() async throws {
        let binary = try #require(Self.binary)
        let dir = reporterTempDir()
        let secret = ReporterControllerTests.secret
        try FileManager.default.createDirectory(atPath: dir + "/conf", withIntermediateDirectories: true)
        try secret.write(toFile: dir + "/conf/controller-token", atomically: true, encoding: .utf8)
        let refusing = try RefusingPort()
        defer { withExtendedLifetime(refusing) {} } // refusing until the test ends
        let port = refusing.port
        try """
        [controller]
        url = http://127.0.0.1:\(port)/r
        token-file = \(dir)/conf/controller-token
        timeout = 1
        max-attempts = 1
        """.write(toFile: dir + "/conf/agent.conf", atomically: true, encoding: .utf8)
        let log = dir + "/agent.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = [
            "agent", "--config-dir", dir + "/conf", "--state-dir", dir + "/state",
            "--sysfs-root", Self.fixture, "--log-level", "trace",
        ]
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = p.standardError
        try p.run()
        try #require(
            await eventually(timeout: 20) {
                StateStore(directory: dir + "/state").loadStatus()?.sinks["controller"]?.lastError != nil
            })
        // Running with the controller pending: 1; once stopped: 3 (not running), as systemctl.
        for (running, format) in [(true, "table"), (true, "json"), (false, "table"), (false, "json")] {
            if !running, p.isRunning {
                p.terminate()
                p.waitUntilExit()
            }
            let s = Process()
            let pipe = Pipe()
            s.executableURL = URL(fileURLWithPath: binary)
            s.arguments = ["agent", "status", "--state-dir", dir + "/state", "--format", format]
            s.standardOutput = pipe
            try s.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            s.waitUntilExit()
            #expect(s.terminationStatus == (running ? 1 : 3), "\(format): \(text)")
            #expect(text.contains("controller") && !text.contains(secret))
        }
        let logText = try String(contentsOfFile: log, encoding: .utf8)
        #expect(logText.contains("delivery failed") && !logText.contains(secret))
    }
}
