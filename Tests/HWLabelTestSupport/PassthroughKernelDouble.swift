import Foundation
import Glibc
import HWLabelProbe
import HWLabelService

/// A `PassthroughHost` over a `TreeBuilder` tree that reacts to writes as the kernel documents
/// (Documentation/ABI/testing/sysfs-bus-pci, drivers/base/bus.c, drivers/pci/pci-driver.c):
///
/// - `driver_override`: stored (the attribute shows `(null)` when cleared by a newline);
/// - `drivers/<d>/unbind`: removes the `driver` link when the device is bound to `d`, else ENODEV;
/// - `drivers_probe`: a bound device stays as it is; an unbound one is bound to its override
///   driver if that driver is registered (its directory exists), else — with no override — to
///   its native driver if registered, else to nothing (the write still succeeds);
/// - `drivers/<d>/bind`: EBUSY when bound, ENODEV when `d` does not match (another override,
///   or not its native driver);
/// - a module load registers the driver the module provides.
///
/// Injectable failures: EBUSY on unbind, a driver whose probe fails (the device stays unbound),
/// a bind that shows in the `driver` link only after a delay on the double's clock. Every call
/// that changes something is logged, in order.
package final class PassthroughKernelDouble: PassthroughHost, @unchecked Sendable {
    package let tree: TreeBuilder
    private let lock = NSLock()
    private var _log: [PassthroughOperation] = []
    private var overrides: [String: String] = [:]
    /// The driver each function had when the double was made: what a native probe binds.
    package private(set) var native: [String: String] = [:]
    private var pending: [(address: String, driver: String, at: Double)] = []
    private var _now: Double = 0

    /// Module → the driver it registers.
    package var modules: [String: String] = ["vfio_pci": "vfio-pci", "mlx5_vfio_pci": "mlx5_vfio_pci"]
    /// Unbinding these addresses fails with EBUSY.
    package var busyUnbind: Set<String> = []
    /// Drivers whose probe fails: the device stays unbound.
    package var failingDrivers: Set<String> = []
    /// Seconds after `drivers_probe` before the bind shows, per address.
    package var bindDelay: [String: Double] = [:]

    package init(tree: TreeBuilder) {
        self.tree = tree
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tree.sysRoot + "/bus/pci/devices")) ?? [] {
            if let d = Self.readDriver(tree.sysRoot, name) { native[name] = d }
        }
    }

    package var log: [PassthroughOperation] { lock.withLock { _log } }
    package var now: Double { lock.withLock { _now } }
    package var clock: @Sendable () -> Double { { [self] in now } }
    package var sleep: @Sendable (Double) -> Void { { [self] s in lock.withLock { _now += s } } }

    package func write(_ attribute: String, _ value: String) throws(PassthroughHostError) {
        lock.lock()
        defer { lock.unlock() }
        _log.append(.write(attribute: attribute, value: value))
        let parts = attribute.split(separator: "/").map(String.init)
        let arg = value.hasSuffix("\n") ? String(value.dropLast()) : value
        func fail(_ e: Int32) -> PassthroughHostError { PassthroughHostError(operation: "write to /sys/\(attribute)", errno: e) }
        switch parts.count {
        case 5 where parts[0...2] == ["bus", "pci", "devices"] && parts[4] == "driver_override":
            let a = parts[3]
            if arg.isEmpty { overrides[a] = nil } else { overrides[a] = arg }
            do { try tree.attr(a, "driver_override", (arg.isEmpty ? "(null)" : arg) + "\n") } catch { throw fail(EIO) }
        case 3 where parts == ["bus", "pci", "drivers_probe"]:
            guard Self.readDriver(tree.sysRoot, arg) == nil else { return }
            guard let target = overrides[arg] ?? native[arg], hasDriverLocked(target), !failingDrivers.contains(target) else { return }
            if let d = bindDelay[arg], d > 0 {
                pending.append((arg, target, _now + d))
            } else {
                do { try tree.bindDriver(arg, target) } catch { throw fail(EIO) }
            }
        case 5 where parts[0...2] == ["bus", "pci", "drivers"] && parts[4] == "unbind":
            if busyUnbind.contains(arg) { throw fail(EBUSY) }
            guard Self.readDriver(tree.sysRoot, arg) == parts[3] else { throw fail(ENODEV) }
            do { try tree.unbindDriver(arg) } catch { throw fail(EIO) }
        case 5 where parts[0...2] == ["bus", "pci", "drivers"] && parts[4] == "bind":
            let d = parts[3]
            guard hasDriverLocked(d) else { throw fail(ENOENT) }
            guard Self.readDriver(tree.sysRoot, arg) == nil else { throw fail(EBUSY) }
            guard (overrides[arg] ?? native[arg]) == d, !failingDrivers.contains(d) else { throw fail(ENODEV) }
            do { try tree.bindDriver(arg, d) } catch { throw fail(EIO) }
        default:
            // new_id, remove_id, anything else: not part of the write path.
            throw fail(EACCES)
        }
    }

    package func loadModule(_ module: String) throws(PassthroughHostError) {
        lock.lock()
        defer { lock.unlock() }
        _log.append(.loadModule(module))
        guard let d = modules[module] else {
            throw PassthroughHostError(operation: "modprobe \(module)", detail: "FATAL: Module \(module) not found")
        }
        try? tree.mkdir("sys/bus/pci/drivers/" + d)
    }

    package func driver(of address: PCIAddress) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let a = address.description
        if let i = pending.firstIndex(where: { $0.address == a && $0.at <= _now }) {
            let p = pending.remove(at: i)
            try? tree.bindDriver(p.address, p.driver)
        }
        return Self.readDriver(tree.sysRoot, a)
    }

    package func hasDriver(_ driver: String) -> Bool {
        lock.withLock { hasDriverLocked(driver) }
    }

    private func hasDriverLocked(_ driver: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: tree.sysRoot + "/bus/pci/drivers/" + driver, isDirectory: &isDir) && isDir.boolValue
    }

    /// The `driver` link's last component, as the kernel shows it.
    package static func readDriver(_ sysRoot: String, _ address: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: sysRoot + "/bus/pci/devices/\(address)/driver"))
            .map { ($0 as NSString).lastPathComponent }
    }
}
