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

    /// `"name":` and the value, for the scalar members that make up most of an object.
    mutating func member(_ name: StaticString, _ s: String?) {
        key(name)
        string(s)
    }
    mutating func member<I: FixedWidthInteger>(_ name: StaticString, _ v: I?) {
        key(name)
        int(v)
    }
    mutating func member(_ name: StaticString, _ b: Bool?) {
        key(name)
        bool(b)
    }

    /// `body`'s object for a value that is there, else `null`.
    mutating func object<T>(_ value: T?, _ body: (inout DirectWriter, T) throws -> Void) rethrows {
        guard let value else { return null() }
        try object { w in try body(&w, value) }
    }

    mutating func null() { encoder.writeNull() }
    mutating func string(_ s: String) { encoder.write(s) }
    mutating func int<I: FixedWidthInteger>(_ v: I) { encoder.write(v) }
    mutating func bool(_ b: Bool) { encoder.write(b) }
    mutating func string(_ s: String?) { if let s { string(s) } else { null() } }
    mutating func int<I: FixedWidthInteger>(_ v: I?) { if let v { int(v) } else { null() } }
    mutating func bool(_ b: Bool?) { if let b { bool(b) } else { null() } }

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
            w.member("address", address.description)
            w.key("bars")
            w.array(bars) { w, b in b.writeCanonical(&w) }
            w.key("blockDevices")
            w.strings(blockDevices)
            w.member("bootVGA", bootVGA)
            w.key("capabilities")
            if let capabilities { try capabilities.writeCanonical(&w) } else { w.null() }
            w.key("classCode")
            w.object { w in
                w.member("base", classCode.base)
                w.member("progIf", classCode.progIf)
                w.member("sub", classCode.sub)
            }
            w.key("configSpace")
            w.object { w in
                w.member("capabilitiesReadable", configSpace.capabilitiesReadable)
                w.member("readableBytes", configSpace.readableBytes)
                w.member("source", configSpace.source.rawValue)
            }
            w.member("device", device)
            w.member("driver", driver)
            w.member("driverOverride", driverOverride)
            w.key("express")
            w.object(express) { w, e in
                w.member("portType", e.portType)
                w.member("version", e.version)
            }
            w.member("firmwareLabel", firmwareLabel)
            w.key("gpu")
            try w.encodable(gpu)
            w.member("headerType", headerType)
            w.member("iommuGroup", iommuGroup)
            w.key("link")
            if let link { link.writeCanonical(&w) } else { w.null() }
            w.member("localCPUs", localCPUs)
            w.key("mdevTypes")
            try w.encodable(mdevTypes)
            w.key("names")
            names.writeCanonical(&w)
            w.key("netInterfaces")
            w.strings(netInterfaces)
            w.member("numaNode", numaNode)
            w.member("physicalFunction", physicalFunction?.description)
            w.member("physicalSlot", physicalSlot)
            w.key("properties")
            if properties.isEmpty { w.object { _ in } } else { try w.encodable(properties) }
            w.key("resetMethods")
            w.strings(resetMethods)
            w.member("revision", revision)
            w.key("sriov")
            if let sriov { sriov.writeCanonical(&w) } else { w.null() }
            w.member("subsystemDevice", subsystemDevice)
            w.member("subsystemVendor", subsystemVendor)
            w.member("unresponsive", unresponsive)
            w.member("upstreamBridge", upstreamBridge?.description)
            w.member("vendor", vendor)
            w.member("vfioDevice", vfioDevice)
        }
    }
}

extension BAR {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.member("index", index)
            w.member("is64Bit", is64Bit)
            w.member("kind", kind)
            w.member("prefetchable", prefetchable)
            w.member("size", size)
        }
    }
}

