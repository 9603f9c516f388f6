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

    public static let system = SysfsRoot("/sys")

    /// Why a read failed, for warnings that name the file.
    public struct ReadError: Error, Sendable, CustomStringConvertible {
        public let path: String
        public let errno: Int32
        public var description: String {
            "cannot read \(path): \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }

    /// Reads a file (at most `limit` bytes; attributes are small) as UTF-8 text, without the
    /// trailing newline.
    public static func readText(_ path: String, limit: Int = 65536) -> Result<String, ReadError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(ReadError(path: path, errno: errno)) }
        return readAll(fd, path: path, limit: limit)
    }

    /// `readText` for a name inside an open directory (`openat`): one path component for the
    /// kernel to walk instead of the whole `…/bus/pci/devices/<BDF>` link chain each time.
    public static func readText(at directory: Int32, _ name: String, path: String, limit: Int = 65536) -> Result<String, ReadError> {
        let fd = openat(directory, name, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(ReadError(path: path, errno: errno)) }
        return readAll(fd, path: path, limit: limit)
    }

    /// Reads `fd` to the end (at most `limit` bytes) and closes it.
    private static func readAll(_ fd: Int32, path: String, limit: Int) -> Result<String, ReadError> {
        defer { close(fd) }
        // Attributes are small: one read into a stack buffer. A read that returns less than it
        // was asked for is at end of file (sysfs `show()` returns the whole value at once;
        // regular files return short only at EOF), so the usual extra read that returns 0 is
        // skipped: a third of the syscalls of a scan.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { chunk -> Result<String, ReadError> in
            var out = [UInt8]()
            while true {
                let n = read(fd, chunk.baseAddress, chunk.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    return .failure(ReadError(path: path, errno: errno))
                }
                if n == 0 { break }
                if out.isEmpty && n < chunk.count {
                    var end = n
                    while end > 0, chunk[end - 1] == 0x0a || chunk[end - 1] == 0 { end -= 1 }
                    return .success(String(decoding: UnsafeBufferPointer(rebasing: chunk[0..<end]), as: UTF8.self))
                }
                out.append(contentsOf: chunk[0..<n])
                if out.count >= limit || n < chunk.count { break }
            }
            while let last = out.last, last == 0x0a || last == 0 { out.removeLast() }
            return .success(String(decoding: out, as: UTF8.self))
        }
    }

    /// Reads a whole file, calling read(2) until it returns 0 (at most `limit` bytes), without
    /// trailing newlines or NULs. For procfs tables that can be large (`mountinfo` on a
    /// container host, `net/ipv6_route`) and for `cmdline` (NUL-separated).
    public static func readWhole(_ path: String, limit: Int = 16 << 20) -> Result<[UInt8], ReadError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(ReadError(path: path, errno: errno)) }
        defer { close(fd) }
        var out = [UInt8]()
        let failure: ReadError? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65536) { chunk in
            while out.count < limit {
                let n = read(fd, chunk.baseAddress, min(chunk.count, limit - out.count))
                if n < 0 {
                    if errno == EINTR { continue }
                    return ReadError(path: path, errno: errno)
                }
                if n == 0 { break }
                out.append(contentsOf: chunk[0..<n])
            }
            return nil
        }
        if let failure { return .failure(failure) }
        while let last = out.last, last == 0x0a || last == 0 { out.removeLast() }
        return .success(out)
    }

    /// Text of a file, or nil when it cannot be read.
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
