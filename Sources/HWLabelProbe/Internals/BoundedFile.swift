import Glibc

/// The one way hwlabel reads a whole file that someone else may have written: config files,
/// label files, token files, the agent's state. A read never blocks and never allocates more
/// than its limit:
///
/// - the file is opened with `O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC`, so a FIFO with no
///   writer, or a terminal, does not block the `open(2)`;
/// - `fstat(2)` on that descriptor refuses anything that is not a regular file (a FIFO, a
///   directory, `/dev/zero`, a socket) with a message naming the file and what it is;
/// - a file whose size is over the limit is refused before it is read, and at most `limit + 1`
///   bytes are ever read (a file can grow while it is read: one byte over is enough to know);
/// - errors are typed and name the file:
///   `cannot read /etc/hwlabel/labels.conf: Permission denied (errno 13)`.
///
/// `/proc` and sysfs files report a size of 0 or 4096 whatever they hold, so the size is used
/// only to refuse early and to size the buffer; the read itself runs to end of file.
public enum BoundedFile {
    /// Limits per kind of file, in bytes.
    public enum Limit {
        /// `labels.conf`: 16 MiB (about 400,000 rules).
        public static let labels = 16 << 20
        /// `policy.conf`, `agent.conf`: 1 MiB.
        public static let config = 1 << 20
        /// A bearer or Keystone token file: 64 KiB (Keystone's Fernet tokens are < 300 bytes,
        /// PKI tokens a few KiB).
        public static let token = 64 << 10
        /// Small state files (`identity.json`, `/etc/machine-id`, `boot_id`): 64 KiB.
        public static let small = 64 << 10
        /// `status.json`: 4 MiB (it holds 20 recent errors and one line per sink).
        public static let status = 4 << 20
        /// A saved report (`state.json`, outbox entries): 256 MiB, several times the report of
        /// a host with 10,000 SR-IOV functions.
        public static let report = 256 << 20
    }

    /// A file that could not be read: a `ProbeError` whose `description` names the file
    /// (`cannot read /etc/hwlabel/labels.conf: Permission denied (errno 13)`).
    public typealias Failure = ProbeError

    /// Why a file was not read, as the readers below decide it.
    public enum Reason: Sendable, Hashable {
        /// The path is not a regular file; `kind` is "a FIFO", "a directory", …
        case notRegularFile(kind: String)
        /// Larger than the limit. `size` is what `fstat` said or, for a file that grew while
        /// it was read, the bytes read (then the file holds at least that much).
        case tooLarge(size: Int64, limit: Int)
        /// A system call failed.
        case system(call: String, errno: Int32)
        /// The bytes are not UTF-8 text (only from the `readText` functions).
        case notUTF8
    }