extension CapabilityFacts {
    func writeCanonical(_ w: inout DirectWriter) throws {
        try w.object { w in
            w.key("acs")
            try w.encodable(acs)
            w.member("aer", aer)
            w.member("ari", ari)
            w.member("ats", ats)
            w.member("dpc", dpc)
            w.member("extendedChainBroken", extendedChainBroken)
            w.member("flr", flr)
            w.member("flrSource", flrSource)
            w.key("list")
            w.strings(list)
            w.member("pasid", pasid)
            w.member("pmNoSoftReset", pmNoSoftReset)
            w.member("pri", pri)
            w.member("resizableBAR", resizableBAR)
            w.member("serialNumber", serialNumber)
            w.key("sriov")
            try w.encodable(sriov)
        }
    }
}

extension LinkFacts {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.member("currentSpeed", currentSpeed)
            w.member("currentWidth", currentWidth)
            w.member("maxSpeed", maxSpeed)
            w.member("maxWidth", maxWidth)
            w.member("source", source)
        }
    }
}

extension Names {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.member("class", `class`)
            w.member("device", device)
            w.member("progIf", progIf)
            w.member("subsystem", subsystem)
            w.member("subsystemVendor", subsystemVendor)
            w.member("vendor", vendor)
        }
    }
}

extension SRIOVState {
    func writeCanonical(_ w: inout DirectWriter) {
        w.object { w in
            w.member("numVFs", numVFs)
            w.member("totalVFs", totalVFs)
            w.member("vfDevice", vfDevice)
            w.key("virtualFunctions")
            w.array(virtualFunctions) { w, a in w.string(a.description) }
        }
    }
}

extension AssignableDevice: DirectCanonicalJSON {
    func writeCanonical(_ w: inout DirectWriter) throws {
        try w.object { w in
            w.member("address", address.description)
            w.key("attributes")
            w.object { w in
                w.member("classCode", attributes.classCode)
                w.member("device", attributes.device)
                w.member("revision", attributes.revision)
                w.member("subsystemDevice", attributes.subsystemDevice)
                w.member("subsystemVendor", attributes.subsystemVendor)
                w.member("vendor", attributes.vendor)
            }
            w.key("capacity")
            try w.object { w in
                w.key("mdevTypes")
                try w.encodable(capacity.mdevTypes)
                w.key("sriov")
                w.object(capacity.sriov) { w, s in
                    w.member("enabled", s.enabled)
                    w.member("free", s.free)
                    w.member("total", s.total)
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
            w.member("driver", driver)
            w.key("excludes")
            w.array(excludes) { w, a in w.string(a.description) }
            w.key("gpu")
            try w.encodable(gpu)
            w.key("instance")
            w.object { w in
                w.member("id", instance.id)
                w.member("source", instance.source)
            }
            w.member("iommuGroup", iommuGroup)
            w.member("isVirtualFunction", isVirtualFunction)
            w.member("kind", kind)
            w.key("label")
            w.object(label) { w, l in
                w.member("name", l.name)
                w.member("rule", l.rule)
                w.member("source", l.source)
            }
            w.member("mode", mode.rawValue)
            w.key("names")
            names.writeCanonical(&w)
            w.member("numaNode", numaNode)
            w.member("parent", parent?.description)
            w.member("physicalFunction", physicalFunction?.description)
            w.key("readiness")
            readiness.writeCanonical(&w)
            w.key("usage")
            try w.object { w in
                w.key("bindings")
                try w.encodable(usage.bindings)
                w.key("hostUses")
                try w.encodable(usage.hostUses)
                w.member("state", usage.state.rawValue)
                w.member("unknownBecause", usage.unknownBecause)
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
                    w.member("code", r.code)
                    w.key("members")
                    w.array(r.members) { w, m in
                        w.object { w in
                            w.member("address", m.address.description)
                            w.member("driver", m.driver)
                        }
                    }
                    w.member("message", r.message)
                    w.member("severity", r.severity.rawValue)
                }
            }
            w.key("remediation")
            w.strings(remediation)
            w.member("state", state.rawValue)
        }
    }
}
