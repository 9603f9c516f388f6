import AsyncHTTPClient
import Foundation
import HWLabelCore
@testable import HWLabelService
import HWLabelProbe
import Logging
import HWLabelTestSupport
import Testing

/// Tokens under the shipped unit: files in the configuration directory, read before every
/// request (a rewritten file is used from the next request on, no restart); a credential that
/// holds something other than a token refuses the start; no error carries a token.
@Suite("Service: tokens", .serialized)
struct ServiceTokenTests {
    static let tokenA = "svc-token-A-DO-NOT-LOG-7d1e"
    static let tokenB = "svc-token-B-DO-NOT-LOG-90c2"

    static func dir(_ tag: String = #function) throws -> String {
        let d = reporterTempDir(tag)
        try FileManager.default.createDirectory(atPath: d + "/conf", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: d + "/creds", withIntermediateDirectories: true)
        return d
    }

    static func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    // MARK: which source

    @Test func theConfigDirectoryFileIsTheDefaultAndMayBeEmpty() throws {
        let d = try Self.dir()
        let c = AgentConfig.Controller(url: "http://127.0.0.1:1/r")
        // Missing, then empty: the default file, optional (no Authorization header).
        var t = try AgentService.controllerToken(c, configDirectory: d + "/conf", environment: [:])
        #expect(t.source == .file(d + "/conf/controller-token") && t.optional)
        try Self.write("\n", d + "/conf/controller-token")
        t = try AgentService.controllerToken(c, configDirectory: d + "/conf", environment: [:])
        #expect(t.source == .file(d + "/conf/controller-token") && t.optional)
    }

