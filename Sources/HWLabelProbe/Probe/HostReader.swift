import Glibc

/// Reads host-level facts from injected roots. A root that is not given leaves its facts null.
struct HostReader {
    let paths: HostPaths

    func read(functions: [PCIFunction], warnings: inout [ProbeWarning]) -> HostFacts {
        var h = HostFacts()
        let sys = paths.sys
        if let proc = paths.proc {
            h.hostname = SysfsRoot.text(proc + "/sys/kernel/hostname")
            h.bootID = SysfsRoot.text(proc + "/sys/kernel/random/boot_id")
            h.kernel = SysfsRoot.text(proc + "/sys/kernel/osrelease")
            if let cpuinfo = SysfsRoot.text(proc + "/cpuinfo") { readCPU(cpuinfo, into: &h) }
            if let cmdline = SysfsRoot.text(proc + "/cmdline") {
                h.kernelCommandLine = cmdline
                let tokens = cmdline.split(separator: " ").map(String.init)
                h.iommuParameters = tokens.filter { t in
                    ["intel_iommu=", "amd_iommu=", "iommu=", "iommu.", "vfio-pci.", "vfio_iommu_type1.",
                     "pcie_acs_override="].contains { t.hasPrefix($0) }
                }
                h.acsOverride = tokens.last { $0.hasPrefix("pcie_acs_override=") }.map { String($0.dropFirst(18)) }
            }
            h.rootFilesystemDevices = rootFilesystemDevices(proc: proc)
            h.defaultRouteDevices = defaultRouteDevices(proc: proc)
        }
        if let etc = paths.etc {
            h.machineID = SysfsRoot.text(etc + "/machine-id")
            if h.hostname == nil { h.hostname = SysfsRoot.text(etc + "/hostname") }
        }
        if let dev = paths.dev {
            h.vfioAvailable = SysfsRoot.exists(dev + "/vfio/vfio")
            h.iommufdAvailable = SysfsRoot.exists(dev + "/iommu")
        }
        if SysfsRoot.exists(sys + "/module") {
            h.kvmLoaded = SysfsRoot.exists(sys + "/module/kvm")
            for module in ["kvm_intel", "kvm_amd"] {
                if let v = SysfsRoot.text(sys + "/module/\(module)/parameters/nested") {
                    h.nestedVirtualization = v == "Y" || v == "1"
                }
            }
            if let v = SysfsRoot.text(sys + "/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts") {
                h.unsafeInterruptsAllowed = v == "Y" || v == "1"
            }
        }
        h.interruptRemapping = interruptRemapping(sys: sys)
        return h
    }

