import Glibc

/// Who holds a PCI function, and how the host itself uses it.
///
/// - Processes: every `<proc>/<pid>/fd/*` link is read once. A VFIO group node
///   (`<dev>/vfio/<N>`) is held for every function of group N; a VFIO cdev
///   (`<dev>/vfio/devices/vfioX`) for the function whose `vfio-dev/` lists it; a DRM node
///   (`<dev>/dri/cardN`, `renderDN`) for the function whose `drm/` lists it; `<dev>/nvidiaN` for
///   the GPU whose `<proc>/driver/nvidia/gpus/<BDF>/information` says `Device Minor: N`.
///   Another user's `fd` directory needs CAP_SYS_PTRACE: such processes are counted, not guessed.
/// - The host: a frame buffer that carries the console, an interface that is up and has a
///   route or address, mounted file systems and swap on a function's disks.
///
/// A link names the node as the kernel resolves it (`d_path`), so the dev root is matched both
/// as given and with its symbolic links resolved.
struct UsageReader {
    let paths: HostPaths

    /// Fills `blockDevices` and `netInterfaces` on the functions (from sysfs alone) and, when a
    /// proc root is given, the holders, unreadable-process count and host uses.
    func read(
        _ functions: inout [PCIFunction], iommu: IOMMUFacts, into host: inout HostFacts,
        warnings: inout [ProbeWarning]
    ) {
        let blocks = BlockTopology(sys: paths.sys)
        if let disks = blocks.disksByFunction() {
            for i in functions.indices { functions[i].blockDevices = disks[functions[i].address] }
        }
        // `<BDF>/net/` (read with the function) misses interfaces one bus layer down, such as
        // virtio's `<BDF>/virtio0/net/eth0`: `<sys>/class/net` names them all.
        if let nets = ClassDevices.byFunction(paths.sys + "/class/net") {
            for i in functions.indices {
                guard let more = nets[functions[i].address] else { continue }
                functions[i].netInterfaces = Array(Set(more).union(functions[i].netInterfaces ?? [])).sorted()
            }
        }
        guard let proc = paths.proc else { return }
        if let dev = paths.dev, let scan = scanProcesses(proc: proc, dev: dev, warnings: &warnings) {
            host.deviceHolders = holders(scan, functions: functions, iommu: iommu, proc: proc, warnings: &warnings)
            host.unreadableProcesses = scan.unreadable
        }
        host.hostUses = hostUses(functions, proc: proc, blocks: blocks, warnings: &warnings)
    }

    // MARK: processes

    /// A device node of interest, from an fd link.
    enum Node: Hashable {
        case vfioGroup(Int)
        case vfioDevice(String)
        case drm(String)
        case nvidia(Int)
    }

    struct Open: Hashable {
        var pid: Int
        var node: Node
        /// The link text: the node as the process has it open.
        var path: String
    }

    struct ProcessScan {
        var opens: [Open] = []
        var unreadable = 0
    }

    /// A failure to open `<proc>/<pid>/fd` that means "not allowed" (counted) rather than "the
    /// process is gone" (ENOENT, ESRCH: not counted).
    static func deniesAccess(_ errno: Int32) -> Bool { errno == EACCES || errno == EPERM }

    /// What an fd link names, relative to a dev root prefix (`<dev>/`); nil for anything else
    /// (`nvidiactl`, `nvidia-uvm` and `vfio/vfio` are not per function).
    static func classify(_ target: String, devPrefixes: [String]) -> Node? {
        guard let prefix = devPrefixes.first(where: { target.hasPrefix($0) }) else { return nil }
        let rest = target.dropFirst(prefix.count)
        func number(_ s: Substring) -> Int? { isDigits(s) ? Int(s) : nil }
        if rest.hasPrefix("vfio/devices/vfio") {
            let name = rest.dropFirst("vfio/devices/".count)
            return number(name.dropFirst(4)) != nil ? .vfioDevice(String(name)) : nil
        }
        if rest.hasPrefix("vfio/"), let n = number(rest.dropFirst(5)) { return .vfioGroup(n) }
        if rest.hasPrefix("dri/") {
            let name = rest.dropFirst(4)
            for p in ["card", "renderD"] where name.hasPrefix(p) && number(name.dropFirst(p.count)) != nil {
                return .drm(String(name))
            }
            return nil
        }
        if rest.hasPrefix("nvidia"), let n = number(rest.dropFirst(6)) { return .nvidia(n) }
        return nil
    }

