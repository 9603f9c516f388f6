import Glibc

/// `/sys/kernel/iommu_groups` and `/sys/class/iommu`.
struct IOMMUReader {
    let root: SysfsRoot

    /// `complete`: every function listed in `bus/pci/devices` was scanned. Then, when each of
    /// them names its group (its `iommu_group` link), a group's PCI members are the functions
    /// whose link names it, as the kernel keeps the two (`iommu_group_add_device` makes the link
    /// and the `devices` entry together): its `devices` directory is read only for a group no
    /// function names (its members are not PCI functions, or none was scanned).
    func read(functions: [PCIFunction], complete: Bool = false, warnings: inout [ProbeWarning]) -> IOMMUFacts {
        let units = (SysfsRoot.list(root.path + "/class/iommu") ?? []).sorted()
        let groupsDir = root.path + "/kernel/iommu_groups"
        var groups: [IOMMUGroup] = []
        if let names = SysfsRoot.list(groupsDir) {
            // One group per device is common (SR-IOV VFs): thousands of small directories, read
            // on every core like the functions themselves.
            let numbers = names.compactMap { SysfsFunctionReader.groupNumber($0) }
            // Files are opened relative to the groups directory: the kernel walks two path
            // components per file, not the whole root.
            let dirfd = open(groupsDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { if dirfd >= 0 { close(dirfd) } }
            var byGroup: [Int: [PCIAddress]] = [:]
            if complete, functions.allSatisfy({ $0.iommuGroup != nil }) {
                // Functions are in address order, so each group's list is too.
                for f in functions { byGroup[f.iommuGroup!, default: []].append(f.address) }
            }
            let parts = Parallel.chunkedMap(numbers, serialBelow: 256) { n -> (IOMMUGroup, ProbeWarning?) in
                let devices =
                    byGroup[n] ?? (SysfsRoot.list(at: dirfd, "\(n)/devices") ?? []).compactMap { PCIAddress($0) }.sorted()
                var type: String?, warning: ProbeWarning?
                switch SysfsRoot.readText(at: dirfd, "\(n)/type", path: groupsDir + "/\(n)/type") {
                case .success(let t): type = t
                case .failure(let e):
                    if e.errno != ENOENT { warning = ProbeWarning(path: e.path, message: e.description + ": group type unknown") }
                }
                return (IOMMUGroup(number: n, type: type, devices: devices), warning)
            }
            groups = parts.map(\.0)
            warnings += parts.compactMap(\.1)
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
