/// Where a snapshot is read from.
public enum ProbeSource: Sendable, Hashable {
    /// This host: libudev enumerates subsystem `pci`, libpci reads `/sys/bus/pci`.
    case live(HostPaths = .system)
    /// A captured or synthetic sysfs tree (`DIR` is what `/sys` would be). Host facts that live
    /// outside sysfs come from `paths` when given (e.g. a captured `/proc`), else are null.
    case sysfs(root: String, paths: HostPaths? = nil)
    /// An `lspci -x/-xxx/-xxxx` dump: config space only; sysfs-only facts are null.
    case dump(file: String)
}
