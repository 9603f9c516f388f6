/// Decodes capability facts from config-space bytes and the capability list libpci walked.
/// Pure: no I/O, so every bit can be tested against lspci's decoding of the same bytes.
struct ConfigDecoder {
    let config: UnsafeBufferPointer<UInt8>
    let caps: [(id: UInt16, extended: Bool, offset: Int)]

    func u8(_ o: Int) -> UInt8? { o >= 0 && o < config.count ? config[o] : nil }
    func u16(_ o: Int) -> UInt16? {
        guard o >= 0, o + 2 <= config.count else { return nil }
        return UInt16(config[o]) | UInt16(config[o + 1]) << 8
    }
    func u32(_ o: Int) -> UInt32? {
        guard let lo = u16(o), let hi = u16(o + 2) else { return nil }
        return UInt32(lo) | UInt32(hi) << 16
    }

    var headerType: Int? { u8(0x0e).map { Int($0 & 0x7f) } }

    /// Subsystem IDs where lspci's `get_subid` reads them: 0x2c/0x2e for an endpoint, the SSVID
    /// capability (0x0d) for a PCI-to-PCI bridge, 0x40/0x42 for a CardBus bridge; nil when absent.
    func subsystem(headerType: Int?) -> (vendor: String, device: String)? {
        let v: UInt16?, d: UInt16?
        switch headerType {
        case 0:
            (v, d) = (u16(0x2c), u16(0x2e))
        case 1:
            guard let cap = caps.first(where: { !$0.extended && $0.id == 0x0d }) else { return nil }
            (v, d) = (u16(cap.offset + 4), u16(cap.offset + 6))
        case 2:
            (v, d) = (u16(0x40), u16(0x42))
        default:
            return nil
        }
        guard let v, let d else { return nil }
        return (hex(v, 4), hex(d, 4))
    }
    /// The whole 64-byte header reads all ones: the function is powered off (D3cold) or gone
    /// (a read that no function answers returns ones). Not the first dword alone: an SR-IOV VF's
    /// Vendor and Device ID registers read 0xFFFF by specification (PCIe Base 6.0, 9.3.4.1.1
    /// and 9.3.4.1.2) while its class, header type, status and capabilities are valid; its IDs
    /// come from the kernel (sysfs `vendor`/`device`, or the PF's SR-IOV capability).
    /// False when fewer than 64 bytes were read.
    var headerAllOnes: Bool {
        guard config.count >= 64 else { return false }
        for i in 0..<64 where config[i] != 0xff { return false }
        return true
    }
    /// Vendor and Device ID read 0xFFFF while the header is otherwise valid: the shape of an
    /// SR-IOV virtual function's config space.
    var idsAllOnes: Bool { u32(0) == 0xffff_ffff && !headerAllOnes }

    static let portTypes = [
        0: "endpoint", 1: "legacy-endpoint", 4: "root-port", 5: "upstream-port",
        6: "downstream-port", 7: "pcie-to-pci-bridge", 8: "pci-to-pcie-bridge",
        9: "rc-integrated-endpoint", 10: "rc-event-collector",
    ]
    static let normalNames: [UInt16: String] = [
        0x01: "pm", 0x02: "agp", 0x03: "vpd", 0x04: "slotid",
        0x05: "msi", 0x06: "hotswap", 0x07: "pcix", 0x08: "ht", 0x09: "vendor", 0x0a: "debug",
        0x0b: "ccrc", 0x0c: "hotplug", 0x0d: "ssvid", 0x0e: "agp3", 0x0f: "secure", 0x10: "express",
        0x11: "msix", 0x12: "sata", 0x13: "af", 0x14: "ea",
    ]
    static let extendedNames: [UInt16: String] = [
        0x01: "aer", 0x02: "vc", 0x03: "dsn", 0x04: "power-budget",
        0x05: "rclink", 0x06: "rclink-internal", 0x07: "rcec-assoc", 0x08: "mfvc", 0x09: "vc9",
        0x0a: "rcrb", 0x0b: "vendor", 0x0d: "acs", 0x0e: "ari", 0x0f: "ats", 0x10: "sriov",
        0x11: "mriov", 0x12: "multicast", 0x13: "pri", 0x15: "rebar", 0x16: "dpa", 0x17: "tph",
        0x18: "ltr", 0x19: "secondary-pcie", 0x1a: "pmux", 0x1b: "pasid", 0x1c: "lnr", 0x1d: "dpc",
        0x1e: "l1pm", 0x1f: "ptm", 0x20: "mpcie", 0x21: "frs", 0x22: "rtr", 0x23: "dvsec",
        0x24: "vf-rebar", 0x25: "dlnk", 0x26: "16gt", 0x27: "lmr", 0x28: "hier-id", 0x29: "npem",
        0x2a: "32gt", 0x2e: "doe", 0x30: "ide", 0x32: "64gt", 0x34: "flit",
    ]
    static let acsBits = ["SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd", "EgressCtrl", "DirectTrans"]

