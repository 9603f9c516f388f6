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
        let clean = DumpSanitizer.sanitize(text, file: file, warnings: &warnings)
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
            if p.vendor_id == 0xffff {
                warnings.append(ProbeWarning(address: a.description, path: file,
                                             message: "skipped: vendor ffff in the dump (function powered off or gone)"))
                continue
            }
            let cls = UInt32(p.device_class) << 8 | UInt32(p.prog_if)
            var f = PCIFunction(address: a, vendor: hex(p.vendor_id, 4), device: hex(p.device_id, 4),
                                classCode: ClassCode(value: cls))
            do {
                try ConfigReader.read(pci, dev: d, into: &f, configSource: .dump)
            } catch {
                warnings.append(ProbeWarning(address: a.description, path: file,
                                             message: "libpci: \(error.message); config-space facts unknown"))
            }
            ConfigReader.name(&f, pci)
            // A PCI-to-PCI bridge's secondary bus number (config 0x19) links its children to it.
            if f.headerType == 1, let b = pci.readBytes(d, at: 0x19, count: 1) {
                bridgeBySecondaryBus[hex(a.domain, 4) + ":" + hex(b[0], 2)] = a
            }
            for w in pci.takeWarnings() {
                warnings.append(ProbeWarning(address: a.description, path: file, message: "libpci: \(w)"))
            }
            if f.configSpace.readableBytes < 256 {
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
}

enum DumpSanitizer {
    /// Keeps device header lines, valid hex lines and text; drops what would make libpci abort.
    static func sanitize(_ text: String, file: String, warnings: inout [ProbeWarning]) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 1)
        var current: String?
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if line.last == "\r" { line = line.dropLast() }
            if line.isEmpty { current = nil; out += "\n"; continue }
            if let addr = deviceHeader(line) { current = addr }
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
