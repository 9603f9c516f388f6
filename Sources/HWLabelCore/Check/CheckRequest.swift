import Foundation
import HWLabelProbe

/// What a VM asks of a host: devices by label or attribute tuple, vGPU profiles, nested virtualization.
///
/// JSON form (`hwlabel check --request FILE`):
/// ```json
/// {"devices": [{"label": "Turing GPU", "count": 2},
///              {"vendor": "10de", "device": "1e30", "subsystemVendor": "10de", "subsystemDevice": "13d9"}],
///  "vgpu": [{"profile": "GRID T4-4Q", "count": 1}],
///  "nested": false}
/// ```
/// Every key is optional except a vgpu entry's `profile` (`count` defaults to 1, `nested` to
/// false; `null` means absent). `CheckRequest(json:)` reads this form strictly: an unknown key or a
/// value of the wrong type is an error naming where it is, not something to skip.
public struct CheckRequest: Codable, Sendable, Hashable {
    public var devices: [DeviceRequest]
    public var vgpu: [VGPURequest]
    public var nested: Bool

    public init(devices: [DeviceRequest] = [], vgpu: [VGPURequest] = [], nested: Bool = false) {
        self.devices = devices
        self.vgpu = vgpu
        self.nested = nested
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case devices, vgpu, nested }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        devices = try c.decodeIfPresent([DeviceRequest].self, forKey: .devices) ?? []
        vgpu = try c.decodeIfPresent([VGPURequest].self, forKey: .vgpu) ?? []
        nested = try c.decodeIfPresent(Bool.self, forKey: .nested) ?? false
    }

    /// Semantic checks the JSON decoder cannot make (an input error: exit 2).
    public func validate() throws(RequestError) {
        if devices.isEmpty && vgpu.isEmpty && !nested {
            throw RequestError("the request asks for nothing (give devices, vgpu or nested)")
        }
        for d in devices { try d.validate() }
        for v in vgpu where v.count < 1 || v.profile.isEmpty {
            throw RequestError("vgpu entries need a profile name and a count ≥ 1")
        }
    }
}

/// N devices by hardware label, or by attribute tuple (vendor, device, optional subsystem).
public struct DeviceRequest: Codable, Sendable, Hashable, CustomStringConvertible {
    public var label: String?
    public var vendor: String?
    public var device: String?
    public var subsystemVendor: String?
    public var subsystemDevice: String?
    public var count: Int

    public init(label: String, count: Int = 1) {
        self.label = label
        self.count = count
    }

    public init(vendor: String, device: String, subsystemVendor: String? = nil, subsystemDevice: String? = nil, count: Int = 1) {
        self.vendor = vendor.lowercased()
        self.device = device.lowercased()
        self.subsystemVendor = subsystemVendor?.lowercased()
        self.subsystemDevice = subsystemDevice?.lowercased()
        self.count = count
    }

