import Glibc

/// Reads host-level facts from injected roots. A root that is not given leaves its facts null.
struct HostReader {
    let paths: HostPaths

    func read(functions: [PCIFunction], warnings: inout [ProbeWarning]) -> HostFacts {
        var h = HostFacts()
        let sys = paths.sys
        if let proc = paths.proc {
            h.hostname = procFile(proc + "/sys/kernel/hostname", &warnings)
            h.bootID = procFile(proc + "/sys/kernel/random/boot_id", &warnings)
            h.kernel = procFile(proc + "/sys/kernel/osrelease", &warnings)
            if let cpuinfo = procFile(proc + "/cpuinfo", limit: SysfsRoot.Limit.procTable, &warnings) { readCPU(cpuinfo, into: &h) }
            if let cmdline = procFile(proc + "/cmdline", &warnings) {
                h.kernelCommandLine = cmdline
                let tokens = cmdline.split(separator: " ").map(String.init)
                h.iommuParameters = tokens.filter { t in
                    [
                        "intel_iommu=", "amd_iommu=", "iommu=", "iommu.", "vfio-pci.", "vfio_iommu_type1.",
                        "pcie_acs_override=",
                    ].contains { t.hasPrefix($0) }
                }
                h.acsOverride = tokens.last { $0.hasPrefix("pcie_acs_override=") }.map { String($0.dropFirst(18)) }
            }
            h.rootFilesystemDevices = rootFilesystemDevices(proc: proc, warnings: &warnings)
            h.defaultRouteDevices = defaultRouteDevices(proc: proc, warnings: &warnings)
        }
        if let etc = paths.etc {
            h.machineID = procFile(etc + "/machine-id", &warnings)
            if h.hostname == nil { h.hostname = procFile(etc + "/hostname", &warnings) }
        }
        if let dev = paths.dev {
            h.vfioAvailable = SysfsRoot.exists(dev + "/vfio/vfio")
            h.iommufdAvailable = SysfsRoot.exists(dev + "/iommu")
        }
        if SysfsRoot.exists(sys + "/module") {
            h.kvmLoaded = SysfsRoot.exists(sys + "/module/kvm")
            for module in ["kvm_intel", "kvm_amd"] {
                if let v = SysfsRoot.text(sys + "/module/\(module)/parameters/nested", warnings: &warnings) {
                    h.nestedVirtualization = v == "Y" || v == "1"
                }
            }
            if let v = SysfsRoot.text(sys + "/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", warnings: &warnings) {
                h.unsafeInterruptsAllowed = v == "Y" || v == "1"
            }
        }
        h.interruptRemapping = interruptRemapping(sys: sys, warnings: &warnings)
        return h
    }

    /// A procfs or `/etc` file's text (bounded, non-blocking, regular files only); nil when it
    /// is absent, and a warning naming it when it exists and cannot be read.
    private func procFile(_ path: String, limit: Int = SysfsRoot.Limit.small, _ warnings: inout [ProbeWarning]) -> String? {
        switch SysfsRoot.readWholeText(path, limit: limit) {
        case .success(let s): return s
        case .failure(let e):
            if e.errno != ENOENT { warnings.append(ProbeWarning(path: e.path, message: e.description)) }
            return nil
        }
    }

    private func readCPU(_ text: String, into h: inout HostFacts) {
        // The first processor block is enough: flags are uniform across cores.
        for line in TextLines.split(text, keepEmpty: true) {
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
    private func interruptRemapping(sys: String, warnings: inout [ProbeWarning]) -> Bool? {
        let units = SysfsRoot.list(sys + "/class/iommu") ?? []
        let dmar = units.filter { $0.hasPrefix("dmar") }
        guard !dmar.isEmpty, dmar.count == units.count else { return nil }
        for u in dmar {
            guard let t = SysfsRoot.text(sys + "/class/iommu/\(u)/intel-iommu/ecap", warnings: &warnings), let v = parseHexStrict(t)
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
    /// following `slaves/` for device-mapper, LVM and md.
    private func rootFilesystemDevices(proc: String, warnings: inout [ProbeWarning]) -> [PCIAddress]? {
        let b: [UInt8]
        switch SysfsRoot.readWhole(proc + "/self/mountinfo") {
        case .success(let bytes): b = bytes
        case .failure(let e):
            // Named once: the host-use scan reads the same file and says the same.
            if e.errno != ENOENT { warnings.append(ProbeWarning(path: e.path, message: e.description + ": host uses incomplete")) }
            return nil
        }
        // The last mount on `/` is the one in effect.
        guard let root = MountTable.parseMountInfo(String(decoding: b, as: UTF8.self)).last(where: { $0.mountPoint == "/" })
        else { return nil }
        return Self.blockFunctions(of: root, BlockTopology(sys: paths.sys)).keys.sorted()
    }

    /// The functions under a mount's block device: by its device number, or by the `/dev/NAME`
    /// source when the number is anonymous (major 0: btrfs and other multi-device file systems).
    static func blockFunctions(of m: MountTable.Mount, _ blocks: BlockTopology) -> [PCIAddress: String] {
        if !m.majorMinor.hasPrefix("0:") { return blocks.functions(majorMinor: m.majorMinor) }
        guard m.source.hasPrefix("/dev/") else { return [:] }
        return blocks.functions(name: BlockTopology.lastComponent(m.source))
    }

    /// Interfaces with a default route (IPv4 and IPv6) → PCI functions, following `lower_*`
    /// links once for bonds, bridges and VLANs.
    private func defaultRouteDevices(proc: String, warnings: inout [ProbeWarning]) -> [PCIAddress]? {
        guard let ifaces = ProcNet(proc: proc, warnings: &warnings).defaultRouteInterfaces else { return nil }
        var found = Set<PCIAddress>()
        for i in ifaces { found.formUnion(Self.netFunctions(i, sys: paths.sys)) }
        return found.sorted()
    }

    /// The PCI functions under a network interface: its `device` link, or for a bond, bridge or
    /// VLAN, the devices of its `lower_*` interfaces (three levels at most).
    static func netFunctions(_ iface: String, sys: String, depth: Int = 0) -> Set<PCIAddress> {
        let base = sys + "/class/net/" + iface
        if let real = SysfsRoot.resolve(base + "/device"), let a = owningFunction(real) { return [a] }
        guard depth < 3 else { return [] }
        var out = Set<PCIAddress>()
        for entry in SysfsRoot.list(base) ?? [] where entry.hasPrefix("lower_") {
            out.formUnion(netFunctions(String(entry.dropFirst(6)), sys: sys, depth: depth + 1))
        }
        return out
    }
}
