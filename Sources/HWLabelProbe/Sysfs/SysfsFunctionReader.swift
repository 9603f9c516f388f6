import Glibc

/// Reads the per-function facts that only sysfs has, from `<root>/bus/pci/devices/<BDF>/`.
///
/// One directory listing per function decides which optional files to open, so a host with
/// thousands of VFs pays for the files that exist, not for every possible attribute.
struct SysfsFunctionReader {
    let root: SysfsRoot
    /// `<root>/bus/pci/devices`, opened once for the whole scan: each function's directory and
    /// link are looked up in it (one path component for the kernel to walk), not from `/`
    /// through the whole root path every time.
    let devices: OpenDirectory

    init(root: SysfsRoot) {
        self.root = root
        devices = OpenDirectory(root.path + "/bus/pci/devices")
    }

    /// A directory held open for lookups relative to it (read-only: shared by the scan's threads).
    final class OpenDirectory: Sendable {
        /// -1 when it could not be opened: lookups then take whole paths.
        let fd: Int32
        init(_ path: String) { fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        deinit { if fd >= 0 { close(fd) } }
    }

    func directory(_ a: PCIAddress) -> String { root.path + "/bus/pci/devices/" + a.description }

    /// One function's directory, opened once: its files are read with `openat`/`readlinkat`,
    /// so the kernel resolves the `devices/<BDF>` link and the path above it once per function
    /// instead of once per file.
    final class DeviceDirectory {
        let path: String
        let fd: Int32
        /// `name` in the open directory `parent` (`path` when that is not open).
        init?(path: String, name: String, in parent: Int32) {
            fd =
                parent >= 0
                ? openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            self.path = path
        }
        deinit { close(fd) }
        func readText(_ name: String) -> Result<String, ProbeError> {
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
        /// Size and type of a file in the directory (`fstatat`, following links), nil when it
        /// does not exist. `kind` is nil for a regular file, else "a FIFO", "a directory", …
        func size(_ name: String) -> (size: Int, kind: String?)? {
            var st = stat()
            guard fstatat(fd, name, &st, 0) == 0 else { return nil }
            let type = st.st_mode & S_IFMT
            return (Int(st.st_size), type == S_IFREG ? nil : BoundedFile.kind(type))
        }
        /// Reads `config` into `buffer`, up to `capacity` bytes: how many it gave. Opened
        /// `O_NONBLOCK` (a FIFO planted after the type check cannot hang the scan), through the
        /// open directory; libpci would open it again by its whole path.
        func readConfig(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int) -> Result<Int, ProbeError> {
            let cfd = openat(fd, "config", O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            guard cfd >= 0 else { return .failure(ProbeError.unreadable(path + "/config", errno: errno)) }
            defer { close(cfd) }
            var used = 0
            while used < capacity {
                let n = pread(cfd, buffer + used, capacity - used, off_t(used))
                if n < 0 {
                    let e = errno
                    if e == EINTR { continue }
                    return .failure(ProbeError.unreadable(path + "/config", errno: e))
                }
                if n == 0 { break }
                used += n
            }
            return .success(used)
        }
        lazy var entries: Set<String> = Set(SysfsRoot.list(directory: fd) ?? [])
        /// The `uevent` file, read once (nil when there is none or it cannot be read).
        lazy var uevent: Result<Uevent, ProbeError>? =
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
            // Split on bytes: `uevent` is ASCII `KEY=value` lines, so grapheme breaking buys nothing.
            for raw in text.utf8.split(separator: 0x0a) {
                // `\r\n` ends a line too (a capture edited on Windows).
                let line = raw.last == 0x0d ? raw.dropLast() : raw
                guard let eq = line.firstIndex(of: 0x3d) else { continue }
                let key = line[..<eq], value = line[line.index(after: eq)...]
                func bad() { malformed.append(String(decoding: line, as: UTF8.self)) }
                // Keys compared as bytes: no String made for the keys that are skipped (MODALIAS, …).
                if key.elementsEqual("PCI_ID".utf8) {
                    if let (v, d) = Self.pair(value) { vendor = v; device = d } else { bad() }
                } else if key.elementsEqual("PCI_SUBSYS_ID".utf8) {
                    if let (v, d) = Self.pair(value) { subsystemVendor = v; subsystemDevice = d } else { bad() }
                } else if key.elementsEqual("PCI_CLASS".utf8) {
                    if let c = Self.hexValue(value, digits: 6) { classCode = UInt32(c) } else { bad() }
                } else if key.elementsEqual("DRIVER".utf8) {
                    if !value.isEmpty, !value.contains(0x2f) { driver = String(decoding: value, as: UTF8.self) } else { bad() }
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
            warnings.append(
                ProbeWarning(
                    address: a.description, path: e.path,
                    message: "\(e); identity read from the attribute files"))
            return nil
        case .success(let u)?:
            if !u.malformed.isEmpty {
                let path = d.path + "/uevent"
                warnings.append(
                    ProbeWarning(
                        address: a.description, path: path,
                        message: "ignored in \(path): " + u.malformed.map { "\"\($0.prefix(60))\"" }.joined(separator: ", ")
                            + "; read from the attribute files instead"))
            }
            return u
        }
    }

    /// Opens the function's directory; a function that vanished since enumeration is named.
    func open(_ a: PCIAddress) -> Result<DeviceDirectory, ProbeWarning> {
        let path = directory(a)
        guard let d = DeviceDirectory(path: path, name: a.description, in: devices.fd) else {
            let e = ProbeError.unreadable(path, errno: errno)
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
        for (name, fromUevent) in [
            ("vendor", u?.vendor.map(UInt64.init)), ("device", u?.device.map(UInt64.init)),
            ("class", u?.classCode.map(UInt64.init)),
        ] {
            if let v = fromUevent {
                values.append(v)
                continue
            }
            let path = dir + "/" + name
            switch d.readText(name) {
            case .failure(let e):
                return .failure(
                    ProbeWarning(
                        address: a.description, path: path,
                        message: "skipped: \(e)"))
            case .success(let text):
                guard let v = parseHexStrict(text), v <= (name == "class" ? 0xFF_FFFF : 0xFFFF) else {
                    return .failure(
                        ProbeWarning(
                            address: a.description, path: path,
                            message: "skipped: \(path) holds \"\(text.prefix(40))\", not a hex ID"))
                }
                values.append(v)
            }
        }
        if values[0] == 0xFFFF {
            return .failure(
                ProbeWarning(
                    address: a.description, path: dir + (u?.vendor != nil ? "/uevent" : "/vendor"),
                    message: "skipped: vendor ffff (function powered off or gone)"))
        }
        return .success(
            PCIFunction(
                address: a, vendor: hex(values[0], 4), device: hex(values[1], 4),
                classCode: ClassCode(value: UInt32(values[2]))))
    }

    /// The BARs from the function's `resource` file (`SysfsResource`); nil, with a warning
    /// naming the file, when it is absent, not a regular file, too large or malformed.
    func resource(_ a: PCIAddress, in d: DeviceDirectory, warnings: inout [ProbeWarning]) -> SysfsResource? {
        let path = d.path + "/resource"
        guard d.entries.contains("resource") else {
            warnings.append(ProbeWarning(address: a.description, path: path, message: "no resource file: BARs unknown"))
            return nil
        }
        switch d.readText("resource") {
        case .failure(let e):
            warnings.append(ProbeWarning(address: a.description, path: path, message: "\(e): BARs unknown"))
            return nil
        case .success(let text):
            switch SysfsResource.parse(text) {
            case .success(let r): return r
            case .failure(let why):
                warnings.append(
                    ProbeWarning(
                        address: a.description, path: path,
                        message: "ignored \(path): \(why.description): BARs unknown"))
                return nil
            }
        }
    }

    /// The optional attribute files of one function directory, read by type. A file that is
    /// absent is nil; one that cannot be read or does not parse is nil plus a warning naming it.
    struct Attributes {
        let d: DeviceDirectory
        let addr: String
        var warnings: [ProbeWarning] = []
        var dir: String { d.path }
        var entries: Set<String> { d.entries }

        init(_ d: DeviceDirectory, address: String) {
            self.d = d
            self.addr = address
        }

        mutating func text(_ name: String) -> String? {
            guard entries.contains(name) else { return nil }
            switch d.readText(name) {
            case .success(let s): return s
            case .failure(let e):
                warnings.append(ProbeWarning(address: addr, path: e.path, message: e.description))
                return nil
            }
        }

        mutating func hexID(_ name: String, max: UInt64 = 0xFFFF, width: Int = 4) -> String? {
            guard let t = text(name) else { return nil }
            guard let v = parseHexStrict(t), v <= max else {
                warnings.append(
                    ProbeWarning(
                        address: addr, path: dir + "/" + name,
                        message: "ignored \(dir)/\(name): \"\(t.prefix(40))\" is not a hex value"))
                return nil
            }
            return hex(v, width)
        }

        /// A decimal in `range`; anything else (garbage, `1e19`, out of range) is null plus a warning.
        mutating func int(_ name: String, _ range: ClosedRange<Int>) -> Int? {
            guard let t = text(name) else { return nil }
            guard let v = SysfsFunctionReader.decimal(t), range.contains(v) else {
                warnings.append(
                    ProbeWarning(
                        address: addr, path: dir + "/" + name,
                        message: "ignored \(dir)/\(name): \"\(t.prefix(40))\" is not a number in \(range.lowerBound)…\(range.upperBound)"))
                return nil
            }
            return v
        }

        mutating func speed(_ name: String) -> String? {
            guard let t = text(name) else { return nil }
            // The kernel prints `Unknown` for a speed it cannot name.
            if t == "Unknown" { return nil }
            guard let v = SysfsFunctionReader.normaliseSpeed(t) else {
                warnings.append(
                    ProbeWarning(
                        address: addr, path: dir + "/" + name,
                        message: "ignored \(dir)/\(name): \"\(t.prefix(40))\" is not a link speed (\"16.0 GT/s PCIe\")"))
                return nil
            }
            return v
        }
    }

    /// Fills the optional sysfs facts, one group at a time. Unreadable or malformed values
    /// become null plus a warning.
    func fill(_ f: inout PCIFunction, in d: DeviceDirectory, warnings: inout [ProbeWarning]) {
        var a = Attributes(d, address: f.address.description)
        subsystemAndRevision(&f, &a)
        driver(&f, &a)
        placement(&f, &a)
        resetAndConsole(&f, &a)
        link(&f, &a)
        sriov(&f, &a)
        hostObjects(&f, &a)
        upstreamBridge(&f)
        // HWLABEL_* properties come from udev rules (udev's database), never from the kernel's
        // `uevent` file, so only the live path (libudev) can fill them.
        warnings += a.warnings
        if f.isGPUClass { gpuFiles(&f, dir: d.path, entries: d.entries, warnings: &warnings) }
    }

    /// Subsystem IDs from `uevent` (read, and its garbage named, by `identity`), else from
    /// `subsystem_vendor`/`subsystem_device`. The revision from `revision` only where config
    /// space did not give it: the kernel's file prints the byte at 0x08 that it read from the
    /// same register when it enumerated the function.
    func subsystemAndRevision(_ f: inout PCIFunction, _ a: inout Attributes) {
        let u = try? a.d.uevent?.get()
        if let sv = u?.subsystemVendor, let sd = u?.subsystemDevice {
            f.subsystemVendor = hex(sv, 4)
            f.subsystemDevice = hex(sd, 4)
        } else {
            f.subsystemVendor = a.hexID("subsystem_vendor") ?? f.subsystemVendor
            f.subsystemDevice = a.hexID("subsystem_device") ?? f.subsystemDevice
        }
        if f.revision == nil { f.revision = a.hexID("revision", max: 0xff, width: 2) }
    }

    /// The bound driver (`uevent`'s DRIVER=, else the `driver` link) and `driver_override`.
    func driver(_ f: inout PCIFunction, _ a: inout Attributes) {
        let u = try? a.d.uevent?.get()
        if let drv = u?.driver { f.driver = drv } else if a.entries.contains("driver") { f.driver = a.d.linkName("driver") }
        if let o = a.text("driver_override"), o != "(null)", !o.isEmpty { f.driverOverride = o }
    }

    /// Where the function sits: its IOMMU group, NUMA node and local CPUs.
    func placement(_ f: inout PCIFunction, _ a: inout Attributes) {
        if a.entries.contains("iommu_group") {
            // A link in live sysfs; some captures flattened it into a directory (NFD testdata),
            // which names no group.
            if let name = a.d.linkName("iommu_group") {
                if let n = Self.groupNumber(name) {
                    f.iommuGroup = n
                } else {
                    a.warnings.append(
                        ProbeWarning(
                            address: a.addr, path: a.dir + "/iommu_group",
                            message: "iommu_group link points to \"\(name)\", not a group number"))
                }
            }
        }
        // -1: no NUMA affinity. MAX_NUMNODES is 1 << CONFIG_NODES_SHIFT (at most 10 bits).
        if let n = a.int("numa_node", -1...65535) { f.numaNode = n >= 0 ? n : nil }
        f.localCPUs = a.text("local_cpulist")
    }

    /// `reset_method`, `boot_vga` and the firmware's `label`.
    func resetAndConsole(_ f: inout PCIFunction, _ a: inout Attributes) {
        if let r = a.text("reset_method") { f.resetMethods = r.split(separator: " ").map(String.init) }
        if let b = a.text("boot_vga") {
            if b == "1" || b == "0" {
                f.bootVGA = b == "1"
            } else {
                a.warnings.append(
                    ProbeWarning(
                        address: a.addr, path: a.dir + "/boot_vga",
                        message: "ignored \(a.dir)/boot_vga: \"\(b.prefix(40))\""))
            }
        }
        f.firmwareLabel = a.text("label")
    }

    /// Link from sysfs only where config space did not give it (non-root, captures).
    func link(_ f: inout PCIFunction, _ a: inout Attributes) {
        guard f.link == nil, a.entries.contains("current_link_speed") || a.entries.contains("max_link_speed") else { return }
        var l = LinkFacts(source: "sysfs")
        l.currentSpeed = a.speed("current_link_speed")
        l.maxSpeed = a.speed("max_link_speed")
        // The Link Width fields are 6 bits wide (PCIe Base 6.0, 7.5.3.6 and 7.5.3.8).
        l.currentWidth = a.int("current_link_width", 0...63)
        l.maxWidth = a.int("max_link_width", 0...63)
        if l.currentSpeed != nil || l.maxSpeed != nil || l.currentWidth != nil || l.maxWidth != nil { f.link = l }
    }

    /// SR-IOV: PF side (counts, virtfnN links) and VF side (physfn link).
    func sriov(_ f: inout PCIFunction, _ a: inout Attributes) {
        let d = a.d
        let virtfns = a.entries.compactMap { name -> (Int, PCIAddress)? in
            guard name.utf8.starts(with: "virtfn".utf8), let i = Int(name.dropFirst(6)),
                let t = d.linkName(name), let a = PCIAddress(t)
            else { return nil }
            return (i, a)
        }.sorted { $0.0 < $1.0 }.map(\.1)
        if a.entries.contains("sriov_totalvfs") || !virtfns.isEmpty {
            // TotalVFs and NumVFs are 16-bit registers (PCIe Base 6.0, 9.3.3.5 and 9.3.3.7).
            f.sriov = SRIOVState(
                totalVFs: a.int("sriov_totalvfs", 0...65535), numVFs: a.int("sriov_numvfs", 0...65535),
                vfDevice: a.hexID("sriov_vf_device"), virtualFunctions: virtfns)
        }
        if a.entries.contains("physfn") { f.physicalFunction = d.linkName("physfn").flatMap { PCIAddress($0) } }
    }

    /// What the host has made of the function: its VFIO cdev (kernel >= 6.2 with a VFIO driver
    /// bound), its network interfaces and its mdev types.
    func hostObjects(_ f: inout PCIFunction, _ a: inout Attributes) {
        if a.entries.contains("vfio-dev") {
            f.vfioDevice = SysfsRoot.list(a.dir + "/vfio-dev")?.filter { $0.hasPrefix("vfio") }.sorted().first
        }
        if a.entries.contains("net"), let ifs = SysfsRoot.list(a.dir + "/net") { f.netInterfaces = ifs.sorted() }
        if a.entries.contains("mdev_supported_types") {
            f.mdevTypes = mdevTypes(a.dir + "/mdev_supported_types", a.addr, &a.warnings)
        }
    }

    /// Upstream bridge: `devices/<BDF>` links to `../../../devices/pci0000:00/<bridge>/<BDF>`;
    /// the component before the function's own is its parent. One readlink, no realpath walk.
    func upstreamBridge(_ f: inout PCIFunction) {
        let target =
            devices.fd >= 0
            ? SysfsRoot.linkTarget(at: devices.fd, f.address.description) : SysfsRoot.linkTarget(directory(f.address))
        // The second-to-last component, found from the end (no split: this runs for every function).
        guard var rest = target.map({ Substring($0) }) else { return }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let own = rest.lastIndex(of: "/") else { return }
        rest = rest[..<own]
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        let parent = rest.lastIndex(of: "/").map { rest[rest.index(after: $0)...] } ?? rest
        if let a = PCIAddress(parent) { f.upstreamBridge = a }
    }

    /// Text of an optional attribute outside the function's own directory (mdev types, vGPU
    /// files): nil when absent; a file that exists and cannot be read (a FIFO, a directory, too
    /// large) is named in a warning.
    static func optionalText(_ path: String, _ addr: String, _ warnings: inout [ProbeWarning]) -> String? {
        SysfsRoot.text(path, address: addr, warnings: &warnings)
    }

    private func mdevTypes(_ dir: String, _ addr: String, _ warnings: inout [ProbeWarning]) -> [MdevType] {
        (SysfsRoot.list(dir) ?? []).sorted().map { id in
            let t = dir + "/" + id + "/"
            var m = MdevType(id: id)
            m.name = Self.optionalText(t + "name", addr, &warnings)
            m.description = Self.optionalText(t + "description", addr, &warnings)
            m.deviceAPI = Self.optionalText(t + "device_api", addr, &warnings)
            // One entry (a link to the mdev's UUID directory) per instance created of this type.
            m.instances = SysfsRoot.list(t + "devices")?.count
            if let a = Self.optionalText(t + "available_instances", addr, &warnings) {
                if let n = Self.decimal(a), n >= 0, n <= Int(Int32.max) {
                    m.availableInstances = n
                } else {
                    warnings.append(
                        ProbeWarning(
                            address: addr, path: t + "available_instances",
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
        let addr = f.address.description
        if entries.contains("mem_info_vram_total"),
            let t = Self.optionalText(dir + "/mem_info_vram_total", addr, &warnings)
        {
            // Bytes; at most 2^53, the largest integer every JSON reader keeps exactly (8 PiB).
            if let v = Self.decimal(t), v >= 0, v <= 1 << 53 {
                g.vramBytes = Sourced(UInt64(v), source: "driver-file:mem_info_vram_total")
            } else {
                warnings.append(
                    ProbeWarning(
                        address: addr, path: dir + "/mem_info_vram_total",
                        message: "ignored \(dir)/mem_info_vram_total: \"\(t.prefix(40))\" is not a byte count"))
            }
        }
        if entries.contains("nvidia") {
            if let t = Self.optionalText(dir + "/nvidia/creatable_vgpu_types", addr, &warnings) {
                g.creatableVGPUTypes = TextLines.split(t).compactMap { line in
                    let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmedBlanks() }
                    guard parts.count == 2, !parts[0].isEmpty, parts[0].lowercased() != "id" else { return nil }
                    return VGPUType(id: parts[0], name: parts[1])
                }
            }
            g.currentVGPUType = Self.optionalText(dir + "/nvidia/current_vgpu_type", addr, &warnings)
        }
        f.gpu = g
    }

    /// `8.0 GT/s PCIe` (kernel) → `8GT/s` (lspci); `2.5 GT/s` → `2.5GT/s`. Nil for anything
    /// else: the number is read as digits, never through a Double (whose `inf`, `nan` or `1e19`
    /// would trap in an integer conversion), and must lie in (0, 10000) with at most three decimals.
    static func normaliseSpeed(_ s: String) -> String? {
        let words = s.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 2 || (words.count == 3 && words[2] == "PCIe"), words[1] == "GT/s" else { return nil }
        let parts = words[0].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0], fraction = parts.count == 2 ? parts[1] : ""
        func digits(_ d: Substring) -> Bool { d.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard (1...4).contains(whole.count), digits(whole), fraction.count <= 3, digits(fraction),
            parts.count == 1 || !fraction.isEmpty
        else { return nil }
        var w = whole.drop { $0 == "0" }
        if w.isEmpty { w = "0" }
        var frac = fraction
        while frac.last == "0" { frac = frac.dropLast() }
        guard w != "0" || !frac.isEmpty else { return nil }
        return String(w) + (frac.isEmpty ? "" : "." + frac) + "GT/s"
    }

    /// A decimal integer as the kernel prints one (`%d`, `%u`, `%llu`): an optional `-` and
    /// 1 to 19 digits, nothing else (no `+`, no blanks, no exponent). Nil on overflow.
    static func decimal(_ s: String) -> Int? {
        var u = Substring(s).utf8
        let negative = u.first == 0x2d
        if negative { u = u.dropFirst() }
        guard (1...19).contains(u.count), u.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var v = 0
        for c in u {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(c - 0x30))
            if o1 || o2 { return nil }
            v = a
        }
        return negative ? -v : v
    }

    /// An IOMMU group's name (`/sys/kernel/iommu_groups/<N>`): the kernel's `%d` of a
    /// non-negative ida number, so plain digits without leading zeros, at most Int32.max.
    static func groupNumber(_ name: some StringProtocol) -> Int? {
        let u = name.utf8
        guard (1...10).contains(u.count), u.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            u.count == 1 || u.first != 0x30, let n = Int(name), n <= Int(Int32.max)
        else { return nil }
        return n
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
