import Glibc
import Logging
import CHWLabelShim

/// Reads an `lspci -x/-xxx/-xxxx` dump through libpci's dump method.
///
/// libpci aborts the whole file on one bad line (over ~254 characters, trailing junk after
/// the hex bytes, no final newline). The scanner first checks each line, drops the bad ones
/// with a warning that names the line and device, and hands libpci a clean copy.
struct DumpScanner {
    var logger: Logger

    func scan(file: String) throws(ProbeError) -> Snapshot {
        let text: String
        switch SysfsRoot.readText(file, limit: 64 << 20) {
        case .failure(let e): throw .dumpUnreadable(file, e.description)
        case .success(let t): text = t
        }
        var warnings: [ProbeWarning] = []
        var headers: [String: DumpSanitizer.Header] = [:]
        let clean = DumpSanitizer.sanitize(text, file: file, warnings: &warnings, headers: &headers)
        var template = Array("/tmp/hwlabel-dump.XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw .dumpUnreadable(file, "cannot create a temporary copy: errno \(errno)") }
        let tmp = String(cString: template)
        defer { unlink(tmp) }
        let bytes = Array(clean.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw .dumpUnreadable(file, "cannot write a temporary copy") }

        let pci: LibPCI
        let devs: [UnsafeMutablePointer<pci_dev>]
        do {
            pci = try LibPCI(.dump(file: tmp))
            devs = try pci.scan()
        } catch {
            throw .dumpUnreadable(file, error.message)
        }
        var functions: [PCIFunction] = []
        var bridgeBySecondaryBus: [String: PCIAddress] = [:]
        // Before any device's bytes are cached (`ConfigReader` points libpci's cache at one
        // shared buffer): which blocks read vendor ffff, and VF IDs from the PFs' SR-IOV caps.
        let ffff = Self.vendorFFFF(pci, devs)
        let vfIDs = ffff.values.contains(false) ? Self.virtualFunctionIDs(pci, devs) : [:]
        for d in devs {
            let a = PCIAddress(domain: UInt32(bitPattern: d.pointee.domain), bus: d.pointee.bus,
                               device: d.pointee.dev, function: d.pointee.func)
            do {
                try pci.fill(d, flags: Int32(PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CLASS_EXT))
            } catch {
                warnings.append(ProbeWarning(address: a.description, path: file, message: "skipped: libpci: \(error.message)"))
                continue
            }
            let p = d.pointee
            var vendor = p.vendor_id, device = p.device_id
            var cls = UInt32(p.device_class) << 8 | UInt32(p.prog_if)
            let header = headers[a.description]
            if vendor == 0xffff {
                // Vendor ffff: either the whole header reads ones (powered off or gone) or only
                // the IDs do (an SR-IOV VF, whose other registers are valid). Either way the IDs
                // must come from elsewhere: the header line (`lspci -nn` prints the kernel's IDs
                // there) or, for a VF, its PF's SR-IOV capability.
                let dead = ffff[a] ?? true
                let at = header.map { "\(file):\($0.line)" } ?? file
                if let h = header, let hv = h.vendor, let hd = h.device, hv != 0xffff,
                   let hc = h.classCode ?? (dead ? nil : cls) {
                    (vendor, device, cls) = (hv, hd, hc)
                } else if !dead, let ids = vfIDs[a] {
                    (vendor, device) = ids
                } else {
                    warnings.append(ProbeWarning(address: a.description, path: file, message: dead
                        ? "\(at): skipped: vendor ffff in the dump, the whole header reads all-FF (function powered off or gone) and the dump does not give its IDs"
                        : "\(at): skipped: vendor ffff in the dump (an SR-IOV VF's ID registers read ffff) and neither its header line nor a PF's SR-IOV capability gives its IDs"))
                    continue
                }
            }
            var f = PCIFunction(address: a, vendor: hex(vendor, 4), device: hex(device, 4),
                                classCode: ClassCode(value: cls))
            do {
                try ConfigReader.read(pci, dev: d, into: &f, configSource: .dump)
            } catch {
                warnings.append(ProbeWarning(address: a.description, path: file,
                                             message: "libpci: \(error.message); config-space facts unknown"))
            }
            if f.unresponsive == true {
                if f.revision == nil, let r = header?.revision { f.revision = hex(r, 2) }
                warnings.append(ProbeWarning(address: a.description, path: file,
                                             message: "\(file):\(header?.line ?? 0): \(a) reads all-FF, whole header (function powered off or gone): kept with the IDs of its header line, config-space facts unknown"))
            }
            ConfigReader.name(&f, pci)
            // A PCI-to-PCI bridge's secondary bus number (config 0x19) links its children to it.
            if f.headerType == 1, let b = pci.readBytes(d, at: 0x19, count: 1) {
                bridgeBySecondaryBus[hex(a.domain, 4) + ":" + hex(b[0], 2)] = a
            }
            for w in pci.takeWarnings() {
                warnings.append(ProbeWarning(address: a.description, path: file, message: "libpci: \(w)"))
            }
            if f.configSpace.readableBytes < 256, f.unresponsive != true {
                warnings.append(ProbeWarning(address: a.description, path: file,
                                             message: "dump holds \(f.configSpace.readableBytes) bytes of config space: capabilities unknown"))
            }
            functions.append(f)
        }
        functions.sort { $0.address < $1.address }
        // Upstream bridge from bus ranges: the type-1 function whose secondary bus is this bus.
        for i in functions.indices {
            let key = hex(functions[i].address.domain, 4) + ":" + hex(functions[i].address.bus, 2)
            if let up = bridgeBySecondaryBus[key], up != functions[i].address { functions[i].upstreamBridge = up }
        }
        GPUAssembler.assemble(&functions, apertureFromBARs: false)
        return Snapshot(source: SnapshotSource(kind: "dump", path: file), host: nil,
                        iommu: IOMMUFacts(enabled: nil), functions: functions, warnings: warnings)
    }

    /// Blocks whose Vendor ID reads ffff → whether their whole 64-byte header does (true:
    /// powered off or gone; false: the shape of an SR-IOV VF).
    static func vendorFFFF(_ pci: LibPCI, _ devs: [UnsafeMutablePointer<pci_dev>]) -> [PCIAddress: Bool] {
        var out: [PCIAddress: Bool] = [:]
        for d in devs {
            guard let head = pci.readBytes(d, at: 0, count: 64), head[0] == 0xff, head[1] == 0xff else { continue }
            out[address(d)] = head.allSatisfy { $0 == 0xff }
        }
        return out
    }

    /// The IDs of every VF that a PF in the dump has enabled, by the SR-IOV routing rule:
    /// VF n (1-based) is at the PF's routing ID + First VF Offset + (n - 1) × VF Stride, with
    /// the PF's Vendor ID and the capability's VF Device ID (PCIe Base 6.0, 9.3.3.9 to 9.3.3.11).
    static func virtualFunctionIDs(_ pci: LibPCI, _ devs: [UnsafeMutablePointer<pci_dev>]) -> [PCIAddress: (UInt16, UInt16)] {
        var out: [PCIAddress: (UInt16, UInt16)] = [:]
        for d in devs {
            guard (try? pci.fill(d, flags: Int32(PCI_FILL_IDENT | PCI_FILL_CAPS | PCI_FILL_EXT_CAPS))) != nil,
                  d.pointee.vendor_id != 0xffff,
                  let cap = pci.capabilities(d).first(where: { $0.extended && $0.id == 0x0010 }),
                  let b = pci.readBytes(d, at: cap.offset + 0x10, count: 12) else { continue }
            func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
            let (numVFs, offset, stride, vfDevice) = (u16(0), u16(4), u16(6), UInt16(u16(10)))
            let pf = address(d)
            let rid = Int(pf.bus) << 8 | Int(pf.device) << 3 | Int(pf.function)
            for n in 0..<numVFs {
                let r = rid + offset + n * stride
                guard r <= 0xffff, offset > 0 else { break }
                let vf = PCIAddress(domain: pf.domain, bus: UInt8(r >> 8), device: UInt8((r >> 3) & 0x1f),
                                    function: UInt8(r & 7))
                out[vf] = (d.pointee.vendor_id, vfDevice)
            }
        }
        return out
    }

    static func address(_ d: UnsafeMutablePointer<pci_dev>) -> PCIAddress {
        PCIAddress(domain: UInt32(bitPattern: d.pointee.domain), bus: d.pointee.bus,
                   device: d.pointee.dev, function: d.pointee.func)
    }
}

enum DumpSanitizer {
    /// What a device's header line says: its line number, and the IDs, class and revision that
    /// `lspci -nn` prints there (`2f:00.0 SD Host controller [0805]: Genesys Logic, Inc GL9755
    /// SD Host Controller [17a0:9755] (rev 01) (prog-if 01)`); nil where plain `lspci` gave names only.
    struct Header: Equatable {
        var line: Int
        var vendor: UInt16?
        var device: UInt16?
        var classCode: UInt32?
        var revision: UInt8?