    /// Reads every process's fd links once. Nil (with a warning) when `proc` cannot be listed.
    func scanProcesses(proc: String, dev: String, warnings: inout [ProbeWarning]) -> ProcessScan? {
        guard let pids = SysfsRoot.list(proc) else {
            warnings.append(ProbeWarning(path: proc, message: "cannot list \(proc): device holders unknown"))
            return nil
        }
        var prefixes = [Self.trimmed(dev) + "/"]
        if let real = SysfsRoot.resolve(dev), real + "/" != prefixes[0] { prefixes.append(real + "/") }
        var scan = ProcessScan()
        var seen = Set<Open>()
        for name in pids {
            guard Self.isDigits(name[...]), let pid = Int(name) else { continue }
            let fdDir = proc + "/" + name + "/fd"
            let fd = open(fdDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd < 0 {
                if Self.deniesAccess(errno) { scan.unreadable += 1 }
                continue
            }
            defer { close(fd) }
            guard let fds = SysfsRoot.list(directory: fd) else {
                if Self.deniesAccess(errno) { scan.unreadable += 1 }
                continue
            }
            for n in fds {
                guard let target = SysfsRoot.linkTarget(at: fd, n),
                    let node = Self.classify(target, devPrefixes: prefixes)
                else { continue }
                let o = Open(pid: pid, node: node, path: target)
                if seen.insert(o).inserted { scan.opens.append(o) }
            }
        }
        return scan
    }

    /// Turns open nodes into holders of functions, with the process's name and QEMU guest.
    func holders(
        _ scan: ProcessScan, functions: [PCIFunction], iommu: IOMMUFacts, proc: String,
        warnings: inout [ProbeWarning]
    ) -> [DeviceHolder] {
        guard !scan.opens.isEmpty else { return [] }
        var groups: [Int: Set<PCIAddress>] = [:]
        for g in iommu.groups { groups[g.number, default: []].formUnion(g.devices) }
        var byNode: [String: PCIAddress] = [:]
        for f in functions {
            if let g = f.iommuGroup { groups[g, default: []].insert(f.address) }
            if let v = f.vfioDevice { byNode["vfio:" + v] = f.address }
            for n in (f.gpu?.drmCards ?? []) + (f.gpu?.drmRenderNodes ?? []) { byNode["dri:" + n] = f.address }
        }
        let minors =
            scan.opens.contains { if case .nvidia = $0.node { true } else { false } }
            ? Self.nvidiaMinors(proc: proc, warnings: &warnings) : [:]
        var names: [Int: (process: String, guest: String?)] = [:]
        var out: [DeviceHolder] = []
        for o in scan.opens {
            let (kind, addresses): (String, [PCIAddress]) =
                switch o.node {
                case .vfioGroup(let n): ("vfio-group", (groups[n] ?? []).sorted())
                case .vfioDevice(let v): ("vfio-device", byNode["vfio:" + v].map { [$0] } ?? [])
                case .drm(let d): ("drm", byNode["dri:" + d].map { [$0] } ?? [])
                case .nvidia(let m): ("nvidia", minors[m].map { [$0] } ?? [])
                }
            guard !addresses.isEmpty else { continue }
            if names[o.pid] == nil {
                let base = proc + "/\(o.pid)/"
                // A process that exits meanwhile leaves ENOENT or ESRCH: not worth a warning.
                // A file that is refused (not a regular file, too large) is named.
                var comm = "", cmdline: [UInt8] = []
                switch SysfsRoot.readWholeText(base + "comm") {
                case .success(let s): comm = s
                case .failure(let e): if e.refused { warnings.append(ProbeWarning(path: e.path, message: e.description)) }
                }
                switch SysfsRoot.readWhole(base + "cmdline", limit: SysfsRoot.Limit.cmdline) {
                case .success(let b): cmdline = b
                case .failure(let e): if e.refused { warnings.append(ProbeWarning(path: e.path, message: e.description)) }
                }
                names[o.pid] = (comm, Self.guestName(cmdline))
            }
            let n = names[o.pid]!
            for a in addresses {
                out.append(DeviceHolder(address: a, pid: o.pid, process: n.process, node: o.path, kind: kind, guest: n.guest))
            }
        }
        return out.sorted { ($0.address, $0.pid, $0.node) < ($1.address, $1.pid, $1.node) }
    }

    /// `<proc>/driver/nvidia/gpus/<BDF>/information` → `Device Minor: N` → function.
    static func nvidiaMinors(proc: String, warnings: inout [ProbeWarning]) -> [Int: PCIAddress] {
        let dir = proc + "/driver/nvidia/gpus"
        var out: [Int: PCIAddress] = [:]
        for bdf in SysfsRoot.list(dir) ?? [] {
            guard let a = PCIAddress(bdf) else { continue }
            let path = dir + "/" + bdf + "/information"
            let info: String
            switch SysfsRoot.readWholeText(path) {
            case .success(let s): info = s
            case .failure(let e):
                if e.errno != ENOENT { warnings.append(ProbeWarning(address: a.description, path: path, message: e.description)) }
                continue
            }
            for line in TextLines.split(info) {
                let kv = line.split(separator: ":", maxSplits: 1)
                // A minor is the N of /dev/nvidiaN: 0 to 255 (the driver's NV_MAX_DEVICES is 32).
                if kv.count == 2, kv[0].trimmedBlanks() == "Device Minor",
                    let m = SysfsFunctionReader.decimal(kv[1].trimmedBlanks()), (0...1_048_575).contains(m)
                {
                    out[m] = a
                }
            }
        }
        return out
    }

    /// The guest name in a QEMU command line (NUL-separated): the argument after `-name`,
    /// either `guest=NAME,…` (libvirt) or a plain `NAME,…`. QEMU writes a comma inside a value
    /// as `,,`. Nil when there is no `-name`.
    static func guestName(_ cmdline: [UInt8]) -> String? {
        let args = cmdline.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard let i = args.firstIndex(where: { $0 == "-name" || $0 == "--name" }), i + 1 < args.count else { return nil }
        // Split on single commas; `,,` is a literal comma.
        var parts: [String] = [], cur = ""
        var chars = args[i + 1][...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if c == "," {
                if chars.first == "," { cur.append(","); chars = chars.dropFirst() } else { parts.append(cur); cur = "" }
            } else {
                cur.append(c)
            }
        }
        parts.append(cur)
        if let g = parts.first(where: { $0.hasPrefix("guest=") }) { return g.count > 6 ? String(g.dropFirst(6)) : nil }
        if let first = parts.first, !first.isEmpty, !first.contains("=") { return first }
        return nil
    }

    // MARK: host uses

    func hostUses(
        _ functions: [PCIFunction], proc: String, blocks: BlockTopology,
        warnings: inout [ProbeWarning]
    ) -> [HostUse] {
        var out: [HostUse] = []
        out += framebufferConsole(warnings: &warnings)
        out += networkUp(functions, net: ProcNet(proc: proc, warnings: &warnings), warnings: &warnings)
        let mounts = table(proc + "/self/mountinfo", &warnings).map(MountTable.parseMountInfo) ?? []
        out += mounted(mounts, blocks)
        if let swaps = table(proc + "/swaps", &warnings).map(MountTable.parseSwaps) {
            out += swap(swaps, mounts: mounts, blocks)
        }
        var seen = Set<HostUse>()
        return out.filter { seen.insert($0).inserted }
            .sorted { ($0.address, $0.kind, $0.detail) < ($1.address, $1.kind, $1.detail) }
    }

    /// A procfs table; a file that exists but cannot be read is named in a warning.
    private func table(_ path: String, _ warnings: inout [ProbeWarning]) -> String? {
        switch SysfsRoot.readWhole(path) {
        case .success(let b): return String(decoding: b, as: UTF8.self)
        case .failure(let e):
            if e.errno != ENOENT { warnings.append(ProbeWarning(path: e.path, message: e.description + ": host uses incomplete")) }
            return nil
        }
    }

    /// Frame buffers whose device is a PCI function, while a virtual console is bound to a
    /// frame buffer (`<sys>/class/vtconsole/vtcon*/bind` = 1, `name` says "frame buffer").
    func framebufferConsole(warnings: inout [ProbeWarning]) -> [HostUse] {
        let vt = paths.sys + "/class/vtconsole"
        var fbconBound = false
        for c in SysfsRoot.list(vt) ?? [] where !fbconBound {
            fbconBound =
                SysfsRoot.text(vt + "/" + c + "/bind", warnings: &warnings) == "1"
                && (SysfsRoot.text(vt + "/" + c + "/name", warnings: &warnings) ?? "").contains("frame buffer")
        }
        guard fbconBound else { return [] }
        let gfx = paths.sys + "/class/graphics"
        var out: [HostUse] = []
        for fb in (SysfsRoot.list(gfx) ?? []).filter({ $0.hasPrefix("fb") }).sorted() {
            guard let a = Self.function(at: gfx + "/" + fb + "/device") else { continue }
            let name = SysfsRoot.text(gfx + "/" + fb + "/name", warnings: &warnings).map { " (\($0))" } ?? ""
            out.append(HostUse(address: a, kind: "framebuffer-console", detail: "\(fb)\(name) carries the console"))
        }
        return out
    }

    /// A function's interface that is up and has a route or a non-link-local address, itself or
    /// through the bond, bridge or VLAN above it (`upper_*`, two levels).
    func networkUp(_ functions: [PCIFunction], net: ProcNet, warnings: inout [ProbeWarning]) -> [HostUse] {
        var out: [HostUse] = []
        for f in functions {
            for iface in f.netInterfaces ?? [] where isUp(iface, &warnings) {
                var candidates = [iface]
                for u in uppers(iface) { candidates.append(u); candidates += uppers(u) }
                for c in candidates where c == iface || isUp(c, &warnings) {
                    guard let why = net.reachability(of: c) else { continue }
                    let detail = c == iface ? "\(iface) is up with \(why)" : "\(iface) is up under \(c), which has \(why)"
                    out.append(HostUse(address: f.address, kind: "network-up", detail: detail))
                    break
                }
            }
        }
        return out
    }

    /// `operstate` is `up`, or `flags` has IFF_UP (0x1) where the operational state is unknown.
    private func isUp(_ iface: String, _ warnings: inout [ProbeWarning]) -> Bool {
        let base = paths.sys + "/class/net/" + iface
        if let s = SysfsRoot.text(base + "/operstate", warnings: &warnings), s != "unknown" { return s == "up" }
        if let fl = SysfsRoot.text(base + "/flags", warnings: &warnings), let v = parseHexStrict(fl) { return v & 0x1 != 0 }
        return false
    }

    private func uppers(_ iface: String) -> [String] {
        (SysfsRoot.list(paths.sys + "/class/net/" + iface) ?? []).filter { $0.hasPrefix("upper_") }.sorted()
            .map { String($0.dropFirst(6)) }
    }

    /// Every mount with a block device on a PCI function, at most 32 per function (bind mounts
    /// of one disk can run to hundreds), then one line that counts the rest.
    func mounted(_ mounts: [MountTable.Mount], _ blocks: BlockTopology) -> [HostUse] {
        var perFunction: [PCIAddress: [String]] = [:]
        // Bind mounts repeat a device: resolve each once.
        var cache: [String: (top: String, found: [PCIAddress: String])] = [:]
        for m in mounts {
            let key = m.majorMinor + " " + m.source
            let entry =
                cache[key]
                ?? {
                    let found = HostReader.blockFunctions(of: m, blocks)
                    // The device the file system is on (`dm-0`), named where it differs from the disk.
                    let real =
                        m.majorMinor.hasPrefix("0:") || found.isEmpty ? nil : SysfsRoot.resolve(blocks.sys + "/dev/block/" + m.majorMinor)
                    return (BlockTopology.lastComponent(real ?? m.source), found)
                }()
            cache[key] = entry
            let top = entry.top
            for (a, leaf) in entry.found {
                let on = top == leaf || top.isEmpty ? leaf : "\(top) (\(leaf))"
                perFunction[a, default: []].append("\(m.mountPoint) (\(m.fsType)) on \(on)")
            }
        }
        var out: [HostUse] = []
        for (a, details) in perFunction {
            var unique: [String] = []
            var seen = Set<String>()
            for d in details where seen.insert(d).inserted { unique.append(d) }
            for d in unique.prefix(32) { out.append(HostUse(address: a, kind: "mounted", detail: d)) }
            if unique.count > 32 {
                out.append(HostUse(address: a, kind: "mounted", detail: "and \(unique.count - 32) more mount points"))
            }
        }
        return out
    }

    /// Active swap on a function: a partition or device (`/dev/NAME`), or a swap file on a
    /// file system mounted from one.
    func swap(_ swaps: [MountTable.Swap], mounts: [MountTable.Mount], _ blocks: BlockTopology) -> [HostUse] {
        var out: [HostUse] = []
        for s in swaps {
            if s.type == "file" {
                guard let m = MountTable.mount(holding: s.path, in: mounts) else { continue }
                for (a, leaf) in HostReader.blockFunctions(of: m, blocks) {
                    out.append(HostUse(address: a, kind: "swap", detail: "swap file \(s.path) on \(leaf)"))
                }
            } else if s.path.hasPrefix("/dev/") {
                for (a, leaf) in blocks.functions(name: BlockTopology.lastComponent(s.path)) {
                    let name = BlockTopology.lastComponent(s.path)
                    out.append(HostUse(address: a, kind: "swap", detail: name == leaf ? "swap on \(leaf)" : "swap on \(name) (\(leaf))"))
                }
            }
        }
        return out
    }

    // MARK: helpers

    /// The PCI function a sysfs `device` link points to: resolved, or read as text when the
    /// link dangles (captured trees).
    static func function(at link: String) -> PCIAddress? {
        if let real = SysfsRoot.resolve(link) { return HostReader.owningFunction(real) }
        return SysfsRoot.linkTarget(link).flatMap(HostReader.owningFunction)
    }

    static func isDigits(_ s: Substring) -> Bool { !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }

    static func trimmed(_ p: String) -> String {
        var s = p
        while s.count > 1, s.hasSuffix("/") { s.removeLast() }
        return s
    }
}
