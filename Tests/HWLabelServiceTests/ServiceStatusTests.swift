import Foundation
@testable import HWLabelService
import HWLabelTestSupport
import Testing

/// `hwlabel agent status` tells a running agent from a stopped or crashed one, as
/// `systemctl status` does: 0 running, 1 running with something pending, 3 not running, 5 running
/// on a configuration that failed to reload.
@Suite("Service: agent status and liveness", .serialized)
struct ServiceStatusTests {
    static func status(pid: Int32, ticks: UInt64?, state: AgentStatus.State? = .running) -> AgentStatus {
        var s = AgentStatus(pid: pid, agentEpoch: "e", updatedAt: "2026-01-01T00:00:00Z")
        s.processStartTicks = ticks
        s.state = state
        return s
    }

    /// A pid that ran a moment ago and is gone now.
    static func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    @Test func thisProcessIsRunning() {
        let me = AgentProcess().current()
        #expect(me.startTicks != nil)
        let s = Self.status(pid: me.pid, ticks: me.startTicks)
        #expect(s.checkLiveness() == .running)
        #expect(s.exitCode(.running) == 0)
    }

    @Test func aReusedPidIsNotTheAgent() {
        let me = AgentProcess().current()
        // Same pid, another start time: the agent's pid was reused by this process.
        #expect(Self.status(pid: me.pid, ticks: (me.startTicks ?? 0) + 1).checkLiveness() == .gone)
    }

    @Test func aStalePidIsNotRunning() throws {
        let pid = try Self.deadPid()
        let s = Self.status(pid: pid, ticks: 12345)
        #expect(s.checkLiveness() == .gone)
        #expect(s.exitCode(.gone) == AgentStatus.ExitCode.notRunning)
        #expect(s.rendered(liveness: .gone).contains("not running: pid \(pid) is gone"))
    }

    @Test func aCleanStopIsNotRunning() {
        let me = AgentProcess().current()
        var s = Self.status(pid: me.pid, ticks: me.startTicks, state: .stopped)
        s.stoppedAt = "2026-01-01T00:01:00Z"
        #expect(s.checkLiveness() == .stopped)
        #expect(s.exitCode(.stopped) == 3)
        #expect(s.rendered(liveness: .stopped).hasPrefix("state        not running: stopped cleanly at 2026-01-01T00:01:00Z\n"))
    }

    @Test func pendingAndFailedReloadHaveTheirOwnCodes() {
        var s = Self.status(pid: 1, ticks: nil)
        s.sinks["controller"] = .init(pendingGeneration: 3)
        #expect(s.exitCode(.running) == AgentStatus.ExitCode.pending)
        s.configError = .init(at: "t", sink: nil, message: "agent.conf:3: unknown key x in [agent]")
        #expect(s.exitCode(.running) == AgentStatus.ExitCode.configNotLoaded)
        #expect(s.rendered(liveness: .running).contains("config       NOT LOADED at t: agent.conf:3: unknown key x"))
        // Not running wins over everything else.
        #expect(s.exitCode(.gone) == 3)
    }

    @Test(arguments: [
        ("1234 (hwlabel) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 5 0 987654 1000 100", UInt64(987654)),
        // A command name with spaces and parentheses: fields count after the last ')'.
        ("77 (a) b) (c) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0\n", UInt64(42)),
        ("77 (short) R 1 2 3", nil),
        ("no parenthesis", nil),
    ])
    func startTicksParsing(line: String, expected: UInt64?) {
        #expect(AgentProcess.startTicks(statLine: line) == expected)
    }

    // MARK: the binary

    /// Runs the binary on a thread of its own: a wait on a cooperative-pool thread (two on a
    /// 2-core machine) would hold up the other suites' services while it runs.
    static func hwlabel(_ args: [String]) async throws -> (status: Int32, out: String, err: String) {
        let binary = try #require(ReporterProcessTests.binary)
        return try await withCheckedThrowingContinuation { cont in
            Thread {
                cont.resume(
                    with: Result {
                        let p = Process()
                        p.executableURL = URL(fileURLWithPath: binary)
                        p.arguments = args
                        let out = Pipe(), err = Pipe()
                        p.standardOutput = out
                        p.standardError = err
                        try p.run()
                        let o = out.fileHandleForReading.readDataToEndOfFile()
                        let e = err.fileHandleForReading.readDataToEndOfFile()
                        p.waitUntilExit()
                        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
                    })
            }.start()
        }
    }

    /// Starts the agent and waits until its status names it.
    static func start(in dir: String) async throws -> Process {
        let (p, _) = try await ReporterProcessTests.startAgent(try #require(ReporterProcessTests.binary), in: dir, resync: 600)
        let named = await eventually(timeout: 10) {
            let s = StateStore(directory: dir + "/state").loadStatus()
            return s?.pid == p.processIdentifier && s?.state == .running
        }
        try #require(named, "status.json never named the agent")
        return p
    }

    @Test(.enabled(if: ReporterProcessTests.binary != nil, "needs the hwlabel binary"))
    func statusFollowsTheAgentThroughStopAndCrash() async throws {
        let dir = reporterTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = dir + "/state"
        #expect(try await Self.hwlabel(["agent", "status", "--state-dir", state]).status == 3)

        // Running: 0, with the pid and the state line.
        var p = try await Self.start(in: dir)
        var r = try await Self.hwlabel(["agent", "status", "--state-dir", state])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.hasPrefix("state        running (pid \(p.processIdentifier)"), "\(r.out)")
        let json = try await Self.hwlabel(["agent", "status", "--state-dir", state, "--format", "json"])
        #expect(json.status == 0 && json.out.contains("\"liveness\" : \"running\""), "\(json.out)")

        // SIGTERM: a clean stop, not running.
        p.terminate()
        p.waitUntilExit()
        r = try await Self.hwlabel(["agent", "status", "--state-dir", state])
        #expect(r.status == 3 && r.out.contains("stopped cleanly"), "\(r.out)")

        // SIGKILL: the status still says running, for a pid that is gone.
        p = try await Self.start(in: dir)
        #expect(try await Self.hwlabel(["agent", "status", "--state-dir", state]).status == 0)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        r = try await Self.hwlabel(["agent", "status", "--state-dir", state])
        #expect(r.status == 3 && r.out.contains("not running: pid \(p.processIdentifier) is gone"), "\(r.out)")
    }

    @Test(.enabled(if: ReporterProcessTests.binary != nil, "needs the hwlabel binary"))
    func aFailedReloadIsExitFiveUntilTheConfigurationLoads() async throws {
        let dir = reporterTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = dir + "/state"
        let p = try await Self.start(in: dir)
        defer { p.terminate(); p.waitUntilExit() }
        let conf = dir + "/conf/agent.conf"
        let good = try String(contentsOfFile: conf, encoding: .utf8)
        try (good + "[agent]\nno-such-key = 1\n").write(toFile: conf, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        #expect(await eventually(timeout: 10) { StateStore(directory: state).loadStatus()?.configError != nil })
        var r = try await Self.hwlabel(["agent", "status", "--state-dir", state])
        #expect(r.status == 5 && r.out.contains("NOT LOADED") && r.out.contains("no-such-key"), "\(r.out)")
        try good.write(toFile: conf, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        #expect(await eventually(timeout: 10) { StateStore(directory: state).loadStatus()?.configError == nil })
        r = try await Self.hwlabel(["agent", "status", "--state-dir", state])
        #expect(r.status == 0, "\(r.out)")
    }
}
