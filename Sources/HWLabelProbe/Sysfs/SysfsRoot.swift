import CHWLabelShim
import Glibc

/// Reads files under an injected root (`/sys`, a captured tree, a umockdev testbed).
///
/// Plain POSIX calls (open/read/readlink/opendir) rather than Foundation: they are what
/// umockdev's preload intercepts, and a scan of 10,000 functions makes hundreds of thousands
/// of them. Errors are returned, never thrown: a missing optional file is simply unknown.
public struct SysfsRoot: Sendable, Hashable {
    /// The sysfs mount point, e.g. `/sys` (no trailing slash).
    public let path: String

    public init(_ path: String) {
        var p = path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        self.path = p
    }

    /// Sizes the probe reads at most, by kind of file.
    public enum Limit {
        /// A sysfs attribute: one page (the kernel's `sysfs_emit` never writes more), at least 4096.
        public static let attribute = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        /// A procfs table (`mountinfo`, `net/route`, `net/ipv6_route`, `swaps`, `cpuinfo`): 8 MiB,
        /// several times a container host's `mountinfo` (about 200 bytes a mount).
        public static let procTable = 8 << 20
        /// A small procfs or `/etc` file (`comm`, `boot_id`, `machine-id`): 64 KiB.
        public static let small = 64 << 10
        /// A process's `cmdline`: 1 MiB (ARG_MAX is 2 MiB; QEMU's run to tens of KiB).
        public static let cmdline = 1 << 20
    }

    /// Reads a sysfs attribute as UTF-8 text, without trailing line ends (`\n`, `\r\n`) and NULs.
    ///
    /// Never blocks and never reads more than `limit` bytes (default: a page): the file is
    /// opened `O_NONBLOCK|O_NOCTTY`, so a FIFO or a terminal planted in a captured tree cannot
    /// hang the open or the read; a file that reads empty, fails with EAGAIN or holds more than
    /// `limit` bytes is checked with `fstat` and refused by name when it is not a regular file
    /// (a FIFO, `/dev/zero`, a directory). A regular file costs open, read and close only.
    public static func readText(_ path: String, limit: Int = Limit.attribute) -> Result<String, ProbeError> {
        readText(at: AT_FDCWD, path, path: path, limit: limit)
    }

    /// `readText` for a name inside an open directory (`openat`): one path component for the
    /// kernel to walk instead of the whole `…/bus/pci/devices/<BDF>` link chain each time.
    /// `path` (for the error) is only built when there is an error to name.
    public static func readText(
        at directory: Int32, _ name: String, path: @autoclosure () -> String,
        limit: Int = Limit.attribute
    ) -> Result<String, ProbeError> {
        let fd = openat(directory, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            // open(2) of a Unix socket fails with ENXIO: say what the path is.
            if e == ENXIO, let kind = nonRegularKind(at: directory, name) { return .failure(notRegular(path(), kind)) }
            return .failure(ProbeError.unreadable(path(), errno: e))
        }
        return readAttribute(fd, path: path(), limit: limit)
    }

