import HWLabelProbe

/// A type whose canonical JSON is written straight into the encoder's buffer, members already
/// in UTF-8 key order, without Codable's per-member machinery (a container box per object, a
/// generic call, a cast and a metadata lookup per member): for the types an inventory holds
/// thousands of, where that machinery was most of the encoding time.
///
/// The `Encodable` form stays the definition: `writeCanonical` must give exactly the bytes
/// `CanonicalJSON.encode` gives through `encode(to:)`, and `DirectJSONTests` compares the two
/// for every function and descriptor of every recorded tree. Members that are rare or complex
/// (GPU facts, mdev types, properties, ACS) go through `encode(to:)` in place.
protocol DirectCanonicalJSON: Encodable {
    func writeCanonical(_ w: inout DirectWriter) throws
}

extension DirectCanonicalJSON {
    /// `items` (whose elements are `Self`) as `CanonicalJSON.encodeElements` lays them out.
    static func writeElements<C: Collection>(_ items: C, to encoder: StreamEncoder) throws where C.Element: Encodable {
        var w = DirectWriter(encoder)
        var first = true
        for item in items {
            if !first { w.byte(UInt8(ascii: ",")) }
            first = false
            try (item as! Self).writeCanonical(&w)
        }
    }
}

/// Appends to a `StreamEncoder`'s buffer with no frame open: objects are written whole, their
/// members in the order the writer gives (which must be key order).
struct DirectWriter {
    let encoder: StreamEncoder
    private var needsComma: [Bool] = []

    init(_ encoder: StreamEncoder) {
        self.encoder = encoder
        needsComma.reserveCapacity(8)
    }

    mutating func byte(_ b: UInt8) { encoder.out.append(b) }

    /// `{ … }` around `body`, whose members are written with `key`.
    mutating func object(_ body: (inout DirectWriter) throws -> Void) rethrows {
        byte(UInt8(ascii: "{"))
        needsComma.append(false)
        try body(&self)
        needsComma.removeLast()
        byte(UInt8(ascii: "}"))
    }

