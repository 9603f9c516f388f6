import Foundation
import HWLabelCore
import HWLabelProbe
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock(2)` on a lock file in the config directory (`.labels.lock`,
/// `.passthrough.lock`), held for a read-check-modify-write of the file it guards, so
/// concurrent hwlabel processes never lose an update.
///
/// The holder writes its pid into the lock file; a lock held longer than `timeout` fails with a
/// `ConfigError` naming the lock file and that pid instead of waiting forever. A lock file that
/// is not a regular file (a FIFO, a directory) is refused. Closing the descriptor releases the
/// lock, so a crashed holder never leaves it taken.
public struct ConfigLock: Sendable {
    public let path: String
    /// How long `withLock` waits for another holder before failing.
    public var timeout: Double
    /// The command that takes this lock, for the message when it is stuck (`hwlabel label`).
    public var command: String

    public init(path: String, timeout: Double, command: String) {
        self.path = path
        self.timeout = timeout
        self.command = command
    }

    /// Runs `body` holding the lock (the lock file is created if missing; its directory must exist).
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ConfigError(path: path, message: "cannot open lock file: \(errnoText())") }
        defer { close(fd) } // closing releases the flock
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ConfigError(path: path, message: "cannot stat lock file: \(errnoText())") }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw ConfigError(
                path: path, message: "the lock file is \(BoundedFile.kind(st.st_mode & S_IFMT)), not a regular file; remove it")
        }
        let deadline = monotonicSeconds() + max(0, timeout)
        var pause = 0.005
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            guard e == EWOULDBLOCK else { throw ConfigError(path: path, message: "cannot lock: \(errnoText())") }
            let now = monotonicSeconds()
            guard now < deadline else {
                let holder = Self.holder(fd)
                throw ConfigError(
                    path: path,
                    message: "locked by "
                        + (holder.map { "process \($0)" } ?? "another process")
                        + "; gave up after \(Self.seconds(timeout)) (is another `\(command)` running or stuck?)")
            }
            usleep(UInt32(min(pause, deadline - now) * 1_000_000))
            pause = min(pause * 2, 0.1)
        }
        // The holder's pid, for whoever waits next.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        return try body()
    }

    /// The pid the lock holder wrote into the lock file (`<pid>\n`), if readable.
    static func holder(_ fd: Int32) -> Int32? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let digits = buf[..<n].prefix { $0 >= 0x30 && $0 <= 0x39 }
        guard !digits.isEmpty, digits.count <= 9, let pid = Int32(String(decoding: digits, as: UTF8.self)), pid > 0 else { return nil }
        return pid
    }

    static func seconds(_ s: Double) -> String {
        let t = s.isNaN ? 0 : min(max(s, 0), 1e9)
        return t == t.rounded() ? "\(Int(t)) s" : "\(t) s"
    }
}

/// CLOCK_MONOTONIC in seconds: lock waits are not fooled by a clock step.
private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func errnoText() -> String {
    let e = errno
    return ErrnoText.describe(e)
}
