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
    public var agentEpoch: String
    public var generation: UInt64?
    public var updatedAt: String
    public var lastScan: Scan?
    public var sinks: [String: SinkStatus]
    /// Most recent last, at most `maxErrors`.
    public var recentErrors: [ErrorEntry]

    public static let maxErrors = 20

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
        s.recentErrors = s.recentErrors.map { var e = $0; e.message = Secret.redact(e.message); return e }
        return s
    }

    /// Human-readable summary for `hwlabel agent status` (redacted).
    public func rendered() -> String {
        let s = redacted()
        return s.renderedAsIs()
    }

    func renderedAsIs() -> String {
        var out = "agent epoch  \(agentEpoch)\n"
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
            out += pad(name, 13) + pad(s.lastSuccessAt ?? "never", 23) + pad(s.lastSuccessGeneration.map(String.init) ?? "-", 7)
                + pad(s.pendingGeneration.map(String.init) ?? "-", 9) + (s.lastError.map { "\($0) (\(s.lastErrorAt ?? ""))" } ?? "-") + "\n"
        }
        if !recentErrors.isEmpty {
            out += "\nRECENT ERRORS\n"
            for e in recentErrors { out += "\(e.at)  \(e.sink ?? "scan")  \(e.message)\n" }
        }
        return out
    }
}
