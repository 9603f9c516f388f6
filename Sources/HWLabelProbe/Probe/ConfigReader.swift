import CHWLabelShim

/// Fills config-space facts of one function through libpci: subsystem IDs, revision, BARs,
/// header type, Express facts and capabilities (names: `PCINames`).
enum ConfigReader {
    /// A sysfs function: `readConfig` gives the `config` bytes (the probe reads them through
    /// the function's open directory), libpci walks the capabilities in them; the BARs come
    /// from `resource` as the probe read it (`SysfsResource`; nil: unknown), never through libpci.
    static func read(
        _ pci: LibPCI, address a: PCIAddress, into f: inout PCIFunction,
        resource: SysfsResource?, readConfig: (UnsafeMutablePointer<UInt8>, Int) -> Int
    ) throws(ProbeError) {
        guard let d = pci.device(a) else { throw .libpci("pci_get_dev failed") }
        defer { pci.free(d) }
        try read(
            pci, dev: d, config: pci.adoptConfig(d, read: readConfig), into: &f, configSource: .sysfs,
            fillFlags: Int32(PCI_FILL_CAPS | PCI_FILL_EXT_CAPS), resource: resource)
    }

    /// A dump's function: libpci gives the dumped bytes.
    static func read(
        _ pci: LibPCI, dev d: UnsafeMutablePointer<pci_dev>, into f: inout PCIFunction,
        configSource: ConfigSpaceAccess.Source
    ) throws(ProbeError) {
        try read(pci, dev: d, config: pci.readConfig(d), into: &f, configSource: configSource)
    }

    /// `resource`: the sysfs BARs (sysfs mode, where `fillFlags` leaves PCI_FILL_BASES out);
    /// nil in dump mode, where libpci decodes the BARs from the dumped registers.
    private static func read(
        _ pci: LibPCI, dev d: UnsafeMutablePointer<pci_dev>, config: UnsafeBufferPointer<UInt8>,
        into f: inout PCIFunction, configSource: ConfigSpaceAccess.Source, fillFlags: Int32 = HWL_PCI_FILL_PROBE,
        resource: SysfsResource? = nil
    ) throws(ProbeError) {
        func barsNow(_ headerType: Int?) -> [BAR] {
            if configSource == .sysfs { return resource.map { bars($0, headerType: headerType) } ?? [] }
            return bars(pci.barRegisters(d), headerType: headerType)
        }
        try pci.fill(d, flags: fillFlags)
        f.configSpace = ConfigSpaceAccess(readableBytes: config.count, source: config.isEmpty ? .none : configSource)
        let decoder = ConfigDecoder(config: config, caps: pci.capabilities(d))
        // Config space was read: the function answers unless its whole header reads ones. A
        // VF's ffff IDs alone are not that (libpci's capability walk does not look at the IDs:
        // it follows the Status register's list bit and the pointer at 0x34).
        f.unresponsive = config.count >= 64 ? decoder.headerAllOnes : nil
        if decoder.headerAllOnes {
            // Nothing in these bytes is the function's: no header type, subsystem, revision or
            // capabilities. In sysfs the BARs come from the kernel's `resource` file (what it
            // assigned at enumeration); a dump has nothing but the ones.
            f.configSpace = ConfigSpaceAccess(readableBytes: 0, source: configSource)
            f.bars = configSource == .dump ? [] : barsNow(nil)
            return
        }
        if config.count >= 64 {
            f.headerType = decoder.headerType
            if f.subsystemVendor == nil, f.headerType == 0, let ss = pci.subsystem(d) {
                f.subsystemVendor = hex(ss.vendor, 4)
                f.subsystemDevice = hex(ss.device, 4)
            } else if f.subsystemVendor == nil, let ss = decoder.subsystem(headerType: f.headerType) {
                // From the bytes when libpci was not asked (sysfs mode) or does not fill them:
                // bridges carry subsystem IDs in the SSVID capability (CardBus at 0x40), where
                // the kernel's `subsystem_*` files and lspci's "Subsystem:" line read them.
                // Sysfs `subsystem_*` files, read afterwards, take precedence.
                f.subsystemVendor = ss.vendor
                f.subsystemDevice = ss.device
            }
            if f.revision == nil, let r = pci.revision(d) { f.revision = hex(r, 2) }
            // Revision from the header byte itself when neither libpci (not asked for
            // PCI_FILL_CLASS_EXT in sysfs mode) nor a sysfs `revision` file gives it: lspci
            // prints it from config too (umockdev recordings have no `revision` attribute).
            if f.revision == nil, let r = decoder.u8(0x08) { f.revision = hex(r, 2) }
        }
        f.bars = barsNow(f.headerType)
        if config.count >= 256 {
            let express = decoder.express()
            f.express = express?.0
            if let link = express?.1 { f.link = link }
            f.capabilities = decoder.capabilities(expressFLR: express?.flr ?? false)
        }
    }

    /// libpci's `base_addr`/`size`/`flags`. With PCI_FILL_IO_FLAGS (sysfs `resource`) the
    /// kernel's IORESOURCE flags say what a BAR is; otherwise the low bits of the register do.
    static func bars(_ r: LibPCI.BARRegisters, headerType: Int?) -> [BAR] {
        bars(
            bases: r.bases, sizes: r.sizes, flags: r.flags, haveFlags: r.haveFlags, haveSizes: r.haveSizes,
            headerType: headerType)
    }

    /// The BARs of a sysfs `resource` file, as libpci would have filled them from it.
    static func bars(_ r: SysfsResource, headerType: Int?) -> [BAR] {
        bars(
            bases: r.bases, sizes: r.sizes, flags: r.flags, haveFlags: r.barLines > 0, haveSizes: r.barLines > 0,
            headerType: headerType)
    }

    static func bars(
        bases: [UInt64], sizes: [UInt64], flags: [UInt64], haveFlags: Bool, haveSizes: Bool,
        headerType: Int?
    ) -> [BAR] {
        let count = headerType == 1 ? 2 : headerType == 2 ? 1 : 6
        var out: [BAR] = []
        var i = 0
        while i < count {
            let base = UInt64(bases[i])
            let size = haveSizes ? UInt64(sizes[i]) : 0
            var isIO: Bool, is64: Bool, prefetch: Bool
            if haveFlags && flags[i] != 0 {
                let fl = UInt64(flags[i])
                isIO = fl & 0x100 != 0
                is64 = fl & 0x0010_0000 != 0
                prefetch = fl & 0x2000 != 0
            } else {
                isIO = base & 1 != 0
                is64 = !isIO && (base & 0x6) == 0x4
                prefetch = !isIO && base & 0x8 != 0
            }
            let present = haveSizes && haveFlags ? size > 0 : (base & ~0xf) != 0 || size > 0
            if present {
                out.append(
                    BAR(
                        index: i, kind: isIO ? "io" : "memory", size: size > 0 ? size : nil,
                        is64Bit: is64, prefetchable: prefetch))
            }
            // A 64-bit memory BAR takes the next register as its upper half.
            i += is64 ? 2 : 1
        }
        return out
    }
}
