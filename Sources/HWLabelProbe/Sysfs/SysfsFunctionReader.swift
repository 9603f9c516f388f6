import Glibc

/// Reads the per-function facts that only sysfs has, from `<root>/bus/pci/devices/<BDF>/`.
///
/// One directory listing per function decides which optional files to open, so a host with
/// thousands of VFs pays for the files that exist, not for every possible attribute.
struct SysfsFunctionReader {
    let root: SysfsRoot

    func directory(_ a: PCIAddress) -> String { root.path + "/bus/pci/devices/" + a.description }

    /// One function's directory, opened once: its files are read with `openat`/`readlinkat`,
    /// so the kernel resolves the `devices/<BDF>` link and the path above it once per function
    /// instead of once per file.
    final class DeviceDirectory {
        let path: String
        let fd: Int32
        init?(path: String) {
            fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            self.path = path
        }
        deinit { close(fd) }
        func readText(_ name: String) -> Result<String, SysfsRoot.ReadError> {
            SysfsRoot.readText(at: fd, name, path: path + "/" + name)
        }
        func linkName(_ name: String) -> String? {
            // The last path component (no split into an array: this runs for every link).
            SysfsRoot.linkTarget(at: fd, name).flatMap { t in
                var s = Substring(t)
                while s.hasSuffix("/") { s = s.dropLast() }
                let last = s.lastIndex(of: "/").map { s[s.index(after: $0)...] } ?? s
                return last.isEmpty ? nil : String(last)
            }
        }
        /// Size of a file in the directory (`fstatat`), nil when it does not exist.
        func size(_ name: String) -> Int? {
            var st = stat()
            return fstatat(fd, name, &st, 0) == 0 ? Int(st.st_size) : nil
        }
        lazy var entries: Set<String> = Set(SysfsRoot.list(directory: fd) ?? [])
        /// The `uevent` file, read once (nil when there is none or it cannot be read).
        lazy var uevent: Result<Uevent, SysfsRoot.ReadError>? =
            entries.contains("uevent") ? readText("uevent").map(Uevent.init) : nil
    }

    /// What a PCI function's `uevent` file says: the kernel's `pci_uevent()` prints PCI_ID,
    /// PCI_CLASS and PCI_SUBSYS_ID from the same fields that the `vendor`, `device`, `class`
    /// and `subsystem_*` files print, and the driver core adds DRIVER= while a driver is bound
    /// (what the `driver` link names). One file instead of five and a readlink: udev reads it
    /// for the same reason. A field that is absent or does not parse is read from its own file.
    struct Uevent: Equatable {
        var vendor: UInt16?
        var device: UInt16?
        var classCode: UInt32?
        var subsystemVendor: UInt16?
        var subsystemDevice: UInt16?
        var driver: String?
        /// `KEY=value` lines whose value did not parse, for the warning.
        var malformed: [String] = []

        init(_ text: String) {
            // Split on bytes: Character-wise splitting was a tenth of a scan's CPU time.
            for line in text.utf8.split(separator: 0x0a) {
                guard let eq = line.firstIndex(of: 0x3d) else { continue }
                let key = line[..<eq], value = line[line.index(after: eq)...]
                func bad() { malformed.append(String(decoding: line, as: UTF8.self)) }
                switch String(decoding: key, as: UTF8.self) {
                case "PCI_ID":
                    if let (v, d) = Self.pair(value) { vendor = v; device = d } else { bad() }
                case "PCI_SUBSYS_ID":
                    if let (v, d) = Self.pair(value) { subsystemVendor = v; subsystemDevice = d } else { bad() }
                case "PCI_CLASS":
                    if let c = Self.hexValue(value, digits: 6) { classCode = UInt32(c) } else { bad() }
                case "DRIVER":
                    if !value.isEmpty, !value.contains(0x2f) { driver = String(decoding: value, as: UTF8.self) } else { bad() }
                default: continue
                }
            }
        }

        /// `VVVV:DDDD`, each 1 to 4 hex digits.
        static func pair(_ s: Substring.UTF8View.SubSequence) -> (UInt16, UInt16)? {
            guard let colon = s.firstIndex(of: 0x3a),
                  let a = hexValue(s[..<colon], digits: 4), let b = hexValue(s[s.index(after: colon)...], digits: 4)
            else { return nil }
            return (UInt16(a), UInt16(b))
        }

