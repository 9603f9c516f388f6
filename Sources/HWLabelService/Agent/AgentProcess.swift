#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HWLabelProbe

/// Who the agent process is, and whether the one `status.json` names still runs: a pid alone is
/// not enough (pids are reused, and a reboot starts them over), so the agent also records when
/// its process started. (Not the boot ID: containers such as systemd-nspawn mount their own over
/// /proc/sys/kernel/random/boot_id, and a service with ProtectKernelTunables= sees the host's.)
public struct AgentProcess: Sendable {
    /// `/proc` (a recorded tree in tests).
    public var procRoot: String
    public init(procRoot: String = "/proc") { self.procRoot = procRoot }

    public struct Identity: Sendable, Hashable {
        public var pid: Int32
        public var startTicks: UInt64?
    }

    /// This process: `getpid()` and its start time.
    public func current() -> Identity {
        let pid = getpid()
        return Identity(pid: pid, startTicks: startTicks(pid: pid))
    }

    /// Field 22 of `<proc>/<pid>/stat`: when the process started, in clock ticks after boot.
    /// Nil when the file cannot be read (no such process, or `hidepid=` hides it).
    public func startTicks(pid: Int32) -> UInt64? {
        guard pid > 0, let bytes = try? BoundedFile.readIfPresent("\(procRoot)/\(pid)/stat", limit: BoundedFile.Limit.small) else {
            return nil
        }
        return Self.startTicks(statLine: String(decoding: bytes, as: UTF8.self))
    }

    /// Field 22 of a `stat` line. The command name (field 2) is in parentheses and may hold
    /// spaces and parentheses itself: fields are counted after the last `)`.
    public static func startTicks(statLine: String) -> UInt64? {
        guard let close = statLine.lastIndex(of: ")") else { return nil }
        let fields = statLine[statLine.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19].trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Whether `identity` is a process that runs now: the pid exists and (when both are known)
    /// it started at the recorded time. A pid that `<proc>` does not show but `kill(pid, 0)`
    /// finds (EPERM: another user's process under `hidepid=`) counts as running.
    public func isRunning(_ identity: Identity) -> Bool {
        guard identity.pid > 0 else { return false }
        if let ticks = startTicks(pid: identity.pid) {
            if let recorded = identity.startTicks { return ticks == recorded }
            return true
        }
        guard procRoot == "/proc" else { return false }
        return kill(identity.pid, 0) == 0 || errno == EPERM
    }
}
