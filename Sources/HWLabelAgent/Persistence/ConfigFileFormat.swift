import Foundation
import HWLabelProbe

/// A parse error that names the file and line: `labels.conf:12: unknown directive 'lable'`.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    @Nullable public var line: Int?
    public var message: String
    public init(path: String, line: Int? = nil, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }
    public var description: String {
        let name = path
        if let line { return "\(name):\(line): \(message)" }
        return "\(name): \(message)"
    }
}

/// `labels.conf`: one directive per line, `#` starts a comment line, blank lines are kept.
///
/// ```
/// # hwlabel hardware labels
/// device dsn:00-11-22-ff-fe-33-44-55 = Turing GPU
/// device 0000:3b:00.0 = Inference NIC
/// rule vendor=10de device=1eb8 = Turing GPU
/// rule vendor=10de device=1e30 subsystem=10de:13d9 = Turing GPU
/// rule vendor=8086 class=0200 = Intel NIC
/// ```
/// The label is everything after ` = `, trimmed. Comments and unknown-but-valid layout survive
/// rewrites: `hwlabel label` edits only the directive lines it changes.
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
        #   device <dsn:…|slot:…|path:…|address:…|DDDD:BB:DD.F> = <label>
        #   rule vendor=VVVV [device=DDDD] [subsystem=SVVV:SDDD] [class=CC[SS[PP]]] = <label>
        # Precedence: device label > udev HWLABEL_LABEL > rule. Two rules that give one device
        # different labels are an error. Labels: 1-63 of A-Z a-z 0-9 space . _ - + / ( ),
        # starting and ending with a letter or digit.
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

    /// Strict parse; the first bad line throws with its number.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> LabelsDocument {
        var out: [Line] = []
        var rawLines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if rawLines.last == "" { rawLines.removeLast() }
        var seenKeys: [String: Int] = [:]
        var seenSelectors: [String: Int] = [:]
        for (i, raw) in rawLines.enumerated() {
            let n = i + 1
            func fail(_ m: String) -> ConfigError { ConfigError(path: path, line: n, message: m) }
            let trimmed = raw.trimmed
            if trimmed.isEmpty || trimmed.hasPrefix("#") { out.append(.text(raw)); continue }
            guard let eq = trimmed.range(of: " = ") else {
                throw fail("expected '<directive> … = <label>', got '\(trimmed)'")
            }
            let head = trimmed[..<eq.lowerBound].trimmed
            let labelText = trimmed[eq.upperBound...].trimmed
            let label: HardwareLabel
            do { label = try HardwareLabel(validating: labelText) } catch { throw fail(error.description) }
            let words = head.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            switch words.first {
            case "device":
                guard words.count == 2 else { throw fail("expected 'device <id or address> = <label>'") }
                let key = words[1]
                guard isValidInstanceKey(key) else {
                    throw fail("'\(key)' is neither an instance id (dsn:, slot:, path:, address:) nor a PCI address DDDD:BB:DD.F")
                }
                if let prev = seenKeys[key] { throw fail("device \(key) already labelled on line \(prev)") }
                seenKeys[key] = n
                out.append(.instance(InstanceLabel(key: key, label: label)))
            case "rule":
                var fields: [String: String] = [:]
                for w in words.dropFirst() {
                    let kv = w.split(separator: "=", maxSplits: 1).map(String.init)
                    guard kv.count == 2, ["vendor", "device", "subsystem", "class"].contains(kv[0]) else {
                        throw fail("unknown rule field '\(w)' (vendor=, device=, subsystem=, class=)")
                    }
                    guard fields[kv[0]] == nil else { throw fail("\(kv[0]) given twice") }
                    fields[kv[0]] = kv[1]
                }
                guard let vendor = fields["vendor"] else { throw fail("a rule needs vendor=VVVV") }
                do throws(LabelError) {
                    let sub = try fields["subsystem"].map { (s) throws(LabelError) in try LabelRule.splitSubsystem(s) }
                    let rule = try LabelRule(vendor: vendor, device: fields["device"], subsystemVendor: sub?.0,
                                             subsystemDevice: sub?.1, classPrefix: fields["class"], label: label)
                    if let prev = seenSelectors[rule.selector] { throw LabelError.conflict("rule \(rule.selector) already given on line \(prev)") }
                    seenSelectors[rule.selector] = n
                    out.append(.rule(rule))
                } catch { throw fail(error.description) }
            default:
                throw fail("unknown directive '\(words.first ?? "")' (device, rule)")
            }
        }
        return LabelsDocument(lines: out)
    }

    public func serialized() -> String {
        lines.map { l in
            switch l {
            case let .text(t): t
            case let .instance(i): "device \(i.key) = \(i.label.name)"
            case let .rule(r): "rule \(r.selector) = \(r.label.name)"
            }
        }.joined(separator: "\n") + "\n"
    }

    /// Sets (or replaces in place) the label on one instance key.
    public mutating func setInstanceLabel(key: String, label: HardwareLabel) {
        if let i = lines.firstIndex(where: { if case let .instance(x) = $0 { x.key == key } else { false } }) {
            lines[i] = .instance(InstanceLabel(key: key, label: label))
        } else {
            lines.append(.instance(InstanceLabel(key: key, label: label)))
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

/// `policy.conf`:
/// ```
/// include class=0b40
/// exclude address=0000:00:02.0
/// exclude device=8086:a7a0
/// allowNestedWithPassthrough = false
/// ```
public enum PolicyFormat {
    public static let template = """
        # hwlabel policy. One directive per line, '#' starts a comment.
        #   include class=CC[SS[PP]] | vendor=VVVV | device=VVVV:DDDD | address=DDDD:BB:DD.F
        #   exclude <same selectors>        (exclude wins over include; bridges are never assignable)
        #   allowNestedWithPassthrough = false
        #   vgpu-type <selector> | label="<label>"  <vGPU type name or id>
        #                                   (the type an idle card offers Placement)
        #   vgpu-mixed-size <selector>      (cards put in mixed-size mode with nvidia-smi)
        allowNestedWithPassthrough = false

        """

    public static func parse(_ text: String, path: String) throws(ConfigError) -> Policy {
        var policy = Policy()
        var rawLines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if rawLines.last == "" { rawLines.removeLast() }
        for (i, raw) in rawLines.enumerated() {
            let n = i + 1
            let t = raw.trimmed
            if t.isEmpty || t.hasPrefix("#") { continue }
            let words = t.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if words.first == "allowNestedWithPassthrough" || t.hasPrefix("allowNestedWithPassthrough=") {
                let value = t.split(separator: "=", maxSplits: 1).dropFirst().first.map { String($0).trimmed }
                switch value {
                case "true"?: policy.allowNestedWithPassthrough = true
                case "false"?: policy.allowNestedWithPassthrough = false
                default: throw ConfigError(path: path, line: n, message: "allowNestedWithPassthrough must be 'true' or 'false'")
                }
                continue
            }
            if words.first == "vgpu-type" {
                let rest = t.dropFirst("vgpu-type".count).trimmed
                let target: VGPUTypeChoice.Target, typeName: String
                if rest.hasPrefix("label=\"") {
                    let body = rest.dropFirst("label=\"".count)
                    guard let close = body.firstIndex(of: "\"") else {
                        throw ConfigError(path: path, line: n, message: "vgpu-type label=\"…\": the closing quote is missing")
                    }
                    target = .label(String(body[..<close]))
                    typeName = body[body.index(after: close)...].trimmed
                } else {
                    let parts = rest.split(separator: " ", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else {
                        throw ConfigError(path: path, line: n, message: "expected 'vgpu-type <selector> <type name>', got '\(t)'")
                    }
                    do { target = .selector(try DeviceSelector(parsing: parts[0])) } catch {
                        throw ConfigError(path: path, line: n, message: error.description)
                    }
                    typeName = parts[1].trimmed
                }
                guard !typeName.isEmpty else {
                    throw ConfigError(path: path, line: n, message: "vgpu-type names no type (e.g. vgpu-type address=0000:41:00.0 NVIDIA L40S-8Q)")
                }
                policy.vgpuTypes.append(VGPUTypeChoice(target: target, type: typeName))
                continue
            }
            if words.first == "vgpu-mixed-size" {
                guard words.count == 2 else {
                    throw ConfigError(path: path, line: n, message: "expected 'vgpu-mixed-size <selector>', got '\(t)'")
                }
                do { policy.mixedSize.append(try DeviceSelector(parsing: words[1])) } catch {
                    throw ConfigError(path: path, line: n, message: error.description)
                }
                continue
            }
            guard words.count == 2, words[0] == "include" || words[0] == "exclude" else {
                throw ConfigError(path: path, line: n, message: "expected 'include <selector>', 'exclude <selector>', 'vgpu-type <selector> <type>', 'vgpu-mixed-size <selector>' or 'allowNestedWithPassthrough = true|false', got '\(t)'")
            }
            do {
                let sel = try DeviceSelector(parsing: words[1])
                if words[0] == "include" { policy.include.append(sel) } else { policy.exclude.append(sel) }
            } catch { throw ConfigError(path: path, line: n, message: error.description) }
        }
        return policy
    }
}

/// An instance id as `InstanceIdentifier` makes them, or a PCI address.
public func isValidInstanceKey(_ key: String) -> Bool {
    if PCIAddress(key) != nil { return true }
    if key.hasPrefix("address:") { return PCIAddress(key.dropFirst("address:".count)) != nil }
    for p in ["dsn:", "slot:", "path:"] where key.hasPrefix(p) {
        let rest = key.dropFirst(p.count)
        return !rest.isEmpty && !rest.contains(where: { $0 == " " || $0 == "\t" || $0 == "=" || $0 == "#" })
    }
    return false
}

extension StringProtocol {
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
