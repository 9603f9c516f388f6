import Foundation
import HWLabelProbe

/// `labels.conf`: one directive per line, `#` starts a comment line, blank lines are kept.
///
/// ```
/// # hwlabel hardware labels
/// device dsn:00-11-22-ff-fe-33-44-55 vendor=10de device=1eb8 subsystem=10de:12a2 class=030200 = Turing GPU
/// device slot:3 = Inference T4
/// device 0000:3b:00.0 = Inference NIC
/// rule vendor=10de device=1eb8 = Turing GPU
/// rule vendor=10de device=1e30 subsystem=10de:13d9 = Turing GPU
/// rule vendor=8086 class=0200 = Intel NIC
/// ```
/// The label is everything after ` = `, trimmed. A device line may carry, between the key and
/// ` = `, the identity of the card the label was given to (`RecordedIdentity.fields`:
/// `vendor= device= [subsystem=] class=`, as `hwlabel label set` writes them); the label then
/// applies only while the card at that key has that identity. A line without them (written by
/// hand or by an older hwlabel) asserts nothing and applies to whatever card is at the key.
/// Comments and unknown-but-valid layout survive rewrites: `hwlabel label` edits only the
/// directive lines it changes.
public struct LabelsDocument: Sendable, Hashable {
    public enum Line: Sendable, Hashable {
        case text(String)
        case instance(InstanceLabel)
        case rule(LabelRule)
    }
    public var lines: [Line]

    public static let header = """
        # hwlabel hardware labels (one label per device). Managed by `hwlabel label`; hand edits
        # are kept. One directive per line, '#' starts a comment:
        #   device <dsn:…|slot:…|path:…|address:…|DDDD:BB:DD.F> [identity] = <label>
        #   rule vendor=VVVV [device=DDDD] [subsystem=SVVV:SDDD] [class=CC[SS[PP]]] = <label>
        # [identity] is the card the label was given to, as `hwlabel label set` records it:
        #   vendor=VVVV device=DDDD [subsystem=SVVV:SDDD] class=CCSSPP
        # The label then applies only while that card is at the key: another card in the same
        # slot is not labelled and `hwlabel inventory` warns (drift). Leave the fields out to
        # label whatever card is there.
        # Precedence: device label > udev HWLABEL_LABEL > rule. Two rules that give one device
        # different labels are an error. Labels: 1-63 of A-Z a-z 0-9 space . _ - + / ( ),
        # starting and ending with a letter or digit. Two different labels may not export to
        # the same Placement trait or Kubernetes value ("Turing GPU", "turing gpu" and
        # "Turing-GPU" are all CUSTOM_HWLABEL_TURING_GPU).
        """

    public init(lines: [Line] = LabelsDocument.header.split(separator: "\n", omittingEmptySubsequences: false).map { .text(String($0)) }) {
        self.lines = lines
    }

    public var labelSet: LabelSet {
        var set = LabelSet()
        for l in lines {
            switch l {
            case let .instance(i): set.instanceLabels.append(i)
            case let .rule(r): set.rules.append(r)
            case .text: break
            }
        }
        return set
    }

