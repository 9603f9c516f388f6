import HWLabelProbe

/// One device `hwlabel passthrough enable` handed to VFIO, as `passthrough.conf` keeps it: the
/// card it was (instance key and identity), where it was, the driver it had before (what
/// `disable` restores), the VFIO driver chosen, and the other functions of its IOMMU group.
public struct PassthroughRecord: Sendable, Hashable {
    /// Another function of the record's IOMMU group when it was enabled.
    public struct Member: Sendable, Hashable {
        public var address: PCIAddress
        /// `companion` and `group-member` went to VFIO with the device; `bystander` stayed.
        public var role: PassthroughRole
        public var identity: RecordedIdentity
        /// The driver it had before enable (nil: none, or already on a VFIO driver).
        public var previousDriver: String?

        public init(address: PCIAddress, role: PassthroughRole, identity: RecordedIdentity, previousDriver: String?) {
            self.address = address
            self.role = role
            self.identity = identity
            self.previousDriver = previousDriver
        }
    }

    /// The instance id (`dsn:…`, `slot:…`, `path:…`, `address:…`) the device had at enable time.
    public var key: String
    public var identity: RecordedIdentity
    /// Its address at enable time.
    public var address: PCIAddress
    /// The driver it had before enable; nil: unbound, or already on a VFIO driver (disable then
    /// lets the kernel probe its native driver).
    public var previousDriver: String?
    /// The VFIO driver enable chose (`vfio-pci`, `mlx5_vfio_pci`).
    public var driver: String
    public var group: Int?
    public var members: [Member]

    public init(
        key: String, identity: RecordedIdentity, address: PCIAddress, previousDriver: String?, driver: String, group: Int?,
        members: [Member] = []
    ) {
        self.key = key
        self.identity = identity
        self.address = address
        self.previousDriver = previousDriver
        self.driver = driver
        self.group = group
        self.members = members
    }

    /// What `DescriptorBuilder` checks the card at `key` against.
    public var recordedInstance: RecordedInstance { RecordedInstance(source: .passthrough, key: key, identity: identity) }
}

/// `passthrough.conf`: one `device` line per enabled device, then a `member` line per other
/// function of its IOMMU group; `#` starts a comment line, blank lines are kept.
///
/// ```
/// device slot:6 vendor=10de device=1e30 subsystem=10de:129e class=030000 address=0000:cb:00.0 previous=nvidia driver=vfio-pci group=14
/// member slot:6 0000:cb:00.1 role=companion vendor=10de device=10f7 subsystem=10de:129e class=040300 previous=snd_hda_intel
/// ```
/// `previous=` is left out when the device had no driver to go back to. A line whose first
/// word is neither `device` nor `member` (hand-written, or from a newer hwlabel) is kept as it
/// is on every rewrite and otherwise ignored; `unknownLines` names them.
public struct PassthroughRecordsDocument: Sendable, Hashable {
    public enum Line: Sendable, Hashable {
        /// A comment or blank line.
        case text(String)
        /// A line hwlabel does not know, kept verbatim.
        case unknown(String)
        /// A `device` line and its `member` lines.
        case record(PassthroughRecord)
    }
    public var lines: [Line]

    public static let header = """
        # hwlabel passthrough records: devices `hwlabel passthrough enable` handed to VFIO. Managed
        # by `hwlabel passthrough`; comments are kept. At boot and hotplug the udev rule runs
        # `hwlabel passthrough apply <address>`, which binds a recorded device again only while the
        # card at its instance still has the recorded identity. One directive per line:
        #   device <instance id> vendor=V device=D [subsystem=SV:SD] class=CCSSPP address=BDF [previous=DRIVER] driver=VFIO-DRIVER [group=N]
        #   member <instance id> <BDF> role=companion|group-member|target|bystander vendor=V device=D [subsystem=SV:SD] class=CCSSPP [previous=DRIVER]
        """

    public init(
        lines: [Line] = PassthroughRecordsDocument.header.split(separator: "\n", omittingEmptySubsequences: false).map { .text(String($0)) }
    ) {
        self.lines = lines
    }

    public var records: [PassthroughRecord] {
        lines.compactMap { if case .record(let r) = $0 { r } else { nil } }
    }

    /// 1-based numbers of the lines kept but not understood.
    public private(set) var unknownLines: [Int] = []

    /// Every record's identity, for drift checks (`DescriptorBuilder`'s `recorded:`).
    public var recordedInstances: [RecordedInstance] { records.map(\.recordedInstance) }

    public func record(key: String) -> PassthroughRecord? { records.first { $0.key == key } }

    // MARK: - Parse