    @Test func aCredentialThatHoldsATokenWinsAndAnEmptyOneIsSkipped() throws {
        let d = try Self.dir()
        let c = AgentConfig.Controller(url: "http://127.0.0.1:1/r")
        let env = ["CREDENTIALS_DIRECTORY": d + "/creds"]
        try Self.write("", d + "/creds/controller-token")
        try Self.write(Self.tokenA, d + "/conf/controller-token")
        var t = try AgentService.controllerToken(c, configDirectory: d + "/conf", environment: env)
        #expect(t.source == .file(d + "/conf/controller-token"))
        try Self.write(Self.tokenB + "\n", d + "/creds/controller-token")
        t = try AgentService.controllerToken(c, configDirectory: d + "/conf", environment: env)
        #expect(t.source == .credential("controller-token") && !t.optional)
        // token-file in agent.conf wins over both.
        var explicit = c
        explicit.tokenFile = "/elsewhere/token"
        #expect(
            try AgentService.controllerToken(explicit, configDirectory: d + "/conf", environment: env).source == .file("/elsewhere/token"))
    }

    @Test(arguments: ["credential", "default file"])
    func aMalformedTokenRefusesTheStartNamingTheFile(which: String) throws {
        let d = try Self.dir("malformed-\(which)")
        let path = which == "credential" ? d + "/creds/controller-token" : d + "/conf/controller-token"
        try Self.write("\(Self.tokenA) \(Self.tokenB)\n", path)
        var config = AgentConfig()
        config.controller = .init(url: "http://127.0.0.1:1/r")
        let env = ["CREDENTIALS_DIRECTORY": d + "/creds"]
        let error = #expect(throws: TokenSource.ReadError.self) {
            try AgentService.checkTokens(config, configDirectory: d + "/conf", environment: env)
        }
        #expect(error?.path == path && error?.isEmpty == false)
        #expect(error.map { !$0.description.contains("DO-NOT-LOG") } == true)
        // The sinks refuse it the same way (a reload keeps the previous configuration).
        #expect(throws: TokenSource.ReadError.self) {
            _ = try AgentService.defaultSinks(
                config, StateStore(directory: d + "/state"), Logger(label: "t"),
                configDirectory: d + "/conf", environment: env)
        }
    }

    @Test(.enabled(if: ReporterProcessTests.binary != nil, "needs the hwlabel binary"))
    func theAgentExitsOneNamingTheFileNeverTheToken() async throws {
        let d = try Self.dir()
        try Self.write("[controller]\nurl = http://127.0.0.1:1/r\n", d + "/conf/agent.conf")
        try Self.write("\(Self.tokenA)\r\nx\n", d + "/conf/controller-token")
        let r = try await ServiceStatusTests.hwlabel([
            "agent", "--config-dir", d + "/conf", "--state-dir", d + "/state",
            "--sysfs-root", ReporterProcessTests.fixture,
        ])
        #expect(r.status == 1)
        #expect(r.err.contains("hwlabel: error: token file \(d)/conf/controller-token: the token has a line break inside it"), "\(r.err)")
        #expect(!(r.out + r.err).contains("DO-NOT-LOG"))
    }

    // MARK: one reader for the agent and `hwlabel placement sync`

    /// Token files as operators write them, good and bad.
    static let tokenFiles: [(name: String, bytes: [UInt8])] = [
        ("plain", Array(tokenA.utf8)),
        ("final newline", Array((tokenA + "\n").utf8)),
        ("CRLF and spaces around", Array(("  \t" + tokenA + " \r\n\n").utf8)),
        ("empty", []),
        ("only a newline", [0x0A]),
        ("two tokens", Array((tokenA + " " + tokenB + "\n").utf8)),
        ("two lines", Array((tokenA + "\n" + tokenB + "\n").utf8)),
        ("control character", Array((tokenA + "\u{1}x").utf8)),
        ("not UTF-8", Array("svc-DO-NOT-LOG-".utf8) + [0xFF, 0xFE]),
    ]

    /// What the agent's sinks get from a token file (their `TokenSource`): the token or the reason.
    static func agentReads(_ path: String) -> Result<String, TokenSource.ReadError> {
        var p = AgentConfig.Placement(url: "http://127.0.0.1:1")
        p.tokenFile = path
        var c = AgentConfig.Controller(url: "http://127.0.0.1:1/r")
        c.tokenFile = path
        do {
            let placement = try AgentService.placementToken(p, configDirectory: "/nonexistent", environment: [:]).read(environment: [:])
            let controller = try AgentService.controllerToken(c, configDirectory: "/nonexistent", environment: [:]).source.read(
                environment: [:])
            #expect(placement.value == controller.value)
            return .success(placement.value)
        } catch {
            return .failure(error)
        }
    }

    /// The CLI and the agent read one file to one token, and refuse a bad one with one reason:
    /// `hwlabel placement sync` (the binary) sends what the agent's sinks would send.
    @Test(.enabled(if: ReporterProcessTests.binary != nil, "needs the hwlabel binary"))
    func theCLIAndTheAgentReadATokenFileTheSameWay() async throws {
        let d = try Self.dir()
        let ctl = ReporterTestController()
        try await ctl.start()
        defer { Task { await ctl.stop() } }
        for (name, bytes) in Self.tokenFiles {
            let path = d + "/conf/token-" + name.replacingOccurrences(of: " ", with: "-")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let before = ctl.authTokens.count
            let r = try await ServiceStatusTests.hwlabel([
                "placement", "sync", "--token-file", path, "--url", "http://127.0.0.1:\(ctl.port)",
                "--sysfs-root", ReporterProcessTests.fixture, "--dry-run",
            ])
            #expect(!(r.out + r.err).contains("DO-NOT-LOG"), "\(name): \(r.err)")
            switch Self.agentReads(path) {
            case .success(let token):
                #expect(token == Self.tokenA, "\(name)")
                // Past the token: the first Placement request carried it (the stand-in then refuses it: 5).
                #expect(r.status == 5, "\(name): \(r.err)")
                #expect(ctl.authTokens.count > before && ctl.authTokens[before] == token, "\(name)")
            case .failure(let error):
                #expect(error.path == path)
                #expect(r.status == 2, "\(name): \(r.err)")
                #expect(r.err.contains("cannot read token file \(path): \(error.reason)"), "\(name): \(r.err) vs \(error.reason)")
                #expect(ctl.authTokens.count == before, "\(name): the CLI sent a request")
            }
        }
    }

    // MARK: read per request

    func report(_ generation: Int) -> Report {
        var prev: Report?
        var r: Report!
        for i in 1...generation {
            r = ReportBuilder.next(
                previous: prev, epoch: "e", scan: reporterScan([reporterDevice(String(format: "0000:%02x:00.0", i))]), now: Date())
            prev = r
        }
        return r
    }

    @Test func aRewrittenTokenFileIsUsedFromTheNextRequestOn() async throws {
        let d = try Self.dir()
        let ctl = ReporterTestController()
        try await ctl.start()
        defer { Task { await ctl.stop() } }
        let path = d + "/conf/controller-token"
        try Self.write("", path) // the placeholder install.sh creates
        let (logger, lines) = capturingLogger()
        let sink = try ControllerSink(
            configuration: .init(url: ctl.url, token: .file(path), tokenOptional: true),
            outboxDirectory: d + "/outbox", logger: logger)
        try await sink.deliver(report(1))
        #expect(ctl.received.last?.authorization == nil)
        try Self.write(Self.tokenA + "\n", path)
        try await sink.deliver(report(2))
        #expect(ctl.received.last?.authorization == "Bearer " + Self.tokenA)
        // Renamed into place, as an operator's `install -m 0600` or an editor does.
        try Self.write(Self.tokenB, d + "/conf/.new")
        #expect(rename(d + "/conf/.new", path) == 0)
        try await sink.deliver(report(3))
        #expect(ctl.received.last?.authorization == "Bearer " + Self.tokenB)
        await sink.shutdown()
        #expect(!lines.current.joined().contains("DO-NOT-LOG"))
    }

    @Test func placementReadsItsTokenSourcePerRequest() throws {
        let d = try Self.dir()
        let path = d + "/conf/placement-token"
        try Self.write(Self.tokenA, path)
        let t = PlacementHTTPTransport(baseURL: "http://127.0.0.1:1", tokenSource: .file(path))
        #expect(try t.currentToken() == Self.tokenA)
        try Self.write(Self.tokenB + "\n", path)
        #expect(try t.currentToken() == Self.tokenB)
        try Self.write("a b", path)
        #expect(throws: PlacementError.self) { try t.currentToken() }
    }

    @Test func placementTransportErrorsNeverCarryTheToken() async throws {
        // A header value the client refuses: its error prints the value whole.
        let token = "\(Self.tokenA)\r\nX-Injected: 1"
        let t = PlacementHTTPTransport(baseURL: "http://127.0.0.1:1", token: token)
        do {
            _ = try await t.send(method: "GET", path: "/", body: nil)
            Issue.record("the request was sent")
        } catch {
            let text = "\(error)" + String(reflecting: error)
            #expect(!text.contains("DO-NOT-LOG"), "\(text)")
            // The client's error did print it: the transport took it out.
            #expect(text.contains("GET /") && text.contains(Secret.mask), "\(text)")
        }
    }
}
