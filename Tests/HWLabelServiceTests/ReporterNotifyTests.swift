import Foundation
import HWLabelCore
@testable import HWLabelService
import HWLabelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Reporter: sd_notify, reload and schema")
struct ReporterNotifyTests {
    /// Binds an AF_UNIX datagram socket (path or abstract `@name`) and returns (fd, NOTIFY_SOCKET value).
    func listen(abstract: Bool) throws -> (Int32, String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        let name = abstract ? "@hwlabel-test-\(UUID().uuidString.prefix(8))" : reporterTempDir() + "/notify"
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        try #require(rc == 0)
        // A guard against a hang, not a measurement: in a parallel run the service may wait
        // minutes for a thread of the cooperative pool before it sends.
        var tv = timeval(tv_sec: 900, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return (fd, name)
    }

    /// Blocks in recv on a thread of its own: blocking a cooperative-pool thread (two on a
    /// 2-core CI machine) could starve the service that is to send the datagram.
    func receiveOffPool(_ fd: Int32) async -> String? {
        await withCheckedContinuation { cont in
            Thread { cont.resume(returning: self.receive(fd)) }.start()
        }
    }

    func receive(_ fd: Int32) -> String? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[..<n], as: UTF8.self) : nil
    }

    @Test(arguments: [false, true])
    func sdNotifySendsToPathAndAbstractSockets(abstract: Bool) throws {
        let (fd, name) = try listen(abstract: abstract)
        defer { close(fd) }
        let n = SDNotify(environment: ["NOTIFY_SOCKET": name, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(n.watchdogInterval == 30)
        #expect(n.send("READY=1\nSTATUS=generation 1"))
        #expect(receive(fd) == "READY=1\nSTATUS=generation 1")
        #expect(SDNotify(environment: [:]).send("READY=1") == false)
        #expect(SDNotify(environment: ["WATCHDOG_USEC": "1", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
    }

    @Test func serviceSendsReadyAfterFirstReportAndReloadSwitchesSinks() async throws {
        let (fd, name) = try listen(abstract: true)
        defer { close(fd) }
        let state = reporterTempDir(), config = reporterTempDir()
        try "[file]\npath = \(state)/a.json\n".write(toFile: config + "/agent.conf", atomically: true, encoding: .utf8)
        let (logger, _) = capturingLogger()
        let service = AgentService(
            options: .init(configDirectory: config, stateDirectory: state),
            source: { reporterScan([reporterDevice("0000:01:00.0")]) }, events: nil,
            logger: logger, notify: SDNotify(environment: ["NOTIFY_SOCKET": name]))
        let task = Task { try await service.run() }
        let ready = await receiveOffPool(fd)
        #expect(ready?.hasPrefix("READY=1\nSTATUS=generation 1, 1 devices") == true)
        try #require(await eventually { FileManager.default.fileExists(atPath: state + "/a.json") })
        // SIGHUP path: new configuration, new sink, the current report re-delivered.
        try "[file]\npath = \(state)/b.json\n".write(toFile: config + "/agent.conf", atomically: true, encoding: .utf8)
        service.reload()
        try #require(await eventually { FileManager.default.fileExists(atPath: state + "/b.json") })
        // A broken configuration is refused and the previous one kept.
        try "[bogus]\n".write(toFile: config + "/agent.conf", atomically: true, encoding: .utf8)
        service.reload()
        try #require(
            await eventually {
                StateStore(directory: state).loadStatus()?.recentErrors.contains { $0.message.hasPrefix("config:") } == true
            })
        service.stop()
        try await task.value
    }

    static let validator: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import jsonschema"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    @Test(.enabled(if: validator, "needs python3-jsonschema"))
    func reportsValidateAgainstThePublishedSchema() throws {
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../schema/report-1.0.schema.json").standardized.path
        let r1 = ReportBuilder.next(
            previous: nil, epoch: "e",
            scan: reporterScan([
                reporterDevice("0000:01:00.0", label: "Turing GPU", arch: "Turing"), reporterDevice("0000:02:00.0", ready: false),
            ]), now: Date())
        let r2 = ReportBuilder.next(previous: r1, epoch: "e", scan: reporterScan([reporterDevice("0000:01:00.0")]), now: Date())
        for r in [r1, r2] {
            let file = reporterTempDir() + "/r.json"
            try r.prettyJSON().write(to: URL(fileURLWithPath: file))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [
                "python3", "-c",
                """
                import json, sys, jsonschema
                s = json.load(open(sys.argv[1])); jsonschema.Draft202012Validator.check_schema(s)
                jsonschema.Draft202012Validator(s).validate(json.load(open(sys.argv[2])))
                """, schema, file,
            ]
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
    }
}