    private func readCPU(_ text: String, into h: inout HostFacts) {
        // The first processor block is enough: flags are uniform across cores.
        for line in text.split(separator: "\n") {
            if line.isEmpty { break }
            let kv = line.split(separator: ":", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let key = kv[0].trimmedBlanks(), value = kv[1].trimmedBlanks()
            if key == "vendor_id" { h.cpuVendor = value }
            if key == "flags" {
                let flags = Set(value.split(separator: " "))
                h.virtualizationFlag = flags.contains("vmx") ? "vmx" : flags.contains("svm") ? "svm" : ""
            }
        }
    }

    /// Intel VT-d units state interrupt-remapping support in `ecap` bit 3. AMD units do not
    /// expose it in sysfs, so the answer is then unknown.
    private func interruptRemapping(sys: String) -> Bool? {
        let units = SysfsRoot.list(sys + "/class/iommu") ?? []
        let dmar = units.filter { $0.hasPrefix("dmar") }
        guard !dmar.isEmpty, dmar.count == units.count else { return nil }
        for u in dmar {
            guard let t = SysfsRoot.text(sys + "/class/iommu/\(u)/intel-iommu/ecap"), let v = parseHexStrict(t)
            else { return nil }
            if v & 0x8 == 0 { return false }
        }
        return true
    }

    /// The last PCI address in a resolved sysfs device path: the function that owns it.
    static func owningFunction(_ realPath: String) -> PCIAddress? {
        realPath.split(separator: "/").reversed().lazy.compactMap { PCIAddress($0) }.first
    }

    /// `/` → its block device (mountinfo major:minor) → `/sys/dev/block/M:m` → PCI function,
    /// following `slaves/` once for device-mapper, LVM and md.
    private func rootFilesystemDevices(proc: String) -> [PCIAddress]? {
        guard let info = SysfsRoot.text(proc + "/self/mountinfo") else { return nil }
        var majorMinor: String?
        for line in info.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count > 4, f[4] == "/" { majorMinor = String(f[2]) }
        }
        guard let mm = majorMinor else { return nil }
        var found = Set<PCIAddress>()
        func walk(_ block: String, depth: Int) {
            if let real = SysfsRoot.resolve(block), let a = Self.owningFunction(real) { found.insert(a) }
            guard depth < 3 else { return }
            for s in SysfsRoot.list(block + "/slaves") ?? [] { walk(paths.sys + "/class/block/" + s, depth: depth + 1) }
            // A partition's slaves live on its parent disk.
            if let real = SysfsRoot.resolve(block), SysfsRoot.exists(real + "/partition") {
                let parent = String(real.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/"))
                for s in SysfsRoot.list(parent + "/slaves") ?? [] { walk(paths.sys + "/class/block/" + s, depth: depth + 1) }
            }
        }
        walk(paths.sys + "/dev/block/" + mm, depth: 0)
        return found.sorted()
    }

    /// Interfaces with a default route (IPv4 and IPv6) → PCI functions, following `lower_*`
    /// links once for bonds, bridges and VLANs.
    private func defaultRouteDevices(proc: String) -> [PCIAddress]? {
        var ifaces = Set<String>()
        var readAny = false
        if let v4 = SysfsRoot.text(proc + "/net/route") {
            readAny = true
            for line in v4.split(separator: "\n").dropFirst() {
                let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
                if f.count > 2, f[1] == "00000000" { ifaces.insert(String(f[0])) }
            }
        }
        if let v6 = SysfsRoot.text(proc + "/net/ipv6_route") {
            readAny = true
            for line in v6.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.count == 10, f[0] == "00000000000000000000000000000000", f[1] == "00", f[9] != "lo" {
                    ifaces.insert(String(f[9]))
                }
            }
        }
        guard readAny else { return nil }
        var found = Set<PCIAddress>()
        func resolve(_ iface: String, depth: Int) {
            let base = paths.sys + "/class/net/" + iface
            if let real = SysfsRoot.resolve(base + "/device"), let a = Self.owningFunction(real) { found.insert(a) }
            guard depth < 3 else { return }
            for entry in SysfsRoot.list(base) ?? [] where entry.hasPrefix("lower_") {
                resolve(String(entry.dropFirst(6)), depth: depth + 1)
            }
        }
        for i in ifaces { resolve(i, depth: 0) }
        return found.sorted()
    }
}

/// `/sys/kernel/iommu_groups` and `/sys/class/iommu`.
struct IOMMUReader {
    let root: SysfsRoot

    func read(functions: [PCIFunction]) -> IOMMUFacts {
        let units = (SysfsRoot.list(root.path + "/class/iommu") ?? []).sorted()
        let groupsDir = root.path + "/kernel/iommu_groups"
        var groups: [IOMMUGroup] = []
        if let names = SysfsRoot.list(groupsDir) {
            // One group per device is common (SR-IOV VFs): thousands of small directories, read
            // on every core like the functions themselves.
            let numbers = names.compactMap { Int($0) }
            let workers = numbers.count < 256 ? 1 : max(1, min(ProcessInfoLite.cores, 8))
            let size = (numbers.count + workers - 1) / workers
            // Files are opened relative to the groups directory: the kernel walks two path
            // components per file, not the whole root.
            let dirfd = open(groupsDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { if dirfd >= 0 { close(dirfd) } }
            groups = Parallel.map(workers) { w in
                numbers[min(w * size, numbers.count)..<min((w + 1) * size, numbers.count)].map { n in
                    let devices = (SysfsRoot.list(at: dirfd, "\(n)/devices") ?? []).compactMap { PCIAddress($0) }.sorted()
                    let type = try? SysfsRoot.readText(at: dirfd, "\(n)/type", path: groupsDir + "/\(n)/type").get()
                    return IOMMUGroup(number: n, type: type, devices: devices)
                }
            }.flatMap { $0 }
        } else {
            // Captures often keep the functions' iommu_group links but not the groups directory.
            var byGroup: [Int: [PCIAddress]] = [:]
            for f in functions { if let g = f.iommuGroup { byGroup[g, default: []].append(f.address) } }
            groups = byGroup.map { IOMMUGroup(number: $0.key, type: nil, devices: $0.value.sorted()) }
        }
        groups.sort { $0.number < $1.number }
        let enabled: Bool? = !groups.isEmpty ? true : SysfsRoot.exists(root.path + "/kernel") ? false : nil
        return IOMMUFacts(enabled: enabled, units: units, groups: groups)
    }
}
