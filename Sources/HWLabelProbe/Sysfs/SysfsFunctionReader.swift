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

    /// Reads the mandatory identity (`vendor`, `device`, `class`). A function without it is
    /// skipped, and the warning names the file.
    func identity(_ a: PCIAddress, in d: DeviceDirectory) -> Result<PCIFunction, ProbeWarning> {
        let dir = d.path
        var values: [String] = []
        for name in ["vendor", "device", "class"] {
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
                values.append(name == "class" ? hex(v, 6) : hex(v, 4))
            }
        }
        if values[0] == "ffff" {
            return .failure(ProbeWarning(address: a.description, path: dir + "/vendor",
                                         message: "skipped: vendor ffff (function powered off or gone)"))
        }
        let cls = ClassCode(value: UInt32(values[2], radix: 16)!)
        return .success(PCIFunction(address: a, vendor: values[0], device: values[1], classCode: cls))
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

        f.subsystemVendor = hexID("subsystem_vendor") ?? f.subsystemVendor
        f.subsystemDevice = hexID("subsystem_device") ?? f.subsystemDevice
        f.revision = hexID("revision", max: 0xff, width: 2) ?? f.revision
        if entries.contains("driver") { f.driver = d.linkName("driver") }
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