    /// The whole file, at most `limit` bytes.
    public static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        guard let bytes = try read(path, limit: limit, missingIsNil: false) else {
            throw Failure(path: path, reason: .system(call: "open", errno: ENOENT))
        }
        return bytes
    }

    /// The whole file, or nil when it does not exist (`ENOENT`; a dangling symlink too).
    public static func readIfPresent(_ path: String, limit: Int) throws(Failure) -> [UInt8]? {
        try read(path, limit: limit, missingIsNil: true)
    }

    /// The whole file as strictly validated UTF-8 text.
    public static func readText(_ path: String, limit: Int) throws(Failure) -> String {
        try text(read(path, limit: limit), path: path)
    }

    /// As `readText`, nil when the file does not exist.
    public static func readTextIfPresent(_ path: String, limit: Int) throws(Failure) -> String? {
        guard let bytes = try readIfPresent(path, limit: limit) else { return nil }
        return try text(bytes, path: path)
    }

    /// Refuses (without opening it) a path that exists and is not a regular file: for a file
    /// about to be replaced, where writing in place into a FIFO would block forever.
    public static func requireRegularOrAbsent(_ path: String) throws(Failure) {
        var st = stat()
        if lstat(path, &st) != 0 {
            if Glibc.errno == ENOENT { return }
            throw Failure(path: path, reason: .system(call: "lstat", errno: Glibc.errno))
        }
        let type = st.st_mode & S_IFMT
        if type != S_IFREG && type != S_IFLNK { throw Failure(path: path, reason: .notRegularFile(kind: kind(type))) }
        if type == S_IFLNK, stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
            throw Failure(path: path, reason: .notRegularFile(kind: kind(st.st_mode & S_IFMT)))
        }
    }

    static func text(_ bytes: [UInt8], path: String) throws(Failure) -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw Failure(path: path, reason: .notUTF8) }
        return s
    }

    static func read(_ path: String, limit: Int, missingIsNil: Bool) throws(Failure) -> [UInt8]? {
        precondition(limit >= 0 && limit < Int.max)
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) } while fd < 0 && Glibc.errno == EINTR
        if fd < 0 {
            let e = Glibc.errno
            if e == ENOENT && missingIsNil { return nil }
            // open(2) of a Unix socket fails with ENXIO: say what the path is.
            var st = stat()
            if e == ENXIO, stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
                throw Failure(path: path, reason: .notRegularFile(kind: kind(st.st_mode & S_IFMT)))
            }
            throw Failure(path: path, reason: .system(call: "open", errno: e))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure(path: path, reason: .system(call: "fstat", errno: Glibc.errno)) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw Failure(path: path, reason: .notRegularFile(kind: kind(st.st_mode & S_IFMT)))
        }
        if st.st_size > Int64(limit) { throw Failure(path: path, reason: .tooLarge(size: Int64(st.st_size), limit: limit)) }
        // Room for what fstat says plus one byte, so end of file (or growth) shows at once;
        // grown in steps, never past limit + 1.
        var capacity = min(max(Int(st.st_size), 0), limit) + 1
        var bytes = [UInt8](repeating: 0, count: capacity)
        var used = 0
        while true {
            if used == capacity {
                guard capacity <= limit else { break }
                capacity = min(limit + 1, max(capacity * 2, 4096))
                bytes.append(contentsOf: repeatElement(0, count: capacity - bytes.count))
            }
            let n = bytes.withUnsafeMutableBytes { buf in
                Glibc.read(fd, buf.baseAddress! + used, capacity - used)
            }
            if n < 0 {
                let e = Glibc.errno
                if e == EINTR { continue }
                throw Failure(path: path, reason: .system(call: "read", errno: e))
            }
            if n == 0 { break }
            used += n
        }
        if used > limit { throw Failure(path: path, reason: .tooLarge(size: Int64(used), limit: limit)) }
        bytes.removeSubrange(used...)
        return bytes
    }

    /// "a FIFO", "a directory", … for a `st_mode & S_IFMT`.
    public static func kind(_ type: mode_t) -> String {
        switch type {
        case S_IFIFO: "a FIFO"
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "a file of type 0o\(String(type, radix: 8))"
        }
    }

    /// `16 MiB`, `64 KiB`, `100 bytes`.
    static func human(_ n: Int) -> String {
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) bytes"
    }
}

extension ProbeError {
    /// A file error from a `BoundedFile.Reason`.
    public init(path: String, reason: BoundedFile.Reason) {
        switch reason {
        case .notRegularFile(let kind): self.init(.notRegularFile(kind: kind), path: path)
        case .tooLarge(let size, let limit): self.init(.tooLarge(size: size, limit: limit), path: path)
        case .system(let call, let e): self.init(.systemCall(call), path: path, cause: .errno(e))
        case .notUTF8: self.init(.notUTF8, path: path)
        }
    }

    /// The `BoundedFile.Reason` of a file error; nil for the probe's other errors.
    public var reason: BoundedFile.Reason? {
        switch code {
        case .notRegularFile(let kind): .notRegularFile(kind: kind)
        case .tooLarge(let size, let limit): .tooLarge(size: size, limit: limit)
        case .systemCall(let call): errno.map { .system(call: call, errno: $0) }
        case .notUTF8: .notUTF8
        default: nil
        }
    }
}
