import Foundation
import Glibc
import HWLabelProbe

/// Writes a file so that readers see the old content or the new, never a part: a temporary
/// file in the same directory, fsync, rename over the target, fsync the directory.
public enum AtomicFile {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let path: String
        public let step: String
        public let errno: Int32
        public var description: String {
            "cannot write \(path): \(step): \(ErrnoText.describe(errno))"
        }
    }

    /// The temporary file is `.<name>.tmp.XXXXXX` (tools such as NFD ignore dot-files).
    /// A target that exists and is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO) is
    /// written in place: renaming over it would replace a device node with a file.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(Failure) {
        try write(to: path, mode: mode) { put in bytes.withUnsafeBytes(put) }
    }

    /// As `write(_:to:mode:)`, with the content handed over in pieces by `produce` (through a
    /// 64 KiB buffer; large pieces go straight to the file), so a large document need not be
    /// joined into one array first. The file appears, whole, only after `produce` returns.
    public static func write(
        to path: String, mode: mode_t = 0o644,
        _ produce: ((UnsafeRawBufferPointer) -> Void) -> Void
    ) throws(Failure) {
        try write(to: path, mode: mode, produce, amend: { _ in 0 })
    }

    /// As `write(to:mode:_:)`, and `amend` is handed the descriptor once every piece is
    /// written, before the file is synced and renamed into place: to write over (`pwrite`)
    /// bytes whose value is known only at the end, such as a digest that precedes the content
    /// it covers. It returns 0 or an errno (a failure is step `amend`). The content starts at
    /// offset 0 of the new file; a target that is not a regular file is written in place and
    /// amended there, which a FIFO refuses (ESPIPE).
    public static func write(
        to path: String, mode: mode_t = 0o644,
        _ produce: ((UnsafeRawBufferPointer) -> Void) -> Void,
        amend: (Int32) -> Int32
    ) throws(Failure) {
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Failure(path: path, step: "open", errno: errno) }
            defer { close(fd) }
            try stream(fd, path: path, produce)
            let e = amend(fd)
            if e != 0 { throw Failure(path: path, step: "amend", errno: e) }
            return
        }
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array((dir + "/." + base + ".tmp.XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw Failure(path: path, step: "create temporary file", errno: errno) }
        let tmp = String(cString: template)
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do { try stream(fd, path: path, produce) } catch {
            close(fd)
            throw error
        }
        let e = amend(fd)
        if e != 0 {
            close(fd)
            throw Failure(path: path, step: "amend", errno: e)
        }
        if fchmod(fd, mode) != 0 || fsync(fd) != 0 {
            let e = errno
            close(fd)
            throw Failure(path: path, step: "fsync", errno: e)
        }
        close(fd)
        guard rename(tmp, path) == 0 else { throw Failure(path: path, step: "rename", errno: errno) }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// Writes what `produce` hands over to an open descriptor through a 64 KiB buffer; the
    /// first failed write is thrown once `produce` returns (later pieces are dropped).
    public static func stream(_ fd: Int32, path: String, _ produce: ((UnsafeRawBufferPointer) -> Void) -> Void) throws(Failure) {
        let capacity = 1 << 16
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var used = 0
        var failure: Failure?
        func flush() {
            if failure == nil, used > 0 {
                do throws(Failure) { try writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[..<used]), path: path) } catch {
                    failure = error
                }
            }
            used = 0
        }
        produce { piece in
            guard failure == nil else { return }
            if used + piece.count > capacity { flush() }
            if piece.count >= capacity {
                do throws(Failure) { try writeAll(fd, piece, path: path) } catch { failure = error }
            } else if piece.count > 0 {
                (buffer.baseAddress! + used).copyMemory(from: piece.baseAddress!, byteCount: piece.count)
                used += piece.count
            }
        }
        flush()
        if let failure { throw failure }
    }

    /// `mkdir -p` with a mode for the directories created.
    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(Failure) {
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { return }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectory(String(path[..<slash]), mode: mode)
        }
        if mkdir(path, mode) != 0, errno != EEXIST { throw Failure(path: path, step: "mkdir", errno: errno) }
    }

    /// Writes every byte to an open descriptor, retrying short writes and EINTR.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(Failure) {
        let failure: Failure? = bytes.withUnsafeBytes { b in
            do throws(Failure) { try writeAll(fd, b, path: path) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(Failure) {
        var written = 0
        while written < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, step: "write", errno: errno)
            }
            written += n
        }
    }
}

extension AtomicFile {
    /// Without `mode`, the file gets what `open(O_CREAT, 0666)` would give it: 0666 less the
    /// process umask (the unit's `UMask=0027` makes it 0640). The writer sets the mode with
    /// `fchmod`, which the umask does not filter, so the umask is applied here.
    public static func write(_ data: Data, to path: String, mode: mode_t? = nil) throws(AtomicFile.Failure) {
        try write([UInt8](data), to: path, mode: mode ?? FileCreationMode.regular())
    }
}
