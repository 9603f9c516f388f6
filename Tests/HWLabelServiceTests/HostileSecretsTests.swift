import AsyncHTTPClient
import Foundation
import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelService

/// Issue 12, secrets: a token file is read one way for every user (`TokenSource`), a token with
/// a line break or control character is refused at load without being printed, and whatever an
/// error carries is redacted before logs, status.json and `hwlabel agent status`.
@Suite("Hostile input: secrets", .serialized)
struct HostileSecretsTests {
    static let secret = "SECRET-7f3a9c-DO-NOT-PRINT"

    static func tokenFile(_ content: String) throws -> (String, String) {
        let dir = try ProbeTestSupport.makeTemp("hostile-token")
        let path = dir + "/token"
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        return (dir, path)
    }

    @Test(
        "a token with a line break, space or control character inside is refused, naming the file, never the token",
        arguments: [
            ("\(secret)\nx", "the token has a line break inside it"),
            ("\(secret)\r\nx\r\n", "the token has a line break inside it"),
            ("\(secret)\rx", "the token has a line break inside it"),
            ("\(secret) x\n", "the token has a space or tab inside it"),
            ("\(secret)\tx", "the token has a space or tab inside it"),
            ("\(secret)\u{1}x", "the token has a control character (byte 27) inside it"),
            ("\(secret)\u{7F}", "the token has a control character (byte 27) inside it"),
            ("\(secret)\u{0}", "the token has a control character (byte 27) inside it"),
            (" \n\r\n\t", "empty: no token in it"),
        ])
    func refusedTokens(_ content: String, _ reason: String) throws {
        let (dir, path) = try Self.tokenFile(content)
        defer { ProbeTestSupport.removeTemp(dir) }
        do {
            _ = try TokenSource.file(path).read()
            Issue.record("must be refused")
        } catch {
            #expect(error.description.hasPrefix("token file \(path): \(reason)"), "\(error)")
            #expect(!error.description.contains("SECRET"))
        }
        // The Placement transport's file reader refuses it the same way (the `hwlabel placement
        // sync` binary: ServiceTokenTests.theCLIAndTheAgentReadATokenFileTheSameWay).
        do {
            _ = try PlacementHTTPTransport.token(fromFile: path)
            Issue.record("must be refused")
        } catch {
            #expect("\(error)".hasPrefix("cannot read token file \(path): \(reason)"), "\(error)")
            #expect(!"\(error)".contains("SECRET"))
        }
    }

    @Test(
        "surrounding whitespace and CRLF are ignored, the same for the agent and the CLI",
        arguments: [
            "\(secret)", "\(secret)\n", "\(secret)\r\n", "  \(secret) \r\n\r\n", "\n\(secret)\n",
        ])
    func acceptedTokens(_ content: String) throws {
        let (dir, path) = try Self.tokenFile(content)
        defer { ProbeTestSupport.removeTemp(dir) }
        #expect(try TokenSource.file(path).read().value == Self.secret)
        #expect(try PlacementHTTPTransport.token(fromFile: path) == Self.secret)
    }