        init(line: Int, text: Substring) {
            self.line = line
            // `[cccc]:` ends the class; the last `[vvvv:dddd]` is the vendor and device.
            if let r = text.range(of: "]: "), text.distance(from: text.startIndex, to: r.lowerBound) >= 5,
               text[text.index(r.lowerBound, offsetBy: -5)] == "[",
               let c = Self.hex(text[text.index(r.lowerBound, offsetBy: -4)..<r.lowerBound], 4) {
                var progIf: UInt64 = 0
                if let pr = text.range(of: "(prog-if ") { progIf = Self.hex(text[pr.upperBound...].prefix(2), 2) ?? 0 }
                classCode = UInt32(c << 8 | progIf)
            }
            var rest = text[...]
            while let open = rest.lastIndex(of: "[") {
                let inner = rest[rest.index(after: open)...].prefix(10)
                if inner.count == 10, inner.last == "]", inner[inner.index(inner.startIndex, offsetBy: 4)] == ":",
                   let v = Self.hex(inner.prefix(4), 4), let d = Self.hex(inner.dropFirst(5).prefix(4), 4) {
                    (vendor, device) = (UInt16(v), UInt16(d))
                    break
                }
                rest = rest[..<open]
            }
            if let rr = text.range(of: " (rev ") { revision = Self.hex(text[rr.upperBound...].prefix(2), 2).map { UInt8($0) } }
        }

