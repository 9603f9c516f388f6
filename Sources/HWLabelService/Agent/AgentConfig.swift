import Foundation
import HWLabelCore
import HWLabelProbe

/// `<config-dir>/agent.conf`: INI-style, `[section]` headers, `key = value`, `#`/`;` comments.
///
/// ```
/// [agent]
/// resync-interval = 600      # seconds between full rescans
/// debounce = 200ms           # quiet time after a uevent before rescanning
/// [controller]
/// url = https://controller.example/v1/hosts/reports
/// token-file = /etc/hwlabel/controller-token   # default: $CREDENTIALS_DIRECTORY/controller-token
/// ca-file = /etc/hwlabel/controller-ca.pem
/// timeout = 10
/// max-attempts = 5
/// [file]
/// path = /var/lib/hwlabel/report.json
/// [nfd]
/// dir = /etc/kubernetes/node-feature-discovery/features.d
/// expiry = 3600
/// ```
/// A sink is enabled by its section's mandatory key (`url`, `path`, `dir`). No file: only
/// `<state-dir>/report.json` is written.
public struct AgentConfig: Sendable, Hashable {
    public struct Controller: Sendable, Hashable {
        public var url: String
        public var tokenFile: String?
        public var caFile: String?
        public var timeout: TimeInterval = 10
        public var maxAttempts: Int = 5
        public init(url: String) { self.url = url }
    }
    public struct NFD: Sendable, Hashable {
        public var directory: String
        public var expiry: TimeInterval = 3600
        public init(directory: String) { self.directory = directory }
    }

    /// `[placement]`: mirror every report into OpenStack Placement.
    public struct Placement: Sendable, Hashable {
        public var url: String
        /// Default: the systemd credential `placement-token`.
        public var tokenFile: String?
        public var microversion = "1.39"
        /// Root provider name (Nova's compute-node name); default: the report's host name.
        public var hostName: String?
        public var policy = PlacementPolicy()
        public init(url: String) { self.url = url }
    }

    public var resyncInterval: TimeInterval = 600
    public var debounce: TimeInterval = 0.2
    public var controller: Controller?
    public var filePath: String?
    public var nfd: NFD?
    public var placement: Placement?