    @Test("a token file that is a FIFO, /dev/zero or over 64 KiB is refused at once")
    func specialTokenFiles() throws {
        let dir = try ProbeTestSupport.makeTemp("hostile-token")
        defer { ProbeTestSupport.removeTemp(dir) }
        try Hostile.mkfifo(dir + "/fifo")
        symlink("/dev/zero", dir + "/zero")
        try Data(repeating: 0x41, count: (64 << 10) + 1).write(to: URL(fileURLWithPath: dir + "/big"))
        for (name, reason) in [
            ("fifo", "it is a FIFO, not a regular file"), ("zero", "it is a character device, not a regular file"),
            ("big", "65537 bytes is over the limit of 65536 bytes (64 KiB)"),
        ] {
            do {
                _ = try TokenSource.file(dir + "/" + name).read()
                Issue.record("must be refused")
            } catch {
                #expect(error.description == "token file \(dir)/\(name): \(reason)")
            }
        }
        do { _ = try TokenSource.file(dir + "/missing").read() } catch { #expect(error.isEmpty) }
    }

    @Test("redaction: the HTTP client's header error, quoted and escaped forms, Bearer and X-Auth-Token")
    func redact() {
        let header = String(describing: HTTPClientError.invalidHeaderFieldValues(["Bearer \(Self.secret)\nx"]))
        #expect(header.contains(Self.secret)) // what the client prints, unredacted
        let redacted = Secret.redact(header)
        #expect(!redacted.contains(Self.secret) && !redacted.contains("\\nx"), "\(redacted)")
        #expect(redacted.contains("Bearer <redacted>"), "\(redacted)")
        // A known secret anywhere, raw or escaped.
        let known = Secret("\(Self.secret)\nx")
        #expect(Secret.redact("token was \(Self.secret)\nx here", known: [known]) == "token was <redacted> here")
        #expect(!Secret.redact(String(reflecting: "\(Self.secret)\nx"), known: [known]).contains(Self.secret))
        #expect(Secret.redact("X-Auth-Token: \(Self.secret)") == "X-Auth-Token: <redacted>")
        #expect(Secret.redact(#"{"error": "Bearer \#(Self.secret)\"x", "n": 1}"#) == #"{"error": "Bearer <redacted>", "n": 1}"#)
        #expect(Secret.redact("controller answered HTTP 401") == "controller answered HTTP 401")
    }

    @Test("status.json and its rendering never hold a token, even one an error carried")
    func statusRedacted() throws {
        let dir = reporterTempDir()
        defer { ProbeTestSupport.removeTemp(dir) }
        let leak = "cannot reach controller: HTTPClientError.invalidHeaderFieldValues([\"Bearer \(Self.secret)\\nx\"])"
        var status = AgentStatus(pid: 1, agentEpoch: "e", updatedAt: "t")
        status.record(error: leak, sink: "controller", at: "t")
        #expect(!status.recentErrors[0].message.contains(Self.secret))
        // A message set directly (as the service does for a sink's last error) is redacted on save.
        status.sinks["controller"] = .init(lastErrorAt: "t", lastError: leak, pendingGeneration: 3)
        status.lastScan = .init(at: "t", trigger: "start", durationMs: 1, descriptors: 0, generation: 1, error: leak)
        let store = StateStore(directory: dir)
        try store.save(status)
        let text = try String(contentsOfFile: store.statusPath, encoding: .utf8)
        #expect(!text.contains(Self.secret) && text.contains("Bearer <redacted>"), "\(text)")
        #expect(!status.rendered().contains(Self.secret))
        #expect(try store.readStatus()?.sinks["controller"]?.pendingGeneration == 3)
    }

    @Test("hwlabel agent status (table and json) redacts a status.json an older agent wrote with a token")
    func agentStatusRedactsOldFile() throws {
        let dir = reporterTempDir()
        defer { ProbeTestSupport.removeTemp(dir) }
        var status = AgentStatus(pid: 1, agentEpoch: "e", updatedAt: "t")
        status.sinks["controller"] = .init(lastErrorAt: "t", lastError: "Bearer \(Self.secret)", pendingGeneration: 2)
        status.recentErrors = [.init(at: "t", sink: "controller", message: "header: Bearer \(Self.secret)\nx")]
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try StateStore.encode(status).write(to: URL(fileURLWithPath: dir + "/status.json"))
        #expect(try String(contentsOfFile: dir + "/status.json", encoding: .utf8).contains(Self.secret))
        for format in ["table", "json"] {
            let r = try Hostile.hwlabel(["agent", "status", "--state-dir", dir, "--format", format])
            #expect(r.status == 1, "\(r.output)") // controller pending
            #expect(r.stdout.contains("controller") && !r.output.contains(Self.secret), "\(r.output)")
        }
        let json = try Hostile.hwlabel(["agent", "status", "--state-dir", dir, "--format", "json"])
        let decoded = try JSONDecoder().decode(AgentStatus.self, from: Data(json.stdout.utf8))
        #expect(decoded.sinks["controller"]?.lastError == "Bearer <redacted>")
    }

    @Test("hwlabel agent status on a FIFO or /dev/zero status.json: exit 3 naming the file, at once")
    func agentStatusSpecialFile() throws {
        let dir = reporterTempDir()
        defer { ProbeTestSupport.removeTemp(dir) }
        try Hostile.mkfifo(dir + "/status.json")
        let r = try Hostile.hwlabel(["agent", "status", "--state-dir", dir], timeout: 20)
        #expect(!r.timedOut && r.status == 3, "\(r.output)")
        #expect(r.stderr.contains("hwlabel: error: cannot read \(dir)/status.json: it is a FIFO, not a regular file"), "\(r.stderr)")
    }

    @Test("the agent with a `SECRET\\nx` token file: the token is in no log line, status.json or status output")
    func agentNeverPrintsBadToken() async throws {
        let dir = reporterTempDir()
        defer { ProbeTestSupport.removeTemp(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/conf", withIntermediateDirectories: true)
        try Data("\(Self.secret)\nx\n".utf8).write(to: URL(fileURLWithPath: dir + "/conf/controller-token"))
        let refusing = try RefusingPort()
        defer { withExtendedLifetime(refusing) {} } // refusing until the test ends
        let port = refusing.port
        try """
        # CRLF, starting with a comment: the controller sink must still be on\r
        [controller]\r
        url = http://127.0.0.1:\(port)/r\r
        token-file = \(dir)/conf/controller-token\r
        timeout = 1\r
        max-attempts = 1\r

        """.write(toFile: dir + "/conf/agent.conf", atomically: true, encoding: .utf8)
        let log = dir + "/agent.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ProbeTestSupport.hwlabelBinary())
        p.arguments = [
            "agent", "--config-dir", dir + "/conf", "--state-dir", dir + "/state",
            "--sysfs-root", Hostile.sysfs, "--log-level", "trace",
        ]
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = p.standardError
        try p.run()
        let failed = await eventually(timeout: 30) {
            StateStore(directory: dir + "/state").loadStatus()?.sinks["controller"]?.lastError != nil
        }
        p.terminate()
        p.waitUntilExit()
        try #require(failed, "the controller sink never reported: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let status = try #require(StateStore(directory: dir + "/state").loadStatus())
        let lastError = try #require(status.sinks["controller"]?.lastError)
        #expect(lastError.hasPrefix("token file \(dir)/conf/controller-token: the token has a line break inside it"), "\(lastError)")
        var outputs = [
            try String(contentsOfFile: log, encoding: .utf8),
            try String(contentsOfFile: dir + "/state/status.json", encoding: .utf8),
        ]
        for format in ["table", "json"] {
            outputs.append(try Hostile.hwlabel(["agent", "status", "--state-dir", dir + "/state", "--format", format]).output)
        }
        for (i, text) in outputs.enumerated() {
            #expect(!text.contains("SECRET"), "output \(i) holds the token: \(text)")
        }
        #expect(outputs[0].contains("line break inside it"))
    }
}
