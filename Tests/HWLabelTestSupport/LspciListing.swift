import Foundation

/// What `lspci -nn -D [-k] [-vvv]` printed for one function, parsed from its text.
///
/// Only the facts hwlabel compares are parsed; everything else in the block is ignored. The
/// parser keys sub-register lines (`DevCap:`, `LnkSta:`, `AFCap:`) so that e.g. `FLReset+` in
/// DevCap is told apart from `FLReset-` in DevCtl.
package struct LspciFunction: Sendable, CustomStringConvertible {
    package var address: String
    package var classID: String
    package var className: String
    package var vendorID: String
    package var deviceID: String
    /// "Vendor Device" as libpci printed it (names joined, fallbacks such as `Device 0d57`).
    package var vendorDeviceText: String
    package var revision: String?
    package var progIf: String?
    package var progIfName: String?
    package var subsystemVendorID: String?
    package var subsystemDeviceID: String?
    package var subsystemText: String?
    package var driver: String?
    /// Verbose only: `Capabilities: <access denied>`.
    package var capabilitiesDenied = false
    package var capabilityHeaders: [String] = []
    package var devCapFLR = false
    package var afFLR = false
    package var hasACS = false
    package var sriovTotalVFs: Int?
    package var serialNumber: String?
    package var lnkCapSpeed: String?
    package var lnkCapWidth: Int?
    package var lnkStaSpeed: String?
    package var lnkStaWidth: Int?
    package var unknownHeaderType = false

    package var description: String { "\(address) [\(vendorID):\(deviceID)]" }
    package init(
        address: String, classID: String, className: String, vendorID: String, deviceID: String, vendorDeviceText: String,
        revision: String? = nil, progIf: String? = nil, progIfName: String? = nil, subsystemVendorID: String? = nil,
        subsystemDeviceID: String? = nil, subsystemText: String? = nil, driver: String? = nil, capabilitiesDenied: Bool = false,
        capabilityHeaders: [String] = [], devCapFLR: Bool = false, afFLR: Bool = false, hasACS: Bool = false, sriovTotalVFs: Int? = nil,
        serialNumber: String? = nil, lnkCapSpeed: String? = nil, lnkCapWidth: Int? = nil, lnkStaSpeed: String? = nil,
        lnkStaWidth: Int? = nil, unknownHeaderType: Bool = false
    ) {
        self.address = address
        self.classID = classID
        self.className = className
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.vendorDeviceText = vendorDeviceText
        self.revision = revision
        self.progIf = progIf
        self.progIfName = progIfName
        self.subsystemVendorID = subsystemVendorID
        self.subsystemDeviceID = subsystemDeviceID
        self.subsystemText = subsystemText
        self.driver = driver
        self.capabilitiesDenied = capabilitiesDenied
        self.capabilityHeaders = capabilityHeaders
        self.devCapFLR = devCapFLR
        self.afFLR = afFLR
        self.hasACS = hasACS
        self.sriovTotalVFs = sriovTotalVFs
        self.serialNumber = serialNumber
        self.lnkCapSpeed = lnkCapSpeed
        self.lnkCapWidth = lnkCapWidth
        self.lnkStaSpeed = lnkStaSpeed
        self.lnkStaWidth = lnkStaWidth
        self.unknownHeaderType = unknownHeaderType
    }
}