    /// `"name":` (preceded by a comma after the first member). Names are plain ASCII.
    mutating func key(_ name: StaticString) {
        if needsComma[needsComma.count - 1] { byte(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
        byte(0x22)
        encoder.out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        byte(0x22)
        byte(UInt8(ascii: ":"))
    }

    mutating func null() { encoder.writeNull() }
    mutating func string(_ s: String) { encoder.write(s) }
    mutating func int<I: FixedWidthInteger>(_ v: I) { encoder.write(v) }
    mutating func bool(_ b: Bool) { encoder.write(b) }
    mutating func string(_ s: String?) { if let s { string(s) } else { null() } }
    mutating func int<I: FixedWidthInteger>(_ v: I?) { if let v { int(v) } else { null() } }
    mutating func bool(_ b: Bool?) { if let b { bool(b) } else { null() } }
    mutating func address(_ a: PCIAddress?) { string(a?.description) }

    mutating func array<C: Collection>(_ items: C, _ element: (inout DirectWriter, C.Element) throws -> Void) rethrows {
        byte(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { byte(UInt8(ascii: ",")) }
            first = false
            try element(&self, item)
        }
        byte(UInt8(ascii: "]"))
    }

    mutating func strings(_ items: [String]?) {
        guard let items else { return null() }
        array(items) { $0.string($1) }
    }

    /// A value through its `Encodable` form, in place (no frame is open, so it is laid out as
    /// a whole value would be).
    mutating func encodable<T: Encodable>(_ value: T?) throws {
        guard let value else { return null() }
        try encoder.encodeValue(value)
    }
}

extension PCIFunction: DirectCanonicalJSON {
    func writeCanonical(_ w: inout DirectWriter) throws {
        try w.object { w in
            w.key("address")
            w.address(address)
            w.key("bars")
            w.array(bars) { w, b in b.writeCanonical(&w) }
            w.key("blockDevices")
            w.strings(blockDevices)
            w.key("bootVGA")
            w.bool(bootVGA)
            w.key("capabilities")
            if let capabilities { try capabilities.writeCanonical(&w) } else { w.null() }
            w.key("classCode")
            w.object { w in
                w.key("base")
                w.string(classCode.base)
                w.key("progIf")
                w.string(classCode.progIf)
                w.key("sub")
                w.string(classCode.sub)
            }
            w.key("configSpace")
            w.object { w in
                w.key("capabilitiesReadable")
                w.bool(configSpace.capabilitiesReadable)
                w.key("readableBytes")
                w.int(configSpace.readableBytes)
                w.key("source")
                w.string(configSpace.source.rawValue)
            }
            w.key("device")
            w.string(device)
            w.key("driver")
            w.string(driver)
            w.key("driverOverride")
            w.string(driverOverride)
            w.key("express")
            if let express {
                w.object { w in
                    w.key("portType")
                    w.string(express.portType)
                    w.key("version")
                    w.int(express.version)
                }
            } else {
                w.null()
            }
            w.key("firmwareLabel")
            w.string(firmwareLabel)
            w.key("gpu")
            try w.encodable(gpu)
            w.key("headerType")
            w.int(headerType)
            w.key("iommuGroup")
            w.int(iommuGroup)
            w.key("link")
            if let link { link.writeCanonical(&w) } else { w.null() }
            w.key("localCPUs")
            w.string(localCPUs)
            w.key("mdevTypes")
            try w.encodable(mdevTypes)
            w.key("names")
            names.writeCanonical(&w)
            w.key("netInterfaces")
            w.strings(netInterfaces)
            w.key("numaNode")
            w.int(numaNode)
            w.key("physicalFunction")
            w.address(physicalFunction)
            w.key("physicalSlot")
            w.string(physicalSlot)
            w.key("properties")
            if properties.isEmpty { w.object { _ in } } else { try w.encodable(properties) }
            w.key("resetMethods")
            w.strings(resetMethods)
            w.key("revision")
            w.string(revision)
            w.key("sriov")
            if let sriov { sriov.writeCanonical(&w) } else { w.null() }
            w.key("subsystemDevice")
            w.string(subsystemDevice)
            w.key("subsystemVendor")
            w.string(subsystemVendor)
            w.key("unresponsive")
            w.bool(unresponsive)
            w.key("upstreamBridge")
            w.address(upstreamBridge)
            w.key("vendor")
            w.string(vendor)
            w.key("vfioDevice")
            w.string(vfioDevice)
        }
    }
}

extension BAR {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.key("index")
            w.int(index)
            w.key("is64Bit")
            w.bool(is64Bit)
            w.key("kind")
            w.string(kind)
            w.key("prefetchable")
            w.bool(prefetchable)
            w.key("size")
            w.int(size)
        }
    }
}

extension CapabilityFacts {
    func writeCanonical(_ w: inout DirectWriter) throws {
        try w.object { w in
            w.key("acs")
            try w.encodable(acs)
            w.key("aer")
            w.bool(aer)
            w.key("ari")
            w.bool(ari)
            w.key("ats")
            w.bool(ats)
            w.key("dpc")
            w.bool(dpc)
            w.key("extendedChainBroken")
            w.bool(extendedChainBroken)
            w.key("flr")
            w.bool(flr)
            w.key("flrSource")
            w.string(flrSource)
            w.key("list")
            w.strings(list)
            w.key("pasid")
            w.bool(pasid)
            w.key("pmNoSoftReset")
            w.bool(pmNoSoftReset)
            w.key("pri")
            w.bool(pri)
            w.key("resizableBAR")
            w.bool(resizableBAR)
            w.key("serialNumber")
            w.string(serialNumber)
            w.key("sriov")
            try w.encodable(sriov)
        }
    }
}

extension LinkFacts {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.key("currentSpeed")
            w.string(currentSpeed)
            w.key("currentWidth")
            w.int(currentWidth)
            w.key("maxSpeed")
            w.string(maxSpeed)
            w.key("maxWidth")
            w.int(maxWidth)
            w.key("source")
            w.string(source)
        }
    }
}

