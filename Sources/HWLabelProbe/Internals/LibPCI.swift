import CHWLabelShim
import Glibc

/// Every libpci call goes through this file: return codes are checked here, libpci's errors
/// become `ProbeError`s (code `.libpci`), access objects are freed here, and only this file
/// reads the fields of a `pci_dev`.
///
/// libpci access objects are not thread-safe; a `LibPCI` value has one owner (the probe's scan
/// loop) and is never shared across threads.
final class LibPCI {
    enum Method {
        case sysfs(busPCIPath: String)
        case dump(file: String)
    }

    private(set) var access: UnsafeMutablePointer<pci_access>
    private let method: Method
    private var nameCache: [UInt64: String?] = [:]
    private let configBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 4096)

    init(_ method: Method) throws(ProbeError) {
        self.method = method
        access = try LibPCI.open(method)
    }

    deinit {
        hwl_pci_close(access)
        configBuffer.deallocate()
    }

    private static func open(_ method: Method) throws(ProbeError) -> UnsafeMutablePointer<pci_access> {
        var err = [CChar](repeating: 0, count: 512)
        let a: UnsafeMutablePointer<pci_access>?
        switch method {
        case .sysfs(let path):
            a = hwl_pci_open(UInt32(PCI_ACCESS_SYS_BUS_PCI.rawValue), "sysfs.path", path, &err, err.count)
        case .dump(let file):
            a = hwl_pci_open(UInt32(PCI_ACCESS_DUMP.rawValue), "dump.name", file, &err, err.count)
        }
        guard let a else { throw .libpci(String(cString: err)) }
        return a
    }

    /// After libpci longjmp'ed out of a call, its access object may be inconsistent: discard it
    /// and start a fresh one for the rest of the scan.
    /// The old object is closed only once the new one is open, so `access` always points at a
    /// live object.
    func reopen() throws(ProbeError) {
        let fresh = try LibPCI.open(method)
        hwl_pci_close(access)
        access = fresh
        nameCache.removeAll(keepingCapacity: true)
    }

    /// pci_scan_bus(): the dump method lists devices from the file.
    func scan() throws(ProbeError) -> [UnsafeMutablePointer<pci_dev>] {
        var err = [CChar](repeating: 0, count: 512)
        guard hwl_pci_scan(access, &err, err.count) == 0 else { throw .libpci(String(cString: err)) }
        var out: [UnsafeMutablePointer<pci_dev>] = []
        var d = access.pointee.devices
        while let dev = d {
            out.append(dev)
            d = dev.pointee.next
        }
        return out
    }

    /// pci_get_dev(): one function by address, without a bus scan (so one bad entry elsewhere
    /// in `devices/` cannot abort the others).
    func device(_ a: PCIAddress) -> UnsafeMutablePointer<pci_dev>? {
        pci_get_dev(access, Int32(bitPattern: a.domain), Int32(a.bus), Int32(a.device), Int32(a.function))
    }

    func free(_ d: UnsafeMutablePointer<pci_dev>) { pci_free_dev(d) }

    // MARK: fields of a filled `pci_dev` (only this file reads the struct)

    /// The device's address as libpci parsed it (sysfs directory name or dump header).
    func address(_ d: UnsafeMutablePointer<pci_dev>) -> PCIAddress {
        PCIAddress(
            domain: UInt32(bitPattern: d.pointee.domain), bus: d.pointee.bus,
            device: d.pointee.dev, function: d.pointee.func)
    }

    /// Vendor ID, after a fill with PCI_FILL_IDENT.
    func vendorID(_ d: UnsafeMutablePointer<pci_dev>) -> UInt16 { d.pointee.vendor_id }

    /// Vendor ID, Device ID and the 24-bit class code (base, sub, prog-if), after a fill with
    /// PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CLASS_EXT.
    func identity(_ d: UnsafeMutablePointer<pci_dev>) -> (vendor: UInt16, device: UInt16, classCode: UInt32) {
        let p = d.pointee
        return (p.vendor_id, p.device_id, UInt32(p.device_class) << 8 | UInt32(p.prog_if))
    }

    /// Subsystem Vendor and Subsystem IDs when the last fill gave them (PCI_FILL_SUBSYS).
    func subsystem(_ d: UnsafeMutablePointer<pci_dev>) -> (vendor: UInt16, device: UInt16)? {
        let p = d.pointee
        guard p.known_fields & UInt32(PCI_FILL_SUBSYS) != 0 else { return nil }
        return (p.subsys_vendor_id, p.subsys_id)
    }

    /// Revision ID when the last fill gave it (PCI_FILL_CLASS_EXT).
    func revision(_ d: UnsafeMutablePointer<pci_dev>) -> UInt8? {
        let p = d.pointee
        return p.known_fields & UInt32(PCI_FILL_CLASS_EXT) != 0 ? p.rev_id : nil
    }

    /// The six BAR registers as libpci filled them: `base_addr`, `size`, `flags`, and whether
    /// the last fill gave flags (PCI_FILL_IO_FLAGS: the kernel's IORESOURCE bits) and sizes.
    struct BARRegisters {
        var bases: [UInt64]
        var sizes: [UInt64]
        var flags: [UInt64]
        var haveFlags: Bool
        var haveSizes: Bool
    }

    func barRegisters(_ d: UnsafeMutablePointer<pci_dev>) -> BARRegisters {
        let p = d.pointee
        func words<T>(_ tuple: T) -> [UInt64] {
            withUnsafeBytes(of: tuple) { $0.bindMemory(to: pciaddr_t.self).map { UInt64($0) } }
        }
        return BARRegisters(
            bases: words(p.base_addr), sizes: words(p.size), flags: words(p.flags),
            haveFlags: p.known_fields & UInt32(PCI_FILL_IO_FLAGS) != 0,
            haveSizes: p.known_fields & UInt32(PCI_FILL_SIZES) != 0)
    }

    func fill(_ d: UnsafeMutablePointer<pci_dev>, flags: Int32 = HWL_PCI_FILL_PROBE) throws(ProbeError) {
        var err = [CChar](repeating: 0, count: 512)
        guard hwl_pci_fill(d, flags, &err, err.count) == 0 else { throw .libpci(String(cString: err)) }
    }

    /// Reads as much of config space as the source gives (4096, 256 or 64 bytes) into the
    /// shared buffer, then hands those bytes to libpci as the device's cache so the capability
    /// walk does not read them again. Valid until the next call.
    func readConfig(_ d: UnsafeMutablePointer<pci_dev>) throws(ProbeError) -> UnsafeBufferPointer<UInt8> {
        var err = [CChar](repeating: 0, count: 512)
        for size in [4096, 256, 64] {
            let r = hwl_pci_read_block(d, 0, configBuffer, Int32(size), &err, err.count)
            if r < 0 { throw .libpci(String(cString: err)) }
            if r == 1 {
                pci_setup_cache(d, configBuffer, Int32(size))
                return UnsafeBufferPointer(start: configBuffer, count: size)
            }
        }
        return UnsafeBufferPointer(start: configBuffer, count: 0)
    }

    /// Sysfs: config space as `read` gives it (into the shared buffer, at most 4096 bytes; it
    /// returns how many), handed to libpci as the device's cache, so libpci neither opens the
    /// file again nor reads it: the largest of 4096, 256 and 64 bytes that was read, as
    /// `readConfig` takes. Valid until the next call.
    func adoptConfig(_ d: UnsafeMutablePointer<pci_dev>, read: (UnsafeMutablePointer<UInt8>, Int) -> Int) -> UnsafeBufferPointer<UInt8> {
        let n = read(configBuffer, 4096)
        guard let size = [4096, 256, 64].first(where: { n >= $0 }) else {
            return UnsafeBufferPointer(start: configBuffer, count: 0)
        }
        pci_setup_cache(d, configBuffer, Int32(size))
        return UnsafeBufferPointer(start: configBuffer, count: size)
    }

    /// `count` config-space bytes at `offset`, or nil when the source does not hold them.
    func readBytes(_ d: UnsafeMutablePointer<pci_dev>, at offset: Int, count: Int) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: count)
        var err = [CChar](repeating: 0, count: 256)
        return hwl_pci_read_block(d, Int32(offset), &buf, Int32(count), &err, err.count) == 1 ? buf : nil
    }

    /// Capabilities libpci found (after a fill with PCI_FILL_CAPS | PCI_FILL_EXT_CAPS).
    func capabilities(_ d: UnsafeMutablePointer<pci_dev>) -> [(id: UInt16, extended: Bool, offset: Int)] {
        var out: [(UInt16, Bool, Int)] = []
        var c = d.pointee.first_cap
        while let cap = c {
            out.append((cap.pointee.id, Int32(cap.pointee.type) == PCI_CAP_EXTENDED, Int(cap.pointee.addr)))
            c = cap.pointee.next
        }
        return out
    }

    func takeWarnings() -> [String] {
        var out: [String] = []
        var buf = [CChar](repeating: 0, count: 256)
        while hwl_pci_take_warning(&buf, buf.count) != 0 { out.append(String(cString: buf)) }
        return out
    }

    // MARK: names (cached: SR-IOV hosts repeat the same IDs thousands of times)

    private func cached(_ key: UInt64, _ lookup: (inout [CChar]) -> UnsafePointer<CChar>?) -> String? {
        if let hit = nameCache[key] { return hit }
        var buf = [CChar](repeating: 0, count: 256)
        let name = lookup(&buf).map { String(cString: $0) }
        nameCache[key] = name
        return name
    }

    func vendorName(_ v: UInt16) -> String? {
        cached(1 << 60 | UInt64(v)) { hwl_pci_vendor_name(access, &$0, Int32($0.count), UInt32(v)) }
    }

    func deviceName(_ v: UInt16, _ d: UInt16) -> String? {
        cached(2 << 60 | UInt64(v) << 16 | UInt64(d)) {
            hwl_pci_device_name(access, &$0, Int32($0.count), UInt32(v), UInt32(d))
        }
    }

    func subsystemName(_ v: UInt16, _ d: UInt16, _ sv: UInt16, _ sd: UInt16) -> String? {
        cached(3 << 60 | UInt64(v) << 48 | UInt64(d) << 32 | UInt64(sv) << 16 | UInt64(sd)) {
            hwl_pci_subsystem_name(access, &$0, Int32($0.count), UInt32(v), UInt32(d), UInt32(sv), UInt32(sd))
        }
    }

    func className(_ cls: UInt16) -> String? {
        cached(4 << 60 | UInt64(cls)) { hwl_pci_class_name(access, &$0, Int32($0.count), UInt32(cls)) }
    }

    func progIfName(_ cls: UInt16, _ progIf: UInt8) -> String? {
        cached(5 << 60 | UInt64(cls) << 8 | UInt64(progIf)) {
            hwl_pci_progif_name(access, &$0, Int32($0.count), UInt32(cls), UInt32(progIf))
        }
    }
}