    /// Parses `VVVV:DDDD[:SVVV:SDDD]` as `--device` takes it.
    public init(tuple: String, count: Int = 1) throws(LabelError) {
        let p = tuple.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard p.count == 2 || p.count == 4 else { throw LabelError.invalidID(tuple, "device (VVVV:DDDD[:SVVV:SDDD])") }
        self.init(
            vendor: try normalizedID(p[0], what: "vendor ID"), device: try normalizedID(p[1], what: "device ID"),
            subsystemVendor: p.count == 4 ? try normalizedID(p[2], what: "subsystem vendor ID") : nil,
            subsystemDevice: p.count == 4 ? try normalizedID(p[3], what: "subsystem device ID") : nil,
            count: count)
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case label, vendor, device, subsystemVendor, subsystemDevice, count }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        label = try c.decodeIfPresent(String.self, forKey: .label)
        vendor = try c.decodeIfPresent(String.self, forKey: .vendor)?.lowercased()
        device = try c.decodeIfPresent(String.self, forKey: .device)?.lowercased()
        subsystemVendor = try c.decodeIfPresent(String.self, forKey: .subsystemVendor)?.lowercased()
        subsystemDevice = try c.decodeIfPresent(String.self, forKey: .subsystemDevice)?.lowercased()
        count = try c.decodeIfPresent(Int.self, forKey: .count) ?? 1
    }

    public func validate() throws(RequestError) {
        guard count >= 1 else { throw RequestError("count must be ≥ 1 in \(description)") }
        do {
            if let label {
                guard vendor == nil && device == nil else {
                    throw RequestError("a device request names a label or an attribute tuple, not both")
                }
                _ = try HardwareLabel(validating: label)
                return
            }
            guard let vendor, let device else { throw RequestError("a device request needs a label or vendor and device") }
            _ = try normalizedID(vendor, what: "vendor ID")
            _ = try normalizedID(device, what: "device ID")
            guard (subsystemVendor == nil) == (subsystemDevice == nil) else {
                throw RequestError("give both subsystemVendor and subsystemDevice, or neither")
            }
            if let subsystemVendor { _ = try normalizedID(subsystemVendor, what: "subsystem vendor ID") }
            if let subsystemDevice { _ = try normalizedID(subsystemDevice, what: "subsystem device ID") }
        } catch let e as CoreError where e.code == .invalidRequest || e.code == .unreadableRequest {
            throw e
        } catch {
            // A malformed label or ID: its text already names the value.
            throw RequestError("\(error)")
        }
    }

    public func matches(_ d: AssignableDevice) -> Bool {
        if let label { return d.label?.name == label }
        guard d.attributes.vendor == vendor, d.attributes.device == device else { return false }
        if let subsystemVendor, d.attributes.subsystemVendor != subsystemVendor { return false }
        if let subsystemDevice, d.attributes.subsystemDevice != subsystemDevice { return false }
        return true
    }

    /// `label "Turing GPU"` or `10de:1e30 subsystem 10de:13d9`.
    public var what: String {
        if let label { return "label \"\(label)\"" }
        var t = "\(vendor ?? "?"):\(device ?? "?")"
        if let subsystemVendor, let subsystemDevice { t += " subsystem \(subsystemVendor):\(subsystemDevice)" }
        return t
    }

    public var description: String { "\(count) × \(what)" }
}

public struct VGPURequest: Codable, Sendable, Hashable, CustomStringConvertible {
    /// An mdev type name or id (`GRID T4-4Q`, `nvidia-222`) or an NVIDIA SR-IOV vGPU type name or id.
    public var profile: String
    public var count: Int
    public init(profile: String, count: Int = 1) {
        self.profile = profile
        self.count = count
    }
    enum CodingKeys: String, CodingKey, CaseIterable { case profile, count }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        profile = try c.decode(String.self, forKey: .profile)
        count = try c.decodeIfPresent(Int.self, forKey: .count) ?? 1
    }
    public var description: String { "\(count) × vGPU profile \"\(profile)\"" }
}

extension CheckRequest {
    /// The most bytes a request file may hold.
    public static let maximumFileSize = 1 << 20

    /// Reads the JSON form strictly: syntax errors name a line and column; unknown keys (with the
    /// nearest known one when it is close) and wrong types name their key path, such as
    /// `devices[1].count`. Does not `validate()`.
    public init(json data: Data) throws(RequestError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw Self.syntaxError(error, in: data)
        }
        try RequestShape.request.check(object, at: "")
        do {
            self = try JSONDecoder().decode(CheckRequest.self, from: data)
        } catch {
            // The shape check above leaves nothing for the decoder to refuse; this is a backstop.
            throw RequestError("\(error)")
        }
    }

    /// Foundation names a byte offset ("Invalid value around character 15."), or none at the end
    /// of the input; people and editors want a line and a column.
    static func syntaxError(_ error: Error, in data: Data) -> RequestError {
        let text = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
        var offset = data.count
        var reason = text
        for marker in [" around character ", " starting from character "] {
            guard let r = text.range(of: marker) else { continue }
            reason = String(text[..<r.lowerBound])
            if let n = Int(text[r.upperBound...].prefix(while: \.isNumber)) { offset = min(n, data.count) }
            break
        }
        if reason.hasSuffix(".") { reason.removeLast() }
        if reason.contains("UTF-8") { reason = "not UTF-8 text" }
        if let first = reason.first, !reason.hasPrefix("JSON") { reason = first.lowercased() + reason.dropFirst() }
        let (line, column) = lineAndColumn(ofByte: offset, in: data)
        return RequestError("not valid JSON at line \(line), column \(column): \(reason)")
    }

    /// 1-based line and column of a byte offset; the column counts characters (UTF-8 lead bytes),
    /// not bytes, as editors do.
    static func lineAndColumn(ofByte offset: Int, in data: Data) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }
}