    public init() {}

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var line: Int
        public var message: String
        public var description: String {
            if line > 0 { return "\(path):\(line): \(message)" }
            return message.contains(path) ? message : "\(path): \(message)"
        }
    }

    /// The range each duration key accepts, in seconds (checked at load: a value outside is an
    /// error naming file, line, key and range, never a clamp or an overflow later).
    public static let durationRanges: [String: ClosedRange<Double>] = [
        "resync-interval": 1...(30 * 86400),
        "debounce": 0...60,
        "timeout": 0.001...3600,
        "expiry": 60...(366 * 86400),
    ]
    /// `[controller] max-attempts`.
    public static let maxAttemptsRange = 1...100

    /// Reads `path` (at most 1 MiB, a regular file); a missing file gives the defaults.
    public static func load(path: String) throws -> AgentConfig {
        let text: String
        do {
            guard let t = try BoundedFile.readTextIfPresent(path, limit: BoundedFile.Limit.config) else { return AgentConfig() }
            text = t
        } catch {
            throw ParseError(path: path, line: 0, message: error.description)
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String = "agent.conf") throws(ParseError) -> AgentConfig {
        var c = AgentConfig()
        var section = ""
        var controllerURL: String?
        var ctl: [String: (Int, String)] = [:]
        var nfdDir: String?
        var nfdExpiry: TimeInterval?
        var placementURL: String?
        var pl: [String: (Int, String)] = [:]
        let lines: [Substring]
        do { lines = try ConfigText.lines(text, path: path) } catch {
            throw ParseError(path: path, line: error.line ?? 0, message: error.message)
        }
        for (i, rawLine) in lines.enumerated() {
            let n = i + 1
            var line = rawLine
            if let hash = line.firstIndex(where: { $0 == "#" || $0 == ";" }) { line = line[..<hash] }
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            if t.hasPrefix("[") {
                guard t.hasSuffix("]") else { throw ParseError(path: path, line: n, message: "unterminated section header") }
                section = String(t.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                guard ["agent", "controller", "file", "nfd", "placement"].contains(section) else {
                    throw ParseError(path: path, line: n, message: "unknown section [\(section)]")
                }
                continue
            }
            guard let eq = t.firstIndex(of: "=") else { throw ParseError(path: path, line: n, message: "expected key = value") }
            let key = t[..<eq].trimmingCharacters(in: .whitespaces)
            let value = t[t.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            func seconds() throws(ParseError) -> TimeInterval {
                let range = durationRanges[key] ?? 0...(30 * 86400)
                guard let s = parseDuration(value), range.contains(s) else {
                    throw ParseError(
                        path: path, line: n,
                        message: "[\(section)] \(key): \(parseDuration(value) == nil ? "not a duration" : "out of range"): "
                            + "'\(value)' (allowed: \(describe(range)); a number of seconds, or with ms, s, m, h)")
                }
                return s
            }
            switch (section, key) {
            case ("agent", "resync-interval"): c.resyncInterval = try seconds()
            case ("agent", "debounce"): c.debounce = try seconds()
            case ("controller", "url"):
                guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                    throw ParseError(path: path, line: n, message: "url must be http:// or https://")
                }
                controllerURL = value
            case ("controller", "token-file"), ("controller", "ca-file"), ("controller", "timeout"),
                ("controller", "max-attempts"):
                if key == "timeout" { _ = try seconds() }
                if key == "max-attempts" {
                    guard let m = Int(value), maxAttemptsRange.contains(m) else {
                        throw ParseError(
                            path: path, line: n,
                            message: "[controller] max-attempts: '\(value)' is not an integer "
                                + "from \(maxAttemptsRange.lowerBound) to \(maxAttemptsRange.upperBound)")
                    }
                }
                ctl[key] = (n, value)
            case ("placement", "url"):
                guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                    throw ParseError(path: path, line: n, message: "url must be http:// or https://")
                }
                placementURL = value
            case ("placement", "resource-class"):
                guard PlacementPolicy.ResourceClassSource(rawValue: value) != nil else {
                    throw ParseError(path: path, line: n, message: "resource-class: pci-id or label, not \(value)")
                }
                pl[key] = (n, value)
            case ("placement", "ready-after-binding-is-ready"):
                guard ["true", "false", "yes", "no"].contains(value) else {
                    throw ParseError(path: path, line: n, message: "\(key): true or false, not \(value)")
                }
                pl[key] = (n, value)
            case ("placement", "microversion"):
                let parts = value.split(separator: ".", omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0] == "1", parts[1].utf8.count <= 2, let minor = Int(parts[1]), (36...39).contains(minor)
                else {
                    throw ParseError(path: path, line: n, message: "[placement] microversion: '\(value)' (allowed: 1.36 to 1.39)")
                }
                pl[key] = (n, value)
            case ("placement", "token-file"), ("placement", "host-name"):
                pl[key] = (n, value)
            case ("file", "path"): c.filePath = value
            case ("nfd", "dir"): nfdDir = value
            case ("nfd", "expiry"): nfdExpiry = try seconds()
            default:
                throw ParseError(path: path, line: n, message: "unknown key \(key) in [\(section)]")
            }
        }
        if let url = controllerURL {
            var k = Controller(url: url)
            k.tokenFile = ctl["token-file"]?.1
            k.caFile = ctl["ca-file"]?.1
            if let t = ctl["timeout"]?.1, let v = parseDuration(t) { k.timeout = v }
            if let m = ctl["max-attempts"]?.1, let v = Int(m) { k.maxAttempts = v }
            c.controller = k
        } else if let line = ctl.values.first?.0 {
            throw ParseError(path: path, line: line, message: "[controller] needs url")
        }
        if let url = placementURL {
            var p = Placement(url: url)
            p.tokenFile = pl["token-file"]?.1
            if let m = pl["microversion"]?.1 { p.microversion = m }
            p.hostName = pl["host-name"]?.1
            if let rc = pl["resource-class"]?.1 { p.policy.resourceClass = PlacementPolicy.ResourceClassSource(rawValue: rc)! }
            if let r = pl["ready-after-binding-is-ready"]?.1 { p.policy.readyAfterBindingIsReady = r == "true" || r == "yes" }
            c.placement = p
        } else if let line = pl.values.first?.0 {
            throw ParseError(path: path, line: line, message: "[placement] needs url")
        }
        if let d = nfdDir {
            var nfd = NFD(directory: d)
            if let e = nfdExpiry { nfd.expiry = e }
            c.nfd = nfd
        }
        return c
    }

    /// `600`, `600s`, `1.5s`, `200ms`, `10m`, `1h`: a plain decimal number (digits, at most one
    /// point; no sign, exponent, `inf` or `nan`) and an optional unit. Nil for anything else,
    /// and for a number too long to be a sane duration.
    static func parseDuration(_ s: String) -> TimeInterval? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(s), factor = 1.0
        for (u, f) in units where s.hasSuffix(u) {
            number = number.dropLast(u.count)
            factor = f
            break
        }
        let digits = number.utf8.filter { $0 >= 0x30 && $0 <= 0x39 }.count
        let points = number.utf8.filter { $0 == UInt8(ascii: ".") }.count
        guard digits > 0, digits + points == number.utf8.count, points <= 1, number.utf8.count <= 12,
            let v = Double(number), v.isFinite
        else { return nil }
        return v * factor
    }

    /// `1 s to 2592000 s (30 days)`.
    static func describe(_ r: ClosedRange<Double>) -> String {
        func f(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x) }
        return "\(f(r.lowerBound)) s to \(f(r.upperBound)) s"
    }
}