extension Names {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.key("class")
            w.string(`class`)
            w.key("device")
            w.string(device)
            w.key("progIf")
            w.string(progIf)
            w.key("subsystem")
            w.string(subsystem)
            w.key("subsystemVendor")
            w.string(subsystemVendor)
            w.key("vendor")
            w.string(vendor)
        }
    }
}

extension SRIOVState {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.key("numVFs")
            w.int(numVFs)
            w.key("totalVFs")
            w.int(totalVFs)
            w.key("vfDevice")
            w.string(vfDevice)
            w.key("virtualFunctions")
            w.array(virtualFunctions) { w, a in w.string(a.description) }
        }
    }
}

extension AssignableDevice: DirectCanonicalJSON {
    func writeCanonical(_ w: inout DirectWriter) throws {
        try w.object { w in
            w.key("address")
            w.address(address)
            w.key("attributes")
            w.object { w in
                w.key("classCode")
                w.string(attributes.classCode)
                w.key("device")
                w.string(attributes.device)
                w.key("revision")
                w.string(attributes.revision)
                w.key("subsystemDevice")
                w.string(attributes.subsystemDevice)
                w.key("subsystemVendor")
                w.string(attributes.subsystemVendor)
                w.key("vendor")
                w.string(attributes.vendor)
            }
            w.key("capacity")
            try w.object { w in
                w.key("mdevTypes")
                try w.encodable(capacity.mdevTypes)
                w.key("sriov")
                if let s = capacity.sriov {
                    w.object { w in
                        w.key("enabled")
                        w.int(s.enabled)
                        w.key("free")
                        w.int(s.free)
                        w.key("total")
                        w.int(s.total)
                    }
                } else {
                    w.null()
                }
                w.key("vgpuTypes")
                try w.encodable(capacity.vgpuTypes)
            }
            w.key("companions")
            w.array(companions) { w, a in w.string(a.description) }
            if !drift.isEmpty {
                w.key("drift")
                try w.encodable(drift)
            }
            w.key("driver")
            w.string(driver)
            w.key("excludes")
            w.array(excludes) { w, a in w.string(a.description) }
            w.key("gpu")
            try w.encodable(gpu)
            w.key("instance")
            w.object { w in
                w.key("id")
                w.string(instance.id)
                w.key("source")
                w.string(instance.source)
            }
            w.key("iommuGroup")
            w.int(iommuGroup)
            w.key("isVirtualFunction")
            w.bool(isVirtualFunction)
            w.key("kind")
            w.string(kind)
            w.key("label")
            if let label {
                w.object { w in
                    w.key("name")
                    w.string(label.name)
                    w.key("rule")
                    w.string(label.rule)
                    w.key("source")
                    w.string(label.source)
                }
            } else {
                w.null()
            }
            w.key("mode")
            w.string(mode.rawValue)
            w.key("names")
            names.writeCanonical(&w)
            w.key("numaNode")
            w.int(numaNode)
            w.key("parent")
            w.address(parent)
            w.key("physicalFunction")
            w.address(physicalFunction)
            w.key("readiness")
            readiness.writeCanonical(&w)
            w.key("usage")
            try w.object { w in
                w.key("bindings")
                try w.encodable(usage.bindings)
                w.key("hostUses")
                try w.encodable(usage.hostUses)
                w.key("state")
                w.string(usage.state.rawValue)
                w.key("unknownBecause")
                w.string(usage.unknownBecause)
            }
            w.key("vgpu")
            try w.encodable(vgpu)
        }
    }
}

extension Readiness {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.key("reasons")
            w.array(reasons) { w, r in
                w.object { w in
                    w.key("code")
                    w.string(r.code)
                    w.key("members")
                    w.array(r.members) { w, m in
                        w.object { w in
                            w.key("address")
                            w.string(m.address.description)
                            w.key("driver")
                            w.string(m.driver)
                        }
                    }
                    w.key("message")
                    w.string(r.message)
                    w.key("severity")
                    w.string(r.severity.rawValue)
                }
            }
            w.key("remediation")
            w.strings(remediation)
            w.key("state")
            w.string(state.rawValue)
        }
    }
}
