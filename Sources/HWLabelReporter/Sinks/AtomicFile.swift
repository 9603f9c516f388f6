import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file system failure, naming the path and errno.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var operation: String
    public var errno: Int32
    public var description: String {
        "cannot \(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Whole-file replacement that never leaves a torn file: write a temporary file in the same
/// directory, fsync it, rename it over the target, fsync the directory. A reader (or a crash,
/// or SIGTERM) sees either the old content or the new, never a mix.
public enum AtomicFile {
    /// - Parameter tempName: the temporary file's name in the same directory; defaults to
    ///   `.<name>.tmp` (a dot-file, so directory scanners such as NFD ignore it).
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644, tempName: String? = nil) throws(FileError) {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/" + (tempName ?? "." + url.lastPathComponent + ".tmp")
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileError(path: tmp, operation: "create", errno: errno) }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        do {
            defer { close(fd) }
            let written: Int = data.withUnsafeBytes { buf in
                var off = 0
                while off < buf.count {
                    let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                    if n < 0 { if errno == EINTR { continue }; return -1 }
                    off += n
                }
                return off
            }
            guard written == data.count else { throw FileError(path: tmp, operation: "write", errno: errno) }
            guard fsync(fd) == 0 else { throw FileError(path: tmp, operation: "fsync", errno: errno) }
            // fchmod: O_CREAT's mode is filtered by the umask.
            _ = fchmod(fd, mode)
        }
        guard rename(tmp, path) == 0 else { throw FileError(path: path, operation: "rename \(tmp) to", errno: errno) }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// `mkdir -p` with a mode.
    public static func makeDirectory(_ path: String, mode: Int = 0o755) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: mode])
    }
}
