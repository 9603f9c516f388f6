import HWLabelProbe

/// What differs between two inventories (`hwlabel diff OLD NEW`), for audits.
///
/// Descriptors are matched by instance id (`dsn:…`, `slot:…`, `path:…`, `address:…`), never by
/// address, so a card with a serial number that went to another slot is one device that moved.
/// A device whose instance id changed is a removal and an addition, even at the same address
/// (a card without a serial number moved to another slot, or a slot whose name changed).
///
/// For a matched descriptor these are compared, in this order (`Field`): the attribute
/// identity (another card at the same instance: a replaced card in a named slot), the driver,
/// the PCIe link (current and maximum speed and width of the function at the descriptor's
/// address, from the inventory's `functions`), readiness and its reason codes, mode, label,
/// usage state, and binding (the VMs that hold it, by guest name, else process: a VM's new pid
/// alone is not a change). Mode, usage and binding are schema 1.1 fields: when either document
/// is 1.0 they are not compared, and `notCompared` names them.
///
/// Functions that are no descriptor's in either document (bridges, GPU companions, excluded or
/// unassignable functions) are matched by address: added, removed (another vendor:device at an
/// address is a removal and an addition), or a changed driver.
///
/// Everything is sorted (descriptors by instance id, then address; functions by address;
/// fields in `Field` order), so equal inputs give equal bytes. Matching is linear in the number
/// of descriptors and functions.
public struct InventoryDiff: Codable, Sendable, Hashable {
    /// One side of the comparison, as decoded from an inventory document.
    public struct Input: Sendable {
        /// How the caller names the document (its path).
        public var name: String
        public var schemaVersion: String
        public var digest: String?
        public var descriptors: [AssignableDevice]
        public var functions: [PCIFunction]
        public init(
            name: String, schemaVersion: String, digest: String?, descriptors: [AssignableDevice],
            functions: [PCIFunction]
        ) {
            self.name = name
            self.schemaVersion = schemaVersion
            self.digest = digest
            self.descriptors = descriptors
            self.functions = functions
        }

