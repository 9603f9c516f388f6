import CHWLabelShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Listens to uevents on a dedicated thread and hands them out as an `AsyncStream`.
///
/// libudev objects are not thread-safe: the `udev` context and its monitor are created, used
/// and freed on that one thread, which sleeps in `poll(2)` on the monitor's netlink socket and a
/// wake-up pipe (no timeout, so no wake-ups while nothing happens). Ending the stream (the
/// consumer's task ends or `finish` is called) writes to the pipe and the thread frees everything.
public enum UeventMonitor {
    public enum Source: String, Sendable {
        /// Events after udevd processed them (rules ran, `HWLABEL_*` properties set).
        case udev
        /// Raw kernel events: the only source when no udevd runs.
        case kernel

        /// `udev` when udevd runs on this host, else `kernel`. udevd's control socket
        /// `/run/udev/control` is the sign it runs (as systemd checks it); `/run/udev` alone is
        /// not: installing the udev package or running `udevadm` creates `/run/udev/data` on
        /// machines where no udevd ever starts, and a udev monitor there receives nothing.
        public static var automatic: Source {
            access("/run/udev/control", F_OK) == 0 ? .udev : .kernel
        }
    }

    /// Starts the monitor. Throws when the netlink socket cannot be opened or bound (e.g.
    /// `RestrictAddressFamilies=` without `AF_NETLINK`).
    public static func events(
        subsystems: [String] = ["pci", "mdev", "drm"],
        source: Source = .automatic,
        bufferingNewest limit: Int = 1024
    ) throws(ProbeError) -> AsyncStream<Uevent> {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw ProbeError(.monitor, message: "pipe: errno \(errno)")
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        let wakeRead = fds[0], wakeWrite = fds[1]
        let (stream, continuation) = AsyncStream<Uevent>.makeStream(bufferingPolicy: .bufferingNewest(limit))
        continuation.onTermination = { _ in
            var b: UInt8 = 1
            _ = write(wakeWrite, &b, 1)
        }
        let started = StartSignal()
        let thread = Thread {
            run(subsystems: subsystems, source: source, wakeRead: wakeRead, continuation: continuation, started: started)
            close(wakeRead)
            close(wakeWrite)
        }
        thread.name = "hwlabel-uevent"
        thread.start()
        if let error = started.wait() {
            continuation.finish()
            throw error
        }
        return stream
    }

    private static func run(
        subsystems: [String], source: Source, wakeRead: Int32,
        continuation: AsyncStream<Uevent>.Continuation, started: StartSignal
    ) {
        guard let udev = udev_new() else {
            started.signal(ProbeError(.monitor, message: "udev_new failed"))
            return
        }
        defer { udev_unref(udev) }
        guard let mon = udev_monitor_new_from_netlink(udev, source.rawValue) else {
            started.signal(ProbeError(.monitor, message: "udev_monitor_new_from_netlink(\(source.rawValue)) failed: errno \(errno)"))
            return
        }
        defer { udev_monitor_unref(mon) }
        for s in subsystems {
            let rc = udev_monitor_filter_add_match_subsystem_devtype(mon, s, nil)
            if rc < 0 {
                started.signal(ProbeError(.monitor, message: "udev_monitor_filter_add_match_subsystem_devtype(\(s)): errno \(-rc)"))
                return
            }
        }
        // A bigger receive buffer survives bursts (SR-IOV enabling 64 VFs at once).
        setReceiveBuffer(udev_monitor_get_fd(mon), bytes: 4 * 1024 * 1024)
        let rc = udev_monitor_enable_receiving(mon)
        guard rc >= 0 else {
            started.signal(ProbeError(.monitor, message: "udev_monitor_enable_receiving(\(source.rawValue)): errno \(-rc)"))
            return
        }
        let monFD = udev_monitor_get_fd(mon)
        started.signal(nil)
        var pfd = [
            pollfd(fd: monFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            pfd[0].revents = 0
            pfd[1].revents = 0
            let n = poll(&pfd, 2, -1)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if pfd[1].revents != 0 { break }
            if pfd[0].revents & Int16(POLLIN) != 0 {
                // Drain everything queued: one wake-up per burst.
                while let dev = udev_monitor_receive_device(mon) {
                    let event = Uevent(
                        action: udev_device_get_action(dev).map { String(cString: $0) } ?? "",
                        subsystem: udev_device_get_subsystem(dev).map { String(cString: $0) } ?? "",
                        devpath: udev_device_get_devpath(dev).map { String(cString: $0) } ?? "",
                        sysname: udev_device_get_sysname(dev).map { String(cString: $0) } ?? "",
                        driver: udev_device_get_driver(dev).map { String(cString: $0) })
                    udev_device_unref(dev)
                    if case .terminated = continuation.yield(event) {
                        continuation.finish()
                        return
                    }
                }
            } else if pfd[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                break
            }
        }
        continuation.finish()
    }
}

extension UeventMonitor {
    /// Makes the monitor socket's receive buffer at least `bytes`: `SO_RCVBUF` (the kernel caps
    /// it at `net.core.rmem_max`), then `SO_RCVBUFFORCE` (no cap) only when that fell short and
    /// the process holds CAP_NET_ADMIN. Never shrinks a bigger buffer.
    ///
    /// libudev's own `udev_monitor_set_receive_buffer_size` tries `SO_RCVBUFFORCE` whatever the
    /// capabilities; the agent's unit has no CAP_NET_ADMIN. (libudev 252 also asks for 128 MiB
    /// with `SO_RCVBUFFORCE` inside `udev_monitor_new_from_netlink`: that one is denied quietly
    /// without CAP_NET_ADMIN, and the buffer is then twice `rmem_max`.)
    static func setReceiveBuffer(_ fd: Int32, bytes: Int32) {
        // The kernel doubles the value for its bookkeeping and reports the doubled size.
        func current() -> Int32? {
            var got: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 ? got : nil
        }
        var size = bytes
        let len = socklen_t(MemoryLayout<Int32>.size)
        guard let before = current(), before < bytes * 2 else { return }
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, len)
        guard let after = current(), after < bytes * 2, holdsNetAdmin() else { return }
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, len)
    }

    /// CAP_NET_ADMIN (bit 12) in `CapEff:` of `/proc/self/status`.
    static func holdsNetAdmin() -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return false }
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces)
            guard let caps = UInt64(hex, radix: 16) else { return false }
            return caps & (1 << 12) != 0
        }
        return false
    }
}

/// One-shot hand-off of the monitor thread's setup result.
private final class StartSignal: @unchecked Sendable {
    private let cond = NSCondition()
    private var done = false
    private var error: ProbeError?
    func signal(_ e: ProbeError?) {
        cond.lock()
        error = e
        done = true
        cond.signal()
        cond.unlock()
    }
    func wait() -> ProbeError? {
        cond.lock()
        defer { cond.unlock() }
        while !done { cond.wait() }
        return error
    }
}