        /// 1 to `digits` hex digits, nothing else.
        static func hexValue(_ s: Substring.UTF8View.SubSequence, digits: Int) -> UInt64? {
            guard !s.isEmpty, s.count <= digits else { return nil }
            return HWLabelProbe.hexValue(s)
        }
    }

    /// The function's `uevent`, with a warning naming the file when it cannot be read or a
    /// field of it is garbage (those facts then come from their own files).
    func uevent(_ a: PCIAddress, in d: DeviceDirectory, warnings: inout [ProbeWarning]) -> Uevent? {
        switch d.uevent {
        case nil: return nil
        case .failure(let e)?:
            warnings.append(ProbeWarning(address: a.description, path: e.path,
                                         message: "\(e); identity read from the attribute files"))
            return nil
        case .success(let u)?:
            if !u.malformed.isEmpty {
                let path = d.path + "/uevent"
                warnings.append(ProbeWarning(address: a.description, path: path,
                                             message: "ignored in \(path): " + u.malformed.map { "\"\($0.prefix(60))\"" }.joined(separator: ", ")
                                                 + "; read from the attribute files instead"))
            }
            return u
        }
    }

    /// Opens the function's directory; a function that vanished since enumeration is named.
    func open(_ a: PCIAddress) -> Result<DeviceDirectory, ProbeWarning> {
        let path = directory(a)
        guard let d = DeviceDirectory(path: path) else {
            let e = SysfsRoot.ReadError(path: path, errno: errno)
            return .failure(ProbeWarning(address: a.description, path: path, message: "skipped: \(e)"))
        }
        return .success(d)
    }

    /// Reads the mandatory identity (vendor, device, class) from `uevent`, else from the
    /// `vendor`, `device` and `class` files. A function without it is skipped, and the warning
    /// names the file.
    func identity(_ a: PCIAddress, in d: DeviceDirectory, warnings: inout [ProbeWarning]) -> Result<PCIFunction, ProbeWarning> {
        let dir = d.path
        let u = uevent(a, in: d, warnings: &warnings)
        var values: [UInt64] = []
        for (name, fromUevent) in [("vendor", u?.vendor.map(UInt64.init)), ("device", u?.device.map(UInt64.init)),
                                   ("class", u?.classCode.map(UInt64.init))] {
            if let v = fromUevent {
                values.append(v)
                continue
            }
            let path = dir + "/" + name
            switch d.readText(name) {
            case .failure(let e):
                return .failure(ProbeWarning(address: a.description, path: path,
                                             message: "skipped: \(e)"))
            case .success(let text):
                guard let v = parseHexStrict(text), v <= (name == "class" ? 0xFF_FFFF : 0xFFFF) else {
                    return .failure(ProbeWarning(address: a.description, path: path,
                                                 message: "skipped: \(path) holds \"\(text.prefix(40))\", not a hex ID"))
                }
                values.append(v)
            }
        }
        if values[0] == 0xFFFF {
            return .failure(ProbeWarning(address: a.description, path: dir + (u?.vendor != nil ? "/uevent" : "/vendor"),
                                         message: "skipped: vendor ffff (function powered off or gone)"))
        }
        return .success(PCIFunction(address: a, vendor: hex(values[0], 4), device: hex(values[1], 4),
                                    classCode: ClassCode(value: UInt32(values[2]))))
    }