    /// Strict parse of `device` and `member` lines; the first bad one throws, naming file and line.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> PassthroughRecordsDocument {
        var pieces = text.split(separator: "\n", omittingEmptySubsequences: false)
        if text.hasSuffix("\n") { pieces.removeLast() }
        var out: [Line] = []
        var unknown: [Int] = []
        var recordLine: [String: (line: Int, index: Int)] = [:]
        for (i, raw) in pieces.enumerated() {
            let n = i + 1
            func fail(_ m: String) -> ConfigError { ConfigError(path: path, line: n, message: m) }
            let line = String(raw)
            let t = line.trimmed
            if t.isEmpty || t.hasPrefix("#") {
                out.append(.text(line))
                continue
            }
            if t.contains("\0") { throw fail("a NUL byte in the line") }
            let words = t.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            switch words[0] {
            case "device":
                guard words.count >= 2 else { throw fail("expected 'device <instance id> vendor=… device=… class=… address=… driver=…'") }
                let key = words[1]
                guard isValidInstanceKey(key) else { throw fail(badKey(key)) }
                if let prev = recordLine[key] { throw fail("device \(key) already recorded on line \(prev.line)") }
                var f = try fields(words.dropFirst(2), allowed: ["address", "previous", "driver", "group"], fail)
                let identity = try identityOf(&f, fail)
                guard let a = f["address"] else { throw fail("a device needs address=DDDD:BB:DD.F") }
                guard let address = PCIAddress(a) else { throw fail("address=\(a) is not a PCI address DDDD:BB:DD.F") }
                guard let driver = f["driver"] else { throw fail("a device needs driver=<the VFIO driver it was bound to>") }
                try checkDriver(driver, "driver", fail)
                if let p = f["previous"] { try checkDriver(p, "previous", fail) }
                var group: Int?
                if let g = f["group"] {
                    guard let v = Int(g), v >= 0, String(v) == g else { throw fail("group=\(g) is not an IOMMU group number") }
                    group = v
                }
                recordLine[key] = (n, out.count)
                out.append(
                    .record(
                        PassthroughRecord(
                            key: key, identity: identity, address: address, previousDriver: f["previous"], driver: driver, group: group)))
            case "member":
                guard words.count >= 3 else { throw fail("expected 'member <instance id> <address> role=… vendor=… device=… class=…'") }
                let key = words[1]
                guard let owner = recordLine[key] else { throw fail("member of \(key), but no device \(key) line above it") }
                guard let address = PCIAddress(words[2]) else { throw fail("'\(words[2])' is not a PCI address DDDD:BB:DD.F") }
                var f = try fields(words.dropFirst(3), allowed: ["role", "previous"], fail)
                let identity = try identityOf(&f, fail)
                guard let r = f["role"] else { throw fail("a member needs role=companion|group-member|target|bystander") }
                guard let role = PassthroughRole(rawValue: r) else {
                    throw fail("role=\(r) is not one of \(PassthroughRole.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                if let p = f["previous"] { try checkDriver(p, "previous", fail) }
                guard case .record(var rec) = out[owner.index] else { continue }
                if rec.members.contains(where: { $0.address == address }) || rec.address == address {
                    throw fail("\(address) is already part of device \(key)")
                }
                rec.members.append(.init(address: address, role: role, identity: identity, previousDriver: f["previous"]))
                out[owner.index] = .record(rec)
            default:
                out.append(.unknown(line))
                unknown.append(n)
            }
        }
        var doc = PassthroughRecordsDocument(lines: out)
        doc.unknownLines = unknown
        return doc
    }

    static func badKey(_ key: String) -> String {
        "'\(key)' is neither an instance id (dsn:, slot:, path:, address:) nor a PCI address DDDD:BB:DD.F"
    }

    /// `name=value` words: each known, each once.
    static func fields(
        _ words: ArraySlice<String>, allowed: Set<String>, _ fail: (String) -> ConfigError
    ) throws(ConfigError) -> [String: String] {
        var out: [String: String] = [:]
        let known = allowed.union(RecordedIdentity.fieldNames)
        for w in words {
            guard let eq = w.firstIndex(of: "="), eq != w.startIndex, w.index(after: eq) != w.endIndex else {
                throw fail("expected name=value, got '\(w)'")
            }
            let name = String(w[..<eq])
            guard known.contains(name) else {
                throw fail("unknown field '\(name)=' (\(known.sorted().map { $0 + "=" }.joined(separator: ", ")))")
            }
            guard out.updateValue(String(w[w.index(after: eq)...]), forKey: name) == nil else { throw fail("\(name)= given twice") }
        }
        return out
    }

    /// Takes the identity fields out of `f`.
    static func identityOf(_ f: inout [String: String], _ fail: (String) -> ConfigError) throws(ConfigError) -> RecordedIdentity {
        var values: [String: String] = [:]
        for name in RecordedIdentity.fieldNames { values[name] = f.removeValue(forKey: name) }
        do { return try RecordedIdentity.parse(values) } catch {
            throw fail(error.code == .invalidRule ? error.message : error.description)
        }
    }

    /// A driver name as the kernel shows it under `bus/pci/drivers/`.
    static func checkDriver(_ d: String, _ field: String, _ fail: (String) -> ConfigError) throws(ConfigError) {
        let ok = !d.isEmpty && d.count <= 64 && d.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
        guard ok else { throw fail("\(field)=\(d) is not a driver name") }
    }

    // MARK: - Write

    public func serialized() -> String {
        var out: [String] = []
        for l in lines {
            switch l {
            case .text(let t), .unknown(let t): out.append(t)
            case .record(let r): out += Self.lines(of: r)
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func lines(of r: PassthroughRecord) -> [String] {
        var head = "device \(r.key) \(r.identity.fields) address=\(r.address)"
        if let p = r.previousDriver { head += " previous=\(p)" }
        head += " driver=\(r.driver)"
        if let g = r.group { head += " group=\(g)" }
        return [head]
            + r.members.map { m in
                "member \(r.key) \(m.address) role=\(m.role.rawValue) \(m.identity.fields)"
                    + (m.previousDriver.map { " previous=\($0)" } ?? "")
            }
    }

    // MARK: - Edit

    /// Replaces the record with the same key in place, or appends it.
    public mutating func upsert(_ r: PassthroughRecord) {
        if let i = lines.firstIndex(where: { if case .record(let x) = $0 { x.key == r.key } else { false } }) {
            lines[i] = .record(r)
        } else {
            lines.append(.record(r))
        }
    }

    /// Removes the records with these keys; returns how many.
    @discardableResult
    public mutating func remove(keys: Set<String>) -> Int {
        let before = lines.count
        lines.removeAll { if case .record(let x) = $0 { keys.contains(x.key) } else { false } }
        return before - lines.count
    }
}
