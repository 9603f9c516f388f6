#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Watches the configuration directory with inotify, so `agent.conf`, `labels.conf` and
/// `policy.conf` take effect when they change, not only on SIGHUP or the next resync.
///
/// One thread blocks in `poll(2)` on the inotify descriptor (no timeout, no wake-ups while
/// nothing changes). Editors and hwlabel itself write a temporary dot-file and rename it, so
/// only events on names without a leading dot count: `IN_CLOSE_WRITE`, `IN_MOVED_TO`,
/// `IN_DELETE`, `IN_MOVED_FROM`.
public enum ConfigWatcher {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Yields the name of each changed file. Ends when the consumer stops listening.
    public static func changes(directory: String) throws(Failure) -> AsyncStream<String> {
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { throw Failure(description: "inotify_init1: errno \(errno)") }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            let e = errno
            close(fd)
            throw Failure(description: "cannot watch \(directory): errno \(e)")
        }
        // The reader waits in poll() on the inotify descriptor and on a pipe that is written
        // when the consumer goes away; it alone closes them (closing a descriptor another
        // thread is reading from would not wake it, and its number could be reused).
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            throw Failure(description: "pipe: errno \(errno)")
        }
        for p in pipeFDs { _ = fcntl(p, F_SETFD, FD_CLOEXEC) }
        let stop = pipeFDs[0], wake = pipeFDs[1]
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let reader = Thread {
            defer {
                // finish() first: it runs onTermination (at most once, ever), which writes to
                // `wake`; only then are the descriptors closed.
                continuation.finish()
                close(fd)
                close(stop)
                close(wake)
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: stop, events: Int16(POLLIN), revents: 0)]
            while true {
                let r = poll(&fds, 2, -1)
                if r < 0 {
                    if errno == EINTR { continue }
                    return
                }
                if fds[1].revents != 0 { return }
                guard fds[0].revents & Int16(POLLIN) != 0 else { return }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return }
                var offset = 0
                while offset + 16 <= n {
                    // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
                    let len = buffer.withUnsafeBytes { Int($0.load(fromByteOffset: offset + 12, as: UInt32.self)) }
                    let nameBytes = buffer[(offset + 16)..<min(offset + 16 + len, n)].prefix { $0 != 0 }
                    let name = String(decoding: nameBytes, as: UTF8.self)
                    if !name.isEmpty, !name.hasPrefix(".") {
                        if case .terminated = continuation.yield(name) { return }
                    }
                    offset += 16 + len
                }
            }
        }
        reader.name = "hwlabel-config-watch"
        continuation.onTermination = { _ in
            var one: UInt8 = 1
            _ = write(wake, &one, 1)
        }
        reader.start()
        return stream
    }
}
