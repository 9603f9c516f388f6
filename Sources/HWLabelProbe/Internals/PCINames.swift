import Glibc
import Synchronization

/// Names from libpci's ID database (pci.ids) for a sysfs scan, loaded once on a thread of its
/// own while other work runs, then filled in one pass.
///
/// Loading and indexing pci.ids takes several milliseconds. Each scanning thread's libpci
/// handle used to load it on its first lookup, every thread at once at the start of the scan;
/// now one handle loads it beside the scan (or, for the CLI, beside argument parsing: `preload`)
/// and names are looked up once per distinct set of IDs.
public enum PCINames {
    private static let pending = Mutex<Loader?>(nil)

    /// Starts loading the database now, for the next sysfs scan of this process to take.
    public static func preload() {
        pending.withLock { if $0 == nil { $0 = Loader() } }
    }

    /// The loader `preload` started, else a new one (started now). The caller owns it.
    static func loader() -> Loader {
        pending.withLock { p in
            defer { p = nil }
            return p ?? Loader()
        }
    }

    /// Fills `names` of every function, looking up each distinct set of IDs once and sharing
    /// its value (one box) between the functions that have it. A sysfs scan passes the loaded
    /// handle of `loader()`; a dump, its own libpci handle.
    static func fill(_ functions: inout [PCIFunction], from pci: LibPCI) {
        var byKey: [NameKey: Boxed<Names>] = [:]
        var keys: [NameKey?] = []
        keys.reserveCapacity(functions.count)
        // By index, reading fields in place: a `for f in functions` copies every function.
        for i in functions.indices {
            guard let key = NameKey(functions[i]) else {
                keys.append(nil)
                continue
            }
            keys.append(key)
            if byKey[key] == nil {
                var names = functions[i].names
                key.lookUp(into: &names, pci)
                byKey[key] = Boxed(wrappedValue: names)
            }
        }
        for i in functions.indices {
            if let key = keys[i], let names = byKey[key] { functions[i].$names = names }
        }
    }

    /// The IDs a function's names depend on (nil when one is not hex: it is then left unnamed).
    struct NameKey: Hashable {
        var vendor: UInt16, device: UInt16, classCode: UInt16, progIf: UInt8
        /// Both subsystem IDs, or neither.
        var subsystemVendor: UInt16?, subsystemDevice: UInt16?

        init?(_ f: borrowing PCIFunction) {
            guard let v = UInt16(f.vendor, radix: 16), let d = UInt16(f.device, radix: 16),
                let c = UInt16(f.classCode.baseAndSub, radix: 16), let p = UInt8(f.classCode.progIf, radix: 16)
            else { return nil }
            vendor = v
            device = d
            classCode = c
            progIf = p
            if let svs = f.subsystemVendor, let sds = f.subsystemDevice, let sv = UInt16(svs, radix: 16),
                let sd = UInt16(sds, radix: 16)
            {
                subsystemVendor = sv
                subsystemDevice = sd
            }
        }

        func lookUp(into names: inout Names, _ pci: LibPCI) {
            names.vendor = pci.vendorName(vendor)
            names.device = pci.deviceName(vendor, device)
            names.class = pci.className(classCode)
            names.progIf = pci.progIfName(classCode, progIf)
            if let sv = subsystemVendor, let sd = subsystemDevice {
                names.subsystemVendor = pci.vendorName(sv)
                names.subsystem = pci.subsystemName(vendor, device, sv, sd)
            }
        }
    }

    /// A libpci handle whose ID database is being loaded on a thread of its own.
    final class Loader: @unchecked Sendable {
        private var thread: pthread_t?
        // Written by the loading thread before it ends; read after `pthread_join`.
        private var handle: LibPCI?
        private var loadWarnings: [String] = []

        init() {
            var t = pthread_t()
            let me = Unmanaged.passRetained(self)
            let rc = pthread_create(
                &t, nil,
                { context in
                    let loader = Unmanaged<Loader>.fromOpaque(context!).takeRetainedValue()
                    (loader.handle, loader.loadWarnings) = Loader.load()
                    return nil
                }, me.toOpaque())
            if rc == 0 {
                thread = t
            } else {
                me.release()
                (handle, loadWarnings) = Self.load()
            }
        }

        deinit { if let thread { pthread_join(thread, nil) } }

        /// A names-only handle (no device is read through it) with the database loaded: the
        /// first lookup loads all of pci.ids. Nil when libpci cannot be set up. libpci's
        /// warnings while loading (a damaged ID file) are taken on the thread that made them.
        private static func load() -> (LibPCI?, [String]) {
            guard let pci = try? LibPCI(.sysfs(busPCIPath: "/sys/bus/pci")) else { return (nil, []) }
            _ = pci.vendorName(0xffff)
            return (pci, pci.takeWarnings())
        }

        /// The handle, once loaded, and what libpci warned while loading it; the caller is then
        /// the handle's only user.
        func wait() -> (pci: LibPCI?, warnings: [String]) {
            if let t = thread {
                pthread_join(t, nil)
                thread = nil
            }
            return (handle, loadWarnings)
        }
    }
}