    /// Fills the optional sysfs facts. Unreadable or malformed values become null plus a warning.
    func fill(_ f: inout PCIFunction, in d: DeviceDirectory, warnings: inout [ProbeWarning]) {
        let dir = d.path
        let entries = d.entries
        let addr = f.address.description

        func text(_ name: String) -> String? {
            guard entries.contains(name) else { return nil }
            switch d.readText(name) {
            case .success(let s): return s
            case .failure(let e):
                warnings.append(ProbeWarning(address: addr, path: e.path, message: e.description))
                return nil
            }
        }
        func hexID(_ name: String, max: UInt64 = 0xFFFF, width: Int = 4) -> String? {
            guard let t = text(name) else { return nil }
            guard let v = parseHexStrict(t), v <= max else {
                warnings.append(ProbeWarning(address: addr, path: dir + "/" + name,
                                             message: "ignored \(dir)/\(name): \"\(t.prefix(40))\" is not a hex value"))
                return nil
            }
            return hex(v, width)
        }
        func int(_ name: String) -> Int? {
            guard let t = text(name) else { return nil }
            guard let v = parseIntStrict(t) else {
                warnings.append(ProbeWarning(address: addr, path: dir + "/" + name,
                                             message: "ignored \(dir)/\(name): \"\(t.prefix(40))\" is not a number"))
                return nil
            }
            return v
        }

        // `uevent` was read (and its garbage named) by `identity`.
        let u = try? d.uevent?.get()
        if let sv = u?.subsystemVendor, let sd = u?.subsystemDevice {
            f.subsystemVendor = hex(sv, 4)
            f.subsystemDevice = hex(sd, 4)
        } else {
            f.subsystemVendor = hexID("subsystem_vendor") ?? f.subsystemVendor
            f.subsystemDevice = hexID("subsystem_device") ?? f.subsystemDevice
        }
        f.revision = hexID("revision", max: 0xff, width: 2) ?? f.revision
        if let drv = u?.driver { f.driver = drv } else if entries.contains("driver") { f.driver = d.linkName("driver") }
        if let o = text("driver_override"), o != "(null)", !o.isEmpty { f.driverOverride = o }
        if entries.contains("iommu_group") {
            // A link in live sysfs; some captures flattened it into a directory (NFD testdata),
            // which names no group.
            if let name = d.linkName("iommu_group") {
                if let n = Int(name) { f.iommuGroup = n } else {
                    warnings.append(ProbeWarning(address: addr, path: dir + "/iommu_group",
                                                 message: "iommu_group link points to \"\(name)\", not a group number"))
                }
            }
        }
        if let n = int("numa_node") { f.numaNode = n >= 0 ? n : nil }
        f.localCPUs = text("local_cpulist")
        if let r = text("reset_method") { f.resetMethods = r.split(separator: " ").map(String.init) }
        if let b = text("boot_vga") {
            if b == "1" || b == "0" { f.bootVGA = b == "1" } else {
                warnings.append(ProbeWarning(address: addr, path: dir + "/boot_vga",
                                             message: "ignored \(dir)/boot_vga: \"\(b.prefix(40))\""))
            }
        }
        f.firmwareLabel = text("label")

        // Link from sysfs only where config space did not give it (non-root, captures).
        if f.link == nil, entries.contains("current_link_speed") || entries.contains("max_link_speed") {
            var l = LinkFacts(source: "sysfs")
            l.currentSpeed = text("current_link_speed").flatMap(Self.normaliseSpeed)
            l.maxSpeed = text("max_link_speed").flatMap(Self.normaliseSpeed)
            l.currentWidth = text("current_link_width").flatMap { Int($0) }
            l.maxWidth = text("max_link_width").flatMap { Int($0) }
            if l.currentSpeed != nil || l.maxSpeed != nil || l.currentWidth != nil || l.maxWidth != nil { f.link = l }
        }

        // SR-IOV: PF side (counts, virtfnN links) and VF side (physfn link).
        let virtfns = entries.compactMap { name -> (Int, PCIAddress)? in
            guard name.hasPrefix("virtfn"), let i = Int(name.dropFirst(6)),
                  let t = d.linkName(name), let a = PCIAddress(t) else { return nil }
            return (i, a)
        }.sorted { $0.0 < $1.0 }.map(\.1)
        if entries.contains("sriov_totalvfs") || !virtfns.isEmpty {
            f.sriov = SRIOVState(totalVFs: int("sriov_totalvfs"), numVFs: int("sriov_numvfs"),
                                 vfDevice: hexID("sriov_vf_device"), virtualFunctions: virtfns)
        }
        if entries.contains("physfn") { f.physicalFunction = d.linkName("physfn").flatMap { PCIAddress($0) } }

        // What the host has made of the function: its VFIO cdev (kernel >= 6.2 with a VFIO
        // driver bound) and its network interfaces.
        if entries.contains("vfio-dev") {
            f.vfioDevice = SysfsRoot.list(dir + "/vfio-dev")?.filter { $0.hasPrefix("vfio") }.sorted().first
        }
        if entries.contains("net"), let ifs = SysfsRoot.list(dir + "/net") { f.netInterfaces = ifs.sorted() }

        if entries.contains("mdev_supported_types") { f.mdevTypes = mdevTypes(dir + "/mdev_supported_types", addr, &warnings) }

        // Upstream bridge: `devices/<BDF>` links to `../../../devices/pci0000:00/<bridge>/<BDF>`;
        // the component before the function's own is its parent. One readlink, no realpath walk.
        if let target = SysfsRoot.linkTarget(dir) {
            let comps = target.split(separator: "/")
            if comps.count >= 2, let parent = PCIAddress(comps[comps.count - 2]) { f.upstreamBridge = parent }
        }
        // HWLABEL_* properties come from udev rules (udev's database), never from the kernel's
        // `uevent` file, so only the live path (libudev) can fill them.

        if f.isGPUClass { gpuFiles(&f, dir: dir, entries: entries, warnings: &warnings) }
    }