    /// Strict parse; the first bad line throws with its number. Works over the UTF-8 bytes, so
    /// a file of 300,000 rules parses in about a second even in a debug build.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> LabelsDocument {
        var text = text
        var result: Result<LabelsDocument, ConfigError> = .success(LabelsDocument(lines: []))
        text.withUTF8 { b in result = Result { () throws(ConfigError) in try parse(b, path: path) } }
        return try result.get()
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>, path: String) throws(ConfigError) -> LabelsDocument {
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), equals = UInt8(ascii: "=")
        // `b` is valid UTF-8 (it came from a String) and every cut below is at an ASCII byte.
        func string(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self) }
        func trim(_ r: Range<Int>) -> Range<Int> {
            var lo = r.lowerBound, hi = r.upperBound
            while lo < hi, b[lo] == space || b[lo] == tab { lo += 1 }
            while hi > lo, b[hi - 1] == space || b[hi - 1] == tab { hi -= 1 }
            return lo..<hi
        }
        /// Words separated by runs of spaces; a tab is part of a word.
        func words(_ r: Range<Int>) -> [Range<Int>] {
            var out: [Range<Int>] = []
            var i = r.lowerBound
            while i < r.upperBound {
                while i < r.upperBound, b[i] == space { i += 1 }
                let start = i
                while i < r.upperBound, b[i] != space { i += 1 }
                if i > start { out.append(start..<i) }
            }
            return out
        }
        func equalsBytes(_ r: Range<Int>, _ word: StaticString) -> Bool {
            guard r.count == word.utf8CodeUnitCount else { return false }
            let w = word.utf8Start
            for k in 0..<r.count where b[r.lowerBound + k] != w[k] { return false }
            return true
        }

        let ranges = try ConfigText.lineRanges(b, path: path)
        var out: [Line] = []
        out.reserveCapacity(ranges.count)
        var seenKeys: [String: Int] = [:]
        var seenSelectors: [String: Int] = [:]
        for (i, raw) in ranges.enumerated() {
            let n = i + 1
            func fail(_ m: String) -> ConfigError { ConfigError(path: path, line: n, message: m) }
            let t = trim(raw)
            if t.isEmpty || b[t.lowerBound] == UInt8(ascii: "#") { out.append(.text(string(raw))); continue }
            var eq = t.lowerBound
            while eq + 3 <= t.upperBound, !(b[eq] == space && b[eq + 1] == equals && b[eq + 2] == space) { eq += 1 }
            guard eq + 3 <= t.upperBound else {
                throw fail("expected '<directive> … = <label>', got '\(string(t))'")
            }
            let head = trim(t.lowerBound..<eq)
            let label: HardwareLabel
            do { label = try HardwareLabel(validating: string(trim(eq + 3..<t.upperBound))) } catch { throw fail(error.description) }
            let ws = words(head)
            if let first = ws.first, equalsBytes(first, "device") {
                guard ws.count >= 2 else {
                    throw fail("expected 'device <id or address> [vendor=… device=… subsystem=… class=…] = <label>'")
                }
                let key = string(ws[1])
                guard isValidInstanceKey(key) else {
                    throw fail("'\(key)' is neither an instance id (dsn:, slot:, path:, address:) nor a PCI address DDDD:BB:DD.F")
                }
                // The identity the label was given to: `name=value` words after the key.
                var identity: RecordedIdentity?
                if ws.count > 2 {
                    var values: [String: String] = [:]
                    for w in ws.dropFirst(2) {
                        var cut = w.lowerBound
                        while cut < w.upperBound, b[cut] != equals { cut += 1 }
                        guard cut > w.lowerBound, cut + 1 < w.upperBound else {
                            throw fail("unknown identity field '\(string(w))' (vendor=, device=, subsystem=, class=)")
                        }
                        let name = string(w.lowerBound..<cut)
                        guard values.updateValue(string(cut + 1..<w.upperBound), forKey: name) == nil else {
                            throw fail("\(name) given twice")
                        }
                    }
                    do { identity = try RecordedIdentity.parse(values) } catch {
                        throw fail("identity: " + (error.code == .invalidRule ? error.message : error.description))
                    }
                }
                if let prev = seenKeys.updateValue(n, forKey: key) { throw fail("device \(key) already labelled on line \(prev)") }
                out.append(.instance(InstanceLabel(key: key, label: label, identity: identity)))
            } else if let first = ws.first, equalsBytes(first, "rule") {
                var vendor: String?, device: String?, subsystem: String?, classPrefix: String?
                for w in ws.dropFirst() {
                    var cut = w.lowerBound
                    while cut < w.upperBound, b[cut] != equals { cut += 1 }
                    let name = w.lowerBound..<cut
                    guard cut > w.lowerBound, cut + 1 < w.upperBound else {
                        throw fail("unknown rule field '\(string(w))' (vendor=, device=, subsystem=, class=)")
                    }
                    let value = string(cut + 1..<w.upperBound)
                    func set(_ field: inout String?, _ fieldName: String) throws(ConfigError) {
                        guard field == nil else { throw fail("\(fieldName) given twice") }
                        field = value
                    }
                    if equalsBytes(name, "vendor") {
                        try set(&vendor, "vendor")
                    } else if equalsBytes(name, "device") {
                        try set(&device, "device")
                    } else if equalsBytes(name, "subsystem") {
                        try set(&subsystem, "subsystem")
                    } else if equalsBytes(name, "class") {
                        try set(&classPrefix, "class")
                    } else {
                        throw fail("unknown rule field '\(string(w))' (vendor=, device=, subsystem=, class=)")
                    }
                }
                guard let vendor else { throw fail("a rule needs vendor=VVVV") }
                do throws(LabelError) {
                    let sub = try subsystem.map { (s) throws(LabelError) in try LabelRule.splitSubsystem(s) }
                    let rule = try LabelRule(
                        vendor: vendor, device: device, subsystemVendor: sub?.0,
                        subsystemDevice: sub?.1, classPrefix: classPrefix, label: label)
                    if let prev = seenSelectors.updateValue(n, forKey: rule.selector) {
                        throw LabelError.conflict("rule \(rule.selector) already given on line \(prev)")
                    }
                    out.append(.rule(rule))
                } catch { throw fail(error.description) }
            } else {
                throw fail("unknown directive '\(ws.first.map(string) ?? "")' (device, rule)")
            }
        }
        return LabelsDocument(lines: out)
    }

    public func serialized() -> String {
        lines.map { l in
            switch l {
            case let .text(t): t
            case let .instance(i): "device \(i.key)\(i.identity.map { " " + $0.fields } ?? "") = \(i.label.name)"
            case let .rule(r): "rule \(r.selector) = \(r.label.name)"
            }
        }.joined(separator: "\n") + "\n"
    }

    /// Sets (or replaces in place) the label on one instance key, with the identity of the card
    /// it is given to (nil: whatever card is at the key).
    public mutating func setInstanceLabel(key: String, label: HardwareLabel, identity: RecordedIdentity? = nil) {
        let line = Line.instance(InstanceLabel(key: key, label: label, identity: identity))
        if let i = lines.firstIndex(where: { if case let .instance(x) = $0 { x.key == key } else { false } }) {
            lines[i] = line
        } else {
            lines.append(line)
        }
    }

    /// Adds a rule, replacing in place one with the same selector. Returns the replaced rule.
    @discardableResult
    public mutating func addRule(_ rule: LabelRule) -> LabelRule? {
        if let i = lines.firstIndex(where: { if case let .rule(x) = $0 { x.sameSelector(as: rule) } else { false } }) {
            guard case let .rule(old) = lines[i] else { return nil }
            lines[i] = .rule(rule)
            return old
        }
        lines.append(.rule(rule))
        return nil
    }

    /// Removes instance labels whose key is one of `keys`. Returns how many.
    @discardableResult
    public mutating func removeInstanceLabels(keys: Set<String>) -> Int {
        let before = lines.count
        lines.removeAll { if case let .instance(x) = $0 { keys.contains(x.key) } else { false } }
        return before - lines.count
    }

    /// Removes rules with the same selector as `rule` (label ignored). Returns how many.
    @discardableResult
    public mutating func removeRules(matchingSelectorOf rule: LabelRule) -> Int {
        let before = lines.count
        lines.removeAll { if case let .rule(x) = $0 { x.sameSelector(as: rule) } else { false } }
        return before - lines.count
    }
}