        /// Schema 1.0 documents carry no mode, usage or bindings (the decoder fills in defaults).
        var recordsSchema11Fields: Bool {
            let parts = schemaVersion.split(separator: ".")
            guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return true }
            return major > 1 || minor >= 1
        }
    }

    /// Which document a side was.
    public struct Document: Codable, Sendable, Hashable {
        public var name: String
        public var schemaVersion: String
        @Nullable public var digest: String?
    }

    /// A descriptor field compared between two matched descriptors.
    public enum Field: String, Codable, Sendable, Hashable, CaseIterable {
        case identity, driver, link, readiness, readinessReasons = "readiness-reasons", mode, label, usage, binding

        /// Fields schema 1.0 does not record.
        static let addedIn11: [Field] = [.mode, .usage, .binding]

        /// What a null value means in this field, for the table.
        var nullText: String {
            switch self {
            case .link: "unknown"
            default: "none"
            }
        }
    }

    /// A descriptor present in one document only.
    public struct Device: Codable, Sendable, Hashable {
        public var address: PCIAddress
        public var instance: String
        public var instanceSource: String
        public var kind: String
        /// `vendor:device`.
        public var ids: String
        @Nullable public var name: String?
        @Nullable public var driver: String?
        @Nullable public var label: String?

        init(_ d: AssignableDevice) {
            address = d.address
            instance = d.instance.id
            instanceSource = d.instance.source
            kind = d.kind
            ids = d.attributes.vendor + ":" + d.attributes.device
            name = d.names.device
            driver = d.driver
            label = d.label?.name
        }
    }

    /// A matched descriptor at another address.
    public struct Move: Codable, Sendable, Hashable {
        public var instance: String
        public var from: PCIAddress
        public var to: PCIAddress
    }

    /// One field of one matched descriptor that differs; null is what the inventory's null
    /// means for that field (no driver, no label, an unknown link).
    public struct Change: Codable, Sendable, Hashable {
        public var instance: String
        /// The address in the new document.
        public var address: PCIAddress
        public var field: Field
        @Nullable public var old: String?
        @Nullable public var new: String?
    }

    /// A function that is no descriptor's, present at its address in one document only.
    public struct Function: Codable, Sendable, Hashable {
        public var address: PCIAddress
        /// `vendor:device`.
        public var ids: String
        public var classCode: String
        @Nullable public var driver: String?

        init(_ f: PCIFunction) {
            address = f.address
            ids = f.vendor + ":" + f.device
            classCode = f.classCode.description
            driver = f.driver
        }
    }

    /// A non-descriptor function, the same vendor:device at the same address, on another driver.
    public struct FunctionChange: Codable, Sendable, Hashable {
        public var address: PCIAddress
        /// Always `driver`.
        public var field: String
        @Nullable public var old: String?
        @Nullable public var new: String?
    }

    public struct Functions: Codable, Sendable, Hashable {
        public var added: [Function] = []
        public var removed: [Function] = []
        public var changed: [FunctionChange] = []
    }

    public var old: Document
    public var new: Document
    /// True when nothing compared differs (the exit status 0 of `hwlabel diff`).
    public var identical: Bool
    /// Fields left out because one document does not record them (a schema 1.0 document).
    public var notCompared: [Field]
    public var added: [Device]
    public var removed: [Device]
    public var moved: [Move]
    public var changed: [Change]
    public var functions: Functions

    public init(old o: Input, new n: Input) {
        old = Document(name: o.name, schemaVersion: o.schemaVersion, digest: o.digest)
        new = Document(name: n.name, schemaVersion: n.schemaVersion, digest: n.digest)
        let compare11 = o.recordsSchema11Fields && n.recordsSchema11Fields
        notCompared = compare11 ? [] : Field.addedIn11
        let fields = Field.allCases.filter { compare11 || !Field.addedIn11.contains($0) }

        let oldFunctions = Self.byAddress(o.functions), newFunctions = Self.byAddress(n.functions)
        var added: [Device] = [], removed: [Device] = [], moved: [Move] = [], changed: [Change] = []
        let (pairs, onlyOld, onlyNew) = Self.match(o.descriptors, n.descriptors)
        removed = onlyOld.map(Device.init)
        added = onlyNew.map(Device.init)
        for (a, b) in pairs {
            if a.address != b.address { moved.append(Move(instance: a.instance.id, from: a.address, to: b.address)) }
            for field in fields {
                let x = Self.value(field, a, oldFunctions[a.address]), y = Self.value(field, b, newFunctions[b.address])
                if x != y { changed.append(Change(instance: b.instance.id, address: b.address, field: field, old: x, new: y)) }
            }
        }
        func byInstance(_ l: Device, _ r: Device) -> Bool { (l.instance, l.address) < (r.instance, r.address) }
        self.added = added.sorted(by: byInstance)
        self.removed = removed.sorted(by: byInstance)
        self.moved = moved.sorted { ($0.instance, $0.to) < ($1.instance, $1.to) }
        let order = Dictionary(uniqueKeysWithValues: Field.allCases.enumerated().map { ($1, $0) })
        self.changed = changed.sorted { ($0.instance, $0.address, order[$0.field]!) < ($1.instance, $1.address, order[$1.field]!) }

        // Functions no descriptor in either document sits on, by address.
        var descriptorAddresses = Set<PCIAddress>()
        for d in o.descriptors { descriptorAddresses.insert(d.address) }
        for d in n.descriptors { descriptorAddresses.insert(d.address) }
        var fns = Functions()
        for (address, f) in oldFunctions where !descriptorAddresses.contains(address) {
            guard let g = newFunctions[address], g.vendor == f.vendor, g.device == f.device else {
                fns.removed.append(Function(f))
                continue
            }
            if f.driver != g.driver {
                fns.changed.append(FunctionChange(address: address, field: "driver", old: f.driver, new: g.driver))
            }
        }
        for (address, g) in newFunctions where !descriptorAddresses.contains(address) {
            if let f = oldFunctions[address], f.vendor == g.vendor, f.device == g.device { continue }
            fns.added.append(Function(g))
        }
        fns.added.sort { $0.address < $1.address }
        fns.removed.sort { $0.address < $1.address }
        fns.changed.sort { $0.address < $1.address }
        functions = fns

        identical =
            added.isEmpty && removed.isEmpty && moved.isEmpty && changed.isEmpty
            && fns.added.isEmpty && fns.removed.isEmpty && fns.changed.isEmpty
    }

    /// The last function listed at each address (a valid inventory lists each once).
    static func byAddress(_ functions: [PCIFunction]) -> [PCIAddress: PCIFunction] {
        var out: [PCIAddress: PCIFunction] = [:]
        out.reserveCapacity(functions.count)
        for f in functions { out[f.address] = f }
        return out
    }

    /// Pairs descriptors by instance id. An inventory gives each descriptor its own id; should
    /// one repeat (an edited document), descriptors of that id at the same address pair first,
    /// then the rest in address order.
    static func match(_ old: [AssignableDevice], _ new: [AssignableDevice])
        -> (pairs: [(AssignableDevice, AssignableDevice)], onlyOld: [AssignableDevice], onlyNew: [AssignableDevice])
    {
        var newByID: [String: [AssignableDevice]] = [:]
        newByID.reserveCapacity(new.count)
        for d in new { newByID[d.instance.id, default: []].append(d) }
        var oldByID: [String: [AssignableDevice]] = [:]
        oldByID.reserveCapacity(old.count)
        for d in old { oldByID[d.instance.id, default: []].append(d) }

        var pairs: [(AssignableDevice, AssignableDevice)] = [], onlyOld: [AssignableDevice] = []
        for (id, olds) in oldByID {
            guard var news = newByID.removeValue(forKey: id) else { onlyOld += olds; continue }
            if olds.count == 1, news.count == 1 { pairs.append((olds[0], news[0])); continue }
            var rest: [AssignableDevice] = []
            for a in olds.sorted(by: { $0.address < $1.address }) {
                if let i = news.firstIndex(where: { $0.address == a.address }) {
                    pairs.append((a, news.remove(at: i)))
                } else {
                    rest.append(a)
                }
            }
            news.sort { $0.address < $1.address }
            for (a, b) in zip(rest, news) { pairs.append((a, b)) }
            onlyOld += rest.dropFirst(news.count)
            if news.count > rest.count { newByID[id] = Array(news.dropFirst(rest.count)) }
        }
        return (pairs, onlyOld, newByID.values.flatMap { $0 })
    }

    /// A field's value as the table and JSON show it; nil as `Change` describes.
    static func value(_ field: Field, _ d: AssignableDevice, _ f: PCIFunction?) -> String? {
        switch field {
        case .identity:
            let a = d.attributes
            var s = a.vendor + ":" + a.device
            if let sv = a.subsystemVendor, let sd = a.subsystemDevice { s += " subsystem " + sv + ":" + sd }
            s += " class " + a.classCode
            if let r = a.revision { s += " rev " + r }
            return s
        case .driver:
            return d.driver
        case .link:
            guard let l = f?.link else { return nil }
            func text(_ speed: String?, _ width: Int?) -> String {
                (speed ?? "?") + " x" + (width.map(String.init) ?? "?")
            }
            return text(l.currentSpeed, l.currentWidth) + " (max " + text(l.maxSpeed, l.maxWidth) + ")"
        case .readiness:
            return d.readiness.state.rawValue
        case .readinessReasons:
            let codes = Set(d.readiness.reasons.map(\.code)).sorted()
            return codes.isEmpty ? nil : codes.joined(separator: ", ")
        case .mode:
            return d.mode.rawValue
        case .label:
            return d.label.map { $0.name + " (" + $0.source + ")" }
        case .usage:
            return d.usage.state.rawValue
        case .binding:
            let holders = Set(d.usage.bindings.map { $0.guest ?? "\($0.process) (no guest name)" }).sorted()
            return holders.isEmpty ? nil : holders.joined(separator: ", ")
        }
    }

    /// One line per difference, columns aligned: what (`added`, `removed`, `moved`, `changed`,
    /// and `fn-added`, `fn-removed`, `fn-changed` for non-descriptor functions), the address
    /// (the new one, except for a removal), the instance id (`-` for a function), the detail.
    /// Empty when the inventories are identical.
    public func table() -> String {
        var rows: [(String, String, String, String)] = []
        func device(_ d: Device) -> String {
            var s = d.ids + " " + d.kind
            if let n = d.name { s += " " + n }
            if let l = d.label { s += " [label: " + l + "]" }
            return s
        }
        for d in removed { rows.append(("removed", d.address.description, d.instance, device(d))) }
        for d in added { rows.append(("added", d.address.description, d.instance, device(d))) }
        for m in moved { rows.append(("moved", m.to.description, m.instance, "from \(m.from)")) }
        for c in changed {
            rows.append(
                (
                    "changed", c.address.description, c.instance,
                    c.field.rawValue + ": " + (c.old ?? c.field.nullText) + " -> " + (c.new ?? c.field.nullText)
                ))
        }
        func function(_ f: Function) -> String { f.ids + " class " + f.classCode + " driver " + (f.driver ?? "none") }
        for f in functions.removed { rows.append(("fn-removed", f.address.description, "-", function(f))) }
        for f in functions.added { rows.append(("fn-added", f.address.description, "-", function(f))) }
        for c in functions.changed {
            rows.append(
                (
                    "fn-changed", c.address.description, "-",
                    c.field + ": " + (c.old ?? "none") + " -> " + (c.new ?? "none")
                ))
        }
        let w0 = rows.map(\.0.count).max() ?? 0, w2 = rows.map(\.2.count).max() ?? 0
        func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
        return rows.map { pad($0.0, w0) + "  " + $0.1 + "  " + pad($0.2, w2) + "  " + $0.3 + "\n" }.joined()
    }
}