    private func mdevTypes(_ dir: String, _ addr: String, _ warnings: inout [ProbeWarning]) -> [MdevType] {
        (SysfsRoot.list(dir) ?? []).sorted().map { id in
            let t = dir + "/" + id + "/"
            var m = MdevType(id: id)
            m.name = SysfsRoot.text(t + "name")
            m.description = SysfsRoot.text(t + "description")
            m.deviceAPI = SysfsRoot.text(t + "device_api")
            // One entry (a link to the mdev's UUID directory) per instance created of this type.
            m.instances = SysfsRoot.list(t + "devices")?.count
            if let a = SysfsRoot.text(t + "available_instances") {
                if let n = parseIntStrict(a), n >= 0 { m.availableInstances = n } else {
                    warnings.append(ProbeWarning(address: addr, path: t + "available_instances",
                                                 message: "ignored \(t)available_instances: \"\(a.prefix(40))\""))
                }
            }
            return m
        }
    }

    /// DRM nodes, amdgpu VRAM and NVIDIA SR-IOV vGPU files; GPUFacts proper are assembled later,
    /// once companions (other functions of the slot) are known.
    private func gpuFiles(_ f: inout PCIFunction, dir: String, entries: Set<String>, warnings: inout [ProbeWarning]) {
        var g = f.gpu ?? GPUFacts(family: GPUCatalog.family(vendor: f.vendor))
        if entries.contains("drm"), let nodes = SysfsRoot.list(dir + "/drm") {
            g.drmCards = nodes.filter { $0.hasPrefix("card") }.sorted()
            g.drmRenderNodes = nodes.filter { $0.hasPrefix("renderD") }.sorted()
        }
        if entries.contains("mem_info_vram_total"), let t = SysfsRoot.text(dir + "/mem_info_vram_total"),
           let v = UInt64(t) {
            g.vramBytes = Sourced(v, source: "driver-file:mem_info_vram_total")
        }
        if entries.contains("nvidia") {
            if let t = SysfsRoot.text(dir + "/nvidia/creatable_vgpu_types") {
                g.creatableVGPUTypes = t.split(separator: "\n").compactMap { line in
                    let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmedBlanks() }
                    guard parts.count == 2, !parts[0].isEmpty, parts[0].lowercased() != "id" else { return nil }
                    return VGPUType(id: parts[0], name: parts[1])
                }
            }
            g.currentVGPUType = SysfsRoot.text(dir + "/nvidia/current_vgpu_type")
        }
        f.gpu = g
    }

    /// `8.0 GT/s PCIe` (kernel) → `8GT/s` (lspci).
    static func normaliseSpeed(_ s: String) -> String? {
        guard let num = s.split(separator: " ").first, let v = Double(num), v > 0 else { return nil }
        let text = v == v.rounded() ? String(Int(v)) : String(v)
        return text + "GT/s"
    }
}

extension StringProtocol {
    /// Without leading and trailing blanks (spaces, tabs).
    func trimmedBlanks() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