        /// Exactly `digits` hex digits.
        private static func hex(_ s: Substring, _ digits: Int) -> UInt64? {
            s.count == digits ? hexValue(s.utf8) : nil
        }
    }

    /// Keeps device header lines, valid hex lines and text; drops what would make libpci abort.
    static func sanitize(_ text: String, file: String, warnings: inout [ProbeWarning]) -> String {
        var headers: [String: Header] = [:]
        return sanitize(text, file: file, warnings: &warnings, headers: &headers)
    }

    /// `sanitize`, also collecting each device's header line by address.
    static func sanitize(_ text: String, file: String, warnings: inout [ProbeWarning],
                         headers: inout [String: Header]) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 1)
        var current: String?
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if line.last == "\r" { line = line.dropLast() }
            if line.isEmpty { current = nil; out += "\n"; continue }
            if let addr = deviceHeader(line) {
                current = addr
                if headers[addr] == nil { headers[addr] = Header(line: n + 1, text: line) }
            }
            if line.utf8.count > 250 {
                warnings.append(ProbeWarning(address: current, path: file,
                                             message: "\(file):\(n + 1): line over 250 characters dropped"))
                continue
            }
            if current != nil, let colon = line.firstIndex(of: ":"), isHexOffset(line[..<colon]),
               line[line.index(after: colon)...].first == " " {
                if !isHexBytesLine(line, colon: colon) {
                    warnings.append(ProbeWarning(address: current, path: file,
                                                 message: "\(file):\(n + 1): malformed config-space line dropped: \"\(line.prefix(60))\""))
                    continue
                }
            }
            out += line
            out += "\n"
        }
        return out
    }

    static func deviceHeader(_ line: Substring) -> String? {
        guard let space = line.firstIndex(of: " ") else { return nil }
        let head = line[..<space]
        return PCIAddress(head).map(\.description)
    }

    static func isHexOffset(_ s: Substring) -> Bool { (2...8).contains(s.count) && s.allSatisfy(\.isHexDigit) }

    /// `XX: hh hh … hh`: 1 to 16 two-digit bytes separated by single spaces, offset < 4096.
    static func isHexBytesLine(_ line: Substring, colon: Substring.Index) -> Bool {
        guard let offset = Int(line[..<colon], radix: 16) else { return false }
        let bytes = line[line.index(colon, offsetBy: 2)...].split(separator: " ", omittingEmptySubsequences: false)
        guard (1...16).contains(bytes.count), offset + bytes.count <= 4096 else { return false }
        return bytes.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }
    }
}
