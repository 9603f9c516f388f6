/// The devices of a sysfs class (`<sys>/class/net`, `<sys>/class/block`) grouped by the PCI
/// function each sits under.
///
/// Each entry is a link into `/sys/devices`; the last PCI address in its target owns it, however
/// many bus layers lie between (`…/0000:00:03.0/virtio0/net/eth0`,
/// `…/0000:3d:00.0/nvme/nvme0/nvme0n1`). Links are read with readlink, not resolved, so a
/// capture's dangling links still name their place; virtual devices (`…/virtual/net/bond0`)
/// belong to no function.
enum ClassDevices {
    /// Names by function, sorted; `include` sees each name and its link's path components.
    /// Nil when the class directory cannot be listed.
    static func byFunction(
        _ classDir: String,
        include: (_ name: String, _ target: [Substring]) -> Bool = { _, _ in true }
    ) -> [PCIAddress: [String]]? {
        guard let names = SysfsRoot.list(classDir) else { return nil }
        var out: [PCIAddress: [String]] = [:]
        for name in names {
            guard let target = SysfsRoot.linkTarget(classDir + "/" + name),
                include(name, target.split(separator: "/")),
                let a = HostReader.owningFunction(target)
            else { continue }
            out[a, default: []].append(name)
        }
        return out.mapValues { $0.sorted() }
    }
}
