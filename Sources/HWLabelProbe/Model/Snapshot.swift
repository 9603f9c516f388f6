/// One parsed reading of the machine: every PCI function, the IOMMU layout and host facts.
/// The agent builds descriptors from this value alone.
public struct Snapshot: Codable, Sendable, Hashable {
    public var source: SnapshotSource
    /// Null for an lspci dump (it records no host).
    @Nullable public var host: HostFacts?
    public var iommu: IOMMUFacts
    /// Sorted by address.
    public var functions: [PCIFunction]
    /// Everything the scan could not read, each naming the device and file.
    public var warnings: [ProbeWarning]

    public init(
        source: SnapshotSource, host: HostFacts?, iommu: IOMMUFacts,
        functions: [PCIFunction], warnings: [ProbeWarning]
    ) {
        self.source = source
        self.host = host
        self.iommu = iommu
        self.functions = functions
        self.warnings = warnings
    }

    public func function(at address: PCIAddress) -> PCIFunction? {
        index(of: address).map { functions[$0] }
    }

    /// Where the function at `address` is in `functions`: for walks that read a field or two
    /// of many functions without copying each whole function.
    public func index(of address: PCIAddress) -> Int? {
        // Functions are sorted: binary search keeps `show` and descriptor lookups O(log n).
        var lo = 0, hi = functions.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let a = functions[mid].address
            if a == address { return mid }
            if a < address { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }
}

public struct SnapshotSource: Codable, Sendable, Hashable {
    /// `live`, `sysfs` (a captured or synthetic tree) or `dump` (lspci -x output).
    public var kind: String
    /// The sysfs root or the dump file.
    public var path: String
    public init(kind: String, path: String) {
        self.kind = kind
        self.path = path
    }
}

/// A fact that could not be read. The scan goes on; the output names what was lost.
///
/// A reported value in `Snapshot.warnings`, never thrown: the probe's one error type is
/// `ProbeError`. It conforms to `Error` only so a reader can return it as a `Result` failure.
public struct ProbeWarning: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    @Nullable public var address: String?
    @Nullable public var path: String?
    public var message: String
    public init(address: String? = nil, path: String? = nil, message: String) {
        self.address = address
        self.path = path
        self.message = message
    }
    public var description: String {
        var s = ""
        if let address { s += "\(address): " }
        s += message
        if let path, !message.contains(path) { s += " (\(path))" }
        return s
    }
}