package enum LspciListing {
    /// `0000:00:01.0 PCI bridge [0604]: Intel Corporation Foo [8086:460d] (rev 02) (prog-if 00 [Normal decode])`
    nonisolated(unsafe) static let header = try! Regex(
        #"^([0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) (.*?) \[([0-9a-f]{4})\]: (.*) \[([0-9a-f]{4}):([0-9a-f]{4})\]( \(rev ([0-9a-f]{2})\))?( \(prog-if ([0-9a-f]{2})( \[(.*)\])?\))?$"#
    )
    nonisolated(unsafe) static let subsystem = try! Regex(#"^\tSubsystem: (.*) \[([0-9a-f]{4}):([0-9a-f]{4})\]$"#)
    nonisolated(unsafe) static let speed = try! Regex(#"Speed ([0-9.]+GT/s|unknown)"#)
    nonisolated(unsafe) static let width = try! Regex(#"Width x([0-9]+)"#)
    nonisolated(unsafe) static let totalVFs = try! Regex(#"Total VFs: ([0-9]+)"#)
    nonisolated(unsafe) static let dsn = try! Regex(#"Device Serial Number ([0-9a-f]{2}(-[0-9a-f]{2}){7})"#)

    package static func parse(_ text: String) -> [LspciFunction] {
        var out: [LspciFunction] = []
        var cur: LspciFunction?
        var capability = ""
        var register = ""
        func flush() { if let c = cur { out.append(c) }; cur = nil }
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if line.isEmpty { flush(); continue }
            if !line.hasPrefix("\t") {
                flush()
                guard let m = try? header.wholeMatch(in: line) else { continue }
                func g(_ i: Int) -> String? { m.output[i].substring.map(String.init) }
                cur = LspciFunction(
                    address: g(1)!, classID: g(3)!, className: g(2)!, vendorID: g(5)!,
                    deviceID: g(6)!, vendorDeviceText: g(4)!, revision: g(8),
                    progIf: g(10), progIfName: g(12))
                capability = ""
                register = ""
                continue
            }
            guard var f = cur else { continue }
            defer { cur = f }
            if let m = try? subsystem.wholeMatch(in: line) {
                f.subsystemText = String(m.output[1].substring!)
                f.subsystemVendorID = String(m.output[2].substring!)
                f.subsystemDeviceID = String(m.output[3].substring!)
                continue
            }
            if line.hasPrefix("\tKernel driver in use: ") {
                f.driver = String(line.dropFirst("\tKernel driver in use: ".count))
                continue
            }
            if line.hasPrefix("\t!!! Unknown header type") { f.unknownHeaderType = true }
            if line.hasPrefix("\tCapabilities: ") {
                let rest = line.dropFirst("\tCapabilities: ".count)
                if rest.hasPrefix("<access denied>") { f.capabilitiesDenied = true }
                capability = String(rest)
                f.capabilityHeaders.append(capability)
                register = ""
                if capability.contains("] Access Control Services") { f.hasACS = true }
                if let m = try? dsn.firstMatch(in: capability) { f.serialNumber = String(m.output[1].substring!) }
                continue
            }
            if line.hasPrefix("\t") && !line.hasPrefix("\t\t") {
                // Another top-level line (Control:, Region n:, Kernel modules: ...).
                capability = ""
                register = ""
                continue
            }
            // Inside a capability: `\t\tLabel:\t...` starts a register, deeper tabs continue it.
            let body = line.drop { $0 == "\t" }
            let depth = line.count - body.count
            if depth == 2, let colon = body.firstIndex(of: ":"), !body[..<colon].contains(" ") {
                register = String(body[..<colon])
            }
            if register == "DevCap" && body.contains("FLReset+") { f.devCapFLR = true }
            if register == "AFCap" && body.contains("FLR+") { f.afFLR = true }
            if capability.contains("Single Root I/O Virtualization"), let m = try? totalVFs.firstMatch(in: body) {
                f.sriovTotalVFs = Int(m.output[1].substring!)
            }
            if depth == 2 && register == "LnkCap" {
                if let m = try? speed.firstMatch(in: body) { f.lnkCapSpeed = String(m.output[1].substring!) }
                if let m = try? width.firstMatch(in: body) { f.lnkCapWidth = Int(m.output[1].substring!) }
            }
            if depth == 2 && register == "LnkSta" {
                if let m = try? speed.firstMatch(in: body) { f.lnkStaSpeed = String(m.output[1].substring!) }
                if let m = try? width.firstMatch(in: body) { f.lnkStaWidth = Int(m.output[1].substring!) }
            }
        }
        flush()
        return out
    }

    /// The text libpci prints before `[vvvv:dddd]` with `-nn` (PCI_LOOKUP_MIXED) for a
    /// vendor/device or subsystem pair, from the names we hold (null when the database has
    /// none): "V D", "V Device" when only the vendor is known, and just "Device" when the
    /// vendor is unknown, even if a device name exists (libpci's `format_name_pair`).
    package static func pairText(vendorName: String?, deviceName: String?, deviceID: String) -> String {
        switch (vendorName, deviceName) {
        case let (v?, d?): "\(v) \(d)"
        case let (v?, nil): "\(v) Device"
        default: "Device"
        }
    }

    /// libpci names a class whose subclass is not in the database by the base class name
    /// plus the number ("Unassigned class [ff00]"), even with PCI_LOOKUP_NO_NUMBERS; lspci -nn
    /// then prints that once. Strips the suffix for comparison with lspci's class field.
    package static func classText(_ name: String?, baseAndSub: String) -> String {
        guard let name else { return "Class" }
        let suffix = " [\(baseAndSub)]"
        return name.hasSuffix(suffix) ? String(name.dropLast(suffix.count)) : name
    }
}
