import CHWLabelShim

/// What libudev says about one PCI device.
struct UdevPCIDevice: Sendable {
    var syspath: String
    var sysname: String
    var driver: String?
    /// `HWLABEL_*` properties (set by udev rules; present only when udevd runs).
    var properties: [String: String]
}

/// Every libudev call goes through this file. Objects are created, used and freed on the
/// calling thread inside one synchronous call (libudev is not thread-safe).
enum LibUdev {
    static func enumeratePCI() throws(ProbeError) -> [UdevPCIDevice] {
        guard let udev = udev_new() else { throw .enumeration("udev_new failed") }
        defer { udev_unref(udev) }
        guard let e = udev_enumerate_new(udev) else { throw .enumeration("udev_enumerate_new failed") }
        defer { udev_enumerate_unref(e) }
        var rc = udev_enumerate_add_match_subsystem(e, "pci")
        guard rc >= 0 else { throw .enumeration("udev_enumerate_add_match_subsystem: errno \(-rc)") }
        rc = udev_enumerate_scan_devices(e)
        guard rc >= 0 else { throw .enumeration("udev_enumerate_scan_devices: errno \(-rc)") }
        var out: [UdevPCIDevice] = []
        // udev_list_entry_foreach is a macro: walk with udev_list_entry_get_next.
        var entry = udev_enumerate_get_list_entry(e)
        while let cur = entry {
            defer { entry = udev_list_entry_get_next(cur) }
            guard let pathC = udev_list_entry_get_name(cur) else { continue }
            // A device can vanish between the scan and this call: skip it.
            guard let dev = udev_device_new_from_syspath(udev, pathC) else { continue }
            defer { udev_device_unref(dev) }
            let sysname = udev_device_get_sysname(dev).map { String(cString: $0) } ?? ""
            var props: [String: String] = [:]
            var p = udev_device_get_properties_list_entry(dev)
            while let pe = p {
                if let k = udev_list_entry_get_name(pe) {
                    let key = String(cString: k)
                    if key.hasPrefix("HWLABEL_"), let v = udev_list_entry_get_value(pe) {
                        props[key] = String(cString: v)
                    }
                }
                p = udev_list_entry_get_next(pe)
            }
            out.append(
                UdevPCIDevice(
                    syspath: String(cString: pathC), sysname: sysname,
                    driver: udev_device_get_driver(dev).map { String(cString: $0) },
                    properties: props))
        }
        return out
    }
}
