import Foundation

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
        public var description: String { "\(path):\(line): \(message)" }
    }

    /// Reads `path`; a missing file gives the defaults.
    public static func load(path: String) throws -> AgentConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw ParseError(path: path, line: 0, message: "cannot read")
            }
            return AgentConfig()
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
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
        for (i, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let n = i + 1
            var line = Substring(rawLine)
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
                guard let s = parseDuration(value), s >= 0 else {
                    throw ParseError(path: path, line: n, message: "\(key): not a duration: \(value)")
                }
                return s
            }
            switch (section, key) {
            case ("agent", "resync-interval"): c.resyncInterval = try max(1, seconds())
            case ("agent", "debounce"): c.debounce = try seconds()
            case ("controller", "url"):
                guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                    throw ParseError(path: path, line: n, message: "url must be http:// or https://")
                }
                controllerURL = value
            case ("controller", "token-file"), ("controller", "ca-file"), ("controller", "timeout"),
                 ("controller", "max-attempts"):
                if key == "timeout" { _ = try seconds() }
                if key == "max-attempts", Int(value) == nil {
                    throw ParseError(path: path, line: n, message: "max-attempts: not an integer")
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
            case ("placement", "token-file"), ("placement", "microversion"), ("placement", "host-name"):
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
            if let t = ctl["timeout"]?.1 { k.timeout = parseDuration(t) ?? k.timeout }
            if let m = ctl["max-attempts"]?.1 { k.maxAttempts = Int(m) ?? k.maxAttempts }
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

    /// `600`, `600s`, `200ms`, `10m`, `1h`.
    static func parseDuration(_ s: String) -> TimeInterval? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (u, f) in units where s.hasSuffix(u) {
            return Double(s.dropLast(u.count)).map { $0 * f }
        }
        return Double(s)
    }
}