    static func speed(_ code: UInt32) -> String? {
        switch code {
        case 1: "2.5GT/s"
        case 2: "5GT/s"
        case 3: "8GT/s"
        case 4: "16GT/s"
        case 5: "32GT/s"
        case 6: "64GT/s"
        default: nil
        }
    }

    /// The Express capability: port type, version, and link registers as lspci shows them.
    func express() -> (ExpressFacts, LinkFacts?, flr: Bool)? {
        guard let cap = caps.first(where: { !$0.extended && $0.id == 0x10 }),
            let flags = u16(cap.offset + 2)
        else { return nil }
        let type = Int((flags >> 4) & 0xf)
        let facts = ExpressFacts(portType: Self.portTypes[type] ?? "unknown-\(type)", version: Int(flags & 0xf))
        let flr = (u32(cap.offset + 4) ?? 0) & 0x1000_0000 != 0
        var link: LinkFacts?
        if type != 9 && type != 10, let lnkCap = u32(cap.offset + 0x0c), let lnkSta = u16(cap.offset + 0x12) {
            var l = LinkFacts(source: "config")
            l.maxSpeed = Self.speed(lnkCap & 0xf)
            l.maxWidth = Int((lnkCap >> 4) & 0x3f)
            l.currentSpeed = Self.speed(UInt32(lnkSta & 0xf))
            l.currentWidth = Int((lnkSta >> 4) & 0x3f)
            link = l
        }
        return (facts, link, flr)
    }

    /// Walks the extended chain independently of libpci to tell "none" from "broken":
    /// a next pointer below 0x100, misaligned, or revisited.
    func extendedChainBroken() -> Bool {
        guard config.count >= 4096, let first = u32(0x100), first != 0, first != 0xffff_ffff else { return false }
        var seen = Set<Int>()
        var off = 0x100
        while off != 0 {
            guard off >= 0x100, off & 3 == 0, off + 4 <= config.count, seen.insert(off).inserted,
                let header = u32(off)
            else { return true }
            if header == 0xffff_ffff { return true }
            off = Int(header >> 20)
        }
        return false
    }

    func capabilities(expressFLR: Bool) -> CapabilityFacts {
        var f = CapabilityFacts()
        for cap in caps {
            if cap.extended {
                f.list.append("ext:" + (Self.extendedNames[cap.id] ?? "0x" + hex(cap.id, 4)))
            } else {
                f.list.append(Self.normalNames[cap.id] ?? "0x" + hex(cap.id, 2))
            }
            let o = cap.offset
            switch (cap.extended, cap.id) {
            case (false, 0x01):
                f.pmNoSoftReset = u16(o + 4).map { $0 & 0x0008 != 0 }
            case (false, 0x13):
                if let afCap = u8(o + 3), afCap & 0x02 != 0, !f.flr {
                    f.flr = true
                    f.flrSource = "advanced-features"
                }
            case (true, 0x0001): f.aer = true
            case (true, 0x0003):
                if let lo = u32(o + 4), let hi = u32(o + 8) {
                    let bytes = [hi >> 24, hi >> 16, hi >> 8, hi, lo >> 24, lo >> 16, lo >> 8, lo]
                    f.serialNumber = bytes.map { hex($0 & 0xff, 2) }.joined(separator: "-")
                }
            case (true, 0x000d):
                if let c = u16(o + 4), let ctl = u16(o + 6) {
                    let names = Self.acsBits.enumerated()
                    f.acs = ACSFacts(
                        capabilities: names.filter { c & (1 << $0.offset) != 0 }.map(\.element),
                        enabled: names.filter { ctl & (1 << $0.offset) != 0 }.map(\.element))
                }
            case (true, 0x000e): f.ari = true
            case (true, 0x000f): f.ats = true
            case (true, 0x0010):
                if let initial = u16(o + 0x0c), let total = u16(o + 0x0e), let num = u16(o + 0x10),
                    let vfDev = u16(o + 0x1a)
                {
                    f.sriov = SRIOVCapability(
                        totalVFs: Int(total), initialVFs: Int(initial),
                        numVFs: Int(num), vfDeviceID: hex(vfDev, 4))
                }
            case (true, 0x0013): f.pri = true
            case (true, 0x0015): f.resizableBAR = true
            case (true, 0x001b): f.pasid = true
            case (true, 0x001d): f.dpc = true
            default: break
            }
        }
        if expressFLR {
            f.flr = true
            f.flrSource = "express-devcap"
        }
        f.extendedChainBroken = extendedChainBroken()
        return f
    }
}