    /// Reads `fd` (a sysfs attribute: a short read is the end of it) and closes it.
    private static func readAttribute(_ fd: Int32, path: @autoclosure () -> String, limit: Int) -> Result<String, ProbeError> {
        defer { close(fd) }
        // Attributes are small: read into a stack buffer one byte larger than the limit, so one
        // read(2) both returns the value and shows whether there is more. A read that returns
        // less than it was asked for is at end of file (sysfs `show()` returns the whole value
        // at once; regular files return short only at EOF): no extra read that returns 0.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: limit + 1) { buf -> Result<String, ProbeError> in
            var used = 0
            while used <= limit {
                let want = limit + 1 - used
                let n = read(fd, buf.baseAddress! + used, want)
                if n < 0 {
                    let e = errno
                    if e == EINTR { continue }
                    // EAGAIN: a FIFO with a writer, a terminal; EISDIR: a directory.
                    if let kind = nonRegularKind(fd) { return .failure(notRegular(path(), kind)) }
                    return .failure(ProbeError.unreadable(path(), errno: e))
                }
                if n == 0 { break }
                used += n
                if n < want { break }
            }
            if used == 0 || used > limit, let kind = nonRegularKind(fd) {
                // A FIFO with no writer reads as end of file; /dev/zero never ends.
                return .failure(notRegular(path(), kind))
            }
            if used > limit {
                return .failure(ProbeError(.refused, path: path(), message: "over \(limit) bytes: not a sysfs attribute"))
            }
            var end = used
            while end > 0, buf[end - 1] == 0x0a || buf[end - 1] == 0x0d || buf[end - 1] == 0 { end -= 1 }
            return .success(String(decoding: UnsafeBufferPointer(rebasing: buf[0..<end]), as: UTF8.self))
        }
    }

    /// "a FIFO", "a directory", … when `fd` is not a regular file; nil when it is (or fstat fails).
    static func nonRegularKind(_ fd: Int32) -> String? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let type = st.st_mode & S_IFMT
        return type == S_IFREG ? nil : BoundedFile.kind(type)
    }

    /// `nonRegularKind` for a name in a directory (`fstatat`, following links).
    static func nonRegularKind(at directory: Int32, _ name: String) -> String? {
        var st = stat()
        guard fstatat(directory, name, &st, 0) == 0 else { return nil }
        let type = st.st_mode & S_IFMT
        return type == S_IFREG ? nil : BoundedFile.kind(type)
    }

    static func notRegular(_ path: String, _ kind: String) -> ProbeError {
        // A directory reads as EISDIR: "Is a directory (errno 21)" names it well enough.
        if kind == BoundedFile.kind(S_IFDIR) { return ProbeError.unreadable(path, errno: EISDIR) }
        return ProbeError(.notRegularFile(kind: kind), path: path)
    }

    /// Reads a whole procfs or `/etc` file (at most `limit` bytes) through `BoundedFile`:
    /// opened non-blocking, refused unless it is a regular file (procfs files are), read to end
    /// of file (procfs returns a table a few records per read), refused when larger than
    /// `limit` rather than cut short. Trailing line ends and NULs are dropped. For procfs
    /// tables (`mountinfo`, `net/ipv6_route`) and `cmdline` (NUL-separated).
    public static func readWhole(_ path: String, limit: Int = Limit.procTable) -> Result<[UInt8], ProbeError> {
        do {
            var out = try BoundedFile.read(path, limit: limit)
            while let last = out.last, last == 0x0a || last == 0x0d || last == 0 { out.removeLast() }
            return .success(out)
        } catch {
            return .failure(ProbeError.attribute(error))
        }
    }

    /// `readWhole` as text (invalid UTF-8 replaced), for procfs and `/etc` files.
    public static func readWholeText(_ path: String, limit: Int = Limit.small) -> Result<String, ProbeError> {
        readWhole(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Text of a procfs or `/etc` file, or nil when it cannot be read.
    public static func procText(_ path: String, limit: Int = Limit.small) -> String? {
        if case .success(let s) = readWholeText(path, limit: limit) { return s }
        return nil
    }

    /// Text of an optional sysfs attribute: nil when it does not exist; a file that exists
    /// and cannot be read (a FIFO, a directory, over a page, EACCES) is named in a warning.
    static func text(_ path: String, address: String? = nil, warnings: inout [ProbeWarning]) -> String? {
        switch readText(path) {
        case .success(let s): return s
        case .failure(let e):
            if e.errno != ENOENT { warnings.append(ProbeWarning(address: address, path: path, message: e.description)) }
            return nil
        }
    }

    /// Text of a sysfs attribute, or nil when it cannot be read.
    public static func text(_ path: String) -> String? {
        if case .success(let s) = readText(path) { return s }
        return nil
    }

    /// The target of a symbolic link (not resolved: a dangling link in a capture still names
    /// its target), or nil.
    public static func linkTarget(_ path: String) -> String? { linkTarget(at: AT_FDCWD, path) }

    /// `linkTarget` for a name inside an open directory (`readlinkat`), read into a stack buffer.
    public static func linkTarget(at directory: Int32, _ name: String) -> String? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buf in
            let n = buf.withMemoryRebound(to: CChar.self) { readlinkat(directory, name, $0.baseAddress!, $0.count) }
            guard n > 0, n < buf.count else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: buf[..<n]), as: UTF8.self)
        }
    }

    /// Names in a directory, or nil when it cannot be opened. Dot-files are skipped: sysfs has
    /// none, and recorded trees carry `.gitkeep` placeholders.
    public static func list(_ path: String) -> [String]? { list(at: AT_FDCWD, path) }

    /// Names in an open directory that has not been read yet (it is read to its end and stays
    /// open), dot-files skipped.
    public static func list(directory: Int32) -> [String]? { list(at: directory, nil) }

    /// Names in `name` relative to the open directory `fd`: openat and getdents64 through the
    /// shim (no DIR stream: fdopendir's dup, fstat and fcntl calls were a tenth of a
    /// 10,000-function scan's system calls).
    public static func list(at fd: Int32, _ name: String?) -> [String]? {
        var capacity = 8192
        while true {
            let names: [String]?? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { b in
                let n = hwl_list_names(fd, name, b.baseAddress, capacity)
                if n < 0 { return errno == ERANGE && capacity < 1 << 26 ? .some(nil) : .none }
                var names: [String] = []
                var start = 0
                for i in 0..<Int(n) where b[i] == 0 {
                    names.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
                    start = i + 1
                }
                return .some(names)
            }
            switch names {
            case .none: return nil
            case .some(.none): capacity *= 8
            case .some(.some(let list)): return list
            }
        }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `realpath(3)`; nil when any component is missing.
    public static func resolve(_ path: String) -> String? {
        guard let r = realpath(path, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }
}

extension ProbeError {
    /// A read that failed with `errno` (for a directory, `EISDIR`: what read(2) says of one).
    static func unreadable(_ path: String, errno e: Int32) -> ProbeError {
        ProbeError(.systemCall("read"), path: path, cause: .errno(e))
    }

    /// A `BoundedFile` error as the sysfs readers report it: a directory is "Is a directory",
    /// the same words as every other reader gives, not "not a regular file".
    static func attribute(_ f: ProbeError) -> ProbeError {
        if case .notRegularFile(let kind) = f.code, kind == BoundedFile.kind(S_IFDIR) { return unreadable(f.path, errno: EISDIR) }
        return f
    }
}
