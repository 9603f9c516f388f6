import Glibc
import Logging
import CHWLabelShim

/// Reads an `lspci -x/-xxx/-xxxx` dump through libpci's dump method.
///
/// libpci's dump reader (`lib/dump.c`, 3.9) aborts the whole file on one bad line: a line of
/// 254 bytes or more, one without a final newline (a NUL byte counts: it ends the C string
/// before the newline), trailing junk after the hex bytes, an offset of 4096 or more. It also
/// takes `BB:DD.F` headers with a device up to 0xff or function 8 or 9, lists a block that
/// appears twice twice, and reads hex lines under whatever header came last. The scanner
/// first checks each line (`DumpSanitizer`), drops the bad ones with a warning that names the
/// line, and hands libpci a clean copy. `\r\n` ends a line like `\n`.
struct DumpScanner {
    var logger: Logger

    /// The largest dump read: 64 MiB (a full 4096-byte dump of a function is about 13 KiB, so
    /// this is some 5,000 functions of `lspci -xxxx -vvv`).
    static let limit = 64 << 20

    func scan(file: String) throws(ProbeError) -> Snapshot {
        // Non-blocking and regular files only: `--pci-dump` naming a FIFO, a terminal or
        // /dev/zero is refused by name instead of hanging or filling memory.
        let raw: [UInt8]
        do { raw = try BoundedFile.read(file, limit: Self.limit) } catch { throw .dumpUnreadable(file, error) }
        var warnings: [ProbeWarning] = []
        let clean = DumpSanitizer.sanitize(raw, file: file, warnings: &warnings)
        let headers = clean.headers
        let tmpdir = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        var template = Array((tmpdir + "/hwlabel-dump.XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw .dumpUnreadable(file, "cannot create a temporary copy in \(tmpdir): errno \(errno)") }
        let tmp = String(cString: template)
        defer { unlink(tmp) }
        var written = 0
        clean.text.withUnsafeBytes { b in
            while written < b.count {
                let n = write(fd, b.baseAddress! + written, b.count - written)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                written += n
            }
        }
        close(fd)
        guard written == clean.text.count else { throw .dumpUnreadable(file, "cannot write a temporary copy in \(tmpdir)") }

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
        var listed = Set<PCIAddress>()
        for d in devs {
            let a = pci.address(d)
            // The sanitizer hands libpci neither impossible addresses nor a block twice; kept
            // as a guard so a schema-violating address or a repeated function can never leave.
            guard a.device < 32, a.function < 8, listed.insert(a).inserted else {
                warnings.append(ProbeWarning(path: file, message: "\(file): libpci listed \(a) twice or out of range: skipped"))
                continue
            }
            do {
                try pci.fill(d, flags: Int32(PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CLASS_EXT))
            } catch {
                warnings.append(ProbeWarning(address: a.description, path: file, message: "skipped: libpci: \(error.message)"))
                continue
            }
            var (vendor, device, cls) = pci.identity(d)
            let header = headers[a.description]
            if vendor == 0xffff {
                // Vendor ffff: either the whole header reads ones (powered off or gone) or only
                // the IDs do (an SR-IOV VF, whose other registers are valid). Either way the IDs
                // must come from elsewhere: the header line (`lspci -nn` prints the kernel's IDs
                // there) or, for a VF, its PF's SR-IOV capability.
                let dead = ffff[a] ?? true
                let at = header.map { "\(file):\($0.line)" } ?? file
                if let h = header, let hv = h.vendor, let hd = h.device, hv != 0xffff,
                    let hc = h.classCode ?? (dead ? nil : cls)
                {
                    (vendor, device, cls) = (hv, hd, hc)
                } else if !dead, let ids = vfIDs[a] {
                    (vendor, device) = ids
                } else {
                    warnings.append(
                        ProbeWarning(
                            address: a.description, path: file,
                            message: dead
                                ? "\(at): skipped: vendor ffff in the dump, the whole header reads all-FF (function powered off or gone) and the dump does not give its IDs"
                                : "\(at): skipped: vendor ffff in the dump (an SR-IOV VF's ID registers read ffff) and neither its header line nor a PF's SR-IOV capability gives its IDs"
                        ))
                    continue
                }
            }
            var f = PCIFunction(
                address: a, vendor: hex(vendor, 4), device: hex(device, 4),
                classCode: ClassCode(value: cls))
            do {
                try ConfigReader.read(pci, dev: d, into: &f, configSource: .dump)
            } catch {
                warnings.append(
                    ProbeWarning(
                        address: a.description, path: file,
                        message: "libpci: \(error.message); config-space facts unknown"))
            }
            if f.unresponsive == true {
                if f.revision == nil, let r = header?.revision { f.revision = hex(r, 2) }
                warnings.append(
                    ProbeWarning(
                        address: a.description, path: file,
                        message:
                            "\(file):\(header?.line ?? 0): \(a) reads all-FF, whole header (function powered off or gone): kept with the IDs of its header line, config-space facts unknown"
                    ))
            }
            // A PCI-to-PCI bridge's secondary bus number (config 0x19) links its children to it.
            if f.headerType == 1, let b = pci.readBytes(d, at: 0x19, count: 1) {
                bridgeBySecondaryBus[hex(a.domain, 4) + ":" + hex(b[0], 2)] = a
            }
            for w in pci.takeWarnings() {
                warnings.append(ProbeWarning(address: a.description, path: file, message: "libpci: \(w)"))
            }
            if f.configSpace.readableBytes < 256, f.unresponsive != true {
                warnings.append(
                    ProbeWarning(
                        address: a.description, path: file,
                        message: "dump holds \(f.configSpace.readableBytes) bytes of config space: capabilities unknown"))
            }
            functions.append(f)
        }
        PCINames.fill(&functions, from: pci)
        for w in pci.takeWarnings() { warnings.append(ProbeWarning(path: file, message: "libpci: \(w)")) }
        functions.sort { $0.address < $1.address }
        // Upstream bridge from bus ranges: the type-1 function whose secondary bus is this bus.
        for i in functions.indices {
            let key = hex(functions[i].address.domain, 4) + ":" + hex(functions[i].address.bus, 2)
            if let up = bridgeBySecondaryBus[key], up != functions[i].address { functions[i].upstreamBridge = up }
        }
        GPUAssembler.assemble(&functions)
        return Snapshot(
            source: SnapshotSource(kind: "dump", path: file), host: nil,
            iommu: IOMMUFacts(enabled: nil), functions: functions, warnings: warnings)
    }

    /// Blocks whose Vendor ID reads ffff → whether their whole 64-byte header does (true:
    /// powered off or gone; false: the shape of an SR-IOV VF).
    static func vendorFFFF(_ pci: LibPCI, _ devs: [UnsafeMutablePointer<pci_dev>]) -> [PCIAddress: Bool] {
        var out: [PCIAddress: Bool] = [:]
        for d in devs {
            guard let head = pci.readBytes(d, at: 0, count: 64), head[0] == 0xff, head[1] == 0xff else { continue }
            out[pci.address(d)] = head.allSatisfy { $0 == 0xff }
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
                pci.vendorID(d) != 0xffff,
                let cap = pci.capabilities(d).first(where: { $0.extended && $0.id == 0x0010 }),
                let b = pci.readBytes(d, at: cap.offset + 0x10, count: 12)
            else { continue }
            func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
            let (numVFs, offset, stride, vfDevice) = (u16(0), u16(4), u16(6), UInt16(u16(10)))
            let pf = pci.address(d)
            let rid = Int(pf.bus) << 8 | Int(pf.device) << 3 | Int(pf.function)
            for n in 0..<numVFs {
                let r = rid + offset + n * stride
                guard r <= 0xffff, offset > 0 else { break }
                let vf = PCIAddress(
                    domain: pf.domain, bus: UInt8(r >> 8), device: UInt8((r >> 3) & 0x1f),
                    function: UInt8(r & 7))
                out[vf] = (pci.vendorID(d), vfDevice)
            }
        }
        return out
    }
}
