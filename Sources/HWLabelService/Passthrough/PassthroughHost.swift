import Foundation
import Glibc
import HWLabelProbe

/// A write to the host that failed, with the errno the kernel gave (EBUSY from `unbind`,
/// ENODEV from `bind`) or the reason a module did not load.
public struct PassthroughHostError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32?
    public var detail: String?
    public init(operation: String, errno: Int32? = nil, detail: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }
    public var description: String {
        operation + ": " + (errno.map { ErrnoText.describe($0) } ?? detail ?? "failed")
    }
}

/// The one seam through which `hwlabel passthrough` changes the host: sysfs attribute writes
/// and module loads, plus the reads that verify them. Paths are relative to the sysfs root
/// (`bus/pci/devices/0000:17:00.0/driver_override`).
public protocol PassthroughHost: Sendable {
    /// Writes `value` to an existing sysfs attribute (never creates a file).
    func write(_ attribute: String, _ value: String) throws(PassthroughHostError)
    /// Loads a kernel module by name (`modprobe vfio_pci`).
    func loadModule(_ module: String) throws(PassthroughHostError)
    /// The driver the function is bound to now (the `driver` link), nil when unbound.
    func driver(of address: PCIAddress) -> String?
    /// Whether `driver` is registered: `bus/pci/drivers/<driver>` exists.
    func hasDriver(_ driver: String) -> Bool
}

/// The host itself, under an injected sysfs root: writes with `open(2)` + `write(2)` (no
/// `O_CREAT`: a sysfs attribute that is missing is an error, not a file to make), modules with
/// `modprobe`.
public struct SysfsPassthroughHost: PassthroughHost {
    public var sysRoot: String
    public var modprobe: String

    public init(sysRoot: String, modprobe: String = "/sbin/modprobe") {
        self.sysRoot = sysRoot
        self.modprobe = modprobe
    }

    public func write(_ attribute: String, _ value: String) throws(PassthroughHostError) {
        let path = sysRoot + "/" + attribute
        let op = "write \(Self.shown(value)) to \(path)"
        var fd: Int32
        repeat { fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw PassthroughHostError(operation: op, errno: errno) }
        defer { close(fd) }
        // A sysfs store takes the whole value in one write(2); a short write is an error.
        let bytes = Array(value.utf8)
        var n: Int
        repeat { n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } } while n < 0 && errno == EINTR
        if n < 0 { throw PassthroughHostError(operation: op, errno: errno) }
        if n != bytes.count { throw PassthroughHostError(operation: op, detail: "short write (\(n) of \(bytes.count) bytes)") }
    }

    public func loadModule(_ module: String) throws(PassthroughHostError) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: modprobe)
        p.arguments = ["--", module]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch {
            throw PassthroughHostError(operation: "\(modprobe) \(module)", detail: "\(error)")
        }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            throw PassthroughHostError(
                operation: "\(modprobe) \(module)",
                detail: "exit \(p.terminationStatus)" + (text.isEmpty ? "" : ": " + text.split(separator: "\n").joined(separator: "; ")))
        }
    }

    public func driver(of address: PCIAddress) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(sysRoot + "/bus/pci/devices/\(address)/driver", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.split(separator: "/").last.map(String.init)
    }

    public func hasDriver(_ driver: String) -> Bool {
        var st = stat()
        return stat(sysRoot + "/bus/pci/drivers/" + driver, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    /// `"vfio-pci\n"` → `vfio-pci\n` as echo would be written in a shell line.
    static func shown(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}

/// The same seam for `--dry-run`: reads the host, writes nothing; every call that would
/// change the host is kept, in order, to be printed.
public final class DryRunPassthroughHost: PassthroughHost, @unchecked Sendable {
    let reader: PassthroughHost
    private let lock = NSLock()
    private var _operations: [PassthroughOperation] = []

    public init(reading reader: PassthroughHost) { self.reader = reader }

    public var operations: [PassthroughOperation] { lock.withLock { _operations } }

    public func write(_ attribute: String, _ value: String) throws(PassthroughHostError) {
        lock.withLock { _operations.append(.write(attribute: attribute, value: value)) }
    }
    public func loadModule(_ module: String) throws(PassthroughHostError) {
        lock.withLock { _operations.append(.loadModule(module)) }
    }
    public func driver(of address: PCIAddress) -> String? { reader.driver(of: address) }
    public func hasDriver(_ driver: String) -> Bool { reader.hasDriver(driver) }
}

/// One change to the host, as the executor asks for it.
public enum PassthroughOperation: Sendable, Hashable, CustomStringConvertible {
    case write(attribute: String, value: String)
    case loadModule(String)

    /// As a shell line an operator could run: `echo vfio-pci > /sys/bus/pci/devices/…/driver_override`.
    public var description: String {
        switch self {
        case .loadModule(let m): "modprobe \(m)"
        case .write(let a, let v): v == "\n" ? "echo > /sys/\(a)" : "echo \(v.hasSuffix("\n") ? String(v.dropLast()) : v) > /sys/\(a)"
        }
    }
}
