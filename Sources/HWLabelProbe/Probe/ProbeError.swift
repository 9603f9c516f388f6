/// Every error the probe throws or returns: a file that cannot be read, a sysfs root or dump
/// that is not one, a libpci or libudev call that failed, a malformed sysfs value.
///
/// `code` says what kind of failure it is (callers decide on it: the CLI exits 3 for any
/// `ProbeError` from `Probe.snapshot`), `path` names the file or device, and `cause` holds the
/// errno of the failed system call or the error underneath. `description` is the message users
/// see, e.g. `cannot read /etc/hwlabel/labels.conf: Permission denied (errno 13)`.
///
/// Warnings (a fact that could not be read while the scan goes on) are `ProbeWarning` values in
/// the snapshot, not errors.
public struct ProbeError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// `<root>/bus/pci/devices` does not exist: the path is not a sysfs root.
        case sysfsRootMissing
        /// An lspci dump cannot be read or copied for libpci (`cause`: the file error).
        case dumpUnreadable
        /// libpci refused an access method, a scan or a fill (`message`: libpci's words).
        case libpci
        /// libudev could not enumerate PCI devices.
        case enumeration
        /// libudev could not start the uevent monitor.
        case monitor
        /// The path exists and is not a regular file; `kind` is "a FIFO", "a directory", …
        case notRegularFile(kind: String)
        /// Larger than `limit`. `size` is what `fstat` said or, for a file that grew while it was
        /// read, the bytes read (then the file holds at least that much).
        case tooLarge(size: Int64, limit: Int)
        /// A system call failed: `cause` is its errno.
        case systemCall(String)
        /// The bytes are not UTF-8 text.
        case notUTF8
        /// The file was refused for what it holds (`message` says why, e.g. a sysfs attribute
        /// over a page).
        case refused
        /// A value does not parse (`message` says where and what was expected).
        case malformed
    }

    public indirect enum Cause: Sendable, Hashable {
        /// The errno of the failed system call, formatted by `ErrnoText`.
        case errno(Int32)
        /// The error underneath (a dump's file error).
        case error(ProbeError)
    }

    public var code: Code
    /// The file or device the error is about; empty when there is none (libudev's context).
    public var path: String
    /// What went wrong beyond the code, without the path (libpci's message, why a file was
    /// refused, where a value does not parse); may be empty.
    public var message: String
    public var cause: Cause?

    public init(_ code: Code, path: String = "", message: String = "", cause: Cause? = nil) {
        self.code = code
        self.path = path
        self.message = message
        self.cause = cause
    }

    /// The errno of a failed system call, else nil.
    public var errno: Int32? {
        if case .errno(let e)? = cause { return e }
        return nil
    }

    /// The file exists and is not what was expected (not a regular file, too large, not text):
    /// it was refused, not missing or unreadable.
    public var refused: Bool {
        switch code {
        case .notRegularFile, .tooLarge, .notUTF8, .refused: true
        default: false
        }
    }

    /// What went wrong, without the path: `Permission denied (errno 13)`,
    /// `it is a FIFO, not a regular file`.
    public var reasonText: String {
        switch code {
        case .notRegularFile(let kind):
            return "it is \(kind), not a regular file"
        case .tooLarge(let size, let limit):
            return "\(size) bytes is over the limit of \(limit) bytes (\(BoundedFile.human(limit)))"
        case .notUTF8:
            return "not UTF-8 text"
        default:
            switch cause {
            case .errno(let e)?: return message.isEmpty ? ErrnoText.describe(e) : "\(message): \(ErrnoText.describe(e))"
            case .error(let inner)?: return inner.reasonText
            case nil: return message
            }
        }
    }

    public var description: String {
        switch code {
        case .sysfsRootMissing: "no PCI devices directory at \(path): not a sysfs root"
        case .dumpUnreadable: "cannot read lspci dump \(path): \(reasonText)"
        case .libpci: "libpci: \(reasonText)"
        case .enumeration: "cannot enumerate PCI devices: \(reasonText)"
        case .monitor, .malformed: reasonText
        case .notRegularFile, .tooLarge, .systemCall, .notUTF8, .refused: "cannot read \(path): \(reasonText)"
        }
    }
}

extension ProbeError {
    public static func sysfsRootMissing(_ path: String) -> ProbeError { ProbeError(.sysfsRootMissing, path: path) }
    public static func dumpUnreadable(_ path: String, _ cause: ProbeError) -> ProbeError {
        ProbeError(.dumpUnreadable, path: path, cause: .error(cause))
    }
    public static func dumpUnreadable(_ path: String, _ why: String) -> ProbeError {
        ProbeError(.dumpUnreadable, path: path, message: why)
    }
    public static func libpci(_ message: String) -> ProbeError { ProbeError(.libpci, message: message) }
    public static func enumeration(_ message: String) -> ProbeError { ProbeError(.enumeration, message: message) }
}
