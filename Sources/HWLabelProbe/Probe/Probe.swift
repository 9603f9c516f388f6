import Glibc
import Logging
import CHWLabelShim

/// Reads the machine into a `Snapshot`. Does the I/O; everything downstream is pure.
public struct Probe: Sendable {
    public var logger: Logger

    public init(logger: Logger = Logger(label: "hwlabel.probe", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.logger = logger
    }

    public func snapshot(_ source: ProbeSource) throws(ProbeError) -> Snapshot {
        switch source {
        case .live(let paths):
            let root = SysfsRoot(paths.sys)
            let enumerated: [UdevPCIDevice]
            enumerated = try LibUdev.enumeratePCI()
            // libudev reads the real /sys (or a umockdev testbed); libpci reads the same root.
            var byAddress: [PCIAddress: UdevPCIDevice] = [:]
            var warnings: [ProbeWarning] = []
            for d in enumerated {
                guard let a = PCIAddress(d.sysname) else {
                    warnings.append(
                        ProbeWarning(
                            address: d.sysname, path: d.syspath,
                            message: "skipped: \(d.sysname) is not a PCI address"))
                    continue
                }
                byAddress[a] = d
            }
            var snap = try scanSysfs(
                root: root, addresses: byAddress.keys.sorted(), paths: paths,
                kind: "live", initialWarnings: warnings)
            for i in snap.functions.indices {
                guard let u = byAddress[snap.functions[i].address] else { continue }
                // udev's view wins where it has one: its driver, and properties set by rules.
                if let drv = u.driver { snap.functions[i].driver = drv }
                for (k, v) in u.properties { snap.functions[i].properties[k] = v }
            }
            return snap
        case .sysfs(let rootPath, let paths):
            let root = SysfsRoot(rootPath)
            let devicesDir = root.path + "/bus/pci/devices"
            guard let names = SysfsRoot.list(devicesDir) else { throw .sysfsRootMissing(devicesDir) }
            var warnings: [ProbeWarning] = []
            var addresses: [PCIAddress] = []
            for n in names {
                if let a = PCIAddress(n), a.description == n {
                    addresses.append(a)
                } else {
                    warnings.append(
                        ProbeWarning(
                            address: n, path: devicesDir + "/" + n,
                            message: "skipped \(devicesDir)/\(n): not a DDDD:BB:DD.F address"))
                }
            }
            let host = paths ?? HostPaths(sys: root.path, proc: nil, dev: nil, etc: nil)
            return try scanSysfs(
                root: root, addresses: addresses.sorted(), paths: host, kind: "sysfs",
                initialWarnings: warnings)
        case .dump(let file):
            return try DumpScanner(logger: logger).scan(file: file)
        }
    }

    /// A `config` file size that a kernel or a capture of one can produce: a multiple of 64
    /// (64 non-root, 256 conventional, 4096 extended) up to 4096.
    static func plausibleConfigSize(_ size: Int) -> Bool { size >= 64 && size <= 4096 && size % 64 == 0 }

    /// The shared sysfs path (live and captured): identity from sysfs, config space and
    /// capabilities from libpci, the rest from sysfs files.
    func scanSysfs(
        root: SysfsRoot, addresses: [PCIAddress], paths: HostPaths, kind: String,
        initialWarnings: [ProbeWarning]
    ) throws(ProbeError) -> Snapshot {
        // Functions are independent: scan small contiguous chunks on the machine's cores, each
        // thread with its own libpci access object (libpci is not thread-safe; one owner per
        // object), then join in address order. Small hosts stay on one thread.
        // No addresses: the one empty chunk still opens libpci, so a broken libpci is reported.
        // pci.ids loads beside the scan (or was loaded beside argument parsing): the scanning
        // threads' handles read devices only.
        let names = PCINames.loader()
        let probe = self
        let reader = SysfsFunctionReader(root: root)
        let busPCI = root.path + "/bus/pci"
        let results = Parallel.mapChunks(
            addresses, serialBelow: 256, chunkSize: 64,
            state: Result { () throws(ProbeError) in try LibPCI(.sysfs(busPCIPath: busPCI)) }
        ) { pci, chunk in
            let r = Result { () throws(ProbeError) in try probe.scanChunk(reader, addresses: chunk, pci: pci.get()) }
            // A handle that could not be reopened is not used again: the scan fails with its error.
            if case .failure(let e) = r { pci = .failure(e) }
            return r
        }
        var functions: [PCIFunction] = []
        functions.reserveCapacity(addresses.count)
        var warnings = initialWarnings
        for r in results {
            let (fs, ws) = try r.get()
            functions += fs
            warnings += ws
        }
        let (namesHandle, nameWarnings) = names.wait()
        if let namesHandle { PCINames.fill(&functions, from: namesHandle) }
        warnings += nameWarnings.map { ProbeWarning(message: "libpci: \($0)") }
        let slots = SlotReader.slots(root, warnings: &warnings)
        for i in functions.indices {
            functions[i].physicalSlot = slots[functions[i].address.slot]
        }
        GPUAssembler.assemble(&functions)
        var hostWarnings: [ProbeWarning] = []
        var host = HostReader(paths: paths).read(functions: functions, warnings: &hostWarnings)
        let iommu = IOMMUReader(root: root).read(
            functions: functions, complete: functions.count == addresses.count, warnings: &hostWarnings)
        // Who holds each function (needs the IOMMU groups) and how the host uses it.
        UsageReader(paths: paths).read(&functions, iommu: iommu, into: &host, warnings: &hostWarnings)
        // Both readers read the route tables: name an unreadable file once.
        var seen = Set<ProbeWarning>()
        hostWarnings = hostWarnings.filter { seen.insert($0).inserted }
        return Snapshot(
            source: SnapshotSource(kind: kind, path: root.path), host: host, iommu: iommu,
            functions: functions, warnings: warnings + hostWarnings)
    }

    /// Scans one contiguous run of addresses with the calling thread's libpci access object.
    func scanChunk(
        _ reader: SysfsFunctionReader, addresses: ArraySlice<PCIAddress>, pci: LibPCI
    ) throws(ProbeError) -> ([PCIFunction], [ProbeWarning]) {
        var warnings: [ProbeWarning] = []
        var functions: [PCIFunction] = []
        functions.reserveCapacity(addresses.count)
        for a in addresses {
            var f: PCIFunction
            let dir: SysfsFunctionReader.DeviceDirectory
            switch reader.open(a) {
            case .failure(let w):
                warnings.append(w)
                continue
            case .success(let d): dir = d
            }
            switch reader.identity(a, in: dir, warnings: &warnings) {
            case .failure(let w):
                warnings.append(w)
                logger.debug("skipped function", metadata: ["pci.address": "\(a)", "reason": "\(w.message)"])
                continue
            case .success(let base): f = base
            }
            let configPath = reader.directory(a) + "/config"
            let config = dir.size("config")
            if config == nil {
                warnings.append(
                    ProbeWarning(
                        address: a.description, path: configPath,
                        message: "no config file: subsystem IDs from sysfs only, capabilities unknown"))
            } else if let kind = config?.kind {
                // libpci opens `config` with a blocking open(2): a FIFO would hang the scan.
                warnings.append(
                    ProbeWarning(
                        address: a.description, path: configPath,
                        message: "\(configPath) is \(kind), not a regular file: config-space facts unknown"))
            } else if let size = config?.size, !Self.plausibleConfigSize(size) {
                // The kernel's `config` is 256 or 4096 bytes (64 readable as non-root; captures
                // store what was readable). Any other size is a damaged capture (e.g. bytes
                // re-encoded as text): decoding it would report garbage header types and
                // capabilities, so config-space facts stay unknown.
                warnings.append(
                    ProbeWarning(
                        address: a.description, path: configPath,
                        message: "\(configPath) is \(size) bytes, not a config space image (64, 128, …, 4096): config-space facts unknown"))
            } else {
                let resource = reader.resource(a, in: dir, warnings: &warnings)
                do {
                    var unread: ProbeError?
                    try ConfigReader.read(pci, address: a, into: &f, resource: resource) { buffer, capacity in
                        switch dir.readConfig(into: buffer, capacity: capacity) {
                        case .success(let n): return n
                        case .failure(let e):
                            unread = e
                            return 0
                        }
                    }
                    if let unread {
                        warnings.append(
                            ProbeWarning(
                                address: a.description, path: configPath, message: "\(unread): config-space facts unknown"))
                    }
                } catch {
                    warnings.append(
                        ProbeWarning(
                            address: a.description, path: configPath,
                            message: "libpci: \(error.message); config-space facts unknown"))
                    do { try pci.reopen() } catch { throw .libpci(error.message) }
                }
                for w in pci.takeWarnings() {
                    warnings.append(ProbeWarning(address: a.description, path: configPath, message: "libpci: \(w)"))
                }
                if f.unresponsive == true {
                    // The whole header reads ones while the kernel still lists the function (its
                    // vendor/device files are cached from enumeration): powered off (D3cold) or
                    // surprise-removed. `ConfigReader` left its config-space facts unknown.
                    warnings.append(
                        ProbeWarning(
                            address: a.description, path: configPath,
                            message: "\(configPath) reads all-FF, whole header (function powered off or gone): config-space facts unknown"))
                }
            }
            reader.fill(&f, in: dir, warnings: &warnings)
            functions.append(f)
        }
        return (functions, warnings)
    }

}