/// The request's JSON shape, keyed by the `CodingKeys` the decoder uses, so the two cannot drift.
private indirect enum RequestShape: Sendable {
    case string, integer, boolean
    case array(of: RequestShape)
    /// Keys in the order messages list them; `required` keys may not be absent or null.
    case object([(key: String, shape: RequestShape)], required: [String])

    static let device = RequestShape.object(
        DeviceRequest.CodingKeys.allCases.map { ($0.stringValue, $0 == .count ? .integer : .string) }, required: [])
    static let vgpu = RequestShape.object(
        VGPURequest.CodingKeys.allCases.map { ($0.stringValue, $0 == .count ? .integer : .string) }, required: ["profile"])
    static let request = RequestShape.object(
        CheckRequest.CodingKeys.allCases.map {
            switch $0 {
            case .devices: ($0.stringValue, .array(of: device))
            case .vgpu: ($0.stringValue, .array(of: vgpu))
            case .nested: ($0.stringValue, .boolean)
            }
        }, required: [])

    var expected: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .boolean: "true or false"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Throws the first problem, in a stable order: unknown keys (sorted), then each known key
    /// in `CodingKeys` order, depth first.
    func check(_ value: Any, at path: String) throws(RequestError) {
        let here = path.isEmpty ? "top level" : path
        switch self {
        case .string where value is String: return
        case .integer:
            if let n = value as? NSNumber, !Self.isBoolean(n), Int(exactly: n.doubleValue) != nil { return }
        case .boolean:
            if let n = value as? NSNumber, Self.isBoolean(n) { return }
        case let .array(element):
            guard let items = value as? [Any] else { break }
            for (i, item) in items.enumerated() { try element.check(item, at: "\(path)[\(i)]") }
            return
        case let .object(fields, required):
            guard let dict = value as? [String: Any] else { break }
            let known = fields.map(\.key)
            for key in dict.keys.sorted() where !known.contains(key) {
                var m = "\(here): unknown key \(Self.quoted(key)) (expected \(known.joined(separator: ", ")))"
                if let s = Self.nearest(key, in: known) { m += "; did you mean \"\(s)\"?" }
                throw RequestError(m)
            }
            for (key, shape) in fields {
                let sub = path.isEmpty ? key : "\(path).\(key)"
                guard let v = dict[key], !(v is NSNull) else {
                    if required.contains(key) {
                        throw RequestError(
                            dict[key] == nil ? "\(here): missing key \"\(key)\"" : "\(sub): expected \(shape.expected), got null")
                    }
                    continue
                }
                try shape.check(v, at: sub)
            }
            return
        default: break
        }
        throw RequestError("\(here): expected \(expected), got \(Self.describe(value))")
    }

    /// JSONSerialization hands booleans over as NSNumber too; theirs is the `char` type.
    static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    static func describe(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case let s as String: return "a string (\(quoted(s)))"
        case let n as NSNumber: return isBoolean(n) ? (n.boolValue ? "true" : "false") : "a number (\(n))"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return "\(type(of: value))"
        }
    }

    /// A key or value as JSON would spell it, cut short when long.
    static func quoted(_ s: String) -> String {
        let cut = s.count > 40 ? String(s.prefix(40)) + "…" : s
        var out = "\""
        for ch in cut.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where ch.value < 0x20: out += String(format: "\\u%04x", ch.value)
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }

    /// The known key a typo most likely meant: the same but for case, or within two edits.
    static func nearest(_ key: String, in known: [String]) -> String? {
        let k = Array(key.lowercased())
        if let same = known.first(where: { $0.lowercased() == key.lowercased() }) { return same }
        let scored = known.map { ($0, editDistance(k, Array($0.lowercased()))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
        return best.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
