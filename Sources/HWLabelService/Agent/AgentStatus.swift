import Foundation

/// `<state-dir>/status.json`, rewritten after every scan and delivery; read by
/// `hwlabel agent status`. Never holds secrets: errors are the sinks' messages, which name
/// paths and HTTP statuses only, and every message goes through `Secret.redact` on its way in
/// (`record`), on its way to disk (`StateStore.save`) and on its way out (`rendered`).
public struct AgentStatus: Codable, Sendable, Hashable {
    public struct Scan: Codable, Sendable, Hashable {
        public var at: String
        public var trigger: String
        public var durationMs: Int
        public var descriptors: Int
        public var generation: UInt64
        public var error: String?
    }
    public struct SinkStatus: Codable, Sendable, Hashable {
        public var lastSuccessAt: String?
        public var lastSuccessGeneration: UInt64?
        public var lastErrorAt: String?
        public var lastError: String?
        /// Generation waiting to be delivered (the controller's outbox), if any.
        public var pendingGeneration: UInt64?
    }
    public struct ErrorEntry: Codable, Sendable, Hashable {
        public var at: String
        public var sink: String?
        public var message: String
    }

    public var pid: Int32
    /// When the agent process started (`/proc/<pid>/stat` field 22, clock ticks after boot):
    /// with `pid`, it tells the agent from a process that reused its pid.
    public var processStartTicks: UInt64?
    /// `running` from the agent's start; `stopped` once it stopped cleanly. A status that says
    /// `running` for a process that is gone is a crash or a kill.
    public var state: State?
    public var startedAt: String?
    public var stoppedAt: String?
    /// Why the configuration on disk did not load at the last reload (the agent keeps running
    /// the previous one); nil once it loads.
    public var configError: ErrorEntry?
    /// Not written by the agent: what `hwlabel agent status --format json` found (`checkLiveness`).
    public var liveness: Liveness?
    public var agentEpoch: String
    public var generation: UInt64?
    public var updatedAt: String
    public var lastScan: Scan?
    public var sinks: [String: SinkStatus]
    /// Most recent last, at most `maxErrors`.
    public var recentErrors: [ErrorEntry]

    public static let maxErrors = 20

    public enum State: String, Codable, Sendable, Hashable {
        case running, stopped
    }

    /// What `hwlabel agent status` makes of a status file and the process table.
    public enum Liveness: String, Codable, Sendable, Hashable {
        /// The process the status names runs.
        case running
        /// The agent stopped cleanly.
        case stopped
        /// The status says running, but its process is gone (crashed, killed, or the host rebooted).
        case gone
    }

    /// `hwlabel agent status` exit codes (LSB `status` action: 0 running, 3 not running, 4 unknown).
    public enum ExitCode {
        /// Running; every sink delivered; the configuration on disk is the one in use.
        public static let running: Int32 = 0
        /// Running; a sink has an undelivered report or is failing.
        public static let pending: Int32 = 1
        /// Not running: no status yet, stopped, or the recorded process is gone; also when
        /// `status.json` cannot be read.
        public static let notRunning: Int32 = 3
        /// Running, but the configuration on disk failed to load at the last reload: the agent
        /// runs the previous one.
        public static let configNotLoaded: Int32 = 5
    }

    /// Running, stopped or gone, given the process table `process` reads.
    public func checkLiveness(process: AgentProcess = AgentProcess()) -> Liveness {
        if state == .stopped { return .stopped }
        let me = AgentProcess.Identity(pid: pid, startTicks: processStartTicks)
        return process.isRunning(me) ? .running : .gone
    }

    /// The exit code of `hwlabel agent status` for this status and `liveness`.
    public func exitCode(_ liveness: Liveness) -> Int32 {
        guard liveness == .running else { return ExitCode.notRunning }
        if configError != nil { return ExitCode.configNotLoaded }
        if sinks.values.contains(where: { $0.pendingGeneration != nil }) { return ExitCode.pending }
        return ExitCode.running
    }

    public init(pid: Int32, agentEpoch: String, updatedAt: String) {
        self.pid = pid
        self.agentEpoch = agentEpoch
        self.updatedAt = updatedAt
        sinks = [:]
        recentErrors = []
    }

    mutating func record(error: String, sink: String?, at: String) {
        recentErrors.append(ErrorEntry(at: at, sink: sink, message: Secret.redact(error)))
        if recentErrors.count > Self.maxErrors { recentErrors.removeFirst(recentErrors.count - Self.maxErrors) }
    }

    /// This status with every error message passed through `Secret.redact`.
    public func redacted() -> AgentStatus {
        var s = self
        if let e = s.lastScan?.error { s.lastScan?.error = Secret.redact(e) }
        for (name, var sink) in s.sinks {
            sink.lastError = sink.lastError.map { Secret.redact($0) }
            s.sinks[name] = sink
        }
        s.recentErrors = s.recentErrors.map {
            var e = $0; e.message = Secret.redact(e.message); return e
        }
        if let m = s.configError?.message { s.configError?.message = Secret.redact(m) }
        return s
    }

    /// Human-readable summary for `hwlabel agent status` (redacted), with a `state` line when
    /// `liveness` is given.
    public func rendered(liveness: Liveness? = nil) -> String {
        let s = redacted()
        return s.renderedAsIs(liveness: liveness)
    }

    func renderedAsIs(liveness: Liveness? = nil) -> String {
        var out = ""
        switch liveness {
        case .running?: out += "state        running (pid \(pid)\(startedAt.map { ", since \($0)" } ?? ""))\n"
        case .stopped?: out += "state        not running: stopped cleanly\(stoppedAt.map { " at \($0)" } ?? "")\n"
        case .gone?: out += "state        not running: pid \(pid) is gone (crashed or killed; last update \(updatedAt))\n"
        case nil: break
        }
        if let e = configError {
            out += "config       NOT LOADED at \(e.at): \(e.message); running the previous configuration\n"
        }
        out += "agent epoch  \(agentEpoch)\n"
        out += "generation   \(generation.map(String.init) ?? "-")\n"
        out += "pid          \(pid)   updated \(updatedAt)\n"
        if let s = lastScan {
            out += "last scan    \(s.at) (\(s.trigger), \(s.durationMs) ms, \(s.descriptors) descriptors)"
            if let e = s.error { out += " error: \(e)" }
            out += "\n"
        }
        out += "\nSINK         LAST SUCCESS           GEN    PENDING  LAST ERROR\n"
        for (name, s) in sinks.sorted(by: { $0.key < $1.key }) {
            func pad(_ x: String, _ n: Int) -> String { x.count >= n ? x + " " : x + String(repeating: " ", count: n - x.count) }
            out +=
                pad(name, 13) + pad(s.lastSuccessAt ?? "never", 23) + pad(s.lastSuccessGeneration.map(String.init) ?? "-", 7)
                + pad(s.pendingGeneration.map(String.init) ?? "-", 9) + (s.lastError.map { "\($0) (\(s.lastErrorAt ?? ""))" } ?? "-") + "\n"
        }
        if !recentErrors.isEmpty {
            out += "\nRECENT ERRORS\n"
            for e in recentErrors { out += "\(e.at)  \(e.sink ?? "scan")  \(e.message)\n" }
        }
        return out
    }
}
