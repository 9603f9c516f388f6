import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Field-by-field comparison of one of our functions with what lspci printed for it.
/// Every deliberate difference is spelled out here, with the reason.
enum ProbeLspciCompare {
    static func lspci() throws -> String {
        guard let p = ProbeTestSupport.which("lspci") else {
            throw ProbeTestSupport.SupportError("lspci not found: apt-get install pciutils")
        }
        return p
    }

    /// Identity, names, class, revision, prog-if, subsystem.
    static func identity(
        _ f: PCIFunction, _ l: LspciFunction, context: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let at = "\(context) \(f.address)"
        #expect(f.vendor == l.vendorID, "\(at): vendor", sourceLocation: sourceLocation)
        #expect(f.device == l.deviceID, "\(at): device", sourceLocation: sourceLocation)
        #expect(f.classCode.baseAndSub == l.classID, "\(at): class", sourceLocation: sourceLocation)
        // lspci prints "(rev xx)" only for a non-zero revision.
        if let rev = l.revision {
            #expect(f.revision == rev, "\(at): revision", sourceLocation: sourceLocation)
        } else {
            #expect(
                f.revision == nil || f.revision == "00", "\(at): revision \(f.revision ?? "nil") but lspci prints none",
                sourceLocation: sourceLocation)
        }
        // Names: libpci prints "Vendor Device"; where pci.ids lacks the device it prints
        // "Device 0d57". We ask libpci with PCI_LOOKUP_NO_NUMBERS and keep null instead of a
        // synthesised name; rebuilding lspci's fallback text from our nulls must give its line.
        #expect(
            LspciListing.pairText(vendorName: f.names.vendor, deviceName: f.names.device, deviceID: f.device)
                == l.vendorDeviceText,
            "\(at): vendor/device names \(f.names.vendor ?? "nil") / \(f.names.device ?? "nil") vs \(l.vendorDeviceText)",
            sourceLocation: sourceLocation)
        #expect(
            LspciListing.classText(f.names.class, baseAndSub: f.classCode.baseAndSub) == l.className,
            "\(at): class name \(f.names.class ?? "nil") vs \(l.className)", sourceLocation: sourceLocation)
        if let subV = l.subsystemVendorID {
            #expect(f.subsystemVendor == subV, "\(at): subsystem vendor", sourceLocation: sourceLocation)
            #expect(f.subsystemDevice == l.subsystemDeviceID, "\(at): subsystem device", sourceLocation: sourceLocation)
            #expect(
                LspciListing.pairText(
                    vendorName: f.names.subsystemVendor, deviceName: f.names.subsystem,
                    deviceID: l.subsystemDeviceID!) == l.subsystemText,
                "\(at): subsystem names", sourceLocation: sourceLocation)
        } else {
            // lspci hides a subsystem of 0000 or ffff (not programmed); we report the register
            // value as read, or null when there is none.
            #expect(
                f.subsystemVendor == nil || f.subsystemVendor == "0000" || f.subsystemVendor == "ffff",
                "\(at): subsystem \(f.subsystemVendor ?? "nil") but lspci prints none", sourceLocation: sourceLocation)
        }
    }

    /// Verbose facts from config space: prog-if, FLR, ACS, SR-IOV, DSN, link.
    static func capabilities(
        _ f: PCIFunction, _ l: LspciFunction, context: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let at = "\(context) \(f.address)"
        #expect(f.classCode.progIf == (l.progIf ?? "00"), "\(at): prog-if", sourceLocation: sourceLocation)
        if l.progIfName != nil {
            #expect(f.names.progIf == l.progIfName, "\(at): prog-if name", sourceLocation: sourceLocation)
        }
        guard let caps = f.capabilities else {
            // We read fewer than 256 bytes: lspci cannot decode capabilities either.
            #expect(
                !f.configSpace.capabilitiesReadable, "\(at): capabilities null but config readable",
                sourceLocation: sourceLocation)
            #expect(
                !l.devCapFLR && !l.afFLR && !l.hasACS && l.sriovTotalVFs == nil && l.serialNumber == nil,
                "\(at): lspci decoded capabilities we did not read", sourceLocation: sourceLocation)
            return
        }
        #expect(
            caps.flr == (l.devCapFLR || l.afFLR), "\(at): FLR ours \(caps.flr) lspci DevCap \(l.devCapFLR) AF \(l.afFLR)",
            sourceLocation: sourceLocation)
        if l.devCapFLR {
            #expect(caps.flrSource == "express-devcap", "\(at): FLR source", sourceLocation: sourceLocation)
        } else if l.afFLR {
            #expect(caps.flrSource == "advanced-features", "\(at): FLR source", sourceLocation: sourceLocation)
        }
        #expect((caps.acs != nil) == l.hasACS, "\(at): ACS", sourceLocation: sourceLocation)
        #expect(caps.sriov?.totalVFs == l.sriovTotalVFs, "\(at): SR-IOV Total VFs", sourceLocation: sourceLocation)
        #expect(caps.serialNumber == l.serialNumber, "\(at): Device Serial Number", sourceLocation: sourceLocation)
        let fromConfig = f.link?.source == "config" ? f.link : nil
        func speed(_ s: String?) -> String? { s == "unknown" ? nil : s }
        #expect(fromConfig?.maxSpeed == speed(l.lnkCapSpeed), "\(at): LnkCap speed", sourceLocation: sourceLocation)
        #expect(fromConfig?.maxWidth == l.lnkCapWidth, "\(at): LnkCap width", sourceLocation: sourceLocation)
        #expect(fromConfig?.currentSpeed == speed(l.lnkStaSpeed), "\(at): LnkSta speed", sourceLocation: sourceLocation)
        #expect(fromConfig?.currentWidth == l.lnkStaWidth, "\(at): LnkSta width", sourceLocation: sourceLocation)
    }
}
