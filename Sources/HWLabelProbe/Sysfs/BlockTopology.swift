/// Block devices in sysfs and the PCI functions they sit on.
///
/// `<sys>/dev/block/<major>:<minor>` and `<sys>/class/block/<name>` link into `/sys/devices`;
/// the last PCI address in the resolved path is the function that owns a disk
/// (`…/0000:3d:00.0/nvme/nvme0/nvme0n1/nvme0n1p2`, `…/0000:00:04.0/virtio1/block/vda`).
/// Stacked devices (device-mapper, LVM, md) list what they are built on in `slaves/`.
struct BlockTopology {
    /// The sysfs root (`/sys`).
    let sys: String

    /// The functions under the block device at `block` (a `<sys>/dev/block/M:m` or
    /// `<sys>/class/block/<name>` path), following `slaves/` for dm, LVM and md (a partition's
    /// slaves live on its parent disk), three levels at most: function → the name of the block
    /// device found on it (`nvme0n1p2`). Empty when none is on PCI or the path does not resolve.
    func functions(of block: String) -> [PCIAddress: String] {
        var found: [PCIAddress: String] = [:]
        func walk(_ block: String, depth: Int) {
            guard let real = SysfsRoot.resolve(block) else { return }
            if let a = HostReader.owningFunction(real), found[a] == nil { found[a] = Self.lastComponent(real) }
            guard depth < 3 else { return }
            var below = SysfsRoot.list(real + "/slaves") ?? []
            if SysfsRoot.exists(real + "/partition") {
                below += SysfsRoot.list(String(real[..<(real.lastIndex(of: "/") ?? real.endIndex)]) + "/slaves") ?? []
            }
            for s in below { walk(sys + "/class/block/" + s, depth: depth + 1) }
        }
        walk(block, depth: 0)
        return found
    }

    /// `functions(of:)` for a device number as `/proc/self/mountinfo` prints it (`259:2`).
    func functions(majorMinor: String) -> [PCIAddress: String] { functions(of: sys + "/dev/block/" + majorMinor) }

    /// `functions(of:)` for a kernel block device name (`nvme0n1p2`, `dm-0`).
    func functions(name: String) -> [PCIAddress: String] {
        guard !name.isEmpty, !name.contains("/"), name != "." && name != ".." else { return [:] }
        return functions(of: sys + "/class/block/" + name)
    }

    /// Whole disks under each PCI function, from the `<sys>/class/block/*` links. A partition
    /// is left out: its link ends `<disk>/<partition>`. Nil when `<sys>/class/block` cannot be listed.
    func disksByFunction() -> [PCIAddress: [String]]? {
        let dir = sys + "/class/block"
        let all = Set(SysfsRoot.list(dir) ?? [])
        return ClassDevices.byFunction(dir) { _, target in
            !(target.count >= 2 && all.contains(String(target[target.count - 2])))
        }
    }

    static func lastComponent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
